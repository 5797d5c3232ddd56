//! Store secrets and channel settings, cached so a request does not cost a database round
//! trip, and refreshed so a changed secret takes effect within [`TTL`].

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use domain::channel::ChannelSettings;
use domain::ids::{ChannelId, StoreHash};
use platform::db::{self, channels, stores, DbPool};
use secrecy::SecretString;

/// How long an entry (found or not found) is trusted.
pub const TTL: Duration = Duration::from_secs(30);
/// Bound on cached entries, so random store hashes cannot grow memory without limit.
const MAX_ENTRIES: usize = 10_000;

/// The database could not be asked.
#[derive(Debug, thiserror::Error)]
#[error("configuration lookup failed: {0}")]
pub struct LookupError(String);

struct Entry<T> {
    value: Option<T>,
    at: Instant,
}

/// The cached lookups of the ingress.
pub struct ConfigCache {
    pool: DbPool,
    secrets: Mutex<HashMap<StoreHash, Entry<SecretString>>>,
    channels: Mutex<HashMap<(StoreHash, ChannelId), Entry<ChannelSettings>>>,
    origins: Mutex<Option<Entry<Vec<String>>>>,
}

fn fresh<T: Clone>(entry: Option<&Entry<T>>) -> Option<Option<T>> {
    entry
        .filter(|e| e.at.elapsed() < TTL)
        .map(|e| e.value.clone())
}

fn insert<K: std::hash::Hash + Eq, T>(map: &Mutex<HashMap<K, Entry<T>>>, key: K, value: Option<T>) {
    let mut map = map.lock().expect("cache lock");
    if map.len() >= MAX_ENTRIES {
        map.retain(|_, e| e.at.elapsed() < TTL);
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
    }
    map.insert(
        key,
        Entry {
            value,
            at: Instant::now(),
        },
    );
}

impl ConfigCache {
    /// An empty cache over `pool`.
    pub fn new(pool: DbPool) -> Self {
        Self {
            pool,
            secrets: Mutex::default(),
            channels: Mutex::default(),
            origins: Mutex::default(),
        }
    }

    /// The store's client secret; `None` for an unknown store.
    pub async fn secret(&self, store: &StoreHash) -> Result<Option<SecretString>, LookupError> {
        if let Some(hit) = fresh(self.secrets.lock().expect("cache lock").get(store)) {
            return Ok(hit);
        }
        let mut conn = db::conn(&self.pool)
            .await
            .map_err(|e| LookupError(e.to_string()))?;
        let found = stores::find(&mut conn, store)
            .await
            .map_err(|e| LookupError(e.to_string()))?
            .map(|s| s.client_secret);
        insert(&self.secrets, store.clone(), found.clone());
        Ok(found)
    }

    /// The channel's settings; `None` when not configured.
    pub async fn channel(
        &self,
        store: &StoreHash,
        channel: ChannelId,
    ) -> Result<Option<ChannelSettings>, LookupError> {
        let key = (store.clone(), channel);
        if let Some(hit) = fresh(self.channels.lock().expect("cache lock").get(&key)) {
            return Ok(hit);
        }
        let mut conn = db::conn(&self.pool)
            .await
            .map_err(|e| LookupError(e.to_string()))?;
        let found = channels::find(&mut conn, store, channel)
            .await
            .map_err(|e| LookupError(e.to_string()))?
            .map(|c| c.settings);
        insert(&self.channels, key, found.clone());
        Ok(found)
    }

    /// True when any channel allows `origin` (for CORS preflights, which carry no body and
    /// so no channel).
    pub async fn any_channel_allows(&self, origin: &str) -> Result<bool, LookupError> {
        let cached = {
            let guard = self.origins.lock().expect("cache lock");
            fresh(guard.as_ref()).flatten()
        };
        let origins = match cached {
            Some(origins) => origins,
            None => {
                let mut conn = db::conn(&self.pool)
                    .await
                    .map_err(|e| LookupError(e.to_string()))?;
                let all: Vec<String> = channels::list(&mut conn, None)
                    .await
                    .map_err(|e| LookupError(e.to_string()))?
                    .into_iter()
                    .flat_map(|c| c.settings.allowed_origins)
                    .collect();
                *self.origins.lock().expect("cache lock") = Some(Entry {
                    value: Some(all.clone()),
                    at: Instant::now(),
                });
                all
            }
        };
        let origin = origin.trim_end_matches('/');
        Ok(origins
            .iter()
            .any(|o| o.trim_end_matches('/').eq_ignore_ascii_case(origin)))
    }
}
