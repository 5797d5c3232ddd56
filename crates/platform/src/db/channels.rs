//! The `channels` table: per (store, sales channel) Engage configuration.

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use domain::channel::{ChannelSettings, ContactTypeMode};
use domain::ids::{ChannelId, StoreHash};
use secrecy::SecretString;

use super::schema::channels;

/// A configured channel: the domain's settings plus where and how to reach Engage.
#[derive(Clone)]
pub struct Channel {
    /// The pure settings the mappings use.
    pub settings: ChannelSettings,
    /// Engage tenant root, e.g. `https://tenant.voyado.com`.
    pub engage_base_url: String,
    /// Engage API key.
    pub engage_api_key: SecretString,
}

impl std::fmt::Debug for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Channel")
            .field("settings", &self.settings)
            .field("engage_base_url", &self.engage_base_url)
            .finish_non_exhaustive()
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = channels)]
struct ChannelRow {
    store_hash: String,
    channel_id: i32,
    engage_base_url: String,
    engage_api_key: String,
    store_external_id: String,
    source: String,
    locale: String,
    contact_type_mode: String,
    allowed_origins: Vec<String>,
    order_id_prefix: Option<String>,
}

fn bad_row(reason: String) -> diesel::result::Error {
    diesel::result::Error::DeserializationError(reason.into())
}

impl TryFrom<ChannelRow> for Channel {
    type Error = diesel::result::Error;
    fn try_from(row: ChannelRow) -> Result<Self, Self::Error> {
        let store_hash = StoreHash::parse(&row.store_hash).map_err(|e| bad_row(e.to_string()))?;
        let channel_id = u32::try_from(row.channel_id)
            .map_err(|e| bad_row(e.to_string()))
            .map(ChannelId::new)?;
        let contact_type_mode =
            ContactTypeMode::parse(&row.contact_type_mode).map_err(|e| bad_row(e.to_string()))?;
        Ok(Channel {
            settings: ChannelSettings {
                store_hash,
                channel_id,
                store_external_id: row.store_external_id,
                source: row.source,
                locale: row.locale,
                contact_type_mode,
                order_id_prefix: row.order_id_prefix,
                allowed_origins: row.allowed_origins,
            },
            engage_base_url: row.engage_base_url,
            engage_api_key: row.engage_api_key.into(),
        })
    }
}

/// Adding a channel failed.
#[derive(Debug, thiserror::Error)]
pub enum AddChannelError {
    /// The channel exists already.
    #[error("channel {channel} of store {store} already exists")]
    Duplicate {
        /// Store hash.
        store: String,
        /// Channel id.
        channel: u32,
    },
    /// The store is not configured.
    #[error("unknown store {0}: add it first with `connectorctl store add`")]
    UnknownStore(String),
    /// Any other database failure.
    #[error(transparent)]
    Db(#[from] diesel::result::Error),
}

/// Inserts a channel.
pub async fn insert(
    conn: &mut AsyncPgConnection,
    channel: &Channel,
) -> Result<(), AddChannelError> {
    use secrecy::ExposeSecret;
    let s = &channel.settings;
    let result = diesel::insert_into(channels::table)
        .values((
            channels::store_hash.eq(s.store_hash.as_str()),
            channels::channel_id.eq(s.channel_id.get() as i32),
            channels::engage_base_url.eq(&channel.engage_base_url),
            channels::engage_api_key.eq(channel.engage_api_key.expose_secret()),
            channels::store_external_id.eq(&s.store_external_id),
            channels::source.eq(&s.source),
            channels::locale.eq(&s.locale),
            channels::contact_type_mode.eq(s.contact_type_mode.as_str()),
            channels::allowed_origins.eq(&s.allowed_origins),
            channels::order_id_prefix.eq(&s.order_id_prefix),
        ))
        .execute(conn)
        .await;
    use diesel::result::{DatabaseErrorKind, Error};
    match result {
        Ok(_) => Ok(()),
        Err(Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {
            Err(AddChannelError::Duplicate {
                store: s.store_hash.to_string(),
                channel: s.channel_id.get(),
            })
        }
        Err(Error::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _)) => {
            Err(AddChannelError::UnknownStore(s.store_hash.to_string()))
        }
        Err(e) => Err(e.into()),
    }
}

/// Channels, of one store or of all.
pub async fn list(
    conn: &mut AsyncPgConnection,
    store: Option<&StoreHash>,
) -> QueryResult<Vec<Channel>> {
    let mut query = channels::table
        .select(ChannelRow::as_select())
        .order((channels::store_hash, channels::channel_id))
        .into_boxed();
    if let Some(store) = store {
        query = query.filter(channels::store_hash.eq(store.as_str()));
    }
    let rows: Vec<ChannelRow> = query.load(conn).await?;
    rows.into_iter().map(Channel::try_from).collect()
}

/// One channel.
pub async fn find(
    conn: &mut AsyncPgConnection,
    store: &StoreHash,
    channel: ChannelId,
) -> QueryResult<Option<Channel>> {
    let row: Option<ChannelRow> = channels::table
        .find((store.as_str(), channel.get() as i32))
        .select(ChannelRow::as_select())
        .first(conn)
        .await
        .optional()?;
    row.map(Channel::try_from).transpose()
}

/// Deletes a channel; returns whether it existed.
pub async fn delete(
    conn: &mut AsyncPgConnection,
    store: &StoreHash,
    channel: ChannelId,
) -> QueryResult<bool> {
    let n = diesel::delete(channels::table.find((store.as_str(), channel.get() as i32)))
        .execute(conn)
        .await?;
    Ok(n > 0)
}
