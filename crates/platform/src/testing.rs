//! Test helpers (feature `test-helpers`): a fresh database per test cloned from a migrated
//! template and dropped afterwards, and a broker namespace per test deleted afterwards;
//! [`bench`] holds what the benchmarks share.

pub mod bench;

use std::time::Duration;

use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use lapin::options::{ExchangeDeleteOptions, QueueDeleteOptions};
use secrecy::{ExposeSecret, SecretString};

use crate::amqp::topology::WORK_QUEUES;
use crate::amqp::{Broker, Topology};
use crate::configuration::Settings;
use crate::db::{self, DbPool};

/// The server the tests use: `TEST_DATABASE_URL`, else the local default.
pub fn server_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned())
}

/// The broker the tests use: `TEST_AMQP_URL`, else the local default.
pub fn amqp_url() -> String {
    std::env::var("TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned())
}

const TEMPLATE: &str = "connector_test_template";
const DIGEST: &str = env!("MIGRATIONS_DIGEST");
/// Serialises template creation across test processes.
const TEMPLATE_LOCK: i64 = 0x636f_6e6e_6563_746f;

/// A database of its own for one test, dropped when the value is dropped.
pub struct TestDb {
    /// The database name.
    pub name: String,
    /// Its URL.
    pub url: SecretString,
    /// A pool on it.
    pub pool: DbPool,
}

impl std::fmt::Debug for TestDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestDb").field("name", &self.name).finish()
    }
}

impl TestDb {
    /// Creates a migrated database (a copy of the template, made first if needed).
    pub async fn new() -> Self {
        let server = server_url();
        let mut admin = AsyncPgConnection::establish(&format!("{server}/postgres"))
            .await
            .expect("PostgreSQL must be running on localhost:5432 for the tests");
        diesel::sql_query(format!("SELECT pg_advisory_lock({TEMPLATE_LOCK})"))
            .execute(&mut admin)
            .await
            .expect("template lock");
        let ready = template_is_current(&mut admin).await;
        if !ready {
            let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {TEMPLATE} WITH (FORCE)"))
                .execute(&mut admin)
                .await;
            diesel::sql_query(format!("CREATE DATABASE {TEMPLATE}"))
                .execute(&mut admin)
                .await
                .expect("create template database");
            db::run_migrations(&format!("{server}/{TEMPLATE}").into())
                .await
                .expect("migrate template database");
            diesel::sql_query(format!("COMMENT ON DATABASE {TEMPLATE} IS '{DIGEST}'"))
                .execute(&mut admin)
                .await
                .expect("mark template");
        }
        let name = format!("connector_test_{}", uuid::Uuid::new_v4().simple());
        diesel::sql_query(format!("CREATE DATABASE {name} TEMPLATE {TEMPLATE}"))
            .execute(&mut admin)
            .await
            .expect("clone template database");
        diesel::sql_query(format!("SELECT pg_advisory_unlock({TEMPLATE_LOCK})"))
            .execute(&mut admin)
            .await
            .expect("template unlock");
        let url: SecretString = format!("{server}/{name}").into();
        let pool = db::pool(&url, 8).expect("pool");
        Self { name, url, pool }
    }

    /// An empty database (no migrations), for the migration round-trip test.
    pub async fn empty() -> Self {
        let server = server_url();
        let mut admin = AsyncPgConnection::establish(&format!("{server}/postgres"))
            .await
            .expect("PostgreSQL must be running on localhost:5432 for the tests");
        let name = format!("connector_test_{}", uuid::Uuid::new_v4().simple());
        diesel::sql_query(format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .expect("create database");
        let url: SecretString = format!("{server}/{name}").into();
        let pool = db::pool(&url, 4).expect("pool");
        Self { name, url, pool }
    }
}

async fn template_is_current(admin: &mut AsyncPgConnection) -> bool {
    #[derive(diesel::QueryableByName)]
    struct Comment {
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
        comment: Option<String>,
    }
    let rows: Vec<Comment> = diesel::sql_query(format!(
        "SELECT shobj_description(oid, 'pg_database') AS comment FROM pg_database WHERE datname = '{TEMPLATE}'"
    ))
    .load(admin)
    .await
    .unwrap_or_default();
    rows.first()
        .and_then(|r| r.comment.as_deref())
        .is_some_and(|c| c == DIGEST)
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs outside any async context we can rely on: use a short-lived runtime on
        // its own thread, and wait for it so databases do not pile up.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                if let Ok(mut admin) =
                    AsyncPgConnection::establish(&format!("{}/postgres", server_url())).await
                {
                    let _ =
                        diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                            .execute(&mut admin)
                            .await;
                }
            });
        })
        .join();
    }
}

/// A unique broker namespace for one test; its exchanges and queues are deleted on drop.
#[derive(Debug)]
pub struct TestNamespace {
    /// The namespace (a prefix of every name).
    pub namespace: String,
    /// The topology under it.
    pub topology: Topology,
}

impl Default for TestNamespace {
    fn default() -> Self {
        Self::new()
    }
}

impl TestNamespace {
    /// A fresh namespace.
    pub fn new() -> Self {
        let namespace = format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        let topology = Topology::new(&namespace);
        Self {
            namespace,
            topology,
        }
    }

    /// A broker connection in this namespace, waited for.
    pub async fn broker(&self, name: &str) -> Broker {
        let broker = Broker::start(amqp_url().into(), name, self.topology.clone());
        assert!(
            broker.wait_connected(Duration::from_secs(10)).await,
            "RabbitMQ must be running on localhost:5672 for the tests"
        );
        broker
    }

    /// Every queue name of the namespace that tests may create.
    fn queues(&self) -> Vec<String> {
        let mut names = vec![self.topology.dropped_queue()];
        for (queue, _) in WORK_QUEUES {
            names.push(self.topology.queue(queue));
            names.push(self.topology.dead_letter_queue(queue));
            for secs in [
                1u64, 2, 4, 5, 8, 10, 16, 20, 30, 32, 40, 60, 64, 80, 120, 160, 300, 320, 600, 640,
                900,
            ] {
                names.push(self.topology.retry_queue(queue, Duration::from_secs(secs)));
            }
            for ms in [50u64, 100, 200, 250, 400, 500, 800, 1500] {
                names.push(self.topology.retry_queue(queue, Duration::from_millis(ms)));
            }
        }
        names
    }

    /// Deletes the namespace's exchanges and queues.
    pub async fn cleanup(&self) {
        let Ok(conn) = lapin::Connection::connect(&amqp_url(), Default::default()).await else {
            return;
        };
        // Deleting a queue that does not exist succeeds, so one channel serves them all;
        // a channel closed by an error is replaced.
        let Ok(mut ch) = conn.create_channel().await else {
            return;
        };
        for queue in self.queues() {
            if ch
                .queue_delete(queue.into(), QueueDeleteOptions::default())
                .await
                .is_err()
            {
                let Ok(fresh) = conn.create_channel().await else {
                    return;
                };
                ch = fresh;
            }
        }
        for exchange in [
            self.topology.events_exchange(),
            self.topology.dead_letter_exchange(),
        ] {
            let _ = ch
                .exchange_delete(exchange.into(), ExchangeDeleteOptions::default())
                .await;
        }
        let _ = ch.close(200, "cleanup".into()).await;
        let _ = conn.close(200, "cleanup".into()).await;
    }
}

impl Drop for TestNamespace {
    /// Deletes the namespace's queues and exchanges. lapin drives its I/O on the runtime it
    /// was first used on, so the cleanup runs on the test's own (multi-threaded) runtime.
    /// Tests using a namespace therefore use `#[tokio::test(flavor = "multi_thread")]`.
    fn drop(&mut self) {
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if handle.runtime_flavor() != tokio::runtime::RuntimeFlavor::MultiThread {
            return;
        }
        tokio::task::block_in_place(|| {
            let _ = handle.block_on(tokio::time::timeout(
                Duration::from_secs(20),
                self.cleanup(),
            ));
        });
    }
}

/// Settings pointing at a test database and namespace, with `overrides` as
/// `CONNECTOR__…` pairs.
pub fn settings(
    db: Option<&TestDb>,
    ns: Option<&TestNamespace>,
    overrides: &[(&str, &str)],
) -> Settings {
    let mut vars: Vec<(String, String)> = vec![
        ("CONNECTOR__AMQP__URL".into(), amqp_url()),
        (
            "CONNECTOR__HTTP__METRICS_LISTEN".into(),
            "127.0.0.1:0".into(),
        ),
        ("CONNECTOR__INGRESS__LISTEN".into(), "127.0.0.1:0".into()),
        ("CONNECTOR__ENGAGE__MAX_REQUESTS_PER_SEC".into(), "0".into()),
    ];
    if let Some(db) = db {
        vars.push((
            "CONNECTOR__DATABASE__URL".into(),
            db.url.expose_secret().to_owned(),
        ));
    }
    if let Some(ns) = ns {
        vars.push(("CONNECTOR__AMQP__NAMESPACE".into(), ns.namespace.clone()));
    }
    for (k, v) in overrides {
        vars.push(((*k).to_owned(), (*v).to_owned()));
    }
    Settings::load_from(None, None, vars).expect("test settings")
}

/// Polls `check` every 20 ms until it is true or `timeout` passes; returns the last result.
pub async fn eventually<F, Fut>(timeout: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A TCP proxy in front of a real server, for tests that cut connections or take the
/// server "down" without touching the real one.
#[derive(Debug, Clone)]
pub struct ChaosProxy {
    /// Where clients connect.
    pub addr: std::net::SocketAddr,
    state: std::sync::Arc<ProxyState>,
}

#[derive(Debug)]
struct ProxyState {
    down: std::sync::atomic::AtomicBool,
    cut: tokio::sync::watch::Sender<u64>,
    stalled: tokio::sync::watch::Sender<bool>,
}

/// Copies `from` to `to`, holding the bytes while the proxy is stalled (delayed, not lost).
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut stalled: tokio::sync::watch::Receiver<bool>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if stalled.wait_for(|stalled| !*stalled).await.is_err() {
            return;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

impl ChaosProxy {
    /// Starts forwarding a local port to `upstream` (`host:port`).
    pub async fn start(upstream: &str) -> Self {
        use std::sync::atomic::Ordering;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let (cut, _) = tokio::sync::watch::channel(0u64);
        let (stalled, _) = tokio::sync::watch::channel(false);
        let state = std::sync::Arc::new(ProxyState {
            down: false.into(),
            cut,
            stalled,
        });
        let upstream = upstream.to_owned();
        let st = state.clone();
        tokio::spawn(async move {
            loop {
                let Ok((inbound, _)) = listener.accept().await else {
                    return;
                };
                if st.down.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let upstream = upstream.clone();
                let mut cut = st.cut.subscribe();
                let stalled = st.stalled.subscribe();
                tokio::spawn(async move {
                    let Ok(outbound) = tokio::net::TcpStream::connect(&upstream).await else {
                        return;
                    };
                    let (in_read, in_write) = inbound.into_split();
                    let (out_read, out_write) = outbound.into_split();
                    tokio::select! {
                        _ = pump(in_read, out_write, stalled.clone()) => {}
                        _ = pump(out_read, in_write, stalled) => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        Self { addr, state }
    }

    /// An AMQP URL through this proxy.
    pub fn amqp_url(&self) -> String {
        format!("amqp://guest:guest@{}/%2f", self.addr)
    }

    /// Drops every open connection (clients see a broken socket).
    pub fn cut_all(&self) {
        self.state.cut.send_modify(|n| *n += 1);
    }

    /// While stalled, connections stay open but nothing passes either way: a broker that
    /// accepted the socket and stopped answering. What was sent meanwhile passes afterwards.
    pub fn set_stalled(&self, stalled: bool) {
        self.state.stalled.send_replace(stalled);
    }

    /// While down, new connections are refused at once and open ones are cut.
    pub fn set_down(&self, down: bool) {
        self.state
            .down
            .store(down, std::sync::atomic::Ordering::SeqCst);
        if down {
            self.cut_all();
        }
    }
}

/// Messages ready in `queue` (a full name), read with a passive declare; `None` when the
/// broker cannot say within a few seconds.
pub async fn queue_len(broker: &Broker, queue: &str) -> Option<u32> {
    use lapin::options::QueueDeclareOptions;
    let session = broker.session()?;
    tokio::time::timeout(SETUP_TIMEOUT, async {
        let channel = session.connection.create_channel().await.ok()?;
        let declared = channel
            .queue_declare(
                queue.into(),
                QueueDeclareOptions {
                    passive: true,
                    ..Default::default()
                },
                lapin::types::FieldTable::default(),
            )
            .await
            .ok()?;
        let _ = channel.close(200, "inspected".into()).await;
        Some(declared.message_count())
    })
    .await
    .ok()
    .flatten()
}

/// Takes and acks every message of `queue` (a full name) with one consumer, until none has
/// come for `idle`; returns them in delivery order. One consumer for the whole drain: a
/// consumer per message would have the broker push the next message to a channel about to
/// close, and hand it back later than the drain waits.
pub async fn drain_messages(
    broker: &Broker,
    queue: &str,
    idle: Duration,
) -> Vec<lapin::message::Delivery> {
    use futures_util::StreamExt;
    use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicQosOptions};
    let mut taken = Vec::new();
    let Some(session) = broker.session() else {
        return taken;
    };
    let Ok(Ok(channel)) =
        tokio::time::timeout(SETUP_TIMEOUT, session.connection.create_channel()).await
    else {
        return taken;
    };
    let consumer = async {
        channel
            .basic_qos(64, BasicQosOptions::default())
            .await
            .ok()?;
        channel
            .basic_consume(
                queue.into(),
                format!("drain-{}", uuid::Uuid::new_v4().simple())
                    .as_str()
                    .into(),
                BasicConsumeOptions::default(),
                lapin::types::FieldTable::default(),
            )
            .await
            .ok()
    };
    if let Ok(Some(mut consumer)) = tokio::time::timeout(SETUP_TIMEOUT, consumer).await {
        while let Ok(Some(Ok(delivery))) = tokio::time::timeout(idle, consumer.next()).await {
            let acked = tokio::time::timeout(
                SETUP_TIMEOUT,
                delivery.acker.ack(BasicAckOptions::default()),
            )
            .await;
            if !matches!(acked, Ok(Ok(_))) {
                break;
            }
            taken.push(delivery);
        }
    }
    let _ = tokio::time::timeout(SETUP_TIMEOUT, channel.close(200, "drained".into())).await;
    taken
}

/// How long [`take_message`] allows each broker step around the wait (opening a channel,
/// consuming, acking, closing).
const SETUP_TIMEOUT: Duration = Duration::from_secs(10);

/// Takes one message from `queue` (a full name), waiting up to `timeout`; acks it. Uses a
/// consumer rather than `basic.get`, whose empty answer lapin does not surface promptly.
pub async fn take_message(
    broker: &Broker,
    queue: &str,
    timeout: Duration,
) -> Option<lapin::message::Delivery> {
    use futures_util::StreamExt;
    use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicQosOptions};
    let session = broker.session()?;
    // Every step is bounded, so a test that waits on the broker fails instead of hanging:
    // `timeout` is how long to wait for a message; setting up and acking get their own bound,
    // so a slow broker does not pass for an empty queue.
    let channel = tokio::time::timeout(SETUP_TIMEOUT, session.connection.create_channel())
        .await
        .ok()?
        .ok()?;
    let consumer = async {
        channel
            .basic_qos(1, BasicQosOptions::default())
            .await
            .ok()?;
        let consumer = channel
            .basic_consume(
                queue.into(),
                format!("take-{}", uuid::Uuid::new_v4().simple())
                    .as_str()
                    .into(),
                BasicConsumeOptions::default(),
                lapin::types::FieldTable::default(),
            )
            .await
            .ok()?;
        Some(consumer)
    };
    let delivery = match tokio::time::timeout(SETUP_TIMEOUT, consumer).await {
        Ok(Some(mut consumer)) => match tokio::time::timeout(timeout, consumer.next()).await {
            Ok(Some(Ok(delivery))) => {
                tokio::time::timeout(
                    SETUP_TIMEOUT,
                    delivery.acker.ack(BasicAckOptions::default()),
                )
                .await
                .ok()?
                .ok()?;
                Some(delivery)
            }
            _ => None,
        },
        _ => None,
    };
    // Closing the channel returns anything else it was holding to the queue.
    let _ = tokio::time::timeout(SETUP_TIMEOUT, channel.close(200, "taken".into())).await;
    delivery
}
