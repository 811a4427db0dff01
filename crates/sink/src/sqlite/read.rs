//! The read path: the API's questions as SQL over the reader connection.
//!
//! Each answer is computed inside one read transaction, so its parts (counters, distinct
//! viewers, timeline, finality) come from the same snapshot even while the consumer
//! commits. A window's numbers are the sum of its rows (every partition and generation);
//! counters over a range are sums of those. Distinct viewers are always counted from the
//! viewer weights, never summed: a viewer has a play in a window of one app when their
//! weights over its rows sum to more than 0 ([`PRESENT`]), and the distinct viewers of a
//! range are those with a play in at least one of its windows, so they are exact for any
//! range. A timeline point is final when its window ends at or before the smallest
//! `final_before` the partitions reported ([`final_before`]).

use super::codec::{counter_from_sql, decode_counts};
use crate::error::{SqlContext, StoreError};
use crate::store::{
    AppSummary, Checkpoint, ItemEngagement, ItemQuery, ItemSummary, RejectedRow, TimeRange, TimelinePoint,
    TopItemsQuery, clamp_count, ratio,
};
use engage_model::rollup::{PERCENT_POSITIONS, RETENTION_SEGMENTS, VideoCounters};
use rusqlite::{Connection, OptionalExtension, Row, params};
use std::collections::HashMap;

/// The (window, app, viewer) triples of item `?1` in `[?2, ?3)` whose weights sum to more
/// than 0 (`{app_clause}` may narrow it to one app). The primary key of
/// `video_viewer_weights` starts (item, window_start, app, viewer), so this is one range
/// scan that groups as it goes.
const PRESENT: &str = "SELECT window_start, app, viewer FROM video_viewer_weights
     WHERE item = ?1 AND window_start >= ?2 AND window_start < ?3 {app_clause}
     GROUP BY window_start, app, viewer HAVING SUM(weight) > 0";

/// [`PRESENT`] with its app condition filled in.
fn present(app_clause: &str) -> String {
    PRESENT.replace("{app_clause}", app_clause)
}

/// The smallest `final_before` of the partitions that reported one; None while none did.
/// Rows migrated from before generations are partition -1, which never reports one.
pub(crate) fn final_before(conn: &Connection) -> Result<Option<i64>, StoreError> {
    conn.prepare_cached("SELECT MIN(final_before) FROM partition_progress WHERE partition_id >= 0")
        .ctx("prepare the finality query")?
        .query_row([], |r| r.get(0))
        .ctx("read the partitions' final_before")
}

/// One timeline point being summed from its rows (signed until the end).
struct PointSums {
    start: i64,
    end: i64,
    impressions: i64,
    plays: i64,
    engaged_plays: i64,
    completions: i64,
    pauses: i64,
    active_views: i64,
    bot_impressions: i64,
    bot_plays: i64,
}

impl PointSums {
    fn add(&mut self, end: i64, c: &VideoCounters) {
        self.end = self.end.max(end);
        self.impressions += c.impressions;
        self.plays += c.plays;
        self.engaged_plays += c.engaged_plays;
        self.completions += c.completions;
        self.pauses += c.pauses;
        self.active_views += c.active_views;
        self.bot_impressions += c.bot_impressions;
        self.bot_plays += c.bot_plays;
    }

    fn into_point(self, final_before: Option<i64>, unique_viewers: u64) -> TimelinePoint {
        TimelinePoint {
            window_start: self.start,
            window_end: self.end,
            is_final: final_before.is_some_and(|f| self.end <= f),
            impressions: clamp_count(self.impressions),
            plays: clamp_count(self.plays),
            engaged_plays: clamp_count(self.engaged_plays),
            unique_viewers,
            completions: clamp_count(self.completions),
            pauses: clamp_count(self.pauses),
            active_views: clamp_count(self.active_views),
            bot_impressions: clamp_count(self.bot_impressions),
            bot_plays: clamp_count(self.bot_plays),
        }
    }
}

/// Engagement of one item (all apps, or one) over a range.
pub(crate) fn item_engagement(conn: &mut Connection, q: &ItemQuery) -> Result<ItemEngagement, StoreError> {
    let tx = conn.transaction().ctx("begin a read")?;
    let app_clause = if q.app.is_some() { "AND app = ?4" } else { "AND ?4 IS NULL" };
    let (item, from, to, app) = (&q.item, q.range.from_ms, q.range.to_ms, &q.app);

    let mut totals = VideoCounters::default();
    let mut points: Vec<PointSums> = Vec::new();
    {
        let sql = format!(
            "SELECT window_start, window_end, {COUNTER_COLUMNS} FROM video_window_rows
             WHERE item = ?1 AND window_start >= ?2 AND window_start < ?3 {app_clause}
             ORDER BY window_start"
        );
        let mut stmt = tx.prepare_cached(&sql).ctx("prepare the window query")?;
        let mut rows = stmt.query(params![item, from, to, app]).ctx("query windows")?;
        while let Some(row) = rows.next().ctx("read a window row")? {
            let start: i64 = column(row, 0, "window_start")?;
            let end: i64 = column(row, 1, "window_end")?;
            let c = read_counters(row, 2)?;
            match points.last_mut() {
                // Same window, another app, partition or generation: sum into the point.
                Some(point) if point.start == start => point.add(end, &c),
                _ => {
                    let mut point = PointSums {
                        start,
                        end,
                        impressions: 0,
                        plays: 0,
                        engaged_plays: 0,
                        completions: 0,
                        pauses: 0,
                        active_views: 0,
                        bot_impressions: 0,
                        bot_plays: 0,
                    };
                    point.add(end, &c);
                    points.push(point);
                }
            }
            totals.merge(&c);
        }
    }

    let present = present(app_clause);
    let unique_viewers = {
        let sql = format!("SELECT COUNT(DISTINCT viewer) FROM ({present})");
        let mut stmt = tx.prepare_cached(&sql).ctx("prepare the distinct viewer query")?;
        let n: i64 = stmt.query_row(params![item, from, to, app], |r| r.get(0)).ctx("count distinct viewers")?;
        counter_from_sql("unique_viewers", n)?
    };
    let mut per_window = HashMap::new();
    if !points.is_empty() {
        let sql = format!("SELECT window_start, COUNT(DISTINCT viewer) FROM ({present}) GROUP BY window_start");
        let mut stmt = tx.prepare_cached(&sql).ctx("prepare the per-window viewer query")?;
        let mut rows = stmt.query(params![item, from, to, app]).ctx("count viewers per window")?;
        while let Some(row) = rows.next().ctx("read a viewer count")? {
            let start: i64 = column(row, 0, "window_start")?;
            per_window.insert(start, counter_from_sql("unique_viewers", column(row, 1, "unique_viewers")?)?);
        }
    }
    let final_before = final_before(&tx)?;
    let timeline = points
        .into_iter()
        .map(|p| {
            let unique = per_window.get(&p.start).copied().unwrap_or(0);
            p.into_point(final_before, unique)
        })
        .collect();
    Ok(ItemEngagement::new(q, totals, unique_viewers, timeline))
}

/// The items with the most plays over a range.
pub(crate) fn top_items(conn: &mut Connection, q: &TopItemsQuery) -> Result<Vec<ItemSummary>, StoreError> {
    let tx = conn.transaction().ctx("begin a read")?;
    let (from, to) = (q.range.from_ms, q.range.to_ms);
    let mut items = Vec::new();
    {
        let mut stmt = tx
            .prepare_cached(
                "SELECT item, SUM(impressions), SUM(plays), SUM(engaged_plays), SUM(completions)
                 FROM video_window_rows WHERE window_start >= ?1 AND window_start < ?2
                 GROUP BY item ORDER BY SUM(plays) DESC, item ASC LIMIT ?3",
            )
            .ctx("prepare the top items query")?;
        let mut rows = stmt.query(params![from, to, q.limit]).ctx("query top items")?;
        while let Some(row) = rows.next().ctx("read a top item")? {
            let item: String = column(row, 0, "item")?;
            items.push((item, read_sums(row, 1)?));
        }
    }
    let sql = format!("SELECT COUNT(DISTINCT viewer) FROM ({})", present("AND ?4 IS NULL"));
    let mut stmt = tx.prepare_cached(&sql).ctx("prepare the distinct viewer query")?;
    let mut out = Vec::with_capacity(items.len());
    for (item, s) in items {
        let no_app: Option<&str> = None;
        let n: i64 = stmt.query_row(params![item, from, to, no_app], |r| r.get(0)).ctx("count distinct viewers")?;
        out.push(ItemSummary {
            item,
            impressions: s.impressions,
            plays: s.plays,
            unique_viewers: counter_from_sql("unique_viewers", n)?,
            completions: s.completions,
            play_rate: ratio(s.plays, s.impressions),
            completion_rate: ratio(s.completions, s.engaged_plays),
        });
    }
    Ok(out)
}

/// One item per application over a range.
pub(crate) fn item_apps(conn: &mut Connection, item: &str, range: TimeRange) -> Result<Vec<AppSummary>, StoreError> {
    let tx = conn.transaction().ctx("begin a read")?;
    let (from, to) = (range.from_ms, range.to_ms);
    let no_app: Option<&str> = None;
    let mut unique = HashMap::new();
    {
        let sql = format!("SELECT app, COUNT(DISTINCT viewer) FROM ({}) GROUP BY app", present("AND ?4 IS NULL"));
        let mut stmt = tx.prepare_cached(&sql).ctx("prepare the per-app viewer query")?;
        let mut rows = stmt.query(params![item, from, to, no_app]).ctx("count viewers per app")?;
        while let Some(row) = rows.next().ctx("read a viewer count")? {
            let app: String = column(row, 0, "app")?;
            unique.insert(app, counter_from_sql("unique_viewers", column(row, 1, "unique_viewers")?)?);
        }
    }
    let mut stmt = tx
        .prepare_cached(
            "SELECT app, SUM(impressions), SUM(plays), SUM(engaged_plays), SUM(completions)
             FROM video_window_rows WHERE item = ?1 AND window_start >= ?2 AND window_start < ?3
             GROUP BY app ORDER BY SUM(plays) DESC, app ASC",
        )
        .ctx("prepare the per-app query")?;
    let mut rows = stmt.query(params![item, from, to]).ctx("query apps")?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().ctx("read an app row")? {
        let app: String = column(row, 0, "app")?;
        let s = read_sums(row, 1)?;
        let unique_viewers = unique.get(&app).copied().unwrap_or(0);
        out.push(AppSummary {
            app,
            impressions: s.impressions,
            plays: s.plays,
            unique_viewers,
            completions: s.completions,
            play_rate: ratio(s.plays, s.impressions),
            completion_rate: ratio(s.completions, s.engaged_plays),
        });
    }
    Ok(out)
}

/// The newest rejected inputs first.
pub(crate) fn recent_rejected(conn: &Connection, limit: u32) -> Result<Vec<RejectedRow>, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT event_id, received_at, route, reason_code, reason, input, truncated FROM rejected
             ORDER BY received_at DESC, event_id DESC LIMIT ?1",
        )
        .ctx("prepare the rejected query")?;
    let mut rows = stmt.query(params![limit]).ctx("query rejected inputs")?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().ctx("read a rejected row")? {
        out.push(RejectedRow {
            event_id: column(row, 0, "event_id")?,
            received_at_ms: column(row, 1, "received_at")?,
            route: column(row, 2, "route")?,
            reason_code: column(row, 3, "reason_code")?,
            reason: column(row, 4, "reason")?,
            input: column(row, 5, "input")?,
            truncated: column(row, 6, "truncated")?,
        });
    }
    Ok(out)
}

/// The checkpoint of a partition.
pub(crate) fn checkpoint(conn: &Connection, partition: i32) -> Result<Option<Checkpoint>, StoreError> {
    let found: Option<(i64, Vec<u8>)> = conn
        .prepare_cached("SELECT next_offset, snapshot FROM checkpoints WHERE partition_id = ?1")
        .ctx("prepare the checkpoint query")?
        .query_row(params![partition], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()
        .ctx("read a checkpoint")?;
    found
        .map(|(offset, snapshot)| Ok(Checkpoint { next_offset: counter_from_sql("next_offset", offset)?, snapshot }))
        .transpose()
}

/// Column order `read_counters` expects.
const COUNTER_COLUMNS: &str = "impressions, plays, engaged_plays, completions, pauses, duplicates, ignored, \
                               orphans, abandons, active_views, retention, exits, seek_from, seek_to, \
                               bot_impressions, bot_plays";

/// Decodes the [`COUNTER_COLUMNS`] starting at column `at`.
fn read_counters(row: &Row<'_>, at: usize) -> Result<VideoCounters, StoreError> {
    let n = |i: usize, what: &'static str| column::<i64>(row, at + i, what);
    let counts = |i: usize, what: &'static str, len: usize| {
        let blob = row
            .get_ref(at + i)
            .and_then(|v| v.as_blob().map_err(Into::into))
            .map_err(|e| StoreError::Corrupt { what, detail: e.to_string() })?;
        decode_counts(what, blob, len)
    };
    Ok(VideoCounters {
        impressions: n(0, "impressions")?,
        plays: n(1, "plays")?,
        engaged_plays: n(2, "engaged_plays")?,
        completions: n(3, "completions")?,
        pauses: n(4, "pauses")?,
        duplicates: n(5, "duplicates")?,
        ignored: n(6, "ignored")?,
        orphans: n(7, "orphans")?,
        abandons: n(8, "abandons")?,
        active_views: n(9, "active_views")?,
        retention: counts(10, "retention", RETENTION_SEGMENTS)?,
        exits: counts(11, "exits", PERCENT_POSITIONS)?,
        seek_from: counts(12, "seek_from", PERCENT_POSITIONS)?,
        seek_to: counts(13, "seek_to", PERCENT_POSITIONS)?,
        bot_impressions: n(14, "bot_impressions")?,
        bot_plays: n(15, "bot_plays")?,
    })
}

/// The summed counters of a summary row (sums over generations, as the API shows them).
struct Sums {
    impressions: u64,
    plays: u64,
    engaged_plays: u64,
    completions: u64,
}

/// Reads `SUM(impressions), SUM(plays), SUM(engaged_plays), SUM(completions)` from column `at`.
fn read_sums(row: &Row<'_>, at: usize) -> Result<Sums, StoreError> {
    let n = |i: usize, what: &'static str| column::<i64>(row, at + i, what).map(clamp_count);
    Ok(Sums {
        impressions: n(0, "impressions")?,
        plays: n(1, "plays")?,
        engaged_plays: n(2, "engaged_plays")?,
        completions: n(3, "completions")?,
    })
}

/// One typed column; a type mismatch means a corrupt row, not a failed statement.
fn column<T: rusqlite::types::FromSql>(row: &Row<'_>, idx: usize, what: &'static str) -> Result<T, StoreError> {
    row.get(idx).map_err(|e| StoreError::Corrupt { what, detail: e.to_string() })
}
