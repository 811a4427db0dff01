//! `engage run` driven by a real Segment client library nobody here wrote: PyPI
//! `segment-analytics-python`, through `tests/segment/drive_webinar.py`. It sends identify,
//! page, screen and track calls (the Livestorm web-conferencing events, Video Spec events),
//! one per request and in gzip batches, including a retried messageId and an event without a
//! session id; this test adds a direct `POST /v1/track` and bad calls, then reads the
//! session's (and the video's) engagement from the API and checks every number.
//!
//! The library is installed once into a venv under `target/` (`python3 -m venv`, `pip
//! install segment-analytics-python`); when that is impossible the test fails, it does not skip.

mod support;

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use support::{Engage, agent, eventually, get_json, now_ms};

const WRITE_KEY: &str = "e2e-write-key";
const ASSET: &str = "asset-e2e-1";
const SEC: i64 = 1_000;
const MIN: i64 = 60 * SEC;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The venv's python with `segment.analytics` importable, installing it if needed.
fn segment_python() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| workspace().join("target"), PathBuf::from);
    let venv = target.join("e2e-venv");
    let python = venv.join("bin/python");
    let importable =
        |py: &Path| Command::new(py).args(["-c", "import segment.analytics"]).status().is_ok_and(|s| s.success());
    if python.exists() && importable(&python) {
        return python;
    }
    let made = Command::new("python3").arg("-m").arg("venv").arg(&venv).status();
    assert!(made.is_ok_and(|s| s.success()), "python3 -m venv {} failed", venv.display());
    let pip = Command::new(venv.join("bin/pip")).args(["install", "--quiet", "segment-analytics-python"]).status();
    assert!(pip.is_ok_and(|s| s.success()), "pip install segment-analytics-python failed");
    assert!(importable(&python), "segment.analytics is not importable after installing it");
    python
}

/// Basic auth with the write key as user name: base64("e2e-write-key:").
fn basic_auth() -> String {
    const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let input = format!("{WRITE_KEY}:");
    let mut out = String::new();
    for chunk in input.as_bytes().chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(B64[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    format!("Basic {out}")
}

fn post(url: &str, auth: Option<&str>, body: &Value) -> (u16, Value) {
    let mut req = agent().post(url).header("Content-Type", "application/json");
    if let Some(a) = auth {
        req = req.header("Authorization", a);
    }
    let mut resp = req.send(body.to_string()).expect("HTTP POST");
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn iso(ms: i64) -> String {
    // RFC 3339 in UTC with milliseconds, as Segment SDKs send `timestamp`.
    let (y, m, d, rem) = support::civil(ms);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z", rem / 3600, rem % 3600 / 60, rem % 60, ms.rem_euclid(1000))
}

#[test]
fn a_real_segment_client_drives_webinar_engagement() {
    let python = segment_python();
    let dir = tempfile::tempdir().expect("tempdir");
    let engage = Engage::start(dir.path(), &["--write-keys", WRITE_KEY, "--commit-interval-ms", "100"]);
    let session = "webinar-e2e-1";
    // A minute-aligned start three minutes ago: every event is in the past, none final yet.
    let t0 = (now_ms() / MIN) * MIN - 3 * MIN;

    let out = Command::new(&python)
        .arg(workspace().join("tests/segment/drive_webinar.py"))
        .args([engage.base.as_str(), WRITE_KEY, session, &t0.to_string(), ASSET])
        .output()
        .expect("run the Python driver");
    assert!(
        out.status.success(),
        "driver failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // A direct call with Basic auth, and refusals: a bad key, a missing field.
    let question = json!({"userId": "c", "event": "User Engaged", "messageId": "direct-1",
        "properties": {"session_id": session, "type": "question"}, "timestamp": iso(t0 + 88 * SEC)});
    assert_eq!(post(&engage.url("/v1/track"), Some(&basic_auth()), &question), (200, json!({"success": true})));
    let (status, body) = post(&engage.url("/v1/track"), Some("Basic bm9wZTo="), &question);
    assert_eq!((status, body["code"].as_str()), (401, Some("unauthorized")));
    let no_event = json!({"userId": "c", "writeKey": WRITE_KEY, "properties": {"session_id": session}});
    let (status, body) = post(&engage.url("/v1/track"), None, &no_event);
    assert_eq!((status, body["field"].as_str()), (400, Some("event")), "{body}");

    let url = engage.url(&format!("/api/v1/sessions/{session}/engagement"));
    let expected_engagements = json!({"chat": 1, "poll": 2, "question": 1});
    let (e, took) = eventually(Duration::from_secs(20), || {
        let (status, _, body) = support::get(&agent(), &url, "engage-e2e");
        let e: Value = serde_json::from_slice(&body).ok()?;
        (status == 200 && e["ended_at"].is_i64() && e["engagements"] == expected_engagements).then_some(e)
    })
    .unwrap_or_else(|| panic!("session engagement never complete: {}", get_json(&agent(), &url)));
    assert!(took < Duration::from_secs(20));

    // a [5 s, 95 s), b [15 s, 135 s) (its second join is the same presence), c [75 s, 135 s),
    // z [55 s, 135 s) (no session id: the only live session of its source): b, c and z leave at
    // "Session Ended".
    assert_eq!(e["started_at"], t0);
    assert_eq!(e["ended_at"], t0 + 135 * SEC);
    assert_eq!(e["unique_attendees"], 4);
    assert_eq!(e["peak_concurrent"], 4);
    assert_eq!(e["avg_attendance_seconds"], 87.5);
    assert_eq!(e["engaged_share"], 0.5);
    assert_eq!(e["engagements"], expected_engagements);
    // screensharing 10 s → 100 s; a's camera from 30 s until the session ended at 135 s
    assert_eq!(e["stream_seconds"], json!({"camera": 105.0, "screensharing": 90.0}));
    let timeline: Vec<(i64, u64, u64, u64, u64)> = e["timeline"]
        .as_array()
        .expect("timeline")
        .iter()
        .map(|p| {
            let n = |k: &str| p[k].as_u64().unwrap_or(u64::MAX);
            (
                p["window_start"].as_i64().unwrap_or(0) - t0,
                n("attendees"),
                n("joins"),
                n("leaves"),
                n("peak_concurrent"),
            )
        })
        .collect();
    assert_eq!(timeline, vec![(0, 3, 3, 0, 3), (MIN, 4, 1, 1, 4), (2 * MIN, 3, 0, 3, 3)]);

    // Video Spec events through the video engine: one play, watched to the end, completed.
    let item = get_json(&agent(), &engage.url(&format!("/api/v1/items/{ASSET}/engagement")));
    assert_eq!(
        (item["impressions"].as_u64(), item["plays"].as_u64(), item["completions"].as_u64()),
        (Some(1), Some(1), Some(1)),
        "{item}"
    );
    let watched: u64 = item["retention"].as_array().expect("retention").iter().filter_map(Value::as_u64).sum();
    assert_eq!(watched, 100);

    // The refused calls were kept with their reasons (they may land one commit after the rest).
    let codes = || -> Vec<String> {
        let rejected = get_json(&agent(), &engage.url("/api/v1/rejected?limit=100"));
        rejected["rejected"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r["reason_code"].as_str().map(str::to_string))
            .collect()
    };
    let kept = eventually(Duration::from_secs(20), || {
        let c = codes();
        (c.iter().any(|c| c == "unauthorized") && c.iter().any(|c| c == "missing_field")).then_some(c)
    });
    assert!(kept.is_some(), "refusals not kept: {:?}", codes());
    engage.stop();
}
