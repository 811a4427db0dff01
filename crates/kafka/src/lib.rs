//! engage-kafka: Kafka in the middle, for production (collector and consumer as separate
//! processes joined by a topic of `RawEvent`s).
//!
//! - [`producer`]: [`KafkaPublisher`], the collector's [`engage_bus::Publisher`]: idempotent,
//!   `acks=all`, keyed by item / session so one key's events share a partition, bounded, and
//!   fast to say 503 while the brokers are unreachable.
//! - [`consumer`]: the consumer group member: one [`engage_consumer::partition::PartitionState`]
//!   per assigned partition, exact recovery from the store's checkpoints, dead letters.
//! - [`source`]: the poll thread and rebalance handling behind the consumer.
//! - [`salts`]: [`salts::KafkaSaltBook`], the viewer-key salts every collector shares, in a
//!   compacted topic.
//! - [`admin`]: topic creation (`engage create-topics`, tests).
//! - [`config`]: connection settings shared by all clients, and librdkafka pass-through.
//! - [`stats`]: librdkafka statistics exported as metrics.
//!
//! # Recovery, in one paragraph
//! The store, not the consumer group, is the source of truth for where a partition resumes:
//! every commit writes the partition's results, a snapshot of its engine and the next offset
//! in one step ([`engage_sink::Store::commit`]). On assignment the consumer restores that
//! snapshot and starts fetching at its offset; group offsets are committed to Kafka only
//! after the store write, for lag monitoring and tooling. A SIGKILL at any instant therefore
//! loses nothing and counts nothing twice: the records after the last checkpoint are read
//! again and applied to exactly the state they were first applied to. See `consumer` for
//! rebalances and `docs` in the README for recovery time.

pub mod admin;
pub mod config;
pub mod consumer;
pub mod producer;
pub mod salts;
pub mod source;
pub mod stats;

pub use config::KafkaConfig;
pub use producer::KafkaPublisher;
