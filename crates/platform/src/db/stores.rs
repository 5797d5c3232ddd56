//! The `stores` table.

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use domain::ids::StoreHash;
use secrecy::SecretString;
use time::OffsetDateTime;

use super::schema::stores;

/// The default BigCommerce API root.
pub const DEFAULT_API_BASE_URL: &str = "https://api.bigcommerce.com";

/// A store and its BigCommerce credentials. Secrets are never printed.
#[derive(Clone)]
pub struct Store {
    /// The store hash.
    pub store_hash: StoreHash,
    /// The app's client secret: the webhook signing key.
    pub client_secret: SecretString,
    /// The API access token (`X-Auth-Token`).
    pub access_token: SecretString,
    /// API root, e.g. `https://api.bigcommerce.com`.
    pub api_base_url: String,
    /// When the store was added.
    pub created_at: OffsetDateTime,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("store_hash", &self.store_hash)
            .field("api_base_url", &self.api_base_url)
            .finish_non_exhaustive()
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = stores)]
struct StoreRow {
    store_hash: String,
    client_secret: String,
    access_token: String,
    api_base_url: String,
    created_at: OffsetDateTime,
}

impl TryFrom<StoreRow> for Store {
    type Error = diesel::result::Error;
    fn try_from(row: StoreRow) -> Result<Self, Self::Error> {
        Ok(Store {
            store_hash: StoreHash::parse(&row.store_hash)
                .map_err(|e| diesel::result::Error::DeserializationError(Box::new(e)))?,
            client_secret: row.client_secret.into(),
            access_token: row.access_token.into(),
            api_base_url: row.api_base_url,
            created_at: row.created_at,
        })
    }
}

/// A store to add.
#[derive(Debug)]
pub struct NewStore<'a> {
    /// The store hash.
    pub store_hash: &'a StoreHash,
    /// The client secret.
    pub client_secret: &'a SecretString,
    /// The access token.
    pub access_token: &'a SecretString,
    /// API root.
    pub api_base_url: &'a str,
}

/// Adding a store failed.
#[derive(Debug, thiserror::Error)]
pub enum AddStoreError {
    /// A store with this hash exists.
    #[error("store {0} already exists")]
    Duplicate(String),
    /// Any other database failure.
    #[error(transparent)]
    Db(#[from] diesel::result::Error),
}

/// Inserts a store.
pub async fn insert(conn: &mut AsyncPgConnection, new: &NewStore<'_>) -> Result<(), AddStoreError> {
    use secrecy::ExposeSecret;
    let result = diesel::insert_into(stores::table)
        .values((
            stores::store_hash.eq(new.store_hash.as_str()),
            stores::client_secret.eq(new.client_secret.expose_secret()),
            stores::access_token.eq(new.access_token.expose_secret()),
            stores::api_base_url.eq(new.api_base_url),
        ))
        .execute(conn)
        .await;
    match result {
        Ok(_) => Ok(()),
        Err(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        )) => Err(AddStoreError::Duplicate(new.store_hash.to_string())),
        Err(e) => Err(e.into()),
    }
}

/// Every store, by hash.
pub async fn list(conn: &mut AsyncPgConnection) -> QueryResult<Vec<Store>> {
    let rows: Vec<StoreRow> = stores::table
        .select(StoreRow::as_select())
        .order(stores::store_hash)
        .load(conn)
        .await?;
    rows.into_iter().map(Store::try_from).collect()
}

/// One store.
pub async fn find(conn: &mut AsyncPgConnection, hash: &StoreHash) -> QueryResult<Option<Store>> {
    let row: Option<StoreRow> = stores::table
        .find(hash.as_str())
        .select(StoreRow::as_select())
        .first(conn)
        .await
        .optional()?;
    row.map(Store::try_from).transpose()
}

/// Deletes a store (and, by cascade, its channels, staged orders and contact links);
/// returns whether it existed.
pub async fn delete(conn: &mut AsyncPgConnection, hash: &StoreHash) -> QueryResult<bool> {
    let n = diesel::delete(stores::table.find(hash.as_str()))
        .execute(conn)
        .await?;
    Ok(n > 0)
}
