//! The read side behind credentials, end to end over HTTP against real `engage` processes:
//! unauthenticated reads refused (401 with the challenge), scopes (403), `/metrics` on the
//! main listener and on `--metrics-listen`, the dashboard's sign-in with a cookie, and the
//! roles that refuse to start (no tokens, a public address, short tokens, placeholders).

mod support;

use std::time::Duration;
use support::{Engage, eventually, now_ms, refuses_to_start};

const ALL: &str = "e2e-all-sources-token-0001";
const DEFAULT_ONLY: &str = "e2e-default-source-token-02";
const WEBINARS: &str = "e2e-webinars-only-token-0003";
const ITEM: &str = "authItem";

fn tokens() -> String {
    format!("{ALL},{DEFAULT_ONLY}=default,{WEBINARS}=webinars")
}

/// An agent that returns 4xx/5xx and redirects as responses.
fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into()
}

/// GET with an optional header; (status, headers, body).
fn get(url: &str, header: Option<(&str, &str)>) -> (u16, ureq::http::HeaderMap, String) {
    let mut request = agent().get(url);
    if let Some((name, value)) = header {
        request = request.header(name, value);
    }
    let mut response = request.call().expect("HTTP GET");
    let body = response.body_mut().read_to_string().unwrap_or_default();
    (response.status().as_u16(), response.headers().clone(), body)
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// A played item and a rejected pingback, counted.
fn feed(engage: &Engage) {
    let ts = now_ms();
    for (event, status) in [("initialized", 200), ("firstplay", 200)] {
        let url = engage.url(&format!("/ping/dot.gif?item={ITEM}&ts={ts}&il=2&progress=0&event={event}"));
        assert_eq!(get(&url, Some(("User-Agent", "Acme/Player 1.0"))).0, status, "pingbacks need no token");
    }
    assert_eq!(get(&engage.url("/ping/dot.gif?ts=1&event=play"), None).0, 400);
    let all = bearer(ALL);
    let counted = eventually(Duration::from_secs(10), || {
        let (_, _, items) = get(&engage.url("/api/v1/items"), Some(("Authorization", &all)));
        let (_, _, rejected) = get(&engage.url("/api/v1/rejected"), Some(("Authorization", &all)));
        (items.contains(ITEM) && rejected.contains("missing_item")).then_some(())
    });
    assert!(counted.is_some(), "the pingbacks were counted and the bad one kept");
}

#[test]
fn reads_need_a_token_and_a_scope_that_covers_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engage = Engage::start(dir.path(), &["--api-tokens", &tokens(), "--commit-interval-ms", "100"]);
    feed(&engage);

    // Open without a token: health and the write side.
    for path in ["/healthz", "/readyz"] {
        assert_eq!(get(&engage.url(path), None).0, 200, "{path}");
    }
    let track = agent()
        .post(&engage.url("/v1/track"))
        .header("Content-Type", "application/json")
        .send(r#"{"writeKey":"any","userId":"u1","event":"Clicked"}"#)
        .expect("POST");
    assert_eq!(track.status().as_u16(), 200, "Segment calls need a write key, not a token");

    // Unauthenticated or unknown: 401 with the challenge, on the API, the dashboard and /metrics.
    let reads = [
        format!("/api/v1/items/{ITEM}/engagement"),
        "/api/v1/items".into(),
        format!("/api/v1/items/{ITEM}/apps"),
        "/api/v1/rejected".into(),
        "/api/v1/sessions".into(),
        "/".into(),
        "/dashboard/view".into(),
        "/metrics".into(),
    ];
    for path in &reads {
        for auth in [None, Some(bearer("e2e-not-a-configured-token"))] {
            let (status, headers, body) = get(&engage.url(path), auth.as_deref().map(|a| ("Authorization", a)));
            assert_eq!(status, 401, "{path} with {auth:?}");
            let challenge = headers.get("www-authenticate").and_then(|v| v.to_str().ok()).unwrap_or_default();
            assert!(challenge.starts_with(r#"Bearer realm="engage""#), "{path}: {challenge:?}");
            assert!(!body.contains(ITEM), "{path} leaks nothing");
        }
    }

    // What each token reads: (path, [ALL, DEFAULT_ONLY, WEBINARS]).
    let rules: [(&str, [u16; 3]); 5] = [
        ("/api/v1/items", [200, 200, 403]),
        ("/api/v1/items/authItem/engagement", [200, 200, 403]),
        ("/api/v1/rejected", [200, 403, 403]),
        ("/api/v1/sessions", [200, 200, 200]),
        ("/metrics", [200, 403, 403]),
    ];
    for (path, statuses) in rules {
        for (token, status) in [ALL, DEFAULT_ONLY, WEBINARS].into_iter().zip(statuses) {
            let (got, _, body) = get(&engage.url(path), Some(("Authorization", &bearer(token))));
            assert_eq!(got, status, "{token} on {path}: {body}");
        }
    }

    // The API's answers are not cached and carry the security headers.
    let (_, headers, _) = get(&engage.url("/api/v1/items"), Some(("Authorization", &bearer(ALL))));
    for (name, value) in [
        ("cache-control", "no-store"),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
        ("x-frame-options", "DENY"),
    ] {
        assert_eq!(headers.get(name).and_then(|v| v.to_str().ok()), Some(value), "{name}");
    }
    engage.stop();
}

#[test]
fn the_dashboard_signs_in_with_a_token_and_its_cookie_reads_the_api() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engage = Engage::start(dir.path(), &["--api-tokens", &tokens(), "--commit-interval-ms", "100"]);
    feed(&engage);
    let (status, _, page) = get(&engage.url("/?range=all"), None);
    assert_eq!(status, 401);
    assert!(page.contains(r#"action="/dashboard/sign-in""#) && !page.contains(ITEM), "the form, no data");

    let sign_in = |token: &str| {
        agent()
            .post(&engage.url("/dashboard/sign-in"))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("Origin", &engage.base)
            .send(format!("token={token}&next=range%3Dall"))
            .expect("POST sign-in")
    };
    let mut wrong = sign_in("e2e-not-a-configured-token");
    assert_eq!(wrong.status().as_u16(), 401);
    assert!(wrong.body_mut().read_to_string().unwrap().contains("That token is not valid."));

    let ok = sign_in(ALL);
    assert_eq!(ok.status().as_u16(), 303);
    assert_eq!(ok.headers()["location"], "/?range=all");
    let set_cookie = ok.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Strict"), "{set_cookie}");
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    assert!(!cookie.contains(ALL), "the cookie does not hold the token");

    let (status, headers, page) = get(&engage.url("/?range=all"), Some(("Cookie", &cookie)));
    assert_eq!(status, 200);
    assert!(page.contains(&format!(r#"data-item="{ITEM}""#)), "signed in, the data shows");
    let csp = headers.get("content-security-policy").and_then(|v| v.to_str().ok()).unwrap_or_default();
    assert!(csp.contains("script-src 'sha256-") && !csp.contains("unsafe-inline"), "{csp}");
    let (status, _, view) = get(&engage.url("/dashboard/view?range=all"), Some(("Cookie", &cookie)));
    assert!(status == 200 && view.contains(ITEM), "the page's own refresh works with the cookie");
    let (status, _, items) = get(&engage.url("/api/v1/items"), Some(("Cookie", &cookie)));
    assert!(status == 200 && items.contains(ITEM), "the API takes the cookie too");
    assert_eq!(get(&engage.url("/api/v1/rejected"), Some(("Cookie", &cookie))).0, 200, "with the token's rights");

    let out = agent().post(&engage.url("/dashboard/sign-out")).header("Origin", &engage.base).send("").expect("POST");
    assert_eq!(out.status().as_u16(), 303);
    assert!(out.headers()["set-cookie"].to_str().unwrap().contains("Max-Age=0"), "the cookie is cleared");
    let foreign = agent()
        .post(&engage.url("/dashboard/sign-in"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("Origin", "http://evil.example")
        .send(format!("token={ALL}"))
        .expect("POST");
    assert_eq!(foreign.status().as_u16(), 403, "a cross-origin sign-in is refused");
    engage.stop();
}

#[test]
fn metrics_move_to_their_own_listener_without_a_token() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().unwrap().port();
    let metrics_listen = format!("127.0.0.1:{port}");
    let dir = tempfile::tempdir().expect("tempdir");
    let engage = Engage::start(dir.path(), &["--api-tokens", &tokens(), "--metrics-listen", &metrics_listen]);
    assert_eq!(get(&engage.url("/ping/dot.gif?ts=1&event=play"), None).0, 400, "something to count");
    let scraped = eventually(Duration::from_secs(5), || {
        let (status, _, body) = get(&format!("http://{metrics_listen}/metrics"), None);
        assert_eq!(status, 200, "no token on the metrics listener");
        body.contains("engage_collector_rejected_total").then_some(())
    });
    assert!(scraped.is_some(), "the metrics listener serves the process's metrics");
    let (status, _, _) = get(&engage.url("/metrics"), Some(("Authorization", &bearer(ALL))));
    assert_eq!(status, 404, "the main listener serves no /metrics");
    engage.stop();

    // Without tokens on loopback, /metrics stays on the main listener, open.
    let dir = tempfile::tempdir().expect("tempdir");
    let engage = Engage::start(dir.path(), &[]);
    assert_eq!(get(&engage.url("/metrics"), None).0, 200);
    assert_eq!(get(&engage.url("/api/v1/items"), None).0, 200, "loopback without tokens is open");
    engage.stop();
}

#[test]
fn roles_refuse_to_start_with_an_open_or_guessable_read_side() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().to_str().expect("utf-8");
    let said = refuses_to_start(&["api", "--listen", "127.0.0.1:0", "--data-dir", data]);
    assert!(said.contains("--api-tokens") && said.contains("--public-read"), "{said}");
    let said = refuses_to_start(&["run", "--listen", "0.0.0.0:0", "--data-dir", data]);
    assert!(said.contains("not a loopback address") && said.contains("--public-read"), "{said}");
    let said = refuses_to_start(&["run", "--listen", "127.0.0.1:0", "--data-dir", data, "--api-tokens", "too-short"]);
    assert!(said.contains("--api-tokens / ENGAGE_API_TOKENS: entry 1 is 9 characters"), "{said}");
    assert!(!said.contains("too-short"), "the token is not echoed: {said}");
    let said = refuses_to_start(&["api", "--data-dir", data, "--admin-tokens", "REPLACE-WITH-ADMIN-TOKENS"]);
    assert!(said.contains("--admin-tokens / ENGAGE_ADMIN_TOKENS: entry 1 is a placeholder"), "{said}");
    let said = refuses_to_start(&["run", "--listen", "127.0.0.1:0", "--data-dir", data, "--write-keys", "change-me"]);
    assert!(said.contains("--write-keys / ENGAGE_WRITE_KEYS") && said.contains("placeholder"), "{said}");
    let said = refuses_to_start(&[
        "collector",
        "--listen",
        "127.0.0.1:0",
        "--kafka-brokers",
        "127.0.0.1:1",
        "--write-keys",
        "REPLACE-WITH-WRITE-KEYS",
    ]);
    assert!(said.contains("--write-keys / ENGAGE_WRITE_KEYS") && said.contains("placeholder"), "{said}");
    let said = refuses_to_start(&["consumer", "--listen", "0.0.0.0:0", "--kafka-brokers", "127.0.0.1:1"]);
    assert!(said.contains("/metrics would be open") && said.contains("--metrics-listen"), "{said}");
}
