//! Schema version 4: sources are tenants.
//!
//! Everything derived from a Segment call is kept per source (the name `--write-keys` gives
//! its write key), so `source` joins the sorting keys of the tables whose rows are full state
//! per key: two sources with a session "w-1" or a user "42" keep two rows. ClickHouse can
//! append a column to a sorting key in place, as long as the column is added by the same
//! `ALTER` (so no table is copied); rows written before have source "" (which source sent
//! them was not kept). Running a statement again is a no-op (`ADD COLUMN IF NOT EXISTS`,
//! and the same `MODIFY ORDER BY`).
//!
//! Raw analytics events gain the column without a key change (their event id already
//! depends on the source), and bloom-filter skip indexes on the two ids, which erasures
//! (lightweight deletes by id) read. The analyst views show the source, and the latest
//! traits are per (source, user). User traits get a TTL (`engage migrate --traits-ttl-days`,
//! default 395 days, set when this version is applied).

/// The statements of version 4, in order.
pub(super) const V4_SOURCES: &[&str] = &[
    "
ALTER TABLE session_windows
    ADD COLUMN IF NOT EXISTS source LowCardinality(String) COMMENT 'the source (tenant): session ids are per source',
    MODIFY ORDER BY (session_id, window_start, source)",
    "
ALTER TABLE session_summaries
    ADD COLUMN IF NOT EXISTS source LowCardinality(String) COMMENT 'the source (tenant): session ids are per source',
    MODIFY ORDER BY (session_id, source)",
    "
ALTER TABLE page_view_rows
    ADD COLUMN IF NOT EXISTS source LowCardinality(String) COMMENT 'the source (tenant) of the views',
    MODIFY ORDER BY (kind, name, window_start, partition_id, generation, source)",
    "
ALTER TABLE user_traits
    ADD COLUMN IF NOT EXISTS source LowCardinality(String) COMMENT 'the source (tenant): users are per source',
    MODIFY ORDER BY (user_key, updated_at, event_id, source)",
    "
ALTER TABLE analytics_events
    ADD COLUMN IF NOT EXISTS source LowCardinality(String) COMMENT 'the source (tenant) of the call'",
    "
ALTER TABLE analytics_events ADD INDEX IF NOT EXISTS by_user_id user_id TYPE bloom_filter GRANULARITY 4",
    "
ALTER TABLE analytics_events ADD INDEX IF NOT EXISTS by_anonymous_id anonymous_id TYPE bloom_filter GRANULARITY 4",
    "
CREATE OR REPLACE VIEW webinar_attendance AS
SELECT source, session_id, window_start, window_end, is_final, attendees, joins, leaves, peak_concurrent,
       engagements, stream_ms
FROM session_windows FINAL
WHERE NOT (joins = 0 AND leaves = 0 AND attendees = 0 AND peak_concurrent = 0
           AND empty(engagements) AND empty(stream_ms))",
    "
CREATE OR REPLACE VIEW webinar_sessions AS
SELECT source, session_id, started_at, ended_at, unique_attendees, peak_concurrent,
       if(unique_attendees = 0, NULL, attendance_ms / 1000 / unique_attendees) AS avg_attendance_seconds,
       if(unique_attendees = 0, NULL, engaged_attendees / unique_attendees) AS engaged_share,
       engagements, stream_ms
FROM session_summaries FINAL",
    "
CREATE OR REPLACE VIEW user_traits_latest AS
SELECT source, user_key, latest.1 AS user_id, latest.2 AS anonymous_id, latest.3 AS traits, latest.4 AS updated_at
FROM
(
    SELECT source, user_key, argMax((user_id, anonymous_id, traits, updated_at), (updated_at, event_id)) AS latest
    FROM user_traits
    GROUP BY source, user_key
)",
];
