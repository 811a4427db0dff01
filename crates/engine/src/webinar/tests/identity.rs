//! One person, two ids: an attendee known first by `anonymousId` and later by `userId`
//! counts once, whatever the order in which the link arrives.

use super::*;

/// a1 joins anonymously, then (identified as u1) engages; `link` says they are one person.
fn anonymous_then_identified(link: Call, link_first: bool) -> State {
    let joined = ev("User Joined", "a1", 0).anonymous();
    let engaged = typed("User Engaged", "u1", 5 * MIN, "poll");
    let left = ev("User Left", "u1", 10 * MIN);
    let calls = if link_first { vec![link, joined, engaged, left] } else { vec![joined, engaged, left, link] };
    run(&calls)
}

#[test]
fn an_anonymous_join_identified_later_counts_once_in_either_order() {
    for link_first in [false, true] {
        for link in [identify("u1", "a1", MIN), alias("a1", "u1", MIN)] {
            let what = format!("{:?} first={link_first}", link.call);
            let s = anonymous_then_identified(link, link_first);
            let sum = s.summary();
            assert_eq!((sum.unique_attendees, sum.engaged_attendees), (1, 1), "{what}");
            assert_eq!(sum.attendance_ms, (10 * MIN) as u64, "{what}: one presence, join to leave");
            assert_eq!(jlap(s.window(0)), (1, 0, 1, 1), "{what}");
        }
    }
}

#[test]
fn a_link_arriving_late_merges_attendees_already_counted() {
    let mut e = engine();
    let mut state = State::default();
    record(&mut e, &ev("User Joined", "a1", 0).anonymous());
    record(&mut e, &ev("User Joined", "u1", MIN));
    record(&mut e, &ev("User Left", "u1", 3 * MIN));
    state.absorb(e.flush_analytics());
    assert_eq!(state.summary().unique_attendees, 2);
    // the identify call, stamped later, arrives: the two were one person all along
    record(&mut e, &identify("u1", "a1", 4 * MIN));
    state.absorb(e.flush_analytics());
    assert_eq!((state.summary().unique_attendees, state.summary().attendance_ms), (1, (3 * MIN) as u64));
    assert_eq!(jlap(state.window(MIN)), (0, 0, 1, 1), "the second join is part of the first presence");
}

#[test]
fn an_sdk_call_carrying_both_ids_links_them() {
    // after identify, analytics.js sends both ids on every call
    let mut both = ev("User Engaged", "u1", MIN);
    both.anon = Some("a1".into());
    let s = run(&[ev("User Joined", "a1", 0).anonymous(), both, ev("User Left", "u1", 2 * MIN)]);
    assert_eq!((s.summary().unique_attendees, s.summary().engaged_attendees), (1, 1));
}

#[test]
fn links_chain_through_several_ids() {
    let s = run(&[
        ev("User Joined", "a1", 0).anonymous(),
        ev("User Joined", "a2", MIN).anonymous(),
        ev("User Joined", "u1", 2 * MIN),
        identify("u1", "a2", 3 * MIN),
        alias("a1", "a2", 3 * MIN).anonymous(),
    ]);
    // the alias came from an anonymous caller: previousId a1 → its own userId is absent, so
    // only identify links here; a1 stays apart
    assert_eq!(s.summary().unique_attendees, 2);
    let s = run(&[
        ev("User Joined", "a1", 0).anonymous(),
        ev("User Joined", "a2", MIN).anonymous(),
        ev("User Joined", "u1", 2 * MIN),
        identify("u1", "a2", 3 * MIN),
        alias("a1", "u1", 3 * MIN),
    ]);
    assert_eq!(s.summary().unique_attendees, 1);
}

#[test]
fn sources_are_tenants() {
    // the same userId and session id under two sources: two sessions, one attendee each
    let s = run(&[ev("User Joined", "u1", 0), ev("User Joined", "u1", MIN).source("other-key")]);
    assert_eq!(s.summary().unique_attendees, 1);
    assert_eq!(s.summary_in("other-key", "s1").unique_attendees, 1);
    assert_eq!(s.summary_in("other-key", "s1").source, "other-key");
    // and a link in one source does not join ids of another
    let s = run(&[
        ev("User Joined", "a1", 0).anonymous().source("other-key"),
        ev("User Joined", "u1", MIN),
        ev("User Joined", "a1", MIN).anonymous(),
        identify("u1", "a1", 2 * MIN).source("other-key"),
    ]);
    assert_eq!(s.summary().unique_attendees, 2);
}

#[test]
fn an_erasure_forgets_the_person_and_every_linked_id_but_not_the_counts() {
    let mut e = engine();
    let mut state = State::default();
    record(&mut e, &ev("User Joined", "a1", 0).anonymous());
    record(&mut e, &identify("u1", "a1", MIN));
    record(&mut e, &ev("User Joined", "u2", MIN));
    record(&mut e, &ev("User Joined", "u1", MIN).source("other-key"));
    state.absorb(e.flush_analytics());
    assert_eq!(state.summary().unique_attendees, 2);
    let erased = e.erase_analytics(SOURCE, &["u1".to_string()]);
    assert_eq!(erased, Erased { ids: vec!["a1".to_string(), "u1".to_string()], persons: 1 });
    // nothing else: not u2, not the other source's u1; an unknown id or source is no error
    assert_eq!(e.erase_analytics(SOURCE, &["nobody".to_string()]), Erased::default());
    assert_eq!(e.erase_analytics("unknown", &["u1".to_string()]), Erased::default());
    assert_eq!(e.erase_analytics("other-key", &["u1".to_string()]).persons, 1);
    // the counts hold no id and stay as they were
    state.absorb(e.flush_analytics());
    assert_eq!(state.summary().unique_attendees, 2);
    // a later call with the erased id is a new person
    record(&mut e, &ev("User Joined", "u1", 2 * MIN));
    state.absorb(e.flush_analytics());
    assert_eq!(state.summary().unique_attendees, 3);
}

#[test]
fn a_merge_re_attributes_by_the_merged_persons_sessions() {
    // a1 (anonymous) sends events without a session id; u1 joined w1 explicitly. Once the
    // link arrives, a1's events are u1's, and u1's latest session takes them.
    let s = run(&[
        track("Session Started", "h1", 0, json!({"session_id": "w1"})),
        track("Session Started", "h2", 0, json!({"session_id": "w2"})),
        track("User Joined", "u1", MIN, json!({"session_id": "w1"})),
        track("User Engaged", "a1", 2 * MIN, json!({"type": "poll"})).anonymous(),
        identify("u1", "a1", 3 * MIN),
    ]);
    assert_eq!(s.summary_of("w1").engagements["poll"], 1);
    assert_eq!(s.summary_of("w1").engaged_attendees, 1);
    assert!(!s.shows("no_session:2024-05-01"));
}
