//! A deterministic workload of consumer batches: what the window engine would hand a store
//! over a few minutes of a busy pipeline (full-state rewrites of the same windows with
//! rising versions, viewers arriving across windows, finals, rejected inputs with equal
//! receive times, webinar windows emptied by out-of-order events, replays), and the set of
//! read questions that covers every `Store` read method, ranges, limits and misses.

#![allow(dead_code)]

use engage_model::rollup::{PERCENT_POSITIONS, RETENTION_SEGMENTS, VideoCounters, VideoWindow};
use engage_model::webinar::{PageViewWindow, SessionSummary, SessionWindow, SessionWindowCounts};
use engage_sink::{
    AnalyticsRow, CommitBatch, ItemQuery, RejectedRow, Store, StoreError, TimeRange, TopItemsQuery, UserTraits,
};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The workload's start: the hour before the current one (a window boundary). Recent, so
/// rows with a receive time stay inside the raw-data TTL of the ClickHouse schema.
pub fn t0() -> i64 {
    static T0: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    *T0.get_or_init(|| {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis() as i64;
        now - now.rem_euclid(3_600_000) - 3_600_000
    })
}
pub const MINUTE: i64 = 60_000;
pub const ITEMS: &[&str] = &["s1iTEmiD251a", "item-b", "item-c", "item-d", "élément-e"];
pub const APPS: &[&str] = &["CompanyName/AppName 2.3", "Chrome", "Firefox"];
pub const SESSIONS: &[&str] = &["webinar-42", "webinar-7", "webinar-x"];

/// `batches` consumer batches from `seed`, offsets rising by 10 from 10.
pub fn batches(seed: u64, batches: usize) -> Vec<CommitBatch> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut windows: BTreeMap<(usize, usize, i64), (VideoCounters, BTreeSet<u64>)> = BTreeMap::new();
    let mut sessions: BTreeMap<(usize, i64), SessionWindowCounts> = BTreeMap::new();
    let mut summaries: BTreeMap<usize, SessionSummary> = BTreeMap::new();
    let mut pages: BTreeMap<(usize, i64), u64> = BTreeMap::new();
    let mut out = Vec::with_capacity(batches);
    for b in 0..batches {
        let next_offset = 10 * (b as u64 + 1);
        // Time advances with the batches; windows older than 5 minutes are final.
        let now_window = (b as i64 / 2) * MINUTE;
        let final_before = now_window - 5 * MINUTE;
        let mut batch = CommitBatch {
            partition: 0,
            next_offset,
            snapshot: Some(vec![b as u8; 1 + b % 7]),
            ..CommitBatch::default()
        };
        for _ in 0..rng.usize(3..9) {
            let key = (rng.usize(..ITEMS.len()), rng.usize(..APPS.len()), now_window - rng.i64(0..4) * MINUTE);
            let (c, viewers) = windows.entry(key).or_insert_with(|| (VideoCounters::default(), BTreeSet::new()));
            c.impressions += rng.u64(0..4);
            let plays = rng.u64(0..3);
            c.plays += plays;
            c.engaged_plays += plays.min(rng.u64(0..3));
            c.completions += rng.u64(0..2);
            c.pauses += rng.u64(0..3);
            c.duplicates += rng.u64(0..2);
            c.ignored += rng.u64(0..2);
            c.abandons += rng.u64(0..2);
            c.active_views = c.active_views.max(rng.u64(0..6));
            for _ in 0..rng.usize(0..6) {
                c.retention[rng.usize(..RETENTION_SEGMENTS)] += 1;
                c.exits[rng.usize(..PERCENT_POSITIONS)] += 1;
                c.seek_from[rng.usize(..PERCENT_POSITIONS)] += 1;
                c.seek_to[rng.usize(..PERCENT_POSITIONS)] += 1;
            }
            // Viewers come from a small pool, so windows and apps share them (exact uniques
            // over a range are not sums); some keys use the top bit (u64 beyond i64).
            let new_viewers: Vec<u64> = (0..plays)
                .map(|_| rng.u64(0..40) | if rng.bool() { 1 << 63 } else { 0 })
                .filter(|v| viewers.insert(*v))
                .collect();
            let (item, app, start) = key;
            batch.windows.push(VideoWindow {
                item: ITEMS[item].into(),
                app: APPS[app].into(),
                window_start_ms: t0() + start,
                window_end_ms: t0() + start + MINUTE,
                is_final: start < final_before,
                counters: c.clone(),
                new_viewers,
            });
        }
        // Windows turning final are rewritten once more, unchanged but final.
        for (&(item, app, start), (c, _)) in windows.iter().filter(|(k, _)| k.2 == final_before - MINUTE) {
            batch.windows.push(VideoWindow {
                item: ITEMS[item].into(),
                app: APPS[app].into(),
                window_start_ms: t0() + start,
                window_end_ms: t0() + start + MINUTE,
                is_final: true,
                counters: c.clone(),
                new_viewers: Vec::new(),
            });
        }
        dedup_windows(&mut batch.windows);
        for i in 0..rng.usize(0..4) {
            // Equal receive times: the order falls back to the event id, descending.
            let received_at_ms = t0() + now_window + rng.i64(0..3) * 1000;
            batch.rejected.push(RejectedRow {
                event_id: vec![b as u8, i as u8, rng.u8(..)],
                received_at_ms,
                route: "/ping/dot.gif".into(),
                reason_code: if rng.bool() { "invalid_progress" } else { "late_event" }.into(),
                reason: format!("reason {b}.{i}: ünïcödé ok"),
                input: format!("item=X&ts={received_at_ms}&progress=35&event=update"),
                truncated: rng.bool(),
            });
        }
        webinar_step(&mut rng, &mut batch, b, now_window, final_before, &mut sessions, &mut summaries);
        for _ in 0..rng.usize(0..3) {
            let key = (rng.usize(..2), now_window);
            let views = pages.entry(key).or_insert(0);
            *views += rng.u64(1..4);
            batch.page_views.push(PageViewWindow {
                kind: if key.0 == 0 { "page" } else { "screen" }.into(),
                name: format!("Home {}", key.0),
                window_start_ms: t0() + now_window,
                window_end_ms: t0() + now_window + MINUTE,
                is_final: false,
                views: *views,
            });
        }
        // One row per key, the latest (as the engine flushes them).
        let mut seen = BTreeSet::new();
        batch.page_views.reverse();
        batch.page_views.retain(|p| seen.insert((p.kind.clone(), p.name.clone(), p.window_start_ms)));
        batch.page_views.reverse();
        for i in 0..rng.usize(0..3) {
            let at = t0() + now_window + rng.i64(0..2) * 1000;
            let event_id = vec![0xee, b as u8, i as u8];
            batch.user_traits.push(UserTraits {
                user_key: format!("user-{}", rng.u8(0..3)),
                user_id: "u".into(),
                anonymous_id: String::new(),
                traits_json: format!("{{\"plan\":\"p{b}.{i}\"}}"),
                updated_at_ms: at,
                event_id: event_id.clone(),
            });
            batch.analytics_events.push(AnalyticsRow {
                event_id,
                received_at_ms: at,
                event_time_ms: at,
                call: "identify".into(),
                user_id: "u".into(),
                anonymous_id: String::new(),
                name: String::new(),
                properties_json: "{}".into(),
                traits_json: "{}".into(),
                context_json: "{}".into(),
                message_id: format!("m{b}.{i}"),
                app: APPS[0].into(),
                session_id: String::new(),
            });
        }
        out.push(batch);
    }
    out
}

/// A batch holds one row per key (the engine flushes each changed window once): keep the last.
fn dedup_windows(windows: &mut Vec<VideoWindow>) {
    let mut last: HashMap<(String, String, i64), usize> = HashMap::new();
    for (i, w) in windows.iter().enumerate() {
        last.insert((w.item.clone(), w.app.clone(), w.window_start_ms), i);
    }
    let mut merged_viewers: HashMap<(String, String, i64), Vec<u64>> = HashMap::new();
    for w in windows.iter() {
        merged_viewers.entry((w.item.clone(), w.app.clone(), w.window_start_ms)).or_default().extend(&w.new_viewers);
    }
    let mut i = 0;
    windows.retain(|w| {
        let keep = last[&(w.item.clone(), w.app.clone(), w.window_start_ms)] == i;
        i += 1;
        keep
    });
    for w in windows.iter_mut() {
        w.new_viewers = merged_viewers.remove(&(w.item.clone(), w.app.clone(), w.window_start_ms)).unwrap_or_default();
    }
}

fn webinar_step(
    rng: &mut fastrand::Rng,
    batch: &mut CommitBatch,
    b: usize,
    now_window: i64,
    final_before: i64,
    sessions: &mut BTreeMap<(usize, i64), SessionWindowCounts>,
    summaries: &mut BTreeMap<usize, SessionSummary>,
) {
    for (s, session_id) in SESSIONS.iter().enumerate() {
        if !rng.bool() {
            continue;
        }
        let start = now_window - rng.i64(0..2) * MINUTE;
        let counts = sessions.entry((s, start)).or_default();
        // Now and then an out-of-order event empties a window: its row goes to all zeros.
        if b % 5 == 4 && s == 2 {
            *counts = SessionWindowCounts::default();
        } else {
            counts.joins += rng.u64(0..3);
            counts.leaves += rng.u64(0..2);
            counts.attendees = counts.attendees.max(rng.u64(1..6));
            counts.peak_concurrent = counts.peak_concurrent.max(counts.attendees);
            if rng.bool() {
                *counts.engagements.entry(["poll", "chat", "raise_hand"][rng.usize(..3)].into()).or_default() += 1;
            }
            if rng.bool() {
                *counts.stream_ms.entry("screensharing".into()).or_default() += rng.u64(1..60_000);
            }
        }
        batch.session_windows.push(SessionWindow {
            session_id: (*session_id).into(),
            window_start_ms: t0() + start,
            window_end_ms: t0() + start + MINUTE,
            is_final: start < final_before,
            counts: counts.clone(),
        });
        let summary = summaries.entry(s).or_insert_with(|| SessionSummary {
            session_id: (*session_id).into(),
            started_at_ms: (s != 1).then_some(t0() + start),
            ..SessionSummary::default()
        });
        summary.unique_attendees += rng.u64(0..3);
        summary.engaged_attendees = summary.unique_attendees / 2;
        summary.attendance_ms += rng.u64(0..100_000);
        summary.peak_concurrent = summary.peak_concurrent.max(counts.peak_concurrent);
        summary.engagements = counts.engagements.clone();
        summary.stream_ms = counts.stream_ms.clone();
        if b > 12 && s == 0 {
            summary.ended_at_ms = Some(t0() + now_window + 30_000);
        }
        batch.session_summaries.push(summary.clone());
    }
}

/// The ranges every range question is asked with: all, bounded, open on either side, empty.
pub fn ranges() -> Vec<TimeRange> {
    vec![
        TimeRange::ALL,
        TimeRange { from_ms: t0() + 2 * MINUTE, to_ms: t0() + 6 * MINUTE },
        TimeRange { from_ms: t0() + 5 * MINUTE, to_ms: i64::MAX },
        TimeRange { from_ms: i64::MIN, to_ms: t0() + 3 * MINUTE },
        TimeRange { from_ms: t0() + 3 * MINUTE, to_ms: t0() + 3 * MINUTE },
        TimeRange { from_ms: t0() - 10 * MINUTE, to_ms: t0() },
    ]
}

/// Every read answer of `store` for the workload's questions, as JSON keyed by question.
pub async fn answers(store: &dyn Store) -> Result<BTreeMap<String, Value>, StoreError> {
    let mut out = BTreeMap::new();
    let mut put = |key: String, v: Value| {
        out.insert(key, v);
    };
    for (r, range) in ranges().into_iter().enumerate() {
        for item in ITEMS.iter().copied().chain(["missing-item"]) {
            // Every app filter on two ranges, the all-apps sum and one app on the others.
            let apps: Vec<Option<&str>> = if r < 2 {
                std::iter::once(None).chain(APPS.iter().map(|a| Some(*a))).chain([Some("NoSuchApp")]).collect()
            } else {
                vec![None, Some(APPS[0])]
            };
            for app in apps {
                let q = ItemQuery { item: item.into(), app: app.map(Into::into), range };
                let e = store.item_engagement(&q).await?;
                put(format!("item_engagement/{item}/{app:?}/range{r}"), json!(e));
            }
            put(format!("item_apps/{item}/range{r}"), json!(store.item_apps(item, range).await?));
        }
        for limit in [0, 1, 3, 100] {
            put(
                format!("top_items/range{r}/limit{limit}"),
                json!(store.top_items(&TopItemsQuery { range, limit }).await?),
            );
            put(format!("top_sessions/range{r}/limit{limit}"), json!(store.top_sessions(range, limit).await?));
        }
    }
    for limit in [0, 1, 5, 1000] {
        put(format!("recent_rejected/limit{limit}"), json!(store.recent_rejected(limit).await?));
    }
    for id in SESSIONS.iter().copied().chain(["missing-session"]) {
        put(format!("session_engagement/{id}"), json!(store.session_engagement(id).await?));
    }
    for partition in [0, 1] {
        let cp =
            store.checkpoint(partition).await?.map(|c| json!({"next_offset": c.next_offset, "snapshot": c.snapshot}));
        put(format!("checkpoint/{partition}"), json!(cp));
    }
    Ok(out)
}

/// The first difference between two JSON values, with its path.
pub fn first_difference(a: &Value, b: &Value, path: &str) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            keys.into_iter().find_map(|k| match (x.get(k), y.get(k)) {
                (Some(u), Some(v)) => first_difference(u, v, &format!("{path}.{k}")),
                (u, v) => Some(format!("{path}.{k}: {u:?} vs {v:?}")),
            })
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            x.iter().zip(y).enumerate().find_map(|(i, (u, v))| first_difference(u, v, &format!("{path}[{i}]")))
        }
        _ if a == b => None,
        _ => Some(format!("{path}: {a} vs {b}")),
    }
}

/// Panics with the first difference (and how many answers differ) unless equal.
pub fn assert_same_answers(expected: &BTreeMap<String, Value>, actual: &BTreeMap<String, Value>, what: &str) {
    assert_eq!(expected.keys().collect::<Vec<_>>(), actual.keys().collect::<Vec<_>>(), "{what}: questions differ");
    let differing: Vec<String> = expected.iter().filter_map(|(k, v)| first_difference(v, &actual[k], k)).collect();
    assert!(
        differing.is_empty(),
        "{what}: {} of {} answers differ; first: {}",
        differing.len(),
        expected.len(),
        differing[0]
    );
}
