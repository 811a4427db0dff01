//! Reading archived engine states back (`archived_states`, schema version 3): for a batch
//! of keys, every state of each at or below a position, in one query per chunk.
//!
//! Rows are written with the commit's data inserts (before its checkpoint, see `write`);
//! the table's TTL deletes them a day after they expire. Keys go into the query as
//! `unhex('…')` literals (16 bytes each, so nothing to escape), at most [`KEYS_PER_QUERY`]
//! per query so a large batch stays well inside ClickHouse's query size limit (256 KiB by
//! default). Grouping by (key, version) collapses duplicates of one version (a replayed
//! commit writes the same state again); the engine keeps the newest of each lineage.

use super::ClickHouseStore;
use super::rows::ArchivedDbRow;
use crate::error::StoreError;
use std::fmt::Write;

/// States found, with their keys (what [`crate::Store::load_archived`] returns).
type Found = Vec<([u8; 16], Vec<u8>)>;

/// Keys per query: about 40 bytes of SQL each.
const KEYS_PER_QUERY: usize = 2_000;

impl ClickHouseStore {
    pub(super) async fn read_archived(
        &self,
        partition: i32,
        keys: &[[u8; 16]],
        max_version: u64,
    ) -> Result<Found, StoreError> {
        let mut keys = keys.to_vec();
        keys.sort_unstable();
        keys.dedup();
        let mut out = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(KEYS_PER_QUERY) {
            let mut list = String::with_capacity(chunk.len() * 44);
            for (i, key) in chunk.iter().enumerate() {
                list.push_str(if i == 0 { "unhex('" } else { ", unhex('" });
                for b in key {
                    let _ = write!(list, "{b:02x}");
                }
                list.push_str("')");
            }
            let sql = format!(
                "SELECT key, any(state) AS state FROM archived_states
                 WHERE partition_id = {partition} AND version <= {max_version} AND key IN ({list})
                 GROUP BY key, version ORDER BY key, version"
            );
            let rows = self.fetch_all::<ArchivedDbRow>("read archived states", || self.client.query(&sql)).await?;
            out.extend(rows.into_iter().map(|r| (r.key, r.state)));
        }
        Ok(out)
    }
}
