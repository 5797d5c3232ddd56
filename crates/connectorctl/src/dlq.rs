//! `connectorctl dlq …`: inspect, replay and purge the dead-letter queue of a work queue.
//!
//! AMQP 0.9.1 cannot peek, so reading a dead-letter queue consumes with manual acks and a
//! prefetch of exactly the messages wanted, then hands every message back (nack with
//! requeue) unless it was replayed. A replayed message is acknowledged only after the broker
//! confirmed its copy on the events exchange, so a failure at any point leaves it in the DLQ.

use std::io::Write;
use std::time::Duration;

use clap::Subcommand;
use futures_util::StreamExt;
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions,
    QueueDeclareOptions, QueuePurgeOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::Channel;
use platform::amqp::message::{
    get_int, get_str, set_bool, set_int, ATTEMPTS, DEAD_AT, DEAD_REASON, FIRST_FAILURE_AT,
    ORIGINAL_ROUTING_KEY, REPLAY, STORE_HASH,
};
use platform::amqp::topology::WORK_QUEUES;
use platform::amqp::{Broker, Publisher, Topology};
use platform::Settings;

use crate::CtlError;

/// How long to wait for the broker connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long to wait for the messages a queue said it holds.
const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// The header quorum queues add on redelivery; not part of the event.
const DELIVERY_COUNT: &str = "x-delivery-count";
/// The broker's own dead-lettering history of a message.
const X_DEATH: &str = "x-death";

/// Dead-letter queue commands. QUEUE is a work queue (`order-processor.orders`,
/// `order-processor.contacts`, `tracking-forwarder.events`, `webhook-health.commands`) or
/// its `.dlq` name.
#[derive(Debug, Subcommand)]
pub enum DlqCommand {
    /// Show the dead-lettered messages of a queue (they stay in the DLQ).
    List {
        /// The work queue, e.g. `order-processor.orders` (or its `.dlq` name).
        queue: String,
        /// Show at most this many messages (oldest first).
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u16).range(1..))]
        limit: u16,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Republish dead-lettered messages to their original routing key.
    ///
    /// Each goes to the events exchange with its body, message id and headers, marked
    /// `x-replay: true` with `x-attempts` reset to 0, and leaves the DLQ only once the broker
    /// confirmed the copy. Messages not selected stay in the DLQ.
    Replay {
        /// The work queue, e.g. `order-processor.orders` (or its `.dlq` name).
        queue: String,
        /// Replay at most this many messages (default: all).
        #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
        limit: Option<u16>,
        /// Replay only the message with this event id (message id).
        #[arg(long)]
        id: Option<String>,
    },
    /// Delete every message of a dead-letter queue.
    Purge {
        /// The work queue, e.g. `order-processor.orders` (or its `.dlq` name).
        queue: String,
        /// Confirm the purge (required).
        #[arg(long)]
        yes: bool,
    },
}

/// The work queue named by `value` (with or without `.dlq`), as the contract spells it.
fn work_queue(value: &str) -> Result<&'static str, CtlError> {
    let name = value.strip_suffix(".dlq").unwrap_or(value);
    WORK_QUEUES
        .iter()
        .map(|(q, _)| *q)
        .find(|q| *q == name)
        .ok_or_else(|| {
            let known: Vec<&str> = WORK_QUEUES.iter().map(|(q, _)| *q).collect();
            CtlError::Invalid(format!(
                "unknown queue `{value}` (one of: {})",
                known.join(", ")
            ))
        })
}

fn broker_error(what: &str, error: impl std::fmt::Display) -> CtlError {
    CtlError::Invalid(format!("broker: {what}: {error}"))
}

/// The webhook scope of a routing key: `store.order.created` → `store/order/created`.
fn scope_of(routing_key: &str) -> String {
    if routing_key.starts_with("store.") {
        routing_key.replace('.', "/")
    } else {
        routing_key.to_owned()
    }
}

pub(crate) async fn run(
    cmd: DlqCommand,
    settings: &Settings,
    out: &mut impl Write,
) -> Result<(), CtlError> {
    let queue = match &cmd {
        DlqCommand::List { queue, .. }
        | DlqCommand::Replay { queue, .. }
        | DlqCommand::Purge { queue, .. } => work_queue(queue)?,
    };
    if let DlqCommand::Purge { yes: false, .. } = cmd {
        return Err(CtlError::Invalid("refusing to purge without --yes".into()));
    }
    let topology = Topology::new(&settings.amqp.namespace);
    let broker = Broker::start(settings.amqp.url.clone(), "connectorctl", topology.clone());
    let result = async {
        if !broker.wait_connected(CONNECT_TIMEOUT).await {
            return Err(CtlError::Invalid(format!(
                "broker: not reachable within {}s (amqp.url)",
                CONNECT_TIMEOUT.as_secs()
            )));
        }
        let session = broker
            .session()
            .ok_or_else(|| CtlError::Invalid("broker: connection lost".into()))?;
        let channel = session
            .connection
            .create_channel()
            .await
            .map_err(|e| broker_error("open channel", e))?;
        let dlq = topology.dead_letter_queue(queue);
        let result = match cmd {
            DlqCommand::List { limit, json, .. } => list(&channel, &dlq, limit, json, out).await,
            DlqCommand::Replay { limit, id, .. } => {
                let publisher = Publisher::new(broker.clone(), 1, settings.confirm_timeout());
                replay(&channel, &publisher, &topology, &dlq, limit, id, out).await
            }
            DlqCommand::Purge { .. } => {
                let n = channel
                    .queue_purge(dlq.as_str().into(), QueuePurgeOptions::default())
                    .await
                    .map_err(|e| broker_error("purge", e))?;
                writeln!(out, "purged {n} message(s) from {dlq}")?;
                Ok(())
            }
        };
        // Closing the channel also returns any message still unacknowledged.
        let _ = channel.close(200, "done".into()).await;
        result
    }
    .await;
    broker.close().await;
    result
}

/// Messages in `queue` right now (a passive declare: fails if the queue does not exist).
async fn message_count(channel: &Channel, queue: &str) -> Result<u32, CtlError> {
    let declared = channel
        .queue_declare(
            queue.into(),
            QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .map_err(|e| broker_error(&format!("queue {queue}"), e))?;
    Ok(declared.message_count())
}

/// Takes up to `max` messages of `queue` unacknowledged (oldest first). The caller acks or
/// nacks each; the consumer is cancelled, so no further message arrives meanwhile.
async fn take(channel: &Channel, queue: &str, max: u16) -> Result<Vec<Delivery>, CtlError> {
    let count = message_count(channel, queue).await?;
    let wanted = count.min(max.into()) as u16;
    if wanted == 0 {
        return Ok(Vec::new());
    }
    channel
        .basic_qos(wanted, BasicQosOptions::default())
        .await
        .map_err(|e| broker_error("qos", e))?;
    let mut consumer = channel
        .basic_consume(
            queue.into(),
            "connectorctl-dlq".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(|e| broker_error("consume", e))?;
    let deadline = tokio::time::Instant::now() + READ_TIMEOUT;
    let mut taken = Vec::with_capacity(wanted.into());
    while taken.len() < usize::from(wanted) {
        match tokio::time::timeout_at(deadline, consumer.next()).await {
            Ok(Some(Ok(delivery))) => taken.push(delivery),
            Ok(Some(Err(e))) => return Err(broker_error("read", e)),
            // The stream ended or the messages went elsewhere meanwhile: use what came.
            Ok(None) | Err(_) => break,
        }
    }
    channel
        .basic_cancel(consumer.tag(), BasicCancelOptions::default())
        .await
        .map_err(|e| broker_error("cancel", e))?;
    Ok(taken)
}

/// Hands messages back to their queue.
async fn give_back(deliveries: &[Delivery]) -> Result<(), CtlError> {
    for d in deliveries {
        d.acker
            .nack(BasicNackOptions {
                requeue: true,
                multiple: false,
            })
            .await
            .map_err(|e| broker_error("requeue", e))?;
    }
    Ok(())
}

/// The routing key the event was first published with: the connector's
/// `x-original-routing-key`, or for a message the broker dead-lettered itself (its delivery
/// limit was reached) the first key of its first `x-death` entry.
fn original_routing_key(headers: &FieldTable) -> Option<String> {
    if let Some(key) = get_str(headers, ORIGINAL_ROUTING_KEY) {
        return Some(key);
    }
    let Some(AMQPValue::FieldArray(deaths)) = headers.inner().get(X_DEATH) else {
        return None;
    };
    let Some(AMQPValue::FieldTable(death)) = deaths.as_slice().first() else {
        return None;
    };
    let Some(AMQPValue::FieldArray(keys)) = death.inner().get("routing-keys") else {
        return None;
    };
    match keys.as_slice().first()? {
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        AMQPValue::ShortString(s) => Some(s.as_str().to_owned()),
        _ => None,
    }
}

/// What an operator sees of one dead letter.
struct DeadLetter {
    event_id: String,
    routing_key: Option<String>,
    store: Option<String>,
    reason: Option<String>,
    attempts: Option<i64>,
    first_failure_at: Option<String>,
    dead_at: Option<String>,
}

impl DeadLetter {
    fn of(delivery: &Delivery) -> Self {
        let props = &delivery.properties;
        let headers = props.headers().clone().unwrap_or_default();
        Self {
            event_id: props
                .message_id()
                .as_ref()
                .map(|s| s.as_str().to_owned())
                .unwrap_or_default(),
            routing_key: original_routing_key(&headers),
            store: get_str(&headers, STORE_HASH),
            reason: get_str(&headers, DEAD_REASON),
            attempts: get_int(&headers, ATTEMPTS),
            first_failure_at: get_str(&headers, FIRST_FAILURE_AT),
            dead_at: get_str(&headers, DEAD_AT),
        }
    }

    fn scope(&self) -> Option<String> {
        self.routing_key.as_deref().map(scope_of)
    }
}

async fn list(
    channel: &Channel,
    dlq: &str,
    limit: u16,
    json: bool,
    out: &mut impl Write,
) -> Result<(), CtlError> {
    let total = message_count(channel, dlq).await?;
    let taken = take(channel, dlq, limit).await?;
    let letters: Vec<DeadLetter> = taken.iter().map(DeadLetter::of).collect();
    give_back(&taken).await?;
    if json {
        let rows: Vec<_> = letters
            .iter()
            .map(|d| {
                serde_json::json!({
                    "event_id": d.event_id,
                    "scope": d.scope(),
                    "routing_key": d.routing_key,
                    "store": d.store,
                    "reason": d.reason,
                    "attempts": d.attempts,
                    "first_failure_at": d.first_failure_at,
                    "dead_at": d.dead_at,
                })
            })
            .collect();
        writeln!(out, "{}", serde_json::Value::Array(rows))?;
        return Ok(());
    }
    if letters.is_empty() {
        writeln!(out, "{dlq} is empty")?;
        return Ok(());
    }
    writeln!(
        out,
        "{:<36} {:<28} {:<16} {:>8} {:<25} REASON",
        "EVENT ID", "SCOPE", "STORE", "ATTEMPTS", "FIRST FAILURE"
    )?;
    for d in &letters {
        writeln!(
            out,
            "{:<36} {:<28} {:<16} {:>8} {:<25} {}",
            d.event_id,
            d.scope().unwrap_or_else(|| "-".into()),
            d.store.as_deref().unwrap_or("-"),
            d.attempts.map_or_else(|| "-".into(), |a| a.to_string()),
            d.first_failure_at.as_deref().unwrap_or("-"),
            d.reason
                .as_deref()
                .unwrap_or("-")
                .replace(['\n', '\r'], " ")
        )?;
    }
    if total as usize > letters.len() {
        writeln!(
            out,
            "showing {} of {total} message(s); use --limit to see more",
            letters.len()
        )?;
    }
    Ok(())
}

/// The headers of the replayed copy: the dead letter's, with `x-replay: true`, `x-attempts`
/// reset to 0 and the broker's redelivery count removed.
fn replay_headers(delivery: &Delivery) -> FieldTable {
    let mut headers = delivery.properties.headers().clone().unwrap_or_default();
    let mut kept = FieldTable::default();
    for (key, value) in headers.inner() {
        if key.as_str() != DELIVERY_COUNT {
            kept.insert(key.clone(), value.clone());
        }
    }
    headers = kept;
    set_bool(&mut headers, REPLAY, true);
    set_int(&mut headers, ATTEMPTS, 0);
    headers
}

async fn replay(
    channel: &Channel,
    publisher: &Publisher,
    topology: &Topology,
    dlq: &str,
    limit: Option<u16>,
    id: Option<String>,
    out: &mut impl Write,
) -> Result<(), CtlError> {
    // With --id every message is looked at; the others go back untouched.
    let scan = if id.is_some() {
        u16::MAX
    } else {
        limit.unwrap_or(u16::MAX)
    };
    let taken = take(channel, dlq, scan).await?;
    let max = limit.map_or(usize::MAX, usize::from);
    let exchange = topology.events_exchange();
    let mut replayed = 0usize;
    let mut no_key = 0usize;
    let mut rest = Vec::new();
    let mut failure = None;
    for delivery in taken {
        let selected = failure.is_none()
            && replayed < max
            && id.as_deref().is_none_or(|id| {
                delivery
                    .properties
                    .message_id()
                    .as_ref()
                    .map(|s| s.as_str())
                    == Some(id)
            });
        if !selected {
            rest.push(delivery);
            continue;
        }
        let headers = delivery.properties.headers().clone().unwrap_or_default();
        let Some(routing_key) = original_routing_key(&headers) else {
            no_key += 1;
            rest.push(delivery);
            continue;
        };
        let properties = delivery
            .properties
            .clone()
            .with_headers(replay_headers(&delivery));
        match publisher
            .publish(&exchange, &routing_key, &delivery.data, properties)
            .await
        {
            Ok(()) => {
                delivery
                    .acker
                    .ack(BasicAckOptions::default())
                    .await
                    .map_err(|e| broker_error("ack", e))?;
                replayed += 1;
            }
            Err(e) => {
                let event = DeadLetter::of(&delivery).event_id;
                failure = Some(format!(
                    "replaying event {event} ({routing_key}) failed after {replayed} replayed: {e}"
                ));
                rest.push(delivery);
            }
        }
    }
    give_back(&rest).await?;
    if let Some(failure) = failure {
        return Err(CtlError::Invalid(format!("broker: {failure}")));
    }
    if let Some(id) = &id {
        if replayed == 0 && no_key == 0 {
            return Err(CtlError::NotFound(format!("no message {id} in {dlq}")));
        }
    }
    if no_key > 0 {
        writeln!(
            out,
            "{no_key} message(s) without {ORIGINAL_ROUTING_KEY} left in {dlq}"
        )?;
    }
    writeln!(out, "replayed {replayed} message(s) from {dlq}")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_queues_are_accepted_with_or_without_dlq() {
        assert_eq!(
            work_queue("order-processor.orders").unwrap(),
            "order-processor.orders"
        );
        assert_eq!(
            work_queue("tracking-forwarder.events.dlq").unwrap(),
            "tracking-forwarder.events"
        );
        assert!(work_queue("orders").is_err());
        assert!(work_queue("order-processor.orders.retry.10s").is_err());
    }

    #[test]
    fn the_original_key_falls_back_to_the_brokers_x_death() {
        use lapin::types::{FieldArray, LongString};
        let mut death = FieldTable::default();
        death.insert(
            "routing-keys".into(),
            AMQPValue::FieldArray(FieldArray::from(vec![AMQPValue::LongString(
                LongString::from("store.order.created".as_bytes().to_vec()),
            )])),
        );
        let mut headers = FieldTable::default();
        headers.insert(
            X_DEATH.into(),
            AMQPValue::FieldArray(FieldArray::from(vec![AMQPValue::FieldTable(death)])),
        );
        assert_eq!(
            original_routing_key(&headers).as_deref(),
            Some("store.order.created")
        );
        platform::amqp::message::set_str(&mut headers, ORIGINAL_ROUTING_KEY, "store.order.updated");
        assert_eq!(
            original_routing_key(&headers).as_deref(),
            Some("store.order.updated")
        );
        assert_eq!(original_routing_key(&FieldTable::default()), None);
    }

    #[test]
    fn store_routing_keys_read_as_scopes() {
        assert_eq!(scope_of("store.order.created"), "store/order/created");
        assert_eq!(scope_of("tracking.product_view"), "tracking.product_view");
    }
}
