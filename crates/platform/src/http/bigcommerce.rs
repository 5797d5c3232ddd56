//! BigCommerce REST client for one store: `X-Auth-Token`, paced by the store's rate headers,
//! retrying 5xx and timeouts with exponential backoff (`backon`) and 429 after the reset the
//! store announces.

use std::sync::Arc;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use domain::bigcommerce::{
    CatalogProduct, Category, Customer, Hook, HookActivation, NewHook, Order, OrderProduct, Refund,
    ShippingAddress, Subscriber, V3Response as V3,
};
use domain::ids::StoreHash;
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use tracing::Instrument;

use super::pacing::{QuotaGate, RateHeaders};
use super::{read, traced, ApiError};

const API: &str = "bigcommerce";
/// Page size for listings (BigCommerce's maximum for v2 orders and v3 lists is 250).
const PAGE_LIMIT: usize = 250;
/// 429s waited out per call before giving up (each waits the announced reset).
const MAX_RATE_LIMIT_WAITS: usize = 10;

/// A client for one store.
#[derive(Clone)]
pub struct BigCommerceClient {
    http: reqwest::Client,
    root: String,
    store: String,
    token: SecretString,
    gate: Arc<QuotaGate>,
    max_retries: usize,
}

impl std::fmt::Debug for BigCommerceClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BigCommerceClient")
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

impl BigCommerceClient {
    pub(super) fn new(
        http: reqwest::Client,
        api_base_url: &str,
        store: &StoreHash,
        token: SecretString,
        gate: Arc<QuotaGate>,
        max_retries: usize,
    ) -> Self {
        Self {
            http,
            root: format!("{}/stores/{}", api_base_url.trim_end_matches('/'), store),
            store: store.to_string(),
            token,
            gate,
            max_retries,
        }
    }

    /// Sends one request (path relative to the store root, e.g. `/v2/orders/1`) with pacing
    /// and retries; returns the status and body of the first success.
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&serde_json::Value>,
    ) -> Result<(u16, Vec<u8>), ApiError> {
        let mut backoff = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(200))
            .with_max_delay(Duration::from_secs(5))
            .with_max_times(self.max_retries)
            .with_jitter()
            .build();
        let mut rate_waits = 0;
        loop {
            self.gate.acquire().await;
            let mut request = self
                .http
                .request(method.clone(), format!("{}{}", self.root, path))
                .header("X-Auth-Token", self.token.expose_secret())
                .header("Accept", "application/json")
                .query(query);
            if let Some(body) = body {
                request = request.json(body);
            }
            let span = tracing::info_span!("bigcommerce", method = %method, path);
            let response = async { traced(request).send().await }
                .instrument(span)
                .await;
            let headers = response
                .as_ref()
                .ok()
                .and_then(|r| RateHeaders::from_headers(r.headers()));
            if let Some(h) = headers {
                metrics::gauge!("bigcommerce_quota_left", "store" => self.store.clone())
                    .set(h.left as f64);
            }
            self.gate.release(headers);
            let result = read(API, response, |h| {
                RateHeaders::from_headers(h).map(|r| r.reset)
            })
            .await;
            let error = match result {
                Ok(ok) => return Ok(ok),
                Err(error) if !error.is_retryable() => return Err(error),
                Err(error) => error,
            };
            let wait = if error.status() == Some(429) {
                rate_waits += 1;
                if rate_waits > MAX_RATE_LIMIT_WAITS {
                    return Err(error);
                }
                // Without rate headers the platform itself is overloaded: back off harder.
                match error.retry_after() {
                    Some(reset) => Some(reset + Duration::from_millis(50)),
                    None => backoff.next(),
                }
            } else {
                backoff.next()
            };
            match wait {
                Some(wait) => {
                    tracing::debug!(%error, wait_ms = wait.as_millis() as u64, "retrying BigCommerce call");
                    tokio::time::sleep(wait).await;
                }
                None => return Err(error),
            }
        }
    }

    async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<Option<T>, ApiError> {
        let (status, body) = self.send(reqwest::Method::GET, path, query, None).await?;
        // BigCommerce answers 204 with no body for an empty v2 listing page.
        if status == 204 || body.is_empty() {
            return Ok(None);
        }
        decode(&body).map(Some)
    }

    async fn get_required<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T, ApiError> {
        self.get(path, query)
            .await?
            .ok_or_else(|| ApiError::Decode {
                api: API,
                reason: format!("empty answer for {path}"),
            })
    }

    async fn v2_all_pages<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
        max_pages: usize,
    ) -> Result<Vec<T>, ApiError> {
        let mut all = Vec::new();
        for page in 1..=max_pages {
            let mut q = query.to_vec();
            q.push(("page", page.to_string()));
            q.push(("limit", PAGE_LIMIT.to_string()));
            let items: Vec<T> = self.get(path, &q).await?.unwrap_or_default();
            let last = items.len() < PAGE_LIMIT;
            all.extend(items);
            if last {
                break;
            }
        }
        Ok(all)
    }

    async fn v3_all_pages<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
        max_pages: usize,
    ) -> Result<Vec<T>, ApiError> {
        let mut all = Vec::new();
        for page in 1..=max_pages {
            let mut q = query.to_vec();
            q.push(("page", page.to_string()));
            q.push(("limit", PAGE_LIMIT.to_string()));
            let Some(answer) = self.get::<V3<Vec<T>>>(path, &q).await? else {
                break;
            };
            let done = answer.data.len() < PAGE_LIMIT
                || answer
                    .meta
                    .pagination
                    .as_ref()
                    .is_none_or(|p| !p.has_next());
            all.extend(answer.data);
            if done {
                break;
            }
        }
        Ok(all)
    }

    /// `GET /v2/orders/{id}`; `None` when the order does not exist.
    pub async fn order(&self, id: u64) -> Result<Option<Order>, ApiError> {
        not_found_is_none(self.get(&format!("/v2/orders/{id}"), &[]).await)
    }

    /// `GET /v2/orders/{id}/products`, every page.
    pub async fn order_products(&self, id: u64) -> Result<Vec<OrderProduct>, ApiError> {
        self.v2_all_pages(&format!("/v2/orders/{id}/products"), &[], 20)
            .await
    }

    /// `GET /v2/orders/{id}/shipping_addresses`.
    pub async fn order_shipping_addresses(
        &self,
        id: u64,
    ) -> Result<Vec<ShippingAddress>, ApiError> {
        self.v2_all_pages(&format!("/v2/orders/{id}/shipping_addresses"), &[], 5)
            .await
    }

    /// `GET /v2/orders?min_date_modified=…`, up to `max_pages` pages, oldest change first.
    pub async fn orders_modified_since(
        &self,
        since_rfc2822: &str,
        max_pages: usize,
    ) -> Result<Vec<Order>, ApiError> {
        self.v2_all_pages(
            "/v2/orders",
            &[
                ("min_date_modified", since_rfc2822.to_owned()),
                ("sort", "date_modified:asc".to_owned()),
            ],
            max_pages,
        )
        .await
    }

    /// `GET /v3/customers?id:in={id}&include=addresses`; `None` when it does not exist.
    pub async fn customer(&self, id: u64) -> Result<Option<Customer>, ApiError> {
        let answer: V3<Vec<Customer>> = self
            .get_required(
                "/v3/customers",
                &[
                    ("id:in", id.to_string()),
                    ("include", "addresses".to_owned()),
                ],
            )
            .await?;
        Ok(answer.data.into_iter().next())
    }

    /// `GET /v3/customers?date_modified:min=…&include=addresses`, up to `max_pages` pages.
    pub async fn customers_modified_since(
        &self,
        since_rfc3339: &str,
        max_pages: usize,
    ) -> Result<Vec<Customer>, ApiError> {
        self.v3_all_pages(
            "/v3/customers",
            &[
                ("date_modified:min", since_rfc3339.to_owned()),
                ("include", "addresses".to_owned()),
                // Oldest change first, so a bounded run resumes where it stopped.
                ("sort", "date_modified:asc".to_owned()),
            ],
            max_pages,
        )
        .await
    }

    /// `GET /v3/customers/subscribers/{id}`; `None` when it does not exist.
    pub async fn subscriber(&self, id: u64) -> Result<Option<Subscriber>, ApiError> {
        let answer: Option<V3<Subscriber>> = not_found_is_none(
            self.get(&format!("/v3/customers/subscribers/{id}"), &[])
                .await,
        )?;
        Ok(answer.map(|a| a.data))
    }

    /// `GET /v3/catalog/products/{id}`; `None` when it does not exist.
    pub async fn product(&self, id: u64) -> Result<Option<CatalogProduct>, ApiError> {
        let answer: Option<V3<CatalogProduct>> =
            not_found_is_none(self.get(&format!("/v3/catalog/products/{id}"), &[]).await)?;
        Ok(answer.map(|a| a.data))
    }

    /// `GET /v3/catalog/categories?id:in=…` for the given ids.
    pub async fn categories(&self, ids: &[u64]) -> Result<Vec<Category>, ApiError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let list = ids.iter().map(u64::to_string).collect::<Vec<_>>().join(",");
        self.v3_all_pages("/v3/catalog/categories", &[("id:in", list)], 4)
            .await
    }

    /// `GET /v3/orders/{id}/payment_actions/refunds`: every refund of an order.
    pub async fn order_refunds(&self, order_id: u64) -> Result<Vec<Refund>, ApiError> {
        let answer: Option<V3<Vec<Refund>>> = self
            .get(
                &format!("/v3/orders/{order_id}/payment_actions/refunds"),
                &[],
            )
            .await?;
        Ok(answer.map(|a| a.data).unwrap_or_default())
    }

    /// `GET /v3/hooks`, every page.
    pub async fn hooks(&self) -> Result<Vec<Hook>, ApiError> {
        self.v3_all_pages("/v3/hooks", &[], 20).await
    }

    /// `POST /v3/hooks`.
    pub async fn create_hook(&self, request: &NewHook) -> Result<Hook, ApiError> {
        let body = serde_json::to_value(request).map_err(|e| ApiError::Decode {
            api: API,
            reason: e.to_string(),
        })?;
        let (_, bytes) = self
            .send(reqwest::Method::POST, "/v3/hooks", &[], Some(&body))
            .await?;
        decode::<V3<Hook>>(&bytes).map(|a| a.data)
    }

    /// `PUT /v3/hooks/{id}` with `{"is_active": true}`.
    pub async fn activate_hook(&self, id: u64) -> Result<Hook, ApiError> {
        let request = HookActivation::ACTIVATE;
        let body = serde_json::to_value(request).map_err(|e| ApiError::Decode {
            api: API,
            reason: e.to_string(),
        })?;
        let (_, bytes) = self
            .send(
                reqwest::Method::PUT,
                &format!("/v3/hooks/{id}"),
                &[],
                Some(&body),
            )
            .await?;
        decode::<V3<Hook>>(&bytes).map(|a| a.data)
    }
}

fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::Decode {
        api: API,
        reason: e.to_string(),
    })
}

fn not_found_is_none<T>(result: Result<Option<T>, ApiError>) -> Result<Option<T>, ApiError> {
    match result {
        Err(ApiError::Status { status: 404, .. }) => Ok(None),
        other => other,
    }
}
