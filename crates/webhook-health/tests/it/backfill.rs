//! Back-fill after a re-activation: exactly the changes in the window, once.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use platform::amqp::Publisher;
use platform::db::{self, schema::processed_events, stores};
use platform::http::HttpClients;
use platform::testing::eventually;
use sandbox::Seed;
use serde_json::{json, Value};
use time::macros::datetime;
use webhook_health::{Checker, CheckerConfig};

use crate::helpers::{TestApp, STORE, WAIT};

fn fixture_order() -> Value {
    let seed = Seed::default_fixtures();
    seed.stores[STORE].orders[0].order.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_publishes_exactly_the_changes_since_the_last_event_once() {
    let app = TestApp::prepare(Seed::default_fixtures(), &[]).await;
    // The last event the connector processed for the store.
    {
        let mut conn = db::conn(&app.db.pool).await.unwrap();
        diesel::insert_into(processed_events::table)
            .values((
                processed_events::consumer.eq("order-processor"),
                processed_events::event_id.eq("evt-last"),
                processed_events::store_hash.eq(Some(STORE)),
                processed_events::processed_at.eq(datetime!(2025-12-02 00:00 UTC)),
            ))
            .execute(&mut conn)
            .await
            .unwrap();
    }
    // Order 250 (fixture) changed on 3 Dec: in the window. 251 before it, 252 after.
    let mut before = fixture_order();
    before["id"] = json!(251);
    before["date_modified"] = json!("Sat, 01 Nov 2025 08:00:00 +0000");
    app.sandbox.put_order(STORE, before, json!([]), json!([]));
    let mut after = fixture_order();
    after["id"] = json!(252);
    after["date_modified"] = json!("Thu, 04 Dec 2025 08:00:00 +0000");
    app.sandbox.put_order(STORE, after, json!([]), json!([]));
    // The fixture customers changed on 1 Dec (before the window); 900 after it.
    app.sandbox.put_customer(
        STORE,
        json!({"id": 900, "email": "new@example.com", "first_name": "New", "last_name": "Person",
               "date_created": "2025-12-05T10:00:00Z", "date_modified": "2025-12-05T10:00:00Z",
               "customer_group_id": 0, "addresses": []}),
    );
    let mut app = app;
    app.start_instance().await;

    assert!(app.wait_all_active().await);
    assert!(
        eventually(WAIT, || async {
            app.rows("backfill_done").await.len() == 2
        })
        .await,
        "both windows are closed"
    );
    // More runs must publish nothing more.
    assert!(app.wait_more_runs(2).await);

    let orders = app.drain("order-processor.orders").await;
    let order_ids: BTreeSet<i64> = orders
        .iter()
        .map(|(_, _, body)| body["data"]["id"].as_i64().unwrap())
        .collect();
    assert_eq!(order_ids, BTreeSet::from([250, 252]));
    assert_eq!(orders.len(), 2, "{orders:?}");
    for (id, backfill, body) in &orders {
        assert!(backfill, "x-backfill is set");
        assert!(id.starts_with("backfill-abc123-order-"), "{id}");
        assert_eq!(body["scope"], "store/order/updated");
        assert_eq!(body["data"]["type"], "order");
        assert_eq!(body["producer"], "stores/abc123");
    }
    let customers = app.drain("order-processor.contacts").await;
    assert_eq!(customers.len(), 1, "{customers:?}");
    let (id, backfill, body) = &customers[0];
    assert!(backfill);
    assert!(id.starts_with("backfill-abc123-customer-900-"), "{id}");
    assert_eq!(body["scope"], "store/customer/updated");
    assert_eq!(body["data"], json!({"type": "customer", "id": 900}));

    assert_eq!(app.rows("backfill").await.len(), 3);
    let metrics = app.metrics().await;
    assert!(
        metrics.contains("webhook_health_backfilled_events_total"),
        "{metrics}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_processed_event_the_window_starts_when_the_hook_went_inactive() {
    let mut app = TestApp::prepare(Seed::default_fixtures(), &[]).await;
    app.start_instance().await;

    assert!(
        eventually(WAIT, || async {
            app.rows("backfill_done").await.len() == 2
        })
        .await
    );
    let windows = app.rows("backfill_window").await;
    assert!(windows
        .iter()
        .all(|(_, _, _, _, since)| since.as_deref() == Some("2019-07-24T20:26:40Z")));
    // Everything in the fixtures changed after 2019: one order, four customers.
    assert_eq!(app.drain("order-processor.orders").await.len(), 1);
    assert_eq!(app.drain("order-processor.contacts").await.len(), 4);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_larger_than_one_run_continues_on_the_next_run() {
    let app = TestApp::prepare(Seed::default_fixtures(), &[]).await;
    // 300 orders changed one minute apart, ids in the same order as their changes.
    for n in 0..300i64 {
        let mut order = fixture_order();
        order["id"] = json!(1000 + n);
        let at = datetime!(2025-12-10 00:00 UTC) + time::Duration::minutes(n);
        order["date_modified"] = json!(at
            .format(&time::format_description::well_known::Rfc2822)
            .unwrap());
        app.sandbox.put_order(STORE, order, json!([]), json!([]));
    }
    let settings = app.settings();
    let checker = Checker::new(
        CheckerConfig {
            backfill_max_pages: 1,
            ..CheckerConfig::from_settings(&settings)
        },
        app.db.pool.clone(),
        HttpClients::new(&settings).unwrap(),
        Arc::new(Publisher::new(
            app.broker.clone(),
            1,
            Duration::from_secs(5),
        )),
        app.topology().events_exchange(),
    );
    let store = {
        let mut conn = db::conn(&app.db.pool).await.unwrap();
        stores::list(&mut conn).await.unwrap().remove(0)
    };

    let first = checker.check_store(&store).await.unwrap();
    assert_eq!(first.reactivated, 1);
    // One page of orders (250 of 301) and the four fixture customers.
    assert_eq!(first.backfilled, 250 + 4);
    let second = checker.check_store(&store).await.unwrap();
    assert_eq!(second.reactivated, 0);
    assert_eq!(second.backfilled, 301 - 250);
    let third = checker.check_store(&store).await.unwrap();
    assert_eq!(third.backfilled, 0);

    let orders = app.drain("order-processor.orders").await;
    let ids: BTreeSet<String> = orders.iter().map(|(id, _, _)| id.clone()).collect();
    assert_eq!(orders.len(), 301, "each change published once");
    assert_eq!(ids.len(), 301);
    assert_eq!(app.rows("backfill_done").await.len(), 2);
    app.stop().await;
}
