//! Per-source rate limits (`--source-rate`, `--source-burst`): a token bucket per source,
//! refilled at `rate` events a second up to `burst`. A request whose events do not fit is
//! refused whole with 429 and `Retry-After` (the seconds until they would fit), as Segment's
//! own API answers past its limits; SDKs retry it. A batch counts each of its calls.
//!
//! The buckets run on the collector's injected clock (so tests are exact) and their number is
//! bounded: at most [`MAX_BUCKETS`]. With configured write keys there is one per source; when
//! keys are not checked (any key is its own source), a full table first forgets buckets that
//! have refilled (a full bucket and a new one are the same), and if none has, unknown sources
//! share one overflow bucket, so a flood of made-up keys cannot grow memory nor escape the
//! limit. The limit is per collector replica: N replicas admit up to N times the rate.

use std::collections::HashMap;
use std::sync::Mutex;

/// Most sources with a bucket of their own.
pub const MAX_BUCKETS: usize = 10_000;

/// The key of the shared bucket of sources past [`MAX_BUCKETS`].
const OVERFLOW: &str = "";

/// A rate: `per_second` events a second on average, `burst` at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SourceRate {
    pub per_second: u32,
    pub burst: u32,
}

#[derive(Clone, Copy, Debug)]
struct Bucket {
    /// Tokens at `at_ms` (fractional: refills are continuous).
    tokens: f64,
    at_ms: i64,
}

/// The buckets of every source.
#[derive(Debug)]
pub struct RateLimiter {
    rate: SourceRate,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    /// A limiter at `rate` (`per_second` and `burst` at least 1).
    pub fn new(rate: SourceRate) -> Self {
        let rate = SourceRate { per_second: rate.per_second.max(1), burst: rate.burst.max(1) };
        Self { rate, buckets: Mutex::new(HashMap::new()) }
    }

    /// Takes `n` events of `source` at `now_ms`: Ok, or the seconds to wait (at least 1)
    /// before they would fit. `n` over the burst can never fit: the wait is until the bucket
    /// is full (and it is refused again then; the answer says to split the batch).
    pub fn take(&self, source: &str, n: u32, now_ms: i64) -> Result<(), u64> {
        let (per_ms, burst) = (f64::from(self.rate.per_second) / 1000.0, f64::from(self.rate.burst));
        let mut buckets = self.buckets.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let key = if buckets.contains_key(source) || buckets.len() < MAX_BUCKETS - 1 {
            source
        } else {
            // Forget buckets that have refilled: they are the same as new ones.
            buckets.retain(|k, b| k == OVERFLOW || refilled(b, now_ms, per_ms, burst) < burst);
            if buckets.len() < MAX_BUCKETS - 1 { source } else { OVERFLOW }
        };
        let b = buckets.entry(key.to_owned()).or_insert(Bucket { tokens: burst, at_ms: now_ms });
        b.tokens = refilled(b, now_ms, per_ms, burst);
        b.at_ms = b.at_ms.max(now_ms);
        let need = f64::from(n);
        if need <= b.tokens {
            b.tokens -= need;
            return Ok(());
        }
        let missing = (need.min(burst) - b.tokens).max(0.0);
        let wait_ms = missing / per_ms;
        Err(((wait_ms / 1000.0).ceil() as u64).max(1))
    }

    /// Sources with a bucket now.
    pub fn len(&self) -> usize {
        self.buckets.lock().map_or(0, |b| b.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The bucket's tokens at `now_ms` (a clock moving back refills nothing).
fn refilled(b: &Bucket, now_ms: i64, per_ms: f64, burst: f64) -> f64 {
    let elapsed = now_ms.saturating_sub(b.at_ms).max(0) as f64;
    (b.tokens + elapsed * per_ms).min(burst)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: i64 = 1_714_564_800_000;

    #[test]
    fn a_burst_passes_then_the_rate_holds_and_retry_after_says_when() {
        let l = RateLimiter::new(SourceRate { per_second: 10, burst: 20 });
        assert_eq!(l.take("a", 20, T), Ok(()));
        assert_eq!(l.take("a", 1, T), Err(1));
        // another source has its own bucket
        assert_eq!(l.take("b", 20, T), Ok(()));
        // 100 ms later one token is back
        assert_eq!(l.take("a", 1, T + 100), Ok(()));
        assert_eq!(l.take("a", 1, T + 100), Err(1));
        // 15 events need 1.5 s of refill: retry after 2 s
        assert_eq!(l.take("a", 15, T + 100), Err(2));
        assert_eq!(l.take("a", 15, T + 1_600), Ok(()));
        // a batch larger than the burst never fits
        assert!(l.take("c", 21, T).is_err());
        assert!(l.take("c", 21, T + 3_600_000).is_err());
        // a clock moving back refills nothing and breaks nothing
        assert_eq!(l.take("d", 20, T), Ok(()));
        assert!(l.take("d", 1, T - 10_000).is_err());
    }

    #[test]
    fn the_table_is_bounded_and_made_up_sources_share_the_overflow() {
        let l = RateLimiter::new(SourceRate { per_second: 1, burst: 2 });
        for i in 0..MAX_BUCKETS + 50 {
            let _ = l.take(&format!("s{i}"), 1, T);
        }
        assert!(l.len() <= MAX_BUCKETS, "{}", l.len());
        // the overflow bucket is shared: made-up keys past the bound are limited together
        let before = (0..5).filter(|i| l.take(&format!("new{i}"), 1, T).is_ok()).count();
        assert!(before <= 2, "{before}");
        // once buckets have refilled, new sources get their own again
        assert_eq!(l.take("fresh", 2, T + 10_000), Ok(()));
        assert!(l.len() <= MAX_BUCKETS);
    }
}
