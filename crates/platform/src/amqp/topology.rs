//! The RabbitMQ topology of `interfaces.md`, declared idempotently.

use std::time::Duration;

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{Channel, ExchangeKind};

/// Work queues and their bindings on the events exchange.
pub const WORK_QUEUES: &[(&str, &[&str])] = &[
    ("order-processor.orders", &["store.order.#"]),
    (
        "order-processor.contacts",
        &["store.customer.#", "store.subscriber.#"],
    ),
    (
        "tracking-forwarder.events",
        &["tracking.#", "store.cart.converted"],
    ),
    ("webhook-health.commands", &["webhook_health.#"]),
];

/// Bound on the parking queue for dropped product views (oldest dropped first).
pub const DROPPED_MAX_LENGTH: i64 = 10_000;

/// How many times a quorum queue redelivers one message (e.g. after consumer crashes) before
/// the broker dead-letters it: the last guard against a poison message looping forever.
pub const DELIVERY_LIMIT: i64 = 20;

/// Names of every exchange and queue, with an optional prefix so that tests sharing one
/// broker are isolated. With an empty namespace the names are exactly those of the contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    prefix: String,
}

impl Topology {
    /// The topology under `namespace` (empty = the production names).
    pub fn new(namespace: &str) -> Self {
        let prefix = if namespace.is_empty() {
            String::new()
        } else {
            format!("{namespace}.")
        };
        Self { prefix }
    }

    /// Prefixes a contract name with the namespace.
    pub fn name(&self, name: &str) -> String {
        format!("{}{}", self.prefix, name)
    }

    /// Removes the namespace from a queue name (the inverse of [`Topology::name`]).
    pub fn strip<'a>(&self, name: &'a str) -> &'a str {
        name.strip_prefix(self.prefix.as_str()).unwrap_or(name)
    }

    /// The topic exchange events are published to.
    pub fn events_exchange(&self) -> String {
        self.name("connector.events")
    }

    /// The direct exchange dead letters go to.
    pub fn dead_letter_exchange(&self) -> String {
        self.name("connector.dlx")
    }

    /// A work queue's full name.
    pub fn queue(&self, queue: &str) -> String {
        self.name(queue)
    }

    /// A work queue's dead-letter queue.
    pub fn dead_letter_queue(&self, queue: &str) -> String {
        format!("{}.dlq", self.name(queue))
    }

    /// The delayed-retry queue of one tier of a work queue.
    pub fn retry_queue(&self, queue: &str, delay: Duration) -> String {
        format!("{}.retry.{}", self.name(queue), delay_label(delay))
    }

    /// The bounded parking queue for product views dropped after their retries.
    pub fn dropped_queue(&self) -> String {
        self.name("tracking-forwarder.dropped")
    }

    /// Declares the exchanges, the work queues with their bindings and dead-letter queues,
    /// and the parking queue. Safe to call again at every (re)connect.
    pub async fn declare(&self, channel: &Channel) -> lapin::Result<()> {
        let durable = ExchangeDeclareOptions {
            durable: true,
            ..Default::default()
        };
        channel
            .exchange_declare(
                self.events_exchange().into(),
                ExchangeKind::Topic,
                durable,
                FieldTable::default(),
            )
            .await?;
        channel
            .exchange_declare(
                self.dead_letter_exchange().into(),
                ExchangeKind::Direct,
                durable,
                FieldTable::default(),
            )
            .await?;
        for (queue, keys) in WORK_QUEUES {
            let name = self.queue(queue);
            channel
                .queue_declare(
                    name.clone().into(),
                    durable_queue(),
                    self.work_queue_args(queue),
                )
                .await?;
            for key in *keys {
                channel
                    .queue_bind(
                        name.clone().into(),
                        self.events_exchange().into(),
                        (*key).into(),
                        QueueBindOptions::default(),
                        FieldTable::default(),
                    )
                    .await?;
            }
            let dlq = self.dead_letter_queue(queue);
            channel
                .queue_declare(dlq.clone().into(), durable_queue(), quorum_args())
                .await?;
            channel
                .queue_bind(
                    dlq.into(),
                    self.dead_letter_exchange().into(),
                    name.into(),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await?;
        }
        let mut dropped = quorum_args();
        dropped.insert(
            "x-max-length".into(),
            AMQPValue::LongLongInt(DROPPED_MAX_LENGTH),
        );
        channel
            .queue_declare(self.dropped_queue().into(), durable_queue(), dropped)
            .await?;
        Ok(())
    }

    /// Declares the retry tier `delay` of a work queue: a durable queue whose messages expire
    /// after `delay` and are dead-lettered straight back into the work queue (through the
    /// default exchange, so no other queue sees them again).
    pub async fn declare_retry_tier(
        &self,
        channel: &Channel,
        queue: &str,
        delay: Duration,
    ) -> lapin::Result<String> {
        let name = self.retry_queue(queue, delay);
        let mut args = FieldTable::default();
        args.insert(
            "x-message-ttl".into(),
            AMQPValue::LongLongInt(delay.as_millis().min(i64::MAX as u128) as i64),
        );
        args.insert("x-dead-letter-exchange".into(), string(""));
        args.insert(
            "x-dead-letter-routing-key".into(),
            string(&self.queue(queue)),
        );
        channel
            .queue_declare(name.clone().into(), durable_queue(), args)
            .await?;
        Ok(name)
    }

    fn work_queue_args(&self, queue: &str) -> FieldTable {
        let mut args = quorum_args();
        args.insert(
            "x-dead-letter-exchange".into(),
            string(&self.dead_letter_exchange()),
        );
        args.insert(
            "x-dead-letter-routing-key".into(),
            string(&self.queue(queue)),
        );
        args.insert(
            "x-delivery-limit".into(),
            AMQPValue::LongLongInt(DELIVERY_LIMIT),
        );
        args
    }
}

fn durable_queue() -> QueueDeclareOptions {
    QueueDeclareOptions {
        durable: true,
        ..Default::default()
    }
}

fn quorum_args() -> FieldTable {
    let mut args = FieldTable::default();
    args.insert("x-queue-type".into(), string("quorum"));
    args
}

fn string(s: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(s.as_bytes().to_vec()))
}

/// `10s`, `15m`, `1500ms`: short and stable, so the same delay always names the same queue.
pub fn delay_label(delay: Duration) -> String {
    let ms = delay.as_millis();
    if ms.is_multiple_of(60_000) && ms > 0 {
        format!("{}m", ms / 60_000)
    } else if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

/// Shorthand for a [`ShortString`] from a `&str`.
pub fn short(s: &str) -> ShortString {
    ShortString::from(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_namespace_gives_the_contract_names() {
        let t = Topology::new("");
        assert_eq!(t.events_exchange(), "connector.events");
        assert_eq!(t.dead_letter_exchange(), "connector.dlx");
        assert_eq!(
            t.dead_letter_queue("order-processor.orders"),
            "order-processor.orders.dlq"
        );
        assert_eq!(
            t.retry_queue("order-processor.orders", Duration::from_secs(10)),
            "order-processor.orders.retry.10s"
        );
        assert_eq!(t.dropped_queue(), "tracking-forwarder.dropped");
    }

    #[test]
    fn a_namespace_prefixes_every_name_and_can_be_stripped() {
        let t = Topology::new("t42");
        assert_eq!(t.events_exchange(), "t42.connector.events");
        assert_eq!(
            t.queue("order-processor.orders"),
            "t42.order-processor.orders"
        );
        assert_eq!(
            t.strip("t42.order-processor.orders"),
            "order-processor.orders"
        );
    }

    #[test]
    fn delay_labels_are_compact_and_exact() {
        assert_eq!(delay_label(Duration::from_secs(10)), "10s");
        assert_eq!(delay_label(Duration::from_secs(900)), "15m");
        assert_eq!(delay_label(Duration::from_millis(1500)), "1500ms");
    }
}
