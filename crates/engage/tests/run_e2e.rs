//! `engage run` end to end: pingbacks over HTTP in, exact engagement numbers out of the API,
//! across a graceful restart and a SIGKILL.

mod support;

use serde_json::Value;
use std::time::Duration;
use support::{Engage, agent, eventually, get, get_json, now_ms};

const ITEM: &str = "e2eItem";
const GIF_LEN: usize = 43;

/// One viewer's pingbacks: (query without ts, in order).
struct Viewer {
    user_agent: String,
    pingbacks: Vec<String>,
}

fn level2(events: &[(&str, u8)]) -> Vec<String> {
    events.iter().map(|(e, p)| format!("item={ITEM}&il=2&progress={p}&event={e}")).collect()
}

fn level1(events: &[(&str, u8)]) -> Vec<String> {
    events.iter().map(|(e, p)| format!("item={ITEM}&progress={p}&event={e}")).collect()
}

/// The specification's example sessions, one viewer each (viewers differ by user agent).
fn batch(tag: &str) -> Vec<Viewer> {
    let ua = |who: &str| format!("Acme/Player 1.0 {tag}-{who}");
    let mut complete = vec![("initialized", 0), ("firstplay", 0), ("play", 0)];
    complete.extend((10..=90).step_by(10).map(|p| ("update", p as u8)));
    complete.push(("stop", 100));
    vec![
        // watches everything, completes
        Viewer { user_agent: ua("a"), pingbacks: level2(&complete) },
        // seeks while playing from 42 to 74, pauses and resumes at 85, closes at 90
        Viewer {
            user_agent: ua("b"),
            pingbacks: level2(&[
                ("initialized", 0),
                ("firstplay", 0),
                ("play", 0),
                ("update", 10),
                ("update", 20),
                ("update", 30),
                ("update", 40),
                ("seekfrom", 42),
                ("seekto", 74),
                ("update", 80),
                ("pause", 85),
                ("resume", 85),
                ("stop", 90),
            ]),
        },
        // level 1: loaded and played
        Viewer { user_agent: ua("c"), pingbacks: level1(&[("initialized", 0), ("firstplay", 0)]) },
        // level 1 without initialized: a play without an impression
        Viewer { user_agent: ua("d"), pingbacks: level1(&[("firstplay", 0)]) },
        // a duplicate update, then closed while playing at 15
        Viewer {
            user_agent: ua("e"),
            pingbacks: level2(&[
                ("initialized", 0),
                ("firstplay", 0),
                ("play", 0),
                ("update", 10),
                ("update", 10),
                ("stop", 15),
            ]),
        },
        // level 1 sending a level-2 event: accepted, ignored
        Viewer { user_agent: ua("f"), pingbacks: level1(&[("initialized", 0), ("pause", 0)]) },
    ]
}

fn send(engage: &Engage, viewers: &[Viewer]) {
    let agent = agent();
    let mut ts = now_ms();
    for v in viewers {
        for q in &v.pingbacks {
            ts += 7;
            let (status, err, body) = get(&agent, &engage.url(&format!("/ping/dot.gif?{q}&ts={ts}")), &v.user_agent);
            assert_eq!(status, 200, "{q}: {err:?}");
            assert_eq!(body.len(), GIF_LEN);
        }
    }
}

/// Expected totals after `n` batches, computed from the sessions above by hand.
fn expected(n: u64) -> Value {
    let mut retention = vec![0u64; 100];
    for (s, r) in retention.iter_mut().enumerate() {
        *r = n * (1 + u64::from(s < 42 || (74..90).contains(&s)) + u64::from(s < 15));
    }
    let mut exits = vec![0u64; 101];
    exits[100] = n;
    exits[90] = n;
    exits[15] = n;
    let mut seek_from = vec![0u64; 101];
    seek_from[42] = n;
    let mut seek_to = vec![0u64; 101];
    seek_to[74] = n;
    serde_json::json!({
        "impressions": 5 * n, "plays": 5 * n, "engaged_plays": 3 * n, "unique_viewers": 5 * n,
        "completions": n, "pauses": n, "duplicates": n, "ignored": n,
        "retention": retention, "exits": exits, "seek_from": seek_from, "seek_to": seek_to,
    })
}

fn engagement(engage: &Engage) -> Value {
    get_json(&agent(), &engage.url(&format!("/api/v1/items/{ITEM}/engagement")))
}

/// The fields of `expected` as they are in `actual`.
fn project(actual: &Value, expected: &Value) -> Value {
    let keys = expected.as_object().expect("object").keys();
    Value::Object(keys.map(|k| (k.clone(), actual[k].clone())).collect())
}

fn wait_for(engage: &Engage, want: &Value) -> Duration {
    let found = eventually(Duration::from_secs(15), || {
        let got = engagement(engage);
        (project(&got, want) == *want).then_some(got)
    });
    match found {
        Some((_, took)) => took,
        None => panic!("engagement never reached {want}\nlast: {}", project(&engagement(engage), want)),
    }
}

#[test]
fn pingbacks_become_exact_engagement_across_restarts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engage = Engage::start(dir.path(), &["--commit-interval-ms", "200"]);

    send(&engage, &batch("one"));
    // No later traffic closes the window: the open window must be visible anyway.
    let took = wait_for(&engage, &expected(1));
    eprintln!("first batch visible in the API {took:?} after the last pingback was acknowledged");
    let got = engagement(&engage);
    assert_eq!(got["play_rate"], 1.0);
    assert!((got["completion_rate"].as_f64().expect("rate") - 1.0 / 3.0).abs() < 1e-9);
    assert!((got["avg_percent_watched"].as_f64().expect("avg") - 173.0 / 3.0).abs() < 1e-9);
    let timeline_plays: u64 =
        got["timeline"].as_array().expect("timeline").iter().map(|w| w["plays"].as_u64().unwrap_or(0)).sum();
    assert_eq!(timeline_plays, 5);

    // Graceful restart: nothing lost, nothing counted twice.
    engage.stop();
    let engage = Engage::start(dir.path(), &["--commit-interval-ms", "200"]);
    assert_eq!(project(&engagement(&engage), &expected(1)), expected(1));

    // Second batch, then SIGKILL right after the last acknowledgement.
    send(&engage, &batch("two"));
    engage.kill();
    let engage = Engage::start(dir.path(), &["--commit-interval-ms", "200"]);
    wait_for(&engage, &expected(2));
    // Stable: a later look gives the same numbers (no late double count from a replay).
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(project(&engagement(&engage), &expected(2)), expected(2));

    let top = get_json(&agent(), &engage.url("/api/v1/items?limit=5"));
    assert_eq!(top["items"][0]["item"], ITEM);
    assert_eq!(top["items"][0]["plays"], 10);
    let apps = get_json(&agent(), &engage.url(&format!("/api/v1/items/{ITEM}/apps")));
    assert_eq!(apps["apps"][0]["app"], "Acme/Player");
    engage.stop();
}

#[test]
fn bad_pingbacks_are_400_with_a_reason_counted_and_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engage = Engage::start(dir.path(), &["--commit-interval-ms", "200"]);
    let agent = agent();
    let long_item = "a".repeat(200);
    let huge = "x".repeat(10_000);
    let cases: Vec<(String, &str)> = vec![
        ("ts=1&progress=0&event=firstplay".into(), "missing_item"),
        ("item=X&ts=yesterday&progress=0&event=firstplay".into(), "invalid_ts"),
        ("item=X&ts=1&progress=0&event=rewind".into(), "unknown_event"),
        ("item=X&ts=1&il=2&progress=101&event=stop".into(), "invalid_progress"),
        ("item=X&ts=1&il=2&progress=35&event=update".into(), "invalid_update_progress"),
        ("item=X&ts=1&progress=20&event=firstplay".into(), "level1_progress_not_zero"),
        (format!("item={long_item}&ts=1&progress=0&event=firstplay"), "invalid_item"),
        (format!("item=X&ts=1&progress=0&event=firstplay&junk={huge}"), "query_too_long"),
    ];
    for (q, reason) in &cases {
        let (status, err, body) = get(&agent, &engage.url(&format!("/ping/dot.gif?{q}")), "engage-e2e");
        assert_eq!(status, 400, "{q}");
        assert_eq!(body.len(), GIF_LEN, "still a GIF");
        let err = err.expect("X-Engage-Error");
        assert!(err.starts_with(&format!("{reason}: ")), "{q}: {err}");
    }
    // A level-2 event at level 1 is the documented ignore, not an error.
    let (status, _, _) = get(&agent, &engage.url("/ping/dot.gif?item=X&ts=1&progress=50&event=seekto"), "engage-e2e");
    assert_eq!(status, 200);

    // Kept for inspection...
    let kept = eventually(Duration::from_secs(15), || {
        let rows = get_json(&agent, &engage.url("/api/v1/rejected?limit=100"));
        let rows = rows["rejected"].as_array().cloned().unwrap_or_default();
        (rows.len() >= cases.len()).then_some(rows)
    })
    .expect("rejected inputs kept")
    .0;
    for (_, reason) in &cases {
        assert!(kept.iter().any(|r| r["reason_code"] == *reason), "{reason} not kept");
    }
    // What is kept is a short excerpt: the junk parameter's value is not.
    let too_long = kept.iter().find(|r| r["reason_code"] == "query_too_long").expect("kept");
    assert_eq!(too_long["input"], "item=X&ts=1&progress=0&event=firstplay&junk=…", "{too_long}");
    // ...and counted.
    let (_, _, metrics) = get(&agent, &engage.url("/metrics"), "engage-e2e");
    let metrics = String::from_utf8(metrics).expect("utf8");
    for (_, reason) in &cases {
        let needle = format!("reason=\"{reason}\"");
        assert!(
            metrics.lines().any(|l| l.starts_with("engage_collector_rejected_total") && l.contains(&needle)),
            "{reason} not counted"
        );
    }
    engage.stop();
}

#[test]
fn health_and_readiness() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engage = Engage::start(dir.path(), &[]);
    let agent = agent();
    assert_eq!(get(&agent, &engage.url("/healthz"), "t").0, 200);
    assert_eq!(get(&agent, &engage.url("/readyz"), "t").0, 200);
    let (status, _, _) = get(&agent, &engage.url("/api/v1/items/no%20such/engagement"), "t");
    assert_eq!(status, 400);
    engage.stop();
}
