//! Finality, eviction, expired sessions, caps, and page-view generations.

use super::*;

fn tick(at: i64) -> Call {
    identify("someone-else", "anon-else", at)
}

const LATENESS: i64 = 48 * HOUR;

#[test]
fn rows_go_final_after_the_lateness_and_late_data_within_it_counts() {
    let mut e = engine();
    let mut state = State::default();
    record(&mut e, &ev("User Joined", "a", 0));
    record(&mut e, &ev("User Left", "a", 30 * SEC));
    // 47 hours later, an event of the same session timed 10 s after the join arrives
    record(&mut e, &tick(47 * HOUR));
    state.absorb(e.flush_analytics());
    assert!(!state.window(0).is_final);
    assert_eq!(record(&mut e, &ev("User Joined", "b", 10 * SEC).received(47 * HOUR)), AnalyticsOutcome::Aggregated);
    state.absorb(e.flush_analytics());
    // b never left and the session never ended: b was there until its last activity (30 s)
    assert_eq!(jlap(state.window(0)), (2, 2, 2, 2));
    assert_eq!(state.summary().attendance_ms, (30 * SEC + 20 * SEC) as u64);
    // the watermark passes the window's end plus the lateness: final, emitted once more
    record(&mut e, &tick(MIN + LATENESS));
    let f = e.flush_analytics();
    assert!(f.session_windows.iter().all(|w| w.is_final));
    state.absorb(f);
    assert!(state.window(0).is_final);
    // and never again (State::absorb checks that no final row is rewritten)
    record(&mut e, &tick(MIN + LATENESS + 5 * MIN));
    state.absorb(e.flush_analytics());
}

#[test]
fn a_session_leaves_memory_after_its_closing_time_plus_lateness_and_hold() {
    let mut e = engine();
    let mut state = State::default();
    record(&mut e, &ev("User Joined", "a", 0));
    record(&mut e, &ev("Session Ended", "host", 10 * MIN));
    // closing at 10 min; + the 2 h timeout, to the end of that window (2 h 11 min), + 48 h
    // of lateness + 5 min of hold
    let evict_at = 2 * HOUR + 11 * MIN + LATENESS + 5 * MIN;
    record(&mut e, &tick(evict_at - 1));
    state.absorb(e.flush_analytics());
    assert_eq!(e.open_sessions().0, 1);
    record(&mut e, &tick(evict_at));
    assert_eq!(e.open_sessions().0, 0, "evicted as the watermark passed, before any flush");
    state.absorb(e.flush_analytics());
    assert!(state.session("s1").iter().all(|w| w.is_final));
    assert_eq!(state.summary().attendance_ms, (10 * MIN) as u64);
    // an event of it after that (only if collector clocks disagree by more than the hold)
    assert_eq!(record(&mut e, &ev("User Joined", "b", 5 * MIN)), AnalyticsOutcome::Expired);
    let f = e.flush_analytics();
    assert!(f.session_windows.is_empty() && f.summaries.is_empty(), "final rows stay as they are");
}

#[test]
fn a_session_that_never_ends_leaves_memory_too() {
    let mut e = engine();
    record(&mut e, &ev("User Joined", "a", 0));
    // closing = last activity + 2 h timeout; then as above
    record(&mut e, &tick(4 * HOUR + MIN + LATENESS + 5 * MIN - 1));
    assert_eq!(e.open_sessions().0, 1);
    record(&mut e, &tick(4 * HOUR + MIN + LATENESS + 5 * MIN));
    assert_eq!(e.open_sessions().0, 0);
    let mut state = State::default();
    state.absorb(e.flush_analytics());
    assert!(state.window(0).is_final);
}

#[test]
fn attendees_past_the_cap_are_counted_apart() {
    let mut e = engine();
    for i in 0..MAX_ATTENDEES_PER_SESSION {
        assert_eq!(record(&mut e, &ev("User Joined", &format!("u{i}"), 0)), AnalyticsOutcome::Aggregated);
    }
    assert_eq!(record(&mut e, &ev("User Joined", "one-too-many", SEC)), AnalyticsOutcome::OverCap);
    // an attendee already in still counts
    assert_eq!(record(&mut e, &ev("User Left", "u0", SEC)), AnalyticsOutcome::Aggregated);
    let mut state = State::default();
    state.absorb(e.flush_analytics());
    assert_eq!(state.summary().unique_attendees, MAX_ATTENDEES_PER_SESSION as u64);
}

#[test]
fn unattributed_events_past_the_cap_are_counted_apart() {
    let mut e = engine();
    for i in 0..MAX_UNATTRIBUTED_PER_SOURCE {
        let c = track("User Joined", &format!("u{}", i % 1000), i as i64, json!({}));
        assert_eq!(record(&mut e, &c), AnalyticsOutcome::NoSession);
    }
    assert_eq!(record(&mut e, &track("User Joined", "u1", 0, json!({}))), AnalyticsOutcome::OverCap);
    // another source has its own room
    let other = track("User Joined", "u1", 0, json!({})).source("other-key");
    assert_eq!(record(&mut e, &other), AnalyticsOutcome::NoSession);
}

#[test]
fn page_views_open_a_generation_when_their_window_left_memory() {
    let page =
        |name: &str, at: i64, position: u64| Call { call: CallType::Page, position, ..track(name, "a", at, json!({})) };
    let screen = Call { call: CallType::Screen, position: 2, ..track("Player", "a", 5 * SEC, json!({})) };
    let calls = [
        page("Home", 0, 1),
        page("Home", SEC, 2),
        screen,
        page("Pricing", 2 * SEC, 3),
        page("Home", MIN, 4),
        // the watermark passes the first window's end plus the hold: it leaves memory
        tick(6 * MIN),
        page("Home", 30 * SEC, 7).received(6 * MIN),
        page("Home", 40 * SEC, 8).received(6 * MIN),
    ];
    let replay = |flush_every: usize| {
        let mut e = engine();
        let mut state = State::default();
        for (i, c) in calls.iter().enumerate() {
            record(&mut e, c);
            if i % flush_every == 0 {
                state.absorb(e.flush_analytics());
            }
        }
        state.absorb(e.flush_analytics());
        state
    };
    let s = replay(1);
    let views = |name: &str, at: i64, generation: u64| {
        s.pages.get(&(SOURCE.to_string(), "page".to_string(), name.to_string(), T0 + at, generation)).map(|p| p.views)
    };
    assert_eq!((views("Home", 0, 1), views("Pricing", 0, 3), views("Home", MIN, 4)), (Some(2), Some(1), Some(1)));
    // the late views of the first window: a new generation, named by the record that opened it
    assert_eq!(views("Home", 0, 7), Some(2));
    assert_eq!(s.pages[&(SOURCE.to_string(), "screen".to_string(), "Player".to_string(), T0, 2)].views, 1);
    // the same records give the same rows, however often the engine flushed
    assert_eq!(replay(3), s);
}
