use serde_json::Value;

use crate::helpers::*;

const CONTACTS_PATH: &str = "/engage/api/v3/contacts";

/// Waits for the one dead letter of the contacts queue and takes it: its attempts and reason.
async fn the_contact_dead_letter(app: &TestApp) -> (Option<i64>, String) {
    use platform::amqp::message::{get_int, get_str, ATTEMPTS, DEAD_REASON};
    let dlq = app
        .ns
        .topology
        .dead_letter_queue("order-processor.contacts");
    assert!(
        platform::testing::eventually(WAIT, || async { app.queue_len(&dlq).await == 1 }).await,
        "no dead letter"
    );
    let dead = app.take(&dlq).await.expect("a dead letter");
    let headers = dead.delivery.properties.headers().clone().unwrap();
    assert_eq!(app.queue_len(&dlq).await, 0, "exactly one dead letter");
    (
        get_int(&headers, ATTEMPTS),
        get_str(&headers, DEAD_REASON).unwrap_or_default(),
    )
}

fn created_contact(app: &TestApp, email: &str) -> Value {
    app.engage_bodies("POST", "/api/v3/contacts")
        .into_iter()
        .find(|c| c["email"] == email)
        .unwrap_or_else(|| panic!("no contact created for {email}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_created_customer_becomes_a_contact_with_an_e164_mobile_phone() {
    let app = TestApp::spawn().await;
    app.publish(CUSTOMER_CREATED, "evt-customer").await;
    app.wait_processed("evt-customer").await;

    let contact = created_contact(&app, "jane.doe@example.com");
    assert_eq!(contact["mobilePhone"], "+46701234567");
    assert_eq!(contact["contactType"], "Member");
    let created = app.sb.requests_to(CONTACTS_PATH);
    let post = created.iter().find(|r| r.method == "POST").unwrap();
    assert!(post.query.contains("source=ECOM"), "{}", post.query);
    assert!(
        post.query.contains("storeExternalId=SE-WEB"),
        "{}",
        post.query
    );
    let link = app.contact_link(32).await.expect("a stored link");
    assert_eq!(link.email.as_deref(), Some("jane.doe@example.com"));
    assert_eq!(link.channel_id, 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_phone_is_sent_as_null() {
    let app = TestApp::spawn().await;
    app.publish(&with_id(CUSTOMER_CREATED, 34), "evt-34").await;
    app.wait_processed("evt-34").await;

    let contact = created_contact(&app, "bad.phone@example.com");
    assert_eq!(contact.get("mobilePhone"), Some(&Value::Null));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_without_address_gets_no_mobile_phone_key() {
    let app = TestApp::spawn().await;
    app.publish(&with_id(CUSTOMER_CREATED, 35), "evt-35").await;
    app.wait_processed("evt-35").await;

    let contact = created_contact(&app, "no.address@example.com");
    assert!(contact.get("mobilePhone").is_none(), "{contact}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_of_an_unconfigured_channel_is_dropped_without_calling_engage() {
    let app = TestApp::spawn().await;
    app.publish(&with_id(CUSTOMER_CREATED, 36), "evt-36").await;
    app.wait_processed("evt-36").await;

    assert_eq!(app.engage_calls(), 0);
    assert!(app.contact_link(36).await.is_none());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_existing_contact_is_patched_without_its_contact_type() {
    let app = TestApp::spawn_with(Options {
        overrides: vec![("CONNECTOR__AMQP__PREFETCH", "1".into())],
        ..Options::default()
    })
    .await;
    app.publish(CUSTOMER_CREATED, "evt-created").await;
    app.publish(CUSTOMER_ADDRESS_UPDATED, "evt-address").await;
    app.wait_processed("evt-address").await;

    assert_eq!(app.sb.count("POST", CONTACTS_PATH), 1);
    let patches = app.engage_bodies("PATCH", "/api/v3/contacts/");
    assert_eq!(patches.len(), 1);
    assert!(patches[0].get("contactType").is_none(), "{}", patches[0]);
    assert_eq!(patches[0]["mobilePhone"], "+46701234567");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_customer_deletes_the_linked_contact() {
    let app = TestApp::spawn().await;
    app.publish(CUSTOMER_CREATED, "evt-created").await;
    app.wait_processed("evt-created").await;
    let link = app.contact_link(32).await.unwrap();

    app.publish(CUSTOMER_DELETED, "evt-deleted").await;
    app.wait_processed("evt-deleted").await;
    assert_eq!(
        app.sb.count(
            "DELETE",
            &format!("{CONTACTS_PATH}/{}", link.engage_contact_id)
        ),
        1
    );
    assert!(app.contact_link(32).await.is_none());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_customer_without_a_stored_contact_needs_nothing() {
    let app = TestApp::spawn().await;
    app.publish(CUSTOMER_DELETED, "evt-deleted").await;
    app.wait_processed("evt-deleted").await;
    assert_eq!(app.engage_calls(), 0);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_becomes_a_contact_with_the_newsletter_opt_in() {
    let app = TestApp::spawn().await;
    app.publish(SUBSCRIBER_CREATED, "evt-subscriber").await;
    app.wait_processed("evt-subscriber").await;

    let contact = created_contact(&app, "news.reader@example.com");
    assert!(
        contact["preferences"]["acceptsEmail"].is_boolean(),
        "{contact}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contact_event_retries_after_an_engage_503() {
    let app = TestApp::spawn().await;
    app.sb.inject(sandbox::Fault::status(
        sandbox::Target::Engage,
        "/api/v3/contacts",
        1,
        503,
    ));
    app.publish(CUSTOMER_CREATED, "evt-customer").await;
    app.wait_processed("evt-customer").await;
    created_contact(&app, "jane.doe@example.com");
    assert!(app.contact_link(32).await.is_some());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_contact_who_opens_an_account_is_promoted_to_member() {
    let app = TestApp::spawn_with(Options {
        mode: domain::channel::ContactTypeMode::MemberAndContact,
        ..Options::default()
    })
    .await;
    let guest = app.sb.put_engage_contact(serde_json::json!({
        "email": "jane.doe@example.com",
        "contactType": "Contact"
    }));
    let id = guest["id"].as_str().unwrap().to_owned();
    app.publish(CUSTOMER_CREATED, "evt-customer").await;
    app.wait_processed("evt-customer").await;

    let creates = app
        .sb
        .requests_to(CONTACTS_PATH)
        .into_iter()
        .filter(|r| r.method == "POST" && r.path == CONTACTS_PATH)
        .count();
    assert_eq!(creates, 0, "no second contact");
    assert_eq!(
        app.sb
            .count("POST", &format!("{CONTACTS_PATH}/{id}/updateContactType")),
        1
    );
    let contact = app
        .sb
        .engage_contacts()
        .into_iter()
        .find(|c| c["id"] == id.as_str())
        .unwrap();
    assert_eq!(contact["contactType"], "Member");
    assert_eq!(app.contact_link(32).await.unwrap().engage_contact_id, id);
    app.stop().await;
}

/// The customer ids BigCommerce was asked for (`GET /v3/customers?id:in=…`).
fn fetched_customers(app: &TestApp) -> Vec<String> {
    app.sb
        .requests_to("/bigcommerce/stores/abc123/v3/customers")
        .into_iter()
        .filter(|r| r.method == "GET" && r.path.ends_with("/v3/customers"))
        .filter_map(|r| {
            let query = r.query.replace("%3A", ":").replace("%3a", ":");
            query
                .split('&')
                .find_map(|pair| pair.strip_prefix("id:in=").map(str::to_owned))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_update_patches_the_contact_found_by_email_with_its_external_id() {
    let app = TestApp::spawn_with(Options {
        overrides: vec![("CONNECTOR__AMQP__PREFETCH", "1".into())],
        ..Options::default()
    })
    .await;
    app.publish(CUSTOMER_CREATED, "evt-created").await;
    app.publish(CUSTOMER_UPDATED, "evt-updated").await;
    app.wait_processed("evt-updated").await;

    let created = created_contact(&app, "jane.doe@example.com");
    assert_eq!(created["externalId"], "32");
    assert_eq!(app.sb.count("POST", CONTACTS_PATH), 1, "created once");
    let link = app.contact_link(32).await.unwrap();
    let patches: Vec<_> = app
        .sb
        .requests_to(&format!("{CONTACTS_PATH}/{}", link.engage_contact_id))
        .into_iter()
        .filter(|r| r.method == "PATCH")
        .collect();
    assert_eq!(patches.len(), 1);
    assert_eq!(patches[0].body["externalId"], "32");
    assert_eq!(patches[0].body["email"], "jane.doe@example.com");
    assert_eq!(patches[0].body["firstName"], "Jane");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn address_events_refetch_the_customer_named_in_data_address_customer_id() {
    let app = TestApp::spawn_with(Options {
        overrides: vec![("CONNECTOR__AMQP__PREFETCH", "1".into())],
        ..Options::default()
    })
    .await;
    // data.id is the address (60); the customer is data.address.customer_id (32).
    let created = CUSTOMER_ADDRESS_UPDATED.replace(
        "store/customer/address/updated",
        "store/customer/address/created",
    );
    app.publish(&created, "evt-address-created").await;
    app.wait_processed("evt-address-created").await;
    assert_eq!(fetched_customers(&app), vec!["32".to_owned()]);
    let contact = created_contact(&app, "jane.doe@example.com");
    assert_eq!(contact["street"], "Drottninggatan 1");
    assert_eq!(contact["zipCode"], "111 51");
    assert_eq!(contact["countryCode"], "SE");

    app.publish(CUSTOMER_ADDRESS_UPDATED, "evt-address-updated")
        .await;
    app.wait_processed("evt-address-updated").await;
    assert_eq!(
        fetched_customers(&app),
        vec!["32".to_owned(), "32".to_owned()]
    );
    assert_eq!(app.sb.count("PATCH", CONTACTS_PATH), 1);
    assert!(app.contact_link(32).await.is_some());
    assert!(app.contact_link(60).await.is_none());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_update_sets_accepts_email_from_its_consents() {
    let app = TestApp::spawn_with(Options {
        overrides: vec![("CONNECTOR__AMQP__PREFETCH", "1".into())],
        ..Options::default()
    })
    .await;
    app.publish(SUBSCRIBER_CREATED, "evt-subscribed").await;
    app.wait_processed("evt-subscribed").await;
    let contact = created_contact(&app, "news.reader@example.com");
    assert_eq!(contact["preferences"]["acceptsEmail"], true, "{contact}");

    // The subscriber withdrew every consent.
    let mut subscriber: Value = serde_json::from_str(V3_SUBSCRIBER_5).unwrap();
    subscriber["data"]["consents"] = serde_json::json!([]);
    app.sb.put_subscriber(STORE, subscriber["data"].clone());
    let updated =
        SUBSCRIBER_CREATED.replace("store/subscriber/created", "store/subscriber/updated");
    app.publish(&updated, "evt-unsubscribed").await;
    app.wait_processed("evt-unsubscribed").await;

    assert_eq!(app.sb.count("POST", CONTACTS_PATH), 1, "no second contact");
    let patches = app.engage_bodies("PATCH", "/api/v3/contacts/");
    assert_eq!(patches.len(), 1);
    assert_eq!(
        patches[0]["preferences"]["acceptsEmail"], false,
        "{}",
        patches[0]
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_of_an_unconfigured_channel_is_dropped_without_calling_engage() {
    let app = TestApp::spawn().await;
    let mut subscriber: Value = serde_json::from_str(V3_SUBSCRIBER_5).unwrap();
    subscriber["data"]["channel_id"] = 7.into();
    app.sb.put_subscriber(STORE, subscriber["data"].clone());
    app.publish(SUBSCRIBER_CREATED, "evt-subscriber-7").await;
    app.wait_processed("evt-subscriber-7").await;

    assert_eq!(app.engage_calls(), 0);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redelivered_contact_event_is_skipped() {
    let app = TestApp::spawn_with(Options {
        overrides: vec![("CONNECTOR__AMQP__PREFETCH", "1".into())],
        ..Options::default()
    })
    .await;
    app.publish(CUSTOMER_CREATED, "evt-customer").await;
    app.publish(CUSTOMER_CREATED, "evt-customer").await;
    app.publish(SUBSCRIBER_CREATED, "evt-after").await;
    app.wait_processed("evt-after").await;

    assert_eq!(
        fetched_customers(&app).len(),
        1,
        "the duplicate was handled again"
    );
    assert_eq!(app.sb.count("POST", CONTACTS_PATH), 2);
    assert_eq!(app.sb.count("PATCH", CONTACTS_PATH), 0);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contact_event_failing_every_attempt_is_dead_lettered_once() {
    let app = TestApp::spawn_with(Options {
        overrides: vec![("CONNECTOR__ORDER_PROCESSOR__MAX_ATTEMPTS", "3".into())],
        ..Options::default()
    })
    .await;
    app.sb.inject(sandbox::Fault::status(
        sandbox::Target::Engage,
        "/api/v3/contacts",
        1000,
        503,
    ));
    app.publish(CUSTOMER_CREATED, "evt-customer").await;

    let (attempts, reason) = the_contact_dead_letter(&app).await;
    assert_eq!(attempts, Some(3));
    assert!(reason.contains("503"), "{reason}");
    // Three attempts, each looking the contact up once.
    assert_eq!(app.sb.count("GET", "/engage/api/v3/contacts/id"), 3);
    assert!(!app.processed("evt-customer").await);
    assert!(app.contact_link(32).await.is_none());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_engage_contacts_with_the_customers_email_dead_letter_at_once_without_a_write() {
    let app = TestApp::spawn().await;
    for first_name in ["Jane", "Janet"] {
        app.sb.put_engage_contact(serde_json::json!({
            "email": "jane.doe@example.com",
            "firstName": first_name
        }));
    }
    app.publish(CUSTOMER_CREATED, "evt-ambiguous").await;

    let (attempts, reason) = the_contact_dead_letter(&app).await;
    // One lookup, answered 409: final, so no retry and neither contact is touched.
    assert_eq!(attempts, Some(1));
    assert!(reason.contains("409"), "{reason}");
    assert_eq!(app.sb.count("GET", "/engage/api/v3/contacts/id"), 1);
    for method in ["POST", "PATCH"] {
        assert_eq!(app.sb.count(method, CONTACTS_PATH), 0, "{method}");
    }
    assert!(app.contact_link(32).await.is_none());
    app.stop().await;
}
