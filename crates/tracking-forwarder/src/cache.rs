//! A small in-process cache: entries live for a fixed time, the number of entries is
//! bounded, and concurrent misses of one key share a single load (single-flight).
//!
//! BigCommerce allows only a few API calls per second per store, shared by every app, so a
//! burst of views of one uncached product must cost one lookup, not one per view. That holds
//! when the lookup fails too: everyone waiting on it gets its error (and retries later)
//! instead of each trying again in turn against an API that is already failing.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::OnceCell;
use tokio::time::Instant;

/// Whether a value came from the cache or had to be loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// Served from the cache (including waiting for another caller's load of the same key).
    Hit,
    /// Loaded by this caller.
    Miss,
}

impl Lookup {
    /// `hit` or `miss`, the metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Lookup::Hit => "hit",
            Lookup::Miss => "miss",
        }
    }
}

/// One key's entry: its load, shared by everyone who asked while it ran. A failed load
/// stays in the cell only until its loader removes the slot.
struct Slot<V, E> {
    created: Instant,
    cell: Arc<OnceCell<Result<V, E>>>,
}

impl<V, E> Slot<V, E> {
    fn loaded(&self) -> Option<&V> {
        self.cell.get().and_then(|r| r.as_ref().ok())
    }

    fn failed(&self) -> bool {
        self.cell.get().is_some_and(Result::is_err)
    }

    fn loading(&self) -> bool {
        !self.cell.initialized()
    }
}

/// A TTL map with a size bound and single-flight loads whose errors are `E`. Cheap to
/// share behind an `Arc`.
pub struct TtlCache<K, V, E = Infallible> {
    ttl: Duration,
    capacity: usize,
    slots: Mutex<HashMap<K, Slot<V, E>>>,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl<K, V, E> std::fmt::Debug for TtlCache<K, V, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TtlCache")
            .field("ttl", &self.ttl)
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

impl<K, V, E> TtlCache<K, V, E>
where
    K: Eq + Hash + Clone,
    V: Clone,
    E: Clone,
{
    /// A cache whose entries expire `ttl` after they were loaded, holding at most
    /// `capacity` keys (at least one).
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        Self {
            ttl,
            capacity: capacity.max(1),
            slots: Mutex::new(HashMap::new()),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// The fresh value of `key`, if any.
    pub fn get(&self, key: &K) -> Option<V> {
        let now = Instant::now();
        let slots = self.slots.lock().expect("cache lock");
        let value = slots
            .get(key)
            .filter(|slot| now.duration_since(slot.created) < self.ttl)
            .and_then(|slot| slot.loaded().cloned());
        drop(slots);
        self.record(if value.is_some() {
            Lookup::Hit
        } else {
            Lookup::Miss
        });
        value
    }

    /// Stores `value` under `key`, replacing what was there.
    pub fn insert(&self, key: K, value: V) {
        let cell = Arc::new(OnceCell::new_with(Some(Ok(value))));
        let mut slots = self.slots.lock().expect("cache lock");
        self.make_room(&mut slots, &key);
        slots.insert(
            key,
            Slot {
                created: Instant::now(),
                cell,
            },
        );
    }

    /// The value of `key`, loaded with `load` when missing or expired. Concurrent callers
    /// missing the same key wait for one load and share its result: on failure every one of
    /// them gets the error, nothing is cached, and the next caller loads afresh.
    pub async fn get_or_try_load<F, Fut>(&self, key: K, load: F) -> Result<(V, Lookup), E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, E>>,
    {
        let cell = {
            let now = Instant::now();
            let mut slots = self.slots.lock().expect("cache lock");
            match slots.get(&key) {
                // Still loading (its load started moments ago), or loaded and fresh.
                Some(slot)
                    if slot.loading()
                        || (!slot.failed() && now.duration_since(slot.created) < self.ttl) =>
                {
                    slot.cell.clone()
                }
                _ => {
                    self.make_room(&mut slots, &key);
                    let cell = Arc::new(OnceCell::new());
                    slots.insert(
                        key.clone(),
                        Slot {
                            created: now,
                            cell: cell.clone(),
                        },
                    );
                    cell
                }
            }
        };
        let mut loaded = false;
        let result = cell
            .get_or_init(|| {
                loaded = true;
                load()
            })
            .await
            .clone();
        match result {
            Ok(value) => {
                let lookup = if loaded { Lookup::Miss } else { Lookup::Hit };
                self.record(lookup);
                Ok((value, lookup))
            }
            Err(error) => {
                if loaded {
                    self.record(Lookup::Miss);
                    let mut slots = self.slots.lock().expect("cache lock");
                    // Only this load's slot: a later caller may have started another one.
                    if slots.get(&key).is_some_and(|s| Arc::ptr_eq(&s.cell, &cell)) {
                        slots.remove(&key);
                    }
                }
                Err(error)
            }
        }
    }

    /// Hits divided by lookups so far (0 before the first lookup).
    pub fn hit_ratio(&self) -> f64 {
        let hits = self.hits.load(Ordering::Relaxed) as f64;
        let total = hits + self.misses.load(Ordering::Relaxed) as f64;
        if total == 0.0 {
            0.0
        } else {
            hits / total
        }
    }

    /// The number of keys held (fresh, expired or loading).
    pub fn len(&self) -> usize {
        self.slots.lock().expect("cache lock").len()
    }

    /// True when no key is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn record(&self, lookup: Lookup) {
        match lookup {
            Lookup::Hit => self.hits.fetch_add(1, Ordering::Relaxed),
            Lookup::Miss => self.misses.fetch_add(1, Ordering::Relaxed),
        };
    }

    /// Frees a place for `key` when the cache is full: expired and failed entries go first,
    /// then the oldest loaded one. Entries still loading are kept (their callers are
    /// waiting).
    fn make_room(&self, slots: &mut HashMap<K, Slot<V, E>>, key: &K) {
        if slots.len() < self.capacity || slots.contains_key(key) {
            return;
        }
        let now = Instant::now();
        slots.retain(|_, slot| {
            slot.loading() || (!slot.failed() && now.duration_since(slot.created) < self.ttl)
        });
        while slots.len() >= self.capacity {
            let oldest = slots
                .iter()
                .filter(|(_, slot)| !slot.loading())
                .min_by_key(|(_, slot)| slot.created)
                .map(|(k, _)| k.clone());
            match oldest {
                Some(k) => {
                    slots.remove(&k);
                }
                // Everything is loading: go over the bound for a moment rather than block.
                None => break,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    type Cache = TtlCache<u64, String, &'static str>;

    async fn load_counting(
        cache: &Cache,
        key: u64,
        calls: &AtomicUsize,
    ) -> Result<(String, Lookup), &'static str> {
        cache
            .get_or_try_load(key, || async {
                calls.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(10)).await;
                Ok(format!("value {key}"))
            })
            .await
    }

    #[tokio::test]
    async fn a_cached_value_is_served_without_loading_again() {
        let cache = Cache::new(Duration::from_secs(60), 10);
        let calls = AtomicUsize::new(0);
        let first = load_counting(&cache, 1, &calls).await.unwrap();
        let second = load_counting(&cache, 1, &calls).await.unwrap();
        assert_eq!(first, ("value 1".to_owned(), Lookup::Miss));
        assert_eq!(second, ("value 1".to_owned(), Lookup::Hit));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(cache.hit_ratio(), 0.5);
    }

    #[tokio::test]
    async fn concurrent_misses_of_one_key_share_one_load() {
        let cache = Arc::new(Cache::new(Duration::from_secs(60), 10));
        let calls = Arc::new(AtomicUsize::new(0));
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..50 {
            let (cache, calls) = (cache.clone(), calls.clone());
            tasks.spawn(async move { load_counting(&cache, 7, &calls).await.unwrap() });
        }
        let mut misses = 0;
        while let Some(result) = tasks.join_next().await {
            let (value, lookup) = result.unwrap();
            assert_eq!(value, "value 7");
            misses += usize::from(lookup == Lookup::Miss);
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(misses, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn an_expired_value_is_loaded_again() {
        let cache = Cache::new(Duration::from_secs(60), 10);
        let calls = AtomicUsize::new(0);
        load_counting(&cache, 1, &calls).await.unwrap();
        tokio::time::advance(Duration::from_secs(59)).await;
        load_counting(&cache, 1, &calls).await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(cache.get(&1), None);
        let (_, lookup) = load_counting(&cache, 1, &calls).await.unwrap();
        assert_eq!(lookup, Lookup::Miss);
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_failed_load_is_not_cached() {
        let cache = Cache::new(Duration::from_secs(60), 10);
        let failed = cache.get_or_try_load(1, || async { Err("down") }).await;
        assert_eq!(failed, Err("down"));
        let calls = AtomicUsize::new(0);
        let (value, lookup) = load_counting(&cache, 1, &calls).await.unwrap();
        assert_eq!((value.as_str(), lookup), ("value 1", Lookup::Miss));
    }

    #[tokio::test]
    async fn concurrent_misses_share_a_failed_load_and_the_next_caller_loads_again() {
        let cache = Arc::new(Cache::new(Duration::from_secs(60), 10));
        let calls = Arc::new(AtomicUsize::new(0));
        let (release, released) = tokio::sync::watch::channel(false);
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..20 {
            let (cache, calls, mut released) = (cache.clone(), calls.clone(), released.clone());
            tasks.spawn(async move {
                cache
                    .get_or_try_load(3, || async move {
                        calls.fetch_add(1, Ordering::SeqCst);
                        // Held until every caller is waiting on this load.
                        let _ = released.wait_for(|go| *go).await;
                        Err::<String, _>("down")
                    })
                    .await
            });
        }
        // Every task has either started the load or is waiting for it once the load runs
        // and the rest have had their turn on the runtime.
        while calls.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        for _ in 0..100 {
            tokio::task::yield_now().await;
        }
        release.send(true).unwrap();
        while let Some(result) = tasks.join_next().await {
            assert_eq!(result.unwrap(), Err("down"));
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1, "one load for the burst");
        assert!(cache.is_empty(), "a failure is not cached");
        let again = AtomicUsize::new(0);
        let (value, lookup) = load_counting(&cache, 3, &again).await.unwrap();
        assert_eq!((value.as_str(), lookup), ("value 3", Lookup::Miss));
        assert_eq!(again.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn the_size_bound_evicts_the_oldest_entry() {
        let cache = Cache::new(Duration::from_secs(60), 3);
        for key in 1..=3 {
            cache.insert(key, format!("v{key}"));
            tokio::time::advance(Duration::from_millis(1)).await;
        }
        cache.insert(4, "v4".into());
        assert_eq!(cache.len(), 3);
        assert_eq!(cache.get(&1), None);
        assert_eq!(cache.get(&2).as_deref(), Some("v2"));
        assert_eq!(cache.get(&4).as_deref(), Some("v4"));
    }

    #[tokio::test(start_paused = true)]
    async fn expired_entries_are_evicted_before_fresh_ones() {
        let cache = Cache::new(Duration::from_secs(10), 2);
        cache.insert(1, "old".into());
        tokio::time::advance(Duration::from_secs(5)).await;
        cache.insert(2, "newer".into());
        tokio::time::advance(Duration::from_secs(6)).await;
        cache.insert(3, "newest".into());
        assert_eq!(cache.get(&2).as_deref(), Some("newer"));
        assert_eq!(cache.get(&3).as_deref(), Some("newest"));
    }
}
