//! Identifiers that cross service boundaries.
//!
//! String identifiers are newtypes with a private field and one fallible constructor
//! (`parse`), so a value of the type is proof that it was checked. Numeric BigCommerce ids
//! are plain wrappers: every `u64` is a well-formed id, whether it names something is for
//! BigCommerce to say.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Why a string is not a valid identifier. `kind` names the identifier type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The string is empty (or only whitespace where whitespace is trimmed).
    #[error("{kind} is empty")]
    Empty {
        /// Which identifier was being parsed.
        kind: &'static str,
    },
    /// The string is longer than the identifier allows.
    #[error("{kind} is longer than {max} characters")]
    TooLong {
        /// Which identifier was being parsed.
        kind: &'static str,
        /// The maximum length in characters.
        max: usize,
    },
    /// The string contains a character the identifier does not allow.
    #[error("{kind} contains the invalid character {character:?}")]
    InvalidCharacter {
        /// Which identifier was being parsed.
        kind: &'static str,
        /// The first offending character.
        character: char,
    },
}

/// Checks length (in `char`s) and alphabet; shared by the string identifiers.
fn check(
    kind: &'static str,
    value: &str,
    max: usize,
    allowed: impl Fn(char) -> bool,
) -> Result<(), IdError> {
    if value.is_empty() {
        return Err(IdError::Empty { kind });
    }
    if value.chars().count() > max {
        return Err(IdError::TooLong { kind, max });
    }
    match value.chars().find(|c| !allowed(*c)) {
        Some(character) => Err(IdError::InvalidCharacter { kind, character }),
        None => Ok(()),
    }
}

macro_rules! string_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// The identifier as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = IdError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;

            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::parse(&value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }
    };
}

string_id! {
    /// A BigCommerce store hash (`abc123` in `stores/abc123`): 1 to 64 characters of
    /// `[a-z0-9]`.
    StoreHash
}

impl StoreHash {
    /// Maximum length accepted.
    pub const MAX_LEN: usize = 64;

    /// Parses a store hash. Case matters: BigCommerce hashes are lowercase, and an
    /// uppercase variant would be a different key in the database.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        check("store hash", s, Self::MAX_LEN, |c| {
            c.is_ascii_lowercase() || c.is_ascii_digit()
        })?;
        Ok(Self(s.to_owned()))
    }
}

string_id! {
    /// A BigCommerce cart id (a UUID in practice): 1 to 64 characters of `[A-Za-z0-9-]`.
    CartId
}

impl CartId {
    /// Maximum length accepted.
    pub const MAX_LEN: usize = 64;

    /// Parses a cart id.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        check("cart id", s, Self::MAX_LEN, |c| {
            c.is_ascii_alphanumeric() || c == '-'
        })?;
        Ok(Self(s.to_owned()))
    }
}

string_id! {
    /// The id of one event, used as the AMQP `message_id` and for de-duplication:
    /// 1 to 255 visible ASCII characters.
    ///
    /// Visible ASCII only, because the AMQP `message_id` is a short string of at most 255
    /// *bytes*, and the id also ends up in logs and database keys.
    EventId
}

impl EventId {
    /// Maximum length accepted.
    pub const MAX_LEN: usize = 255;

    /// Parses an event id.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        check("event id", s, Self::MAX_LEN, |c| c.is_ascii_graphic())?;
        Ok(Self(s.to_owned()))
    }
}

string_id! {
    /// A stock-keeping unit: 1 to 255 characters, no control characters, surrounding
    /// whitespace trimmed.
    Sku
}

impl Sku {
    /// Maximum length accepted (BigCommerce's own SKU limit).
    pub const MAX_LEN: usize = 255;

    /// Parses a SKU, trimming surrounding whitespace first (BigCommerce keeps what the
    /// merchant typed, and `" ABC"` and `"ABC"` are the same article to Engage's feed).
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let s = s.trim();
        check("sku", s, Self::MAX_LEN, |c| !c.is_control())?;
        Ok(Self(s.to_owned()))
    }
}

impl From<ProductId> for Sku {
    /// The product id as text: the documented stand-in for products without a SKU.
    fn from(id: ProductId) -> Self {
        Self(id.get().to_string())
    }
}

string_id! {
    /// An Engage contact id (a GUID, or Engage's short GUID from e-mail links):
    /// 1 to 64 characters of `[A-Za-z0-9_-]`.
    ContactId
}

impl ContactId {
    /// Maximum length accepted.
    pub const MAX_LEN: usize = 64;

    /// Parses a contact id.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        check("contact id", s, Self::MAX_LEN, |c| {
            c.is_ascii_alphanumeric() || c == '-' || c == '_'
        })?;
        Ok(Self(s.to_owned()))
    }
}

macro_rules! numeric_id {
    ($(#[$meta:meta])* $name:ident($inner:ty)) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name($inner);

        impl $name {
            /// Wraps a raw id.
            pub const fn new(id: $inner) -> Self {
                Self(id)
            }

            /// The raw id.
            pub const fn get(self) -> $inner {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl From<$inner> for $name {
            fn from(id: $inner) -> Self {
                Self(id)
            }
        }
    };
}

numeric_id! {
    /// A BigCommerce sales channel id (1 is the default storefront).
    ChannelId(u32)
}

numeric_id! {
    /// A BigCommerce order id.
    OrderId(u64)
}

numeric_id! {
    /// A BigCommerce customer id. On orders, 0 means a guest checkout.
    CustomerId(u64)
}

impl CustomerId {
    /// The customer id BigCommerce puts on guest orders.
    pub const GUEST: CustomerId = CustomerId(0);

    /// True for the guest id 0.
    pub const fn is_guest(self) -> bool {
        self.0 == 0
    }
}

numeric_id! {
    /// A BigCommerce newsletter subscriber id.
    SubscriberId(u64)
}

numeric_id! {
    /// A BigCommerce catalog product id.
    ProductId(u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_hash_accepts_lowercase_alphanumerics() {
        let hash = StoreHash::parse("abc123").unwrap();
        assert_eq!(hash.as_str(), "abc123");
        assert_eq!(hash.to_string(), "abc123");
    }

    #[test]
    fn store_hash_rejects_empty_uppercase_punctuation_and_overlong_input() {
        assert_eq!(
            StoreHash::parse(""),
            Err(IdError::Empty { kind: "store hash" })
        );
        assert!(matches!(
            StoreHash::parse("ABC"),
            Err(IdError::InvalidCharacter { character: 'A', .. })
        ));
        assert!(StoreHash::parse("abc/123").is_err());
        assert!(StoreHash::parse("abc 123").is_err());
        assert!(StoreHash::parse("å").is_err());
        assert!(StoreHash::parse(&"a".repeat(64)).is_ok());
        assert!(matches!(
            StoreHash::parse(&"a".repeat(65)),
            Err(IdError::TooLong { max: 64, .. })
        ));
    }

    #[test]
    fn store_hash_round_trips_through_serde_as_a_string() {
        let hash: StoreHash = serde_json::from_str("\"abc123\"").unwrap();
        assert_eq!(serde_json::to_string(&hash).unwrap(), "\"abc123\"");
        assert!(serde_json::from_str::<StoreHash>("\"Nope!\"").is_err());
        assert!(serde_json::from_str::<StoreHash>("42").is_err());
    }

    #[test]
    fn cart_id_accepts_a_uuid_and_rejects_other_shapes() {
        let id = CartId::parse("d30016e2-23c0-4a90-884f-2e92ac135476").unwrap();
        assert_eq!(id.as_str(), "d30016e2-23c0-4a90-884f-2e92ac135476");
        assert!(CartId::parse("").is_err());
        assert!(CartId::parse("a b").is_err());
        assert!(CartId::parse("a_b").is_err());
        assert!(CartId::parse(&"a".repeat(64)).is_ok());
        assert!(CartId::parse(&"a".repeat(65)).is_err());
    }

    #[test]
    fn event_id_accepts_visible_ascii_up_to_255_characters() {
        assert!(EventId::parse("msg_2KWPBgLlAfxdpx2AI54pPJ85f4W").is_ok());
        assert!(EventId::parse(&"x".repeat(255)).is_ok());
        assert!(EventId::parse(&"x".repeat(256)).is_err());
        assert!(EventId::parse("").is_err());
        assert!(EventId::parse("has space").is_err());
        assert!(EventId::parse("naïve").is_err());
    }

    #[test]
    fn sku_is_trimmed_and_must_not_be_blank() {
        assert_eq!(Sku::parse("  CARD-GRY-M ").unwrap().as_str(), "CARD-GRY-M");
        assert!(Sku::parse("   ").is_err());
        assert!(Sku::parse("a\nb").is_err());
        assert!(Sku::parse(&"é".repeat(255)).is_ok());
        assert!(Sku::parse(&"é".repeat(256)).is_err());
    }

    #[test]
    fn sku_from_a_product_id_is_the_id_as_text() {
        assert_eq!(Sku::from(ProductId::new(77)).as_str(), "77");
    }

    #[test]
    fn contact_id_accepts_guids_and_short_guids() {
        assert!(ContactId::parse("ae16a9b4-f581-4568-8948-a96100b2afd4").is_ok());
        assert!(ContactId::parse("Xy_9-abc").is_ok());
        assert!(ContactId::parse("").is_err());
        assert!(ContactId::parse("<script>").is_err());
    }

    #[test]
    fn numeric_ids_serialize_as_bare_numbers() {
        let id = ChannelId::new(7);
        assert_eq!(id.get(), 7);
        assert_eq!(serde_json::to_string(&id).unwrap(), "7");
        assert_eq!(
            serde_json::from_str::<OrderId>("250").unwrap(),
            OrderId::new(250)
        );
        assert_eq!(OrderId::new(250).to_string(), "250");
        assert!(serde_json::from_str::<ChannelId>("-1").is_err());
    }

    #[test]
    fn customer_zero_is_the_guest() {
        assert!(CustomerId::new(0).is_guest());
        assert!(CustomerId::GUEST.is_guest());
        assert!(!CustomerId::new(32).is_guest());
    }
}
