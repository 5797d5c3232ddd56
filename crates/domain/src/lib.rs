//! Pure logic of the BigCommerce → Voyado Engage connector, shared by every service.
//!
//! No I/O, no async, no clock: functions that need "now" take it as a parameter, so
//! every rule here is a plain function with unit tests beside it. Values that cross a
//! boundary are parsed once into newtypes ([`ids::StoreHash`], [`webhook::Scope`],
//! [`phone::E164Phone`], [`category::CategoryPath`], ...) and nothing deeper handles
//! the raw strings.
//!
//! # Layout
//!
//! - [`ids`]: identifiers (`StoreHash`, `ChannelId`, `OrderId`, `CartId`, `EventId`,
//!   `Sku`, `ContactId`, ...).
//! - [`webhook`]: scopes and routing keys, the ingress's cheap [`webhook::WebhookHead`]
//!   parse, the consumers' full [`webhook::Envelope`] with typed data, the event id rule.
//! - [`signature`]: Standard Webhooks and legacy `X-BC-Signature` verification (and
//!   signing helpers for tests and the demo).
//! - [`channel`]: channel resolution, per-channel settings, the unmatched-channel drop.
//! - [`phone`]: phone normalisation to E.164 with its three outcomes.
//! - [`category`]: the product-view category (last five category names, URL fallback,
//!   255-character cap).
//! - [`status`]: BigCommerce status id → Engage order status; refund de-duplication.
//! - [`bigcommerce`]: serde models of the BigCommerce API responses, and the webhook
//!   registration plan.
//! - [`tracking`]: strictly validated storefront beacons.
//! - [`engage`]: the payloads sent to Engage and the mappings that build them.
//!
//! The implemented mappings are documented table by table in `docs/mapping.md` at the
//! workspace root.

pub mod bigcommerce;
pub mod category;
pub mod channel;
pub mod engage;
pub mod ids;
pub mod phone;
mod serde_util;
pub mod signature;
pub mod status;
pub mod tracking;
pub mod webhook;
