//! The SQLite schema and its versioned migrations, plus connection settings.
//!
//! `PRAGMA user_version` holds the number of migrations applied; opening a store applies
//! the missing ones in one immediate transaction (so two processes opening the same new
//! file cannot both migrate it), and running it again is a no-op. Migrations are only ever
//! appended: never edit a released one.
//!
//! # Tables (version 1)
//! - `video_windows`: one full-state row per (item, app, window_start). Scalar counters are
//!   INTEGER columns; the count arrays (`retention` 100 slots; `exits`, `seek_from`,
//!   `seek_to` 101 slots) are varint BLOBs (see the `codec` module).
//! - `video_viewers`: the set of viewers with a play per (item, app, window); the u64 viewer
//!   key is stored bit-cast as a signed INTEGER. The primary key is ordered
//!   (item, window_start, app, viewer) so one item's range scan serves both the
//!   all-apps and the one-app distinct counts.
//! - `rejected`: refused inputs, keyed by their deterministic `event_id`.
//! - `checkpoints`: per consumer partition, the next offset and the engine snapshot.
//!
//! # Tables (version 2: analytics, see the `analytics` module)
//! - `session_windows`: one full-state row per webinar (session_id, window_start).
//! - `session_summaries`: one full-state row per webinar session.
//! - `page_views`: page/screen views per (kind, name, window_start).
//! - `user_traits`: the latest identify traits per user (by event time).
//! - `analytics_events`: every accepted analytics event, raw, keyed by event id. Kept
//!   `--raw-ttl-days` (30) after receipt, like rejected inputs: a commit deletes older rows,
//!   at most hourly (see `retention`); the ClickHouse schema bounds them with a TTL.
//!
//! # Version 3: versioned full-state rows
//! - `version` on `video_windows`, `session_windows`, `session_summaries` and `page_views`:
//!   the position (next offset) of the batch that wrote the row. An upsert only replaces a
//!   row with one at least as new, and a checkpoint only moves forward, so a stale writer (a
//!   consumer that lost its partition in a rebalance but still commits) cannot roll back
//!   what the partition's new owner wrote.
//!
//! # Version 4: rows that sum (generations), finality, the archive
//! A window's numbers are now the sum of its rows: one row per (window, consumer partition,
//! generation), each versioned like before (see [`engage_model::rollup`]). SQLite cannot
//! change a primary key in place, so the three window tables are replaced by new ones and
//! their rows copied over, in the migration's one transaction:
//! - `video_window_rows`: key (item, window_start, app, partition_id, generation); signed
//!   INTEGER counters (no `CHECK >= 0`: one generation may retract what another counted),
//!   `orphans` new, signed count arrays (codec format 2). No `is_final`: finality is computed.
//! - `video_viewer_weights`: key (item, window_start, app, viewer, partition_id, generation)
//!   with a signed `weight` and a version. A viewer has a play in a window when their weights
//!   over all rows of (item, app, window) sum to more than 0.
//! - `page_view_rows`: key (kind, name, window_start, partition_id, generation).
//! - `partition_progress`: per consumer partition, the highest watermark and
//!   `final_before` any batch reported (they never move back). A timeline point is final
//!   when its window ends at or before the smallest `final_before` of the partitions that
//!   have one; with none, nothing is final.
//! - `archived_states`: engine states (partition_id, 16-byte key, version) kept until the
//!   partition's watermark passes their `expires_at` (deleted by the commit that sees it).
//!
//! What happens to windows written before: every `video_windows` row becomes the row of
//! generation 0 of partition -1 (counts and blobs unchanged; format-1 blobs are still
//! read), every `video_viewers` row a weight-1 row of generation 0 of partition -1, every
//! `page_views` row likewise; then the old tables are dropped. So old windows answer the
//! same counts and distinct viewers as before, and late data of the new pipeline adds
//! generations of real partitions to them. Their stored `is_final` is dropped: partition
//! -1 never reports a watermark and never blocks finality, so an old window is final once
//! the partitions of the new pipeline report a `final_before` past its end (and, like any
//! window, not before any partition reported one).

//!
//! # Version 5: sources are tenants (see the `analytics` module)
//! `source` leads the keys of `session_windows`, `session_summaries`, `page_view_rows` and
//! `user_traits`, and is a column of `analytics_events`; rows written before it have source
//! "" (which source sent them was not kept).
//!
//! # Version 6: bots counted apart
//! `bot_impressions` and `bot_plays` on `video_window_rows` (signed, like every counter):
//! bots' views, which count in no other column. Rows written before are 0 (bots were then
//! counted as people).

use crate::error::{SqlContext, StoreError};
use rusqlite::{Connection, TransactionBehavior};
use std::time::Duration;

/// How long a statement waits for a lock held by another connection before failing.
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Every migration, in order; migration `i` brings the schema to version `i + 1` (public so
/// tests can build a database of an older version and check what migrating it keeps).
pub const MIGRATIONS: &[&str] = &[V1, super::analytics::V2, V3, V4, super::analytics::V5, V6];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

const V1: &str = "
CREATE TABLE video_windows (
    item          TEXT    NOT NULL,
    app           TEXT    NOT NULL,
    window_start  INTEGER NOT NULL,
    window_end    INTEGER NOT NULL,
    is_final      INTEGER NOT NULL CHECK (is_final IN (0, 1)),
    impressions   INTEGER NOT NULL CHECK (impressions >= 0),
    plays         INTEGER NOT NULL CHECK (plays >= 0),
    engaged_plays INTEGER NOT NULL CHECK (engaged_plays >= 0),
    completions   INTEGER NOT NULL CHECK (completions >= 0),
    pauses        INTEGER NOT NULL CHECK (pauses >= 0),
    duplicates    INTEGER NOT NULL CHECK (duplicates >= 0),
    ignored       INTEGER NOT NULL CHECK (ignored >= 0),
    abandons      INTEGER NOT NULL CHECK (abandons >= 0),
    active_views  INTEGER NOT NULL CHECK (active_views >= 0),
    retention     BLOB    NOT NULL,
    exits         BLOB    NOT NULL,
    seek_from     BLOB    NOT NULL,
    seek_to       BLOB    NOT NULL,
    PRIMARY KEY (item, app, window_start),
    CHECK (window_end > window_start)
);
CREATE INDEX video_windows_by_item_start ON video_windows (item, window_start);
CREATE INDEX video_windows_by_start ON video_windows (window_start);

CREATE TABLE video_viewers (
    item         TEXT    NOT NULL,
    app          TEXT    NOT NULL,
    window_start INTEGER NOT NULL,
    viewer       INTEGER NOT NULL,
    PRIMARY KEY (item, window_start, app, viewer)
) WITHOUT ROWID;

CREATE TABLE rejected (
    event_id    BLOB    NOT NULL PRIMARY KEY CHECK (length(event_id) > 0),
    received_at INTEGER NOT NULL,
    route       TEXT    NOT NULL,
    reason_code TEXT    NOT NULL,
    reason      TEXT    NOT NULL,
    input       TEXT    NOT NULL,
    truncated   INTEGER NOT NULL CHECK (truncated IN (0, 1))
);
CREATE INDEX rejected_by_received_at ON rejected (received_at, event_id);

CREATE TABLE checkpoints (
    partition_id INTEGER NOT NULL PRIMARY KEY,
    next_offset  INTEGER NOT NULL CHECK (next_offset >= 0),
    snapshot     BLOB    NOT NULL,
    updated_at   INTEGER NOT NULL
);
";

const V3: &str = "
ALTER TABLE video_windows ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
ALTER TABLE session_windows ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
ALTER TABLE session_summaries ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
ALTER TABLE page_views ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
";

const V4: &str = "
CREATE TABLE video_window_rows (
    item          TEXT    NOT NULL,
    app           TEXT    NOT NULL,
    window_start  INTEGER NOT NULL,
    partition_id  INTEGER NOT NULL,
    generation    INTEGER NOT NULL CHECK (generation >= 0),
    window_end    INTEGER NOT NULL,
    impressions   INTEGER NOT NULL,
    plays         INTEGER NOT NULL,
    engaged_plays INTEGER NOT NULL,
    completions   INTEGER NOT NULL,
    pauses        INTEGER NOT NULL,
    duplicates    INTEGER NOT NULL,
    ignored       INTEGER NOT NULL,
    orphans       INTEGER NOT NULL,
    abandons      INTEGER NOT NULL,
    active_views  INTEGER NOT NULL,
    retention     BLOB    NOT NULL,
    exits         BLOB    NOT NULL,
    seek_from     BLOB    NOT NULL,
    seek_to       BLOB    NOT NULL,
    version       INTEGER NOT NULL,
    PRIMARY KEY (item, window_start, app, partition_id, generation),
    CHECK (window_end > window_start)
);
CREATE INDEX video_window_rows_by_start ON video_window_rows (window_start);
INSERT INTO video_window_rows (item, app, window_start, partition_id, generation, window_end,
    impressions, plays, engaged_plays, completions, pauses, duplicates, ignored, orphans, abandons, active_views,
    retention, exits, seek_from, seek_to, version)
SELECT item, app, window_start, -1, 0, window_end,
    impressions, plays, engaged_plays, completions, pauses, duplicates, ignored, 0, abandons, active_views,
    retention, exits, seek_from, seek_to, version
FROM video_windows;
DROP TABLE video_windows;

CREATE TABLE video_viewer_weights (
    item         TEXT    NOT NULL,
    app          TEXT    NOT NULL,
    window_start INTEGER NOT NULL,
    viewer       INTEGER NOT NULL,
    partition_id INTEGER NOT NULL,
    generation   INTEGER NOT NULL CHECK (generation >= 0),
    weight       INTEGER NOT NULL,
    version      INTEGER NOT NULL,
    PRIMARY KEY (item, window_start, app, viewer, partition_id, generation)
) WITHOUT ROWID;
INSERT INTO video_viewer_weights (item, app, window_start, viewer, partition_id, generation, weight, version)
SELECT item, app, window_start, viewer, -1, 0, 1, 0 FROM video_viewers;
DROP TABLE video_viewers;

CREATE TABLE page_view_rows (
    kind         TEXT    NOT NULL,
    name         TEXT    NOT NULL,
    window_start INTEGER NOT NULL,
    partition_id INTEGER NOT NULL,
    generation   INTEGER NOT NULL CHECK (generation >= 0),
    window_end   INTEGER NOT NULL,
    views        INTEGER NOT NULL CHECK (views >= 0),
    version      INTEGER NOT NULL,
    PRIMARY KEY (kind, name, window_start, partition_id, generation)
);
INSERT INTO page_view_rows (kind, name, window_start, partition_id, generation, window_end, views, version)
SELECT kind, name, window_start, -1, 0, window_end, views, version FROM page_views;
DROP TABLE page_views;

CREATE TABLE partition_progress (
    partition_id INTEGER NOT NULL PRIMARY KEY,
    watermark    INTEGER,
    final_before INTEGER,
    updated_at   INTEGER NOT NULL
);

CREATE TABLE archived_states (
    partition_id INTEGER NOT NULL,
    key          BLOB    NOT NULL CHECK (length(key) = 16),
    version      INTEGER NOT NULL CHECK (version >= 0),
    expires_at   INTEGER NOT NULL,
    state        BLOB    NOT NULL,
    PRIMARY KEY (partition_id, key, version)
);
CREATE INDEX archived_states_by_expiry ON archived_states (partition_id, expires_at);
";

const V6: &str = "
ALTER TABLE video_window_rows ADD COLUMN bot_impressions INTEGER NOT NULL DEFAULT 0;
ALTER TABLE video_window_rows ADD COLUMN bot_plays INTEGER NOT NULL DEFAULT 0;
";

/// Settings of the writer connection: WAL (readers never wait for the writer), NORMAL
/// sync (a commit survives a process crash; an OS crash may lose the last commits, each
/// atomically, checkpoint included), and a busy timeout for other processes.
pub(crate) fn configure_writer(conn: &Connection) -> Result<(), rusqlite::Error> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::warn!(journal_mode = %mode, "SQLite refused WAL mode; API reads may wait for commits");
    }
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    // Deleted rows (expired, erased) are overwritten, not left readable in free pages.
    conn.pragma_update(None, "secure_delete", true)?;
    Ok(())
}

/// Settings of the reader connection: same timeout, and it can never write.
pub(crate) fn configure_reader(conn: &Connection) -> Result<(), rusqlite::Error> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "query_only", true)?;
    Ok(())
}

/// Applies the migrations the database lacks; returns the resulting version.
pub(crate) fn migrate(conn: &mut Connection) -> Result<i64, StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).ctx("begin the migration")?;
    let found: i64 = tx.query_row("PRAGMA user_version", [], |row| row.get(0)).ctx("read the schema version")?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew { found, supported: SCHEMA_VERSION });
    }
    let applied = usize::try_from(found).unwrap_or(0);
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(applied) {
        tx.execute_batch(sql).ctx("apply a schema migration")?;
        tx.pragma_update(None, "user_version", (i + 1) as i64).ctx("record the schema version")?;
        tracing::info!(version = i + 1, "applied SQLite schema migration");
    }
    tx.commit().ctx("commit the migration")?;
    Ok(SCHEMA_VERSION)
}

/// The schema version recorded in the file.
pub(crate) fn version(conn: &Connection) -> Result<i64, StoreError> {
    conn.query_row("PRAGMA user_version", [], |row| row.get(0)).ctx("read the schema version")
}
