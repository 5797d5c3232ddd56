//! One supervised connection per process: connects with backoff, declares the topology on
//! every (re)connect, and tells publishers and consumers when the connection changes.
//!
//! Reconnection lives here and nowhere else: publishers and consumers only ask for the
//! current connection and wait for the next one when theirs dies.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures_util::StreamExt;
use lapin::{Connection, ConnectionProperties};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::topology::Topology;

/// How long one connection attempt (handshake and topology declaration) may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long [`Broker::close`] waits for the broker to confirm the close.
pub const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// A live connection and the number of the connect that made it.
#[derive(Clone)]
pub struct Session {
    /// Increases by one at every successful (re)connect.
    pub generation: u64,
    /// The connection; channels are created from it.
    pub connection: Arc<Connection>,
}

struct Inner {
    url: SecretString,
    name: String,
    topology: Topology,
    current: RwLock<Option<Session>>,
    changed: watch::Sender<u64>,
    stop: CancellationToken,
}

/// Handle on the supervised broker connection; cheap to clone.
#[derive(Clone)]
pub struct Broker {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broker")
            .field("name", &self.inner.name)
            .field("connected", &self.is_connected())
            .finish()
    }
}

impl Broker {
    /// Starts the supervisor for `url`. Returns at once; use [`Broker::wait_connected`] to wait
    /// for the first connection. `name` is the AMQP `connection_name` (the binary's name).
    pub fn start(url: SecretString, name: &str, topology: Topology) -> Self {
        let (changed, _) = watch::channel(0);
        let inner = Arc::new(Inner {
            url,
            name: name.to_owned(),
            topology,
            current: RwLock::new(None),
            changed,
            stop: CancellationToken::new(),
        });
        tokio::spawn(supervise(inner.clone()));
        Self { inner }
    }

    /// The topology (names) this broker declares.
    pub fn topology(&self) -> &Topology {
        &self.inner.topology
    }

    /// The current session, if connected.
    pub fn session(&self) -> Option<Session> {
        self.inner
            .current
            .read()
            .expect("broker session lock")
            .clone()
            .filter(|s| s.connection.status().connected())
    }

    /// True while a connection is up.
    pub fn is_connected(&self) -> bool {
        self.session().is_some()
    }

    /// A receiver that changes whenever the connection is made or lost.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.inner.changed.subscribe()
    }

    /// Waits for a live session newer than `after` (use 0 for any).
    pub async fn next_session(&self, after: u64, stop: &CancellationToken) -> Option<Session> {
        let mut changes = self.changes();
        loop {
            if let Some(session) = self.session() {
                if session.generation > after {
                    return Some(session);
                }
            }
            tokio::select! {
                _ = stop.cancelled() => return None,
                _ = self.inner.stop.cancelled() => return None,
                res = changes.changed() => if res.is_err() { return None },
                // The status of a dying connection changes without a notification.
                _ = tokio::time::sleep(Duration::from_millis(250)) => {}
            }
        }
    }

    /// Waits up to `timeout` for the first connection.
    pub async fn wait_connected(&self, timeout: Duration) -> bool {
        tokio::time::timeout(timeout, self.next_session(0, &CancellationToken::new()))
            .await
            .ok()
            .flatten()
            .is_some()
    }

    /// Marks the session of `generation` as dead, so the supervisor reconnects now rather
    /// than at its next status check.
    pub fn report_broken(&self, generation: u64) {
        let mut current = self.inner.current.write().expect("broker session lock");
        if current.as_ref().is_some_and(|s| s.generation == generation) {
            *current = None;
            self.inner.changed.send_modify(|g| *g += 1);
        }
    }

    /// Stops reconnecting and closes the connection cleanly, waiting at most
    /// [`CLOSE_TIMEOUT`] for the broker's answer (a broker that never answers must not hold
    /// up a shutdown).
    pub async fn close(&self) {
        self.inner.stop.cancel();
        let session = self
            .inner
            .current
            .write()
            .expect("broker session lock")
            .take();
        if let Some(session) = session {
            let closing = session.connection.close(200, "shutdown".into());
            if tokio::time::timeout(CLOSE_TIMEOUT, closing).await.is_err() {
                tracing::warn!("the broker did not confirm the connection close in time");
            }
        }
    }
}

async fn supervise(inner: Arc<Inner>) {
    let mut generation = 0u64;
    let mut delay = Duration::from_millis(100);
    loop {
        if inner.stop.is_cancelled() {
            return;
        }
        match connect(&inner).await {
            Ok(connection) => {
                delay = Duration::from_millis(100);
                generation += 1;
                let connection = Arc::new(connection);
                let mut events = connection.events_listener();
                *inner.current.write().expect("broker session lock") = Some(Session {
                    generation,
                    connection: connection.clone(),
                });
                inner.changed.send_modify(|g| *g = generation);
                tracing::info!(connection = %inner.name, generation, "broker connected");
                loop {
                    tokio::select! {
                        _ = inner.stop.cancelled() => return,
                        event = events.next() => match event {
                            Some(lapin::Event::Error(error)) => {
                                tracing::warn!(%error, "broker connection error");
                                break;
                            }
                            Some(_) => {}
                            None => break,
                        },
                        _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                    }
                    let still_current = inner
                        .current
                        .read()
                        .expect("broker session lock")
                        .as_ref()
                        .is_some_and(|s| s.generation == generation);
                    if !connection.status().connected() || !still_current {
                        break;
                    }
                }
                inner.current.write().expect("broker session lock").take();
                inner.changed.send_modify(|g| *g += 1);
                tracing::warn!(connection = %inner.name, "broker connection lost; reconnecting");
            }
            Err(error) => {
                tracing::warn!(%error, retry_in_ms = delay.as_millis() as u64, "broker unreachable");
                tokio::select! {
                    _ = inner.stop.cancelled() => return,
                    _ = tokio::time::sleep(delay) => {}
                }
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
}

async fn connect(inner: &Inner) -> Result<Connection, lapin::Error> {
    let props = ConnectionProperties::default().with_connection_name(inner.name.clone().into());
    // The handshake and the topology both under one bound: a broker that accepts the socket
    // and then stops answering must not stall the supervisor (and every reconnect) forever.
    tokio::time::timeout(CONNECT_TIMEOUT, async {
        let connection = Connection::connect(inner.url.expose_secret(), props).await?;
        let channel = connection.create_channel().await?;
        inner.topology.declare(&channel).await?;
        let _ = channel.close(200, "topology declared".into()).await;
        Ok(connection)
    })
    .await
    .map_err(|_| lapin::Error::from(std::io::Error::from(std::io::ErrorKind::TimedOut)))?
}
