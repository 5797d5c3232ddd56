//! `connectorctl store …`

use std::io::Write;

use clap::Subcommand;
use domain::ids::StoreHash;
use platform::db::{self, stores};
use secrecy::SecretString;

use crate::{parse_http_url, when, CtlError};

/// Store commands.
#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Add a store.
    Add {
        /// The store hash (from `stores/{hash}`).
        #[arg(long)]
        hash: String,
        /// The app's client secret (signs the webhooks). Prefer the environment variable to
        /// keep it out of shell history.
        #[arg(long, env = "CONNECTORCTL_CLIENT_SECRET", hide_env_values = true)]
        client_secret: String,
        /// The API access token. Prefer the environment variable.
        #[arg(long, env = "CONNECTORCTL_ACCESS_TOKEN", hide_env_values = true)]
        access_token: String,
        /// BigCommerce API root.
        #[arg(long, default_value = stores::DEFAULT_API_BASE_URL)]
        api_base_url: String,
    },
    /// List stores (secrets are never shown).
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove a store with its channels, staged orders and contact links.
    Remove {
        /// The store hash.
        #[arg(long)]
        hash: String,
    },
}

pub(crate) fn parse_hash(value: &str) -> Result<StoreHash, CtlError> {
    StoreHash::parse(value)
        .map_err(|e| CtlError::Invalid(format!("invalid store hash `{value}`: {e}")))
}

pub(crate) async fn run(
    cmd: StoreCommand,
    pool: &db::DbPool,
    out: &mut impl Write,
) -> Result<(), CtlError> {
    match cmd {
        StoreCommand::Add {
            hash,
            client_secret,
            access_token,
            api_base_url,
        } => {
            let hash = parse_hash(&hash)?;
            if client_secret.trim().is_empty() {
                return Err(CtlError::Invalid(
                    "--client-secret must not be empty".into(),
                ));
            }
            if access_token.trim().is_empty() {
                return Err(CtlError::Invalid("--access-token must not be empty".into()));
            }
            let url = parse_http_url("--api-base-url", &api_base_url)?;
            let secret = SecretString::from(client_secret);
            let token = SecretString::from(access_token);
            let mut conn = db::conn(pool).await?;
            stores::insert(
                &mut conn,
                &stores::NewStore {
                    store_hash: &hash,
                    client_secret: &secret,
                    access_token: &token,
                    api_base_url: url.as_str().trim_end_matches('/'),
                },
            )
            .await
            .map_err(|e| match e {
                stores::AddStoreError::Duplicate(_) => CtlError::Conflict(e.to_string()),
                stores::AddStoreError::Db(e) => CtlError::Query(e),
            })?;
            writeln!(out, "store {hash} added")?;
        }
        StoreCommand::List { json } => {
            let mut conn = db::conn(pool).await?;
            let all = stores::list(&mut conn).await?;
            if json {
                let rows: Vec<_> = all
                    .iter()
                    .map(|s| {
                        serde_json::json!({
                            "hash": s.store_hash.as_str(),
                            "api_base_url": s.api_base_url,
                            "created_at": when(s.created_at),
                        })
                    })
                    .collect();
                writeln!(out, "{}", serde_json::Value::Array(rows))?;
            } else if all.is_empty() {
                writeln!(out, "no stores")?;
            } else {
                writeln!(out, "{:<16} {:<44} ADDED", "HASH", "API BASE URL")?;
                for s in all {
                    writeln!(
                        out,
                        "{:<16} {:<44} {}",
                        s.store_hash,
                        s.api_base_url,
                        when(s.created_at)
                    )?;
                }
            }
        }
        StoreCommand::Remove { hash } => {
            let hash = parse_hash(&hash)?;
            let mut conn = db::conn(pool).await?;
            if !stores::delete(&mut conn, &hash).await? {
                return Err(CtlError::NotFound(format!("unknown store {hash}")));
            }
            writeln!(out, "store {hash} removed")?;
        }
    }
    Ok(())
}
