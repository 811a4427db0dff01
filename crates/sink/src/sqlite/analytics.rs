//! The analytics tables (schema version 2): webinar session windows and summaries, page
//! views (since version 4 as `page_view_rows`, generations that sum), latest user traits
//! and raw analytics events; since version 5 all of them per source (tenant), and
//! erasures ([`erase`]). Written inside the consumer's commit
//! transaction ([`write`]), read by the sessions API ([`session_engagement`]) and the
//! dashboard's session list ([`top_sessions`]).
//!
//! Per-type maps (engagements, stream milliseconds) are JSON objects in TEXT columns: the
//! set of types is open-ended and small per session. A session window with all counts zero
//! (the engine's way to empty a window an out-of-order event emptied) is not part of the
//! timeline.

use super::codec::counter_to_sql;
use crate::error::{SqlContext, StoreError};
use crate::store::{CommitBatch, Erasure, ErasureReport, SessionEngagement, SessionListing, TimeRange};
use engage_model::webinar::{SessionSummary, SessionWindow, SessionWindowCounts};
use rusqlite::{Connection, Row, Transaction, TransactionBehavior, params};
use std::collections::BTreeMap;

/// Migration to version 2.
pub(crate) const V2: &str = "
CREATE TABLE session_windows (
    session_id      TEXT    NOT NULL,
    window_start    INTEGER NOT NULL,
    window_end      INTEGER NOT NULL,
    is_final        INTEGER NOT NULL CHECK (is_final IN (0, 1)),
    joins           INTEGER NOT NULL CHECK (joins >= 0),
    leaves          INTEGER NOT NULL CHECK (leaves >= 0),
    attendees       INTEGER NOT NULL CHECK (attendees >= 0),
    peak_concurrent INTEGER NOT NULL CHECK (peak_concurrent >= 0),
    engagements     TEXT    NOT NULL,
    stream_ms       TEXT    NOT NULL,
    PRIMARY KEY (session_id, window_start),
    CHECK (window_end > window_start)
);

CREATE TABLE session_summaries (
    session_id        TEXT    NOT NULL PRIMARY KEY,
    started_at        INTEGER,
    ended_at          INTEGER,
    unique_attendees  INTEGER NOT NULL CHECK (unique_attendees >= 0),
    engaged_attendees INTEGER NOT NULL CHECK (engaged_attendees >= 0),
    attendance_ms     INTEGER NOT NULL CHECK (attendance_ms >= 0),
    peak_concurrent   INTEGER NOT NULL CHECK (peak_concurrent >= 0),
    engagements       TEXT    NOT NULL,
    stream_ms         TEXT    NOT NULL
);

CREATE TABLE page_views (
    kind         TEXT    NOT NULL,
    name         TEXT    NOT NULL,
    window_start INTEGER NOT NULL,
    window_end   INTEGER NOT NULL,
    is_final     INTEGER NOT NULL CHECK (is_final IN (0, 1)),
    views        INTEGER NOT NULL CHECK (views >= 0),
    PRIMARY KEY (kind, name, window_start)
);

CREATE TABLE user_traits (
    user_key     TEXT    NOT NULL PRIMARY KEY,
    user_id      TEXT    NOT NULL,
    anonymous_id TEXT    NOT NULL,
    traits       TEXT    NOT NULL,
    updated_at   INTEGER NOT NULL,
    event_id     BLOB    NOT NULL
);

CREATE TABLE analytics_events (
    event_id     BLOB    NOT NULL PRIMARY KEY CHECK (length(event_id) > 0),
    received_at  INTEGER NOT NULL,
    event_time   INTEGER NOT NULL,
    call         TEXT    NOT NULL,
    user_id      TEXT    NOT NULL,
    anonymous_id TEXT    NOT NULL,
    name         TEXT    NOT NULL,
    session_id   TEXT    NOT NULL,
    properties   TEXT    NOT NULL,
    traits       TEXT    NOT NULL,
    context      TEXT    NOT NULL,
    message_id   TEXT    NOT NULL,
    app          TEXT    NOT NULL
);
CREATE INDEX analytics_events_by_received_at ON analytics_events (received_at);
";

/// Migration to version 5: sources are tenants. SQLite cannot change a primary key in
/// place: the keyed tables are rebuilt with `source` first in their key, their rows copied
/// with source "" (rows written before sources: which source sent them was not kept).
pub(crate) const V5: &str = "
CREATE TABLE session_windows_v5 (
    source          TEXT    NOT NULL,
    session_id      TEXT    NOT NULL,
    window_start    INTEGER NOT NULL,
    window_end      INTEGER NOT NULL,
    is_final        INTEGER NOT NULL CHECK (is_final IN (0, 1)),
    joins           INTEGER NOT NULL CHECK (joins >= 0),
    leaves          INTEGER NOT NULL CHECK (leaves >= 0),
    attendees       INTEGER NOT NULL CHECK (attendees >= 0),
    peak_concurrent INTEGER NOT NULL CHECK (peak_concurrent >= 0),
    engagements     TEXT    NOT NULL,
    stream_ms       TEXT    NOT NULL,
    version         INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (source, session_id, window_start),
    CHECK (window_end > window_start)
);
INSERT INTO session_windows_v5 SELECT '', session_id, window_start, window_end, is_final, joins, leaves, attendees,
    peak_concurrent, engagements, stream_ms, version FROM session_windows;
DROP TABLE session_windows;
ALTER TABLE session_windows_v5 RENAME TO session_windows;
CREATE INDEX session_windows_by_start ON session_windows (window_start);

CREATE TABLE session_summaries_v5 (
    source            TEXT    NOT NULL,
    session_id        TEXT    NOT NULL,
    started_at        INTEGER,
    ended_at          INTEGER,
    unique_attendees  INTEGER NOT NULL CHECK (unique_attendees >= 0),
    engaged_attendees INTEGER NOT NULL CHECK (engaged_attendees >= 0),
    attendance_ms     INTEGER NOT NULL CHECK (attendance_ms >= 0),
    peak_concurrent   INTEGER NOT NULL CHECK (peak_concurrent >= 0),
    engagements       TEXT    NOT NULL,
    stream_ms         TEXT    NOT NULL,
    version           INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (source, session_id)
);
INSERT INTO session_summaries_v5 SELECT '', session_id, started_at, ended_at, unique_attendees, engaged_attendees,
    attendance_ms, peak_concurrent, engagements, stream_ms, version FROM session_summaries;
DROP TABLE session_summaries;
ALTER TABLE session_summaries_v5 RENAME TO session_summaries;
CREATE INDEX session_summaries_by_id ON session_summaries (session_id);

CREATE TABLE page_view_rows_v5 (
    source       TEXT    NOT NULL,
    kind         TEXT    NOT NULL,
    name         TEXT    NOT NULL,
    window_start INTEGER NOT NULL,
    partition_id INTEGER NOT NULL,
    generation   INTEGER NOT NULL CHECK (generation >= 0),
    window_end   INTEGER NOT NULL,
    views        INTEGER NOT NULL CHECK (views >= 0),
    version      INTEGER NOT NULL,
    PRIMARY KEY (source, kind, name, window_start, partition_id, generation)
);
INSERT INTO page_view_rows_v5 SELECT '', kind, name, window_start, partition_id, generation, window_end, views, version
    FROM page_view_rows;
DROP TABLE page_view_rows;
ALTER TABLE page_view_rows_v5 RENAME TO page_view_rows;

CREATE TABLE user_traits_v5 (
    source       TEXT    NOT NULL,
    user_key     TEXT    NOT NULL,
    user_id      TEXT    NOT NULL,
    anonymous_id TEXT    NOT NULL,
    traits       TEXT    NOT NULL,
    updated_at   INTEGER NOT NULL,
    event_id     BLOB    NOT NULL,
    PRIMARY KEY (source, user_key)
);
INSERT INTO user_traits_v5 SELECT '', user_key, user_id, anonymous_id, traits, updated_at, event_id FROM user_traits;
DROP TABLE user_traits;
ALTER TABLE user_traits_v5 RENAME TO user_traits;
CREATE INDEX user_traits_by_updated_at ON user_traits (updated_at);

ALTER TABLE analytics_events ADD COLUMN source TEXT NOT NULL DEFAULT '';
CREATE INDEX analytics_events_by_user ON analytics_events (source, user_id);
CREATE INDEX analytics_events_by_anonymous_id ON analytics_events (source, anonymous_id);
";

const UPSERT_SESSION_WINDOW: &str = "
INSERT INTO session_windows (source, session_id, window_start, window_end, is_final, joins, leaves, attendees,
    peak_concurrent, engagements, stream_ms, version)
VALUES (?12, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
ON CONFLICT (source, session_id, window_start) DO UPDATE SET
    window_end = excluded.window_end, is_final = excluded.is_final, joins = excluded.joins,
    leaves = excluded.leaves, attendees = excluded.attendees, peak_concurrent = excluded.peak_concurrent,
    engagements = excluded.engagements, stream_ms = excluded.stream_ms, version = excluded.version
WHERE excluded.version >= session_windows.version";

const UPSERT_SUMMARY: &str = "
INSERT INTO session_summaries (source, session_id, started_at, ended_at, unique_attendees, engaged_attendees,
    attendance_ms, peak_concurrent, engagements, stream_ms, version)
VALUES (?11, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
ON CONFLICT (source, session_id) DO UPDATE SET
    started_at = excluded.started_at, ended_at = excluded.ended_at,
    unique_attendees = excluded.unique_attendees, engaged_attendees = excluded.engaged_attendees,
    attendance_ms = excluded.attendance_ms, peak_concurrent = excluded.peak_concurrent,
    engagements = excluded.engagements, stream_ms = excluded.stream_ms, version = excluded.version
WHERE excluded.version >= session_summaries.version";

/// One row per (page, window) generation of the batch's partition (schema version 4:
/// `page_view_rows`, whose rows of a window sum).
const UPSERT_PAGE_VIEWS: &str = "
INSERT INTO page_view_rows (source, kind, name, window_start, partition_id, generation, window_end, views, version)
VALUES (?9, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
ON CONFLICT (source, kind, name, window_start, partition_id, generation) DO UPDATE SET
    window_end = excluded.window_end, views = excluded.views, version = excluded.version
WHERE excluded.version >= page_view_rows.version";

/// The latest traits win: by event time, then by event id (so replays are idempotent).
const UPSERT_TRAITS: &str = "
INSERT INTO user_traits (source, user_key, user_id, anonymous_id, traits, updated_at, event_id)
VALUES (?7, ?1, ?2, ?3, ?4, ?5, ?6)
ON CONFLICT (source, user_key) DO UPDATE SET
    user_id = excluded.user_id, anonymous_id = excluded.anonymous_id, traits = excluded.traits,
    updated_at = excluded.updated_at, event_id = excluded.event_id
WHERE excluded.updated_at > user_traits.updated_at
   OR (excluded.updated_at = user_traits.updated_at AND excluded.event_id > user_traits.event_id)";

const INSERT_EVENT: &str = "
INSERT INTO analytics_events (event_id, received_at, event_time, call, user_id, anonymous_id, name, session_id,
    properties, traits, context, message_id, app, source)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
ON CONFLICT (event_id) DO NOTHING";

/// An erasure's ids (`?2`, a JSON array) in its source (`?1`) and in rows from before sources.
const DELETE_TRAITS: &str = "
DELETE FROM user_traits WHERE source IN (?1, '')
   AND (user_key IN (SELECT value FROM json_each(?2)) OR user_id IN (SELECT value FROM json_each(?2))
        OR anonymous_id IN (SELECT value FROM json_each(?2)))";
const DELETE_EVENTS: &str = "
DELETE FROM analytics_events WHERE source IN (?1, '')
   AND (user_id IN (SELECT value FROM json_each(?2)) OR anonymous_id IN (SELECT value FROM json_each(?2)))";

/// Traits not updated since this (epoch ms) are deleted (`--traits-ttl-days`).
const EXPIRE_TRAITS: &str = "DELETE FROM user_traits WHERE updated_at < ?1";

fn json<T: serde::Serialize>(what: &'static str, v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::InvalidBatch(format!("{what} does not serialize: {e}")))
}

/// Writes the analytics part of a batch; `version` is the batch's position (see `write`).
pub(crate) fn write(tx: &Transaction<'_>, batch: &CommitBatch, version: i64) -> Result<(), StoreError> {
    let mut stmt = tx.prepare_cached(UPSERT_SESSION_WINDOW).ctx("prepare the session window upsert")?;
    for w in &batch.session_windows {
        let c = &w.counts;
        stmt.execute(params![
            w.session_id,
            w.window_start_ms,
            w.window_end_ms,
            w.is_final,
            counter_to_sql("joins", c.joins)?,
            counter_to_sql("leaves", c.leaves)?,
            counter_to_sql("attendees", c.attendees)?,
            counter_to_sql("peak_concurrent", c.peak_concurrent)?,
            json("engagements", &c.engagements)?,
            json("stream_ms", &c.stream_ms)?,
            version,
            w.source,
        ])
        .ctx("upsert a session window")?;
    }
    let mut stmt = tx.prepare_cached(UPSERT_SUMMARY).ctx("prepare the session summary upsert")?;
    for s in &batch.session_summaries {
        stmt.execute(params![
            s.session_id,
            s.started_at_ms,
            s.ended_at_ms,
            counter_to_sql("unique_attendees", s.unique_attendees)?,
            counter_to_sql("engaged_attendees", s.engaged_attendees)?,
            counter_to_sql("attendance_ms", s.attendance_ms)?,
            counter_to_sql("peak_concurrent", s.peak_concurrent)?,
            json("engagements", &s.engagements)?,
            json("stream_ms", &s.stream_ms)?,
            version,
            s.source,
        ])
        .ctx("upsert a session summary")?;
    }
    let mut stmt = tx.prepare_cached(UPSERT_PAGE_VIEWS).ctx("prepare the page view upsert")?;
    for p in &batch.page_views {
        stmt.execute(params![
            p.kind,
            p.name,
            p.window_start_ms,
            batch.partition,
            counter_to_sql("generation", p.generation)?,
            p.window_end_ms,
            counter_to_sql("views", p.views)?,
            version,
            p.source,
        ])
        .ctx("upsert page views")?;
    }
    let mut stmt = tx.prepare_cached(UPSERT_TRAITS).ctx("prepare the traits upsert")?;
    for t in &batch.user_traits {
        stmt.execute(params![
            t.user_key,
            t.user_id,
            t.anonymous_id,
            t.traits_json,
            t.updated_at_ms,
            t.event_id,
            t.source
        ])
        .ctx("upsert user traits")?;
    }
    let mut stmt = tx.prepare_cached(INSERT_EVENT).ctx("prepare the analytics event insert")?;
    for e in &batch.analytics_events {
        stmt.execute(params![
            e.event_id,
            e.received_at_ms,
            e.event_time_ms,
            e.call,
            e.user_id,
            e.anonymous_id,
            e.name,
            e.session_id,
            e.properties_json,
            e.traits_json,
            e.context_json,
            e.message_id,
            e.app,
            e.source,
        ])
        .ctx("insert an analytics event")?;
    }
    for erasure in &batch.erasures {
        erase_in(tx, erasure)?;
    }
    Ok(())
}

/// Deletes an erasure's rows inside `tx`; how many of each went.
pub(crate) fn erase_in(tx: &Transaction<'_>, erasure: &Erasure) -> Result<ErasureReport, StoreError> {
    let ids = json("ids", &erasure.ids)?;
    let traits = tx.execute(DELETE_TRAITS, params![erasure.source, ids]).ctx("erase user traits")?;
    let events = tx.execute(DELETE_EVENTS, params![erasure.source, ids]).ctx("erase analytics events")?;
    Ok(ErasureReport { traits: traits as u64, events: events as u64 })
}

/// An erasure on its own (the API's and `engage forget`'s immediate delete).
pub(crate) fn erase(conn: &mut Connection, erasure: &Erasure) -> Result<ErasureReport, StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).ctx("begin an erasure")?;
    let report = erase_in(&tx, erasure)?;
    tx.commit().ctx("commit the erasure")?;
    Ok(report)
}

/// Deletes traits not updated since `before_ms`; how many went.
pub(crate) fn expire_traits(tx: &Transaction<'_>, before_ms: i64) -> Result<u64, StoreError> {
    Ok(tx.execute(EXPIRE_TRAITS, params![before_ms]).ctx("expire user traits")? as u64)
}

/// The sources filter of a read as a parameter: a JSON array, or NULL for every source.
fn sources_param(sources: Option<&[String]>) -> Result<Option<String>, StoreError> {
    sources.map(|s| json("sources", &s)).transpose()
}

/// One session's summary and timeline in each source that has it, from one read snapshot.
pub(crate) fn session_engagement(
    conn: &mut Connection,
    id: &str,
    sources: Option<&[String]>,
) -> Result<Vec<SessionEngagement>, StoreError> {
    let sources = sources_param(sources)?;
    let tx = conn.transaction().ctx("begin a read")?;
    let mut summaries = Vec::new();
    {
        let mut stmt = tx
            .prepare_cached(
                "SELECT source, session_id, started_at, ended_at, unique_attendees, engaged_attendees, attendance_ms,
                        peak_concurrent, engagements, stream_ms FROM session_summaries
                  WHERE session_id = ?1 AND (?2 IS NULL OR source IN (SELECT value FROM json_each(?2)))
                  ORDER BY source",
            )
            .ctx("prepare the session summary query")?;
        let mut rows = stmt.query(params![id, sources]).ctx("query session summaries")?;
        while let Some(row) = rows.next().ctx("read a session summary")? {
            summaries.push(read_summary(row)?);
        }
    }
    let mut out = Vec::with_capacity(summaries.len());
    for summary in summaries {
        let mut stmt = tx
            .prepare_cached(
                "SELECT window_start, window_end, is_final, joins, leaves, attendees, peak_concurrent, engagements,
                        stream_ms FROM session_windows WHERE source = ?1 AND session_id = ?2
                   AND NOT (joins = 0 AND leaves = 0 AND attendees = 0 AND peak_concurrent = 0
                            AND engagements = '{}' AND stream_ms = '{}')
                 ORDER BY window_start",
            )
            .ctx("prepare the session window query")?;
        let mut rows = stmt.query(params![summary.source, id]).ctx("query session windows")?;
        let mut windows = Vec::new();
        while let Some(row) = rows.next().ctx("read a session window")? {
            windows.push(SessionWindow {
                source: summary.source.clone(),
                session_id: id.to_owned(),
                window_start_ms: column(row, 0, "window_start")?,
                window_end_ms: column(row, 1, "window_end")?,
                is_final: column(row, 2, "is_final")?,
                counts: SessionWindowCounts {
                    joins: count(row, 3, "joins")?,
                    leaves: count(row, 4, "leaves")?,
                    attendees: count(row, 5, "attendees")?,
                    peak_concurrent: count(row, 6, "peak_concurrent")?,
                    engagements: map(row, 7, "engagements")?,
                    stream_ms: map(row, 8, "stream_ms")?,
                },
            });
        }
        out.push(SessionEngagement::new(&summary, &windows));
    }
    Ok(out)
}

/// Sessions with a non-empty window starting in `range` (of `sources`, when given): most
/// unique attendees first.
pub(crate) fn top_sessions(
    conn: &Connection,
    range: TimeRange,
    limit: u32,
    sources: Option<&[String]>,
) -> Result<Vec<SessionListing>, StoreError> {
    let sources = sources_param(sources)?;
    let mut stmt = conn
        .prepare_cached(
            "SELECT s.source, s.session_id, s.started_at, s.ended_at, s.unique_attendees, s.engaged_attendees,
                    s.attendance_ms, s.peak_concurrent, s.engagements, s.stream_ms
               FROM session_summaries s
              WHERE (?4 IS NULL OR s.source IN (SELECT value FROM json_each(?4)))
                AND EXISTS (SELECT 1 FROM session_windows w
                             WHERE w.source = s.source AND w.session_id = s.session_id
                               AND w.window_start >= ?1 AND w.window_start < ?2
                               AND NOT (joins = 0 AND leaves = 0 AND attendees = 0 AND peak_concurrent = 0
                                        AND engagements = '{}' AND stream_ms = '{}'))
              ORDER BY s.unique_attendees DESC, s.source ASC, s.session_id ASC
              LIMIT ?3",
        )
        .ctx("prepare the top sessions query")?;
    let mut rows = stmt.query(params![range.from_ms, range.to_ms, limit, sources]).ctx("query top sessions")?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().ctx("read a session summary")? {
        out.push(SessionListing::new(&read_summary(row)?));
    }
    Ok(out)
}

/// A summary from `source, session_id, started_at, ended_at, unique_attendees,
/// engaged_attendees, attendance_ms, peak_concurrent, engagements, stream_ms`.
fn read_summary(row: &Row<'_>) -> Result<SessionSummary, StoreError> {
    Ok(SessionSummary {
        source: column(row, 0, "source")?,
        session_id: column(row, 1, "session_id")?,
        started_at_ms: column(row, 2, "started_at")?,
        ended_at_ms: column(row, 3, "ended_at")?,
        unique_attendees: count(row, 4, "unique_attendees")?,
        engaged_attendees: count(row, 5, "engaged_attendees")?,
        attendance_ms: count(row, 6, "attendance_ms")?,
        peak_concurrent: count(row, 7, "peak_concurrent")?,
        engagements: map(row, 8, "engagements")?,
        stream_ms: map(row, 9, "stream_ms")?,
    })
}

fn column<T: rusqlite::types::FromSql>(row: &Row<'_>, idx: usize, what: &'static str) -> Result<T, StoreError> {
    row.get(idx).map_err(|e| StoreError::Corrupt { what, detail: e.to_string() })
}

fn count(row: &Row<'_>, idx: usize, what: &'static str) -> Result<u64, StoreError> {
    super::codec::counter_from_sql(what, column(row, idx, what)?)
}

fn map(row: &Row<'_>, idx: usize, what: &'static str) -> Result<BTreeMap<String, u64>, StoreError> {
    let text: String = column(row, idx, what)?;
    serde_json::from_str(&text).map_err(|e| StoreError::Corrupt { what, detail: e.to_string() })
}

#[cfg(test)]
mod tests {
    use crate::store::{AnalyticsRow, CommitBatch, Store, UserTraits};
    use crate::{SqliteStore, StoreError};
    use engage_model::webinar::{PageViewWindow, SessionSummary, SessionWindow, SessionWindowCounts};
    use std::collections::BTreeMap;

    fn window(start: i64, attendees: u64) -> SessionWindow {
        SessionWindow {
            source: "acme".into(),
            session_id: "s1".into(),
            window_start_ms: start,
            window_end_ms: start + 60_000,
            is_final: false,
            counts: SessionWindowCounts {
                joins: attendees,
                attendees,
                peak_concurrent: attendees,
                engagements: BTreeMap::from([("poll".to_string(), 2)]),
                stream_ms: BTreeMap::from([("camera".to_string(), 1_500)]),
                ..SessionWindowCounts::default()
            },
        }
    }

    fn traits(name: &str, at: i64, id: u8) -> UserTraits {
        UserTraits {
            source: "acme".into(),
            user_key: "u1".into(),
            user_id: "u1".into(),
            anonymous_id: String::new(),
            traits_json: format!("{{\"name\":\"{name}\"}}"),
            updated_at_ms: at,
            event_id: vec![id],
        }
    }

    fn traits_of(store: &SqliteStore) -> String {
        let conn = rusqlite::Connection::open(store.path()).unwrap();
        conn.query_row("SELECT traits FROM user_traits WHERE source = 'acme' AND user_key = 'u1'", [], |r| r.get(0))
            .unwrap()
    }

    #[tokio::test]
    async fn sessions_are_upserted_and_read_back_and_traits_keep_the_latest() -> Result<(), StoreError> {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("s.db"))?;
        assert_eq!(store.session_engagement("s1", None).await?, vec![]);
        let summary = SessionSummary {
            source: "acme".into(),
            session_id: "s1".into(),
            started_at_ms: Some(5),
            ended_at_ms: None,
            unique_attendees: 4,
            engaged_attendees: 1,
            attendance_ms: 10_000,
            peak_concurrent: 3,
            engagements: BTreeMap::from([("poll".to_string(), 2)]),
            stream_ms: BTreeMap::from([("camera".to_string(), 1_500)]),
        };
        let raw = AnalyticsRow {
            source: "acme".into(),
            event_id: vec![1],
            received_at_ms: 1,
            event_time_ms: 1,
            call: "track".into(),
            user_id: "u1".into(),
            anonymous_id: String::new(),
            name: "User Joined".into(),
            properties_json: "{}".into(),
            traits_json: "{}".into(),
            context_json: "{}".into(),
            message_id: "m".into(),
            app: "a".into(),
            session_id: "s1".into(),
        };
        let page = PageViewWindow {
            source: "acme".into(),
            kind: "page".into(),
            name: "Home".into(),
            window_start_ms: 0,
            window_end_ms: 60_000,
            generation: 0,
            views: 3,
        };
        let batch = CommitBatch {
            next_offset: 1,
            session_windows: vec![window(60_000, 2), window(0, 1)],
            session_summaries: vec![summary.clone()],
            page_views: vec![page],
            user_traits: vec![traits("new", 10, 1), traits("old", 5, 2)],
            analytics_events: vec![raw.clone(), raw],
            ..CommitBatch::default()
        };
        store.commit(batch.clone().into()).await?;
        // a replay changes nothing
        store.commit(batch.into()).await?;
        let e = store.session_engagement("s1", None).await?.pop().expect("stored");
        assert_eq!((e.unique_attendees, e.peak_concurrent, e.started_at, e.ended_at), (4, 3, Some(5), None));
        assert_eq!((e.avg_attendance_seconds, e.engaged_share), (Some(2.5), Some(0.25)));
        assert_eq!(e.stream_seconds["camera"], 1.5);
        let starts: Vec<(i64, u64)> = e.timeline.iter().map(|p| (p.window_start, p.attendees)).collect();
        assert_eq!(starts, vec![(0, 1), (60_000, 2)]);
        assert_eq!(traits_of(&store), "{\"name\":\"new\"}");
        store
            .commit(
                CommitBatch { next_offset: 2, user_traits: vec![traits("newer", 11, 3)], ..CommitBatch::default() }
                    .into(),
            )
            .await?;
        assert_eq!(traits_of(&store), "{\"name\":\"newer\"}");
        let conn = rusqlite::Connection::open(store.path()).unwrap();
        let n: i64 = conn.query_row("SELECT COUNT(*) FROM analytics_events", [], |r| r.get(0)).unwrap();
        assert_eq!(n, 1);
        Ok(())
    }

    fn summary(id: &str, attendees: u64) -> SessionSummary {
        SessionSummary {
            source: "acme".into(),
            session_id: id.into(),
            started_at_ms: Some(0),
            unique_attendees: attendees,
            engaged_attendees: attendees / 2,
            attendance_ms: attendees * 60_000,
            peak_concurrent: attendees,
            ..SessionSummary::default()
        }
    }

    fn window_of(id: &str, start: i64, attendees: u64) -> SessionWindow {
        SessionWindow { session_id: id.into(), ..window(start, attendees) }
    }

    #[tokio::test]
    async fn top_sessions_are_those_active_in_the_range_most_attended_first() -> Result<(), StoreError> {
        use crate::store::TimeRange;
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("s.db"))?;
        assert!(store.top_sessions(TimeRange::ALL, 10, None).await?.is_empty());
        let batch = CommitBatch {
            next_offset: 1,
            session_windows: vec![
                window_of("a", 0, 2),
                window_of("b", 60_000, 5),
                window_of("c", 120_000, 5),
                // emptied by an out-of-order event: not activity
                SessionWindow { counts: SessionWindowCounts::default(), ..window_of("d", 60_000, 0) },
            ],
            session_summaries: vec![summary("a", 2), summary("b", 5), summary("c", 5), summary("d", 0)],
            ..CommitBatch::default()
        };
        store.commit(batch.into()).await?;
        let ids = |rows: Vec<crate::SessionListing>| rows.into_iter().map(|r| r.session_id).collect::<Vec<_>>();
        assert_eq!(ids(store.top_sessions(TimeRange::ALL, 10, None).await?), ["b", "c", "a"], "attendees desc, id asc");
        assert_eq!(ids(store.top_sessions(TimeRange::ALL, 1, None).await?), ["b"]);
        let range = TimeRange { from_ms: 60_000, to_ms: 120_000 };
        assert_eq!(ids(store.top_sessions(range, 10, None).await?), ["b"], "half-open on window_start");
        let b = store.top_sessions(range, 10, None).await?.remove(0);
        assert_eq!((b.unique_attendees, b.peak_concurrent, b.started_at, b.ended_at), (5, 5, Some(0), None));
        assert_eq!((b.avg_attendance_seconds, b.engaged_share), (Some(60.0), Some(0.4)));
        Ok(())
    }
}
