//! Property tests on generated streams (see [`super::stream`]).

use engage_model::pingback::EventKind;
use engage_model::rollup::VideoWindow;
use proptest::prelude::*;

use super::stream::{OwnedEvent, Shape, generate};
use super::*;

/// Configurations the properties must hold under (each with timeout > window + lateness).
fn config(choice: u8) -> EngineConfig {
    match choice % 3 {
        0 => EngineConfig::default(),
        1 => EngineConfig {
            window_ms: 30 * SEC,
            allowed_lateness_ms: 60 * SEC,
            view_timeout_ms: 10 * MIN,
            ..EngineConfig::default()
        },
        _ => EngineConfig {
            window_ms: 5 * MIN,
            allowed_lateness_ms: 0,
            view_timeout_ms: 30 * MIN,
            ..EngineConfig::default()
        },
    }
}

/// A time after which every generated event is final and every view timed out.
const END: i64 = T0 + 24 * 60 * MIN;

/// What a run produced: every flush output in order, the merged view, and the outcomes.
struct Run {
    outputs: Vec<Vec<VideoWindow>>,
    merged: Merged,
    outcomes: Vec<Outcome>,
    implicit_views: u64,
}

/// Records `events`, flushing after each index in `flush_after` and, if `snapshot_after`
/// is set, snapshotting (postcard) and restoring the engine after that index; then moves
/// the watermark past everything and flushes.
fn run(config: &EngineConfig, events: &[OwnedEvent], flush_after: &[usize], snapshot_after: Option<usize>) -> Run {
    let mut sim = Sim::with(config.clone());
    let mut outputs = Vec::new();
    let mut outcomes = Vec::with_capacity(events.len());
    for (i, ev) in events.iter().enumerate() {
        outcomes.push(sim.record(&ev.as_event()));
        if flush_after.contains(&i) {
            outputs.push(sim.flush());
        }
        if snapshot_after == Some(i) {
            let bytes = postcard::to_stdvec(&sim.engine).expect("engine serializes");
            sim.engine = postcard::from_bytes(&bytes).expect("engine deserializes");
        }
    }
    let clock = Player::new("__clock", "clock", 0).level1();
    sim.record(&clock.at(EventKind::Initialized, 0, END));
    outputs.push(sim.flush());
    assert_eq!(sim.engine.windows.dropped(), 0, "increments aimed at closed windows");
    for ((item, _, _), w) in &sim.merged {
        assert!(w.is_final || item == "__clock", "{item} window left open at the end");
    }
    Run { outputs, merged: sim.merged, outcomes, implicit_views: sim.engine.stats.implicit_views }
}

fn without_clock(mut merged: Merged) -> Merged {
    merged.retain(|(item, _, _), _| item != "__clock");
    merged
}

fn sum_all(merged: &Merged) -> VideoCounters {
    let mut sum = VideoCounters::default();
    for ((item, _, _), w) in merged {
        if item != "__clock" {
            sum.merge(&w.counters);
        }
    }
    sum
}

fn shape() -> impl Strategy<Value = Shape> {
    (any::<u64>(), 1usize..160, 0u64..8, any::<bool>()).prop_map(|(seed, sessions, noise_percent, item_per_session)| {
        Shape { seed, sessions, noise_percent, item_per_session }
    })
}

/// 48 cases per property by default (the streams are large); `PROPTEST_CASES` overrides.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(48)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    /// (a) Repeating every event immediately changes nothing but `duplicates`.
    #[test]
    fn duplicate_injection_changes_only_duplicates(shape in shape(), choice in any::<u8>()) {
        let config = config(choice);
        let events = generate(shape);
        let doubled: Vec<OwnedEvent> = events.iter().flat_map(|e| [e.clone(), e.clone()]).collect();
        let once = run(&config, &events, &[], None);
        let twice = run(&config, &doubled, &[], None);
        for (i, outcome) in once.outcomes.iter().enumerate() {
            prop_assert_eq!(twice.outcomes[2 * i], *outcome, "event {}: {:?}", i, events[i]);
            let repeat = if *outcome == Outcome::Late { Outcome::Late } else { Outcome::Duplicate };
            prop_assert_eq!(twice.outcomes[2 * i + 1], repeat, "repeat of event {}", i);
        }
        let strip = |merged: Merged| -> Merged {
            without_clock(merged).into_iter().map(|(k, mut w)| { w.counters.duplicates = 0; (k, w) }).collect()
        };
        let (a, b) = (strip(once.merged), strip(twice.merged));
        // A window may exist only because of a duplicate: compare with those dropped.
        let nonzero = |m: Merged| -> Merged {
            m.into_iter().filter(|(_, w)| w.counters != VideoCounters::default() || !w.viewers.is_empty()).collect()
        };
        prop_assert_eq!(nonzero(a), nonzero(b));
    }

    /// (b) completions <= engaged_plays <= plays <= impressions + implicit views;
    /// (d) retention[s] <= engaged_plays; summed over all windows, and per item.
    #[test]
    fn counters_are_ordered(shape in shape(), choice in any::<u8>()) {
        let events = generate(shape);
        let r = run(&config(choice), &events, &[], None);
        let all = sum_all(&r.merged);
        prop_assert!(all.plays <= all.impressions + r.implicit_views);
        let items: BTreeSet<&str> = r.merged.keys().map(|(item, _, _)| item.as_str()).collect();
        for (item, c) in items.into_iter().map(|i| (i, totals(&r.merged, i))).chain([("all", all)]) {
            prop_assert!(c.completions <= c.engaged_plays, "{}: {} completions, {} engaged", item, c.completions, c.engaged_plays);
            prop_assert!(c.engaged_plays <= c.plays, "{}", item);
            for (s, n) in c.retention.iter().enumerate() {
                prop_assert!(*n <= c.engaged_plays, "{}: retention[{}] = {} > {} engaged plays", item, s, n, c.engaged_plays);
            }
        }
    }

    /// (c) Every finished level-2 play has at least one exit (one item per session, so
    /// per-item totals are per-view facts).
    #[test]
    fn every_finished_play_exits(shape in shape(), choice in any::<u8>()) {
        let shape = Shape { item_per_session: true, ..shape };
        let events = generate(shape);
        let r = run(&config(choice), &events, &[], None);
        let items: BTreeSet<&str> = r.merged.keys().map(|(item, _, _)| item.as_str()).collect();
        for item in items {
            let c = totals(&r.merged, item);
            let exits: u64 = c.exits.iter().sum();
            prop_assert!(exits >= c.engaged_plays, "{}: {} exits for {} engaged plays", item, exits, c.engaged_plays);
        }
    }

    /// (e) Snapshot and restore at any point: the same outputs as an uninterrupted run.
    #[test]
    fn snapshot_restore_is_invisible(shape in shape(), choice in any::<u8>(), at in any::<prop::sample::Index>(),
                                     flushes in prop::collection::vec(any::<prop::sample::Index>(), 0..6)) {
        let config = config(choice);
        let events = generate(shape);
        let n = events.len().max(1);
        let flush_after: Vec<usize> = flushes.iter().map(|i| i.index(n)).collect();
        let at = at.index(n);
        let clean = run(&config, &events, &flush_after, None);
        let restored = run(&config, &events, &flush_after, Some(at));
        prop_assert_eq!(&clean.outcomes, &restored.outcomes);
        prop_assert_eq!(&clean.outputs, &restored.outputs);
        prop_assert_eq!(clean.merged, restored.merged);
    }

    /// (f) Where flushes happen does not change the merged result.
    #[test]
    fn flush_points_do_not_matter(shape in shape(), choice in any::<u8>(),
                                  flushes in prop::collection::vec(any::<prop::sample::Index>(), 0..40)) {
        let config = config(choice);
        let events = generate(shape);
        let n = events.len().max(1);
        let flush_after: Vec<usize> = flushes.iter().map(|i| i.index(n)).collect();
        let once = run(&config, &events, &[], None);
        let often = run(&config, &events, &flush_after, None);
        prop_assert_eq!(once.merged, often.merged);
    }
}

#[test]
fn generated_streams_exercise_every_path() {
    let events = generate(Shape { seed: 7, sessions: 400, noise_percent: 3, item_per_session: false });
    let r = run(&EngineConfig::default(), &events, &[], None);
    let c = sum_all(&r.merged);
    for (name, n) in [
        ("impressions", c.impressions),
        ("plays", c.plays),
        ("engaged", c.engaged_plays),
        ("completions", c.completions),
        ("pauses", c.pauses),
        ("duplicates", c.duplicates),
        ("ignored", c.ignored),
        ("abandons", c.abandons),
        ("active", c.active_views),
        ("seeks", c.seek_from.iter().sum()),
    ] {
        assert!(n > 0, "{name} never counted");
    }
    for o in [Outcome::Counted, Outcome::Duplicate, Outcome::Ignored, Outcome::Late] {
        assert!(r.outcomes.contains(&o), "{o:?} never happened");
    }
}
