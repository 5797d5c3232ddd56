//! webhook-health: keeps every store's BigCommerce webhooks registered and active
//! (connector.md §6).
//!
//! Every `webhook_health.interval_secs` (300), and on demand (a `webhook_health.check`
//! message on `webhook-health.commands`, e.g. from `connectorctl hooks check`), each store's
//! hooks are listed (`GET /v3/hooks`, all pages); every required scope without a hook on
//! `webhook_health.destination_url` is created, and inactive hooks on that destination are
//! re-activated (`PUT /v3/hooks/{id}`). Hooks on other destinations are left alone.
//!
//! A store is checked under a Postgres advisory lock (`pg_try_advisory_lock`), so two
//! replicas never act on one store at once: the second one skips it.
//!
//! Every check and every change is recorded in `webhook_checks`. After a re-activation (and
//! unless `webhook_health.backfill = false`) the orders and customers changed since the last
//! event processed for the store (or since the hook went inactive) are published as
//! synthetic `store/order/updated` / `store/customer/updated` events with `x-backfill: true`
//! and a deterministic message id; what was published is recorded so that a second run
//! publishes nothing twice, and a window too large for one run continues on the next.
//!
//! # Layout
//!
//! - [`Application`]: start-up (broker, database pool, HTTP clients, health server), the
//!   periodic check and the command consumer, with graceful shutdown.
//! - [`checker`]: one store's check, the advisory lock, the records and the back-fill.
//! - [`handler`]: the `webhook_health.check` command handler.

pub mod checker;
pub mod handler;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use platform::amqp::{Broker, Consumer, RetryPolicy};
use platform::health::HealthServer;
use platform::Settings;
use tokio_util::sync::CancellationToken;

pub use checker::{CheckReport, Checker, CheckerConfig};
pub use handler::{CheckCommand, CommandHandler, CHECK_ROUTING_KEY};

/// The queue this service consumes.
pub const QUEUE: &str = "webhook-health.commands";

/// The default `/healthz`, `/readyz`, `/metrics` listener.
pub const DEFAULT_METRICS_LISTEN: &str = "127.0.0.1:9103";

/// Retries of an on-demand check that failed on a transient error (BigCommerce 5xx/429,
/// database): a few, then the dead-letter queue; the periodic check runs anyway.
pub const RETRY_POLICY: RetryPolicy = RetryPolicy {
    max_attempts: 3,
    base: Duration::from_secs(5),
    max: Duration::from_secs(30),
};

/// The built service, ready to run.
pub struct Application {
    broker: Broker,
    consumer: Consumer<CommandHandler>,
    checker: Arc<Checker>,
    interval: Duration,
    health: HealthServer,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("broker", &self.broker)
            .field("interval", &self.interval)
            .field("metrics_addr", &self.health.addr)
            .finish_non_exhaustive()
    }
}

impl Application {
    /// Connects the broker (in the background), makes the database pool and HTTP clients,
    /// and starts the health server on `http.metrics_listen` (port 0 allowed).
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let wiring = platform::service::Wiring::connect(&settings, "webhook-health").await?;
        let exchange = wiring.topology.events_exchange();
        let health = wiring
            .start_health(&settings, DEFAULT_METRICS_LISTEN)
            .context("health server")?;
        let platform::service::Wiring {
            broker,
            pool,
            publisher,
            clients,
            ..
        } = wiring;
        let checker = Arc::new(Checker::new(
            CheckerConfig::from_settings(&settings),
            pool.clone(),
            clients,
            publisher.clone(),
            exchange,
        ));
        let handler = Arc::new(CommandHandler::new(checker.clone(), pool.clone()));
        let consumer = Consumer::new(
            broker.clone(),
            publisher,
            QUEUE,
            settings.amqp.prefetch,
            RETRY_POLICY,
            handler,
        );
        let interval = Duration::from_secs(settings.webhook_health.interval_secs.max(1));
        tracing::info!(metrics = %health.addr, ?interval, "webhook-health built");
        Ok(Self {
            broker,
            consumer,
            checker,
            interval,
            health,
        })
    }

    /// The address `/healthz`, `/readyz` and `/metrics` are served on.
    pub fn metrics_addr(&self) -> SocketAddr {
        self.health.addr
    }

    /// Checks every store at once and then every interval, and consumes commands, until
    /// `shutdown` resolves; then lets the running check and in-flight commands finish, stops
    /// the health server and closes the broker connection.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        let stop = CancellationToken::new();
        let consumer = tokio::spawn(self.consumer.run(stop.clone()));
        let periodic = tokio::spawn(periodic(self.checker, self.interval, stop.clone()));
        shutdown.await;
        tracing::info!("shutting down");
        stop.cancel();
        let joined = consumer.await;
        let periodic = periodic.await;
        self.health.stop().await;
        self.broker.close().await;
        joined.context("consumer task")?;
        periodic.context("periodic check task")?;
        Ok(())
    }
}

/// The periodic check: one run now, then one per `interval` (a slow run delays the next
/// rather than overlapping it). A failing run is logged; the next one runs as usual. A run
/// still going at shutdown is abandoned.
async fn periodic(checker: Arc<Checker>, interval: Duration, stop: CancellationToken) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = ticker.tick() => {}
        }
        // Shutdown does not wait for a run stuck in retries: its pool closes with the
        // process, which releases any advisory lock it held.
        let run = tokio::select! {
            _ = stop.cancelled() => return,
            run = checker.check_all() => run,
        };
        match run {
            Ok(0) => {}
            Ok(failed) => tracing::warn!(failed, "some stores could not be checked"),
            Err(error) => tracing::warn!(%error, "webhook check run failed"),
        }
    }
}
