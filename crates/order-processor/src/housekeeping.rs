//! Background upkeep beside the consumers: the backlog gauges (queue depth of both work
//! queues, staged orders waiting and how far behind the workers are) and the pruning of this
//! service's `processed_events`.

use std::time::{Duration, Instant};

use lapin::options::QueueDeclareOptions;
use lapin::types::FieldTable;
use platform::amqp::Broker;
use platform::db::events::{self, EVENT_RETENTION, PRUNE_EVERY};
use platform::db::DbPool;
use tokio_util::sync::CancellationToken;

use crate::db;
use crate::{CONSUMER, CONTACTS_QUEUE, ORDERS_QUEUE};

/// How often the backlog gauges are refreshed.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(5);

/// Runs the upkeep until `shutdown`: gauges every [`SAMPLE_EVERY`], pruning at start and
/// every [`PRUNE_EVERY`] (ids older than [`EVENT_RETENTION`]).
pub async fn run(pool: DbPool, broker: Broker, shutdown: CancellationToken) {
    let mut last_prune: Option<Instant> = None;
    loop {
        if last_prune.is_none_or(|at| at.elapsed() >= PRUNE_EVERY) {
            prune(&pool, &shutdown).await;
            last_prune = Some(Instant::now());
        }
        sample_backlog(&pool).await;
        sample_queues(&broker).await;
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(SAMPLE_EVERY) => {}
        }
    }
}

async fn prune(pool: &DbPool, shutdown: &CancellationToken) {
    match events::prune_expired(pool, CONSUMER, EVENT_RETENTION, shutdown).await {
        Ok(total) => {
            if total > 0 {
                tracing::info!(pruned = total, "old processed event ids pruned");
            }
            metrics::counter!("order_processor_processed_events_pruned_total")
                .increment(total as u64);
        }
        Err(error) => tracing::warn!(%error, "could not prune processed events"),
    }
}

async fn sample_backlog(pool: &DbPool) {
    let backlog = async {
        let mut conn = platform::db::conn(pool).await.ok()?;
        db::backlog(&mut conn).await.ok()
    }
    .await;
    let Some(backlog) = backlog else {
        tracing::debug!("could not read the order backlog");
        return;
    };
    metrics::gauge!("order_processor_orders_waiting").set(backlog.waiting as f64);
    metrics::gauge!("order_processor_orders_due").set(backlog.due as f64);
    metrics::gauge!("order_processor_order_sync_lag_seconds").set(backlog.lag_ms as f64 / 1000.0);
}

/// Ready messages in each work queue, read with a passive declare (no management plugin).
async fn sample_queues(broker: &Broker) {
    let Some(session) = broker.session() else {
        return;
    };
    let Ok(channel) = session.connection.create_channel().await else {
        return;
    };
    for queue in [ORDERS_QUEUE, CONTACTS_QUEUE] {
        let declared = channel
            .queue_declare(
                broker.topology().queue(queue).as_str().into(),
                QueueDeclareOptions {
                    passive: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await;
        match declared {
            Ok(declared) => {
                metrics::gauge!("order_processor_queue_messages", "queue" => queue)
                    .set(f64::from(declared.message_count()));
            }
            // A failed passive declare closes the channel: the next sample opens a new one.
            Err(_) => return,
        }
    }
    let _ = channel.close(200, "sampled".into()).await;
}
