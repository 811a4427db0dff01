//! Windows, generations, the watermark and the engine's housekeeping.

use engage_model::pingback::EventKind::*;

use super::*;
use crate::EngineConfigError;

#[test]
fn late_events_count_in_a_new_generation_of_their_window() {
    let mut sim = Sim::new();
    let p = Player::new("X", "A", 1);
    assert_eq!(p.send(&mut sim, Initialized, 0, T0 + 30 * SEC), Outcome::Counted);
    sim.advance_to(T0 + 20 * MIN);
    assert_eq!(sim.engine.open_windows(), 1, "X's window left memory after the hold; the clock's stays");
    // A CDN log line of another viewer, 20 minutes late: counted in its own window.
    let q = Player::new("X", "A", 2);
    assert_eq!(q.send(&mut sim, Initialized, 0, T0 + 40 * SEC), Outcome::Late);
    let out = sim.flush();
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].window_start_ms, out[0].counters.impressions), (T0, 1));
    assert!(out[0].generation > 0, "a new generation of the window");
    assert_eq!(sim.store.rows.keys().filter(|k| k.0 == "X").count(), 2, "two rows");
    assert_eq!(sim.window("X", "A", T0).0.impressions, 2, "that sum");
}

#[test]
fn flush_emits_each_generation_once_per_change() {
    let mut sim = Sim::new();
    let p = Player::new("X", "A", 1);
    p.send(&mut sim, Initialized, 0, T0);
    p.send(&mut sim, Firstplay, 0, T0 + SEC);
    let first = sim.flush();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].viewers, vec![(1, 1)]);
    assert!(sim.flush().is_empty(), "nothing changed");
    p.send(&mut sim, Update, 10, T0 + 7 * SEC);
    let second = sim.flush();
    assert_eq!((second.len(), second[0].generation), (1, first[0].generation));
    assert!(second[0].viewers.is_empty(), "viewer weights unchanged");
    assert_eq!(second[0].counters.retention, retention_of(&[(0, 10)]));
}

#[test]
fn flush_is_sorted_by_item_app_window() {
    let mut sim = Sim::new();
    for (item, app, viewer, t) in
        [("b", "A", 1, T0 + MIN), ("a", "B", 2, T0), ("a", "A", 3, T0 + MIN), ("a", "A", 4, T0), ("b", "A", 5, T0)]
    {
        Player::new(item, app, viewer).send(&mut sim, Initialized, 0, t);
    }
    let keys: Vec<_> = sim.flush().into_iter().map(|w| (w.item, w.app, w.window_start_ms, w.generation)).collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
    assert_eq!(keys.len(), 5);
}

#[test]
fn watermark_follows_edge_time_bounded_by_the_collectors_clock() {
    let mut sim = Sim::new();
    assert_eq!(sim.engine.watermark_ms(), None);
    let p = Player::new("X", "A", 1);
    // A log line claiming an hour ahead, ingested now: the watermark stops at now + tolerance.
    let mut ev = p.at(Initialized, 0, T0 + HOUR);
    ev.ingested_at_ms = T0;
    sim.record(&ev);
    assert_eq!(sim.engine.watermark_ms(), Some(T0 + crate::FUTURE_TOLERANCE_MS));
    // A delayed event does not move it back.
    sim.record(&p.at(Firstplay, 0, T0 - MIN));
    assert_eq!(sim.engine.watermark_ms(), Some(T0 + crate::FUTURE_TOLERANCE_MS));
    sim.record(&Player::new("Y", "A", 1).at(Initialized, 0, T0 + 2 * MIN));
    assert_eq!(sim.engine.watermark_ms(), Some(T0 + 2 * MIN));
    // A player's clock does not move it at all: `ts` only orders the view.
    sim.record(&p.stamped(Play, 0, T0 + 100 * HOUR, T0 + 2 * MIN + SEC));
    assert_eq!(sim.engine.watermark_ms(), Some(T0 + 2 * MIN + SEC));
    assert_eq!(sim.engine.final_before_ms(), Some(T0 + 2 * MIN + SEC - 48 * HOUR));
}

#[test]
fn a_view_times_out_by_edge_time_whatever_its_clock_says() {
    let mut sim = Sim::new();
    let p = Player::new("X", "A", 1);
    p.send(&mut sim, Initialized, 0, T0);
    p.send(&mut sim, Firstplay, 0, T0 + SEC);
    p.send(&mut sim, Play, 0, T0 + SEC);
    p.send(&mut sim, Pause, 20, T0 + 20 * SEC);
    // Stamped 40 minutes later by the client, seen right away by the edge: same view.
    assert_eq!(sim.record(&p.stamped(Resume, 20, T0 + 40 * MIN, T0 + 21 * SEC)), Outcome::Counted);
    sim.advance_to(T0 + 10 * MIN);
    let c = sim.totals("X");
    assert_eq!((c.plays, c.pauses, c.abandons, c.orphans), (1, 1, 0, 0));
}

#[test]
fn active_views_across_windows() {
    let mut sim = Sim::new();
    let a = Player::new("X", "A", 1);
    let b = Player::new("X", "A", 2);
    a.send(&mut sim, Firstplay, 0, T0 + 10 * SEC);
    a.send(&mut sim, Play, 0, T0 + 10 * SEC);
    b.send(&mut sim, Firstplay, 0, T0 + 30 * SEC);
    b.send(&mut sim, Play, 0, T0 + 30 * SEC);
    // a: an update in window 3, paused in window 5. b: never heard of again.
    a.send(&mut sim, Update, 10, T0 + 3 * MIN + 5 * SEC);
    a.send(&mut sim, Pause, 12, T0 + 5 * MIN + SEC);
    sim.advance_to(T0 + 3 * 60 * MIN);
    for k in 0..34 {
        let w = sim.window("X", "A", T0 + k * MIN).0;
        let expected = match k {
            0..=5 => 2,
            6..=30 => 1, // b plays until abandoned at T0 + 30 s + 30 min (window 30)
            _ => 0,
        };
        assert_eq!(w.active_views, expected, "window {k}");
    }
    let abandoned = sim.window("X", "A", T0 + 30 * SEC + 30 * MIN).0;
    assert_eq!((abandoned.abandons, abandoned.exits), (1, hist(&[(0, 1)])));
    let c = sim.totals("X");
    assert_eq!((c.abandons, c.exits), (2, hist(&[(0, 1), (12, 1)])));
}

#[test]
fn seeking_counts_as_playing() {
    let mut sim = Sim::new();
    let a = Player::new("X", "A", 1);
    a.send(&mut sim, Firstplay, 0, T0);
    a.send(&mut sim, Play, 0, T0);
    a.send(&mut sim, Seekfrom, 5, T0 + 50 * SEC);
    a.send(&mut sim, Seekto, 60, T0 + 2 * MIN + 10 * SEC);
    a.send(&mut sim, Stop, 61, T0 + 2 * MIN + 20 * SEC);
    let active: Vec<i64> = (0..4).map(|k| sim.window("X", "A", T0 + k * MIN).0.active_views).collect();
    assert_eq!(active, vec![1, 1, 1, 0]);
    let c = sim.totals("X");
    assert_eq!(c.retention, retention_of(&[(0, 5), (60, 61)]));
    assert_eq!((c.seek_from.clone(), c.seek_to.clone()), (hist(&[(5, 1)]), hist(&[(60, 1)])));
}

#[test]
fn applications_are_kept_apart() {
    let mut sim = Sim::new();
    let a = Player::new("X", "Acme/Player 2.3", 1);
    let b = Player::new("X", "Other/App 1.0", 2);
    for p in [a, b] {
        p.send(&mut sim, Initialized, 0, T0);
        p.send(&mut sim, Firstplay, 0, T0 + SEC);
        p.send(&mut sim, Play, 0, T0 + SEC);
    }
    a.send(&mut sim, Update, 10, T0 + 7 * SEC);
    let wa = sim.window("X", "Acme/Player 2.3", T0);
    let wb = sim.window("X", "Other/App 1.0", T0);
    assert_eq!((wa.0.impressions, wa.0.plays), (1, 1));
    assert_eq!((wb.0.impressions, wb.0.plays), (1, 1));
    assert_eq!(wa.0.retention, retention_of(&[(0, 10)]));
    assert_eq!(wb.0.retention, retention_of(&[]));
    assert_eq!((wa.1, wb.1), (BTreeSet::from([1]), BTreeSet::from([2])));
}

#[test]
fn strings_are_collected_when_nothing_refers_to_them() {
    let mut sim = Sim::new();
    let batch = |sim: &mut Sim, name: &str, t: i64| {
        for i in 0..3000u64 {
            let item: &'static str = Box::leak(format!("{name}-{i}").into_boxed_str());
            Player::new(item, "A", i).send(sim, Initialized, 0, t + i as i64);
        }
    };
    batch(&mut sim, "old", T0);
    sim.advance_to(T0 + 2 * 60 * MIN);
    batch(&mut sim, "new", T0 + 2 * 60 * MIN);
    sim.advance_to(T0 + 4 * 60 * MIN);
    // The first batch's views and windows are gone, and so are their strings.
    assert!(sim.engine.strings.len() <= 3003, "{} strings left", sim.engine.strings.len());
    assert_eq!(sim.totals("old-7").impressions, 1);
    assert_eq!(sim.totals("new-7").impressions, 1);
}

#[test]
fn config_defaults_validation_and_serde() {
    let c = EngineConfig::default();
    assert_eq!(
        (c.window_ms, c.allowed_lateness_ms, c.hold_ms, c.view_timeout_ms),
        (60_000, 172_800_000, 300_000, 1_800_000)
    );
    assert_eq!(c.validate(), Ok(()));
    let bad = EngineConfig { window_ms: 0, ..c.clone() };
    assert_eq!(bad.validate(), Err(EngineConfigError::WindowNotPositive(0)));
    let bad = EngineConfig { allowed_lateness_ms: 0, ..c.clone() };
    assert_eq!(bad.validate(), Err(EngineConfigError::LatenessOutOfRange(0)));
    let bad = EngineConfig { allowed_lateness_ms: 8 * 24 * HOUR, ..c.clone() };
    assert_eq!(bad.validate(), Err(EngineConfigError::LatenessOutOfRange(8 * 24 * HOUR)));
    let bad = EngineConfig { hold_ms: -1, ..c.clone() };
    assert_eq!(bad.validate(), Err(EngineConfigError::NegativeHold(-1)));
    let bad = EngineConfig { view_timeout_ms: 0, ..c.clone() };
    assert_eq!(bad.validate(), Err(EngineConfigError::TimeoutNotPositive(0)));
    let bytes = postcard::to_stdvec(&c).unwrap();
    assert_eq!(postcard::from_bytes::<EngineConfig>(&bytes).unwrap(), c);
}

#[test]
#[should_panic(expected = "invalid engine configuration")]
fn new_refuses_invalid_config() {
    Engine::new(EngineConfig { window_ms: -5, ..EngineConfig::default() });
}

#[test]
fn initialized_overtaken_by_its_firstplay_counts_for_its_view() {
    let mut sim = Sim::new();
    let p = Player::new("X", "A", 1);
    // Sent initialized, firstplay, play; the network delivered the initialized last.
    assert_eq!(p.send(&mut sim, Firstplay, 0, T0 + 2 * SEC), Outcome::Counted);
    assert_eq!(p.send(&mut sim, Play, 0, T0 + 2 * SEC), Outcome::Counted);
    assert_eq!(sim.record(&p.at(Initialized, 0, T0 + SEC)), Outcome::Reordered);
    assert_eq!(sim.record(&p.at(Initialized, 0, T0 + SEC)), Outcome::Repeat, "its retry");
    assert_eq!(p.send(&mut sim, Update, 10, T0 + 8 * SEC), Outcome::Counted, "the view was not closed");
    let c = sim.totals("X");
    assert_eq!((c.impressions, c.plays, c.abandons), (1, 1, 0));
    assert_eq!(c.retention, retention_of(&[(0, 10)]));
    // A later initialized is a reload: it closes the view.
    assert_eq!(p.send(&mut sim, Initialized, 0, T0 + 9 * SEC), Outcome::Counted);
    let c = sim.totals("X");
    assert_eq!((c.impressions, c.abandons), (2, 1));
}

#[test]
fn seekfrom_while_paused_starts_a_play_interval() {
    // Out of spec (nothing is sent while seeking paused), but the state machine must keep
    // its play intervals consistent: the interval starts at the seekfrom.
    let mut sim = Sim::new();
    let p = Player::new("X", "A", 1);
    p.send(&mut sim, Firstplay, 0, T0);
    p.send(&mut sim, Play, 0, T0);
    p.send(&mut sim, Pause, 3, T0 + 10 * SEC);
    Player::new("Y", "A", 2).send(&mut sim, Initialized, 0, T0 + 4 * MIN);
    p.send(&mut sim, Seekfrom, 3, T0 + 4 * MIN + SEC);
    p.send(&mut sim, Seekto, 50, T0 + 4 * MIN + 2 * SEC);
    let active: Vec<i64> = (0..5).map(|k| sim.window("X", "A", T0 + k * MIN).0.active_views).collect();
    assert_eq!(active, vec![1, 0, 0, 0, 1]);
}

#[test]
fn absurd_times_do_not_panic() {
    let mut sim = Sim::new();
    let p = Player::new("X", "A", 1);
    for (t, ingested) in [(i64::MIN, i64::MIN), (i64::MAX, i64::MAX), (i64::MIN, i64::MAX), (0, i64::MIN), (T0, T0)] {
        for kind in [Initialized, Firstplay, Play, Update, Seekfrom, Seekto, Pause, Stop] {
            let mut ev = p.stamped(kind, 50, t, t);
            ev.ingested_at_ms = ingested;
            sim.record(&ev);
            let mut ev = p.stamped(kind, 50, ingested, T0);
            ev.ingested_at_ms = t;
            sim.record(&ev);
        }
        sim.flush();
    }
    sim.record(&p.at(Update, 250, T0));
    sim.flush();
}

#[test]
fn view_ids_are_collected_too() {
    let mut sim = Sim::new();
    for round in 0..3i64 {
        for i in 0..2000u64 {
            let vid: &'static str = Box::leak(format!("vid-{round}-{i}").into_boxed_str());
            Player::new("X", "A", i).vid(vid).send(&mut sim, Initialized, 0, T0 + round * 2 * 60 * MIN);
        }
        sim.advance_to(T0 + round * 2 * 60 * MIN + 60 * MIN);
    }
    assert!(sim.engine.vids.len() <= 2000, "{} view ids left", sim.engine.vids.len());
    assert_eq!(sim.totals("X").impressions, 6000);
}
