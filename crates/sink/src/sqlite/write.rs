//! The write path: one consumer batch in one SQLite transaction.
//!
//! Idempotence comes from the data, not from bookkeeping: window rows (one per window
//! generation of the batch's partition) and viewer weights are full state and replace the
//! previous row of their key only with one at least as new; rejected inputs are a set
//! (`ON CONFLICT DO NOTHING`, which unlike `OR IGNORE` still fails on a CHECK violation);
//! the partition's watermark and `final_before` only move forward; archived states are a
//! set keyed by their version; and the checkpoint is overwritten. Replaying a batch after a
//! crash therefore changes nothing. The checkpoint is written last in the same transaction,
//! so an offset never gets ahead of the rows it covers.

use super::codec::{counter_to_sql, encode_counts, viewer_to_sql};
use crate::error::{SqlContext, StoreError};
use crate::store::CommitBatch;
use engage_model::rollup::{PERCENT_POSITIONS, RETENTION_SEGMENTS, VideoWindow};
use rusqlite::{Connection, Transaction, TransactionBehavior, params};

const UPSERT_WINDOW: &str = "
INSERT INTO video_window_rows (
    item, app, window_start, partition_id, generation, window_end,
    impressions, plays, engaged_plays, completions, pauses, duplicates, ignored, orphans, abandons, active_views,
    retention, exits, seek_from, seek_to, version, bot_impressions, bot_plays
) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23)
ON CONFLICT (item, window_start, app, partition_id, generation) DO UPDATE SET
    window_end = excluded.window_end,
    impressions = excluded.impressions,
    plays = excluded.plays,
    engaged_plays = excluded.engaged_plays,
    completions = excluded.completions,
    pauses = excluded.pauses,
    duplicates = excluded.duplicates,
    ignored = excluded.ignored,
    orphans = excluded.orphans,
    abandons = excluded.abandons,
    active_views = excluded.active_views,
    retention = excluded.retention,
    exits = excluded.exits,
    seek_from = excluded.seek_from,
    seek_to = excluded.seek_to,
    version = excluded.version,
    bot_impressions = excluded.bot_impressions,
    bot_plays = excluded.bot_plays
WHERE excluded.version >= video_window_rows.version";

const UPSERT_WEIGHT: &str = "
INSERT INTO video_viewer_weights (item, app, window_start, viewer, partition_id, generation, weight, version)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
ON CONFLICT (item, window_start, app, viewer, partition_id, generation) DO UPDATE SET
    weight = excluded.weight,
    version = excluded.version
WHERE excluded.version >= video_viewer_weights.version";

const INSERT_REJECTED: &str = "
INSERT INTO rejected (event_id, received_at, route, reason_code, reason, input, truncated)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
ON CONFLICT (event_id) DO NOTHING";

/// Each of watermark and `final_before` keeps the larger of the stored and the new value
/// (a NULL on either side keeps the other): they never move back, even for a stale writer.
const UPSERT_PROGRESS: &str = "
INSERT INTO partition_progress (partition_id, watermark, final_before, updated_at)
VALUES (?1, ?2, ?3, CAST(unixepoch('subsec') * 1000 AS INTEGER))
ON CONFLICT (partition_id) DO UPDATE SET
    watermark = MAX(COALESCE(excluded.watermark, partition_progress.watermark),
                    COALESCE(partition_progress.watermark, excluded.watermark)),
    final_before = MAX(COALESCE(excluded.final_before, partition_progress.final_before),
                       COALESCE(partition_progress.final_before, excluded.final_before)),
    updated_at = excluded.updated_at";

const UPSERT_CHECKPOINT: &str = "
INSERT INTO checkpoints (partition_id, next_offset, snapshot, updated_at)
VALUES (?1, ?2, ?3, CAST(unixepoch('subsec') * 1000 AS INTEGER))
ON CONFLICT (partition_id) DO UPDATE SET
    next_offset = excluded.next_offset,
    snapshot = excluded.snapshot,
    updated_at = excluded.updated_at
WHERE excluded.next_offset >= checkpoints.next_offset";

/// Writes `batch` atomically: everything, or (on any error) nothing; and, when `expiry` is
/// given, deletes what it says has expired.
pub(crate) fn commit(
    conn: &mut Connection,
    batch: &CommitBatch,
    expiry: Option<super::retention::Expiry>,
) -> Result<(), StoreError> {
    check_shapes(batch)?;
    // Immediate: take the write lock up front rather than fail half-way on an upgrade.
    // Full-state rows carry the batch's position as their version: a row is only replaced by
    // one at least as new, so a stale writer (a consumer that lost its partition but still
    // commits) can never roll a row back.
    let version = counter_to_sql("next_offset", batch.next_offset)?;
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).ctx("begin the commit")?;
    {
        write_windows(&tx, batch, version)?;
        let mut rejected = tx.prepare_cached(INSERT_REJECTED).ctx("prepare the rejected insert")?;
        for r in &batch.rejected {
            rejected
                .execute(params![r.event_id, r.received_at_ms, r.route, r.reason_code, r.reason, r.input, r.truncated])
                .ctx("insert a rejected input")?;
        }
        super::analytics::write(&tx, batch, version)?;
        if let Some(expiry) = expiry {
            super::retention::expire(&tx, expiry)?;
        }
        if batch.watermark_ms.is_some() || batch.final_before_ms.is_some() {
            tx.execute(UPSERT_PROGRESS, params![batch.partition, batch.watermark_ms, batch.final_before_ms])
                .ctx("save the partition's watermark")?;
        }
        super::archive::write(&tx, batch)?;
        if let Some(snapshot) = &batch.snapshot {
            tx.execute(UPSERT_CHECKPOINT, params![batch.partition, version, snapshot]).ctx("save the checkpoint")?;
        }
    }
    tx.commit().ctx("commit the batch")
}

/// The batch's window generations and their viewer weights, keyed by its partition.
fn write_windows(tx: &Transaction<'_>, batch: &CommitBatch, version: i64) -> Result<(), StoreError> {
    let mut upsert = tx.prepare_cached(UPSERT_WINDOW).ctx("prepare the window upsert")?;
    let mut weights = tx.prepare_cached(UPSERT_WEIGHT).ctx("prepare the viewer weight upsert")?;
    for w in &batch.windows {
        let c = &w.counters;
        let generation = counter_to_sql("generation", w.generation)?;
        upsert
            .execute(params![
                w.item,
                w.app,
                w.window_start_ms,
                batch.partition,
                generation,
                w.window_end_ms,
                c.impressions,
                c.plays,
                c.engaged_plays,
                c.completions,
                c.pauses,
                c.duplicates,
                c.ignored,
                c.orphans,
                c.abandons,
                c.active_views,
                encode_counts(&c.retention),
                encode_counts(&c.exits),
                encode_counts(&c.seek_from),
                encode_counts(&c.seek_to),
                version,
                c.bot_impressions,
                c.bot_plays,
            ])
            .ctx("upsert a video window")?;
        for &(viewer, weight) in &w.viewers {
            weights
                .execute(params![
                    w.item,
                    w.app,
                    w.window_start_ms,
                    viewer_to_sql(viewer),
                    batch.partition,
                    generation,
                    weight,
                    version
                ])
                .ctx("upsert a viewer weight")?;
        }
    }
    Ok(())
}

/// Refuses a batch whose windows' count arrays do not have their documented lengths
/// (every store checks this before writing anything: readers rely on it).
pub(crate) fn check_shapes(batch: &CommitBatch) -> Result<(), StoreError> {
    batch.windows.iter().try_for_each(check_shape)
}

/// The count arrays must have their documented lengths: readers rely on it.
fn check_shape(w: &VideoWindow) -> Result<(), StoreError> {
    let c = &w.counters;
    let arrays = [
        ("retention", c.retention.len(), RETENTION_SEGMENTS),
        ("exits", c.exits.len(), PERCENT_POSITIONS),
        ("seek_from", c.seek_from.len(), PERCENT_POSITIONS),
        ("seek_to", c.seek_to.len(), PERCENT_POSITIONS),
    ];
    for (name, len, expected) in arrays {
        if len != expected {
            return Err(StoreError::InvalidBatch(format!(
                "window ({}, {}, {}) has {len} {name} slots, expected {expected}",
                w.item, w.app, w.window_start_ms
            )));
        }
    }
    Ok(())
}
