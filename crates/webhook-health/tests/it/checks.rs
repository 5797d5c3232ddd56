//! The periodic and on-demand checks: creations, re-activations, foreign hooks, errors and
//! two replicas.

use std::sync::Arc;
use std::time::Duration;

use diesel_async::RunQueryDsl;
use domain::webhook::Scope;
use platform::amqp::Publisher;
use platform::db::{self, stores};
use platform::http::HttpClients;
use platform::testing::eventually;
use sandbox::{Fault, Seed, Target};
use serde_json::json;
use webhook_health::{Checker, CheckerConfig};

use crate::helpers::{TestApp, DESTINATION, HOOKS, INACTIVE_HOOK, STORE, WAIT};

/// Required scopes minus the fixtures' two hooks.
fn missing_in_fixtures() -> usize {
    Scope::required_hooks().len() - 2
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inactive_hook_is_reactivated_and_missing_scopes_are_created_once() {
    let app = TestApp::spawn_with(&[("CONNECTOR__WEBHOOK_HEALTH__BACKFILL", "false")]).await;

    assert!(
        app.wait_all_active().await,
        "every required scope gets an active hook"
    );
    // Two more complete runs: they must change nothing.
    assert!(app.wait_more_runs(2).await);
    assert_eq!(app.sandbox.count("POST", HOOKS), missing_in_fixtures());
    assert_eq!(app.sandbox.count("PUT", HOOKS), 1);
    assert_eq!(
        app.sandbox
            .count("PUT", &format!("{HOOKS}/{INACTIVE_HOOK}")),
        1
    );

    let reactivations = app.rows("reactivate").await;
    assert_eq!(reactivations.len(), 1);
    let (hook_id, scope, before, after, _) = &reactivations[0];
    assert_eq!(*hook_id, Some(INACTIVE_HOOK));
    assert_eq!(scope, "store/customer/created");
    assert_eq!(before.as_deref(), Some("inactive"));
    assert_eq!(after.as_deref(), Some("active"));
    let creations = app.rows("create").await;
    assert_eq!(creations.len(), missing_in_fixtures());
    assert!(creations
        .iter()
        .all(|(id, _, before, after, _)| id.is_some()
            && before.as_deref() == Some("missing")
            && after.as_deref() == Some("active")));
    // Back-fill is off: nothing was listed or published.
    assert_eq!(
        app.sandbox
            .count("GET", "/bigcommerce/stores/abc123/v2/orders"),
        0
    );
    assert!(app.drain("order-processor.orders").await.is_empty());

    let metrics = app.metrics().await;
    assert!(
        metrics.contains("webhook_health_reactivations_total"),
        "{metrics}"
    );
    assert!(
        metrics.contains("webhook_health_creations_total"),
        "{metrics}"
    );
    assert!(metrics.contains("webhook_health_hooks"), "{metrics}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hooks_on_other_destinations_are_left_untouched() {
    let mut seed = Seed::default_fixtures();
    let foreign = json!({
        "id": 555, "client_id": "someone-else", "store_hash": STORE,
        "scope": "store/order/updated", "destination": "https://other.example.com/hooks",
        "headers": null, "is_active": false, "created_at": 1561488106, "updated_at": 1564000000
    });
    seed.stores
        .get_mut(STORE)
        .unwrap()
        .hooks
        .push(foreign.clone());
    let mut app = TestApp::prepare(seed, &[("CONNECTOR__WEBHOOK_HEALTH__BACKFILL", "false")]).await;
    app.start_instance().await;

    assert!(app.wait_all_active().await);
    assert!(app.wait_more_runs(1).await);
    let now = app
        .sandbox
        .hooks(STORE)
        .into_iter()
        .find(|h| h["id"] == 555)
        .unwrap();
    assert_eq!(now, foreign);
    assert_eq!(app.sandbox.count("PUT", &format!("{HOOKS}/555")), 0);
    // Its scope got a hook of our own.
    assert!(app
        .sandbox
        .hooks(STORE)
        .iter()
        .any(|h| h["scope"] == "store/order/updated"
            && h["destination"] == DESTINATION
            && h["is_active"] == true));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hook_deactivated_later_is_reactivated_within_one_interval() {
    let app = TestApp::spawn_with(&[("CONNECTOR__WEBHOOK_HEALTH__BACKFILL", "false")]).await;
    assert!(app.wait_all_active().await);

    let mut hook = app
        .sandbox
        .hooks(STORE)
        .into_iter()
        .find(|h| h["id"] == 18048287)
        .unwrap();
    hook["is_active"] = json!(false);
    app.sandbox.put_hook(STORE, hook);

    assert!(
        eventually(Duration::from_secs(5), || async {
            app.sandbox.count("PUT", &format!("{HOOKS}/18048287")) == 1
        })
        .await,
        "re-activated within a few 1 s intervals"
    );
    assert!(app.wait_all_active().await);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_message_runs_a_check_at_once() {
    // An interval far longer than the test: only the start-up run and the command act.
    let app = TestApp::spawn_with(&[
        ("CONNECTOR__WEBHOOK_HEALTH__INTERVAL_SECS", "3600"),
        ("CONNECTOR__WEBHOOK_HEALTH__BACKFILL", "false"),
    ])
    .await;
    assert!(app.wait_all_active().await);
    assert!(eventually(WAIT, || async { app.completed_checks().await == 1 }).await);

    let mut hook = app
        .sandbox
        .hooks(STORE)
        .into_iter()
        .find(|h| h["id"] == 18048287)
        .unwrap();
    hook["is_active"] = json!(false);
    app.sandbox.put_hook(STORE, hook);
    app.publish_check(&json!({"storeHash": STORE})).await;

    assert!(
        eventually(WAIT, || async {
            app.sandbox.count("PUT", &format!("{HOOKS}/18048287")) == 1
        })
        .await
    );
    assert!(app.wait_all_active().await);
    assert!(eventually(WAIT, || async { app.completed_checks().await == 2 }).await);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bigcommerce_errors_during_a_check_do_not_stop_the_service() {
    let mut app = TestApp::prepare(
        Seed::default_fixtures(),
        &[
            ("CONNECTOR__WEBHOOK_HEALTH__BACKFILL", "false"),
            ("CONNECTOR__BIGCOMMERCE__MAX_RETRIES", "1"),
        ],
    )
    .await;
    // Enough failures to exhaust the client's retries on the first runs.
    app.sandbox.inject(Fault::status(
        Target::BigCommerce,
        "/stores/abc123/v3/hooks",
        4,
        503,
    ));
    app.sandbox.inject(Fault::status(
        Target::BigCommerce,
        "/stores/abc123/v3/hooks",
        1,
        429,
    ));
    app.start_instance().await;

    assert!(app.wait_all_active().await, "a later run completes");
    let errors = app.rows("error").await;
    assert!(!errors.is_empty(), "the failed run is recorded");
    assert!(errors
        .iter()
        .any(|(_, _, _, _, detail)| detail.as_deref().unwrap_or("").contains("503")));
    assert_eq!(
        app.sandbox
            .count("PUT", &format!("{HOOKS}/{INACTIVE_HOOK}")),
        1
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_against_one_store_do_not_double_act() {
    let mut app = TestApp::prepare(
        Seed::default_fixtures(),
        &[("CONNECTOR__WEBHOOK_HEALTH__BACKFILL", "false")],
    )
    .await;
    // Slow hook listings widen the window in which both would act.
    app.sandbox.inject(Fault {
        target: Target::BigCommerce,
        method: Some("GET".into()),
        path_prefix: "/stores/abc123/v3/hooks".into(),
        times: 6,
        status: None,
        latency_ms: Some(300),
        headers: Vec::new(),
        body: None,
    });
    app.start_instance().await;
    app.start_instance().await;

    assert!(app.wait_all_active().await);
    assert!(app.wait_more_runs(2).await);
    assert_eq!(app.sandbox.count("POST", HOOKS), missing_in_fixtures());
    assert_eq!(app.sandbox.count("PUT", HOOKS), 1);
    assert_eq!(app.rows("create").await.len(), missing_in_fixtures());
    assert_eq!(app.rows("reactivate").await.len(), 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_locked_by_another_replica_is_skipped() {
    let app = TestApp::prepare(Seed::default_fixtures(), &[]).await;
    let settings = app.settings();
    let publisher = Arc::new(Publisher::new(
        app.broker.clone(),
        1,
        Duration::from_secs(5),
    ));
    let checker = Checker::new(
        CheckerConfig::from_settings(&settings),
        app.db.pool.clone(),
        HttpClients::new(&settings).unwrap(),
        publisher,
        app.topology().events_exchange(),
    );
    let store = {
        let mut conn = db::conn(&app.db.pool).await.unwrap();
        stores::list(&mut conn).await.unwrap().remove(0)
    };
    // Another "replica" holds the store's lock on its own session.
    let mut other = db::conn(&app.db.pool).await.unwrap();
    diesel::sql_query(format!(
        "SELECT pg_advisory_lock({}, hashtext('{STORE}'))",
        webhook_health::checker::LOCK_CLASS
    ))
    .execute(&mut other)
    .await
    .unwrap();

    let report = checker.check_store(&store).await.unwrap();
    assert!(report.skipped);
    assert_eq!(app.sandbox.count("GET", HOOKS), 0);

    diesel::sql_query(format!(
        "SELECT pg_advisory_unlock({}, hashtext('{STORE}'))",
        webhook_health::checker::LOCK_CLASS
    ))
    .execute(&mut other)
    .await
    .unwrap();
    let report = checker.check_store(&store).await.unwrap();
    assert!(!report.skipped);
    assert_eq!(report.reactivated, 1);
    assert_eq!(report.created, missing_in_fixtures());
    app.stop().await;
}
