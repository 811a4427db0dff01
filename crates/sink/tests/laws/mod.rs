//! What every store must do with rows that sum, written once against `&dyn Store` and run
//! on SQLite (`tests/sqlite.rs`) and on ClickHouse (`tests/clickhouse.rs`). Each law
//! asserts exact answers, so the two stores passing them answer alike.
//!
//! - [`generations_sum`]: the rows of one window (generations, partitions, apps) add up.
//! - [`viewer_weights`]: a viewer counts where their weights sum to more than 0.
//! - [`replays_and_lower_versions_change_nothing`]: rewrites are idempotent and monotonic.
//! - [`archive_returns_every_version_at_or_below`]: `load_archived` reads a position's past.
//! - [`finality_follows_the_slowest_partition`]: the min of `final_before` over partitions.
//!
//! Each law starts from an empty store (finality is one bound for the whole store).

#![allow(dead_code)]

use engage_model::rollup::{ArchivedState, VideoCounters, VideoWindow};
use engage_sink::{CommitBatch, ItemEngagement, ItemQuery, Store, TimeRange, TopItemsQuery};
use std::sync::Arc;

pub const MINUTE: i64 = 60_000;

/// A recent hour boundary (rows stay inside every TTL of the ClickHouse schema).
pub fn t0() -> i64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis() as i64;
    now - now.rem_euclid(3_600_000) - 3_600_000
}

/// A row of generation `generation` of the window of `item`/`app` at minute `minute`.
pub fn row(item: &str, app: &str, minute: i64, generation: u64, plays: i64, viewers: &[(u64, i64)]) -> VideoWindow {
    let start = t0() + minute * MINUTE;
    let mut counters = VideoCounters { impressions: plays, plays, engaged_plays: plays, ..VideoCounters::default() };
    counters.retention[0] = plays;
    counters.exits[100] = plays;
    VideoWindow {
        item: item.into(),
        app: app.into(),
        window_start_ms: start,
        window_end_ms: start + MINUTE,
        generation,
        counters,
        viewers: viewers.to_vec(),
    }
}

/// A results-only batch of `partition` at `next_offset`.
pub fn batch(partition: i32, next_offset: u64, windows: Vec<VideoWindow>) -> Arc<CommitBatch> {
    Arc::new(CommitBatch { partition, next_offset, windows, ..CommitBatch::default() })
}

async fn engagement(store: &dyn Store, item: &str, app: Option<&str>) -> ItemEngagement {
    let q = ItemQuery { item: item.into(), app: app.map(Into::into), range: TimeRange::ALL };
    store.item_engagement(&q).await.expect("item engagement")
}

fn timeline_of(e: &ItemEngagement) -> Vec<(i64, u64, u64)> {
    e.timeline.iter().map(|p| ((p.window_start - t0()) / MINUTE, p.plays, p.unique_viewers)).collect()
}

/// (a) Two generations of one window sum, and so do partitions and apps; a later generation
/// may retract (negative counts) what an earlier one counted.
pub async fn generations_sum(store: &dyn Store) {
    let item = "law-gen";
    // Generation 0 of minute 0, written twice as it grows (the second replaces the first).
    store.commit(batch(0, 10, vec![row(item, "a", 0, 0, 2, &[(1, 1)])])).await.unwrap();
    store.commit(batch(0, 20, vec![row(item, "a", 0, 0, 3, &[(2, 1)])])).await.unwrap();
    // Generation 20 of the same window (late data after the engine let it go): adds 4 and
    // retracts one completion counted before.
    let mut late = row(item, "a", 0, 20, 4, &[(3, 1)]);
    late.counters.completions = -1;
    late.counters.retention[0] = -1;
    let mut first = row(item, "a", 0, 0, 3, &[]);
    first.counters.completions = 2;
    store.commit(batch(0, 30, vec![first, late])).await.unwrap();
    // Partition 1 (its own offsets) adds to the same window, and another app too.
    store
        .commit(batch(1, 5, vec![row(item, "a", 0, 5, 1, &[(4, 1)]), row(item, "b", 0, 0, 6, &[(1, 1)])]))
        .await
        .unwrap();

    let e = engagement(store, item, None).await;
    assert_eq!((e.plays, e.impressions, e.completions), (3 + 4 + 1 + 6, 14, 1), "generations add up");
    assert_eq!(e.retention[0], 3 - 1 + 1 + 6, "arrays add up slot by slot");
    assert_eq!(e.exits[100], 14);
    assert_eq!(timeline_of(&e), vec![(0, 14, 4)], "one point per window, all rows summed");
    assert_eq!(e.unique_viewers, 4);
    let a = engagement(store, item, Some("a")).await;
    assert_eq!((a.plays, a.unique_viewers), (8, 4));
    let apps: Vec<(String, u64)> =
        store.item_apps(item, TimeRange::ALL).await.unwrap().into_iter().map(|s| (s.app, s.plays)).collect();
    assert_eq!(apps, vec![("a".to_owned(), 8), ("b".to_owned(), 6)]);
    let top = store.top_items(&TopItemsQuery { range: TimeRange::ALL, limit: 1000 }).await.unwrap();
    let mine = top.iter().find(|s| s.item == item).expect("listed");
    assert_eq!((mine.plays, mine.impressions, mine.unique_viewers, mine.completions), (14, 14, 4, 1));
}

/// (b) Viewer weights: +1 then -1 in a later generation is no play; +1, -1, +1 over three
/// rows is one; a weight rewritten to 0 in its generation is gone; presence is per app.
pub async fn viewer_weights(store: &dyn Store) {
    let item = "law-viewers";
    // Viewer 7: +1 (generation 0), -1 (generation 40): retracted.
    // Viewer 8: +1 (generation 0), -1 (generation 40), +1 (generation 60): present.
    // Viewer 9: weight 1 in generation 0, rewritten to 0 by a later batch: gone.
    // Viewer 10: -1 in app b only (its +1 was in app a): present through app a.
    let top_bit = 1 << 63;
    store
        .commit(batch(0, 10, vec![row(item, "a", 0, 0, 4, &[(7, 1), (8, 1), (9, 1), (10, 1), (top_bit, 1)])]))
        .await
        .unwrap();
    store.commit(batch(0, 20, vec![row(item, "a", 0, 0, 4, &[(9, 0)])])).await.unwrap();
    store.commit(batch(0, 40, vec![row(item, "a", 0, 40, 0, &[(7, -1), (8, -1)])])).await.unwrap();
    store.commit(batch(0, 60, vec![row(item, "a", 0, 60, 0, &[(8, 1)])])).await.unwrap();
    store.commit(batch(0, 70, vec![row(item, "b", 0, 0, 0, &[(10, -1)])])).await.unwrap();
    // The next window: viewer 7 plays there, so it counts in the range, not in minute 0.
    store.commit(batch(0, 80, vec![row(item, "a", 1, 0, 1, &[(7, 1)])])).await.unwrap();

    let e = engagement(store, item, None).await;
    assert_eq!(timeline_of(&e), vec![(0, 4, 3), (1, 1, 1)], "minute 0: 8, 10 and 2^63");
    assert_eq!(e.unique_viewers, 4, "8, 10, 2^63 and 7 (minute 1)");
    let b = engagement(store, item, Some("b")).await;
    assert_eq!((b.unique_viewers, timeline_of(&b)), (0, vec![(0, 0, 0)]), "a negative sum is no play");
    let minute0 = ItemQuery {
        item: item.into(),
        app: Some("a".into()),
        range: TimeRange { from_ms: t0(), to_ms: t0() + MINUTE },
    };
    assert_eq!(store.item_engagement(&minute0).await.unwrap().unique_viewers, 3);
    let apps: Vec<(String, u64)> =
        store.item_apps(item, TimeRange::ALL).await.unwrap().into_iter().map(|s| (s.app, s.unique_viewers)).collect();
    assert_eq!(apps, vec![("a".to_owned(), 4), ("b".to_owned(), 0)]);
    let top = store.top_items(&TopItemsQuery { range: TimeRange::ALL, limit: 1000 }).await.unwrap();
    assert_eq!(top.iter().find(|s| s.item == item).map(|s| s.unique_viewers), Some(4));
}

/// (c) Replaying a batch changes nothing; a lower version (a zombie, an older replay)
/// never replaces a row, a weight, a watermark or an archived state.
pub async fn replays_and_lower_versions_change_nothing(store: &dyn Store) {
    let item = "law-replay";
    let partition = 7;
    let archived = |version: u64, state: &[u8]| ArchivedState {
        key: [7; 16],
        version,
        expires_at_ms: t0() + 3 * 86_400_000,
        state: state.to_vec(),
    };
    let full = Arc::new(CommitBatch {
        partition,
        next_offset: 100,
        windows: vec![row(item, "a", 0, 0, 5, &[(1, 1), (2, 1)]), row(item, "a", 0, 50, 2, &[(3, 1), (1, -1)])],
        watermark_ms: Some(t0() + 10 * MINUTE),
        final_before_ms: Some(t0() + MINUTE),
        archived: vec![archived(90, b"first run")],
        ..CommitBatch::default()
    });
    store.commit(Arc::clone(&full)).await.unwrap();
    let answer = || async { serde_json::to_value(engagement(store, item, None).await).unwrap() };
    let written = answer().await;
    assert_eq!((written["plays"].as_u64(), written["unique_viewers"].as_u64()), (Some(7), Some(2)));
    assert_eq!(written["timeline"][0]["final"], true);

    store.commit(Arc::clone(&full)).await.unwrap();
    assert_eq!(answer().await, written, "the same batch again");
    store.commit_all(&[Arc::clone(&full), Arc::clone(&full)]).await.unwrap();
    assert_eq!(answer().await, written, "the same batch twice in one commit_all");

    // A zombie at a lower offset: older counts, the retraction undone, a weight for
    // another viewer, an earlier watermark, another state at the archived version.
    let zombie = Arc::new(CommitBatch {
        partition,
        next_offset: 60,
        windows: vec![row(item, "a", 0, 0, 1, &[(1, 0), (9, 1)]), row(item, "a", 0, 50, 0, &[(1, 0), (3, 0)])],
        watermark_ms: Some(t0()),
        final_before_ms: Some(t0() - MINUTE),
        archived: vec![archived(90, b"zombie")],
        ..CommitBatch::default()
    });
    store.commit(zombie).await.unwrap();
    let after = answer().await;
    // Viewer 9 is new (no newer row of its key exists): a zombie may add what it saw.
    assert_eq!(after["unique_viewers"].as_u64(), Some(3), "only the new key 9 lands");
    assert_eq!(after["plays"], written["plays"], "an older row never replaces a newer one");
    assert_eq!(after["timeline"][0]["final"], true, "final_before never moves back");
    assert_eq!(after["timeline"][0]["plays"], written["timeline"][0]["plays"]);
    let states = store.load_archived(partition, &[[7; 16]], 1000).await.unwrap();
    assert_eq!(states, vec![([7; 16], b"first run".to_vec())], "an archived version is written once");
}

/// (d) `load_archived`: per key, the newest version at or below the position, nothing
/// above it, nothing of another partition, keys without one left out.
pub async fn archive_returns_every_version_at_or_below(store: &dyn Store) {
    let (p, other) = (11, 12);
    let state = |key: u8, version: u64| ArchivedState {
        key: [key; 16],
        version,
        expires_at_ms: t0() + 3 * 86_400_000,
        state: format!("{key}@{version}").into_bytes(),
    };
    let archive = |partition: i32, next_offset: u64, states: Vec<ArchivedState>| {
        Arc::new(CommitBatch { partition, next_offset, archived: states, ..CommitBatch::default() })
    };
    store.commit(archive(p, 11, vec![state(1, 10), state(2, 10)])).await.unwrap();
    store.commit(archive(p, 21, vec![state(1, 20)])).await.unwrap();
    store.commit(archive(p, 31, vec![state(1, 30), state(3, 30)])).await.unwrap();
    store.commit(archive(other, 5, vec![state(4, 5), state(1, 5)])).await.unwrap();

    let load = |partition: i32, keys: Vec<u8>, max: u64| async move {
        let keys: Vec<[u8; 16]> = keys.into_iter().map(|k| [k; 16]).collect();
        let found = store.load_archived(partition, &keys, max).await.unwrap();
        found.into_iter().map(|(k, s)| (k[0], String::from_utf8(s).unwrap())).collect::<Vec<_>>()
    };
    let s = |k: u8, v: u64| (k, format!("{k}@{v}"));
    assert_eq!(load(p, vec![1, 2, 3], 25).await, vec![s(1, 10), s(1, 20), s(2, 10)], "every version at or below 25");
    assert_eq!(
        load(p, vec![1, 2, 3], 30).await,
        vec![s(1, 10), s(1, 20), s(1, 30), s(2, 10), s(3, 30)],
        "at the bound itself"
    );
    assert_eq!(load(p, vec![1, 2, 3], 9).await, vec![], "nothing above the position");
    assert_eq!(
        load(p, vec![3, 1, 1, 9], u64::MAX).await,
        vec![s(1, 10), s(1, 20), s(1, 30), s(3, 30)],
        "by key then version, each once, absent left out"
    );
    assert_eq!(load(p, vec![4], 100).await, vec![], "another partition's state is not this one's");
    assert_eq!(load(other, vec![1, 4], 100).await, vec![s(1, 5), s(4, 5)]);
    assert_eq!(load(p, vec![], 100).await, vec![]);
    let many: Vec<u8> = (0..=255).collect();
    assert_eq!(load(p, many, 100).await.len(), 5, "a large batch of keys");
}

/// (e) A point is final when its window ends at or before the smallest `final_before` of
/// the partitions that reported one; nothing is final before any did.
pub async fn finality_follows_the_slowest_partition(store: &dyn Store) {
    let item = "law-final";
    let finals = || async {
        let e = engagement(store, item, None).await;
        e.timeline.iter().map(|p| p.is_final).collect::<Vec<_>>()
    };
    let windows: Vec<VideoWindow> = (0..4).map(|m| row(item, "a", m, 0, 1, &[])).collect();
    store.commit(batch(0, 10, windows)).await.unwrap();
    assert_eq!(finals().await, [false; 4], "no partition reported final_before yet");
    let progress = |partition: i32, offset: u64, watermark: Option<i64>, final_minute: Option<i64>| {
        Arc::new(CommitBatch {
            partition,
            next_offset: offset,
            watermark_ms: watermark,
            final_before_ms: final_minute.map(|m| t0() + m * MINUTE),
            ..CommitBatch::default()
        })
    };
    // A partition with a watermark but no final_before takes no part.
    store.commit(progress(3, 1, Some(t0()), None)).await.unwrap();
    assert_eq!(finals().await, [false; 4]);
    store.commit(progress(0, 20, Some(t0() + 9 * MINUTE), Some(3))).await.unwrap();
    assert_eq!(finals().await, [true, true, true, false], "windows ending at or before minute 3");
    // Partition 1 is behind: the min is its final_before.
    store.commit(progress(1, 5, Some(t0() + 5 * MINUTE), Some(1))).await.unwrap();
    assert_eq!(finals().await, [true, false, false, false]);
    // Partition 1 catches up past partition 0; partition 0 then reports an older value
    // (a zombie): it never moves back.
    store.commit(progress(1, 6, Some(t0() + 20 * MINUTE), Some(10))).await.unwrap();
    store.commit(progress(0, 15, Some(t0()), Some(0))).await.unwrap();
    assert_eq!(finals().await, [true, true, true, false]);
    store.commit(progress(0, 30, None, Some(4))).await.unwrap();
    assert_eq!(finals().await, [true; 4]);
}
