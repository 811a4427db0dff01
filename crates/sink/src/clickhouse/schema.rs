//! The ClickHouse schema: versioned migrations kept in code, applied by `engage migrate`.
//!
//! Each migration is a list of statements that are idempotent on their own (`CREATE ... IF
//! NOT EXISTS`, `CREATE OR REPLACE VIEW`, `ADD COLUMN IF NOT EXISTS`, `MODIFY COMMENT`, and
//! `INSERT ... SELECT` copies into `ReplacingMergeTree(version)` tables, whose rows written
//! twice have the same keys and versions and collapse under `FINAL`), and `schema_migrations`
//! records the versions whose statements all succeeded. So running `engage migrate` twice is a
//! no-op (recorded versions are skipped, and re-running an unrecorded one changes nothing that
//! exists), and two replicas migrating at once cannot break anything: both run the same
//! idempotent statements and both record the same version (`schema_migrations` is a
//! ReplacingMergeTree keyed by version, so the duplicate row collapses; readers take the
//! distinct versions). A version is recorded only after all its statements succeeded, so a
//! recorded version is always complete. Migrations are only ever appended: never edit a
//! released one (the text of every statement is in `deploy/clickhouse/schema.md`, generated
//! from here and checked by a test).
//!
//! The raw-event and rejected-input TTL is a setting rather than schema: it is applied when
//! tables are created and changed by `engage migrate --raw-ttl-days N` (only when it differs).
//!
//! Why these engines and keys:
//! - Full-state rows (video/session windows, session summaries, page views) are
//!   `ReplacingMergeTree(version)`: the row with the highest consumer offset wins, reads use
//!   `FINAL`. Sorting keys start with what the API filters on (an item, a session), then
//!   `window_start` (a time range of one item is one contiguous key range); monthly
//!   partitions by `window_start` prune ranges for the all-items queries (top items, per
//!   application) and keep merges local.
//! - `video_viewers` is a set: a plain `ReplacingMergeTree` (exact duplicates collapse; reads
//!   use `uniqExact`, exact with or without the collapse) keyed like the windows.
//! - Raw events and rejected inputs are append-mostly logs with a TTL, deduplicated by their
//!   sorting key, which ends with the event id.
//!
//! Since version 3 (see `schema/v3.rs`) a window is the sum of its rows, one per (window,
//! partition, generation): `video_window_rows`, `video_viewer_weights` and `page_view_rows`
//! keep the keys above followed by (partition_id, generation), so one item's range is still
//! one key range. `video_windows`, `video_viewers` and `page_views` are the tables of
//! versions 1 and 2, copied into the new ones as partition -1 and no longer written.
//! - `partition_progress` is an `AggregatingMergeTree` of `max` columns: every commit
//!   inserts its partition's watermark and `final_before`, merges keep the furthest, and
//!   readers take `max()` per partition, so they never move back.
//! - `archived_states` is keyed (partition_id, key, version), read with `argMax(state,
//!   version)` below a position; partitioned by expiry day with a TTL that drops whole
//!   parts a day after they expired.

use super::retry::{Classified, classify};
use super::{ClickHouseConfig, ClickHouseStore};
use crate::error::StoreError;
use clickhouse::Client;

mod v3;
mod v4;
mod v5;

/// One schema version: statements run in order, each idempotent on its own.
#[derive(Debug)]
pub struct Migration {
    pub version: u32,
    pub name: &'static str,
    pub statements: &'static [&'static str],
}

/// The migrations, in order. Append only.
pub const MIGRATIONS: &[Migration] = &[
    Migration { version: 1, name: "tables", statements: V1_TABLES },
    Migration { version: 2, name: "analyst views", statements: V2_VIEWS },
    Migration { version: 3, name: "generations", statements: v3::V3_GENERATIONS },
    Migration { version: 4, name: "sources", statements: v4::V4_SOURCES },
    Migration { version: 5, name: "bots", statements: v5::V5_BOTS },
];

/// The schema version this build reads and writes.
pub const SCHEMA_VERSION: u32 = MIGRATIONS[MIGRATIONS.len() - 1].version;

/// Days raw analytics events and rejected inputs are kept when tables are created
/// without an explicit `--raw-ttl-days`.
pub const DEFAULT_RAW_TTL_DAYS: u32 = 30;

/// Days user traits are kept after their last update when `--traits-ttl-days` is not given
/// (about 13 months); set when version 4 is applied.
pub const DEFAULT_TRAITS_TTL_DAYS: u32 = 395;

/// The table of user traits and the column its TTL counts from.
pub const TRAITS_TTL_TABLE: (&str, &str) = ("user_traits", "updated_at");

/// The tables that carry the raw TTL, and the column it counts from.
pub const TTL_TABLES: &[(&str, &str)] = &[("analytics_events", "received_at"), ("rejected", "received_at")];

/// Where applied versions are recorded (created before any migration runs).
pub const MIGRATIONS_TABLE: &str = "
CREATE TABLE IF NOT EXISTS schema_migrations
(
    version    UInt32,
    name       String,
    applied_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
ORDER BY version
COMMENT 'engage schema versions applied by engage migrate'";

/// Placeholder in a statement for the TTL clause of the raw tables.
const TTL_PLACEHOLDER: &str = "{raw_ttl}";

const V1_TABLES: &[&str] = &[
    "
CREATE TABLE IF NOT EXISTS video_windows
(
    item          String,
    app           LowCardinality(String) COMMENT 'the ua parameter, else the User-Agent',
    window_start  DateTime64(3, 'UTC'),
    window_end    DateTime64(3, 'UTC'),
    is_final      Bool COMMENT 'true once the watermark passed window_end plus the allowed lateness',
    impressions   UInt64,
    plays         UInt64,
    engaged_plays UInt64 COMMENT 'plays of level-2 (il=2) views',
    completions   UInt64,
    pauses        UInt64,
    duplicates    UInt64,
    ignored       UInt64,
    abandons      UInt64,
    active_views  UInt64 COMMENT 'views playing at any moment of the window',
    retention     Array(UInt64) COMMENT '100 slots: views that watched percent segment [s, s+1)',
    exits         Array(UInt64) COMMENT '101 slots: views that ended at percent p',
    seek_from     Array(UInt64) COMMENT '101 slots: seeks that started at percent p',
    seek_to       Array(UInt64) COMMENT '101 slots: seeks that landed at percent p',
    version       UInt64 COMMENT 'consumer offset of the write: the highest wins, read with FINAL'
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(window_start)
ORDER BY (item, window_start, app)
COMMENT 'video engagement per (item, app, window), full state; read with FINAL'",
    "
CREATE TABLE IF NOT EXISTS video_viewers
(
    item         String,
    app          LowCardinality(String),
    window_start DateTime64(3, 'UTC'),
    viewer       UInt64 COMMENT 'keyed hash of a daily salt, client IP and user agent'
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(window_start)
ORDER BY (item, window_start, app, viewer)
COMMENT 'the set of viewers with a play per (item, app, window); count with uniqExact(viewer)'",
    "
CREATE TABLE IF NOT EXISTS session_windows
(
    session_id      String,
    window_start    DateTime64(3, 'UTC'),
    window_end      DateTime64(3, 'UTC'),
    is_final        Bool,
    joins           UInt64,
    leaves          UInt64,
    attendees       UInt64 COMMENT 'distinct attendees present at any moment of the window',
    peak_concurrent UInt64,
    engagements     Map(String, UInt64) COMMENT 'User Engaged events by type',
    stream_ms       Map(String, UInt64) COMMENT 'milliseconds of enabled streams by type',
    version         UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(window_start)
ORDER BY (session_id, window_start)
COMMENT 'webinar aggregates per (session, window), full state; read with FINAL'",
    "
CREATE TABLE IF NOT EXISTS session_summaries
(
    session_id        String,
    started_at        Nullable(DateTime64(3, 'UTC')),
    ended_at          Nullable(DateTime64(3, 'UTC')),
    unique_attendees  UInt64,
    engaged_attendees UInt64,
    attendance_ms     UInt64 COMMENT 'summed presence of every attendee',
    peak_concurrent   UInt64,
    engagements       Map(String, UInt64),
    stream_ms         Map(String, UInt64),
    version           UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY session_id
COMMENT 'whole-session webinar figures, full state; read with FINAL'",
    "
CREATE TABLE IF NOT EXISTS page_views
(
    kind         LowCardinality(String) COMMENT 'page or screen',
    name         String,
    window_start DateTime64(3, 'UTC'),
    window_end   DateTime64(3, 'UTC'),
    is_final     Bool,
    views        UInt64,
    version      UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(window_start)
ORDER BY (kind, name, window_start)
COMMENT 'page/screen views per (kind, name, window), full state; read with FINAL'",
    "
CREATE TABLE IF NOT EXISTS user_traits
(
    user_key     String COMMENT 'userId, else anonymousId',
    user_id      String,
    anonymous_id String,
    traits       String COMMENT 'the identify traits object, JSON',
    updated_at   DateTime64(3, 'UTC') COMMENT 'event time of the identify call',
    event_id     String
)
ENGINE = ReplacingMergeTree
ORDER BY (user_key, updated_at, event_id)
COMMENT 'identify traits per user and call; the latest per user is the view user_traits_latest'",
    "
CREATE TABLE IF NOT EXISTS analytics_events
(
    event_id     String,
    received_at  DateTime64(3, 'UTC'),
    event_time   DateTime64(3, 'UTC'),
    call         LowCardinality(String) COMMENT 'track, identify, page, screen, group or alias',
    user_id      String,
    anonymous_id String,
    name         String COMMENT 'track: the event name; page/screen: the name',
    session_id   String COMMENT 'properties.session_id, when given',
    properties   String COMMENT 'JSON',
    traits       String COMMENT 'JSON',
    context      String COMMENT 'JSON',
    message_id   String,
    app          LowCardinality(String)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(received_at)
ORDER BY (call, name, event_time, event_id)
{raw_ttl}
COMMENT 'every accepted analytics call, raw; read with FINAL for exactly one row per event'",
    "
CREATE TABLE IF NOT EXISTS rejected
(
    received_at DateTime64(3, 'UTC'),
    event_id    String,
    route       LowCardinality(String) COMMENT 'where it came in, e.g. /ping/dot.gif',
    reason_code LowCardinality(String),
    reason      String,
    input       String COMMENT 'the input as received (possibly cut)',
    truncated   Bool
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(received_at)
ORDER BY (received_at, event_id)
{raw_ttl}
COMMENT 'refused inputs with their reason; read with FINAL'",
    "
CREATE TABLE IF NOT EXISTS checkpoints
(
    partition_id Int32,
    next_offset  UInt64 COMMENT 'the first offset not covered: where the consumer resumes',
    snapshot     String COMMENT 'the window engine state at next_offset',
    updated_at   DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(next_offset)
ORDER BY partition_id
COMMENT 'consumer checkpoints, written after the rows they cover; the highest next_offset wins'",
];

const V2_VIEWS: &[&str] = &[
    "
CREATE OR REPLACE VIEW retention_curve AS
SELECT item, toUInt8(idx - 1) AS segment, watched, engaged_plays,
       if(engaged_plays = 0, NULL, watched / engaged_plays) AS share
FROM
(
    SELECT item, sumForEach(retention) AS curve, sum(engaged_plays) AS engaged_plays
    FROM video_windows FINAL
    WHERE item = {item:String}
      AND window_start >= {from:DateTime64(3, 'UTC')} AND window_start < {to:DateTime64(3, 'UTC')}
    GROUP BY item
)
ARRAY JOIN curve AS watched, arrayEnumerate(curve) AS idx
ORDER BY segment",
    "
CREATE OR REPLACE VIEW completion_rate_by_app AS
SELECT app, sum(plays) AS plays, sum(engaged_plays) AS engaged_plays, sum(completions) AS completions,
       if(engaged_plays = 0, NULL, completions / engaged_plays) AS completion_rate
FROM video_windows FINAL
WHERE window_start >= {from:DateTime64(3, 'UTC')} AND window_start < {to:DateTime64(3, 'UTC')}
GROUP BY app
ORDER BY plays DESC, app",
    "
CREATE OR REPLACE VIEW concurrent_viewers AS
SELECT window_start, max(window_end) AS window_end, sum(active_views) AS active_views,
       sum(plays) AS plays, min(is_final) AS is_final
FROM video_windows FINAL
GROUP BY window_start",
    "
CREATE OR REPLACE VIEW webinar_attendance AS
SELECT session_id, window_start, window_end, is_final, attendees, joins, leaves, peak_concurrent,
       engagements, stream_ms
FROM session_windows FINAL
WHERE NOT (joins = 0 AND leaves = 0 AND attendees = 0 AND peak_concurrent = 0
           AND empty(engagements) AND empty(stream_ms))",
    "
CREATE OR REPLACE VIEW webinar_sessions AS
SELECT session_id, started_at, ended_at, unique_attendees, peak_concurrent,
       if(unique_attendees = 0, NULL, attendance_ms / 1000 / unique_attendees) AS avg_attendance_seconds,
       if(unique_attendees = 0, NULL, engaged_attendees / unique_attendees) AS engaged_share,
       engagements, stream_ms
FROM session_summaries FINAL",
    "
CREATE OR REPLACE VIEW user_traits_latest AS
SELECT user_key, latest.1 AS user_id, latest.2 AS anonymous_id, latest.3 AS traits, latest.4 AS updated_at
FROM
(
    SELECT user_key, argMax((user_id, anonymous_id, traits, updated_at), (updated_at, event_id)) AS latest
    FROM user_traits
    GROUP BY user_key
)",
];

/// What `engage migrate` is asked to do besides applying migrations.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MigrateOptions {
    /// Days to keep raw analytics events and rejected inputs (0: forever). None: new
    /// tables get [`DEFAULT_RAW_TTL_DAYS`], existing ones keep theirs.
    pub raw_ttl_days: Option<u32>,
    /// Days to keep user traits after their last update (0: forever). None: the table gets
    /// [`DEFAULT_TRAITS_TTL_DAYS`] when version 4 is applied, else keeps its TTL.
    pub traits_ttl_days: Option<u32>,
}

/// What a migration run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MigrateReport {
    /// Versions applied by this run (empty when the schema was up to date).
    pub applied: Vec<u32>,
    /// Tables whose TTL this run changed.
    pub ttl_changed: Vec<String>,
    /// The schema version now recorded.
    pub version: u32,
}

/// The TTL clause of a raw table: none for 0 days. Written the way ClickHouse prints it
/// back in `system.tables.engine_full`, so a TTL can be compared with what is set.
pub fn ttl_clause(column: &str, days: u32) -> String {
    if days == 0 { String::new() } else { format!("TTL toDateTime({column}) + toIntervalDay({days})") }
}

/// A statement with its settings filled in.
pub fn render(statement: &str, raw_ttl_days: u32) -> String {
    let text = statement.trim();
    match TTL_TABLES.iter().find(|(table, _)| text.starts_with(&format!("CREATE TABLE IF NOT EXISTS {table}\n"))) {
        Some((_, column)) => {
            let clause = ttl_clause(column, raw_ttl_days);
            let text = text.replace(TTL_PLACEHOLDER, &clause);
            // an empty clause leaves a blank line behind
            text.lines().filter(|l| !l.is_empty()).collect::<Vec<_>>().join("\n")
        }
        None => text.to_owned(),
    }
}

/// Every statement of every migration, rendered with the default TTL, as the schema
/// document shows them.
pub fn all_statements() -> Vec<(u32, &'static str, String)> {
    let mut out = vec![(0, "bootstrap", render(MIGRATIONS_TABLE, DEFAULT_RAW_TTL_DAYS))];
    for m in MIGRATIONS {
        for s in m.statements {
            out.push((m.version, m.name, render(s, DEFAULT_RAW_TTL_DAYS)));
        }
    }
    out
}

/// Every statement as the Markdown that `deploy/clickhouse/schema.md` embeds between its
/// generated-section markers (a test keeps the two equal).
pub fn sql_listing() -> String {
    let mut out = String::new();
    let mut current = None;
    for (version, name, sql) in all_statements() {
        if current != Some(version) {
            let title = if version == 0 { "Bootstrap".to_owned() } else { format!("Version {version}: {name}") };
            out.push_str(&format!("\n#### {title}\n"));
            current = Some(version);
        }
        out.push_str(&format!("\n```sql\n{sql};\n```\n"));
    }
    out
}

/// The table and view names the migrations create, in order of first creation (a view a
/// later version replaces is named once).
pub fn created_names() -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for (_, _, sql) in all_statements() {
        if let Some(name) = created_name(&sql).filter(|n| !names.iter().any(|m| m == n)) {
            names.push(name.to_owned());
        }
    }
    names
}

/// The object a `CREATE ...` statement creates.
fn created_name(sql: &str) -> Option<&str> {
    ["CREATE TABLE IF NOT EXISTS ", "CREATE OR REPLACE VIEW ", "CREATE VIEW IF NOT EXISTS "]
        .iter()
        .find_map(|prefix| sql.strip_prefix(prefix))
        .and_then(|rest| rest.split_whitespace().next())
}

/// Creates the database if needed, applies missing migrations and the TTL setting.
pub(super) async fn migrate(config: &ClickHouseConfig, options: MigrateOptions) -> Result<MigrateReport, StoreError> {
    let server = config.client(false);
    let db = config.client(true);
    let policy = &config.retry;
    let create_db = format!("CREATE DATABASE IF NOT EXISTS {}", quote_identifier(&config.database));
    policy.run("create the database", || ddl(&server, &create_db)).await?;
    policy.run("create schema_migrations", || ddl(&db, MIGRATIONS_TABLE)).await?;
    let mut applied_now = Vec::new();
    let recorded = applied_versions(&db, config).await?;
    let ttl = options.raw_ttl_days.unwrap_or(DEFAULT_RAW_TTL_DAYS);
    for m in MIGRATIONS.iter().filter(|m| !recorded.contains(&m.version)) {
        for statement in m.statements {
            let sql = render(statement, ttl);
            policy.run("apply a migration", || ddl(&db, &sql)).await?;
        }
        let record = format!("INSERT INTO schema_migrations (version, name) VALUES ({}, '{}')", m.version, m.name);
        policy.run("record a migration", || ddl(&db, &record)).await?;
        tracing::info!(version = m.version, name = m.name, "applied ClickHouse schema migration");
        applied_now.push(m.version);
    }
    let mut ttl_changed = Vec::new();
    if let Some(days) = options.raw_ttl_days {
        for (table, column) in TTL_TABLES {
            if set_ttl(&db, config, table, column, days).await? {
                ttl_changed.push((*table).to_owned());
            }
        }
    }
    let traits_days = options.traits_ttl_days.or(applied_now.contains(&4).then_some(DEFAULT_TRAITS_TTL_DAYS));
    if let Some(days) = traits_days {
        let (table, column) = TRAITS_TTL_TABLE;
        if set_ttl(&db, config, table, column, days).await? {
            ttl_changed.push(table.to_owned());
        }
    }
    let version = ClickHouseStore::schema_version_of(&db, config).await?;
    Ok(MigrateReport { applied: applied_now, ttl_changed, version })
}

/// Sets the TTL of a raw table when it differs from `days`; true when it changed.
async fn set_ttl(
    db: &Client,
    config: &ClickHouseConfig,
    table: &str,
    column: &str,
    days: u32,
) -> Result<bool, StoreError> {
    let engine: String = config
        .retry
        .run("read a table's TTL", || {
            db.query("SELECT engine_full FROM system.tables WHERE database = ? AND name = ?")
                .bind(&config.database)
                .bind(table)
                .fetch_one::<String>()
        })
        .await?;
    let wanted = ttl_clause(column, days);
    if current_ttl(&engine).unwrap_or_default() == wanted {
        return Ok(false);
    }
    let sql = if days == 0 {
        format!("ALTER TABLE {table} REMOVE TTL")
    } else {
        format!("ALTER TABLE {table} MODIFY {wanted}")
    };
    config.retry.run("change a table's TTL", || ddl(db, &sql)).await?;
    tracing::info!(table, days, "changed a table's TTL");
    Ok(true)
}

/// The `TTL ...` clause of a table's `engine_full`, if it has one (it comes after the
/// keys and before `SETTINGS`).
pub(super) fn current_ttl(engine_full: &str) -> Option<String> {
    let (_, rest) = engine_full.split_once(" TTL ")?;
    let ttl = rest.split(" SETTINGS ").next().unwrap_or(rest).trim();
    Some(format!("TTL {ttl}"))
}

/// The versions recorded in `schema_migrations` (ascending, distinct).
pub(super) async fn applied_versions(db: &Client, config: &ClickHouseConfig) -> Result<Vec<u32>, StoreError> {
    config
        .retry
        .run("read the schema version", || {
            db.query("SELECT DISTINCT version FROM schema_migrations ORDER BY version").fetch_all::<u32>()
        })
        .await
}

/// Runs one DDL statement; "already exists" from a concurrent migrator counts as done.
async fn ddl(client: &Client, sql: &str) -> Result<(), clickhouse::error::Error> {
    match client.query_raw(sql).execute().await {
        Err(e) if matches!(classify(&e), Classified::AlreadyExists) => Ok(()),
        other => other,
    }
}

/// A database name as a quoted identifier.
pub(super) fn quote_identifier(name: &str) -> String {
    format!("`{}`", name.replace('\\', "\\\\").replace('`', "\\`"))
}
