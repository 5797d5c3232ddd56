//! `/healthz`, `/readyz` and `/metrics` for the consumer services (the ingress serves the
//! same routes on its own port).

use std::net::SocketAddr;

use actix_web::{web, App, HttpResponse, HttpServer};

use crate::amqp::Broker;
use crate::db::DbPool;

/// How long `/readyz` waits for the database before it answers "not ready".
pub const READY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// What `/readyz` checks.
#[derive(Clone)]
pub struct Readiness {
    /// Ready only while connected to the broker.
    pub broker: Option<Broker>,
    /// Ready only while the database answers.
    pub db: Option<DbPool>,
}

impl std::fmt::Debug for Readiness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Readiness")
            .field("broker", &self.broker.is_some())
            .field("db", &self.db.is_some())
            .finish()
    }
}

impl Readiness {
    /// True when every dependency answers, within [`READY_TIMEOUT`] (a probe must be
    /// answered even when the database hangs).
    pub async fn check(&self) -> bool {
        let broker_ok = self.broker.as_ref().is_none_or(Broker::is_connected);
        let db_ok = match &self.db {
            Some(pool) => tokio::time::timeout(READY_TIMEOUT, crate::db::is_ready(pool))
                .await
                .unwrap_or(false),
            None => true,
        };
        broker_ok && db_ok
    }
}

/// A running health server.
pub struct HealthServer {
    /// The bound address (the real port when 0 was asked for).
    pub addr: SocketAddr,
    handle: actix_web::dev::ServerHandle,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl std::fmt::Debug for HealthServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HealthServer")
            .field("addr", &self.addr)
            .finish()
    }
}

/// Registers the three routes on an actix app (shared with the ingress).
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/metrics", web::get().to(metrics_text));
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok")
}

async fn readyz(readiness: web::Data<Readiness>) -> HttpResponse {
    if readiness.check().await {
        HttpResponse::Ok().content_type("text/plain").body("ready")
    } else {
        HttpResponse::ServiceUnavailable()
            .content_type("text/plain")
            .body("not ready")
    }
}

async fn metrics_text() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(crate::metrics::render())
}

impl HealthServer {
    /// Binds `listen` and serves the routes on one worker.
    pub fn start(listen: SocketAddr, readiness: Readiness) -> std::io::Result<Self> {
        crate::metrics::install();
        let data = web::Data::new(readiness);
        let server = HttpServer::new(move || App::new().app_data(data.clone()).configure(routes))
            .workers(1)
            .disable_signals()
            .shutdown_timeout(1)
            .bind(listen)?;
        let addr = server.addrs()[0];
        let server = server.run();
        let handle = server.handle();
        let task = tokio::spawn(server);
        Ok(Self { addr, handle, task })
    }

    /// Stops serving.
    pub async fn stop(self) {
        self.handle.stop(true).await;
        let _ = self.task.await;
    }
}
