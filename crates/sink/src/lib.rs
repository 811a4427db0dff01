//! engage-sink: where rollups land and where the read side finds them.
//!
//! The consumer hands a [`CommitBatch`] (full-state window generations, viewer weights,
//! rejected inputs, archived engine states and its own checkpoint) to a [`Store`], which
//! writes all of it in one atomic, idempotent step; the API then asks the same trait for
//! engagement over a time range (a window is the sum of its generations).
//! Backends differ (SQLite embedded, ClickHouse in production), the contract does not.
//!
//! # Layout
//! - [`store`]: the [`Store`] trait and the types it speaks (batches, queries, answers).
//! - [`error`]: [`StoreError`], what failed and whether retrying may help.
//! - [`sqlite`]: [`SqliteStore`], the embedded store of `engage run`.
//! - [`clickhouse`]: [`ClickHouseStore`], the production store, and its migrations.

pub mod clickhouse;
pub mod error;
pub mod sqlite;
pub mod store;

pub use self::clickhouse::{ClickHouseConfig, ClickHouseStore};
pub use error::StoreError;
pub use sqlite::SqliteStore;
pub use store::{
    AnalyticsRow, AppSummary, Checkpoint, CommitBatch, Erasure, ErasureReport, ItemEngagement, ItemQuery, ItemSummary,
    RejectedRow, SessionEngagement, SessionListing, SessionTimelinePoint, Store, TimeRange, TimelinePoint,
    TopItemsQuery, UserTraits, ratio,
};
