//! Client-side rate control: a quota gate driven by BigCommerce's rate headers, and a
//! steady pacer for Engage's per-key limit.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Tracks one BigCommerce store's quota from the `X-Rate-Limit-*` headers so that the
/// client waits for the window to reset instead of spending requests on 429s.
#[derive(Debug, Default)]
pub struct QuotaGate {
    state: Mutex<QuotaState>,
}

#[derive(Debug, Default)]
struct QuotaState {
    /// Quota per window, 0 while unknown (no answer seen yet).
    quota: i64,
    /// Requests left in the window, minus those sent and not yet answered.
    left: i64,
    reset_at: Option<Instant>,
    in_flight: i64,
}

/// Added to every announced window reset.
const RESET_MARGIN: Duration = Duration::from_millis(50);

/// The rate headers of one answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateHeaders {
    /// `X-Rate-Limit-Requests-Left`.
    pub left: i64,
    /// `X-Rate-Limit-Requests-Quota`.
    pub quota: i64,
    /// `X-Rate-Limit-Time-Reset-Ms`.
    pub reset: Duration,
}

impl RateHeaders {
    /// Reads the headers; `None` when any is missing.
    pub fn from_headers(headers: &reqwest::header::HeaderMap) -> Option<Self> {
        let num =
            |name: &str| -> Option<i64> { headers.get(name)?.to_str().ok()?.trim().parse().ok() };
        Some(Self {
            left: num("x-rate-limit-requests-left")?,
            quota: num("x-rate-limit-requests-quota")?,
            reset: Duration::from_millis(num("x-rate-limit-time-reset-ms")?.max(0) as u64),
        })
    }
}

impl QuotaGate {
    /// Waits until a request may be sent, and counts it as in flight.
    pub async fn acquire(&self) {
        loop {
            let wait = {
                let mut s = self.state.lock().expect("quota lock");
                let now = Instant::now();
                if s.reset_at.is_some_and(|r| now >= r) {
                    // Requests still in flight were sent, and counted, in the old window.
                    s.left = s.quota;
                    s.reset_at = None;
                }
                // Until the first answer tells the quota, one request at a time.
                let unknown = s.quota == 0;
                if (unknown && s.in_flight == 0) || (!unknown && s.left > 0) {
                    s.left -= 1;
                    s.in_flight += 1;
                    return;
                }
                if unknown {
                    Duration::from_millis(5)
                } else {
                    s.reset_at
                        .map(|r| r.saturating_duration_since(now))
                        .unwrap_or(Duration::from_millis(50))
                }
            };
            tokio::time::sleep(wait.max(Duration::from_millis(1))).await;
        }
    }

    /// Records the answer to an acquired request (`None` when it had no rate headers or
    /// there was no answer).
    pub fn release(&self, headers: Option<RateHeaders>) {
        let mut s = self.state.lock().expect("quota lock");
        s.in_flight = (s.in_flight - 1).max(0);
        if let Some(h) = headers {
            let now = Instant::now();
            // The announced reset is rounded to milliseconds and measured at the server: wait a
            // little longer so the first request of the next window cannot land in this one.
            let reset_at = now + h.reset + RESET_MARGIN;
            // Counting every request in flight as not yet counted by the server errs low.
            let left = h.left - s.in_flight;
            // Answers of one window arrive in any order: one that overtook an earlier answer
            // reports fewer left, and the later-arriving earlier answer must not raise the
            // count again. So within the known window the lowest count and latest reset win.
            match s.reset_at {
                Some(known) if now < known && s.quota == h.quota.max(1) => {
                    s.left = s.left.min(left);
                    s.reset_at = Some(known.max(reset_at));
                }
                _ => {
                    s.left = left;
                    s.reset_at = Some(reset_at);
                }
            }
            s.quota = h.quota.max(1);
        }
    }
}

/// Spaces requests evenly at a fixed rate, allowing a small burst (GCRA).
#[derive(Debug)]
pub struct Pacer {
    interval: Duration,
    burst: Duration,
    next: Mutex<Instant>,
}

impl Pacer {
    /// A pacer for `rate` requests per second.
    pub fn per_second(rate: u32) -> Self {
        let interval = Duration::from_secs(1) / rate.max(1);
        Self {
            interval,
            burst: interval * (rate / 10).max(1),
            next: Mutex::new(Instant::now()),
        }
    }

    /// Waits for this request's slot.
    pub async fn wait(&self) {
        let delay = {
            let mut next = self.next.lock().expect("pacer lock");
            let now = Instant::now();
            let slot = (*next).max(now);
            *next = slot + self.interval;
            slot.saturating_duration_since(now + self.burst)
        };
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
    }
}

/// A short, non-reversible digest of an API key, to key maps without holding the key.
pub fn key_digest(key: &str) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut h);
    format!("{:016x}", h.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_gate_waits_for_the_reset_when_the_quota_is_spent() {
        let gate = QuotaGate::default();
        gate.acquire().await;
        gate.release(Some(RateHeaders {
            left: 1,
            quota: 2,
            reset: Duration::from_millis(150),
        }));
        let start = Instant::now();
        gate.acquire().await; // the last one of this window
        gate.release(None);
        assert!(start.elapsed() < Duration::from_millis(100));
        gate.acquire().await; // must wait for the reset
        assert!(start.elapsed() >= Duration::from_millis(140));
    }

    #[tokio::test]
    async fn only_one_request_goes_out_while_the_quota_is_unknown() {
        let gate = std::sync::Arc::new(QuotaGate::default());
        gate.acquire().await;
        let second = {
            let gate = gate.clone();
            tokio::spawn(async move { gate.acquire().await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!second.is_finished(), "waits for the first answer");
        gate.release(Some(RateHeaders {
            left: 10,
            quota: 10,
            reset: Duration::from_secs(1),
        }));
        tokio::time::timeout(Duration::from_secs(1), second)
            .await
            .unwrap()
            .unwrap();
    }

    #[tokio::test]
    async fn requests_in_flight_count_against_the_quota() {
        let gate = QuotaGate::default();
        gate.acquire().await;
        gate.release(Some(RateHeaders {
            left: 2,
            quota: 2,
            reset: Duration::from_millis(120),
        }));
        let start = Instant::now();
        gate.acquire().await;
        gate.acquire().await; // both in flight, none answered
        gate.acquire().await; // a third must wait for the window
        assert!(start.elapsed() >= Duration::from_millis(110));
    }

    #[tokio::test]
    async fn an_answer_overtaken_by_a_later_one_does_not_raise_the_count() {
        let gate = QuotaGate::default();
        gate.acquire().await;
        gate.release(Some(RateHeaders {
            left: 3,
            quota: 5,
            reset: Duration::from_secs(10),
        }));
        gate.acquire().await; // the server's 3rd of 5
        gate.acquire().await; // its 4th
                              // The 4th is answered first (1 left), then the 3rd (2 left, already stale).
        gate.release(Some(RateHeaders {
            left: 1,
            quota: 5,
            reset: Duration::from_secs(10),
        }));
        gate.release(Some(RateHeaders {
            left: 2,
            quota: 5,
            reset: Duration::from_secs(10),
        }));
        // The server has one request left in this window: no more than one goes out.
        let mut sent = 0;
        while sent < 3
            && tokio::time::timeout(Duration::from_millis(50), gate.acquire())
                .await
                .is_ok()
        {
            sent += 1;
        }
        assert!(sent <= 1, "{sent} requests sent with 1 left");
    }

    #[tokio::test]
    async fn a_new_window_after_the_reset_takes_the_count_of_its_answers() {
        let gate = QuotaGate::default();
        gate.acquire().await;
        gate.release(Some(RateHeaders {
            left: 0,
            quota: 3,
            reset: Duration::from_millis(50),
        }));
        gate.acquire().await; // waits for the reset, then the window is full again
        gate.release(Some(RateHeaders {
            left: 2,
            quota: 3,
            reset: Duration::from_secs(10),
        }));
        let start = Instant::now();
        gate.acquire().await;
        gate.acquire().await;
        assert!(start.elapsed() < Duration::from_millis(50));
    }

    #[tokio::test]
    async fn the_pacer_spaces_requests_at_its_rate() {
        let pacer = Pacer::per_second(100);
        let start = Instant::now();
        for _ in 0..31 {
            pacer.wait().await;
        }
        // 31 requests at 100/s with a burst of 10: at least ~200 ms.
        assert!(
            start.elapsed() >= Duration::from_millis(190),
            "{:?}",
            start.elapsed()
        );
    }

    #[test]
    fn key_digests_hide_the_key() {
        let d = key_digest("secret-api-key");
        assert!(!d.contains("secret"));
        assert_eq!(d, key_digest("secret-api-key"));
    }
}
