//! Running webhook-health instances wired to a fresh database, namespace and sandbox.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use domain::ids::StoreHash;
use platform::amqp::{message, Broker, Publisher};
use platform::db::schema::webhook_checks;
use platform::db::{self, stores};
use platform::testing::{eventually, settings, TestDb, TestNamespace};
use sandbox::{Sandbox, SandboxHandle, Seed};
use secrecy::SecretString;
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use webhook_health::Application;

/// The fixtures' store.
pub const STORE: &str = "abc123";
/// The destination of the fixtures' hooks: the connector's own.
pub const DESTINATION: &str = "https://connector.example.com/webhooks/bigcommerce";
/// The fixtures' inactive hook (`store/customer/created`).
pub const INACTIVE_HOOK: i64 = 18048288;
/// Hooks path as the sandbox records it.
pub const HOOKS: &str = "/bigcommerce/stores/abc123/v3/hooks";
/// How long tests wait for work to happen.
pub const WAIT: Duration = Duration::from_secs(30);

/// A running service instance.
pub struct Instance {
    /// Where `/healthz`, `/readyz`, `/metrics` are served.
    pub metrics_addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

/// The services under test and everything they talk to.
pub struct TestApp {
    /// Fake BigCommerce.
    pub sandbox: SandboxHandle,
    /// The test's own broker connection.
    pub broker: Broker,
    /// A publisher on it.
    pub publisher: Arc<Publisher>,
    /// The running instances.
    pub instances: Vec<Instance>,
    /// The test database.
    pub db: TestDb,
    overrides: Vec<(String, String)>,
    // Dropped last: the services must stop before their queues go.
    ns: TestNamespace,
}

/// Settings of the tests: 1 s interval, the fixtures' destination.
pub fn base_overrides() -> Vec<(&'static str, &'static str)> {
    vec![
        ("CONNECTOR__WEBHOOK_HEALTH__INTERVAL_SECS", "1"),
        ("CONNECTOR__WEBHOOK_HEALTH__DESTINATION_URL", DESTINATION),
    ]
}

impl TestApp {
    /// A sandbox with the default fixtures, the store registered, nothing running yet.
    pub async fn prepare(seed: Seed, overrides: &[(&str, &str)]) -> Self {
        let sandbox = Sandbox::start("127.0.0.1:0", seed).await.unwrap();
        let test_db = TestDb::new().await;
        let ns = TestNamespace::new();
        {
            let mut conn = db::conn(&test_db.pool).await.unwrap();
            let hash = StoreHash::parse(STORE).unwrap();
            stores::insert(
                &mut conn,
                &stores::NewStore {
                    store_hash: &hash,
                    client_secret: &SecretString::from("client-secret"),
                    access_token: &SecretString::from("token"),
                    api_base_url: &sandbox.bigcommerce_url(),
                },
            )
            .await
            .unwrap();
        }
        // Declares the topology before anything is published.
        let broker = ns.broker("webhook-health-test").await;
        let publisher = Arc::new(Publisher::new(broker.clone(), 1, Duration::from_secs(5)));
        let mut all: Vec<(String, String)> = base_overrides()
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        all.extend(
            overrides
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        Self {
            sandbox,
            broker,
            publisher,
            instances: Vec::new(),
            db: test_db,
            overrides: all,
            ns,
        }
    }

    /// One instance on the default fixtures with `CONNECTOR__…` overrides.
    pub async fn spawn_with(overrides: &[(&str, &str)]) -> Self {
        let mut app = Self::prepare(Seed::default_fixtures(), overrides).await;
        app.start_instance().await;
        app
    }

    /// The settings the instances run with.
    pub fn settings(&self) -> platform::Settings {
        let pairs: Vec<(&str, &str)> = self
            .overrides
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        settings(Some(&self.db), Some(&self.ns), &pairs)
    }

    /// Starts one more instance.
    pub async fn start_instance(&mut self) {
        let app = Application::build(self.settings()).await.unwrap();
        let metrics_addr = app.metrics_addr();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(app.run_until_stopped(async move {
            let _ = stopped.await;
        }));
        self.instances.push(Instance {
            metrics_addr,
            stop: Some(stop),
            task: Some(task),
        });
    }

    /// The topology of the test's namespace.
    pub fn topology(&self) -> &platform::amqp::Topology {
        self.broker.topology()
    }

    /// Required scopes that have an active hook on [`DESTINATION`].
    pub fn active_required_scopes(&self) -> usize {
        domain::webhook::Scope::required_hooks()
            .iter()
            .filter(|scope| {
                self.sandbox.hooks(STORE).iter().any(|h| {
                    h["scope"] == scope.as_str()
                        && h["destination"] == DESTINATION
                        && h["is_active"] == true
                })
            })
            .count()
    }

    /// Waits until every required scope has an active hook.
    pub async fn wait_all_active(&self) -> bool {
        let required = domain::webhook::Scope::required_hooks().len();
        eventually(WAIT, || async { self.active_required_scopes() == required }).await
    }

    /// Waits until `n` more hook listings than now have completed, i.e. at least one full
    /// later check run.
    pub async fn wait_more_runs(&self, n: usize) -> bool {
        let start = self.completed_checks().await;
        eventually(WAIT, || async {
            self.completed_checks().await >= start + n
        })
        .await
    }

    /// `check`, `create` or `reactivate` rows of the store's `store/subscriber/updated`
    /// scope: one per completed check run.
    pub async fn completed_checks(&self) -> usize {
        let mut conn = db::conn(&self.db.pool).await.unwrap();
        let n: i64 = webhook_checks::table
            .filter(webhook_checks::store_hash.eq(STORE))
            .filter(webhook_checks::scope.eq("store/subscriber/updated"))
            .filter(webhook_checks::action.eq_any(["check", "create", "reactivate"]))
            .count()
            .get_result(&mut conn)
            .await
            .unwrap();
        n as usize
    }

    /// `webhook_checks` rows of the store with `action`: (hook id, scope, before, after,
    /// detail).
    #[allow(clippy::type_complexity)]
    pub async fn rows(
        &self,
        action: &str,
    ) -> Vec<(
        Option<i64>,
        String,
        Option<String>,
        Option<String>,
        Option<String>,
    )> {
        let mut conn = db::conn(&self.db.pool).await.unwrap();
        webhook_checks::table
            .filter(webhook_checks::store_hash.eq(STORE))
            .filter(webhook_checks::action.eq(action))
            .order(webhook_checks::id.asc())
            .select((
                webhook_checks::hook_id,
                webhook_checks::scope,
                webhook_checks::before,
                webhook_checks::after,
                webhook_checks::detail,
            ))
            .load(&mut conn)
            .await
            .unwrap()
    }

    /// Publishes a `webhook_health.check` command.
    pub async fn publish_check(&self, body: &Value) {
        self.publisher
            .publish(
                &self.topology().events_exchange(),
                webhook_health::CHECK_ROUTING_KEY,
                body.to_string().as_bytes(),
                message::event_properties("check-1", Default::default()),
            )
            .await
            .unwrap();
    }

    /// Takes every message now in the work queue `queue` (e.g. `order-processor.orders`):
    /// (message id, back-fill header, body).
    pub async fn drain(&self, queue: &str) -> Vec<(String, bool, Value)> {
        let name = self.topology().queue(queue);
        platform::testing::drain_messages(&self.broker, &name, Duration::from_millis(500))
            .await
            .into_iter()
            .map(|got| {
                let id = got
                    .properties
                    .message_id()
                    .as_ref()
                    .map(|s| s.as_str().to_owned())
                    .unwrap_or_default();
                let headers = got.properties.headers().clone().unwrap_or_default();
                let backfill = message::get_bool(&headers, message::BACKFILL);
                let body = serde_json::from_slice(&got.data).unwrap();
                (id, backfill, body)
            })
            .collect()
    }

    /// `GET /metrics` of the first instance.
    pub async fn metrics(&self) -> String {
        let addr = self.instances[0].metrics_addr;
        reqwest::get(format!("http://{addr}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// Stops every instance and waits for it; panics if one fails or hangs.
    pub async fn stop(mut self) {
        for instance in &mut self.instances {
            if let Some(stop) = instance.stop.take() {
                let _ = stop.send(());
            }
        }
        for instance in &mut self.instances {
            if let Some(task) = instance.task.take() {
                tokio::time::timeout(Duration::from_secs(40), task)
                    .await
                    .expect("the service stops")
                    .expect("the service task")
                    .expect("the service ends cleanly");
            }
        }
        self.broker.close().await;
    }
}
