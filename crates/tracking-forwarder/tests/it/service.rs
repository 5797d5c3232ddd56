use std::time::Duration;

use platform::testing::eventually;

use crate::helpers::{view_of, TestApp, PRODUCT_VIEWS};

async fn get(app: &TestApp, path: &str) -> (u16, String) {
    let response = reqwest::get(format!("http://{}{path}", app.metrics_addr))
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_readiness_and_metrics_are_served() {
    let app = TestApp::spawn().await;
    assert_eq!(get(&app, "/healthz").await.0, 200);
    assert!(
        eventually(Duration::from_secs(10), || async {
            get(&app, "/readyz").await.0 == 200
        })
        .await
    );
    app.publish_view(&view_of(77)).await;
    assert!(app.wait_posts(PRODUCT_VIEWS, 1).await);
    let metrics_seen = eventually(Duration::from_secs(10), || async {
        let (_, text) = get(&app, "/metrics").await;
        text.contains("tracking_views_total")
            && text.contains("tracking_cache_hit_ratio")
            && text.contains("tracking_engage_responses_total")
    })
    .await;
    assert!(metrics_seen, "{}", get(&app, "/metrics").await.1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_stops_cleanly_when_asked() {
    let app = TestApp::spawn().await;
    // `stop` fails the test if the service does not return, or returns an error.
    app.stop().await;
}
