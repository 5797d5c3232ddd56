//! PostgreSQL: the async pool (diesel-async + deadpool), embedded migrations, and the queries
//! of the tables every service shares (`stores`, `channels`, `processed_events`).
//!
//! Queries take a connection, not the pool, so callers compose transactions.

pub mod channels;
pub mod events;
pub mod schema;
pub mod stores;

use diesel_async::pooled_connection::deadpool::{Object, Pool};
use diesel_async::pooled_connection::AsyncDieselConnectionManager;
use diesel_async::AsyncPgConnection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use secrecy::{ExposeSecret, SecretString};

/// The migrations of `crates/platform/migrations`, compiled into every binary.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// The connection pool.
pub type DbPool = Pool<AsyncPgConnection>;
/// A connection checked out of the pool.
pub type DbConn = Object<AsyncPgConnection>;

/// A database failure.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// No connection could be had from the pool.
    #[error("database unavailable: {0}")]
    Pool(String),
    /// A query failed.
    #[error("database query failed: {0}")]
    Query(#[from] diesel::result::Error),
    /// Migrations failed.
    #[error("migrations failed: {0}")]
    Migration(String),
}

/// Builds the pool (connections are opened lazily).
pub fn pool(url: &SecretString, max_connections: usize) -> Result<DbPool, DbError> {
    let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new(url.expose_secret());
    Pool::builder(manager)
        .max_size(max_connections)
        .wait_timeout(Some(std::time::Duration::from_secs(5)))
        .create_timeout(Some(std::time::Duration::from_secs(5)))
        .runtime(deadpool_runtime())
        .build()
        .map_err(|e| DbError::Pool(e.to_string()))
}

fn deadpool_runtime() -> deadpool::Runtime {
    deadpool::Runtime::Tokio1
}

/// Checks a connection out of the pool.
pub async fn conn(pool: &DbPool) -> Result<DbConn, DbError> {
    pool.get().await.map_err(|e| DbError::Pool(e.to_string()))
}

/// True when the database answers a trivial query.
pub async fn is_ready(pool: &DbPool) -> bool {
    use diesel_async::RunQueryDsl;
    let Ok(mut conn) = conn(pool).await else {
        return false;
    };
    diesel::sql_query("SELECT 1")
        .execute(&mut *conn)
        .await
        .is_ok()
}

/// Applies every pending migration; returns the versions applied.
///
/// Diesel's harness is synchronous, so it runs on a blocking thread with its own connection.
pub async fn run_migrations(url: &SecretString) -> Result<Vec<String>, DbError> {
    with_harness(url, |harness| {
        harness
            .run_pending_migrations(MIGRATIONS)
            .map(|versions| versions.iter().map(ToString::to_string).collect())
            .map_err(|e| DbError::Migration(e.to_string()))
    })
    .await
}

/// Reverts every applied migration (used by the migration round-trip test).
pub async fn revert_all_migrations(url: &SecretString) -> Result<Vec<String>, DbError> {
    with_harness(url, |harness| {
        harness
            .revert_all_migrations(MIGRATIONS)
            .map(|versions| versions.iter().map(ToString::to_string).collect())
            .map_err(|e| DbError::Migration(e.to_string()))
    })
    .await
}

async fn with_harness<T: Send + 'static>(
    url: &SecretString,
    f: impl FnOnce(
            &mut diesel_async::async_connection_wrapper::AsyncConnectionWrapper<AsyncPgConnection>,
        ) -> Result<T, DbError>
        + Send
        + 'static,
) -> Result<T, DbError> {
    use diesel::Connection;
    let url = url.expose_secret().to_owned();
    tokio::task::spawn_blocking(move || {
        let mut conn = diesel_async::async_connection_wrapper::AsyncConnectionWrapper::<
            AsyncPgConnection,
        >::establish(&url)
        .map_err(|e| DbError::Migration(e.to_string()))?;
        f(&mut conn)
    })
    .await
    .map_err(|e| DbError::Migration(e.to_string()))?
}
