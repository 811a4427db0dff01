//! Order of arrival, flushes, snapshots: none of them changes the rows.

use super::*;
use proptest::prelude::*;

/// The rows that mean something: zero summaries (sessions whose events all moved elsewhere,
/// or that never had anything to show) are no sessions.
fn meaningful(mut s: State) -> State {
    s.summaries.retain(|(source, id), sum| {
        *sum != SessionSummary { source: source.clone(), session_id: id.clone(), ..SessionSummary::default() }
    });
    s
}

/// One call of a small webinar world: two sessions of one source, four persons known by a
/// userId (`u<n>`) and an anonymousId (`a<n>`), events with and without session ids, links.
fn arb_call() -> impl Strategy<Value = Call> {
    let names = prop::sample::select(vec![
        "Session Started",
        "Session Ended",
        "User Joined",
        "User Joined",
        "User Left",
        "User Engaged",
        "Stream Enabled",
        "Stream Disabled",
        "identify",
        "alias",
        "group",
        "page",
    ]);
    // session: 0 none, 1 s1, 2 s2 (by properties.session_id), 3 s1 by context.groupId
    (names, 0u8..4, any::<bool>(), 0u8..4, 0i64..3 * HOUR, 0i64..20 * MIN, 0u8..2).prop_map(
        |(name, who, anonymous, session, at, delay, kind)| {
            let user = format!("u{who}");
            let mut c = match name {
                "identify" => identify(&user, &format!("a{who}"), at),
                "alias" => alias(&format!("a{who}"), &user, at),
                "group" => group(&user, "s1", at),
                "page" => Call { call: CallType::Page, ..track("Home", &user, at, json!({})) },
                _ => {
                    let kind = ["poll", "camera"][usize::from(kind)];
                    let mut props = json!({ "type": kind });
                    if session == 1 || session == 2 {
                        props["session_id"] = json!(format!("s{session}"));
                    }
                    let mut c = track(name, &user, at, props);
                    if session == 3 {
                        c.context = obj(json!({"groupId": "s1"}));
                    }
                    if anonymous {
                        c = Call { user: None, anon: Some(format!("a{who}")), ..c };
                    }
                    c
                }
            };
            c.received = c.t + delay;
            c
        },
    )
}

/// A call of [`arb_call`], from one of two sources (the same ids, sessions and pages).
fn arb_call_of_two_sources() -> impl Strategy<Value = Call> {
    (arb_call(), any::<bool>()).prop_map(|(c, other)| if other { c.source("other") } else { c })
}

/// The rows of one source.
fn of_source(mut s: State, source: &str) -> State {
    s.windows.retain(|(src, _, _), _| src == source);
    s.summaries.retain(|(src, _), _| src == source);
    s.pages.retain(|(src, ..), _| src == source);
    s
}

/// Page views per (kind, name, window), summed over generations (which generation a late
/// view opens depends on when it arrives; the sum does not).
fn page_totals(s: &State) -> BTreeMap<(String, String, String, i64), u64> {
    let mut totals = BTreeMap::new();
    for ((source, kind, name, start, _), p) in &s.pages {
        *totals.entry((source.clone(), kind.clone(), name.clone(), *start)).or_default() += p.views;
    }
    totals
}

/// Records `calls`, flushing after the calls whose index is in `flush_after` and at the end.
fn replay(calls: &[Call], flush_after: &[usize]) -> State {
    let mut e = engine();
    let mut state = State::default();
    for (i, c) in calls.iter().enumerate() {
        // the record's position in its partition, as the consumer sets it
        record(&mut e, &Call { position: i as u64, ..c.clone() });
        if flush_after.contains(&i) {
            state.absorb(e.flush_analytics());
        }
    }
    state.absorb(e.flush_analytics());
    meaningful(state)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// Any permutation of the events (each keeps its own time and receive time), flushed
    /// anywhere, gives the rows of in-order delivery flushed once.
    #[test]
    fn any_order_of_arrival_gives_the_same_rows(
        (calls, shuffled) in prop::collection::vec(arb_call(), 1..50)
            .prop_flat_map(|calls| (Just(calls.clone()), Just(calls).prop_shuffle())),
        flush_after in prop::collection::vec(0usize..50, 0..6),
    ) {
        let mut in_order = calls;
        in_order.sort_by_key(|c| c.t);
        let mut expected = replay(&in_order, &[]);
        let mut got = replay(&shuffled, &flush_after);
        prop_assert_eq!(page_totals(&got), page_totals(&expected));
        (got.pages, expected.pages) = (BTreeMap::new(), BTreeMap::new());
        prop_assert_eq!(got, expected);
    }

    /// Sources are tenants: a source's rows are those it would have alone, whatever another
    /// source sends with the same session ids, user ids and page names, in any interleaving.
    #[test]
    fn a_sources_rows_do_not_depend_on_other_sources(
        ours in prop::collection::vec(arb_call(), 1..30),
        theirs in prop::collection::vec(arb_call(), 1..30),
        seed in any::<u64>(),
    ) {
        let theirs: Vec<Call> = theirs.into_iter().map(|c| c.source("other")).collect();
        let mut mixed: Vec<Call> = ours.iter().chain(&theirs).cloned().collect();
        // interleave by a seeded order
        mixed.sort_by_key(|c| (c.t ^ seed as i64).rotate_left(7));
        let mut alone = ours;
        alone.sort_by_key(|c| c.t);
        // Both runs end at one watermark (open presences count up to it): a third source's
        // call after everything else.
        let tick = track("Tick", "clock", 4 * HOUR, json!({})).source("clock");
        mixed.push(tick.clone());
        alone.push(tick);
        let mut got = of_source(replay(&mixed, &[]), SOURCE);
        let mut expected = of_source(replay(&alone, &[]), SOURCE);
        prop_assert_eq!(page_totals(&got), page_totals(&expected));
        (got.pages, expected.pages) = (BTreeMap::new(), BTreeMap::new());
        prop_assert_eq!(got, expected);
    }

    /// A snapshot taken at any point, restored, and fed the rest gives exactly the rows of
    /// a run that never stopped, wherever the flushes fell.
    #[test]
    fn snapshot_restore_is_exact(calls in prop::collection::vec(arb_call_of_two_sources(), 1..60), cut in 0usize..60,
                                 flush_every in 1usize..10) {
        let (restored, clean) = restart(EngineConfig::default(), calls, cut, flush_every);
        prop_assert_eq!(restored, clean);
    }

    /// The same with horizons of minutes, so that within a few hours sessions and days leave
    /// memory, windows go final and attribution freezes, between and across flushes.
    #[test]
    fn replays_are_exact_when_state_leaves_memory(calls in prop::collection::vec(arb_call_of_two_sources(), 1..60),
                                                  cut in 0usize..60, flush_every in 1usize..10) {
        let config = EngineConfig {
            window_ms: 30 * SEC,
            allowed_lateness_ms: 3 * MIN,
            hold_ms: MIN,
            attendee_timeout_ms: 2 * MIN,
            ..EngineConfig::default()
        };
        let calls = calls.into_iter().map(|c| Call { t: T0 + (c.t - T0) / 20, received: T0 + (c.received - T0) / 20, ..c });
        let (restored, clean) = restart(config, calls.collect(), cut, flush_every);
        prop_assert_eq!(restored, clean);
    }
}

/// Runs `calls` (in order of receipt) once without stopping, flushing every `flush_every`
/// records, and once stopped after `cut` records, snapshotted and restored: the two states.
fn restart(config: EngineConfig, mut calls: Vec<Call>, cut: usize, flush_every: usize) -> (State, State) {
    calls.sort_by_key(|c| c.received);
    for (i, c) in calls.iter_mut().enumerate() {
        c.position = i as u64;
    }
    let cut = cut.min(calls.len());
    let mut clean = Engine::new(config.clone());
    let mut clean_state = State::default();
    for (i, c) in calls.iter().enumerate() {
        record(&mut clean, c);
        if i % flush_every == 0 {
            clean_state.absorb(clean.flush_analytics());
        }
    }
    clean_state.absorb(clean.flush_analytics());

    let mut first = Engine::new(config);
    let mut state = State::default();
    for c in &calls[..cut] {
        record(&mut first, c);
    }
    state.absorb(first.flush_analytics());
    let bytes = postcard::to_stdvec(&first).expect("snapshot");
    let mut restored: Engine = postcard::from_bytes(&bytes).expect("restore");
    for c in &calls[cut..] {
        record(&mut restored, c);
    }
    state.absorb(restored.flush_analytics());
    (meaningful(state), meaningful(clean_state))
}
