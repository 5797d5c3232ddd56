//! A running tracking-forwarder wired to a fresh database, namespace and sandbox.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use domain::channel::{ChannelSettings, ContactTypeMode};
use domain::ids::{ChannelId, StoreHash};
use lapin::options::QueueDeclareOptions;
use lapin::types::FieldTable;
use platform::amqp::{message, Broker, Publisher};
use platform::db::{self, channels, stores};
use platform::testing::{eventually, settings, TestDb, TestNamespace};
use sandbox::{Sandbox, SandboxHandle, Seed};
use secrecy::SecretString;
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tracking_forwarder::Application;

/// The fixtures' store.
pub const STORE: &str = "abc123";
/// How long tests wait for work to happen.
pub const WAIT: Duration = Duration::from_secs(20);
/// Engage's product-view endpoint as the sandbox records it.
pub const PRODUCT_VIEWS: &str = "/engage/api/v2/tracking/productview";
/// Engage's cart endpoint as the sandbox records it.
pub const CARTS: &str = "/engage/api/v2/tracking/carts";

/// A fixture file's text.
macro_rules! fixture {
    ($path:literal) => {
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../fixtures/",
            $path
        ))
    };
}
pub(crate) use fixture;

/// The service under test and everything it talks to.
pub struct TestApp {
    /// Fake BigCommerce and Engage.
    pub sandbox: SandboxHandle,
    /// The test's own broker connection (publishing, reading the parking queue).
    pub broker: Broker,
    /// A publisher on it.
    pub publisher: Arc<Publisher>,
    /// Where `/healthz`, `/readyz`, `/metrics` are served.
    pub metrics_addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
    // Dropped last: the service must stop before its database and queues go.
    _ns: TestNamespace,
    _db: TestDb,
}

fn channel(sandbox: &SandboxHandle, id: u32) -> channels::Channel {
    channels::Channel {
        settings: ChannelSettings {
            store_hash: StoreHash::parse(STORE).unwrap(),
            channel_id: ChannelId::new(id),
            store_external_id: "SE-WEB".into(),
            source: "ECOM".into(),
            locale: "en-GB".into(),
            contact_type_mode: ContactTypeMode::AllMember,
            order_id_prefix: None,
            allowed_origins: vec!["https://shop.example.com".into()],
        },
        engage_base_url: sandbox.engage_url(),
        engage_api_key: SecretString::from("engage-key"),
    }
}

impl TestApp {
    /// The service with default settings (prefetch 64: messages run concurrently).
    pub async fn spawn() -> Self {
        Self::spawn_with(&[]).await
    }

    /// The service processing one message at a time, so that a later message is a
    /// completion signal for every earlier one.
    pub async fn spawn_sequential() -> Self {
        Self::spawn_with(&[("CONNECTOR__AMQP__PREFETCH", "1")]).await
    }

    /// The service with `CONNECTOR__…` overrides.
    pub async fn spawn_with(overrides: &[(&str, &str)]) -> Self {
        let sandbox = Sandbox::start("127.0.0.1:0", Seed::default_fixtures())
            .await
            .unwrap();
        let test_db = TestDb::new().await;
        let ns = TestNamespace::new();
        {
            let mut conn = db::conn(&test_db.pool).await.unwrap();
            let hash = StoreHash::parse(STORE).unwrap();
            let bigcommerce_url = sandbox.bigcommerce_url();
            stores::insert(
                &mut conn,
                &stores::NewStore {
                    store_hash: &hash,
                    client_secret: &SecretString::from("client-secret"),
                    access_token: &SecretString::from("token"),
                    api_base_url: &bigcommerce_url,
                },
            )
            .await
            .unwrap();
            channels::insert(&mut conn, &channel(&sandbox, 1))
                .await
                .unwrap();
        }
        // Declares the topology before anything is published.
        let broker = ns.broker("tracking-forwarder-test").await;
        let publisher = Arc::new(Publisher::new(broker.clone(), 1, Duration::from_secs(5)));
        let app = Application::build(settings(Some(&test_db), Some(&ns), overrides))
            .await
            .unwrap();
        let metrics_addr = app.metrics_addr();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(app.run_until_stopped(async move {
            let _ = stopped.await;
        }));
        Self {
            sandbox,
            broker,
            publisher,
            metrics_addr,
            stop: Some(stop),
            task: Some(task),
            _ns: ns,
            _db: test_db,
        }
    }

    /// Publishes an event as the ingress does.
    pub async fn publish(&self, routing_key: &str, body: &[u8]) {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let id = format!(
            "evt-{}",
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        self.publish_as(routing_key, body, &id).await;
    }

    /// Publishes `body` as the event `id` (a redelivery repeats the id).
    pub async fn publish_as(&self, routing_key: &str, body: &[u8], id: &str) {
        let mut headers = FieldTable::default();
        message::set_str(&mut headers, message::STORE_HASH, STORE);
        self.publisher
            .publish(
                &self.broker.topology().events_exchange(),
                routing_key,
                body,
                message::event_properties(id, headers),
            )
            .await
            .unwrap();
    }

    /// Publishes a product-view beacon.
    pub async fn publish_view(&self, beacon: &Value) {
        self.publish("tracking.product_view", beacon.to_string().as_bytes())
            .await;
    }

    /// Publishes a cart beacon.
    pub async fn publish_cart(&self, beacon: &Value) {
        self.publish("tracking.cart", beacon.to_string().as_bytes())
            .await;
    }

    /// Waits until `path_prefix` has received `n` POSTs; false on timeout.
    pub async fn wait_posts(&self, path_prefix: &str, n: usize) -> bool {
        eventually(WAIT, || async {
            self.sandbox.count("POST", path_prefix) >= n
        })
        .await
    }

    /// The POSTs received on `path_prefix`, oldest first: (status, body).
    pub fn posts(&self, path_prefix: &str) -> Vec<(u16, Value)> {
        self.sandbox
            .requests_to(path_prefix)
            .into_iter()
            .filter(|r| r.method == "POST")
            .map(|r| (r.status, r.body))
            .collect()
    }

    /// Takes one message from the parking queue, if any.
    pub async fn take_dropped(&self) -> Option<lapin::message::BasicGetMessage> {
        let queue = self.broker.topology().dropped_queue();
        let session = self.broker.session()?;
        let channel = session.connection.create_channel().await.ok()?;
        let declared = channel
            .queue_declare(
                queue.as_str().into(),
                QueueDeclareOptions {
                    passive: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .ok()?;
        if declared.message_count() == 0 {
            let _ = channel.close(200, "done".into()).await;
            return None;
        }
        let _ = channel.close(200, "done".into()).await;
        // A consumer, not basic.get: lapin does not surface an empty get promptly.
        let delivery = platform::testing::take_message(
            &self.broker,
            &queue,
            std::time::Duration::from_secs(2),
        )
        .await?;
        Some(lapin::message::BasicGetMessage {
            delivery,
            message_count: 0,
        })
    }

    /// Polls the parking queue until a message arrives or [`WAIT`] passes.
    pub async fn wait_dropped(&self) -> Option<lapin::message::BasicGetMessage> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Some(found) = self.take_dropped().await {
                return Some(found);
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops the service and waits for it to finish; panics if it fails or hangs.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(40), task)
                .await
                .expect("the service stops")
                .expect("the service task")
                .expect("the service ends cleanly");
        }
        self.broker.close().await;
    }
}

/// The product-view fixture (identified visitor, product 77).
pub fn identified_view() -> Value {
    serde_json::from_str(fixture!("tracking/product_view.json")).unwrap()
}

/// The anonymous product-view fixture (product 78).
pub fn anonymous_view() -> Value {
    serde_json::from_str(fixture!("tracking/product_view_anonymous.json")).unwrap()
}

/// A minimal anonymous view of `product_id` on channel 1.
pub fn view_of(product_id: u64) -> Value {
    serde_json::json!({"storeHash": STORE, "channelId": 1, "productId": product_id})
}

/// The cart fixture.
pub fn cart() -> Value {
    serde_json::from_str(fixture!("tracking/cart.json")).unwrap()
}

/// A cart beacon with its own cart id.
pub fn cart_with_id(cart_id: &str) -> Value {
    let mut cart = cart();
    cart["cartId"] = Value::from(cart_id);
    cart
}
