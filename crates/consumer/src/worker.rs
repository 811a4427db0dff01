//! The consumer worker: the async shell that feeds the pure [`crate::engine`] from the bus
//! and commits its results.
//!
//! Exactly-once by construction: each commit writes, in one store transaction, the full state
//! of every window that changed, the rejected inputs seen, a snapshot of the whole engine, and
//! the next offset to read. A worker killed at any instant restarts from the last commit:
//! engine state and position agree, so re-reading the records after that position yields
//! exactly what a run without the crash would have (the engine is deterministic given its
//! input order). The snapshot holds the engine and the [`crate::dedup`] memory together, so
//! repeat suppression survives restarts exactly too. Only after a commit succeeds is the log told it may prune below the position.
//! A failing commit is retried with backoff while reading stops, so nothing advances past
//! unwritten data and memory stays bounded.

use crate::decode::{Decoded, decode};
use crate::dedup::{Dedup, DedupConfig, Verdict};
use crate::engine::{Engine, EngineConfig, EngineConfigError, Outcome};
use crate::metrics as m;
use crate::snapshot;
use engage_bus::embedded::LogReader;
use engage_sink::{CommitBatch, RejectedRow, Store, StoreError};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Worker settings.
#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// The partition this worker owns (the embedded log has one: 0).
    pub partition: i32,
    /// How often open windows are written (the real-time latency bound).
    pub commit_interval: Duration,
    /// Records read per poll.
    pub max_batch: usize,
    /// Records after which a commit happens before the interval is over.
    pub max_uncommitted: usize,
    /// Repeat suppression (event-id horizon and bound).
    pub dedup: DedupConfig,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            partition: 0,
            commit_interval: Duration::from_millis(500),
            max_batch: 4096,
            max_uncommitted: 100_000,
            dedup: DedupConfig::default(),
        }
    }
}

/// Why the worker stopped.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("invalid engine configuration: {0}")]
    InvalidConfig(#[from] EngineConfigError),
    #[error("reading the checkpoint failed: {0}")]
    Checkpoint(#[source] StoreError),
    #[error(transparent)]
    Snapshot(#[from] snapshot::SnapshotError),
    #[error(
        "the saved engine state was built with {saved:?}, but the configuration now says {configured:?}; \
         keep the old settings or start with an empty data directory"
    )]
    ConfigChanged { saved: EngineConfig, configured: EngineConfig },
    #[error("reading the log failed: {0}")]
    Read(String),
}

/// Runs until `shutdown` is cancelled, then commits what it has and returns.
pub async fn run(
    reader: LogReader,
    store: Arc<dyn Store>,
    engine_config: EngineConfig,
    config: WorkerConfig,
    shutdown: CancellationToken,
) -> Result<(), WorkerError> {
    engine_config.validate()?;
    let (mut engine, mut dedup, mut position) = restore(store.as_ref(), engine_config, &config).await?;
    // Everything below the committed position is done with: the log may prune it.
    reader.release(position);
    tracing::info!(partition = config.partition, position, "consumer started");
    let mut pending = Pending::default();
    let mut next_commit = Instant::now() + config.commit_interval;
    loop {
        let wait = next_commit.saturating_duration_since(Instant::now());
        let records = tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            r = reader.read(position, config.max_batch, wait) => r.map_err(|e| WorkerError::Read(e.to_string()))?,
        };
        for record in &records {
            apply(&mut engine, &mut dedup, &record.payload, &mut pending);
            position = record.offset + 1;
        }
        if pending.records > 0 && (Instant::now() >= next_commit || pending.records >= config.max_uncommitted) {
            commit(&mut engine, &dedup, store.as_ref(), &reader, &config, position, &mut pending, &shutdown).await;
        }
        if Instant::now() >= next_commit {
            next_commit = Instant::now() + config.commit_interval;
        }
    }
    if pending.records > 0 {
        let never = CancellationToken::new();
        commit(&mut engine, &dedup, store.as_ref(), &reader, &config, position, &mut pending, &never).await;
    }
    tracing::info!(partition = config.partition, position, "consumer stopped");
    Ok(())
}

async fn restore(
    store: &dyn Store,
    configured: EngineConfig,
    config: &WorkerConfig,
) -> Result<(Engine, Dedup, u64), WorkerError> {
    match store.checkpoint(config.partition).await.map_err(WorkerError::Checkpoint)? {
        None => Ok((Engine::new(configured), Dedup::new(config.dedup), 0)),
        Some(cp) => {
            let (engine, mut dedup) = snapshot::decode(&cp.snapshot)?;
            if *engine.config() != configured {
                return Err(WorkerError::ConfigChanged { saved: engine.config().clone(), configured });
            }
            // A changed horizon is safe to adopt: it only changes how long ids are kept.
            dedup.set_config(config.dedup);
            Ok((engine, dedup, cp.next_offset))
        }
    }
}

/// What has been applied since the last commit.
#[derive(Default)]
struct Pending {
    records: usize,
    rejected: Vec<RejectedRow>,
    outcomes: [u64; 4],
    undecodable: u64,
    repeats: u64,
    analytics: crate::analytics::PendingAnalytics,
}

fn apply(engine: &mut Engine, dedup: &mut Dedup, payload: &[u8], pending: &mut Pending) {
    pending.records += 1;
    match decode(payload) {
        Decoded::Video { event, raw } => {
            if !raw.event_id.is_empty() && dedup.check(&raw.event_id, event.event_time_ms) == Verdict::Repeat {
                pending.repeats += 1;
                return;
            }
            let outcome = engine.record(&event.as_video_event());
            pending.outcomes[m::outcome_index(outcome)] += 1;
            if outcome == Outcome::Late {
                pending.rejected.push(crate::decode::late_row(&raw, &event, engine.watermark_ms()));
            }
        }
        Decoded::Analytics(a) => {
            if !a.event_id.is_empty() && dedup.check(&a.event_id, a.event_time_ms) == Verdict::Repeat {
                pending.repeats += 1;
                return;
            }
            crate::analytics::apply(engine, *a, &mut pending.analytics, &mut pending.rejected);
        }
        Decoded::Rejected(row) => pending.rejected.push(row),
        Decoded::Undecodable(row) => {
            pending.undecodable += 1;
            pending.rejected.push(row);
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn commit(
    engine: &mut Engine,
    dedup: &Dedup,
    store: &dyn Store,
    reader: &LogReader,
    config: &WorkerConfig,
    position: u64,
    pending: &mut Pending,
    shutdown: &CancellationToken,
) {
    let started = Instant::now();
    let windows = engine.flush();
    let analytics = engine.flush_analytics();
    let snapshot = match snapshot::encode(engine, dedup) {
        Ok(s) => s,
        Err(e) => {
            // Serializing plain data cannot fail short of a bug; keep running without advancing.
            tracing::error!(error = %e, "engine snapshot failed; not committing");
            return;
        }
    };
    let batch = Arc::new(CommitBatch {
        partition: config.partition,
        next_offset: position,
        snapshot,
        windows,
        rejected: std::mem::take(&mut pending.rejected),
        session_windows: analytics.session_windows,
        session_summaries: analytics.summaries,
        page_views: analytics.page_views,
        user_traits: std::mem::take(&mut pending.analytics.traits),
        analytics_events: std::mem::take(&mut pending.analytics.events),
    });
    let windows_written = batch.windows.len();
    let mut backoff = Duration::from_millis(100);
    loop {
        // A cheap handle: a retry hands over the same batch, nothing is copied.
        match store.commit(Arc::clone(&batch)).await {
            Ok(()) => break,
            Err(e) => {
                metrics::counter!(m::COMMIT_FAILURES).increment(1);
                tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "commit failed; retrying");
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    // On shutdown, give up: the last good checkpoint stays, nothing is lost.
                    () = shutdown.cancelled() => return,
                }
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
        }
    }
    reader.release(position);
    metrics::counter!(m::REPEATS_DROPPED).increment(pending.repeats);
    metrics::gauge!(m::DEDUP_IDS).set(dedup.len() as f64);
    m::record_commit(
        pending.records,
        &pending.outcomes,
        pending.undecodable,
        windows_written,
        started.elapsed(),
        engine,
    );
    crate::analytics::record_metrics(&pending.analytics);
    *pending = Pending::default();
}
