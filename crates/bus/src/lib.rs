//! engage-bus: the seam between the collector and whatever carries its events to the consumer.
//!
//! The collector only ever sees [`Publisher`]: "make these records durable, in order, or tell
//! me why not" (full → 503 with `Retry-After`, unavailable → 503). Production plugs a Kafka
//! producer in behind it (in another crate, so this one stays free of rdkafka); embedded
//! defaults (`engage run` without Kafka) use [`EmbeddedLog`], a durable, bounded, single-file
//! log the consumer reads by offset through a [`LogReader`].
//!
//! # Layout
//!
//! - `lib.rs`: the publisher seam ([`Record`], [`Publisher`], [`PublishError`]) and [`BusError`].
//! - [`embedded`]: the embedded log: handle, config and publish path (`embedded/mod.rs`), the
//!   group-committing writer thread (`embedded/writer.rs`), the reader (`embedded/reader.rs`)
//!   and the SQLite schema and pragmas (`embedded/store.rs`).
//! - [`salt_book`]: the seam where collectors share the daily salts of viewer keys.
//! - [`metrics`]: metric names as documented constants.

pub mod embedded;
pub mod metrics;
pub mod salt_book;

pub use embedded::private::prepare_private_sqlite_file;
pub use embedded::{EmbeddedLog, EmbeddedLogConfig, LogReader, LogRecord};
pub use salt_book::{DaySalt, SaltBook, SaltBookError};

/// One record to publish: a partitioning key and an opaque payload (an encoded `RawEvent`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Record {
    /// Partitioning key (Kafka message key); records with one key keep their relative order.
    pub key: Vec<u8>,
    /// The encoded event.
    pub payload: Vec<u8>,
}

/// Why a publish was not acknowledged. Both variants mean "nothing was promised": the caller
/// answers 503 and the client retries; some records of a failed call may still have been
/// written (at-least-once), never silently dropped after an `Ok`.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// Backlog or queue full: the caller answers 503 + Retry-After.
    #[error("bus is full: {0}")]
    Full(String),
    /// Not reachable / failed to persist: 503.
    #[error("bus unavailable: {0}")]
    Unavailable(String),
}

/// Where the collector puts accepted events.
#[async_trait::async_trait]
pub trait Publisher: Send + Sync + 'static {
    /// Returns Ok only once every record is durable. Order is preserved per call and between
    /// calls of one task.
    async fn publish(&self, records: Vec<Record>) -> Result<(), PublishError>;

    /// Whether publishing is expected to succeed now (for /readyz).
    fn is_ready(&self) -> bool;
}

/// Errors of opening and reading the embedded log (publishing reports [`PublishError`]).
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// The configuration cannot work (a zero limit); the operator must fix it.
    #[error("invalid embedded log config: {0}")]
    Config(String),
    /// The log file or its directory could not be prepared.
    #[error("embedded log at {path}: {source}")]
    Io {
        /// The log file.
        path: std::path::PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// SQLite refused an operation (disk full, permissions, corruption, locked too long).
    #[error("embedded log {op} failed: {source}")]
    Storage {
        /// What was being done, e.g. `"open"`, `"read"`.
        op: &'static str,
        /// The SQLite error.
        #[source]
        source: rusqlite::Error,
    },
    /// The file holds something this version does not understand (foreign table, bad meta).
    #[error("embedded log is not in a supported format: {0}")]
    Format(String),
    /// The writer thread could not be started.
    #[error("could not start the embedded log writer thread: {0}")]
    Spawn(#[source] std::io::Error),
    /// A blocking read task panicked or was cancelled (an internal bug, not an I/O problem).
    #[error("embedded log read task failed: {0}")]
    Task(String),
}

impl BusError {
    pub(crate) fn storage(op: &'static str) -> impl FnOnce(rusqlite::Error) -> Self {
        move |source| Self::Storage { op, source }
    }
}
