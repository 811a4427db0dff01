//! The embedded worker: the async shell that feeds one [`PartitionState`] from the embedded
//! log and commits its results (the Kafka consumer in `engage-kafka` drives the same state per
//! assigned partition).
//!
//! Exactly-once by construction: each commit writes, in one store transaction, the full state
//! of every window that changed, the rejected inputs seen, a snapshot of the engine and dedup
//! memory, and the next offset to read (see [`crate::partition`]). A worker killed at any
//! instant restarts from the last commit with state and position in agreement. Only after a
//! commit succeeds is the log told it may prune below the position. A failing commit is
//! retried with backoff while reading stops, so nothing advances past unwritten data and
//! memory stays bounded.

use crate::dedup::DedupConfig;
use crate::engine::EngineConfig;
use crate::partition::{PartitionState, RestoreError, Snapshot, commit_partition};
use engage_bus::embedded::LogReader;
use engage_sink::Store;
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
    /// How often a commit also moves the checkpoint (writes the state snapshot).
    pub snapshot_interval: Duration,
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
            snapshot_interval: Duration::from_secs(10),
            dedup: DedupConfig::default(),
        }
    }
}

/// Why the worker stopped.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error(transparent)]
    Restore(#[from] RestoreError),
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
    let mut state = PartitionState::restore(store.as_ref(), config.partition, engine_config, config.dedup).await?;
    // Everything below the checkpoint is done with: the log may prune it.
    reader.release(state.checkpoint());
    tracing::info!(partition = config.partition, position = state.position(), "consumer started");
    let mut next_commit = Instant::now() + config.commit_interval;
    loop {
        let wait = next_commit.saturating_duration_since(Instant::now());
        let records = tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            r = reader.read(state.position(), config.max_batch, wait) => r.map_err(|e| WorkerError::Read(e.to_string()))?,
        };
        let batch: Vec<(u64, &[u8])> = records.iter().map(|r| (r.offset, r.payload.as_slice())).collect();
        if state.apply_batch(&batch, store.as_ref(), &shutdown).await.is_err() {
            // Shutdown while a store read was retried: commit what was applied, then stop.
            break;
        }
        let due = Instant::now() >= next_commit || state.pending_records() >= config.max_uncommitted;
        let snapshot = Snapshot::Every(config.snapshot_interval);
        if due
            && state.needs_commit(snapshot)
            && commit_partition(&mut state, store.as_ref(), snapshot, &shutdown).await
        {
            // Only a durable checkpoint lets the log prune below it (a restart replays from it).
            reader.release(state.checkpoint());
        }
        if Instant::now() >= next_commit {
            next_commit = Instant::now() + config.commit_interval;
        }
    }
    if state.needs_commit(Snapshot::Now) {
        let never = CancellationToken::new();
        if commit_partition(&mut state, store.as_ref(), Snapshot::Now, &never).await {
            reader.release(state.checkpoint());
        }
    }
    tracing::info!(partition = config.partition, position = state.position(), "consumer stopped");
    Ok(())
}
