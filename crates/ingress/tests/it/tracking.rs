use std::time::Duration;

use serde_json::{json, Value};

use platform::testing::ChaosProxy;

use crate::helpers::{fixture, start, start_with, Running, ORIGIN};

async fn beacon(
    app: &Running,
    path: &str,
    body: &[u8],
    origin: Option<&str>,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut req = app
        .http
        .post(app.url(path))
        .header("content-type", "application/json")
        .body(body.to_vec());
    if let Some(o) = origin {
        req = req.header("origin", o);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let text = res.text().await.unwrap();
    (
        status,
        headers,
        if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap()
        },
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beacons_are_validated_queued_and_answered_202_with_cors() {
    let app = start(&[]).await;
    let view = fixture("tracking/product_view.json");
    let (status, headers, _) = beacon(&app, "/tracking/product-view", &view, Some(ORIGIN)).await;
    assert_eq!(status, 202);
    assert_eq!(headers.get("access-control-allow-origin").unwrap(), ORIGIN);
    let msg = app
        .take_within("tracking-forwarder.events", Duration::from_secs(5))
        .await
        .expect("queued");
    assert_eq!(msg.routing_key.as_str(), "tracking.product_view");
    let sent: Value = serde_json::from_slice(&msg.data).unwrap();
    assert_eq!(sent["productId"], 77);

    let cart = fixture("tracking/cart.json");
    let (status, _, _) = beacon(&app, "/tracking/cart", &cart, None).await;
    assert_eq!(status, 202);
    let msg = app
        .take_within("tracking-forwarder.events", Duration::from_secs(5))
        .await
        .expect("queued");
    assert_eq!(msg.routing_key.as_str(), "tracking.cart");
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_beacons_are_400_naming_the_field() {
    let app = start(&[]).await;
    let base: Value = serde_json::from_slice(&fixture("tracking/product_view.json")).unwrap();
    let with = |k: &str, v: Value| {
        let mut b = base.clone();
        b[k] = v;
        serde_json::to_vec(&b).unwrap()
    };
    for (body, field) in [
        (with("surprise", json!(1)), "surprise"),
        (with("productId", json!("77")), "productId"),
        (with("productId", json!(0)), "productId"),
        (with("channelId", json!(-1)), "channelId"),
        (with("storeHash", json!("NOT A HASH")), "storeHash"),
        (b"{not json".to_vec(), "$"),
    ] {
        let (status, _, problem) =
            beacon(&app, "/tracking/product-view", &body, Some(ORIGIN)).await;
        assert_eq!(status, 400, "{field}");
        assert_eq!(problem["type"], "invalid-beacon");
        assert_eq!(problem["field"], field, "{problem}");
    }
    let big = vec![b' '; 17 * 1024];
    assert_eq!(
        beacon(&app, "/tracking/cart", &big, Some(ORIGIN)).await.0,
        413
    );
    assert!(app.take("tracking-forwarder.events").await.is_none());
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn origins_channels_and_preflights_are_enforced() {
    let app = start(&[]).await;
    let view = fixture("tracking/product_view.json");
    let (status, _, problem) = beacon(
        &app,
        "/tracking/product-view",
        &view,
        Some("https://evil.example.org"),
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(problem["type"], "origin-not-allowed");
    let mut other: Value = serde_json::from_slice(&view).unwrap();
    other["channelId"] = json!(7);
    let (status, _, problem) = beacon(
        &app,
        "/tracking/product-view",
        &serde_json::to_vec(&other).unwrap(),
        Some(ORIGIN),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(problem["type"], "unknown-channel");

    let preflight = |origin: &'static str| {
        app.http
            .request(reqwest::Method::OPTIONS, app.url("/tracking/product-view"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .send()
    };
    let ok = preflight(ORIGIN).await.unwrap();
    assert_eq!(ok.status(), 204);
    assert_eq!(
        ok.headers().get("access-control-allow-origin").unwrap(),
        ORIGIN
    );
    assert!(ok
        .headers()
        .get("access-control-allow-methods")
        .unwrap()
        .to_str()
        .unwrap()
        .contains("POST"));
    assert_eq!(
        preflight("https://evil.example.org")
            .await
            .unwrap()
            .status(),
        403
    );
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_over_its_rate_gets_429() {
    let app = start(&[
        ("CONNECTOR__INGRESS__BEACONS_PER_IP_PER_SEC", "1"),
        ("CONNECTOR__INGRESS__BEACON_BURST", "3"),
    ])
    .await;
    let view = fixture("tracking/product_view_anonymous.json");
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(beacon(&app, "/tracking/product-view", &view, None).await.0);
    }
    assert_eq!(&statuses[..3], &[202, 202, 202]);
    assert!(statuses[3..].contains(&429), "{statuses:?}");
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_beacon_while_the_broker_is_down_is_503_with_retry_after() {
    let proxy = ChaosProxy::start("127.0.0.1:5672").await;
    let app = start_with(Some(&proxy), &[]).await;
    let view = fixture("tracking/product_view.json");
    proxy.set_down(true);
    let (status, headers, problem) =
        beacon(&app, "/tracking/product-view", &view, Some(ORIGIN)).await;
    assert_eq!(status, 503, "{problem}");
    assert_eq!(problem["type"], "unavailable");
    assert!(headers.get("retry-after").is_some());
    proxy.set_down(false);
    app.stop().await.unwrap();
}
