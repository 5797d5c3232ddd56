//! BigCommerce webhook bodies: scopes, the cheap head parse done by the ingress on every
//! request, the full envelope parse done by consumers, and the event id rule.
//!
//! Webhook payloads are thin (ids only); the consumers fetch the resources themselves.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::ids::{CartId, ChannelId, CustomerId, EventId, OrderId, StoreHash, SubscriberId};

/// Why a string is not a scope.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    /// The scope is empty.
    #[error("scope is empty")]
    Empty,
    /// The scope is longer than [`Scope::MAX_LEN`] bytes.
    #[error("scope is longer than {} characters", Scope::MAX_LEN)]
    TooLong,
    /// The scope contains something other than `[A-Za-z0-9/_.]`.
    #[error("scope contains the invalid character {0:?}")]
    InvalidCharacter(char),
}

/// A webhook scope such as `store/order/created`.
///
/// The handled scopes are variants; anything else well-formed is [`Scope::Unhandled`],
/// which the ingress acknowledges without publishing. Build values with [`Scope::parse`]
/// so that a handled scope is never wrapped in `Unhandled`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Scope {
    /// `store/order/created`
    OrderCreated,
    /// `store/order/updated`
    OrderUpdated,
    /// `store/order/statusUpdated`
    OrderStatusUpdated,
    /// `store/order/archived`
    OrderArchived,
    /// `store/order/refund/created`
    OrderRefundCreated,
    /// `store/customer/created`
    CustomerCreated,
    /// `store/customer/updated`
    CustomerUpdated,
    /// `store/customer/deleted`
    CustomerDeleted,
    /// `store/customer/address/created`
    CustomerAddressCreated,
    /// `store/customer/address/updated`
    CustomerAddressUpdated,
    /// `store/subscriber/created`
    SubscriberCreated,
    /// `store/subscriber/updated`
    SubscriberUpdated,
    /// `store/cart/converted`
    CartConverted,
    /// A well-formed scope the connector does not handle, kept verbatim.
    Unhandled(String),
}

/// Every handled scope; `Scope::parse` recognises exactly these, so a new variant must be
/// added here too (the exhaustive match in `texts` is the reminder).
const REQUIRED_HOOKS: [Scope; 13] = [
    Scope::OrderCreated,
    Scope::OrderUpdated,
    Scope::OrderStatusUpdated,
    Scope::OrderArchived,
    Scope::OrderRefundCreated,
    Scope::CustomerCreated,
    Scope::CustomerUpdated,
    Scope::CustomerDeleted,
    Scope::CustomerAddressCreated,
    Scope::CustomerAddressUpdated,
    Scope::SubscriberCreated,
    Scope::SubscriberUpdated,
    Scope::CartConverted,
];

impl Scope {
    /// Longest scope accepted, in bytes: a routing key is an AMQP short string.
    pub const MAX_LEN: usize = 255;

    /// Parses a scope: any non-empty string of `[A-Za-z0-9/_.]` up to
    /// [`Scope::MAX_LEN`] characters. Unknown scopes become [`Scope::Unhandled`].
    pub fn parse(s: &str) -> Result<Self, ScopeError> {
        if s.is_empty() {
            return Err(ScopeError::Empty);
        }
        if s.len() > Self::MAX_LEN {
            return Err(ScopeError::TooLong);
        }
        if let Some(c) = s
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '.')))
        {
            return Err(ScopeError::InvalidCharacter(c));
        }
        Ok(REQUIRED_HOOKS
            .iter()
            .find(|scope| scope.as_str() == s)
            .cloned()
            .unwrap_or_else(|| Scope::Unhandled(s.to_owned())))
    }

    /// Parses a routing key (`store.order.created`) back into a scope.
    ///
    /// An unhandled scope that itself contained `.` does not round-trip; that is harmless
    /// because unhandled scopes are never published.
    pub fn from_routing_key(key: &str) -> Result<Self, ScopeError> {
        Self::parse(&key.replace('.', "/"))
    }

    /// The scope as BigCommerce writes it (`store/order/created`).
    pub fn as_str(&self) -> &str {
        match self {
            Scope::Unhandled(s) => s,
            handled => handled.texts().0,
        }
    }

    /// The AMQP routing key: the scope with `/` replaced by `.` (`store.order.created`).
    pub fn routing_key(&self) -> Cow<'static, str> {
        match self {
            Scope::Unhandled(s) => Cow::Owned(s.replace('/', ".")),
            handled => Cow::Borrowed(handled.texts().1),
        }
    }

    /// The BigCommerce form and the routing key of a handled scope, side by side so the
    /// two cannot drift apart. `("", "")` for `Unhandled`, which callers handle first.
    fn texts(&self) -> (&'static str, &'static str) {
        match self {
            Scope::OrderCreated => ("store/order/created", "store.order.created"),
            Scope::OrderUpdated => ("store/order/updated", "store.order.updated"),
            Scope::OrderStatusUpdated => ("store/order/statusUpdated", "store.order.statusUpdated"),
            Scope::OrderArchived => ("store/order/archived", "store.order.archived"),
            Scope::OrderRefundCreated => {
                ("store/order/refund/created", "store.order.refund.created")
            }
            Scope::CustomerCreated => ("store/customer/created", "store.customer.created"),
            Scope::CustomerUpdated => ("store/customer/updated", "store.customer.updated"),
            Scope::CustomerDeleted => ("store/customer/deleted", "store.customer.deleted"),
            Scope::CustomerAddressCreated => (
                "store/customer/address/created",
                "store.customer.address.created",
            ),
            Scope::CustomerAddressUpdated => (
                "store/customer/address/updated",
                "store.customer.address.updated",
            ),
            Scope::SubscriberCreated => ("store/subscriber/created", "store.subscriber.created"),
            Scope::SubscriberUpdated => ("store/subscriber/updated", "store.subscriber.updated"),
            Scope::CartConverted => ("store/cart/converted", "store.cart.converted"),
            Scope::Unhandled(_) => ("", ""),
        }
    }

    /// True for every scope except [`Scope::Unhandled`].
    pub fn is_handled(&self) -> bool {
        !matches!(self, Scope::Unhandled(_))
    }

    /// The scopes the connector needs registered in BigCommerce: all handled scopes.
    pub fn required_hooks() -> &'static [Scope] {
        &REQUIRED_HOOKS
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Scope {
    type Err = ScopeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for Scope {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Scope {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = Cow::<'de, str>::deserialize(deserializer)?;
        Scope::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Why a webhook body cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// The body is not a JSON object.
    #[error("webhook body is not a valid JSON object: {0}")]
    MalformedJson(String),
    /// No `scope` field (or `null`).
    #[error("webhook body has no `scope`")]
    MissingScope,
    /// `scope` is not a string of `[A-Za-z0-9/_.]`.
    #[error("webhook `scope` is invalid: {0}")]
    InvalidScope(String),
    /// No `producer` field (or `null`).
    #[error("webhook body has no `producer`")]
    MissingProducer,
    /// `producer` is not `stores/{store_hash}` with a valid hash.
    #[error("webhook `producer` is invalid: {0}")]
    InvalidProducer(String),
    /// The top-level `channel_id` is neither null nor a channel id.
    #[error("webhook `channel_id` is invalid: {0}")]
    InvalidChannelId(String),
    /// Typed data was asked for a scope the connector does not handle.
    #[error("scope `{0}` is not handled by the connector")]
    UnhandledScope(String),
    /// No `data` object.
    #[error("webhook body for `{scope}` has no `data` object")]
    MissingData {
        /// The envelope's scope.
        scope: String,
    },
    /// `data` lacks a field the scope needs, or has it with the wrong type.
    #[error("webhook `data` for `{scope}` is invalid: {reason}")]
    InvalidData {
        /// The envelope's scope.
        scope: String,
        /// What is wrong, naming the field.
        reason: String,
    },
}

/// A JSON string's content, borrowed when it has no escapes.
fn raw_string(raw: &RawValue) -> Option<Cow<'_, str>> {
    let text = raw.get();
    let inner = text.strip_prefix('"')?.strip_suffix('"')?;
    if inner.contains('\\') {
        serde_json::from_str::<String>(text).ok().map(Cow::Owned)
    } else {
        Some(Cow::Borrowed(inner))
    }
}

/// `created_at` is documented as Unix seconds; a numeric string is accepted too.
fn raw_created_at(raw: &RawValue) -> Option<i64> {
    let text = raw.get();
    text.parse::<i64>()
        .ok()
        .or_else(|| raw_string(raw).and_then(|s| s.parse::<i64>().ok()))
}

/// Parses the body as a JSON object. Derived struct deserializers also accept arrays
/// (fields by position), which a webhook body never legitimately is.
fn parse_object<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, EnvelopeError> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    if first != Some(&b'{') {
        return Err(EnvelopeError::MalformedJson(
            "expected a JSON object".to_owned(),
        ));
    }
    serde_json::from_slice(body).map_err(|e| EnvelopeError::MalformedJson(e.to_string()))
}

fn parse_scope(raw: Option<&RawValue>) -> Result<Scope, EnvelopeError> {
    let raw = raw.ok_or(EnvelopeError::MissingScope)?;
    let text = raw_string(raw).ok_or_else(|| EnvelopeError::InvalidScope("not a string".into()))?;
    Scope::parse(&text).map_err(|e| EnvelopeError::InvalidScope(e.to_string()))
}

fn parse_producer(raw: Option<&RawValue>) -> Result<StoreHash, EnvelopeError> {
    let raw = raw.ok_or(EnvelopeError::MissingProducer)?;
    let text =
        raw_string(raw).ok_or_else(|| EnvelopeError::InvalidProducer("not a string".into()))?;
    let hash = text.strip_prefix("stores/").ok_or_else(|| {
        EnvelopeError::InvalidProducer(format!("expected `stores/{{store_hash}}`, got {text:?}"))
    })?;
    StoreHash::parse(hash).map_err(|e| EnvelopeError::InvalidProducer(e.to_string()))
}

/// The fields the ingress needs from every webhook: scope, store and the inputs of the
/// event id. Everything else, `data` included, is skipped without being allocated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookHead<'a> {
    scope: Scope,
    store_hash: StoreHash,
    hash: Option<Cow<'a, str>>,
    created_at: Option<i64>,
}

#[derive(Deserialize)]
struct RawHead<'a> {
    #[serde(borrow, default)]
    scope: Option<&'a RawValue>,
    #[serde(borrow, default)]
    producer: Option<&'a RawValue>,
    #[serde(borrow, default)]
    hash: Option<&'a RawValue>,
    #[serde(borrow, default)]
    created_at: Option<&'a RawValue>,
}

impl<'a> WebhookHead<'a> {
    /// Parses the head of a webhook body.
    ///
    /// `hash` and `created_at` of an unexpected type are treated as absent rather than
    /// rejected: they only feed the event id, and refusing the delivery would make
    /// BigCommerce retry it (and eventually deactivate the hook) for nothing.
    pub fn parse(body: &'a [u8]) -> Result<Self, EnvelopeError> {
        let raw: RawHead<'a> = parse_object(body)?;
        let scope = parse_scope(raw.scope)?;
        let store_hash = parse_producer(raw.producer)?;
        Ok(Self {
            scope,
            store_hash,
            hash: raw.hash.and_then(raw_string),
            created_at: raw.created_at.and_then(raw_created_at),
        })
    }

    /// The webhook's scope.
    pub fn scope(&self) -> &Scope {
        &self.scope
    }

    /// The store from `producer`.
    pub fn store_hash(&self) -> &StoreHash {
        &self.store_hash
    }

    /// BigCommerce's `hash`, when present.
    pub fn hash(&self) -> Option<&str> {
        self.hash.as_deref()
    }

    /// `created_at` (Unix seconds), when present.
    pub fn created_at(&self) -> Option<i64> {
        self.created_at
    }

    /// The event id of this delivery (see [`event_id`]).
    pub fn event_id(&self, webhook_id: Option<&str>) -> EventId {
        event_id(webhook_id, &self.scope, self.hash(), self.created_at)
    }
}

/// A fully parsed webhook body.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    scope: Scope,
    store_id: Option<String>,
    store_hash: StoreHash,
    hash: Option<String>,
    created_at: Option<i64>,
    channel_id: Option<ChannelId>,
    data: Value,
}

#[derive(Deserialize)]
struct RawEnvelope<'a> {
    #[serde(borrow, default)]
    scope: Option<&'a RawValue>,
    #[serde(borrow, default)]
    producer: Option<&'a RawValue>,
    #[serde(borrow, default)]
    store_id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    hash: Option<&'a RawValue>,
    #[serde(borrow, default)]
    created_at: Option<&'a RawValue>,
    #[serde(borrow, default)]
    channel_id: Option<&'a RawValue>,
    #[serde(default)]
    data: Option<Value>,
}

fn parse_channel_id(raw: Option<&RawValue>) -> Result<Option<ChannelId>, EnvelopeError> {
    let Some(raw) = raw else { return Ok(None) };
    match raw.get().parse::<u32>() {
        // BigCommerce channels start at 1; a 0 can only mean "no channel here".
        Ok(0) => Ok(None),
        Ok(id) => Ok(Some(ChannelId::new(id))),
        Err(_) => Err(EnvelopeError::InvalidChannelId(raw.get().to_owned())),
    }
}

impl Envelope {
    /// Parses a whole webhook body.
    ///
    /// `scope` and `producer` are required. `store_id`, `hash` and `created_at` are
    /// optional (BigCommerce's own examples omit some) and ignored when of an unexpected
    /// type. A top-level `channel_id` may be absent or null; any other non-id value is an
    /// error, because it would silently change which channel the event belongs to.
    pub fn parse(body: &[u8]) -> Result<Self, EnvelopeError> {
        let raw: RawEnvelope<'_> = parse_object(body)?;
        let scope = parse_scope(raw.scope)?;
        let store_hash = parse_producer(raw.producer)?;
        let channel_id = parse_channel_id(raw.channel_id)?;
        let store_id = raw.store_id.and_then(|r| {
            raw_string(r)
                .map(Cow::into_owned)
                .or_else(|| r.get().parse::<u64>().ok().map(|n| n.to_string()))
        });
        Ok(Self {
            scope,
            store_id,
            store_hash,
            hash: raw.hash.and_then(raw_string).map(Cow::into_owned),
            created_at: raw.created_at.and_then(raw_created_at),
            channel_id,
            data: raw.data.unwrap_or(Value::Null),
        })
    }

    /// The webhook's scope.
    pub fn scope(&self) -> &Scope {
        &self.scope
    }

    /// BigCommerce's numeric store id, as text, when present.
    pub fn store_id(&self) -> Option<&str> {
        self.store_id.as_deref()
    }

    /// The store from `producer`.
    pub fn store_hash(&self) -> &StoreHash {
        &self.store_hash
    }

    /// The `producer` field as it was sent: `stores/{store_hash}`.
    pub fn producer(&self) -> String {
        format!("stores/{}", self.store_hash)
    }

    /// BigCommerce's `hash`, when present.
    pub fn hash(&self) -> Option<&str> {
        self.hash.as_deref()
    }

    /// `created_at` (Unix seconds), when present.
    pub fn created_at(&self) -> Option<i64> {
        self.created_at
    }

    /// The top-level `channel_id`, when present and non-null.
    pub fn channel_id(&self) -> Option<ChannelId> {
        self.channel_id
    }

    /// The `data` object as sent (`Value::Null` when absent).
    pub fn raw_data(&self) -> &Value {
        &self.data
    }

    /// The event id of this delivery (see [`event_id`]).
    pub fn event_id(&self, webhook_id: Option<&str>) -> EventId {
        event_id(webhook_id, &self.scope, self.hash(), self.created_at)
    }

    /// The typed `data` for the envelope's scope.
    pub fn data(&self) -> Result<WebhookData, EnvelopeError> {
        let scope = self.scope.as_str();
        let invalid = |reason: String| EnvelopeError::InvalidData {
            scope: scope.to_owned(),
            reason,
        };
        if !self.scope.is_handled() {
            return Err(EnvelopeError::UnhandledScope(scope.to_owned()));
        }
        let data = self
            .data
            .as_object()
            .ok_or_else(|| EnvelopeError::MissingData {
                scope: scope.to_owned(),
            })?;
        let id_at = |path: &[&str]| -> Result<u64, EnvelopeError> {
            let mut value = data.get(path[0]);
            for key in &path[1..] {
                value = value.and_then(|v| v.get(key));
            }
            let name = format!("data.{}", path.join("."));
            match value {
                None | Some(Value::Null) => Err(invalid(format!("`{name}` is missing"))),
                Some(v) => v
                    .as_u64()
                    .filter(|id| *id > 0)
                    .ok_or_else(|| invalid(format!("`{name}` is not a positive integer"))),
            }
        };
        Ok(match self.scope {
            Scope::OrderCreated | Scope::OrderUpdated | Scope::OrderArchived => {
                WebhookData::Order {
                    id: OrderId::new(id_at(&["id"])?),
                }
            }
            Scope::OrderStatusUpdated => {
                let status_id = |key: &str| -> Result<Option<u32>, EnvelopeError> {
                    match data.get("status").and_then(|s| s.get(key)) {
                        None | Some(Value::Null) => Ok(None),
                        Some(v) => v
                            .as_u64()
                            .and_then(|n| u32::try_from(n).ok())
                            .map(Some)
                            .ok_or_else(|| {
                                invalid(format!("`data.status.{key}` is not a status id"))
                            }),
                    }
                };
                WebhookData::OrderStatus {
                    id: OrderId::new(id_at(&["id"])?),
                    previous_status_id: status_id("previous_status_id")?,
                    new_status_id: status_id("new_status_id")?
                        .ok_or_else(|| invalid("`data.status.new_status_id` is missing".into()))?,
                }
            }
            Scope::OrderRefundCreated => WebhookData::OrderRefund {
                id: OrderId::new(id_at(&["id"])?),
                refund_id: id_at(&["refund", "refund_id"])?,
            },
            Scope::CustomerCreated | Scope::CustomerUpdated | Scope::CustomerDeleted => {
                WebhookData::Customer {
                    id: CustomerId::new(id_at(&["id"])?),
                }
            }
            Scope::CustomerAddressCreated | Scope::CustomerAddressUpdated => {
                WebhookData::CustomerAddress {
                    address_id: id_at(&["id"])?,
                    customer_id: CustomerId::new(id_at(&["address", "customer_id"])?),
                }
            }
            Scope::SubscriberCreated | Scope::SubscriberUpdated => WebhookData::Subscriber {
                id: SubscriberId::new(id_at(&["id"])?),
            },
            Scope::CartConverted => {
                let cart_id = match data.get("id") {
                    Some(Value::String(s)) => {
                        CartId::parse(s).map_err(|e| invalid(format!("`data.id`: {e}")))?
                    }
                    None | Some(Value::Null) => return Err(invalid("`data.id` is missing".into())),
                    Some(_) => return Err(invalid("`data.id` is not a string".into())),
                };
                let order_id = if data.contains_key("orderId") {
                    id_at(&["orderId"])?
                } else {
                    // The documented name is `orderId`; tolerate the snake_case spelling
                    // used by every other BigCommerce payload.
                    id_at(&["order_id"]).map_err(|_| invalid("`data.orderId` is missing".into()))?
                };
                WebhookData::CartConverted {
                    cart_id,
                    order_id: OrderId::new(order_id),
                }
            }
            Scope::Unhandled(_) => return Err(EnvelopeError::UnhandledScope(scope.to_owned())),
        })
    }
}

/// The typed `data` of a handled webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookData {
    /// `store/order/created|updated|archived`.
    Order {
        /// The order.
        id: OrderId,
    },
    /// `store/order/statusUpdated`.
    OrderStatus {
        /// The order.
        id: OrderId,
        /// The status before the change, when sent.
        previous_status_id: Option<u32>,
        /// The status after the change.
        new_status_id: u32,
    },
    /// `store/order/refund/created`.
    OrderRefund {
        /// The order.
        id: OrderId,
        /// The refund (v3 payment action) id.
        refund_id: u64,
    },
    /// `store/customer/created|updated|deleted`.
    Customer {
        /// The customer.
        id: CustomerId,
    },
    /// `store/customer/address/created|updated`: `data.id` is the address,
    /// `data.address.customer_id` the customer.
    CustomerAddress {
        /// The address.
        address_id: u64,
        /// The customer owning the address.
        customer_id: CustomerId,
    },
    /// `store/subscriber/created|updated`.
    Subscriber {
        /// The subscriber.
        id: SubscriberId,
    },
    /// `store/cart/converted`.
    CartConverted {
        /// The cart that became an order (already deleted in BigCommerce).
        cart_id: CartId,
        /// The order it became.
        order_id: OrderId,
    },
}

/// Prefix of event ids computed from the envelope rather than taken from `webhook-id`.
pub const DIGEST_EVENT_ID_PREFIX: &str = "bc-";

/// The event id of one webhook delivery (connector.md §1.6).
///
/// The `webhook-id` header when present and usable as an [`EventId`] (non-empty, visible
/// ASCII, at most 255 characters). Otherwise `bc-` followed by the hex SHA-256 of scope,
/// `hash` and `created_at`: BigCommerce's `hash` alone is the same for every update of one
/// order, so it cannot be the id on its own, while a redelivery repeats all three.
/// Each part is length-prefixed, with absent parts marked, so that no two different
/// inputs hash the same text.
pub fn event_id(
    webhook_id: Option<&str>,
    scope: &Scope,
    hash: Option<&str>,
    created_at: Option<i64>,
) -> EventId {
    if let Some(id) = webhook_id.and_then(|id| EventId::parse(id.trim()).ok()) {
        return id;
    }
    let mut digest = Sha256::new();
    let scope = scope.as_str();
    digest.update(format!("scope:{}:{scope}\n", scope.len()));
    match hash {
        Some(h) => digest.update(format!("hash:{}:{h}\n", h.len())),
        None => digest.update("hash:-\n"),
    }
    match created_at {
        Some(t) => digest.update(format!("created_at:{t}\n")),
        None => digest.update("created_at:-\n"),
    }
    let text = format!("{DIGEST_EVENT_ID_PREFIX}{}", hex::encode(digest.finalize()));
    match EventId::parse(&text) {
        Ok(id) => id,
        // 3 + 64 visible ASCII characters always parse.
        Err(e) => unreachable!("digest event id {text} rejected: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    macro_rules! fixture {
        ($name:literal) => {
            include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../fixtures/bigcommerce/webhooks/",
                $name
            ))
        };
    }

    fn envelope(body: &str) -> Envelope {
        Envelope::parse(body.as_bytes()).unwrap()
    }

    #[test]
    fn every_handled_scope_round_trips_through_text_and_routing_key() {
        for scope in Scope::required_hooks() {
            assert_eq!(&Scope::parse(scope.as_str()).unwrap(), scope);
            assert_eq!(scope.routing_key(), scope.as_str().replace('/', "."));
            assert_eq!(
                &Scope::from_routing_key(&scope.routing_key()).unwrap(),
                scope
            );
            assert!(scope.is_handled());
        }
    }

    #[test]
    fn the_required_hooks_are_the_scopes_of_orders_contacts_and_converted_carts() {
        let scopes: Vec<&str> = Scope::required_hooks().iter().map(Scope::as_str).collect();
        assert_eq!(
            scopes,
            [
                "store/order/created",
                "store/order/updated",
                "store/order/statusUpdated",
                "store/order/archived",
                "store/order/refund/created",
                "store/customer/created",
                "store/customer/updated",
                "store/customer/deleted",
                "store/customer/address/created",
                "store/customer/address/updated",
                "store/subscriber/created",
                "store/subscriber/updated",
                "store/cart/converted",
            ]
        );
    }

    #[test]
    fn required_hooks_are_exactly_the_handled_scopes() {
        assert_eq!(Scope::required_hooks().len(), 13);
        for (i, scope) in Scope::required_hooks().iter().enumerate() {
            assert!(scope.is_handled());
            assert!(
                !Scope::required_hooks()[..i].contains(scope),
                "{scope} twice"
            );
        }
    }

    #[test]
    fn order_created_routes_as_store_order_created() {
        let scope = Scope::parse("store/order/created").unwrap();
        assert_eq!(scope, Scope::OrderCreated);
        assert_eq!(scope.routing_key(), "store.order.created");
        assert_eq!(scope.to_string(), "store/order/created");
    }

    #[test]
    fn unknown_scope_is_unhandled_but_still_routable() {
        let scope = Scope::parse("store/product/updated").unwrap();
        assert_eq!(scope, Scope::Unhandled("store/product/updated".into()));
        assert!(!scope.is_handled());
        assert_eq!(scope.routing_key(), "store.product.updated");
        assert_eq!(
            Scope::from_routing_key("store.product.updated").unwrap(),
            scope
        );
    }

    #[test]
    fn scope_matching_is_case_sensitive() {
        assert!(!Scope::parse("store/order/statusupdated")
            .unwrap()
            .is_handled());
        assert_eq!(
            Scope::parse("store/order/statusUpdated").unwrap(),
            Scope::OrderStatusUpdated
        );
    }

    #[test]
    fn malformed_scopes_are_rejected() {
        assert_eq!(Scope::parse(""), Err(ScopeError::Empty));
        assert_eq!(
            Scope::parse("store/order created"),
            Err(ScopeError::InvalidCharacter(' '))
        );
        assert_eq!(
            Scope::parse("store/*"),
            Err(ScopeError::InvalidCharacter('*'))
        );
        assert_eq!(Scope::parse(&"a".repeat(256)), Err(ScopeError::TooLong));
    }

    #[test]
    fn scope_serializes_as_its_bigcommerce_text() {
        assert_eq!(
            serde_json::to_string(&Scope::CartConverted).unwrap(),
            "\"store/cart/converted\""
        );
        let scope: Scope = serde_json::from_str("\"store/subscriber/updated\"").unwrap();
        assert_eq!(scope, Scope::SubscriberUpdated);
        assert!(serde_json::from_str::<Scope>("\"no spaces allowed\"").is_err());
    }

    #[test]
    fn head_extracts_scope_store_hash_and_id_inputs() {
        let head = WebhookHead::parse(fixture!("order_created.json").as_bytes()).unwrap();
        assert_eq!(head.scope(), &Scope::OrderCreated);
        assert_eq!(head.store_hash().as_str(), "abc123");
        assert_eq!(
            head.hash(),
            Some("dd70c0976e06b67aaf671e73f49dcb79230ebf9d")
        );
        assert_eq!(head.created_at(), Some(1_764_750_000));
    }

    #[test]
    fn head_parses_every_webhook_fixture() {
        for body in [
            fixture!("cart_converted.json"),
            fixture!("customer_address_updated.json"),
            fixture!("customer_created.json"),
            fixture!("customer_created_with_channel.json"),
            fixture!("customer_deleted.json"),
            fixture!("customer_updated.json"),
            fixture!("order_archived.json"),
            fixture!("order_created.json"),
            fixture!("order_refund_created.json"),
            fixture!("order_status_partially_refunded.json"),
            fixture!("order_status_refunded.json"),
            fixture!("order_status_updated.json"),
            fixture!("order_updated.json"),
            fixture!("product_updated_unhandled.json"),
            fixture!("subscriber_created.json"),
        ] {
            let head = WebhookHead::parse(body.as_bytes()).unwrap();
            let full = Envelope::parse(body.as_bytes()).unwrap();
            assert_eq!(head.scope(), full.scope());
            assert_eq!(head.event_id(None), full.event_id(None));
        }
    }

    #[test]
    fn head_of_malformed_json_is_a_json_error() {
        for body in ["", "{", "not json", "[1,2]", "{\"scope\":\"a\"} trailing"] {
            assert!(
                matches!(
                    WebhookHead::parse(body.as_bytes()),
                    Err(EnvelopeError::MalformedJson(_))
                ),
                "{body}"
            );
        }
    }

    #[test]
    fn head_without_producer_is_missing_producer() {
        let body = br#"{"scope":"store/order/created","data":{"id":1}}"#;
        assert_eq!(
            WebhookHead::parse(body),
            Err(EnvelopeError::MissingProducer)
        );
        let body = br#"{"scope":"store/order/created","producer":null}"#;
        assert_eq!(
            WebhookHead::parse(body),
            Err(EnvelopeError::MissingProducer)
        );
    }

    #[test]
    fn head_with_a_producer_that_is_not_a_store_is_invalid_producer() {
        for producer in [r#""apps/abc""#, r#""stores/""#, r#""stores/ABC""#, "42"] {
            let body = format!(r#"{{"scope":"store/order/created","producer":{producer}}}"#);
            assert!(
                matches!(
                    WebhookHead::parse(body.as_bytes()),
                    Err(EnvelopeError::InvalidProducer(_))
                ),
                "{producer}"
            );
        }
    }

    #[test]
    fn head_without_scope_or_with_a_bad_scope_says_so() {
        let body = br#"{"producer":"stores/abc123"}"#;
        assert_eq!(WebhookHead::parse(body), Err(EnvelopeError::MissingScope));
        let body = br#"{"scope":7,"producer":"stores/abc123"}"#;
        assert!(matches!(
            WebhookHead::parse(body),
            Err(EnvelopeError::InvalidScope(_))
        ));
        let body = br#"{"scope":"store order","producer":"stores/abc123"}"#;
        assert!(matches!(
            WebhookHead::parse(body),
            Err(EnvelopeError::InvalidScope(_))
        ));
    }

    #[test]
    fn head_decodes_escaped_strings() {
        let body =
            br#"{"scope":"store\/order\/created","producer":"stores\/abc123","hash":"a\u0062c"}"#;
        let head = WebhookHead::parse(body).unwrap();
        assert_eq!(head.scope(), &Scope::OrderCreated);
        assert_eq!(head.store_hash().as_str(), "abc123");
        assert_eq!(head.hash(), Some("abc"));
    }

    #[test]
    fn head_ignores_optional_fields_of_unexpected_types() {
        let body = br#"{"scope":"store/order/created","producer":"stores/abc123","hash":5,"created_at":"x"}"#;
        let head = WebhookHead::parse(body).unwrap();
        assert_eq!(head.hash(), None);
        assert_eq!(head.created_at(), None);
    }

    #[test]
    fn envelope_exposes_every_field() {
        let env = envelope(fixture!("customer_created_with_channel.json"));
        assert_eq!(env.scope(), &Scope::CustomerCreated);
        assert_eq!(env.store_id(), Some("1025646"));
        assert_eq!(env.store_hash().as_str(), "abc123");
        assert_eq!(env.producer(), "stores/abc123");
        assert_eq!(env.hash(), Some("9879bc26bb97d7e84d7f5d4fbaff0831a21be2e3"));
        assert_eq!(env.created_at(), Some(1_764_740_100));
        assert_eq!(env.channel_id(), Some(ChannelId::new(1)));
        assert_eq!(env.raw_data()["id"], 33);
    }

    #[test]
    fn envelope_without_optional_fields_still_parses() {
        let env = envelope(
            r#"{"scope":"store/order/statusUpdated","producer":"stores/abc123",
                "data":{"type":"order","id":250,"status":{"previous_status_id":0,"new_status_id":11}}}"#,
        );
        assert_eq!(env.store_id(), None);
        assert_eq!(env.hash(), None);
        assert_eq!(env.created_at(), None);
        assert_eq!(env.channel_id(), None);
    }

    #[test]
    fn top_level_channel_id_may_be_absent_null_or_a_number() {
        let base = r#""scope":"store/order/created","producer":"stores/abc123","data":{"id":1}"#;
        assert_eq!(envelope(&format!("{{{base}}}")).channel_id(), None);
        assert_eq!(
            envelope(&format!(r#"{{{base},"channel_id":null}}"#)).channel_id(),
            None
        );
        assert_eq!(
            envelope(&format!(r#"{{{base},"channel_id":3}}"#)).channel_id(),
            Some(ChannelId::new(3))
        );
        assert_eq!(
            envelope(&format!(r#"{{{base},"channel_id":0}}"#)).channel_id(),
            None
        );
        for bad in [r#""3""#, "-1", "1.5", "{}"] {
            let body = format!(r#"{{{base},"channel_id":{bad}}}"#);
            assert!(
                matches!(
                    Envelope::parse(body.as_bytes()),
                    Err(EnvelopeError::InvalidChannelId(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn store_id_sent_as_a_number_is_kept_as_text() {
        let env = envelope(
            r#"{"scope":"store/order/created","producer":"stores/abc123","store_id":1025646}"#,
        );
        assert_eq!(env.store_id(), Some("1025646"));
    }

    #[test]
    fn order_events_carry_the_order_id() {
        for body in [
            fixture!("order_created.json"),
            fixture!("order_updated.json"),
            fixture!("order_archived.json"),
        ] {
            assert_eq!(
                envelope(body).data().unwrap(),
                WebhookData::Order {
                    id: OrderId::new(250)
                }
            );
        }
    }

    #[test]
    fn status_update_carries_both_status_ids() {
        assert_eq!(
            envelope(fixture!("order_status_updated.json"))
                .data()
                .unwrap(),
            WebhookData::OrderStatus {
                id: OrderId::new(250),
                previous_status_id: Some(1),
                new_status_id: 11
            }
        );
        assert_eq!(
            envelope(fixture!("order_status_refunded.json"))
                .data()
                .unwrap(),
            WebhookData::OrderStatus {
                id: OrderId::new(250),
                previous_status_id: Some(10),
                new_status_id: 4
            }
        );
    }

    #[test]
    fn status_update_without_a_new_status_is_invalid() {
        let env = envelope(
            r#"{"scope":"store/order/statusUpdated","producer":"stores/abc123","data":{"id":250,"status":{}}}"#,
        );
        assert!(matches!(env.data(), Err(EnvelopeError::InvalidData { .. })));
    }

    #[test]
    fn refund_created_carries_the_refund_id() {
        assert_eq!(
            envelope(fixture!("order_refund_created.json"))
                .data()
                .unwrap(),
            WebhookData::OrderRefund {
                id: OrderId::new(250),
                refund_id: 3
            }
        );
    }

    #[test]
    fn customer_events_carry_the_customer_id() {
        for body in [
            fixture!("customer_created.json"),
            fixture!("customer_updated.json"),
            fixture!("customer_deleted.json"),
        ] {
            assert_eq!(
                envelope(body).data().unwrap(),
                WebhookData::Customer {
                    id: CustomerId::new(32)
                }
            );
        }
    }

    #[test]
    fn address_event_customer_id_comes_from_data_address_not_data_id() {
        assert_eq!(
            envelope(fixture!("customer_address_updated.json"))
                .data()
                .unwrap(),
            WebhookData::CustomerAddress {
                address_id: 60,
                customer_id: CustomerId::new(32)
            }
        );
    }

    #[test]
    fn address_event_without_customer_id_is_invalid() {
        let env = envelope(
            r#"{"scope":"store/customer/address/created","producer":"stores/abc123","data":{"id":60}}"#,
        );
        match env.data() {
            Err(EnvelopeError::InvalidData { reason, .. }) => {
                assert!(reason.contains("data.address.customer_id"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn subscriber_event_carries_the_subscriber_id() {
        assert_eq!(
            envelope(fixture!("subscriber_created.json"))
                .data()
                .unwrap(),
            WebhookData::Subscriber {
                id: SubscriberId::new(5)
            }
        );
    }

    #[test]
    fn cart_converted_carries_cart_and_order() {
        assert_eq!(
            envelope(fixture!("cart_converted.json")).data().unwrap(),
            WebhookData::CartConverted {
                cart_id: CartId::parse("d30016e2-23c0-4a90-884f-2e92ac135476").unwrap(),
                order_id: OrderId::new(250)
            }
        );
    }

    #[test]
    fn cart_converted_with_a_numeric_cart_id_is_invalid() {
        let env = envelope(
            r#"{"scope":"store/cart/converted","producer":"stores/abc123","data":{"id":5,"orderId":1}}"#,
        );
        assert!(matches!(env.data(), Err(EnvelopeError::InvalidData { .. })));
    }

    #[test]
    fn unhandled_scope_has_no_typed_data() {
        assert_eq!(
            envelope(fixture!("product_updated_unhandled.json")).data(),
            Err(EnvelopeError::UnhandledScope(
                "store/product/updated".into()
            ))
        );
    }

    #[test]
    fn missing_or_non_object_data_is_reported() {
        let env = envelope(r#"{"scope":"store/order/created","producer":"stores/abc123"}"#);
        assert!(matches!(env.data(), Err(EnvelopeError::MissingData { .. })));
        let env =
            envelope(r#"{"scope":"store/order/created","producer":"stores/abc123","data":[]}"#);
        assert!(matches!(env.data(), Err(EnvelopeError::MissingData { .. })));
    }

    #[test]
    fn ids_must_be_positive_integers() {
        for id in ["0", "-3", "\"250\"", "2.5", "null"] {
            let body = format!(
                r#"{{"scope":"store/order/created","producer":"stores/abc123","data":{{"id":{id}}}}}"#
            );
            assert!(
                matches!(
                    envelope(&body).data(),
                    Err(EnvelopeError::InvalidData { .. })
                ),
                "{id}"
            );
        }
    }

    #[test]
    fn the_digest_tells_apart_events_that_differ_in_any_part() {
        let base = event_id(None, &Scope::OrderCreated, Some("dd70"), Some(1));
        for other in [
            event_id(None, &Scope::OrderCreated, Some("dd71"), Some(1)),
            event_id(None, &Scope::OrderCreated, Some("dd70"), Some(2)),
            event_id(None, &Scope::OrderUpdated, Some("dd70"), Some(1)),
        ] {
            assert_ne!(base, other);
        }
    }

    #[test]
    fn webhook_id_header_is_the_event_id_when_present() {
        let id = event_id(
            Some("msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"),
            &Scope::OrderCreated,
            Some("dd70"),
            Some(1),
        );
        assert_eq!(id.as_str(), "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W");
    }

    #[test]
    fn empty_webhook_id_header_falls_back_to_the_digest() {
        let id = event_id(Some(""), &Scope::OrderCreated, Some("dd70"), Some(1));
        assert!(id.as_str().starts_with("bc-"));
        assert_eq!(id.as_str().len(), 3 + 64);
        assert_eq!(
            id,
            event_id(None, &Scope::OrderCreated, Some("dd70"), Some(1))
        );
        assert_eq!(
            id,
            event_id(Some("  "), &Scope::OrderCreated, Some("dd70"), Some(1))
        );
    }

    #[test]
    fn two_updates_of_one_order_with_the_same_hash_get_different_ids() {
        let first = envelope(fixture!("order_updated.json"));
        let mut second_body: Value = serde_json::from_str(fixture!("order_updated.json")).unwrap();
        second_body["created_at"] = 1_764_750_999.into();
        let second = Envelope::parse(second_body.to_string().as_bytes()).unwrap();
        assert_eq!(first.hash(), second.hash());
        assert_ne!(first.event_id(None), second.event_id(None));
    }

    #[test]
    fn the_same_delivery_twice_gets_the_same_id() {
        let body = fixture!("order_updated.json");
        assert_eq!(envelope(body).event_id(None), envelope(body).event_id(None));
    }

    #[test]
    fn different_scopes_with_the_same_hash_and_time_get_different_ids() {
        let a = event_id(None, &Scope::OrderCreated, Some("h"), Some(1));
        let b = event_id(None, &Scope::OrderUpdated, Some("h"), Some(1));
        assert_ne!(a, b);
    }

    #[test]
    fn absent_and_empty_hash_get_different_ids() {
        let a = event_id(None, &Scope::OrderCreated, None, Some(1));
        let b = event_id(None, &Scope::OrderCreated, Some(""), Some(1));
        assert_ne!(a, b);
    }
}
