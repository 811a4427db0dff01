//! Webinar tests: helpers, and the per-window metrics (joins, leaves, attendees, peaks,
//! engagements, stream time). The rules each have their file:
//! - `presence.rs`: how long an attendee is present;
//! - `attribution.rs`: events without a session id, the seed talk's examples, late delivery;
//! - `identity.rs`: anonymous and identified ids of one person;
//! - `lifecycle.rs`: finality, eviction, expired sessions, caps, page-view generations;
//! - `props.rs`: any order of arrival, any flushes, snapshot and restore give the same rows.

mod attribution;
mod dimensions;
mod identity;
mod lifecycle;
mod presence;
mod props;

use super::*;
use crate::{Engine, EngineConfig};
use engage_model::webinar::SessionWindowCounts;
use serde_json::json;

const SEC: i64 = 1_000;
const MIN: i64 = 60 * SEC;
const HOUR: i64 = 60 * MIN;
/// 2024-05-01T12:00:00Z, aligned to the minute.
const T0: i64 = 1_714_564_800_000;

/// One Segment call, owning what [`AnalyticsEvent`] borrows.
#[derive(Clone, Debug)]
struct Call {
    call: CallType,
    name: String,
    source: String,
    user: Option<String>,
    anon: Option<String>,
    previous: Option<String>,
    group: Option<String>,
    properties: Map<String, Value>,
    context: Map<String, Value>,
    t: i64,
    received: i64,
    position: u64,
}

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

/// A track call of `user` (a `userId`) at `T0 + at`, with `properties`.
fn track(name: &str, user: &str, at: i64, properties: Value) -> Call {
    Call {
        call: CallType::Track,
        name: name.into(),
        source: SOURCE.into(),
        user: Some(user.into()),
        anon: None,
        previous: None,
        group: None,
        properties: obj(properties),
        context: Map::new(),
        t: T0 + at,
        received: T0 + at,
        position: 0,
    }
}

/// A webinar event of `user` in session `s1`.
fn ev(name: &str, user: &str, at: i64) -> Call {
    track(name, user, at, json!({"session_id": "s1"}))
}

/// A webinar event of `user` in session `s1` with a `type`.
fn typed(name: &str, user: &str, at: i64, kind: &str) -> Call {
    track(name, user, at, json!({"session_id": "s1", "type": kind}))
}

fn identify(user: &str, anon: &str, at: i64) -> Call {
    Call { call: CallType::Identify, anon: Some(anon.into()), ..track("", user, at, json!({})) }
}

fn alias(previous: &str, user: &str, at: i64) -> Call {
    Call { call: CallType::Alias, previous: Some(previous.into()), ..track("", user, at, json!({})) }
}

fn group(user: &str, group_id: &str, at: i64) -> Call {
    Call { call: CallType::Group, group: Some(group_id.into()), ..track("", user, at, json!({})) }
}

impl Call {
    /// Sent with an `anonymousId` only.
    fn anonymous(self) -> Self {
        Call { anon: self.user.clone(), user: None, ..self }
    }

    /// Received at `T0 + at` (delivered late when after its time).
    fn received(self, at: i64) -> Self {
        Call { received: T0 + at, ..self }
    }

    fn source(self, source: &str) -> Self {
        Call { source: source.into(), ..self }
    }
}

fn engine() -> Engine {
    Engine::new(EngineConfig::default())
}

fn record(engine: &mut Engine, c: &Call) -> AnalyticsOutcome {
    let empty = Map::new();
    engine.set_position(c.position);
    engine.record_analytics(&AnalyticsEvent {
        call: c.call,
        name: &c.name,
        source: &c.source,
        user_id: c.user.as_deref(),
        anonymous_id: c.anon.as_deref(),
        previous_id: c.previous.as_deref(),
        group_id: c.group.as_deref(),
        properties: &c.properties,
        context: &c.context,
        traits: &empty,
        event_time_ms: c.t,
        received_at_ms: c.received,
    })
}

/// The rows as a store holds them: last write wins, page generations sum. Keys start with
/// the source.
#[derive(Debug, Default, PartialEq)]
struct State {
    windows: BTreeMap<(String, String, i64), SessionWindow>,
    summaries: BTreeMap<(String, String), SessionSummary>,
    pages: BTreeMap<(String, String, String, i64, u64), PageViewWindow>,
}

/// The source of the helpers' calls.
const SOURCE: &str = "wk";

fn key(session: &str) -> (String, String) {
    (SOURCE.to_string(), session.to_string())
}

impl State {
    fn absorb(&mut self, f: AnalyticsFlush) {
        for w in f.session_windows {
            let key = (w.source.clone(), w.session_id.clone(), w.window_start_ms);
            assert!(!self.windows.get(&key).is_some_and(|old| old.is_final), "a final row was rewritten: {w:?}");
            // an empty window is no window (readers skip them)
            if w.counts == SessionWindowCounts::default() {
                self.windows.remove(&key);
            } else {
                self.windows.insert(key, w);
            }
        }
        for s in f.summaries {
            self.summaries.insert((s.source.clone(), s.session_id.clone()), s);
        }
        for p in f.page_views {
            self.pages.insert((p.source.clone(), p.kind.clone(), p.name.clone(), p.window_start_ms, p.generation), p);
        }
    }

    fn window(&self, at: i64) -> &SessionWindow {
        self.window_of("s1", at)
    }

    fn window_of(&self, session: &str, at: i64) -> &SessionWindow {
        let key = (SOURCE.to_string(), session.to_string(), T0 + at);
        self.windows.get(&key).unwrap_or_else(|| panic!("no window {key:?} in {:?}", self.windows.keys()))
    }

    fn summary(&self) -> &SessionSummary {
        self.summary_of("s1")
    }

    fn summary_of(&self, session: &str) -> &SessionSummary {
        self.summary_in(SOURCE, session)
    }

    fn summary_in(&self, source: &str, session: &str) -> &SessionSummary {
        let key = (source.to_string(), session.to_string());
        self.summaries.get(&key).unwrap_or_else(|| panic!("no summary {key:?} in {:?}", self.summaries.keys()))
    }

    /// Whether `session` shows anything (a summary that is not all zero).
    fn shows(&self, session: &str) -> bool {
        self.summaries.get(&key(session)).is_some_and(|s| {
            *s != SessionSummary { source: SOURCE.into(), session_id: session.to_string(), ..SessionSummary::default() }
        })
    }

    /// The windows of one session.
    fn session(&self, session: &str) -> Vec<&SessionWindow> {
        self.windows.values().filter(|w| w.source == SOURCE && w.session_id == session).collect()
    }
}

fn run_with(config: EngineConfig, calls: &[Call]) -> State {
    let mut e = Engine::new(config);
    let mut state = State::default();
    for c in calls {
        record(&mut e, c);
    }
    state.absorb(e.flush_analytics());
    state
}

fn run(calls: &[Call]) -> State {
    run_with(EngineConfig::default(), calls)
}

/// (joins, leaves, attendees, peak) of a window.
fn jlap(w: &SessionWindow) -> (u64, u64, u64, u64) {
    (w.counts.joins, w.counts.leaves, w.counts.attendees, w.counts.peak_concurrent)
}

fn lecture() -> Vec<Call> {
    vec![
        ev("Session Started", "host", 0),
        ev("User Joined", "a", 10 * SEC),
        ev("User Joined", "b", 20 * SEC),
        ev("User Left", "a", 70 * SEC),
        ev("User Joined", "c", 80 * SEC),
        ev("User Left", "b", 130 * SEC),
        ev("Session Ended", "host", 150 * SEC),
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
        ev("User Joined", "a", 10 * SEC),
        ev("User Joined", "b", 50 * SEC),
        ev("User Left", "a", 130 * SEC),
        ev("User Left", "b", 130 * SEC),
        // a join at the instant of a leave does not overlap it
        ev("User Joined", "c", 130 * SEC),
        ev("User Left", "c", 150 * SEC),
    ]);
    assert_eq!(jlap(s.window(0)), (2, 0, 2, 2));
    // nothing happens in the middle window, both are present throughout
    assert_eq!(jlap(s.window(MIN)), (0, 0, 2, 2));
    assert_eq!(jlap(s.window(2 * MIN)), (1, 3, 3, 2));
    assert_eq!(s.summary().peak_concurrent, 2);
}

#[test]
fn repeated_joins_are_one_presence_and_a_rejoin_is_a_new_one() {
    let s = run(&[
        ev("User Joined", "a", 10 * SEC),
        ev("User Joined", "a", 20 * SEC),
        ev("User Joined", "a", 70 * SEC),
        ev("User Left", "a", 90 * SEC),
        ev("User Left", "a", 95 * SEC),
        ev("User Joined", "a", 100 * SEC),
        ev("User Left", "a", 110 * SEC),
    ]);
    assert_eq!(jlap(s.window(0)), (1, 0, 1, 1));
    assert_eq!(jlap(s.window(MIN)), (1, 2, 1, 1));
    assert_eq!((s.summary().unique_attendees, s.summary().attendance_ms), (1, 90 * SEC as u64));
}

#[test]
fn engagements_by_type_and_engaged_share() {
    let s = run(&[
        ev("User Joined", "a", 0),
        ev("User Joined", "b", SEC),
        typed("User Engaged", "a", 10 * SEC, "poll"),
        typed("User Engaged", "a", 70 * SEC, "poll"),
        typed("User Engaged", "a", 71 * SEC, "chat"),
        // engaged without joining: counted as an engagement, not as an engaged attendee
        typed("User Engaged", "x", 72 * SEC, "chat"),
        ev("User Engaged", "b", 73 * SEC),
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
    let with_id = |c: Call, id: &str| {
        let mut c = c;
        c.properties.insert("id".into(), json!(id));
        c
    };
    let s = run(&[
        typed("Stream Enabled", "a", 30 * SEC, "screensharing"),
        typed("Stream Enabled", "a", 40 * SEC, "screensharing"),
        typed("Stream Disabled", "a", 90 * SEC, "screensharing"),
        typed("Stream Enabled", "b", 100 * SEC, "camera"),
        // a second camera of b, told apart by its id, disabled twice
        with_id(typed("Stream Enabled", "b", 110 * SEC, "camera"), "cam2"),
        with_id(typed("Stream Disabled", "b", 115 * SEC, "camera"), "cam2"),
        with_id(typed("Stream Disabled", "b", 116 * SEC, "camera"), "cam2"),
        ev("Session Ended", "host", 160 * SEC),
    ]);
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
fn names_are_matched_case_insensitively_and_other_calls_are_not_aggregated() {
    let s = run(&[ev("Session started", "h", 0), ev("user JOINED", "a", SEC), ev(" User left ", "a", 2 * SEC)]);
    assert_eq!(jlap(s.window(0)), (1, 1, 1, 1));
    assert_eq!(s.summary().started_at_ms, Some(T0));
    let mut e = engine();
    assert_eq!(
        record(&mut e, &track("Order Completed", "a", 0, json!({"session_id": "s1"}))),
        AnalyticsOutcome::NotAggregated
    );
    assert_eq!(record(&mut e, &identify("u", "a", 0)), AnalyticsOutcome::NotAggregated);
    // a Video Spec event's session_id is a playback's, never a webinar session
    let video = track("Video Content Playing", "a", 0, json!({"session_id": "s1", "asset_id": "v"}));
    assert_eq!(record(&mut e, &video), AnalyticsOutcome::NotAggregated);
    assert_eq!(e.flush_analytics(), AnalyticsFlush::default());
}
