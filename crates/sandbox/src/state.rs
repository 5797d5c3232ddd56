//! Shared state: BigCommerce stores, Engage contacts and orders, the request log, the
//! faults and the quota.
//!
//! Three separate mutexes keep unrelated work from queueing behind each other: the
//! data, the request log and the control settings. None is ever held across an
//! `.await`, and handlers copy what they need out before building a response.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::faults::{Faults, Limiter};
use crate::seed::{OrderSeed, Seed};

/// How many requests the log keeps by default; older ones are dropped and counted.
pub const DEFAULT_MAX_RECORDED: usize = 200_000;

/// Locks a mutex, carrying on after a panic elsewhere: the data stays usable for a
/// fake, and one failed test must not turn every later request into a 500.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Everything the handlers share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub started: Instant,
    pub data: Mutex<Data>,
    pub log: Mutex<Log>,
    pub control: Mutex<Control>,
}

impl Shared {
    pub(crate) fn new(seed: Seed, max_recorded: usize) -> Result<Shared, String> {
        Ok(Shared {
            started: Instant::now(),
            data: Mutex::new(Data::from_seed(seed)?),
            log: Mutex::new(Log::new(max_recorded)),
            control: Mutex::new(Control::default()),
        })
    }
}

/// Faults and the BigCommerce quota.
#[derive(Debug, Default)]
pub(crate) struct Control {
    pub faults: Faults,
    pub limiter: Limiter,
}

// ---------------------------------------------------------------------------------
// Request log
// ---------------------------------------------------------------------------------

/// One request the sandbox received, with the status it answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedRequest {
    /// HTTP method, upper-case.
    pub method: String,
    /// Full path, including the `/bigcommerce` or `/engage` mount point.
    pub path: String,
    /// Raw query string without `?` (empty when none).
    pub query: String,
    /// Request headers, names lower-cased, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The body parsed as JSON, or `Null` when empty or not JSON.
    pub body: Value,
    /// The body as text (lossy UTF-8).
    pub raw_body: String,
    /// The status the sandbox answered.
    pub status: u16,
    /// Arrival time in milliseconds since the sandbox started (monotonic clock).
    pub at_ms: u128,
    /// The route template that handled it, e.g.
    /// `GET /bigcommerce/stores/{hash}/v2/orders/{id}`; `… (fault)` when a fault
    /// answered, `… (unrouted)` when no endpoint matched.
    #[serde(default)]
    pub route: String,
}

impl RecordedRequest {
    /// The value of header `name` (case-insensitive), if sent.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The first value of query parameter `name`, percent-decoded.
    pub fn query_param(&self, name: &str) -> Option<String> {
        crate::http::parse_query(&self.query)
            .ok()?
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }
}

/// Counters over every request received, including those dropped from the log.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// Requests received on `/bigcommerce` and `/engage`.
    pub total: u64,
    /// Requests dropped from the log because it was full.
    pub dropped: u64,
    /// BigCommerce requests that arrived while the quota was used up.
    pub over_quota: u64,
    /// Requests per route template (`"GET /engage/api/v3/contacts/id"`), unknown paths
    /// under `"{METHOD} /bigcommerce/(unrouted)"` and the like.
    pub routes: BTreeMap<String, u64>,
    /// Requests per answered status.
    pub statuses: BTreeMap<u16, u64>,
}

/// A log entry; the body is parsed only when someone reads the log, so a benchmark
/// pays for one copy of it.
#[derive(Debug)]
pub(crate) struct Entry {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: Vec<(String, String)>,
    pub raw_body: String,
    pub status: u16,
    pub at_ms: u128,
    pub route: String,
}

impl Entry {
    fn to_public(&self) -> RecordedRequest {
        RecordedRequest {
            method: self.method.clone(),
            path: self.path.clone(),
            query: self.query.clone(),
            headers: self.headers.clone(),
            body: serde_json::from_str(&self.raw_body).unwrap_or(Value::Null),
            raw_body: self.raw_body.clone(),
            status: self.status,
            at_ms: self.at_ms,
            route: self.route.clone(),
        }
    }
}

/// The bounded request log and its counters.
#[derive(Debug)]
pub(crate) struct Log {
    entries: VecDeque<Entry>,
    capacity: usize,
    stats: Stats,
}

impl Log {
    pub(crate) fn new(capacity: usize) -> Log {
        Log {
            entries: VecDeque::new(),
            capacity,
            stats: Stats::default(),
        }
    }

    pub(crate) fn push(&mut self, entry: Entry) {
        self.stats.total += 1;
        *self.stats.routes.entry(entry.route.clone()).or_default() += 1;
        *self.stats.statuses.entry(entry.status).or_default() += 1;
        if self.capacity == 0 {
            self.stats.dropped += 1;
            return;
        }
        if self.entries.len() >= self.capacity {
            self.entries.pop_front();
            self.stats.dropped += 1;
        }
        self.entries.push_back(entry);
    }

    pub(crate) fn clear(&mut self) {
        self.entries.clear();
        self.stats = Stats::default();
    }

    pub(crate) fn requests(&self, path_prefix: Option<&str>) -> Vec<RecordedRequest> {
        self.entries
            .iter()
            .filter(|e| path_prefix.is_none_or(|p| e.path.starts_with(p)))
            .map(Entry::to_public)
            .collect()
    }

    pub(crate) fn count(&self, method: &str, path_prefix: &str) -> usize {
        self.entries
            .iter()
            .filter(|e| e.method.eq_ignore_ascii_case(method) && e.path.starts_with(path_prefix))
            .count()
    }

    pub(crate) fn stats(&self) -> Stats {
        self.stats.clone()
    }
}

// ---------------------------------------------------------------------------------
// BigCommerce data
// ---------------------------------------------------------------------------------

/// All fake data.
#[derive(Debug, Default)]
pub(crate) struct Data {
    pub stores: HashMap<String, Store>,
    pub engage: Engage,
}

impl Data {
    fn from_seed(seed: Seed) -> Result<Data, String> {
        let mut data = Data::default();
        for (hash, store_seed) in seed.stores {
            let store = data.store_mut(&hash);
            for order in store_seed.orders {
                store.put_order(order)?;
            }
            for (kind, items) in [
                (Kind::Customer, store_seed.customers),
                (Kind::Subscriber, store_seed.subscribers),
                (Kind::Product, store_seed.products),
                (Kind::Category, store_seed.categories),
                (Kind::Refund, store_seed.refunds),
                (Kind::Hook, store_seed.hooks),
            ] {
                for item in items {
                    store.put(kind, item)?;
                }
            }
        }
        for contact in seed.engage.contacts {
            data.engage.create_contact(contact)?;
        }
        for order in seed.engage.orders {
            data.engage.create_order(order)?;
        }
        Ok(data)
    }

    pub(crate) fn store_mut(&mut self, hash: &str) -> &mut Store {
        self.stores.entry(hash.to_owned()).or_default()
    }
}

/// The kinds of BigCommerce object kept per store, each keyed by its integer `id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Customer,
    Subscriber,
    Product,
    Category,
    Refund,
    Hook,
}

impl Kind {
    pub(crate) fn parse(plural: &str) -> Option<Kind> {
        Some(match plural {
            "customers" => Kind::Customer,
            "subscribers" => Kind::Subscriber,
            "products" => Kind::Product,
            "categories" => Kind::Category,
            "refunds" => Kind::Refund,
            "hooks" => Kind::Hook,
            _ => return None,
        })
    }
}

/// A v2 order with its sub-resources.
#[derive(Debug, Clone)]
pub(crate) struct StoredOrder {
    pub order: Value,
    pub products: Vec<Value>,
    pub shipping_addresses: Vec<Value>,
}

/// One BigCommerce store. `BTreeMap`s keep listings in id order, as BigCommerce's
/// default sort does.
#[derive(Debug, Default)]
pub(crate) struct Store {
    pub orders: BTreeMap<i64, StoredOrder>,
    pub customers: BTreeMap<i64, Value>,
    pub subscribers: BTreeMap<i64, Value>,
    pub products: BTreeMap<i64, Value>,
    pub categories: BTreeMap<i64, Value>,
    pub refunds: BTreeMap<i64, Value>,
    pub hooks: BTreeMap<i64, Value>,
}

/// The integer `id` of a BigCommerce object.
pub(crate) fn int_id(value: &Value) -> Option<i64> {
    match value.get("id")? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

impl Store {
    pub(crate) fn map_mut(&mut self, kind: Kind) -> &mut BTreeMap<i64, Value> {
        match kind {
            Kind::Customer => &mut self.customers,
            Kind::Subscriber => &mut self.subscribers,
            Kind::Product => &mut self.products,
            Kind::Category => &mut self.categories,
            Kind::Refund => &mut self.refunds,
            Kind::Hook => &mut self.hooks,
        }
    }

    /// Inserts or replaces an object by its `id`. A hook without one gets the next id,
    /// as `POST /v3/hooks` would give it.
    pub(crate) fn put(&mut self, kind: Kind, mut value: Value) -> Result<i64, String> {
        if !value.is_object() {
            return Err("expected a JSON object".to_owned());
        }
        let id = match (int_id(&value), kind) {
            (Some(id), _) => id,
            (None, Kind::Hook) => {
                let id = self.next_hook_id();
                value["id"] = Value::from(id);
                id
            }
            (None, _) => return Err("the object needs an integer \"id\"".to_owned()),
        };
        self.map_mut(kind).insert(id, value);
        Ok(id)
    }

    pub(crate) fn put_order(&mut self, seed: OrderSeed) -> Result<i64, String> {
        if !seed.order.is_object() {
            return Err("\"order\" must be a JSON object".to_owned());
        }
        let id = int_id(&seed.order).ok_or("the order needs an integer \"id\"")?;
        self.orders.insert(
            id,
            StoredOrder {
                order: seed.order,
                products: seed.products,
                shipping_addresses: seed.shipping_addresses,
            },
        );
        Ok(id)
    }

    pub(crate) fn next_hook_id(&self) -> i64 {
        // Start far from the fixture ids so created hooks are recognisable.
        self.hooks
            .keys()
            .next_back()
            .map_or(20_000_000, |last| last + 1)
            .max(20_000_000)
    }
}

// ---------------------------------------------------------------------------------
// Engage data
// ---------------------------------------------------------------------------------

/// Fake Engage contacts and orders.
#[derive(Debug, Default)]
pub(crate) struct Engage {
    /// id → (insertion number, contact); the number keeps listings in creation order.
    contacts: HashMap<String, (u64, Value)>,
    /// Lower-cased e-mail → contact ids, so a lookup does not scan every contact.
    by_email: HashMap<String, Vec<String>>,
    /// orderId → (insertion number, order).
    orders: HashMap<String, (u64, Value)>,
    /// jobId → orderId.
    jobs: HashMap<String, String>,
    sequence: u64,
}

/// What looking a contact up by e-mail found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Lookup {
    Found(String),
    NotFound,
    Multiple,
}

fn email_key(contact: &Value) -> Option<String> {
    contact
        .get("email")
        .and_then(Value::as_str)
        .filter(|e| !e.is_empty())
        .map(str::to_lowercase)
}

/// Sets every key of `patch` on `target`, descending into objects present on both
/// sides, so `{"preferences": {"acceptsEmail": true}}` keeps the other preferences.
/// An explicit `null` stores `null` (the field is cleared).
fn merge(target: &mut Map<String, Value>, patch: Map<String, Value>) {
    for (key, value) in patch {
        match (target.get_mut(&key), value) {
            (Some(Value::Object(inner)), Value::Object(patch_inner)) => merge(inner, patch_inner),
            (_, value) => {
                target.insert(key, value);
            }
        }
    }
}

impl Engage {
    fn next(&mut self) -> u64 {
        self.sequence += 1;
        self.sequence
    }

    fn index(&mut self, contact: &Value, id: &str) {
        if let Some(email) = email_key(contact) {
            self.by_email.entry(email).or_default().push(id.to_owned());
        }
    }

    fn unindex(&mut self, contact: &Value, id: &str) {
        if let Some(email) = email_key(contact) {
            if let Some(ids) = self.by_email.get_mut(&email) {
                ids.retain(|i| i != id);
                if ids.is_empty() {
                    self.by_email.remove(&email);
                }
            }
        }
    }

    /// Stores a new contact: a fresh `id` unless one is given, `contactType` `Member`
    /// unless given. Returns the stored contact.
    pub(crate) fn create_contact(&mut self, contact: Value) -> Result<Value, String> {
        let Value::Object(mut map) = contact else {
            return Err("a contact must be a JSON object".to_owned());
        };
        let id = match map.get("id").and_then(Value::as_str) {
            Some(id) if !id.is_empty() => id.to_owned(),
            _ => uuid::Uuid::new_v4().to_string(),
        };
        map.insert("id".to_owned(), Value::from(id.clone()));
        if !matches!(map.get("contactType"), Some(Value::String(_))) {
            map.insert("contactType".to_owned(), Value::from("Member"));
        }
        let contact = Value::Object(map);
        if let Some((_, old)) = self.contacts.remove(&id) {
            self.unindex(&old, &id);
        }
        self.index(&contact, &id);
        let n = self.next();
        self.contacts.insert(id, (n, contact.clone()));
        Ok(contact)
    }

    pub(crate) fn find_by_email(&self, email: &str) -> Lookup {
        match self.by_email.get(&email.to_lowercase()).map(Vec::as_slice) {
            None | Some([]) => Lookup::NotFound,
            Some([id]) => Lookup::Found(id.clone()),
            Some(_) => Lookup::Multiple,
        }
    }

    pub(crate) fn contact(&self, id: &str) -> Option<Value> {
        self.contacts.get(id).map(|(_, c)| c.clone())
    }

    /// Merges `patch` into contact `id`; `id` and `contactType` cannot change this way
    /// (Engage ignores them). `None` when the contact does not exist.
    pub(crate) fn patch_contact(&mut self, id: &str, patch: Map<String, Value>) -> Option<Value> {
        let (n, mut contact) = self.contacts.remove(id)?;
        self.unindex(&contact, id);
        let mut patch = patch;
        patch.remove("id");
        patch.remove("contactType");
        if let Value::Object(map) = &mut contact {
            merge(map, patch);
        }
        self.index(&contact, id);
        self.contacts.insert(id.to_owned(), (n, contact.clone()));
        Some(contact)
    }

    pub(crate) fn set_contact_type(&mut self, id: &str, contact_type: &str) -> Option<Value> {
        let (_, contact) = self.contacts.get_mut(id)?;
        contact["contactType"] = Value::from(contact_type);
        Some(contact.clone())
    }

    pub(crate) fn delete_contact(&mut self, id: &str) -> bool {
        match self.contacts.remove(id) {
            Some((_, old)) => {
                self.unindex(&old, id);
                true
            }
            None => false,
        }
    }

    pub(crate) fn contact_count(&self) -> usize {
        self.contacts.len()
    }

    pub(crate) fn contacts(&self) -> Vec<Value> {
        sorted(&self.contacts)
    }

    /// The `orderId` of an order document as text (Engage order ids are strings, but a
    /// number is accepted as the client may send one).
    pub(crate) fn order_id(order: &Value) -> Option<String> {
        match order.get("orderId")? {
            Value::String(s) if !s.is_empty() => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }

    /// Stores a new order and returns its job id; `Err` when the document is not an
    /// object or has no `orderId`.
    pub(crate) fn create_order(&mut self, order: Value) -> Result<String, String> {
        if !order.is_object() {
            return Err("an order must be a JSON object".to_owned());
        }
        let order_id = Engage::order_id(&order).ok_or("the order needs an \"orderId\"")?;
        let n = self.next();
        self.orders.insert(order_id.clone(), (n, order));
        Ok(self.new_job(order_id))
    }

    pub(crate) fn has_order(&self, order_id: &str) -> bool {
        self.orders.contains_key(order_id)
    }

    /// Replaces an existing order; `None` when it does not exist.
    pub(crate) fn replace_order(&mut self, order_id: &str, order: Value) -> Option<String> {
        let (n, _) = self.orders.get(order_id)?;
        let n = *n;
        self.orders.insert(order_id.to_owned(), (n, order));
        Some(self.new_job(order_id.to_owned()))
    }

    pub(crate) fn delete_order(&mut self, order_id: &str) -> Option<String> {
        self.orders.remove(order_id)?;
        Some(self.new_job(order_id.to_owned()))
    }

    fn new_job(&mut self, order_id: String) -> String {
        let job = uuid::Uuid::new_v4().to_string();
        self.jobs.insert(job.clone(), order_id);
        job
    }

    pub(crate) fn order(&self, order_id: &str) -> Option<Value> {
        self.orders.get(order_id).map(|(_, o)| o.clone())
    }

    pub(crate) fn job(&self, job_id: &str) -> Option<String> {
        self.jobs.get(job_id).cloned()
    }

    pub(crate) fn orders(&self) -> Vec<Value> {
        sorted(&self.orders)
    }
}

fn sorted(map: &HashMap<String, (u64, Value)>) -> Vec<Value> {
    let mut items: Vec<_> = map.values().collect();
    items.sort_by_key(|(n, _)| *n);
    items.into_iter().map(|(_, v)| v.clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn patch_overwrites_clears_with_null_and_keeps_absent_keys() {
        let mut engage = Engage::default();
        let created = engage
            .create_contact(
                json!({"email": "a@example.com", "firstName": "A", "mobilePhone": "+46701234567",
                "preferences": {"acceptsEmail": false, "acceptsSms": true}}),
            )
            .unwrap();
        let id = created["id"].as_str().unwrap();
        let Value::Object(patch) = json!({"firstName": "B", "mobilePhone": null,
            "preferences": {"acceptsEmail": true}, "contactType": "Contact"})
        else {
            unreachable!()
        };
        let patched = engage.patch_contact(id, patch).unwrap();
        assert_eq!(patched["firstName"], "B");
        assert_eq!(patched["mobilePhone"], Value::Null);
        assert!(patched.as_object().unwrap().contains_key("mobilePhone"));
        assert_eq!(patched["email"], "a@example.com");
        assert_eq!(patched["contactType"], "Member");
        assert_eq!(
            patched["preferences"],
            json!({"acceptsEmail": true, "acceptsSms": true})
        );
    }

    #[test]
    fn email_index_follows_changes_and_deletes() {
        let mut engage = Engage::default();
        let a = engage
            .create_contact(json!({"email": "A@example.com"}))
            .unwrap();
        let id = a["id"].as_str().unwrap().to_owned();
        assert_eq!(
            engage.find_by_email("a@EXAMPLE.com"),
            Lookup::Found(id.clone())
        );
        engage
            .create_contact(json!({"email": "a@example.com"}))
            .unwrap();
        assert_eq!(engage.find_by_email("a@example.com"), Lookup::Multiple);
        let Value::Object(patch) = json!({"email": "b@example.com"}) else {
            unreachable!()
        };
        engage.patch_contact(&id, patch).unwrap();
        assert_eq!(
            engage.find_by_email("b@example.com"),
            Lookup::Found(id.clone())
        );
        assert!(matches!(
            engage.find_by_email("a@example.com"),
            Lookup::Found(_)
        ));
        assert!(engage.delete_contact(&id));
        assert_eq!(engage.find_by_email("b@example.com"), Lookup::NotFound);
        assert!(!engage.delete_contact(&id));
    }

    #[test]
    fn log_keeps_the_newest_entries_and_counts_the_dropped() {
        let mut log = Log::new(2);
        for i in 0..3 {
            log.push(Entry {
                method: "GET".into(),
                path: format!("/engage/{i}"),
                query: String::new(),
                headers: Vec::new(),
                raw_body: String::new(),
                status: 200,
                at_ms: i,
                route: "GET /engage/x".into(),
            });
        }
        let paths: Vec<_> = log.requests(None).into_iter().map(|r| r.path).collect();
        assert_eq!(paths, ["/engage/1", "/engage/2"]);
        let stats = log.stats();
        assert_eq!((stats.total, stats.dropped), (3, 1));
        assert_eq!(stats.routes["GET /engage/x"], 3);
    }
}
