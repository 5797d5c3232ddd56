//! Storefront tracking beacons (`POST /tracking/product-view`, `POST /tracking/cart`),
//! validated strictly because they come from browsers, unauthenticated.
//!
//! Every rejection names the offending field (`channelId`, `items[1].quantity`; `$` for
//! the body itself) so the ingress can answer a problem document that says what to fix.
//! Optional fields may be absent, `null` or `""`, all meaning "not given": storefront
//! scripts commonly send `contactId: ""` for anonymous visitors.
//!
//! The validated beacon is what gets published: [`ProductViewBeacon::to_json`] and
//! [`CartBeacon::to_json`] re-serialize it with only the known fields, and `parse` reads
//! that back.

use serde::Serialize;
use serde_json::{Map, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::ids::{CartId, ChannelId, ContactId, ProductId, Sku, StoreHash};
use crate::serde_util;

/// Routing key of product views on the events exchange.
pub const PRODUCT_VIEW_ROUTING_KEY: &str = "tracking.product_view";
/// Routing key of carts on the events exchange.
pub const CART_ROUTING_KEY: &str = "tracking.cart";
/// Largest beacon body accepted, in bytes.
pub const MAX_BEACON_BYTES: usize = 16 * 1024;
/// Most items a cart beacon may carry.
pub const MAX_CART_ITEMS: usize = 200;
/// Largest quantity of one cart item.
pub const MAX_QUANTITY: u32 = 10_000;
/// Longest `url` accepted, in characters.
pub const MAX_URL_CHARS: usize = 2048;
/// Longest `sessionId` accepted, in characters.
pub const MAX_SESSION_ID_CHARS: usize = 128;
/// Longest `locale` accepted (BCP 47 tags rarely exceed this), in characters.
pub const MAX_LOCALE_CHARS: usize = 35;

/// A rejected beacon: which field and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid field `{field}`: {reason}")]
pub struct BeaconError {
    /// The field's JSON path (`storeHash`, `items[0].sku`), or `$` for the whole body.
    pub field: String,
    /// What is wrong, for the problem document.
    pub reason: String,
}

fn error(field: impl Into<String>, reason: impl Into<String>) -> BeaconError {
    BeaconError {
        field: field.into(),
        reason: reason.into(),
    }
}

fn parse_object(body: &[u8]) -> Result<Map<String, Value>, BeaconError> {
    if body.len() > MAX_BEACON_BYTES {
        return Err(error(
            "$",
            format!("body is larger than {MAX_BEACON_BYTES} bytes"),
        ));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(error("$", "expected a JSON object")),
        Err(e) => Err(error("$", format!("malformed JSON: {e}"))),
    }
}

/// Reads the fields of one JSON object, naming them with a path prefix.
struct Fields<'a> {
    map: &'a Map<String, Value>,
    prefix: String,
}

impl<'a> Fields<'a> {
    fn new(map: &'a Map<String, Value>, prefix: impl Into<String>) -> Self {
        Self {
            map,
            prefix: prefix.into(),
        }
    }

    fn path(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    fn err(&self, key: &str, reason: impl Into<String>) -> BeaconError {
        error(self.path(key), reason)
    }

    /// Unknown fields are rejected so a typo (`contactID`) is reported, not ignored.
    fn only(&self, known: &[&str]) -> Result<(), BeaconError> {
        match self.map.keys().find(|k| !known.contains(&k.as_str())) {
            Some(unknown) => Err(self.err(unknown, "unknown field")),
            None => Ok(()),
        }
    }

    /// The value, with `null` and `""` treated as absent.
    fn present(&self, key: &str) -> Option<&'a Value> {
        match self.map.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.is_empty() => None,
            Some(v) => Some(v),
        }
    }

    fn required(&self, key: &str) -> Result<&'a Value, BeaconError> {
        self.present(key)
            .ok_or_else(|| self.err(key, "is required"))
    }

    fn string(&self, key: &str, value: &'a Value) -> Result<&'a str, BeaconError> {
        value
            .as_str()
            .ok_or_else(|| self.err(key, "must be a string"))
    }

    fn integer(&self, key: &str, value: &Value, min: u64, max: u64) -> Result<u64, BeaconError> {
        value
            .as_u64()
            .filter(|n| (min..=max).contains(n))
            .ok_or_else(|| self.err(key, format!("must be an integer from {min} to {max}")))
    }

    fn opt_string(&self, key: &str) -> Result<Option<&'a str>, BeaconError> {
        self.present(key).map(|v| self.string(key, v)).transpose()
    }

    fn store_hash(&self) -> Result<StoreHash, BeaconError> {
        let key = "storeHash";
        let text = self.string(key, self.required(key)?)?;
        StoreHash::parse(text).map_err(|e| self.err(key, e.to_string()))
    }

    fn channel_id(&self) -> Result<ChannelId, BeaconError> {
        let key = "channelId";
        let id = self.integer(key, self.required(key)?, 1, u64::from(u32::MAX))?;
        // The range check above makes the conversion infallible.
        Ok(ChannelId::new(u32::try_from(id).unwrap_or(u32::MAX)))
    }

    fn product_id(&self, required: bool) -> Result<Option<ProductId>, BeaconError> {
        let key = "productId";
        let value = if required {
            Some(self.required(key)?)
        } else {
            self.present(key)
        };
        value
            .map(|v| self.integer(key, v, 1, u64::MAX).map(ProductId::new))
            .transpose()
    }

    fn contact_id(&self) -> Result<Option<ContactId>, BeaconError> {
        let key = "contactId";
        self.opt_string(key)?
            .map(|s| ContactId::parse(s).map_err(|e| self.err(key, e.to_string())))
            .transpose()
    }

    fn session_id(&self) -> Result<Option<String>, BeaconError> {
        let key = "sessionId";
        self.opt_string(key)?
            .map(|s| {
                if s.chars().count() > MAX_SESSION_ID_CHARS {
                    Err(self.err(
                        key,
                        format!("is longer than {MAX_SESSION_ID_CHARS} characters"),
                    ))
                } else if s.chars().any(char::is_control) {
                    Err(self.err(key, "contains control characters"))
                } else {
                    Ok(s.to_owned())
                }
            })
            .transpose()
    }

    fn url(&self) -> Result<Option<String>, BeaconError> {
        let key = "url";
        self.opt_string(key)?
            .map(|s| {
                let lower = s.get(..8).unwrap_or(s).to_ascii_lowercase();
                let rest = if lower.starts_with("https://") {
                    &s[8..]
                } else if lower.starts_with("http://") {
                    &s[7..]
                } else {
                    return Err(self.err(key, "must be an http or https URL"));
                };
                if s.chars().count() > MAX_URL_CHARS {
                    Err(self.err(key, format!("is longer than {MAX_URL_CHARS} characters")))
                } else if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
                    Err(self.err(key, "must not contain whitespace"))
                } else if rest.split(['/', '?', '#']).next().unwrap_or("").is_empty() {
                    Err(self.err(key, "has no host"))
                } else {
                    Ok(s.to_owned())
                }
            })
            .transpose()
    }

    fn locale(&self) -> Result<Option<String>, BeaconError> {
        let key = "locale";
        self.opt_string(key)?
            .map(|s| {
                let well_formed = (2..=MAX_LOCALE_CHARS).contains(&s.len())
                    && s.starts_with(|c: char| c.is_ascii_alphabetic())
                    && s.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
                if well_formed {
                    Ok(s.to_owned())
                } else {
                    Err(self.err(key, "must be a language tag such as sv-SE"))
                }
            })
            .transpose()
    }

    fn time(&self) -> Result<Option<OffsetDateTime>, BeaconError> {
        let key = "time";
        self.opt_string(key)?
            .map(|s| {
                // The visitor's own offset is kept for republishing. The UTC year check
                // rules out instants (around year 0) that Engage's UTC form cannot write.
                OffsetDateTime::parse(s, &Rfc3339)
                    .ok()
                    .filter(|t| serde_util::to_utc(*t).is_some_and(|u| u.year() >= 1))
                    .ok_or_else(|| self.err(key, "must be an RFC 3339 date-time"))
            })
            .transpose()
    }
}

fn json<T: Serialize>(value: &T) -> String {
    match serde_json::to_string(value) {
        Ok(text) => text,
        // Plain structs of strings, integers and RFC 3339 times (years 0..=9999, checked at
        // parse) always serialize.
        Err(e) => unreachable!("beacon serialization failed: {e}"),
    }
}

/// A validated product-view beacon.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductViewBeacon {
    store_hash: StoreHash,
    channel_id: ChannelId,
    product_id: ProductId,
    #[serde(skip_serializing_if = "Option::is_none")]
    contact_id: Option<ContactId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    session_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    locale: Option<String>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    time: Option<OffsetDateTime>,
}

impl ProductViewBeacon {
    /// The JSON field names, in the order they are documented.
    pub const FIELDS: [&'static str; 8] = [
        "storeHash",
        "channelId",
        "productId",
        "contactId",
        "sessionId",
        "url",
        "locale",
        "time",
    ];

    /// Parses and validates a product-view body.
    pub fn parse(body: &[u8]) -> Result<Self, BeaconError> {
        let map = parse_object(body)?;
        let f = Fields::new(&map, "");
        f.only(&Self::FIELDS)?;
        Ok(Self {
            store_hash: f.store_hash()?,
            channel_id: f.channel_id()?,
            product_id: f
                .product_id(true)?
                .ok_or_else(|| f.err("productId", "is required"))?,
            contact_id: f.contact_id()?,
            session_id: f.session_id()?,
            url: f.url()?,
            locale: f.locale()?,
            time: f.time()?,
        })
    }

    /// The validated beacon as JSON (the message body that gets published).
    pub fn to_json(&self) -> String {
        json(self)
    }

    /// The store.
    pub fn store_hash(&self) -> &StoreHash {
        &self.store_hash
    }

    /// The sales channel.
    pub fn channel_id(&self) -> ChannelId {
        self.channel_id
    }

    /// The product viewed.
    pub fn product_id(&self) -> ProductId {
        self.product_id
    }

    /// The Engage contact, when the visitor is identified.
    pub fn contact_id(&self) -> Option<&ContactId> {
        self.contact_id.as_ref()
    }

    /// The storefront session.
    pub fn session_id(&self) -> Option<&str> {
        self.session_id.as_deref()
    }

    /// The page URL.
    pub fn url(&self) -> Option<&str> {
        self.url.as_deref()
    }

    /// The visitor's locale.
    pub fn locale(&self) -> Option<&str> {
        self.locale.as_deref()
    }

    /// When the view happened, per the browser.
    pub fn time(&self) -> Option<OffsetDateTime> {
        self.time
    }
}

/// One item of a cart beacon: at least one of `sku` and `productId`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CartItem {
    #[serde(skip_serializing_if = "Option::is_none")]
    sku: Option<Sku>,
    #[serde(skip_serializing_if = "Option::is_none")]
    product_id: Option<ProductId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    variant_id: Option<u64>,
    quantity: u32,
}

impl CartItem {
    /// The JSON field names.
    pub const FIELDS: [&'static str; 4] = ["sku", "productId", "variantId", "quantity"];

    fn parse(value: &Value, index: usize) -> Result<Self, BeaconError> {
        let prefix = format!("items[{index}].");
        let Value::Object(map) = value else {
            return Err(error(format!("items[{index}]"), "must be an object"));
        };
        let f = Fields::new(map, prefix);
        f.only(&Self::FIELDS)?;
        let sku = f
            .opt_string("sku")?
            .map(|s| Sku::parse(s).map_err(|e| f.err("sku", e.to_string())))
            .transpose()?;
        let product_id = f.product_id(false)?;
        let variant_id = f
            .present("variantId")
            .map(|v| f.integer("variantId", v, 1, u64::MAX))
            .transpose()?;
        let quantity = f.integer(
            "quantity",
            f.required("quantity")?,
            1,
            u64::from(MAX_QUANTITY),
        )?;
        if sku.is_none() && product_id.is_none() {
            return Err(f.err("sku", "an item needs a sku or a productId"));
        }
        Ok(Self {
            sku,
            product_id,
            variant_id,
            // The range check above bounds the value by MAX_QUANTITY.
            quantity: u32::try_from(quantity).unwrap_or(MAX_QUANTITY),
        })
    }

    /// The item's SKU, when the storefront sent one.
    pub fn sku(&self) -> Option<&Sku> {
        self.sku.as_ref()
    }

    /// The catalog product.
    pub fn product_id(&self) -> Option<ProductId> {
        self.product_id
    }

    /// The catalog variant.
    pub fn variant_id(&self) -> Option<u64> {
        self.variant_id
    }

    /// Quantity, 1 to [`MAX_QUANTITY`].
    pub fn quantity(&self) -> u32 {
        self.quantity
    }
}

/// A validated cart beacon: the latest state of one cart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CartBeacon {
    store_hash: StoreHash,
    channel_id: ChannelId,
    cart_id: CartId,
    items: Vec<CartItem>,
    #[serde(skip_serializing_if = "Option::is_none")]
    contact_id: Option<ContactId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    locale: Option<String>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    time: Option<OffsetDateTime>,
}

impl CartBeacon {
    /// The JSON field names, in the order they are documented.
    pub const FIELDS: [&'static str; 8] = [
        "storeHash",
        "channelId",
        "cartId",
        "items",
        "contactId",
        "url",
        "locale",
        "time",
    ];

    /// Parses and validates a cart body. An empty `items` list is valid: it is the state
    /// of an emptied cart.
    pub fn parse(body: &[u8]) -> Result<Self, BeaconError> {
        let map = parse_object(body)?;
        let f = Fields::new(&map, "");
        f.only(&Self::FIELDS)?;
        let store_hash = f.store_hash()?;
        let channel_id = f.channel_id()?;
        let cart_id = {
            let text = f.string("cartId", f.required("cartId")?)?;
            CartId::parse(text).map_err(|e| f.err("cartId", e.to_string()))?
        };
        let items = match map.get("items") {
            None | Some(Value::Null) => return Err(f.err("items", "is required")),
            Some(Value::Array(items)) if items.len() > MAX_CART_ITEMS => {
                return Err(f.err("items", format!("has more than {MAX_CART_ITEMS} items")))
            }
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, item)| CartItem::parse(item, i))
                .collect::<Result<Vec<_>, _>>()?,
            Some(_) => return Err(f.err("items", "must be an array")),
        };
        Ok(Self {
            store_hash,
            channel_id,
            cart_id,
            items,
            contact_id: f.contact_id()?,
            url: f.url()?,
            locale: f.locale()?,
            time: f.time()?,
        })
    }

    /// The validated beacon as JSON (the message body that gets published).
    pub fn to_json(&self) -> String {
        json(self)
    }

    /// The store.
    pub fn store_hash(&self) -> &StoreHash {
        &self.store_hash
    }

    /// The sales channel.
    pub fn channel_id(&self) -> ChannelId {
        self.channel_id
    }

    /// The BigCommerce cart.
    pub fn cart_id(&self) -> &CartId {
        &self.cart_id
    }

    /// The cart's items (possibly none).
    pub fn items(&self) -> &[CartItem] {
        &self.items
    }

    /// The Engage contact, when the visitor is identified.
    pub fn contact_id(&self) -> Option<&ContactId> {
        self.contact_id.as_ref()
    }

    /// The cart page URL.
    pub fn url(&self) -> Option<&str> {
        self.url.as_deref()
    }

    /// The visitor's locale.
    pub fn locale(&self) -> Option<&str> {
        self.locale.as_deref()
    }

    /// When the cart changed, per the browser.
    pub fn time(&self) -> Option<OffsetDateTime> {
        self.time
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use time::macros::datetime;

    use super::*;

    macro_rules! fixture {
        ($name:literal) => {
            include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../fixtures/tracking/",
                $name
            ))
        };
    }

    fn view(value: Value) -> Result<ProductViewBeacon, BeaconError> {
        ProductViewBeacon::parse(value.to_string().as_bytes())
    }

    fn cart(value: Value) -> Result<CartBeacon, BeaconError> {
        CartBeacon::parse(value.to_string().as_bytes())
    }

    fn field_of<T: std::fmt::Debug>(result: Result<T, BeaconError>) -> String {
        result.expect_err("expected a rejection").field
    }

    fn base_view() -> Value {
        json!({"storeHash": "abc123", "channelId": 1, "productId": 77})
    }

    fn base_cart() -> Value {
        json!({"storeHash": "abc123", "channelId": 1, "cartId": "c-1", "items": [{"sku": "A", "quantity": 1}]})
    }

    fn with(mut base: Value, key: &str, value: Value) -> Value {
        base[key] = value;
        base
    }

    #[test]
    fn product_view_fixture_parses_with_every_field() {
        let beacon = ProductViewBeacon::parse(fixture!("product_view.json").as_bytes()).unwrap();
        assert_eq!(beacon.store_hash().as_str(), "abc123");
        assert_eq!(beacon.channel_id(), ChannelId::new(1));
        assert_eq!(beacon.product_id(), ProductId::new(77));
        assert_eq!(
            beacon.contact_id().map(ContactId::as_str),
            Some("ae16a9b4-f581-4568-8948-a96100b2afd4")
        );
        assert_eq!(
            beacon.session_id(),
            Some("3b7e493b-5dfe-4b98-b6cf-049f2ea4309d")
        );
        assert_eq!(
            beacon.url(),
            Some("https://shop.example.com/women/knitwear/wool-cardigan/")
        );
        assert_eq!(beacon.locale(), Some("sv-SE"));
        assert_eq!(beacon.time(), Some(datetime!(2025-12-03 08:00:00 UTC)));
    }

    #[test]
    fn anonymous_product_view_fixture_parses_without_contact() {
        let beacon =
            ProductViewBeacon::parse(fixture!("product_view_anonymous.json").as_bytes()).unwrap();
        assert_eq!(beacon.contact_id(), None);
        assert_eq!(beacon.locale(), None);
        assert_eq!(beacon.time(), None);
        assert_eq!(beacon.product_id(), ProductId::new(78));
    }

    #[test]
    fn cart_fixture_parses_with_its_items() {
        let beacon = CartBeacon::parse(fixture!("cart.json").as_bytes()).unwrap();
        assert_eq!(
            beacon.cart_id().as_str(),
            "d30016e2-23c0-4a90-884f-2e92ac135476"
        );
        assert_eq!(beacon.items().len(), 2);
        assert_eq!(beacon.items()[0].sku().map(Sku::as_str), Some("CARD-GRY-M"));
        assert_eq!(beacon.items()[0].variant_id(), Some(901));
        assert_eq!(beacon.items()[1].quantity(), 2);
        assert_eq!(beacon.items()[1].variant_id(), None);
        assert_eq!(beacon.contact_id(), None);
    }

    #[test]
    fn validated_beacons_round_trip_through_to_json() {
        for body in [
            fixture!("product_view.json"),
            fixture!("product_view_anonymous.json"),
        ] {
            let beacon = ProductViewBeacon::parse(body.as_bytes()).unwrap();
            let again = ProductViewBeacon::parse(beacon.to_json().as_bytes()).unwrap();
            assert_eq!(again, beacon);
            let original: Value = serde_json::from_str(body).unwrap();
            let republished: Value = serde_json::from_str(&beacon.to_json()).unwrap();
            assert_eq!(republished, original);
        }
        let beacon = CartBeacon::parse(fixture!("cart.json").as_bytes()).unwrap();
        assert_eq!(
            CartBeacon::parse(beacon.to_json().as_bytes()).unwrap(),
            beacon
        );
        let original: Value = serde_json::from_str(fixture!("cart.json")).unwrap();
        let republished: Value = serde_json::from_str(&beacon.to_json()).unwrap();
        assert_eq!(republished, original);
    }

    #[test]
    fn malformed_json_is_reported_on_the_body() {
        assert_eq!(field_of(ProductViewBeacon::parse(b"{")), "$");
        assert_eq!(field_of(ProductViewBeacon::parse(b"[]")), "$");
        assert_eq!(field_of(CartBeacon::parse(b"")), "$");
    }

    #[test]
    fn oversized_body_is_reported_on_the_body() {
        let body = vec![b' '; MAX_BEACON_BYTES + 1];
        assert_eq!(field_of(ProductViewBeacon::parse(&body)), "$");
    }

    #[test]
    fn unknown_field_is_named() {
        assert_eq!(
            field_of(view(with(base_view(), "contactID", json!("x")))),
            "contactID"
        );
        let mut body = base_cart();
        body["items"][0]["price"] = json!(10);
        assert_eq!(field_of(cart(body)), "items[0].price");
    }

    #[test]
    fn missing_required_fields_are_named() {
        for key in ["storeHash", "channelId", "productId"] {
            let mut body = base_view();
            body.as_object_mut().unwrap().remove(key);
            assert_eq!(field_of(view(body)), key);
            assert_eq!(field_of(view(with(base_view(), key, Value::Null))), key);
        }
        for key in ["storeHash", "channelId", "cartId", "items"] {
            let mut body = base_cart();
            body.as_object_mut().unwrap().remove(key);
            assert_eq!(field_of(cart(body)), key);
        }
    }

    #[test]
    fn wrong_types_are_named() {
        assert_eq!(
            field_of(view(with(base_view(), "channelId", json!("1")))),
            "channelId"
        );
        assert_eq!(
            field_of(view(with(base_view(), "productId", json!(77.5)))),
            "productId"
        );
        assert_eq!(
            field_of(view(with(base_view(), "storeHash", json!(5)))),
            "storeHash"
        );
        assert_eq!(
            field_of(view(with(base_view(), "sessionId", json!({})))),
            "sessionId"
        );
        assert_eq!(
            field_of(cart(with(base_cart(), "items", json!({})))),
            "items"
        );
        assert_eq!(
            field_of(cart(with(base_cart(), "items", json!([5])))),
            "items[0]"
        );
    }

    #[test]
    fn bad_ids_are_named() {
        for bad in [json!(0), json!(-1), json!(4_294_967_296_u64)] {
            assert_eq!(
                field_of(view(with(base_view(), "channelId", bad))),
                "channelId"
            );
        }
        assert_eq!(
            field_of(view(with(base_view(), "productId", json!(0)))),
            "productId"
        );
        assert_eq!(
            field_of(view(with(base_view(), "storeHash", json!("ABC!")))),
            "storeHash"
        );
        assert_eq!(
            field_of(view(with(base_view(), "contactId", json!("<x>")))),
            "contactId"
        );
        assert_eq!(
            field_of(cart(with(base_cart(), "cartId", json!("a b")))),
            "cartId"
        );
    }

    #[test]
    fn item_quantity_must_be_between_1_and_10000() {
        for bad in [json!(0), json!(10_001), json!(-2), json!(1.5)] {
            let mut body = base_cart();
            body["items"][0]["quantity"] = bad;
            assert_eq!(field_of(cart(body)), "items[0].quantity");
        }
        let mut body = base_cart();
        body["items"][0]["quantity"] = json!(10_000);
        assert!(cart(body).is_ok());
    }

    #[test]
    fn item_without_sku_or_product_id_is_rejected() {
        let body = with(
            base_cart(),
            "items",
            json!([{"sku": "A", "quantity": 1}, {"quantity": 1}]),
        );
        assert_eq!(field_of(cart(body)), "items[1].sku");
        let body = with(
            base_cart(),
            "items",
            json!([{"productId": 78, "quantity": 1}]),
        );
        assert!(cart(body).is_ok());
    }

    #[test]
    fn more_than_200_items_is_rejected() {
        let items: Vec<Value> = (0..=MAX_CART_ITEMS)
            .map(|_| json!({"sku": "A", "quantity": 1}))
            .collect();
        assert_eq!(
            field_of(cart(with(base_cart(), "items", Value::Array(items)))),
            "items"
        );
        let items: Vec<Value> = (0..MAX_CART_ITEMS)
            .map(|_| json!({"sku": "A", "quantity": 1}))
            .collect();
        assert!(cart(with(base_cart(), "items", Value::Array(items))).is_ok());
    }

    #[test]
    fn empty_cart_is_valid() {
        let beacon = cart(with(base_cart(), "items", json!([]))).unwrap();
        assert!(beacon.items().is_empty());
    }

    #[test]
    fn over_long_strings_are_rejected() {
        let long_url = format!("https://shop.example.com/{}", "a".repeat(MAX_URL_CHARS));
        assert_eq!(
            field_of(view(with(base_view(), "url", json!(long_url)))),
            "url"
        );
        let long_session = "s".repeat(MAX_SESSION_ID_CHARS + 1);
        assert_eq!(
            field_of(view(with(base_view(), "sessionId", json!(long_session)))),
            "sessionId"
        );
        assert_eq!(
            field_of(view(with(base_view(), "locale", json!("x".repeat(36))))),
            "locale"
        );
        let mut body = base_cart();
        body["items"][0]["sku"] = json!("S".repeat(256));
        assert_eq!(field_of(cart(body)), "items[0].sku");
    }

    #[test]
    fn url_must_be_http_or_https_with_a_host() {
        for bad in [
            "javascript:alert(1)",
            "ftp://x.example.com/",
            "https://",
            "https:///path",
            "https://a b.com/",
            "/relative",
        ] {
            assert_eq!(
                field_of(view(with(base_view(), "url", json!(bad)))),
                "url",
                "{bad}"
            );
        }
        for good in [
            "http://shop.example.com",
            "HTTPS://Shop.Example.com/p?q=1#x",
        ] {
            assert!(
                view(with(base_view(), "url", json!(good))).is_ok(),
                "{good}"
            );
        }
    }

    #[test]
    fn time_must_be_rfc_3339() {
        for bad in [
            "2025-12-03 09:00:00",
            "yesterday",
            "2025-12-03T09:00:00",
            "Wed, 03 Dec 2025 08:20:00 +0000",
        ] {
            assert_eq!(
                field_of(view(with(base_view(), "time", json!(bad)))),
                "time",
                "{bad}"
            );
        }
        assert_eq!(
            field_of(view(with(
                base_view(),
                "time",
                json!("0000-01-01T00:30:00+01:00")
            ))),
            "time"
        );
        let beacon = view(with(
            base_view(),
            "time",
            json!("2025-12-03T09:00:00.250+01:00"),
        ))
        .unwrap();
        assert_eq!(beacon.time(), Some(datetime!(2025-12-03 08:00:00.25 UTC)));
    }

    #[test]
    fn locale_must_look_like_a_language_tag() {
        for bad in ["s", "1sv", "sv SE", "sv;SE"] {
            assert_eq!(
                field_of(view(with(base_view(), "locale", json!(bad)))),
                "locale",
                "{bad}"
            );
        }
        for good in ["sv", "sv-SE", "en_GB", "zh-Hant-TW"] {
            assert!(
                view(with(base_view(), "locale", json!(good))).is_ok(),
                "{good}"
            );
        }
    }

    #[test]
    fn null_and_empty_optional_fields_mean_absent() {
        let body = json!({"storeHash": "abc123", "channelId": 1, "productId": 77,
            "contactId": "", "sessionId": null, "url": "", "locale": null, "time": ""});
        let beacon = view(body).unwrap();
        assert_eq!(beacon.contact_id(), None);
        assert_eq!(beacon.session_id(), None);
        assert_eq!(beacon.url(), None);
        assert_eq!(beacon.time(), None);
        assert_eq!(
            beacon.to_json(),
            r#"{"storeHash":"abc123","channelId":1,"productId":77}"#
        );
    }

    #[test]
    fn error_message_names_the_field() {
        let err = view(with(base_view(), "channelId", json!(0))).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid field `channelId`: must be an integer from 1 to 4294967295"
        );
    }
}
