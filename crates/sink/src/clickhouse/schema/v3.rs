//! Schema version 3: rows that sum (generations), partition finality, the archive.
//!
//! A window's numbers are the sum of its rows, one per (window, consumer partition,
//! generation), each a `ReplacingMergeTree(version)` row as before (see
//! [`engage_model::rollup`]). A sorting key cannot gain columns in the middle nor change
//! its counters from UInt64 to Int64 without rewriting every part, so the window tables are
//! new tables with the old sorting key followed by (partition_id, generation), filled from
//! the old ones by `INSERT ... SELECT` in the same migration:
//! - `video_windows` rows become generation 0 of partition -1 of `video_window_rows`;
//! - `video_viewers` rows become weight-1 rows of generation 0, partition -1 of
//!   `video_viewer_weights`;
//! - `page_views` rows become generation 0 of partition -1 of `page_view_rows`.
//!
//! The copies are idempotent like every other statement: run twice (a migration that
//! failed before recording its version, or two replicas at once) they insert rows with the
//! same keys and versions, which `FINAL` (and merges) collapse. The old tables are kept,
//! never written again, and say so in their comment; drop them once the new ones are
//! checked. Their `is_final` is not carried over: finality is computed from
//! `partition_progress`, in which partition -1 never appears, so it never blocks it.
//!
//! The analyst views are redefined over the new tables: counters are still plain sums
//! (over all rows), distinct viewers count the (window, app, viewer) triples whose weights
//! sum to more than 0 (the view `video_viewer_plays`).

/// The statements of version 3, in order.
pub(super) const V3_GENERATIONS: &[&str] = &[
    "
CREATE TABLE IF NOT EXISTS video_window_rows
(
    item          String,
    app           LowCardinality(String) COMMENT 'the ua parameter, else the User-Agent',
    window_start  DateTime64(3, 'UTC'),
    window_end    DateTime64(3, 'UTC'),
    partition_id  Int32 COMMENT 'consumer partition that wrote the row; -1: written before schema version 3',
    generation    UInt64 COMMENT 'which stretch in the engine''s memory of the window in its partition',
    impressions   Int64,
    plays         Int64,
    engaged_plays Int64 COMMENT 'plays of level-2 (il>=2) views',
    completions   Int64,
    pauses        Int64,
    duplicates    Int64,
    ignored       Int64,
    orphans       Int64 COMMENT 'level-2 events of views that never started',
    abandons      Int64,
    active_views  Int64 COMMENT 'views playing at any moment of the window',
    retention     Array(Int64) COMMENT '100 slots: views that watched percent segment [s, s+1)',
    exits         Array(Int64) COMMENT '101 slots: views that ended at percent p',
    seek_from     Array(Int64) COMMENT '101 slots: seeks that started at percent p',
    seek_to       Array(Int64) COMMENT '101 slots: seeks that landed at percent p',
    version       UInt64 COMMENT 'consumer offset of the write: the highest wins, read with FINAL'
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(window_start)
ORDER BY (item, window_start, app, partition_id, generation)
COMMENT 'video engagement per (item, app, window, partition, generation), signed full state per generation; a window is the sum of its rows; read with FINAL'",
    "
INSERT INTO video_window_rows (item, app, window_start, window_end, partition_id, generation, impressions, plays,
    engaged_plays, completions, pauses, duplicates, ignored, orphans, abandons, active_views, retention, exits,
    seek_from, seek_to, version)
SELECT item, app, window_start, window_end, -1, 0, impressions, plays, engaged_plays, completions, pauses,
    duplicates, ignored, 0, abandons, active_views, retention, exits, seek_from, seek_to, version
FROM video_windows FINAL",
    "
ALTER TABLE video_windows MODIFY COMMENT 'before schema version 3; no longer written: copied into video_window_rows as partition -1'",
    "
CREATE TABLE IF NOT EXISTS video_viewer_weights
(
    item         String,
    app          LowCardinality(String),
    window_start DateTime64(3, 'UTC'),
    viewer       UInt64 COMMENT 'keyed hash of a daily salt, client IP and user agent',
    partition_id Int32 COMMENT '-1: written before schema version 3',
    generation   UInt64,
    weight       Int64 COMMENT 'the viewer''s plays in this generation; 0: no longer present in it',
    version      UInt64 COMMENT 'consumer offset of the write: the highest wins, read with FINAL'
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(window_start)
ORDER BY (item, window_start, app, viewer, partition_id, generation)
COMMENT 'viewer weights per (item, app, window, viewer, partition, generation); a viewer has a play in a window when their weights sum to more than 0 (view video_viewer_plays)'",
    "
INSERT INTO video_viewer_weights (item, app, window_start, viewer, partition_id, generation, weight, version)
SELECT item, app, window_start, viewer, -1, 0, 1, 0
FROM video_viewers",
    "
ALTER TABLE video_viewers MODIFY COMMENT 'before schema version 3; no longer written: copied into video_viewer_weights as partition -1'",
    "
CREATE TABLE IF NOT EXISTS page_view_rows
(
    kind         LowCardinality(String) COMMENT 'page or screen',
    name         String,
    window_start DateTime64(3, 'UTC'),
    window_end   DateTime64(3, 'UTC'),
    partition_id Int32 COMMENT '-1: written before schema version 3',
    generation   UInt64,
    views        UInt64,
    version      UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(window_start)
ORDER BY (kind, name, window_start, partition_id, generation)
COMMENT 'page/screen views per (kind, name, window, partition, generation); a window is the sum of its rows; read with FINAL'",
    "
INSERT INTO page_view_rows (kind, name, window_start, window_end, partition_id, generation, views, version)
SELECT kind, name, window_start, window_end, -1, 0, views, version
FROM page_views FINAL",
    "
ALTER TABLE page_views MODIFY COMMENT 'before schema version 3; no longer written: copied into page_view_rows as partition -1'",
    "
CREATE TABLE IF NOT EXISTS partition_progress
(
    partition_id Int32,
    watermark    SimpleAggregateFunction(max, Nullable(DateTime64(3, 'UTC'))) COMMENT 'max event time seen, bounded by the collectors'' clocks',
    final_before SimpleAggregateFunction(max, Nullable(DateTime64(3, 'UTC'))) COMMENT 'windows ending at or before this are final in this partition',
    updated_at   SimpleAggregateFunction(max, DateTime64(3, 'UTC')) DEFAULT now64(3)
)
ENGINE = AggregatingMergeTree
ORDER BY partition_id
COMMENT 'per consumer partition, the furthest watermark and final_before reported; read with max() per partition'",
    "
CREATE TABLE IF NOT EXISTS archived_states
(
    partition_id Int32,
    key          FixedString(16) COMMENT 'hash of the state''s key (for video: item and viewer or view id)',
    version      UInt64 COMMENT 'partition position when archived; readers take the newest at or below their own',
    expires_at   DateTime64(3, 'UTC') COMMENT 'event time after which nothing can reach the state',
    state        String COMMENT 'the serialized engine state'
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMMDD(expires_at)
ORDER BY (partition_id, key, version)
TTL toDateTime(expires_at) + toIntervalDay(1)
SETTINGS ttl_only_drop_parts = 1
COMMENT 'engine states kept for late events until they expire (a day of margin for a consumer catching up)'",
    "
CREATE OR REPLACE VIEW video_viewer_plays AS
SELECT item, app, window_start, viewer, sum(weight) AS plays
FROM video_viewer_weights FINAL
GROUP BY item, app, window_start, viewer
HAVING plays > 0",
    "
CREATE OR REPLACE VIEW retention_curve AS
SELECT item, toUInt8(idx - 1) AS segment, watched, engaged_plays,
       if(engaged_plays = 0, NULL, watched / engaged_plays) AS share
FROM
(
    SELECT item, sumForEach(retention) AS curve, sum(engaged_plays) AS engaged_plays
    FROM video_window_rows FINAL
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
FROM video_window_rows FINAL
WHERE window_start >= {from:DateTime64(3, 'UTC')} AND window_start < {to:DateTime64(3, 'UTC')}
GROUP BY app
ORDER BY plays DESC, app",
    "
CREATE OR REPLACE VIEW concurrent_viewers AS
SELECT window_start, window_end, active_views, plays,
       toBool(ifNull(window_end <= (SELECT min(fb) FROM (SELECT max(final_before) AS fb FROM partition_progress
                                                          WHERE partition_id >= 0 GROUP BY partition_id)), 0)) AS is_final
FROM
(
    SELECT window_start, max(window_end) AS window_end, sum(active_views) AS active_views, sum(plays) AS plays
    FROM video_window_rows FINAL
    GROUP BY window_start
)",
];
