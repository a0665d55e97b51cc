//! Per-token rate limits: a token bucket per (tenant, subject), in process.
//!
//! Each instance limits on its own, so N instances behind a balancer allow up to N times the
//! rate; that is the usual trade against a network round trip on every request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::http::HeaderValue;
use axum::response::Response;

/// A bucket of `burst` tokens refilled at `per_second`; `per_second == 0` disables limiting.
#[derive(Clone, Debug)]
pub struct RateLimiter {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    refreshed: Instant,
}

/// The outcome of one check, with what the `RateLimit-*` headers report.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Decision {
    Unlimited,
    Allowed {
        limit: u64,
        remaining: u64,
        reset_s: u64,
    },
    Denied {
        limit: u64,
        retry_after_s: u64,
    },
}

/// Above this many buckets, full ones are dropped (they carry no information).
const MAX_BUCKETS: usize = 100_000;

impl RateLimiter {
    pub fn new(per_second: u32, burst: u32) -> Self {
        Self {
            inner: Arc::new(Inner {
                per_second: f64::from(per_second),
                burst: f64::from(burst.max(1)),
                buckets: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// Takes one token for `key` if there is one.
    pub fn check(&self, key: &str) -> Decision {
        let inner = &self.inner;
        if inner.per_second <= 0.0 {
            return Decision::Unlimited;
        }
        let now = Instant::now();
        // A poisoned lock only means another request panicked mid-update of a counter; the
        // counters are still usable, so carry on with them.
        let mut buckets = inner
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if buckets.len() >= MAX_BUCKETS {
            buckets.retain(|_, bucket| {
                let refilled = bucket.tokens
                    + now.duration_since(bucket.refreshed).as_secs_f64() * inner.per_second;
                refilled < inner.burst
            });
        }
        // Look up before inserting: a known client (nearly every request) costs no allocation.
        if !buckets.contains_key(key) {
            buckets.insert(
                key.to_owned(),
                Bucket {
                    tokens: inner.burst,
                    refreshed: now,
                },
            );
        }
        let Some(bucket) = buckets.get_mut(key) else {
            return Decision::Unlimited;
        };
        let elapsed = now.duration_since(bucket.refreshed).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * inner.per_second).min(inner.burst);
        bucket.refreshed = now;
        let limit = inner.burst as u64;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Decision::Allowed {
                limit,
                remaining: bucket.tokens.floor() as u64,
                reset_s: ((inner.burst - bucket.tokens) / inner.per_second).ceil() as u64,
            }
        } else {
            Decision::Denied {
                limit,
                retry_after_s: ((1.0 - bucket.tokens) / inner.per_second).ceil().max(1.0) as u64,
            }
        }
    }
}

impl Decision {
    /// Adds `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset` (and `Retry-After` when
    /// denied) to a response.
    pub fn apply(self, mut response: Response) -> Response {
        let headers = response.headers_mut();
        match self {
            Decision::Unlimited => {}
            Decision::Allowed {
                limit,
                remaining,
                reset_s,
            } => {
                headers.insert("ratelimit-limit", HeaderValue::from(limit));
                headers.insert("ratelimit-remaining", HeaderValue::from(remaining));
                headers.insert("ratelimit-reset", HeaderValue::from(reset_s));
            }
            Decision::Denied {
                limit,
                retry_after_s,
            } => {
                headers.insert("ratelimit-limit", HeaderValue::from(limit));
                headers.insert("ratelimit-remaining", HeaderValue::from(0u64));
                headers.insert("ratelimit-reset", HeaderValue::from(retry_after_s));
                headers.insert("retry-after", HeaderValue::from(retry_after_s));
            }
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_denies() {
        let limiter = RateLimiter::new(1, 3);
        for _ in 0..3 {
            assert!(matches!(limiter.check("a"), Decision::Allowed { .. }));
        }
        assert!(matches!(
            limiter.check("a"),
            Decision::Denied {
                retry_after_s: 1,
                ..
            }
        ));
        // Another token has its own bucket.
        assert!(matches!(limiter.check("b"), Decision::Allowed { .. }));
    }

    #[test]
    fn a_zero_rate_disables_limiting() {
        let limiter = RateLimiter::new(0, 1);
        assert_eq!(limiter.check("a"), Decision::Unlimited);
        assert_eq!(limiter.check("a"), Decision::Unlimited);
    }
}
