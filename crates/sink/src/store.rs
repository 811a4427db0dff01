//! The contract between the pipeline and its storage: one trait, plain data types.
//!
//! Writes are full-state and idempotent (see [`Store::commit`]); reads answer the public
//! API's questions, so the answer types here *are* the API's JSON (field names matter).
//! Assembling an answer from summed counters ([`ItemEngagement::new`]) lives here so every
//! backend computes rates the same way.

use crate::error::StoreError;
use engage_model::rollup::{ArchivedState, VideoCounters, VideoWindow};
use engage_model::webinar::{PageViewWindow, SessionSummary, SessionWindow};
use serde::{Serialize, Serializer};

/// Where rollups, rejected inputs and consumer checkpoints are kept.
#[async_trait::async_trait]
pub trait Store: Send + Sync + 'static {
    /// Atomically (one transaction): upsert the full-state window generation rows and viewer
    /// weights (replace by (item, app, window_start, partition, generation), and the viewer
    /// for weights; never by an older version), insert rejected rows (ignore an existing event_id), move the
    /// partition's watermark and `final_before` forward (never back), add the archived
    /// states (and drop the partition's expired ones), and, when the batch carries a
    /// snapshot, save the checkpoint (next offset + snapshot) of `partition`.
    /// Either all of it is durable or none.
    ///
    /// The batch is shared (`Arc`) so a caller retrying after a failure hands the same batch
    /// again without copying its rows and snapshot.
    async fn commit(&self, batch: std::sync::Arc<CommitBatch>) -> Result<(), StoreError>;
    /// Commits the batches of several partitions (a consumer owning many). Each batch has
    /// [`Store::commit`]'s guarantees; a store may merge them into fewer writes (ClickHouse:
    /// one INSERT per table for all). On an error some may be durable: every batch is
    /// idempotent, so the caller retries them all.
    async fn commit_all(&self, batches: &[std::sync::Arc<CommitBatch>]) -> Result<(), StoreError> {
        for batch in batches {
            self.commit(std::sync::Arc::clone(batch)).await?;
        }
        Ok(())
    }
    /// The last committed checkpoint of a partition, None if never committed.
    async fn checkpoint(&self, partition: i32) -> Result<Option<Checkpoint>, StoreError>;
    /// For each key, every archived state of `partition` with a version at or below
    /// `max_version` (keys without one are left out), ordered by key then version. A key may
    /// hold several states (its view came back and left again; the engine picks the newest of
    /// each lineage). A consumer replaying after a crash so reads exactly what the first run
    /// read at the same position.
    async fn load_archived(
        &self,
        partition: i32,
        keys: &[[u8; 16]],
        max_version: u64,
    ) -> Result<Vec<([u8; 16], Vec<u8>)>, StoreError>;
    /// Engagement of one item (optionally one app) over a range, with its timeline.
    async fn item_engagement(&self, q: &ItemQuery) -> Result<ItemEngagement, StoreError>;
    /// Items with the most plays in a range: plays desc, then item asc.
    async fn top_items(&self, q: &TopItemsQuery) -> Result<Vec<ItemSummary>, StoreError>;
    /// One item per application over a range: plays desc, then app asc.
    async fn item_apps(&self, item: &str, range: TimeRange) -> Result<Vec<AppSummary>, StoreError>;
    /// The most recently received rejected inputs, newest first.
    async fn recent_rejected(&self, limit: u32) -> Result<Vec<RejectedRow>, StoreError>;
    /// Engagement of one webinar session (summary and timeline) in each source that has a
    /// session of that id (only `sources`, when given), ordered by source; empty if none.
    async fn session_engagement(
        &self,
        session_id: &str,
        sources: Option<&[String]>,
    ) -> Result<Vec<SessionEngagement>, StoreError>;
    /// Webinar sessions with a (non-empty) window starting in `range` (of `sources` only,
    /// when given), with their whole-session figures: unique attendees desc, then source and
    /// session id asc; at most `limit`.
    async fn top_sessions(
        &self,
        range: TimeRange,
        limit: u32,
        sources: Option<&[String]>,
    ) -> Result<Vec<SessionListing>, StoreError>;
    /// Deletes now what is stored about the persons of an erasure: their traits and raw
    /// analytics events in its source (and in rows written before sources, whose source is
    /// ""). Answers how many rows went. The consumer state forgets them when the erasure
    /// record reaches it (see [`CommitBatch::erasures`]).
    async fn erase(&self, erasure: &Erasure) -> Result<ErasureReport, StoreError>;
    /// Cheap liveness check for /readyz.
    async fn ping(&self) -> Result<(), StoreError>;
}

/// Everything one consumer step makes durable at once.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CommitBatch {
    pub partition: i32,
    /// The first offset *not* covered by this batch; also the version of its full-state rows.
    pub next_offset: u64,
    /// The consumer's serialized state at `next_offset` when this batch moves the partition's
    /// checkpoint (where a restart resumes); None to write results only. A restart then
    /// replays from the older checkpoint and rewrites these rows identically (a lower
    /// version never replaces a higher one), so results can be written often and the
    /// snapshot, which grows with the open state, far less often.
    pub snapshot: Option<Vec<u8>>,
    /// Full-state rows of every window generation that changed (keyed by item, app,
    /// window_start, partition and generation; rows of different generations sum).
    pub windows: Vec<VideoWindow>,
    /// The partition's watermark after this batch (max event time seen, bounded by the
    /// collectors' clocks), when it has one.
    pub watermark_ms: Option<i64>,
    /// Windows ending at or before this are final in this partition (watermark minus the
    /// allowed lateness): no input the collectors accept can change them any more.
    pub final_before_ms: Option<i64>,
    /// Engine states leaving memory that a late event may still need (see
    /// [`Store::load_archived`]); the store may delete each once the partition's watermark
    /// passes its `expires_at_ms`.
    pub archived: Vec<ArchivedState>,
    pub rejected: Vec<RejectedRow>,
    /// Full-state rows of every webinar (session, window) that changed.
    pub session_windows: Vec<SessionWindow>,
    /// Full-state summaries of every webinar session that changed.
    pub session_summaries: Vec<SessionSummary>,
    /// Full-state page/screen view window generations that changed (rows of different
    /// generations sum, like video windows).
    pub page_views: Vec<PageViewWindow>,
    /// Traits of identify calls (the store keeps the latest per user).
    pub user_traits: Vec<UserTraits>,
    /// Every accepted analytics event, raw (insert, ignore an existing event_id).
    pub analytics_events: Vec<AnalyticsRow>,
    /// Erasures the batch saw, with every id the consumer's state linked to the ids asked
    /// for: applied after everything else of the batch, so no row of theirs the batch
    /// carries survives it ([`Store::erase`]'s deletes).
    pub erasures: Vec<Erasure>,
}

/// Whose data to erase: ids of one source, matched against `userId` and `anonymousId`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Erasure {
    pub source: String,
    pub ids: Vec<String>,
}

/// What an erasure deleted (the answer of `DELETE /api/v1/users/{id}` and `engage forget`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ErasureReport {
    /// Rows of `user_traits` deleted.
    pub traits: u64,
    /// Raw analytics events deleted.
    pub events: u64,
}

/// The traits an identify call gave a user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserTraits {
    /// The call's source: traits are kept per (source, user).
    pub source: String,
    /// `userId`, else `anonymousId`.
    pub user_key: String,
    pub user_id: String,
    pub anonymous_id: String,
    /// The traits object, JSON.
    pub traits_json: String,
    /// Event time of the call: the latest wins (ties: the larger event id).
    pub updated_at_ms: i64,
    pub event_id: Vec<u8>,
}

/// One accepted analytics event as received (for ad-hoc BI), keyed by its event id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnalyticsRow {
    pub event_id: Vec<u8>,
    /// The call's source.
    pub source: String,
    pub received_at_ms: i64,
    pub event_time_ms: i64,
    /// `track`, `identify`, `page`, `screen`, `group` or `alias`.
    pub call: String,
    pub user_id: String,
    pub anonymous_id: String,
    /// Track: the event name; page/screen: the name.
    pub name: String,
    pub properties_json: String,
    pub traits_json: String,
    pub context_json: String,
    pub message_id: String,
    pub app: String,
    /// `properties.session_id`, when given.
    pub session_id: String,
}

/// The answer of `GET /api/v1/sessions/{session_id}/engagement` (a public JSON contract).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SessionEngagement {
    /// The source the session belongs to (session ids are per source).
    pub source: String,
    pub session_id: String,
    /// Epoch milliseconds of "Session Started" / "Session Ended", null when not seen.
    pub started_at: Option<i64>,
    pub ended_at: Option<i64>,
    pub unique_attendees: u64,
    pub peak_concurrent: u64,
    /// Mean presence per attendee, seconds; null without attendees.
    pub avg_attendance_seconds: Option<f64>,
    /// Attendees who engaged / attendees; null without attendees.
    pub engaged_share: Option<f64>,
    pub engagements: std::collections::BTreeMap<String, u64>,
    pub stream_seconds: std::collections::BTreeMap<String, f64>,
    /// One point per window, ordered by `window_start`.
    pub timeline: Vec<SessionTimelinePoint>,
}

impl SessionEngagement {
    /// Assembles the answer from a summary and its windows (every backend does it alike).
    pub fn new(summary: &SessionSummary, windows: &[SessionWindow]) -> SessionEngagement {
        let seconds = |ms: &std::collections::BTreeMap<String, u64>| {
            ms.iter().map(|(k, v)| (k.clone(), *v as f64 / 1000.0)).collect()
        };
        SessionEngagement {
            source: summary.source.clone(),
            session_id: summary.session_id.clone(),
            started_at: summary.started_at_ms,
            ended_at: summary.ended_at_ms,
            unique_attendees: summary.unique_attendees,
            peak_concurrent: summary.peak_concurrent,
            avg_attendance_seconds: ratio(summary.attendance_ms, summary.unique_attendees).map(|ms| ms / 1000.0),
            engaged_share: ratio(summary.engaged_attendees, summary.unique_attendees),
            engagements: summary.engagements.clone(),
            stream_seconds: seconds(&summary.stream_ms),
            timeline: windows
                .iter()
                .map(|w| SessionTimelinePoint {
                    window_start: w.window_start_ms,
                    window_end: w.window_end_ms,
                    is_final: w.is_final,
                    attendees: w.counts.attendees,
                    joins: w.counts.joins,
                    leaves: w.counts.leaves,
                    peak_concurrent: w.counts.peak_concurrent,
                    engagements: w.counts.engagements.clone(),
                    stream_seconds: seconds(&w.counts.stream_ms),
                })
                .collect(),
        }
    }
}

/// One row of a list of webinar sessions ([`Store::top_sessions`]): whole-session figures.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SessionListing {
    /// The source the session belongs to.
    pub source: String,
    pub session_id: String,
    /// Epoch milliseconds of "Session Started" / "Session Ended", null when not seen.
    pub started_at: Option<i64>,
    pub ended_at: Option<i64>,
    pub unique_attendees: u64,
    pub peak_concurrent: u64,
    /// Mean presence per attendee, seconds; null without attendees.
    pub avg_attendance_seconds: Option<f64>,
    /// Attendees who engaged / attendees; null without attendees.
    pub engaged_share: Option<f64>,
}

impl SessionListing {
    /// The listing of a summary (every backend computes the ratios alike).
    pub fn new(summary: &SessionSummary) -> SessionListing {
        SessionListing {
            source: summary.source.clone(),
            session_id: summary.session_id.clone(),
            started_at: summary.started_at_ms,
            ended_at: summary.ended_at_ms,
            unique_attendees: summary.unique_attendees,
            peak_concurrent: summary.peak_concurrent,
            avg_attendance_seconds: ratio(summary.attendance_ms, summary.unique_attendees).map(|ms| ms / 1000.0),
            engaged_share: ratio(summary.engaged_attendees, summary.unique_attendees),
        }
    }
}

/// One window of a session's timeline.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SessionTimelinePoint {
    pub window_start: i64,
    pub window_end: i64,
    #[serde(rename = "final")]
    pub is_final: bool,
    pub attendees: u64,
    pub joins: u64,
    pub leaves: u64,
    pub peak_concurrent: u64,
    pub engagements: std::collections::BTreeMap<String, u64>,
    pub stream_seconds: std::collections::BTreeMap<String, f64>,
}

/// Where a partition resumes after a restart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    pub next_offset: u64,
    pub snapshot: Vec<u8>,
}

/// A refused input, kept with its reason for inspection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RejectedRow {
    /// Deterministic id of the input (dedups replays); hex in JSON.
    #[serde(serialize_with = "as_hex")]
    pub event_id: Vec<u8>,
    pub received_at_ms: i64,
    /// Where it came in (e.g. `/ping/dot.gif`, `bus`).
    pub route: String,
    /// A [`engage_model::reject::RejectReason`] code.
    pub reason_code: String,
    /// One human-readable line.
    pub reason: String,
    /// The input as received (possibly cut, see `truncated`).
    pub input: String,
    pub truncated: bool,
}

fn as_hex<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s.serialize_str(&out)
}

/// Epoch-millisecond range: a window counts when `from_ms <= window_start < to_ms`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeRange {
    pub from_ms: i64,
    pub to_ms: i64,
}

impl TimeRange {
    /// Every window.
    pub const ALL: TimeRange = TimeRange { from_ms: i64::MIN, to_ms: i64::MAX };

    /// Whether a window starting at `window_start_ms` is in the range.
    pub fn contains(&self, window_start_ms: i64) -> bool {
        self.from_ms <= window_start_ms && window_start_ms < self.to_ms
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ItemQuery {
    pub item: String,
    /// Only this application; all applications summed when None.
    pub app: Option<String>,
    pub range: TimeRange,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TopItemsQuery {
    pub range: TimeRange,
    pub limit: u32,
}

/// `num / den`, or None when `den` is 0 (rates are null rather than 0 or NaN).
pub fn ratio(num: u64, den: u64) -> Option<f64> {
    // u64 -> f64 loses precision only above 2^53 views, far beyond any real counter.
    (den != 0).then(|| num as f64 / den as f64)
}

/// The answer of `GET /api/v1/items/{item}/engagement` (a public JSON contract).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ItemEngagement {
    pub item: String,
    pub app: Option<String>,
    /// The queried range, epoch milliseconds; an open bound (i64::MIN / i64::MAX) is `null`.
    #[serde(serialize_with = "open_bound")]
    pub from: i64,
    #[serde(serialize_with = "open_bound")]
    pub to: i64,
    pub impressions: u64,
    pub plays: u64,
    pub engaged_plays: u64,
    /// Distinct viewers with a play in the range (exact, not a sum over windows).
    pub unique_viewers: u64,
    pub completions: u64,
    pub pauses: u64,
    pub duplicates: u64,
    pub ignored: u64,
    /// Level-2 events of views that never started (their `firstplay` never arrived).
    pub orphan_events: u64,
    /// Views left playing or paused, closed by silence or by a newer view of the same
    /// viewer and item.
    pub abandons: u64,
    /// plays / impressions.
    pub play_rate: Option<f64>,
    /// completions / engaged_plays.
    pub completion_rate: Option<f64>,
    /// sum(retention) / engaged_plays, in percent.
    pub avg_percent_watched: Option<f64>,
    /// 100 segment counts.
    pub retention: Vec<u64>,
    /// 101 position counts each.
    pub exits: Vec<u64>,
    pub seek_from: Vec<u64>,
    pub seek_to: Vec<u64>,
    /// Views of known crawlers, monitoring agents and headless browsers
    /// (`engage_model::bot`): counted here, in no other field.
    pub bot_impressions: u64,
    pub bot_plays: u64,
    /// One point per window in the range, ordered by `window_start`.
    pub timeline: Vec<TimelinePoint>,
}

impl ItemEngagement {
    /// Assembles the answer from the counters summed over the range (`totals`, every
    /// generation of every window), the exact distinct viewer count and the per-window points.
    pub fn new(
        q: &ItemQuery,
        totals: VideoCounters,
        unique_viewers: u64,
        timeline: Vec<TimelinePoint>,
    ) -> ItemEngagement {
        let totals = UnsignedCounters::from(&totals);
        let watched: u64 = totals.retention.iter().sum();
        ItemEngagement {
            item: q.item.clone(),
            app: q.app.clone(),
            from: q.range.from_ms,
            to: q.range.to_ms,
            impressions: totals.impressions,
            plays: totals.plays,
            engaged_plays: totals.engaged_plays,
            unique_viewers,
            completions: totals.completions,
            pauses: totals.pauses,
            duplicates: totals.duplicates,
            ignored: totals.ignored,
            orphan_events: totals.orphans,
            abandons: totals.abandons,
            play_rate: ratio(totals.plays, totals.impressions),
            completion_rate: ratio(totals.completions, totals.engaged_plays),
            avg_percent_watched: ratio(watched, totals.engaged_plays),
            retention: totals.retention,
            exits: totals.exits,
            seek_from: totals.seek_from,
            seek_to: totals.seek_to,
            bot_impressions: totals.bot_impressions,
            bot_plays: totals.bot_plays,
            timeline,
        }
    }
}

/// Counters summed over generations, as the API shows them. Each sum over all rows of a
/// window is a count and never negative; a negative sum would be a bug, clamped to 0.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UnsignedCounters {
    pub impressions: u64,
    pub plays: u64,
    pub engaged_plays: u64,
    pub completions: u64,
    pub pauses: u64,
    pub duplicates: u64,
    pub ignored: u64,
    pub orphans: u64,
    pub abandons: u64,
    pub active_views: u64,
    pub retention: Vec<u64>,
    pub exits: Vec<u64>,
    pub seek_from: Vec<u64>,
    pub seek_to: Vec<u64>,
    pub bot_impressions: u64,
    pub bot_plays: u64,
}

/// A counter summed over generations as the API shows it (see [`UnsignedCounters`]).
pub(crate) fn clamp_count(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

impl From<&VideoCounters> for UnsignedCounters {
    fn from(c: &VideoCounters) -> Self {
        let n = clamp_count;
        let h = |v: &[i64]| v.iter().map(|x| n(*x)).collect();
        UnsignedCounters {
            impressions: n(c.impressions),
            plays: n(c.plays),
            engaged_plays: n(c.engaged_plays),
            completions: n(c.completions),
            pauses: n(c.pauses),
            duplicates: n(c.duplicates),
            ignored: n(c.ignored),
            orphans: n(c.orphans),
            abandons: n(c.abandons),
            active_views: n(c.active_views),
            retention: h(&c.retention),
            exits: h(&c.exits),
            seek_from: h(&c.seek_from),
            seek_to: h(&c.seek_to),
            bot_impressions: n(c.bot_impressions),
            bot_plays: n(c.bot_plays),
        }
    }
}

/// One window of an item's timeline (summed over applications without an app filter).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TimelinePoint {
    pub window_start: i64,
    pub window_end: i64,
    /// True when the window ends at or before the smallest `final_before` the consumer
    /// partitions reported: no input the collectors accept can change it any more (false
    /// while no partition reported one).
    #[serde(rename = "final")]
    pub is_final: bool,
    pub impressions: u64,
    pub plays: u64,
    pub engaged_plays: u64,
    /// Distinct viewers with a play in this window.
    pub unique_viewers: u64,
    pub completions: u64,
    pub pauses: u64,
    pub active_views: u64,
    /// Bots' views started and played in this window (in no other field).
    pub bot_impressions: u64,
    pub bot_plays: u64,
}

/// One row of `GET /api/v1/items`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ItemSummary {
    pub item: String,
    pub impressions: u64,
    pub plays: u64,
    pub unique_viewers: u64,
    pub completions: u64,
    pub play_rate: Option<f64>,
    pub completion_rate: Option<f64>,
}

/// One row of `GET /api/v1/items/{item}/apps`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AppSummary {
    pub app: String,
    pub impressions: u64,
    pub plays: u64,
    pub unique_viewers: u64,
    pub completions: u64,
    pub play_rate: Option<f64>,
    pub completion_rate: Option<f64>,
}

/// Serializes `i64::MIN` / `i64::MAX` (an unbounded range end) as `null`.
fn open_bound<S: serde::Serializer>(v: &i64, s: S) -> Result<S::Ok, S::Error> {
    if *v == i64::MIN || *v == i64::MAX { s.serialize_none() } else { s.serialize_i64(*v) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratio_is_null_on_zero_denominator() {
        assert_eq!(ratio(0, 0), None);
        assert_eq!(ratio(5, 0), None);
        assert_eq!(ratio(1, 4), Some(0.25));
    }

    #[test]
    fn range_is_half_open() {
        let r = TimeRange { from_ms: 10, to_ms: 20 };
        assert!(r.contains(10));
        assert!(r.contains(19));
        assert!(!r.contains(20));
        assert!(!r.contains(9));
        assert!(TimeRange::ALL.contains(i64::MIN));
        assert!(!TimeRange::ALL.contains(i64::MAX));
    }

    #[test]
    fn rejected_row_serializes_event_id_as_hex() {
        let row = RejectedRow {
            event_id: vec![0x00, 0xab, 0x1f],
            received_at_ms: 5,
            route: "/ping/dot.gif".into(),
            reason_code: "missing_item".into(),
            reason: "parameter `item` is required".into(),
            input: "ts=1".into(),
            truncated: false,
        };
        let json = serde_json::to_value(&row).unwrap();
        assert_eq!(json["event_id"], "00ab1f");
        assert_eq!(json["received_at_ms"], 5);
        assert_eq!(json["truncated"], false);
    }
}
