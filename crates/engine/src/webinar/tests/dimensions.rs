//! Bounded dimensions in the analytics half: page names past the per-window cap count under
//! `(other)`; event types keep the most frequent per window, whatever the arrival order.

use super::*;
use engage_model::dimension::{Dimension, MAX_EVENT_TYPES_PER_WINDOW, MAX_PAGE_NAMES_PER_WINDOW, OTHER};

#[test]
fn page_names_past_the_cap_count_under_other() {
    let mut e = engine();
    let mut state = State::default();
    let extra = 5;
    for i in 0..MAX_PAGE_NAMES_PER_WINDOW + extra {
        let page = Call { call: CallType::Page, position: i as u64, ..track(&format!("p{i}"), "a", 0, json!({})) };
        assert_eq!(record(&mut e, &page), AnalyticsOutcome::Aggregated);
    }
    // a name admitted before still keeps its name
    let again = Call { call: CallType::Page, position: 9999, ..track("p0", "a", SEC, json!({})) };
    record(&mut e, &again);
    state.absorb(e.flush_analytics());
    let names: BTreeSet<&str> = state.pages.values().map(|p| p.name.as_str()).collect();
    assert_eq!(names.len(), MAX_PAGE_NAMES_PER_WINDOW + 1);
    let other: u64 = state.pages.values().filter(|p| p.name == OTHER).map(|p| p.views).sum();
    assert_eq!(other, extra as u64);
    let p0: u64 = state.pages.values().filter(|p| p.name == "p0").map(|p| p.views).sum();
    assert_eq!(p0, 2);
    assert_eq!(e.take_cardinality_overflow().get(Dimension::PageName), extra as u64);
}

#[test]
fn event_types_keep_the_most_frequent_whatever_the_order() {
    let n = MAX_EVENT_TYPES_PER_WINDOW + 10;
    let mut calls = vec![ev("Session Started", "host", 0)];
    for i in 0..n {
        // type i is sent i + 1 times: the rarest ones fold into (other)
        for k in 0..=i {
            calls.push(typed("User Engaged", &format!("u{k}"), SEC + (i * 100 + k) as i64, &format!("t{i:03}")));
        }
    }
    let total = calls.len() as u64 - 1;
    let s = run(&calls);
    let w = &s.window(0).counts.engagements;
    assert_eq!(w.len(), MAX_EVENT_TYPES_PER_WINDOW);
    assert_eq!(w.values().sum::<u64>(), total, "every engagement still counted");
    assert!(w.contains_key(OTHER) && w.contains_key(&format!("t{:03}", n - 1)) && !w.contains_key("t000"));
    assert_eq!(s.summary().engagements.len(), MAX_EVENT_TYPES_PER_WINDOW);
    let mut reversed = calls.clone();
    reversed[1..].reverse();
    assert_eq!(run(&reversed), s, "a function of the set of events");
}

#[test]
fn folded_event_types_are_counted_once_when_their_window_goes_final() {
    let mut e = engine();
    record(&mut e, &ev("Session Started", "host", 0));
    for i in 0..MAX_EVENT_TYPES_PER_WINDOW + 3 {
        record(&mut e, &typed("User Engaged", "a", SEC + i as i64, &format!("t{i:03}")));
    }
    e.flush_analytics();
    assert_eq!(e.take_cardinality_overflow().get(Dimension::EventType), 0, "not final yet");
    // past the lateness horizon: the window goes final
    record(&mut e, &ev("User Joined", "late", 50 * HOUR));
    e.flush_analytics();
    assert_eq!(e.take_cardinality_overflow().get(Dimension::EventType), 4, "the cap keeps one slot for (other)");
    e.flush_analytics();
    assert_eq!(e.take_cardinality_overflow().get(Dimension::EventType), 0, "once");
}
