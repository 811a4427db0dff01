//! Every webinar metric, out-of-order arrival, idempotence of joins, missing session ids,
//! peaks across window boundaries, page views, and exact snapshot/restore (property test).

use super::*;
use crate::{Engine, EngineConfig};
use engage_model::webinar::SessionWindowCounts;
use proptest::prelude::*;

const SEC: i64 = 1_000;
const MIN: i64 = 60 * SEC;
/// 2024-05-01T12:00:00Z, aligned to the minute.
const T0: i64 = 1_714_564_800_000;

#[derive(Clone, Debug)]
struct E {
    call: CallType,
    name: String,
    user: String,
    session: Option<String>,
    kind: Option<String>,
    id: Option<String>,
    t: i64,
    received: i64,
}

fn track(name: &str, user: &str, at: i64) -> E {
    E {
        call: CallType::Track,
        name: name.into(),
        user: user.into(),
        session: Some("s1".into()),
        kind: None,
        id: None,
        t: T0 + at,
        received: T0 + at,
    }
}

fn typed(name: &str, user: &str, at: i64, kind: &str) -> E {
    E { kind: Some(kind.into()), ..track(name, user, at) }
}

fn engine() -> Engine {
    Engine::new(EngineConfig::default())
}

fn record(engine: &mut Engine, e: &E) -> AnalyticsOutcome {
    engine.record_analytics(&AnalyticsEvent {
        call: e.call,
        name: &e.name,
        user: &e.user,
        session_id: e.session.as_deref(),
        kind: e.kind.as_deref(),
        stream_id: e.id.as_deref(),
        event_time_ms: e.t,
        received_at_ms: e.received,
    })
}

/// The rows as a store would hold them (last write wins).
#[derive(Debug, Default, PartialEq)]
struct State {
    windows: BTreeMap<(String, i64), SessionWindow>,
    summaries: BTreeMap<String, SessionSummary>,
    pages: BTreeMap<(String, String, i64), PageViewWindow>,
}

impl State {
    fn absorb(&mut self, f: AnalyticsFlush) {
        for w in f.session_windows {
            let key = (w.session_id.clone(), w.window_start_ms);
            // an empty window is no window (readers skip them)
            if w.counts == SessionWindowCounts::default() {
                self.windows.remove(&key);
            } else {
                self.windows.insert(key, w);
            }
        }
        for s in f.summaries {
            self.summaries.insert(s.session_id.clone(), s);
        }
        for p in f.page_views {
            self.pages.insert((p.kind.clone(), p.name.clone(), p.window_start_ms), p);
        }
    }

    fn window(&self, at: i64) -> &SessionWindow {
        &self.windows[&("s1".to_string(), T0 + at)]
    }

    fn summary(&self) -> &SessionSummary {
        &self.summaries["s1"]
    }
}

fn run(events: &[E]) -> State {
    let mut e = engine();
    let mut state = State::default();
    for ev in events {
        record(&mut e, ev);
    }
    state.absorb(e.flush_analytics());
    state
}

/// (joins, leaves, attendees, peak) of a window.
fn jlap(w: &SessionWindow) -> (u64, u64, u64, u64) {
    (w.counts.joins, w.counts.leaves, w.counts.attendees, w.counts.peak_concurrent)
}

fn lecture() -> Vec<E> {
    vec![
        track("Session Started", "host", 0),
        track("User Joined", "a", 10 * SEC),
        track("User Joined", "b", 20 * SEC),
        track("User Left", "a", 70 * SEC),
        track("User Joined", "c", 80 * SEC),
        track("User Left", "b", 130 * SEC),
        track("Session Ended", "host", 150 * SEC),
    ]
}

#[test]
fn joins_leaves_attendees_and_peaks_per_window_and_summary() {
    let s = run(&lecture());
    assert_eq!(jlap(s.window(0)), (2, 0, 2, 2));
    assert_eq!(jlap(s.window(MIN)), (1, 1, 3, 2));
    // c never sent "User Left": they leave at "Session Ended"
    assert_eq!(jlap(s.window(2 * MIN)), (0, 2, 2, 2));
    assert_eq!(s.windows.len(), 3);
    let sum = s.summary();
    assert_eq!((sum.started_at_ms, sum.ended_at_ms), (Some(T0), Some(T0 + 150 * SEC)));
    assert_eq!((sum.unique_attendees, sum.peak_concurrent), (3, 2));
    // a 60 s, b 110 s, c 70 s
    assert_eq!(sum.attendance_ms, 240 * SEC as u64);
}

#[test]
fn peak_concurrency_is_carried_across_window_boundaries() {
    let s = run(&[
        track("User Joined", "a", 10 * SEC),
        track("User Joined", "b", 50 * SEC),
        track("User Left", "a", 130 * SEC),
        track("User Left", "b", 130 * SEC),
        // a join at the instant of a leave does not overlap it
        track("User Joined", "c", 130 * SEC),
        track("User Left", "c", 150 * SEC),
    ]);
    assert_eq!(jlap(s.window(0)), (2, 0, 2, 2));
    // nothing happens in the middle window, both are present throughout
    assert_eq!(jlap(s.window(MIN)), (0, 0, 2, 2));
    assert_eq!(jlap(s.window(2 * MIN)), (1, 3, 3, 2));
    assert_eq!(s.summary().peak_concurrent, 2);
}

#[test]
fn out_of_order_events_within_the_lateness_give_the_in_order_result() {
    let in_order = run(&lecture());
    let mut shuffled = lecture();
    shuffled.reverse();
    // delivered late (received after all of them happened), within the 5-minute lateness
    for e in &mut shuffled {
        e.received = T0 + 3 * MIN;
    }
    assert_eq!(run(&shuffled), in_order);
    let mut swapped = lecture();
    swapped.swap(3, 4);
    swapped.swap(1, 2);
    assert_eq!(run(&swapped), in_order);
}

#[test]
fn repeated_joins_of_one_attendee_are_one_presence() {
    let s = run(&[
        track("User Joined", "a", 10 * SEC),
        track("User Joined", "a", 20 * SEC),
        track("User Joined", "a", 70 * SEC),
        track("User Left", "a", 90 * SEC),
        track("User Left", "a", 95 * SEC),
    ]);
    assert_eq!(jlap(s.window(0)), (1, 0, 1, 1));
    assert_eq!(jlap(s.window(MIN)), (0, 1, 1, 1));
    assert_eq!((s.summary().unique_attendees, s.summary().attendance_ms), (1, 80 * SEC as u64));
}

#[test]
fn a_rejoin_after_leaving_is_a_new_presence_of_the_same_attendee() {
    let s = run(&[
        track("User Joined", "a", 10 * SEC),
        track("User Left", "a", 20 * SEC),
        track("User Joined", "a", 30 * SEC),
        track("User Left", "a", 40 * SEC),
    ]);
    assert_eq!(jlap(s.window(0)), (2, 2, 1, 1));
    assert_eq!((s.summary().unique_attendees, s.summary().attendance_ms), (1, 20 * SEC as u64));
}

#[test]
fn engagements_by_type_and_engaged_share() {
    let s = run(&[
        track("User Joined", "a", 0),
        track("User Joined", "b", SEC),
        typed("User Engaged", "a", 10 * SEC, "poll"),
        typed("User Engaged", "a", 70 * SEC, "poll"),
        typed("User Engaged", "a", 71 * SEC, "chat"),
        // engaged without joining: counted as an engagement, not as an engaged attendee
        typed("User Engaged", "x", 72 * SEC, "chat"),
        track("User Engaged", "b", 73 * SEC),
    ]);
    assert_eq!(s.window(0).counts.engagements, BTreeMap::from([("poll".to_string(), 1)]));
    assert_eq!(
        s.window(MIN).counts.engagements,
        BTreeMap::from([("chat".to_string(), 2), ("poll".to_string(), 1), ("unknown".to_string(), 1)])
    );
    let sum = s.summary();
    assert_eq!(sum.engagements.values().sum::<u64>(), 5);
    assert_eq!((sum.unique_attendees, sum.engaged_attendees), (2, 2));
}

#[test]
fn stream_seconds_by_type_split_over_windows() {
    let mut events = vec![
        typed("Stream Enabled", "a", 30 * SEC, "screensharing"),
        typed("Stream Enabled", "a", 40 * SEC, "screensharing"),
        typed("Stream Disabled", "a", 90 * SEC, "screensharing"),
        typed("Stream Enabled", "b", 100 * SEC, "camera"),
        track("Session Ended", "host", 160 * SEC),
    ];
    // a second camera, told apart by its id, disabled twice
    let mut cam2 = typed("Stream Enabled", "b", 110 * SEC, "camera");
    cam2.id = Some("cam2".into());
    let mut cam2_off = typed("Stream Disabled", "b", 115 * SEC, "camera");
    cam2_off.id = Some("cam2".into());
    events.push(cam2);
    events.push(cam2_off.clone());
    cam2_off.t += SEC;
    events.push(cam2_off);
    let s = run(&events);
    let ms = |at: i64| s.window(at).counts.stream_ms.clone();
    assert_eq!(ms(0), BTreeMap::from([("screensharing".to_string(), 30_000)]));
    assert_eq!(
        ms(MIN),
        BTreeMap::from([("camera".to_string(), 20_000 + 5_000), ("screensharing".to_string(), 30_000)])
    );
    // the open camera stream ends with the session
    assert_eq!(ms(2 * MIN), BTreeMap::from([("camera".to_string(), 40_000)]));
    assert_eq!(s.summary().stream_ms["camera"], 65_000);
}

#[test]
fn names_are_matched_case_insensitively() {
    let s =
        run(&[track("Session started", "h", 0), track("user JOINED", "a", SEC), track(" User left ", "a", 2 * SEC)]);
    assert_eq!(jlap(s.window(0)), (1, 1, 1, 1));
    assert_eq!(s.summary().started_at_ms, Some(T0));
    assert_eq!(WebinarEventKind::classify("Session ended"), Some(WebinarEventKind::SessionEnded));
    assert_eq!(WebinarEventKind::classify("Order Completed"), None);
}

#[test]
fn events_without_session_id_are_not_aggregated() {
    let mut e = engine();
    let mut no_session = track("User Joined", "a", 0);
    no_session.session = None;
    assert_eq!(record(&mut e, &no_session), AnalyticsOutcome::NoSession);
    no_session.session = Some(String::new());
    assert_eq!(record(&mut e, &no_session), AnalyticsOutcome::NoSession);
    assert_eq!(record(&mut e, &track("Order Completed", "a", 0)), AnalyticsOutcome::NotAggregated);
    let identify = E { call: CallType::Identify, ..track("", "a", 0) };
    assert_eq!(record(&mut e, &identify), AnalyticsOutcome::NotAggregated);
    assert_eq!(e.flush_analytics(), AnalyticsFlush::default());
}

#[test]
fn attendees_who_never_leave_time_out() {
    let mut e = Engine::new(EngineConfig { attendee_timeout_ms: 5 * MIN, ..EngineConfig::default() });
    let mut state = State::default();
    record(&mut e, &track("User Joined", "a", 0));
    record(&mut e, &track("User Joined", "b", 0));
    record(&mut e, &typed("User Engaged", "b", 4 * MIN, "poll"));
    state.absorb(e.flush_analytics());
    // still present while the timeout has not passed
    assert_eq!(state.window(4 * MIN).counts.attendees, 2);
    record(&mut e, &track("Something Else", "z", 30 * MIN));
    state.absorb(e.flush_analytics());
    // a left at 0 + 5 min, b at 4 + 5 min
    assert_eq!(jlap(state.window(4 * MIN)), (0, 0, 2, 2));
    assert_eq!(jlap(state.window(5 * MIN)), (0, 1, 1, 1));
    assert_eq!(jlap(state.window(9 * MIN)), (0, 1, 0, 0));
    assert_eq!(state.summary().attendance_ms, (5 + 9) as u64 * MIN as u64);
    assert!(state.windows.values().all(|w| w.is_final), "everything final");
    assert_eq!(e.open_sessions().0, 0, "the session was evicted");
}

#[test]
fn late_events_are_refused_and_final_windows_do_not_change() {
    let mut e = engine();
    let mut state = State::default();
    record(&mut e, &track("User Joined", "a", 0));
    record(&mut e, &track("User Joined", "b", 30 * MIN));
    state.absorb(e.flush_analytics());
    let before = state.window(0).clone();
    assert!(before.is_final);
    assert_eq!(record(&mut e, &track("User Joined", "c", 10 * SEC)), AnalyticsOutcome::Late);
    // within the lateness: accepted
    assert_eq!(record(&mut e, &track("User Joined", "d", 27 * MIN)), AnalyticsOutcome::Aggregated);
    state.absorb(e.flush_analytics());
    assert_eq!(state.window(0), &before);
    assert_eq!(state.window(27 * MIN).counts.joins, 1);
}

#[test]
fn page_and_screen_views_per_name_per_window() {
    let page = |name: &str, at: i64| E { call: CallType::Page, ..track(name, "a", at) };
    let screen = E { call: CallType::Screen, ..track("Player", "a", 5 * SEC) };
    let s = run(&[page("Home", 0), page("Home", SEC), page("Pricing", 2 * SEC), page("Home", MIN), screen]);
    let views = |kind: &str, name: &str, at: i64| s.pages[&(kind.to_string(), name.to_string(), T0 + at)].views;
    assert_eq!((views("page", "Home", 0), views("page", "Pricing", 0), views("page", "Home", MIN)), (2, 1, 1));
    assert_eq!(views("screen", "Player", 0), 1);
}

fn arb_event() -> impl Strategy<Value = E> {
    let names = prop::sample::select(vec![
        "Session Started",
        "Session Ended",
        "User Joined",
        "User Joined",
        "User Left",
        "User Engaged",
        "Stream Enabled",
        "Stream Disabled",
        "Other",
        "page",
    ]);
    (names, 0u8..4, 0u8..3, 0i64..20 * MIN, 0i64..4 * MIN, 0u8..2).prop_map(|(name, user, session, at, delay, kind)| {
        let mut e = typed(name, &format!("u{user}"), at, ["poll", "camera"][usize::from(kind)]);
        e.session = Some(format!("s{session}"));
        e.received = e.t + delay;
        if name == "page" {
            e.call = CallType::Page;
        }
        e
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// A snapshot taken at any point, restored, and fed the rest gives exactly the rows of
    /// a run that never stopped, wherever the flushes fell.
    #[test]
    fn snapshot_restore_is_exact(mut events in prop::collection::vec(arb_event(), 1..60), cut in 0usize..60,
                                 flush_every in 1usize..10) {
        events.sort_by_key(|e| e.received);
        let cut = cut.min(events.len());
        let mut clean = engine();
        let mut clean_state = State::default();
        for (i, ev) in events.iter().enumerate() {
            record(&mut clean, ev);
            if i % flush_every == 0 {
                clean_state.absorb(clean.flush_analytics());
            }
        }
        clean_state.absorb(clean.flush_analytics());

        let mut first = engine();
        let mut state = State::default();
        for ev in &events[..cut] {
            record(&mut first, ev);
        }
        state.absorb(first.flush_analytics());
        let bytes = postcard::to_stdvec(&first).expect("snapshot");
        let mut restored: Engine = postcard::from_bytes(&bytes).expect("restore");
        for ev in &events[cut..] {
            record(&mut restored, ev);
        }
        state.absorb(restored.flush_analytics());
        prop_assert_eq!(state, clean_state);
    }
}
