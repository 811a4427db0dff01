//! Bounded dimensions in the video half: applications past the per-window cap count under
//! `(other)`, items never do, and corrections retract from where they added.

use super::*;
use engage_model::dimension::{Dimension, MAX_APPS_PER_ITEM_WINDOW, OTHER};

const APPS: usize = MAX_APPS_PER_ITEM_WINDOW + 10;

fn app_name(i: usize) -> &'static str {
    Box::leak(format!("Vendor/App{i:03}").into_boxed_str())
}

#[test]
fn applications_past_the_cap_count_under_other_and_totals_stay_exact() {
    let mut sim = Sim::new();
    for i in 0..APPS {
        let p = Player::new("video-1", app_name(i), i as u64 + 1);
        p.send(&mut sim, EventKind::Initialized, 0, T0 + i as i64);
        p.send(&mut sim, EventKind::Firstplay, 0, T0 + i as i64 + 1);
    }
    sim.flush();
    let sums = sim.store.sums();
    let apps: BTreeSet<&str> = sums.keys().filter(|(item, ..)| item == "video-1").map(|(_, a, _)| a.as_str()).collect();
    assert_eq!(apps.len(), MAX_APPS_PER_ITEM_WINDOW + 1, "the cap, and (other)");
    assert!(apps.contains(OTHER));
    let other = &sums[&("video-1".to_owned(), OTHER.to_owned(), T0)];
    assert_eq!((other.impressions, other.plays), (10, 10));
    let t = sim.store.totals("video-1");
    assert_eq!((t.impressions, t.plays), (APPS as i64, APPS as i64), "nothing lost");
    let overflow = sim.engine.take_cardinality_overflow();
    assert_eq!(overflow.get(Dimension::App), 20, "two events of each of the ten");
    assert_eq!(sim.engine.take_cardinality_overflow().get(Dimension::App), 0);
}

#[test]
fn items_are_never_capped_and_other_windows_have_their_own_quota() {
    let mut sim = Sim::new();
    for i in 0..APPS {
        let item: &'static str = Box::leak(format!("item-{i}").into_boxed_str());
        Player::new(item, app_name(i), 1).send(&mut sim, EventKind::Initialized, 0, T0);
        Player::new("video-1", app_name(i), i as u64 + 1).send(
            &mut sim,
            EventKind::Initialized,
            0,
            T0 + MIN + i as i64,
        );
    }
    sim.flush();
    let sums = sim.store.sums();
    assert_eq!(sums.keys().filter(|(item, ..)| item.starts_with("item-")).count(), APPS);
    assert!(
        sums.keys().filter(|(item, ..)| item.starts_with("item-")).all(|(_, app, _)| app != OTHER),
        "one application per item and window: nothing over the cap"
    );
    let in_second = sums.keys().filter(|(item, _, start)| item == "video-1" && *start == T0 + MIN).count();
    assert_eq!(in_second, MAX_APPS_PER_ITEM_WINDOW + 1, "a window of its own: the cap, and (other)");
}

#[test]
fn a_view_under_other_is_corrected_under_other() {
    let mut sim = Sim::new();
    for i in 0..MAX_APPS_PER_ITEM_WINDOW {
        Player::new("video-1", app_name(i), i as u64 + 1).send(&mut sim, EventKind::Initialized, 0, T0);
    }
    let late = Player::new("video-1", "Late/Comer", 999);
    late.send(&mut sim, EventKind::Initialized, 0, T0 + SEC);
    late.send(&mut sim, EventKind::Stop, 50, T0 + 20 * SEC);
    // Out of player order: the view is re-derived, retracting what it added.
    assert_eq!(late.send(&mut sim, EventKind::Firstplay, 0, T0 + 2 * SEC), Outcome::Reordered);
    late.send(&mut sim, EventKind::Play, 10, T0 + 10 * SEC);
    sim.advance_to(T0 + 2 * HOUR);
    let sums = sim.store.sums();
    assert!(!sums.keys().any(|(_, app, _)| app == "Late/Comer"));
    let other = &sums[&("video-1".to_owned(), OTHER.to_owned(), T0)];
    assert_eq!((other.impressions, other.plays), (1, 1));
    for (key, c) in sim.store.rows.iter().filter(|((_, app, ..), _)| app == OTHER) {
        assert!(c.1.impressions >= 0 && c.1.plays >= 0, "{key:?}: {:?}", c.1);
    }
}
