//! `connectorctl hooks …`: the webhook-health service's view of each store's webhooks.
//!
//! - `hooks list [--store H] [--json]`: the last recorded state per (store, scope) from
//!   `webhook_checks` (the rows of kind `check`, `create` and `reactivate`).
//! - `hooks check [--store H]`: asks webhook-health for a check now, by publishing a
//!   `webhook_health.check` message (`{"storeHash": H}`, one per store without `--store`)
//!   with a confirmed publish.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use clap::Subcommand;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use lapin::types::FieldTable;
use platform::amqp::message::{event_properties, set_str, STORE_HASH};
use platform::amqp::{Broker, Publisher, Topology};
use platform::db::schema::webhook_checks;
use platform::db::{self, stores};
use platform::Settings;
use serde::Serialize;
use time::OffsetDateTime;

use crate::stores::parse_hash;
use crate::{when, CtlError};

/// The routing key webhook-health listens to for on-demand checks.
const CHECK_ROUTING_KEY: &str = "webhook_health.check";
/// How long to wait for the broker.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Webhook commands.
#[derive(Debug, Subcommand)]
pub enum HooksCommand {
    /// Ask webhook-health to check a store's webhooks (or every store's) now.
    Check {
        /// Only this store.
        #[arg(long)]
        store: Option<String>,
    },
    /// Show the last recorded state of each store's required webhooks.
    List {
        /// Only this store.
        #[arg(long)]
        store: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// One line of `hooks list`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct HookState {
    store_hash: String,
    scope: String,
    hook_id: Option<i64>,
    state: String,
    last_action: String,
    checked_at: String,
}

pub(crate) async fn run(
    cmd: HooksCommand,
    settings: &Settings,
    out: &mut impl Write,
) -> Result<(), CtlError> {
    let pool = db::pool(&settings.database.url, 2)?;
    match cmd {
        HooksCommand::List { store, json } => list(&pool, store.as_deref(), json, out).await,
        HooksCommand::Check { store } => check(&pool, settings, store.as_deref(), out).await,
    }
}

async fn list(
    pool: &db::DbPool,
    store: Option<&str>,
    json: bool,
    out: &mut impl Write,
) -> Result<(), CtlError> {
    let mut conn = db::conn(pool).await?;
    // A store hash is alphanumeric, so it is its own LIKE pattern; `%` matches every store.
    let pattern = match store {
        Some(store) => {
            let hash = parse_hash(store)?;
            if stores::find(&mut conn, &hash).await?.is_none() {
                return Err(CtlError::NotFound(format!("no store {hash}")));
            }
            hash.as_str().to_owned()
        }
        None => "%".to_owned(),
    };
    #[allow(clippy::type_complexity)]
    let rows: Vec<(
        String,
        String,
        Option<i64>,
        String,
        Option<String>,
        OffsetDateTime,
    )> = webhook_checks::table
        .filter(webhook_checks::action.eq_any(["check", "create", "reactivate"]))
        .filter(webhook_checks::store_hash.like(pattern))
        .order((
            webhook_checks::store_hash.asc(),
            webhook_checks::scope.asc(),
            webhook_checks::id.desc(),
        ))
        .distinct_on((webhook_checks::store_hash, webhook_checks::scope))
        .select((
            webhook_checks::store_hash,
            webhook_checks::scope,
            webhook_checks::hook_id,
            webhook_checks::action,
            webhook_checks::after,
            webhook_checks::checked_at,
        ))
        .load(&mut conn)
        .await?;
    let states: Vec<HookState> = rows
        .into_iter()
        .map(
            |(store_hash, scope, hook_id, action, after, checked_at)| HookState {
                store_hash,
                scope,
                hook_id,
                state: after.unwrap_or_else(|| "unknown".into()),
                last_action: action,
                checked_at: when(checked_at),
            },
        )
        .collect();
    if json {
        let text = serde_json::to_string_pretty(&states)
            .map_err(|e| CtlError::Invalid(format!("JSON output: {e}")))?;
        writeln!(out, "{text}")?;
        return Ok(());
    }
    if states.is_empty() {
        writeln!(out, "no webhook checks recorded")?;
        return Ok(());
    }
    let mut by_store: BTreeMap<&str, Vec<&HookState>> = BTreeMap::new();
    for state in &states {
        by_store.entry(&state.store_hash).or_default().push(state);
    }
    writeln!(
        out,
        "{:<12} {:<34} {:>12} {:<9} {:<11} CHECKED AT",
        "STORE", "SCOPE", "HOOK ID", "STATE", "LAST ACTION"
    )?;
    for (store, states) in by_store {
        for s in states {
            let id = s
                .hook_id
                .map(|id| id.to_string())
                .unwrap_or_else(|| "-".into());
            writeln!(
                out,
                "{:<12} {:<34} {:>12} {:<9} {:<11} {}",
                store, s.scope, id, s.state, s.last_action, s.checked_at
            )?;
        }
    }
    Ok(())
}

async fn check(
    pool: &db::DbPool,
    settings: &Settings,
    store: Option<&str>,
    out: &mut impl Write,
) -> Result<(), CtlError> {
    let hashes: Vec<String> = {
        let mut conn = db::conn(pool).await?;
        match store {
            Some(store) => {
                let hash = parse_hash(store)?;
                if stores::find(&mut conn, &hash).await?.is_none() {
                    return Err(CtlError::NotFound(format!("no store {hash}")));
                }
                vec![hash.as_str().to_owned()]
            }
            None => stores::list(&mut conn)
                .await?
                .into_iter()
                .map(|s| s.store_hash.as_str().to_owned())
                .collect(),
        }
    };
    if hashes.is_empty() {
        writeln!(out, "no stores to check")?;
        return Ok(());
    }
    let topology = Topology::new(&settings.amqp.namespace);
    let exchange = topology.events_exchange();
    let broker = Broker::start(settings.amqp.url.clone(), "connectorctl", topology);
    let result = async {
        if !broker.wait_connected(CONNECT_TIMEOUT).await {
            return Err(CtlError::Invalid(format!(
                "broker: not reachable within {}s (amqp.url)",
                CONNECT_TIMEOUT.as_secs()
            )));
        }
        let publisher = Publisher::new(broker.clone(), 1, settings.confirm_timeout());
        let now = OffsetDateTime::now_utc().unix_timestamp_nanos();
        for hash in &hashes {
            let body = serde_json::json!({ "storeHash": hash }).to_string();
            let mut headers = FieldTable::default();
            set_str(&mut headers, STORE_HASH, hash);
            let id = format!("hooks-check-{hash}-{now}");
            publisher
                .publish(
                    &exchange,
                    CHECK_ROUTING_KEY,
                    body.as_bytes(),
                    event_properties(&id, headers),
                )
                .await
                .map_err(|e| CtlError::Invalid(format!("broker: publish: {e}")))?;
            writeln!(out, "requested a webhook check of {hash}")?;
        }
        Ok(())
    }
    .await;
    broker.close().await;
    result
}
