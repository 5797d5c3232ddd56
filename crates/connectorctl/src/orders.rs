//! `connectorctl orders …`: the staged orders of the order-processor.
//!
//! `list` shows rows of the `orders` table; `retry` makes rows due again. A retried row is
//! `pending` with zero attempts and `next_attempt_at = now()`, so the order-processor's
//! worker claims it at its next poll and syncs the order's current state. Its `revision` is
//! bumped too: a worker still busy with the row then knows its result is stale and leaves the
//! row `pending` rather than overwriting the retry. `last_error` is kept for the record.

use std::io::Write;

use clap::{Subcommand, ValueEnum};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use platform::db::{self, schema::orders};
use time::OffsetDateTime;

use crate::stores::parse_hash;
use crate::{when, CtlError};

/// The status of a staged order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StatusArg {
    /// Staged, waiting for (another) sync.
    Pending,
    /// A worker holds the row.
    Processing,
    /// The latest state is in Engage.
    Sent,
    /// Attempts exhausted or a final error; needs an operator.
    Failed,
    /// Nothing to send for now.
    Skipped,
}

impl StatusArg {
    /// The value stored in `orders.status`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Processing => "processing",
            Self::Sent => "sent",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
        }
    }
}

/// Order commands.
#[derive(Debug, Subcommand)]
pub enum OrdersCommand {
    /// List staged orders, newest first.
    List {
        /// Only orders with this status.
        #[arg(long, value_enum)]
        status: Option<StatusArg>,
        /// Only orders of this store (hash).
        #[arg(long)]
        store: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Make an order (or every failed order) due for another sync now.
    Retry {
        /// The store hash of the order.
        #[arg(
            long,
            required_unless_present = "all_failed",
            requires = "order_id",
            conflicts_with = "all_failed"
        )]
        store: Option<String>,
        /// The BigCommerce order id.
        #[arg(long, required_unless_present = "all_failed", requires = "store")]
        order_id: Option<i64>,
        /// Retry every failed order and print how many.
        #[arg(long, conflicts_with_all = ["store", "order_id"])]
        all_failed: bool,
    },
}

/// One row of `orders`, as listed.
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = orders)]
#[diesel(check_for_backend(diesel::pg::Pg))]
struct OrderRow {
    store_hash: String,
    order_id: i64,
    channel_id: Option<i32>,
    status: String,
    attempts: i32,
    last_error: Option<String>,
    engage_order_id: Option<String>,
    revision: i64,
    last_event_id: Option<String>,
    last_scope: Option<String>,
    next_attempt_at: OffsetDateTime,
    locked_until: Option<OffsetDateTime>,
    sent_at: Option<OffsetDateTime>,
    created_at: OffsetDateTime,
    updated_at: OffsetDateTime,
}

impl OrderRow {
    fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "store": self.store_hash,
            "order_id": self.order_id,
            "channel_id": self.channel_id,
            "status": self.status,
            "attempts": self.attempts,
            "last_error": self.last_error,
            "engage_order_id": self.engage_order_id,
            "revision": self.revision,
            "last_event_id": self.last_event_id,
            "last_scope": self.last_scope,
            "next_attempt_at": when(self.next_attempt_at),
            "locked_until": self.locked_until.map(when),
            "sent_at": self.sent_at.map(when),
            "created_at": when(self.created_at),
            "updated_at": when(self.updated_at),
        })
    }
}

/// One line of at most `max` characters (errors can be long and multi-line).
fn one_line(s: &str, max: usize) -> String {
    let flat: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    match flat.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &flat[..i]),
        None => flat,
    }
}

pub(crate) async fn run(
    cmd: OrdersCommand,
    pool: &db::DbPool,
    out: &mut impl Write,
) -> Result<(), CtlError> {
    match cmd {
        OrdersCommand::List {
            status,
            store,
            json,
        } => {
            let store = store.as_deref().map(parse_hash).transpose()?;
            let mut conn = db::conn(pool).await?;
            let mut query = orders::table
                .select(OrderRow::as_select())
                .order((orders::created_at.desc(), orders::order_id.desc()))
                .into_boxed();
            if let Some(status) = status {
                query = query.filter(orders::status.eq(status.as_str()));
            }
            if let Some(store) = &store {
                query = query.filter(orders::store_hash.eq(store.as_str()));
            }
            let rows: Vec<OrderRow> = query.load(&mut conn).await?;
            if json {
                let rows: Vec<_> = rows.iter().map(OrderRow::to_json).collect();
                writeln!(out, "{}", serde_json::Value::Array(rows))?;
            } else if rows.is_empty() {
                writeln!(out, "no orders")?;
            } else {
                writeln!(
                    out,
                    "{:<16} {:>12} {:<10} {:>8} {:<25} {:<25} LAST ERROR",
                    "STORE", "ORDER", "STATUS", "ATTEMPTS", "NEXT ATTEMPT", "UPDATED"
                )?;
                for r in rows {
                    writeln!(
                        out,
                        "{:<16} {:>12} {:<10} {:>8} {:<25} {:<25} {}",
                        r.store_hash,
                        r.order_id,
                        r.status,
                        r.attempts,
                        when(r.next_attempt_at),
                        when(r.updated_at),
                        r.last_error
                            .as_deref()
                            .map(|e| one_line(e, 120))
                            .unwrap_or_default()
                    )?;
                }
            }
        }
        OrdersCommand::Retry {
            store,
            order_id,
            all_failed,
        } => {
            let mut conn = db::conn(pool).await?;
            let now = diesel::dsl::now;
            let reset = (
                orders::status.eq("pending"),
                orders::attempts.eq(0),
                orders::next_attempt_at.eq(now),
                orders::revision.eq(orders::revision + 1),
                orders::updated_at.eq(now),
            );
            if all_failed {
                let n = diesel::update(orders::table.filter(orders::status.eq("failed")))
                    .set(reset)
                    .execute(&mut conn)
                    .await?;
                writeln!(out, "{n} failed order(s) queued for retry")?;
            } else {
                let (Some(store), Some(order_id)) = (store, order_id) else {
                    return Err(CtlError::Invalid(
                        "give --store and --order-id, or --all-failed".into(),
                    ));
                };
                let store = parse_hash(&store)?;
                let n = diesel::update(orders::table.find((store.as_str(), order_id)))
                    .set(reset)
                    .execute(&mut conn)
                    .await?;
                if n == 0 {
                    return Err(CtlError::NotFound(format!(
                        "unknown order {order_id} of store {store}"
                    )));
                }
                writeln!(out, "order {order_id} of store {store} queued for retry")?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_errors_are_shown_on_one_short_line() {
        assert_eq!(one_line("a\nb", 10), "a b");
        assert_eq!(one_line("abcdef", 3), "abc…");
    }
}
