//! The rows exchanged with ClickHouse (RowBinary, checked against the table's column types
//! by the `clickhouse` crate before the first insert).
//!
//! Insert rows borrow from the consumer's batch (no copies); times are epoch milliseconds,
//! which is exactly what a `DateTime64(3)` holds; event ids are raw bytes in `String` columns.

use crate::store::{AnalyticsRow, RejectedRow, UserTraits};
use clickhouse::Row;
use engage_model::rollup::VideoWindow;
use engage_model::webinar::{PageViewWindow, SessionSummary, SessionWindow};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One generation of one video window of one partition (`video_window_rows`).
#[derive(Debug, Row, Serialize)]
pub(super) struct VideoWindowRow<'a> {
    pub item: &'a str,
    pub app: &'a str,
    pub window_start: i64,
    pub window_end: i64,
    pub partition_id: i32,
    pub generation: u64,
    pub impressions: i64,
    pub plays: i64,
    pub engaged_plays: i64,
    pub completions: i64,
    pub pauses: i64,
    pub duplicates: i64,
    pub ignored: i64,
    pub orphans: i64,
    pub abandons: i64,
    pub active_views: i64,
    pub retention: &'a [i64],
    pub exits: &'a [i64],
    pub seek_from: &'a [i64],
    pub seek_to: &'a [i64],
    pub version: u64,
    pub bot_impressions: i64,
    pub bot_plays: i64,
}

impl<'a> VideoWindowRow<'a> {
    pub fn new(w: &'a VideoWindow, partition_id: i32, version: u64) -> Self {
        let c = &w.counters;
        VideoWindowRow {
            item: &w.item,
            app: &w.app,
            window_start: w.window_start_ms,
            window_end: w.window_end_ms,
            partition_id,
            generation: w.generation,
            impressions: c.impressions,
            plays: c.plays,
            engaged_plays: c.engaged_plays,
            completions: c.completions,
            pauses: c.pauses,
            duplicates: c.duplicates,
            ignored: c.ignored,
            orphans: c.orphans,
            abandons: c.abandons,
            active_views: c.active_views,
            retention: &c.retention,
            exits: &c.exits,
            seek_from: &c.seek_from,
            seek_to: &c.seek_to,
            version,
            bot_impressions: c.bot_impressions,
            bot_plays: c.bot_plays,
        }
    }
}

/// A viewer's weight in one generation of one window (`video_viewer_weights`).
#[derive(Debug, Row, Serialize)]
pub(super) struct ViewerWeightRow<'a> {
    pub item: &'a str,
    pub app: &'a str,
    pub window_start: i64,
    pub viewer: u64,
    pub partition_id: i32,
    pub generation: u64,
    pub weight: i64,
    pub version: u64,
}

/// A partition's watermark and `final_before` after a batch (`partition_progress`).
#[derive(Debug, Row, Serialize)]
pub(super) struct ProgressRow {
    pub partition_id: i32,
    pub watermark: Option<i64>,
    pub final_before: Option<i64>,
}

/// An archived engine state (`archived_states`).
#[derive(Debug, Row, Serialize)]
pub(super) struct ArchivedRow<'a> {
    pub partition_id: i32,
    pub key: &'a [u8; 16],
    pub version: u64,
    pub expires_at: i64,
    #[serde(with = "serde_bytes")]
    pub state: &'a [u8],
}

/// The newest archived state of a key below a position.
#[derive(Debug, Row, Deserialize)]
pub(super) struct ArchivedDbRow {
    pub key: [u8; 16],
    #[serde(with = "serde_bytes")]
    pub state: Vec<u8>,
}

#[derive(Debug, Row, Serialize)]
pub(super) struct SessionWindowRow<'a> {
    pub source: &'a str,
    pub session_id: &'a str,
    pub window_start: i64,
    pub window_end: i64,
    pub is_final: bool,
    pub joins: u64,
    pub leaves: u64,
    pub attendees: u64,
    pub peak_concurrent: u64,
    pub engagements: &'a BTreeMap<String, u64>,
    pub stream_ms: &'a BTreeMap<String, u64>,
    pub version: u64,
}

impl<'a> SessionWindowRow<'a> {
    pub fn new(w: &'a SessionWindow, version: u64) -> Self {
        let c = &w.counts;
        SessionWindowRow {
            source: &w.source,
            session_id: &w.session_id,
            window_start: w.window_start_ms,
            window_end: w.window_end_ms,
            is_final: w.is_final,
            joins: c.joins,
            leaves: c.leaves,
            attendees: c.attendees,
            peak_concurrent: c.peak_concurrent,
            engagements: &c.engagements,
            stream_ms: &c.stream_ms,
            version,
        }
    }
}

#[derive(Debug, Row, Serialize)]
pub(super) struct SessionSummaryRow<'a> {
    pub source: &'a str,
    pub session_id: &'a str,
    pub started_at: Option<i64>,
    pub ended_at: Option<i64>,
    pub unique_attendees: u64,
    pub engaged_attendees: u64,
    pub attendance_ms: u64,
    pub peak_concurrent: u64,
    pub engagements: &'a BTreeMap<String, u64>,
    pub stream_ms: &'a BTreeMap<String, u64>,
    pub version: u64,
}

impl<'a> SessionSummaryRow<'a> {
    pub fn new(s: &'a SessionSummary, version: u64) -> Self {
        SessionSummaryRow {
            source: &s.source,
            session_id: &s.session_id,
            started_at: s.started_at_ms,
            ended_at: s.ended_at_ms,
            unique_attendees: s.unique_attendees,
            engaged_attendees: s.engaged_attendees,
            attendance_ms: s.attendance_ms,
            peak_concurrent: s.peak_concurrent,
            engagements: &s.engagements,
            stream_ms: &s.stream_ms,
            version,
        }
    }
}

/// One generation of one page-view window of one partition (`page_view_rows`).
#[derive(Debug, Row, Serialize)]
pub(super) struct PageViewRow<'a> {
    pub source: &'a str,
    pub kind: &'a str,
    pub name: &'a str,
    pub window_start: i64,
    pub window_end: i64,
    pub partition_id: i32,
    pub generation: u64,
    pub views: u64,
    pub version: u64,
}

impl<'a> PageViewRow<'a> {
    pub fn new(p: &'a PageViewWindow, partition_id: i32, version: u64) -> Self {
        PageViewRow {
            source: &p.source,
            kind: &p.kind,
            name: &p.name,
            window_start: p.window_start_ms,
            window_end: p.window_end_ms,
            partition_id,
            generation: p.generation,
            views: p.views,
            version,
        }
    }
}

#[derive(Debug, Row, Serialize)]
pub(super) struct UserTraitsRow<'a> {
    pub source: &'a str,
    pub user_key: &'a str,
    pub user_id: &'a str,
    pub anonymous_id: &'a str,
    pub traits: &'a str,
    pub updated_at: i64,
    #[serde(with = "serde_bytes")]
    pub event_id: &'a [u8],
}

impl<'a> UserTraitsRow<'a> {
    pub fn new(t: &'a UserTraits) -> Self {
        UserTraitsRow {
            source: &t.source,
            user_key: &t.user_key,
            user_id: &t.user_id,
            anonymous_id: &t.anonymous_id,
            traits: &t.traits_json,
            updated_at: t.updated_at_ms,
            event_id: &t.event_id,
        }
    }
}

#[derive(Debug, Row, Serialize)]
pub(super) struct AnalyticsEventRow<'a> {
    #[serde(with = "serde_bytes")]
    pub event_id: &'a [u8],
    pub received_at: i64,
    pub event_time: i64,
    pub call: &'a str,
    pub user_id: &'a str,
    pub anonymous_id: &'a str,
    pub name: &'a str,
    pub session_id: &'a str,
    pub properties: &'a str,
    pub traits: &'a str,
    pub context: &'a str,
    pub message_id: &'a str,
    pub app: &'a str,
    pub source: &'a str,
}

impl<'a> AnalyticsEventRow<'a> {
    pub fn new(e: &'a AnalyticsRow) -> Self {
        AnalyticsEventRow {
            event_id: &e.event_id,
            received_at: e.received_at_ms,
            event_time: e.event_time_ms,
            call: &e.call,
            user_id: &e.user_id,
            anonymous_id: &e.anonymous_id,
            name: &e.name,
            session_id: &e.session_id,
            properties: &e.properties_json,
            traits: &e.traits_json,
            context: &e.context_json,
            message_id: &e.message_id,
            app: &e.app,
            source: &e.source,
        }
    }
}

/// A rejected input read back.
#[derive(Debug, Row, Deserialize)]
pub(super) struct RejectedDbRow {
    pub received_at: i64,
    #[serde(with = "serde_bytes")]
    pub event_id: Vec<u8>,
    pub route: String,
    pub reason_code: String,
    pub reason: String,
    pub input: String,
    pub truncated: bool,
}

/// A rejected input to write, borrowed from the batch.
#[derive(Debug, Row, Serialize)]
pub(super) struct RejectedInsertRow<'a> {
    pub received_at: i64,
    #[serde(with = "serde_bytes")]
    pub event_id: &'a [u8],
    pub route: &'a str,
    pub reason_code: &'a str,
    pub reason: &'a str,
    pub input: &'a str,
    pub truncated: bool,
}

impl<'a> RejectedInsertRow<'a> {
    pub fn new(r: &'a RejectedRow) -> Self {
        RejectedInsertRow {
            received_at: r.received_at_ms,
            event_id: &r.event_id,
            route: &r.route,
            reason_code: &r.reason_code,
            reason: &r.reason,
            input: &r.input,
            truncated: r.truncated,
        }
    }
}

impl From<RejectedDbRow> for RejectedRow {
    fn from(r: RejectedDbRow) -> Self {
        RejectedRow {
            event_id: r.event_id,
            received_at_ms: r.received_at,
            route: r.route,
            reason_code: r.reason_code,
            reason: r.reason,
            input: r.input,
            truncated: r.truncated,
        }
    }
}

#[derive(Debug, Row, Serialize)]
pub(super) struct CheckpointRow<'a> {
    pub partition_id: i32,
    pub next_offset: u64,
    #[serde(with = "serde_bytes")]
    pub snapshot: &'a [u8],
}

#[derive(Debug, Row, Deserialize)]
pub(super) struct CheckpointDbRow {
    pub next_offset: u64,
    #[serde(with = "serde_bytes")]
    pub snapshot: Vec<u8>,
}

/// An item's engagement in one row: per-window sums (over apps, partitions and
/// generations) as parallel arrays (sorted by nothing: callers sort), the range's count
/// arrays, distinct viewers and the partitions' smallest `final_before`.
#[derive(Debug, Row, Deserialize)]
pub(super) struct ItemDbRow {
    pub starts: Vec<i64>,
    pub ends: Vec<i64>,
    pub impressions: Vec<i64>,
    pub plays: Vec<i64>,
    pub engaged_plays: Vec<i64>,
    pub completions: Vec<i64>,
    pub pauses: Vec<i64>,
    pub duplicates: Vec<i64>,
    pub ignored: Vec<i64>,
    pub orphans: Vec<i64>,
    pub abandons: Vec<i64>,
    pub active_views: Vec<i64>,
    pub bot_impressions: Vec<i64>,
    pub bot_plays: Vec<i64>,
    pub retention: Vec<i64>,
    pub exits: Vec<i64>,
    pub seek_from: Vec<i64>,
    pub seek_to: Vec<i64>,
    pub viewer_starts: Vec<i64>,
    pub viewer_counts: Vec<u64>,
    pub unique_viewers: u64,
    pub final_before: Option<i64>,
}

/// The count arrays summed element-wise over a range.
#[derive(Debug)]
pub(super) struct CountArrays {
    pub retention: Vec<i64>,
    pub exits: Vec<i64>,
    pub seek_from: Vec<i64>,
    pub seek_to: Vec<i64>,
}

/// The summed counters (signed) and distinct viewers of one item or one application.
#[derive(Debug, Row, Deserialize)]
pub(super) struct SumsDbRow {
    pub key: String,
    pub impressions: i64,
    pub plays: i64,
    pub engaged_plays: i64,
    pub completions: i64,
    pub viewers: u64,
}

#[derive(Debug, Row, Deserialize)]
pub(super) struct SessionSummaryDbRow {
    pub source: String,
    pub session_id: String,
    pub started_at: Option<i64>,
    pub ended_at: Option<i64>,
    pub unique_attendees: u64,
    pub engaged_attendees: u64,
    pub attendance_ms: u64,
    pub peak_concurrent: u64,
    pub engagements: BTreeMap<String, u64>,
    pub stream_ms: BTreeMap<String, u64>,
}

impl From<SessionSummaryDbRow> for SessionSummary {
    fn from(r: SessionSummaryDbRow) -> Self {
        SessionSummary {
            source: r.source,
            session_id: r.session_id,
            started_at_ms: r.started_at,
            ended_at_ms: r.ended_at,
            unique_attendees: r.unique_attendees,
            engaged_attendees: r.engaged_attendees,
            attendance_ms: r.attendance_ms,
            peak_concurrent: r.peak_concurrent,
            engagements: r.engagements,
            stream_ms: r.stream_ms,
        }
    }
}

#[derive(Debug, Row, Deserialize)]
pub(super) struct SessionWindowDbRow {
    pub source: String,
    pub window_start: i64,
    pub window_end: i64,
    pub is_final: bool,
    pub joins: u64,
    pub leaves: u64,
    pub attendees: u64,
    pub peak_concurrent: u64,
    pub engagements: BTreeMap<String, u64>,
    pub stream_ms: BTreeMap<String, u64>,
}
