//! `connectorctl channel …`

use std::io::Write;

use clap::{Subcommand, ValueEnum};
use domain::channel::{ChannelSettings, ContactTypeMode};
use domain::ids::ChannelId;
use platform::db::{self, channels};
use secrecy::SecretString;

use crate::stores::parse_hash;
use crate::{parse_http_url, CtlError};

/// How guests become Engage contacts.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ModeArg {
    /// Every contact is a Member.
    AllMember,
    /// Guests (no account) are Contacts, account holders Members.
    MemberAndContact,
}

/// Channel commands.
#[derive(Debug, Subcommand)]
pub enum ChannelCommand {
    /// Add a channel of a store.
    Add {
        /// The store hash.
        #[arg(long)]
        store: String,
        /// The BigCommerce channel id.
        #[arg(long)]
        channel_id: u32,
        /// Engage tenant root, e.g. https://tenant.voyado.com.
        #[arg(long)]
        engage_base_url: String,
        /// Engage API key. Prefer the environment variable.
        #[arg(long, env = "CONNECTORCTL_ENGAGE_API_KEY", hide_env_values = true)]
        engage_api_key: String,
        /// The Engage store id (`storeExternalId` / `externalStoreId`).
        #[arg(long)]
        store_external_id: String,
        /// Engage contact `source`.
        #[arg(long, default_value = "ECOM")]
        source: String,
        /// Default language of the channel.
        #[arg(long, default_value = "sv-SE")]
        locale: String,
        /// How guests become contacts.
        #[arg(long, value_enum, default_value = "all-member")]
        contact_type_mode: ModeArg,
        /// A storefront origin allowed to send tracking beacons (repeatable).
        #[arg(long = "allowed-origin")]
        allowed_origins: Vec<String>,
        /// Prefix of the Engage order id.
        #[arg(long)]
        order_id_prefix: Option<String>,
    },
    /// List channels (API keys are never shown).
    List {
        /// Only this store.
        #[arg(long)]
        store: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove a channel.
    Remove {
        /// The store hash.
        #[arg(long)]
        store: String,
        /// The channel id.
        #[arg(long)]
        channel_id: u32,
    },
}

fn parse_channel(id: u32) -> Result<ChannelId, CtlError> {
    if id == 0 {
        return Err(CtlError::Invalid(
            "--channel-id must be a positive number".into(),
        ));
    }
    Ok(ChannelId::new(id))
}

/// An origin is `scheme://host[:port]`, exactly what browsers send in `Origin`.
fn parse_origin(value: &str) -> Result<String, CtlError> {
    let url = parse_http_url("--allowed-origin", value)?;
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(CtlError::Invalid(format!(
            "--allowed-origin: `{value}` must be an origin like https://shop.example.com (no path)"
        )));
    }
    Ok(url.origin().ascii_serialization())
}

fn parse_locale(value: &str) -> Result<String, CtlError> {
    let ok = !value.is_empty()
        && value.len() <= 35
        && value
            .split('-')
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric()));
    if !ok {
        return Err(CtlError::Invalid(format!(
            "--locale: `{value}` is not a language tag like sv-SE"
        )));
    }
    Ok(value.to_owned())
}

pub(crate) async fn run(
    cmd: ChannelCommand,
    pool: &db::DbPool,
    out: &mut impl Write,
) -> Result<(), CtlError> {
    match cmd {
        ChannelCommand::Add {
            store,
            channel_id,
            engage_base_url,
            engage_api_key,
            store_external_id,
            source,
            locale,
            contact_type_mode,
            allowed_origins,
            order_id_prefix,
        } => {
            let store_hash = parse_hash(&store)?;
            let channel_id = parse_channel(channel_id)?;
            let engage = parse_http_url("--engage-base-url", &engage_base_url)?;
            if engage_api_key.trim().is_empty() {
                return Err(CtlError::Invalid(
                    "--engage-api-key must not be empty".into(),
                ));
            }
            if store_external_id.trim().is_empty() {
                return Err(CtlError::Invalid(
                    "--store-external-id must not be empty".into(),
                ));
            }
            if source.trim().is_empty() {
                return Err(CtlError::Invalid("--source must not be empty".into()));
            }
            let locale = parse_locale(&locale)?;
            let allowed_origins = allowed_origins
                .iter()
                .map(|o| parse_origin(o))
                .collect::<Result<Vec<_>, _>>()?;
            let channel = channels::Channel {
                settings: ChannelSettings {
                    store_hash: store_hash.clone(),
                    channel_id,
                    store_external_id,
                    source,
                    locale,
                    contact_type_mode: match contact_type_mode {
                        ModeArg::AllMember => ContactTypeMode::AllMember,
                        ModeArg::MemberAndContact => ContactTypeMode::MemberAndContact,
                    },
                    order_id_prefix: order_id_prefix.filter(|p| !p.is_empty()),
                    allowed_origins,
                },
                engage_base_url: engage.as_str().trim_end_matches('/').to_owned(),
                engage_api_key: SecretString::from(engage_api_key),
            };
            let mut conn = db::conn(pool).await?;
            channels::insert(&mut conn, &channel)
                .await
                .map_err(|e| match e {
                    channels::AddChannelError::Duplicate { .. } => {
                        CtlError::Conflict(e.to_string())
                    }
                    channels::AddChannelError::UnknownStore(_) => CtlError::NotFound(e.to_string()),
                    channels::AddChannelError::Db(e) => CtlError::Query(e),
                })?;
            writeln!(
                out,
                "channel {} of store {store_hash} added",
                channel_id.get()
            )?;
        }
        ChannelCommand::List { store, json } => {
            let store = store.as_deref().map(parse_hash).transpose()?;
            let mut conn = db::conn(pool).await?;
            let all = channels::list(&mut conn, store.as_ref()).await?;
            if json {
                let rows: Vec<_> = all
                    .iter()
                    .map(|c| {
                        let s = &c.settings;
                        serde_json::json!({
                            "store": s.store_hash.as_str(),
                            "channel_id": s.channel_id.get(),
                            "engage_base_url": c.engage_base_url,
                            "store_external_id": s.store_external_id,
                            "source": s.source,
                            "locale": s.locale,
                            "contact_type_mode": s.contact_type_mode.as_str(),
                            "allowed_origins": s.allowed_origins,
                            "order_id_prefix": s.order_id_prefix,
                        })
                    })
                    .collect();
                writeln!(out, "{}", serde_json::Value::Array(rows))?;
            } else if all.is_empty() {
                writeln!(out, "no channels")?;
            } else {
                writeln!(
                    out,
                    "{:<16} {:>7} {:<36} {:<12} {:<7} {:<18} ORIGINS",
                    "STORE", "CHANNEL", "ENGAGE", "STORE ID", "LOCALE", "CONTACT TYPES"
                )?;
                for c in all {
                    let s = &c.settings;
                    writeln!(
                        out,
                        "{:<16} {:>7} {:<36} {:<12} {:<7} {:<18} {}",
                        s.store_hash.as_str(),
                        s.channel_id.get(),
                        c.engage_base_url,
                        s.store_external_id,
                        s.locale,
                        s.contact_type_mode.as_str(),
                        s.allowed_origins.join(",")
                    )?;
                }
            }
        }
        ChannelCommand::Remove { store, channel_id } => {
            let store_hash = parse_hash(&store)?;
            let channel_id = parse_channel(channel_id)?;
            let mut conn = db::conn(pool).await?;
            if !channels::delete(&mut conn, &store_hash, channel_id).await? {
                return Err(CtlError::NotFound(format!(
                    "unknown channel {} of store {store_hash}",
                    channel_id.get()
                )));
            }
            writeln!(
                out,
                "channel {} of store {store_hash} removed",
                channel_id.get()
            )?;
        }
    }
    Ok(())
}
