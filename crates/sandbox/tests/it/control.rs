//! The `/_sandbox` control API.

use reqwest::{Method, StatusCode};
use sandbox::RecordedRequest;
use serde_json::{json, Value};

use crate::helpers::{json, start, STORE};

#[tokio::test]
async fn faults_posted_over_http_apply_and_can_be_cleared() {
    let sb = start().await;
    let posted = sb
        .control(Method::POST, "/faults")
        .json(&json!({"target": "Engage", "method": "GET", "path_prefix": "/api/v2", "times": 3, "status": 503,
            "headers": {"Retry-After": 1}}))
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), StatusCode::CREATED);
    let failed = sb
        .engage(Method::GET, "/api/v2/contacts/count")
        .send()
        .await
        .unwrap();
    assert_eq!(failed.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(failed.headers()["retry-after"], "1");
    let listed = json(sb.control(Method::GET, "/faults").send().await.unwrap()).await;
    assert_eq!(listed[0]["times"], 2);

    let cleared = sb.control(Method::DELETE, "/faults").send().await.unwrap();
    assert_eq!(cleared.status(), StatusCode::NO_CONTENT);
    let ok = sb
        .engage(Method::GET, "/api/v2/contacts/count")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);

    let bad = sb
        .control(Method::POST, "/faults")
        .json(&json!({"target": "Nowhere"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn recorded_requests_are_listed_filtered_and_cleared_over_http() {
    let sb = start().await;
    sb.bc(Method::GET, "/v2/orders/250").send().await.unwrap();
    sb.engage(Method::GET, "/api/v2/contacts/count")
        .send()
        .await
        .unwrap();
    let all: Vec<RecordedRequest> = sb
        .control(Method::GET, "/requests")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(all.len(), 2);
    let engage = json(
        sb.control(Method::GET, "/requests?path_prefix=/engage")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(engage.as_array().unwrap().len(), 1);

    let stats = json(sb.control(Method::GET, "/stats").send().await.unwrap()).await;
    assert_eq!(stats["total"], 2);
    assert_eq!(
        stats["routes"]["GET /bigcommerce/stores/{hash}/v2/orders/{id}"],
        1
    );
    assert_eq!(stats["routes"]["GET /engage/api/v2/contacts/count"], 1);

    let cleared = sb
        .control(Method::DELETE, "/requests")
        .send()
        .await
        .unwrap();
    assert_eq!(cleared.status(), StatusCode::NO_CONTENT);
    assert!(sb.handle.requests().is_empty());
}

#[tokio::test]
async fn the_quota_is_set_and_lifted_over_http() {
    let sb = start().await;
    let set = sb
        .control(Method::PUT, "/bigcommerce/quota")
        .json(&json!({"quota": 1, "window_ms": 60000}))
        .send()
        .await
        .unwrap();
    assert_eq!(set.status(), StatusCode::NO_CONTENT);
    sb.bc(Method::GET, "/v2/orders/250").send().await.unwrap();
    let limited = sb.bc(Method::GET, "/v2/orders/250").send().await.unwrap();
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    let stats = json(sb.control(Method::GET, "/stats").send().await.unwrap()).await;
    assert_eq!(stats["over_quota"], 1);

    sb.control(Method::PUT, "/bigcommerce/quota")
        .json(&Value::Null)
        .send()
        .await
        .unwrap();
    let free = sb.bc(Method::GET, "/v2/orders/250").send().await.unwrap();
    assert_eq!(free.status(), StatusCode::OK);
}

#[tokio::test]
async fn bigcommerce_data_is_added_over_http() {
    let sb = start().await;
    let order = sb
        .control(Method::POST, &format!("/bigcommerce/stores/{STORE}/orders"))
        .json(&json!({"order": {"id": 300, "status_id": 1}, "products": [{"id": 1}], "shipping_addresses": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(order.status(), StatusCode::CREATED);
    let customers = sb
        .control(
            Method::POST,
            &format!("/bigcommerce/stores/{STORE}/customers"),
        )
        .json(&json!([{"id": 50, "email": "x@example.com"}, {"id": 51, "email": "y@example.com"}]))
        .send()
        .await
        .unwrap();
    assert_eq!(customers.status(), StatusCode::CREATED);
    let without_id = sb
        .control(
            Method::POST,
            &format!("/bigcommerce/stores/{STORE}/customers"),
        )
        .json(&json!({"email": "z@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(without_id.status(), StatusCode::BAD_REQUEST);

    let fetched = sb.bc(Method::GET, "/v2/orders/300").send().await.unwrap();
    assert_eq!(json(fetched).await["status_id"], 1);
    let found = sb
        .bc(Method::GET, "/v3/customers?id:in=50,51")
        .send()
        .await
        .unwrap();
    assert_eq!(json(found).await["data"].as_array().unwrap().len(), 2);
    let hooks = json(
        sb.control(Method::GET, &format!("/bigcommerce/stores/{STORE}/hooks"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(hooks.as_array().unwrap().len(), 2);
    // Control calls stay out of the log.
    assert_eq!(sb.handle.requests().len(), 2);
}

#[tokio::test]
async fn engage_state_is_read_and_seeded_over_http() {
    let sb = start().await;
    let created = sb
        .control(Method::POST, "/engage/contacts")
        .json(&json!({"email": "s@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    sb.engage(Method::POST, "/api/v3/orders")
        .json(&json!({"orderId": "1"}))
        .send()
        .await
        .unwrap();
    let contacts = json(
        sb.control(Method::GET, "/engage/contacts")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(contacts[0]["email"], "s@example.com");
    let orders = json(
        sb.control(Method::GET, "/engage/orders")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(orders, json!([{"orderId": "1"}]));
}
