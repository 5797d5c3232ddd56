use domain::channel::ContactTypeMode;
use lapin::types::AMQPValue;
use platform::amqp::message;
use sandbox::{Fault, Target};
use serde_json::Value;

use crate::helpers::*;

const ORDERS_PATH: &str = "/engage/api/v3/orders";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_created_order_is_posted_to_engage_exactly_once_with_mapped_fields() {
    let app = TestApp::spawn().await;
    app.publish(ORDER_CREATED, "evt-created").await;

    let row = app.wait_row(250, |r| r.status == "sent").await;
    assert_eq!(row.engage_order_id.as_deref(), Some("250"));
    assert_eq!(row.attempts, 0);
    assert!(row.was_sent);
    assert_eq!(app.sb.count("POST", ORDERS_PATH), 1);
    assert_eq!(app.sb.count("PUT", ORDERS_PATH), 0);
    let posted = app.engage_bodies("POST", "/api/v3/orders");
    let order = &posted[0];
    assert_eq!(order["orderId"], "250");
    assert_eq!(order["status"], "Pending");
    assert_eq!(order["externalStoreId"], "SE-WEB");
    assert_eq!(order["contact"]["matchKey"], "jane.doe@example.com");
    assert_eq!(order["contact"]["matchKeyType"], "Email");
    assert_eq!(order["lineItems"]["items"].as_array().unwrap().len(), 2);
    // The contact was created first, as a member (all-member mode).
    let contacts = app.engage_bodies("POST", "/api/v3/contacts");
    assert_eq!(contacts.len(), 1);
    assert_eq!(contacts[0]["email"], "jane.doe@example.com");
    assert_eq!(contacts[0]["contactType"], "Member");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_later_event_replaces_the_order_instead_of_creating_it_again() {
    let app = TestApp::spawn().await;
    app.publish(ORDER_CREATED, "evt-created").await;
    app.wait_row(250, |r| r.status == "sent").await;

    app.publish(ORDER_UPDATED, "evt-updated").await;
    app.wait_row(250, |r| r.status == "sent" && r.revision == 2)
        .await;
    assert!(
        platform::testing::eventually(WAIT, || async { app.sb.count("PUT", ORDERS_PATH) == 1 })
            .await
    );
    assert_eq!(app.sb.count("POST", ORDERS_PATH), 1);
    assert_eq!(app.sb.count("PUT", "/engage/api/v3/orders/250"), 1);
    // The contact exists now: it is not created a second time.
    assert_eq!(app.sb.count("POST", "/engage/api/v3/contacts"), 1);
    assert_eq!(app.sb.engage_orders().len(), 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refund_status_updates_are_ignored_and_not_staged() {
    // Prefetch 1: events are handled one after the other, in publish order.
    let app = TestApp::spawn_with(Options {
        overrides: vec![("CONNECTOR__AMQP__PREFETCH", "1".into())],
        ..Options::default()
    })
    .await;
    app.publish(ORDER_STATUS_REFUNDED, "evt-status-4").await;
    app.publish(ORDER_STATUS_PARTIALLY_REFUNDED, "evt-status-14")
        .await;
    app.publish(ORDER_CREATED, "evt-created").await;

    let row = app.wait_row(250, |r| r.status == "sent").await;
    assert_eq!(row.revision, 1, "only the created event was staged");
    assert!(!app.processed("evt-status-4").await);
    assert!(!app.processed("evt-status-14").await);
    assert_eq!(app.sb.count("POST", ORDERS_PATH), 1);
    assert_eq!(app.sb.count("PUT", ORDERS_PATH), 0);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_delivery_is_skipped_but_a_replay_is_not() {
    let app = TestApp::spawn_with(Options {
        overrides: vec![("CONNECTOR__AMQP__PREFETCH", "1".into())],
        ..Options::default()
    })
    .await;
    app.publish(ORDER_CREATED, "evt-1").await;
    app.wait_row(250, |r| r.status == "sent").await;
    app.publish(ORDER_CREATED, "evt-1").await;
    app.publish(ORDER_UPDATED, "evt-2").await;

    let row = app
        .wait_row(250, |r| r.status == "sent" && r.revision >= 2)
        .await;
    assert_eq!(row.revision, 2, "the duplicate was not staged");
    assert!(
        platform::testing::eventually(WAIT, || async { app.sb.count("PUT", ORDERS_PATH) == 1 })
            .await
    );
    assert_eq!(app.sb.count("POST", ORDERS_PATH), 1);

    // An operator's replay of an event already seen is processed again.
    app.publish_with(ORDER_CREATED, "evt-1", true).await;
    let row = app
        .wait_row(250, |r| r.status == "sent" && r.revision == 3)
        .await;
    assert_eq!(row.revision, 3);
    assert!(
        platform::testing::eventually(WAIT, || async { app.sb.count("PUT", ORDERS_PATH) == 2 })
            .await
    );
    assert_eq!(app.sb.count("POST", ORDERS_PATH), 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_is_sent_on_the_third_attempt_after_two_engage_503s() {
    let app = TestApp::spawn().await;
    app.sb
        .inject(Fault::status(Target::Engage, "/api/v3/orders", 2, 503));
    app.publish(ORDER_CREATED, "evt-created").await;

    let row = app.wait_row(250, |r| r.status == "sent").await;
    assert_eq!(app.sb.count("POST", ORDERS_PATH), 3);
    assert_eq!(row.attempts, 0);
    assert_eq!(row.last_error, None);
    assert_eq!(row.engage_order_id.as_deref(), Some("250"));
    assert_eq!(app.sb.engage_orders().len(), 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_failing_every_attempt_is_marked_failed_and_dead_lettered_once() {
    let app = TestApp::spawn_with(Options {
        overrides: vec![("CONNECTOR__ORDER_PROCESSOR__MAX_ATTEMPTS", "3".into())],
        ..Options::default()
    })
    .await;
    app.sb
        .inject(Fault::status(Target::Engage, "/api/v3/orders", 1000, 503));
    app.publish(ORDER_CREATED, "evt-created").await;

    let row = app.wait_row(250, |r| r.status == "failed").await;
    assert_eq!(row.attempts, 3);
    assert!(row.last_error.as_deref().unwrap().contains("503"));
    assert_eq!(row.engage_order_id, None);
    assert_eq!(app.sb.count("POST", ORDERS_PATH), 3);

    let dlq = app.ns.topology.dead_letter_queue("order-processor.orders");
    assert!(platform::testing::eventually(WAIT, || async { app.queue_len(&dlq).await == 1 }).await);
    let dead = app.take(&dlq).await.expect("a dead letter");
    let headers = dead.delivery.properties.headers().clone().unwrap();
    assert!(message::get_str(&headers, message::DEAD_REASON)
        .unwrap()
        .contains("503"));
    assert_eq!(
        message::get_str(&headers, message::ORIGINAL_ROUTING_KEY).as_deref(),
        Some("store.order.created")
    );
    assert_eq!(message::get_int(&headers, message::ATTEMPTS), Some(3));
    assert_eq!(
        dead.delivery
            .properties
            .message_id()
            .as_ref()
            .map(|s| s.as_str()),
        Some("evt-created")
    );
    let body: Value = serde_json::from_slice(&dead.delivery.data).unwrap();
    assert_eq!(body["data"]["id"], 250);
    assert_eq!(body["producer"], "stores/abc123");
    assert!(!matches!(
        headers.inner().get(message::REPLAY),
        Some(AMQPValue::Boolean(true))
    ));
    // No further attempt, no second dead letter.
    assert_eq!(app.queue_len(&dlq).await, 0);
    assert_eq!(app.order_row(250).await.unwrap().attempts, 3);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_final_engage_error_fails_the_order_without_retrying() {
    let app = TestApp::spawn().await;
    app.sb
        .inject(Fault::status(Target::Engage, "/api/v3/orders", 1000, 400));
    app.publish(ORDER_CREATED, "evt-created").await;

    let row = app.wait_row(250, |r| r.status == "failed").await;
    assert_eq!(row.attempts, 1);
    assert_eq!(app.sb.count("POST", ORDERS_PATH), 1);
    let dlq = app.ns.topology.dead_letter_queue("order-processor.orders");
    assert!(platform::testing::eventually(WAIT, || async { app.queue_len(&dlq).await == 1 }).await);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_of_an_unconfigured_channel_is_dropped_without_calling_engage() {
    let app = TestApp::spawn_with(Options {
        channel: false,
        ..Options::default()
    })
    .await;
    app.publish(ORDER_CREATED, "evt-created").await;

    let row = app.wait_row(250, |r| r.status == "skipped").await;
    assert_eq!(row.last_error.as_deref(), Some("unmatched_channel"));
    assert_eq!(app.engage_calls(), 0);
    app.stop().await;
}

fn guest_order(id: u64) -> (Value, Value, Value) {
    let mut order: Value = serde_json::from_str(V2_ORDER_250).unwrap();
    order["id"] = id.into();
    order["customer_id"] = 0.into();
    order["billing_address"]["email"] = "guest@example.com".into();
    let mut products: Value = serde_json::from_str(V2_ORDER_250_PRODUCTS).unwrap();
    for p in products.as_array_mut().unwrap() {
        p["order_id"] = id.into();
    }
    let shipping: Value = serde_json::from_str(V2_ORDER_250_SHIPPING).unwrap();
    (order, products, shipping)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guests_become_contacts_and_account_holders_members_in_member_and_contact_mode() {
    let app = TestApp::spawn_with(Options {
        mode: ContactTypeMode::MemberAndContact,
        ..Options::default()
    })
    .await;
    let (order, products, shipping) = guest_order(251);
    app.sb.put_order(STORE, order, products, shipping);
    app.publish(&with_id(ORDER_CREATED, 251), "evt-guest").await;
    app.publish(ORDER_CREATED, "evt-member").await;

    app.wait_row(251, |r| r.status == "sent").await;
    app.wait_row(250, |r| r.status == "sent").await;
    let contacts = app.engage_bodies("POST", "/api/v3/contacts");
    let type_of = |email: &str| {
        contacts
            .iter()
            .find(|c| c["email"] == email)
            .map(|c| c["contactType"].clone())
    };
    assert_eq!(type_of("guest@example.com"), Some("Contact".into()));
    assert_eq!(type_of("jane.doe@example.com"), Some("Member".into()));
    let guest = contacts
        .iter()
        .find(|c| c["email"] == "guest@example.com")
        .unwrap();
    assert!(guest.get("externalId").is_none());
    assert_eq!(app.sb.count("POST", ORDERS_PATH), 2);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incomplete_order_is_staged_but_not_sent() {
    let app = TestApp::spawn().await;
    let (mut order, products, shipping) = guest_order(252);
    order["status_id"] = 0.into();
    order["status"] = "Incomplete".into();
    app.sb.put_order(STORE, order, products, shipping);
    app.publish(&with_id(ORDER_CREATED, 252), "evt-incomplete")
        .await;

    let row = app.wait_row(252, |r| r.status == "skipped").await;
    assert_eq!(row.engage_order_id, None);
    assert_eq!(app.sb.count("POST", ORDERS_PATH), 0);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refund_replaces_the_order_with_refunded_quantities() {
    let app = TestApp::spawn().await;
    app.publish(ORDER_CREATED, "evt-created").await;
    app.wait_row(250, |r| r.status == "sent").await;

    let posted = &app.engage_bodies("POST", "/api/v3/orders")[0];
    assert!(posted["lineItems"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["refundedQuantity"] == 0));

    app.publish(ORDER_REFUND_CREATED, "evt-refund").await;
    app.wait_row(250, |r| r.status == "sent" && r.revision == 2)
        .await;
    assert!(
        platform::testing::eventually(WAIT, || async { app.sb.count("PUT", ORDERS_PATH) == 1 })
            .await
    );
    let put = &app.engage_bodies("PUT", "/api/v3/orders/250")[0];
    let items = put["lineItems"]["items"].as_array().unwrap();
    assert!(
        items.iter().any(|i| i["refundedQuantity"] == 1),
        "no refunded line in {put}"
    );
    assert!(put.get("refunds").is_some(), "no refunds in {put}");
    assert_eq!(app.sb.count("POST", ORDERS_PATH), 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_waits_at_least_the_retry_after_before_the_next_attempt() {
    let app = TestApp::spawn().await;
    app.sb.inject(
        Fault::status(Target::Engage, "/api/v3/orders", 1, 429).with_header("Retry-After", "2"),
    );
    app.publish(ORDER_CREATED, "evt-created").await;

    app.wait_row(250, |r| r.status == "sent").await;
    let posts: Vec<u128> = app
        .sb
        .requests_to(ORDERS_PATH)
        .into_iter()
        .filter(|r| r.method == "POST")
        .map(|r| r.at_ms)
        .collect();
    assert_eq!(posts.len(), 2);
    assert!(
        posts[1] - posts[0] >= 1900,
        "retried after {} ms",
        posts[1] - posts[0]
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_never_create_the_same_order_twice() {
    let app = TestApp::spawn().await;
    let second = app.another_instance().await;
    let ids: Vec<u64> = (300..310).collect();
    for id in &ids {
        let (mut order, products, shipping) = guest_order(*id);
        order["customer_id"] = 32.into();
        order["billing_address"]["email"] = "jane.doe@example.com".into();
        app.sb.put_order(STORE, order, products, shipping);
    }
    // Engage answers slowly, so syncs overlap with the events still arriving.
    app.sb
        .inject(Fault::latency(Target::Engage, "/api/v3/orders", 1000, 50));
    for round in 0..3 {
        for id in &ids {
            let body = if round == 0 {
                ORDER_CREATED
            } else {
                ORDER_UPDATED
            };
            app.publish(&with_id(body, *id), &format!("evt-{id}-{round}"))
                .await;
        }
    }
    for id in &ids {
        app.wait_row(*id as i64, |r| r.status == "sent" && r.revision == 3)
            .await;
    }
    for id in &ids {
        let key = id.to_string();
        assert_eq!(
            app.engage_bodies("POST", "/api/v3/orders")
                .iter()
                .filter(|o| o["orderId"] == key.as_str())
                .count(),
            1,
            "order {id} was created more than once"
        );
    }
    let conflicts = app
        .sb
        .requests_to(ORDERS_PATH)
        .into_iter()
        .filter(|r| r.status == 409)
        .count();
    assert_eq!(conflicts, 0);
    // Ten concurrent syncs for one new e-mail created its contact once.
    assert_eq!(app.sb.count("POST", "/engage/api/v3/contacts"), 1);
    second.stop().await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_whose_worker_died_is_taken_over_after_its_lease() {
    let app = TestApp::spawn().await;
    {
        use diesel_async::RunQueryDsl;
        let mut conn = platform::db::conn(&app.db.pool).await.unwrap();
        diesel::sql_query(
            "INSERT INTO orders (store_hash, order_id, status, last_event_id, last_scope, \
                                 locked_until) \
             VALUES ('abc123', 250, 'processing', 'evt-lost', 'store/order/created', \
                     now() - interval '1 second')",
        )
        .execute(&mut *conn)
        .await
        .unwrap();
    }
    app.wait_row(250, |r| r.status == "sent").await;
    assert_eq!(app.sb.count("POST", ORDERS_PATH), 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metrics_endpoint_shows_the_order_counters() {
    let app = TestApp::spawn().await;
    app.publish(ORDER_STATUS_REFUNDED, "evt-status-4").await;
    app.publish(ORDER_CREATED, "evt-created").await;
    app.wait_row(250, |r| r.status == "sent").await;

    let url = format!("http://{}/metrics", app.metrics_addr());
    let found = platform::testing::eventually(WAIT, || async {
        let text = reqwest::get(&url).await.unwrap().text().await.unwrap();
        text.contains("order_processor_orders_staged_total")
            && text.contains("order_processor_order_syncs_total")
            && text.contains("ignored_refund_status")
    })
    .await;
    assert!(found);
    let ready = reqwest::get(format!("http://{}/readyz", app.metrics_addr()))
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    app.stop().await;
}
