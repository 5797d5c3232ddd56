//! Fault injection and the BigCommerce rate-limit simulation.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// Which fake API a [`Fault`] applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Target {
    /// The fake Voyado Engage API (`/engage`).
    #[serde(alias = "engage")]
    Engage,
    /// The fake BigCommerce API (`/bigcommerce`).
    #[serde(alias = "bigcommerce", alias = "Bigcommerce")]
    BigCommerce,
}

/// A scripted misbehaviour: the next `times` calls matching `target`, `method` and
/// `path_prefix` are delayed by `latency_ms` and, when `status` is set, answered with
/// `status`, `headers` and `body` instead of the normal answer.
///
/// A fault answers before any other check (auth, quota), and a faulted BigCommerce
/// request does not count against the [`Quota`].
///
/// JSON form (all but `target` optional; `times` defaults to 1, `headers` may be an
/// object or a list of pairs):
/// `{"target":"Engage","method":"POST","path_prefix":"/api/v3/orders","times":2,"status":503}`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fault {
    /// The API the fault applies to.
    pub target: Target,
    /// HTTP method to match (case-insensitive); `None` matches any.
    #[serde(default)]
    pub method: Option<String>,
    /// Path prefix relative to the target's root, e.g. `/api/v3/orders` or
    /// `/stores/abc123/v2/orders`; empty matches every path.
    #[serde(default)]
    pub path_prefix: String,
    /// How many matching calls the fault affects; each match uses one up.
    #[serde(default = "one")]
    pub times: u32,
    /// Status to answer instead of the normal one; `None` only adds latency.
    #[serde(default)]
    pub status: Option<u16>,
    /// Delay before answering, in milliseconds.
    #[serde(default)]
    pub latency_ms: Option<u64>,
    /// Headers of the faulted answer (only with `status`). A BigCommerce fault carries
    /// no rate headers unless listed here, so a 429 without them is possible too.
    #[serde(default, deserialize_with = "headers_from_map_or_pairs")]
    pub headers: Vec<(String, String)>,
    /// JSON body of the faulted answer (only with `status`); `None` = empty body.
    #[serde(default)]
    pub body: Option<Value>,
}

fn one() -> u32 {
    1
}

impl Fault {
    /// A fault answering `status` to the next `times` calls on `path_prefix`, any method.
    pub fn status(target: Target, path_prefix: &str, times: u32, status: u16) -> Fault {
        Fault {
            target,
            method: None,
            path_prefix: path_prefix.to_owned(),
            times,
            status: Some(status),
            latency_ms: None,
            headers: Vec::new(),
            body: None,
        }
    }

    /// A fault delaying the next `times` calls on `path_prefix` by `latency_ms`, after
    /// which they are handled normally.
    pub fn latency(target: Target, path_prefix: &str, times: u32, latency_ms: u64) -> Fault {
        Fault {
            target,
            method: None,
            path_prefix: path_prefix.to_owned(),
            times,
            status: None,
            latency_ms: Some(latency_ms),
            headers: Vec::new(),
            body: None,
        }
    }

    /// Restricts the fault to one HTTP method.
    pub fn with_method(mut self, method: &str) -> Fault {
        self.method = Some(method.to_owned());
        self
    }

    /// Adds a header to the faulted answer.
    pub fn with_header(mut self, name: &str, value: &str) -> Fault {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Sets the JSON body of the faulted answer.
    pub fn with_body(mut self, body: Value) -> Fault {
        self.body = Some(body);
        self
    }

    fn matches(&self, target: Target, method: &str, path: &str) -> bool {
        self.times > 0
            && self.target == target
            && self
                .method
                .as_deref()
                .is_none_or(|m| m.eq_ignore_ascii_case(method))
            && path.starts_with(&self.path_prefix)
    }
}

/// Accepts `{"Name": "value"}` (values may be numbers) as well as `[["Name", "value"]]`,
/// because the object form is what people write by hand in the control API.
fn headers_from_map_or_pairs<'de, D>(deserializer: D) -> Result<Vec<(String, String)>, D::Error>
where
    D: Deserializer<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Repr {
        Pairs(Vec<(String, String)>),
        Map(BTreeMap<String, Value>),
        Null(()),
    }
    Ok(match Repr::deserialize(deserializer)? {
        Repr::Pairs(pairs) => pairs,
        Repr::Map(map) => map
            .into_iter()
            .map(|(name, value)| {
                let value = match value {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                (name, value)
            })
            .collect(),
        Repr::Null(()) => Vec::new(),
    })
}

/// The registered faults, in registration order.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    list: Vec<Fault>,
}

impl Faults {
    pub(crate) fn add(&mut self, fault: Fault) {
        if fault.times > 0 {
            self.list.push(fault);
        }
    }

    pub(crate) fn clear(&mut self) {
        self.list.clear();
    }

    pub(crate) fn list(&self) -> Vec<Fault> {
        self.list.clone()
    }

    /// Uses up one call of the first matching fault and returns a copy of it.
    pub(crate) fn take(&mut self, target: Target, method: &str, path: &str) -> Option<Fault> {
        let index = self
            .list
            .iter()
            .position(|f| f.matches(target, method, path))?;
        let fault = &mut self.list[index];
        fault.times -= 1;
        let taken = fault.clone();
        if fault.times == 0 {
            self.list.remove(index);
        }
        Some(taken)
    }
}

/// A BigCommerce request quota: `quota` requests per fixed window of `window_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quota {
    /// Requests allowed per window.
    pub quota: u32,
    /// Window length in milliseconds (BigCommerce uses 30 000).
    pub window_ms: u64,
}

/// Rate headers reported when no quota is set: a window like BigCommerce's and a quota
/// so large that no client ever throttles itself.
const UNLIMITED_WINDOW_MS: u64 = 30_000;
const UNLIMITED_QUOTA: u32 = 1_000_000;

/// The values of BigCommerce's four `X-Rate-Limit-*` headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RateHeaders {
    pub window_ms: u64,
    pub reset_ms: u64,
    pub quota: u32,
    pub left: u32,
}

impl RateHeaders {
    pub(crate) fn pairs(&self) -> [(&'static str, String); 4] {
        [
            ("X-Rate-Limit-Time-Window-Ms", self.window_ms.to_string()),
            ("X-Rate-Limit-Time-Reset-Ms", self.reset_ms.to_string()),
            ("X-Rate-Limit-Requests-Quota", self.quota.to_string()),
            ("X-Rate-Limit-Requests-Left", self.left.to_string()),
        ]
    }
}

/// Fixed-window request counting for the fake BigCommerce.
#[derive(Debug, Default)]
pub(crate) struct Limiter {
    quota: Option<Quota>,
    window_start: Option<Instant>,
    used: u32,
    over_quota: u64,
}

impl Limiter {
    pub(crate) fn set(&mut self, quota: Option<Quota>) {
        self.quota = quota;
        self.window_start = None;
        self.used = 0;
    }

    pub(crate) fn over_quota(&self) -> u64 {
        self.over_quota
    }

    /// Counts one request. `Ok` carries the headers of an allowed request, `Err` those
    /// of a request that arrived with the window's quota used up.
    pub(crate) fn admit(&mut self, now: Instant) -> Result<RateHeaders, RateHeaders> {
        let Some(quota) = self.quota else {
            return Ok(RateHeaders {
                window_ms: UNLIMITED_WINDOW_MS,
                reset_ms: UNLIMITED_WINDOW_MS,
                quota: UNLIMITED_QUOTA,
                left: UNLIMITED_QUOTA,
            });
        };
        // A zero window would divide time into nothing; treat it as one millisecond.
        let window = Duration::from_millis(quota.window_ms.max(1));
        let start = match self.window_start {
            Some(start) if now.duration_since(start) < window => start,
            _ => {
                self.window_start = Some(now);
                self.used = 0;
                now
            }
        };
        let elapsed = now.duration_since(start);
        let reset_ms = u64::try_from((window - elapsed).as_millis()).unwrap_or(u64::MAX);
        let mut headers = RateHeaders {
            window_ms: quota.window_ms,
            reset_ms,
            quota: quota.quota,
            left: 0,
        };
        if self.used >= quota.quota {
            self.over_quota += 1;
            return Err(headers);
        }
        self.used += 1;
        headers.left = quota.quota - self.used;
        Ok(headers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_is_used_up_after_its_times() {
        let mut faults = Faults::default();
        faults.add(Fault::status(Target::Engage, "/api/v3/orders", 2, 503).with_method("post"));
        assert!(faults
            .take(Target::Engage, "GET", "/api/v3/orders/1")
            .is_none());
        assert!(faults
            .take(Target::BigCommerce, "POST", "/api/v3/orders")
            .is_none());
        assert!(faults
            .take(Target::Engage, "POST", "/api/v3/orders")
            .is_some());
        assert!(faults
            .take(Target::Engage, "POST", "/api/v3/orders")
            .is_some());
        assert!(faults
            .take(Target::Engage, "POST", "/api/v3/orders")
            .is_none());
    }

    #[test]
    fn fault_headers_accept_an_object_or_pairs() {
        let from_map: Fault = serde_json::from_str(
            r#"{"target":"bigcommerce","headers":{"X-Rate-Limit-Time-Reset-Ms":1500}}"#,
        )
        .unwrap();
        let from_pairs: Fault = serde_json::from_str(
            r#"{"target":"BigCommerce","headers":[["X-Rate-Limit-Time-Reset-Ms","1500"]]}"#,
        )
        .unwrap();
        assert_eq!(from_map, from_pairs);
        assert_eq!(from_map.times, 1);
    }

    #[test]
    fn limiter_refuses_past_the_quota_until_the_window_resets() {
        let mut limiter = Limiter::default();
        limiter.set(Some(Quota {
            quota: 2,
            window_ms: 1000,
        }));
        let t0 = Instant::now();
        assert_eq!(limiter.admit(t0).unwrap().left, 1);
        assert_eq!(limiter.admit(t0).unwrap().left, 0);
        let refused = limiter.admit(t0 + Duration::from_millis(400)).unwrap_err();
        assert_eq!(refused.reset_ms, 600);
        assert_eq!(limiter.over_quota(), 1);
        assert_eq!(
            limiter
                .admit(t0 + Duration::from_millis(1000))
                .unwrap()
                .left,
            1
        );
    }
}
