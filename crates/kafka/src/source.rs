//! The poll thread and the rebalance hand-over between librdkafka and the consumer loop.
//!
//! librdkafka delivers messages and rebalance callbacks on the thread that polls it. That
//! thread is a plain OS thread here ([`spawn_poll_thread`]), and it talks to the async
//! consumer loop through one ordered channel of [`SourceEvent`]s:
//! - records, in batches, in offset order per partition;
//! - `Assign`: the callback blocks until the loop has restored each partition's state from
//!   the store and answered where to start ([`StartAt`]); the assignment then carries those
//!   offsets, so fetching begins exactly at the checkpoint (no seek race);
//! - `Revoke`: the callback blocks until the loop has committed and dropped the partitions'
//!   state, so the next owner starts from an up-to-date checkpoint.
//!
//! Because the channel is ordered, every record sent before a revocation is applied before
//! it. When the loop falls behind (the channel is full, e.g. the store is slow), the thread
//! pauses fetching but keeps polling, so the group does not evict it for exceeding
//! `max.poll.interval.ms`.

use crate::stats;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaResult;
use rdkafka::message::Message;
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientContext, Offset, Statistics, TopicPartitionList};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Records per batch handed to the loop.
const MAX_BATCH: usize = 4096;

/// One consumed record.
#[derive(Debug)]
pub struct SourceRecord {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub payload: Vec<u8>,
}

/// Where an assigned partition starts fetching.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartAt {
    /// The store's checkpoint.
    Offset(u64),
    /// No checkpoint: the start of the partition.
    Beginning,
    /// The group's committed offset (only the fault-injection mode uses it).
    Committed,
}

/// What the poll thread tells the consumer loop.
#[derive(Debug)]
pub enum SourceEvent {
    Records(Vec<SourceRecord>),
    Assign { partitions: Vec<i32>, reply: oneshot::Sender<Vec<(i32, StartAt)>> },
    Revoke { partitions: Vec<i32>, done: oneshot::Sender<()> },
}

/// The consumer's librdkafka context: statistics, and the blocking rebalance hand-over.
#[derive(Debug)]
pub struct SourceContext {
    topic: String,
    events: mpsc::Sender<SourceEvent>,
}

impl SourceContext {
    pub fn new(topic: String, events: mpsc::Sender<SourceEvent>) -> SourceContext {
        SourceContext { topic, events }
    }

    fn partitions(&self, tpl: &TopicPartitionList) -> Vec<i32> {
        tpl.elements_for_topic(&self.topic).iter().map(|e| e.partition()).collect()
    }

    fn assign(&self, consumer: &BaseConsumer<Self>, tpl: &mut TopicPartitionList) {
        let partitions = self.partitions(tpl);
        metrics::counter!(crate::consumer::REBALANCES, "kind" => "assign").increment(1);
        tracing::info!(?partitions, "partitions assigned");
        let (reply, starts) = oneshot::channel();
        if self.events.blocking_send(SourceEvent::Assign { partitions, reply }).is_err() {
            return; // the loop is gone: shutting down
        }
        let Ok(starts) = starts.blocking_recv() else {
            return; // the loop failed to restore state; it reports why
        };
        for (partition, at) in starts {
            let offset = match at {
                StartAt::Offset(o) => Offset::Offset(i64::try_from(o).unwrap_or(i64::MAX)),
                StartAt::Beginning => Offset::Beginning,
                StartAt::Committed => Offset::Stored,
            };
            if let Err(e) = tpl.set_partition_offset(&self.topic, partition, offset) {
                tracing::error!(partition, error = %e, "cannot set the start offset");
            }
        }
        if let Err(e) = consumer.assign(tpl) {
            tracing::error!(error = %e, "assigning partitions failed");
        }
    }

    fn revoke(&self, consumer: &BaseConsumer<Self>, tpl: &TopicPartitionList) {
        let partitions = self.partitions(tpl);
        metrics::counter!(crate::consumer::REBALANCES, "kind" => "revoke").increment(1);
        tracing::info!(?partitions, "partitions revoked");
        let (done, committed) = oneshot::channel();
        if self.events.blocking_send(SourceEvent::Revoke { partitions, done }).is_ok() {
            // Wait until the loop has committed and dropped these partitions.
            let _ = committed.blocking_recv();
        }
        if let Err(e) = consumer.unassign() {
            tracing::warn!(error = %e, "unassigning partitions failed");
        }
    }
}

impl ClientContext for SourceContext {
    fn stats(&self, s: Statistics) {
        stats::export("consumer", &s);
    }
}

impl ConsumerContext for SourceContext {
    fn rebalance(&self, consumer: &BaseConsumer<Self>, err: RDKafkaRespErr, tpl: &mut TopicPartitionList) {
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => self.assign(consumer, tpl),
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => self.revoke(consumer, tpl),
            other => {
                tracing::error!(error = ?other, "rebalance failed; dropping the assignment");
                self.revoke(consumer, tpl);
            }
        }
    }
}

/// Polls `consumer` on a dedicated thread until `stop` is set, sending what it gets to the
/// loop. On exit it drops its handle; the last handle dropped closes the consumer (leaving
/// the group, which revokes the assignment).
pub fn spawn_poll_thread(
    consumer: Arc<BaseConsumer<SourceContext>>,
    events: mpsc::Sender<SourceEvent>,
    stop: Arc<AtomicBool>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new().name("kafka-poll".into()).spawn(move || poll_loop(&consumer, &events, &stop))
}

fn poll_loop(consumer: &BaseConsumer<SourceContext>, events: &mpsc::Sender<SourceEvent>, stop: &AtomicBool) {
    let mut held: Vec<SourceRecord> = Vec::new();
    let mut paused = false;
    while !stop.load(Ordering::Acquire) {
        if !held.is_empty() {
            match events.try_send(SourceEvent::Records(std::mem::take(&mut held))) {
                Ok(()) => {
                    if paused {
                        paused = !set_paused(consumer, false);
                    }
                }
                Err(mpsc::error::TrySendError::Full(SourceEvent::Records(back))) => {
                    held = back;
                    // Keep polling (group liveness) without fetching more.
                    paused = set_paused(consumer, true) || paused;
                }
                Err(_) => return,
            }
        }
        let wait = if held.is_empty() { Duration::from_millis(100) } else { Duration::from_millis(20) };
        let mut next = consumer.poll(wait);
        while let Some(result) = next {
            match result {
                Ok(m) => held.push(SourceRecord {
                    partition: m.partition(),
                    offset: m.offset(),
                    key: m.key().map(<[u8]>::to_vec),
                    payload: m.payload().map(<[u8]>::to_vec).unwrap_or_default(),
                }),
                Err(e) => {
                    metrics::counter!(crate::consumer::POLL_ERRORS).increment(1);
                    tracing::warn!(error = %e, "Kafka consumer error");
                    break;
                }
            }
            if held.len() >= MAX_BATCH {
                break;
            }
            next = consumer.poll(Duration::ZERO);
        }
    }
}

/// Pauses or resumes fetching of the whole assignment; true when it took effect.
fn set_paused(consumer: &BaseConsumer<SourceContext>, pause: bool) -> bool {
    let done: KafkaResult<()> =
        consumer.assignment().and_then(|a| if pause { consumer.pause(&a) } else { consumer.resume(&a) });
    match done {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(error = %e, pause, "cannot pause/resume fetching");
            false
        }
    }
}
