//! Property tests on generated streams (see [`super::stream`]): the numbers are a function of
//! the set of events, not of arrival order, batching, snapshots or crashes.

use engage_model::pingback::EventKind;
use proptest::prelude::*;

use super::stream::{OwnedEvent, Shape, generate};
use super::*;

/// Configurations the properties must hold under; small holds force archives and late
/// generations.
fn config(choice: u8) -> EngineConfig {
    match choice % 3 {
        0 => EngineConfig::default(),
        1 => EngineConfig { window_ms: 30 * SEC, hold_ms: 0, view_timeout_ms: 10 * MIN, ..EngineConfig::default() },
        _ => EngineConfig { window_ms: 5 * MIN, hold_ms: MIN, view_timeout_ms: 30 * MIN, ..EngineConfig::default() },
    }
}

/// A time after which every generated view has timed out (within the 48 h horizon).
const END: i64 = T0 + 24 * HOUR;

/// How to deliver a stream.
#[derive(Clone, Debug, Default)]
struct Delivery {
    /// Flush after these indexes.
    flush_after: Vec<usize>,
    /// Snapshot (postcard) and restore the engine after this index.
    snapshot_after: Option<usize>,
    /// Checkpoint at this flush index, crash at this later index, replay from the checkpoint.
    crash: Option<(usize, usize)>,
}

/// Records `events` as delivered, then moves the watermark past everything and flushes.
fn run(config: &EngineConfig, events: &[OwnedEvent], d: &Delivery) -> Store {
    let mut sim = Sim::with(config.clone());
    let mut checkpoint: Option<(Vec<u8>, u64, usize)> = None;
    let mut i = 0;
    let mut crashed = false;
    while i < events.len() {
        sim.record(&events[i].as_event());
        if d.flush_after.contains(&i) || d.crash.is_some_and(|(at, _)| at == i) {
            sim.flush();
        }
        if d.crash.is_some_and(|(at, _)| at == i) {
            // A checkpoint: the engine right after a flush, and where to resume.
            let bytes = postcard::to_stdvec(&sim.engine).expect("engine serializes");
            checkpoint = Some((bytes, sim.position, i + 1));
        }
        if d.snapshot_after == Some(i) {
            let bytes = postcard::to_stdvec(&sim.engine).expect("engine serializes");
            sim.engine = postcard::from_bytes(&bytes).expect("engine deserializes");
        }
        if !crashed
            && d.crash.is_some_and(|(_, at)| at == i)
            && let Some((bytes, position, resume)) = checkpoint.take()
        {
            // Killed: what was not flushed is lost; the rows written stay.
            crashed = true;
            sim.engine = postcard::from_bytes(&bytes).expect("engine deserializes");
            sim.position = position;
            i = resume;
            continue;
        }
        i += 1;
    }
    let clock = Player::new("__clock", "clock", 0).level1();
    sim.record(&clock.at(EventKind::Initialized, 0, END));
    sim.flush();
    let mut store = sim.store;
    store.rows.retain(|(item, ..), _| item != "__clock");
    store.viewers.retain(|(item, ..), _| item != "__clock");
    store
}

/// The numbers a reader sees: sums per window and viewers with a play per window.
type Numbers = (BTreeMap<(String, String, i64), VideoCounters>, BTreeMap<(String, String, i64), BTreeSet<u64>>);

fn numbers(store: &Store) -> Numbers {
    (store.sums(), store.present())
}

fn shape() -> impl Strategy<Value = Shape> {
    (any::<u64>(), 1usize..120, 0u64..8, any::<bool>()).prop_map(|(seed, sessions, noise_percent, item_per_session)| {
        Shape { seed, sessions, noise_percent, item_per_session }
    })
}

/// 32 cases per property by default (the streams are large); `PROPTEST_CASES` overrides.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(32)
}

/// A deterministic shuffle (Fisher–Yates with SplitMix64).
fn shuffled<T: Clone>(xs: &[T], seed: u64) -> Vec<T> {
    let mut rng = super::stream::Rng::new(seed);
    let mut out = xs.to_vec();
    for i in (1..out.len()).rev() {
        let j = (rng.next() % (i as u64 + 1)) as usize;
        out.swap(i, j);
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    /// Any permutation of the events (each keeping its edge time: what a CDN log shipped
    /// late, or a racing connection, delivers) gives the same numbers as delivery in order.
    #[test]
    fn any_arrival_order_gives_the_same_numbers(shape in shape(), choice in any::<u8>(), seed in any::<u64>()) {
        let config = config(choice);
        let events = generate(shape);
        let in_order = numbers(&run(&config, &events, &Delivery::default()));
        let permuted = numbers(&run(&config, &shuffled(&events, seed), &Delivery::default()));
        prop_assert_eq!(in_order, permuted);
    }

    /// Delivering every event twice (retries, a log shipped twice) changes nothing.
    #[test]
    fn repeats_change_nothing(shape in shape(), choice in any::<u8>(), seed in any::<u64>()) {
        let config = config(choice);
        let events = generate(shape);
        let twice: Vec<OwnedEvent> = events.iter().chain(shuffled(&events, seed).iter()).cloned().collect();
        prop_assert_eq!(numbers(&run(&config, &events, &Delivery::default())), numbers(&run(&config, &twice, &Delivery::default())));
    }

    /// Flushes anywhere, a snapshot and restore anywhere, and a crash that replays from an
    /// older checkpoint over rows already written: the same numbers.
    #[test]
    fn batching_snapshots_and_crashes_do_not_matter(
        shape in shape(), choice in any::<u8>(), seed in any::<u64>(),
        flushes in prop::collection::vec(any::<prop::sample::Index>(), 0..30),
        snap in any::<prop::sample::Index>(), crash in (any::<prop::sample::Index>(), any::<prop::sample::Index>()),
    ) {
        let config = config(choice);
        let events = shuffled(&generate(shape), seed);
        let n = events.len().max(1);
        let (a, b) = (crash.0.index(n), crash.1.index(n));
        let delivery = Delivery {
            flush_after: flushes.iter().map(|i| i.index(n)).collect(),
            snapshot_after: Some(snap.index(n)),
            crash: Some((a.min(b), a.max(b))),
        };
        prop_assert_eq!(numbers(&run(&config, &events, &Delivery::default())), numbers(&run(&config, &events, &delivery)));
    }

    /// An event arriving hours late (within the horizon, after its view left memory) gives
    /// the same numbers as on time.
    #[test]
    fn late_within_the_horizon_equals_on_time(shape in shape(), choice in any::<u8>(), pick in any::<prop::sample::Index>()) {
        let config = config(choice);
        let events = generate(shape);
        // A stream of one session can be empty (a session that sent nothing): nothing to move.
        prop_assume!(!events.is_empty());
        let k = pick.index(events.len());
        let on_time = numbers(&run(&config, &events, &Delivery::default()));
        let mut late: Vec<OwnedEvent> = events.clone();
        let moved = late.remove(k);
        // Something else moves the watermark 20 hours on first.
        let mut clock = OwnedEvent { item: "__clock".into(), vid: None, viewer: 0, ..moved.clone() };
        clock.kind = EventKind::Initialized;
        clock.level = engage_model::pingback::Level::One;
        clock.progress = 0;
        clock.event_time_ms = T0 + 20 * HOUR;
        late.push(clock);
        late.push(moved);
        prop_assert_eq!(on_time, numbers(&run(&config, &late, &Delivery::default())));
    }

    /// completions <= engaged_plays <= plays, retention[s] <= engaged_plays, and no sum is
    /// negative, per item and overall.
    #[test]
    fn counters_are_ordered(shape in shape(), choice in any::<u8>(), seed in any::<u64>()) {
        let store = run(&config(choice), &shuffled(&generate(shape), seed), &Delivery::default());
        let items: BTreeSet<String> = store.rows.keys().map(|(item, ..)| item.clone()).collect();
        for item in items {
            let c = store.totals(&item);
            prop_assert!(c.completions <= c.engaged_plays, "{}: {} completions, {} engaged", item, c.completions, c.engaged_plays);
            prop_assert!(c.engaged_plays <= c.plays, "{}", item);
            for (s, n) in c.retention.iter().enumerate() {
                prop_assert!(*n <= c.engaged_plays, "{}: retention[{}] = {} > {} engaged plays", item, s, n, c.engaged_plays);
            }
        }
        for c in store.sums().values() {
            let scalars = [c.impressions, c.plays, c.engaged_plays, c.completions, c.pauses, c.duplicates, c.ignored, c.orphans, c.abandons, c.active_views];
            prop_assert!(scalars.iter().all(|n| *n >= 0), "{:?}", c);
            prop_assert!([&c.retention, &c.exits, &c.seek_from, &c.seek_to].iter().all(|h| h.iter().all(|n| *n >= 0)));
        }
    }
}

#[test]
fn generated_streams_exercise_every_path() {
    let events = generate(Shape { seed: 7, sessions: 400, noise_percent: 3, item_per_session: false });
    let mut sim = Sim::with(config(1));
    let mut outcomes = BTreeSet::new();
    for (i, ev) in shuffled(&events, 3).iter().enumerate() {
        outcomes.insert(sim.record(&ev.as_event()).as_str());
        if i % 50 == 0 {
            sim.flush();
        }
    }
    sim.advance_to(END);
    let mut c = VideoCounters::default();
    for (key, sum) in sim.store.sums() {
        if key.0 != "__clock" {
            c.merge(&sum);
        }
    }
    for (name, n) in [
        ("impressions", c.impressions),
        ("plays", c.plays),
        ("engaged", c.engaged_plays),
        ("completions", c.completions),
        ("pauses", c.pauses),
        ("duplicates", c.duplicates),
        ("ignored", c.ignored),
        ("orphans", c.orphans),
        ("abandons", c.abandons),
        ("active", c.active_views),
        ("seeks", c.seek_from.iter().sum()),
        ("bot impressions", c.bot_impressions),
        ("bot plays", c.bot_plays),
    ] {
        assert!(n > 0, "{name} never counted");
    }
    for o in ["counted", "duplicate", "ignored", "orphan", "repeat", "reordered", "late"] {
        assert!(outcomes.contains(o), "{o} never happened: {outcomes:?}");
    }
    let (archived, restored, late_generations) = sim.engine.archive_stats();
    assert!(archived > 0 && restored > 0 && late_generations > 0, "{archived} {restored} {late_generations}");
}
