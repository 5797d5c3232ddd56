//! Tracking: product views and carts → Engage tracking payloads
//! (`POST /api/v2/tracking/productview`, `POST /api/v2/tracking/carts`).

use serde::Serialize;
use time::OffsetDateTime;

use crate::bigcommerce::CatalogProduct;
use crate::category::CategoryPath;
use crate::channel::ChannelSettings;
use crate::ids::{CartId, ContactId, Sku};
use crate::serde_util::iso8601;
use crate::tracking::{CartBeacon, ProductViewBeacon};

/// A product view. `contactId` is left out (not `null`) for anonymous visitors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductViewPayload {
    /// Product SKU, or the product id as text when the product has none.
    pub item_id: Sku,
    /// Category path; left out when none could be derived.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<CategoryPath>,
    /// The identified visitor.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact_id: Option<ContactId>,
    /// The storefront session.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// When, RFC 3339 UTC.
    pub time: String,
    /// The visitor's locale, else the channel's.
    pub language: String,
    /// The page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// A cart's latest state. An empty `items` list says the cart is empty (or became an
/// order), so no abandoned-cart message goes out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CartPayload {
    /// The BigCommerce cart id.
    pub cart_reference: CartId,
    /// The identified visitor.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact_id: Option<ContactId>,
    /// When, RFC 3339 UTC.
    pub time: String,
    /// The visitor's locale, else the channel's.
    pub language: String,
    /// The cart page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// What is in the cart.
    pub items: Vec<CartLine>,
}

/// One cart line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CartLine {
    /// The item's SKU, or its product id as text when the storefront sent none.
    pub sku: Sku,
    /// Quantity.
    pub quantity: u32,
}

fn language(beacon_locale: Option<&str>, settings: &ChannelSettings) -> String {
    beacon_locale.unwrap_or(&settings.locale).to_owned()
}

/// The product view for a beacon, with the product fetched from the catalog and its
/// category resolved by the caller (see [`crate::category::product_category`]).
/// `received_at` is the time when the beacon has none.
pub fn map_product_view(
    beacon: &ProductViewBeacon,
    product: &CatalogProduct,
    category: Option<CategoryPath>,
    settings: &ChannelSettings,
    received_at: OffsetDateTime,
) -> ProductViewPayload {
    ProductViewPayload {
        item_id: Sku::parse(&product.sku).unwrap_or_else(|_| Sku::from(product.id)),
        category,
        contact_id: beacon.contact_id().cloned(),
        session_id: beacon.session_id().map(str::to_owned),
        time: iso8601(beacon.time().unwrap_or(received_at)),
        language: language(beacon.locale(), settings),
        url: beacon.url().map(str::to_owned),
    }
}

/// The cart for a beacon. `received_at` is the time when the beacon has none.
pub fn map_cart(
    beacon: &CartBeacon,
    settings: &ChannelSettings,
    received_at: OffsetDateTime,
) -> CartPayload {
    CartPayload {
        cart_reference: beacon.cart_id().clone(),
        contact_id: beacon.contact_id().cloned(),
        time: iso8601(beacon.time().unwrap_or(received_at)),
        language: language(beacon.locale(), settings),
        url: beacon.url().map(str::to_owned),
        items: beacon
            .items()
            .iter()
            .filter_map(|item| {
                // A validated item always has one of the two.
                let sku = item
                    .sku()
                    .cloned()
                    .or_else(|| item.product_id().map(Sku::from))?;
                Some(CartLine {
                    sku,
                    quantity: item.quantity(),
                })
            })
            .collect(),
    }
}

/// The cart sent for `store/cart/converted`: the cart reference linked to the order's
/// contact, with no items (the cart is now an order; nothing is left to abandon).
pub fn map_converted_cart(
    cart_id: &CartId,
    contact_id: &ContactId,
    time: OffsetDateTime,
    language: &str,
) -> CartPayload {
    CartPayload {
        cart_reference: cart_id.clone(),
        contact_id: Some(contact_id.clone()),
        time: iso8601(time),
        language: language.to_owned(),
        url: None,
        items: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};
    use time::macros::datetime;

    use super::*;
    use crate::bigcommerce::V3Response;
    use crate::ids::{ChannelId, StoreHash};

    macro_rules! fixture {
        ($path:literal) => {
            include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../fixtures/",
                $path
            ))
        };
    }

    const RECEIVED: OffsetDateTime = datetime!(2025-12-03 10:15:30 UTC);

    fn settings() -> ChannelSettings {
        let mut s = ChannelSettings::new(
            StoreHash::parse("abc123").unwrap(),
            ChannelId::new(1),
            "web-se",
        );
        s.locale = "en-GB".into();
        s
    }

    fn product(body: &str) -> CatalogProduct {
        serde_json::from_str::<V3Response<CatalogProduct>>(body)
            .unwrap()
            .data
    }

    fn to_json<T: Serialize>(payload: &T) -> Value {
        serde_json::to_value(payload).unwrap()
    }

    #[test]
    fn identified_product_view_carries_contact_session_time_and_locale() {
        let beacon =
            ProductViewBeacon::parse(fixture!("tracking/product_view.json").as_bytes()).unwrap();
        let product = product(fixture!("bigcommerce/api/v3_catalog_products_77.json"));
        let category = CategoryPath::parse("Clothing / Knitwear").ok();
        let payload = map_product_view(&beacon, &product, category, &settings(), RECEIVED);
        assert_eq!(
            to_json(&payload),
            json!({
                "itemId": "CARD-GRY",
                "category": "Clothing / Knitwear",
                "contactId": "ae16a9b4-f581-4568-8948-a96100b2afd4",
                "sessionId": "3b7e493b-5dfe-4b98-b6cf-049f2ea4309d",
                "time": "2025-12-03T08:00:00Z",
                "language": "sv-SE",
                "url": "https://shop.example.com/women/knitwear/wool-cardigan/"
            })
        );
    }

    #[test]
    fn anonymous_product_view_has_no_contact_id_key() {
        let beacon =
            ProductViewBeacon::parse(fixture!("tracking/product_view_anonymous.json").as_bytes())
                .unwrap();
        let product = product(fixture!(
            "bigcommerce/api/v3_catalog_products_78_no_categories.json"
        ));
        let payload = map_product_view(&beacon, &product, None, &settings(), RECEIVED);
        let value = to_json(&payload);
        assert!(value.get("contactId").is_none(), "{value}");
        assert!(value.get("category").is_none());
        assert_eq!(value["time"], "2025-12-03T10:15:30Z");
        assert_eq!(value["language"], "en-GB");
        assert_eq!(value["itemId"], "SOCK-BLK");
    }

    #[test]
    fn product_without_sku_is_tracked_by_its_id() {
        let beacon =
            ProductViewBeacon::parse(fixture!("tracking/product_view.json").as_bytes()).unwrap();
        let mut product = product(fixture!("bigcommerce/api/v3_catalog_products_77.json"));
        product.sku = String::new();
        let payload = map_product_view(&beacon, &product, None, &settings(), RECEIVED);
        assert_eq!(payload.item_id.as_str(), "77");
    }

    #[test]
    fn cart_maps_items_to_sku_and_quantity() {
        let beacon = CartBeacon::parse(fixture!("tracking/cart.json").as_bytes()).unwrap();
        let payload = map_cart(&beacon, &settings(), RECEIVED);
        assert_eq!(
            to_json(&payload),
            json!({
                "cartReference": "d30016e2-23c0-4a90-884f-2e92ac135476",
                "time": "2025-12-03T10:15:30Z",
                "language": "sv-SE",
                "url": "https://shop.example.com/cart.php",
                "items": [{"sku": "CARD-GRY-M", "quantity": 1}, {"sku": "SOCK-BLK", "quantity": 2}]
            })
        );
    }

    #[test]
    fn cart_item_without_sku_uses_its_product_id() {
        let body = json!({"storeHash": "abc123", "channelId": 1, "cartId": "c-1",
                          "items": [{"productId": 78, "quantity": 3}], "contactId": "abc-1"});
        let beacon = CartBeacon::parse(body.to_string().as_bytes()).unwrap();
        let payload = map_cart(&beacon, &settings(), RECEIVED);
        assert_eq!(
            to_json(&payload)["items"],
            json!([{"sku": "78", "quantity": 3}])
        );
        assert_eq!(to_json(&payload)["contactId"], "abc-1");
    }

    #[test]
    fn converted_cart_links_the_contact_with_an_empty_item_list() {
        let payload = map_converted_cart(
            &CartId::parse("d30016e2-23c0-4a90-884f-2e92ac135476").unwrap(),
            &ContactId::parse("ae16a9b4-f581-4568-8948-a96100b2afd4").unwrap(),
            datetime!(2025-12-03 09:20:00 +01:00),
            "sv-SE",
        );
        assert_eq!(
            to_json(&payload),
            json!({
                "cartReference": "d30016e2-23c0-4a90-884f-2e92ac135476",
                "contactId": "ae16a9b4-f581-4568-8948-a96100b2afd4",
                "time": "2025-12-03T08:20:00Z",
                "language": "sv-SE",
                "items": []
            })
        );
    }
}
