//! Typed HTTP clients for the two vendors, written once: BigCommerce (paced by its rate
//! headers, retrying 5xx, timeouts and 429) and Engage (self-limited per API key).

pub mod bigcommerce;
pub mod engage;
mod pacing;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use bigcommerce::BigCommerceClient;
pub use engage::EngageClient;

use crate::configuration::Settings;

/// `User-Agent` of every outbound call (Engage requires one naming the integration).
pub const USER_AGENT: &str = concat!("bigcommerce-engage-connector/", env!("CARGO_PKG_VERSION"));

/// A failed vendor call, classified for retry decisions.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    /// The vendor answered with a non-success status.
    #[error("{api} answered {status}: {body}")]
    Status {
        /// `bigcommerce` or `engage`.
        api: &'static str,
        /// HTTP status.
        status: u16,
        /// Start of the response body (vendor error text; never our secrets).
        body: String,
        /// How long the vendor asked us to wait (429 headers).
        retry_after: Option<Duration>,
    },
    /// No answer: connection failure or timeout.
    #[error("{api} unreachable: {reason}")]
    Transport {
        /// `bigcommerce` or `engage`.
        api: &'static str,
        /// What failed.
        reason: String,
    },
    /// The answer could not be understood.
    #[error("{api} answer could not be decoded: {reason}")]
    Decode {
        /// `bigcommerce` or `engage`.
        api: &'static str,
        /// What failed.
        reason: String,
    },
}

impl ApiError {
    /// True for failures worth another try later: 5xx, 408, 429, and no answer at all.
    /// Any other 4xx is final.
    pub fn is_retryable(&self) -> bool {
        match self {
            ApiError::Status { status, .. } => *status >= 500 || *status == 408 || *status == 429,
            ApiError::Transport { .. } => true,
            ApiError::Decode { .. } => false,
        }
    }

    /// The HTTP status, when there was an answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The wait the vendor asked for, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ApiError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// Shared HTTP machinery: one connection pool, and the rate state per BigCommerce store and
/// per Engage API key, so every client made for the same store or key paces together.
#[derive(Clone)]
pub struct HttpClients {
    http: reqwest::Client,
    bigcommerce_retries: usize,
    engage_rate: u32,
    bigcommerce_rates: Arc<Mutex<HashMap<String, Arc<pacing::QuotaGate>>>>,
    engage_pacers: Arc<Mutex<HashMap<String, Arc<pacing::Pacer>>>>,
}

impl std::fmt::Debug for HttpClients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClients").finish_non_exhaustive()
    }
}

impl HttpClients {
    /// Builds the shared client from the settings.
    pub fn new(settings: &Settings) -> Result<Self, reqwest::Error> {
        let timeout = Duration::from_millis(
            settings
                .bigcommerce
                .timeout_ms
                .max(settings.engage.timeout_ms),
        );
        let http = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(5))
            .pool_max_idle_per_host(64)
            .build()?;
        Ok(Self {
            http,
            bigcommerce_retries: settings.bigcommerce.max_retries,
            engage_rate: settings.engage.max_requests_per_sec,
            bigcommerce_rates: Arc::default(),
            engage_pacers: Arc::default(),
        })
    }

    /// A client for one store's BigCommerce API.
    pub fn bigcommerce(&self, store: &crate::db::stores::Store) -> BigCommerceClient {
        let gate = self
            .bigcommerce_rates
            .lock()
            .expect("rate map lock")
            .entry(store.store_hash.to_string())
            .or_default()
            .clone();
        BigCommerceClient::new(
            self.http.clone(),
            &store.api_base_url,
            &store.store_hash,
            store.access_token.clone(),
            gate,
            self.bigcommerce_retries,
        )
    }

    /// A client for one channel's Engage tenant.
    pub fn engage(&self, channel: &crate::db::channels::Channel) -> EngageClient {
        use secrecy::ExposeSecret;
        let pacer = if self.engage_rate == 0 {
            None
        } else {
            // Keyed by a digest so the map never holds the key itself.
            let key = pacing::key_digest(channel.engage_api_key.expose_secret());
            Some(
                self.engage_pacers
                    .lock()
                    .expect("pacer map lock")
                    .entry(key)
                    .or_insert_with(|| Arc::new(pacing::Pacer::per_second(self.engage_rate)))
                    .clone(),
            )
        };
        EngageClient::new(
            self.http.clone(),
            &channel.engage_base_url,
            channel.engage_api_key.clone(),
            pacer,
        )
    }
}

/// Reads a response: success bodies come back as bytes; failures become [`ApiError`].
async fn read(
    api: &'static str,
    response: Result<reqwest::Response, reqwest::Error>,
    retry_after: impl Fn(&reqwest::header::HeaderMap) -> Option<Duration>,
) -> Result<(u16, Vec<u8>), ApiError> {
    let response = response.map_err(|e| ApiError::Transport {
        api,
        reason: transport_reason(e),
    })?;
    let status = response.status().as_u16();
    let wait = retry_after(response.headers());
    let body = response.bytes().await.map_err(|e| ApiError::Transport {
        api,
        reason: transport_reason(e),
    })?;
    metrics::counter!("http_client_requests_total", "api" => api, "status" => status.to_string())
        .increment(1);
    if (200..300).contains(&status) {
        Ok((status, body.to_vec()))
    } else {
        Err(ApiError::Status {
            api,
            status,
            body: String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned(),
            retry_after: wait,
        })
    }
}

fn transport_reason(e: reqwest::Error) -> String {
    if e.is_timeout() {
        "timeout".to_owned()
    } else if e.is_connect() {
        "connection failed".to_owned()
    } else {
        // Without the URL: it may carry query values we do not want in logs.
        let mut e = e.without_url().to_string();
        e.truncate(200);
        e
    }
}

/// Adds the current trace context to an outbound request.
fn traced(builder: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    match crate::telemetry::traceparent(&tracing::Span::current()) {
        Some(tp) => builder.header("traceparent", tp),
        None => builder,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(status: u16) -> ApiError {
        ApiError::Status {
            api: "engage",
            status,
            body: String::new(),
            retry_after: None,
        }
    }

    #[test]
    fn server_errors_timeouts_throttling_and_no_answer_are_retried_other_failures_not() {
        for retried in [500, 502, 503, 504, 408, 429] {
            assert!(status(retried).is_retryable(), "{retried}");
        }
        for final_status in [400, 401, 403, 404, 409, 422] {
            assert!(!status(final_status).is_retryable(), "{final_status}");
        }
        let no_answer = ApiError::Transport {
            api: "bigcommerce",
            reason: "connection reset".into(),
        };
        assert!(no_answer.is_retryable());
        let unreadable = ApiError::Decode {
            api: "bigcommerce",
            reason: "expected an object".into(),
        };
        assert!(!unreadable.is_retryable());
    }
}
