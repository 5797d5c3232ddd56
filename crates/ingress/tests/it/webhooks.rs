use std::time::Duration;

use base64::Engine;
use domain::signature::{sign_legacy_hex, sign_standard};
use platform::amqp::message::{self, get_str};
use platform::testing::{eventually, ChaosProxy};
use serde_json::Value;

use crate::helpers::{fixture, now, start, start_with, Running, SECRET};

const ORDERS: &str = "order-processor.orders";

async fn post(
    app: &Running,
    body: &[u8],
    headers: &[(&str, String)],
) -> (u16, Option<String>, Value) {
    let mut req = app
        .http
        .post(app.url("/webhooks/bigcommerce"))
        .body(body.to_vec());
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let retry_after = res
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let content_type = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    let text = res.text().await.unwrap();
    let json = if text.is_empty() {
        Value::Null
    } else {
        assert_eq!(
            content_type.as_deref(),
            Some("application/problem+json"),
            "{text}"
        );
        serde_json::from_str(&text).unwrap()
    };
    (status, retry_after, json)
}

fn standard(id: &str, ts: i64, body: &[u8], secret: &str) -> Vec<(&'static str, String)> {
    vec![
        ("webhook-id", id.to_owned()),
        ("webhook-timestamp", ts.to_string()),
        (
            "webhook-signature",
            sign_standard(secret.as_bytes(), id, ts, body),
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_webhook_is_queued_unchanged_with_the_contract_headers() {
    let app = start(&[]).await;
    let body = fixture("bigcommerce/webhooks/order_created.json");
    let ts = now();
    let other = sign_standard(b"another-secret", "msg_1", ts, &body);
    let right = sign_standard(SECRET.as_bytes(), "msg_1", ts, &body);
    let headers = vec![
        ("webhook-id", "msg_1".to_owned()),
        ("webhook-timestamp", ts.to_string()),
        // Several entries; only the second one matches.
        ("webhook-signature", format!("{other} {right}")),
    ];
    let (status, _, _) = post(&app, &body, &headers).await;
    assert_eq!(status, 200);
    let msg = app
        .take_within(ORDERS, Duration::from_secs(5))
        .await
        .expect("queued");
    assert_eq!(msg.data, body, "body byte-identical");
    assert_eq!(msg.routing_key.as_str(), "store.order.created");
    let p = &msg.properties;
    assert_eq!(p.message_id().as_ref().map(|s| s.as_str()), Some("msg_1"));
    assert_eq!(p.delivery_mode(), &Some(2));
    assert_eq!(
        p.content_type().as_ref().map(|s| s.as_str()),
        Some("application/json")
    );
    assert!(p.timestamp().is_some());
    let h = p.headers().clone().unwrap();
    assert_eq!(get_str(&h, message::STORE_HASH).as_deref(), Some("abc123"));
    let received = get_str(&h, message::RECEIVED_AT).unwrap();
    assert!(
        time::OffsetDateTime::parse(&received, &time::format_description::well_known::Rfc3339)
            .is_ok()
    );
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_signatures_in_hex_of_either_case_and_base64_are_accepted() {
    let app = start(&[]).await;
    let body = fixture("bigcommerce/webhooks/customer_created.json");
    let hex = sign_legacy_hex(SECRET.as_bytes(), &body);
    let b64 = base64::engine::general_purpose::STANDARD.encode(hex::decode(&hex).unwrap());
    for sig in [hex.to_lowercase(), hex.to_uppercase(), b64] {
        let (status, _, problem) = post(&app, &body, &[("x-bc-signature", sig.clone())]).await;
        assert_eq!(status, 200, "{sig}: {problem}");
    }
    for _ in 0..3 {
        let msg = app
            .take_within("order-processor.contacts", Duration::from_secs(5))
            .await
            .expect("queued");
        assert_eq!(msg.routing_key.as_str(), "store.customer.created");
        // Without webhook-id the event id is the digest of scope, hash and created_at.
        assert!(msg
            .properties
            .message_id()
            .as_ref()
            .unwrap()
            .as_str()
            .starts_with("bc-"));
    }
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_signatures_and_unknown_stores_get_the_same_401() {
    let app = start(&[]).await;
    let body = fixture("bigcommerce/webhooks/order_created.json");
    let ts = now();
    // Still valid JSON, but not what was signed.
    let tampered = String::from_utf8(body.clone())
        .unwrap()
        .replace("250", "251")
        .into_bytes();
    assert_ne!(tampered, body);
    let unknown_store = String::from_utf8(body.clone())
        .unwrap()
        .replace("stores/abc123", "stores/zzz999");
    type Case<'a> = (&'a str, Vec<u8>, Vec<(&'a str, String)>);
    let cases: Vec<Case> = vec![
        (
            "wrong secret",
            body.clone(),
            standard("m", ts, &body, "wrong"),
        ),
        (
            "tampered body",
            tampered.clone(),
            standard("m", ts, &body, SECRET),
        ),
        // Well past the 300 s tolerance: the exact edge is the domain's unit tests', and a
        // future timestamp only 1 s past it would come within it on a machine slow enough
        // to take a second before this case is sent.
        (
            "stale timestamp",
            body.clone(),
            standard("m", ts - 360, &body, SECRET),
        ),
        (
            "future timestamp",
            body.clone(),
            standard("m", ts + 360, &body, SECRET),
        ),
        ("no signature headers", body.clone(), vec![]),
        (
            "legacy mismatch",
            body.clone(),
            vec![("x-bc-signature", sign_legacy_hex(b"wrong", &body))],
        ),
        (
            "standard without id",
            body.clone(),
            vec![
                ("webhook-timestamp", ts.to_string()),
                (
                    "webhook-signature",
                    sign_standard(SECRET.as_bytes(), "m", ts, &body),
                ),
            ],
        ),
        (
            "unknown store",
            unknown_store.clone().into_bytes(),
            standard("m", ts, unknown_store.as_bytes(), SECRET),
        ),
    ];
    let mut bodies = Vec::new();
    for (name, body, headers) in cases {
        let (status, _, problem) = post(&app, &body, &headers).await;
        assert_eq!(status, 401, "{name}");
        assert_eq!(problem["type"], "unauthorized", "{name}");
        bodies.push(problem);
    }
    assert!(
        bodies.windows(2).all(|w| w[0] == w[1]),
        "one body for every 401: {bodies:?}"
    );
    assert!(app.take(ORDERS).await.is_none(), "nothing queued");
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_oversized_webhooks_are_refused_with_a_problem() {
    let app = start(&[("CONNECTOR__INGRESS__MAX_BODY_BYTES", "2048")]).await;
    for body in [
        &b"not json"[..],
        br#"{"scope":"store/order/created"}"#,
        br#"{"producer":"stores/abc123"}"#,
        br#"{"scope":"store/order/created","producer":"shops/abc"}"#,
    ] {
        let (status, _, problem) = post(&app, body, &[]).await;
        assert_eq!(status, 400, "{}", String::from_utf8_lossy(body));
        assert_eq!(problem["type"], "malformed-webhook");
    }
    let big = vec![b' '; 4096];
    let (status, _, problem) = post(&app, &big, &[]).await;
    assert_eq!(status, 413);
    assert_eq!(problem["type"], "payload-too-large");
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unhandled_scope_is_answered_200_and_not_queued() {
    let app = start(&[]).await;
    let body = fixture("bigcommerce/webhooks/product_updated_unhandled.json");
    let (status, _, _) = post(&app, &body, &standard("m", now(), &body, SECRET)).await;
    assert_eq!(status, 200);
    for q in [
        "order-processor.orders",
        "order-processor.contacts",
        "tracking-forwarder.events",
    ] {
        assert!(app.take(q).await.is_none(), "{q}");
    }
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_down_is_503_with_retry_after_and_recovers_without_a_restart() {
    let proxy = ChaosProxy::start("127.0.0.1:5672").await;
    let app = start_with(Some(&proxy), &[]).await;
    let body = fixture("bigcommerce/webhooks/order_created.json");
    proxy.set_down(true);
    let (status, retry_after, problem) =
        post(&app, &body, &standard("down-1", now(), &body, SECRET)).await;
    assert_eq!(status, 503);
    assert_eq!(problem["type"], "unavailable");
    assert!(retry_after.is_some());
    assert!(
        !problem.to_string().contains("amqp"),
        "no internals in a 5xx body"
    );
    let readyz = app
        .http
        .get(app.url("/readyz"))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(readyz, 503);
    proxy.set_down(false);
    let recovered = eventually(Duration::from_secs(20), || async {
        post(&app, &body, &standard("up-1", now(), &body, SECRET))
            .await
            .0
            == 200
    })
    .await;
    assert!(recovered, "ingress recovered without a restart");
    let msg = app
        .take_within(ORDERS, Duration::from_secs(5))
        .await
        .expect("queued after recovery");
    assert_eq!(
        msg.properties.message_id().as_ref().unwrap().as_str(),
        "up-1"
    );
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_that_stops_answering_is_503_within_the_confirm_timeout() {
    let proxy = ChaosProxy::start("127.0.0.1:5672").await;
    // The confirm timeout is 2 s in these tests.
    let app = start_with(Some(&proxy), &[]).await;
    let body = fixture("bigcommerce/webhooks/order_created.json");
    proxy.set_stalled(true);
    let started = std::time::Instant::now();
    let (status, retry_after, problem) =
        post(&app, &body, &standard("stall-1", now(), &body, SECRET)).await;
    assert_eq!(status, 503, "{problem}");
    assert_eq!(problem["type"], "unavailable");
    assert!(retry_after.is_some());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "answered within the confirm timeout, not held: {:?}",
        started.elapsed()
    );
    proxy.set_stalled(false);
    let recovered = eventually(Duration::from_secs(20), || async {
        post(&app, &body, &standard("after-1", now(), &body, SECRET))
            .await
            .0
            == 200
    })
    .await;
    assert!(
        recovered,
        "ingress answers 200 again once the broker answers"
    );
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_readiness_and_metrics_are_served() {
    let app = start(&[]).await;
    assert_eq!(
        app.http
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        app.http
            .get(app.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let body = fixture("bigcommerce/webhooks/order_created.json");
    post(&app, &body, &[("x-bc-signature", "00".into())]).await;
    let text = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("ingress_requests_total"), "{text}");
    assert!(text.contains("ingress_rejected_signatures_total"));
    assert!(text.contains("ingress_request_duration_seconds"));
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_in_flight_requests_and_returns() {
    let app = start(&[]).await;
    let body = fixture("bigcommerce/webhooks/order_created.json");
    let (status, _, _) = post(&app, &body, &standard("s-1", now(), &body, SECRET)).await;
    assert_eq!(status, 200);
    tokio::time::timeout(Duration::from_secs(40), app.stop())
        .await
        .expect("stops")
        .unwrap();
}
