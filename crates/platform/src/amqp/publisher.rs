//! Publishing with publisher confirms, `mandatory`, and a timeout.
//!
//! Many publishes are in flight at once: each call sends its frame and awaits only its own
//! confirm, spread round-robin over a few confirm-mode channels, so the broker (not a lock)
//! sets the pace.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::{BasicProperties, Channel, Confirmation};
use tokio::sync::Mutex;

use super::broker::Broker;

/// Why a message is not safely in a queue.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// No connection to the broker right now.
    #[error("broker unavailable")]
    Unavailable,
    /// The broker did not confirm within the timeout.
    #[error("broker did not confirm within {0:?}")]
    Timeout(Duration),
    /// The broker refused the message (nack).
    #[error("broker nacked the message")]
    Nacked,
    /// No queue is bound for the routing key (the message was returned).
    #[error("no queue bound for routing key `{0}`")]
    Unroutable(String),
    /// A protocol or I/O error on the channel.
    #[error("broker error: {0}")]
    Broker(#[from] lapin::Error),
}

struct ChannelSet {
    generation: u64,
    channels: Vec<Channel>,
}

/// A confirm-mode publisher over the supervised connection; share it behind an `Arc`.
pub struct Publisher {
    broker: Broker,
    width: usize,
    timeout: Duration,
    set: RwLock<Option<Arc<ChannelSet>>>,
    opening: Mutex<()>,
    next: AtomicUsize,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher")
            .field("width", &self.width)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Publisher {
    /// A publisher using `channels` confirm channels and waiting `timeout` for each confirm.
    pub fn new(broker: Broker, channels: usize, timeout: Duration) -> Self {
        Self {
            broker,
            width: channels.max(1),
            timeout,
            set: RwLock::new(None),
            opening: Mutex::new(()),
            next: AtomicUsize::new(0),
        }
    }

    /// The broker this publisher uses.
    pub fn broker(&self) -> &Broker {
        &self.broker
    }

    /// Publishes and waits for the broker's confirm, for at most the publisher's timeout in
    /// all (channels included). `Ok` means the message is in every queue
    /// bound for `routing_key` (durably, for persistent messages on durable queues).
    pub async fn publish(
        &self,
        exchange: &str,
        routing_key: &str,
        body: &[u8],
        properties: BasicProperties,
    ) -> Result<(), PublishError> {
        // One deadline for everything: opening channels on a connection that has stopped
        // answering must not hold a caller (and an HTTP answer) forever.
        let deadline = tokio::time::Instant::now() + self.timeout;
        let (generation, channel) = tokio::time::timeout_at(deadline, self.channel())
            .await
            .map_err(|_| PublishError::Timeout(self.timeout))??;
        let result = tokio::time::timeout_at(deadline, async {
            let confirm = channel
                .basic_publish(
                    exchange.into(),
                    routing_key.into(),
                    BasicPublishOptions {
                        mandatory: true,
                        ..Default::default()
                    },
                    body,
                    properties,
                )
                .await?;
            confirm.await
        })
        .await;
        match result {
            Err(_) => Err(PublishError::Timeout(self.timeout)),
            Ok(Err(error)) => {
                // A channel error closes the channel; open fresh ones on the next call.
                self.discard(generation);
                Err(PublishError::Broker(error))
            }
            Ok(Ok(Confirmation::Ack(None))) => Ok(()),
            Ok(Ok(Confirmation::Ack(Some(_)))) => {
                Err(PublishError::Unroutable(routing_key.to_owned()))
            }
            Ok(Ok(Confirmation::Nack(_))) => Err(PublishError::Nacked),
            Ok(Ok(Confirmation::NotRequested)) => Ok(()),
        }
    }

    async fn channel(&self) -> Result<(u64, Channel), PublishError> {
        let session = self.broker.session().ok_or(PublishError::Unavailable)?;
        if let Some(found) = self.pick(session.generation) {
            return Ok(found);
        }
        let _guard = self.opening.lock().await;
        if let Some(found) = self.pick(session.generation) {
            return Ok(found);
        }
        let mut channels = Vec::with_capacity(self.width);
        for _ in 0..self.width {
            let channel = session.connection.create_channel().await?;
            channel
                .confirm_select(ConfirmSelectOptions::default())
                .await?;
            channels.push(channel);
        }
        *self.set.write().expect("publisher lock") = Some(Arc::new(ChannelSet {
            generation: session.generation,
            channels,
        }));
        self.pick(session.generation)
            .ok_or(PublishError::Unavailable)
    }

    fn pick(&self, generation: u64) -> Option<(u64, Channel)> {
        let set = self.set.read().expect("publisher lock").clone()?;
        if set.generation != generation {
            return None;
        }
        let index = self.next.fetch_add(1, Ordering::Relaxed) % set.channels.len();
        let channel = &set.channels[index];
        channel
            .status()
            .connected()
            .then(|| (set.generation, channel.clone()))
    }

    fn discard(&self, generation: u64) {
        let mut set = self.set.write().expect("publisher lock");
        if set.as_ref().is_some_and(|s| s.generation == generation) {
            *set = None;
        }
    }
}
