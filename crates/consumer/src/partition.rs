//! The consumer state of one partition, and the commit step every worker shares.
//!
//! A partition's state is its window engine, its repeat-suppression memory, the next offset
//! to apply and what changed since the last commit. Both workers (the embedded log's and the
//! Kafka consumer's, which holds one per assigned partition) drive it the same way:
//! [`PartitionState::restore`] from the store's checkpoint, [`PartitionState::apply_batch`]
//! for the records of each poll in offset order, then [`PartitionState::take_batch`] and
//! [`commit_with_retry`].
//!
//! A late event whose view left the engine's memory needs that view's archived state: the
//! batch's events that may need one are looked up in one store read before they are applied
//! (and any the engine still asks for, one read each), at or below the record's offset, so a
//! replay reads exactly what the first run read.
//!
//! Results (full-state rows versioned by offset) are written every commit; the checkpoint
//! (next offset + snapshot of engine and dedup) with them, but only every snapshot interval,
//! since the snapshot grows with the open state. Restarting from a checkpoint and re-applying
//! the records after it yields exactly what an uninterrupted run would have (the engine is
//! deterministic given its input order, and one partition's order is fixed); rows written
//! after the checkpoint are rewritten identically by the replay, and a store never lets a
//! lower version replace a higher one, so the replay cannot roll anything back either.

use crate::decode::{Decoded, OwnedVideoEvent, decode};
use crate::dedup::{Dedup, DedupConfig, Verdict};
use crate::engine::{Engine, EngineConfig, EngineConfigError, Outcome};
use crate::metrics as m;
use crate::snapshot;
use engage_sink::{CommitBatch, Erasure, RejectedRow, Store, StoreError};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Why a partition's state could not be restored.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error("invalid engine configuration: {0}")]
    InvalidConfig(#[from] EngineConfigError),
    #[error("reading the checkpoint of partition {partition} failed: {source}")]
    Checkpoint { partition: i32, source: StoreError },
    #[error(transparent)]
    Snapshot(#[from] snapshot::SnapshotError),
    #[error(
        "the saved engine state was built with {saved:?}, but the configuration now says {configured:?}; \
         keep the old settings or start with an empty store"
    )]
    ConfigChanged { saved: EngineConfig, configured: EngineConfig },
}

/// What applying one record did, for callers that route bad records elsewhere.
#[derive(Debug, PartialEq, Eq)]
pub enum Applied {
    /// Counted, ignored, repeated or kept as a rejected row: nothing more to do.
    Done,
    /// The record is not a RawEvent (kept as a rejected row too); the reason says why.
    Undecodable { reason: String },
    /// The offset is below the position: already part of the state (a replay), skipped.
    AlreadyApplied,
}

/// The counters of what was applied since the last commit, reported once it is durable.
#[derive(Debug, Default)]
pub struct CommitStats {
    records: usize,
    outcomes: [u64; Outcome::ALL.len()],
    undecodable: u64,
    repeats: u64,
    windows: usize,
    archived: usize,
    /// Store reads of archived views, states read, and states that did not decode.
    archive_reads: u64,
    archive_states: u64,
    archive_undecodable: u64,
    /// Viewers flagged for too many views open at once (see `engage_engine::crowds`).
    implausible_viewers: u64,
    /// Video events a bot sent (counted apart: bot impressions and plays).
    bot_events: u64,
    analytics: crate::analytics::PendingAnalytics,
    /// Values the engine recorded as `(other)`, per dimension.
    overflow: engage_model::dimension::Overflow,
}

/// Archived states read for a batch, by key.
#[derive(Debug, Default)]
struct ArchiveCache {
    states: HashMap<[u8; 16], Vec<Vec<u8>>>,
}

impl ArchiveCache {
    /// Reads `keys` at or below `max_version`, retrying until it succeeds or `shutdown`.
    async fn fetch(
        &mut self,
        store: &dyn Store,
        partition: i32,
        keys: &[[u8; 16]],
        max_version: u64,
        shutdown: &CancellationToken,
    ) -> Result<(), Interrupted> {
        let mut backoff = Duration::from_millis(100);
        loop {
            match store.load_archived(partition, keys, max_version).await {
                Ok(rows) => {
                    for key in keys {
                        self.states.entry(*key).or_default();
                    }
                    for (key, state) in rows {
                        self.states.entry(key).or_default().push(state);
                    }
                    return Ok(());
                }
                Err(e) => {
                    metrics::counter!(m::ARCHIVE_READ_FAILURES).increment(1);
                    tracing::warn!(partition, error = %e, "reading archived views failed; retrying");
                    tokio::select! {
                        () = tokio::time::sleep(jittered(backoff)) => {}
                        () = shutdown.cancelled() => return Err(Interrupted),
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                }
            }
        }
    }
}

/// Shutdown came while a store read was being retried: nothing from the record on applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("interrupted by shutdown")]
pub struct Interrupted;

/// The video events a decoded record feeds the engine (a pingback, or bridged Video Spec
/// events of a Segment call).
fn video_events(d: &Decoded) -> Vec<OwnedVideoEvent> {
    match d {
        Decoded::Video(ev) => vec![ev.clone()],
        Decoded::Analytics(a) => crate::analytics::bridged_video(a),
        _ => Vec::new(),
    }
}

/// One partition's engine, dedup memory, position and pending changes.
#[derive(Debug)]
pub struct PartitionState {
    partition: i32,
    engine: Engine,
    dedup: Dedup,
    /// The next offset to apply (everything below is in the state).
    position: u64,
    /// Where the last durable checkpoint (snapshot) stands: where a restart resumes.
    checkpoint: u64,
    /// When that checkpoint was written by this process (None: restored or fresh).
    snapshotted_at: Option<Instant>,
    /// Whether the state came from a checkpoint (false: a fresh start at offset 0).
    from_checkpoint: bool,
    rejected: Vec<RejectedRow>,
    /// Erasures applied to the engine since the last batch, ids extended by their links.
    erasures: Vec<Erasure>,
    stats: CommitStats,
}

impl PartitionState {
    /// The state saved for `partition`, or an empty one at offset 0 when there is none.
    pub async fn restore(
        store: &dyn Store,
        partition: i32,
        configured: EngineConfig,
        dedup: DedupConfig,
    ) -> Result<PartitionState, RestoreError> {
        configured.validate()?;
        let checkpoint =
            store.checkpoint(partition).await.map_err(|source| RestoreError::Checkpoint { partition, source })?;
        let Some(cp) = checkpoint else {
            return Ok(PartitionState::new(partition, Engine::new(configured), Dedup::new(dedup), 0, false));
        };
        let (engine, mut saved_dedup) = match snapshot::decode(&cp.snapshot) {
            Ok(saved) => saved,
            Err(e @ snapshot::SnapshotError::Older { .. }) => {
                // An upgrade: the rows already written stay as they are (see the README,
                // "History"); views open at the upgrade restart implicitly.
                tracing::warn!(partition, position = cp.next_offset, error = %e, "starting a fresh consumer state");
                let engine = Engine::new(configured);
                return Ok(PartitionState::new(partition, engine, Dedup::new(dedup), cp.next_offset, true));
            }
            Err(e) => return Err(e.into()),
        };
        if *engine.config() != configured {
            return Err(RestoreError::ConfigChanged { saved: engine.config().clone(), configured });
        }
        // A changed horizon is safe to adopt: it only changes how long ids are kept.
        saved_dedup.set_config(dedup);
        Ok(PartitionState::new(partition, engine, saved_dedup, cp.next_offset, true))
    }

    fn new(partition: i32, engine: Engine, dedup: Dedup, position: u64, from_checkpoint: bool) -> Self {
        PartitionState {
            partition,
            engine,
            dedup,
            position,
            checkpoint: position,
            snapshotted_at: None,
            from_checkpoint,
            rejected: Vec::new(),
            erasures: Vec::new(),
            stats: CommitStats::default(),
        }
    }

    pub fn partition(&self) -> i32 {
        self.partition
    }

    /// The next offset to apply: where reading resumes.
    pub fn position(&self) -> u64 {
        self.position
    }

    /// Where a restart would resume: the offset of the last durable checkpoint. The log may
    /// be pruned, and group offsets committed, only up to here.
    pub fn checkpoint(&self) -> u64 {
        self.checkpoint
    }

    /// Whether the next commit should carry a snapshot: `every` has passed since the last one
    /// (or none was written by this process yet).
    pub fn snapshot_due(&self, every: Duration) -> bool {
        self.snapshotted_at.is_none_or(|at| at.elapsed() >= every)
    }

    /// Whether a commit has something to write: records applied since the last one, or a
    /// checkpoint behind the position (with `snapshot` deciding whether it may move now).
    pub fn needs_commit(&self, snapshot: Snapshot) -> bool {
        let checkpoint_behind = self.checkpoint < self.position;
        self.stats.records > 0
            || match snapshot {
                Snapshot::Every(every) => checkpoint_behind && self.snapshot_due(every),
                Snapshot::Now => checkpoint_behind,
            }
    }

    /// Whether this state was restored from a checkpoint (else it starts at offset 0).
    pub fn from_checkpoint(&self) -> bool {
        self.from_checkpoint
    }

    /// Records applied since the last [`PartitionState::take_batch`].
    pub fn pending_records(&self) -> usize {
        self.stats.records
    }

    /// Applies a batch of records in offset order. Offsets below the position are skipped
    /// (they are in the state already: a replay after a crash between the store write and an
    /// offset commit, or a re-delivery); offsets may skip ahead (compaction, control records).
    ///
    /// Events the engine can only apply with a view's archived state (late data whose view
    /// left memory) have it loaded from `store` first: one read for the whole batch, then one
    /// per event still missing one. A failing read is retried with backoff; when `shutdown`
    /// fires first, the records from there on are not applied (the position says where).
    /// Returns the records that did not decode, with the reason.
    pub async fn apply_batch(
        &mut self,
        records: &[(u64, &[u8])],
        store: &dyn Store,
        shutdown: &CancellationToken,
    ) -> Result<Vec<(u64, String)>, Interrupted> {
        let decoded: Vec<(u64, Decoded)> =
            records.iter().filter(|(offset, _)| *offset >= self.position).map(|(o, p)| (*o, decode(p))).collect();
        let mut archive = self.prefetch(&decoded, store, shutdown).await?;
        let mut undecodable = Vec::new();
        for (offset, d) in decoded {
            if offset < self.position {
                continue;
            }
            if let Some(reason) = self.apply_decoded(offset, d, &mut archive, store, shutdown).await? {
                undecodable.push((offset, reason));
            }
        }
        Ok(undecodable)
    }

    /// Applies one record (see [`PartitionState::apply_batch`]).
    pub async fn apply(
        &mut self,
        offset: u64,
        payload: &[u8],
        store: &dyn Store,
        shutdown: &CancellationToken,
    ) -> Result<Applied, Interrupted> {
        if offset < self.position {
            return Ok(Applied::AlreadyApplied);
        }
        let undecodable = self.apply_batch(&[(offset, payload)], store, shutdown).await?;
        Ok(match undecodable.into_iter().next() {
            Some((_, reason)) => Applied::Undecodable { reason },
            None => Applied::Done,
        })
    }

    /// The archived states the batch's events need, read in one go (at the batch's first
    /// offset: later versions can only be this process's own, which the engine still holds).
    async fn prefetch(
        &mut self,
        decoded: &[(u64, Decoded)],
        store: &dyn Store,
        shutdown: &CancellationToken,
    ) -> Result<ArchiveCache, Interrupted> {
        let mut keys: Vec<[u8; 16]> = Vec::new();
        for (_, d) in decoded {
            for ev in video_events(d) {
                keys.extend(self.engine.missing_archives(&ev.as_video_event()));
            }
        }
        keys.sort_unstable();
        keys.dedup();
        let mut cache = ArchiveCache::default();
        if let Some(&(first, _)) = decoded.first()
            && !keys.is_empty()
        {
            cache.fetch(store, self.partition, &keys, first, shutdown).await?;
            self.stats.archive_reads += 1;
        }
        Ok(cache)
    }

    /// Loads what `ev` needs from the archive (cache first) before it is recorded.
    async fn load_missing(
        &mut self,
        ev: &OwnedVideoEvent,
        offset: u64,
        archive: &mut ArchiveCache,
        store: &dyn Store,
        shutdown: &CancellationToken,
    ) -> Result<(), Interrupted> {
        let missing = self.engine.missing_archives(&ev.as_video_event());
        let unknown: Vec<[u8; 16]> = missing.iter().filter(|k| !archive.states.contains_key(*k)).copied().collect();
        if !unknown.is_empty() {
            archive.fetch(store, self.partition, &unknown, offset, shutdown).await?;
            self.stats.archive_reads += 1;
        }
        for key in missing {
            let states = archive.states.remove(&key).unwrap_or_default();
            self.stats.archive_states += states.len() as u64;
            if !self.engine.restore_archived(key, &states) {
                self.stats.archive_undecodable += 1;
                tracing::error!(partition = self.partition, "an archived view state does not decode; it is ignored");
            }
        }
        Ok(())
    }

    /// Records one video event at `offset`, loading archived views when the engine asks.
    async fn record_video(
        &mut self,
        ev: &OwnedVideoEvent,
        offset: u64,
        archive: &mut ArchiveCache,
        store: &dyn Store,
        shutdown: &CancellationToken,
    ) -> Result<Outcome, Interrupted> {
        self.engine.set_position(offset);
        let mut outcome = self.engine.record(&ev.as_video_event());
        // Each key is asked for once (the engine remembers what was looked up), so this ends
        // after a round; the bound only guards against an engine bug looping here forever.
        let mut rounds = 0;
        while outcome == Outcome::NeedsArchive && rounds < 4 {
            self.load_missing(ev, offset, archive, store, shutdown).await?;
            outcome = self.engine.record(&ev.as_video_event());
            rounds += 1;
        }
        if outcome == Outcome::NeedsArchive {
            tracing::error!(
                partition = self.partition,
                offset,
                "the engine kept asking for archived views; event not applied"
            );
        }
        self.stats.outcomes[m::outcome_index(outcome)] += 1;
        self.stats.bot_events += u64::from(ev.bot);
        Ok(outcome)
    }

    async fn apply_decoded(
        &mut self,
        offset: u64,
        d: Decoded,
        archive: &mut ArchiveCache,
        store: &dyn Store,
        shutdown: &CancellationToken,
    ) -> Result<Option<String>, Interrupted> {
        let reason = match d {
            Decoded::Video(event) => {
                self.record_video(&event, offset, archive, store, shutdown).await?;
                None
            }
            Decoded::Analytics(a) => {
                if !a.event_id.is_empty() && self.dedup.check(&a.event_id, a.event_time_ms) == Verdict::Repeat {
                    self.stats.repeats += 1;
                } else {
                    let bridged = crate::analytics::bridged_video(&a);
                    for ev in &bridged {
                        self.record_video(ev, offset, archive, store, shutdown).await?;
                    }
                    self.engine.set_position(offset);
                    crate::analytics::apply(&mut self.engine, *a, &mut self.stats.analytics);
                }
                None
            }
            Decoded::Rejected(row) => {
                self.rejected.push(row);
                None
            }
            Decoded::Undecodable(mut row) => {
                self.stats.undecodable += 1;
                // Garbage has no time of its own: it is kept from when it was read, so the raw
                // TTL (counted from the receive time) does not delete it at once.
                if row.received_at_ms <= 0 {
                    row.received_at_ms = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_millis() as i64);
                }
                let reason = row.reason.clone();
                self.rejected.push(row);
                Some(reason)
            }
            Decoded::Erasure(mut erasure) => {
                self.engine.set_position(offset);
                let erased = self.engine.erase_analytics(&erasure.source, &erasure.ids);
                let asked = erasure.ids.len();
                erasure.ids.extend(erased.ids);
                erasure.ids.sort_unstable();
                erasure.ids.dedup();
                tracing::info!(
                    target: "engage::audit",
                    action = "erase",
                    source = %erasure.source,
                    partition = self.partition,
                    offset,
                    ids_asked = asked,
                    ids_linked = erasure.ids.len() - asked,
                    persons_in_memory = erased.persons,
                    "erasure applied to consumer state; its rows are deleted with the next commit"
                );
                metrics::counter!(m::ERASURES).increment(1);
                self.erasures.push(erasure);
                None
            }
        };
        self.position = offset + 1;
        self.stats.records += 1;
        Ok(reason)
    }

    /// Flushes the engine into a batch that makes everything applied so far durable, and,
    /// with `with_snapshot`, moves the checkpoint to the current position. The stats of what
    /// it covers come along, to be reported by [`PartitionState::record_committed`] once the
    /// batch is written.
    pub fn take_batch(
        &mut self,
        with_snapshot: bool,
    ) -> Result<(Arc<CommitBatch>, CommitStats), snapshot::SnapshotError> {
        let windows = self.engine.flush();
        let archived = self.engine.take_archived();
        let analytics = self.engine.flush_analytics();
        let snapshot = if with_snapshot { Some(snapshot::encode(&self.engine, &self.dedup)?) } else { None };
        let mut stats = std::mem::take(&mut self.stats);
        stats.windows = windows.len();
        stats.archived = archived.len();
        stats.overflow = self.engine.take_cardinality_overflow();
        stats.implausible_viewers = self.engine.take_implausible_viewers();
        let batch = CommitBatch {
            partition: self.partition,
            next_offset: self.position,
            snapshot,
            windows,
            watermark_ms: self.engine.watermark_ms(),
            final_before_ms: self.engine.final_before_ms(),
            archived,
            rejected: std::mem::take(&mut self.rejected),
            session_windows: analytics.session_windows,
            session_summaries: analytics.summaries,
            page_views: analytics.page_views,
            user_traits: std::mem::take(&mut stats.analytics.traits),
            analytics_events: std::mem::take(&mut stats.analytics.events),
            erasures: std::mem::take(&mut self.erasures),
        };
        Ok((Arc::new(batch), stats))
    }

    /// Notes a written batch (a snapshot moves the checkpoint) and reports it in the metrics.
    pub fn record_committed(&mut self, batch: &CommitBatch, stats: &CommitStats, took: Duration) {
        if batch.snapshot.is_some() {
            self.checkpoint = batch.next_offset;
            self.snapshotted_at = Some(Instant::now());
        }
        metrics::counter!(m::REPEATS_DROPPED).increment(stats.repeats);
        metrics::gauge!(m::DEDUP_IDS).set(self.dedup.len() as f64);
        metrics::counter!(m::ARCHIVED_VIEWS).increment(stats.archived as u64);
        metrics::counter!(m::IMPLAUSIBLE_VIEWERS).increment(stats.implausible_viewers);
        metrics::counter!(m::BOT_EVENTS).increment(stats.bot_events);
        metrics::counter!(m::ARCHIVE_READS).increment(stats.archive_reads);
        metrics::counter!(m::ARCHIVE_STATES_READ).increment(stats.archive_states);
        metrics::counter!(m::ARCHIVE_UNDECODABLE).increment(stats.archive_undecodable);
        for (dimension, n) in stats.overflow.nonzero() {
            metrics::counter!(m::CARDINALITY_OVERFLOW, "dimension" => dimension.as_str()).increment(n);
        }
        m::record_commit(stats.records, &stats.outcomes, stats.undecodable, stats.windows, took, &self.engine);
        crate::analytics::record_metrics(&stats.analytics);
    }
}

/// Writes `batches` (see [`Store::commit_all`]), retrying with capped exponential backoff
/// until it succeeds. Returns false only when `shutdown` fires first: the last good
/// checkpoints then stand, so nothing is lost (a restart replays from them).
pub async fn commit_with_retry(store: &dyn Store, batches: &[Arc<CommitBatch>], shutdown: &CancellationToken) -> bool {
    let mut backoff = Duration::from_millis(100);
    loop {
        // Cheap handles: a retry hands over the same batches, nothing is copied.
        match store.commit_all(batches).await {
            Ok(()) => return true,
            Err(e) => {
                let kind = if e.is_transient() { "transient" } else { "needs_operator" };
                metrics::counter!(m::COMMIT_FAILURES, "kind" => kind).increment(1);
                let partitions: Vec<i32> = batches.iter().map(|b| b.partition).collect();
                let retry_in_ms = backoff.as_millis() as u64;
                if e.is_transient() {
                    tracing::warn!(?partitions, error = %e, retry_in_ms, "commit failed; retrying");
                } else {
                    // Retrying cannot fix this by itself (a schema to migrate, a full disk,
                    // credentials); keep retrying so it heals once the operator acts.
                    tracing::error!(?partitions, error = %e, retry_in_ms, "commit failed and needs an operator; retrying");
                }
                tokio::select! {
                    () = tokio::time::sleep(jittered(backoff)) => {}
                    () = shutdown.cancelled() => return false,
                }
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
        }
    }
}

/// `d` scaled by a random factor in [0.5, 1.0), so many consumers do not retry in step.
fn jittered(d: Duration) -> Duration {
    d.mul_f64(0.5 + fastrand::f64() / 2.0)
}

/// When a commit carries a snapshot (moves the checkpoint).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Snapshot {
    /// When [`PartitionState::snapshot_due`] says so.
    Every(Duration),
    /// Now (a graceful stop or a hand-over: the next owner starts right here).
    Now,
}

/// Flushes, writes (retrying) and reports one partition's pending changes. Returns false
/// when shutdown interrupted the retries (nothing advanced).
pub async fn commit_partition(
    state: &mut PartitionState,
    store: &dyn Store,
    snapshot: Snapshot,
    shutdown: &CancellationToken,
) -> bool {
    commit_partitions(&mut [state], store, snapshot, shutdown).await
}

/// Flushes the pending changes of several partitions and writes them in one
/// [`Store::commit_all`] (retrying), then reports each. Returns false when shutdown
/// interrupted the retries (nothing advanced).
pub async fn commit_partitions(
    states: &mut [&mut PartitionState],
    store: &dyn Store,
    snapshot: Snapshot,
    shutdown: &CancellationToken,
) -> bool {
    let started = Instant::now();
    let mut taken = Vec::with_capacity(states.len());
    for state in states.iter_mut() {
        let with_snapshot = match snapshot {
            Snapshot::Every(every) => state.snapshot_due(every),
            Snapshot::Now => true,
        };
        match state.take_batch(with_snapshot) {
            Ok(b) => taken.push(b),
            Err(e) => {
                // Serializing plain data cannot fail short of a bug; keep running without advancing.
                tracing::error!(partition = state.partition, error = %e, "engine snapshot failed; not committing");
                return false;
            }
        }
    }
    let batches: Vec<Arc<CommitBatch>> = taken.iter().map(|(batch, _)| Arc::clone(batch)).collect();
    if batches.is_empty() || !commit_with_retry(store, &batches, shutdown).await {
        return batches.is_empty();
    }
    for (state, (batch, stats)) in states.iter_mut().zip(&taken) {
        state.record_committed(batch, stats, started.elapsed());
    }
    true
}
