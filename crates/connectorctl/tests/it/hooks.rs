//! `connectorctl hooks …`: the recorded webhook states and on-demand check requests.

use std::process::{Command, Output};

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use platform::db::{self, schema::webhook_checks};
use platform::testing::{amqp_url, TestDb, TestNamespace};
use secrecy::ExposeSecret;

use super::{assert_one_line_failure, stderr, stdout, ADD_STORE};

fn ctl(db: &TestDb, ns: Option<&TestNamespace>, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_connectorctl"));
    command
        .args(args)
        .env("CONNECTOR__DATABASE__URL", db.url.expose_secret())
        .env("CONNECTOR_CONFIG_DIR", "/nonexistent")
        .env("CONNECTOR__AMQP__URL", amqp_url());
    if let Some(ns) = ns {
        command.env("CONNECTOR__AMQP__NAMESPACE", &ns.namespace);
    }
    command.output().expect("run connectorctl")
}

async fn record(db: &TestDb, hook_id: i64, scope: &str, action: &str, after: &str) {
    let mut conn = db::conn(&db.pool).await.unwrap();
    diesel::insert_into(webhook_checks::table)
        .values((
            webhook_checks::store_hash.eq("abc123"),
            webhook_checks::hook_id.eq(Some(hook_id)),
            webhook_checks::scope.eq(scope),
            webhook_checks::action.eq(action),
            webhook_checks::after.eq(Some(after)),
        ))
        .execute(&mut conn)
        .await
        .unwrap();
}

#[tokio::test]
async fn hooks_list_shows_the_last_recorded_state_per_scope() {
    let db = TestDb::new().await;
    assert!(ctl(&db, None, ADD_STORE).status.success());
    record(&db, 1, "store/order/created", "check", "inactive").await;
    record(&db, 1, "store/order/created", "reactivate", "active").await;
    record(&db, 2, "store/cart/converted", "create", "active").await;

    let o = ctl(&db, None, &["hooks", "list", "--store", "abc123", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let rows: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[0]["scope"], "store/cart/converted");
    assert_eq!(rows[1]["scope"], "store/order/created");
    assert_eq!(rows[1]["state"], "active");
    assert_eq!(rows[1]["lastAction"], "reactivate");
    assert_eq!(rows[1]["hookId"], 1);

    let o = ctl(&db, None, &["hooks", "list"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("store/order/created"));

    assert_one_line_failure(
        &ctl(&db, None, &["hooks", "list", "--store", "zzz999"]),
        "no store zzz999",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hooks_check_publishes_one_check_command_per_store() {
    let db = TestDb::new().await;
    let ns = TestNamespace::new();
    let broker = ns.broker("connectorctl-hooks-it").await;
    assert!(ctl(&db, None, ADD_STORE).status.success());

    let o = ctl(&db, Some(&ns), &["hooks", "check"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("requested a webhook check of abc123"));

    let queue = ns.topology.queue("webhook-health.commands");
    let got = platform::testing::take_message(&broker, &queue, std::time::Duration::from_secs(5))
        .await
        .expect("a command in the queue");
    assert_eq!(got.routing_key.as_str(), "webhook_health.check");
    let body: serde_json::Value = serde_json::from_slice(&got.data).unwrap();
    assert_eq!(body, serde_json::json!({"storeHash": "abc123"}));
    broker.close().await;

    assert_one_line_failure(
        &ctl(&db, Some(&ns), &["hooks", "check", "--store", "zzz999"]),
        "no store zzz999",
    );
}
