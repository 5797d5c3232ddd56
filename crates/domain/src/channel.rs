//! Which sales channel an event belongs to, and that channel's settings
//! (connector.md §2).
//!
//! Resolution order: a non-null top-level `channel_id` in the webhook body; otherwise the
//! resource's own channel ([`ChannelSource`]); no configuration for the (store, channel)
//! → the event is dropped with reason [`DropReason::UnmatchedChannel`] (acked, logged,
//! counted; never retried or dead-lettered).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::ids::{ChannelId, StoreHash};
use crate::webhook::Scope;

/// Where an event's channel comes from when the webhook body has no top-level
/// `channel_id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChannelSource {
    /// `channel_id` of the v2 order (orders, refunds, converted carts).
    Order,
    /// `origin_channel_id` of the v3 customer (customer created/updated/address events).
    Customer,
    /// `channel_id` of the v3 subscriber.
    Subscriber,
    /// The channel recorded with the stored customer → contact link: a deleted customer
    /// can no longer be fetched from BigCommerce.
    ContactLink,
    /// The `channelId` field of a storefront tracking beacon.
    Beacon,
}

impl Scope {
    /// Where this scope's channel comes from; `None` for unhandled scopes.
    pub fn channel_source(&self) -> Option<ChannelSource> {
        Some(match self {
            Scope::OrderCreated
            | Scope::OrderUpdated
            | Scope::OrderStatusUpdated
            | Scope::OrderArchived
            | Scope::OrderRefundCreated
            | Scope::CartConverted => ChannelSource::Order,
            Scope::CustomerCreated
            | Scope::CustomerUpdated
            | Scope::CustomerAddressCreated
            | Scope::CustomerAddressUpdated => ChannelSource::Customer,
            Scope::CustomerDeleted => ChannelSource::ContactLink,
            Scope::SubscriberCreated | Scope::SubscriberUpdated => ChannelSource::Subscriber,
            Scope::Unhandled(_) => return None,
        })
    }
}

/// The channel of an event: the top-level `channel_id` when present, else the
/// resource's.
pub fn resolve_channel(
    top_level: Option<ChannelId>,
    resource: Option<ChannelId>,
) -> Option<ChannelId> {
    top_level.or(resource)
}

/// Why an event was dropped on purpose (acked without doing anything). The labels are
/// stable: they are log fields and metric label values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// No configuration for the event's (store, channel), or no channel at all.
    UnmatchedChannel,
    /// A `statusUpdated` to Refunded/Partially Refunded: `refund/created` is authoritative.
    IgnoredRefundStatus,
    /// A scope the connector does not handle.
    UnhandledScope,
}

impl DropReason {
    /// The stable label: `unmatched_channel`, `ignored_refund_status`, `unhandled_scope`.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::UnmatchedChannel => "unmatched_channel",
            DropReason::IgnoredRefundStatus => "ignored_refund_status",
            DropReason::UnhandledScope => "unhandled_scope",
        }
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The outcome of looking up an event's channel configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution<T> {
    /// The channel is configured.
    Matched(T),
    /// Drop the event.
    Unmatched {
        /// Why.
        reason: DropReason,
    },
}

impl<T> Resolution<T> {
    /// The matched value, if any.
    pub fn matched(self) -> Option<T> {
        match self {
            Resolution::Matched(t) => Some(t),
            Resolution::Unmatched { .. } => None,
        }
    }
}

/// Resolves the channel (top-level first) and looks up its configuration.
/// No channel at all, or no configuration → [`DropReason::UnmatchedChannel`].
pub fn resolve_settings<T>(
    top_level: Option<ChannelId>,
    resource: Option<ChannelId>,
    lookup: impl Fn(ChannelId) -> Option<T>,
) -> Resolution<T> {
    match resolve_channel(top_level, resource).and_then(lookup) {
        Some(settings) => Resolution::Matched(settings),
        None => Resolution::Unmatched {
            reason: DropReason::UnmatchedChannel,
        },
    }
}

/// How contact types are chosen for a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ContactTypeMode {
    /// Every contact is a `Member` (Engage's default).
    #[default]
    AllMember,
    /// Account holders are `Member`s; guests and newsletter-only subscribers are
    /// `Contact`s.
    MemberAndContact,
}

/// The text was not `all-member` or `member-and-contact`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown contact type mode {0:?} (expected `all-member` or `member-and-contact`)")]
pub struct UnknownContactTypeMode(pub String);

impl ContactTypeMode {
    /// Parses `all-member` or `member-and-contact`.
    pub fn parse(s: &str) -> Result<Self, UnknownContactTypeMode> {
        match s.trim() {
            "all-member" => Ok(ContactTypeMode::AllMember),
            "member-and-contact" => Ok(ContactTypeMode::MemberAndContact),
            other => Err(UnknownContactTypeMode(other.to_owned())),
        }
    }

    /// `all-member` or `member-and-contact`.
    pub fn as_str(self) -> &'static str {
        match self {
            ContactTypeMode::AllMember => "all-member",
            ContactTypeMode::MemberAndContact => "member-and-contact",
        }
    }
}

impl FromStr for ContactTypeMode {
    type Err = UnknownContactTypeMode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for ContactTypeMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One (store, channel)'s configuration, as the services load it from the database.
/// Secrets (the Engage API key) are not here: the mappings never need them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelSettings {
    /// The store.
    pub store_hash: StoreHash,
    /// The channel.
    pub channel_id: ChannelId,
    /// Engage's store id for this channel (`storeExternalId` / `externalStoreId`).
    pub store_external_id: String,
    /// Engage `source` for created contacts.
    pub source: String,
    /// Fallback locale for tracking when the beacon has none.
    pub locale: String,
    /// How contact types are chosen.
    pub contact_type_mode: ContactTypeMode,
    /// Prefix put before BigCommerce order ids in Engage (`orderId`).
    pub order_id_prefix: Option<String>,
    /// Storefront origins allowed to send tracking beacons (CORS).
    pub allowed_origins: Vec<String>,
}

impl ChannelSettings {
    /// Default Engage `source`.
    pub const DEFAULT_SOURCE: &'static str = "ECOM";
    /// Default locale.
    pub const DEFAULT_LOCALE: &'static str = "sv-SE";

    /// Settings with the defaults: source `ECOM`, locale `sv-SE`, all-member, no order
    /// prefix, no allowed origins.
    pub fn new(
        store_hash: StoreHash,
        channel_id: ChannelId,
        store_external_id: impl Into<String>,
    ) -> Self {
        Self {
            store_hash,
            channel_id,
            store_external_id: store_external_id.into(),
            source: Self::DEFAULT_SOURCE.to_owned(),
            locale: Self::DEFAULT_LOCALE.to_owned(),
            contact_type_mode: ContactTypeMode::AllMember,
            order_id_prefix: None,
            allowed_origins: Vec::new(),
        }
    }

    /// True when `origin` (the browser's `Origin` header) is one of the allowed origins.
    /// Compared case-insensitively (scheme and host are case-insensitive) and ignoring a
    /// trailing `/` that operators tend to type.
    pub fn allows_origin(&self, origin: &str) -> bool {
        let origin = origin.trim().trim_end_matches('/');
        !origin.is_empty()
            && self.allowed_origins.iter().any(|allowed| {
                allowed
                    .trim()
                    .trim_end_matches('/')
                    .eq_ignore_ascii_case(origin)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bigcommerce::{Customer, V3Response};

    fn settings(channel: u32) -> ChannelSettings {
        ChannelSettings::new(
            StoreHash::parse("abc123").unwrap(),
            ChannelId::new(channel),
            "web-se",
        )
    }

    fn configured(id: ChannelId) -> Option<ChannelSettings> {
        (id == ChannelId::new(1)).then(|| settings(1))
    }

    #[test]
    fn top_level_channel_wins_over_the_resource() {
        assert_eq!(
            resolve_channel(Some(ChannelId::new(2)), Some(ChannelId::new(1))),
            Some(ChannelId::new(2))
        );
    }

    #[test]
    fn resource_channel_is_used_when_there_is_no_top_level_one() {
        assert_eq!(
            resolve_channel(None, Some(ChannelId::new(1))),
            Some(ChannelId::new(1))
        );
        assert_eq!(resolve_channel(None, None), None);
    }

    #[test]
    fn configured_channel_is_matched() {
        assert_eq!(
            resolve_settings(None, Some(ChannelId::new(1)), configured),
            Resolution::Matched(settings(1))
        );
    }

    #[test]
    fn customer_36_on_unconfigured_channel_7_is_dropped() {
        let body = include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../fixtures/bigcommerce/api/v3_customers_unmatched_channel.json"
        ));
        let response: V3Response<Vec<Customer>> = serde_json::from_str(body).unwrap();
        let customer = &response.data[0];
        assert_eq!(customer.origin_channel_id, Some(ChannelId::new(7)));
        let resolution = resolve_settings(None, customer.origin_channel_id, configured);
        assert_eq!(
            resolution,
            Resolution::Unmatched {
                reason: DropReason::UnmatchedChannel
            }
        );
        assert_eq!(DropReason::UnmatchedChannel.as_str(), "unmatched_channel");
    }

    #[test]
    fn event_without_any_channel_is_dropped_as_unmatched() {
        assert_eq!(
            resolve_settings(None, None, configured),
            Resolution::Unmatched {
                reason: DropReason::UnmatchedChannel
            }
        );
    }

    #[test]
    fn unconfigured_top_level_channel_is_dropped_even_if_the_resource_channel_is_configured() {
        assert_eq!(
            resolve_settings(Some(ChannelId::new(7)), Some(ChannelId::new(1)), configured)
                .matched(),
            None
        );
    }

    #[test]
    fn each_scope_knows_where_its_channel_comes_from() {
        assert_eq!(
            Scope::OrderCreated.channel_source(),
            Some(ChannelSource::Order)
        );
        assert_eq!(
            Scope::OrderRefundCreated.channel_source(),
            Some(ChannelSource::Order)
        );
        assert_eq!(
            Scope::CartConverted.channel_source(),
            Some(ChannelSource::Order)
        );
        assert_eq!(
            Scope::CustomerCreated.channel_source(),
            Some(ChannelSource::Customer)
        );
        assert_eq!(
            Scope::CustomerAddressUpdated.channel_source(),
            Some(ChannelSource::Customer)
        );
        assert_eq!(
            Scope::CustomerDeleted.channel_source(),
            Some(ChannelSource::ContactLink)
        );
        assert_eq!(
            Scope::SubscriberUpdated.channel_source(),
            Some(ChannelSource::Subscriber)
        );
        assert_eq!(Scope::Unhandled("store/x".into()).channel_source(), None);
        for scope in Scope::required_hooks() {
            assert!(scope.channel_source().is_some());
        }
    }

    #[test]
    fn drop_reasons_have_stable_labels() {
        assert_eq!(
            DropReason::IgnoredRefundStatus.as_str(),
            "ignored_refund_status"
        );
        assert_eq!(DropReason::UnhandledScope.to_string(), "unhandled_scope");
    }

    #[test]
    fn contact_type_mode_parses_both_spellings_and_nothing_else() {
        assert_eq!(
            ContactTypeMode::parse("all-member"),
            Ok(ContactTypeMode::AllMember)
        );
        assert_eq!(
            "member-and-contact".parse::<ContactTypeMode>(),
            Ok(ContactTypeMode::MemberAndContact)
        );
        assert!(ContactTypeMode::parse("AllMember").is_err());
        assert_eq!(
            ContactTypeMode::MemberAndContact.to_string(),
            "member-and-contact"
        );
        assert_eq!(
            serde_json::to_string(&ContactTypeMode::AllMember).unwrap(),
            "\"all-member\""
        );
    }

    #[test]
    fn new_settings_carry_the_documented_defaults() {
        let s = settings(1);
        assert_eq!(s.source, "ECOM");
        assert_eq!(s.locale, "sv-SE");
        assert_eq!(s.contact_type_mode, ContactTypeMode::AllMember);
        assert_eq!(s.order_id_prefix, None);
        assert!(s.allowed_origins.is_empty());
    }

    #[test]
    fn allowed_origins_match_ignoring_case_and_trailing_slash() {
        let mut s = settings(1);
        s.allowed_origins = vec!["https://shop.example.com/".into()];
        assert!(s.allows_origin("https://shop.example.com"));
        assert!(s.allows_origin("HTTPS://SHOP.EXAMPLE.COM"));
        assert!(!s.allows_origin("https://evil.example.com"));
        assert!(!s.allows_origin("http://shop.example.com"));
        assert!(!s.allows_origin(""));
    }
}
