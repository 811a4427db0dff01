//! `engage run` on ClickHouse against `engage run` on SQLite: one workload (pingbacks of
//! level-1 and level-2 players on several applications, a webinar's Segment calls, invalid
//! and late inputs) sent to both, request by request, then every API answer compared field
//! by field. ClickHouse is `CLICKHOUSE_URL` when set, else the chDB front of
//! `tests/clickhouse/` (see `crates/sink/tests/clickhouse_support`). Also: `engage migrate`
//! twice, and `engage run` refusing an unmigrated database.

#[path = "../../sink/tests/clickhouse_support/mod.rs"]
mod clickhouse_support;
mod support;

use clickhouse_support::{Front, fresh_database, shared_url};
use serde_json::{Value, json};
use std::process::Command;
use std::time::Duration;
use support::{Engage, agent, engage_bin, eventually, get, now_ms};

const MIN: i64 = 60_000;
const ITEMS: &[&str] = &["chItemA1", "chItemB2"];
const SESSION: &str = "ch-webinar-1";

fn migrate(url: &str, database: &str) -> Value {
    let out = Command::new(engage_bin())
        .args(["migrate", "--clickhouse-url", url, "--clickhouse-database", database])
        .env("ENGAGE_LOG", "warn")
        .output()
        .expect("run engage migrate");
    assert!(out.status.success(), "engage migrate failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("one JSON line")
}

/// RFC 3339 (UTC, milliseconds) of epoch milliseconds.
fn rfc3339(ms: i64) -> String {
    let (mut days, rem) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    let mut year = 1970;
    let leap = |y: i64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    while days >= if leap(year) { 366 } else { 365 } {
        days -= if leap(year) { 366 } else { 365 };
        year += 1;
    }
    let lengths = [31, if leap(year) { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    let mut month = 0;
    while days >= lengths[month] {
        days -= lengths[month];
        month += 1;
    }
    let (h, m, s, milli) = (rem / 3_600_000, rem / 60_000 % 60, rem / 1000 % 60, rem % 1000);
    format!("{year:04}-{:02}-{:02}T{h:02}:{m:02}:{s:02}.{milli:03}Z", month + 1, days + 1)
}

/// One request of the workload.
enum Request {
    Ping { query: String, user_agent: &'static str },
    Track(Value),
}

/// The workload: starts at `t0`, a minute boundary half an hour ago.
fn workload(t0: i64) -> Vec<Request> {
    let mut out = Vec::new();
    let ping = |out: &mut Vec<Request>,
                item: &str,
                ts: i64,
                il: u8,
                progress: u32,
                event: &str,
                ua: Option<&str>,
                agent: &'static str| {
        let ua = ua.map(|u| format!("&ua={}", u.replace(' ', "%20").replace('/', "%2F"))).unwrap_or_default();
        out.push(Request::Ping {
            query: format!("item={item}&ts={ts}&il={il}&progress={progress}&event={event}{ua}"),
            user_agent: agent,
        });
    };
    // The third agent is a bot's (`curl`): its views count only as bot impressions and plays,
    // in both stores alike.
    let agents = ["Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0", "Mozilla/5.0 (Macintosh) Chrome/126.0", "curl/8.5"];
    let apps = [Some("CompanyName/AppName 2.3"), None, Some("Other/App 1.0")];
    for (v, agent) in agents.iter().enumerate() {
        for (i, item) in ITEMS.iter().enumerate() {
            let app = apps[(v + i) % apps.len()];
            let mut ts = t0 + (v as i64) * 20_000 + (i as i64) * MIN;
            let mut step = |out: &mut Vec<Request>, progress: u32, event: &str| {
                ping(out, item, ts, 2, progress, event, app, agent);
                ts += 7_000;
            };
            step(&mut out, 0, "initialized");
            step(&mut out, 0, "firstplay");
            step(&mut out, 0, "play");
            for p in (10..=50).step_by(10) {
                step(&mut out, p, "update");
            }
            step(&mut out, 50, "pause");
            step(&mut out, 50, "resume");
            step(&mut out, 50, "seekfrom");
            step(&mut out, 70 + v as u32, "seekto");
            step(&mut out, 90, "update");
            step(&mut out, 90, "update"); // a duplicate
            if v != 2 {
                step(&mut out, 100, "stop");
            } else {
                step(&mut out, 95, "stop");
            }
        }
        // A level-1 player: impressions and plays only.
        ping(&mut out, ITEMS[0], t0 + 4 * MIN + v as i64 * 1000, 1, 0, "initialized", None, agent);
        ping(&mut out, ITEMS[0], t0 + 4 * MIN + v as i64 * 1000 + 500, 1, 0, "firstplay", None, agent);
    }
    let track = |user: &str, event: &str, at: i64, props: Value| {
        Request::Track(json!({
            "writeKey": "k", "userId": user, "event": event, "timestamp": rfc3339(at),
            "messageId": format!("{user}-{event}-{at}"),
            "properties": props,
        }))
    };
    let s = json!({"session_id": SESSION});
    out.push(track("host", "Session Started", t0 + 5 * MIN, s.clone()));
    for (k, user) in ["ann", "bob", "cid"].iter().enumerate() {
        out.push(track(user, "User Joined", t0 + 5 * MIN + k as i64 * 10_000, s.clone()));
    }
    out.push(track("ann", "User Engaged", t0 + 6 * MIN, json!({"session_id": SESSION, "type": "poll"})));
    out.push(track(
        "bob",
        "Stream Enabled",
        t0 + 6 * MIN,
        json!({"session_id": SESSION, "type": "screensharing", "id": "s1"}),
    ));
    out.push(track(
        "bob",
        "Stream Disabled",
        t0 + 7 * MIN,
        json!({"session_id": SESSION, "type": "screensharing", "id": "s1"}),
    ));
    out.push(track("cid", "User Left", t0 + 7 * MIN + 30_000, s.clone()));
    out.push(track("host", "Session Ended", t0 + 8 * MIN, s));
    // Refused at the edge; and two pingbacks whose players' clocks are off (counted when seen).
    out.push(Request::Ping { query: "item=X&ts=1&il=2&progress=35&event=update".into(), user_agent: agents[0] });
    ping(&mut out, ITEMS[1], t0 + 20 * MIN, 2, 0, "initialized", None, agents[1]);
    ping(&mut out, ITEMS[1], t0 - 30 * MIN, 2, 0, "initialized", None, agents[2]);
    out
}

fn send(base: &str, request: &Request) {
    match request {
        Request::Ping { query, user_agent } => {
            let (status, err, _) = get(&agent(), &format!("{base}/ping/dot.gif?{query}"), user_agent);
            assert!(status == 200 || status == 400, "{query}: {status} {err:?}");
        }
        Request::Track(body) => {
            let mut resp = agent()
                .post(format!("{base}/v1/track"))
                .header("Content-Type", "application/json")
                .send(body.to_string())
                .expect("POST /v1/track");
            assert_eq!(resp.status().as_u16(), 200, "{body}: {}", resp.body_mut().read_to_string().unwrap_or_default());
        }
    }
}

/// (status, JSON) of a GET.
fn read(base: &str, path: &str) -> (u16, Value) {
    let (status, _, body) = get(&agent(), &format!("{base}{path}"), "engage-e2e");
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

/// Every API question of the workload (`t0`: the minute the pingbacks were sent in).
fn questions(t0: i64) -> Vec<String> {
    let mut q = vec![
        "/api/v1/items?limit=100".to_owned(),
        "/api/v1/items?limit=1".to_owned(),
        format!("/api/v1/items?from={}&to={}", t0, t0 + MIN),
        format!("/api/v1/sessions/{SESSION}/engagement"),
        "/api/v1/sessions/no-such-session/engagement".to_owned(),
        "/api/v1/items/no-such-item/engagement".to_owned(),
    ];
    for item in ITEMS {
        q.push(format!("/api/v1/items/{item}/engagement"));
        q.push(format!("/api/v1/items/{item}/engagement?from={}&to={}", t0, t0 + MIN));
        q.push(format!("/api/v1/items/{item}/engagement?from={}", t0 + MIN));
        q.push(format!("/api/v1/items/{item}/engagement?app=CompanyName%2FAppName%202.3"));
        q.push(format!("/api/v1/items/{item}/apps"));
        q.push(format!("/api/v1/items/{item}/apps?to={}", t0 + MIN));
    }
    q
}

/// Rejected inputs without what differs between two processes by construction (the
/// receive time, and the event id derived from it).
fn rejected_without_times(v: &Value) -> Value {
    let mut v = v.clone();
    for row in v["rejected"].as_array_mut().into_iter().flatten() {
        let row = row.as_object_mut().expect("row");
        row.remove("received_at_ms");
        row.remove("event_id");
    }
    v
}

/// Waits until SQLite shows every play of the workload and ClickHouse answers every
/// question the same; on a timeout, fails with the first difference.
fn assert_same_answers(ch: &Engage, lite: &Engage, t0: i64) {
    // Two people play every item and a level-1 view; the third agent is a bot's.
    let expected_plays = 2 * ITEMS.len() as u64 + 2;
    eventually(Duration::from_secs(30), || {
        let (_, top) = read(&lite.base, "/api/v1/items?limit=100");
        let plays: u64 = top["items"].as_array()?.iter().map(|i| i["plays"].as_u64().unwrap_or(0)).sum();
        let (_, first) = read(&lite.base, &format!("/api/v1/items/{}/engagement", ITEMS[0]));
        (plays == expected_plays && first["bot_plays"] == 2).then_some(())
    })
    .expect("SQLite shows every play, people's and the bot's apart");
    let questions = questions(t0);
    let compare = || -> Option<()> {
        for q in &questions {
            if read(&ch.base, q) != read(&lite.base, q) {
                return None;
            }
        }
        let (a, b) = (read(&ch.base, "/api/v1/rejected?limit=100"), read(&lite.base, "/api/v1/rejected?limit=100"));
        (a.0 == b.0 && rejected_without_times(&a.1) == rejected_without_times(&b.1)).then_some(())
    };
    if eventually(Duration::from_secs(30), compare).is_none() {
        for q in &questions {
            let (a, b) = (read(&ch.base, q), read(&lite.base, q));
            assert_eq!(a, b, "{q}: ClickHouse (left) and SQLite (right) differ");
        }
        panic!("rejected inputs differ");
    }
}

/// A number ClickHouse answers over its HTTP interface.
fn clickhouse_count(url: &str, sql: &str) -> u64 {
    let mut resp = agent().post(format!("{url}/")).send(sql).expect("query ClickHouse");
    let text = resp.body_mut().read_to_string().expect("body");
    text.trim().parse().unwrap_or_else(|_| panic!("{sql}: {text}"))
}

#[test]
fn engage_run_on_clickhouse_answers_like_engage_run_on_sqlite() {
    let url = shared_url();
    let database = fresh_database("e2e_run");
    let first = migrate(&url, &database);
    let every: Vec<u32> = (1..=engage_sink::clickhouse::schema::SCHEMA_VERSION).collect();
    assert_eq!(first["applied"], json!(every), "{first}");
    let again = migrate(&url, &database);
    assert_eq!(again["applied"], json!([]), "a second migrate does nothing: {again}");

    let (ch_dir, lite_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let common = ["--commit-interval-ms", "100"];
    let ch_flags: Vec<&str> =
        common.iter().copied().chain(["--clickhouse-url", &url, "--clickhouse-database", &database]).collect();
    let ch = Engage::start(ch_dir.path(), &ch_flags);
    let lite = Engage::start(lite_dir.path(), &common);

    let t0 = {
        let now = now_ms();
        now - now.rem_euclid(MIN) - 30 * MIN
    };
    let requests = workload(t0);
    // Pingbacks count when the collector sees them: the questions' ranges are around now.
    let seen = now_ms() - now_ms().rem_euclid(MIN);
    for r in &requests {
        send(&ch.base, r);
        send(&lite.base, r);
    }

    assert_same_answers(&ch, &lite, seen);
    let rows = clickhouse_count(&url, &format!("SELECT count() FROM {database}.video_window_rows FINAL"));
    assert!(rows >= 4, "the rollups are in ClickHouse: {rows} window rows");

    // The answers are not trivially equal: they hold the workload's numbers.
    let (_, e) = read(&ch.base, &format!("/api/v1/items/{}/engagement", ITEMS[0]));
    assert_eq!(
        (e["plays"].as_u64(), e["unique_viewers"].as_u64(), e["completions"].as_u64()),
        (Some(4), Some(2), Some(2)),
        "{e}"
    );
    assert_eq!((e["bot_impressions"].as_u64(), e["bot_plays"].as_u64()), (Some(2), Some(2)), "the bot's, apart");
    assert_eq!(e["seek_to"].as_array().map(|s| s.iter().filter(|v| v.as_u64() > Some(0)).count()), Some(2));
    let (status, s) = read(&ch.base, &format!("/api/v1/sessions/{SESSION}/engagement"));
    assert_eq!((status, s["unique_attendees"].as_u64()), (200, Some(3)), "{s}");
    assert_eq!(read(&ch.base, "/api/v1/sessions/no-such-session/engagement").0, 404);
    let (_, rejected) = read(&ch.base, "/api/v1/rejected?limit=100");
    let codes: Vec<&str> =
        rejected["rejected"].as_array().unwrap().iter().filter_map(|r| r["reason_code"].as_str()).collect();
    assert!(codes.contains(&"invalid_update_progress"), "{codes:?}");
    let (status, body) = read(&ch.base, "/readyz");
    assert_eq!(status, 200, "{body}");
    ch.stop();
    lite.stop();
}

#[test]
fn engage_run_refuses_a_database_that_was_not_migrated() {
    let dir = tempfile::tempdir().unwrap();
    let database = fresh_database("e2e_unmigrated");
    let out = Command::new(engage_bin())
        .args(["run", "--listen", "127.0.0.1:0", "--clickhouse-url", &shared_url(), "--clickhouse-database", &database])
        .arg("--data-dir")
        .arg(dir.path())
        .env("ENGAGE_LOG", "warn")
        .output()
        .expect("run engage");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("run `engage migrate"), "{stderr}");
}

#[test]
fn a_clickhouse_outage_during_a_run_delays_the_numbers_but_loses_nothing() {
    if std::env::var("CLICKHOUSE_URL").is_ok_and(|u| !u.is_empty()) {
        return eprintln!("skipped: a real server (CLICKHOUSE_URL) cannot be stopped by this test");
    }
    let dir = tempfile::tempdir().unwrap();
    let mut front = Front::start(&dir.path().join("clickhouse"));
    let database = fresh_database("e2e_outage");
    migrate(&front.url, &database);
    let (ch_dir, lite_dir) = (dir.path().join("ch"), dir.path().join("lite"));
    let common = ["--commit-interval-ms", "100"];
    let url = front.url.clone();
    let ch_flags: Vec<&str> =
        common.iter().copied().chain(["--clickhouse-url", &url, "--clickhouse-database", &database]).collect();
    let ch = Engage::start(&ch_dir, &ch_flags);
    let lite = Engage::start(&lite_dir, &common);
    let t0 = {
        let now = now_ms();
        now - now.rem_euclid(MIN) - 30 * MIN
    };
    let requests = workload(t0);
    let (before, during) = requests.split_at(requests.len() / 2);
    for r in before {
        send(&ch.base, r);
        send(&lite.base, r);
    }
    std::thread::sleep(Duration::from_millis(500));
    front.kill();
    // The collector still accepts (the log is durable); the consumer cannot commit.
    for r in during {
        send(&ch.base, r);
        send(&lite.base, r);
    }
    // Reads fail meanwhile (the API says so rather than answer stale numbers).
    let (status, body) = read(&ch.base, "/api/v1/items?limit=100");
    assert!(status >= 500, "{status} {body}");
    std::thread::sleep(Duration::from_secs(2));
    front.restart();
    assert_same_answers(&ch, &lite, t0);
    let (_, e) = read(&ch.base, &format!("/api/v1/items/{}/engagement", ITEMS[0]));
    assert_eq!((e["plays"].as_u64(), e["unique_viewers"].as_u64()), (Some(6), Some(3)), "{e}");
    ch.stop();
    lite.stop();
}
