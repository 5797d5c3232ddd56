//! The `processed_events` table: event-id de-duplication per consumer.

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use time::{Duration, OffsetDateTime};

use super::schema::processed_events;

/// Records that `consumer` handled `event_id`; returns `false` when it was already recorded
/// (a redelivery to skip).
pub async fn mark_processed(
    conn: &mut AsyncPgConnection,
    consumer: &str,
    event_id: &str,
    store_hash: Option<&str>,
) -> QueryResult<bool> {
    let n = diesel::insert_into(processed_events::table)
        .values((
            processed_events::consumer.eq(consumer),
            processed_events::event_id.eq(event_id),
            processed_events::store_hash.eq(store_hash),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    Ok(n == 1)
}

/// True when `consumer` already handled `event_id`.
pub async fn was_processed(
    conn: &mut AsyncPgConnection,
    consumer: &str,
    event_id: &str,
) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        processed_events::table
            .filter(processed_events::consumer.eq(consumer))
            .filter(processed_events::event_id.eq(event_id)),
    ))
    .get_result(conn)
    .await
}

/// Deletes at most `batch` of `consumer`'s records older than `retention`; returns how many.
/// Small batches keep each delete short next to the live inserts: call again while it
/// returns `batch`.
pub async fn prune(
    conn: &mut AsyncPgConnection,
    consumer: &str,
    retention: Duration,
    batch: i64,
) -> QueryResult<usize> {
    let cutoff = OffsetDateTime::now_utc() - retention;
    diesel::sql_query(
        "DELETE FROM processed_events WHERE consumer = $1 AND event_id IN ( \
             SELECT event_id FROM processed_events \
             WHERE consumer = $1 AND processed_at < $2 LIMIT $3)",
    )
    .bind::<diesel::sql_types::Text, _>(consumer)
    .bind::<diesel::sql_types::Timestamptz, _>(cutoff)
    .bind::<diesel::sql_types::BigInt, _>(batch)
    .execute(conn)
    .await
}

/// How long a consumer keeps an event id for de-duplication. Redeliveries come within
/// minutes (the broker) or hours (BigCommerce's resends, retries; an operator's replay is
/// marked and not de-duplicated): a week leaves a wide margin at the cost of a small table.
pub const EVENT_RETENTION: Duration = Duration::days(7);

/// How often a service prunes its consumers' old event ids.
pub const PRUNE_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

/// Rows deleted per statement by [`prune_expired`].
const PRUNE_BATCH: i64 = 5_000;

/// Deletes every record of `consumer` older than `retention`, batch by batch, until none is
/// left or `stop` is cancelled; returns how many went.
pub async fn prune_expired(
    pool: &super::DbPool,
    consumer: &str,
    retention: Duration,
    stop: &tokio_util::sync::CancellationToken,
) -> Result<usize, super::DbError> {
    let mut total = 0usize;
    while !stop.is_cancelled() {
        let mut conn = super::conn(pool).await?;
        let n = prune(&mut conn, consumer, retention, PRUNE_BATCH)
            .await
            .map_err(super::DbError::from)?;
        total += n;
        if n < PRUNE_BATCH as usize {
            break;
        }
    }
    Ok(total)
}
