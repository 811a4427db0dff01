//! The collector's publisher: records to the raw topic, acknowledged only once the brokers
//! have them (idempotent producer, `acks=all`).
//!
//! - Keyed by the record key (item, webinar session, page or user; see the collector), with
//!   the Java client's murmur2 partitioner, so one key's events share a partition and other
//!   clients agree on where a key lives.
//! - Bounded: librdkafka's queue holds at most `queue_max_messages`; a full queue is a 503
//!   with `Retry-After` (`PublishError::Full`), never an unbounded buffer.
//! - Prompt when the brokers are gone: a publish waits at most `publish_timeout` for its
//!   acknowledgements, then answers 503. After such a failure the publisher fails fast (503
//!   at once, no waiting) and lets one probe through per second until a delivery succeeds.
//!   Records of a request answered 503 may still be delivered later; the client's retry then
//!   carries the same event id and the consumer drops the repeat.
//! - [`KafkaPublisher::flush`] on shutdown waits for what is queued.

use crate::config::KafkaConfig;
use crate::stats::StatsContext;
use engage_bus::{PublishError, Publisher, Record};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Producer settings.
#[derive(Clone, Debug)]
pub struct ProducerSettings {
    /// The longest a publish waits for the brokers' acknowledgement before answering 503.
    pub publish_timeout: Duration,
    /// librdkafka's queue bound (messages).
    pub queue_max_messages: u32,
    /// How long librdkafka waits to fill a batch.
    pub linger: Duration,
    /// How long librdkafka keeps retrying a message before giving up on it.
    pub delivery_timeout: Duration,
}

impl Default for ProducerSettings {
    fn default() -> Self {
        ProducerSettings {
            publish_timeout: Duration::from_secs(2),
            queue_max_messages: 100_000,
            linger: Duration::from_millis(5),
            delivery_timeout: Duration::from_secs(30),
        }
    }
}

/// Publishes to Kafka; cheap to clone.
#[derive(Clone)]
pub struct KafkaPublisher {
    inner: Arc<Inner>,
}

struct Inner {
    producer: FutureProducer<StatsContext>,
    topic: String,
    publish_timeout: Duration,
    breaker: Breaker,
}

impl std::fmt::Debug for KafkaPublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaPublisher").field("topic", &self.inner.topic).finish_non_exhaustive()
    }
}

impl KafkaPublisher {
    /// A producer for `config.topic`. Connecting happens in the background.
    pub fn new(config: &KafkaConfig, settings: &ProducerSettings) -> Result<KafkaPublisher, KafkaError> {
        let mut c = config.client("engage-collector", Duration::from_secs(5));
        c.set("enable.idempotence", "true")
            .set("acks", "all")
            .set("compression.type", "lz4")
            .set("partitioner", "murmur2_random")
            .set("linger.ms", settings.linger.as_millis().to_string())
            .set("queue.buffering.max.messages", settings.queue_max_messages.to_string())
            .set("message.timeout.ms", settings.delivery_timeout.as_millis().to_string());
        config.apply_properties(&mut c);
        let producer = c.create_with_context(StatsContext { role: "collector" })?;
        Ok(KafkaPublisher {
            inner: Arc::new(Inner {
                producer,
                topic: config.topic.clone(),
                publish_timeout: settings.publish_timeout,
                breaker: Breaker::new(Duration::from_secs(1)),
            }),
        })
    }

    /// Connects and looks the topic up (at start, so the first requests do not pay for it and
    /// a missing topic is reported at once). Returns the topic's partition count.
    pub async fn check_topic(&self, timeout: Duration) -> Result<usize, String> {
        let inner = Arc::clone(&self.inner);
        let looked_up = tokio::task::spawn_blocking(move || {
            let metadata =
                inner.producer.client().fetch_metadata(Some(&inner.topic), timeout).map_err(|e| e.to_string())?;
            match metadata.topics().iter().find(|t| t.name() == inner.topic) {
                Some(t) if t.error().is_none() && !t.partitions().is_empty() => Ok(t.partitions().len()),
                Some(t) => Err(format!("topic `{}` is not available: {:?}", inner.topic, t.error())),
                None => Err(format!("topic `{}` does not exist (create it: engage create-topics)", inner.topic)),
            }
        })
        .await;
        looked_up.map_err(|e| format!("metadata task failed: {e}"))?
    }

    /// Waits up to `timeout` for every queued record to be acknowledged (on shutdown).
    pub async fn flush(&self, timeout: Duration) -> Result<(), KafkaError> {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || inner.producer.flush(timeout)).await.unwrap_or_else(|e| {
            Err(KafkaError::Canceled).inspect_err(|_| tracing::error!(error = %e, "flush task failed"))
        })
    }

    async fn send_all(&self, records: &[Record]) -> Result<(), PublishError> {
        let inner = &self.inner;
        let mut deliveries = Vec::with_capacity(records.len());
        for r in records {
            let mut record = FutureRecord::to(&inner.topic).payload(&r.payload);
            if !r.key.is_empty() {
                record = record.key(&r.key);
            }
            match inner.producer.send_result(record) {
                Ok(d) => deliveries.push(d),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    return Err(PublishError::Full("the Kafka producer queue is full".into()));
                }
                Err((e, _)) => return Err(PublishError::Unavailable(format!("Kafka refused the record: {e}"))),
            }
        }
        let acknowledged = async {
            for d in deliveries {
                match d.await {
                    Ok(Ok(_)) => {}
                    Ok(Err((e, _))) => return Err(format!("Kafka did not take the record: {e}")),
                    Err(_) => return Err("the Kafka producer was dropped".to_string()),
                }
            }
            Ok(())
        };
        match tokio::time::timeout(inner.publish_timeout, acknowledged).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(PublishError::Unavailable(e)),
            Err(_) => Err(PublishError::Unavailable(format!(
                "no acknowledgement from the Kafka brokers within {} ms",
                inner.publish_timeout.as_millis()
            ))),
        }
    }
}

#[async_trait::async_trait]
impl Publisher for KafkaPublisher {
    async fn publish(&self, records: Vec<Record>) -> Result<(), PublishError> {
        if records.is_empty() {
            return Ok(());
        }
        if !self.inner.breaker.allow() {
            return Err(PublishError::Unavailable("the Kafka brokers are unreachable; retry later".into()));
        }
        let sent = self.send_all(&records).await;
        match &sent {
            Ok(()) => self.inner.breaker.succeeded(),
            Err(PublishError::Unavailable(why)) => {
                if self.inner.breaker.failed() {
                    tracing::warn!(reason = %why, "Kafka unreachable: answering 503 until a probe succeeds");
                }
            }
            // A full queue is back-pressure, not an outage: the brokers may be fine.
            Err(PublishError::Full(_)) => {}
        }
        sent
    }

    fn is_ready(&self) -> bool {
        !self.inner.breaker.is_open()
    }
}

/// Fail-fast after an outage: open on a failed delivery, then one probe per `probe_every`
/// until a delivery succeeds.
struct Breaker {
    open: AtomicBool,
    /// When the next probe may go, in ms since `epoch`.
    next_probe_ms: AtomicU64,
    probe_every: Duration,
    epoch: Instant,
}

impl Breaker {
    fn new(probe_every: Duration) -> Breaker {
        Breaker { open: AtomicBool::new(false), next_probe_ms: AtomicU64::new(0), probe_every, epoch: Instant::now() }
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    fn is_open(&self) -> bool {
        self.open.load(Ordering::Acquire)
    }

    /// Whether a publish may try now: always when closed; when open, one caller per interval.
    fn allow(&self) -> bool {
        if !self.is_open() {
            return true;
        }
        let now = self.now_ms();
        let due = self.next_probe_ms.load(Ordering::Acquire);
        now >= due
            && self
                .next_probe_ms
                .compare_exchange(due, now + self.probe_every.as_millis() as u64, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
    }

    fn succeeded(&self) {
        if self.open.swap(false, Ordering::AcqRel) {
            tracing::info!("Kafka reachable again");
        }
    }

    /// Opens the breaker; true when it was closed (the outage just began).
    fn failed(&self) -> bool {
        self.next_probe_ms.store(self.now_ms() + self.probe_every.as_millis() as u64, Ordering::Release);
        !self.open.swap(true, Ordering::AcqRel)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn breaker_fails_fast_then_lets_one_probe_through_per_interval() {
        let b = Breaker::new(Duration::from_millis(50));
        assert!(b.allow() && !b.is_open());
        assert!(b.failed(), "the first failure opens it");
        assert!(!b.failed(), "already open");
        assert!(!b.allow(), "no probe before the interval");
        std::thread::sleep(Duration::from_millis(60));
        assert!(b.allow(), "one probe after the interval");
        assert!(!b.allow(), "only one");
        b.succeeded();
        assert!(!b.is_open() && b.allow() && b.allow());
    }
}
