//! The archive of engine states (schema version 4): a view key's timeline after it left
//! the engine's memory, kept so that an event arriving late (up to the lateness horizon)
//! can re-derive its view exactly.
//!
//! Rows are keyed (partition, key, version): a state archived again later (the view came
//! back, then left again) is a new row, and [`load`] returns the newest at or below the
//! reader's position, so a consumer replaying after a crash reads exactly what the first
//! run read at the same position. Writing is a set (`ON CONFLICT DO NOTHING`: a replay
//! writes the same state at the same version). Expiry is part of the commit: rows of the
//! batch's partition whose `expires_at` is below the batch's watermark are deleted through
//! the `(partition_id, expires_at)` index, so the table holds about one horizon of states.

use super::codec::counter_to_sql;
use crate::error::{SqlContext, StoreError};
use crate::store::CommitBatch;
use rusqlite::{Connection, OptionalExtension, Transaction, params};

/// States found, with their keys (what [`crate::Store::load_archived`] returns).
type Found = Vec<([u8; 16], Vec<u8>)>;

const INSERT_STATE: &str = "
INSERT INTO archived_states (partition_id, key, version, expires_at, state) VALUES (?1, ?2, ?3, ?4, ?5)
ON CONFLICT (partition_id, key, version) DO NOTHING";

const DELETE_EXPIRED: &str = "DELETE FROM archived_states WHERE partition_id = ?1 AND expires_at < ?2";

const NEWEST_STATE: &str = "
SELECT state FROM archived_states WHERE partition_id = ?1 AND key = ?2 AND version <= ?3
ORDER BY version DESC LIMIT 1";

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

/// For each key, the state of the highest version at or below `max_version` (keys without
/// one are left out), ordered by key, once per key (both stores answer alike).
pub(crate) fn load(
    conn: &mut Connection,
    partition: i32,
    keys: &[[u8; 16]],
    max_version: u64,
) -> Result<Found, StoreError> {
    // Above i64::MAX every stored version qualifies.
    let max_version = i64::try_from(max_version).unwrap_or(i64::MAX);
    let tx = conn.transaction().ctx("begin a read")?;
    let mut out = std::collections::BTreeMap::new();
    {
        let mut stmt = tx.prepare_cached(NEWEST_STATE).ctx("prepare the archive lookup")?;
        for key in keys {
            if out.contains_key(key) {
                continue;
            }
            let state: Option<Vec<u8>> = stmt
                .query_row(params![partition, &key[..], max_version], |r| r.get(0))
                .optional()
                .ctx("look up an archived state")?;
            if let Some(state) = state {
                out.insert(*key, state);
            }
        }
    }
    Ok(out.into_iter().collect())
}
