//! Every example sequence of the pingback spec (seeds/003), walked event by event, with
//! the exact counters it must produce.

use engage_model::pingback::EventKind::{self, *};

use super::*;

const HOUR: i64 = 60 * MIN;

/// `initialized` at `t`, then `firstplay 0` and `play 0` one second later (level 2).
fn load_and_play(sim: &mut Sim, p: Player, t: i64) {
    assert_eq!(p.send(sim, Initialized, 0, t), Outcome::Counted);
    assert_eq!(p.send(sim, Firstplay, 0, t + SEC), Outcome::Counted);
    assert_eq!(p.send(sim, Play, 0, t + SEC), Outcome::Counted);
}

/// Sends `update` at each of `percents`, six seconds apart from `t`; returns the last time.
fn updates(sim: &mut Sim, p: Player, percents: impl IntoIterator<Item = u8>, mut t: i64) -> i64 {
    for pct in percents {
        t += 6 * SEC;
        assert_eq!(p.send(sim, Update, pct, t), Outcome::Counted, "update {pct}");
    }
    t
}

fn steps(from: u8, to: u8) -> impl Iterator<Item = u8> {
    (from..=to).step_by(10)
}

fn send_all(sim: &mut Sim, p: Player, events: &[(EventKind, u8)], mut t: i64) -> i64 {
    for &(kind, pct) in events {
        t += 5 * SEC;
        assert_eq!(p.send(sim, kind, pct, t), Outcome::Counted, "{kind} {pct}");
    }
    t
}

#[test]
fn player_loaded_level1() {
    let mut sim = Sim::new();
    let p = Player::new("X", "A", 1).level1();
    assert_eq!(p.send(&mut sim, Initialized, 0, T0), Outcome::Counted);
    sim.advance_to(T0 + 2 * HOUR);
    let c = sim.totals("X");
    assert_eq!((c.impressions, c.plays, c.engaged_plays, c.active_views), (1, 0, 0, 0));
    assert_eq!((c.abandons, c.ignored, c.duplicates), (0, 0, 0));
    assert_eq!(c.exits, hist(&[]));
    assert_eq!(sim.engine.open_views(), 1, "the idle view was evicted silently; the clock's stays");
}

#[test]
fn first_play_without_preroll() {
    let mut sim = Sim::new();
    let p = Player::new("X", "A", 7);
    load_and_play(&mut sim, p, T0 + 10 * SEC);
    let w = sim.window("X", "A", T0);
    let c = &w.0;
    assert_eq!((c.impressions, c.plays, c.engaged_plays, c.active_views), (1, 1, 1, 1));
    assert_eq!(c.retention, retention_of(&[]));
    assert_eq!(w.1, BTreeSet::from([7]));
}

#[test]
fn first_play_after_preroll_lands_in_the_later_window() {
    let mut sim = Sim::new();
    let p = Player::new("X", "A", 7);
    assert_eq!(p.send(&mut sim, Initialized, 0, T0 + 50 * SEC), Outcome::Counted);
    // A 30 s preroll: firstplay and play come only when the main video starts.
    assert_eq!(p.send(&mut sim, Firstplay, 0, T0 + 80 * SEC), Outcome::Counted);
    assert_eq!(p.send(&mut sim, Play, 0, T0 + 80 * SEC), Outcome::Counted);
    let w0 = sim.window("X", "A", T0);
    assert_eq!((w0.0.impressions, w0.0.plays, w0.0.active_views), (1, 0, 0));
    assert!(w0.1.is_empty());
    let w1 = sim.window("X", "A", T0 + MIN);
    let c = &w1.0;
    assert_eq!((c.impressions, c.plays, c.engaged_plays, c.active_views), (0, 1, 1, 1));
    assert_eq!(w1.1, BTreeSet::from([7]));
}

#[test]
fn level1_only_firstplay_without_initialized() {
    let mut sim = Sim::new();
    let alone = Player::new("X", "A", 1).level1();
    assert_eq!(alone.send(&mut sim, Firstplay, 0, T0 + SEC), Outcome::Counted);
    let both = Player::new("X", "A", 2).level1();
    assert_eq!(both.send(&mut sim, Initialized, 0, T0 + 2 * SEC), Outcome::Counted);
    assert_eq!(both.send(&mut sim, Firstplay, 0, T0 + 3 * SEC), Outcome::Counted);
    sim.advance_to(T0 + 2 * HOUR);
    let c = sim.totals("X");
    assert_eq!((c.impressions, c.plays, c.engaged_plays), (1, 2, 0));
    // Level-1 views are active only in the window of their firstplay, and never abandoned.
    assert_eq!((c.active_views, c.abandons, c.completions), (2, 0, 0));
    assert_eq!(c.exits, hist(&[]));
    assert_eq!(sim.window("X", "A", T0).1, BTreeSet::from([1, 2]));
}

#[test]
fn checkpoints() {
    let mut sim = Sim::new();
    let p = Player::new("X", "A", 1);
    load_and_play(&mut sim, p, T0);
    updates(&mut sim, p, steps(10, 90), T0 + SEC);
    let c = sim.totals("X");
    assert_eq!(c.retention, retention_of(&[(0, 90)]));
    assert_eq!((c.completions, c.pauses, c.duplicates), (0, 0, 0));
    assert_eq!(c.exits, hist(&[]));
}

#[test]
fn pause_and_resume() {
    let mut sim = Sim::new();
    let p = Player::new("X", "A", 1);
    load_and_play(&mut sim, p, T0);
    let t = updates(&mut sim, p, steps(10, 40), T0 + SEC);
    send_all(&mut sim, p, &[(Pause, 42), (Resume, 42), (Update, 50)], t);
    let c = sim.totals("X");
    assert_eq!(c.pauses, 1);
    assert_eq!(c.retention, retention_of(&[(0, 50)]));
    assert_eq!((c.seek_from.clone(), c.seek_to.clone()), (hist(&[]), hist(&[])));
}

#[test]
fn seek_while_playing() {
    let mut sim = Sim::new();
    let p = Player::new("X", "A", 1);
    load_and_play(&mut sim, p, T0);
    let t = updates(&mut sim, p, steps(10, 40), T0 + SEC);
    send_all(&mut sim, p, &[(Seekfrom, 42), (Seekto, 74), (Update, 80)], t);
    let c = sim.totals("X");
    assert_eq!(c.seek_from, hist(&[(42, 1)]));
    assert_eq!(c.seek_to, hist(&[(74, 1)]));
    assert_eq!(c.retention, retention_of(&[(0, 42), (74, 80)]));
    assert_eq!(c.pauses, 0);
}

#[test]
fn seek_while_paused_is_not_a_seek_and_not_watched_twice() {
    let mut sim = Sim::new();
    let p = Player::new("X", "A", 1);
    load_and_play(&mut sim, p, T0);
    let t = updates(&mut sim, p, steps(10, 40), T0 + SEC);
    // pause at 42, seek to 37 while paused (nothing sent), resume at 37.
    send_all(&mut sim, p, &[(Pause, 42), (Resume, 37), (Update, 50)], t);
    let c = sim.totals("X");
    assert_eq!(c.seek_from, hist(&[]));
    assert_eq!(c.seek_to, hist(&[]));
    assert_eq!(c.pauses, 1);
    assert_eq!(c.retention, retention_of(&[(0, 50)]), "37..42 counted once");
}

#[test]
fn completion() {
    let mut sim = Sim::new();
    let p = Player::new("X", "A", 1);
    load_and_play(&mut sim, p, T0);
    let t = updates(&mut sim, p, steps(10, 90), T0 + SEC);
    send_all(&mut sim, p, &[(Stop, 100)], t);
    sim.advance_to(T0 + 2 * HOUR);
    let c = sim.totals("X");
    assert_eq!(c.retention, retention_of(&[(0, 100)]));
    assert_eq!((c.completions, c.abandons), (1, 0));
    assert_eq!(c.exits, hist(&[(100, 1)]));
}

#[test]
fn close_while_playing() {
    let mut sim = Sim::new();
    let p = Player::new("X", "A", 1);
    load_and_play(&mut sim, p, T0);
    let t = updates(&mut sim, p, steps(10, 40), T0 + SEC);
    send_all(&mut sim, p, &[(Stop, 42)], t);
    sim.advance_to(T0 + 2 * HOUR);
    let c = sim.totals("X");
    assert_eq!(c.exits, hist(&[(42, 1)]));
    assert_eq!(c.retention, retention_of(&[(0, 42)]));
    assert_eq!((c.completions, c.abandons), (0, 0));
}

#[test]
fn close_while_paused_is_abandoned_after_the_timeout() {
    let mut sim = Sim::new();
    let p = Player::new("X", "A", 1);
    load_and_play(&mut sim, p, T0);
    let t = updates(&mut sim, p, steps(10, 40), T0 + SEC);
    let paused_at = send_all(&mut sim, p, &[(Pause, 42)], t);
    // Nothing is sent when a paused player is closed.
    sim.advance_to(paused_at + 29 * MIN);
    let c = sim.totals("X");
    assert_eq!((c.abandons, c.exits.clone()), (0, hist(&[])));
    sim.advance_to(paused_at + 31 * MIN);
    let abandoned = sim.window("X", "A", paused_at + 30 * MIN).0;
    assert_eq!(abandoned.abandons, 1);
    assert_eq!(abandoned.exits, hist(&[(42, 1)]));
    let c = sim.totals("X");
    assert_eq!((c.abandons, c.exits), (1, hist(&[(42, 1)])));
    // Paused is not playing: active only from the play (window 0) to the pause (window 0).
    assert_eq!(c.active_views, 1);
}

#[test]
fn restart_after_completion_completes_once() {
    let mut sim = Sim::new();
    let p = Player::new("X", "A", 1);
    load_and_play(&mut sim, p, T0);
    let t = updates(&mut sim, p, steps(10, 90), T0 + SEC);
    let t = send_all(&mut sim, p, &[(Stop, 100), (Play, 0)], t);
    let t = updates(&mut sim, p, steps(10, 90), t);
    send_all(&mut sim, p, &[(Stop, 100)], t);
    let c = sim.totals("X");
    assert_eq!((c.plays, c.engaged_plays, c.completions), (1, 1, 1));
    assert_eq!(c.retention, retention_of(&[(0, 100)]), "the second pass watches nothing new");
    assert_eq!(c.exits, hist(&[(100, 2)]), "each stop is an exit");
}

#[test]
fn duplicates() {
    let mut sim = Sim::new();
    let p = Player::new("X", "A", 1);
    assert_eq!(p.send(&mut sim, Initialized, 0, T0), Outcome::Counted);
    assert_eq!(p.send(&mut sim, Initialized, 0, T0 + SEC), Outcome::Duplicate);
    assert_eq!(p.send(&mut sim, Firstplay, 0, T0 + 2 * SEC), Outcome::Counted);
    assert_eq!(p.send(&mut sim, Play, 0, T0 + 2 * SEC), Outcome::Counted);
    let t = updates(&mut sim, p, steps(10, 30), T0 + 2 * SEC);
    assert_eq!(p.send(&mut sim, Update, 30, t + SEC), Outcome::Duplicate);
    // A second firstplay in the same view is a duplicate even when not consecutive.
    assert_eq!(p.send(&mut sim, Firstplay, 0, t + 2 * SEC), Outcome::Duplicate);
    assert_eq!(p.send(&mut sim, Update, 40, t + 6 * SEC), Outcome::Counted);
    let c = sim.totals("X");
    assert_eq!((c.impressions, c.plays, c.duplicates), (1, 1, 3));
    assert_eq!(c.retention, retention_of(&[(0, 40)]));
}

#[test]
fn level2_events_at_level1_are_ignored() {
    let mut sim = Sim::new();
    let p = Player::new("X", "A", 1).level1();
    assert_eq!(p.send(&mut sim, Initialized, 0, T0), Outcome::Counted);
    assert_eq!(p.send(&mut sim, Firstplay, 0, T0 + SEC), Outcome::Counted);
    assert_eq!(p.send(&mut sim, Play, 0, T0 + SEC), Outcome::Ignored);
    assert_eq!(p.send(&mut sim, Update, 10, T0 + 7 * SEC), Outcome::Ignored);
    assert_eq!(p.send(&mut sim, Update, 10, T0 + 8 * SEC), Outcome::Duplicate);
    assert_eq!(p.send(&mut sim, Pause, 12, T0 + 9 * SEC), Outcome::Ignored);
    sim.advance_to(T0 + 2 * HOUR);
    let c = sim.totals("X");
    assert_eq!((c.plays, c.engaged_plays, c.ignored, c.duplicates), (1, 0, 3, 1));
    assert_eq!((c.pauses, c.abandons, c.active_views), (0, 0, 1));
    assert_eq!(c.retention, retention_of(&[]));
    assert_eq!(c.exits, hist(&[]));
}

#[test]
fn view_ids_override_sessionization() {
    let mut sim = Sim::new();
    let a = Player::new("X", "A", 5).vid("view-a");
    let b = Player::new("X", "A", 5).vid("view-b");
    load_and_play(&mut sim, a, T0);
    updates(&mut sim, a, [10], T0 + SEC);
    // Same viewer, other vid: a new view that does not close view-a.
    load_and_play(&mut sim, b, T0 + 10 * SEC);
    updates(&mut sim, a, [20], T0 + 7 * SEC);
    let w = sim.window("X", "A", T0);
    let c = &w.0;
    assert_eq!((c.impressions, c.plays, c.engaged_plays, c.abandons), (2, 2, 2, 0));
    assert_eq!(c.active_views, 2);
    assert_eq!(c.retention, retention_of(&[(0, 20)]));
    assert_eq!(w.1, BTreeSet::from([5]), "one viewer, two views");
    assert_eq!(sim.engine.open_views(), 2);
}

#[test]
fn new_initialized_abandons_the_playing_view() {
    let mut sim = Sim::new();
    let p = Player::new("X", "A", 1);
    load_and_play(&mut sim, p, T0);
    updates(&mut sim, p, [10, 20], T0 + SEC);
    let reload = T0 + 2 * MIN + 5 * SEC;
    assert_eq!(p.send(&mut sim, Initialized, 0, reload), Outcome::Counted);
    let w = sim.window("X", "A", reload).0;
    assert_eq!((w.impressions, w.abandons), (1, 1));
    assert_eq!(w.exits, hist(&[(20, 1)]));
    assert_eq!(w.active_views, 1, "playing until the reload");
    // The new view has no play: its level-2 events are orphans, not attributed to a play.
    assert_eq!(p.send(&mut sim, Update, 30, reload + 6 * SEC), Outcome::Orphan);
    let c = sim.totals("X");
    assert_eq!((c.impressions, c.plays, c.abandons, c.orphans), (2, 1, 1, 1));
    assert_eq!(c.retention, retention_of(&[(0, 20)]));
    assert_eq!(c.active_views, 3, "windows 0, 1 and 2");
}

#[test]
fn event_after_the_timeout_hits_a_fresh_view() {
    let mut sim = Sim::new();
    let p = Player::new("X", "A", 1);
    load_and_play(&mut sim, p, T0);
    let t = updates(&mut sim, p, [10, 20, 30, 40], T0 + SEC);
    let paused_at = send_all(&mut sim, p, &[(Pause, 42)], t);
    // Resumed 40 minutes later, with nothing else moving the watermark in between: the old
    // view was abandoned at its timeout, and the resume starts a new view implicitly (an
    // orphan that counts a play, as level 1 allows).
    let resumed = paused_at + 40 * MIN;
    assert_eq!(p.send(&mut sim, Resume, 42, resumed), Outcome::Orphan);
    let abandoned = sim.window("X", "A", paused_at + 30 * MIN).0;
    assert_eq!((abandoned.abandons, abandoned.exits), (1, hist(&[(42, 1)])));
    assert_eq!(p.send(&mut sim, Update, 50, resumed + 6 * SEC), Outcome::Counted);
    let c = sim.totals("X");
    assert_eq!((c.impressions, c.plays, c.engaged_plays, c.orphans), (1, 2, 2, 1));
    assert_eq!(c.retention, retention_of(&[(0, 50)]));
}

#[test]
fn restart_minutes_after_completion_keeps_the_view() {
    // The stopped view settles (cold map) while the watermark moves on; a restart finds it.
    let mut sim = Sim::new();
    let p = Player::new("X", "A", 1);
    load_and_play(&mut sim, p, T0);
    let t = updates(&mut sim, p, steps(10, 90), T0 + SEC);
    let stopped = send_all(&mut sim, p, &[(Stop, 100)], t);
    let other = Player::new("Y", "A", 2);
    for k in 1..=5 {
        other.send(&mut sim, Initialized, 0, stopped + k * MIN);
        other.send(&mut sim, Initialized, 10 * k as u8, stopped + k * MIN);
    }
    assert_eq!(sim.engine.open_views(), 2);
    let t = send_all(&mut sim, p, &[(Play, 0)], stopped + 5 * MIN);
    let t = updates(&mut sim, p, steps(10, 90), t);
    send_all(&mut sim, p, &[(Stop, 100)], t);
    let c = sim.totals("X");
    assert_eq!((c.impressions, c.plays, c.completions, c.abandons), (1, 1, 1, 0));
    assert_eq!(c.retention, retention_of(&[(0, 100)]));
    assert_eq!(c.exits, hist(&[(100, 2)]));
}
