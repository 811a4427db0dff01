//! Sources are tenants, and a person can be erased, end to end over HTTP against the real
//! `engage run`, on SQLite and on ClickHouse (`CLICKHOUSE_URL`, else the chDB front of
//! `tests/clickhouse/`):
//! - two write keys naming two sources send the same user id, session id and page name: the
//!   stores keep their traits, raw events and sessions apart, the API shows each source's
//!   session, and a token scoped to one source sees only that one;
//! - an erasure (`DELETE /api/v1/users/{id}`, then `engage forget --target`) removes the
//!   person's traits and raw events in their source only, including events stamped only with
//!   an anonymous id the consumer linked to them, and leaves the other source's person alone;
//! - a source past its rate limit is answered 429 with `Retry-After`; a call whose consent
//!   object denies analytics is answered 200, counted, and never stored.

#[path = "../../sink/tests/clickhouse_support/mod.rs"]
mod clickhouse_support;
mod support;

use serde_json::{Value, json};
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use support::{Engage, agent, engage_bin, eventually};

const ALL: &str = "e2e-sources-all-token-0001";
const ACME_ONLY: &str = "e2e-sources-acme-token-002";
const ADMIN: &str = "e2e-sources-admin-token-03";
const ACME_KEY: &str = "wk-acme-live-01";
const GLOBEX_KEY: &str = "wk-globex-live-02";

fn flags<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut f = vec![
        "--commit-interval-ms",
        "100",
        "--write-keys",
        "wk-acme-live-01=acme,wk-globex-live-02=globex",
        "--api-tokens",
        "e2e-sources-all-token-0001,e2e-sources-acme-token-002=acme",
        "--admin-tokens",
        ADMIN,
    ];
    f.extend_from_slice(extra);
    f
}

/// (status, headers, JSON body) of a request with a bearer token.
fn call(method: &str, url: &str, token: Option<&str>, body: Option<&Value>) -> (u16, ureq::http::HeaderMap, Value) {
    let agent = agent();
    let mut response = match (method, body) {
        ("GET", _) => {
            let mut r = agent.get(url);
            if let Some(t) = token {
                r = r.header("Authorization", &format!("Bearer {t}"));
            }
            r.call()
        }
        ("DELETE", _) => {
            let mut r = agent.delete(url);
            if let Some(t) = token {
                r = r.header("Authorization", &format!("Bearer {t}"));
            }
            r.call()
        }
        (_, body) => agent
            .post(url)
            .header("Content-Type", "application/json")
            .send(body.map(Value::to_string).unwrap_or_default()),
    }
    .expect("HTTP");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    (status, headers, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// The same person, session and page in a source: an anonymous page view, identify calls
/// linking the anonymous id, traits with an e-mail address, a webinar session.
fn send_person(e: &Engage, key: &str, email: &str) {
    let batch = json!({"writeKey": key, "batch": [
        {"type": "page", "anonymousId": "anon-1", "name": "Pricing", "messageId": "p1"},
        {"type": "identify", "userId": "u42", "anonymousId": "anon-1", "traits": {"email": email}, "messageId": "i1"},
        {"type": "track", "userId": "host", "event": "Session Started", "properties": {"session_id": "w-1"}, "messageId": "t0"},
        {"type": "track", "userId": "u42", "event": "User Joined", "properties": {"session_id": "w-1"}, "messageId": "t1"},
    ]});
    let (status, _, answer) = call("POST", &e.url("/v1/batch"), None, Some(&batch));
    assert_eq!(status, 200, "{answer}");
}

/// What a store holds about (source, ids): (traits rows, raw events).
type Rows<'a> = &'a dyn Fn(&str, &[&str]) -> (u64, u64);

fn sources_and_erasure(e: &Engage, rows: Rows<'_>) {
    send_person(e, ACME_KEY, "jane@acme.example");
    send_person(e, GLOBEX_KEY, "john@globex.example");

    // Two sessions "w-1", one per source.
    let sessions = eventually(Duration::from_secs(30), || {
        let (_, _, v) = call("GET", &e.url("/api/v1/sessions"), Some(ALL), None);
        let list = v["sessions"].as_array()?.clone();
        (list.len() == 2).then_some(list)
    })
    .map(|(v, _)| v)
    .unwrap_or_else(|| panic!("two sessions: {}", call("GET", &e.url("/api/v1/sessions"), Some(ALL), None).2));
    let mut sources: Vec<&str> = sessions.iter().map(|s| s["source"].as_str().unwrap()).collect();
    sources.sort_unstable();
    assert_eq!(sources, ["acme", "globex"]);
    assert!(sessions.iter().all(|s| s["session_id"] == "w-1" && s["unique_attendees"] == 1), "{sessions:?}");

    // Which w-1 must be said, unless the token reads one source only.
    let engagement = e.url("/api/v1/sessions/w-1/engagement");
    assert_eq!(call("GET", &engagement, Some(ALL), None).0, 409);
    let (status, _, acme) = call("GET", &engagement, Some(ACME_ONLY), None);
    assert_eq!((status, acme["source"].as_str()), (200, Some("acme")));
    let (status, _, globex) = call("GET", &format!("{engagement}?source=globex"), Some(ALL), None);
    assert_eq!((status, globex["source"].as_str()), (200, Some("globex")));
    assert_eq!(call("GET", &format!("{engagement}?source=globex"), Some(ACME_ONLY), None).0, 403);
    let (_, _, listed) = call("GET", &e.url("/api/v1/sessions"), Some(ACME_ONLY), None);
    assert_eq!(listed["sessions"].as_array().map(Vec::len), Some(1), "{listed}");

    // The same user id in two sources: two people, each with their own traits and events.
    let settled = eventually(Duration::from_secs(30), || {
        let (a, b) = (rows("acme", &["u42", "anon-1"]), rows("globex", &["u42", "anon-1"]));
        (a == (1, 3) && b == (1, 3)).then_some(())
    });
    assert!(settled.is_some(), "rows per source: {:?} {:?}", rows("acme", &["u42"]), rows("globex", &["u42"]));

    // Erasure needs an admin token with the source in its scope.
    let erase = e.url("/api/v1/users/u42?source=acme");
    assert_eq!(call("DELETE", &erase, None, None).0, 401);
    assert_eq!(call("DELETE", &erase, Some(ACME_ONLY), None).0, 403);
    let (status, _, answer) = call("DELETE", &erase, Some(ADMIN), None);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["source"], "acme");
    assert_eq!(answer["deleted"], json!({"traits": 1, "events": 2}), "the rows naming u42, at once: {answer}");
    // The consumer forgets u42 with the anonymous id it linked, and deletes the page view
    // stamped only with that anonymous id.
    let gone = eventually(Duration::from_secs(30), || (rows("acme", &["u42", "anon-1"]) == (0, 0)).then_some(()));
    assert!(gone.is_some(), "acme's person is gone: {:?}", rows("acme", &["u42", "anon-1"]));
    assert_eq!(rows("globex", &["u42", "anon-1"]), (1, 3), "the other source's u42 is untouched");
    // Aggregates hold no id and stay.
    let (_, _, acme) = call("GET", &format!("{engagement}?source=acme"), Some(ALL), None);
    assert_eq!(acme["unique_attendees"], 1);

    // `engage forget` through the running process.
    let out = Command::new(engage_bin())
        .args(["forget", "--source", "globex", "--user-id", "u42", "--anonymous-id", "anon-1", "--target", &e.base])
        .env("ENGAGE_API_TOKEN", ADMIN)
        .env("ENGAGE_LOG", "warn")
        .output()
        .expect("run engage forget");
    assert!(out.status.success(), "engage forget: {}", String::from_utf8_lossy(&out.stderr));
    let printed: Value = serde_json::from_slice(&out.stdout).expect("JSON answer");
    assert_eq!(printed["deleted"], json!({"traits": 1, "events": 3}), "{printed}");
    assert_eq!(rows("globex", &["u42", "anon-1"]), (0, 0));
}

fn sqlite_rows(dir: &Path) -> impl Fn(&str, &[&str]) -> (u64, u64) + '_ {
    move |source, ids| {
        let conn = rusqlite::Connection::open_with_flags(
            dir.join("engage.sqlite3"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .expect("open the store");
        let ids = serde_json::to_string(ids).unwrap();
        let count = |sql: &str| -> u64 {
            conn.query_row(sql, rusqlite::params![source, ids], |r| r.get::<_, i64>(0)).expect("count") as u64
        };
        let traits = count(
            "SELECT count(*) FROM user_traits WHERE source = ?1
               AND (user_id IN (SELECT value FROM json_each(?2)) OR anonymous_id IN (SELECT value FROM json_each(?2)))",
        );
        let events = count(
            "SELECT count(*) FROM analytics_events WHERE source = ?1
               AND (user_id IN (SELECT value FROM json_each(?2)) OR anonymous_id IN (SELECT value FROM json_each(?2)))",
        );
        (traits, events)
    }
}

/// One number from ClickHouse's HTTP interface.
fn clickhouse_count(url: &str, database: &str, sql: &str) -> u64 {
    let mut response = agent().post(&format!("{url}/?database={database}")).send(sql).expect("ClickHouse query");
    let text = response.body_mut().read_to_string().expect("answer");
    text.trim().parse().unwrap_or_else(|_| panic!("{sql}: {text}"))
}

fn clickhouse_rows<'a>(url: &'a str, database: &'a str) -> impl Fn(&str, &[&str]) -> (u64, u64) + 'a {
    move |source, ids| {
        let list = ids.iter().map(|i| format!("'{i}'")).collect::<Vec<_>>().join(",");
        let traits = clickhouse_count(
            url,
            database,
            &format!(
                "SELECT count() FROM user_traits WHERE source = '{source}' AND (user_id IN ({list}) OR anonymous_id IN ({list}))"
            ),
        );
        let events = clickhouse_count(
            url,
            database,
            &format!(
                "SELECT count() FROM analytics_events FINAL WHERE source = '{source}' AND (user_id IN ({list}) OR anonymous_id IN ({list}))"
            ),
        );
        (traits, events)
    }
}

#[test]
fn sources_are_kept_apart_and_a_person_is_erased_on_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let e = Engage::start(dir.path(), &flags(&[]));
    sources_and_erasure(&e, &sqlite_rows(dir.path()));
    e.stop();
}

#[test]
fn sources_are_kept_apart_and_a_person_is_erased_on_clickhouse() {
    let url = clickhouse_support::shared_url();
    let database = clickhouse_support::fresh_database("e2e_sources");
    let out = Command::new(engage_bin())
        .args(["migrate", "--clickhouse-url", &url, "--clickhouse-database", &database])
        .env("ENGAGE_LOG", "warn")
        .output()
        .expect("run engage migrate");
    assert!(out.status.success(), "engage migrate failed: {}", String::from_utf8_lossy(&out.stderr));
    let dir = tempfile::tempdir().expect("tempdir");
    let e = Engage::start(dir.path(), &flags(&["--clickhouse-url", &url, "--clickhouse-database", &database]));
    sources_and_erasure(&e, &clickhouse_rows(&url, &database));
    e.stop();
}

#[test]
fn a_source_over_its_rate_gets_429_and_a_call_without_consent_is_never_stored() {
    let dir = tempfile::tempdir().expect("tempdir");
    let e = Engage::start(dir.path(), &flags(&["--source-rate", "1", "--source-burst", "3"]));
    let call_of = |id: &str, consent: bool| {
        json!({"type": "track", "userId": id, "event": "Clicked", "messageId": id,
               "context": {"consent": {"categoryPreferences": {"Analytics": consent, "Advertising": true}}}})
    };
    // Three calls fit the burst (one of them without consent: answered, never stored).
    let batch =
        json!({"writeKey": ACME_KEY, "batch": [call_of("c1", true), call_of("c2", false), call_of("c3", true)]});
    let (status, _, answer) = call("POST", &e.url("/v1/batch"), None, Some(&batch));
    assert_eq!((status, answer), (200, json!({"success": true})));
    // The fourth does not: 429 with Retry-After, as Segment answers.
    let one = json!({"writeKey": ACME_KEY, "batch": [call_of("c4", true)]});
    let (status, headers, answer) = call("POST", &e.url("/v1/batch"), None, Some(&one));
    assert_eq!(status, 429, "{answer}");
    assert_eq!(answer["code"], "rate_limited");
    let retry: u64 = headers.get("retry-after").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok()).unwrap();
    assert!((1..=2).contains(&retry), "{retry}");
    // Another source has its own budget.
    let other = json!({"writeKey": GLOBEX_KEY, "batch": [call_of("g1", true)]});
    assert_eq!(call("POST", &e.url("/v1/batch"), None, Some(&other)).0, 200);

    let rows = sqlite_rows(dir.path());
    let stored = eventually(Duration::from_secs(30), || (rows("globex", &["g1"]).1 == 1).then_some(()));
    assert!(stored.is_some(), "the other source's call was stored");
    assert_eq!((rows("acme", &["c1"]).1, rows("acme", &["c3"]).1), (1, 1));
    assert_eq!(rows("acme", &["c2"]), (0, 0), "no consent: not stored");
    assert_eq!(rows("acme", &["c4"]), (0, 0), "throttled: not stored");
    let (_, _, metrics) = call("GET", &e.url("/metrics"), Some(ALL), None);
    let metrics = metrics.as_str().unwrap_or_default().to_owned();
    let line = |needle: &str| metrics.lines().find(|l| l.contains(needle) && !l.starts_with('#')).map(str::to_owned);
    let no_consent = line("outcome=\"no_consent\"").expect("no_consent counted");
    assert!(no_consent.ends_with(" 1"), "{no_consent}");
    let limited = line("reason=\"rate_limited\"").expect("rate_limited counted");
    assert!(limited.ends_with(" 1"), "{limited}");
    e.stop();
}
