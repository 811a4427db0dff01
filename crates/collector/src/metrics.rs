//! Metric names of the collector, documented in one place.
//!
//! Labels are bounded: `outcome` is one of a few words, `reason` one of
//! [`engage_model::reject::RejectReason`]'s codes, `route` a route template.

use metrics::{Unit, describe_counter, describe_gauge};

/// Pingbacks by `outcome`: `accepted`, `ignored` (level-2 event at level 1), `rejected`, `unavailable` (503).
pub const PINGBACKS: &str = "engage_collector_pingbacks_total";
/// Segment calls by `outcome`: `accepted`, `rejected`, `unavailable` (503), `rate_limited`
/// (429), `no_consent` (dropped: the consent object denies analytics).
pub const ANALYTICS: &str = "engage_collector_analytics_events_total";
/// Refused inputs by `route` and `reason` (`beyond_horizon` and `future_timestamp` included).
pub const REJECTED: &str = "engage_collector_rejected_total";
/// Refused inputs that could not be kept (the bus refused the rejection record too), by `route`.
pub const REJECTED_NOT_KEPT: &str = "engage_collector_rejected_not_kept_total";
/// CDN log lines by `outcome` (`accepted`, `skipped`, `rejected`) and `reason`.
pub const CDN_LOG_LINES: &str = "engage_collector_cdn_log_lines_total";
/// Passes of the viewer-key salt keeper by `outcome`: `ok`, `failed` (the salt book could not
/// be read or written; the salts held are kept, and days without one are answered 503).
pub const SALT_REFRESHES: &str = "engage_collector_salt_refreshes_total";
/// Days the collector holds a viewer-key salt for (the horizon's days and tomorrow when all is well).
pub const SALT_DAYS: &str = "engage_collector_salt_days";

pub(crate) fn describe() {
    describe_counter!(PINGBACKS, Unit::Count, "Pingback requests by outcome.");
    describe_counter!(ANALYTICS, Unit::Count, "Segment calls (events) by outcome.");
    describe_counter!(REJECTED, Unit::Count, "Refused inputs by route and reason.");
    describe_counter!(REJECTED_NOT_KEPT, Unit::Count, "Refused inputs whose rejection record could not be published.");
    describe_counter!(CDN_LOG_LINES, Unit::Count, "CDN access-log lines by outcome and reason.");
    describe_counter!(SALT_REFRESHES, Unit::Count, "Passes of the viewer-key salt keeper by outcome.");
    describe_gauge!(SALT_DAYS, Unit::Count, "Days with a viewer-key salt held by this collector.");
}

/// Logs a bus refusal (answered 503) at most once a second per process, with how many were
/// refused since the last line: an outage refuses every request, and one warning per request
/// would flood the logs. Every refusal is counted in the metrics regardless.
pub(crate) fn warn_refused(what: &'static str, error: &engage_bus::PublishError) {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::{SystemTime, UNIX_EPOCH};
    static LAST_SECOND: AtomicU64 = AtomicU64::new(0);
    static SUPPRESSED: AtomicU64 = AtomicU64::new(0);
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let last = LAST_SECOND.load(Ordering::Relaxed);
    if now > last && LAST_SECOND.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_ok() {
        let also = SUPPRESSED.swap(0, Ordering::Relaxed);
        tracing::warn!(%error, refused_since_last_line = also, "bus refused {what}; answering 503");
    } else {
        SUPPRESSED.fetch_add(1, Ordering::Relaxed);
    }
}
