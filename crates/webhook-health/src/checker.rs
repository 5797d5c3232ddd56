//! One webhook check of one store, under a Postgres advisory lock: list the hooks, create
//! the missing required scopes, re-activate inactive ones, record everything in
//! `webhook_checks`, and run the back-fill that re-activations open.
//!
//! # What `webhook_checks` holds
//!
//! | action            | scope                  | before / after           | detail                |
//! |-------------------|------------------------|--------------------------|-----------------------|
//! | `check`           | required scope         | state seen (unchanged)   | –                     |
//! | `create`          | required scope         | `missing` / `active`     | –                     |
//! | `reactivate`      | required scope         | `inactive` / `active`    | –                     |
//! | `error`           | scope or `*`           | –                        | the error             |
//! | `backfill_window` | `store/order/updated` or `store/customer/updated` | – | RFC 3339 start of the window |
//! | `backfill`        | same                   | – / `date_modified`      | the synthetic event's message id |
//! | `backfill_done`   | same                   | –                        | –                     |
//!
//! The last `check`/`create`/`reactivate` row per (store, scope) is the hook's last known
//! state (`connectorctl hooks list`). A `backfill_window` row without a later
//! `backfill_done` row of the same scope is a back-fill still to finish; `backfill` rows make
//! a second run skip what was already published.

use std::collections::HashSet;
use std::sync::Arc;

use diesel::prelude::*;
use diesel::sql_types::{Bool, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use domain::bigcommerce::{plan_hooks, Hook, NewHook};
use domain::webhook::Scope;
use lapin::types::FieldTable;
use platform::amqp::message::{self, event_properties, set_bool, set_str};
use platform::amqp::{PublishError, Publisher};
use platform::db::schema::{processed_events, webhook_checks};
use platform::db::stores::Store;
use platform::db::{self, DbError, DbPool};
use platform::http::{ApiError, BigCommerceClient, HttpClients};
use serde_json::json;
use time::format_description::well_known::{Rfc2822, Rfc3339};
use time::OffsetDateTime;

/// First key of the two-key advisory lock; the second is `hashtext(store_hash)`.
pub const LOCK_CLASS: i32 = 0x5748_4b48; // "WHKH"

/// Page size of BigCommerce listings (the shared client asks for 250 a page).
const PAGE_SIZE: usize = 250;

/// What the checker needs from the configuration.
#[derive(Debug, Clone)]
pub struct CheckerConfig {
    /// `webhook_health.destination_url`: where the connector's hooks deliver.
    pub destination_url: String,
    /// `webhook_health.backfill`: back-fill after re-activations.
    pub backfill: bool,
    /// Pages (of 250) of orders and of customers listed per back-fill run; the rest
    /// continues on the next run.
    pub backfill_max_pages: usize,
}

impl CheckerConfig {
    /// From the settings, with 4 pages (1000 changes per kind) per back-fill run.
    pub fn from_settings(settings: &platform::Settings) -> Self {
        Self {
            destination_url: settings.webhook_health.destination_url.clone(),
            backfill: settings.webhook_health.backfill,
            backfill_max_pages: 4,
        }
    }
}

/// Why a check could not complete.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// The database failed.
    #[error("database: {0}")]
    Db(#[from] DbError),
    /// A query failed.
    #[error("database query: {0}")]
    Query(#[from] diesel::result::Error),
    /// BigCommerce failed (after the client's own retries).
    #[error(transparent)]
    Api(#[from] ApiError),
    /// A synthetic event could not be published.
    #[error("publish: {0}")]
    Publish(#[from] PublishError),
}

impl CheckError {
    /// True when a later try may succeed (everything but a final 4xx or undecodable answer).
    pub fn is_transient(&self) -> bool {
        match self {
            CheckError::Api(error) => error.is_retryable(),
            _ => true,
        }
    }
}

/// The result of checking one store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckReport {
    /// Another replica held the store's lock: nothing was done.
    pub skipped: bool,
    /// Hooks created.
    pub created: usize,
    /// Hooks re-activated.
    pub reactivated: usize,
    /// Synthetic events published.
    pub backfilled: usize,
}

/// Checks stores; share it behind an `Arc`.
pub struct Checker {
    pool: DbPool,
    clients: HttpClients,
    publisher: Arc<Publisher>,
    exchange: String,
    config: CheckerConfig,
}

impl std::fmt::Debug for Checker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checker")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

#[derive(QueryableByName)]
struct Locked {
    #[diesel(sql_type = Bool)]
    locked: bool,
}

/// Hook state as recorded: `active`, `inactive` or `missing`.
fn state(active: bool) -> &'static str {
    if active {
        "active"
    } else {
        "inactive"
    }
}

fn same_destination(a: &str, b: &str) -> bool {
    let norm = |d: &str| d.trim().trim_end_matches('/').to_owned();
    norm(a) == norm(b)
}

/// One `webhook_checks` row to insert.
struct Row<'a> {
    hook_id: Option<u64>,
    scope: &'a str,
    action: &'a str,
    before: Option<&'a str>,
    after: Option<&'a str>,
    detail: Option<&'a str>,
}

async fn record(conn: &mut AsyncPgConnection, store: &str, row: Row<'_>) -> QueryResult<i64> {
    diesel::insert_into(webhook_checks::table)
        .values((
            webhook_checks::store_hash.eq(store),
            webhook_checks::hook_id.eq(row.hook_id.map(|id| id as i64)),
            webhook_checks::scope.eq(row.scope),
            webhook_checks::action.eq(row.action),
            webhook_checks::before.eq(row.before),
            webhook_checks::after.eq(row.after),
            webhook_checks::detail.eq(row.detail),
        ))
        .returning(webhook_checks::id)
        .get_result(conn)
        .await
}

/// What a back-fill covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Order,
    Customer,
}

impl Kind {
    fn scope(self) -> Scope {
        match self {
            Kind::Order => Scope::OrderUpdated,
            Kind::Customer => Scope::CustomerUpdated,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Order => "order",
            Kind::Customer => "customer",
        }
    }
}

/// The deterministic message id of a synthetic event: one per (store, resource,
/// modification time).
pub fn backfill_message_id(store: &str, kind: &str, id: u64, modified: OffsetDateTime) -> String {
    format!(
        "backfill-{store}-{kind}-{id}-{}",
        modified.unix_timestamp_nanos() / 1_000_000
    )
}

impl Checker {
    /// A checker over the pool, clients and publisher; synthetic events go to `exchange`.
    pub fn new(
        config: CheckerConfig,
        pool: DbPool,
        clients: HttpClients,
        publisher: Arc<Publisher>,
        exchange: String,
    ) -> Self {
        Self {
            pool,
            clients,
            publisher,
            exchange,
            config,
        }
    }

    /// Checks every store; a failing store does not stop the others. Returns how many stores
    /// failed.
    pub async fn check_all(&self) -> Result<usize, CheckError> {
        let stores = {
            let mut conn = db::conn(&self.pool).await?;
            db::stores::list(&mut conn).await?
        };
        let mut failed = 0;
        for store in &stores {
            if let Err(error) = self.check_store(store).await {
                failed += 1;
                tracing::warn!(store = %store.store_hash, %error, "webhook check failed");
            }
        }
        Ok(failed)
    }

    /// Checks one store unless another replica is checking it right now.
    pub async fn check_store(&self, store: &Store) -> Result<CheckReport, CheckError> {
        let hash = store.store_hash.as_str();
        let mut conn = db::conn(&self.pool).await?;
        let locked: Locked = diesel::sql_query(format!(
            "SELECT pg_try_advisory_lock({LOCK_CLASS}, hashtext($1)) AS locked"
        ))
        .bind::<Text, _>(hash)
        .get_result(&mut conn)
        .await?;
        if !locked.locked {
            tracing::info!(store = hash, "another replica is checking this store");
            metrics::counter!("webhook_health_checks_total", "outcome" => "skipped").increment(1);
            return Ok(CheckReport {
                skipped: true,
                ..CheckReport::default()
            });
        }
        let result = self.check_locked(&mut conn, store).await;
        let unlocked = diesel::sql_query(format!(
            "SELECT pg_advisory_unlock({LOCK_CLASS}, hashtext($1)) AS locked"
        ))
        .bind::<Text, _>(hash)
        .get_result::<Locked>(&mut conn)
        .await;
        if let Err(error) = unlocked {
            // The session may still hold the lock: never hand it back to the pool.
            tracing::warn!(store = hash, %error, "advisory unlock failed; dropping connection");
            let _ = diesel_async::pooled_connection::deadpool::Object::take(conn);
        }
        let outcome = if result.is_ok() { "ok" } else { "error" };
        metrics::counter!("webhook_health_checks_total", "outcome" => outcome).increment(1);
        if let Ok(report) = &result {
            tracing::info!(store = hash, ?report, "webhook check done");
        }
        result
    }

    async fn check_locked(
        &self,
        conn: &mut AsyncPgConnection,
        store: &Store,
    ) -> Result<CheckReport, CheckError> {
        let hash = store.store_hash.as_str();
        let client = self.clients.bigcommerce(store);
        let mut report = CheckReport::default();
        let hooks = match client.hooks().await {
            Ok(hooks) => hooks,
            Err(error) => {
                let text = error.to_string();
                record(conn, hash, error_row("*", None, &text)).await?;
                return Err(error.into());
            }
        };
        let destination = self.config.destination_url.as_str();
        let plan = plan_hooks(&hooks, destination);
        let mut first_error: Option<CheckError> = None;
        let mut reactivated: Vec<&Hook> = Vec::new();
        let (mut active, mut inactive) = (0u64, 0u64);
        for scope in Scope::required_hooks() {
            let ours: Vec<&Hook> = hooks
                .iter()
                .filter(|h| &h.scope == scope && same_destination(&h.destination, destination))
                .collect();
            if plan.create.contains(scope) {
                let request = NewHook {
                    scope: scope.clone(),
                    destination: destination.to_owned(),
                    is_active: true,
                    headers: None,
                };
                match client.create_hook(&request).await {
                    Ok(hook) => {
                        report.created += 1;
                        active += 1;
                        metrics::counter!("webhook_health_creations_total", "store" => hash.to_owned())
                            .increment(1);
                        record(
                            conn,
                            hash,
                            Row {
                                hook_id: Some(hook.id),
                                scope: scope.as_str(),
                                action: "create",
                                before: Some("missing"),
                                after: Some(state(hook.is_active)),
                                detail: None,
                            },
                        )
                        .await?;
                    }
                    Err(error) => {
                        inactive += 1;
                        let text = error.to_string();
                        record(conn, hash, error_row(scope.as_str(), None, &text)).await?;
                        first_error.get_or_insert(error.into());
                    }
                }
                continue;
            }
            if let Some(hook) = ours.iter().find(|h| h.is_active) {
                active += 1;
                record(
                    conn,
                    hash,
                    Row {
                        hook_id: Some(hook.id),
                        scope: scope.as_str(),
                        action: "check",
                        before: Some("active"),
                        after: Some("active"),
                        detail: None,
                    },
                )
                .await?;
                continue;
            }
            let mut now_active = false;
            for hook in ours.iter().filter(|h| plan.reactivate.contains(&h.id)) {
                match client.activate_hook(hook.id).await {
                    Ok(updated) => {
                        now_active |= updated.is_active;
                        report.reactivated += 1;
                        reactivated.push(hook);
                        metrics::counter!("webhook_health_reactivations_total", "store" => hash.to_owned())
                            .increment(1);
                        record(
                            conn,
                            hash,
                            Row {
                                hook_id: Some(hook.id),
                                scope: scope.as_str(),
                                action: "reactivate",
                                before: Some("inactive"),
                                after: Some(state(updated.is_active)),
                                detail: None,
                            },
                        )
                        .await?;
                    }
                    Err(error) => {
                        let text = error.to_string();
                        record(conn, hash, error_row(scope.as_str(), Some(hook.id), &text)).await?;
                        first_error.get_or_insert(error.into());
                    }
                }
            }
            if now_active {
                active += 1;
            } else {
                inactive += 1;
            }
        }
        metrics::gauge!("webhook_health_hooks", "store" => hash.to_owned(), "state" => "active")
            .set(active as f64);
        metrics::gauge!("webhook_health_hooks", "store" => hash.to_owned(), "state" => "inactive")
            .set(inactive as f64);

        if self.config.backfill && !reactivated.is_empty() {
            self.open_backfill(conn, hash, &reactivated).await?;
        }
        if self.config.backfill {
            for kind in [Kind::Order, Kind::Customer] {
                match self.continue_backfill(conn, &client, hash, kind).await {
                    Ok(n) => report.backfilled += n,
                    Err(error) => {
                        first_error.get_or_insert(error);
                    }
                }
            }
        }
        match first_error {
            Some(error) => Err(error),
            None => Ok(report),
        }
    }

    /// Records the back-fill windows a re-activation opens: since the last event processed
    /// for the store, else since the earliest re-activated hook went inactive.
    async fn open_backfill(
        &self,
        conn: &mut AsyncPgConnection,
        hash: &str,
        reactivated: &[&Hook],
    ) -> Result<(), CheckError> {
        let last_event: Option<OffsetDateTime> = processed_events::table
            .filter(processed_events::store_hash.eq(hash))
            .select(diesel::dsl::max(processed_events::processed_at))
            .first(conn)
            .await?;
        let since = match last_event {
            Some(at) => at,
            None => {
                let updated = reactivated.iter().map(|h| h.updated_at).min().unwrap_or(0);
                OffsetDateTime::from_unix_timestamp(updated).unwrap_or(OffsetDateTime::UNIX_EPOCH)
            }
        };
        let since_text = since.format(&Rfc3339).unwrap_or_default();
        for kind in [Kind::Order, Kind::Customer] {
            // A window still open from an earlier re-activation starts earlier: keep it.
            if let Some(open) = self.open_window(conn, hash, kind).await? {
                if OffsetDateTime::parse(&open, &Rfc3339).is_ok_and(|open| open <= since) {
                    continue;
                }
            }
            record(
                conn,
                hash,
                Row {
                    hook_id: None,
                    scope: kind.scope().as_str(),
                    action: "backfill_window",
                    before: None,
                    after: None,
                    detail: Some(&since_text),
                },
            )
            .await?;
        }
        Ok(())
    }

    /// Publishes the not yet back-filled changes of the store's open window of `kind`, up to
    /// `backfill_max_pages` pages; closes the window when everything was listed.
    async fn continue_backfill(
        &self,
        conn: &mut AsyncPgConnection,
        client: &BigCommerceClient,
        hash: &str,
        kind: Kind,
    ) -> Result<usize, CheckError> {
        let scope = kind.scope();
        let Some(since) = self.open_window(conn, hash, kind).await? else {
            return Ok(0);
        };
        let Ok(since_at) = OffsetDateTime::parse(&since, &Rfc3339) else {
            tracing::warn!(
                store = hash,
                since,
                "unreadable back-fill window; closing it"
            );
            self.close_window(conn, hash, &scope, None).await?;
            return Ok(0);
        };
        let max_pages = self.config.backfill_max_pages.max(1);
        // (id, date_modified) of every change in the window, as far as listed this run.
        let changes: Vec<(u64, OffsetDateTime)> = match kind {
            Kind::Order => client
                .orders_modified_since(&since_at.format(&Rfc2822).unwrap_or_default(), max_pages)
                .await?
                .into_iter()
                .map(|o| (o.id.get(), o.date_modified))
                .collect(),
            Kind::Customer => client
                .customers_modified_since(&since, max_pages)
                .await?
                .into_iter()
                .map(|c| (c.id.get(), c.date_modified.unwrap_or(since_at)))
                .collect(),
        };
        let truncated = changes.len() >= max_pages * PAGE_SIZE;
        let ids: Vec<String> = changes
            .iter()
            .map(|(id, at)| backfill_message_id(hash, kind.name(), *id, *at))
            .collect();
        let done: HashSet<String> = webhook_checks::table
            .filter(webhook_checks::store_hash.eq(hash))
            .filter(webhook_checks::action.eq("backfill"))
            .filter(webhook_checks::detail.eq_any(&ids))
            .select(webhook_checks::detail)
            .load::<Option<String>>(conn)
            .await?
            .into_iter()
            .flatten()
            .collect();
        let mut published = 0;
        for ((id, at), message_id) in changes.iter().zip(&ids) {
            if done.contains(message_id) {
                continue;
            }
            self.publish(hash, kind, *id, message_id).await?;
            let modified = at.format(&Rfc3339).unwrap_or_default();
            record(
                conn,
                hash,
                Row {
                    hook_id: None,
                    scope: scope.as_str(),
                    action: "backfill",
                    before: None,
                    after: Some(&modified),
                    detail: Some(message_id),
                },
            )
            .await?;
            published += 1;
            metrics::counter!(
                "webhook_health_backfilled_events_total",
                "store" => hash.to_owned(),
                "kind" => kind.name()
            )
            .increment(1);
        }
        if truncated {
            // Orders come oldest change first: continue after the last one listed. Customers
            // are listed in the API's order, so their window stays and the records skip
            // what was published.
            let next = match kind {
                Kind::Order => changes.iter().map(|(_, at)| *at).max().unwrap_or(since_at),
                Kind::Customer => since_at,
            };
            let next = next.format(&Rfc3339).unwrap_or_default();
            record(
                conn,
                hash,
                Row {
                    hook_id: None,
                    scope: scope.as_str(),
                    action: "backfill_window",
                    before: None,
                    after: None,
                    detail: Some(&next),
                },
            )
            .await?;
        } else {
            self.close_window(conn, hash, &scope, Some(published))
                .await?;
        }
        Ok(published)
    }

    /// The start (RFC 3339) of the store's open back-fill window of `kind`, if one is open:
    /// its latest `backfill_window` row has no later `backfill_done` row.
    async fn open_window(
        &self,
        conn: &mut AsyncPgConnection,
        hash: &str,
        kind: Kind,
    ) -> QueryResult<Option<String>> {
        let latest: Option<(String, Option<String>)> = webhook_checks::table
            .filter(webhook_checks::store_hash.eq(hash))
            .filter(webhook_checks::scope.eq(kind.scope().as_str()))
            .filter(webhook_checks::action.eq_any(["backfill_window", "backfill_done"]))
            .order(webhook_checks::id.desc())
            .select((webhook_checks::action, webhook_checks::detail))
            .first(conn)
            .await
            .optional()?;
        Ok(match latest {
            Some((action, Some(since))) if action == "backfill_window" => Some(since),
            _ => None,
        })
    }

    async fn close_window(
        &self,
        conn: &mut AsyncPgConnection,
        hash: &str,
        scope: &Scope,
        published: Option<usize>,
    ) -> QueryResult<i64> {
        let detail = published.map(|n| format!("{n} published in the last run"));
        record(
            conn,
            hash,
            Row {
                hook_id: None,
                scope: scope.as_str(),
                action: "backfill_done",
                before: None,
                after: None,
                detail: detail.as_deref(),
            },
        )
        .await
    }

    /// Publishes one synthetic webhook event on the normal routing key.
    async fn publish(
        &self,
        hash: &str,
        kind: Kind,
        id: u64,
        message_id: &str,
    ) -> Result<(), PublishError> {
        let scope = kind.scope();
        let body = json!({
            "scope": scope.as_str(),
            "data": {"type": kind.name(), "id": id},
            "hash": message_id,
            "created_at": OffsetDateTime::now_utc().unix_timestamp(),
            "producer": format!("stores/{hash}"),
        });
        let mut headers = FieldTable::default();
        set_str(&mut headers, message::STORE_HASH, hash);
        set_str(&mut headers, message::RECEIVED_AT, &message::now_rfc3339());
        set_bool(&mut headers, message::BACKFILL, true);
        self.publisher
            .publish(
                &self.exchange,
                &scope.routing_key(),
                body.to_string().as_bytes(),
                event_properties(message_id, headers),
            )
            .await
    }
}

fn error_row<'a>(scope: &'a str, hook_id: Option<u64>, text: &'a str) -> Row<'a> {
    Row {
        hook_id,
        scope,
        action: "error",
        before: None,
        after: None,
        detail: Some(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backfill_message_id_depends_only_on_store_resource_and_modification() {
        let at = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        let a = backfill_message_id("abc123", "order", 250, at);
        assert_eq!(a, backfill_message_id("abc123", "order", 250, at));
        assert_eq!(a, "backfill-abc123-order-250-1700000000000");
        let later = at + time::Duration::seconds(1);
        assert_ne!(a, backfill_message_id("abc123", "order", 250, later));
        assert_ne!(a, backfill_message_id("abc123", "customer", 250, at));
    }

    #[test]
    fn destinations_compare_without_a_trailing_slash() {
        assert!(same_destination(
            "https://a.example/hooks/",
            "https://a.example/hooks"
        ));
        assert!(!same_destination(
            "https://b.example/hooks",
            "https://a.example/hooks"
        ));
    }
}
