//! Metric names of the consumer, documented in one place. Emitted once per commit, never
//! per event.

use crate::engine::{Engine, Outcome};
use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
use std::time::Duration;

/// Records read from the bus.
pub const RECORDS: &str = "engage_consumer_records_total";
/// Video events by engine `outcome`: counted, duplicate, ignored, late.
pub const EVENTS: &str = "engage_consumer_events_total";
/// Events dropped as repeats of an event id already seen (re-shipped logs, retried requests).
pub const REPEATS_DROPPED: &str = "engage_consumer_repeats_dropped_total";
/// Event ids in the repeat-suppression memory.
pub const DEDUP_IDS: &str = "engage_consumer_dedup_ids";
/// Analytics events by `outcome`: aggregated, no_session, not_aggregated, over_cap, expired.
pub const ANALYTICS_EVENTS: &str = "engage_consumer_analytics_events_total";
/// Bus records that did not decode (kept as rejected rows).
pub const UNDECODABLE: &str = "engage_consumer_undecodable_total";
/// Commits (checkpoint + results) written.
pub const COMMITS: &str = "engage_consumer_commits_total";
/// Commits that failed and were retried, by `kind`: transient, or needs_operator (a schema
/// to migrate, credentials: retried until fixed).
pub const COMMIT_FAILURES: &str = "engage_consumer_commit_failures_total";
/// Window rows written.
pub const WINDOWS_WRITTEN: &str = "engage_consumer_windows_written_total";
/// Commit duration.
pub const COMMIT_SECONDS: &str = "engage_consumer_commit_seconds";
/// Views held in memory.
pub const OPEN_VIEWS: &str = "engage_consumer_open_views";
/// Windows held in memory (not yet final).
pub const OPEN_WINDOWS: &str = "engage_consumer_open_windows";
/// The partition watermark, epoch milliseconds.
pub const WATERMARK_MS: &str = "engage_consumer_watermark_ms";

const OUTCOMES: [(Outcome, &str); 4] = [
    (Outcome::Counted, "counted"),
    (Outcome::Duplicate, "duplicate"),
    (Outcome::Ignored, "ignored"),
    (Outcome::Late, "late"),
];

pub fn describe() {
    describe_counter!(RECORDS, Unit::Count, "Records read from the bus.");
    describe_counter!(EVENTS, Unit::Count, "Video events by engine outcome.");
    describe_counter!(REPEATS_DROPPED, Unit::Count, "Events dropped as repeats of an event id already seen.");
    describe_gauge!(DEDUP_IDS, Unit::Count, "Event ids held for repeat suppression.");
    describe_counter!(ANALYTICS_EVENTS, Unit::Count, "Analytics events by engine outcome.");
    describe_counter!(UNDECODABLE, Unit::Count, "Bus records that did not decode.");
    describe_counter!(COMMITS, Unit::Count, "Commits written.");
    describe_counter!(COMMIT_FAILURES, Unit::Count, "Commits that failed and were retried.");
    describe_counter!(WINDOWS_WRITTEN, Unit::Count, "Window rows written.");
    describe_histogram!(COMMIT_SECONDS, Unit::Seconds, "Time to flush, snapshot and commit.");
    describe_gauge!(OPEN_VIEWS, Unit::Count, "Views held in memory.");
    describe_gauge!(OPEN_WINDOWS, Unit::Count, "Windows held in memory.");
    describe_gauge!(WATERMARK_MS, Unit::Milliseconds, "The partition watermark.");
}

pub(crate) fn outcome_index(o: Outcome) -> usize {
    OUTCOMES.iter().position(|(x, _)| *x == o).unwrap_or(0)
}

pub(crate) fn record_commit(
    records: usize,
    outcomes: &[u64; 4],
    undecodable: u64,
    windows: usize,
    took: Duration,
    engine: &Engine,
) {
    metrics::counter!(RECORDS).increment(records as u64);
    for ((_, label), n) in OUTCOMES.iter().zip(outcomes) {
        if *n > 0 {
            metrics::counter!(EVENTS, "outcome" => *label).increment(*n);
        }
    }
    metrics::counter!(UNDECODABLE).increment(undecodable);
    metrics::counter!(COMMITS).increment(1);
    metrics::counter!(WINDOWS_WRITTEN).increment(windows as u64);
    metrics::histogram!(COMMIT_SECONDS).record(took.as_secs_f64());
    metrics::gauge!(OPEN_VIEWS).set(engine.open_views() as f64);
    metrics::gauge!(OPEN_WINDOWS).set(engine.open_windows() as f64);
    if let Some(wm) = engine.watermark_ms() {
        metrics::gauge!(WATERMARK_MS).set(wm as f64);
    }
}
