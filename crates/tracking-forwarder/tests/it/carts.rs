use sandbox::{Fault, Target};
use serde_json::{json, Value};

use crate::helpers::{cart, cart_with_id, fixture, TestApp, CARTS};

const ENGAGE_CARTS: &str = "/api/v2/tracking/carts";
const CONTACT_LOOKUP: &str = "/engage/api/v3/contacts/id";

fn converted() -> Value {
    serde_json::from_str(fixture!("bigcommerce/webhooks/cart_converted.json")).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cart_is_forwarded_with_its_items() {
    let app = TestApp::spawn().await;
    app.publish_cart(&cart()).await;
    assert!(app.wait_posts(CARTS, 1).await);
    let (status, body) = app.posts(CARTS).remove(0);
    assert!((200..300).contains(&status));
    assert_eq!(
        body["cartReference"],
        "d30016e2-23c0-4a90-884f-2e92ac135476"
    );
    assert_eq!(
        body["items"],
        json!([{"sku": "CARD-GRY-M", "quantity": 1}, {"sku": "SOCK-BLK", "quantity": 2}])
    );
    assert!(!body.as_object().unwrap().contains_key("contactId"));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cart_engage_answers_5xx_is_tried_once() {
    let app = TestApp::spawn_sequential().await;
    app.sandbox
        .inject(Fault::status(Target::Engage, ENGAGE_CARTS, 1, 503));
    app.publish_cart(&cart_with_id("cart-one")).await;
    // Handled only after the first is finished (one message at a time).
    app.publish_cart(&cart_with_id("cart-two")).await;
    assert!(app.wait_posts(CARTS, 2).await);
    let posts = app.posts(CARTS);
    assert_eq!(posts.len(), 2, "{posts:?}");
    assert_eq!(
        (posts[0].0, &posts[0].1["cartReference"]),
        (503, &json!("cart-one"))
    );
    assert_eq!(&posts[1].1["cartReference"], &json!("cart-two"));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_converted_cart_is_linked_to_the_contact_of_the_billing_email() {
    let app = TestApp::spawn().await;
    let contact = app
        .sandbox
        .put_engage_contact(json!({"email": "jane.doe@example.com", "firstName": "Jane"}));
    app.publish("store.cart.converted", converted().to_string().as_bytes())
        .await;
    assert!(app.wait_posts(CARTS, 1).await);
    let (_, body) = app.posts(CARTS).remove(0);
    assert_eq!(
        body["cartReference"],
        "d30016e2-23c0-4a90-884f-2e92ac135476"
    );
    assert_eq!(body["contactId"], contact["id"]);
    assert_eq!(body["items"], json!([]));
    assert_eq!(
        app.sandbox
            .count("GET", "/bigcommerce/stores/abc123/v2/orders/250"),
        1
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_converted_cart_delivered_twice_is_sent_once() {
    let app = TestApp::spawn_sequential().await;
    app.sandbox
        .put_engage_contact(json!({"email": "jane.doe@example.com", "firstName": "Jane"}));
    let body = converted().to_string();
    // BigCommerce resends a delivery it saw no answer to, with the same webhook id.
    app.publish_as("store.cart.converted", body.as_bytes(), "msg_twice")
        .await;
    app.publish_as("store.cart.converted", body.as_bytes(), "msg_twice")
        .await;
    app.publish_cart(&cart_with_id("sentinel")).await;
    assert!(app.wait_posts(CARTS, 2).await);
    let posts = app.posts(CARTS);
    let references: Vec<&Value> = posts.iter().map(|(_, b)| &b["cartReference"]).collect();
    assert_eq!(
        references,
        [
            &json!("d30016e2-23c0-4a90-884f-2e92ac135476"),
            &json!("sentinel")
        ]
    );
    assert_eq!(
        app.sandbox
            .count("GET", "/bigcommerce/stores/abc123/v2/orders/250"),
        1,
        "the duplicate costs no BigCommerce call either"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_converted_cart_without_an_engage_contact_is_not_sent() {
    let app = TestApp::spawn_sequential().await;
    app.publish("store.cart.converted", converted().to_string().as_bytes())
        .await;
    app.publish_cart(&cart_with_id("sentinel")).await;
    assert!(app.wait_posts(CARTS, 1).await);
    let posts = app.posts(CARTS);
    assert_eq!(posts.len(), 1, "{posts:?}");
    assert_eq!(&posts[0].1["cartReference"], &json!("sentinel"));
    assert_eq!(app.sandbox.count("GET", CONTACT_LOOKUP), 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cart_on_an_unconfigured_channel_is_dropped() {
    let app = TestApp::spawn_sequential().await;
    let mut unmatched = cart_with_id("other-channel");
    unmatched["channelId"] = json!(7);
    app.publish_cart(&unmatched).await;
    app.publish_cart(&cart_with_id("sentinel")).await;
    assert!(app.wait_posts(CARTS, 1).await);
    let posts = app.posts(CARTS);
    assert_eq!(posts.len(), 1, "{posts:?}");
    assert_eq!(&posts[0].1["cartReference"], &json!("sentinel"));
    app.stop().await;
}
