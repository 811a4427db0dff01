//! The one error type of every store, so callers (the consumer loop, the API) can tell a
//! busy or unavailable store (retry later) from bad data (a bug or a corrupt file).

use std::path::PathBuf;

/// Everything a store operation can fail with. Messages say what was being done.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The directory holding the database could not be created.
    #[error("cannot create the data directory {path}: {source}")]
    CreateDir { path: PathBuf, source: std::io::Error },
    /// The database file could not be opened or configured.
    #[error("cannot open the SQLite database {path}: {source}")]
    Open { path: PathBuf, source: rusqlite::Error },
    /// A SQLite statement failed; `op` says which step.
    #[error("SQLite failed to {op}: {source}")]
    Sqlite { op: &'static str, source: rusqlite::Error },
    /// The file was written by a newer build (a downgrade): refuse rather than guess.
    #[error("the database schema is version {found}, newer than this build supports ({supported}); upgrade engage")]
    SchemaTooNew { found: i64, supported: i64 },
    /// A stored value does not decode (a corrupt file or a bug in a writer).
    #[error("corrupt {what} in the store: {detail}")]
    Corrupt { what: &'static str, detail: String },
    /// A batch the store refuses before writing anything (e.g. wrong array lengths).
    #[error("invalid commit batch: {0}")]
    InvalidBatch(String),
    /// A value does not fit the store's integer type.
    #[error("{what} = {value} does not fit a signed 64-bit integer")]
    OutOfRange { what: &'static str, value: u64 },
    /// The blocking task running the operation panicked or was cancelled.
    #[error("store task failed: {0}")]
    Task(String),
}

impl StoreError {
    /// True when the same operation may succeed if retried later (the database was busy
    /// or locked by another process, the disk was full or an I/O error happened).
    pub fn is_transient(&self) -> bool {
        use rusqlite::ErrorCode as C;
        match self {
            Self::Sqlite { source, .. } | Self::Open { source, .. } => matches!(
                source.sqlite_error_code(),
                Some(C::DatabaseBusy | C::DatabaseLocked | C::DiskFull | C::SystemIoFailure | C::CannotOpen)
            ),
            Self::CreateDir { .. } => true,
            Self::SchemaTooNew { .. }
            | Self::Corrupt { .. }
            | Self::InvalidBatch(_)
            | Self::OutOfRange { .. }
            | Self::Task(_) => false,
        }
    }
}

/// Attaches the step that failed to a SQLite error.
pub(crate) trait SqlContext<T> {
    fn ctx(self, op: &'static str) -> Result<T, StoreError>;
}

impl<T> SqlContext<T> for Result<T, rusqlite::Error> {
    fn ctx(self, op: &'static str) -> Result<T, StoreError> {
        self.map_err(|source| StoreError::Sqlite { op, source })
    }
}
