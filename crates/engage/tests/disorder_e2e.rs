//! Real-world disorder end to end, through the real `engage run` over HTTP and CDN logs:
//! pingbacks racing on two connections, a slow player clock, log files of one hour shipped
//! hours apart and twice, an offline Segment queue, a forged future log line (before and
//! after a restart), a view across UTC midnight, level 3 and WebView user agents, orphans,
//! and the seed talk's webinar examples. The late, overlapping log file runs on SQLite and
//! on ClickHouse (`CLICKHOUSE_URL`, else the chDB front of `tests/clickhouse/`).

#[path = "../../sink/tests/clickhouse_support/mod.rs"]
mod clickhouse_support;
mod support;

use serde_json::{Value, json};
use std::process::Command;
use std::time::Duration;
use support::{Engage, agent, engage_bin, eventually, get, get_json, ncsa_time, now_ms};

const SEC: i64 = 1_000;
const MIN: i64 = 60 * SEC;
const HOUR: i64 = 60 * MIN;
const DAY: i64 = 24 * HOUR;

fn start(dir: &std::path::Path, extra: &[&str]) -> Engage {
    let mut flags = vec!["--commit-interval-ms", "100"];
    flags.extend_from_slice(extra);
    Engage::start(dir, &flags)
}

fn engagement(e: &Engage, item: &str) -> Value {
    get_json(&agent(), &e.url(&format!("/api/v1/items/{item}/engagement")))
}

/// Waits until `item`'s engagement satisfies `ok`; fails with the last answer.
fn wait_for(e: &Engage, item: &str, ok: impl Fn(&Value) -> bool) -> Value {
    match eventually(Duration::from_secs(30), || Some(engagement(e, item)).filter(|v| ok(v))) {
        Some((v, _)) => v,
        None => panic!("{item} never got there: {}", engagement(e, item)),
    }
}

/// A live pingback; asserts it was accepted.
fn ping(e: &Engage, ua: &str, query: &str) {
    let (status, err, _) = get(&agent(), &e.url(&format!("/ping/dot.gif?{query}")), ua);
    assert_eq!(status, 200, "{query}: {err:?}");
}

/// One NCSA access-log line of a pingback.
fn log_line(ip: &str, at_ms: i64, query: &str, ua: &str) -> String {
    format!("{ip} - - [{}] \"GET /ping/dot.gif?{query} HTTP/1.1\" 200 43 \"-\" \"{ua}\"\n", ncsa_time(at_ms))
}

fn post_log(e: &Engage, body: &str) -> Value {
    let mut resp = agent().post(e.url("/v1/cdn-logs?format=ncsa")).send(body).expect("POST /v1/cdn-logs");
    assert_eq!(resp.status().as_u16(), 200);
    serde_json::from_slice(&resp.body_mut().read_to_vec().expect("body")).expect("JSON")
}

/// The value of a Prometheus series whose line starts with `name{` and contains `label`.
fn metric(e: &Engage, name: &str, label: &str) -> f64 {
    let (_, _, body) = get(&agent(), &e.url("/metrics"), "e2e");
    String::from_utf8_lossy(&body)
        .lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) && l.contains(label))
        .filter_map(|l| l.split_whitespace().last().and_then(|n| n.parse::<f64>().ok()))
        .sum()
}

/// How many percent segments have `n` views in a retention curve.
fn segments_with(e: &Value, n: u64) -> usize {
    e["retention"].as_array().map_or(0, |r| r.iter().filter(|v| v.as_u64() == Some(n)).count())
}

fn at(h: &Value, p: usize) -> u64 {
    h[p].as_u64().unwrap_or(0)
}

#[test]
fn racing_and_reordered_pingbacks_count_as_the_player_sent_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let e = start(dir.path(), &[]);
    let (item, ua, t) = ("raceItem", "Acme/Player 2.3 race", now_ms());
    let q = |ts: i64, il: u8, p: u8, ev: &str| format!("item={item}&ts={ts}&il={il}&progress={p}&event={ev}");
    // The player's order: initialized, firstplay, play (one ts), updates, seekfrom 45 → seekto 50,
    // update 60, pause 62, resume 62, update 70, stop 70. The network reorders three pairs.
    let arrivals = [
        q(t, 2, 0, "firstplay"),
        q(t, 2, 0, "initialized"),
        q(t, 2, 0, "play"),
        q(t + 6 * SEC, 2, 10, "update"),
        q(t + 12 * SEC, 2, 20, "update"),
        q(t + 18 * SEC, 2, 30, "update"),
        q(t + 24 * SEC, 2, 40, "update"),
        q(t + 28 * SEC + 100, 2, 50, "seekto"),
        q(t + 28 * SEC, 2, 45, "seekfrom"),
        q(t + 36 * SEC, 2, 60, "update"),
        q(t + 45 * SEC, 2, 62, "resume"),
        q(t + 40 * SEC, 2, 62, "pause"),
        q(t + 50 * SEC, 2, 70, "update"),
        q(t + 52 * SEC, 2, 70, "stop"),
    ];
    for a in &arrivals {
        ping(&e, ua, a);
    }
    let v = wait_for(&e, item, |v| at(&v["exits"], 70) == 1 && v["pauses"] == 1 && segments_with(v, 1) == 65);
    assert_eq!(
        (v["impressions"].as_u64(), v["plays"].as_u64(), v["engaged_plays"].as_u64()),
        (Some(1), Some(1), Some(1))
    );
    assert_eq!(
        (v["abandons"].as_u64(), v["completions"].as_u64(), v["orphan_events"].as_u64()),
        (Some(0), Some(0), Some(0))
    );
    assert_eq!((at(&v["seek_from"], 45), at(&v["seek_to"], 50)), (1, 1));
    let r = v["retention"].as_array().expect("retention");
    assert!(
        r[..45].iter().all(|n| n == 1) && r[45..50].iter().all(|n| n == 0) && r[50..70].iter().all(|n| n == 1),
        "{v}"
    );
    assert!(metric(&e, "engage_consumer_events_total", "outcome=\"reordered\"") >= 3.0);
    e.stop();
}

#[test]
fn a_slow_player_clock_loses_nothing_and_counts_when_seen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let e = start(dir.path(), &[]);
    let now = now_ms();
    let slow = now - 6 * MIN;
    let mut events = vec![("initialized", 0u8), ("firstplay", 0), ("play", 0)];
    events.extend((10..=90).step_by(10).map(|p| ("update", p as u8)));
    events.push(("stop", 100));
    for (k, (ev, p)) in events.iter().enumerate() {
        // Another player keeps time moving, as real traffic does.
        ping(&e, "Acme/Player 2.3 other", &format!("item=onTime&ts={}&progress=0&event=initialized", now_ms()));
        let ts = slow + k as i64 * SEC;
        ping(&e, "Acme/Player 2.3 slow", &format!("item=slowClock&ts={ts}&il=2&progress={p}&event={ev}"));
    }
    let v = wait_for(&e, "slowClock", |v| v["completions"] == 1);
    assert_eq!((v["impressions"].as_u64(), v["plays"].as_u64(), segments_with(&v, 1)), (Some(1), Some(1), 100));
    let first = v["timeline"][0]["window_start"].as_i64().expect("a window");
    assert!(first >= now - now.rem_euclid(MIN), "counted when seen, not six minutes earlier: {first} < {now}");
    let (_, rejected) = (0, get_json(&agent(), &e.url("/api/v1/rejected?limit=100")));
    assert_eq!(rejected["rejected"].as_array().map(Vec::len), Some(0), "{rejected}");
    e.stop();
}

/// The log lines of a level-2 view (`ip` and `ua` make the viewer) from `from` percent to
/// `to`: a load and a play when `from` is 0, checkpoints every 10 % in between, and at `to`
/// a stop (`stop`) or a last checkpoint.
fn view_lines(item: &str, ip: &str, ua: &str, t: i64, from: u8, to: u8, stop: bool) -> String {
    let mut out = String::new();
    let mut ts = t;
    let mut line = |p: u8, ev: &str| {
        out.push_str(&log_line(ip, ts, &format!("item={item}&ts={ts}&il=2&progress={p}&event={ev}"), ua));
        ts += 5 * SEC;
    };
    if from == 0 {
        line(0, "initialized");
        line(0, "firstplay");
        line(0, "play");
    }
    for p in ((from / 10 + 1) * 10..to).step_by(10) {
        line(p, "update");
    }
    line(to, if stop { "stop" } else { "update" });
    out
}

/// Two edges' logs of the same hour, 30 hours ago: the second shipped after the first was
/// counted, holding new views and the rest of one view the first began; then shipped again.
fn late_overlapping_logs(e: &Engage) {
    let base = {
        let t = now_ms() - 30 * HOUR;
        t - t.rem_euclid(MIN)
    };
    let ua = "Acme/Player 2.3 edge";
    let mut first = String::new();
    for v in 1..=5 {
        first.push_str(&view_lines("lateOnlyA", &format!("198.51.100.{v}"), ua, base + v * MIN, 0, 100, true));
    }
    // Viewer 6 watches lateShared to 50 % on edge 1; the rest of the view is on edge 2.
    first.push_str(&view_lines("lateShared", "198.51.100.6", ua, base, 0, 50, false));
    let summary = post_log(e, &first);
    assert_eq!(
        (summary["accepted"].as_u64(), summary["beyond_horizon"].as_u64()),
        (Some(5 * 13 + 8), Some(0)),
        "{summary}"
    );
    wait_for(e, "lateOnlyA", |v| v["completions"] == 5);
    // Live traffic moves time on: viewer 6's view times out (abandoned at 50 %) and leaves memory.
    ping(e, "Acme/Player 2.3 live", &format!("item=liveNow&ts={}&progress=0&event=initialized", now_ms()));
    let shared_before = wait_for(e, "lateShared", |v| v["abandons"] == 1);
    assert_eq!((at(&shared_before["exits"], 50), segments_with(&shared_before, 1)), (1, 50));
    let only_a = engagement(e, "lateOnlyA");

    let mut second = view_lines("lateShared", "198.51.100.6", ua, base + 25 * SEC, 50, 100, true);
    for v in 7..=9 {
        second.push_str(&view_lines("lateOnlyB", &format!("198.51.100.{v}"), ua, base + v * MIN, 0, 60, true));
    }
    second.push_str(&view_lines("lateShared", "198.51.100.10", ua, base + 10 * MIN, 0, 30, true));
    let summary = post_log(e, &second);
    assert_eq!(summary["accepted"].as_u64(), Some(5 + 3 * 9 + 6), "{summary}");
    // Exactly its own views changed: viewer 6's view completes (no abandonment), viewer 10 adds one.
    let shared = wait_for(e, "lateShared", |v| v["completions"] == 1 && v["plays"] == 2);
    assert_eq!(
        (shared["abandons"].as_u64(), shared["impressions"].as_u64(), shared["unique_viewers"].as_u64()),
        (Some(0), Some(2), Some(2))
    );
    assert_eq!((at(&shared["exits"], 50), at(&shared["exits"], 100), at(&shared["exits"], 30)), (0, 1, 1));
    assert_eq!((segments_with(&shared, 2), segments_with(&shared, 1)), (30, 70), "{shared}");
    let only_b = wait_for(e, "lateOnlyB", |v| v["plays"] == 3);
    assert_eq!(only_b["exits"][60].as_u64(), Some(3));
    assert_eq!(engagement(e, "lateOnlyA"), only_a, "another file's views are untouched");
    assert!(metric(e, "engage_consumer_events_total", "outcome=\"late\"") > 0.0);

    // Shipped again: every line a repeat, nothing changes.
    let repeats = metric(e, "engage_consumer_events_total", "outcome=\"repeat\"");
    post_log(e, &second);
    let seen = eventually(Duration::from_secs(20), || {
        (metric(e, "engage_consumer_events_total", "outcome=\"repeat\"") >= repeats + 38.0).then_some(())
    });
    assert!(seen.is_some(), "the re-shipped lines were not all seen as repeats");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(engagement(e, "lateShared"), shared);
    assert_eq!(engagement(e, "lateOnlyB"), only_b);
    assert_eq!(engagement(e, "lateOnlyA"), only_a);
}

#[test]
fn a_log_file_30_hours_late_changes_exactly_its_own_views_on_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let e = start(dir.path(), &[]);
    late_overlapping_logs(&e);
    e.stop();
}

#[test]
fn a_log_file_30_hours_late_changes_exactly_its_own_views_on_clickhouse() {
    let url = clickhouse_support::shared_url();
    let database = clickhouse_support::fresh_database("e2e_late");
    let out = Command::new(engage_bin())
        .args(["migrate", "--clickhouse-url", &url, "--clickhouse-database", &database])
        .env("ENGAGE_LOG", "warn")
        .output()
        .expect("run engage migrate");
    assert!(out.status.success(), "engage migrate failed: {}", String::from_utf8_lossy(&out.stderr));
    let dir = tempfile::tempdir().expect("tempdir");
    let e = start(dir.path(), &["--clickhouse-url", &url, "--clickhouse-database", &database]);
    late_overlapping_logs(&e);
    e.stop();
}

#[test]
fn a_view_across_utc_midnight_stays_one_view_whichever_half_arrives_first() {
    let dir = tempfile::tempdir().expect("tempdir");
    let e = start(dir.path(), &[]);
    let midnight = now_ms() - now_ms().rem_euclid(DAY);
    let lines = view_lines("midnightItem", "198.51.100.77", "Acme/Player 2.3 night", midnight - 20 * SEC, 0, 50, true);
    let (before, after): (Vec<&str>, Vec<&str>) = lines.lines().partition(|l| l.contains(&ncsa_day(midnight - DAY)));
    assert!(!before.is_empty() && !after.is_empty(), "the view spans midnight");
    post_log(&e, &(after.join("\n") + "\n"));
    post_log(&e, &(before.join("\n") + "\n"));
    let v = wait_for(&e, "midnightItem", |v| at(&v["exits"], 50) == 1);
    assert_eq!(
        (v["impressions"].as_u64(), v["plays"].as_u64(), v["unique_viewers"].as_u64()),
        (Some(1), Some(1), Some(1))
    );
    assert_eq!((v["abandons"].as_u64(), v["orphan_events"].as_u64(), segments_with(&v, 1)), (Some(0), Some(0), 50));
    e.stop();
}

/// The `dd/Mon/yyyy` of an NCSA timestamp.
fn ncsa_day(ms: i64) -> String {
    ncsa_time(ms).split(':').next().unwrap_or_default().to_owned()
}

#[test]
fn a_forged_future_log_line_cannot_move_time_before_or_after_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let e = start(dir.path(), &[]);
    let in_2099 = 4_102_444_800_000;
    let forged =
        log_line("203.0.113.66", in_2099, &format!("item=forged&ts={in_2099}&progress=0&event=initialized"), "x");
    let answer = post_log(&e, &forged);
    assert_eq!((answer["accepted"].as_u64(), answer["future_timestamp"].as_u64()), (Some(0), Some(1)), "{answer}");
    assert_eq!(metric(&e, "engage_collector_rejected_total", "reason=\"future_timestamp\""), 1.0);
    let old = log_line("203.0.113.67", now_ms() - 3 * DAY, "item=ancient&ts=1&progress=0&event=initialized", "x");
    let answer = post_log(&e, &old);
    assert_eq!((answer["accepted"].as_u64(), answer["beyond_horizon"].as_u64()), (Some(0), Some(1)), "{answer}");
    let live = |e: &Engage, item: &str| {
        let now = now_ms();
        ping(e, "Acme/Player 2.3 live", &format!("item={item}&ts={now}&progress=0&event=firstplay"));
        let v = wait_for(e, item, |v| v["plays"] == 1);
        let w = v["timeline"][0]["window_start"].as_i64().expect("a window");
        assert!((now - now.rem_euclid(MIN)..=now).contains(&w), "counted now: {v}");
    };
    live(&e, "afterForgery");
    let codes: Vec<String> = get_json(&agent(), &e.url("/api/v1/rejected?limit=10"))["rejected"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["reason_code"].as_str().map(String::from))
        .collect();
    assert!(codes.contains(&"future_timestamp".into()) && codes.contains(&"beyond_horizon".into()), "{codes:?}");
    e.stop();
    let e = start(dir.path(), &[]);
    live(&e, "afterRestart");
    e.stop();
}

#[test]
fn level_three_webview_apps_and_orphans_are_counted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let e = start(dir.path(), &[]);
    let webview = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) \
                   Version/4.0 Chrome/120.0.0.0 Mobile Safari/537.36 Acme/Player 2.3";
    let t = now_ms();
    for (k, (ev, p)) in [("initialized", 0), ("firstplay", 0), ("play", 0), ("update", 10)].iter().enumerate() {
        ping(&e, webview, &format!("item=levelThree&ts={}&il=3&progress={p}&event={ev}", t + k as i64));
    }
    let v = wait_for(&e, "levelThree", |v| segments_with(v, 1) == 10);
    assert_eq!(v["engaged_plays"].as_u64(), Some(1), "il=3 is level 2 or higher");
    let apps = get_json(&agent(), &e.url("/api/v1/items/levelThree/apps"));
    assert_eq!(apps["apps"][0]["app"], "Acme/Player", "{apps}");
    // A view whose firstplay never arrived: its level-2 events are orphans; a resume starts it.
    for (k, (ev, p)) in [("update", 10), ("pause", 12), ("resume", 12), ("update", 20)].iter().enumerate() {
        ping(&e, "Acme/Player 2.3 lost", &format!("item=orphaned&ts={}&il=2&progress={p}&event={ev}", t + k as i64));
    }
    let v = wait_for(&e, "orphaned", |v| v["orphan_events"] == 3);
    assert_eq!((v["plays"].as_u64(), v["impressions"].as_u64(), segments_with(&v, 1)), (Some(1), Some(0), 8));
    assert!(metric(&e, "engage_consumer_events_total", "outcome=\"orphan\"") >= 3.0);
    e.stop();
}

fn iso(ms: i64) -> String {
    let (y, m, d, rem) = support::civil(ms);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z", rem / 3600, rem % 3600 / 60, rem % 60, ms.rem_euclid(1000))
}

fn post_batch(e: &Engage, body: &Value) -> Value {
    let mut resp = agent()
        .post(e.url("/v1/batch"))
        .header("Content-Type", "application/json")
        .send(body.to_string())
        .expect("POST /v1/batch");
    assert_eq!(resp.status().as_u16(), 200);
    serde_json::from_str(&resp.body_mut().read_to_string().expect("body")).expect("JSON")
}

fn session(e: &Engage, id: &str) -> Value {
    let (status, _, body) = get(&agent(), &e.url(&format!("/api/v1/sessions/{id}/engagement")), "e2e");
    if status != 200 {
        return Value::Null;
    }
    serde_json::from_slice(&body).unwrap_or(Value::Null)
}

#[test]
fn an_offline_segment_queue_counts_its_webinar() {
    let dir = tempfile::tempdir().expect("tempdir");
    let e = start(dir.path(), &[]);
    // What Segment's SDKs send when they flush a queue kept offline: events stamped when they
    // happened (ten minutes ago), identify calls stamped now, one batch with sentAt now.
    let now = now_ms();
    let held = now - 10 * MIN;
    let track = |user: &str, event: &str, at: i64, props: Value| {
        json!({"type": "track", "userId": user, "event": event, "timestamp": iso(at),
               "messageId": format!("{user}-{event}-{at}"), "properties": props})
    };
    let s = json!({"session_id": "offline-1"});
    let mut batch =
        vec![json!({"type": "identify", "userId": "host", "timestamp": iso(now), "traits": {"plan": "pro"}})];
    batch.push(track("host", "Session Started", held, s.clone()));
    for k in 0..20 {
        let user = format!("attendee-{k}");
        batch.push(track(&user, "User Joined", held + k * SEC, s.clone()));
        batch.push(json!({"type": "identify", "userId": user, "timestamp": iso(now), "traits": {"k": k}}));
        if k % 4 == 0 {
            batch.push(track(
                &user,
                "User Engaged",
                held + MIN + k * SEC,
                json!({"session_id": "offline-1", "type": "poll"}),
            ));
        }
    }
    let answer = post_batch(&e, &json!({"writeKey": "k", "sentAt": iso(now), "batch": batch}));
    assert_eq!(answer["success"], true, "{answer}");
    let found = eventually(Duration::from_secs(30), || {
        let v = session(&e, "offline-1");
        (v["unique_attendees"] == 20).then_some(v)
    });
    let (v, _) =
        found.unwrap_or_else(|| panic!("the session never showed its 20 attendees: {}", session(&e, "offline-1")));
    assert_eq!(v["started_at"].as_i64(), Some(held), "{v}");
    assert_eq!(v["engagements"]["poll"].as_u64(), Some(5), "{v}");
    e.stop();
}

#[test]
fn the_seed_talks_webinar_examples_work_as_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let e = start(dir.path(), &[]);
    let t = now_ms() - 5 * MIN;
    // Slides 13 to 16 of the talk, sent by one user of one app (one write key), then the end
    // of the session ("Session started/ended", slide 13).
    let calls = [
        ("Session started", json!({"session_id": "12345678"})),
        ("User joined", json!({"id": "50314b8e9bcf000000000000", "name": "gilles bertaux"})),
        ("User engaged", json!({"type": "poll", "id": "12345678", "content": "Yes"})),
        (
            "Stream enabled",
            json!({"id": "507f1f77bcf86cd799439011", "type": "screensharing", "resolution": "1280x720"}),
        ),
        ("Session ended", json!({"session_id": "12345678"})),
    ];
    let batch: Vec<Value> = calls
        .iter()
        .enumerate()
        .map(|(k, (event, props))| {
            json!({"type": "track", "userId": "gilles", "event": event, "properties": props,
                   "timestamp": iso(t + k as i64 * 10 * SEC), "messageId": format!("seed-{k}")})
        })
        .collect();
    let answer = post_batch(&e, &json!({"writeKey": "livestorm", "sentAt": iso(now_ms()), "batch": batch}));
    assert_eq!(answer["success"], true, "{answer}");
    let found = eventually(Duration::from_secs(30), || {
        let v = session(&e, "12345678");
        (v["unique_attendees"] == 1 && v["engagements"]["poll"] == 1 && v["ended_at"].is_i64()).then_some(v)
    });
    let (v, _) =
        found.unwrap_or_else(|| panic!("the seed session never showed its attendee: {}", session(&e, "12345678")));
    // Joined at 10 s, sharing from 30 s, until the session ended at 40 s.
    assert_eq!(v["stream_seconds"]["screensharing"].as_f64(), Some(10.0), "{v}");
    assert_eq!(v["avg_attendance_seconds"].as_f64(), Some(30.0), "{v}");
    e.stop();
}
