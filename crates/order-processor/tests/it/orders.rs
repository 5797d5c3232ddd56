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
    let order_of = |r: &sandbox::RecordedRequest| r.method == "POST" && r.path == ORDERS_PATH;
    let contact_of =
        |r: &sandbox::RecordedRequest| r.method == "POST" && r.path == "/engage/api/v3/contacts";
    let requests = app.sb.requests();
    let (contact_at, order_at) = (
        requests
            .iter()
            .position(contact_of)
            .expect("contact created"),
        requests.iter().position(order_of).expect("order posted"),
    );
    assert!(contact_at < order_at, "the contact exists before its order");
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
async fn a_status_update_and_an_archiving_are_staged_and_replace_the_order() {
    let app = TestApp::spawn().await;
    app.publish(ORDER_CREATED, "evt-created").await;
    app.wait_row(250, |r| r.status == "sent").await;

    // A status other than the refund ones (here 11) is staged like any update.
    app.publish(ORDER_STATUS_UPDATED, "evt-status-11").await;
    app.wait_row(250, |r| r.status == "sent" && r.revision == 2)
        .await;
    app.publish(ORDER_ARCHIVED, "evt-archived").await;
    app.wait_row(250, |r| r.status == "sent" && r.revision == 3)
        .await;
    assert!(app.processed("evt-archived").await);
    assert!(
        platform::testing::eventually(WAIT, || async {
            app.sb.count("PUT", "/engage/api/v3/orders/250") == 2
        })
        .await
    );
    assert_eq!(app.sb.count("POST", ORDERS_PATH), 1);
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
async fn each_channel_sends_with_its_own_engage_configuration() {
    let app = TestApp::spawn().await;
    app.add_channel(2, "NO-WEB", "engage-key-no", "NO-").await;
    let (mut order, products, shipping) = guest_order(251);
    order["channel_id"] = 2.into();
    app.sb.put_order(STORE, order, products, shipping);
    app.publish(&with_id(ORDER_CREATED, 251), "evt-channel-2")
        .await;
    app.publish(ORDER_CREATED, "evt-channel-1").await;
    app.wait_row(251, |r| r.status == "sent").await;
    app.wait_row(250, |r| r.status == "sent").await;

    let creates = app.sb.requests_to(ORDERS_PATH);
    let sent: Vec<(String, String, String)> = {
        let mut sent: Vec<_> = creates
            .iter()
            .filter(|r| r.method == "POST" && (200..300).contains(&r.status))
            .map(|r| {
                (
                    r.body["orderId"].as_str().unwrap_or_default().to_owned(),
                    r.body["externalStoreId"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                    r.header("apikey").unwrap_or_default().to_owned(),
                )
            })
            .collect();
        sent.sort();
        sent
    };
    assert_eq!(
        sent,
        [
            ("250".into(), "SE-WEB".into(), "engage-key".into()),
            ("NO-251".into(), "NO-WEB".into(), "engage-key-no".into()),
        ]
    );
    app.stop().await;
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

    // Once the shopper completes it, its status update sends it.
    let (order, products, shipping) = guest_order(252);
    app.sb.put_order(STORE, order, products, shipping);
    app.publish(&with_id(ORDER_STATUS_UPDATED, 252), "evt-completed")
        .await;
    let row = app.wait_row(252, |r| r.status == "sent").await;
    assert_eq!(row.engage_order_id.as_deref(), Some("252"));
    assert_eq!(app.sb.count("POST", ORDERS_PATH), 1);
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_event_naming_an_unconfigured_channel_is_dropped_before_staging() {
    // Prefetch 1: the second event is handled only after the first.
    let app = TestApp::spawn_with(Options {
        overrides: vec![("CONNECTOR__AMQP__PREFETCH", "1".into())],
        ..Options::default()
    })
    .await;
    let mut body: Value = serde_json::from_str(&with_id(ORDER_CREATED, 260)).unwrap();
    body["channel_id"] = 9.into();
    app.publish(&body.to_string(), "evt-channel-9").await;
    app.publish(ORDER_CREATED, "evt-created").await;

    app.wait_row(250, |r| r.status == "sent").await;
    assert!(
        app.order_row(260).await.is_none(),
        "the dropped event was staged"
    );
    assert!(!app.processed("evt-channel-9").await);
    assert_eq!(
        app.sb
            .count("GET", "/bigcommerce/stores/abc123/v2/orders/260"),
        0,
        "no BigCommerce call for a dropped event"
    );
    assert!(app
        .engage_bodies("POST", "/api/v3/orders")
        .iter()
        .all(|o| o["orderId"] != "260"));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_order_of_a_known_contact_costs_four_vendor_calls() {
    let app = TestApp::spawn_with(Options {
        overrides: vec![("CONNECTOR__AMQP__PREFETCH", "1".into())],
        ..Options::default()
    })
    .await;
    // The customer's own event links customer 32 to its Engage contact.
    app.publish(CUSTOMER_CREATED, "evt-customer").await;
    app.wait_processed("evt-customer").await;
    let link = app.contact_link(32).await.expect("a stored link");
    app.sb.clear_requests();

    app.publish(ORDER_CREATED, "evt-created").await;
    app.wait_row(250, |r| r.status == "sent").await;
    let mut calls = app.vendor_calls();
    calls.sort();
    assert_eq!(
        calls,
        vec![
            "GET /bigcommerce/stores/abc123/v2/orders/250",
            "GET /bigcommerce/stores/abc123/v2/orders/250/products",
            "GET /bigcommerce/stores/abc123/v2/orders/250/shipping_addresses",
            "POST /engage/api/v3/orders",
        ]
    );
    let order = app.sb.engage_order("250").expect("order 250 in Engage");
    assert_eq!(order["contact"]["matchKey"], "jane.doe@example.com");
    assert!(app
        .sb
        .engage_contacts()
        .iter()
        .any(|c| c["id"] == link.engage_contact_id.as_str()));

    // The same customer paying with another e-mail is not known under that one: looked up.
    app.sb.clear_requests();
    let (mut order, products, shipping) = guest_order(253);
    order["customer_id"] = 32.into();
    order["billing_address"]["email"] = "jane.work@example.com".into();
    app.sb.put_order(STORE, order, products, shipping);
    app.publish(&with_id(ORDER_CREATED, 253), "evt-other-email")
        .await;
    app.wait_row(253, |r| r.status == "sent").await;
    assert_eq!(app.sb.count("GET", "/engage/api/v3/contacts/id"), 1);
    assert_eq!(
        created_emails(&app),
        vec!["jane.work@example.com".to_owned()]
    );
    app.stop().await;
}

fn created_emails(app: &TestApp) -> Vec<String> {
    app.engage_bodies("POST", "/api/v3/contacts")
        .iter()
        .filter_map(|c| c["email"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_dead_letter_goes_through_processing_again() {
    let app = TestApp::spawn_with(Options {
        overrides: vec![("CONNECTOR__ORDER_PROCESSOR__MAX_ATTEMPTS", "2".into())],
        ..Options::default()
    })
    .await;
    app.sb
        .inject(Fault::status(Target::Engage, "/api/v3/orders", 2, 503).with_method("POST"));
    app.publish(ORDER_CREATED, "evt-created").await;
    app.wait_row(250, |r| r.status == "failed").await;
    let dlq = app.ns.topology.dead_letter_queue("order-processor.orders");
    assert!(platform::testing::eventually(WAIT, || async { app.queue_len(&dlq).await == 1 }).await);

    // Engage is fine again; the operator replays the dead letter.
    assert_eq!(app.replay_dead_letters("order-processor.orders").await, 1);
    let row = app.wait_row(250, |r| r.status == "sent").await;
    assert_eq!(row.engage_order_id.as_deref(), Some("250"));
    assert_eq!(row.attempts, 0);
    assert_eq!(app.sb.count("POST", ORDERS_PATH), 3);
    assert!(app.sb.engage_order("250").is_some());
    assert_eq!(app.queue_len(&dlq).await, 0);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_slower_than_its_lease_keeps_its_row() {
    let app = TestApp::spawn_with(Options {
        overrides: vec![("CONNECTOR__BIGCOMMERCE__TIMEOUT_MS", "40000".into())],
        ..Options::default()
    })
    .await;
    // A second process polls all along: it would take the row if the lease lapsed.
    let second = app.another_instance().await;
    let lease_ms = order_processor::orders::LEASE.as_millis() as u64;
    app.sb.inject(
        Fault::latency(
            Target::BigCommerce,
            "/stores/abc123/v2/orders/250",
            1,
            lease_ms + 3000,
        )
        .with_method("GET"),
    );
    let published = std::time::Instant::now();
    app.publish(ORDER_CREATED, "evt-created").await;

    let row = app
        .wait_row_within(order_processor::orders::LEASE + WAIT, 250, |r| {
            r.status == "sent"
        })
        .await;
    assert_eq!(row.engage_order_id.as_deref(), Some("250"));
    // Sent by the sync that waited out the slow answer, not by one that took the row over.
    assert!(
        published.elapsed() >= std::time::Duration::from_millis(lease_ms + 3000),
        "sent after {:?}",
        published.elapsed()
    );
    let order_reads = app
        .sb
        .requests_to("/bigcommerce/stores/abc123/v2/orders/250")
        .into_iter()
        .filter(|r| r.path == "/bigcommerce/stores/abc123/v2/orders/250")
        .count();
    assert_eq!(order_reads, 1);
    assert_eq!(
        app.sb
            .count("GET", "/bigcommerce/stores/abc123/v2/orders/250/products"),
        1,
        "a second worker synced the order too"
    );
    assert_eq!(app.sb.count("POST", ORDERS_PATH), 1);
    second.stop().await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_backlog_counts_waiting_and_due_orders_and_the_oldest_wait() {
    use diesel_async::RunQueryDsl;
    let app = TestApp::spawn_with(Options {
        instance: false,
        ..Options::default()
    })
    .await;
    let mut conn = platform::db::conn(&app.db.pool).await.unwrap();
    let empty = order_processor::db::backlog(&mut conn).await.unwrap();
    assert_eq!((empty.waiting, empty.due, empty.lag_ms), (0, 0, 0));
    diesel::sql_query(
        "INSERT INTO orders (store_hash, order_id, status, next_attempt_at, locked_until) VALUES \
         ('abc123', 1, 'pending', now() - interval '30 seconds', NULL), \
         ('abc123', 2, 'pending', now() + interval '1 hour', NULL), \
         ('abc123', 3, 'processing', now() - interval '90 seconds', now() + interval '1 minute'), \
         ('abc123', 4, 'sent', now() - interval '1 day', NULL), \
         ('abc123', 5, 'failed', now() - interval '1 day', NULL)",
    )
    .execute(&mut *conn)
    .await
    .unwrap();
    let backlog = order_processor::db::backlog(&mut conn).await.unwrap();
    assert_eq!(backlog.waiting, 3);
    assert_eq!(backlog.due, 1, "only order 1 is due and free");
    assert!(
        (29_000..60_000).contains(&backlog.lag_ms),
        "lag {} ms",
        backlog.lag_ms
    );
    drop(conn);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metrics_show_events_by_scope_and_outcome_vendor_calls_and_queue_lag() {
    let app = TestApp::spawn().await;
    app.sb
        .inject(Fault::status(Target::Engage, "/api/v3/orders", 1, 503).with_method("POST"));
    let mut headers = lapin::types::FieldTable::default();
    let received = time::OffsetDateTime::now_utc() - time::Duration::seconds(2);
    message::set_str(
        &mut headers,
        message::RECEIVED_AT,
        &received
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap(),
    );
    app.publish_headers(ORDER_CREATED, "evt-created", headers)
        .await;
    app.publish(ORDER_STATUS_REFUNDED, "evt-status-4").await;
    app.publish(CUSTOMER_CREATED, "evt-customer").await;
    app.wait_row(250, |r| r.status == "sent").await;
    app.wait_processed("evt-customer").await;

    let url = format!("http://{}/metrics", app.metrics_addr());
    let wanted: [&[&str]; 10] = [
        &[
            "order_processor_events_total{",
            "scope=\"store/order/created\"",
            "outcome=\"staged\"",
        ],
        &[
            "order_processor_events_total{",
            "scope=\"store/order/statusUpdated\"",
            "outcome=\"ignored_refund_status\"",
        ],
        &[
            "order_processor_events_total{",
            "scope=\"store/customer/created\"",
            "outcome=\"upserted\"",
        ],
        &[
            "order_processor_event_lag_seconds_count{",
            "queue=\"order-processor.orders\"",
        ],
        &["order_processor_order_syncs_total{", "outcome=\"retry\""],
        &[
            "http_client_requests_total{",
            "api=\"engage\"",
            "status=\"503\"",
        ],
        &[
            "http_client_requests_total{",
            "api=\"bigcommerce\"",
            "status=\"200\"",
        ],
        &[
            "order_processor_queue_messages{",
            "queue=\"order-processor.orders\"",
        ],
        &["order_processor_orders_waiting "],
        &["order_processor_order_sync_lag_seconds "],
    ];
    let has =
        |text: &str, parts: &[&str]| text.lines().any(|l| parts.iter().all(|p| l.contains(p)));
    let found = platform::testing::eventually(WAIT, || async {
        let text = reqwest::get(&url).await.unwrap().text().await.unwrap();
        wanted.iter().all(|parts| has(&text, parts))
    })
    .await;
    let text = reqwest::get(&url).await.unwrap().text().await.unwrap();
    let missing: Vec<_> = wanted.iter().filter(|parts| !has(&text, parts)).collect();
    assert!(found, "missing from /metrics: {missing:?}");
    // The event waited about two seconds since the ingress received it.
    let lag_sum: f64 = text
        .lines()
        .find(|l| {
            l.starts_with("order_processor_event_lag_seconds_sum{")
                && l.contains("queue=\"order-processor.orders\"")
        })
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap();
    assert!(lag_sum >= 1.9, "lag sum {lag_sum}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_event_ids_of_this_service_are_pruned_and_recent_ones_kept() {
    use diesel_async::RunQueryDsl;
    let app = TestApp::spawn_with(Options {
        instance: false,
        ..Options::default()
    })
    .await;
    {
        let mut conn = platform::db::conn(&app.db.pool).await.unwrap();
        diesel::sql_query(
            "INSERT INTO processed_events (consumer, event_id, processed_at) VALUES \
             ('order-processor', 'evt-old', now() - interval '8 days'), \
             ('order-processor', 'evt-recent', now() - interval '1 day'), \
             ('tracking-forwarder', 'evt-old-other', now() - interval '8 days')",
        )
        .execute(&mut *conn)
        .await
        .unwrap();
    }
    // Pruning runs when the service starts.
    let instance = app.another_instance().await;
    assert!(
        platform::testing::eventually(WAIT, || async { !app.processed("evt-old").await }).await,
        "the old event id was not pruned"
    );
    assert!(app.processed("evt-recent").await);
    let mut conn = platform::db::conn(&app.db.pool).await.unwrap();
    assert!(
        platform::db::events::was_processed(&mut conn, "tracking-forwarder", "evt-old-other")
            .await
            .unwrap(),
        "another consumer's records are its own to prune"
    );
    drop(conn);
    instance.stop().await;
    app.stop().await;
}
