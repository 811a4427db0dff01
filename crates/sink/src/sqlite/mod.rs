//! The embedded store of `engage run`: one SQLite file, no server to install.
//!
//! Two connections, each behind its own mutex: the consumer's commits go through the
//! writer, the API's queries through a query-only reader. With WAL a reader sees the last
//! committed state and never waits for a commit in progress. SQLite calls block, so every
//! operation runs on tokio's blocking pool ([`tokio::task::spawn_blocking`]).
//!
//! - [`schema`]: tables, migrations (and what happens to rows written before generations),
//!   connection settings.
//! - `codec`: how count arrays and u64 viewer keys are stored.
//! - `write`: the atomic, idempotent commit. `read`: the API's queries.
//! - `analytics`: the webinar, page-view, traits and raw analytics tables (schema v2).
//! - `archive`: engine states kept for late events, and their expiry (schema v4).
//! - `retention`: what a commit deletes for age (traits, raw events, rejected inputs).

mod analytics;
mod archive;
pub(crate) mod codec;
#[cfg(test)]
mod private;
pub mod schema;

mod read;
mod retention;
pub(crate) mod write;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_generations;

use crate::error::{SqlContext, StoreError};
use crate::store::{
    AppSummary, Checkpoint, CommitBatch, Erasure, ErasureReport, ItemEngagement, ItemQuery, ItemSummary, RejectedRow,
    SessionEngagement, SessionListing, Store, TimeRange, TopItemsQuery,
};
use rusqlite::Connection;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// Days user traits are kept after their last update unless configured (about 13 months).
pub const DEFAULT_TRAITS_TTL_DAYS: u32 = 395;

/// Days raw analytics events and rejected inputs are kept unless configured.
pub const DEFAULT_RAW_TTL_DAYS: u32 = 30;

/// How often a commit also deletes what has expired.
const EXPIRY_EVERY_MS: i64 = 3_600_000;

/// The SQLite-backed [`Store`]. Cheap to clone (connections are shared).
#[derive(Clone)]
pub struct SqliteStore {
    path: Arc<PathBuf>,
    writer: Arc<Mutex<Connection>>,
    reader: Arc<Mutex<Connection>>,
    /// Traits not updated for this long are deleted (None: kept forever).
    traits_ttl_ms: Option<i64>,
    /// Raw analytics events and rejected inputs older than this are deleted (None: kept forever).
    raw_ttl_ms: Option<i64>,
    /// Wall clock of the last expiry pass.
    expired_at: Arc<AtomicI64>,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore").field("path", &self.path).finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating it and its parent directories if needed) the database at `path`,
    /// configures it and applies pending migrations. Blocking: call it at start-up or
    /// from a blocking context.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        engage_bus::prepare_private_sqlite_file(path)
            .map_err(|(path, source)| StoreError::CreateDir { path, source })?;
        let open_err = |source| StoreError::Open { path: path.to_path_buf(), source };
        let mut writer = Connection::open(path).map_err(open_err)?;
        schema::configure_writer(&writer).map_err(open_err)?;
        schema::migrate(&mut writer)?;
        let reader = Connection::open(path).map_err(open_err)?;
        schema::configure_reader(&reader).map_err(open_err)?;
        Ok(SqliteStore {
            path: Arc::new(path.to_path_buf()),
            writer: Arc::new(Mutex::new(writer)),
            reader: Arc::new(Mutex::new(reader)),
            traits_ttl_ms: Some(i64::from(DEFAULT_TRAITS_TTL_DAYS) * 86_400_000),
            raw_ttl_ms: Some(i64::from(DEFAULT_RAW_TTL_DAYS) * 86_400_000),
            expired_at: Arc::new(AtomicI64::new(i64::MIN)),
        })
    }

    /// Keeps user traits `days` after their last update (0: forever; default
    /// [`DEFAULT_TRAITS_TTL_DAYS`]). Expired traits are deleted by a commit, at most hourly.
    pub fn with_traits_ttl_days(mut self, days: u32) -> Self {
        self.traits_ttl_ms = (days > 0).then(|| i64::from(days) * 86_400_000);
        self
    }

    /// Keeps raw analytics events and rejected inputs `days` after receipt (0: forever;
    /// default [`DEFAULT_RAW_TTL_DAYS`]). Older rows are deleted by a commit, at most hourly.
    pub fn with_raw_ttl_days(mut self, days: u32) -> Self {
        self.raw_ttl_ms = (days > 0).then(|| i64::from(days) * 86_400_000);
        self
    }

    /// The cut-offs of an expiry pass when one is due (and marks it done).
    fn expiry_due(&self) -> Option<retention::Expiry> {
        if self.traits_ttl_ms.is_none() && self.raw_ttl_ms.is_none() {
            return None;
        }
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).ok()?.as_millis() as i64;
        let last = self.expired_at.load(Ordering::Relaxed);
        (now.saturating_sub(last) >= EXPIRY_EVERY_MS
            && self.expired_at.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_ok())
        .then(|| retention::Expiry {
            traits_before: self.traits_ttl_ms.map(|ttl| now.saturating_sub(ttl)),
            raw_before: self.raw_ttl_ms.map(|ttl| now.saturating_sub(ttl)),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The schema version recorded in the file.
    pub async fn schema_version(&self) -> Result<i64, StoreError> {
        on_blocking_pool(&self.reader, |conn| schema::version(conn)).await
    }

    /// Applies pending migrations again (a no-op when up to date); `open` already does.
    pub async fn migrate(&self) -> Result<i64, StoreError> {
        on_blocking_pool(&self.writer, schema::migrate).await
    }
}

/// Runs `f` with exclusive use of `conn` on the blocking pool.
async fn on_blocking_pool<T, F>(conn: &Arc<Mutex<Connection>>, f: F) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
{
    let conn = Arc::clone(conn);
    tokio::task::spawn_blocking(move || {
        // A panic while holding the lock unwound through rusqlite's Transaction, which rolls
        // back on drop: the connection is still sound, so recover it rather than fail forever.
        let mut conn = conn.lock().unwrap_or_else(PoisonError::into_inner);
        if !conn.is_autocommit() {
            conn.execute_batch("ROLLBACK").ctx("roll back an abandoned transaction")?;
        }
        f(&mut conn)
    })
    .await
    .map_err(|e| StoreError::Task(e.to_string()))?
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    async fn commit(&self, batch: std::sync::Arc<CommitBatch>) -> Result<(), StoreError> {
        let expiry = self.expiry_due();
        on_blocking_pool(&self.writer, move |conn| write::commit(conn, &batch, expiry)).await
    }

    async fn checkpoint(&self, partition: i32) -> Result<Option<Checkpoint>, StoreError> {
        on_blocking_pool(&self.reader, move |conn| read::checkpoint(conn, partition)).await
    }

    async fn load_archived(
        &self,
        partition: i32,
        keys: &[[u8; 16]],
        max_version: u64,
    ) -> Result<Vec<([u8; 16], Vec<u8>)>, StoreError> {
        let keys = keys.to_vec();
        on_blocking_pool(&self.reader, move |conn| archive::load(conn, partition, &keys, max_version)).await
    }

    async fn item_engagement(&self, q: &ItemQuery) -> Result<ItemEngagement, StoreError> {
        let q = q.clone();
        on_blocking_pool(&self.reader, move |conn| read::item_engagement(conn, &q)).await
    }

    async fn top_items(&self, q: &TopItemsQuery) -> Result<Vec<ItemSummary>, StoreError> {
        let q = *q;
        on_blocking_pool(&self.reader, move |conn| read::top_items(conn, &q)).await
    }

    async fn item_apps(&self, item: &str, range: TimeRange) -> Result<Vec<AppSummary>, StoreError> {
        let item = item.to_owned();
        on_blocking_pool(&self.reader, move |conn| read::item_apps(conn, &item, range)).await
    }

    async fn recent_rejected(&self, limit: u32) -> Result<Vec<RejectedRow>, StoreError> {
        on_blocking_pool(&self.reader, move |conn| read::recent_rejected(conn, limit)).await
    }

    async fn session_engagement(
        &self,
        session_id: &str,
        sources: Option<&[String]>,
    ) -> Result<Vec<SessionEngagement>, StoreError> {
        let (id, sources) = (session_id.to_owned(), sources.map(<[String]>::to_vec));
        on_blocking_pool(&self.reader, move |conn| analytics::session_engagement(conn, &id, sources.as_deref())).await
    }

    async fn top_sessions(
        &self,
        range: TimeRange,
        limit: u32,
        sources: Option<&[String]>,
    ) -> Result<Vec<SessionListing>, StoreError> {
        let sources = sources.map(<[String]>::to_vec);
        on_blocking_pool(&self.reader, move |conn| analytics::top_sessions(conn, range, limit, sources.as_deref()))
            .await
    }

    async fn erase(&self, erasure: &Erasure) -> Result<ErasureReport, StoreError> {
        let erasure = erasure.clone();
        on_blocking_pool(&self.writer, move |conn| analytics::erase(conn, &erasure)).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        on_blocking_pool(&self.reader, |conn| {
            conn.query_row("SELECT 1", [], |r| r.get::<_, i64>(0)).ctx("answer a ping")?;
            Ok(())
        })
        .await
    }
}
