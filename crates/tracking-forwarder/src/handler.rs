//! The handler of `tracking-forwarder.events`: product views, carts and converted carts.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use domain::bigcommerce::CatalogProduct;
use domain::category::{last_five, product_category, CategoryPath};
use domain::channel::{resolve_settings, DropReason, Resolution};
use domain::engage::{map_cart, map_converted_cart, map_product_view, CartPayload};
use domain::ids::{ChannelId, ContactId, StoreHash};
use domain::tracking::{CartBeacon, ProductViewBeacon, CART_ROUTING_KEY, PRODUCT_VIEW_ROUTING_KEY};
use domain::webhook::{Envelope, WebhookData};
use platform::amqp::{message, HandlerError, Incoming, Publisher};
use platform::db::channels::Channel;
use platform::db::stores::Store;
use platform::db::{events, DbPool};
use platform::http::{ApiError, EngageClient, HttpClients};
use time::OffsetDateTime;
use tracing::Instrument;

use crate::cache::{Lookup, TtlCache};

/// Routing key of `store/cart/converted` webhooks.
pub const CART_CONVERTED_ROUTING_KEY: &str = "store.cart.converted";

/// Header naming why a product view was parked in `tracking-forwarder.dropped`.
pub const DROPPED_REASON: &str = "x-dropped-reason";

/// How long stores and channels loaded from the database are reused.
const CONFIG_TTL: Duration = Duration::from_secs(30);
/// Most stores and channels remembered.
const CONFIG_CAPACITY: usize = 1_000;
/// Most products remembered (per process, all stores together).
const PRODUCT_CAPACITY: usize = 10_000;
/// Most category names remembered.
const CATEGORY_CAPACITY: usize = 20_000;

/// Tunables of the handler, from `tracking_forwarder.*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ForwarderConfig {
    /// Retries of a product view on an Engage 5xx (after the first attempt).
    pub product_view_retries: u32,
    /// Retries of a cart (after the first attempt).
    pub cart_retries: u32,
    /// Product and category cache lifetime.
    pub cache_ttl: Duration,
    /// Wait before the first in-handler retry; doubles at every further retry.
    pub retry_backoff: Duration,
}

impl ForwarderConfig {
    /// The configuration from the service settings (100 ms first backoff).
    pub fn from_settings(settings: &platform::Settings) -> Self {
        let tf = &settings.tracking_forwarder;
        Self {
            product_view_retries: tf.product_view_retries,
            cart_retries: tf.cart_retries,
            cache_ttl: Duration::from_secs(tf.cache_ttl_secs),
            retry_backoff: Duration::from_millis(100),
        }
    }
}

/// Why an Engage call ended without success after its attempts.
enum SendFailure {
    /// Retryable failures (5xx, 429, no answer) on every attempt.
    Exhausted { attempts: u32, last: ApiError },
    /// A final answer (4xx): not retried.
    Rejected(ApiError),
}

/// A catalog product with its category path, resolved once per cache lifetime.
#[derive(Debug)]
struct ResolvedProduct {
    product: CatalogProduct,
    category: Option<CategoryPath>,
}

/// Forwards tracking events to Engage. One instance serves every message of the queue.
pub struct TrackingHandler {
    config: ForwarderConfig,
    pool: DbPool,
    clients: HttpClients,
    publisher: Arc<Publisher>,
    dropped_queue: String,
    stores: TtlCache<StoreHash, Option<Arc<Store>>, HandlerError>,
    channels: TtlCache<(StoreHash, ChannelId), Option<Arc<Channel>>, HandlerError>,
    products: TtlCache<(StoreHash, u64), Option<Arc<ResolvedProduct>>, HandlerError>,
    categories: TtlCache<(StoreHash, u64), Option<String>>,
}

impl std::fmt::Debug for TrackingHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrackingHandler")
            .field("config", &self.config)
            .field("dropped_queue", &self.dropped_queue)
            .finish_non_exhaustive()
    }
}

fn db_error(error: impl std::fmt::Display) -> HandlerError {
    HandlerError::transient(format!("database: {error}"))
}

/// A failed vendor call: retryable ones go back to the consume loop's delayed retry.
fn api_error(error: ApiError) -> HandlerError {
    if error.is_retryable() {
        HandlerError::Transient {
            retry_after: error.retry_after(),
            reason: error.to_string(),
        }
    } else {
        HandlerError::fatal(error.to_string())
    }
}

/// Tracking calls are tried again only on a 5xx or when no answer came; any 4xx (408 and 429
/// included) is final: a late view is worth less than the load of resending it.
fn worth_another_try(error: &ApiError) -> bool {
    match error.status() {
        Some(status) => status >= 500,
        None => matches!(error, ApiError::Transport { .. }),
    }
}

fn status_label(result: &Result<(), ApiError>) -> String {
    match result {
        Ok(()) => "2xx".to_owned(),
        Err(error) => error
            .status()
            .map_or_else(|| "transport".to_owned(), |s| s.to_string()),
    }
}

fn count_view(outcome: &'static str) {
    metrics::counter!("tracking_views_total", "outcome" => outcome).increment(1);
}

fn count_cart(kind: &'static str, outcome: &'static str) {
    metrics::counter!("tracking_carts_total", "kind" => kind, "outcome" => outcome).increment(1);
}

fn count_unmatched(kind: &'static str) {
    metrics::counter!(
        "tracking_dropped_total",
        "kind" => kind,
        "reason" => DropReason::UnmatchedChannel.as_str()
    )
    .increment(1);
}

/// When the connector received the event (`x-received-at`), else now.
fn received_at(message: &Incoming) -> OffsetDateTime {
    message
        .header(message::RECEIVED_AT)
        .and_then(|s| {
            OffsetDateTime::parse(&s, &time::format_description::well_known::Rfc3339).ok()
        })
        .unwrap_or_else(OffsetDateTime::now_utc)
}

impl TrackingHandler {
    /// A handler using `pool` for store and channel configuration, `clients` for the vendor
    /// APIs and `publisher` to park dropped product views in `dropped_queue`.
    pub fn new(
        config: ForwarderConfig,
        pool: DbPool,
        clients: HttpClients,
        publisher: Arc<Publisher>,
        dropped_queue: String,
    ) -> Self {
        Self {
            config,
            pool,
            clients,
            publisher,
            dropped_queue,
            stores: TtlCache::new(CONFIG_TTL, CONFIG_CAPACITY),
            channels: TtlCache::new(CONFIG_TTL, CONFIG_CAPACITY),
            products: TtlCache::new(config.cache_ttl, PRODUCT_CAPACITY),
            categories: TtlCache::new(config.cache_ttl, CATEGORY_CAPACITY),
        }
    }

    async fn store(&self, hash: &StoreHash) -> Result<Option<Arc<Store>>, HandlerError> {
        let (store, _) = self
            .stores
            .get_or_try_load(hash.clone(), || async {
                let mut conn = platform::db::conn(&self.pool).await.map_err(db_error)?;
                let found = platform::db::stores::find(&mut conn, hash)
                    .await
                    .map_err(db_error)?;
                Ok::<_, HandlerError>(found.map(Arc::new))
            })
            .await?;
        Ok(store)
    }

    async fn channel(
        &self,
        hash: &StoreHash,
        id: ChannelId,
    ) -> Result<Option<Arc<Channel>>, HandlerError> {
        let (channel, _) = self
            .channels
            .get_or_try_load((hash.clone(), id), || async {
                let mut conn = platform::db::conn(&self.pool).await.map_err(db_error)?;
                let found = platform::db::channels::find(&mut conn, hash, id)
                    .await
                    .map_err(db_error)?;
                Ok::<_, HandlerError>(found.map(Arc::new))
            })
            .await?;
        Ok(channel)
    }

    /// Channel resolution (connector.md §2): the top-level channel, else the resource's;
    /// unconfigured → `None` (the caller drops the event).
    async fn resolve(
        &self,
        hash: &StoreHash,
        top_level: Option<ChannelId>,
        resource: Option<ChannelId>,
    ) -> Result<Option<Arc<Channel>>, HandlerError> {
        let loaded = match top_level.or(resource) {
            Some(id) => self.channel(hash, id).await?,
            None => None,
        };
        Ok(
            match resolve_settings(top_level, resource, |_| loaded.clone()) {
                Resolution::Matched(channel) => Some(channel),
                Resolution::Unmatched { .. } => None,
            },
        )
    }

    fn record_cache(&self, cache: &'static str, lookup: Lookup, ratio: f64) {
        metrics::counter!("tracking_cache_lookups_total", "cache" => cache, "result" => lookup.as_str())
            .increment(1);
        metrics::gauge!("tracking_cache_hit_ratio", "cache" => cache).set(ratio);
    }

    /// The product and its category, through the cache. The category is resolved inside
    /// the single-flight load, so a burst of views of one uncached product costs one
    /// product lookup and at most one category lookup.
    async fn product(
        &self,
        store: &Store,
        id: u64,
    ) -> Result<Option<Arc<ResolvedProduct>>, HandlerError> {
        let (product, lookup) = self
            .products
            .get_or_try_load((store.store_hash.clone(), id), || async {
                let found = self
                    .clients
                    .bigcommerce(store)
                    .product(id)
                    .await
                    .map_err(api_error)?;
                let Some(product) = found else {
                    return Ok(None);
                };
                let ids = last_five(&product.categories);
                let names = self.category_names(store, ids).await?;
                let category =
                    product_category(ids, |id| names.get(&id).map(String::as_str), product.url());
                Ok::<_, HandlerError>(Some(Arc::new(ResolvedProduct { product, category })))
            })
            .await?;
        self.record_cache("product", lookup, self.products.hit_ratio());
        Ok(product)
    }

    /// The names of `ids`, from the cache, fetching the missing ones in one call. Ids
    /// BigCommerce does not know are remembered as nameless.
    async fn category_names(
        &self,
        store: &Store,
        ids: &[u64],
    ) -> Result<HashMap<u64, String>, HandlerError> {
        let mut names = HashMap::new();
        let mut missing = Vec::new();
        for id in ids {
            match self.categories.get(&(store.store_hash.clone(), *id)) {
                Some(name) => {
                    self.record_cache("category", Lookup::Hit, self.categories.hit_ratio());
                    if let Some(name) = name {
                        names.insert(*id, name);
                    }
                }
                None => {
                    self.record_cache("category", Lookup::Miss, self.categories.hit_ratio());
                    missing.push(*id);
                }
            }
        }
        if missing.is_empty() {
            return Ok(names);
        }
        let fetched = self
            .clients
            .bigcommerce(store)
            .categories(&missing)
            .await
            .map_err(api_error)?;
        let mut found: HashMap<u64, String> = fetched.into_iter().map(|c| (c.id, c.name)).collect();
        for id in missing {
            let name = found.remove(&id);
            self.categories
                .insert((store.store_hash.clone(), id), name.clone());
            if let Some(name) = name {
                names.insert(id, name);
            }
        }
        Ok(names)
    }

    /// Sends with up to `retries` retries on retryable failures, waiting `retry_backoff`
    /// (doubling) between attempts.
    async fn send_with_retries<F, Fut>(
        &self,
        kind: &'static str,
        retries: u32,
        send: F,
    ) -> Result<u32, SendFailure>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<(), ApiError>>,
    {
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let result = send().await;
            metrics::counter!(
                "tracking_engage_responses_total",
                "kind" => kind,
                "status" => status_label(&result)
            )
            .increment(1);
            match result {
                Ok(()) => return Ok(attempt),
                Err(error) if !worth_another_try(&error) => {
                    return Err(SendFailure::Rejected(error))
                }
                Err(error) if attempt > retries => {
                    return Err(SendFailure::Exhausted {
                        attempts: attempt,
                        last: error,
                    })
                }
                Err(error) => {
                    let wait = self
                        .config
                        .retry_backoff
                        .saturating_mul(1 << (attempt - 1).min(10));
                    tracing::warn!(%error, attempt, wait_ms = wait.as_millis() as u64, kind, "engage failed; retrying");
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    async fn product_view(&self, message: &Incoming) -> Result<(), HandlerError> {
        let beacon = ProductViewBeacon::parse(&message.body)
            .map_err(|e| HandlerError::fatal(format!("invalid product view: {e}")))?;
        let hash = beacon.store_hash();
        let Some(store) = self.store(hash).await? else {
            tracing::info!(store = %hash, reason = DropReason::UnmatchedChannel.as_str(), "unknown store; view dropped");
            count_unmatched("product_view");
            count_view("unmatched");
            return Ok(());
        };
        let Some(channel) = self.resolve(hash, Some(beacon.channel_id()), None).await? else {
            tracing::info!(store = %hash, channel = %beacon.channel_id(), reason = DropReason::UnmatchedChannel.as_str(), "view dropped");
            count_unmatched("product_view");
            count_view("unmatched");
            return Ok(());
        };
        let product_id = beacon.product_id().get();
        let Some(resolved) = self.product(&store, product_id).await? else {
            tracing::warn!(store = %hash, product_id, "product not found; view dropped");
            count_view("product_not_found");
            return Ok(());
        };
        let payload = map_product_view(
            &beacon,
            &resolved.product,
            resolved.category.clone(),
            &channel.settings,
            received_at(message),
        );
        let engage = self.clients.engage(&channel);
        let sent = self
            .send_with_retries("product_view", self.config.product_view_retries, || {
                engage.track_product_view(&payload)
            })
            .await;
        match sent {
            Ok(attempts) => {
                tracing::debug!(store = %hash, product_id, attempts, "product view sent");
                count_view("sent");
                Ok(())
            }
            Err(SendFailure::Rejected(error)) => {
                tracing::warn!(%error, store = %hash, product_id, "engage rejected the product view; dropped");
                count_view("rejected");
                Ok(())
            }
            Err(SendFailure::Exhausted { attempts, last }) => {
                let reason = format!("engage failed {attempts} times: {last}");
                tracing::error!(%reason, store = %hash, product_id, "product view dropped; parked");
                self.park(message, &reason).await?;
                count_view("dropped");
                Ok(())
            }
        }
    }

    /// Parks a copy of a dropped product view in `tracking-forwarder.dropped`.
    async fn park(&self, message: &Incoming, reason: &str) -> Result<(), HandlerError> {
        let mut headers = message.headers.clone();
        message::set_str(&mut headers, DROPPED_REASON, reason);
        message::set_str(
            &mut headers,
            message::ORIGINAL_ROUTING_KEY,
            &message.routing_key,
        );
        message::set_str(&mut headers, message::DEAD_AT, &message::now_rfc3339());
        let properties = message.properties.clone().with_headers(headers);
        self.publisher
            .publish("", &self.dropped_queue, &message.body, properties)
            .await
            .map_err(|e| HandlerError::transient(format!("could not park the view: {e}")))
    }

    /// Sends a cart once (plus `cart_retries`); failures are logged and counted, never
    /// retried later.
    async fn send_cart(
        &self,
        kind: &'static str,
        engage: &EngageClient,
        payload: &CartPayload,
    ) -> Result<(), HandlerError> {
        let sent = self
            .send_with_retries(kind, self.config.cart_retries, || {
                engage.track_cart(payload)
            })
            .await;
        match sent {
            Ok(_) => count_cart(kind, "sent"),
            Err(SendFailure::Rejected(error)) | Err(SendFailure::Exhausted { last: error, .. }) => {
                tracing::warn!(%error, cart = %payload.cart_reference, kind, "cart not forwarded");
                count_cart(kind, "failed");
            }
        }
        Ok(())
    }

    async fn cart(&self, message: &Incoming) -> Result<(), HandlerError> {
        let beacon = CartBeacon::parse(&message.body)
            .map_err(|e| HandlerError::fatal(format!("invalid cart: {e}")))?;
        let hash = beacon.store_hash();
        let Some(channel) = self.resolve(hash, Some(beacon.channel_id()), None).await? else {
            tracing::info!(store = %hash, channel = %beacon.channel_id(), reason = DropReason::UnmatchedChannel.as_str(), "cart dropped");
            count_unmatched("cart");
            count_cart("cart", "unmatched");
            return Ok(());
        };
        let payload = map_cart(&beacon, &channel.settings, received_at(message));
        self.send_cart("cart", &self.clients.engage(&channel), &payload)
            .await
    }

    async fn cart_converted(&self, message: &Incoming) -> Result<(), HandlerError> {
        const KIND: &str = "converted";
        let envelope = Envelope::parse(&message.body)
            .map_err(|e| HandlerError::fatal(format!("invalid webhook: {e}")))?;
        let Ok(WebhookData::CartConverted { cart_id, order_id }) = envelope.data() else {
            return Err(HandlerError::fatal("not a store/cart/converted webhook"));
        };
        let hash = envelope.store_hash();
        // A webhook BigCommerce delivered again (or the broker redelivered) is sent once; an
        // operator's replay is sent again on purpose.
        let event_id = message.event_id(&envelope);
        if !message.is_replay() && self.already_sent(&event_id).await? {
            tracing::info!(event_id, "duplicate converted cart skipped");
            count_cart(KIND, "duplicate");
            return Ok(());
        }
        let Some(store) = self.store(hash).await? else {
            tracing::info!(store = %hash, reason = DropReason::UnmatchedChannel.as_str(), "unknown store; converted cart dropped");
            count_unmatched(KIND);
            count_cart(KIND, "unmatched");
            return Ok(());
        };
        let bigcommerce = self.clients.bigcommerce(&store);
        let Some(order) = bigcommerce.order(order_id.get()).await.map_err(api_error)? else {
            tracing::warn!(store = %hash, order_id = order_id.get(), "order not found; converted cart dropped");
            count_cart(KIND, "order_not_found");
            return Ok(());
        };
        let Some(channel) = self
            .resolve(hash, envelope.channel_id(), order.channel_id)
            .await?
        else {
            tracing::info!(store = %hash, order_id = order_id.get(), reason = DropReason::UnmatchedChannel.as_str(), "converted cart dropped");
            count_unmatched(KIND);
            count_cart(KIND, "unmatched");
            return Ok(());
        };
        let email = order.billing_address.email.trim();
        let engage = self.clients.engage(&channel);
        let found = if email.is_empty() {
            None
        } else {
            match engage.find_contact_id(email).await {
                Ok(found) => found,
                Err(error) if error.is_retryable() => return Err(api_error(error)),
                Err(error) => {
                    tracing::warn!(%error, store = %hash, order_id = order_id.get(), "contact lookup refused; converted cart dropped");
                    count_cart(KIND, "contact_lookup_failed");
                    return Ok(());
                }
            }
        };
        let Some(contact_id) = found.and_then(|id| ContactId::parse(&id).ok()) else {
            tracing::warn!(store = %hash, order_id = order_id.get(), "no Engage contact for the billing email; converted cart dropped");
            count_cart(KIND, "contact_not_found");
            return Ok(());
        };
        let time = envelope
            .created_at()
            .and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok())
            .unwrap_or_else(|| received_at(message));
        let payload = map_converted_cart(&cart_id, &contact_id, time, &channel.settings.locale);
        self.send_cart(KIND, &engage, &payload).await?;
        self.record_sent(&event_id, hash).await;
        Ok(())
    }

    /// True when this consumer already sent the event `event_id`.
    async fn already_sent(&self, event_id: &str) -> Result<bool, HandlerError> {
        let mut conn = platform::db::conn(&self.pool).await.map_err(db_error)?;
        events::was_processed(&mut conn, crate::CONSUMER, event_id)
            .await
            .map_err(db_error)
    }

    /// Records `event_id` as sent. Recorded after the send, so a failed attempt's retry is
    /// not a duplicate; if the record itself fails, only a redelivery could repeat the send.
    async fn record_sent(&self, event_id: &str, store: &StoreHash) {
        let recorded = async {
            let mut conn = platform::db::conn(&self.pool).await.map_err(db_error)?;
            events::mark_processed(&mut conn, crate::CONSUMER, event_id, Some(store.as_str()))
                .await
                .map_err(db_error)
        }
        .await;
        if let Err(error) = recorded {
            tracing::warn!(%error, event_id, "could not record the converted cart as sent");
        }
    }
}

impl platform::amqp::Handler for TrackingHandler {
    fn handle<'a>(
        &'a self,
        message: &'a Incoming,
    ) -> impl std::future::Future<Output = Result<(), HandlerError>> + Send + 'a {
        let span = tracing::info_span!("tracking", routing_key = %message.routing_key);
        async move {
            match message.routing_key.as_str() {
                PRODUCT_VIEW_ROUTING_KEY => self.product_view(message).await,
                CART_ROUTING_KEY => self.cart(message).await,
                CART_CONVERTED_ROUTING_KEY => self.cart_converted(message).await,
                other => {
                    tracing::warn!(routing_key = other, "unexpected routing key; ignored");
                    metrics::counter!("tracking_dropped_total", "kind" => "unknown", "reason" => DropReason::UnhandledScope.as_str()).increment(1);
                    Ok(())
                }
            }
        }
        .instrument(span)
    }
}
