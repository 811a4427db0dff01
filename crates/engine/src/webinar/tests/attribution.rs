//! Events without a session id: paths, the same user's session, the only live session, the
//! `no_session` rows; the seed talk's examples exactly as written; late delivery.

use super::*;

/// The seed talk's web-conferencing examples, exactly as written, from one browser (an
/// anonymous visitor of source `wk`), ten seconds apart in the given order.
fn seed_talk(order: &[usize]) -> Vec<Call> {
    let examples = [
        // analytics.track('Session started', { session_id: '12345678' });
        ("Session started", json!({"session_id": "12345678"})),
        // analytics.track('User joined', { id: '50314b8e9bcf000000000000', name: 'gilles bertaux' });
        ("User joined", json!({"id": "50314b8e9bcf000000000000", "name": "gilles bertaux"})),
        // analytics.track('User engaged', { type: 'poll', id: '12345678', content: 'Yes' });
        ("User engaged", json!({"type": "poll", "id": "12345678", "content": "Yes"})),
        // analytics.track('Stream enabled', { id: '507f1f77bcf86cd799439011', type: 'screensharing',
        //                                     resolution: '1280x720' });
        (
            "Stream enabled",
            json!({"id": "507f1f77bcf86cd799439011", "type": "screensharing", "resolution": "1280x720"}),
        ),
    ];
    order
        .iter()
        .enumerate()
        .map(|(i, &k)| {
            let (name, props) = examples[k].clone();
            track(name, "ajs-anonymous-1", i as i64 * 10 * SEC, props).anonymous()
        })
        .collect()
}

#[test]
fn the_seed_talks_examples_work_as_written() {
    // the talk's order (started, joined, engaged, stream), and the slides' (joined last)
    for order in [[0, 1, 2, 3], [0, 2, 3, 1]] {
        let mut e = engine();
        let mut state = State::default();
        let outcomes: Vec<_> = seed_talk(&order).iter().map(|c| record(&mut e, c)).collect();
        assert_eq!(outcomes, vec![AnalyticsOutcome::Aggregated; 4], "{order:?}");
        // ten minutes later, the same visitor ends it (no session id either)
        record(&mut e, &track("Session ended", "ajs-anonymous-1", 10 * MIN, json!({})).anonymous());
        state.absorb(e.flush_analytics());
        let sum = state.summary_of("12345678");
        let joined_at = order.iter().position(|&k| k == 1).unwrap_or(0) as i64 * 10 * SEC;
        let stream_at = order.iter().position(|&k| k == 3).unwrap_or(0) as i64 * 10 * SEC;
        assert_eq!((sum.unique_attendees, sum.engaged_attendees), (1, 1), "{order:?}");
        assert_eq!(sum.engagements, BTreeMap::from([("poll".to_string(), 1)]));
        assert_eq!(sum.stream_ms, BTreeMap::from([("screensharing".to_string(), (10 * MIN - stream_at) as u64)]));
        assert_eq!(sum.attendance_ms, (10 * MIN - joined_at) as u64);
        assert_eq!((sum.started_at_ms, sum.ended_at_ms), (Some(T0), Some(T0 + 10 * MIN)));
        assert!(!state.shows("no_session:2024-05-01"), "nothing unattributed");
    }
}

#[test]
fn the_seed_talks_examples_show_live_numbers_before_any_end() {
    let mut e = engine();
    let mut state = State::default();
    for c in seed_talk(&[0, 1, 2, 3]) {
        record(&mut e, &c);
    }
    // someone else's call moves the watermark five minutes on
    record(&mut e, &identify("u9", "a9", 5 * MIN));
    state.absorb(e.flush_analytics());
    let sum = state.summary_of("12345678");
    assert_eq!(sum.unique_attendees, 1);
    assert_eq!(sum.stream_ms["screensharing"], (5 * MIN - 30 * SEC) as u64);
    assert_eq!(state.window_of("12345678", 4 * MIN).counts.attendees, 1);
}

#[test]
fn an_earlier_anchor_arriving_later_re_attributes() {
    let mut e = engine();
    let mut state = State::default();
    let joined = track("User Joined", "u1", MIN, json!({}));
    assert_eq!(record(&mut e, &joined), AnalyticsOutcome::NoSession);
    state.absorb(e.flush_analytics());
    assert_eq!(state.summary_of("no_session:2024-05-01").unique_attendees, 1);
    assert_eq!(state.window_of("no_session:2024-05-01", MIN).counts.engagements["User Joined"], 1);
    // the "Session Started" naming the session, timed before the join, arrives after it
    let started = track("Session Started", "u1", 0, json!({"session_id": "w1"})).received(2 * MIN);
    assert_eq!(record(&mut e, &started), AnalyticsOutcome::Aggregated);
    state.absorb(e.flush_analytics());
    assert_eq!(state.summary_of("w1").unique_attendees, 1);
    assert!(state.session("no_session:2024-05-01").is_empty(), "the no_session row was emptied");
    assert_eq!(state.summary_of("no_session:2024-05-01").unique_attendees, 0);
}

#[test]
fn the_same_users_session_holds_for_the_attendee_timeout_only() {
    let s = run(&[
        track("User Joined", "u1", 0, json!({"session_id": "w1"})),
        track("User Engaged", "u1", 90 * MIN, json!({"type": "chat"})),
        // three hours after their last attributed event: not w1 any more
        track("User Engaged", "u1", 4 * HOUR + 30 * MIN, json!({"type": "chat"})),
    ]);
    assert_eq!(s.summary_of("w1").engagements["chat"], 1);
    assert_eq!(s.summary_of("no_session:2024-05-01").engagements["User Engaged"], 1);
}

#[test]
fn the_only_live_session_of_the_source_takes_the_rest() {
    let s = run(&[
        track("Session Started", "host", 0, json!({"session_id": "w1"})),
        // a user who never sent a session id: w1 is the only live session of the source
        track("User Joined", "u2", MIN, json!({})),
        // another source's session does not count
        track("Session Started", "host", MIN, json!({"session_id": "w9"})).source("other"),
        track("User Left", "u2", 2 * MIN, json!({})),
    ]);
    assert_eq!(jlap(s.window_of("w1", MIN)), (1, 0, 1, 1));
    assert_eq!(s.summary_of("w1").attendance_ms, MIN as u64);
    assert!(!s.shows("no_session:2024-05-01"));
}

#[test]
fn two_live_sessions_leave_an_event_unattributed_and_listed() {
    let s = run(&[
        track("Session Started", "h1", 0, json!({"session_id": "w1"})),
        track("Session Started", "h2", 0, json!({"session_id": "w2"})),
        track("User Joined", "u2", MIN, json!({})),
        track("User Joined", "u3", MIN, json!({})).anonymous(),
        track("User Engaged", "u3", 2 * MIN, json!({"type": "chat"})).anonymous(),
    ]);
    let day = "no_session:2024-05-01";
    let w = s.window_of(day, MIN);
    assert_eq!((w.counts.engagements["User Joined"], w.counts.attendees), (2, 2));
    assert_eq!(s.window_of(day, 2 * MIN).counts.engagements["User Engaged"], 1);
    let sum = s.summary_of(day);
    assert_eq!((sum.unique_attendees, sum.engagements.values().sum::<u64>()), (2, 3));
    // a session that ended is not live: then w2 alone takes the next one
    let s = run(&[
        track("Session Started", "h1", 0, json!({"session_id": "w1"})),
        track("Session Ended", "h1", 30 * SEC, json!({"session_id": "w1"})),
        track("Session Started", "h2", 0, json!({"session_id": "w2"})),
        track("User Joined", "u2", MIN, json!({})),
    ]);
    assert_eq!(s.summary_of("w2").unique_attendees, 1);
}

#[test]
fn paths_groups_and_custom_paths() {
    // context.groupId (a default path), and a group call naming the session
    let mut in_context = track("User Joined", "u1", 0, json!({}));
    in_context.context = obj(json!({"groupId": "w1"}));
    let s = run(&[in_context, group("u2", "w1", 0), track("User Joined", "u2", MIN, json!({}))]);
    assert_eq!(s.summary_of("w1").unique_attendees, 2);
    // a deployment whose apps put the meeting elsewhere, and whose groups are companies
    let config = EngineConfig { session_id_paths: vec!["properties.meeting.id".into()], ..EngineConfig::default() };
    let s = run_with(
        config,
        &[
            group("u1", "acme", 0),
            track("User Joined", "u1", MIN, json!({"meeting": {"id": 42}})),
            track("User Joined", "u2", MIN, json!({"session_id": "ignored"})),
        ],
    );
    assert!(!s.shows("acme") && !s.shows("ignored"));
    // u2 is attributed by liveness: 42 is the only live session
    assert_eq!(s.summary_of("42").unique_attendees, 2);
    assert_eq!(s.window_of("42", MIN).counts.joins, 2);
}

/// The case: an app flushes a queue kept while offline, a webinar held ten minutes
/// earlier (58 events, 20 attendees), with identify calls stamped now in the same batch.
#[test]
fn a_session_delivered_ten_minutes_late_after_newer_identify_calls_all_counts() {
    let session = |name: &str, user: &str, at: i64| track(name, user, at, json!({"session_id": "w-late"}));
    let mut events = vec![session("Session Started", "host", 0)];
    for i in 0..20 {
        events.push(session("User Joined", &format!("u{i}"), 10 * SEC + i * SEC));
    }
    for i in 0..16 {
        let mut engaged = session("User Engaged", &format!("u{i}"), 3 * MIN + i * SEC);
        engaged.properties.insert("type".into(), json!("question"));
        events.push(engaged);
    }
    for i in 0..20 {
        events.push(session("User Left", &format!("u{i}"), 7 * MIN + i * SEC));
    }
    events.push(session("Session Ended", "host", 8 * MIN));
    assert_eq!(events.len(), 58);
    let on_time = run(&events);

    // the batch: identify calls stamped now (ten minutes later) come first, the rest after
    let mut late = Vec::new();
    for i in 0..20 {
        late.push(identify(&format!("u{i}"), &format!("device-{i}"), 18 * MIN).received(18 * MIN));
    }
    late.extend(events.iter().cloned().map(|c| c.received(18 * MIN)));
    let mut e = engine();
    let mut state = State::default();
    let outcomes: Vec<_> = late.iter().map(|c| record(&mut e, c)).collect();
    assert_eq!(outcomes.iter().filter(|o| **o == AnalyticsOutcome::Aggregated).count(), 58);
    state.absorb(e.flush_analytics());
    let sum = state.summary_of("w-late");
    assert_eq!((sum.unique_attendees, sum.peak_concurrent, sum.started_at_ms), (20, 20, Some(T0)));
    assert_eq!(sum.engagements["question"], 16);
    assert_eq!(state.windows, on_time.windows);
    assert_eq!(state.summaries[&key("w-late")], on_time.summaries[&key("w-late")]);
}
