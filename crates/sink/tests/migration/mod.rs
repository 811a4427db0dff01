//! A database written before generations (SQLite schema 3, ClickHouse schema 2), built
//! with the old migrations' SQL and filled with rows the way the old writers wrote them,
//! and what it must still answer once migrated (law (f)). Used by `tests/sqlite.rs` and
//! `tests/clickhouse.rs`.
//!
//! Three checks: the old answers, computed by hand from the rows with the old read rules
//! (sums of rows, exact distinct viewers), come back; the migrated store answers exactly
//! like a new store given the same windows as generation 0 with weight-1 viewers; and new
//! generations add to the old windows.

#![allow(dead_code)]

use engage_model::rollup::{PERCENT_POSITIONS, RETENTION_SEGMENTS, VideoCounters, VideoWindow};
use engage_sink::{CommitBatch, ItemQuery, Store, TimeRange, TopItemsQuery};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

/// 2024-05-01T12:00:00Z: old rows are old.
pub const T0: i64 = 1_714_564_800_000;
pub const MINUTE: i64 = 60_000;
/// A viewer key above i64::MAX (stored bit-cast in SQLite).
pub const HIGH_VIEWER: u64 = u64::MAX - 6;

/// One row of the old `video_windows`.
#[derive(Clone, Debug)]
pub struct OldWindow {
    pub item: &'static str,
    pub app: &'static str,
    pub minute: i64,
    pub is_final: bool,
    pub counters: [u64; 9],
    pub retention: Vec<u64>,
    pub exits: Vec<u64>,
    pub seek_from: Vec<u64>,
    pub seek_to: Vec<u64>,
    pub version: u64,
}

impl OldWindow {
    pub fn start(&self) -> i64 {
        T0 + self.minute * MINUTE
    }
}

/// The counter columns of the old table, in the order of [`OldWindow::counters`].
pub const OLD_COUNTERS: [&str; 9] = [
    "impressions",
    "plays",
    "engaged_plays",
    "completions",
    "pauses",
    "duplicates",
    "ignored",
    "abandons",
    "active_views",
];

fn slots(len: usize, set: &[(usize, u64)]) -> Vec<u64> {
    let mut v = vec![0; len];
    for &(i, n) in set {
        v[i] = n;
    }
    v
}

/// The old windows: two items, two apps, a final and open windows, one rewritten (only
/// its newest version is in the table, as the old upsert left it).
pub fn old_windows() -> Vec<OldWindow> {
    let w = |item, app, minute, is_final, counters: [u64; 9], r: &[(usize, u64)], version| OldWindow {
        item,
        app,
        minute,
        is_final,
        counters,
        retention: slots(RETENTION_SEGMENTS, r),
        exits: slots(PERCENT_POSITIONS, &[(100, counters[3]), (40, 1)]),
        seek_from: slots(PERCENT_POSITIONS, &[(10, 1)]),
        seek_to: slots(PERCENT_POSITIONS, &[(90, counters[4])]),
        version,
    };
    vec![
        w("old-1", "Acme/Player 2.3", 0, true, [4, 3, 2, 1, 2, 1, 0, 1, 2], &[(0, 2), (1, 1)], 10),
        w("old-1", "web/Chrome", 0, true, [2, 2, 2, 0, 0, 0, 3, 0, 1], &[(0, 2), (99, 1)], 12),
        w("old-1", "Acme/Player 2.3", 1, false, [1, 1, 0, 0, 1, 0, 0, 0, 1], &[], 20),
        w("old-2", "Acme/Player 2.3", 0, true, [6, 5, 5, 4, 0, 2, 0, 0, 3], &[(0, 5), (50, 4)], 11),
    ]
}

/// The old `video_viewers` rows: (item, app, minute, viewer).
pub fn old_viewers() -> Vec<(&'static str, &'static str, i64, u64)> {
    vec![
        ("old-1", "Acme/Player 2.3", 0, 1),
        ("old-1", "Acme/Player 2.3", 0, 2),
        ("old-1", "Acme/Player 2.3", 0, 3),
        ("old-1", "web/Chrome", 0, 3),
        ("old-1", "web/Chrome", 0, 4),
        ("old-1", "Acme/Player 2.3", 1, 1),
        ("old-1", "Acme/Player 2.3", 1, 5),
        ("old-1", "Acme/Player 2.3", 1, HIGH_VIEWER),
        ("old-2", "Acme/Player 2.3", 0, 1),
    ]
}

/// The old `page_views` rows: (kind, name, minute, views, version).
pub fn old_page_views() -> Vec<(&'static str, &'static str, i64, u64, u64)> {
    vec![("page", "Home", 0, 7, 10), ("screen", "Settings", 1, 2, 20)]
}

/// A count array as the old SQLite codec wrote it: format 1, unsigned LEB128 varints.
pub fn legacy_counts(values: &[u64]) -> Vec<u8> {
    let mut out = vec![1];
    let mut put = |mut v: u64| {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    };
    put(values.len() as u64);
    for &v in values {
        put(v);
    }
    out
}

/// The same windows as the new pipeline writes them: generation 0, viewers of weight 1.
pub fn as_new_batch() -> Arc<CommitBatch> {
    let windows = old_windows()
        .into_iter()
        .map(|w| {
            let c = w.counters.map(|n| n as i64);
            let signed = |v: &[u64]| v.iter().map(|&n| n as i64).collect::<Vec<i64>>();
            VideoWindow {
                item: w.item.into(),
                app: w.app.into(),
                window_start_ms: w.start(),
                window_end_ms: w.start() + MINUTE,
                generation: 0,
                counters: VideoCounters {
                    impressions: c[0],
                    plays: c[1],
                    engaged_plays: c[2],
                    completions: c[3],
                    pauses: c[4],
                    duplicates: c[5],
                    ignored: c[6],
                    orphans: 0,
                    abandons: c[7],
                    active_views: c[8],
                    retention: signed(&w.retention),
                    exits: signed(&w.exits),
                    seek_from: signed(&w.seek_from),
                    seek_to: signed(&w.seek_to),
                    bot_impressions: 0,
                    bot_plays: 0,
                },
                viewers: old_viewers()
                    .into_iter()
                    .filter(|v| (v.0, v.1, v.2) == (w.item, w.app, w.minute))
                    .map(|v| (v.3, 1))
                    .collect(),
            }
        })
        .collect();
    Arc::new(CommitBatch { partition: 0, next_offset: 1, windows, ..CommitBatch::default() })
}

fn ranges() -> Vec<TimeRange> {
    vec![
        TimeRange::ALL,
        TimeRange { from_ms: T0, to_ms: T0 + MINUTE },
        TimeRange { from_ms: T0 + MINUTE, to_ms: i64::MAX },
        TimeRange { from_ms: T0 - MINUTE, to_ms: T0 },
    ]
}

/// Every read answer about the video windows, keyed by question.
pub async fn answers(store: &dyn Store) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for (r, range) in ranges().into_iter().enumerate() {
        for item in ["old-1", "old-2", "missing"] {
            for app in [None, Some("Acme/Player 2.3"), Some("web/Chrome")] {
                let q = ItemQuery { item: item.into(), app: app.map(Into::into), range };
                out.insert(format!("engagement/{item}/{app:?}/{r}"), json!(store.item_engagement(&q).await.unwrap()));
            }
            out.insert(format!("apps/{item}/{r}"), json!(store.item_apps(item, range).await.unwrap()));
        }
        let top = store.top_items(&TopItemsQuery { range, limit: 10 }).await.unwrap();
        out.insert(format!("top/{r}"), json!(top));
    }
    out
}

/// What the old store answered for these rows (sums of rows; distinct viewers exact over
/// windows and apps), checked on the migrated store. `final` is not compared: it is
/// computed now, and no partition of the new pipeline has reported a watermark yet.
pub async fn assert_old_answers(store: &dyn Store) {
    let q = |item: &str, app: Option<&str>, range| ItemQuery { item: item.into(), app: app.map(Into::into), range };
    let e = store.item_engagement(&q("old-1", None, TimeRange::ALL)).await.unwrap();
    assert_eq!((e.impressions, e.plays, e.engaged_plays, e.completions, e.pauses), (7, 6, 4, 1, 3));
    assert_eq!((e.duplicates, e.ignored, e.abandons, e.orphan_events), (1, 3, 1, 0));
    assert_eq!(e.unique_viewers, 6, "1, 2, 3, 4, 5 and the high key");
    assert_eq!((e.retention[0], e.retention[1], e.retention[99]), (4, 1, 1));
    assert_eq!((e.exits[100], e.exits[40], e.seek_from[10], e.seek_to[90]), (1, 3, 3, 3));
    let points: Vec<(i64, u64, u64, u64, bool)> = e
        .timeline
        .iter()
        .map(|p| ((p.window_start - T0) / MINUTE, p.plays, p.unique_viewers, p.active_views, p.is_final))
        .collect();
    assert_eq!(points, vec![(0, 5, 4, 3, false), (1, 1, 3, 1, false)]);
    let acme = store.item_engagement(&q("old-1", Some("Acme/Player 2.3"), TimeRange::ALL)).await.unwrap();
    assert_eq!((acme.plays, acme.unique_viewers), (4, 5));
    let later = store.item_engagement(&q("old-1", None, TimeRange { from_ms: T0 + MINUTE, to_ms: i64::MAX })).await;
    assert_eq!(later.map(|e| (e.plays, e.unique_viewers)).unwrap(), (1, 3));
    let top = store.top_items(&TopItemsQuery { range: TimeRange::ALL, limit: 10 }).await.unwrap();
    let top: Vec<(&str, u64, u64)> = top.iter().map(|s| (s.item.as_str(), s.plays, s.unique_viewers)).collect();
    assert_eq!(top, vec![("old-1", 6, 6), ("old-2", 5, 1)]);
    let apps = store.item_apps("old-1", TimeRange::ALL).await.unwrap();
    let apps: Vec<(&str, u64, u64)> = apps.iter().map(|s| (s.app.as_str(), s.plays, s.unique_viewers)).collect();
    assert_eq!(apps, vec![("Acme/Player 2.3", 4, 5), ("web/Chrome", 2, 2)]);
}

/// After migrating: a late generation of partition 0 adds to an old window, and the
/// partition's `final_before` makes old windows final (partition -1 never blocks).
pub async fn assert_new_generations_add_to_old_windows(store: &dyn Store) {
    let mut late = as_new_batch().windows[0].clone();
    late.generation = 1;
    late.counters = VideoCounters { plays: 1, impressions: 1, engaged_plays: 1, ..VideoCounters::default() };
    late.viewers = vec![(6, 1), (1, -1)];
    let batch = CommitBatch {
        partition: 0,
        next_offset: 1,
        windows: vec![late],
        watermark_ms: Some(T0 + 10 * MINUTE),
        final_before_ms: Some(T0 + MINUTE),
        ..CommitBatch::default()
    };
    store.commit(Arc::new(batch)).await.unwrap();
    let q = ItemQuery { item: "old-1".into(), app: None, range: TimeRange::ALL };
    let e = store.item_engagement(&q).await.unwrap();
    assert_eq!((e.plays, e.impressions), (7, 8));
    // Viewer 1's old +1 in Acme's minute 0 is retracted; viewer 1 still plays in minute 1.
    let points: Vec<(u64, u64, bool)> = e.timeline.iter().map(|p| (p.plays, p.unique_viewers, p.is_final)).collect();
    assert_eq!(points, vec![(6, 4, true), (1, 3, false)], "minute 0: 2, 3, 4, 6");
    assert_eq!(e.unique_viewers, 7);
}
