//! The read path: the API's questions in ClickHouse SQL, answered exactly like SQLite does.
//!
//! Full-state tables are read with `FINAL` (one row per key: the highest version). A
//! window's numbers are the sum of its rows (every partition and generation); counters over
//! a range are sums of those. Distinct viewers are never summed: a viewer has a play in a
//! window of one app when their weights over its rows sum to more than 0 ([`PRESENT`]), and
//! the distinct viewers of a range are `uniqExact(viewer)` over those, so they are exact for
//! any range. A timeline point is final when its window ends at or before the smallest
//! `final_before` the partitions reported ([`FINAL_BEFORE`]). Ranges are compared on epoch
//! milliseconds (`toUnixTimestamp64Milli(window_start)`, which ClickHouse still matches
//! against the primary key), so any i64 bound works and an open bound is no condition at
//! all. Each answer is one query where it can be (one round trip; the parts of each table
//! are those current when it starts). Unlike SQLite's, an answer read while a commit is
//! half-written may show some of its tables' new rows and not others yet: each is still a
//! state that was, or is about to be, committed.

use super::ClickHouseStore;
use super::rows::{
    CheckpointDbRow, CountArrays, ItemDbRow, RejectedDbRow, SessionSummaryDbRow, SessionWindowDbRow, SumsDbRow,
};
use crate::error::StoreError;
use crate::store::{
    AppSummary, Checkpoint, ItemEngagement, ItemQuery, ItemSummary, RejectedRow, SessionEngagement, SessionListing,
    TimeRange, TimelinePoint, TopItemsQuery, clamp_count, ratio,
};
use clickhouse::query::Query;
use engage_model::rollup::{PERCENT_POSITIONS, RETENTION_SEGMENTS, VideoCounters};
use engage_model::webinar::{SessionSummary, SessionWindow, SessionWindowCounts};
use std::collections::HashMap;

/// ` AND` conditions selecting windows of `range` (nothing for an open bound).
fn range_sql(range: TimeRange) -> String {
    let mut sql = String::new();
    if range.from_ms != i64::MIN {
        sql.push_str(&format!(" AND toUnixTimestamp64Milli(window_start) >= {}", range.from_ms));
    }
    if range.to_ms != i64::MAX {
        sql.push_str(&format!(" AND toUnixTimestamp64Milli(window_start) < {}", range.to_ms));
    }
    sql
}

/// The (item, window, app, viewer) of `video_viewer_weights` matching `{filter}` whose
/// weights sum to more than 0: viewers with a play in a window of an app.
const PRESENT: &str = "SELECT item, window_start, app, viewer FROM video_viewer_weights FINAL WHERE {filter}
     GROUP BY item, window_start, app, viewer HAVING sum(weight) > 0";

/// [`PRESENT`] for a filter.
fn present(filter: &str) -> String {
    PRESENT.replace("{filter}", filter)
}

/// The smallest `final_before` of the partitions that reported one (epoch ms), NULL while
/// none did. Partition -1 (rows from before generations) never reports one.
const FINAL_BEFORE: &str = "(SELECT toUnixTimestamp64Milli(min(fb)) FROM
     (SELECT max(final_before) AS fb FROM partition_progress WHERE partition_id >= 0 GROUP BY partition_id))";

/// The summary columns of top items and per-app answers.
const SUMMARY_SUMS: &str = "sum(impressions) AS impressions, sum(plays) AS plays, \
     sum(engaged_plays) AS engaged_plays, sum(completions) AS completions";

impl ClickHouseStore {
    pub(super) async fn read_item_engagement(&self, q: &ItemQuery) -> Result<ItemEngagement, StoreError> {
        // One query, one round trip: the per-window sums, the range's count arrays, the
        // per-window and the whole-range distinct viewers, the finality bound. Each table's
        // parts are the ones current when the query starts, so the parts of the answer agree
        // with each other. Per-window values come as parallel arrays (filled from the same
        // rows in the same order, so element i of each is one window).
        let filter = format!("item = ?{}{}", if q.app.is_some() { " AND app = ?" } else { "" }, range_sql(q.range));
        let present = present(&filter);
        let sql = format!(
            "SELECT starts, ends, impressions, plays, engaged_plays, completions, pauses, duplicates,
                    ignored, orphans, abandons, active_views, bot_impressions, bot_plays,
                    retention, exits, seek_from, seek_to, viewer_starts, viewer_counts, unique_viewers, {FINAL_BEFORE} AS final_before
             FROM
             (
                 SELECT groupArray(w_start) AS starts, groupArray(w_end) AS ends,
                        groupArray(i) AS impressions, groupArray(p) AS plays, groupArray(ep) AS engaged_plays,
                        groupArray(c) AS completions, groupArray(pa) AS pauses, groupArray(d) AS duplicates,
                        groupArray(ig) AS ignored, groupArray(o) AS orphans, groupArray(ab) AS abandons,
                        groupArray(av) AS active_views, groupArray(bi) AS bot_impressions,
                        groupArray(bp) AS bot_plays,
                        sumForEach(r) AS retention, sumForEach(e) AS exits, sumForEach(sf) AS seek_from,
                        sumForEach(st) AS seek_to
                 FROM
                 (
                     SELECT toUnixTimestamp64Milli(window_start) AS w_start, toUnixTimestamp64Milli(max(window_end)) AS w_end,
                            sum(impressions) AS i, sum(plays) AS p, sum(engaged_plays) AS ep,
                            sum(completions) AS c, sum(pauses) AS pa, sum(duplicates) AS d, sum(ignored) AS ig,
                            sum(orphans) AS o, sum(abandons) AS ab, sum(active_views) AS av,
                            sum(bot_impressions) AS bi, sum(bot_plays) AS bp, sumForEach(retention) AS r,
                            sumForEach(exits) AS e, sumForEach(seek_from) AS sf, sumForEach(seek_to) AS st
                     FROM video_window_rows FINAL WHERE {filter} GROUP BY window_start
                 )
             ) AS w
             CROSS JOIN
             (
                 SELECT groupArray(w_start) AS viewer_starts, groupArray(n) AS viewer_counts,
                        uniqExactMerge(state) AS unique_viewers
                 FROM
                 (
                     SELECT toUnixTimestamp64Milli(window_start) AS w_start, uniqExact(viewer) AS n,
                            uniqExactState(viewer) AS state
                     FROM ({present}) GROUP BY window_start
                 )
             ) AS v"
        );
        let r = self
            .fetch_one::<ItemDbRow>("read an item's engagement", || {
                let mut query = self.client.query(&sql);
                for _ in 0..2 {
                    query = query.bind(&q.item);
                    if let Some(app) = &q.app {
                        query = query.bind(app);
                    }
                }
                query
            })
            .await?;
        let n = r.starts.len();
        let lengths = [
            r.ends.len(),
            r.impressions.len(),
            r.plays.len(),
            r.engaged_plays.len(),
            r.completions.len(),
            r.pauses.len(),
            r.duplicates.len(),
            r.ignored.len(),
            r.orphans.len(),
            r.abandons.len(),
            r.active_views.len(),
            r.bot_impressions.len(),
            r.bot_plays.len(),
        ];
        if lengths.iter().any(|&l| l != n) || r.viewer_counts.len() != r.viewer_starts.len() {
            return Err(StoreError::Corrupt { what: "timeline", detail: format!("{n} windows, columns {lengths:?}") });
        }
        let per_window: HashMap<i64, u64> =
            r.viewer_starts.iter().copied().zip(r.viewer_counts.iter().copied()).collect();
        let mut totals =
            CountArrays { retention: r.retention, exits: r.exits, seek_from: r.seek_from, seek_to: r.seek_to }
                .into_counters()?;
        let mut timeline: Vec<TimelinePoint> = (0..n)
            .map(|k| {
                totals.impressions += r.impressions[k];
                totals.plays += r.plays[k];
                totals.engaged_plays += r.engaged_plays[k];
                totals.completions += r.completions[k];
                totals.pauses += r.pauses[k];
                totals.duplicates += r.duplicates[k];
                totals.ignored += r.ignored[k];
                totals.orphans += r.orphans[k];
                totals.abandons += r.abandons[k];
                totals.active_views += r.active_views[k];
                totals.bot_impressions += r.bot_impressions[k];
                totals.bot_plays += r.bot_plays[k];
                TimelinePoint {
                    window_start: r.starts[k],
                    window_end: r.ends[k],
                    is_final: r.final_before.is_some_and(|f| r.ends[k] <= f),
                    impressions: clamp_count(r.impressions[k]),
                    plays: clamp_count(r.plays[k]),
                    engaged_plays: clamp_count(r.engaged_plays[k]),
                    unique_viewers: per_window.get(&r.starts[k]).copied().unwrap_or(0),
                    completions: clamp_count(r.completions[k]),
                    pauses: clamp_count(r.pauses[k]),
                    active_views: clamp_count(r.active_views[k]),
                    bot_impressions: clamp_count(r.bot_impressions[k]),
                    bot_plays: clamp_count(r.bot_plays[k]),
                }
            })
            .collect();
        timeline.sort_unstable_by_key(|p| p.window_start);
        Ok(ItemEngagement::new(q, totals, r.unique_viewers, timeline))
    }

    pub(super) async fn read_top_items(&self, q: &TopItemsQuery) -> Result<Vec<ItemSummary>, StoreError> {
        // The top items first, then the distinct viewers of just those (counting every
        // item's viewers would cost far more than the sums).
        let range = range_sql(q.range);
        let top = format!(
            "SELECT item AS key, {SUMMARY_SUMS} FROM video_window_rows FINAL WHERE 1 {range}
             GROUP BY item ORDER BY plays DESC, item ASC LIMIT {}",
            q.limit
        );
        let present = present(&format!("item IN (SELECT key FROM ({top})) {range}"));
        let sql = format!(
            "SELECT key, impressions, plays, engaged_plays, completions, viewers
             FROM ({top}) AS w
             LEFT JOIN
             (SELECT item AS key, uniqExact(viewer) AS viewers FROM ({present}) GROUP BY item) AS v
             USING key
             ORDER BY plays DESC, key ASC"
        );
        let items = self.fetch_all::<SumsDbRow>("read top items", || self.client.query(&sql)).await?;
        Ok(items
            .into_iter()
            .map(|s| {
                let (impressions, plays) = (clamp_count(s.impressions), clamp_count(s.plays));
                let (completions, engaged_plays) = (clamp_count(s.completions), clamp_count(s.engaged_plays));
                ItemSummary {
                    unique_viewers: s.viewers,
                    impressions,
                    plays,
                    completions,
                    play_rate: ratio(plays, impressions),
                    completion_rate: ratio(completions, engaged_plays),
                    item: s.key,
                }
            })
            .collect())
    }

    pub(super) async fn read_item_apps(&self, item: &str, range: TimeRange) -> Result<Vec<AppSummary>, StoreError> {
        let range = range_sql(range);
        let present = present(&format!("item = ? {range}"));
        let sql = format!(
            "SELECT key, impressions, plays, engaged_plays, completions, viewers
             FROM (SELECT app AS key, {SUMMARY_SUMS} FROM video_window_rows FINAL WHERE item = ? {range} GROUP BY app) AS w
             LEFT JOIN
             (SELECT app AS key, uniqExact(viewer) AS viewers FROM ({present}) GROUP BY app) AS v
             USING key
             ORDER BY plays DESC, key ASC"
        );
        let apps = self
            .fetch_all::<SumsDbRow>("read an item's apps", || self.client.query(&sql).bind(item).bind(item))
            .await?;
        Ok(apps
            .into_iter()
            .map(|s| {
                let (impressions, plays) = (clamp_count(s.impressions), clamp_count(s.plays));
                let (completions, engaged_plays) = (clamp_count(s.completions), clamp_count(s.engaged_plays));
                AppSummary {
                    unique_viewers: s.viewers,
                    impressions,
                    plays,
                    completions,
                    play_rate: ratio(plays, impressions),
                    completion_rate: ratio(completions, engaged_plays),
                    app: s.key,
                }
            })
            .collect())
    }

    pub(super) async fn read_recent_rejected(&self, limit: u32) -> Result<Vec<RejectedRow>, StoreError> {
        let sql = format!(
            "SELECT received_at, event_id, route, reason_code, reason, input, truncated FROM rejected FINAL
             ORDER BY received_at DESC, event_id DESC LIMIT {limit}"
        );
        let rows = self.fetch_all::<RejectedDbRow>("read rejected inputs", || self.client.query(&sql)).await?;
        Ok(rows.into_iter().map(RejectedRow::from).collect())
    }

    pub(super) async fn read_checkpoint(&self, partition: i32) -> Result<Option<Checkpoint>, StoreError> {
        // The highest offset wins even before a merge (a zombie's lower one never does).
        let sql = "SELECT next_offset, snapshot FROM checkpoints WHERE partition_id = ?
                   ORDER BY next_offset DESC LIMIT 1";
        let rows =
            self.fetch_all::<CheckpointDbRow>("read a checkpoint", || self.client.query(sql).bind(partition)).await?;
        Ok(rows.into_iter().next().map(|r| Checkpoint { next_offset: r.next_offset, snapshot: r.snapshot }))
    }

    pub(super) async fn read_session_engagement(
        &self,
        id: &str,
        sources: Option<&[String]>,
    ) -> Result<Vec<SessionEngagement>, StoreError> {
        let only = sources_sql(sources);
        let summary_sql = format!(
            "SELECT {SUMMARY_COLUMNS} FROM session_summaries FINAL WHERE session_id = ? {only} ORDER BY source"
        );
        let windows_sql = format!(
            "SELECT source, window_start, window_end, is_final, joins, leaves, attendees, peak_concurrent,
                    engagements, stream_ms
             FROM session_windows FINAL WHERE session_id = ? {only} ORDER BY source, window_start"
        );
        let (summaries, windows) = tokio::try_join!(
            self.fetch_all::<SessionSummaryDbRow>("read a session summary", || {
                bind_sources(self.client.query(&summary_sql).bind(id), sources)
            }),
            self.fetch_all::<SessionWindowDbRow>("read session windows", || {
                bind_sources(self.client.query(&windows_sql).bind(id), sources)
            }),
        )?;
        let windows: Vec<SessionWindow> = windows
            .into_iter()
            .map(|r| SessionWindow {
                source: r.source,
                session_id: id.to_owned(),
                window_start_ms: r.window_start,
                window_end_ms: r.window_end,
                is_final: r.is_final,
                counts: SessionWindowCounts {
                    joins: r.joins,
                    leaves: r.leaves,
                    attendees: r.attendees,
                    peak_concurrent: r.peak_concurrent,
                    engagements: r.engagements,
                    stream_ms: r.stream_ms,
                },
            })
            // A window an out-of-order event emptied is not part of the timeline.
            .filter(|w| w.counts != SessionWindowCounts::default())
            .collect();
        Ok(summaries
            .into_iter()
            .map(|s| {
                let summary = SessionSummary::from(s);
                let mine: Vec<SessionWindow> = windows.iter().filter(|w| w.source == summary.source).cloned().collect();
                SessionEngagement::new(&summary, &mine)
            })
            .collect())
    }

    pub(super) async fn read_top_sessions(
        &self,
        range: TimeRange,
        limit: u32,
        sources: Option<&[String]>,
    ) -> Result<Vec<SessionListing>, StoreError> {
        // Sessions with a non-empty window in the range; the emptiness test runs on the
        // FINAL rows (a WHERE after FINAL), never on an older version of a window.
        let only = sources_sql(sources);
        let active_sql = format!(
            "SELECT DISTINCT source, session_id FROM session_windows FINAL WHERE 1 {} {only}
               AND NOT (joins = 0 AND leaves = 0 AND attendees = 0 AND peak_concurrent = 0
                        AND empty(engagements) AND empty(stream_ms))",
            range_sql(range)
        );
        let sql = format!(
            "SELECT {SUMMARY_COLUMNS} FROM session_summaries FINAL WHERE (source, session_id) IN ({active_sql})
             ORDER BY unique_attendees DESC, source ASC, session_id ASC LIMIT {limit}"
        );
        let rows = self
            .fetch_all::<SessionSummaryDbRow>("read top sessions", || bind_sources(self.client.query(&sql), sources))
            .await?;
        Ok(rows.into_iter().map(|r| SessionListing::new(&SessionSummary::from(r))).collect())
    }
}

/// The condition of a sources filter (`AND has(?, source)`, bound by [`bind_sources`]), or
/// nothing for every source.
fn sources_sql(sources: Option<&[String]>) -> &'static str {
    if sources.is_some() { "AND has(?, source)" } else { "" }
}

fn bind_sources(query: Query, sources: Option<&[String]>) -> Query {
    match sources {
        Some(s) => query.bind(s),
        None => query,
    }
}

/// The columns of a session summary, in [`SessionSummaryDbRow`] order.
const SUMMARY_COLUMNS: &str = "source, session_id, started_at, ended_at, unique_attendees, engaged_attendees, \
     attendance_ms, peak_concurrent, engagements, stream_ms";

impl CountArrays {
    /// Counters holding these arrays (zeros when no window matched), shapes checked.
    fn into_counters(self) -> Result<VideoCounters, StoreError> {
        let mut c = VideoCounters::default();
        let arrays = [
            ("retention", self.retention, RETENTION_SEGMENTS, &mut c.retention),
            ("exits", self.exits, PERCENT_POSITIONS, &mut c.exits),
            ("seek_from", self.seek_from, PERCENT_POSITIONS, &mut c.seek_from),
            ("seek_to", self.seek_to, PERCENT_POSITIONS, &mut c.seek_to),
        ];
        for (what, values, len, slot) in arrays {
            match values.len() {
                0 => {}
                n if n == len => *slot = values,
                n => return Err(StoreError::Corrupt { what, detail: format!("{n} elements, expected {len}") }),
            }
        }
        Ok(c)
    }
}
