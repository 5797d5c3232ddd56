use std::time::{Duration, Instant};

use domain::channel::{ChannelSettings, ContactTypeMode};
use domain::ids::{ChannelId, StoreHash};
use platform::db::{channels::Channel, stores::Store};
use platform::http::{ApiError, HttpClients};
use platform::testing::settings;
use sandbox::{Fault, Quota, Sandbox, SandboxHandle, Seed, Target};
use secrecy::SecretString;

async fn sandbox() -> SandboxHandle {
    Sandbox::start("127.0.0.1:0", Seed::default_fixtures())
        .await
        .unwrap()
}

fn store(sb: &SandboxHandle) -> Store {
    Store {
        store_hash: StoreHash::parse("abc123").unwrap(),
        client_secret: SecretString::from("secret"),
        access_token: SecretString::from("bc-token"),
        api_base_url: sb.bigcommerce_url(),
        created_at: time::OffsetDateTime::now_utc(),
    }
}

fn channel(sb: &SandboxHandle) -> Channel {
    Channel {
        settings: ChannelSettings {
            store_hash: StoreHash::parse("abc123").unwrap(),
            channel_id: ChannelId::new(1),
            store_external_id: "SE-WEB".into(),
            source: "ECOM".into(),
            locale: "sv-SE".into(),
            contact_type_mode: ContactTypeMode::AllMember,
            order_id_prefix: None,
            allowed_origins: vec![],
        },
        engage_base_url: sb.engage_url(),
        engage_api_key: SecretString::from("engage-key"),
    }
}

fn clients(overrides: &[(&str, &str)]) -> HttpClients {
    HttpClients::new(&settings(None, None, overrides)).unwrap()
}

fn fault(
    target: Target,
    method: &str,
    path: &str,
    times: u32,
    status: u16,
    headers: Vec<(String, String)>,
) -> Fault {
    Fault {
        target,
        method: Some(method.into()),
        path_prefix: path.into(),
        times,
        status: Some(status),
        latency_ms: None,
        headers,
        body: None,
    }
}

#[tokio::test]
async fn bigcommerce_calls_carry_the_token_and_decode_the_fixtures() {
    let sb = sandbox().await;
    let bc = clients(&[]).bigcommerce(&store(&sb));
    let order = bc.order(250).await.unwrap().expect("order 250");
    assert_eq!(order.id, 250.into());
    assert_eq!(bc.order_products(250).await.unwrap().len(), 2);
    assert_eq!(bc.order_shipping_addresses(250).await.unwrap().len(), 1);
    assert_eq!(
        bc.customer(32).await.unwrap().expect("customer").id,
        32.into()
    );
    assert!(bc.order(999_999).await.unwrap().is_none(), "404 is None");
    let requests = sb.requests();
    assert!(requests.iter().all(|r| r
        .headers
        .iter()
        .any(|(k, v)| k == "x-auth-token" && v == "bc-token")));
    sb.stop().await;
}

#[tokio::test]
async fn bigcommerce_5xx_is_retried_with_backoff() {
    let sb = sandbox().await;
    sb.inject(fault(
        Target::BigCommerce,
        "GET",
        "/stores/abc123/v2/orders/250",
        2,
        503,
        vec![],
    ));
    let bc = clients(&[]).bigcommerce(&store(&sb));
    assert!(bc.order(250).await.unwrap().is_some());
    assert_eq!(
        sb.count("GET", "/bigcommerce/stores/abc123/v2/orders/250"),
        3
    );
    sb.stop().await;
}

#[tokio::test]
async fn bigcommerce_5xx_beyond_the_retries_is_a_retryable_error() {
    let sb = sandbox().await;
    sb.inject(fault(
        Target::BigCommerce,
        "GET",
        "/stores/abc123/v2/orders/250",
        10,
        502,
        vec![],
    ));
    let bc = clients(&[("CONNECTOR__BIGCOMMERCE__MAX_RETRIES", "2")]).bigcommerce(&store(&sb));
    let err = bc.order(250).await.unwrap_err();
    assert_eq!(err.status(), Some(502));
    assert!(err.is_retryable());
    assert_eq!(
        sb.count("GET", "/bigcommerce/stores/abc123/v2/orders/250"),
        3,
        "1 + 2 retries"
    );
    sb.stop().await;
}

#[tokio::test]
async fn bigcommerce_429_waits_the_announced_reset() {
    let sb = sandbox().await;
    sb.inject(fault(
        Target::BigCommerce,
        "GET",
        "/stores/abc123/v2/orders/250",
        1,
        429,
        vec![
            ("X-Rate-Limit-Time-Reset-Ms".into(), "400".into()),
            ("X-Rate-Limit-Requests-Left".into(), "0".into()),
            ("X-Rate-Limit-Requests-Quota".into(), "150".into()),
            ("X-Rate-Limit-Time-Window-Ms".into(), "30000".into()),
        ],
    ));
    let bc = clients(&[]).bigcommerce(&store(&sb));
    let start = Instant::now();
    assert!(bc.order(250).await.unwrap().is_some());
    assert!(
        start.elapsed() >= Duration::from_millis(400),
        "waited {:?}",
        start.elapsed()
    );
    assert_eq!(
        sb.count("GET", "/bigcommerce/stores/abc123/v2/orders/250"),
        2
    );
    sb.stop().await;
}

#[tokio::test]
async fn bigcommerce_4xx_is_final_and_not_retried() {
    let sb = sandbox().await;
    sb.inject(fault(
        Target::BigCommerce,
        "GET",
        "/stores/abc123/v2/orders/250",
        5,
        403,
        vec![],
    ));
    let bc = clients(&[]).bigcommerce(&store(&sb));
    let err = bc.order(250).await.unwrap_err();
    assert_eq!(err.status(), Some(403));
    assert!(!err.is_retryable());
    assert_eq!(
        sb.count("GET", "/bigcommerce/stores/abc123/v2/orders/250"),
        1
    );
    sb.stop().await;
}

#[tokio::test]
async fn the_bigcommerce_client_paces_itself_within_the_store_quota() {
    let sb = sandbox().await;
    sb.set_bigcommerce_quota(Some(Quota {
        quota: 5,
        window_ms: 500,
    }));
    let bc = clients(&[]).bigcommerce(&store(&sb));
    let mut tasks = Vec::new();
    for _ in 0..12 {
        let bc = bc.clone();
        tasks.push(tokio::spawn(async move {
            bc.order(250).await.map(|o| o.is_some())
        }));
    }
    for t in tasks {
        assert!(t.await.unwrap().unwrap());
    }
    assert_eq!(sb.over_quota_requests(), 0, "no request beyond the quota");
    sb.stop().await;
}

#[tokio::test]
async fn engage_calls_carry_apikey_user_agent_and_content_type() {
    let sb = sandbox().await;
    let engage = clients(&[]).engage(&channel(&sb));
    assert_eq!(
        engage.find_contact_id("nobody@example.com").await.unwrap(),
        None
    );
    let id = engage
        .create_contact(
            "ECOM",
            "SE-WEB",
            &serde_json::json!({"email": "new@example.com", "contactType": "Member"}),
        )
        .await
        .unwrap();
    assert_eq!(
        engage
            .find_contact_id("new@example.com")
            .await
            .unwrap()
            .as_deref(),
        Some(id.as_str())
    );
    engage
        .update_contact(&id, &serde_json::json!({"mobilePhone": null}))
        .await
        .unwrap();
    engage.delete_contact(&id).await.unwrap();
    engage.delete_contact(&id).await.unwrap(); // already gone is fine
    for r in sb.requests() {
        let h = |name: &str| {
            r.headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(
            h("apikey").as_deref(),
            Some("engage-key"),
            "{} {}",
            r.method,
            r.path
        );
        assert!(h("user-agent")
            .unwrap()
            .starts_with("bigcommerce-engage-connector/"));
        assert_eq!(h("content-type").as_deref(), Some("application/json"));
    }
    sb.stop().await;
}

#[tokio::test]
async fn engage_errors_are_classified_for_the_callers_retry_policy() {
    let sb = sandbox().await;
    sb.inject(fault(
        Target::Engage,
        "POST",
        "/api/v2/tracking/productview",
        1,
        503,
        vec![],
    ));
    sb.inject(fault(
        Target::Engage,
        "POST",
        "/api/v2/tracking/carts",
        1,
        400,
        vec![],
    ));
    let engage = clients(&[]).engage(&channel(&sb));
    let err = engage
        .track_product_view(&serde_json::json!({"itemId": "X"}))
        .await
        .unwrap_err();
    assert!(matches!(err, ApiError::Status { status: 503, .. }) && err.is_retryable());
    let err = engage
        .track_cart(&serde_json::json!({"cartReference": "c"}))
        .await
        .unwrap_err();
    assert!(!err.is_retryable());
    // The client itself never retries: one call each.
    assert_eq!(sb.count("POST", "/engage/api/v2/tracking/productview"), 1);
    assert_eq!(sb.count("POST", "/engage/api/v2/tracking/carts"), 1);
    sb.stop().await;
}

#[tokio::test]
async fn the_engage_client_limits_its_rate_per_api_key() {
    let sb = sandbox().await;
    let engage =
        clients(&[("CONNECTOR__ENGAGE__MAX_REQUESTS_PER_SEC", "50")]).engage(&channel(&sb));
    let start = Instant::now();
    for _ in 0..30 {
        engage
            .track_product_view(&serde_json::json!({"itemId": "X"}))
            .await
            .unwrap();
    }
    // 30 calls at 50/s with a burst of 5: at least ~0.45 s.
    assert!(
        start.elapsed() >= Duration::from_millis(440),
        "{:?}",
        start.elapsed()
    );
    sb.stop().await;
}

#[tokio::test]
async fn hooks_are_listed_created_and_reactivated() {
    use domain::bigcommerce::NewHook;
    use domain::webhook::Scope;
    let sb = sandbox().await;
    let bc = clients(&[]).bigcommerce(&store(&sb));
    let hooks = bc.hooks().await.unwrap();
    assert_eq!(hooks.len(), 2);
    let inactive = hooks
        .iter()
        .find(|h| !h.is_active)
        .expect("an inactive fixture hook");
    let activated = bc.activate_hook(inactive.id).await.unwrap();
    assert!(activated.is_active);
    let created = bc
        .create_hook(&NewHook {
            scope: Scope::parse("store/subscriber/created").unwrap(),
            destination: "https://connector.example.com/webhooks/bigcommerce".into(),
            is_active: true,
            headers: None,
        })
        .await
        .unwrap();
    assert!(created.is_active);
    assert_eq!(bc.hooks().await.unwrap().len(), 3);
    let put = sb
        .requests()
        .into_iter()
        .find(|r| r.method == "PUT")
        .unwrap();
    assert_eq!(put.body, serde_json::json!({"is_active": true}));
    sb.stop().await;
}

#[tokio::test]
async fn the_quota_left_per_store_is_exported_as_a_metric() {
    platform::metrics::install();
    let sb = sandbox().await;
    sb.set_bigcommerce_quota(Some(Quota {
        quota: 150,
        window_ms: 30_000,
    }));
    let bc = clients(&[]).bigcommerce(&store(&sb));
    bc.order(250).await.unwrap();
    let text = platform::metrics::render();
    assert!(
        text.contains("bigcommerce_quota_left{store=\"abc123\"} 149"),
        "{text}"
    );
    sb.stop().await;
}
