use std::time::Duration;

use platform::amqp::Broker;
use platform::health::{HealthServer, Readiness};
use platform::testing::{eventually, ChaosProxy, TestDb, TestNamespace};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_follows_the_broker_and_healthz_the_process() {
    let ns = TestNamespace::new();
    let db = TestDb::new().await;
    let proxy = ChaosProxy::start("127.0.0.1:5672").await;
    let broker = Broker::start(proxy.amqp_url().into(), "it-health", ns.topology.clone());
    assert!(broker.wait_connected(Duration::from_secs(10)).await);
    let server = HealthServer::start(
        "127.0.0.1:0".parse().unwrap(),
        Readiness {
            broker: Some(broker.clone()),
            db: Some(db.pool.clone()),
        },
    )
    .unwrap();
    let base = format!("http://{}", server.addr);
    let http = reqwest::Client::new();
    let status = |path: &'static str| {
        let http = http.clone();
        let url = format!("{base}{path}");
        async move { http.get(url).send().await.unwrap().status().as_u16() }
    };
    assert_eq!(status("/healthz").await, 200);
    assert_eq!(status("/readyz").await, 200);
    metrics::counter!("health_test_total").increment(1);
    let text = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("health_test_total"), "{text}");

    proxy.set_down(true);
    assert!(
        eventually(Duration::from_secs(10), || async {
            status("/readyz").await == 503
        })
        .await
    );
    assert_eq!(status("/healthz").await, 200, "alive while not ready");
    proxy.set_down(false);
    assert!(
        eventually(Duration::from_secs(15), || async {
            status("/readyz").await == 200
        })
        .await
    );
    server.stop().await;
    broker.close().await;
}
