//! Queries of the tables this service owns: `orders` (the staging table) and `contacts`
//! (the customer → Engage contact link). They take a connection, so callers compose
//! transactions.

use std::time::Duration;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Nullable, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use platform::db::schema::contacts;

/// Row status: staged, waiting for (another) sync.
pub const PENDING: &str = "pending";
/// Row status: a worker holds the row (see `locked_until`).
pub const PROCESSING: &str = "processing";
/// Row status: the latest state is in Engage.
pub const SENT: &str = "sent";
/// Row status: attempts exhausted or a final error; needs an operator.
pub const FAILED: &str = "failed";
/// Row status: nothing to send for now (incomplete order, unmatched channel, gone).
pub const SKIPPED: &str = "skipped";

/// One order event to stage.
#[derive(Debug, Clone)]
pub struct StagedEvent<'a> {
    /// The store.
    pub store_hash: &'a str,
    /// The BigCommerce order id.
    pub order_id: i64,
    /// The top-level `channel_id` of the webhook, when it had one.
    pub channel_id: Option<i32>,
    /// The event id.
    pub event_id: &'a str,
    /// The webhook scope (`store/order/created`, ...).
    pub scope: &'a str,
    /// The W3C `traceparent` the event was handled under, if it was traced.
    pub traceparent: Option<&'a str>,
}

/// Upserts the order's row as `pending` and due now: a new event is a new chance, so the
/// attempt count restarts. `revision` grows by one so that a sync running meanwhile knows
/// its data may be stale. The trace context is the latest event's (none when it had none):
/// the sync that follows sends that event's state, so it belongs to that event's trace.
pub async fn stage_order(conn: &mut AsyncPgConnection, event: &StagedEvent<'_>) -> QueryResult<()> {
    diesel::sql_query(
        "INSERT INTO orders (store_hash, order_id, channel_id, status, attempts, last_event_id, \
                             last_scope, traceparent, next_attempt_at) \
         VALUES ($1, $2, $3, 'pending', 0, $4, $5, $6, now()) \
         ON CONFLICT (store_hash, order_id) DO UPDATE SET \
             channel_id = COALESCE(EXCLUDED.channel_id, orders.channel_id), \
             status = 'pending', \
             attempts = 0, \
             revision = orders.revision + 1, \
             last_event_id = EXCLUDED.last_event_id, \
             last_scope = EXCLUDED.last_scope, \
             traceparent = EXCLUDED.traceparent, \
             next_attempt_at = now(), \
             updated_at = now()",
    )
    .bind::<Text, _>(event.store_hash)
    .bind::<BigInt, _>(event.order_id)
    .bind::<Nullable<Integer>, _>(event.channel_id)
    .bind::<Text, _>(event.event_id)
    .bind::<Text, _>(event.scope)
    .bind::<Nullable<Text>, _>(event.traceparent)
    .execute(conn)
    .await
    .map(drop)
}

/// A row a worker has claimed.
#[derive(Debug, Clone, QueryableByName)]
pub struct ClaimedOrder {
    /// The store.
    #[diesel(sql_type = Text)]
    pub store_hash: String,
    /// The BigCommerce order id.
    #[diesel(sql_type = BigInt)]
    pub order_id: i64,
    /// The top-level channel of a staged event, if any.
    #[diesel(sql_type = Nullable<Integer>)]
    pub channel_id: Option<i32>,
    /// Failed attempts so far.
    #[diesel(sql_type = Integer)]
    pub attempts: i32,
    /// Set once the order was created in Engage.
    #[diesel(sql_type = Nullable<Text>)]
    pub engage_order_id: Option<String>,
    /// The revision the claim saw.
    #[diesel(sql_type = BigInt)]
    pub revision: i64,
    /// Id of the latest staged event.
    #[diesel(sql_type = Nullable<Text>)]
    pub last_event_id: Option<String>,
    /// Scope of the latest staged event.
    #[diesel(sql_type = Nullable<Text>)]
    pub last_scope: Option<String>,
    /// Trace context of the latest staged event.
    #[diesel(sql_type = Nullable<Text>)]
    pub traceparent: Option<String>,
}

/// Claims up to `limit` due rows for `lease`: `pending` rows whose `next_attempt_at` has
/// come, and `processing` rows whose lease ran out (their worker died). Rows are locked
/// with `FOR UPDATE SKIP LOCKED` and leased through `locked_until`, so two workers, in
/// one process or several, never sync the same order at once.
pub async fn claim_due(
    conn: &mut AsyncPgConnection,
    limit: i64,
    lease: Duration,
) -> QueryResult<Vec<ClaimedOrder>> {
    diesel::sql_query(
        "WITH due AS ( \
             SELECT store_hash, order_id FROM orders \
             WHERE status IN ('pending', 'processing') \
               AND next_attempt_at <= now() \
               AND (locked_until IS NULL OR locked_until < now()) \
             ORDER BY next_attempt_at \
             LIMIT $1 \
             FOR UPDATE SKIP LOCKED) \
         UPDATE orders o SET status = 'processing', \
             locked_until = now() + ($2 * interval '1 millisecond'), updated_at = now() \
         FROM due WHERE o.store_hash = due.store_hash AND o.order_id = due.order_id \
         RETURNING o.store_hash, o.order_id, o.channel_id, o.attempts, o.engage_order_id, \
                   o.revision, o.last_event_id, o.last_scope, o.traceparent",
    )
    .bind::<BigInt, _>(limit)
    .bind::<BigInt, _>(lease.as_millis() as i64)
    .load(conn)
    .await
}

/// Extends the lease of a row this worker is syncing, so a slow sync keeps it while a worker
/// that died loses it soon. Returns `false` when the row is no longer `processing`.
pub async fn renew_lease(
    conn: &mut AsyncPgConnection,
    store_hash: &str,
    order_id: i64,
    lease: Duration,
) -> QueryResult<bool> {
    let n = diesel::sql_query(
        "UPDATE orders SET locked_until = now() + ($3 * interval '1 millisecond') \
         WHERE store_hash = $1 AND order_id = $2 AND status = 'processing'",
    )
    .bind::<Text, _>(store_hash)
    .bind::<BigInt, _>(order_id)
    .bind::<BigInt, _>(lease.as_millis() as i64)
    .execute(conn)
    .await?;
    Ok(n == 1)
}

/// Gives a claimed row back unsynced (`pending`, due now, attempts unchanged), for a worker
/// that stops before its sync finished: another worker takes it at once instead of waiting
/// for the lease to run out.
pub async fn release(
    conn: &mut AsyncPgConnection,
    store_hash: &str,
    order_id: i64,
) -> QueryResult<()> {
    diesel::sql_query(
        "UPDATE orders SET status = 'pending', locked_until = NULL, next_attempt_at = now(), \
             updated_at = now() \
         WHERE store_hash = $1 AND order_id = $2 AND status = 'processing'",
    )
    .bind::<Text, _>(store_hash)
    .bind::<BigInt, _>(order_id)
    .execute(conn)
    .await
    .map(drop)
}

/// The staged orders still to sync, for the backlog metrics.
#[derive(Debug, Clone, Copy, QueryableByName)]
pub struct Backlog {
    /// Rows `pending` or `processing`, due or not.
    #[diesel(sql_type = BigInt)]
    pub waiting: i64,
    /// Of those, rows due now and not held by a worker.
    #[diesel(sql_type = BigInt)]
    pub due: i64,
    /// How long the longest-waiting due row has been due, in milliseconds (0 when none): how
    /// far the workers are behind.
    #[diesel(sql_type = BigInt)]
    pub lag_ms: i64,
}

/// Counts the staged orders still to sync (uses the partial index of waiting rows).
pub async fn backlog(conn: &mut AsyncPgConnection) -> QueryResult<Backlog> {
    diesel::sql_query(
        "SELECT count(*) AS waiting, \
                count(*) FILTER (WHERE next_attempt_at <= now() \
                                   AND (locked_until IS NULL OR locked_until < now())) AS due, \
                COALESCE((EXTRACT(EPOCH FROM now() - min(next_attempt_at) FILTER ( \
                    WHERE next_attempt_at <= now() \
                      AND (locked_until IS NULL OR locked_until < now()))) * 1000)::bigint, 0) \
                    AS lag_ms \
         FROM orders WHERE status IN ('pending', 'processing')",
    )
    .get_result(conn)
    .await
}

/// Records the Engage order id right after a successful create, so no later sync creates
/// the order again.
pub async fn set_engage_order_id(
    conn: &mut AsyncPgConnection,
    store_hash: &str,
    order_id: i64,
    engage_order_id: &str,
) -> QueryResult<()> {
    diesel::sql_query(
        "UPDATE orders SET engage_order_id = $3, updated_at = now() \
         WHERE store_hash = $1 AND order_id = $2",
    )
    .bind::<Text, _>(store_hash)
    .bind::<BigInt, _>(order_id)
    .bind::<Text, _>(engage_order_id)
    .execute(conn)
    .await
    .map(drop)
}

/// How a claimed sync ended.
#[derive(Debug, Clone)]
pub enum Settle<'a> {
    /// Synced: `sent`, `sent_at` now, attempts and error cleared.
    Sent,
    /// Nothing to send for now: `skipped` with the reason.
    Skipped(&'a str),
    /// Try again after `delay`, with the attempt count and error.
    Retry {
        /// Failed attempts in all.
        attempts: i32,
        /// The error.
        error: &'a str,
        /// Wait before the next attempt.
        delay: Duration,
    },
    /// Give up: `failed` with the attempt count and error.
    Failed {
        /// Failed attempts in all.
        attempts: i32,
        /// The error.
        error: &'a str,
    },
}

/// Settles a claimed row and releases its lease. Returns `false` when a newer event was
/// staged meanwhile (the revision changed): the row is then left `pending` and due, so the
/// newer state is synced next, and only the lease (and the error, if any) is updated.
pub async fn settle(
    conn: &mut AsyncPgConnection,
    claimed: &ClaimedOrder,
    settle: &Settle<'_>,
) -> QueryResult<bool> {
    let (status, attempts, error, delay_ms, sent) = match settle {
        Settle::Sent => (SENT, 0, None, 0i64, true),
        Settle::Skipped(reason) => (SKIPPED, 0, Some(*reason), 0, false),
        Settle::Retry {
            attempts,
            error,
            delay,
        } => (
            PENDING,
            *attempts,
            Some(*error),
            delay.as_millis() as i64,
            false,
        ),
        Settle::Failed { attempts, error } => (FAILED, *attempts, Some(*error), 0, false),
    };
    let n = diesel::sql_query(
        "UPDATE orders SET status = $4, attempts = $5, last_error = $6, \
             next_attempt_at = now() + ($7 * interval '1 millisecond'), \
             sent_at = CASE WHEN $8 THEN now() ELSE sent_at END, \
             locked_until = NULL, updated_at = now() \
         WHERE store_hash = $1 AND order_id = $2 AND revision = $3",
    )
    .bind::<Text, _>(&claimed.store_hash)
    .bind::<BigInt, _>(claimed.order_id)
    .bind::<BigInt, _>(claimed.revision)
    .bind::<Text, _>(status)
    .bind::<Integer, _>(attempts)
    .bind::<Nullable<Text>, _>(error)
    .bind::<BigInt, _>(delay_ms)
    .bind::<diesel::sql_types::Bool, _>(sent)
    .execute(conn)
    .await?;
    if n == 1 {
        return Ok(true);
    }
    diesel::sql_query(
        "UPDATE orders SET locked_until = NULL, last_error = COALESCE($3, last_error), \
             updated_at = now() \
         WHERE store_hash = $1 AND order_id = $2",
    )
    .bind::<Text, _>(&claimed.store_hash)
    .bind::<BigInt, _>(claimed.order_id)
    .bind::<Nullable<Text>, _>(error)
    .execute(conn)
    .await?;
    Ok(false)
}

/// A staged order row, for tests and operators.
#[derive(Debug, Clone, QueryableByName)]
pub struct OrderRow {
    /// The store.
    #[diesel(sql_type = Text)]
    pub store_hash: String,
    /// The BigCommerce order id.
    #[diesel(sql_type = BigInt)]
    pub order_id: i64,
    /// `pending`, `processing`, `sent`, `failed` or `skipped`.
    #[diesel(sql_type = Text)]
    pub status: String,
    /// Failed attempts.
    #[diesel(sql_type = Integer)]
    pub attempts: i32,
    /// The last error.
    #[diesel(sql_type = Nullable<Text>)]
    pub last_error: Option<String>,
    /// The Engage order id, once created.
    #[diesel(sql_type = Nullable<Text>)]
    pub engage_order_id: Option<String>,
    /// Bumped by every staged event.
    #[diesel(sql_type = BigInt)]
    pub revision: i64,
    /// True once the order was synced.
    #[diesel(sql_type = diesel::sql_types::Bool)]
    pub was_sent: bool,
    /// Trace context of the latest staged event.
    #[diesel(sql_type = Nullable<Text>)]
    pub traceparent: Option<String>,
}

/// One staged order.
pub async fn find_order(
    conn: &mut AsyncPgConnection,
    store_hash: &str,
    order_id: i64,
) -> QueryResult<Option<OrderRow>> {
    diesel::sql_query(
        "SELECT store_hash, order_id, status, attempts, last_error, engage_order_id, revision, \
                sent_at IS NOT NULL AS was_sent, traceparent \
         FROM orders WHERE store_hash = $1 AND order_id = $2",
    )
    .bind::<Text, _>(store_hash)
    .bind::<BigInt, _>(order_id)
    .get_result(conn)
    .await
    .optional()
}

/// A stored customer → Engage contact link.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = contacts)]
pub struct ContactLink {
    /// The store.
    pub store_hash: String,
    /// The BigCommerce customer id.
    pub customer_id: i64,
    /// The channel the contact lives in.
    pub channel_id: i32,
    /// The Engage contact id.
    pub engage_contact_id: String,
    /// The e-mail it was matched on.
    pub email: Option<String>,
}

/// Stores (or replaces) the link of a customer to its Engage contact.
pub async fn upsert_contact_link(
    conn: &mut AsyncPgConnection,
    link: &ContactLink,
) -> QueryResult<()> {
    diesel::insert_into(contacts::table)
        .values((
            contacts::store_hash.eq(&link.store_hash),
            contacts::customer_id.eq(link.customer_id),
            contacts::channel_id.eq(link.channel_id),
            contacts::engage_contact_id.eq(&link.engage_contact_id),
            contacts::email.eq(&link.email),
        ))
        .on_conflict((contacts::store_hash, contacts::customer_id))
        .do_update()
        .set((
            contacts::channel_id.eq(link.channel_id),
            contacts::engage_contact_id.eq(&link.engage_contact_id),
            contacts::email.eq(&link.email),
            contacts::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await
        .map(drop)
}

/// The link of one customer.
pub async fn find_contact_link(
    conn: &mut AsyncPgConnection,
    store_hash: &str,
    customer_id: i64,
) -> QueryResult<Option<ContactLink>> {
    contacts::table
        .find((store_hash, customer_id))
        .select(ContactLink::as_select())
        .first(conn)
        .await
        .optional()
}

/// Deletes the link of one customer; returns whether it existed.
pub async fn delete_contact_link(
    conn: &mut AsyncPgConnection,
    store_hash: &str,
    customer_id: i64,
) -> QueryResult<bool> {
    let n = diesel::delete(contacts::table.find((store_hash, customer_id)))
        .execute(conn)
        .await?;
    Ok(n > 0)
}

/// Takes a transaction-scoped advisory lock on one Engage contact (by tenant and e-mail),
/// so that two syncs in any process never both find "no contact" and both create one.
/// Released at the end of the caller's transaction.
pub async fn lock_contact(
    conn: &mut AsyncPgConnection,
    engage_base_url: &str,
    email: &str,
) -> QueryResult<()> {
    let key = format!("engage-contact|{engage_base_url}|{}", email.to_lowercase());
    diesel::sql_query("SELECT pg_advisory_xact_lock(hashtext($1)::bigint)")
        .bind::<Text, _>(key)
        .execute(conn)
        .await
        .map(drop)
}
