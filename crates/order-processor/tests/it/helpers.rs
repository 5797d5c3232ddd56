use std::sync::Arc;
use std::time::Duration;

use domain::channel::{ChannelSettings, ContactTypeMode};
use domain::ids::{ChannelId, StoreHash};
use lapin::types::FieldTable;
use order_processor::db::{self, OrderRow};
use order_processor::Application;
use platform::amqp::{message, Broker, Publisher};
use platform::db::channels::{self, Channel};
use platform::db::stores::{self, NewStore};
use platform::testing::{eventually, settings, TestDb, TestNamespace};
use sandbox::{Sandbox, SandboxHandle, Seed};
use secrecy::SecretString;
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const STORE: &str = "abc123";
pub const WAIT: Duration = Duration::from_secs(20);

pub const ORDER_CREATED: &str =
    include_str!("../../../../fixtures/bigcommerce/webhooks/order_created.json");
pub const ORDER_UPDATED: &str =
    include_str!("../../../../fixtures/bigcommerce/webhooks/order_updated.json");
pub const ORDER_STATUS_REFUNDED: &str =
    include_str!("../../../../fixtures/bigcommerce/webhooks/order_status_refunded.json");
pub const ORDER_STATUS_PARTIALLY_REFUNDED: &str =
    include_str!("../../../../fixtures/bigcommerce/webhooks/order_status_partially_refunded.json");
pub const ORDER_STATUS_UPDATED: &str =
    include_str!("../../../../fixtures/bigcommerce/webhooks/order_status_updated.json");
pub const ORDER_ARCHIVED: &str =
    include_str!("../../../../fixtures/bigcommerce/webhooks/order_archived.json");
pub const ORDER_REFUND_CREATED: &str =
    include_str!("../../../../fixtures/bigcommerce/webhooks/order_refund_created.json");
pub const CUSTOMER_CREATED: &str =
    include_str!("../../../../fixtures/bigcommerce/webhooks/customer_created.json");
pub const CUSTOMER_DELETED: &str =
    include_str!("../../../../fixtures/bigcommerce/webhooks/customer_deleted.json");
pub const CUSTOMER_ADDRESS_UPDATED: &str =
    include_str!("../../../../fixtures/bigcommerce/webhooks/customer_address_updated.json");
pub const SUBSCRIBER_CREATED: &str =
    include_str!("../../../../fixtures/bigcommerce/webhooks/subscriber_created.json");
pub const CUSTOMER_UPDATED: &str =
    include_str!("../../../../fixtures/bigcommerce/webhooks/customer_updated.json");
pub const V3_SUBSCRIBER_5: &str =
    include_str!("../../../../fixtures/bigcommerce/api/v3_subscribers_5.json");
pub const V2_ORDER_250: &str =
    include_str!("../../../../fixtures/bigcommerce/api/v2_orders_250.json");
pub const V2_ORDER_250_PRODUCTS: &str =
    include_str!("../../../../fixtures/bigcommerce/api/v2_orders_250_products.json");
pub const V2_ORDER_250_SHIPPING: &str =
    include_str!("../../../../fixtures/bigcommerce/api/v2_orders_250_shipping_addresses.json");

/// How a test wants its world.
pub struct Options {
    pub channel: bool,
    pub mode: ContactTypeMode,
    pub overrides: Vec<(&'static str, String)>,
    /// Start an order-processor in the test's process (else the test starts its own).
    pub instance: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            channel: true,
            mode: ContactTypeMode::AllMember,
            overrides: Vec::new(),
            instance: true,
        }
    }
}

/// A running order-processor with its own database, broker namespace and sandbox.
pub struct TestApp {
    pub db: TestDb,
    pub sb: SandboxHandle,
    pub broker: Broker,
    pub publisher: Arc<Publisher>,
    overrides: Vec<(String, String)>,
    instance: Option<Instance>,
    // Dropped last: its cleanup deletes the queues.
    pub ns: TestNamespace,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(Options::default()).await
    }

    pub async fn spawn_with(options: Options) -> Self {
        let db = TestDb::new().await;
        let ns = TestNamespace::new();
        let sb = Sandbox::start("127.0.0.1:0", Seed::default_fixtures())
            .await
            .unwrap();
        let store_hash = StoreHash::parse(STORE).unwrap();
        {
            let mut conn = platform::db::conn(&db.pool).await.unwrap();
            stores::insert(
                &mut conn,
                &NewStore {
                    store_hash: &store_hash,
                    client_secret: &SecretString::from("secret"),
                    access_token: &SecretString::from("bc-token"),
                    api_base_url: &sb.bigcommerce_url(),
                },
            )
            .await
            .unwrap();
            if options.channel {
                let mut s = ChannelSettings::new(store_hash.clone(), ChannelId::new(1), "SE-WEB");
                s.contact_type_mode = options.mode;
                channels::insert(
                    &mut conn,
                    &Channel {
                        settings: s,
                        engage_base_url: sb.engage_url(),
                        engage_api_key: SecretString::from("engage-key"),
                    },
                )
                .await
                .unwrap();
            }
        }
        let mut overrides: Vec<(&str, &str)> = vec![
            ("CONNECTOR__ORDER_PROCESSOR__RETRY_BASE_SECS", "1"),
            ("CONNECTOR__ORDER_PROCESSOR__RETRY_MAX_SECS", "1"),
        ];
        for (k, v) in &options.overrides {
            overrides.push((k, v.as_str()));
        }
        let owned: Vec<(String, String)> = overrides
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let settings = settings(Some(&db), Some(&ns), &overrides);
        let confirm = settings.confirm_timeout();
        let instance = if options.instance {
            Some(Instance::start(settings).await)
        } else {
            None
        };
        // A connection of the test's own declares the topology, so the queues exist before
        // the first publish.
        let broker = ns.broker("order-processor-test").await;
        let publisher = Arc::new(Publisher::new(broker.clone(), 1, confirm));
        Self {
            db,
            sb,
            broker,
            publisher,
            overrides: owned,
            instance,
            ns,
        }
    }

    /// The `/metrics` address of the first instance.
    /// Configures another channel of the store: its own Engage store id, API key and
    /// order-id prefix, on the same sandbox Engage.
    pub async fn add_channel(&self, id: u32, store_external_id: &str, api_key: &str, prefix: &str) {
        let mut conn = platform::db::conn(&self.db.pool).await.unwrap();
        let mut s = ChannelSettings::new(
            StoreHash::parse(STORE).unwrap(),
            ChannelId::new(id),
            store_external_id,
        );
        s.order_id_prefix = Some(prefix.to_owned());
        channels::insert(
            &mut conn,
            &Channel {
                settings: s,
                engage_base_url: self.sb.engage_url(),
                engage_api_key: SecretString::from(api_key),
            },
        )
        .await
        .unwrap();
    }

    pub fn metrics_addr(&self) -> std::net::SocketAddr {
        self.instance.as_ref().unwrap().metrics_addr
    }

    /// The settings the instances run with.
    pub fn settings(&self) -> platform::Settings {
        let overrides: Vec<(&str, &str)> = self
            .overrides
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        settings(Some(&self.db), Some(&self.ns), &overrides)
    }

    /// Another order-processor on the same database and broker namespace.
    pub async fn another_instance(&self) -> Instance {
        Instance::start(self.settings()).await
    }

    /// Stops the first instance gracefully (returns when its drain is over).
    pub async fn stop_instance(&mut self) {
        if let Some(instance) = self.instance.take() {
            instance.stop().await;
        }
    }

    /// The `order-processor` binary as its own process, configured like the instances
    /// through `CONNECTOR__…` variables only.
    pub fn spawn_process(&self) -> tokio::process::Child {
        use secrecy::ExposeSecret;
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_order-processor"));
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("CONNECTOR_CONFIG_DIR", "/nonexistent")
            .env("CONNECTOR__DATABASE__URL", self.db.url.expose_secret())
            .env("CONNECTOR__AMQP__URL", platform::testing::amqp_url())
            .env("CONNECTOR__AMQP__NAMESPACE", &self.ns.namespace)
            .env("CONNECTOR__HTTP__METRICS_LISTEN", "127.0.0.1:0")
            .env("CONNECTOR__ENGAGE__MAX_REQUESTS_PER_SEC", "0")
            .env("CONNECTOR__TELEMETRY__LOG_LEVEL", "warn");
        for (k, v) in &self.overrides {
            command.env(k, v);
        }
        command
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("start the order-processor binary")
    }

    /// Publishes a webhook body as the ingress would, with `message_id`.
    pub async fn publish(&self, body: &str, message_id: &str) {
        self.publish_with(body, message_id, false).await
    }

    /// Publishes a webhook body; `replay` marks it as an operator's DLQ replay.
    pub async fn publish_with(&self, body: &str, message_id: &str, replay: bool) {
        let mut headers = FieldTable::default();
        if replay {
            message::set_bool(&mut headers, message::REPLAY, true);
        }
        self.publish_headers(body, message_id, headers).await
    }

    /// Publishes a webhook body carrying the W3C `traceparent` the ingress would add.
    pub async fn publish_traced(&self, body: &str, message_id: &str, traceparent: &str) {
        let mut headers = FieldTable::default();
        message::set_str(&mut headers, message::TRACEPARENT, traceparent);
        self.publish_headers(body, message_id, headers).await
    }

    /// Publishes a webhook body with `headers` besides the store hash.
    pub async fn publish_headers(&self, body: &str, message_id: &str, mut headers: FieldTable) {
        let value: Value = serde_json::from_str(body).unwrap();
        let scope = value["scope"].as_str().unwrap().replace('/', ".");
        message::set_str(&mut headers, message::STORE_HASH, STORE);
        self.publisher
            .publish(
                &self.ns.topology.events_exchange(),
                &scope,
                body.as_bytes(),
                message::event_properties(message_id, headers),
            )
            .await
            .unwrap();
    }

    pub async fn order_row(&self, order_id: i64) -> Option<OrderRow> {
        let mut conn = platform::db::conn(&self.db.pool).await.unwrap();
        db::find_order(&mut conn, STORE, order_id).await.unwrap()
    }

    /// Waits until the order's row satisfies `check`; returns the row.
    pub async fn wait_row(&self, order_id: i64, check: impl Fn(&OrderRow) -> bool) -> OrderRow {
        self.wait_row_within(WAIT, order_id, check).await
    }

    /// [`Self::wait_row`] with its own deadline.
    pub async fn wait_row_within(
        &self,
        wait: Duration,
        order_id: i64,
        check: impl Fn(&OrderRow) -> bool,
    ) -> OrderRow {
        let ok = eventually(wait, || async {
            self.order_row(order_id).await.is_some_and(|r| check(&r))
        })
        .await;
        let row = self.order_row(order_id).await;
        assert!(ok, "order row never reached the expected state: {row:?}");
        row.unwrap()
    }

    pub async fn processed(&self, event_id: &str) -> bool {
        let mut conn = platform::db::conn(&self.db.pool).await.unwrap();
        platform::db::events::was_processed(&mut conn, "order-processor", event_id)
            .await
            .unwrap()
    }

    pub async fn wait_processed(&self, event_id: &str) {
        assert!(
            eventually(WAIT, || self.processed(event_id)).await,
            "event {event_id} was never processed"
        );
    }

    pub async fn contact_link(&self, customer_id: i64) -> Option<db::ContactLink> {
        let mut conn = platform::db::conn(&self.db.pool).await.unwrap();
        db::find_contact_link(&mut conn, STORE, customer_id)
            .await
            .unwrap()
    }

    /// Ready messages in a queue (full name).
    pub async fn queue_len(&self, queue: &str) -> u32 {
        platform::testing::queue_len(&self.broker, queue)
            .await
            .expect("the broker tells the queue's length")
    }

    /// Takes one message off a queue (full name), if there is one.
    pub async fn take(&self, queue: &str) -> Option<lapin::message::BasicGetMessage> {
        if self.queue_len(queue).await == 0 {
            return None;
        }
        // A consumer, not basic.get: lapin does not surface an empty get promptly.
        let delivery =
            platform::testing::take_message(&self.broker, queue, std::time::Duration::from_secs(2))
                .await?;
        Some(lapin::message::BasicGetMessage {
            delivery,
            message_count: 0,
        })
    }

    /// Replays every dead letter of `queue` (a work queue's contract name) as an operator's
    /// `connectorctl dlq replay` does: the same body, message id and headers, to the original
    /// routing key, marked `x-replay` with the attempts reset. Returns how many.
    pub async fn replay_dead_letters(&self, queue: &str) -> usize {
        let dlq = self.ns.topology.dead_letter_queue(queue);
        let mut replayed = 0;
        while self.queue_len(&dlq).await > 0 {
            let Some(dead) =
                platform::testing::take_message(&self.broker, &dlq, Duration::from_secs(2)).await
            else {
                break;
            };
            let mut headers = dead.properties.headers().clone().unwrap_or_default();
            let key = message::get_str(&headers, message::ORIGINAL_ROUTING_KEY)
                .expect("a dead letter names its routing key");
            message::set_bool(&mut headers, message::REPLAY, true);
            message::set_int(&mut headers, message::ATTEMPTS, 0);
            self.publisher
                .publish(
                    &self.ns.topology.events_exchange(),
                    &key,
                    &dead.data,
                    dead.properties.clone().with_headers(headers),
                )
                .await
                .unwrap();
            replayed += 1;
        }
        replayed
    }

    /// Every recorded vendor call (BigCommerce and Engage) as `METHOD path`.
    pub fn vendor_calls(&self) -> Vec<String> {
        self.sb
            .requests()
            .into_iter()
            .map(|r| format!("{} {}", r.method, r.path))
            .collect()
    }

    /// Engage requests with `method` whose path starts with `/engage{path}`.
    pub fn engage_bodies(&self, method: &str, path: &str) -> Vec<Value> {
        self.sb
            .requests_to(&format!("/engage{path}"))
            .into_iter()
            .filter(|r| r.method == method)
            .map(|r| r.body)
            .collect()
    }

    /// Every Engage request, of any kind.
    pub fn engage_calls(&self) -> usize {
        self.sb.requests_to("/engage").len()
    }

    pub async fn stop(mut self) {
        if let Some(instance) = self.instance.take() {
            instance.stop().await;
        }
        self.broker.close().await;
    }
}

/// One running `Application`.
pub struct Instance {
    pub metrics_addr: std::net::SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<anyhow::Result<()>>,
}

impl Instance {
    pub async fn start(settings: platform::Settings) -> Self {
        let app = Application::build(settings).await.unwrap();
        let metrics_addr = app.metrics_addr();
        let (stop, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(app.run_until_stopped(async {
            let _ = rx.await;
        }));
        Self {
            metrics_addr,
            stop,
            task,
        }
    }

    pub async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.unwrap().unwrap();
    }
}

/// A webhook fixture with `data.id` replaced.
pub fn with_id(body: &str, id: u64) -> String {
    let mut value: Value = serde_json::from_str(body).unwrap();
    value["data"]["id"] = id.into();
    value.to_string()
}
