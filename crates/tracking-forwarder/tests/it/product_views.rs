use platform::amqp::message::get_str;
use sandbox::{Fault, Target};
use serde_json::{json, Value};
use tracking_forwarder::handler::DROPPED_REASON;

use crate::helpers::{
    anonymous_view, fixture, identified_view, view_of, TestApp, PRODUCT_VIEWS, STORE, WAIT,
};
use platform::testing::eventually;

const ENGAGE_PRODUCT_VIEW: &str = "/api/v2/tracking/productview";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn product_77_is_sent_with_its_last_five_category_names() {
    let app = TestApp::spawn().await;
    app.publish_view(&identified_view()).await;
    assert!(app.wait_posts(PRODUCT_VIEWS, 1).await);
    let (status, body) = app.posts(PRODUCT_VIEWS).remove(0);
    assert!((200..300).contains(&status));
    assert_eq!(
        body["category"],
        "Clothing / Knitwear / Cardigans / Wool / Autumn Collection"
    );
    assert_eq!(body["itemId"], "CARD-GRY");
    assert_eq!(body["contactId"], "ae16a9b4-f581-4568-8948-a96100b2afd4");
    assert_eq!(body["sessionId"], "3b7e493b-5dfe-4b98-b6cf-049f2ea4309d");
    assert_eq!(body["language"], "sv-SE");
    assert_eq!(body["time"], "2025-12-03T08:00:00Z");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_anonymous_view_of_a_product_without_categories_uses_the_url_path_and_has_no_contact_id()
{
    let app = TestApp::spawn().await;
    app.publish_view(&anonymous_view()).await;
    assert!(app.wait_posts(PRODUCT_VIEWS, 1).await);
    let (_, body) = app.posts(PRODUCT_VIEWS).remove(0);
    assert_eq!(body["category"], "accessories / socks and tights");
    assert_eq!(body["itemId"], "SOCK-BLK");
    let fields = body.as_object().unwrap();
    assert!(!fields.contains_key("contactId"), "{body}");
    // The channel's locale stands in for the beacon's.
    assert_eq!(body["language"], "en-GB");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_product_without_a_sku_is_sent_with_its_id_as_item_id() {
    let app = TestApp::spawn().await;
    app.sandbox.put_product(
        STORE,
        json!({"id": 991, "name": "No SKU", "sku": "", "categories": [18], "is_visible": true}),
    );
    app.publish_view(&view_of(991)).await;
    assert!(app.wait_posts(PRODUCT_VIEWS, 1).await);
    let (_, body) = app.posts(PRODUCT_VIEWS).remove(0);
    assert_eq!(body["itemId"], "991");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_category_path_of_long_multi_byte_names_is_cut_at_255_characters() {
    let app = TestApp::spawn().await;
    let names: Vec<String> = (0..5)
        .map(|i| format!("Ärmlösa tröjor och väskor för höst {i} — 毛衣与围巾 ✓ naïve café"))
        .collect();
    for (i, name) in names.iter().enumerate() {
        app.sandbox.put_category(
            STORE,
            json!({"id": 901 + i, "parent_id": 0, "name": name, "is_visible": true}),
        );
    }
    app.sandbox.put_product(
        STORE,
        json!({
            "id": 990, "name": "Long", "sku": "LONG-1",
            "categories": [18, 901, 902, 903, 904, 905], "is_visible": true
        }),
    );
    let full = names.join(" / ");
    assert!(full.chars().count() > 255);
    app.publish_view(&view_of(990)).await;
    assert!(app.wait_posts(PRODUCT_VIEWS, 1).await);
    let (_, body) = app.posts(PRODUCT_VIEWS).remove(0);
    let category = body["category"].as_str().unwrap();
    // Cut at 255 characters (never inside a UTF-8 sequence), without a dangling separator.
    let cut: String = full.chars().take(255).collect();
    let expected = cut.trim_end_matches(|c: char| c.is_whitespace() || c == '/');
    assert_eq!(category, expected);
    assert!((250..=255).contains(&category.chars().count()));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engage_5xx_twice_is_delivered_on_the_third_try() {
    let app = TestApp::spawn().await;
    app.sandbox
        .inject(Fault::status(Target::Engage, ENGAGE_PRODUCT_VIEW, 2, 503));
    app.publish_view(&identified_view()).await;
    assert!(
        eventually(WAIT, || async {
            app.posts(PRODUCT_VIEWS)
                .iter()
                .any(|(status, _)| (200..300).contains(status))
        })
        .await
    );
    let statuses: Vec<u16> = app.posts(PRODUCT_VIEWS).iter().map(|(s, _)| *s).collect();
    assert_eq!(statuses.len(), 3, "{statuses:?}");
    assert_eq!(&statuses[..2], &[503, 503]);
    assert!(app.take_dropped().await.is_none());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engage_5xx_every_time_makes_one_plus_three_attempts_then_parks_the_view() {
    let app = TestApp::spawn().await;
    app.sandbox.inject(Fault::status(
        Target::Engage,
        ENGAGE_PRODUCT_VIEW,
        1000,
        502,
    ));
    let beacon = identified_view();
    app.publish_view(&beacon).await;
    let parked = app.wait_dropped().await.expect("the view is parked");
    // Parking happens after the last attempt: the count is final.
    assert_eq!(app.sandbox.count("POST", PRODUCT_VIEWS), 4);
    let parked_body: Value = serde_json::from_slice(&parked.delivery.data).unwrap();
    assert_eq!(parked_body, beacon);
    let headers = parked
        .delivery
        .properties
        .headers()
        .clone()
        .unwrap_or_default();
    let reason = get_str(&headers, DROPPED_REASON).unwrap();
    assert!(reason.contains("502"), "{reason}");
    assert_eq!(
        get_str(&headers, "x-original-routing-key").as_deref(),
        Some("tracking.product_view")
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engage_4xx_is_tried_once_and_not_parked() {
    let app = TestApp::spawn_sequential().await;
    // Every 4xx, including the ones order syncs retry (408, 429): only a 5xx is retried.
    for (round, status) in [400u16, 408, 429].into_iter().enumerate() {
        app.sandbox.inject(Fault::status(
            Target::Engage,
            ENGAGE_PRODUCT_VIEW,
            1,
            status,
        ));
        app.publish_view(&view_of(77)).await;
        // With one message at a time, the second is handled only after the first is done.
        app.publish_view(&view_of(78)).await;
        assert!(app.wait_posts(PRODUCT_VIEWS, 2 * (round + 1)).await);
        let posts = app.posts(PRODUCT_VIEWS);
        assert_eq!(posts.len(), 2 * (round + 1), "{status}: one attempt only");
        let (first, second) = (&posts[2 * round], &posts[2 * round + 1]);
        assert_eq!((first.0, &first.1["itemId"]), (status, &json!("CARD-GRY")));
        assert!((200..300).contains(&second.0), "{}", second.0);
        assert_eq!(&second.1["itemId"], &json!("SOCK-BLK"));
    }
    assert!(app.take_dropped().await.is_none());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_view_on_an_unconfigured_channel_is_dropped_without_any_call() {
    let app = TestApp::spawn_sequential().await;
    let mut unmatched = view_of(77);
    unmatched["channelId"] = json!(2);
    app.publish_view(&unmatched).await;
    app.publish_view(&view_of(78)).await;
    assert!(app.wait_posts(PRODUCT_VIEWS, 1).await);
    let posts = app.posts(PRODUCT_VIEWS);
    assert_eq!(posts.len(), 1);
    assert_eq!(&posts[0].1["itemId"], &json!("SOCK-BLK"));
    assert_eq!(
        app.sandbox
            .count("GET", "/bigcommerce/stores/abc123/v3/catalog/products/77"),
        0
    );
    app.stop().await;
}

/// BigCommerce catalog GETs whose path, after `/v3/catalog/`, starts with `what`.
fn catalog_lookups(app: &TestApp, what: &str) -> usize {
    app.sandbox.count(
        "GET",
        &format!("/bigcommerce/stores/{STORE}/v3/catalog/{what}"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_views_of_one_product_cost_one_product_lookup() {
    let app = TestApp::spawn().await;
    for _ in 0..100 {
        app.publish_view(&view_of(77)).await;
    }
    assert!(app.wait_posts(PRODUCT_VIEWS, 100).await);
    assert_eq!(catalog_lookups(&app, "products/77"), 1);
    assert_eq!(catalog_lookups(&app, "categories"), 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn category_names_are_cached_across_products() {
    let app = TestApp::spawn_sequential().await;
    // A second product in the same categories as product 77.
    let mut sibling: Value =
        serde_json::from_str(fixture!("bigcommerce/api/v3_catalog_products_77.json")).unwrap();
    sibling["data"]["id"] = 79.into();
    sibling["data"]["sku"] = "CARD-RED".into();
    app.sandbox.put_product(STORE, sibling["data"].clone());
    app.publish_view(&view_of(77)).await;
    app.publish_view(&view_of(79)).await;
    assert!(app.wait_posts(PRODUCT_VIEWS, 2).await);
    let posts = app.posts(PRODUCT_VIEWS);
    assert_eq!(posts[0].1["category"], posts[1].1["category"]);
    assert_eq!(&posts[1].1["itemId"], &json!("CARD-RED"));
    // Two product lookups, one lookup of the names they share.
    assert_eq!(catalog_lookups(&app, "products/"), 2);
    assert_eq!(catalog_lookups(&app, "categories"), 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_view_of_a_product_the_catalog_does_not_know_is_dropped() {
    let app = TestApp::spawn_sequential().await;
    app.publish_view(&view_of(424242)).await;
    app.publish_view(&view_of(78)).await;
    assert!(app.wait_posts(PRODUCT_VIEWS, 1).await);
    let posts = app.posts(PRODUCT_VIEWS);
    assert_eq!(posts.len(), 1);
    assert_eq!(&posts[0].1["itemId"], &json!("SOCK-BLK"));
    assert_eq!(
        app.sandbox.count(
            "GET",
            "/bigcommerce/stores/abc123/v3/catalog/products/424242"
        ),
        1
    );
    assert!(app.take_dropped().await.is_none());
    app.stop().await;
}
