use std::time::Duration;

use domain::channel::{ChannelSettings, ContactTypeMode};
use domain::ids::{ChannelId, StoreHash};
use platform::amqp::Broker;
use platform::db::{self, channels, stores};
use platform::testing::{settings, ChaosProxy, TestDb, TestNamespace};
use secrecy::SecretString;
use tokio::sync::oneshot;

pub const SECRET: &str = "client-secret-abc";
pub const ORIGIN: &str = "https://shop.example.com";

pub struct Running {
    pub base: String,
    pub http: reqwest::Client,
    pub ns: TestNamespace,
    pub broker: Broker,
    pub _db: TestDb,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl Running {
    pub async fn stop(mut self) -> anyhow::Result<()> {
        let _ = self.stop.take().unwrap().send(());
        let result = self.task.take().unwrap().await.unwrap();
        self.broker.close().await;
        result
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Takes one message from a work queue of this test's namespace, if one is there now.
    pub async fn take(&self, queue: &str) -> Option<lapin::message::Delivery> {
        platform::testing::take_message(
            &self.broker,
            &self.ns.topology.queue(queue),
            Duration::from_millis(300),
        )
        .await
    }

    /// Takes one message, waiting up to `timeout` for it.
    pub async fn take_within(
        &self,
        queue: &str,
        timeout: Duration,
    ) -> Option<lapin::message::Delivery> {
        platform::testing::take_message(&self.broker, &self.ns.topology.queue(queue), timeout).await
    }
}

async fn seed(db: &TestDb) {
    let mut conn = db::conn(&db.pool).await.unwrap();
    let hash = StoreHash::parse("abc123").unwrap();
    stores::insert(
        &mut conn,
        &stores::NewStore {
            store_hash: &hash,
            client_secret: &SecretString::from(SECRET),
            access_token: &SecretString::from("token"),
            api_base_url: "http://127.0.0.1:1",
        },
    )
    .await
    .unwrap();
    let mut settings = ChannelSettings::new(hash, ChannelId::new(1), "SE-WEB");
    settings.contact_type_mode = ContactTypeMode::AllMember;
    settings.allowed_origins = vec![ORIGIN.to_owned()];
    channels::insert(
        &mut conn,
        &channels::Channel {
            settings,
            engage_base_url: "http://127.0.0.1:1".into(),
            engage_api_key: SecretString::from("key"),
        },
    )
    .await
    .unwrap();
}

/// Starts an ingress on a free port, with store `abc123` and channel 1 configured.
pub async fn start(overrides: &[(&str, &str)]) -> Running {
    start_with(None, overrides).await
}

/// Same, with the broker reached through `proxy`.
pub async fn start_with(proxy: Option<&ChaosProxy>, overrides: &[(&str, &str)]) -> Running {
    let db = TestDb::new().await;
    seed(&db).await;
    let ns = TestNamespace::new();
    let broker = ns.broker("it-ingress-reader").await;
    let url;
    let mut vars: Vec<(&str, &str)> = overrides.to_vec();
    if let Some(proxy) = proxy {
        url = proxy.amqp_url();
        vars.push(("CONNECTOR__AMQP__URL", url.as_str()));
    }
    vars.push(("CONNECTOR__AMQP__CONFIRM_TIMEOUT_MS", "2000"));
    let settings = settings(Some(&db), Some(&ns), &vars);
    let app = ingress::Application::build(settings).await.unwrap();
    let base = format!("http://{}", app.addr());
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(app.run_until_stopped(async move {
        let _ = stopped.await;
    }));
    // Bounded, so an answer that never comes fails the test instead of hanging it.
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    // Until the ingress's own broker connection is up it answers 503: wait for readiness
    // (long enough for one failed connection attempt, bounded by the broker's
    // CONNECT_TIMEOUT, and its retry).
    let ready = platform::testing::eventually(Duration::from_secs(30), || {
        let http = http.clone();
        let url = format!("{base}/readyz");
        async move {
            http.get(url)
                .send()
                .await
                .map(|r| r.status() == 200)
                .unwrap_or(false)
        }
    })
    .await;
    assert!(ready, "ingress did not become ready");
    Running {
        base,
        http,
        ns,
        broker,
        _db: db,
        stop: Some(stop),
        task: Some(task),
    }
}

pub fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/../../fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}
