//! Metric names of the consumer, documented in one place. Emitted once per commit, never
//! per event.

use crate::engine::{Engine, Outcome};
use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
use std::time::Duration;

/// Records read from the bus.
pub const RECORDS: &str = "engage_consumer_records_total";
/// Video events by engine `outcome`: counted, duplicate, ignored, orphan, repeat (the same
/// pingback again), reordered (out of player order: its view re-derived), late (for a window
/// no longer held: a new generation), unordered (a view over the event cap).
pub const EVENTS: &str = "engage_consumer_events_total";
/// Analytics events dropped as repeats of an event id already seen (retried deliveries).
pub const REPEATS_DROPPED: &str = "engage_consumer_repeats_dropped_total";
/// Event ids in the repeat-suppression memory.
pub const DEDUP_IDS: &str = "engage_consumer_dedup_ids";
/// Analytics events by `outcome`: aggregated, no_session, not_aggregated, over_cap, expired,
/// bot (a bot's call: kept raw, aggregated nowhere).
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
/// Events held by the view timelines in memory.
pub const HELD_EVENTS: &str = "engage_consumer_held_events";
/// View timelines that left memory for the store's archive.
pub const ARCHIVED_VIEWS: &str = "engage_consumer_archived_views_total";
/// Store reads of archived views (late data whose view had left memory).
pub const ARCHIVE_READS: &str = "engage_consumer_archive_reads_total";
/// Archived view states read back.
pub const ARCHIVE_STATES_READ: &str = "engage_consumer_archive_states_read_total";
/// Archived view states that did not decode (ignored; a bug or a foreign writer).
pub const ARCHIVE_UNDECODABLE: &str = "engage_consumer_archive_undecodable_total";
/// Store reads of archived views that failed and were retried.
pub const ARCHIVE_READ_FAILURES: &str = "engage_consumer_archive_read_failures_total";

/// What was recorded as `(other)` because its dimension was at its per-window cap, by
/// `dimension`: video events (app), page views (page_name), event types folded in a window
/// gone final (event_type). See `engage_model::dimension`.
pub const CARDINALITY_OVERFLOW: &str = "engage_cardinality_overflow_total";
/// Video events a bot sent (also in `engage_consumer_events_total` by outcome): their views
/// count only as bot impressions and plays.
pub const BOT_EVENTS: &str = "engage_consumer_bot_events_total";
/// Viewers (viewer keys) seen with more than `engage_engine::IMPLAUSIBLE_OPEN_VIEWS` (50)
/// views open at one instant, counted once per episode (until none of their views is open):
/// flagged for a look, never excluded from the numbers.
pub const IMPLAUSIBLE_VIEWERS: &str = "engage_consumer_implausible_viewers_total";
/// Viewers with a view open, tracked for that check.
pub const TRACKED_VIEWERS: &str = "engage_consumer_tracked_viewers";

/// Erasure requests applied to the consumer's state (and their rows deleted at the commit).
pub const ERASURES: &str = "engage_consumer_erasures_total";
/// Sources with webinar or page-view state in memory (at most `MAX_SOURCES`).
pub const OPEN_SOURCES: &str = "engage_consumer_open_sources";

pub fn describe() {
    describe_counter!(
        CARDINALITY_OVERFLOW,
        Unit::Count,
        "Values recorded as (other) past a per-window cap, by dimension."
    );
    describe_counter!(ERASURES, Unit::Count, "Erasure requests applied to consumer state.");
    describe_counter!(BOT_EVENTS, Unit::Count, "Video events sent by bots (counted apart).");
    describe_counter!(
        IMPLAUSIBLE_VIEWERS,
        Unit::Count,
        "Viewers with more than 50 views open at one instant (flagged, not excluded)."
    );
    describe_gauge!(TRACKED_VIEWERS, Unit::Count, "Viewers with a view open, tracked for implausible behaviour.");
    describe_gauge!(OPEN_SOURCES, Unit::Count, "Sources with webinar or page-view state in memory.");
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
    describe_gauge!(HELD_EVENTS, Unit::Count, "Events held by view timelines in memory.");
    describe_counter!(ARCHIVED_VIEWS, Unit::Count, "View timelines archived to the store.");
    describe_counter!(ARCHIVE_READS, Unit::Count, "Store reads of archived views.");
    describe_counter!(ARCHIVE_STATES_READ, Unit::Count, "Archived view states read back.");
    describe_counter!(ARCHIVE_UNDECODABLE, Unit::Count, "Archived view states that did not decode.");
    describe_counter!(ARCHIVE_READ_FAILURES, Unit::Count, "Failed store reads of archived views.");
}

pub(crate) fn outcome_index(o: Outcome) -> usize {
    Outcome::ALL.iter().position(|x| *x == o).unwrap_or(0)
}

pub(crate) fn record_commit(
    records: usize,
    outcomes: &[u64; Outcome::ALL.len()],
    undecodable: u64,
    windows: usize,
    took: Duration,
    engine: &Engine,
) {
    metrics::counter!(RECORDS).increment(records as u64);
    for (o, n) in Outcome::ALL.iter().zip(outcomes) {
        if *n > 0 {
            metrics::counter!(EVENTS, "outcome" => o.as_str()).increment(*n);
        }
    }
    metrics::counter!(UNDECODABLE).increment(undecodable);
    metrics::counter!(COMMITS).increment(1);
    metrics::counter!(WINDOWS_WRITTEN).increment(windows as u64);
    metrics::histogram!(COMMIT_SECONDS).record(took.as_secs_f64());
    metrics::gauge!(OPEN_VIEWS).set(engine.open_views() as f64);
    metrics::gauge!(OPEN_WINDOWS).set(engine.open_windows() as f64);
    metrics::gauge!(OPEN_SOURCES).set(engine.open_sources() as f64);
    metrics::gauge!(HELD_EVENTS).set(engine.held_events() as f64);
    metrics::gauge!(TRACKED_VIEWERS).set(engine.tracked_viewers() as f64);
    if let Some(wm) = engine.watermark_ms() {
        metrics::gauge!(WATERMARK_MS).set(wm as f64);
    }
}
