//! CDN log shipping end to end: the specification's example sessions sent live to one item,
//! and as an NCSA access log to two others (POSTed gzip to `/v1/cdn-logs`, and shipped with
//! `engage ingest-logs`), give the same engagement numbers field by field (the windows
//! differ: a live pingback counts when the collector received it, a logged one at its log
//! line's time); shipping the log again changes nothing.

mod support;

use serde_json::Value;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;
use support::{Engage, agent, engage_bin, eventually, get, get_json, now_ms};

const LIVE: &str = "cdnLive";
const POSTED: &str = "cdnPosted";
const SHIPPED: &str = "cdnShipped";

/// The specification's example sessions: (user agent, pingback queries without item and ts).
fn sessions() -> Vec<(String, Vec<String>)> {
    let l2 = |events: &[(&str, u8)]| -> Vec<String> {
        events.iter().map(|(e, p)| format!("il=2&progress={p}&event={e}")).collect()
    };
    let l1 = |events: &[&str]| -> Vec<String> { events.iter().map(|e| format!("progress=0&event={e}")).collect() };
    let mut complete = vec![("initialized", 0), ("firstplay", 0), ("play", 0)];
    complete.extend((10..=90).step_by(10).map(|p| ("update", p as u8)));
    complete.push(("stop", 100));
    let ua = |who: &str| format!("Acme/Player 1.0 cdn-{who}");
    vec![
        (ua("a"), l2(&complete)),
        (
            ua("b"),
            l2(&[
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
        ),
        (ua("c"), l1(&["initialized", "firstplay"])),
        (ua("d"), l1(&["firstplay"])),
        (
            ua("e"),
            l2(&[("initialized", 0), ("firstplay", 0), ("play", 0), ("update", 10), ("update", 10), ("stop", 15)]),
        ),
        (ua("f"), l1(&["initialized", "pause"])),
    ]
}

/// (user agent, query with item and ts), in sending order, `ts` 7 ms apart from `t0`.
fn pingbacks(item: &str, t0: i64) -> Vec<(String, String)> {
    let mut ts = t0;
    let mut out = Vec::new();
    for (ua, queries) in sessions() {
        for q in queries {
            ts += 7;
            out.push((ua.clone(), format!("item={item}&ts={ts}&{q}")));
        }
    }
    out
}

/// The access log a CDN would have written for these pingbacks, with some other traffic.
fn access_log(item: &str, t0: i64) -> String {
    let mut log = String::new();
    for (ua, q) in pingbacks(item, t0) {
        let ts: i64 =
            q.split("&ts=").nth(1).and_then(|r| r.split('&').next()).and_then(|t| t.parse().ok()).unwrap_or(t0);
        log.push_str(&format!(
            "127.0.0.1 - - [{}] \"GET /ping/dot.gif?{q} HTTP/1.1\" 200 43 \"https://example.com/watch\" \"{ua}\"\n",
            support::ncsa_time(ts)
        ));
        log.push_str(&format!(
            "127.0.0.1 - - [{}] \"GET /video/{item}.m3u8 HTTP/1.1\" 200 512 \"-\" \"{ua}\"\n",
            support::ncsa_time(ts)
        ));
    }
    log.push_str(&format!(
        "127.0.0.1 - - [{}] \"GET /ping/dot.gif?item={item} HTTP/1.1\" 200 43 \"-\" \"x\"\n",
        support::ncsa_time(t0)
    ));
    log
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(data).expect("gzip");
    gz.finish().expect("gzip")
}

fn post_log(engage: &Engage, body: &[u8]) -> Value {
    let mut resp = agent()
        .post(engage.url("/v1/cdn-logs?format=ncsa"))
        .header("Content-Encoding", "gzip")
        .send(&gzip(body)[..])
        .expect("POST");
    assert_eq!(resp.status().as_u16(), 200);
    serde_json::from_slice(&resp.body_mut().read_to_vec().expect("body")).expect("JSON")
}

fn ingest_logs(engage: &Engage, file: &std::path::Path) -> Value {
    let out = Command::new(engage_bin())
        .args(["ingest-logs", "--format", "ncsa", "--target", &engage.base])
        .arg(file)
        .env("ENGAGE_LOG", "warn")
        .output()
        .expect("run ingest-logs");
    assert!(out.status.success(), "ingest-logs failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("a JSON summary")
}

/// `engage ingest-logs ... -` with `log` on standard input.
fn ingest_stdin(engage: &Engage, log: &str) -> Value {
    let mut child = Command::new(engage_bin())
        .args(["ingest-logs", "--format", "ncsa", "--target", &engage.base, "-"])
        .env("ENGAGE_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run ingest-logs");
    child.stdin.take().expect("stdin").write_all(log.as_bytes()).expect("write stdin");
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success());
    serde_json::from_slice(&out.stdout).expect("a JSON summary")
}

fn engagement(engage: &Engage, item: &str) -> Value {
    let mut v = get_json(&agent(), &engage.url(&format!("/api/v1/items/{item}/engagement")));
    if let Some(o) = v.as_object_mut() {
        o.remove("item");
        o.remove("timeline");
    }
    v
}

/// Video events the consumer found to be repeats of events it already had.
fn repeats_dropped(engage: &Engage) -> u64 {
    let (_, _, body) = get(&agent(), &engage.url("/metrics"), "e2e");
    String::from_utf8_lossy(&body)
        .lines()
        .find(|l| l.starts_with("engage_consumer_events_total{") && l.contains("outcome=\"repeat\""))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|n| n.parse::<f64>().ok())
        .unwrap_or(0.0) as u64
}

/// Waits until all three items show the same, complete numbers.
fn wait_same(engage: &Engage) -> Value {
    let found = eventually(Duration::from_secs(20), || {
        let live = engagement(engage, LIVE);
        let ok = live["plays"] == 5
            && live["completions"] == 1
            && engagement(engage, POSTED) == live
            && engagement(engage, SHIPPED) == live;
        ok.then_some(live)
    });
    match found {
        Some((v, _)) => v,
        None => {
            let (live, posted, shipped) =
                (engagement(engage, LIVE), engagement(engage, POSTED), engagement(engage, SHIPPED));
            for key in live.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>()).unwrap_or_default() {
                if live[&key] != posted[&key] || live[&key] != shipped[&key] {
                    eprintln!("{key}: live {} posted {} shipped {}", live[&key], posted[&key], shipped[&key]);
                }
            }
            panic!("logged pingbacks never matched live ones")
        }
    }
}

#[test]
fn logs_count_exactly_like_live_pingbacks_and_reshipping_changes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engage = Engage::start(dir.path(), &["--commit-interval-ms", "200"]);
    let t0 = now_ms() - 60_000;

    let agent = agent();
    for (ua, q) in pingbacks(LIVE, t0) {
        let (status, err, _) = get(&agent, &engage.url(&format!("/ping/dot.gif?{q}")), &ua);
        assert_eq!(status, 200, "{q}: {err:?}");
    }
    let n = pingbacks(LIVE, t0).len() as u64;

    let posted_log = access_log(POSTED, t0);
    let summary = post_log(&engage, posted_log.as_bytes());
    assert_eq!(summary["accepted"], n, "{summary}");
    assert_eq!(summary["skipped"]["not_pingback_path"], n, "{summary}");
    assert_eq!(summary["rejected"]["missing_ts"], 1, "{summary}");

    let file = dir.path().join("access.log.gz");
    std::fs::write(&file, gzip(access_log(SHIPPED, t0).as_bytes())).expect("write log");
    let shipped = ingest_logs(&engage, &file);
    assert_eq!(shipped["accepted"], n, "{shipped}");

    let first = wait_same(&engage);
    assert_eq!(first["impressions"], 5);
    assert_eq!(first["engaged_plays"], 3);
    assert_eq!(first["unique_viewers"], 5);

    // Shipped again, both ways: every pingback is a repeat, nothing changes.
    let before = repeats_dropped(&engage);
    post_log(&engage, posted_log.as_bytes());
    let again = ingest_stdin(&engage, &access_log(SHIPPED, t0));
    assert_eq!((again["file"].clone(), again["accepted"].clone()), (Value::from("-"), Value::from(n)));
    let dropped = eventually(Duration::from_secs(15), || {
        let d = repeats_dropped(&engage) - before;
        (d >= 2 * n).then_some(d)
    });
    assert!(dropped.is_some(), "repeats not dropped: {}", repeats_dropped(&engage) - before);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(wait_same(&engage), first);

    // Across a restart the views are kept (in the snapshot, or the store's archive), so
    // re-shipped lines are still repeats.
    engage.stop();
    let engage = Engage::start(dir.path(), &["--commit-interval-ms", "200"]);
    ingest_logs(&engage, &file);
    // Wait until the consumer has seen them all (as repeats), then compare.
    let dropped = eventually(Duration::from_secs(15), || (repeats_dropped(&engage) >= n).then_some(()));
    assert!(dropped.is_some(), "re-shipped lines not dropped after restart: {}", repeats_dropped(&engage));
    assert_eq!(wait_same(&engage), first);
    engage.stop();
}
