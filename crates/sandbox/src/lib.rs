//! A fake BigCommerce API and a fake Voyado Engage API in one HTTP server, for the
//! connector's integration tests, its demo and its benchmarks.
//!
//! ```no_run
//! # async fn example() -> std::io::Result<()> {
//! use sandbox::{Fault, Sandbox, Seed, Target};
//!
//! let sandbox = Sandbox::start("127.0.0.1:0", Seed::default_fixtures()).await?;
//! // Point a store's API base URL at `sandbox.bigcommerce_url()` and a channel's
//! // Engage base URL at `sandbox.engage_url()`, then script trouble:
//! sandbox.inject(Fault::status(Target::Engage, "/api/v3/orders", 2, 503));
//! // … run the code under test …
//! assert_eq!(sandbox.count("POST", "/engage/api/v3/orders"), 3);
//! sandbox.stop().await;
//! # Ok(()) }
//! ```
//!
//! What it does:
//! - serves BigCommerce under `/bigcommerce/stores/{hash}/…` (v2 orders, v3 customers,
//!   subscribers, catalog, refunds, hooks) from a [`Seed`], with `X-Auth-Token`
//!   checks, rate headers and an optional [`Quota`];
//! - serves Engage under `/engage/api/…` (contacts, orders v3, tracking) with
//!   `apikey`, `User-Agent` and content-type checks, keeping contacts and orders in
//!   memory;
//! - records every request to either API ([`RecordedRequest`], the last
//!   [`DEFAULT_MAX_RECORDED`]) and applies scripted [`Fault`]s before normal handling;
//! - offers the same controls over HTTP under `/_sandbox` for scripts (see `control`).
//!
//! # Layout
//!
//! - `lib.rs`: [`Sandbox`] (start) and [`SandboxHandle`] (URLs, log, faults, data).
//! - `http.rs`: the one actix handler: recording, faults, dispatch by mount point.
//! - `bigcommerce.rs`, `engage.rs`: the fake APIs (routing by path segments).
//! - `control.rs`: the `/_sandbox` control API.
//! - `state.rs`: shared state (data, request log, faults and quota) behind short locks.
//! - `faults.rs`: [`Fault`], [`Target`], [`Quota`] and the fixed-window limiter.
//! - `seed.rs`: [`Seed`], its JSON format and the embedded fixture seed.
//! - `cli.rs`: the `sandbox` binary's arguments and run loop.

mod bigcommerce;
mod cli;
mod control;
mod engage;
mod faults;
mod http;
mod seed;
mod state;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use actix_web::dev::ServerHandle;
use actix_web::{web, App, HttpServer};
use serde_json::Value;
use tokio::task::JoinHandle;

pub use cli::{run, Cli};
pub use faults::{Fault, Quota, Target};
pub use seed::{EngageSeed, OrderSeed, Seed, StoreSeed, FIXTURE_STORE};
pub use state::{RecordedRequest, Stats, DEFAULT_MAX_RECORDED};

use state::{lock, Kind, Shared};

/// Largest request body accepted; far above anything the connector sends, so only a
/// runaway client meets it.
const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

/// How the server runs; [`Default`] suits tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SandboxOptions {
    /// Actix worker threads (default 2).
    pub workers: usize,
    /// Requests kept in the log before the oldest are dropped (default
    /// [`DEFAULT_MAX_RECORDED`]); bounds memory under a benchmark.
    pub max_recorded: usize,
}

impl Default for SandboxOptions {
    fn default() -> Self {
        SandboxOptions {
            workers: 2,
            max_recorded: DEFAULT_MAX_RECORDED,
        }
    }
}

/// Starts sandboxes; see [`Sandbox::start`].
#[derive(Debug)]
pub struct Sandbox;

impl Sandbox {
    /// Binds `listen` (`"127.0.0.1:0"` picks a free port) and serves `seed` with the
    /// default [`SandboxOptions`]. Must be called inside a Tokio runtime.
    pub async fn start(listen: &str, seed: Seed) -> std::io::Result<SandboxHandle> {
        Sandbox::start_with(listen, seed, SandboxOptions::default()).await
    }

    /// Like [`Sandbox::start`] with explicit options. Fails when the address cannot be
    /// bound or the seed holds an object without an `id`.
    pub async fn start_with(
        listen: &str,
        seed: Seed,
        options: SandboxOptions,
    ) -> std::io::Result<SandboxHandle> {
        let shared = Shared::new(seed, options.max_recorded).map_err(|e| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("seed: {e}"))
        })?;
        let shared = web::Data::new(shared);
        let app_state = shared.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(app_state.clone())
                .app_data(web::PayloadConfig::new(MAX_BODY_BYTES))
                .default_service(web::to(http::entry))
        })
        .workers(options.workers.max(1))
        // The owner decides when to stop (tests, or the binary on SIGINT/SIGTERM).
        .disable_signals()
        .shutdown_timeout(5)
        .bind(listen)?;
        let addr = server
            .addrs()
            .first()
            .copied()
            .ok_or_else(|| std::io::Error::other("the server bound no address"))?;
        let server = server.run();
        let handle = server.handle();
        let task = tokio::spawn(server);
        tracing::info!(%addr, "sandbox started");
        Ok(SandboxHandle {
            shared,
            addr,
            server: handle,
            task: Arc::new(Mutex::new(Some(task))),
        })
    }
}

/// A running sandbox: its URLs, its request log, fault and quota controls, and its
/// fake data. Cheap to clone; every clone controls the same server.
#[derive(Clone)]
pub struct SandboxHandle {
    shared: web::Data<Shared>,
    addr: SocketAddr,
    server: ServerHandle,
    task: Arc<Mutex<Option<JoinHandle<std::io::Result<()>>>>>,
}

impl std::fmt::Debug for SandboxHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxHandle")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

/// Turns `value` into a list: an array as is, `null` as empty, anything else alone.
fn to_list(value: Value) -> Vec<Value> {
    match value {
        Value::Array(items) => items,
        Value::Null => Vec::new(),
        other => vec![other],
    }
}

impl SandboxHandle {
    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://IP:PORT`; an unspecified bind address (`0.0.0.0`) is given as loopback
    /// so the URL can be dialled.
    pub fn base_url(&self) -> String {
        let mut addr = self.addr;
        if addr.ip().is_unspecified() {
            addr.set_ip(IpAddr::V4(Ipv4Addr::LOCALHOST));
        }
        format!("http://{addr}")
    }

    /// `{base}/bigcommerce`: a store's API base URL (calls go to
    /// `{this}/stores/{hash}/v3/…`).
    pub fn bigcommerce_url(&self) -> String {
        format!("{}/bigcommerce", self.base_url())
    }

    /// `{base}/engage`: a channel's Engage base URL (calls go to `{this}/api/v3/…`).
    pub fn engage_url(&self) -> String {
        format!("{}/engage", self.base_url())
    }

    /// When the sandbox started: a recorded request arrived at this instant plus its
    /// `at_ms`.
    pub fn started_at(&self) -> std::time::Instant {
        self.shared.started
    }

    /// Every recorded request to the fake APIs, oldest first (control calls excluded).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.log).requests(None)
    }

    /// The recorded requests whose full path starts with `path_prefix`
    /// (e.g. `/engage/api/v3/orders`).
    pub fn requests_to(&self, path_prefix: &str) -> Vec<RecordedRequest> {
        lock(&self.shared.log).requests(Some(path_prefix))
    }

    /// How many recorded requests have `method` (case-insensitive) and a full path
    /// starting with `path_prefix` (including `/bigcommerce` or `/engage`).
    pub fn count(&self, method: &str, path_prefix: &str) -> usize {
        lock(&self.shared.log).count(method, path_prefix)
    }

    /// Empties the request log and resets the [`Stats`] counters.
    pub fn clear_requests(&self) {
        lock(&self.shared.log).clear();
    }

    /// Counters over all requests (including those dropped from the log).
    pub fn stats(&self) -> Stats {
        let mut stats = lock(&self.shared.log).stats();
        stats.over_quota = self.over_quota_requests();
        stats
    }

    /// Registers a fault; it applies to the next `fault.times` matching requests.
    pub fn inject(&self, fault: Fault) {
        lock(&self.shared.control).faults.add(fault);
    }

    /// Removes every registered fault.
    pub fn clear_faults(&self) {
        lock(&self.shared.control).faults.clear();
    }

    /// Sets (or with `None` lifts) the BigCommerce request quota; a new quota starts
    /// a fresh window.
    pub fn set_bigcommerce_quota(&self, quota: Option<Quota>) {
        lock(&self.shared.control).limiter.set(quota);
    }

    /// BigCommerce requests that arrived while the quota was used up (each got a 429).
    pub fn over_quota_requests(&self) -> u64 {
        lock(&self.shared.control).limiter.over_quota()
    }

    /// The fake Engage contacts, in creation order.
    pub fn engage_contacts(&self) -> Vec<Value> {
        lock(&self.shared.data).engage.contacts()
    }

    /// The fake Engage orders (latest version of each), in creation order.
    pub fn engage_orders(&self) -> Vec<Value> {
        lock(&self.shared.data).engage.orders()
    }

    /// The Engage order with `order_id`, if any.
    pub fn engage_order(&self, order_id: &str) -> Option<Value> {
        lock(&self.shared.data).engage.order(order_id)
    }

    /// Adds an Engage contact as if created earlier (an `id` is generated when missing)
    /// and returns it as stored.
    ///
    /// # Panics
    /// When `contact` is not a JSON object.
    pub fn put_engage_contact(&self, contact: Value) -> Value {
        lock(&self.shared.data)
            .engage
            .create_contact(contact)
            .unwrap_or_else(|e| panic!("put_engage_contact: {e}"))
    }

    fn put(&self, store: &str, kind: Kind, value: Value, what: &str) {
        lock(&self.shared.data)
            .store_mut(store)
            .put(kind, value)
            .unwrap_or_else(|e| panic!("{what}: {e}"));
    }

    /// Adds or replaces v2 order `order["id"]` of `store` (created if unknown) with its
    /// line items and shipping addresses (arrays; `null` = none).
    ///
    /// # Panics
    /// When `order` is not an object with an integer `id`.
    pub fn put_order(&self, store: &str, order: Value, products: Value, shipping: Value) {
        lock(&self.shared.data)
            .store_mut(store)
            .put_order(OrderSeed {
                order,
                products: to_list(products),
                shipping_addresses: to_list(shipping),
            })
            .unwrap_or_else(|e| panic!("put_order: {e}"));
    }

    /// Adds or replaces a v3 customer (with inline `addresses`).
    ///
    /// # Panics
    /// When `customer` is not an object with an integer `id`.
    pub fn put_customer(&self, store: &str, customer: Value) {
        self.put(store, Kind::Customer, customer, "put_customer");
    }

    /// Adds or replaces a v3 subscriber.
    ///
    /// # Panics
    /// When `subscriber` is not an object with an integer `id`.
    pub fn put_subscriber(&self, store: &str, subscriber: Value) {
        self.put(store, Kind::Subscriber, subscriber, "put_subscriber");
    }

    /// Adds or replaces a v3 catalog product.
    ///
    /// # Panics
    /// When `product` is not an object with an integer `id`.
    pub fn put_product(&self, store: &str, product: Value) {
        self.put(store, Kind::Product, product, "put_product");
    }

    /// Adds or replaces a v3 catalog category.
    ///
    /// # Panics
    /// When `category` is not an object with an integer `id`.
    pub fn put_category(&self, store: &str, category: Value) {
        self.put(store, Kind::Category, category, "put_category");
    }

    /// Adds or replaces a v3 refund (it names its order in `order_id`).
    ///
    /// # Panics
    /// When `refund` is not an object with an integer `id`.
    pub fn put_refund(&self, store: &str, refund: Value) {
        self.put(store, Kind::Refund, refund, "put_refund");
    }

    /// Adds or replaces a webhook subscription (an `id` is assigned when missing), e.g.
    /// to simulate BigCommerce deactivating one (`"is_active": false`).
    ///
    /// # Panics
    /// When `hook` is not a JSON object.
    pub fn put_hook(&self, store: &str, hook: Value) {
        self.put(store, Kind::Hook, hook, "put_hook");
    }

    /// Removes a v2 order; `false` when it was not there.
    pub fn remove_order(&self, store: &str, id: i64) -> bool {
        lock(&self.shared.data)
            .stores
            .get_mut(store)
            .is_some_and(|s| s.orders.remove(&id).is_some())
    }

    /// Removes a v3 customer (BigCommerce then answers as for a deleted customer);
    /// `false` when it was not there.
    pub fn remove_customer(&self, store: &str, id: i64) -> bool {
        lock(&self.shared.data)
            .stores
            .get_mut(store)
            .is_some_and(|s| s.customers.remove(&id).is_some())
    }

    /// The webhook subscriptions of `store`, by id.
    pub fn hooks(&self, store: &str) -> Vec<Value> {
        lock(&self.shared.data)
            .stores
            .get(store)
            .map(|s| s.hooks.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Stops the server, letting in-flight requests finish (at most 5 s), and waits
    /// for it to end.
    pub async fn stop(self) {
        self.server.stop(true).await;
        let task = lock(&self.task).take();
        if let Some(task) = task {
            // The server's own result says nothing a caller that asked to stop can act on.
            let _ = task.await;
        }
    }
}
