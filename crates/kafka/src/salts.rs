//! The salt book of `engage collector` replicas: a compacted Kafka topic (default
//! `engage.viewer-salts`, one partition), so every collector keys one viewer alike on one day.
//!
//! A record is one proposal: key `YYYY-MM-DD/<random id>`, value the salt as 32 hex digits. A
//! day's salt is the **first** proposal of that day in offset order, for every reader: offsets
//! never change (compaction only removes records), and each proposal has its own key, so
//! compaction, which keeps the last record *per key*, never removes the first proposal while
//! keeping a later one. Deleting a day writes a tombstone (null value) for every key of that
//! day; compaction then removes them all.
//!
//! A background thread reads the partition from the beginning and keeps reading, so the book
//! follows other collectors' proposals as they come. Proposing waits until the reader has
//! passed the proposal's own offset: from then on every earlier proposal has been seen, so the
//! answer to "which was first" is final. Reading first waits, briefly, until the reader has
//! reached the partition's end as the broker reports it (some brokers misreport it: waiting
//! too little only means a redundant proposal, which loses to the first one anyway).

use crate::config::KafkaConfig;
use engage_bus::{DaySalt, SaltBook, SaltBookError};
use engage_model::viewer::salts::{Salt, day_name, parse_day_name, parse_salt_hex, salt_hex};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Message, Offset, TopicPartitionList};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The longest a proposal waits to be read back.
const READ_BACK_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest a read waits for the reader to reach the end the broker reports.
const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(3);

/// What the reader has seen of the topic.
#[derive(Debug, Default)]
struct Seen {
    /// Each day's first live proposal: its key and salt.
    first: BTreeMap<i64, (Vec<u8>, Salt)>,
    /// Every key seen for a day (what deleting it must tombstone).
    keys: BTreeMap<i64, BTreeSet<Vec<u8>>>,
    /// The offset after the last record read.
    next_offset: i64,
}

impl Seen {
    fn apply(&mut self, offset: i64, key: Option<&[u8]>, value: Option<&[u8]>) {
        self.next_offset = self.next_offset.max(offset.saturating_add(1));
        let Some(key) = key else { return };
        let Some(day) = std::str::from_utf8(key).ok().and_then(|k| parse_day_name(k.split('/').next()?).ok()) else {
            tracing::warn!(offset, "ignoring a record of the salts topic with a foreign key");
            return;
        };
        match value {
            // A tombstone: the day is being deleted; no later proposal takes its place.
            None => {
                if let Some(keys) = self.keys.get_mut(&day) {
                    keys.remove(key);
                    if keys.is_empty() {
                        self.keys.remove(&day);
                    }
                }
                if self.first.get(&day).is_some_and(|(k, _)| k.as_slice() == key) {
                    self.first.remove(&day);
                }
            }
            Some(value) => match std::str::from_utf8(value).ok().map(parse_salt_hex) {
                Some(Ok(salt)) => {
                    self.keys.entry(day).or_default().insert(key.to_vec());
                    self.first.entry(day).or_insert_with(|| (key.to_vec(), salt));
                }
                _ => tracing::warn!(offset, "ignoring a record of the salts topic that holds no salt"),
            },
        }
    }
}

/// Day salts in a compacted topic.
pub struct KafkaSaltBook {
    topic: String,
    producer: FutureProducer,
    consumer: Arc<BaseConsumer>,
    seen: Arc<Mutex<Seen>>,
    stop: Arc<AtomicBool>,
}

impl std::fmt::Debug for KafkaSaltBook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaSaltBook").field("topic", &self.topic).finish_non_exhaustive()
    }
}

impl KafkaSaltBook {
    /// Starts reading `config.salts_topic` (partition 0) from its beginning, in a thread of
    /// its own.
    pub fn start(config: &KafkaConfig) -> Result<Self, KafkaError> {
        let topic = config.salts_topic.as_str();
        let mut p = config.client("engage-salts", Duration::from_secs(60));
        p.set("enable.idempotence", "true").set("acks", "all");
        config.apply_properties(&mut p);
        let producer: FutureProducer = p.create()?;
        let mut c = config.client("engage-salts", Duration::from_secs(60));
        // A group id only because some clients insist; nothing is ever committed.
        c.set("group.id", format!("engage-salts-{}", std::process::id()))
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest");
        config.apply_properties(&mut c);
        let consumer: BaseConsumer = c.create()?;
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(topic, 0, Offset::Beginning)?;
        consumer.assign(&tpl)?;
        let book = KafkaSaltBook {
            topic: topic.to_owned(),
            producer,
            consumer: Arc::new(consumer),
            seen: Arc::default(),
            stop: Arc::new(AtomicBool::new(false)),
        };
        let (consumer, seen, stop) = (book.consumer.clone(), book.seen.clone(), book.stop.clone());
        std::thread::Builder::new()
            .name("engage-salts".into())
            .spawn(move || read_forever(&consumer, &seen, &stop))
            .map_err(|e| KafkaError::ClientCreation(format!("cannot start the salts reader: {e}")))?;
        Ok(book)
    }

    fn next_offset(&self) -> i64 {
        self.seen.lock().unwrap_or_else(PoisonError::into_inner).next_offset
    }

    /// Waits until the reader has read up to `offset` (exclusive); false after `timeout`.
    async fn wait_for(&self, offset: i64, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while self.next_offset() < offset {
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        true
    }

    /// The end of the partition as the broker reports it.
    async fn reported_end(&self) -> Result<i64, SaltBookError> {
        let (consumer, topic) = (self.consumer.clone(), self.topic.clone());
        let end = tokio::task::spawn_blocking(move || consumer.fetch_watermarks(&topic, 0, Duration::from_secs(5)))
            .await
            .map_err(|e| SaltBookError::Unavailable(format!("watermark task failed: {e}")))?;
        end.map(|(_, high)| high).map_err(|e| unavailable("cannot reach the salts topic", &e))
    }

    async fn send(&self, key: &[u8], value: Option<&[u8]>) -> Result<i64, SaltBookError> {
        let mut record = FutureRecord::to(&self.topic).partition(0).key(key);
        if let Some(value) = value {
            record = record.payload(value);
        }
        match self.producer.send(record, READ_BACK_TIMEOUT).await {
            Ok(delivery) => Ok(delivery.offset),
            Err((e, _)) => Err(unavailable("the salts topic did not take a record", &e)),
        }
    }
}

impl Drop for KafkaSaltBook {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn unavailable(what: &str, e: &KafkaError) -> SaltBookError {
    SaltBookError::Unavailable(format!("{what}: {e}"))
}

fn read_forever(consumer: &BaseConsumer, seen: &Mutex<Seen>, stop: &AtomicBool) {
    while !stop.load(Ordering::SeqCst) {
        match consumer.poll(Duration::from_millis(100)) {
            None => {}
            Some(Ok(m)) => seen.lock().unwrap_or_else(PoisonError::into_inner).apply(m.offset(), m.key(), m.payload()),
            Some(Err(e)) => {
                tracing::warn!(error = %e, "reading the salts topic");
                std::thread::sleep(Duration::from_millis(500));
            }
        }
    }
}

#[async_trait::async_trait]
impl SaltBook for KafkaSaltBook {
    async fn read(&self) -> Result<Vec<DaySalt>, SaltBookError> {
        let end = self.reported_end().await?;
        self.wait_for(end, CATCH_UP_TIMEOUT).await;
        let seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(seen.first.iter().map(|(day, (_, salt))| (*day, *salt)).collect())
    }

    async fn propose(&self, day: i64, salt: [u8; 16]) -> Result<(), SaltBookError> {
        let mut id = [0u8; 8];
        getrandom::fill(&mut id).map_err(|e| SaltBookError::Unavailable(format!("no randomness: {e}")))?;
        let id: String = id.iter().map(|b| format!("{b:02x}")).collect();
        let key = format!("{}/{id}", day_name(day));
        let offset = self.send(key.as_bytes(), Some(salt_hex(&salt).as_bytes())).await?;
        if self.wait_for(offset.saturating_add(1), READ_BACK_TIMEOUT).await {
            Ok(())
        } else {
            Err(SaltBookError::Unavailable(format!("the proposal at offset {offset} was not read back in time")))
        }
    }

    async fn delete(&self, day: i64) -> Result<(), SaltBookError> {
        let keys: Vec<Vec<u8>> = {
            let seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
            seen.keys.get(&day).map(|k| k.iter().cloned().collect()).unwrap_or_default()
        };
        for key in keys {
            self.send(&key, None).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_proposal_of_a_day_wins_until_the_day_is_deleted() {
        let mut seen = Seen::default();
        seen.apply(0, Some(b"2026-12-02/aa"), Some(salt_hex(&[1; 16]).as_bytes()));
        seen.apply(1, Some(b"2026-12-02/bb"), Some(salt_hex(&[2; 16]).as_bytes()));
        seen.apply(2, Some(b"2026-12-03/cc"), Some(salt_hex(&[3; 16]).as_bytes()));
        seen.apply(3, Some(b"junk"), Some(b"junk"));
        seen.apply(4, Some(b"2026-12-04/dd"), Some(b"not a salt"));
        seen.apply(5, None, Some(b"no key"));
        assert_eq!(seen.next_offset, 6);
        let first: Vec<(i64, Salt)> = seen.first.iter().map(|(d, (_, s))| (*d, *s)).collect();
        assert_eq!(first, vec![(20_789, [1; 16]), (20_790, [3; 16])]);
        assert_eq!(seen.keys[&20_789].len(), 2);
        // Deleting: a tombstone per key; the second proposal does not take the first's place.
        seen.apply(6, Some(b"2026-12-02/aa"), None);
        assert!(!seen.first.contains_key(&20_789));
        seen.apply(7, Some(b"2026-12-02/bb"), None);
        assert!(!seen.keys.contains_key(&20_789));
        assert!(seen.first.contains_key(&20_790));
    }
}
