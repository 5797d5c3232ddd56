//! Cross-service tests of the connector.
//!
//! # Layout
//!
//! - `src/lib.rs`: [`Connector`], the whole connector in one process — ingress,
//!   order-processor, tracking-forwarder and webhook-health — on a database and a broker
//!   namespace of its own, with the sandbox as BigCommerce and Engage.
//! - `it/`: end-to-end tests of the demo's flows, asserted on what the sandbox Engage
//!   received.
//! - `trace/`: one trace from the webhook to the Engage call, with an in-memory exporter.
//! - `deploy/`: checks of `docker-compose.yml`, `deploy/Dockerfile` and `deploy/kubernetes/`.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use domain::channel::{ChannelSettings, ContactTypeMode};
use domain::ids::{ChannelId, StoreHash};
use lapin::options::QueueDeclareOptions;
use lapin::types::FieldTable;
use platform::amqp::topology::WORK_QUEUES;
use platform::amqp::Broker;
use platform::db::channels::{self, Channel};
use platform::db::stores::{self, NewStore};
use platform::testing::{eventually, settings, TestDb, TestNamespace};
use sandbox::{RecordedRequest, Sandbox, SandboxHandle, Seed};
use secrecy::SecretString;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The fixtures' store.
pub const STORE: &str = "abc123";
/// Its webhook client secret.
pub const CLIENT_SECRET: &str = "e2e-client-secret";
/// The storefront origin allowed for channel 1.
pub const ORIGIN: &str = "https://shop.example.com";
/// The ingress URL registered in BigCommerce by webhook-health.
pub const DESTINATION: &str = "https://connector.example.com/webhooks/bigcommerce";
/// How long a test waits for the pipeline.
pub const WAIT: Duration = Duration::from_secs(60);

type Run = Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>>;

/// One service running in this process until told to stop.
struct Running {
    name: &'static str,
    stop: oneshot::Sender<()>,
    task: JoinHandle<anyhow::Result<()>>,
}

impl Running {
    fn spawn(name: &'static str, run: impl FnOnce(oneshot::Receiver<()>) -> Run) -> Self {
        let (stop, rx) = oneshot::channel();
        Self {
            name,
            stop,
            task: tokio::spawn(run(rx)),
        }
    }
}

async fn until(rx: oneshot::Receiver<()>) {
    let _ = rx.await;
}

/// The connector with everything it talks to.
pub struct Connector {
    /// Fake BigCommerce and Engage.
    pub sandbox: SandboxHandle,
    /// The ingress's base URL.
    pub ingress_url: String,
    /// The test database.
    pub db: TestDb,
    /// The test's own broker connection (queue inspection).
    pub broker: Broker,
    services: Vec<Running>,
    // Dropped last: the services stop before their queues are deleted.
    ns: TestNamespace,
}

impl Connector {
    /// Starts the sandbox with the fixtures, a store `abc123` and its channel 1
    /// (member-and-contact mode, storefront origin [`ORIGIN`]), then the four services with
    /// short order retries. Returns once the ingress answers `/readyz`.
    pub async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// [`Self::start`] with extra `CONNECTOR__…` settings.
    pub async fn start_with(overrides: &[(&str, &str)]) -> Self {
        let db = TestDb::new().await;
        let ns = TestNamespace::new();
        let sandbox = Sandbox::start("127.0.0.1:0", Seed::default_fixtures())
            .await
            .expect("sandbox starts");
        seed_store(&db, &sandbox).await;

        let mut vars = vec![
            ("CONNECTOR__ORDER_PROCESSOR__RETRY_BASE_SECS", "1"),
            ("CONNECTOR__ORDER_PROCESSOR__RETRY_MAX_SECS", "1"),
            ("CONNECTOR__WEBHOOK_HEALTH__DESTINATION_URL", DESTINATION),
        ];
        vars.extend_from_slice(overrides);
        let settings = settings(Some(&db), Some(&ns), &vars);

        // The test's connection declares the topology first, so no early publish is lost.
        let broker = ns.broker("e2e").await;
        let ingress = ingress::Application::build(settings.clone())
            .await
            .expect("ingress builds");
        let ingress_url = format!("http://{}", ingress.addr());
        let orders = order_processor::Application::build(settings.clone())
            .await
            .expect("order-processor builds");
        let tracking = tracking_forwarder::Application::build(settings.clone())
            .await
            .expect("tracking-forwarder builds");
        let health = webhook_health::Application::build(settings)
            .await
            .expect("webhook-health builds");
        let services = vec![
            Running::spawn("ingress", |rx| {
                Box::pin(ingress.run_until_stopped(until(rx)))
            }),
            Running::spawn("order-processor", |rx| {
                Box::pin(orders.run_until_stopped(until(rx)))
            }),
            Running::spawn("tracking-forwarder", |rx| {
                Box::pin(tracking.run_until_stopped(until(rx)))
            }),
            Running::spawn("webhook-health", |rx| {
                Box::pin(health.run_until_stopped(until(rx)))
            }),
        ];
        let connector = Self {
            sandbox,
            ingress_url,
            db,
            broker,
            services,
            ns,
        };
        let http = reqwest::Client::new();
        let ready = eventually(WAIT, || async {
            http.get(format!("{}/readyz", connector.ingress_url))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200)
        })
        .await;
        assert!(ready, "the ingress never became ready");
        connector
    }

    /// A sender of the demo's traffic to this connector's ingress.
    pub fn traffic(&self) -> demo::Traffic {
        demo::Traffic::new(
            reqwest::Client::new(),
            &self.ingress_url,
            CLIENT_SECRET,
            ORIGIN,
        )
    }

    /// Successful (2xx) Engage requests of `method` whose path starts with
    /// `/engage{path}`.
    pub fn engage_ok(&self, method: &str, path: &str) -> Vec<RecordedRequest> {
        self.sandbox
            .requests_to(&format!("/engage{path}"))
            .into_iter()
            .filter(|r| r.method == method && (200..300).contains(&r.status))
            .collect()
    }

    /// Ready plus unacknowledged messages in every work queue of the namespace.
    pub async fn messages_in_work_queues(&self) -> u32 {
        let Some(session) = self.broker.session() else {
            return u32::MAX;
        };
        let Ok(channel) = session.connection.create_channel().await else {
            return u32::MAX;
        };
        let mut total = 0;
        for (queue, _) in WORK_QUEUES {
            let declared = channel
                .queue_declare(
                    self.ns.topology.queue(queue).as_str().into(),
                    QueueDeclareOptions {
                        passive: true,
                        ..Default::default()
                    },
                    FieldTable::default(),
                )
                .await;
            total += declared.map_or(u32::MAX / 8, |q| q.message_count());
        }
        let _ = channel.close(200, "inspected".into()).await;
        total
    }

    /// Staged orders not yet settled (`pending` or `processing`).
    pub async fn unsettled_orders(&self) -> i64 {
        self.orders_in(&["pending", "processing"]).await
    }

    /// Staged orders whose status is one of `statuses` (`i64::MAX` when the database
    /// cannot be read).
    pub async fn orders_in(&self, statuses: &[&str]) -> i64 {
        use diesel::dsl::count_star;
        use diesel::prelude::*;
        use diesel_async::RunQueryDsl;
        use platform::db::schema::orders::dsl;
        let Ok(mut conn) = platform::db::conn(&self.db.pool).await else {
            return i64::MAX;
        };
        dsl::orders
            .filter(dsl::status.eq_any(statuses))
            .select(count_star())
            .first(&mut conn)
            .await
            .unwrap_or(i64::MAX)
    }

    /// Waits until the work queues are empty, no staged order is unsettled and the sandbox
    /// saw no request for `quiet`. Returns false when that did not happen within [`WAIT`].
    pub async fn wait_idle(&self, quiet: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + WAIT;
        let mut seen = usize::MAX;
        let mut since = tokio::time::Instant::now();
        while tokio::time::Instant::now() < deadline {
            let requests = self.sandbox.requests().len();
            if requests != seen {
                seen = requests;
                since = tokio::time::Instant::now();
            }
            if since.elapsed() >= quiet
                && self.messages_in_work_queues().await == 0
                && self.unsettled_orders().await == 0
            {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    }

    /// Stops every service (each drains and must exit cleanly), then the sandbox.
    pub async fn stop(self) {
        for service in self.services {
            let _ = service.stop.send(());
            let result = tokio::time::timeout(WAIT, service.task)
                .await
                .unwrap_or_else(|_| panic!("{} did not stop in time", service.name));
            result
                .expect("the service task does not panic")
                .unwrap_or_else(|e| panic!("{} stopped with an error: {e:#}", service.name));
        }
        self.broker.close().await;
        self.sandbox.stop().await;
        drop(self.db);
        drop(self.ns);
    }
}

async fn seed_store(db: &TestDb, sandbox: &SandboxHandle) {
    let mut conn = platform::db::conn(&db.pool).await.expect("test database");
    let store = StoreHash::parse(STORE).expect("the fixtures' store hash parses");
    stores::insert(
        &mut conn,
        &NewStore {
            store_hash: &store,
            client_secret: &SecretString::from(CLIENT_SECRET),
            access_token: &SecretString::from("e2e-access-token"),
            api_base_url: &sandbox.bigcommerce_url(),
        },
    )
    .await
    .expect("store inserted");
    let mut channel = ChannelSettings::new(store, ChannelId::new(1), "SE-WEB");
    channel.contact_type_mode = ContactTypeMode::MemberAndContact;
    channel.allowed_origins = vec![ORIGIN.to_owned()];
    channels::insert(
        &mut conn,
        &Channel {
            settings: channel,
            engage_base_url: sandbox.engage_url(),
            engage_api_key: SecretString::from("e2e-engage-key"),
        },
    )
    .await
    .expect("channel inserted");
}
