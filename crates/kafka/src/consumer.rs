//! The consumer role: a consumer group member that owns some partitions of the raw topic,
//! keeps one [`PartitionState`] per owned partition, and commits each to the store.
//!
//! # Offsets and recovery
//! Where a partition resumes is the store's checkpoint, written in the same step as the
//! results it covers (see the crate docs). Group offsets are committed to Kafka *after* each
//! store write (for lag tooling and visibility), never before. On assignment the partition's
//! snapshot is restored and fetching starts at its offset; records below it that arrive
//! anyway (a re-delivery) are skipped by offset. So a SIGKILL at any instant replays at most
//! one commit interval of records onto exactly the state they were first applied to.
//!
//! Recovery time: restoring a snapshot is proportional to the state it holds (open views,
//! i.e. viewers active within the view timeout, and windows within the allowed lateness), and
//! the replay to the traffic of one commit interval. Neither grows with how long the
//! consumer ran.
//!
//! # Rebalances
//! Revocation waits for the partition's pending results to be committed and its state to be
//! dropped; the next owner then restores that checkpoint. A member that was evicted while
//! stuck (it may still write late) cannot roll anything back: rows are versioned by offset
//! and a store keeps the newest.
//!
//! # Dead letters
//! A record that is not a `RawEvent` is produced to the dead-letter topic with the reason and
//! its origin in headers (and kept as a rejected row), and the partition moves on. The dead
//! letter is acknowledged before the checkpoint passes its offset.
//!
//! # Fault injection
//! [`OffsetMode::UnsafeCommitBeforeWrite`] is the classic mistake, kept so the crash test can
//! prove it detects lost events: offsets are committed to the group as soon as records are
//! polled, and a restarted partition trusts the group offset over the store's checkpoint.

use crate::config::KafkaConfig;
use crate::source::{SourceContext, SourceEvent, SourceRecord, StartAt, spawn_poll_thread};
use engage_consumer::dedup::DedupConfig;
use engage_consumer::engine::EngineConfig;
use engage_consumer::partition::{PartitionState, RestoreError, Snapshot, commit_partitions};
use engage_sink::Store;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Rebalance callbacks by `kind` (assign, revoke).
pub const REBALANCES: &str = "engage_kafka_rebalances_total";
/// Errors returned by polling (broker down, unknown topic...).
pub const POLL_ERRORS: &str = "engage_kafka_poll_errors_total";
/// Records sent to the dead-letter topic.
pub const DEAD_LETTERS: &str = "engage_kafka_dead_letters_total";
/// Partitions this member owns.
pub const ASSIGNED_PARTITIONS: &str = "engage_kafka_assigned_partitions";
/// Records applied to a partition's state (before the commit that makes them durable).
pub const APPLIED_RECORDS: &str = "engage_kafka_applied_records_total";
/// Records that arrived for a partition this member does not own (after a revocation).
pub const UNOWNED_RECORDS: &str = "engage_kafka_unowned_records_total";

/// How offsets are handled.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OffsetMode {
    /// The store's checkpoint decides; group offsets are committed after the store write.
    #[default]
    Checkpoint,
    /// FAULT INJECTION ONLY: commit group offsets before the store write and resume from them.
    UnsafeCommitBeforeWrite,
}

/// Consumer settings.
#[derive(Clone, Debug)]
pub struct ConsumerSettings {
    pub engine: EngineConfig,
    pub dedup: DedupConfig,
    /// How often open windows are written (the real-time latency bound).
    pub commit_interval: Duration,
    /// Records of one partition after which it commits before the interval is over.
    pub max_uncommitted: usize,
    /// How often a partition's commit also moves its checkpoint (writes its state snapshot).
    pub snapshot_interval: Duration,
    pub offset_mode: OffsetMode,
    /// librdkafka session and poll-interval timeouts (group liveness).
    pub session_timeout: Duration,
    pub max_poll_interval: Duration,
}

impl Default for ConsumerSettings {
    fn default() -> Self {
        ConsumerSettings {
            engine: EngineConfig::default(),
            dedup: DedupConfig::default(),
            commit_interval: Duration::from_millis(1000),
            max_uncommitted: 100_000,
            snapshot_interval: Duration::from_secs(10),
            offset_mode: OffsetMode::Checkpoint,
            session_timeout: Duration::from_secs(10),
            max_poll_interval: Duration::from_secs(60),
        }
    }
}

/// Why the consumer stopped.
#[derive(Debug, thiserror::Error)]
pub enum ConsumerError {
    #[error(transparent)]
    Restore(#[from] RestoreError),
    #[error("Kafka client: {0}")]
    Kafka(#[from] KafkaError),
    #[error("the Kafka poll thread stopped unexpectedly")]
    PollThread,
    #[error("cannot start the Kafka poll thread: {0}")]
    Spawn(std::io::Error),
}

/// A record refused as undecodable, waiting to be acknowledged by the dead-letter topic.
struct DeadLetter {
    offset: i64,
    key: Option<Vec<u8>>,
    payload: Vec<u8>,
    reason: String,
}

/// The partitions this member owns.
struct Owned {
    states: HashMap<i32, PartitionState>,
    dead_letters: HashMap<i32, Vec<DeadLetter>>,
}

struct Ctx<'a> {
    config: &'a KafkaConfig,
    settings: &'a ConsumerSettings,
    store: &'a dyn Store,
    consumer: &'a BaseConsumer<SourceContext>,
    dlq: &'a FutureProducer,
    shutdown: &'a CancellationToken,
}

/// Runs a group member until `shutdown`; then commits what it has, leaves the group and returns.
pub async fn run(
    config: &KafkaConfig,
    store: Arc<dyn Store>,
    settings: ConsumerSettings,
    shutdown: CancellationToken,
) -> Result<(), ConsumerError> {
    settings.engine.validate().map_err(RestoreError::from)?;
    let (events_tx, mut events) = mpsc::channel(8);
    let consumer = Arc::new(consumer_client(config, &settings, events_tx.clone())?);
    consumer.subscribe(&[config.topic.as_str()])?;
    let dlq = dead_letter_producer(config)?;
    let stop = Arc::new(AtomicBool::new(false));
    let poller =
        spawn_poll_thread(Arc::clone(&consumer), events_tx, Arc::clone(&stop)).map_err(ConsumerError::Spawn)?;
    tracing::info!(topic = %config.topic, group = %config.group_id, "consumer started");

    let ctx =
        Ctx { config, settings: &settings, store: store.as_ref(), consumer: &consumer, dlq: &dlq, shutdown: &shutdown };
    let mut owned = Owned { states: HashMap::new(), dead_letters: HashMap::new() };
    let mut next_commit = Instant::now() + settings.commit_interval;
    let result = loop {
        let event = tokio::select! {
            biased;
            () = shutdown.cancelled() => break Ok(()),
            e = events.recv() => e,
            () = tokio::time::sleep_until(next_commit) => None,
        };
        match event {
            Some(SourceEvent::Records(records)) => {
                // False: shutdown interrupted a store read; what was applied is committed below.
                let applied = apply(&ctx, &mut owned, records).await;
                if !applied {
                    break Ok(());
                }
            }
            Some(SourceEvent::Assign { partitions, reply }) => match assign(&ctx, &mut owned, &partitions).await {
                Ok(starts) => {
                    let _ = reply.send(starts);
                }
                Err(e) => break Err(e),
            },
            Some(SourceEvent::Revoke { partitions, done }) => {
                revoke(&ctx, &mut owned, &partitions).await;
                let _ = done.send(());
            }
            None if events.is_closed() => break Err(ConsumerError::PollThread),
            None => {}
        }
        let due = Instant::now() >= next_commit;
        let full = owned.states.values().any(|s| s.pending_records() >= settings.max_uncommitted);
        if due || full {
            let partitions: Vec<i32> = owned.states.keys().copied().collect();
            commit(&ctx, &mut owned, &partitions, Snapshot::Every(settings.snapshot_interval)).await;
            next_commit = Instant::now() + settings.commit_interval;
        }
    };
    // Final commit (not interruptible: shutdown already fired; the last good checkpoint
    // stands if the store is down and this is killed).
    let never = CancellationToken::new();
    let final_ctx = Ctx { shutdown: &never, ..ctx };
    let partitions: Vec<i32> = owned.states.keys().copied().collect();
    commit(&final_ctx, &mut owned, &partitions, Snapshot::Now).await;
    drop(owned);
    // Stop polling; the rebalance callback of the closing consumer finds the loop gone.
    stop.store(true, Ordering::Release);
    drop(events);
    drop(consumer);
    let _ = tokio::task::spawn_blocking(move || poller.join()).await;
    tracing::info!("consumer stopped");
    result
}

fn consumer_client(
    config: &KafkaConfig,
    settings: &ConsumerSettings,
    events: mpsc::Sender<SourceEvent>,
) -> Result<BaseConsumer<SourceContext>, KafkaError> {
    let mut c = config.client("engage-consumer", Duration::from_secs(5));
    c.set("group.id", &config.group_id)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("partition.assignment.strategy", "range")
        .set("session.timeout.ms", settings.session_timeout.as_millis().to_string())
        .set("max.poll.interval.ms", settings.max_poll_interval.as_millis().to_string());
    config.apply_properties(&mut c);
    c.create_with_context(SourceContext::new(config.topic.clone(), events))
}

fn dead_letter_producer(config: &KafkaConfig) -> Result<FutureProducer, KafkaError> {
    let mut c = config.client("engage-dead-letters", Duration::from_secs(60));
    c.set("enable.idempotence", "true").set("acks", "all");
    config.apply_properties(&mut c);
    c.create()
}

/// Applies records (grouped per owned partition, in offset order within each); returns
/// false when shutdown interrupted a store read (the partition's position says how far it got).
async fn apply(ctx: &Ctx<'_>, owned: &mut Owned, records: Vec<SourceRecord>) -> bool {
    let (mut unowned, mut applied) = (0u64, 0u64);
    let mut touched: Vec<i32> = Vec::new();
    let mut by_partition: HashMap<i32, Vec<SourceRecord>> = HashMap::new();
    for r in records {
        if !owned.states.contains_key(&r.partition) {
            unowned += 1;
            continue;
        }
        if !touched.contains(&r.partition) {
            touched.push(r.partition);
        }
        applied += 1;
        by_partition.entry(r.partition).or_default().push(r);
    }
    let mut complete = true;
    for (partition, records) in by_partition {
        let Some(state) = owned.states.get_mut(&partition) else { continue };
        let batch: Vec<(u64, &[u8])> =
            records.iter().map(|r| (u64::try_from(r.offset).unwrap_or(0), r.payload.as_slice())).collect();
        let undecodable = match state.apply_batch(&batch, ctx.store, ctx.shutdown).await {
            Ok(u) => u,
            Err(_) => {
                complete = false;
                break;
            }
        };
        for (offset, reason) in undecodable {
            let Some(r) = records.iter().find(|r| u64::try_from(r.offset).ok() == Some(offset)) else { continue };
            metrics::counter!(DEAD_LETTERS).increment(1);
            owned.dead_letters.entry(partition).or_default().push(DeadLetter {
                offset: r.offset,
                key: r.key.clone(),
                payload: r.payload.clone(),
                reason,
            });
        }
    }
    metrics::counter!(APPLIED_RECORDS).increment(applied);
    if unowned > 0 {
        metrics::counter!(UNOWNED_RECORDS).increment(unowned);
    }
    if ctx.settings.offset_mode == OffsetMode::UnsafeCommitBeforeWrite {
        commit_group_offsets(ctx, owned, &touched, CommitMode::Sync, PartitionState::position);
    }
    complete
}

async fn assign(ctx: &Ctx<'_>, owned: &mut Owned, partitions: &[i32]) -> Result<Vec<(i32, StartAt)>, ConsumerError> {
    let mut starts = Vec::with_capacity(partitions.len());
    for &p in partitions {
        let state = match owned.states.entry(p) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(PartitionState::restore(ctx.store, p, ctx.settings.engine.clone(), ctx.settings.dedup).await?)
            }
        };
        let at = match (ctx.settings.offset_mode, state.from_checkpoint()) {
            (OffsetMode::UnsafeCommitBeforeWrite, _) => StartAt::Committed,
            (OffsetMode::Checkpoint, true) => StartAt::Offset(state.position()),
            (OffsetMode::Checkpoint, false) => StartAt::Beginning,
        };
        tracing::info!(partition = p, start = ?at, "partition restored");
        starts.push((p, at));
    }
    metrics::gauge!(ASSIGNED_PARTITIONS).set(owned.states.len() as f64);
    Ok(starts)
}

async fn revoke(ctx: &Ctx<'_>, owned: &mut Owned, partitions: &[i32]) {
    // The next owner starts right at our position: no replay.
    commit(ctx, owned, partitions, Snapshot::Now).await;
    for p in partitions {
        owned.states.remove(p);
        owned.dead_letters.remove(p);
    }
    metrics::gauge!(ASSIGNED_PARTITIONS).set(owned.states.len() as f64);
}

/// Makes the pending results of `partitions` durable: dead letters first, then the store
/// (results, and the checkpoint when `snapshot` says so), then the group offsets (at the
/// checkpoint: where a restart resumes).
async fn commit(ctx: &Ctx<'_>, owned: &mut Owned, partitions: &[i32], snapshot: Snapshot) {
    let mut ready = Vec::with_capacity(partitions.len());
    for p in partitions {
        let Some(state) = owned.states.get(p) else { continue };
        if !state.needs_commit(snapshot) {
            continue;
        }
        if let Some(letters) = owned.dead_letters.remove(p)
            && !send_dead_letters(ctx, *p, &letters).await
        {
            owned.dead_letters.insert(*p, letters);
            continue; // shutting down before the dead letters were taken: do not pass them
        }
        ready.push(*p);
    }
    // All partitions in one store commit: one INSERT per table, not one per partition.
    let mut states: Vec<&mut PartitionState> =
        owned.states.iter_mut().filter(|(p, _)| ready.contains(p)).map(|(_, s)| s).collect();
    if !commit_partitions(&mut states, ctx.store, snapshot, ctx.shutdown).await {
        return;
    }
    if ctx.settings.offset_mode == OffsetMode::Checkpoint {
        commit_group_offsets(ctx, owned, &ready, CommitMode::Async, PartitionState::checkpoint);
    }
}

/// Tells the group where `partitions` are, per `offset_of` (informational in checkpoint mode).
fn commit_group_offsets(
    ctx: &Ctx<'_>,
    owned: &Owned,
    partitions: &[i32],
    mode: CommitMode,
    offset_of: fn(&PartitionState) -> u64,
) {
    if partitions.is_empty() {
        return;
    }
    let mut tpl = TopicPartitionList::new();
    for p in partitions {
        if let Some(state) = owned.states.get(p) {
            let offset = Offset::Offset(i64::try_from(offset_of(state)).unwrap_or(i64::MAX));
            if let Err(e) = tpl.add_partition_offset(&ctx.config.topic, *p, offset) {
                tracing::warn!(partition = p, error = %e, "cannot build the offset commit");
            }
        }
    }
    if let Err(e) = ctx.consumer.commit(&tpl, mode) {
        // Not fatal: the store's checkpoint is what recovery uses.
        tracing::debug!(error = %e, "group offset commit failed");
    }
}

/// Produces the dead letters of a partition and waits for their acknowledgement, retrying
/// until they are taken; false only when shutdown came first.
async fn send_dead_letters(ctx: &Ctx<'_>, partition: i32, letters: &[DeadLetter]) -> bool {
    let mut backoff = Duration::from_millis(100);
    loop {
        match produce_dead_letters(ctx, partition, letters).await {
            Ok(()) => return true,
            Err(e) => {
                tracing::warn!(partition, error = %e, "dead-letter topic unavailable; retrying");
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    () = ctx.shutdown.cancelled() => return false,
                }
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
        }
    }
}

async fn produce_dead_letters(ctx: &Ctx<'_>, partition: i32, letters: &[DeadLetter]) -> Result<(), KafkaError> {
    let partition_text = partition.to_string();
    let mut deliveries = Vec::with_capacity(letters.len());
    for l in letters {
        let offset_text = l.offset.to_string();
        let headers = OwnedHeaders::new()
            .insert(Header { key: "engage.reason", value: Some(l.reason.as_str()) })
            .insert(Header { key: "engage.source.topic", value: Some(ctx.config.topic.as_str()) })
            .insert(Header { key: "engage.source.partition", value: Some(partition_text.as_str()) })
            .insert(Header { key: "engage.source.offset", value: Some(offset_text.as_str()) });
        let mut record = FutureRecord::to(&ctx.config.dead_letter_topic).payload(&l.payload).headers(headers);
        if let Some(key) = &l.key {
            record = record.key(key);
        }
        deliveries.push(ctx.dlq.send_result(record).map_err(|(e, _)| e)?);
    }
    for d in deliveries {
        match d.await {
            Ok(Ok(_)) => {}
            Ok(Err((e, _))) => return Err(e),
            Err(_) => return Err(KafkaError::Canceled),
        }
    }
    Ok(())
}
