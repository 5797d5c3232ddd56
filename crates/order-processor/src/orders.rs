//! Order events: staging (the `order-processor.orders` handler) and the sync worker that
//! sends staged orders to Engage asynchronously, with retries, `failed` rows and dead
//! letters.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use diesel_async::AsyncConnection;
use domain::channel::DropReason;
use domain::engage::{map_order, map_order_contact};
use domain::ids::{ChannelId, StoreHash};
use domain::status::is_ignored_status_update;
use domain::webhook::{Envelope, Scope, WebhookData};
use lapin::types::FieldTable;
use platform::amqp::{message, Broker, Handler, HandlerError, Incoming, Publisher, RetryPolicy};
use platform::db::{channels, events, stores, DbPool};
use platform::http::{ApiError, HttpClients};
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::db::{self, ClaimedOrder, Settle, StagedEvent};
use crate::{count_dropped, handle_counted, CONSUMER, ORDERS_QUEUE};

/// How long a claimed row stays locked to its worker without a renewal. The worker renews it
/// every [`RENEW_EVERY`] while the sync runs, so a slow sync keeps its row while the rows of
/// a process that died are taken over within this time.
pub const LEASE: Duration = Duration::from_secs(15);
/// How often a running sync renews its lease; a sync that could not renew it for
/// `LEASE - RENEW_EVERY` stops, before anybody else may take the row.
pub const RENEW_EVERY: Duration = Duration::from_secs(5);
/// How often the worker looks for due rows when nobody woke it.
pub const POLL_INTERVAL: Duration = Duration::from_millis(200);
/// Most rows claimed by one query.
pub const BATCH: usize = 32;
/// Most syncs in flight in one process. Syncs wait on the vendors, not on the CPU, so many
/// overlap; the database pool and Engage's pacing bound them further.
pub const MAX_IN_FLIGHT: usize = 64;
/// How long a shutdown waits for in-flight syncs before giving their rows back; below the
/// consume loop's 30 s drain, so the service stops within the same grace period.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(25);

/// Stages order events: one `pending` row per (store, order), acked only after the commit.
pub struct OrderStager {
    pool: DbPool,
    wake: Arc<Notify>,
}

impl OrderStager {
    /// A stager writing to `pool` and waking the worker through `wake`.
    pub fn new(pool: DbPool, wake: Arc<Notify>) -> Self {
        Self { pool, wake }
    }

    /// Stages one event; returns the outcome counted in `order_processor_events_total`.
    async fn stage(
        &self,
        message: &Incoming,
        envelope: &Envelope,
    ) -> Result<&'static str, HandlerError> {
        let data = envelope
            .data()
            .map_err(|e| HandlerError::fatal(format!("unusable order event: {e}")))?;
        let order_id = match data {
            WebhookData::Order { id } | WebhookData::OrderRefund { id, .. } => id,
            WebhookData::OrderStatus {
                id, new_status_id, ..
            } => {
                if is_ignored_status_update(new_status_id) {
                    tracing::info!(
                        order_id = %id,
                        new_status_id,
                        reason = DropReason::IgnoredRefundStatus.as_str(),
                        "status update ignored: refund/created is authoritative"
                    );
                    count_dropped(DropReason::IgnoredRefundStatus.as_str());
                    return Ok(DropReason::IgnoredRefundStatus.as_str());
                }
                id
            }
            _ => {
                return Err(HandlerError::fatal(format!(
                    "scope {} does not belong on the orders queue",
                    envelope.scope()
                )))
            }
        };
        let store = envelope.store_hash().clone();
        let event_id = message.event_id(envelope);
        let mut conn = platform::db::conn(&self.pool)
            .await
            .map_err(|e| HandlerError::transient(e.to_string()))?;
        // The top-level channel is known without a BigCommerce call: drop at once when it is
        // not configured. Otherwise the worker resolves it from the order.
        if let Some(channel) = envelope.channel_id() {
            let found = channels::find(&mut conn, &store, channel)
                .await
                .map_err(|e| HandlerError::transient(e.to_string()))?;
            if found.is_none() {
                tracing::info!(store = %store, channel = %channel, order_id = %order_id,
                    reason = DropReason::UnmatchedChannel.as_str(), "order event dropped");
                count_dropped(DropReason::UnmatchedChannel.as_str());
                return Ok(DropReason::UnmatchedChannel.as_str());
            }
        }
        if stores::find(&mut conn, &store)
            .await
            .map_err(|e| HandlerError::transient(e.to_string()))?
            .is_none()
        {
            tracing::warn!(store = %store, order_id = %order_id, reason = "unknown_store", "order event dropped");
            count_dropped("unknown_store");
            return Ok("unknown_store");
        }
        let replay = message.is_replay();
        let scope = envelope.scope().as_str().to_owned();
        let traceparent = staging_traceparent(message);
        let staged_event = StagedEvent {
            store_hash: store.as_str(),
            order_id: order_id.get() as i64,
            channel_id: envelope.channel_id().map(|c| c.get() as i32),
            event_id: &event_id,
            scope: &scope,
            traceparent: traceparent.as_deref(),
        };
        let staged = conn
            .transaction::<bool, diesel::result::Error, _>(async |c| {
                let first =
                    events::mark_processed(c, CONSUMER, &event_id, Some(store.as_str())).await?;
                if !first && !replay {
                    return Ok(false);
                }
                db::stage_order(c, &staged_event).await?;
                Ok(true)
            })
            .await
            .map_err(|e| HandlerError::transient(format!("staging failed: {e}")))?;
        if staged {
            tracing::info!(order_id = %order_id, scope, replay, "order staged");
            metrics::counter!("order_processor_orders_staged_total").increment(1);
            self.wake.notify_one();
            Ok("staged")
        } else {
            tracing::info!(order_id = %order_id, scope, "duplicate order event skipped");
            count_dropped("duplicate");
            Ok("duplicate")
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // The guarded sets are updated in one step each, so a panic elsewhere leaves them whole.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The trace context to store with a staged order: this handler's span (a child of the
/// event's trace), else the event's own header when this process exports no traces, so the
/// trace still continues through the sync in a process that does.
fn staging_traceparent(message: &Incoming) -> Option<String> {
    platform::telemetry::traceparent(&tracing::Span::current())
        .or_else(|| message.header(message::TRACEPARENT))
        // A W3C traceparent is 55 characters; anything far longer is not one.
        .filter(|tp| tp.len() <= 128)
}

impl Handler for OrderStager {
    async fn handle(&self, message: &Incoming) -> Result<(), HandlerError> {
        handle_counted(ORDERS_QUEUE, "order", message, |envelope| async move {
            self.stage(message, &envelope).await
        })
        .await
    }
}

/// Why one sync attempt did not send the order.
#[derive(Debug)]
enum SyncError {
    /// Worth another attempt later.
    Retryable {
        reason: String,
        retry_after: Option<Duration>,
    },
    /// Will not get better by itself.
    Final(String),
    /// Nothing to send now (incomplete order, unmatched channel, order gone).
    Skip(String),
}

impl From<ApiError> for SyncError {
    fn from(e: ApiError) -> Self {
        if e.is_retryable() {
            SyncError::Retryable {
                reason: e.to_string(),
                retry_after: e.retry_after(),
            }
        } else {
            SyncError::Final(e.to_string())
        }
    }
}

impl From<platform::db::DbError> for SyncError {
    fn from(e: platform::db::DbError) -> Self {
        SyncError::Retryable {
            reason: e.to_string(),
            retry_after: None,
        }
    }
}

impl From<diesel::result::Error> for SyncError {
    fn from(e: diesel::result::Error) -> Self {
        SyncError::Retryable {
            reason: format!("database: {e}"),
            retry_after: None,
        }
    }
}

/// True when the sync must read the order's refunds: the last event was a refund, or the
/// order says something was refunded (amount, status 4/14, or a refunded line).
fn needs_refunds(
    row: &ClaimedOrder,
    order: &domain::bigcommerce::Order,
    products: &[domain::bigcommerce::OrderProduct],
) -> bool {
    row.last_scope.as_deref() == Some(Scope::OrderRefundCreated.as_str())
        || !order.refunded_amount.is_zero()
        || matches!(
            order.status_id,
            domain::status::REFUNDED | domain::status::PARTIALLY_REFUNDED
        )
        || products
            .iter()
            .any(|p| p.is_refunded || p.quantity_refunded > 0)
}

/// True when the connector already knows that the order's Engage contact exists, so the sync
/// need not look it up: the order's customer has a stored customer → contact link in the
/// order's channel, matched on this very e-mail.
///
/// The link is written by the contact events of that customer only after Engage confirmed the
/// contact (created, or found and updated), and removed when the customer is deleted, all under
/// the contact's lock; so it is as fresh as the connector's own knowledge, shared by every
/// process, and survives restarts, which an in-process cache keyed by (channel, e-mail) would
/// not (nor would such a cache hear of a deletion handled by another process). Guests have no
/// link and are looked up every time; that lookup is also where a guest's `Contact` is made.
async fn known_contact(
    conn: &mut diesel_async::AsyncPgConnection,
    store: &StoreHash,
    channel: &platform::db::channels::Channel,
    order: &domain::bigcommerce::Order,
    email: &str,
) -> Result<bool, SyncError> {
    if order.customer_id.is_guest() {
        return Ok(false);
    }
    let link = db::find_contact_link(conn, store.as_str(), order.customer_id.get() as i64).await?;
    Ok(link.is_some_and(|link| {
        i64::from(link.channel_id) == i64::from(channel.settings.channel_id.get())
            && link
                .email
                .is_some_and(|linked| linked.eq_ignore_ascii_case(email))
    }))
}

/// Syncs due staged orders to Engage.
#[derive(Clone)]
pub struct SyncWorker {
    pool: DbPool,
    http: HttpClients,
    broker: Broker,
    publisher: Arc<Publisher>,
    policy: RetryPolicy,
    wake: Arc<Notify>,
    /// Rows this worker holds, so a shutdown that cannot wait for them gives them back.
    in_flight: Arc<Mutex<HashSet<(String, i64)>>>,
}

impl SyncWorker {
    /// A worker; `policy` gives the attempts and the backoff of order syncs.
    pub fn new(
        pool: DbPool,
        http: HttpClients,
        broker: Broker,
        publisher: Arc<Publisher>,
        policy: RetryPolicy,
        wake: Arc<Notify>,
    ) -> Self {
        Self {
            pool,
            http,
            broker,
            publisher,
            policy,
            wake,
            in_flight: Arc::default(),
        }
    }

    /// Claims and syncs due rows, at most [`MAX_IN_FLIGHT`] at once, until `shutdown`. Then
    /// it lets in-flight syncs finish for up to [`DRAIN_TIMEOUT`] and gives back the rows of
    /// those that did not, so another worker takes them at once.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut tasks = JoinSet::new();
        while !shutdown.is_cancelled() {
            while tasks.try_join_next().is_some() {}
            let room = MAX_IN_FLIGHT.saturating_sub(tasks.len());
            let mut idle = true;
            if room > 0 {
                let claimed_at = Instant::now();
                let claimed = match self.claim(room.min(BATCH) as i64).await {
                    Ok(rows) => rows,
                    Err(error) => {
                        tracing::warn!(?error, "could not claim due orders");
                        Vec::new()
                    }
                };
                // A full batch means more rows may be due: claim again without waiting.
                idle = claimed.len() < room.min(BATCH);
                for row in claimed {
                    self.spawn_sync(&mut tasks, row, claimed_at);
                }
            }
            if idle || tasks.len() >= MAX_IN_FLIGHT {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = self.wake.notified() => {}
                    _ = tokio::time::sleep(POLL_INTERVAL) => {}
                    Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
                }
            }
        }
        let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tasks.abort_all();
            while tasks.join_next().await.is_some() {}
            self.release_in_flight().await;
        }
    }

    fn spawn_sync(&self, tasks: &mut JoinSet<()>, row: ClaimedOrder, claimed_at: Instant) {
        let span = tracing::info_span!(
            "order_sync",
            store = %row.store_hash,
            order_id = row.order_id,
            attempt = row.attempts + 1
        );
        // Every vendor call of the sync runs inside this span, so the trace of the event
        // that staged the order runs on to the Engage call.
        if let Some(tp) = &row.traceparent {
            platform::telemetry::set_parent_from_traceparent(&span, tp);
        }
        let key = (row.store_hash.clone(), row.order_id);
        lock(&self.in_flight).insert(key.clone());
        let worker = self.clone();
        tasks.spawn(
            async move {
                worker.sync_and_settle(row, claimed_at).await;
                lock(&worker.in_flight).remove(&key);
            }
            .instrument(span),
        );
    }

    /// Gives back the rows of syncs cut short by the shutdown.
    async fn release_in_flight(&self) {
        let rows: Vec<(String, i64)> = lock(&self.in_flight).drain().collect();
        if rows.is_empty() {
            return;
        }
        tracing::warn!(
            rows = rows.len(),
            "drain timeout: giving unfinished order syncs back"
        );
        let Ok(mut conn) = platform::db::conn(&self.pool).await else {
            // Their leases run out instead.
            return;
        };
        for (store_hash, order_id) in rows {
            if let Err(error) = db::release(&mut conn, &store_hash, order_id).await {
                tracing::warn!(%error, order_id, "could not give the order back; its lease runs out instead");
            }
        }
    }

    async fn claim(&self, limit: i64) -> Result<Vec<ClaimedOrder>, SyncError> {
        let mut conn = platform::db::conn(&self.pool).await?;
        Ok(db::claim_due(&mut conn, limit, LEASE).await?)
    }

    /// Renews the row's lease every [`RENEW_EVERY`] while the sync runs. Returns only when
    /// the lease could not be renewed in time: the sync must then stop before the lease runs
    /// out, because another worker may take the row after that.
    async fn keep_lease(&self, row: &ClaimedOrder, claimed_at: Instant) {
        let mut renewed = claimed_at;
        loop {
            tokio::time::sleep(RENEW_EVERY).await;
            let renewal = tokio::time::timeout(RENEW_EVERY, async {
                let mut conn = platform::db::conn(&self.pool).await?;
                Ok::<_, SyncError>(
                    db::renew_lease(&mut conn, &row.store_hash, row.order_id, LEASE).await?,
                )
            })
            .await;
            match renewal {
                Ok(Ok(true)) => renewed = Instant::now(),
                Ok(Ok(false)) => {
                    tracing::warn!("the row was taken from this worker; stopping its sync");
                    return;
                }
                Ok(Err(error)) => tracing::warn!(?error, "could not renew the lease"),
                Err(_) => tracing::warn!("renewing the lease timed out"),
            }
            if renewed.elapsed() >= LEASE.saturating_sub(RENEW_EVERY) {
                return;
            }
        }
    }

    async fn sync_and_settle(&self, row: ClaimedOrder, claimed_at: Instant) {
        let result = tokio::select! {
            result = self.sync(&row) => result,
            () = self.keep_lease(&row, claimed_at) => {
                // Not settled: whoever holds the row next decides.
                tracing::error!("order sync abandoned: its lease could not be kept");
                metrics::counter!("order_processor_order_syncs_total", "outcome" => "abandoned")
                    .increment(1);
                return;
            }
        };
        let attempts = row.attempts + 1;
        let (settle, outcome) = match &result {
            Ok(()) => (Settle::Sent, "sent"),
            Err(SyncError::Skip(reason)) => (Settle::Skipped(reason), "skipped"),
            Err(SyncError::Retryable {
                reason,
                retry_after,
            }) if self.policy.may_retry(attempts as u32) => {
                let delay = self
                    .policy
                    .delay_after(attempts as u32)
                    .max(retry_after.unwrap_or_default());
                tracing::warn!(%reason, attempts, delay_ms = delay.as_millis() as u64, "order sync failed; retrying later");
                (
                    Settle::Retry {
                        attempts,
                        error: reason,
                        delay,
                    },
                    "retry",
                )
            }
            Err(SyncError::Retryable { reason, .. }) | Err(SyncError::Final(reason)) => {
                tracing::error!(%reason, attempts, "order sync failed for good");
                (
                    Settle::Failed {
                        attempts,
                        error: reason,
                    },
                    "failed",
                )
            }
        };
        metrics::counter!("order_processor_order_syncs_total", "outcome" => outcome).increment(1);
        let settled = async {
            let mut conn = platform::db::conn(&self.pool).await?;
            Ok::<_, SyncError>(db::settle(&mut conn, &row, &settle).await?)
        }
        .await;
        match settled {
            Ok(true) => {
                if let Settle::Failed { attempts, error } = settle {
                    self.dead_letter(&row, attempts, error).await;
                }
            }
            Ok(false) => {
                tracing::info!("a newer event arrived during the sync; syncing again");
            }
            Err(error) => {
                // The lease runs out and another round takes the row again.
                tracing::error!(?error, "could not record the sync outcome");
            }
        }
    }

    async fn sync(&self, row: &ClaimedOrder) -> Result<(), SyncError> {
        let store_hash = StoreHash::parse(&row.store_hash)
            .map_err(|e| SyncError::Final(format!("bad store hash: {e}")))?;
        let order_id = u64::try_from(row.order_id)
            .map_err(|_| SyncError::Final(format!("bad order id {}", row.order_id)))?;
        let (store, channel_row) = {
            let mut conn = platform::db::conn(&self.pool).await?;
            let store = stores::find(&mut conn, &store_hash)
                .await?
                .ok_or_else(|| SyncError::Final(format!("unknown store {store_hash}")))?;
            let channel = match row.channel_id {
                Some(c) => channels::find(&mut conn, &store_hash, ChannelId::new(c as u32)).await?,
                None => None,
            };
            (store, channel)
        };
        let bigcommerce = self.http.bigcommerce(&store);
        let Some(order) = bigcommerce.order(order_id).await? else {
            return Err(SyncError::Skip(format!(
                "order {order_id} not found in BigCommerce"
            )));
        };
        let channel = match (channel_row, order.channel_id) {
            (Some(channel), _) => channel,
            (None, resource) => {
                let top_level = row.channel_id.map(|c| ChannelId::new(c as u32));
                let found = match domain::channel::resolve_channel(top_level, resource) {
                    Some(id) => {
                        let mut conn = platform::db::conn(&self.pool).await?;
                        channels::find(&mut conn, &store_hash, id).await?
                    }
                    None => None,
                };
                match found {
                    Some(channel) => channel,
                    None => {
                        let reason = DropReason::UnmatchedChannel.as_str();
                        tracing::info!(channel = ?resource, reason, "order dropped: no channel configured");
                        count_dropped(reason);
                        return Err(SyncError::Skip(reason.to_owned()));
                    }
                }
            }
        };
        // Independent reads: side by side, the sync waits for one round trip instead of two
        // (the quota gate still counts both).
        let (products, shipping) = tokio::try_join!(
            bigcommerce.order_products(order_id),
            bigcommerce.order_shipping_addresses(order_id)
        )?;
        // Refunds cost one more call against a tight BigCommerce quota: fetched when the
        // event is a refund or the order shows any refund, so that a full replace keeps them.
        let refunds = if needs_refunds(row, &order, &products) {
            bigcommerce.order_refunds(order_id).await?
        } else {
            Vec::new()
        };
        let payload = match map_order(&order, &products, &shipping, &refunds, &channel.settings) {
            Ok(Some(payload)) => payload,
            Ok(None) => {
                return Err(SyncError::Skip(
                    "incomplete order (status 0): not sent until its status changes".into(),
                ))
            }
            Err(e) => return Err(SyncError::Final(format!("cannot map order: {e}"))),
        };
        let engage = self.http.engage(&channel);
        // The contact must exist before its order.
        let contact = map_order_contact(&order, &channel.settings)
            .map_err(|e| SyncError::Final(format!("cannot map order contact: {e}")))?;
        let mut conn = platform::db::conn(&self.pool).await?;
        if known_contact(&mut conn, &store_hash, &channel, &order, &contact.email).await? {
            metrics::counter!("order_processor_contacts_total", "action" => "known_for_order")
                .increment(1);
        } else {
            let (engage, contact, settings) = (&engage, &contact, &channel.settings);
            let base_url = channel.engage_base_url.as_str();
            conn.transaction::<(), SyncError, _>(async |c| {
                db::lock_contact(c, base_url, &contact.email).await?;
                if engage.find_contact_id(&contact.email).await?.is_none() {
                    engage
                        .create_contact(&settings.source, &settings.store_external_id, contact)
                        .await?;
                    metrics::counter!(
                        "order_processor_contacts_total",
                        "action" => "created_for_order"
                    )
                    .increment(1);
                }
                Ok(())
            })
            .await?;
        }
        drop(conn);
        match &row.engage_order_id {
            Some(engage_order_id) => {
                match engage.replace_order(engage_order_id, &payload).await {
                    Ok(()) => {}
                    // Gone from Engage (deleted there): creating it again is no duplicate.
                    Err(ApiError::Status { status: 404, .. }) => {
                        engage.create_order(&payload).await?;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            None => {
                match engage.create_order(&payload).await {
                    Ok(()) => {}
                    // Created by an attempt whose outcome was lost: update it instead.
                    Err(ApiError::Status { status: 409, .. }) => {
                        self.record_engage_id(row, &payload.order_id).await?;
                        engage.replace_order(&payload.order_id, &payload).await?;
                        return Ok(());
                    }
                    Err(e) => return Err(e.into()),
                }
                self.record_engage_id(row, &payload.order_id).await?;
            }
        }
        tracing::info!(engage_order_id = %payload.order_id, status = %payload.status, "order sent to Engage");
        Ok(())
    }

    async fn record_engage_id(&self, row: &ClaimedOrder, id: &str) -> Result<(), SyncError> {
        let mut conn = platform::db::conn(&self.pool).await?;
        db::set_engage_order_id(&mut conn, &row.store_hash, row.order_id, id).await?;
        Ok(())
    }

    /// Publishes a copy of the order's last event to `order-processor.orders.dlq`. The raw
    /// body is not kept, so the copy is a synthetic webhook of the same scope, store, order
    /// and event id (a refund becomes `store/order/updated`: its sync reads every refund).
    async fn dead_letter(&self, row: &ClaimedOrder, attempts: i32, error: &str) {
        let scope = match row.last_scope.as_deref().map(Scope::parse) {
            Some(Ok(scope)) if scope != Scope::OrderRefundCreated => scope,
            _ => Scope::OrderUpdated,
        };
        let body = serde_json::json!({
            "scope": scope.as_str(),
            "data": {"type": "order", "id": row.order_id},
            "created_at": time::OffsetDateTime::now_utc().unix_timestamp(),
            "producer": format!("stores/{}", row.store_hash),
        });
        let event_id = row
            .last_event_id
            .clone()
            .unwrap_or_else(|| format!("order-{}-{}", row.store_hash, row.order_id));
        let mut headers = FieldTable::default();
        message::set_str(&mut headers, message::STORE_HASH, &row.store_hash);
        platform::telemetry::inject_current(&mut headers);
        let incoming = Incoming {
            body: serde_json::to_vec(&body).unwrap_or_default(),
            routing_key: scope.routing_key().into_owned(),
            message_id: Some(event_id.clone()),
            headers: headers.clone(),
            attempts: attempts as u32,
            redelivered: false,
            properties: message::event_properties(&event_id, headers),
        };
        let reason = format!("order sync failed after {attempts} attempt(s): {error}");
        match platform::amqp::consumer::dead_letter(
            &self.publisher,
            &self.broker,
            ORDERS_QUEUE,
            &incoming,
            attempts as u32,
            &reason,
        )
        .await
        {
            Ok(()) => {
                metrics::counter!("order_processor_orders_dead_lettered_total").increment(1);
            }
            Err(error) => {
                tracing::error!(%error, "could not dead-letter the failed order; the row stays failed");
                metrics::counter!("order_processor_dead_letter_errors_total").increment(1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(scope: &str) -> ClaimedOrder {
        ClaimedOrder {
            store_hash: "abc123".into(),
            order_id: 250,
            channel_id: None,
            attempts: 0,
            engage_order_id: None,
            revision: 1,
            last_event_id: Some("evt".into()),
            last_scope: Some(scope.into()),
            traceparent: None,
        }
    }

    fn order() -> (
        domain::bigcommerce::Order,
        Vec<domain::bigcommerce::OrderProduct>,
    ) {
        let order = serde_json::from_str(include_str!(
            "../../../fixtures/bigcommerce/api/v2_orders_250.json"
        ))
        .unwrap();
        let products = serde_json::from_str(include_str!(
            "../../../fixtures/bigcommerce/api/v2_orders_250_products.json"
        ))
        .unwrap();
        (order, products)
    }

    #[test]
    fn refunds_are_read_for_a_refund_event() {
        let (order, products) = order();
        assert!(needs_refunds(
            &row("store/order/refund/created"),
            &order,
            &products
        ));
    }

    #[test]
    fn refunds_are_not_read_for_an_order_without_any() {
        let (order, products) = order();
        assert!(!needs_refunds(
            &row("store/order/updated"),
            &order,
            &products
        ));
    }

    #[test]
    fn refunds_are_read_when_the_order_shows_a_refund() {
        let (mut order, products) = order();
        order.status_id = domain::status::PARTIALLY_REFUNDED;
        assert!(needs_refunds(
            &row("store/order/updated"),
            &order,
            &products
        ));
        let (order, mut products) = self::order();
        products[0].quantity_refunded = 1;
        assert!(needs_refunds(
            &row("store/order/updated"),
            &order,
            &products
        ));
    }

    #[test]
    fn api_errors_are_retryable_only_for_5xx_408_429_and_transport() {
        let status = |status| ApiError::Status {
            api: "engage",
            status,
            body: String::new(),
            retry_after: None,
        };
        for code in [500, 503, 408, 429] {
            assert!(matches!(
                SyncError::from(status(code)),
                SyncError::Retryable { .. }
            ));
        }
        for code in [400, 401, 404, 409, 422] {
            assert!(matches!(SyncError::from(status(code)), SyncError::Final(_)));
        }
    }
}
