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
use crate::store::{CommitBatch, Erasure, ErasureReport};
use clickhouse::query::Query;
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
    // Erasures after the rows they may cover (a batch can carry an erased person's events).
    for erasure in batches.iter().flat_map(|b| &b.erasures) {
        erase(store, erasure).await?;
    }
    // Only now: every row the checkpoints cover is acknowledged.
    store.insert::<CheckpointRow<'_>>("checkpoints", "save the checkpoints", &checkpoints).await
}

/// The rows of an erasure (its source's and those from before sources, source "").
const ERASE_TRAITS_WHERE: &str = "source IN (?, '') AND (has(?, user_key) OR has(?, user_id) OR has(?, anonymous_id))";
const ERASE_EVENTS_WHERE: &str = "source IN (?, '') AND (has(?, user_id) OR has(?, anonymous_id))";

/// Deletes an erasure's rows with lightweight deletes (rows vanish from reads at once and
/// from disk at the next merge): counts them first, then deletes, each retried. Deleting
/// twice is harmless, so a retried erasure is too.
pub(super) async fn erase(store: &ClickHouseStore, erasure: &Erasure) -> Result<ErasureReport, StoreError> {
    let (source, ids) = (erasure.source.as_str(), erasure.ids.as_slice());
    if ids.is_empty() {
        return Ok(ErasureReport::default());
    }
    let traits_bound = |q: Query| q.bind(source).bind(ids).bind(ids).bind(ids);
    let events_bound = |q: Query| q.bind(source).bind(ids).bind(ids);
    let count_traits = format!("SELECT count() FROM user_traits WHERE {ERASE_TRAITS_WHERE}");
    let count_events = format!("SELECT count() FROM analytics_events FINAL WHERE {ERASE_EVENTS_WHERE}");
    let (traits, events) = tokio::try_join!(
        store.fetch_one::<u64>("count traits to erase", || traits_bound(store.client.query(&count_traits))),
        store.fetch_one::<u64>("count events to erase", || events_bound(store.client.query(&count_events))),
    )?;
    let delete_traits = format!("DELETE FROM user_traits WHERE {ERASE_TRAITS_WHERE}");
    let delete_events = format!("DELETE FROM analytics_events WHERE {ERASE_EVENTS_WHERE}");
    store.execute("erase user traits", || traits_bound(store.client.query(&delete_traits))).await?;
    store.execute("erase analytics events", || events_bound(store.client.query(&delete_events))).await?;
    Ok(ErasureReport { traits, events })
}

impl ClickHouseStore {
    /// A statement without rows (a DELETE), retried per the policy, each try bounded.
    async fn execute(&self, op: &'static str, query: impl Fn() -> Query) -> Result<(), StoreError> {
        let timeout = self.config.request_timeout;
        self.config.retry.run(op, || super::bounded(timeout, query().execute())).await
    }

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
