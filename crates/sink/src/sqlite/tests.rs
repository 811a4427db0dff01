//! Tests of the SQLite store against real database files in temporary directories.

use super::*;
use crate::store::TimelinePoint;
use engage_model::rollup::{PERCENT_POSITIONS, RETENTION_SEGMENTS, VideoCounters, VideoWindow};

pub(super) const MIN: i64 = 60_000;

pub(super) fn open() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    // The fixtures' times are small numbers: raw rows are kept forever here (expiry has its
    // own tests in `retention`).
    let store = SqliteStore::open(&dir.path().join("engage.db")).unwrap().with_raw_ttl_days(0);
    (dir, store)
}

/// Generation 0 of a window of `item`/`app` starting at minute `minute`, with `plays` plays
/// (2 impressions per play, all engaged) and the given viewers (weight 1 each).
pub(super) fn window(item: &str, app: &str, minute: i64, plays: i64, viewers: &[u64]) -> VideoWindow {
    VideoWindow {
        item: item.into(),
        app: app.into(),
        window_start_ms: minute * MIN,
        window_end_ms: (minute + 1) * MIN,
        generation: 0,
        counters: VideoCounters { impressions: 2 * plays, plays, engaged_plays: plays, ..VideoCounters::default() },
        viewers: viewers.iter().map(|&v| (v, 1)).collect(),
    }
}

pub(super) fn batch(partition: i32, next_offset: u64, windows: Vec<VideoWindow>) -> CommitBatch {
    CommitBatch {
        partition,
        next_offset,
        snapshot: Some(next_offset.to_le_bytes().to_vec()),
        windows,
        ..CommitBatch::default()
    }
}

fn rejected(id: u8, at: i64) -> RejectedRow {
    RejectedRow {
        event_id: vec![id, 0xee],
        received_at_ms: at,
        route: "/ping/dot.gif".into(),
        reason_code: "missing_item".into(),
        reason: "parameter `item` is required".into(),
        input: format!("ts={at}"),
        truncated: false,
    }
}

pub(super) fn query(item: &str, app: Option<&str>, range: TimeRange) -> ItemQuery {
    ItemQuery { item: item.into(), app: app.map(Into::into), range }
}

pub(super) async fn engagement(store: &SqliteStore, item: &str) -> ItemEngagement {
    store.item_engagement(&query(item, None, TimeRange::ALL)).await.unwrap()
}

#[tokio::test]
async fn commit_and_read_back_exact_numbers() {
    let (_dir, store) = open();
    let mut w = window("v1", "Acme/Player", 10, 4, &[11, 12, 13]);
    let c = &mut w.counters;
    (c.impressions, c.engaged_plays, c.completions, c.pauses) = (5, 3, 1, 7);
    (c.duplicates, c.ignored, c.abandons, c.active_views, c.orphans) = (2, 6, 1, 3, 4);
    (c.bot_impressions, c.bot_plays) = (9, 8);
    c.retention[0] = 3;
    c.retention[1] = 2;
    c.retention[99] = 1;
    c.exits[100] = 1;
    c.exits[42] = 1;
    c.seek_from[10] = 2;
    c.seek_to[90] = 2;
    // The partition reports windows ending by minute 11 final: this one is.
    let b = CommitBatch { watermark_ms: Some(20 * MIN), final_before_ms: Some(11 * MIN), ..batch(0, 17, vec![w]) };
    store.commit(b.into()).await.unwrap();

    let e = engagement(&store, "v1").await;
    assert_eq!((e.item.as_str(), e.app.as_deref(), e.from, e.to), ("v1", None, i64::MIN, i64::MAX));
    assert_eq!((e.impressions, e.plays, e.engaged_plays, e.unique_viewers), (5, 4, 3, 3));
    assert_eq!((e.completions, e.pauses, e.duplicates, e.ignored, e.abandons), (1, 7, 2, 6, 1));
    assert_eq!(e.orphan_events, 4);
    assert_eq!((e.bot_impressions, e.bot_plays), (9, 8));
    assert_eq!(e.play_rate, Some(0.8));
    assert_eq!(e.completion_rate, Some(1.0 / 3.0));
    assert_eq!(e.avg_percent_watched, Some(2.0));
    assert_eq!(e.retention.len(), RETENTION_SEGMENTS);
    assert_eq!((e.retention[0], e.retention[1], e.retention[99], e.retention.iter().sum::<u64>()), (3, 2, 1, 6));
    assert_eq!(e.exits.len(), PERCENT_POSITIONS);
    assert_eq!((e.exits[100], e.exits[42], e.exits.iter().sum::<u64>()), (1, 1, 2));
    assert_eq!((e.seek_from[10], e.seek_to[90]), (2, 2));
    assert_eq!(
        e.timeline,
        vec![TimelinePoint {
            window_start: 10 * MIN,
            window_end: 11 * MIN,
            is_final: true,
            impressions: 5,
            plays: 4,
            engaged_plays: 3,
            unique_viewers: 3,
            completions: 1,
            pauses: 7,
            active_views: 3,
            bot_impressions: 9,
            bot_plays: 8,
        }]
    );

    let json = serde_json::to_value(&e).unwrap();
    assert_eq!(json["app"], serde_json::Value::Null);
    assert_eq!(json["timeline"][0]["final"], true);
    assert_eq!(json["orphan_events"], 4);
    assert_eq!((json["bot_impressions"].as_u64(), json["timeline"][0]["bot_plays"].as_u64()), (Some(9), Some(8)));
}

#[tokio::test]
async fn unique_viewers_are_exact_across_windows_and_apps() {
    let (_dir, store) = open();
    let windows = vec![
        window("v1", "a", 0, 2, &[1, 2]),
        window("v1", "a", 1, 2, &[2, 3]),
        window("v1", "b", 1, 2, &[1, u64::MAX]),
        window("v1", "b", 2, 1, &[1 << 63]),
        window("v2", "a", 1, 1, &[1, 2, 3]),
    ];
    store.commit(batch(0, 1, windows).into()).await.unwrap();

    let e = engagement(&store, "v1").await;
    assert_eq!(e.plays, 7);
    assert_eq!(e.unique_viewers, 5, "1, 2, 3, MAX, 2^63");
    let per_window: Vec<u64> = e.timeline.iter().map(|p| p.unique_viewers).collect();
    assert_eq!(per_window, vec![2, 4, 1], "window 1 unites apps a and b: 2, 3, 1, MAX");

    let a = store.item_engagement(&query("v1", Some("a"), TimeRange::ALL)).await.unwrap();
    assert_eq!((a.plays, a.unique_viewers), (4, 3));
    let range = TimeRange { from_ms: MIN, to_ms: 3 * MIN };
    let later = store.item_engagement(&query("v1", None, range)).await.unwrap();
    assert_eq!((later.plays, later.unique_viewers), (5, 5));
    let b = store.item_engagement(&query("v1", Some("b"), range)).await.unwrap();
    assert_eq!((b.plays, b.unique_viewers), (3, 3));
}

#[tokio::test]
async fn replays_and_rewrites_never_double_count() {
    let (_dir, store) = open();
    let first = batch(0, 5, vec![window("v1", "a", 0, 3, &[1, 2]), window("v1", "a", 1, 1, &[2])]);
    store.commit(first.clone().into()).await.unwrap();
    let before = engagement(&store, "v1").await;
    store.commit(first.into()).await.unwrap();
    assert_eq!(engagement(&store, "v1").await, before, "same batch twice");
    assert_eq!((before.plays, before.impressions, before.unique_viewers), (4, 8, 2));

    // The window changes: its new full state replaces the old row; only changed weights ship.
    let grown = CommitBatch { final_before_ms: Some(MIN), ..batch(0, 9, vec![window("v1", "a", 0, 5, &[3])]) };
    store.commit(grown.clone().into()).await.unwrap();
    store.commit(grown.into()).await.unwrap();
    let after = engagement(&store, "v1").await;
    assert_eq!((after.plays, after.impressions, after.unique_viewers), (6, 12, 3));
    assert_eq!(after.timeline[0].plays, 5);
    assert!(after.timeline[0].is_final);
    assert!(!after.timeline[1].is_final, "ends after final_before");
    assert_eq!(after.timeline[0].unique_viewers, 3);

    // A rewrite without changed weights keeps the ones already stored.
    store.commit(batch(0, 10, vec![window("v1", "a", 0, 5, &[])]).into()).await.unwrap();
    assert_eq!(engagement(&store, "v1").await.unique_viewers, 3);
}

#[tokio::test]
async fn a_stale_writer_cannot_roll_rows_or_checkpoints_back() {
    let (_dir, store) = open();
    // The partition's new owner has written up to offset 50 ...
    store.commit(batch(0, 50, vec![window("v1", "a", 0, 7, &[1, 2, 3])]).into()).await.unwrap();
    let newest = engagement(&store, "v1").await;
    // ... when the consumer that lost the partition in a rebalance commits what it had at 20.
    store.commit(batch(0, 20, vec![window("v1", "a", 0, 2, &[1])]).into()).await.unwrap();
    assert_eq!(engagement(&store, "v1").await, newest, "an older full-state row must not replace a newer one");
    assert_eq!(store.checkpoint(0).await.unwrap().unwrap().next_offset, 50, "the checkpoint only moves forward");
    // The same version again (a replay after a crash) is a rewrite with identical content.
    store.commit(batch(0, 50, vec![window("v1", "a", 0, 7, &[1, 2, 3])]).into()).await.unwrap();
    assert_eq!(engagement(&store, "v1").await, newest);
}

#[tokio::test]
async fn a_batch_without_a_snapshot_writes_results_and_keeps_the_checkpoint() {
    let (_dir, store) = open();
    store.commit(batch(0, 10, vec![window("v1", "a", 0, 1, &[1])]).into()).await.unwrap();
    let results_only = CommitBatch { snapshot: None, ..batch(0, 30, vec![window("v1", "a", 0, 4, &[2])]) };
    store.commit(results_only.into()).await.unwrap();
    assert_eq!(engagement(&store, "v1").await.plays, 4, "results are written");
    assert_eq!(store.checkpoint(0).await.unwrap().unwrap().next_offset, 10, "the checkpoint stays");
}

#[tokio::test]
async fn checkpoints_round_trip_per_partition() {
    let (_dir, store) = open();
    assert_eq!(store.checkpoint(3).await.unwrap(), None);
    store.commit(batch(3, 100, vec![]).into()).await.unwrap();
    store.commit(batch(4, 7, vec![]).into()).await.unwrap();
    let expected = Checkpoint { next_offset: 100, snapshot: 100u64.to_le_bytes().to_vec() };
    assert_eq!(store.checkpoint(3).await.unwrap(), Some(expected));
    store.commit(batch(3, 250, vec![]).into()).await.unwrap();
    assert_eq!(store.checkpoint(3).await.unwrap().unwrap().next_offset, 250);
    assert_eq!(store.checkpoint(4).await.unwrap().unwrap().next_offset, 7);
    assert_eq!(store.checkpoint(5).await.unwrap(), None);
}

/// Everything a failed batch could have touched is as before it.
async fn assert_untouched(store: &SqliteStore) {
    let fresh = engagement(store, "fresh").await;
    assert_eq!((fresh.plays, fresh.unique_viewers, fresh.timeline.len()), (0, 0, 0));
    assert_eq!(engagement(store, "v1").await.plays, 1);
    assert_eq!(store.recent_rejected(10).await.unwrap(), vec![rejected(1, 5)]);
    assert_eq!(store.checkpoint(0).await.unwrap().unwrap().next_offset, 10);
}

#[tokio::test]
async fn a_failing_statement_rolls_back_the_whole_batch() {
    let (_dir, store) = open();
    let mut ok = batch(0, 10, vec![window("v1", "a", 0, 1, &[1])]);
    ok.rejected.push(rejected(1, 5));
    store.commit(ok.into()).await.unwrap();

    // The second window violates CHECK (window_end > window_start), after a valid window,
    // its viewers and an update of v1 were written in the same transaction.
    let mut broken = window("fresh", "a", 2, 1, &[7]);
    broken.window_end_ms = broken.window_start_ms;
    let mut bad = batch(0, 99, vec![window("fresh", "a", 1, 3, &[5, 6]), window("v1", "a", 0, 8, &[2]), broken]);
    bad.rejected.push(rejected(2, 6));
    let err = store.commit(bad.into()).await.unwrap_err();
    assert!(matches!(err, StoreError::Sqlite { op: "upsert a video window", .. }), "{err}");
    assert!(!err.is_transient());
    assert_untouched(&store).await;

    // The writer is usable afterwards.
    store.commit(batch(0, 11, vec![window("fresh", "a", 1, 3, &[5])]).into()).await.unwrap();
    assert_eq!(engagement(&store, "fresh").await.plays, 3);
}

#[tokio::test]
async fn a_failing_checkpoint_rolls_back_the_rows() {
    let (_dir, store) = open();
    let mut ok = batch(0, 10, vec![window("v1", "a", 0, 1, &[1])]);
    ok.rejected.push(rejected(1, 5));
    store.commit(ok.into()).await.unwrap();

    // The checkpoint is the last statement; an offset SQLite cannot hold fails it.
    let mut bad = batch(0, u64::MAX, vec![window("fresh", "a", 1, 3, &[5]), window("v1", "a", 0, 8, &[2])]);
    bad.rejected.push(rejected(2, 6));
    let err = store.commit(bad.into()).await.unwrap_err();
    assert!(matches!(err, StoreError::OutOfRange { what: "next_offset", .. }), "{err}");
    assert_untouched(&store).await;
}

#[tokio::test]
async fn misshapen_windows_are_refused_before_writing() {
    let (_dir, store) = open();
    let mut w = window("v1", "a", 0, 1, &[1]);
    w.counters.retention.pop();
    let err = store.commit(batch(0, 1, vec![w]).into()).await.unwrap_err();
    assert!(matches!(err, StoreError::InvalidBatch(_)), "{err}");
    assert!(err.to_string().contains("retention"), "{err}");
    assert_eq!(store.checkpoint(0).await.unwrap(), None);
}

#[tokio::test]
async fn reopening_keeps_data_and_migrations_are_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/deeper/engage.db");
    {
        let store = SqliteStore::open(&path).unwrap();
        store.commit(batch(2, 42, vec![window("v1", "a", 0, 2, &[1, 2])]).into()).await.unwrap();
        assert_eq!(store.migrate().await.unwrap(), schema::SCHEMA_VERSION);
    }
    let store = SqliteStore::open(&path).unwrap();
    let again = SqliteStore::open(&path).unwrap();
    assert_eq!(store.schema_version().await.unwrap(), schema::SCHEMA_VERSION);
    assert_eq!(store.migrate().await.unwrap(), schema::SCHEMA_VERSION);
    let e = engagement(&again, "v1").await;
    assert_eq!((e.plays, e.unique_viewers), (2, 2));
    assert_eq!(store.checkpoint(2).await.unwrap().unwrap().next_offset, 42);
    store.ping().await.unwrap();
}

#[tokio::test]
async fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("engage.db");
    drop(SqliteStore::open(&path).unwrap());
    Connection::open(&path).unwrap().pragma_update(None, "user_version", 99).unwrap();
    let err = SqliteStore::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::SchemaTooNew { found: 99, .. }), "{err}");
}

#[tokio::test]
async fn ranges_include_from_and_exclude_to() {
    let (_dir, store) = open();
    let windows = vec![
        window("v1", "a", -1, 1, &[1]),
        window("v1", "a", 0, 2, &[2]),
        window("v1", "a", 1, 4, &[3]),
        window("v1", "a", 2, 8, &[4]),
    ];
    store.commit(batch(0, 1, windows).into()).await.unwrap();
    let plays = |from_ms, to_ms| {
        let store = store.clone();
        async move {
            let e = store.item_engagement(&query("v1", None, TimeRange { from_ms, to_ms })).await.unwrap();
            (e.plays, e.unique_viewers, e.timeline.iter().map(|p| p.window_start / MIN).collect::<Vec<_>>())
        }
    };
    assert_eq!(plays(MIN, 2 * MIN).await, (4, 1, vec![1]));
    assert_eq!(plays(0, MIN).await, (2, 1, vec![0]));
    assert_eq!(plays(1, 3 * MIN).await, (12, 2, vec![1, 2]), "a window starting before `from` is out");
    assert_eq!(plays(-MIN, 2 * MIN + 1).await, (15, 4, vec![-1, 0, 1, 2]));
    assert_eq!(plays(MIN, MIN).await, (0, 0, vec![]));
    let top = store.top_items(&TopItemsQuery { range: TimeRange { from_ms: 0, to_ms: 2 * MIN }, limit: 5 }).await;
    assert_eq!(top.unwrap()[0].plays, 6);
}

#[tokio::test]
async fn the_app_filter_selects_one_application() {
    let (_dir, store) = open();
    let other = window("v1", "b", 0, 5, &[1, 9]);
    store.commit(batch(0, 1, vec![window("v1", "a", 0, 2, &[1, 2]), other]).into()).await.unwrap();
    let a = store.item_engagement(&query("v1", Some("a"), TimeRange::ALL)).await.unwrap();
    assert_eq!((a.app.as_deref(), a.plays, a.impressions, a.unique_viewers), (Some("a"), 2, 4, 2));
    let b = store.item_engagement(&query("v1", Some("b"), TimeRange::ALL)).await.unwrap();
    assert_eq!((b.plays, b.unique_viewers), (5, 2));
    let all = engagement(&store, "v1").await;
    assert_eq!((all.plays, all.unique_viewers, all.timeline.len()), (7, 3, 1));
    let none = store.item_engagement(&query("v1", Some("c"), TimeRange::ALL)).await.unwrap();
    assert_eq!((none.plays, none.timeline.len()), (0, 0));
}

#[tokio::test]
async fn top_items_are_ordered_by_plays_then_item_and_limited() {
    let (_dir, store) = open();
    let windows = vec![
        window("b", "x", 0, 3, &[1]),
        window("a", "x", 0, 3, &[1, 2]),
        window("c", "x", 0, 1, &[1]),
        window("c", "y", 1, 4, &[1, 3]),
        window("d", "x", 0, 0, &[]),
    ];
    store.commit(batch(0, 1, windows).into()).await.unwrap();
    let top = |limit| {
        let store = store.clone();
        async move { store.top_items(&TopItemsQuery { range: TimeRange::ALL, limit }).await.unwrap() }
    };
    let all = top(10).await;
    let order: Vec<(&str, u64, u64)> = all.iter().map(|s| (s.item.as_str(), s.plays, s.unique_viewers)).collect();
    assert_eq!(order, vec![("c", 5, 2), ("a", 3, 2), ("b", 3, 1), ("d", 0, 0)]);
    assert_eq!(all[0].play_rate, Some(0.5));
    assert_eq!(all[0].completion_rate, Some(0.0));
    assert_eq!((all[3].play_rate, all[3].completion_rate), (None, None));
    let two: Vec<String> = top(2).await.into_iter().map(|s| s.item).collect();
    assert_eq!(two, vec!["c", "a"]);
}

#[tokio::test]
async fn item_apps_are_ordered_by_plays() {
    let (_dir, store) = open();
    let windows = vec![
        window("v1", "web/Chrome", 0, 2, &[1, 2]),
        window("v1", "Acme/Player", 0, 5, &[1]),
        window("v1", "Acme/Player", 1, 1, &[1, 3]),
        window("v1", "Beta/Tv", 0, 2, &[4]),
        window("v2", "Other/App", 0, 9, &[4]),
    ];
    store.commit(batch(0, 1, windows).into()).await.unwrap();
    let apps = store.item_apps("v1", TimeRange::ALL).await.unwrap();
    let rows: Vec<(&str, u64, u64)> = apps.iter().map(|s| (s.app.as_str(), s.plays, s.unique_viewers)).collect();
    assert_eq!(rows, vec![("Acme/Player", 6, 2), ("Beta/Tv", 2, 1), ("web/Chrome", 2, 2)]);
    let early = store.item_apps("v1", TimeRange { from_ms: MIN, to_ms: i64::MAX }).await.unwrap();
    assert_eq!(early.len(), 1);
    assert_eq!((early[0].plays, early[0].unique_viewers), (1, 2));
    assert!(store.item_apps("nope", TimeRange::ALL).await.unwrap().is_empty());
}

#[tokio::test]
async fn rates_are_null_on_zero_denominators() {
    let (_dir, store) = open();
    let unknown = engagement(&store, "never-seen").await;
    assert_eq!((unknown.play_rate, unknown.completion_rate, unknown.avg_percent_watched), (None, None, None));
    assert_eq!(unknown.retention, vec![0; RETENTION_SEGMENTS]);
    assert_eq!(unknown.exits, vec![0; PERCENT_POSITIONS]);
    assert_eq!((unknown.seek_from.len(), unknown.seek_to.len()), (PERCENT_POSITIONS, PERCENT_POSITIONS));
    assert!(unknown.timeline.is_empty());

    // Level-1 plays without impressions: play_rate null, and no engaged plays.
    let mut w = window("v1", "a", 0, 2, &[1]);
    (w.counters.impressions, w.counters.engaged_plays) = (0, 0);
    store.commit(batch(0, 1, vec![w]).into()).await.unwrap();
    let e = engagement(&store, "v1").await;
    assert_eq!((e.plays, e.play_rate, e.completion_rate, e.avg_percent_watched), (2, None, None, None));
    let json = serde_json::to_value(&e).unwrap();
    assert!(json["play_rate"].is_null() && json["avg_percent_watched"].is_null());
}

#[tokio::test]
async fn rejected_inputs_are_kept_once_newest_first() {
    let (_dir, store) = open();
    let mut b = batch(0, 1, vec![]);
    b.rejected = vec![rejected(1, 100), rejected(2, 300), rejected(3, 200)];
    store.commit(b.into()).await.unwrap();
    let mut replay = batch(0, 2, vec![]);
    let mut changed = rejected(2, 300);
    changed.reason = "a replay must not overwrite".into();
    replay.rejected = vec![changed, rejected(4, 50)];
    store.commit(replay.into()).await.unwrap();

    let rows = store.recent_rejected(10).await.unwrap();
    let ids: Vec<u8> = rows.iter().map(|r| r.event_id[0]).collect();
    assert_eq!(ids, vec![2, 3, 1, 4]);
    assert_eq!(rows[0], rejected(2, 300));
    assert_eq!(store.recent_rejected(2).await.unwrap().len(), 2);
}

#[tokio::test]
async fn a_corrupt_row_is_an_error_not_a_panic() {
    let (dir, store) = open();
    store.commit(batch(0, 1, vec![window("v1", "a", 0, 1, &[1])]).into()).await.unwrap();
    let raw = Connection::open(dir.path().join("engage.db")).unwrap();
    raw.execute("UPDATE video_window_rows SET exits = x'0105'", []).unwrap();
    let err = store.item_engagement(&query("v1", None, TimeRange::ALL)).await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { what: "exits", .. }), "{err}");
    raw.execute("UPDATE video_window_rows SET exits = 'text'", []).unwrap();
    let err = store.item_engagement(&query("v1", None, TimeRange::ALL)).await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { what: "exits", .. }), "{err}");
}

#[tokio::test]
async fn reads_do_not_wait_for_an_open_write() {
    let (_dir, store) = open();
    store.commit(batch(0, 1, vec![window("v1", "a", 0, 1, &[1])]).into()).await.unwrap();
    // Leave the writer in the middle of an uncommitted transaction holding the write lock.
    let writer = |sql: &str| store.writer.lock().unwrap().execute_batch(sql).unwrap();
    writer("BEGIN IMMEDIATE; UPDATE video_window_rows SET plays = 50;");
    let read = tokio::time::timeout(std::time::Duration::from_secs(2), engagement(&store, "v1")).await;
    assert_eq!(read.expect("the read waited for the writer").plays, 1, "uncommitted rows are invisible");
    writer("ROLLBACK");
}
