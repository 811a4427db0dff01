//! Which refused inputs are kept, and how many: every one is counted, few are kept.
//!
//! A refused input is always counted by route and reason (`engage_collector_rejected_total`).
//! Keeping it means publishing its `Rejected` envelope (route, reason, a redacted detail and
//! excerpt: see [`engage_model::redact`]) for `/api/v1/rejected`. That is sampled twice:
//! - per request and reason ([`RequestSample`]): the first [`FIRST_KEPT`], then only the
//!   2^k-th, at most [`MAX_KEPT_PER_REASON`], so a gzip of 42,000 bad log lines keeps a few
//!   rows per reason, not 42,000;
//! - per collector and route ([`KeptBudget`]): at most [`KEPT_PER_SECOND`] a second on average
//!   ([`KEPT_BURST`] at once), so a flood of bad single requests is not a flood of writes.
//!
//! What is not kept is counted in `engage_collector_rejected_not_kept_total{route, why}`
//! (`why="sampled"`; `why="unavailable"` when the bus refused the record).

use crate::Collector;
use crate::metrics as m;
use crate::rate_limit::{RateLimiter, SourceRate};
use engage_bus::Record;
use engage_model::envelope;
use engage_model::redact::Excerpt;
use prost::Message;
use std::collections::BTreeMap;

/// Refusals of one reason kept from every request before sampling starts.
pub const FIRST_KEPT: u32 = 5;
/// Most refusals of one reason kept from one request.
pub const MAX_KEPT_PER_REASON: u32 = 12;
/// Refusals kept per route and second, on average, by one collector.
pub const KEPT_PER_SECOND: u32 = 50;
/// Refusals kept per route at once, by one collector.
pub const KEPT_BURST: u32 = 500;

/// The sample of one request: which of its refusals of each reason are kept.
#[derive(Debug, Default)]
pub(crate) struct RequestSample {
    /// Per reason: refusals seen, refusals kept.
    seen: BTreeMap<&'static str, (u32, u32)>,
}

impl RequestSample {
    /// Whether to keep this request's next refusal of `reason`: the first [`FIRST_KEPT`], then
    /// the 2^k-th, while fewer than [`MAX_KEPT_PER_REASON`] are kept.
    pub(crate) fn keep(&mut self, reason: &'static str) -> bool {
        let (seen, kept) = self.seen.entry(reason).or_default();
        *seen += 1;
        let keep = *kept < MAX_KEPT_PER_REASON && (*seen <= FIRST_KEPT || seen.is_power_of_two());
        *kept += u32::from(keep);
        keep
    }
}

/// The collector-wide budget of kept refusals, a token bucket per route.
#[derive(Debug)]
pub(crate) struct KeptBudget(RateLimiter);

impl Default for KeptBudget {
    fn default() -> Self {
        Self(RateLimiter::new(SourceRate { per_second: KEPT_PER_SECOND, burst: KEPT_BURST }))
    }
}

impl Collector {
    /// The record keeping a refusal, or `None` (counted) when it is sampled out. `sample` is
    /// the request's sample, for requests that can refuse many inputs; `excerpt` is made only
    /// for a refusal that is kept.
    pub(crate) fn rejected_record(
        &self,
        route: &'static str,
        reason: &'static str,
        detail: &str,
        excerpt: impl FnOnce() -> Excerpt,
        sample: Option<&mut RequestSample>,
        now_ms: i64,
    ) -> Option<Record> {
        let sampled_in = sample.is_none_or(|s| s.keep(reason));
        if !sampled_in || self.inner.kept_budget.0.take(route, 1, now_ms).is_err() {
            metrics::counter!(m::REJECTED_NOT_KEPT, "route" => route, "why" => "sampled").increment(1);
            return None;
        }
        let ev = envelope::rejected_event(now_ms, route, reason, detail, &excerpt());
        Some(Record { key: Vec::new(), payload: ev.encode_to_vec() })
    }

    /// Keeps one refusal of a single-input request (best effort: the answer is a 4xx either
    /// way), or counts why it was not kept.
    pub(crate) async fn keep_rejected(
        &self,
        route: &'static str,
        reason: &'static str,
        detail: &str,
        excerpt: impl FnOnce() -> Excerpt,
        now_ms: i64,
    ) {
        let Some(record) = self.rejected_record(route, reason, detail, excerpt, None, now_ms) else { return };
        if let Err(err) = self.inner.publisher.publish(vec![record]).await {
            metrics::counter!(m::REJECTED_NOT_KEPT, "route" => route, "why" => "unavailable").increment(1);
            tracing::warn!(error = %err, reason, route, "could not keep a refused input");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_keeps_the_first_few_then_powers_of_two_up_to_the_cap() {
        let mut s = RequestSample::default();
        let kept: Vec<u32> = (1..=100_000).filter(|_| s.keep("invalid_item")).collect();
        assert_eq!(kept, vec![1, 2, 3, 4, 5, 8, 16, 32, 64, 128, 256, 512]);
        assert_eq!(kept.len() as u32, MAX_KEPT_PER_REASON);
        // Reasons are sampled apart.
        assert!(s.keep("invalid_ts"));
    }
}
