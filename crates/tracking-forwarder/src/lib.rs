//! tracking-forwarder: consumes `tracking-forwarder.events` and forwards storefront product
//! views, carts and converted carts to Engage's tracking API (connector.md §5).
//!
//! - Product views: the product (v3 catalog) and its category names are resolved through an
//!   in-process cache (TTL `tracking_forwarder.cache_ttl_secs`, bounded, single-flight), the
//!   view is sent with up to `tracking_forwarder.product_view_retries` short retries on
//!   Engage 5xx, then dropped from the pipeline and parked in `tracking-forwarder.dropped`.
//! - Carts: sent once (plus `tracking_forwarder.cart_retries`); failures are logged and
//!   counted.
//! - Converted carts: the order's billing e-mail finds the Engage contact, and the cart
//!   reference is sent with that contact and no items.
//!
//! Events of an unconfigured (store, channel) are dropped and counted.
//!
//! # Layout
//!
//! - [`Application`]: start-up (broker, database pool, HTTP clients, health server) and
//!   the run loop with graceful shutdown.
//! - [`handler`]: the message handler (product views, carts, converted carts).
//! - [`cache`]: the TTL cache with a size bound and single-flight loads.

pub mod cache;
pub mod handler;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use platform::amqp::{Broker, Consumer, RetryPolicy};
use platform::db::events::{self, EVENT_RETENTION, PRUNE_EVERY};
use platform::health::HealthServer;
use platform::Settings;
use tokio_util::sync::CancellationToken;

pub use handler::{ForwarderConfig, TrackingHandler};

/// The queue this service consumes.
pub const QUEUE: &str = "tracking-forwarder.events";
/// The consumer name under which sent converted carts are recorded in `processed_events`.
pub const CONSUMER: &str = "tracking-forwarder";

/// Prunes this consumer's old `processed_events` at start and every [`PRUNE_EVERY`].
async fn prune_sent_events(pool: platform::db::DbPool, stop: CancellationToken) {
    loop {
        match events::prune_expired(&pool, CONSUMER, EVENT_RETENTION, &stop).await {
            Ok(0) => {}
            Ok(pruned) => tracing::info!(pruned, "old converted-cart event ids pruned"),
            Err(error) => tracing::warn!(%error, "could not prune processed events"),
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(PRUNE_EVERY) => {}
        }
    }
}

/// The default `/healthz`, `/readyz`, `/metrics` listener.
pub const DEFAULT_METRICS_LISTEN: &str = "127.0.0.1:9102";

/// Later retries through the broker's retry queues, for failures before Engage is called
/// (database down, BigCommerce 5xx): a few short tries, then the dead-letter queue.
pub const RETRY_POLICY: RetryPolicy = RetryPolicy {
    max_attempts: 3,
    base: Duration::from_secs(1),
    max: Duration::from_secs(2),
};

/// The built service, ready to run.
pub struct Application {
    broker: Broker,
    pool: platform::db::DbPool,
    consumer: Consumer<TrackingHandler>,
    health: HealthServer,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("broker", &self.broker)
            .field("metrics_addr", &self.health.addr)
            .finish_non_exhaustive()
    }
}

impl Application {
    /// Connects the broker (in the background), makes the database pool and HTTP clients,
    /// and starts the health server on `http.metrics_listen` (port 0 allowed).
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let wiring = platform::service::Wiring::connect(&settings, "tracking-forwarder").await?;
        let dropped_queue = wiring.topology.dropped_queue();
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
        let handler = Arc::new(TrackingHandler::new(
            ForwarderConfig::from_settings(&settings),
            pool.clone(),
            clients,
            publisher.clone(),
            dropped_queue,
        ));
        let consumer = Consumer::new(
            broker.clone(),
            publisher,
            QUEUE,
            settings.amqp.prefetch,
            RETRY_POLICY,
            handler,
        );
        tracing::info!(metrics = %health.addr, "tracking-forwarder built");
        Ok(Self {
            broker,
            pool,
            consumer,
            health,
        })
    }

    /// The address `/healthz`, `/readyz` and `/metrics` are served on.
    pub fn metrics_addr(&self) -> SocketAddr {
        self.health.addr
    }

    /// Consumes until `shutdown` resolves, then lets in-flight messages finish, stops the
    /// health server and closes the broker connection.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        let stop = CancellationToken::new();
        let consumer = tokio::spawn(self.consumer.run(stop.clone()));
        let pruning = tokio::spawn(prune_sent_events(self.pool, stop.clone()));
        shutdown.await;
        tracing::info!("shutting down");
        stop.cancel();
        let joined = consumer.await;
        let _ = pruning.await;
        self.health.stop().await;
        self.broker.close().await;
        joined.context("consumer task")?;
        Ok(())
    }
}
