//! Bots' views: counted in `bot_impressions` and `bot_plays`, in no human metric, whatever
//! the order their events arrive in.

use engage_model::pingback::EventKind::*;
use engage_model::rollup::VideoCounters;

use super::*;

/// A full level-2 view: load, play, watch to the end, stop.
fn full_view(sim: &mut Sim, p: Player, t: i64) {
    let events = [
        (Initialized, 0, t),
        (Firstplay, 0, t + SEC),
        (Play, 0, t + SEC),
        (Update, 25, t + 20 * SEC),
        (Pause, 30, t + 25 * SEC),
        (Resume, 30, t + 30 * SEC),
        (Seekfrom, 40, t + 40 * SEC),
        (Seekto, 60, t + 41 * SEC),
        (Update, 80, t + 70 * SEC),
        (Stop, 100, t + 90 * SEC),
    ];
    for (kind, pct, at) in events {
        p.send(sim, kind, pct, at);
    }
}

/// Everything but the bot counters is zero.
fn only_bot_counts(c: &VideoCounters) -> (i64, i64) {
    let human = VideoCounters { bot_impressions: 0, bot_plays: 0, ..c.clone() };
    assert!(human.is_zero(), "a bot touched a human metric: {human:?}");
    (c.bot_impressions, c.bot_plays)
}

#[test]
fn a_bots_view_counts_only_as_a_bot_impression_and_play() {
    let mut sim = Sim::new();
    full_view(&mut sim, Player::new("X", "A", 1).bot(), T0);
    full_view(&mut sim, Player::new("X", "A", 2).bot(), T0 + 10 * SEC);
    sim.advance_to(T0 + 2 * HOUR);
    assert_eq!(only_bot_counts(&sim.totals("X")), (2, 2));
    assert!(sim.store.present().is_empty(), "a bot is no viewer");
}

#[test]
fn people_next_to_a_bot_count_as_without_it() {
    let mut with = Sim::new();
    full_view(&mut with, Player::new("X", "A", 1), T0);
    full_view(&mut with, Player::new("X", "A", 2).bot(), T0);
    let mut without = Sim::new();
    full_view(&mut without, Player::new("X", "A", 1), T0);
    for sim in [&mut with, &mut without] {
        sim.advance_to(T0 + 2 * HOUR);
    }
    let (w, wo) = (with.totals("X"), without.totals("X"));
    assert_eq!((w.bot_impressions, w.bot_plays), (1, 1));
    assert_eq!(VideoCounters { bot_impressions: 0, bot_plays: 0, ..w }, wo);
    assert_eq!((wo.impressions, wo.plays, wo.completions), (1, 1, 1));
    assert_eq!(with.store.present(), without.store.present());
}

#[test]
fn a_bots_view_left_playing_is_no_active_view_and_no_abandonment() {
    let mut sim = Sim::new();
    let bot = Player::new("X", "A", 1).bot();
    bot.send(&mut sim, Initialized, 0, T0);
    bot.send(&mut sim, Firstplay, 0, T0 + SEC);
    bot.send(&mut sim, Update, 10, T0 + 5 * MIN);
    for t in [T0 + 10 * MIN, T0 + 3 * HOUR] {
        sim.advance_to(t);
        assert_eq!(only_bot_counts(&sim.totals("X")), (1, 1));
    }
}

#[test]
fn a_shared_view_id_belongs_to_its_first_events_sender_in_any_arrival_order() {
    // The bot's `initialized` comes first in player order; a person's events join the view.
    let bot = Player::new("X", "A", 1).bot().vid("v1");
    let person = Player::new("X", "A", 2).vid("v1");
    let events = [
        (bot, Initialized, 0, T0),
        (person, Firstplay, 0, T0 + SEC),
        (person, Update, 50, T0 + 30 * SEC),
        (person, Stop, 100, T0 + 60 * SEC),
    ];
    let mut results = Vec::new();
    for order in [[0, 1, 2, 3], [3, 2, 1, 0], [1, 3, 0, 2]] {
        let mut sim = Sim::new();
        for i in order {
            let (p, kind, pct, t) = events[i];
            sim.record(&p.at(kind, pct, t));
        }
        sim.advance_to(T0 + 2 * HOUR);
        results.push(sim.totals("X"));
    }
    assert_eq!(only_bot_counts(&results[0]), (1, 1));
    assert!(results.iter().all(|r| *r == results[0]), "{results:?}");
}

#[test]
fn a_viewer_with_more_than_fifty_views_open_is_flagged_not_excluded() {
    let mut sim = Sim::new();
    let items: Vec<&'static str> = (0..60).map(|i| &*Box::leak(format!("i{i}").into_boxed_str())).collect();
    for (n, item) in items.iter().enumerate() {
        let p = Player::new(item, "A", 5).level1();
        p.send(&mut sim, Initialized, 0, T0 + n as i64 * SEC);
        p.send(&mut sim, Firstplay, 0, T0 + n as i64 * SEC + 100);
    }
    assert_eq!(sim.engine.take_implausible_viewers(), 1, "one viewer, one episode");
    assert_eq!(sim.engine.take_implausible_viewers(), 0, "taken");
    let plays: i64 = items.iter().map(|item| sim.totals(item).plays).sum();
    assert_eq!(plays, 60, "counted as every other viewer's");
    // A bot with as many views is counted apart already: not flagged again.
    for (n, item) in items.iter().enumerate() {
        Player::new(item, "A", 6).bot().level1().send(&mut sim, Initialized, 0, T0 + n as i64 * SEC);
    }
    assert_eq!(sim.engine.take_implausible_viewers(), 0);
    sim.advance_to(T0 + 3 * HOUR);
    assert_eq!(sim.engine.tracked_viewers(), 1, "idle viewers are forgotten; the clock's is not idle");
}
