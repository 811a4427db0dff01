//! The archive of engine states (schema version 4): a view key's timeline after it left
//! the engine's memory, kept so that an event arriving late (up to the lateness horizon)
//! can re-derive its view exactly.
//!
//! Rows are keyed (partition, key, version): a state archived again later (the view came
//! back, then left again) is a new row, and [`load`] returns every row at or below the
//! reader's position (the engine keeps the newest of each lineage it finds in them), so a
//! consumer replaying after a crash reads exactly what the first run read at the same
//! position. Writing is a set (`ON CONFLICT DO NOTHING`: a replay
//! writes the same state at the same version). Expiry is part of the commit: rows of the
//! batch's partition whose `expires_at` is below the batch's watermark are deleted through
//! the `(partition_id, expires_at)` index, so the table holds about one horizon of states.

use super::codec::counter_to_sql;
use crate::error::{SqlContext, StoreError};
use crate::store::CommitBatch;
use rusqlite::{Connection, Transaction, params};

/// States found, with their keys (what [`crate::Store::load_archived`] returns).
type Found = Vec<([u8; 16], Vec<u8>)>;

const INSERT_STATE: &str = "
INSERT INTO archived_states (partition_id, key, version, expires_at, state) VALUES (?1, ?2, ?3, ?4, ?5)
ON CONFLICT (partition_id, key, version) DO NOTHING";

const DELETE_EXPIRED: &str = "DELETE FROM archived_states WHERE partition_id = ?1 AND expires_at < ?2";

const STATES_UP_TO: &str = "
SELECT state FROM archived_states WHERE partition_id = ?1 AND key = ?2 AND version <= ?3
ORDER BY version";

/// Inserts the batch's archived states, then deletes its partition's expired ones.
pub(crate) fn write(tx: &Transaction<'_>, batch: &CommitBatch) -> Result<(), StoreError> {
    if !batch.archived.is_empty() {
        let mut insert = tx.prepare_cached(INSERT_STATE).ctx("prepare the archive insert")?;
        for a in &batch.archived {
            let version = counter_to_sql("archived version", a.version)?;
            insert
                .execute(params![batch.partition, &a.key[..], version, a.expires_at_ms, a.state])
                .ctx("archive a state")?;
        }
    }
    if let Some(watermark) = batch.watermark_ms {
        tx.prepare_cached(DELETE_EXPIRED)
            .ctx("prepare the archive expiry")?
            .execute(params![batch.partition, watermark])
            .ctx("delete expired archived states")?;
    }
    Ok(())
}

/// For each key, every state of a version at or below `max_version` (keys without one are
/// left out), ordered by key then version (both stores answer alike).
pub(crate) fn load(
    conn: &mut Connection,
    partition: i32,
    keys: &[[u8; 16]],
    max_version: u64,
) -> Result<Found, StoreError> {
    // Above i64::MAX every stored version qualifies.
    let max_version = i64::try_from(max_version).unwrap_or(i64::MAX);
    let tx = conn.transaction().ctx("begin a read")?;
    let mut keys = keys.to_vec();
    keys.sort_unstable();
    keys.dedup();
    let mut out = Vec::new();
    {
        let mut stmt = tx.prepare_cached(STATES_UP_TO).ctx("prepare the archive lookup")?;
        for key in keys {
            let mut rows = stmt.query(params![partition, &key[..], max_version]).ctx("look up archived states")?;
            while let Some(row) = rows.next().ctx("read an archived state")? {
                out.push((key, row.get::<_, Vec<u8>>(0).ctx("read an archived state")?));
            }
        }
    }
    Ok(out)
}
