//! SQLite-only parts of rows that sum: the archive's expiry inside the commit, page view
//! generations, and a failing batch leaving watermarks and archive untouched. The laws both
//! stores share are in `crates/sink/tests/laws`.

use super::tests::{MIN, batch, engagement, open, window};
use super::*;
use engage_model::rollup::ArchivedState;
use engage_model::webinar::PageViewWindow;

fn state(key: u8, version: u64, expires_at_ms: i64) -> ArchivedState {
    ArchivedState { key: [key; 16], version, expires_at_ms, state: vec![key, version as u8] }
}

fn count(store: &SqliteStore, sql: &str) -> i64 {
    Connection::open(store.path()).unwrap().query_row(sql, [], |r| r.get(0)).unwrap()
}

#[tokio::test]
async fn expired_archived_states_are_deleted_by_the_commit_whose_watermark_passes_them() {
    let (_dir, store) = open();
    let archive = |partition, offset, states, watermark_ms| CommitBatch {
        archived: states,
        watermark_ms,
        snapshot: None,
        ..batch(partition, offset, vec![])
    };
    store
        .commit(archive(0, 10, vec![state(1, 5, 100), state(2, 5, 200), state(2, 9, 300)], None).into())
        .await
        .unwrap();
    store.commit(archive(1, 10, vec![state(3, 5, 50)], None).into()).await.unwrap();
    assert_eq!(count(&store, "SELECT COUNT(*) FROM archived_states"), 4, "no watermark: nothing expires");

    // Partition 0's watermark passes 100 and 200 (not 300); partition 1 keeps its states.
    store.commit(archive(0, 20, vec![state(4, 15, 180)], Some(250)).into()).await.unwrap();
    let keys = [[1; 16], [2; 16], [3; 16], [4; 16]];
    let found: Vec<(u8, Vec<u8>)> =
        store.load_archived(0, &keys, 100).await.unwrap().into_iter().map(|(k, s)| (k[0], s)).collect();
    assert_eq!(found, vec![(2, vec![2, 9])], "only the state expiring at 300 is left of partition 0");
    assert_eq!(store.load_archived(1, &keys, 100).await.unwrap().len(), 1);
    assert_eq!(count(&store, "SELECT COUNT(*) FROM archived_states"), 2);
    // The expiry is an index range, not a scan.
    let plan: String = Connection::open(store.path())
        .unwrap()
        .query_row(
            "EXPLAIN QUERY PLAN DELETE FROM archived_states WHERE partition_id = 0 AND expires_at < 5",
            [],
            |r| r.get(3),
        )
        .unwrap();
    assert!(plan.contains("archived_states_by_expiry"), "{plan}");
}

#[tokio::test]
async fn page_view_generations_sum_and_keep_their_newest_version() {
    let (_dir, store) = open();
    let page = |generation, views| PageViewWindow {
        source: "acme".into(),
        kind: "page".into(),
        name: "Home".into(),
        window_start_ms: 0,
        window_end_ms: MIN,
        generation,
        views,
    };
    let pages = |partition, offset, rows| CommitBatch { page_views: rows, ..batch(partition, offset, vec![]) };
    store.commit(pages(0, 10, vec![page(0, 3)]).into()).await.unwrap();
    store.commit(pages(0, 20, vec![page(0, 5), page(20, 2)]).into()).await.unwrap();
    store.commit(pages(0, 15, vec![page(0, 1), page(20, 9)]).into()).await.unwrap(); // a stale writer
    store.commit(pages(1, 3, vec![page(3, 4)]).into()).await.unwrap();
    assert_eq!(count(&store, "SELECT SUM(views) FROM page_view_rows WHERE name = 'Home'"), 5 + 2 + 4);
    assert_eq!(count(&store, "SELECT COUNT(*) FROM page_view_rows"), 3);
}

#[tokio::test]
async fn a_failing_batch_moves_no_watermark_and_archives_nothing() {
    let (_dir, store) = open();
    store.commit(batch(0, 10, vec![window("v1", "a", 0, 1, &[1])]).into()).await.unwrap();
    let mut broken = window("v1", "a", 1, 1, &[2]);
    broken.window_end_ms = broken.window_start_ms;
    let bad = CommitBatch {
        archived: vec![state(1, 5, i64::MAX)],
        watermark_ms: Some(50 * MIN),
        final_before_ms: Some(40 * MIN),
        ..batch(0, 20, vec![window("v1", "a", 0, 9, &[3]), broken])
    };
    assert!(store.commit(bad.into()).await.is_err());
    assert_eq!(count(&store, "SELECT COUNT(*) FROM archived_states"), 0);
    assert_eq!(count(&store, "SELECT COUNT(*) FROM partition_progress"), 0);
    let e = engagement(&store, "v1").await;
    assert_eq!((e.plays, e.unique_viewers, e.timeline[0].is_final), (1, 1, false));
}

#[tokio::test]
async fn counters_and_arrays_may_be_negative_in_one_generation() {
    let (_dir, store) = open();
    let mut retraction = window("v1", "a", 0, -1, &[]);
    retraction.generation = 7;
    retraction.counters.retention[3] = -2;
    retraction.counters.exits[100] = -1;
    let mut first = window("v1", "a", 0, 3, &[]);
    first.counters.retention[3] = 3;
    first.counters.exits[100] = 2;
    store.commit(batch(0, 10, vec![first, retraction]).into()).await.unwrap();
    let e = engagement(&store, "v1").await;
    assert_eq!((e.plays, e.impressions, e.retention[3], e.exits[100]), (2, 4, 1, 1));
    // A sum below 0 (a bug upstream) shows as 0, never wraps.
    let mut alone = window("v2", "a", 0, -3, &[]);
    alone.counters.retention[0] = -1;
    store.commit(batch(0, 11, vec![alone]).into()).await.unwrap();
    let e = engagement(&store, "v2").await;
    assert_eq!((e.plays, e.retention[0], e.timeline[0].plays, e.play_rate), (0, 0, 0, None));
}
