//! The operators' command line: migrations, stores and channels (and, as the services grow,
//! failed orders, dead letters and webhooks).
//!
//! Every command reads the same configuration as the services. Exit codes: 0 success, 1
//! failure (one line on stderr), 2 usage error (clap). Secrets are never printed.
//!
//! # Layout
//!
//! - `lib.rs`: the command tree ([`Cli`]) and [`run`], which writes to any `Write` so tests
//!   capture the output.
//! - `stores.rs`, `channels.rs`: the commands on those tables.

mod channels;
mod dlq;
mod hooks;
mod orders;
mod stores;

use std::io::Write;

use clap::{Parser, Subcommand};
use platform::db;
use platform::Settings;

/// A command failed; the message is the one line shown to the operator.
#[derive(Debug, thiserror::Error)]
pub enum CtlError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] platform::configuration::ConfigError),
    /// The database failed or is unreachable.
    #[error(transparent)]
    Db(#[from] db::DbError),
    /// A query failed.
    #[error("database query failed: {0}")]
    Query(#[from] diesel::result::Error),
    /// The operator's input is not acceptable.
    #[error("{0}")]
    Invalid(String),
    /// The thing to act on does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The thing to add exists already, or conflicts.
    #[error("{0}")]
    Conflict(String),
    /// Writing the output failed.
    #[error("output: {0}")]
    Io(#[from] std::io::Error),
}

/// `connectorctl`: operate the BigCommerce → Engage connector.
#[derive(Debug, Parser)]
#[command(name = "connectorctl", version, about, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply pending database migrations.
    Migrate,
    /// Manage BigCommerce stores.
    #[command(subcommand)]
    Store(stores::StoreCommand),
    /// Manage sales channels and their Engage configuration.
    #[command(subcommand)]
    Channel(channels::ChannelCommand),
    /// Inspect and retry the order-processor's staged orders.
    #[command(subcommand)]
    Orders(orders::OrdersCommand),
    /// Inspect, replay and purge dead-lettered messages of a work queue.
    #[command(subcommand)]
    Dlq(dlq::DlqCommand),
    /// Check and list the stores' webhooks (webhook-health).
    #[command(subcommand)]
    Hooks(hooks::HooksCommand),
}

/// Runs a parsed command with the process configuration.
pub async fn run(cli: Cli, out: &mut impl Write) -> Result<(), CtlError> {
    let settings = Settings::load()?;
    run_with(cli, &settings, out).await
}

/// Runs a parsed command with explicit settings.
pub async fn run_with(cli: Cli, settings: &Settings, out: &mut impl Write) -> Result<(), CtlError> {
    match cli.command {
        Command::Migrate => {
            let applied = db::run_migrations(&settings.database.url).await?;
            if applied.is_empty() {
                writeln!(out, "database is up to date")?;
            } else {
                for version in &applied {
                    writeln!(out, "applied {version}")?;
                }
                writeln!(out, "{} migration(s) applied", applied.len())?;
            }
            Ok(())
        }
        Command::Store(cmd) => stores::run(cmd, &pool(settings)?, out).await,
        Command::Channel(cmd) => channels::run(cmd, &pool(settings)?, out).await,
        Command::Orders(cmd) => orders::run(cmd, &pool(settings)?, out).await,
        Command::Dlq(cmd) => dlq::run(cmd, settings, out).await,
        Command::Hooks(cmd) => hooks::run(cmd, settings, out).await,
    }
}

fn pool(settings: &Settings) -> Result<db::DbPool, CtlError> {
    Ok(db::pool(&settings.database.url, 2)?)
}

/// Checks an http(s) URL given on the command line.
pub(crate) fn parse_http_url(flag: &str, value: &str) -> Result<url::Url, CtlError> {
    let url = url::Url::parse(value)
        .map_err(|e| CtlError::Invalid(format!("{flag}: `{value}` is not a valid URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(CtlError::Invalid(format!(
            "{flag}: `{value}` must be an http:// or https:// URL"
        )));
    }
    Ok(url)
}

/// Formats a timestamp for listings.
pub(crate) fn when(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
