//! The production store: ClickHouse, where operators keep the numbers and their BI tools
//! (Grafana, Superset, Metabase) read them. Spoken over HTTP with the official `clickhouse`
//! crate (RowBinary, LZ4-compressed both ways); the API's answers are the same JSON as
//! [`crate::SqliteStore`]'s for the same data.
//!
//! # Writes without a transaction
//! ClickHouse has no multi-table transaction, so [`Store::commit`]'s "all or nothing" is
//! made of three properties instead:
//! 1. **Data rows first, checkpoint last.** One INSERT per non-empty table (about one per
//!    second per table: the consumer's commit rhythm, never one per event); the checkpoint
//!    is inserted only after every data insert was acknowledged. A crash between any two
//!    inserts leaves the previous checkpoint in place, so the consumer resumes before the
//!    rows already written and writes them again.
//! 2. **Rewrites are harmless.** Full-state rows (video window generations and viewer
//!    weights, session windows, session summaries, page view generations) carry `version =
//!    next_offset` of their batch and live in `ReplacingMergeTree(version)` tables: for each
//!    key (for window rows: including partition and generation) the highest version is the
//!    answer, and a window is the sum of its keys' answers. A replay rewrites the same rows
//!    with the same versions (the engine is deterministic from its snapshot), or, when it
//!    commits at other offsets, rows the replay is about to reach anyway; a row is never a
//!    state the pipeline will not reach. Raw events and rejected inputs are deduplicated by
//!    their event id, user traits keep the latest by (event time, event id), archived
//!    states by (partition, key, version), partition watermarks keep their maximum: all
//!    indifferent to being written twice.
//! 3. **Nothing regresses.** A lower version written after a higher one (a zombie consumer
//!    that lost its partition, a late retry) never wins: `FINAL` keeps the highest version,
//!    and a checkpoint is read as the highest `next_offset` of its partition. Every key lives
//!    in exactly one partition, so the versions of one key are comparable.
//!
//! # Reading: FINAL rather than argMax
//! Full-state tables are read with `FINAL`, which merges each key's versions at read time
//! (rows not yet merged in the background). It keeps the SQL the same shape as the table
//! (`SELECT ... FROM video_window_rows FINAL WHERE ...`), for our queries and for analysts'; the
//! sorting keys start with the filtered column (item, session) and partitions by month let
//! ClickHouse merge only what a query touches. `argMax(col, version)` per column would be
//! as exact, but needs a GROUP BY over every key column and one argMax per counter.
//!
//! # Failures
//! Retryable failures (network, timeouts, overload, other server errors) are retried inside
//! the store with a short jittered backoff, then reported as
//! [`StoreError::ClickHouseUnavailable`] (transient): the consumer keeps retrying the commit
//! without advancing. A schema that does not match fails at once with
//! [`StoreError::ClickHouseSchema`], naming `engage migrate` (see `retry`).
//!
//! # Layout
//! - [`schema`]: the versioned migrations (tables, views) and `engage migrate`.
//! - `rows`: the rows exchanged with ClickHouse. `write`: the commit. `read`: the API's queries.
//! - `archive`: archived engine states read back for late events.
//! - [`retry`]: error classification and the retry policy.

mod archive;
pub mod retry;
mod rows;
pub mod schema;

mod read;
mod write;

#[cfg(test)]
mod tests;

pub use retry::RetryPolicy;
pub use schema::{MigrateOptions, MigrateReport};

use crate::error::StoreError;
use crate::store::{
    AppSummary, Checkpoint, CommitBatch, Erasure, ErasureReport, ItemEngagement, ItemQuery, ItemSummary, RejectedRow,
    SessionEngagement, SessionListing, Store, TimeRange, TopItemsQuery,
};
use clickhouse::query::Query;
use clickhouse::{Client, RowOwned, RowRead};
use std::fmt;
use std::future::Future;
use std::time::Duration;

/// Where and how to reach ClickHouse.
#[derive(Clone)]
pub struct ClickHouseConfig {
    /// `http://host:8123` (or `https://` with the `tls` feature).
    pub url: String,
    pub database: String,
    pub user: Option<String>,
    pub password: Option<String>,
    /// Bound on one request (an insert, a query).
    pub request_timeout: Duration,
    /// Retries of one request inside the store.
    pub retry: RetryPolicy,
}

impl fmt::Debug for ClickHouseConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClickHouseConfig")
            .field("url", &self.url)
            .field("database", &self.database)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<hidden>"))
            .field("request_timeout", &self.request_timeout)
            .field("retry", &self.retry)
            .finish()
    }
}

impl ClickHouseConfig {
    /// A configuration with the defaults: database `engage`, 30 s per request, the default retries.
    pub fn new(url: impl Into<String>) -> Self {
        ClickHouseConfig {
            url: url.into(),
            database: "engage".into(),
            user: None,
            password: None,
            request_timeout: Duration::from_secs(30),
            retry: RetryPolicy::default(),
        }
    }

    /// A client of the server, using the database or not (it may not exist yet).
    fn client(&self, with_database: bool) -> Client {
        let mut client = Client::default().with_url(&self.url);
        if with_database {
            client = client.with_database(&self.database);
        }
        if let Some(user) = &self.user {
            client = client.with_user(user);
        }
        if let Some(password) = &self.password {
            client = client.with_password(password);
        }
        client
    }
}

/// The ClickHouse-backed [`Store`]. Cheap to clone (the HTTP connection pool is shared).
#[derive(Clone)]
pub struct ClickHouseStore {
    client: Client,
    config: ClickHouseConfig,
}

impl fmt::Debug for ClickHouseStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClickHouseStore").field("config", &self.config).finish_non_exhaustive()
    }
}

impl ClickHouseStore {
    /// Connects and checks the schema: fails with "run `engage migrate`" when the database
    /// is missing or behind this build, and refuses a schema newer than this build.
    pub async fn connect(config: ClickHouseConfig) -> Result<Self, StoreError> {
        let store = ClickHouseStore::unchecked(config);
        let found = Self::schema_version_of(&store.client, &store.config).await?;
        if found < schema::SCHEMA_VERSION {
            return Err(StoreError::ClickHouseSchemaBehind {
                database: store.config.database.clone(),
                found,
                needed: schema::SCHEMA_VERSION,
            });
        }
        if found > schema::SCHEMA_VERSION {
            return Err(StoreError::SchemaTooNew { found: found.into(), supported: schema::SCHEMA_VERSION.into() });
        }
        Ok(store)
    }

    /// A store that does not check the schema first (its requests fail if it is wrong).
    pub fn unchecked(config: ClickHouseConfig) -> Self {
        ClickHouseStore { client: config.client(true), config }
    }

    /// Creates or upgrades the schema (`engage migrate`); safe to run twice and concurrently.
    pub async fn migrate(config: &ClickHouseConfig, options: MigrateOptions) -> Result<MigrateReport, StoreError> {
        schema::migrate(config, options).await
    }

    /// The configuration this store was made with.
    pub fn config(&self) -> &ClickHouseConfig {
        &self.config
    }

    /// The schema version recorded in the database (0 when the database or its
    /// `schema_migrations` table does not exist).
    pub async fn schema_version(&self) -> Result<u32, StoreError> {
        Self::schema_version_of(&self.client, &self.config).await
    }

    async fn schema_version_of(client: &Client, config: &ClickHouseConfig) -> Result<u32, StoreError> {
        match schema::applied_versions(client, config).await {
            Ok(versions) => Ok(versions.last().copied().unwrap_or(0)),
            Err(StoreError::ClickHouseSchema { .. }) => Ok(0),
            Err(e) => Err(e),
        }
    }

    /// All rows of a query, retried per the policy, each try bounded by the request timeout.
    async fn fetch_all<T>(&self, op: &'static str, query: impl Fn() -> Query) -> Result<Vec<T>, StoreError>
    where
        T: RowOwned + RowRead,
    {
        let timeout = self.config.request_timeout;
        self.config.retry.run(op, || bounded(timeout, query().fetch_all::<T>())).await
    }

    /// The one row of a query (an aggregate without GROUP BY).
    async fn fetch_one<T>(&self, op: &'static str, query: impl Fn() -> Query) -> Result<T, StoreError>
    where
        T: RowOwned + RowRead,
    {
        let timeout = self.config.request_timeout;
        self.config.retry.run(op, || bounded(timeout, query().fetch_one::<T>())).await
    }
}

/// `fut`, or `TimedOut` (retryable) when it takes longer than `timeout`.
async fn bounded<T>(
    timeout: Duration,
    fut: impl Future<Output = clickhouse::error::Result<T>>,
) -> clickhouse::error::Result<T> {
    tokio::time::timeout(timeout, fut).await.unwrap_or(Err(clickhouse::error::Error::TimedOut))
}

#[async_trait::async_trait]
impl Store for ClickHouseStore {
    async fn commit(&self, batch: std::sync::Arc<CommitBatch>) -> Result<(), StoreError> {
        write::commit(self, &[&batch]).await
    }

    async fn commit_all(&self, batches: &[std::sync::Arc<CommitBatch>]) -> Result<(), StoreError> {
        let batches: Vec<&CommitBatch> = batches.iter().map(|b| b.as_ref()).collect();
        write::commit(self, &batches).await
    }

    async fn checkpoint(&self, partition: i32) -> Result<Option<Checkpoint>, StoreError> {
        self.read_checkpoint(partition).await
    }

    async fn load_archived(
        &self,
        partition: i32,
        keys: &[[u8; 16]],
        max_version: u64,
    ) -> Result<Vec<([u8; 16], Vec<u8>)>, StoreError> {
        self.read_archived(partition, keys, max_version).await
    }

    async fn item_engagement(&self, q: &ItemQuery) -> Result<ItemEngagement, StoreError> {
        self.read_item_engagement(q).await
    }

    async fn top_items(&self, q: &TopItemsQuery) -> Result<Vec<ItemSummary>, StoreError> {
        self.read_top_items(q).await
    }

    async fn item_apps(&self, item: &str, range: TimeRange) -> Result<Vec<AppSummary>, StoreError> {
        self.read_item_apps(item, range).await
    }

    async fn recent_rejected(&self, limit: u32) -> Result<Vec<RejectedRow>, StoreError> {
        self.read_recent_rejected(limit).await
    }

    async fn session_engagement(
        &self,
        session_id: &str,
        sources: Option<&[String]>,
    ) -> Result<Vec<SessionEngagement>, StoreError> {
        self.read_session_engagement(session_id, sources).await
    }

    async fn top_sessions(
        &self,
        range: TimeRange,
        limit: u32,
        sources: Option<&[String]>,
    ) -> Result<Vec<SessionListing>, StoreError> {
        self.read_top_sessions(range, limit, sources).await
    }

    async fn erase(&self, erasure: &Erasure) -> Result<ErasureReport, StoreError> {
        write::erase(self, erasure).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let timeout = self.config.request_timeout;
        // One try: readiness should report what is, not wait for it to get better.
        RetryPolicy::NONE
            .run("answer a ping", || bounded(timeout, self.client.query("SELECT 1").fetch_one::<u8>()))
            .await
            .map(drop)
    }
}
