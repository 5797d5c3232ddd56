//! Fault injection and request recording.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use sandbox::{Fault, Target};
use serde_json::json;

use crate::helpers::{json, start, STORE};

#[tokio::test]
async fn the_next_two_calls_fail_with_503_and_the_third_succeeds() {
    let sb = start().await;
    sb.handle
        .inject(Fault::status(Target::Engage, "/api/v3/orders", 2, 503).with_method("POST"));
    let order = json!({"orderId": "250"});
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let response = sb
            .engage(Method::POST, "/api/v3/orders")
            .json(&order)
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses, [503, 503, 202]);
    assert_eq!(sb.handle.engage_orders().len(), 1);
    assert_eq!(sb.handle.count("POST", "/engage/api/v3/orders"), 3);
    let recorded: Vec<u16> = sb.handle.requests().iter().map(|r| r.status).collect();
    assert_eq!(recorded, [503, 503, 202]);
}

#[tokio::test]
async fn a_fault_only_matches_its_target_method_and_path() {
    let sb = start().await;
    sb.handle
        .inject(Fault::status(Target::Engage, "/api/v3/orders", 1, 503).with_method("PUT"));
    let other_method = sb
        .engage(Method::POST, "/api/v3/orders")
        .json(&json!({"orderId": "1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(other_method.status(), StatusCode::ACCEPTED);
    let other_path = sb
        .engage(Method::GET, "/api/v2/contacts/count")
        .send()
        .await
        .unwrap();
    assert_eq!(other_path.status(), StatusCode::OK);
    let other_target = sb.bc(Method::GET, "/v2/orders/250").send().await.unwrap();
    assert_eq!(other_target.status(), StatusCode::OK);
    let hit = sb
        .engage(Method::PUT, "/api/v3/orders/1")
        .json(&json!({"orderId": "1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(hit.status(), StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn a_latency_fault_delays_and_then_answers_normally() {
    let sb = start().await;
    sb.handle.inject(Fault::latency(
        Target::BigCommerce,
        &format!("/stores/{STORE}/v2/orders"),
        1,
        300,
    ));
    let started = Instant::now();
    let slow = sb.bc(Method::GET, "/v2/orders/250").send().await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(slow.status(), StatusCode::OK);
    assert_eq!(json(slow).await["id"], 250);

    let started = Instant::now();
    sb.bc(Method::GET, "/v2/orders/250").send().await.unwrap();
    assert!(started.elapsed() < Duration::from_millis(300));
}

#[tokio::test]
async fn a_bigcommerce_429_fault_carries_the_given_rate_headers_and_body() {
    let sb = start().await;
    sb.handle.inject(
        Fault::status(Target::BigCommerce, "/stores/abc123/v3/customers", 1, 429)
            .with_header("X-Rate-Limit-Time-Reset-Ms", "1500")
            .with_header("X-Rate-Limit-Requests-Left", "0")
            .with_body(json!({"status": 429, "title": "Too many requests"})),
    );
    let limited = sb
        .bc(Method::GET, "/v3/customers?id:in=32")
        .send()
        .await
        .unwrap();
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.headers()["x-rate-limit-time-reset-ms"], "1500");
    assert_eq!(limited.headers()["x-rate-limit-requests-left"], "0");
    assert!(!limited
        .headers()
        .contains_key("x-rate-limit-requests-quota"));
    assert_eq!(json(limited).await["title"], "Too many requests");
    let next = sb
        .bc(Method::GET, "/v3/customers?id:in=32")
        .send()
        .await
        .unwrap();
    assert_eq!(next.status(), StatusCode::OK);
}

#[tokio::test]
async fn every_request_is_recorded_with_headers_body_and_status() {
    let sb = start().await;
    sb.engage(Method::POST, "/api/v3/contacts?source=bc")
        .json(&json!({"email": "r@example.com"}))
        .send()
        .await
        .unwrap();
    sb.bc(Method::GET, "/v2/orders/999").send().await.unwrap();
    sb.http
        .get(format!("{}/nowhere", sb.handle.base_url()))
        .send()
        .await
        .unwrap();

    let requests = sb.handle.requests();
    assert_eq!(requests.len(), 3);
    let create = &requests[0];
    assert_eq!(create.method, "POST");
    assert_eq!(create.path, "/engage/api/v3/contacts");
    assert_eq!(create.query, "source=bc");
    assert_eq!(create.query_param("source").as_deref(), Some("bc"));
    assert_eq!(create.header("apikey"), Some("key"));
    assert!(create.headers.iter().any(|(n, _)| n == "user-agent"));
    assert_eq!(create.body, json!({"email": "r@example.com"}));
    assert_eq!(create.status, 201);
    assert_eq!(create.route, "POST /engage/api/v3/contacts");
    assert_eq!(requests[1].status, 404);
    assert_eq!(
        requests[1].route,
        "GET /bigcommerce/stores/{hash}/v2/orders/{id}"
    );
    assert!(requests[1].at_ms >= create.at_ms);
    assert_eq!(requests[2].status, 404);

    assert_eq!(sb.handle.count("GET", "/bigcommerce"), 1);
    assert_eq!(sb.handle.requests_to("/engage").len(), 1);
    sb.handle.clear_requests();
    assert!(sb.handle.requests().is_empty());
}

#[tokio::test]
async fn a_stopped_sandbox_no_longer_answers() {
    let sb = start().await;
    let url = sb.handle.base_url();
    sb.handle.clone().stop().await;
    let result = reqwest::Client::new()
        .get(format!("{url}/_sandbox/health"))
        .timeout(Duration::from_secs(2))
        .send()
        .await;
    assert!(result.is_err());
}

#[tokio::test]
async fn concurrent_requests_are_all_recorded_and_counted() {
    let sb = start().await;
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..8 {
        let http = sb.http.clone();
        let url = sb.handle.engage_url();
        tasks.spawn(async move {
            for i in 0..250 {
                let response = http
                    .post(format!("{url}/api/v3/orders"))
                    .header("apikey", "key")
                    .header("User-Agent", "t/1")
                    .json(&json!({"orderId": format!("{worker}-{i}")}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), StatusCode::ACCEPTED);
            }
        });
    }
    while let Some(result) = tasks.join_next().await {
        result.unwrap();
    }
    eprintln!("2000 order creates in {:?}", started.elapsed());
    assert_eq!(sb.handle.engage_orders().len(), 2000);
    assert_eq!(sb.handle.count("POST", "/engage/api/v3/orders"), 2000);
    let stats = sb.handle.stats();
    assert_eq!(stats.total, 2000);
    assert_eq!(stats.statuses[&202], 2000);
}

#[tokio::test]
async fn the_log_keeps_only_the_newest_requests_when_bounded() {
    let handle = sandbox::Sandbox::start_with(
        "127.0.0.1:0",
        sandbox::Seed::empty(),
        sandbox::SandboxOptions {
            workers: 1,
            max_recorded: 3,
        },
    )
    .await
    .unwrap();
    let http = reqwest::Client::new();
    for i in 0..5 {
        http.get(format!("{}/api/v3/orders/{i}", handle.engage_url()))
            .send()
            .await
            .unwrap();
    }
    let paths: Vec<_> = handle.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(
        paths,
        [
            "/engage/api/v3/orders/2",
            "/engage/api/v3/orders/3",
            "/engage/api/v3/orders/4"
        ]
    );
    assert_eq!(handle.stats().dropped, 2);
    handle.stop().await;
}
