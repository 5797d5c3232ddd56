//! The `order-processor` service: stages BigCommerce order events in PostgreSQL and syncs
//! them to Voyado Engage asynchronously, and upserts and deletes Engage contacts for
//! customer and subscriber events (connector.md §3–§4).
//!
//! Orders: every order event upserts one `pending` row per (store, order) in `orders` and is
//! acked only after that commit (the event id is recorded in `processed_events` in the same
//! transaction, so a redelivery is skipped unless an operator replays it). A worker claims
//! due rows (`FOR UPDATE SKIP LOCKED` plus a short lease that the sync renews while it runs,
//! so the rows of a process that died are taken over within seconds), fetches the current
//! order, makes sure the Engage contact exists (without a lookup when the customer's stored
//! contact link already says so), creates the Engage order the first time and replaces it
//! afterwards. Failed attempts back off exponentially; when attempts run out, or the error
//! is final, the row becomes `failed` and a copy of the event goes to the dead-letter queue.
//! The row keeps the W3C `traceparent` of its latest event, and each sync's `order_sync` span
//! is made its child, so one trace still runs from the webhook to the Engage call although
//! the sync happens later, in another task or process.
//!
//! Contacts: handled directly by the consumer, retried by the platform consume loop.
//!
//! # Layout
//!
//! - `lib.rs`: [`Application`] (build, run until stopped) and shared helpers.
//! - [`orders`]: the staging handler ([`orders::OrderStager`]) and the sync worker
//!   ([`orders::SyncWorker`]).
//! - [`contacts`]: the contact handler ([`contacts::ContactSync`]).
//! - [`db`]: queries of the `orders` and `contacts` tables.
//! - [`housekeeping`]: backlog gauges and the pruning of old event ids.
//!
//! Metrics: `order_processor_events_total{scope,outcome}`,
//! `order_processor_event_lag_seconds{queue}` (age of an event when handled),
//! `order_processor_queue_messages{queue}`, `order_processor_orders_waiting`,
//! `order_processor_orders_due`, `order_processor_order_sync_lag_seconds`,
//! `order_processor_orders_staged_total`, `order_processor_order_syncs_total{outcome}`,
//! `order_processor_events_dropped_total{reason}`, `order_processor_contacts_total{action}`,
//! `order_processor_orders_dead_lettered_total`, plus the platform's
//! `consumer_messages_total{queue,outcome}` (acks, retries, dead letters) and
//! `http_client_requests_total{api,status}` (BigCommerce and Engage calls).

pub mod contacts;
pub mod db;
pub mod housekeeping;
pub mod orders;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use domain::webhook::{Envelope, Scope};
use platform::amqp::{Broker, Consumer, HandlerError, Incoming, Publisher, RetryPolicy};
use platform::db::DbPool;
use platform::health::HealthServer;
use platform::http::HttpClients;
use platform::Settings;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// The service name: binary, telemetry `service.name` and AMQP `connection_name`.
pub const SERVICE: &str = "order-processor";
/// The consumer name under which event ids are recorded in `processed_events`.
pub const CONSUMER: &str = "order-processor";
/// The work queue of order events.
pub const ORDERS_QUEUE: &str = "order-processor.orders";
/// The work queue of customer and subscriber events.
pub const CONTACTS_QUEUE: &str = "order-processor.contacts";
/// The default `/healthz`, `/readyz`, `/metrics` listener.
pub const DEFAULT_METRICS_LISTEN: &str = "127.0.0.1:9101";

/// Counts an event dropped on purpose (acked without work) under `reason`.
pub fn count_dropped(reason: &'static str) {
    metrics::counter!("order_processor_events_dropped_total", "reason" => reason).increment(1);
}

/// Counts one handled event by scope and outcome (`order_processor_events_total`). Scopes
/// this service does not handle share one label, so a stray routing key cannot add series.
fn count_event(scope: Option<&Scope>, outcome: &'static str) {
    let scope = match scope {
        Some(Scope::Unhandled(_)) => "unhandled".to_owned(),
        Some(scope) => scope.as_str().to_owned(),
        None => "unparsable".to_owned(),
    };
    metrics::counter!("order_processor_events_total", "scope" => scope, "outcome" => outcome)
        .increment(1);
}

/// The outcome label of a handler's result: its own label when it succeeded, else the kind
/// of error (the consume loop then counts the retry or dead letter).
fn outcome_of(result: &Result<&'static str, HandlerError>) -> &'static str {
    match result {
        Ok(outcome) => outcome,
        Err(HandlerError::Transient { .. }) => "transient_error",
        Err(HandlerError::Fatal { .. }) => "fatal_error",
    }
}

/// Records how long ago the ingress received the event (`x-received-at`) in
/// `order_processor_event_lag_seconds{queue}`: the queue lag as the events feel it, retry
/// delays included.
fn observe_lag(queue: &'static str, message: &Incoming) {
    let Some(received) = message
        .header(platform::amqp::message::RECEIVED_AT)
        .and_then(|at| OffsetDateTime::parse(&at, &Rfc3339).ok())
    else {
        return;
    };
    let lag = (OffsetDateTime::now_utc() - received)
        .as_seconds_f64()
        .max(0.0);
    metrics::histogram!("order_processor_event_lag_seconds", "queue" => queue).record(lag);
}

/// What both consumers do around their own handling of one message: record its lag, parse
/// its envelope (an unusable one is final), run `process` and count the outcome.
pub async fn handle_counted<F, Fut>(
    queue: &'static str,
    what: &str,
    message: &Incoming,
    process: F,
) -> Result<(), HandlerError>
where
    F: FnOnce(Envelope) -> Fut,
    Fut: Future<Output = Result<&'static str, HandlerError>>,
{
    observe_lag(queue, message);
    let envelope = match Envelope::parse(&message.body) {
        Ok(envelope) => envelope,
        Err(e) => {
            count_event(None, "unusable");
            return Err(HandlerError::fatal(format!("unusable {what} event: {e}")));
        }
    };
    let scope = envelope.scope().clone();
    let result = process(envelope).await;
    count_event(Some(&scope), outcome_of(&result));
    result.map(drop)
}

/// The retry policy of order syncs and contact events, from `order_processor.*`.
pub fn retry_policy(settings: &Settings) -> RetryPolicy {
    let op = &settings.order_processor;
    RetryPolicy {
        max_attempts: op.max_attempts.max(1),
        base: Duration::from_secs(op.retry_base_secs.max(1)),
        max: Duration::from_secs(op.retry_max_secs.max(op.retry_base_secs).max(1)),
    }
}

/// The service, built and ready to run.
pub struct Application {
    settings: Settings,
    pool: DbPool,
    broker: Broker,
    publisher: Arc<Publisher>,
    http: HttpClients,
    health: HealthServer,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("metrics_addr", &self.health.addr)
            .finish_non_exhaustive()
    }
}

impl Application {
    /// Connects everything (migrating first when `database.migrate_on_start`) and binds
    /// the health/metrics listener. The broker connects in the background.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let wiring = platform::service::Wiring::connect(&settings, SERVICE).await?;
        let health = wiring.start_health(&settings, DEFAULT_METRICS_LISTEN)?;
        let platform::service::Wiring {
            broker,
            pool,
            publisher,
            clients: http,
            ..
        } = wiring;
        tracing::info!(metrics = %health.addr, "order-processor built");
        Ok(Self {
            settings,
            pool,
            broker,
            publisher,
            http,
            health,
        })
    }

    /// The bound `/healthz`, `/readyz`, `/metrics` address (the real port when 0 was asked).
    pub fn metrics_addr(&self) -> SocketAddr {
        self.health.addr
    }

    /// Runs both consumers, the sync worker and the upkeep until `shutdown` resolves, then
    /// drains them (consumers stop taking deliveries and finish what they hold; the worker
    /// finishes its syncs or gives their rows back) and closes the broker connection.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        let stop = CancellationToken::new();
        let policy = retry_policy(&self.settings);
        let prefetch = self.settings.amqp.prefetch;
        let wake = Arc::new(Notify::new());
        let orders = Consumer::new(
            self.broker.clone(),
            self.publisher.clone(),
            ORDERS_QUEUE,
            prefetch,
            policy,
            Arc::new(orders::OrderStager::new(self.pool.clone(), wake.clone())),
        );
        let contacts = Consumer::new(
            self.broker.clone(),
            self.publisher.clone(),
            CONTACTS_QUEUE,
            prefetch,
            policy,
            Arc::new(contacts::ContactSync::new(
                self.pool.clone(),
                self.http.clone(),
            )),
        );
        let worker = orders::SyncWorker::new(
            self.pool.clone(),
            self.http.clone(),
            self.broker.clone(),
            self.publisher.clone(),
            policy,
            wake,
        );
        let tasks = [
            tokio::spawn(orders.run(stop.clone())),
            tokio::spawn(contacts.run(stop.clone())),
            tokio::spawn(worker.run(stop.clone())),
            tokio::spawn(housekeeping::run(
                self.pool.clone(),
                self.broker.clone(),
                stop.clone(),
            )),
        ];
        shutdown.await;
        tracing::info!("shutting down: draining in-flight work");
        stop.cancel();
        for task in tasks {
            if let Err(error) = task.await {
                tracing::error!(%error, "a task ended abnormally");
            }
        }
        self.health.stop().await;
        self.broker.close().await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lapin::types::FieldTable;
    use lapin::BasicProperties;

    fn incoming(message_id: Option<&str>) -> Incoming {
        Incoming {
            body: Vec::new(),
            routing_key: "store.order.created".into(),
            message_id: message_id.map(str::to_owned),
            headers: FieldTable::default(),
            attempts: 0,
            redelivered: false,
            properties: BasicProperties::default(),
        }
    }

    #[test]
    fn the_event_id_is_the_message_id_else_the_envelope_digest() {
        let envelope = Envelope::parse(include_bytes!(
            "../../../fixtures/bigcommerce/webhooks/order_created.json"
        ))
        .unwrap();
        assert_eq!(incoming(Some("evt-1")).event_id(&envelope), "evt-1");
        let digest = incoming(None).event_id(&envelope);
        assert_eq!(digest, envelope.event_id(None).to_string());
        assert!(digest.starts_with(domain::webhook::DIGEST_EVENT_ID_PREFIX));
        assert_eq!(incoming(Some("")).event_id(&envelope), digest);
    }

    #[test]
    fn order_retries_double_from_the_base_up_to_the_cap() {
        let vars = [
            ("CONNECTOR__ORDER_PROCESSOR__RETRY_BASE_SECS", "10"),
            ("CONNECTOR__ORDER_PROCESSOR__RETRY_MAX_SECS", "900"),
        ];
        let settings = Settings::load_from(
            None,
            None,
            vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        )
        .unwrap();
        let policy = retry_policy(&settings);
        assert_eq!(policy.max_attempts, 10);
        let delays: Vec<u64> = (1..10).map(|n| policy.delay_after(n).as_secs()).collect();
        assert_eq!(delays, vec![10, 20, 40, 80, 160, 320, 640, 900, 900]);
        assert!(policy.may_retry(9));
        assert!(!policy.may_retry(10));
    }
}
