//! The salt book: where the collectors keep the random daily salts of viewer keys, so that
//! every collector keys one viewer alike on one day.
//!
//! Two books implement it: a directory of the data dir for `engage run` (in the collector
//! crate) and a compacted Kafka topic for `engage collector` replicas (in the Kafka crate). The
//! collector's salt keeper reads the book, proposes the days that are missing and deletes the
//! expired ones; it never knows which book it talks to.
//!
//! The contract that makes racing collectors converge: a book may hold several proposals for a
//! day, and [`SaltBook::read`] answers the *first* of them (in the book's own order) for every
//! day, to every reader, forever (until the day is deleted). So a proposer reads the book
//! again after proposing and adopts what it says, which is its own salt only if it was first.

/// A day's salt (16 random bytes), by UTC day number (days since the epoch).
pub type DaySalt = (i64, [u8; 16]);

/// Why the book could not be read or written; the keeper retries, and the collector answers
/// 503 for events whose day has no salt meanwhile.
#[derive(Debug, thiserror::Error)]
pub enum SaltBookError {
    #[error("salt book unavailable: {0}")]
    Unavailable(String),
    #[error("salt book at {path}: {source}")]
    Io {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Where the collectors share the daily salts.
#[async_trait::async_trait]
pub trait SaltBook: Send + Sync + 'static {
    /// The first salt the book holds for every day, after everything proposed before this call
    /// (by anyone) has been taken into account.
    async fn read(&self) -> Result<Vec<DaySalt>, SaltBookError>;

    /// Proposes `salt` for `day`; a salt the book already holds for that day stays first.
    async fn propose(&self, day: i64, salt: [u8; 16]) -> Result<(), SaltBookError>;

    /// Deletes every salt of `day` (a day already gone is fine).
    async fn delete(&self, day: i64) -> Result<(), SaltBookError>;
}
