//! A deterministic workload of consumer batches: what the window engine would hand a store
//! over a few minutes of a busy pipeline with late data, from two partitions: full-state
//! rewrites of window generations with rising versions, late generations of windows the
//! engine already let go (some retracting counts and viewers), viewers arriving across
//! windows, apps and partitions, watermarks and `final_before` per partition, archived
//! states, rejected inputs with equal receive times, webinar windows emptied by
//! out-of-order events, page view generations, replays; and the set of read questions that
//! covers every `Store` read method, ranges, limits and misses.

#![allow(dead_code)]

use engage_model::rollup::{ArchivedState, PERCENT_POSITIONS, RETENTION_SEGMENTS, VideoCounters, VideoWindow};
use engage_model::webinar::{PageViewWindow, SessionSummary, SessionWindow, SessionWindowCounts};
use engage_sink::{
    AnalyticsRow, CommitBatch, ItemQuery, RejectedRow, Store, StoreError, TimeRange, TopItemsQuery, UserTraits,
};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

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
/// The sources (tenants) rows belong to.
pub const SOURCES: &[&str] = &["acme", "globex"];
/// The consumer partitions writing the workload.
pub const PARTITIONS: &[i32] = &[0, 1];
/// How long the engine holds a window after it ends, in windows; a later touch opens a new
/// generation of it.
const HOLD: i64 = 2;

/// (item, app, window start relative to t0).
type WindowKey = (usize, usize, i64);

/// One generation of one window in one partition: its full state and viewer weights.
#[derive(Default)]
struct Generation {
    counters: VideoCounters,
    weights: BTreeMap<u64, i64>,
}

/// What the engines of all partitions have written so far.
#[derive(Default)]
struct VideoState {
    /// Every generation ever opened: (partition, window, generation).
    generations: BTreeMap<(i32, WindowKey, u64), Generation>,
    /// The generation each partition holds in memory per window.
    open: BTreeMap<(i32, WindowKey), u64>,
    /// Per window, the sum over all rows (to keep retractions honest: sums never go below 0).
    totals: BTreeMap<WindowKey, VideoCounters>,
    /// Per window, each viewer's summed weight.
    viewers: BTreeMap<WindowKey, BTreeMap<u64, i64>>,
}

impl VideoState {
    /// One batch of partition `p` at `offset`, when the newest window is `now_window`.
    fn step(&mut self, rng: &mut fastrand::Rng, p: i32, offset: u64, now_window: i64) -> Vec<VideoWindow> {
        // Windows older than the hold leave memory.
        self.open.retain(|(partition, key), _| *partition != p || key.2 >= now_window - HOLD * MINUTE);
        let mut touched: BTreeMap<(WindowKey, u64), BTreeSet<u64>> = BTreeMap::new();
        for _ in 0..rng.usize(2..7) {
            // Mostly recent windows; now and then one the engine let go (late data), most
            // often one already written, sometimes to retract some of what it counted.
            let gone: Vec<WindowKey> =
                self.totals.keys().filter(|k| k.2 < now_window - HOLD * MINUTE).copied().collect();
            let key = match rng.u8(..3) {
                0 if !gone.is_empty() => gone[rng.usize(..gone.len())],
                0 => (rng.usize(..ITEMS.len()), rng.usize(..APPS.len()), now_window - rng.i64(3..9) * MINUTE),
                _ => (rng.usize(..ITEMS.len()), rng.usize(..APPS.len()), now_window - rng.i64(0..3) * MINUTE),
            };
            let back = (now_window - key.2) / MINUTE;
            let generation = *self.open.entry((p, key)).or_insert(offset);
            let g = self.generations.entry((p, key, generation)).or_default();
            let total = self.totals.entry(key).or_default();
            let changed = touched.entry((key, generation)).or_default();
            let retract = back > HOLD && rng.u8(..3) != 0;
            let add = |mine: &mut i64, sum: &mut i64, n: i64| {
                let n = if retract { -(n.min(*sum)) } else { n };
                *mine += n;
                *sum += n;
            };
            let c = &mut g.counters;
            let plays = rng.i64(0..3);
            add(&mut c.impressions, &mut total.impressions, rng.i64(0..4));
            add(&mut c.plays, &mut total.plays, plays);
            add(&mut c.engaged_plays, &mut total.engaged_plays, plays.min(rng.i64(0..3)));
            add(&mut c.completions, &mut total.completions, rng.i64(0..2));
            add(&mut c.pauses, &mut total.pauses, rng.i64(0..3));
            add(&mut c.duplicates, &mut total.duplicates, rng.i64(0..2));
            add(&mut c.ignored, &mut total.ignored, rng.i64(0..2));
            add(&mut c.orphans, &mut total.orphans, rng.i64(0..2));
            add(&mut c.abandons, &mut total.abandons, rng.i64(0..2));
            add(&mut c.active_views, &mut total.active_views, rng.i64(0..3));
            // Bots from the same draw (no new one, so the stream of draws stays the same).
            add(&mut c.bot_impressions, &mut total.bot_impressions, (plays + 1) % 3);
            add(&mut c.bot_plays, &mut total.bot_plays, plays / 2);
            for _ in 0..rng.usize(0..6) {
                let (r, e) = (rng.usize(..RETENTION_SEGMENTS), rng.usize(..PERCENT_POSITIONS));
                let (f, t) = (rng.usize(..PERCENT_POSITIONS), rng.usize(..PERCENT_POSITIONS));
                add(&mut c.retention[r], &mut total.retention[r], 1);
                add(&mut c.exits[e], &mut total.exits[e], 1);
                add(&mut c.seek_from[f], &mut total.seek_from[f], 1);
                add(&mut c.seek_to[t], &mut total.seek_to[t], 1);
            }
            // Viewers come from a small pool, so windows, apps and partitions share them
            // (exact uniques over a range are not sums); some keys use the top bit (u64
            // beyond i64). A retraction takes back a play of a viewer present in the window.
            let sums = self.viewers.entry(key).or_default();
            if retract {
                let present: Vec<u64> = sums.iter().filter(|(_, w)| **w > 0).map(|(v, _)| *v).collect();
                if !present.is_empty() {
                    let v = present[rng.usize(..present.len())];
                    *g.weights.entry(v).or_default() -= 1;
                    *sums.entry(v).or_default() -= 1;
                    changed.insert(v);
                }
            } else {
                for _ in 0..plays {
                    let v = rng.u64(0..40) | if rng.bool() { 1 << 63 } else { 0 };
                    *g.weights.entry(v).or_default() += 1;
                    *sums.entry(v).or_default() += 1;
                    changed.insert(v);
                }
            }
        }
        touched
            .into_iter()
            .map(|((key, generation), changed)| {
                let g = &self.generations[&(p, key, generation)];
                let (item, app, start) = key;
                VideoWindow {
                    item: ITEMS[item].into(),
                    app: APPS[app].into(),
                    window_start_ms: t0() + start,
                    window_end_ms: t0() + start + MINUTE,
                    generation,
                    counters: g.counters.clone(),
                    viewers: changed.into_iter().map(|v| (v, g.weights.get(&v).copied().unwrap_or(0))).collect(),
                }
            })
            .collect()
    }
}

/// `batches` consumer batches from `seed`, alternating partitions, each partition's
/// offsets rising by 10 from 10.
pub fn batches(seed: u64, batches: usize) -> Vec<CommitBatch> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut video = VideoState::default();
    let mut sessions: BTreeMap<(usize, i64), SessionWindowCounts> = BTreeMap::new();
    let mut summaries: BTreeMap<usize, SessionSummary> = BTreeMap::new();
    let mut pages: BTreeMap<(i32, usize, i64, u64), u64> = BTreeMap::new();
    let mut page_open: BTreeMap<(i32, usize, i64), u64> = BTreeMap::new();
    let mut out = Vec::with_capacity(batches);
    for b in 0..batches {
        let partition = PARTITIONS[b % PARTITIONS.len()];
        let next_offset = 10 * (b as u64 / PARTITIONS.len() as u64 + 1);
        // Time advances with the batches; partition 1 runs a minute behind.
        let now_window = (b as i64 / 2) * MINUTE - i64::from(partition) * MINUTE;
        let mut batch = CommitBatch {
            partition,
            next_offset,
            snapshot: Some(vec![b as u8; 1 + b % 7]),
            windows: video.step(&mut rng, partition, next_offset, now_window),
            watermark_ms: Some(t0() + now_window + MINUTE / 2),
            final_before_ms: (b % 5 != 1).then_some(t0() + now_window - 3 * MINUTE),
            ..CommitBatch::default()
        };
        // Archived states: one state per (key, version) (versions of a partition's batches
        // never overlap), expiring after a day: beyond every watermark (SQLite's expiry) and
        // the clock (ClickHouse's TTL), so both stores keep them all.
        let mut archived_keys = BTreeSet::new();
        for _ in 0..rng.usize(0..3) {
            let (key, version) = (rng.u8(0..6), next_offset - rng.u64(0..5));
            if archived_keys.insert((key, version)) {
                batch.archived.push(ArchivedState {
                    key: [key; 16],
                    version,
                    expires_at_ms: t0() + now_window + rng.i64(0..60) * MINUTE + 86_400_000,
                    state: vec![partition as u8, b as u8, rng.u8(..)],
                });
            }
        }
        for i in 0..rng.usize(0..4) {
            // Equal receive times: the order falls back to the event id, descending.
            let received_at_ms = t0() + now_window + rng.i64(0..3) * 1000;
            batch.rejected.push(RejectedRow {
                event_id: vec![b as u8, i as u8, rng.u8(..)],
                received_at_ms,
                route: "/ping/dot.gif".into(),
                reason_code: if rng.bool() { "invalid_progress" } else { "beyond_horizon" }.into(),
                reason: format!("reason {b}.{i}: ünïcödé ok"),
                input: format!("item=X&ts={received_at_ms}&progress=35&event=update"),
                truncated: rng.bool(),
            });
        }
        // Webinar sessions live in partition 0 (a key lives in one partition).
        if partition == 0 {
            webinar_step(&mut rng, &mut batch, b, now_window, now_window - 5 * MINUTE, &mut sessions, &mut summaries);
        }
        // Page views: generations like video windows (one held per page and window).
        page_open.retain(|&(p, _, start), _| p != partition || start >= now_window - HOLD * MINUTE);
        let mut touched = BTreeSet::new();
        for _ in 0..rng.usize(0..3) {
            let start = now_window - if rng.u8(..4) == 0 { 4 * MINUTE } else { 0 };
            let kind = rng.usize(..2);
            let generation = *page_open.entry((partition, kind, start)).or_insert(next_offset);
            *pages.entry((partition, kind, start, generation)).or_default() += rng.u64(1..4);
            touched.insert((partition, kind, start, generation));
        }
        for key @ (_, kind, start, generation) in touched {
            batch.page_views.push(PageViewWindow {
                source: SOURCES[kind].into(),
                kind: if kind == 0 { "page" } else { "screen" }.into(),
                name: format!("Home {kind}"),
                window_start_ms: t0() + start,
                window_end_ms: t0() + start + MINUTE,
                generation,
                views: pages[&key],
            });
        }
        for i in 0..rng.usize(0..3) {
            let at = t0() + now_window + rng.i64(0..2) * 1000;
            let event_id = vec![0xee, b as u8, i as u8];
            batch.user_traits.push(UserTraits {
                source: SOURCES[i % 2].into(),
                user_key: format!("user-{}", rng.u8(0..3)),
                user_id: "u".into(),
                anonymous_id: String::new(),
                traits_json: format!("{{\"plan\":\"p{b}.{i}\"}}"),
                updated_at_ms: at,
                event_id: event_id.clone(),
            });
            batch.analytics_events.push(AnalyticsRow {
                source: SOURCES[i % 2].into(),
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
        let window = SessionWindow {
            source: SOURCES[s % 2].into(),
            session_id: (*session_id).into(),
            window_start_ms: t0() + start,
            window_end_ms: t0() + start + MINUTE,
            is_final: start < final_before,
            counts: counts.clone(),
        };
        // The first session id is used by both sources (their sessions are apart).
        if s == 0 {
            let mut other = window.clone();
            other.source = SOURCES[1].into();
            other.counts.joins += 1;
            batch.session_windows.push(other);
        }
        batch.session_windows.push(window);
        let summary = summaries.entry(s).or_insert_with(|| SessionSummary {
            source: SOURCES[s % 2].into(),
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
        if s == 0 {
            let other = SessionSummary { source: SOURCES[1].into(), unique_attendees: 1, ..summary.clone() };
            batch.session_summaries.push(other);
        }
    }
}

/// What a run of batches exercises: (windows with several generations in a partition,
/// rows with a negative count, viewer weights of 0 or less, archived states, batches
/// without a final_before).
pub fn coverage(batches: &[CommitBatch]) -> (usize, usize, usize, usize, usize) {
    let windows = || batches.iter().flat_map(|b| b.windows.iter().map(move |w| (b.partition, w)));
    let mut generations: BTreeMap<(i32, &str, &str, i64), BTreeSet<u64>> = BTreeMap::new();
    for (p, w) in windows() {
        generations.entry((p, &w.item, &w.app, w.window_start_ms)).or_default().insert(w.generation);
    }
    let regenerated = generations.values().filter(|g| g.len() > 1).count();
    let negative =
        windows().filter(|(_, w)| w.counters.plays < 0 || w.counters.retention.iter().any(|n| *n < 0)).count();
    let weights = windows().flat_map(|(_, w)| w.viewers.iter()).filter(|(_, weight)| *weight <= 0).count();
    let archived = batches.iter().map(|b| b.archived.len()).sum();
    let unfinal = batches.iter().filter(|b| b.final_before_ms.is_none()).count();
    (regenerated, negative, weights, archived, unfinal)
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
            put(format!("top_sessions/range{r}/limit{limit}"), json!(store.top_sessions(range, limit, None).await?));
            let only = [SOURCES[1].to_string()];
            let listed = store.top_sessions(range, limit, Some(&only)).await?;
            put(format!("top_sessions/range{r}/limit{limit}/{}", SOURCES[1]), json!(listed));
        }
    }
    for limit in [0, 1, 5, 1000] {
        put(format!("recent_rejected/limit{limit}"), json!(store.recent_rejected(limit).await?));
    }
    for id in SESSIONS.iter().copied().chain(["missing-session"]) {
        put(format!("session_engagement/{id}"), json!(store.session_engagement(id, None).await?));
        let only = [SOURCES[0].to_string()];
        put(format!("session_engagement/{id}/{}", SOURCES[0]), json!(store.session_engagement(id, Some(&only)).await?));
    }
    for partition in [0, 1, 2] {
        let cp =
            store.checkpoint(partition).await?.map(|c| json!({"next_offset": c.next_offset, "snapshot": c.snapshot}));
        put(format!("checkpoint/{partition}"), json!(cp));
        let keys: Vec<[u8; 16]> = (0..8).map(|k| [k; 16]).collect();
        for max_version in [0, 30, 60, u64::MAX] {
            let found = store.load_archived(partition, &keys, max_version).await?;
            put(format!("load_archived/{partition}/{max_version}"), json!(found));
        }
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
