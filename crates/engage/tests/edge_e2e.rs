//! The public edge, probed as an attacker would, end to end over HTTP against `engage run`:
//! - refused inputs keep the reason, not the person: a bad pingback, a bad CDN log line and
//!   bad Segment calls that carry an IP address and an e-mail address are refused and listed
//!   by `/api/v1/rejected` (for a token only), and neither the address nor the e-mail is in
//!   the answer, nor anywhere in the files under the data directory;
//! - log shipping is authenticated: with `--log-tokens`, a forged log line without a token
//!   (or with a wrong one) is refused with 401 and counts nowhere; `engage ingest-logs
//!   --token` ships the same line.

mod support;

use serde_json::{Value, json};
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use support::{Engage, agent, engage_bin, eventually, ncsa_time, now_ms};

const READ_TOKEN: &str = "e2e-edge-read-token-0001";
const LOG_TOKEN: &str = "e2e-edge-log-token-00001";
const WRITE_KEY: &str = "wk-edge-e2e-01";
/// What a refused input carries that must not be kept.
const CLIENT_IP: &str = "203.0.113.77";
const EMAIL: &str = "jane.doe@example.com";

fn start(dir: &Path) -> Engage {
    Engage::start(
        dir,
        &[
            "--commit-interval-ms",
            "100",
            "--api-tokens",
            READ_TOKEN,
            "--log-tokens",
            LOG_TOKEN,
            "--write-keys",
            &format!("{WRITE_KEY}=web"),
        ],
    )
}

/// (status, headers, body) of a request; `auth` is a whole `Authorization` value.
fn send(method: &str, url: &str, auth: Option<&str>, body: &str) -> (u16, ureq::http::HeaderMap, String) {
    let agent = agent();
    let response = match method {
        "GET" => {
            let mut r = agent.get(url);
            if let Some(a) = auth {
                r = r.header("Authorization", a);
            }
            r.call()
        }
        _ => {
            let mut r = agent.post(url).header("Content-Type", "application/json");
            if let Some(a) = auth {
                r = r.header("Authorization", a);
            }
            r.send(body)
        }
    };
    let mut response = response.expect("HTTP");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.body_mut().read_to_string().unwrap_or_default())
}

/// An NCSA line of a level-1 `firstplay` with a progress (refused: level-1 progress is 0)
/// from [`CLIENT_IP`], with [`EMAIL`] in its query and referrer.
fn bad_log_line() -> String {
    format!(
        "{CLIENT_IP} - - [{}] \"GET /ping/dot.gif?item=edgeItem&ts=1&progress=7&event=firstplay&email={} HTTP/1.1\" 200 43 \"https://site.example/?u={EMAIL}\" \"Mozilla/5.0 (edge e2e)\"",
        ncsa_time(now_ms() - 60_000),
        EMAIL.replace('@', "%40"),
    )
}

/// A valid line of a forged viewer of `item`.
fn forged_line(item: &str) -> String {
    format!(
        "198.51.100.23 - - [{}] \"GET /ping/dot.gif?item={item}&ts=1&progress=0&event=firstplay HTTP/1.1\" 200 43 \"-\" \"Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0\"",
        ncsa_time(now_ms() - 60_000)
    )
}

#[test]
fn refused_inputs_keep_the_reason_not_the_person() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engage = start(dir.path());
    let bearer = |t: &str| format!("Bearer {t}");

    // A pingback with an invalid item and an e-mail address in its query.
    let url = engage.url(&format!("/ping/dot.gif?item=%3Cb%3E&ts=1&progress=0&event=firstplay&email={EMAIL}"));
    assert_eq!(send("GET", &url, None, "").0, 400);
    // A log line from a client with an e-mail address in its query and referrer.
    let logs = engage.url("/v1/cdn-logs?format=ncsa");
    let (status, _, answer) = send("POST", &logs, Some(&bearer(LOG_TOKEN)), &bad_log_line());
    assert_eq!(status, 200, "{answer}");
    assert!(answer.contains("\"level1_progress_not_zero\":1"), "{answer}");
    // An identify without ids, with traits and the client's address; and one with a wrong key.
    let identify =
        json!({"writeKey": WRITE_KEY, "traits": {"email": EMAIL, "name": "Jane Doe"}, "context": {"ip": CLIENT_IP}});
    let (status, _, answer) = send("POST", &engage.url("/v1/identify"), None, &identify.to_string());
    assert_eq!(status, 400, "{answer}");
    let stranger = json!({"writeKey": "wk-unknown", "userId": EMAIL, "traits": {"email": EMAIL}});
    assert_eq!(send("POST", &engage.url("/v1/identify"), None, &stranger.to_string()).0, 401);

    // The read side: nothing without a token; the four refusals with one.
    let rejected = engage.url("/api/v1/rejected?limit=100");
    assert_eq!(send("GET", &rejected, None, "").0, 401);
    let (rows, _) = eventually(Duration::from_secs(20), || {
        let (status, _, body) = send("GET", &rejected, Some(&bearer(READ_TOKEN)), "");
        let v: Value = serde_json::from_str(&body).ok()?;
        let rows = v["rejected"].as_array()?.clone();
        (status == 200 && rows.len() >= 4).then_some(rows)
    })
    .expect("the four refusals are listed");
    let text = Value::Array(rows.clone()).to_string();
    for personal in [CLIENT_IP, EMAIL, "jane.doe", "Jane Doe"] {
        assert!(!text.contains(personal), "{personal} kept in {text}");
    }
    let reason = |route: &str| rows.iter().find(|r| r["route"] == route).map(|r| r["reason_code"].clone());
    assert_eq!(reason("/ping/dot.gif"), Some(json!("invalid_item")), "{text}");
    assert_eq!(reason("/v1/cdn-logs"), Some(json!("level1_progress_not_zero")), "{text}");
    let identify_reasons: Vec<&Value> =
        rows.iter().filter(|r| r["route"] == "/v1/identify").map(|r| &r["reason_code"]).collect();
    assert_eq!(identify_reasons.len(), 2, "{text}");
    // What is kept still says where the problem is.
    let log_row = rows.iter().find(|r| r["route"] == "/v1/cdn-logs").expect("log row");
    assert!(log_row["input"].as_str().unwrap_or("").contains("event=firstplay"), "{log_row}");
    engage.stop();

    // Nor is either anywhere on disk: the embedded log, the store, their WAL files.
    let mut files = vec![dir.path().to_path_buf()];
    let mut scanned = 0;
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(std::fs::read_dir(&path).expect("read dir").map(|e| e.expect("entry").path()));
            continue;
        }
        let bytes = std::fs::read(&path).expect("read");
        scanned += 1;
        for personal in [CLIENT_IP, EMAIL, "jane.doe%40example.com"] {
            let found = bytes.windows(personal.len()).any(|w| w == personal.as_bytes());
            assert!(!found, "{personal} is in {}", path.display());
        }
    }
    assert!(scanned >= 2, "the log and the store were scanned");
}

#[test]
fn a_forged_log_line_is_refused_without_a_token() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engage = start(dir.path());
    let logs = engage.url("/v1/cdn-logs?format=ncsa");
    for auth in [None, Some("Bearer e2e-edge-log-token-00002"), Some(&*format!("Basic {LOG_TOKEN}"))] {
        let (status, headers, answer) = send("POST", &logs, auth, &forged_line("forgedItem"));
        assert_eq!(status, 401, "{auth:?}: {answer}");
        assert_eq!(headers.get("www-authenticate").and_then(|v| v.to_str().ok()), Some("Bearer realm=\"engage-logs\""));
    }
    // The shipper without its token is told why; with it, the line is shipped.
    let file = dir.path().join("access.log");
    std::fs::write(&file, format!("{}\n", forged_line("shippedItem"))).expect("write");
    let ship = |token: Option<&str>| {
        let mut cmd = Command::new(engage_bin());
        cmd.args(["ingest-logs", "--format", "ncsa", "--target", &engage.base])
            .arg(&file)
            .env_remove("ENGAGE_LOG_TOKEN");
        if let Some(t) = token {
            cmd.env("ENGAGE_LOG_TOKEN", t);
        }
        cmd.output().expect("engage ingest-logs")
    };
    let refused = ship(None);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("log token"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let shipped = ship(Some(LOG_TOKEN));
    assert!(shipped.status.success(), "{}", String::from_utf8_lossy(&shipped.stderr));
    let summary: Value = serde_json::from_slice(&shipped.stdout).expect("summary line");
    assert_eq!(summary["accepted"], 1, "{summary}");

    // The shipped line counts; the forged one does not.
    let engagement = |item: &str| {
        let url = engage.url(&format!("/api/v1/items/{item}/engagement"));
        let (status, _, body) = send("GET", &url, Some(&format!("Bearer {READ_TOKEN}")), "");
        assert_eq!(status, 200, "{body}");
        serde_json::from_str::<Value>(&body).expect("json")
    };
    let counted = eventually(Duration::from_secs(20), || (engagement("shippedItem")["plays"] == 1).then_some(()));
    assert!(counted.is_some(), "the shipped line counts: {}", engagement("shippedItem"));
    assert_eq!(engagement("forgedItem")["plays"], 0);
    let metrics = agent()
        .get(&engage.url("/metrics"))
        .header("Authorization", &format!("Bearer {READ_TOKEN}"))
        .call()
        .expect("metrics")
        .body_mut()
        .read_to_string()
        .expect("text");
    assert!(
        metrics.contains(r#"engage_collector_rejected_total{route="/v1/cdn-logs",reason="unauthorized"} 4"#),
        "three refused posts and the shipper without a token: {metrics}"
    );
    engage.stop();
}
