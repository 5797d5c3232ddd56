//! Shared plumbing of the connector's services, written once.
//!
//! Every service is its own binary; what they have in common lives here so each service
//! crate is only its own logic.
//!
//! # Layout
//!
//! - [`configuration`]: layered settings (defaults ← files ← `CONNECTOR__…` variables).
//! - [`telemetry`]: logs (pretty or JSON), OpenTelemetry traces, trace context in headers.
//! - [`amqp`]: the supervised broker connection, the contract's topology, confirmed
//!   publishing, and the consume loop with delayed retries and dead letters.
//! - [`db`]: the PostgreSQL pool, embedded migrations, and the shared tables' queries.
//! - [`http`]: typed BigCommerce and Engage clients (pacing, retries, error classes).
//! - [`health`]: `/healthz`, `/readyz`, `/metrics` for the consumer services.
//! - [`metrics`]: the Prometheus recorder.
//! - [`service`]: the connections every consumer service makes at start, wired once.
//! - `testing` (feature `test-helpers`): a database per test, a broker namespace per test.

pub mod amqp;
pub mod configuration;
pub mod db;
pub mod health;
pub mod http;
pub mod metrics;
pub mod service;
pub mod telemetry;
#[cfg(feature = "test-helpers")]
pub mod testing;

pub use configuration::Settings;

/// Resolves when the process receives SIGINT or SIGTERM: the default shutdown signal of
/// every service's `main`.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
