//! The payloads the connector sends to Engage, and the mappings that build them from
//! BigCommerce data (engage-mapping.md; the implemented tables are in `docs/mapping.md`).
//!
//! Conventions shared by every payload:
//! - JSON names are camelCase, as Engage spells them.
//! - Amounts are [`Money`]: a JSON number rounded to two decimals, written from the
//!   decimal's text, never through a float.
//! - Times are RFC 3339 in UTC (`2025-12-03T08:20:00Z`), a profile of ISO 8601.
//! - PATCH semantics use [`Field`]: an absent key keeps Engage's value, `null` clears it.

mod contact;
mod money;
mod order;
mod tracking;

use std::fmt;

use serde::{Deserialize, Serialize};

pub use contact::{
    contact_type_for_order, customer_phone, map_customer, map_order_contact, map_subscriber,
    Consent, ContactPayload, Preferences, HAS_ACCOUNT_CONSENT,
};
pub use money::Money;
pub use order::{
    map_order, refunded_quantity, Delivery, Discounts, Fees, LineItems, MatchKeyType, OrderAddress,
    OrderContact, OrderLine, OrderPayload, Payments, RefundSummary, Refunds, ECOM_CHANNEL,
};
pub use tracking::{
    map_cart, map_converted_cart, map_product_view, CartLine, CartPayload, ProductViewPayload,
};

use crate::ids::{CustomerId, OrderId, SubscriberId};
use crate::status::UnknownStatus;

/// A value in a PATCH-style payload: absent (keep Engage's value), `null` (clear it) or
/// a value.
///
/// Serialize it with `#[serde(default, skip_serializing_if = "Field::is_absent")]`;
/// without the attribute an absent field would be written as `null`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum Field<T> {
    /// Leave the key out.
    #[default]
    Absent,
    /// Send `null`.
    Null,
    /// Send the value.
    Value(T),
}

impl<T> Field<T> {
    /// True for [`Field::Absent`] (for `skip_serializing_if`).
    pub fn is_absent(&self) -> bool {
        matches!(self, Field::Absent)
    }

    /// The value, if there is one.
    pub fn value(&self) -> Option<&T> {
        match self {
            Field::Value(v) => Some(v),
            Field::Absent | Field::Null => None,
        }
    }

    /// `Some` → value, `None` → absent.
    pub fn absent_if_none(value: Option<T>) -> Self {
        value.map_or(Field::Absent, Field::Value)
    }
}

impl<T: Serialize> Serialize for Field<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Field::Value(v) => serializer.serialize_some(v),
            Field::Absent | Field::Null => serializer.serialize_none(),
        }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Field<T> {
    /// `null` → [`Field::Null`]; with `#[serde(default)]` a missing key → [`Field::Absent`].
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(match Option::<T>::deserialize(deserializer)? {
            Some(v) => Field::Value(v),
            None => Field::Null,
        })
    }
}

/// Engage contact type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ContactType {
    /// A member (account holder, or everyone in all-member mode).
    Member,
    /// A non-member contact (guests and newsletter-only subscribers in
    /// member-and-contact mode).
    Contact,
}

impl ContactType {
    /// `Member` or `Contact`, as Engage spells it (also the `contactTypeId` query value).
    pub fn as_str(self) -> &'static str {
        match self {
            ContactType::Member => "Member",
            ContactType::Contact => "Contact",
        }
    }
}

impl fmt::Display for ContactType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why BigCommerce data cannot be mapped. None of these is retryable: fetching the same
/// data again gives the same answer, so the event needs an operator (or a fix at the
/// source) instead of another attempt.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MappingError {
    /// The order's billing address has no usable e-mail to match the contact on.
    #[error("order {0} has no billing e-mail to match a contact on")]
    MissingBillingEmail(OrderId),
    /// The customer has no usable e-mail.
    #[error("customer {0} has no e-mail")]
    MissingCustomerEmail(CustomerId),
    /// The subscriber has no usable e-mail.
    #[error("subscriber {0} has no e-mail")]
    MissingSubscriberEmail(SubscriberId),
    /// The order's status id is not in the status table.
    #[error(transparent)]
    UnknownStatus(#[from] UnknownStatus),
}

impl MappingError {
    /// Always `false`; see the type's documentation.
    pub fn is_retryable(&self) -> bool {
        false
    }
}

/// A trimmed e-mail with something on both sides of one `@`; anything fancier is
/// Engage's call (it answers 400 `InvalidEmailAddress`).
fn usable_email(raw: &str) -> Option<String> {
    let email = raw.trim();
    let (local, domain) = email.split_once('@')?;
    (!local.is_empty() && !domain.is_empty() && !domain.contains('@')).then(|| email.to_owned())
}

/// Trimmed text, or absent when blank: a blank BigCommerce field never clears Engage's.
fn text(raw: &str) -> Field<String> {
    let raw = raw.trim();
    if raw.is_empty() {
        Field::Absent
    } else {
        Field::Value(raw.to_owned())
    }
}

/// Street line 1, plus line 2 after a space when line 2 is not blank.
fn street(line1: &str, line2: &str) -> String {
    let (line1, line2) = (line1.trim(), line2.trim());
    if line2.is_empty() {
        line1.to_owned()
    } else if line1.is_empty() {
        line2.to_owned()
    } else {
        format!("{line1} {line2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct Patch {
        #[serde(default, skip_serializing_if = "Field::is_absent")]
        a: Field<String>,
        #[serde(default, skip_serializing_if = "Field::is_absent")]
        b: Field<String>,
        #[serde(default, skip_serializing_if = "Field::is_absent")]
        c: Field<String>,
    }

    #[test]
    fn absent_fields_are_left_out_null_fields_are_null() {
        let patch = Patch {
            a: Field::Absent,
            b: Field::Null,
            c: Field::Value("x".into()),
        };
        assert_eq!(
            serde_json::to_string(&patch).unwrap(),
            r#"{"b":null,"c":"x"}"#
        );
    }

    #[test]
    fn field_deserializes_back_into_its_three_states() {
        let patch: Patch = serde_json::from_str(r#"{"b":null,"c":"x"}"#).unwrap();
        assert_eq!(
            patch,
            Patch {
                a: Field::Absent,
                b: Field::Null,
                c: Field::Value("x".into())
            }
        );
    }

    #[test]
    fn contact_type_serializes_as_engage_spells_it() {
        assert_eq!(
            serde_json::to_string(&ContactType::Member).unwrap(),
            "\"Member\""
        );
        assert_eq!(ContactType::Contact.to_string(), "Contact");
    }

    #[test]
    fn mapping_errors_are_not_retryable() {
        assert!(!MappingError::MissingBillingEmail(OrderId::new(1)).is_retryable());
        assert!(!MappingError::from(UnknownStatus(99)).is_retryable());
        assert_eq!(
            MappingError::from(UnknownStatus(99)).to_string(),
            "unknown BigCommerce order status id 99"
        );
    }

    #[test]
    fn usable_email_needs_text_on_both_sides_of_one_at_sign() {
        assert_eq!(usable_email(" a@b.se "), Some("a@b.se".into()));
        for bad in ["", "  ", "ab", "@b", "a@", "a@b@c"] {
            assert_eq!(usable_email(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn street_joins_the_two_lines_with_a_space() {
        assert_eq!(street("Drottninggatan 1", ""), "Drottninggatan 1");
        assert_eq!(
            street("Drottninggatan 1", "lgh 1102"),
            "Drottninggatan 1 lgh 1102"
        );
        assert_eq!(street(" ", "c/o Svensson"), "c/o Svensson");
    }
}
