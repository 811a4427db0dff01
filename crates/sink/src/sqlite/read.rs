//! The read path: the API's questions as SQL over the reader connection.
//!
//! Each answer is computed inside one read transaction, so its parts (counters, distinct
//! viewers, timeline) come from the same snapshot even while the consumer commits. Counters
//! over a range are sums of window rows; distinct viewers are always counted from the
//! viewer rows (`COUNT(DISTINCT viewer)`), never summed, so they are exact for any range.

use super::codec::{counter_from_sql, decode_counts};
use crate::error::{SqlContext, StoreError};
use crate::store::{
    AppSummary, Checkpoint, ItemEngagement, ItemQuery, ItemSummary, RejectedRow, TimeRange, TimelinePoint,
    TopItemsQuery, ratio,
};
use engage_model::rollup::{PERCENT_POSITIONS, RETENTION_SEGMENTS, VideoCounters};
use rusqlite::{Connection, OptionalExtension, Row, params};
use std::collections::HashMap;

/// Engagement of one item (all apps, or one) over a range.
pub(crate) fn item_engagement(conn: &mut Connection, q: &ItemQuery) -> Result<ItemEngagement, StoreError> {
    let tx = conn.transaction().ctx("begin a read")?;
    let app_clause = if q.app.is_some() { "AND app = ?4" } else { "AND ?4 IS NULL" };
    let (item, from, to, app) = (&q.item, q.range.from_ms, q.range.to_ms, &q.app);

    let mut totals = VideoCounters::default();
    let mut timeline: Vec<TimelinePoint> = Vec::new();
    {
        let sql = format!(
            "SELECT window_start, window_end, is_final, {COUNTER_COLUMNS} FROM video_windows
             WHERE item = ?1 AND window_start >= ?2 AND window_start < ?3 {app_clause}
             ORDER BY window_start"
        );
        let mut stmt = tx.prepare_cached(&sql).ctx("prepare the window query")?;
        let mut rows = stmt.query(params![item, from, to, app]).ctx("query windows")?;
        while let Some(row) = rows.next().ctx("read a window row")? {
            let start: i64 = column(row, 0, "window_start")?;
            let end: i64 = column(row, 1, "window_end")?;
            let is_final: bool = column(row, 2, "is_final")?;
            let c = read_counters(row, 3)?;
            match timeline.last_mut() {
                // Same window, another app: sum into the point.
                Some(point) if point.window_start == start => {
                    point.window_end = point.window_end.max(end);
                    point.is_final &= is_final;
                    add_point(point, &c);
                }
                _ => {
                    let mut point =
                        TimelinePoint { window_start: start, window_end: end, is_final, ..TimelinePoint::default() };
                    add_point(&mut point, &c);
                    timeline.push(point);
                }
            }
            totals.merge(&c);
        }
    }

    let viewers_where = format!("WHERE item = ?1 AND window_start >= ?2 AND window_start < ?3 {app_clause}");
    let unique_viewers = {
        let sql = format!("SELECT COUNT(DISTINCT viewer) FROM video_viewers {viewers_where}");
        let mut stmt = tx.prepare_cached(&sql).ctx("prepare the distinct viewer query")?;
        let n: i64 = stmt.query_row(params![item, from, to, app], |r| r.get(0)).ctx("count distinct viewers")?;
        counter_from_sql("unique_viewers", n)?
    };
    if !timeline.is_empty() {
        let sql = format!(
            "SELECT window_start, COUNT(DISTINCT viewer) FROM video_viewers {viewers_where} GROUP BY window_start"
        );
        let mut stmt = tx.prepare_cached(&sql).ctx("prepare the per-window viewer query")?;
        let mut rows = stmt.query(params![item, from, to, app]).ctx("count viewers per window")?;
        let mut per_window = HashMap::new();
        while let Some(row) = rows.next().ctx("read a viewer count")? {
            let start: i64 = column(row, 0, "window_start")?;
            per_window.insert(start, counter_from_sql("unique_viewers", column(row, 1, "unique_viewers")?)?);
        }
        for point in &mut timeline {
            point.unique_viewers = per_window.get(&point.window_start).copied().unwrap_or(0);
        }
    }
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
                 FROM video_windows WHERE window_start >= ?1 AND window_start < ?2
                 GROUP BY item ORDER BY SUM(plays) DESC, item ASC LIMIT ?3",
            )
            .ctx("prepare the top items query")?;
        let mut rows = stmt.query(params![from, to, q.limit]).ctx("query top items")?;
        while let Some(row) = rows.next().ctx("read a top item")? {
            let item: String = column(row, 0, "item")?;
            items.push((item, read_sums(row, 1)?));
        }
    }
    let mut stmt = tx
        .prepare_cached(
            "SELECT COUNT(DISTINCT viewer) FROM video_viewers
             WHERE item = ?1 AND window_start >= ?2 AND window_start < ?3",
        )
        .ctx("prepare the distinct viewer query")?;
    let mut out = Vec::with_capacity(items.len());
    for (item, s) in items {
        let n: i64 = stmt.query_row(params![item, from, to], |r| r.get(0)).ctx("count distinct viewers")?;
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
    let mut unique = HashMap::new();
    {
        let mut stmt = tx
            .prepare_cached(
                "SELECT app, COUNT(DISTINCT viewer) FROM video_viewers
                 WHERE item = ?1 AND window_start >= ?2 AND window_start < ?3 GROUP BY app",
            )
            .ctx("prepare the per-app viewer query")?;
        let mut rows = stmt.query(params![item, from, to]).ctx("count viewers per app")?;
        while let Some(row) = rows.next().ctx("read a viewer count")? {
            let app: String = column(row, 0, "app")?;
            unique.insert(app, counter_from_sql("unique_viewers", column(row, 1, "unique_viewers")?)?);
        }
    }
    let mut stmt = tx
        .prepare_cached(
            "SELECT app, SUM(impressions), SUM(plays), SUM(engaged_plays), SUM(completions)
             FROM video_windows WHERE item = ?1 AND window_start >= ?2 AND window_start < ?3
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
                               abandons, active_views, retention, exits, seek_from, seek_to";

/// Decodes the [`COUNTER_COLUMNS`] starting at column `at`.
fn read_counters(row: &Row<'_>, at: usize) -> Result<VideoCounters, StoreError> {
    let n = |i: usize, what: &'static str| counter_from_sql(what, column(row, at + i, what)?);
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
        abandons: n(7, "abandons")?,
        active_views: n(8, "active_views")?,
        retention: counts(9, "retention", RETENTION_SEGMENTS)?,
        exits: counts(10, "exits", PERCENT_POSITIONS)?,
        seek_from: counts(11, "seek_from", PERCENT_POSITIONS)?,
        seek_to: counts(12, "seek_to", PERCENT_POSITIONS)?,
    })
}

fn add_point(point: &mut TimelinePoint, c: &VideoCounters) {
    point.impressions += c.impressions;
    point.plays += c.plays;
    point.engaged_plays += c.engaged_plays;
    point.completions += c.completions;
    point.pauses += c.pauses;
    point.active_views += c.active_views;
}

/// The summed counters of a summary row.
struct Sums {
    impressions: u64,
    plays: u64,
    engaged_plays: u64,
    completions: u64,
}

/// Reads `SUM(impressions), SUM(plays), SUM(engaged_plays), SUM(completions)` from column `at`.
fn read_sums(row: &Row<'_>, at: usize) -> Result<Sums, StoreError> {
    let n = |i: usize, what: &'static str| counter_from_sql(what, column(row, at + i, what)?);
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
