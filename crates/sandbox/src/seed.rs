//! The initial data a sandbox starts with, and the built-in fixture seed.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Store hash under which [`Seed::default_fixtures`] puts the fixture data.
pub const FIXTURE_STORE: &str = "abc123";

/// Everything a sandbox knows at start: BigCommerce data per store hash and Engage
/// contacts and orders that exist before the first call.
///
/// Serialised as JSON (the binary's `--seed FILE`); every field may be left out:
///
/// ```json
/// {
///   "stores": {
///     "abc123": {
///       "orders": [{"order": {"id": 250}, "products": [], "shipping_addresses": []}],
///       "customers": [{"id": 32, "email": "jane.doe@example.com"}],
///       "subscribers": [], "products": [], "categories": [], "refunds": [], "hooks": []
///     }
///   },
///   "engage": {"contacts": [{"id": "…", "email": "a@example.com"}], "orders": []}
/// }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Seed {
    /// BigCommerce data keyed by store hash. A store exists only if it is listed here
    /// (or gets data later); other hashes answer 404.
    pub stores: BTreeMap<String, StoreSeed>,
    /// Engage state present at start.
    pub engage: EngageSeed,
}

/// The BigCommerce data of one store. Objects use BigCommerce's own field names
/// (v2 for orders, v3 for the rest); each needs an integer `id` (hooks get one when
/// missing).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreSeed {
    /// v2 orders with their line items and shipping addresses.
    pub orders: Vec<OrderSeed>,
    /// v3 customers, `addresses` inline (served only with `include=addresses`).
    pub customers: Vec<Value>,
    /// v3 newsletter subscribers.
    pub subscribers: Vec<Value>,
    /// v3 catalog products.
    pub products: Vec<Value>,
    /// v3 catalog categories.
    pub categories: Vec<Value>,
    /// v3 refunds; each carries its `order_id`.
    pub refunds: Vec<Value>,
    /// v3 webhook subscriptions.
    pub hooks: Vec<Value>,
}

/// One v2 order as `GET /v2/orders/{id}` returns it, plus its sub-resources.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OrderSeed {
    /// The order object (`GET /v2/orders/{id}`).
    pub order: Value,
    /// Its line items (`GET /v2/orders/{id}/products`).
    pub products: Vec<Value>,
    /// Its shipping addresses (`GET /v2/orders/{id}/shipping_addresses`).
    pub shipping_addresses: Vec<Value>,
}

/// Engage state present at start.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EngageSeed {
    /// Contacts; an `id` is generated when missing and `contactType` defaults to
    /// `Member`. Two contacts sharing an e-mail make a lookup answer 409.
    pub contacts: Vec<Value>,
    /// Orders v3 documents; each needs an `orderId`.
    pub orders: Vec<Value>,
}

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../fixtures/bigcommerce/api/",
            $name
        ))
    };
}

impl Seed {
    /// A seed with no stores and no Engage data.
    pub fn empty() -> Seed {
        Seed::default()
    }

    /// The project's fixtures (`fixtures/bigcommerce/api/`) under store hash
    /// [`FIXTURE_STORE`]: order 250 with its products and shipping address, customers
    /// 32, 34, 35 and 36, subscriber 5, products 77 and 78, categories 18–42, refund 3
    /// and two hooks. Engage starts empty.
    pub fn default_fixtures() -> Seed {
        let store = StoreSeed {
            orders: vec![OrderSeed {
                order: parse(fixture!("v2_orders_250.json")),
                products: as_array(parse(fixture!("v2_orders_250_products.json"))),
                shipping_addresses: as_array(parse(fixture!(
                    "v2_orders_250_shipping_addresses.json"
                ))),
            }],
            customers: [
                fixture!("v3_customers_32.json"),
                fixture!("v3_customers_invalid_phone.json"),
                fixture!("v3_customers_no_address.json"),
                fixture!("v3_customers_unmatched_channel.json"),
            ]
            .into_iter()
            .flat_map(|text| as_array(data(parse(text))))
            .collect(),
            subscribers: vec![data(parse(fixture!("v3_subscribers_5.json")))],
            products: vec![
                data(parse(fixture!("v3_catalog_products_77.json"))),
                data(parse(fixture!("v3_catalog_products_78_no_categories.json"))),
            ],
            categories: as_array(data(parse(fixture!("v3_catalog_categories.json")))),
            refunds: as_array(data(parse(fixture!("v3_refunds_order_250.json")))),
            hooks: as_array(data(parse(fixture!("v3_hooks.json")))),
        };
        Seed {
            stores: BTreeMap::from([(FIXTURE_STORE.to_owned(), store)]),
            engage: EngageSeed::default(),
        }
    }

    /// Parses a seed from JSON (the format shown on [`Seed`]).
    pub fn from_json(text: &str) -> anyhow::Result<Seed> {
        Ok(serde_json::from_str(text)?)
    }

    /// The store `hash`, created empty when absent; handy for building a seed in tests.
    pub fn store_mut(&mut self, hash: &str) -> &mut StoreSeed {
        self.stores.entry(hash.to_owned()).or_default()
    }
}

// The fixtures are compiled in and checked by this crate's tests, so a parse failure
// is a broken build input rather than bad run-time input.
fn parse(text: &str) -> Value {
    serde_json::from_str(text).expect("embedded fixture is valid JSON")
}

fn data(envelope: Value) -> Value {
    match envelope {
        Value::Object(mut map) => map.remove("data").unwrap_or(Value::Null),
        other => other,
    }
}

fn as_array(value: Value) -> Vec<Value> {
    match value {
        Value::Array(items) => items,
        Value::Null => Vec::new(),
        other => vec![other],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixture_seed_holds_every_fixture() {
        let seed = Seed::default_fixtures();
        let store = &seed.stores[FIXTURE_STORE];
        assert_eq!(store.orders.len(), 1);
        assert_eq!(store.orders[0].products.len(), 2);
        assert_eq!(store.orders[0].shipping_addresses.len(), 1);
        let ids: Vec<_> = store.customers.iter().map(|c| c["id"].clone()).collect();
        assert_eq!(ids, [32, 34, 35, 36]);
        assert_eq!(store.subscribers[0]["id"], 5);
        assert_eq!(store.products.len(), 2);
        assert_eq!(store.categories.len(), 7);
        assert_eq!(store.refunds[0]["id"], 3);
        assert_eq!(store.hooks.len(), 2);
    }

    #[test]
    fn seed_json_round_trips_and_fields_are_optional() {
        let seed = Seed::default_fixtures();
        let text = serde_json::to_string(&seed).unwrap();
        assert_eq!(Seed::from_json(&text).unwrap(), seed);
        assert_eq!(Seed::from_json("{}").unwrap(), Seed::empty());
        assert!(Seed::from_json(r#"{"stores": 3}"#).is_err());
    }
}
