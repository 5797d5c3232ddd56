//! The fake BigCommerce API.

use reqwest::{Method, StatusCode};
use sandbox::Quota;
use serde_json::{json, Value};

use crate::helpers::{fixture, json, start, STORE};

#[tokio::test]
async fn order_endpoints_return_the_seeded_fixtures() {
    let sb = start().await;
    let order = sb.bc(Method::GET, "/v2/orders/250").send().await.unwrap();
    assert_eq!(order.status(), StatusCode::OK);
    assert_eq!(json(order).await, fixture("v2_orders_250.json"));

    let products = sb
        .bc(Method::GET, "/v2/orders/250/products")
        .send()
        .await
        .unwrap();
    assert_eq!(json(products).await, fixture("v2_orders_250_products.json"));

    let shipping = sb
        .bc(Method::GET, "/v2/orders/250/shipping_addresses")
        .send()
        .await
        .unwrap();
    assert_eq!(
        json(shipping).await,
        fixture("v2_orders_250_shipping_addresses.json")
    );
}

#[tokio::test]
async fn unknown_orders_and_stores_are_not_found() {
    let sb = start().await;
    for path in [
        "/v2/orders/999",
        "/v2/orders/abc",
        "/v2/orders/999/products",
    ] {
        let response = sb.bc(Method::GET, path).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        assert_eq!(json(response).await[0]["status"], 404);
    }
    let other_store = sb
        .http
        .get(format!(
            "{}/stores/nope/v2/orders/250",
            sb.handle.bigcommerce_url()
        ))
        .header("X-Auth-Token", "token")
        .send()
        .await
        .unwrap();
    assert_eq!(other_store.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_missing_auth_token_is_refused_with_401() {
    let sb = start().await;
    let response = sb
        .http
        .get(format!(
            "{}/stores/{STORE}/v3/hooks",
            sb.handle.bigcommerce_url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(response
        .headers()
        .contains_key("x-rate-limit-requests-left"));
    assert_eq!(json(response).await["status"], 401);
}

#[tokio::test]
async fn order_products_are_paginated() {
    let sb = start().await;
    let first = sb
        .bc(Method::GET, "/v2/orders/250/products?page=1&limit=1")
        .send()
        .await
        .unwrap();
    assert_eq!(json(first).await.as_array().unwrap()[0]["id"], 501);
    let second = sb
        .bc(Method::GET, "/v2/orders/250/products?page=2&limit=1")
        .send()
        .await
        .unwrap();
    assert_eq!(json(second).await.as_array().unwrap()[0]["id"], 502);
    let third = sb
        .bc(Method::GET, "/v2/orders/250/products?page=3&limit=1")
        .send()
        .await
        .unwrap();
    assert_eq!(third.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn order_list_filters_on_date_modified_and_answers_204_when_empty() {
    let sb = start().await;
    sb.handle.put_order(
        STORE,
        json!({"id": 251, "date_modified": "Fri, 05 Dec 2025 10:00:00 +0000", "status_id": 10}),
        json!([]),
        Value::Null,
    );
    let query = [("min_date_modified", "Wed, 03 Dec 2025 08:22:00 +0000")];
    let both = sb
        .bc(Method::GET, "/v2/orders")
        .query(&query)
        .send()
        .await
        .unwrap();
    assert_eq!(both.status(), StatusCode::OK);
    let ids: Vec<_> = json(both)
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].clone())
        .collect();
    assert_eq!(ids, [250, 251]);

    let later = sb
        .bc(
            Method::GET,
            "/v2/orders?min_date_modified=2025-12-04T00:00:00Z",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(json(later).await.as_array().unwrap().len(), 1);

    let second_page = sb
        .bc(
            Method::GET,
            "/v2/orders?min_date_modified=2025-12-04T00:00:00Z&page=2",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(second_page.status(), StatusCode::NO_CONTENT);
    assert!(second_page.bytes().await.unwrap().is_empty());

    let none = sb
        .bc(Method::GET, "/v2/orders?min_date_modified=2030-01-01")
        .send()
        .await
        .unwrap();
    assert_eq!(none.status(), StatusCode::NO_CONTENT);

    let bad = sb
        .bc(Method::GET, "/v2/orders?min_date_modified=yesterday")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn customers_are_found_by_id_with_addresses_only_when_included() {
    let sb = start().await;
    let response = sb
        .bc(Method::GET, "/v3/customers?id:in=32&include=addresses")
        .send()
        .await
        .unwrap();
    let body = json(response).await;
    assert_eq!(body, fixture("v3_customers_32.json").tap_links());

    let several = sb
        .bc(Method::GET, "/v3/customers?id:in=34,35,99")
        .send()
        .await
        .unwrap();
    let body = json(several).await;
    let data = body["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    assert!(data[0].get("addresses").is_none());
    assert_eq!(body["meta"]["pagination"]["total"], 2);
}

/// The fixture's `meta.pagination` has no `links`; the sandbox adds BigCommerce's.
trait TapLinks {
    fn tap_links(self) -> Value;
}

impl TapLinks for Value {
    fn tap_links(mut self) -> Value {
        self["meta"]["pagination"]["links"] = json!({"current": "?page=1&limit=50"});
        self
    }
}

#[tokio::test]
async fn customers_are_filtered_by_date_modified_and_paginated() {
    let sb = start().await;
    let mut newer = fixture("v3_customers_32.json")["data"][0].clone();
    newer["id"] = json!(40);
    newer["date_modified"] = json!("2026-01-02T00:00:00Z");
    sb.handle.put_customer(STORE, newer);

    let response = sb
        .bc(
            Method::GET,
            "/v3/customers?date_modified:min=2026-01-01T00:00:00Z",
        )
        .send()
        .await
        .unwrap();
    let body = json(response).await;
    assert_eq!(body["data"].as_array().unwrap().len(), 1);
    assert_eq!(body["data"][0]["id"], 40);

    let page = sb
        .bc(Method::GET, "/v3/customers?limit=2&page=2")
        .send()
        .await
        .unwrap();
    let body = json(page).await;
    let ids: Vec<_> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].clone())
        .collect();
    assert_eq!(ids, [35, 36]);
    let pagination = &body["meta"]["pagination"];
    assert_eq!(pagination["total"], 5);
    assert_eq!(pagination["total_pages"], 3);
    assert_eq!(pagination["current_page"], 2);
    assert_eq!(pagination["links"]["next"], "?page=3&limit=2");

    let beyond = sb
        .bc(Method::GET, "/v3/customers?page=9")
        .send()
        .await
        .unwrap();
    assert_eq!(beyond.status(), StatusCode::OK);
    assert_eq!(json(beyond).await["data"], json!([]));
}

#[tokio::test]
async fn subscribers_products_and_categories_return_the_fixtures() {
    let sb = start().await;
    let subscriber = sb
        .bc(Method::GET, "/v3/customers/subscribers/5")
        .send()
        .await
        .unwrap();
    assert_eq!(json(subscriber).await, fixture("v3_subscribers_5.json"));
    let missing = sb
        .bc(Method::GET, "/v3/customers/subscribers/6")
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);

    let product = sb
        .bc(Method::GET, "/v3/catalog/products/77")
        .send()
        .await
        .unwrap();
    assert_eq!(json(product).await, fixture("v3_catalog_products_77.json"));
    let product = sb
        .bc(Method::GET, "/v3/catalog/products/78")
        .send()
        .await
        .unwrap();
    assert_eq!(
        json(product).await,
        fixture("v3_catalog_products_78_no_categories.json")
    );
    let missing = sb
        .bc(Method::GET, "/v3/catalog/products/79")
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_eq!(json(missing).await["status"], 404);

    let categories = sb
        .bc(
            Method::GET,
            "/v3/catalog/categories?id:in=18,23,24,31,40,41,42",
        )
        .send()
        .await
        .unwrap();
    let body = json(categories).await;
    assert_eq!(body["data"], fixture("v3_catalog_categories.json")["data"]);
    let some = sb
        .bc(Method::GET, "/v3/catalog/categories?id:in=41,42")
        .send()
        .await
        .unwrap();
    assert_eq!(json(some).await["data"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn refunds_are_listed_per_order_and_fetched_by_id() {
    let sb = start().await;
    let list = sb
        .bc(Method::GET, "/v3/orders/250/payment_actions/refunds")
        .send()
        .await
        .unwrap();
    assert_eq!(json(list).await, fixture("v3_refunds_order_250.json"));
    let one = sb
        .bc(Method::GET, "/v3/orders/payment_actions/refunds/3")
        .send()
        .await
        .unwrap();
    assert_eq!(
        json(one).await["data"],
        fixture("v3_refunds_order_250.json")["data"][0]
    );
    let missing = sb
        .bc(Method::GET, "/v3/orders/payment_actions/refunds/4")
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let unknown_order = sb
        .bc(Method::GET, "/v3/orders/999/payment_actions/refunds")
        .send()
        .await
        .unwrap();
    assert_eq!(unknown_order.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn every_answer_carries_the_rate_headers() {
    let sb = start().await;
    for path in [
        "/v2/orders/250",
        "/v2/orders/999",
        "/v3/hooks",
        "/v9/nothing",
    ] {
        let response = sb.bc(Method::GET, path).send().await.unwrap();
        for name in [
            "x-rate-limit-time-window-ms",
            "x-rate-limit-time-reset-ms",
            "x-rate-limit-requests-quota",
            "x-rate-limit-requests-left",
        ] {
            assert!(response.headers().contains_key(name), "{path} lacks {name}");
        }
    }
}

#[tokio::test]
async fn an_exhausted_quota_answers_429_and_counts_the_request() {
    let sb = start().await;
    sb.handle.set_bigcommerce_quota(Some(Quota {
        quota: 2,
        window_ms: 60_000,
    }));
    let first = sb.bc(Method::GET, "/v2/orders/250").send().await.unwrap();
    assert_eq!(first.headers()["x-rate-limit-requests-left"], "1");
    assert_eq!(first.headers()["x-rate-limit-requests-quota"], "2");
    let second = sb.bc(Method::GET, "/v2/orders/250").send().await.unwrap();
    assert_eq!(second.headers()["x-rate-limit-requests-left"], "0");
    let third = sb.bc(Method::GET, "/v2/orders/250").send().await.unwrap();
    assert_eq!(third.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(third.headers()["x-rate-limit-requests-left"], "0");
    let reset: u64 = third.headers()["x-rate-limit-time-reset-ms"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(reset > 0 && reset <= 60_000);
    assert_eq!(sb.handle.over_quota_requests(), 1);

    sb.handle.set_bigcommerce_quota(None);
    let free = sb.bc(Method::GET, "/v2/orders/250").send().await.unwrap();
    assert_eq!(free.status(), StatusCode::OK);
    assert_eq!(sb.handle.over_quota_requests(), 1);
}

#[tokio::test]
async fn the_quota_refills_when_its_window_ends() {
    let sb = start().await;
    sb.handle.set_bigcommerce_quota(Some(Quota {
        quota: 1,
        window_ms: 200,
    }));
    assert_eq!(
        sb.bc(Method::GET, "/v2/orders/250")
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    let refused = sb.bc(Method::GET, "/v2/orders/250").send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = refused.headers()["x-rate-limit-time-reset-ms"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    // Waiting for the advertised reset is exactly what a well-behaved client does.
    tokio::time::sleep(std::time::Duration::from_millis(wait + 20)).await;
    assert_eq!(
        sb.bc(Method::GET, "/v2/orders/250")
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn hooks_are_listed_with_pagination() {
    let sb = start().await;
    let response = sb.bc(Method::GET, "/v3/hooks").send().await.unwrap();
    let body = json(response).await;
    assert_eq!(body["data"], fixture("v3_hooks.json")["data"]);
    assert_eq!(body["meta"]["pagination"]["total"], 2);
    let active = sb
        .bc(Method::GET, "/v3/hooks?is_active=true")
        .send()
        .await
        .unwrap();
    assert_eq!(json(active).await["data"].as_array().unwrap().len(), 1);
    let page = sb
        .bc(Method::GET, "/v3/hooks?limit=1&page=2")
        .send()
        .await
        .unwrap();
    assert_eq!(json(page).await["data"][0]["id"], 18048288);
}

#[tokio::test]
async fn a_hook_is_created_once_per_scope_and_destination() {
    let sb = start().await;
    let body = json!({"scope": "store/order/updated", "destination": "https://connector.example.com/webhooks/bigcommerce", "is_active": true});
    let created = sb
        .bc(Method::POST, "/v3/hooks")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::OK);
    let hook = json(created).await["data"].clone();
    assert_eq!(hook["scope"], "store/order/updated");
    assert_eq!(hook["store_hash"], STORE);
    assert_eq!(hook["is_active"], true);
    assert!(hook["created_at"].as_u64().unwrap() > 1_700_000_000);
    assert_eq!(sb.handle.hooks(STORE).len(), 3);

    let duplicate = sb
        .bc(Method::POST, "/v3/hooks")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(duplicate.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(sb.handle.hooks(STORE).len(), 3);

    let fetched = sb
        .bc(Method::GET, &format!("/v3/hooks/{}", hook["id"]))
        .send()
        .await
        .unwrap();
    assert_eq!(json(fetched).await["data"], hook);
}

#[tokio::test]
async fn a_hook_without_scope_or_destination_is_refused_with_422() {
    let sb = start().await;
    for body in [
        json!({"destination": "https://x.example.com/hook"}),
        json!({"scope": "store/order/created"}),
        json!({"scope": "", "destination": "https://x.example.com/hook"}),
        json!([1, 2]),
    ] {
        let response = sb
            .bc(Method::POST, "/v3/hooks")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}"
        );
    }
    let garbage = sb
        .bc(Method::POST, "/v3/hooks")
        .header("Content-Type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(garbage.status(), StatusCode::BAD_REQUEST);
    assert_eq!(sb.handle.hooks(STORE).len(), 2);
}

#[tokio::test]
async fn a_hook_is_reactivated_by_put_and_deleted() {
    let sb = start().await;
    let updated = sb
        .bc(Method::PUT, "/v3/hooks/18048288")
        .json(&json!({"is_active": true, "headers": {"X-Secret": "s"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(updated.status(), StatusCode::OK);
    let hook = json(updated).await["data"].clone();
    assert_eq!(hook["is_active"], true);
    assert_eq!(hook["headers"], json!({"X-Secret": "s"}));
    assert!(hook["updated_at"].as_u64().unwrap() > 1_564_000_000);
    assert_eq!(sb.handle.hooks(STORE)[1]["is_active"], true);

    let empty = sb
        .bc(Method::PUT, "/v3/hooks/18048288")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(empty.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let clash = sb
        .bc(Method::PUT, "/v3/hooks/18048288")
        .json(&json!({"scope": "store/order/created"}))
        .send()
        .await
        .unwrap();
    assert_eq!(clash.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let unknown = sb
        .bc(Method::PUT, "/v3/hooks/1")
        .json(&json!({"is_active": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);

    let deleted = sb
        .bc(Method::DELETE, "/v3/hooks/18048288")
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::OK);
    assert_eq!(sb.handle.hooks(STORE).len(), 1);
    let again = sb
        .bc(Method::DELETE, "/v3/hooks/18048288")
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn data_put_at_run_time_is_served() {
    let sb = start().await;
    sb.handle.put_subscriber(
        STORE,
        json!({"id": 6, "email": "n@example.com", "consents": []}),
    );
    sb.handle
        .put_product(STORE, json!({"id": 80, "sku": "HAT"}));
    sb.handle
        .put_refund(STORE, json!({"id": 4, "order_id": 250}));
    sb.handle
        .put_order("newstore", json!({"id": 1}), json!([{"id": 1}]), json!([]));
    let subscriber = sb
        .bc(Method::GET, "/v3/customers/subscribers/6")
        .send()
        .await
        .unwrap();
    assert_eq!(json(subscriber).await["data"]["email"], "n@example.com");
    let product = sb
        .bc(Method::GET, "/v3/catalog/products/80")
        .send()
        .await
        .unwrap();
    assert_eq!(json(product).await["data"]["sku"], "HAT");
    let refunds = sb
        .bc(Method::GET, "/v3/orders/250/payment_actions/refunds")
        .send()
        .await
        .unwrap();
    assert_eq!(json(refunds).await["data"].as_array().unwrap().len(), 2);
    let other = sb
        .http
        .get(format!(
            "{}/stores/newstore/v2/orders/1/products",
            sb.handle.bigcommerce_url()
        ))
        .header("X-Auth-Token", "t")
        .send()
        .await
        .unwrap();
    assert_eq!(json(other).await, json!([{"id": 1}]));
    let shipping = sb
        .http
        .get(format!(
            "{}/stores/newstore/v2/orders/1/shipping_addresses",
            sb.handle.bigcommerce_url()
        ))
        .header("X-Auth-Token", "t")
        .send()
        .await
        .unwrap();
    assert_eq!(shipping.status(), StatusCode::NO_CONTENT);

    assert!(sb.handle.remove_customer(STORE, 32));
    let gone = sb
        .bc(Method::GET, "/v3/customers?id:in=32")
        .send()
        .await
        .unwrap();
    assert_eq!(json(gone).await["data"], json!([]));
}
