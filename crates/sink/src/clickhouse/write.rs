//! The write path: consumer batches (one per partition) as one INSERT per non-empty table,
//! checkpoints last.
//!
//! The data inserts run concurrently (they are independent): window generations and viewer
//! weights keyed by their batch's partition, the partitions' watermarks, archived states,
//! and the rest; the checkpoint is inserted only after every one of them was acknowledged.
//! Full-state rows carry `version = next_offset`.

use super::ClickHouseStore;
use super::rows::{
    AnalyticsEventRow, ArchivedRow, CheckpointRow, PageViewRow, ProgressRow, RejectedInsertRow, SessionSummaryRow,
    SessionWindowRow, UserTraitsRow, VideoWindowRow, ViewerWeightRow,
};
use crate::error::StoreError;
use crate::store::CommitBatch;
use clickhouse::{Client, Row, RowWrite};
use std::time::Duration;

/// Writes `batches` (one per partition, or a single one): data rows first, one INSERT per
/// non-empty table for all of them, then the checkpoints, one INSERT. Each row carries its own
/// batch's version, so merging partitions changes nothing but the number of inserts.
pub(super) async fn commit(store: &ClickHouseStore, batches: &[&CommitBatch]) -> Result<(), StoreError> {
    for batch in batches {
        crate::sqlite::write::check_shapes(batch)?;
    }
    let mut windows = Vec::new();
    let mut viewers = Vec::new();
    let mut progress = Vec::new();
    let mut archived = Vec::new();
    let mut session_windows = Vec::new();
    let mut summaries = Vec::new();
    let mut page_views = Vec::new();
    let mut traits = Vec::new();
    let mut events = Vec::new();
    let mut rejected = Vec::new();
    let mut checkpoints = Vec::new();
    for batch in batches {
        let (v, partition_id) = (batch.next_offset, batch.partition);
        windows.extend(batch.windows.iter().map(|w| VideoWindowRow::new(w, partition_id, v)));
        viewers.extend(batch.windows.iter().flat_map(|w| {
            w.viewers.iter().map(move |&(viewer, weight)| ViewerWeightRow {
                item: &w.item,
                app: &w.app,
                window_start: w.window_start_ms,
                viewer,
                partition_id,
                generation: w.generation,
                weight,
                version: v,
            })
        }));
        if batch.watermark_ms.is_some() || batch.final_before_ms.is_some() {
            progress.push(ProgressRow {
                partition_id,
                watermark: batch.watermark_ms,
                final_before: batch.final_before_ms,
            });
        }
        archived.extend(batch.archived.iter().map(|a| ArchivedRow {
            partition_id,
            key: &a.key,
            version: a.version,
            expires_at: a.expires_at_ms,
            state: &a.state,
        }));
        session_windows.extend(batch.session_windows.iter().map(|w| SessionWindowRow::new(w, v)));
        summaries.extend(batch.session_summaries.iter().map(|s| SessionSummaryRow::new(s, v)));
        page_views.extend(batch.page_views.iter().map(|p| PageViewRow::new(p, partition_id, v)));
        traits.extend(batch.user_traits.iter().map(UserTraitsRow::new));
        events.extend(batch.analytics_events.iter().map(AnalyticsEventRow::new));
        rejected.extend(batch.rejected.iter().map(RejectedInsertRow::new));
        if let Some(snapshot) = &batch.snapshot {
            checkpoints.push(CheckpointRow { partition_id: batch.partition, next_offset: v, snapshot });
        }
    }

    tokio::try_join!(
        store.insert::<VideoWindowRow<'_>>("video_window_rows", "insert video windows", &windows),
        store.insert::<ViewerWeightRow<'_>>("video_viewer_weights", "insert viewer weights", &viewers),
        store.insert::<ProgressRow>("partition_progress", "insert partition watermarks", &progress),
        store.insert::<ArchivedRow<'_>>("archived_states", "insert archived states", &archived),
        store.insert::<SessionWindowRow<'_>>("session_windows", "insert session windows", &session_windows),
        store.insert::<SessionSummaryRow<'_>>("session_summaries", "insert session summaries", &summaries),
        store.insert::<PageViewRow<'_>>("page_view_rows", "insert page views", &page_views),
        store.insert::<UserTraitsRow<'_>>("user_traits", "insert user traits", &traits),
        store.insert::<AnalyticsEventRow<'_>>("analytics_events", "insert analytics events", &events),
        store.insert::<RejectedInsertRow<'_>>("rejected", "insert rejected inputs", &rejected),
    )?;
    // Only now: every row the checkpoints cover is acknowledged.
    store.insert::<CheckpointRow<'_>>("checkpoints", "save the checkpoints", &checkpoints).await
}

impl ClickHouseStore {
    /// One INSERT of `rows` into `table` (nothing when empty), retried per the policy.
    async fn insert<T>(&self, table: &str, op: &'static str, rows: &[T::Value<'_>]) -> Result<(), StoreError>
    where
        T: Row + RowWrite,
    {
        if rows.is_empty() {
            return Ok(());
        }
        let timeout = self.config.request_timeout;
        // The crate bounds sending and the answer; the bound around it also covers the
        // first insert's schema lookup.
        let bound = timeout.saturating_mul(2);
        self.config.retry.run(op, || super::bounded(bound, insert_once::<T>(&self.client, table, timeout, rows))).await
    }
}

async fn insert_once<T>(
    client: &Client,
    table: &str,
    timeout: Duration,
    rows: &[T::Value<'_>],
) -> Result<(), clickhouse::error::Error>
where
    T: Row + RowWrite,
{
    let mut insert = client.insert::<T>(table).await?.with_timeouts(Some(timeout), Some(timeout));
    for row in rows {
        insert.write(row).await?;
    }
    insert.end().await
}
