//! End-to-end tests: every service in-process, real broker and database, sandbox vendors.
//! What they assert is what the sandbox Engage received, and that each thing arrived once.

use std::collections::BTreeMap;
use std::time::Duration;

use demo::Step;
use e2e::{Connector, DESTINATION, STORE, WAIT};
use platform::testing::eventually;
use sandbox::{Fault, Target};
use serde_json::{json, Value};

const JANE: &str = "jane.doe@example.com";

fn by_email(contacts: &[Value]) -> BTreeMap<String, Value> {
    contacts
        .iter()
        .map(|c| {
            (
                c["email"].as_str().unwrap_or_default().to_owned(),
                c.clone(),
            )
        })
        .collect()
}

/// Sends the demo's stream. The cart is converted once its buyer is a contact, as a
/// shopper's checkout follows their sign-up.
async fn send_demo_stream(connector: &Connector) {
    let traffic = connector.traffic();
    for step in demo::script() {
        if matches!(&step, Step::Webhook(label, _) if label.starts_with("cart converted")) {
            let known = eventually(WAIT, || async {
                by_email(&connector.sandbox.engage_contacts()).contains_key(JANE)
            })
            .await;
            assert!(known, "the buyer never became an Engage contact");
        }
        let (_, status) = traffic.send(&step).await.expect("the ingress answers");
        assert!(
            (200..300).contains(&status),
            "{} was answered {status}",
            step.label()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_demo_stream_reaches_engage_exactly_once_each() {
    let connector = Connector::start().await;
    // One Engage outage that recovers: the first two order creations answer 503.
    connector.sandbox.inject(Fault {
        method: Some("POST".into()),
        ..Fault::status(Target::Engage, "/api/v3/orders", 2, 503)
    });

    send_demo_stream(&connector).await;
    let settled = eventually(WAIT, || async {
        connector
            .sandbox
            .engage_order("250")
            .is_some_and(|o| o["status"] == "PartiallyReturned")
    })
    .await;
    assert!(settled, "order 250 never reached Engage with its refund");
    assert!(
        connector.wait_idle(Duration::from_millis(1500)).await,
        "the pipeline never went idle"
    );

    // Contacts: one creation per e-mail, none for the unconfigured channel's customer.
    let created: Vec<String> = connector
        .engage_ok("POST", "/api/v3/contacts")
        .into_iter()
        .filter(|r| r.path.ends_with("/api/v3/contacts"))
        .map(|r| r.body["email"].as_str().unwrap_or_default().to_owned())
        .collect();
    let mut distinct = created.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(
        created.len(),
        distinct.len(),
        "a contact was created twice: {created:?}"
    );
    assert_eq!(
        distinct,
        [
            "bad.phone@example.com",
            JANE,
            "news.reader@example.com",
            "no.address@example.com"
        ]
    );
    let contacts = by_email(&connector.sandbox.engage_contacts());
    assert!(!contacts.contains_key("other.channel@example.com"));
    // The phone's three outcomes.
    assert_eq!(contacts[JANE]["mobilePhone"], "+46701234567");
    assert_eq!(
        contacts["bad.phone@example.com"]["mobilePhone"],
        Value::Null
    );
    assert!(contacts["bad.phone@example.com"]
        .as_object()
        .unwrap()
        .contains_key("mobilePhone"));
    assert!(!contacts["no.address@example.com"]
        .as_object()
        .unwrap()
        .contains_key("mobilePhone"));
    // An account holder is a member; the newsletter reader without an account a contact.
    assert_eq!(contacts[JANE]["contactType"], "Member");
    assert_eq!(
        contacts["news.reader@example.com"]["contactType"],
        "Contact"
    );
    assert_eq!(
        contacts["news.reader@example.com"]["preferences"]["acceptsEmail"],
        true
    );

    // The order: created once (after two refused attempts), then only replaced.
    let posts = connector.sandbox.requests_to("/engage/api/v3/orders");
    let creates: Vec<u16> = posts
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/api/v3/orders"))
        .map(|r| r.status)
        .collect();
    assert_eq!(creates.len(), 3, "{creates:?}");
    assert_eq!(&creates[..2], &[503, 503]);
    assert!((200..300).contains(&creates[2]));
    let order = connector.sandbox.engage_order("250").unwrap();
    assert_eq!(order["contact"]["matchKey"], JANE);
    assert_eq!(order["externalStoreId"], "SE-WEB");
    assert!(
        order["lineItems"]["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["refundedQuantity"].as_i64().unwrap_or(0) > 0),
        "the refund is not in the order: {order}"
    );

    // Product views: once each, the anonymous one without a contactId key.
    let views: Vec<Value> = connector
        .engage_ok("POST", "/api/v2/tracking/productview")
        .into_iter()
        .map(|r| r.body)
        .collect();
    assert_eq!(views.len(), 2, "{views:?}");
    let known = views.iter().find(|v| v.get("contactId").is_some()).unwrap();
    assert_eq!(
        known["category"],
        "Clothing / Knitwear / Cardigans / Wool / Autumn Collection"
    );
    let anonymous = views.iter().find(|v| v.get("contactId").is_none()).unwrap();
    assert_eq!(anonymous["category"], "accessories / socks and tights");

    // Carts: the cart once, then its conversion linked to the buyer with no items left.
    let carts: Vec<Value> = connector
        .engage_ok("POST", "/api/v2/tracking/carts")
        .into_iter()
        .map(|r| r.body)
        .collect();
    assert_eq!(carts.len(), 2, "{carts:?}");
    assert_eq!(carts[0]["items"].as_array().unwrap().len(), 2);
    assert_eq!(carts[1]["cartReference"], carts[0]["cartReference"]);
    assert_eq!(carts[1]["contactId"], contacts[JANE]["id"]);
    assert_eq!(carts[1]["items"], json!([]));

    // webhook-health registered the connector's hooks and re-activated the inactive one.
    let hooks = connector.sandbox.hooks(STORE);
    let ours: Vec<&Value> = hooks
        .iter()
        .filter(|h| h["destination"] == DESTINATION)
        .collect();
    assert!(ours.iter().all(|h| h["is_active"] == true), "{ours:?}");
    for scope in [
        "store/order/created",
        "store/customer/created",
        "store/subscriber/created",
        "store/cart/converted",
    ] {
        assert!(
            ours.iter().any(|h| h["scope"] == scope),
            "no hook for {scope}"
        );
    }
    connector.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_delivery_bigcommerce_retries_reaches_engage_once() {
    // No back-fill: only the deliveries of this test reach order-processor.
    let connector =
        Connector::start_with(&[("CONNECTOR__WEBHOOK_HEALTH__BACKFILL", "false")]).await;
    let traffic = connector.traffic();
    let Step::Webhook(_, order_created) = demo::script()
        .into_iter()
        .find(|s| s.label() == "order 250 created")
        .unwrap()
    else {
        unreachable!("the order creation is a webhook");
    };
    for _ in 0..3 {
        let status = traffic
            .send_webhook_as("msg_delivered_three_times", &order_created)
            .await
            .unwrap();
        assert_eq!(status, 200);
    }
    let sent = eventually(WAIT, || async {
        connector.sandbox.engage_order("250").is_some()
    })
    .await;
    assert!(sent, "order 250 never reached Engage");
    assert!(connector.wait_idle(Duration::from_millis(1500)).await);
    assert_eq!(connector.engage_ok("POST", "/api/v3/orders").len(), 1);
    assert_eq!(connector.engage_ok("PUT", "/api/v3/orders").len(), 0);
    assert_eq!(
        connector
            .engage_ok("POST", "/api/v3/contacts")
            .into_iter()
            .filter(|r| r.path.ends_with("/api/v3/contacts"))
            .count(),
        1
    );
    connector.stop().await;
}
