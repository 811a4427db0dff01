//! The embedded log's on-disk format: one SQLite file, its pragmas and every SQL statement, so
//! the writer and reader modules deal in records and offsets, not SQL.
//!
//! Schema: `log("offset" INTEGER PRIMARY KEY, key BLOB, payload BLOB)` (the offset is the rowid,
//! so range reads and range deletes walk the table's own b-tree) and `meta(key, value)` holding
//! `next_offset`, the offset the next record gets. `next_offset` is read and advanced inside
//! every append transaction, which is what keeps offsets dense and never reused: not after
//! pruning every row, not after a reopen, not even if two handles ever wrote to one file.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::{BusError, Record};

use super::LogRecord;

/// Format of the file; bumped on incompatible schema changes.
const SCHEMA_VERSION: i64 = 1;
/// How long a connection waits for another one's lock before reporting `SQLITE_BUSY`.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// WAL file size kept after a checkpoint (bytes); the rest is truncated.
const JOURNAL_SIZE_LIMIT: i64 = 64 * 1024 * 1024;

const CREATE_SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS log (
        \"offset\" INTEGER PRIMARY KEY,
        key BLOB NOT NULL,
        payload BLOB NOT NULL
    );
    CREATE TABLE IF NOT EXISTS meta (
        key TEXT PRIMARY KEY,
        value INTEGER NOT NULL
    ) WITHOUT ROWID;
    INSERT OR IGNORE INTO meta (key, value) VALUES ('next_offset', 0);
";
const SELECT_META: &str = "SELECT value FROM meta WHERE key = ?1";
const UPSERT_META: &str = "INSERT INTO meta (key, value) VALUES (?1, ?2)
     ON CONFLICT (key) DO UPDATE SET value = excluded.value";
const INSERT_RECORD: &str = "INSERT INTO log (\"offset\", key, payload) VALUES (?1, ?2, ?3)";
const SELECT_RANGE: &str = "SELECT \"offset\", key, payload FROM log
     WHERE \"offset\" >= ?1 ORDER BY \"offset\" LIMIT ?2";
const DELETE_BELOW: &str = "DELETE FROM log WHERE \"offset\" < ?1";

/// What the writer needs to know about a file it just opened.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bounds {
    /// Offset the next record gets.
    pub(crate) next: u64,
    /// Lowest offset still stored (`next` when empty): everything below was pruned.
    pub(crate) first: u64,
}

/// Opens (creating if needed) the log file for writing, sets the durability pragmas and
/// returns the connection with the current bounds.
pub(crate) fn open_writer(path: &Path) -> Result<(Connection, Bounds), BusError> {
    super::private::prepare_private_sqlite_file(path).map_err(|(path, source)| BusError::Io { path, source })?;
    let mut conn = Connection::open(path).map_err(BusError::storage("open"))?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(BusError::storage("open"))?;
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .map_err(BusError::storage("open"))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(BusError::Format(format!(
            "journal_mode WAL refused (got {mode}); is the file on a filesystem without shared memory?"
        )));
    }
    // See the `embedded` module doc for why FULL and not NORMAL.
    conn.pragma_update(None, "synchronous", "FULL").map_err(BusError::storage("open"))?;
    conn.pragma_update(None, "journal_size_limit", JOURNAL_SIZE_LIMIT).map_err(BusError::storage("open"))?;
    // Pruned records are overwritten, not left readable in free pages.
    conn.pragma_update(None, "secure_delete", true).map_err(BusError::storage("open"))?;

    let tx =
        conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(BusError::storage("create schema"))?;
    tx.execute_batch(CREATE_SCHEMA).map_err(BusError::storage("create schema"))?;
    let version: Option<i64> = tx
        .query_row(SELECT_META, ["schema_version"], |row| row.get(0))
        .optional()
        .map_err(BusError::storage("create schema"))?;
    match version {
        None => {
            tx.execute(UPSERT_META, params!["schema_version", SCHEMA_VERSION])
                .map_err(BusError::storage("create schema"))?;
        }
        Some(SCHEMA_VERSION) => {}
        Some(other) => {
            return Err(BusError::Format(format!("schema version {other}, this build reads {SCHEMA_VERSION}")));
        }
    }
    let next = meta_next(&tx).map_err(BusError::storage("open"))?;
    let (min, max): (Option<i64>, Option<i64>) = tx
        .query_row("SELECT MIN(\"offset\"), MAX(\"offset\") FROM log", [], |row| Ok((row.get(0)?, row.get(1)?)))
        .map_err(BusError::storage("open"))?;
    let min = min.map(from_sql).transpose()?;
    let max = max.map(from_sql).transpose()?;
    if max.is_some_and(|max| max >= next) {
        return Err(BusError::Format(format!("stored offset {max:?} is not below next_offset {next}")));
    }
    tx.commit().map_err(BusError::storage("create schema"))?;
    Ok((conn, Bounds { next, first: min.unwrap_or(next) }))
}

/// Opens a read-only-by-pragma connection for a [`super::LogReader`].
pub(crate) fn open_reader(path: &Path) -> Result<Connection, BusError> {
    let conn = Connection::open(path).map_err(BusError::storage("open reader"))?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(BusError::storage("open reader"))?;
    conn.pragma_update(None, "query_only", true).map_err(BusError::storage("open reader"))?;
    Ok(conn)
}

/// Appends `records` in one transaction and returns the offsets they got (`start..end`).
/// Nothing is written unless everything is: the transaction rolls back on any error.
pub(crate) fn append<'a>(
    conn: &mut Connection,
    records: impl Iterator<Item = &'a Record>,
) -> rusqlite::Result<(u64, u64)> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let start = meta_next(&tx)?;
    let mut next = start;
    {
        let mut insert = tx.prepare_cached(INSERT_RECORD)?;
        for record in records {
            insert.execute(params![to_sql(next), record.key.as_slice(), record.payload.as_slice()])?;
            next += 1;
        }
    }
    tx.prepare_cached(UPSERT_META)?.execute(params!["next_offset", to_sql(next)])?;
    tx.commit()?;
    Ok((start, next))
}

/// Deletes every record below `upto` (one transaction); returns how many were deleted.
pub(crate) fn prune(conn: &mut Connection, upto: u64) -> rusqlite::Result<usize> {
    conn.prepare_cached(DELETE_BELOW)?.execute([to_sql(upto)])
}

/// A write transaction that changes nothing visible: proves the file accepts writes again
/// after a failure, so readiness can recover without waiting for traffic.
pub(crate) fn probe(conn: &mut Connection) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let next = meta_next(&tx)?;
    tx.prepare_cached(UPSERT_META)?.execute(params!["next_offset", to_sql(next)])?;
    tx.commit()
}

/// Up to `max` records with offset >= `from`, in offset order.
pub(crate) fn read(conn: &Connection, from: u64, max: usize) -> rusqlite::Result<Vec<LogRecord>> {
    let limit = i64::try_from(max).unwrap_or(i64::MAX);
    let mut stmt = conn.prepare_cached(SELECT_RANGE)?;
    let rows = stmt.query_map(params![to_sql(from), limit], |row| {
        let offset: i64 = row.get(0)?;
        Ok(LogRecord {
            offset: u64::try_from(offset).map_err(|_| rusqlite::Error::IntegralValueOutOfRange(0, offset))?,
            key: row.get(1)?,
            payload: row.get(2)?,
        })
    })?;
    rows.collect()
}

fn meta_next(conn: &Connection) -> rusqlite::Result<u64> {
    let value: i64 = conn.prepare_cached(SELECT_META)?.query_row(["next_offset"], |row| row.get(0))?;
    u64::try_from(value).map_err(|_| rusqlite::Error::IntegralValueOutOfRange(0, value))
}

/// Offsets are u64 in the API and INTEGER (i64) in SQLite; 2^63 records is out of reach, so
/// saturating only matters for callers passing `u64::MAX` as "from the end".
fn to_sql(offset: u64) -> i64 {
    i64::try_from(offset).unwrap_or(i64::MAX)
}

fn from_sql(value: i64) -> Result<u64, BusError> {
    u64::try_from(value).map_err(|_| BusError::Format(format!("negative offset {value}")))
}
