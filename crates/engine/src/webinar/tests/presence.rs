//! How long an attendee is present: to their leave, to "Session Ended", or — when the
//! session never ends — to the session's last activity once the watermark passed it plus the
//! attendee timeout (two hours by default). Never a fixed time after joining.

use super::*;

/// Something unrelated that moves the watermark to `T0 + at`.
fn tick(at: i64) -> Call {
    identify("someone-else", "anon-else", at)
}

#[test]
fn an_attendee_who_only_watches_is_present_until_the_session_ends_hours_later() {
    let mut calls = vec![ev("Session Started", "host", 0), ev("User Joined", "a", MIN)];
    // the host keeps the session going (a poll every half hour); a only watches
    calls.extend((1..=6).map(|k| typed("User Engaged", "host", k * 30 * MIN, "poll")));
    calls.push(ev("Session Ended", "host", 3 * HOUR + MIN));
    let s = run(&calls);
    assert_eq!(s.summary().attendance_ms, (3 * HOUR) as u64, "the whole span, join to end");
    assert_eq!((s.summary().unique_attendees, s.summary().engaged_attendees), (1, 0));
    for at in [MIN, HOUR, 2 * HOUR, 2 * HOUR + 30 * MIN, 3 * HOUR] {
        assert_eq!(s.window(at).counts.attendees, 1, "present at {at}");
    }
    // leaves with the session, at the first instant of that window
    assert_eq!(jlap(s.window(3 * HOUR + MIN)), (0, 1, 0, 0));
}

#[test]
fn the_same_without_host_activity_still_runs_to_session_ended() {
    // nothing at all between the join and the end, three hours later: the end decides
    let s = run(&[ev("User Joined", "a", 0), ev("Session Ended", "host", 3 * HOUR)]);
    assert_eq!(s.summary().attendance_ms, (3 * HOUR) as u64);
}

#[test]
fn a_session_that_never_ends_is_over_at_its_last_activity_once_the_timeout_passed() {
    let mut e = engine();
    let mut state = State::default();
    record(&mut e, &ev("User Joined", "a", 0));
    for k in 1..=3 {
        record(&mut e, &typed("User Engaged", "host", k * HOUR, "chat"));
    }
    record(&mut e, &tick(3 * HOUR + 30 * MIN));
    state.absorb(e.flush_analytics());
    // undecided: a is present up to the watermark, not gone two hours after joining
    assert_eq!(state.summary().attendance_ms, (3 * HOUR + 30 * MIN) as u64);
    assert_eq!(state.window(3 * HOUR + 30 * MIN).counts.attendees, 1);
    assert_eq!(state.window(3 * HOUR + 30 * MIN).counts.leaves, 0);
    // just before the last activity plus the timeout: still open
    record(&mut e, &tick(5 * HOUR - SEC));
    state.absorb(e.flush_analytics());
    assert_eq!(state.summary().attendance_ms, (5 * HOUR - SEC) as u64);
    // the watermark passes it: the presence ends at the last activity, and the windows
    // after it that were counted while open are emptied
    record(&mut e, &tick(5 * HOUR));
    state.absorb(e.flush_analytics());
    assert_eq!(state.summary().attendance_ms, (3 * HOUR) as u64);
    assert_eq!(state.window(3 * HOUR - MIN).counts.attendees, 1);
    assert_eq!(state.window(3 * HOUR).counts.leaves, 1);
    assert!(state.session("s1").iter().all(|w| w.window_start_ms <= T0 + 3 * HOUR), "nothing after the end");
    // a late event of the session inside the horizon: the session went on until 4 h, which
    // the watermark (5 h) has not passed by the timeout yet, so a is present again...
    record(&mut e, &typed("User Engaged", "host", 4 * HOUR, "chat").received(5 * HOUR));
    state.absorb(e.flush_analytics());
    assert_eq!(state.summary().attendance_ms, (5 * HOUR) as u64);
    // ...until it does: then to 4 h exactly
    record(&mut e, &tick(6 * HOUR));
    state.absorb(e.flush_analytics());
    assert_eq!(state.summary().attendance_ms, (4 * HOUR) as u64);
    assert_eq!(state.window(4 * HOUR).counts.leaves, 1);
}

#[test]
fn a_late_session_ended_cuts_an_open_presence_back() {
    let mut e = engine();
    let mut state = State::default();
    record(&mut e, &ev("User Joined", "a", 0));
    record(&mut e, &tick(30 * MIN));
    state.absorb(e.flush_analytics());
    assert_eq!(state.summary().attendance_ms, (30 * MIN) as u64);
    record(&mut e, &ev("Session Ended", "host", 10 * MIN).received(31 * MIN));
    state.absorb(e.flush_analytics());
    assert_eq!(state.summary().attendance_ms, (10 * MIN) as u64);
    assert_eq!(state.session("s1").len(), 11, "windows 0..=10 min, the later ones emptied");
}

#[test]
fn streams_follow_the_same_rule() {
    let mut e = engine();
    let mut state = State::default();
    record(&mut e, &typed("Stream Enabled", "host", 0, "camera"));
    record(&mut e, &typed("User Engaged", "a", 90 * MIN, "chat"));
    record(&mut e, &tick(HOUR + 45 * MIN));
    state.absorb(e.flush_analytics());
    assert_eq!(state.summary().stream_ms["camera"], (HOUR + 45 * MIN) as u64, "open: up to the watermark");
    record(&mut e, &tick(90 * MIN + 2 * HOUR));
    state.absorb(e.flush_analytics());
    assert_eq!(state.summary().stream_ms["camera"], (90 * MIN) as u64, "to the session's last activity");
}

#[test]
fn a_join_after_session_ended_runs_to_the_last_activity() {
    let s = run(&[
        ev("User Joined", "a", 0),
        ev("Session Ended", "host", 10 * MIN),
        // the session goes on after its end (a restart): b is there until the next activity
        ev("User Joined", "b", 20 * MIN),
        typed("User Engaged", "host", 25 * MIN, "chat"),
        tick(25 * MIN + 2 * HOUR),
    ]);
    assert_eq!(s.summary().attendance_ms, (10 * MIN + 5 * MIN) as u64);
    assert_eq!(s.summary().unique_attendees, 2);
}
