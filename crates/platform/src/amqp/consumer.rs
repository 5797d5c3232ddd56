//! The consume loop: manual acks, bounded concurrency (prefetch), and the one place that turns
//! a handler's `Transient`/`Fatal` verdict into ack, delayed retry or dead letter.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::broker::Broker;
use super::message::{self, get_int, get_str};
use super::publisher::{PublishError, Publisher};

/// A handler's verdict on a message it could not process.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandlerError {
    /// Worth another try later (timeouts, 5xx, 429, a database hiccup).
    #[error("transient: {reason}")]
    Transient {
        /// What went wrong, for logs and the dead-letter header.
        reason: String,
        /// At least this long before the next try (e.g. from `Retry-After`).
        retry_after: Option<Duration>,
    },
    /// Will never succeed as it is (bad payload, a 4xx): dead-letter at once.
    #[error("fatal: {reason}")]
    Fatal {
        /// What went wrong, for logs and the dead-letter header.
        reason: String,
    },
}

impl HandlerError {
    /// A transient error without a minimum delay.
    pub fn transient(reason: impl Into<String>) -> Self {
        Self::Transient {
            reason: reason.into(),
            retry_after: None,
        }
    }

    /// A fatal error.
    pub fn fatal(reason: impl Into<String>) -> Self {
        Self::Fatal {
            reason: reason.into(),
        }
    }
}

/// A delivered message as handlers see it.
#[derive(Debug, Clone)]
pub struct Incoming {
    /// The body, unchanged.
    pub body: Vec<u8>,
    /// The routing key it was first published with (kept through retries).
    pub routing_key: String,
    /// `message_id` (the event id), when set.
    pub message_id: Option<String>,
    /// All headers.
    pub headers: FieldTable,
    /// Failed attempts before this delivery (0 on the first).
    pub attempts: u32,
    /// True when the broker redelivered it (a consumer died holding it).
    pub redelivered: bool,
    /// The full properties, for re-publishing as they were.
    pub properties: BasicProperties,
}

impl Incoming {
    fn from_delivery(delivery: &Delivery) -> Self {
        let headers = delivery.properties.headers().clone().unwrap_or_default();
        let routing_key = get_str(&headers, message::ORIGINAL_ROUTING_KEY)
            .unwrap_or_else(|| delivery.routing_key.as_str().to_owned());
        let attempts = get_int(&headers, message::ATTEMPTS).unwrap_or(0).max(0) as u32;
        Self {
            body: delivery.data.clone(),
            routing_key,
            message_id: delivery
                .properties
                .message_id()
                .as_ref()
                .map(|s| s.as_str().to_owned()),
            headers,
            attempts,
            redelivered: delivery.redelivered,
            properties: delivery.properties.clone(),
        }
    }

    /// A header as text.
    pub fn header(&self, key: &str) -> Option<String> {
        get_str(&self.headers, key)
    }

    /// True when an operator replayed this message from a dead-letter queue.
    pub fn is_replay(&self) -> bool {
        message::get_bool(&self.headers, message::REPLAY)
    }

    /// The id consumers de-duplicate this webhook event by: its `message_id` (the ingress's
    /// event id), else the digest of the envelope it carries.
    pub fn event_id(&self, envelope: &domain::webhook::Envelope) -> String {
        match self.message_id.as_deref() {
            Some(id) if !id.is_empty() => id.to_owned(),
            _ => envelope.event_id(None).to_string(),
        }
    }
}

/// Processes one message. Return `Ok` to ack; the loop handles errors.
pub trait Handler: Send + Sync + 'static {
    /// Handles `message`.
    fn handle<'a>(
        &'a self,
        message: &'a Incoming,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send + 'a;
}

/// Bounded exponential retry: `base`, doubling, capped at `max`, `max_attempts` tries in all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// Delay before the second attempt.
    pub base: Duration,
    /// Delay cap.
    pub max: Duration,
}

impl RetryPolicy {
    /// The delay after `failed` failed attempts (1 = after the first failure).
    pub fn delay_after(&self, failed: u32) -> Duration {
        let exponent = failed.saturating_sub(1).min(30);
        self.base.saturating_mul(1u32 << exponent).min(self.max)
    }

    /// Every distinct delay the policy can ask for, shortest first: the retry tiers.
    pub fn tiers(&self) -> Vec<Duration> {
        let mut tiers: Vec<Duration> = (1..self.max_attempts.max(2))
            .map(|n| self.delay_after(n))
            .collect();
        tiers.dedup();
        tiers
    }

    /// The tier to use for a wanted delay: the shortest tier not shorter than `wanted`
    /// (or the longest tier).
    pub fn tier_for(&self, wanted: Duration) -> Duration {
        let tiers = self.tiers();
        tiers
            .iter()
            .copied()
            .find(|t| *t >= wanted)
            .or_else(|| tiers.last().copied())
            .unwrap_or(self.base)
    }

    /// True when a message that has failed `failed` times may be tried again.
    pub fn may_retry(&self, failed: u32) -> bool {
        failed < self.max_attempts
    }
}

/// What the loop did with one message (also the metric label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Processed and acked.
    Acked,
    /// Sent to a retry queue and acked.
    Retried,
    /// Sent to the dead-letter queue and acked.
    DeadLettered,
    /// Left to the broker to redeliver (could not retry or dead-letter safely).
    Requeued,
}

impl Outcome {
    /// The label used in metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Acked => "ack",
            Outcome::Retried => "retry",
            Outcome::DeadLettered => "dead_letter",
            Outcome::Requeued => "requeue",
        }
    }
}

/// A consumer of one work queue.
pub struct Consumer<H> {
    broker: Broker,
    publisher: Arc<Publisher>,
    queue: String,
    prefetch: u16,
    policy: RetryPolicy,
    handler: Arc<H>,
    drain_timeout: Duration,
}

impl<H: Handler> Consumer<H> {
    /// A consumer of the work queue `queue` (its contract name, without namespace).
    pub fn new(
        broker: Broker,
        publisher: Arc<Publisher>,
        queue: &str,
        prefetch: u16,
        policy: RetryPolicy,
        handler: Arc<H>,
    ) -> Self {
        Self {
            broker,
            publisher,
            queue: queue.to_owned(),
            prefetch,
            policy,
            handler,
            drain_timeout: Duration::from_secs(30),
        }
    }

    /// Consumes until `shutdown` is cancelled, surviving broker restarts. On shutdown it stops
    /// taking deliveries, lets in-flight handlers finish (up to a drain timeout; what is left
    /// unacked is redelivered by the broker), and returns.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut generation = 0;
        let mut tasks = JoinSet::new();
        // Kept open until in-flight handlers have acked: closing it would requeue them.
        let mut current: Option<Channel> = None;
        let queue = self.broker.topology().queue(&self.queue);
        let tag = format!("{}-{}", self.queue, uuid::Uuid::new_v4().simple());
        while let Some(session) = self.broker.next_session(generation, &shutdown).await {
            generation = session.generation;
            let channel = match self.open(&session.connection, &queue, &tag).await {
                Ok(pair) => pair,
                Err(error) => {
                    tracing::warn!(%error, queue, "could not start consuming; retrying");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    generation = generation.saturating_sub(1);
                    continue;
                }
            };
            let (channel, mut deliveries) = channel;
            current = Some(channel.clone());
            tracing::info!(queue, prefetch = self.prefetch, "consuming");
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => {
                        let _ = channel.basic_cancel(tag.as_str().into(), BasicCancelOptions::default()).await;
                        break;
                    }
                    Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
                    next = deliveries.next() => match next {
                        Some(Ok(delivery)) => {
                            let ctx = self.context();
                            tasks.spawn(async move { ctx.process(delivery).await; });
                        }
                        Some(Err(error)) => {
                            tracing::warn!(%error, queue, "consumer stream failed; waiting for the connection");
                            break;
                        }
                        None => break,
                    }
                }
            }
            if shutdown.is_cancelled() {
                break;
            }
        }
        let drained = tokio::time::timeout(self.drain_timeout, async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                queue,
                "drain timeout: unfinished messages go back to the broker"
            );
            tasks.abort_all();
        }
        if let Some(channel) = current {
            let _ = channel.close(200, "consumer stopped".into()).await;
        }
    }

    async fn open(
        &self,
        connection: &lapin::Connection,
        queue: &str,
        tag: &str,
    ) -> lapin::Result<(Channel, lapin::Consumer)> {
        let channel = connection.create_channel().await?;
        channel
            .basic_qos(self.prefetch, BasicQosOptions::default())
            .await?;
        for delay in self.policy.tiers() {
            self.broker
                .topology()
                .declare_retry_tier(&channel, &self.queue, delay)
                .await?;
        }
        let consumer = channel
            .basic_consume(
                queue.into(),
                tag.into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        Ok((channel, consumer))
    }

    fn context(&self) -> Context<H> {
        Context {
            broker: self.broker.clone(),
            publisher: self.publisher.clone(),
            queue: self.queue.clone(),
            policy: self.policy,
            handler: self.handler.clone(),
        }
    }
}

struct Context<H> {
    broker: Broker,
    publisher: Arc<Publisher>,
    queue: String,
    policy: RetryPolicy,
    handler: Arc<H>,
}

impl<H: Handler> Context<H> {
    async fn process(self, delivery: Delivery) {
        let incoming = Incoming::from_delivery(&delivery);
        let span = tracing::info_span!(
            "consume",
            queue = %self.queue,
            routing_key = %incoming.routing_key,
            message_id = incoming.message_id.as_deref().unwrap_or(""),
            attempt = incoming.attempts + 1,
        );
        crate::telemetry::set_parent_from_headers(&span, &incoming.headers);
        let outcome = async {
            let verdict = self.handler.handle(&incoming).await;
            self.settle(&delivery, &incoming, verdict).await
        }
        .instrument(span)
        .await;
        metrics::counter!(
            "consumer_messages_total",
            "queue" => self.queue.clone(),
            "outcome" => outcome.as_str()
        )
        .increment(1);
    }

    async fn settle(
        &self,
        delivery: &Delivery,
        incoming: &Incoming,
        verdict: Result<(), HandlerError>,
    ) -> Outcome {
        let outcome = match verdict {
            Ok(()) => Outcome::Acked,
            Err(HandlerError::Transient {
                reason,
                retry_after,
            }) => {
                let failed = incoming.attempts + 1;
                if self.policy.may_retry(failed) {
                    let wanted = self
                        .policy
                        .delay_after(failed)
                        .max(retry_after.unwrap_or_default());
                    let delay = self.policy.tier_for(wanted);
                    tracing::warn!(%reason, failed, delay_ms = delay.as_millis() as u64, "transient failure; retrying later");
                    match self.retry(incoming, failed, &reason, delay).await {
                        Ok(()) => Outcome::Retried,
                        Err(error) => {
                            tracing::error!(%error, "could not schedule the retry; leaving the message to the broker");
                            Outcome::Requeued
                        }
                    }
                } else {
                    let reason = format!("attempts exhausted ({failed}): {reason}");
                    self.dead_letter_or_requeue(incoming, failed, &reason).await
                }
            }
            Err(HandlerError::Fatal { reason }) => {
                self.dead_letter_or_requeue(incoming, incoming.attempts + 1, &reason)
                    .await
            }
        };
        let settled = if outcome == Outcome::Requeued {
            delivery
                .acker
                .nack(BasicNackOptions {
                    requeue: true,
                    ..Default::default()
                })
                .await
        } else {
            delivery.acker.ack(BasicAckOptions::default()).await
        };
        if let Err(error) = settled {
            // The channel died; the broker redelivers the message to the next consumer.
            tracing::warn!(%error, "could not settle the delivery");
        }
        outcome
    }

    async fn dead_letter_or_requeue(
        &self,
        incoming: &Incoming,
        failed: u32,
        reason: &str,
    ) -> Outcome {
        tracing::error!(%reason, failed, "dead-lettering the message");
        match dead_letter(
            &self.publisher,
            &self.broker,
            &self.queue,
            incoming,
            failed,
            reason,
        )
        .await
        {
            Ok(()) => Outcome::DeadLettered,
            Err(error) => {
                tracing::error!(%error, "could not dead-letter; leaving the message to the broker");
                Outcome::Requeued
            }
        }
    }

    async fn retry(
        &self,
        incoming: &Incoming,
        failed: u32,
        reason: &str,
        delay: Duration,
    ) -> Result<(), PublishError> {
        let topology = self.broker.topology();
        let mut headers = failure_headers(incoming, failed, reason);
        message::set_int(&mut headers, message::ATTEMPTS, failed.into());
        let properties = incoming.properties.clone().with_headers(headers);
        self.publisher
            .publish(
                "",
                &topology.retry_queue(&self.queue, delay),
                &incoming.body,
                properties,
            )
            .await
    }
}

fn failure_headers(incoming: &Incoming, failed: u32, reason: &str) -> FieldTable {
    let mut headers = incoming.headers.clone();
    message::set_str(
        &mut headers,
        message::ORIGINAL_ROUTING_KEY,
        &incoming.routing_key,
    );
    message::set_int(&mut headers, message::ATTEMPTS, failed.into());
    if get_str(&headers, message::FIRST_FAILURE_AT).is_none() {
        message::set_str(
            &mut headers,
            message::FIRST_FAILURE_AT,
            &message::now_rfc3339(),
        );
    }
    message::set_str(&mut headers, message::LAST_ERROR, &truncate(reason, 512));
    headers
}

/// Publishes a copy of `incoming` to the dead-letter queue of `queue` with the reason, the
/// original routing key and the attempt count in its headers.
pub async fn dead_letter(
    publisher: &Publisher,
    broker: &Broker,
    queue: &str,
    incoming: &Incoming,
    failed: u32,
    reason: &str,
) -> Result<(), PublishError> {
    let topology = broker.topology();
    let mut headers = failure_headers(incoming, failed, reason);
    message::set_str(&mut headers, message::DEAD_REASON, &truncate(reason, 512));
    message::set_str(&mut headers, message::DEAD_AT, &message::now_rfc3339());
    let properties = incoming.properties.clone().with_headers(headers);
    publisher
        .publish(
            &topology.dead_letter_exchange(),
            &topology.queue(queue),
            &incoming.body,
            properties,
        )
        .await
}

fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => s[..i].to_owned(),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 10,
            base: Duration::from_secs(10),
            max: Duration::from_secs(900),
        }
    }

    #[test]
    fn retry_delays_double_from_the_base_up_to_the_cap() {
        let p = policy();
        let delays: Vec<u64> = (1..10).map(|n| p.delay_after(n).as_secs()).collect();
        assert_eq!(delays, vec![10, 20, 40, 80, 160, 320, 640, 900, 900]);
    }

    #[test]
    fn tiers_are_the_distinct_delays() {
        let secs: Vec<u64> = policy().tiers().iter().map(Duration::as_secs).collect();
        assert_eq!(secs, vec![10, 20, 40, 80, 160, 320, 640, 900]);
    }

    #[test]
    fn a_wanted_delay_takes_the_shortest_tier_that_covers_it() {
        let p = policy();
        assert_eq!(p.tier_for(Duration::from_millis(1500)).as_secs(), 10);
        assert_eq!(p.tier_for(Duration::from_secs(30)).as_secs(), 40);
        assert_eq!(p.tier_for(Duration::from_secs(5000)).as_secs(), 900);
    }

    #[test]
    fn attempts_stop_at_the_maximum() {
        let p = policy();
        assert!(p.may_retry(9));
        assert!(!p.may_retry(10));
    }
}
