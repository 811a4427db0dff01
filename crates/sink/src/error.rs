//! The one error type of every store, so callers (the consumer loop, the API) can tell a
//! busy or unavailable store (retry later) from bad data (a bug or a corrupt file).

use std::path::PathBuf;

/// Everything a store operation can fail with. Messages say what was being done.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The directory holding the database, or the database file itself, could not be created
    /// or made private (0700 / 0600).
    #[error("cannot create or make private {path}: {source}")]
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
    /// ClickHouse could not be reached or answered with a failure that may pass (network,
    /// timeout, a server overloaded or restarting): retry later; nothing was half-applied
    /// that a retry would not rewrite identically.
    #[error("ClickHouse is unavailable ({op}): {source}")]
    ClickHouseUnavailable { op: &'static str, source: clickhouse::error::Error },
    /// ClickHouse's tables do not match what this build writes or reads (a table or column
    /// is missing or has another type): retrying cannot help, migrating can.
    #[error("the ClickHouse schema does not match this build ({op}): {detail}; run `engage migrate`")]
    ClickHouseSchema { op: &'static str, detail: String },
    /// The ClickHouse schema is older than this build (or absent).
    #[error(
        "the ClickHouse database `{database}` is at schema version {found}, this build needs {needed}; \
         run `engage migrate --clickhouse-url URL --clickhouse-database {database}`"
    )]
    ClickHouseSchemaBehind { database: String, found: u32, needed: u32 },
    /// ClickHouse refused a request for a reason retrying cannot fix (credentials,
    /// permissions, a malformed query: a bug).
    #[error("ClickHouse refused to {op}: {source}")]
    ClickHouse { op: &'static str, source: clickhouse::error::Error },
}

impl StoreError {
    /// True when the same operation may succeed if retried later (the database was busy
    /// or locked by another process, the disk was full or an I/O error happened; ClickHouse
    /// was unreachable, timed out or overloaded).
    pub fn is_transient(&self) -> bool {
        use rusqlite::ErrorCode as C;
        match self {
            Self::Sqlite { source, .. } | Self::Open { source, .. } => matches!(
                source.sqlite_error_code(),
                Some(C::DatabaseBusy | C::DatabaseLocked | C::DiskFull | C::SystemIoFailure | C::CannotOpen)
            ),
            Self::CreateDir { .. } | Self::ClickHouseUnavailable { .. } => true,
            Self::SchemaTooNew { .. }
            | Self::ClickHouseSchema { .. }
            | Self::ClickHouseSchemaBehind { .. }
            | Self::ClickHouse { .. }
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
