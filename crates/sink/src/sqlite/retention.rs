//! What a commit deletes for age: user traits not updated for `--traits-ttl-days`, raw
//! analytics events and rejected inputs received more than `--raw-ttl-days` ago.
//!
//! Expiry runs inside a commit (at most hourly, decided by the store), so it takes the
//! writer's lock that commits take anyway and never races one; every delete goes through
//! an index on the time column. Deleted content is overwritten on disk (`secure_delete`, set
//! on the writer), not left in free pages.

use super::analytics;
use crate::error::{SqlContext, StoreError};
use rusqlite::{Transaction, params};

const EXPIRE_RAW_EVENTS: &str = "DELETE FROM analytics_events WHERE received_at < ?1";
const EXPIRE_REJECTED: &str = "DELETE FROM rejected WHERE received_at < ?1";

/// The cut-offs of one expiry pass (epoch ms; `None`: that kind is kept forever).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Expiry {
    pub(crate) traits_before: Option<i64>,
    pub(crate) raw_before: Option<i64>,
}

/// Deletes what `expiry` says has expired.
pub(crate) fn expire(tx: &Transaction<'_>, expiry: Expiry) -> Result<(), StoreError> {
    let traits = match expiry.traits_before {
        Some(before) => analytics::expire_traits(tx, before)?,
        None => 0,
    };
    let (events, rejected) = match expiry.raw_before {
        Some(before) => (
            tx.execute(EXPIRE_RAW_EVENTS, params![before]).ctx("expire raw analytics events")?,
            tx.execute(EXPIRE_REJECTED, params![before]).ctx("expire rejected inputs")?,
        ),
        None => (0, 0),
    };
    if traits + events as u64 + rejected as u64 > 0 {
        tracing::info!(traits, events, rejected, "expired rows deleted");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_events_and_rejected_inputs_expire_by_receipt_and_the_rest_stays() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = crate::SqliteStore::open(&dir.path().join("s.sqlite3")).expect("open");
        let mut conn = rusqlite::Connection::open(store.path()).expect("open");
        for (id, at) in [(1u8, 1_000i64), (2, 5_000)] {
            conn.execute(
                "INSERT INTO analytics_events (event_id, received_at, event_time, call, user_id, anonymous_id, name,
                 session_id, properties, traits, context, message_id, app, source)
                 VALUES (?1, ?2, ?2, 'track', 'u', '', 'e', '', '{}', '{}', '{}', 'm', 'a', 's')",
                params![vec![id], at],
            )
            .expect("event");
            conn.execute(
                "INSERT INTO rejected (event_id, received_at, route, reason_code, reason, input, truncated)
                 VALUES (?1, ?2, '/ping/dot.gif', 'missing_item', 'r', '', 0)",
                params![vec![id], at],
            )
            .expect("rejected");
        }
        let count = |conn: &rusqlite::Connection, table: &str| -> i64 {
            conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0)).expect("count")
        };
        let tx = conn.transaction().expect("tx");
        expire(&tx, Expiry { traits_before: None, raw_before: None }).expect("nothing due");
        expire(&tx, Expiry { traits_before: Some(i64::MAX), raw_before: Some(3_000) }).expect("expire");
        tx.commit().expect("commit");
        assert_eq!((count(&conn, "analytics_events"), count(&conn, "rejected")), (1, 1), "the older of each went");
        let secure: i64 = rusqlite::Connection::open(store.path())
            .and_then(|c| {
                crate::sqlite::schema::configure_writer(&c)?;
                c.query_row("PRAGMA secure_delete", [], |r| r.get(0))
            })
            .expect("pragma");
        assert_eq!(secure, 1, "the writer overwrites what it deletes");
    }

    #[test]
    fn every_expiry_delete_uses_an_index() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = crate::SqliteStore::open(&dir.path().join("s.sqlite3")).expect("open");
        let conn = rusqlite::Connection::open(store.path()).expect("open");
        for sql in [EXPIRE_RAW_EVENTS, EXPIRE_REJECTED] {
            let plan: String = conn
                .query_row(&format!("EXPLAIN QUERY PLAN {}", sql.replace("?1", "5")), [], |r| r.get(3))
                .expect("plan");
            assert!(plan.contains("USING") && plan.contains("INDEX"), "{sql}: {plan}");
        }
    }
}
