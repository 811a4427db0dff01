//! Real-world disorder, hand-worked: racing requests, slow clocks, late and overlapping
//! logs, views that left memory, midnight. Each test compares against the numbers the view
//! really had.

use engage_model::pingback::EventKind::{self, *};

use super::*;

/// A level-2 view watching 0..45, seeking 45 → 50 while playing, watching to 60, stopping.
/// Events as the player stamped them (`ts`), each seen by the edge 1 s later.
fn seek_view(t: i64) -> Vec<(EventKind, u8, i64)> {
    let mut out = vec![(Initialized, 0, t), (Firstplay, 0, t + SEC), (Play, 0, t + SEC)];
    for (k, pct) in [10u8, 20, 30, 40].into_iter().enumerate() {
        out.push((Update, pct, t + 6 * SEC * (k as i64 + 1)));
    }
    out.extend([
        (Seekfrom, 45, t + 28 * SEC),
        (Seekto, 50, t + 28 * SEC + 100),
        (Update, 60, t + 36 * SEC),
        (Stop, 60, t + 37 * SEC),
    ]);
    out
}

fn send_view(sim: &mut Sim, p: Player, events: &[(EventKind, u8, i64)]) {
    for &(kind, pct, ts) in events {
        sim.record(&p.stamped(kind, pct, ts, ts + SEC));
    }
}

#[test]
fn seekto_racing_ahead_of_its_seekfrom_gives_the_watched_segments() {
    let p = Player::new("X", "A", 1);
    let in_order = seek_view(T0);
    let mut raced = in_order.clone();
    raced.swap(7, 8); // the seekto overtook its seekfrom on another connection
    let mut sims = [Sim::new(), Sim::new()];
    send_view(&mut sims[0], p, &in_order);
    // The edge saw them in the raced order, at the same edge times.
    for &(kind, pct, ts) in &raced {
        let edge = if kind == Seekfrom { ts + SEC + 50 } else { ts + SEC };
        sims[1].record(&p.stamped(kind, pct, ts, edge));
    }
    for sim in &mut sims {
        let c = sim.totals("X");
        assert_eq!(c.retention, retention_of(&[(0, 45), (50, 60)]), "55 segments watched");
        assert_eq!((c.seek_from.clone(), c.seek_to.clone()), (hist(&[(45, 1)]), hist(&[(50, 1)])));
        assert_eq!(c.exits, hist(&[(60, 1)]));
    }
}

#[test]
fn resume_before_its_pause_and_firstplay_before_its_initialized() {
    let p = Player::new("X", "A", 1);
    let events = [
        (Initialized, 0, T0),
        (Firstplay, 0, T0),
        (Play, 0, T0),
        (Update, 10, T0 + 6 * SEC),
        (Pause, 12, T0 + 8 * SEC),
        (Resume, 12, T0 + 8 * SEC),
        (Update, 20, T0 + 14 * SEC),
    ];
    let mut order: Vec<usize> = (0..events.len()).collect();
    order.swap(0, 1); // firstplay first, same ts
    order.swap(4, 5); // resume first, same ts
    let mut sim = Sim::new();
    for i in order {
        let (kind, pct, ts) = events[i];
        sim.record(&p.stamped(kind, pct, ts, ts + SEC));
    }
    sim.advance_to(T0 + 3 * HOUR);
    let c = sim.totals("X");
    assert_eq!((c.impressions, c.plays, c.pauses), (1, 1, 1));
    assert_eq!(c.retention, retention_of(&[(0, 20)]));
    // Left playing at 20 (no stop), abandoned once at the timeout: not a phantom second one.
    assert_eq!((c.abandons, c.exits), (1, hist(&[(20, 1)])));
}

#[test]
fn a_slow_player_clock_loses_nothing() {
    // Other players keep time moving; this one's clock runs six minutes slow.
    let mut sim = Sim::new();
    let slow = Player::new("X", "A", 1);
    let other = Player::new("Y", "A", 2);
    for (k, (kind, pct, ts)) in seek_view(T0).into_iter().enumerate() {
        let edge = ts + SEC;
        other.send(&mut sim, Initialized, k as u8, edge);
        assert_ne!(sim.record(&slow.stamped(kind, pct, ts - 6 * MIN, edge)), Outcome::NeedsArchive);
    }
    let c = sim.totals("X");
    assert_eq!((c.impressions, c.plays, c.completions), (1, 1, 0));
    assert_eq!(c.retention, retention_of(&[(0, 45), (50, 60)]));
    // Counted in the windows of edge time, not six minutes earlier.
    assert_eq!(sim.window("X", "A", T0).0.impressions, 1);
}

#[test]
fn a_second_log_file_of_the_same_hour_shipped_later_counts() {
    let mut sim = Sim::new();
    // Edge 1's file: viewers 1..=20; edge 2's file, shipped two hours later: viewers 21..=40.
    let file = |viewers: std::ops::RangeInclusive<u64>| {
        viewers.map(|v| (Player::new("X", "A", v), T0 + v as i64 * 30 * SEC)).collect::<Vec<_>>()
    };
    for (p, t) in file(1..=20) {
        send_view(&mut sim, p, &seek_view(t));
    }
    sim.advance_to(T0 + 3 * HOUR);
    for (p, t) in file(21..=40) {
        send_view(&mut sim, p, &seek_view(t));
    }
    sim.advance_to(T0 + 4 * HOUR);
    let c = sim.totals("X");
    assert_eq!((c.impressions, c.plays, c.abandons), (40, 40, 0));
    assert_eq!(c.retention.iter().sum::<i64>(), 40 * 55);
    let viewers: BTreeSet<u64> = sim.store.present().values().flatten().copied().collect();
    assert_eq!(viewers.len(), 40);
}

#[test]
fn a_late_stop_for_a_view_that_left_memory_corrects_its_abandonment() {
    let p = Player::new("X", "A", 1);
    let view = seek_view(T0);
    let (last, early) = view.split_last().expect("events");
    // On time: the whole view.
    let mut on_time = Sim::new();
    send_view(&mut on_time, p, &view);
    on_time.advance_to(T0 + 30 * HOUR);
    // Its stop arrives 29 hours late (a CDN log of another edge): the view had been abandoned
    // at its timeout and archived; the stop re-derives it.
    let mut late = Sim::new();
    send_view(&mut late, p, early);
    late.advance_to(T0 + 29 * HOUR);
    let abandoned = late.totals("X");
    assert_eq!((abandoned.abandons, abandoned.exits.clone()), (1, hist(&[(60, 1)])));
    assert_eq!(late.engine.open_views(), 1, "only the clock's timeline is left in memory");
    let (kind, pct, ts) = *last;
    assert_eq!(late.record(&p.stamped(kind, pct, ts, ts + SEC)), Outcome::Late);
    assert_eq!(late.engine.archive_stats().1, 1, "restored from the archive");
    late.advance_to(T0 + 30 * HOUR);
    assert_eq!(
        late.store.sums().get(&("X".into(), "A".into(), T0)),
        on_time.store.sums().get(&("X".into(), "A".into(), T0))
    );
    assert_eq!(late.totals("X"), on_time.totals("X"));
    assert_eq!(late.store.present(), on_time.store.present());
    // Shipped again: every line a repeat, nothing changes.
    let before = late.store.sums();
    for &(kind, pct, ts) in &view {
        assert_eq!(late.record(&p.stamped(kind, pct, ts, ts + SEC)), Outcome::Repeat);
    }
    late.flush();
    assert_eq!(late.store.sums(), before);
}

#[test]
fn a_view_crossing_midnight_stays_one_view_in_either_arrival_order() {
    let midnight = (T0 / (24 * HOUR) + 1) * 24 * HOUR;
    let start = midnight - 2 * MIN;
    let events: Vec<(EventKind, u8, i64)> = [
        (Initialized, 0),
        (Firstplay, 0),
        (Play, 0),
        (Update, 10),
        (Update, 20),
        (Update, 30),
        (Update, 40),
        (Stop, 50),
    ]
    .into_iter()
    .enumerate()
    .map(|(k, (kind, pct))| (kind, pct, start + k as i64 * 30 * SEC))
    .collect();
    // Yesterday's key before midnight; today's, carrying yesterday's as prev, after.
    let (yesterday, today) = (11u64, 22u64);
    let as_sent = |&(kind, pct, ts): &(EventKind, u8, i64)| {
        let mut ev = Player::new("X", "A", yesterday).at(kind, pct, ts);
        if ts >= midnight {
            ev.viewer = today;
            ev.prev_viewer = yesterday;
        }
        ev
    };
    let mut results = Vec::new();
    for reversed in [false, true] {
        let mut sim = Sim::new();
        let mut order = events.clone();
        if reversed {
            order.reverse();
        }
        for ev in &order {
            sim.record(&as_sent(ev));
        }
        sim.advance_to(midnight + 2 * HOUR);
        let c = sim.totals("X");
        assert_eq!((c.impressions, c.plays, c.abandons, c.orphans), (1, 1, 0, 0), "reversed: {reversed}");
        assert_eq!(c.retention, retention_of(&[(0, 50)]));
        assert_eq!(c.exits, hist(&[(50, 1)]));
        results.push((sim.store.sums(), sim.store.present()));
    }
    assert_eq!(results[0], results[1]);
    // The play happened before midnight: one unique viewer, yesterday's.
    let viewers: BTreeSet<u64> = results[0].1.values().flatten().copied().collect();
    assert_eq!(viewers, BTreeSet::from([yesterday]));
}

#[test]
fn orphans_are_counted_and_a_play_starts_the_view() {
    let mut sim = Sim::new();
    let p = Player::new("X", "A", 1);
    // The firstplay was lost: an update and a pause are orphans; a resume starts the view.
    assert_eq!(p.send(&mut sim, Update, 10, T0), Outcome::Orphan);
    assert_eq!(p.send(&mut sim, Pause, 12, T0 + SEC), Outcome::Orphan);
    assert_eq!(p.send(&mut sim, Resume, 12, T0 + 2 * SEC), Outcome::Orphan);
    assert_eq!(p.send(&mut sim, Update, 20, T0 + 8 * SEC), Outcome::Counted);
    assert_eq!(p.send(&mut sim, Stop, 25, T0 + 10 * SEC), Outcome::Counted);
    let c = sim.totals("X");
    assert_eq!((c.impressions, c.plays, c.engaged_plays, c.orphans), (0, 1, 1, 3));
    assert_eq!(c.retention, retention_of(&[(12, 25)]));
    assert_eq!(c.exits, hist(&[(25, 1)]));
    assert_eq!(sim.window("X", "A", T0).1, BTreeSet::from([1]));
}

#[test]
fn level_two_or_higher_and_level_one_views_mix() {
    // A level-1 view receiving level-2 events: ignored, not orphans (its play was level 1).
    let mut sim = Sim::new();
    let one = Player::new("X", "A", 1).level1();
    one.send(&mut sim, Firstplay, 0, T0);
    let two = Player::new("X", "A", 1);
    assert_eq!(two.send(&mut sim, Update, 10, T0 + 6 * SEC), Outcome::Ignored);
    let c = sim.totals("X");
    assert_eq!((c.plays, c.engaged_plays, c.ignored, c.orphans), (1, 0, 1, 0));
}
