//! The connections every service makes at start, wired once: migrations when asked,
//! the database pool, the broker and its topology, a confirm publisher, the vendor clients,
//! and the health server.

use std::sync::Arc;

use crate::amqp::{Broker, Publisher, Topology};
use crate::db::DbPool;
use crate::health::{HealthServer, Readiness};
use crate::http::HttpClients;
use crate::Settings;

/// A service's shared connections.
pub struct Wiring {
    /// Exchange and queue names (with the configured namespace).
    pub topology: Topology,
    /// The supervised broker connection (connects in the background).
    pub broker: Broker,
    /// The database pool.
    pub pool: DbPool,
    /// Confirmed publishing, for retries, dead letters and the service's own messages.
    pub publisher: Arc<Publisher>,
    /// BigCommerce and Engage clients.
    pub clients: HttpClients,
}

impl std::fmt::Debug for Wiring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wiring")
            .field("topology", &self.topology)
            .field("broker", &self.broker)
            .finish_non_exhaustive()
    }
}

impl Wiring {
    /// Applies migrations when `database.migrate_on_start` is set, then makes the pool, the
    /// broker connection (named `service`), the publisher and the HTTP clients.
    pub async fn connect(settings: &Settings, service: &str) -> anyhow::Result<Self> {
        if settings.database.migrate_on_start {
            crate::db::run_migrations(&settings.database.url).await?;
        }
        let pool = crate::db::pool(&settings.database.url, settings.database.max_connections)?;
        let topology = Topology::new(&settings.amqp.namespace);
        let broker = Broker::start(settings.amqp.url.clone(), service, topology.clone());
        let publisher = Arc::new(Publisher::new(
            broker.clone(),
            settings.amqp.publisher_channels,
            settings.confirm_timeout(),
        ));
        let clients = HttpClients::new(settings)?;
        Ok(Self {
            topology,
            broker,
            pool,
            publisher,
            clients,
        })
    }

    /// Starts `/healthz`, `/readyz` (broker and database) and `/metrics` on
    /// `http.metrics_listen`, or on the service's `default_listen`.
    pub fn start_health(
        &self,
        settings: &Settings,
        default_listen: &str,
    ) -> std::io::Result<HealthServer> {
        HealthServer::start(
            settings.metrics_listen_or(default_listen),
            Readiness {
                broker: Some(self.broker.clone()),
                db: Some(self.pool.clone()),
            },
        )
    }
}
