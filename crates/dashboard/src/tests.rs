//! Router tests: real requests (`oneshot`) against a real SQLite store in a tempdir.

use crate::html::attribute_after;
use crate::router;
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use engage_model::rollup::{VideoCounters, VideoWindow};
use engage_model::webinar::{SessionSummary, SessionWindow, SessionWindowCounts};
use engage_sink::{CommitBatch, SqliteStore, Store};
use std::collections::BTreeMap;
use std::sync::Arc;
use tower::ServiceExt;

const MIN: i64 = 60_000;

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

fn window(item: &str, app: &str, start: i64, plays: i64) -> VideoWindow {
    let mut counters = VideoCounters { impressions: plays + 1, plays, engaged_plays: plays, ..Default::default() };
    for s in 0..50 {
        counters.retention[s] = plays;
    }
    counters.exits[50] = plays;
    counters.active_views = plays;
    VideoWindow {
        item: item.into(),
        app: app.into(),
        window_start_ms: start,
        window_end_ms: start + MIN,
        generation: 0,
        counters,
        viewers: (0..plays as u64).map(|v| (v, 1)).collect(),
    }
}

pub(crate) async fn store(dir: &tempfile::TempDir, data: bool) -> Arc<dyn Store> {
    let store = SqliteStore::open(&dir.path().join("engage.db")).unwrap();
    if data {
        let t = (now_ms() / MIN) * MIN - 5 * MIN;
        let batch = CommitBatch {
            next_offset: 1,
            windows: vec![
                window("popular", "web/Chrome", t, 9),
                window("popular", "Acme/TVApp", t + MIN, 3),
                window("niche", "web/Chrome", t, 2),
                window("old", "web/Chrome", t - 3 * 86_400_000, 50),
            ],
            session_windows: vec![SessionWindow {
                source: "webinars".into(),
                session_id: "webinar-1".into(),
                window_start_ms: t,
                window_end_ms: t + MIN,
                is_final: false,
                counts: SessionWindowCounts {
                    joins: 3,
                    attendees: 3,
                    peak_concurrent: 2,
                    engagements: BTreeMap::from([("poll".into(), 2)]),
                    ..Default::default()
                },
            }],
            session_summaries: vec![SessionSummary {
                source: "webinars".into(),
                session_id: "webinar-1".into(),
                started_at_ms: Some(t),
                unique_attendees: 3,
                engaged_attendees: 1,
                attendance_ms: 90_000,
                peak_concurrent: 2,
                engagements: BTreeMap::from([("poll".into(), 2)]),
                ..Default::default()
            }],
            ..CommitBatch::default()
        };
        store.commit(batch.into()).await.unwrap();
    }
    Arc::new(store)
}

async fn get(app: &Router, uri: &str) -> (StatusCode, String) {
    let request = Request::get(uri).header(header::HOST, "127.0.0.1:7777").body(Body::empty()).unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    assert_eq!(response.headers()[header::CONTENT_TYPE], "text/html; charset=utf-8", "{uri}");
    assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
    let bytes = axum::body::to_bytes(response.into_body(), 4 << 20).await.unwrap();
    (status, String::from_utf8(bytes.to_vec()).unwrap())
}

#[tokio::test]
async fn a_fresh_store_shows_how_to_send_a_first_pingback() {
    let dir = tempfile::tempdir().unwrap();
    let app = router(store(&dir, false).await, engage_api::Auth::open());
    let (status, html) = get(&app, "/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(r#"data-empty="first-run""#));
    assert!(html.contains("http://127.0.0.1:7777/ping/dot.gif?item=s1iTEmiD251a"), "uses the Host asked on");
}

#[tokio::test]
async fn the_page_defaults_to_the_top_item_and_the_view_refreshes_alone() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir, true).await;
    let app = router(store.clone(), engage_api::Auth::open());
    let (status, html) = get(&app, "/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.starts_with("<!doctype html>"));
    // 24 h: "old" is out of range; "popular" (12 plays) comes first and is shown.
    let items: Vec<&str> = html.split("<tr data-item=\"").skip(1).filter_map(|s| s.split('"').next()).collect();
    assert_eq!(items, ["popular", "niche"]);
    assert!(html.contains(r#"<section class="card detail" data-item="popular""#));
    let api = store
        .item_engagement(&engage_sink::ItemQuery {
            item: "popular".into(),
            app: None,
            range: engage_sink::TimeRange::ALL,
        })
        .await
        .unwrap();
    let plotted = attribute_after(&html, r#"data-chart="retention""#, "data-values").unwrap();
    assert_eq!(serde_json::from_str::<Vec<u64>>(&plotted).unwrap(), api.retention);
    assert!(html.contains(r#"<tr data-session="webinar-1" data-unique-attendees="3" data-peak-concurrent="2">"#));

    let (status, fragment) = get(&app, "/dashboard/view?range=all").await;
    assert_eq!(status, StatusCode::OK);
    assert!(fragment.starts_with(r#"<div class="view""#) && !fragment.contains("<html"));
    assert!(fragment.contains(r#"<tr data-item="old" data-plays="50""#), "all time includes old windows");
}

#[tokio::test]
async fn selections_search_and_filters() {
    let dir = tempfile::tempdir().unwrap();
    let app = router(store(&dir, true).await, engage_api::Auth::open());
    let (_, html) = get(&app, "/?session=webinar-1").await;
    assert!(html.contains(r#"data-session="webinar-1" aria-labelledby="detail-h""#));
    assert!(attribute_after(&html, r#"data-chart="engagements""#, "data-values").unwrap().contains("\"poll\":2"));
    let (_, html) = get(&app, "/?item=popular&app=Acme%2FTVApp").await;
    assert!(html.contains(r#"<dd data-kpi="plays">3</dd>"#), "only Acme/TVApp's plays");
    assert!(html.contains(r#"<dd data-kpi="bot_plays">0</dd>"#), "bots apart, none here");
    assert!(html.contains(r#"<tr data-app="Acme/TVApp" data-plays="3" aria-current="true">"#));
    let (_, html) = get(&app, "/?q=NICH").await;
    assert!(html.contains(r#"data-item="niche""#) && !html.contains(r#"<tr data-item="popular""#));
    assert!(html.contains("1 matching “NICH”"));
    let (_, html) = get(&app, "/dashboard/view?item=never-seen").await;
    assert!(html.contains(r#"data-empty="item""#));
}

#[tokio::test]
async fn bad_addresses_are_a_400_page_that_escapes_the_input() {
    let dir = tempfile::tempdir().unwrap();
    let app = router(store(&dir, true).await, engage_api::Auth::open());
    let (status, html) = get(&app, "/?item=%3Cimg%20src%3Dx%3E").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains(r#"role="alert""#) && !html.contains("<img"), "{html}");
    let (status, html) = get(&app, "/dashboard/view?range=forever").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("`range` must be one of"));
}

mod signed_in {
    //! With tokens configured: the sign-in form alone until a session, then the dashboard
    //! with the token's rights; sign-out; cross-origin posts refused.

    use super::store;
    use crate::router;
    use axum::Router;
    use axum::body::Body;
    use axum::http::{Request, StatusCode, header};
    use engage_api::auth::{Auth, TokenSet};
    use tower::ServiceExt;

    const ALL: &str = "dashboard-token-all-01";
    const WEBINARS: &str = "dashboard-token-web-02";

    async fn app(dir: &tempfile::TempDir) -> Router {
        let tokens = TokenSet::parse(&[ALL.to_string(), format!("{WEBINARS}=webinars")], &[]).unwrap();
        router(store(dir, true).await, Auth::new(tokens))
    }

    async fn send(app: &Router, request: Request<Body>) -> (StatusCode, axum::http::HeaderMap, String) {
        let response = app.clone().oneshot(request).await.unwrap();
        let (status, headers) = (response.status(), response.headers().clone());
        let bytes = axum::body::to_bytes(response.into_body(), 4 << 20).await.unwrap();
        (status, headers, String::from_utf8(bytes.to_vec()).unwrap())
    }

    fn get(uri: &str, cookie: Option<&str>) -> Request<Body> {
        let r = Request::get(uri).header(header::HOST, "127.0.0.1:7777");
        let r = if let Some(c) = cookie { r.header(header::COOKIE, c) } else { r };
        r.body(Body::empty()).unwrap()
    }

    fn post(uri: &str, form: &str, origin: Option<&str>) -> Request<Body> {
        let r = Request::post(uri)
            .header(header::HOST, "127.0.0.1:7777")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        let r = if let Some(o) = origin { r.header(header::ORIGIN, o) } else { r };
        r.body(Body::from(form.to_owned())).unwrap()
    }

    /// Signs in with `token`; the `name=value` of the session cookie.
    async fn sign_in(app: &Router, token: &str) -> String {
        let form = format!("token={token}&next=range%3Dall");
        let (status, headers, _) = send(app, post("/dashboard/sign-in", &form, Some("http://127.0.0.1:7777"))).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert_eq!(headers[header::LOCATION], "/?range=all", "back where the reader was");
        let cookie = headers[header::SET_COOKIE].to_str().unwrap().to_owned();
        for attribute in ["; Path=/", "; HttpOnly", "; SameSite=Strict", "; Max-Age=43200"] {
            assert!(cookie.contains(attribute), "{cookie}");
        }
        assert!(!cookie.contains("Secure") && !cookie.contains(token), "plain http; no token inside: {cookie}");
        cookie.split(';').next().unwrap().to_owned()
    }

    #[tokio::test]
    async fn the_page_is_a_sign_in_form_until_a_valid_token_is_entered() {
        let dir = tempfile::tempdir().unwrap();
        let app = app(&dir).await;
        let (status, headers, html) = send(&app, get("/?range=all", None)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(headers[header::WWW_AUTHENTICATE], r#"Bearer realm="engage""#);
        assert!(html.contains(r#"action="/dashboard/sign-in""#) && html.contains(r#"name="next" value="range=all""#));
        assert!(!html.contains("popular") && !html.contains("webinar-1") && !html.contains("<script"), "no data");
        assert_eq!(headers[header::CACHE_CONTROL], "no-store");
        assert_eq!(headers[header::X_FRAME_OPTIONS], "DENY");
        assert!(headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap().contains("style-src 'sha256-"));
        let (status, _, _) = send(&app, get("/dashboard/view", None)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);

        let (status, _, html) = send(&app, post("/dashboard/sign-in", "token=not-the-right-token", None)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(html.contains("That token is not valid.") && !html.contains("popular"));

        let cookie = sign_in(&app, ALL).await;
        let (status, _, html) = send(&app, get("/?range=all", Some(&cookie))).await;
        assert_eq!(status, StatusCode::OK);
        assert!(html.contains(r#"<tr data-item="popular""#) && html.contains(r#"action="/dashboard/sign-out""#));
        let (status, _, html) = send(&app, get("/dashboard/view?range=all", Some(&cookie))).await;
        assert_eq!((status, html.contains(r#"data-item="old""#)), (StatusCode::OK, true));

        let (status, headers, _) = send(&app, post("/dashboard/sign-out", "", Some("http://127.0.0.1:7777"))).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        let cleared = headers[header::SET_COOKIE].to_str().unwrap();
        assert!(cleared.starts_with("engage_session=;") && cleared.contains("Max-Age=0"), "{cleared}");
    }

    #[tokio::test]
    async fn a_scoped_token_sees_only_its_sources() {
        let dir = tempfile::tempdir().unwrap();
        let app = app(&dir).await;
        let cookie = sign_in(&app, WEBINARS).await;
        let (status, _, html) = send(&app, get("/?range=all&item=popular", Some(&cookie))).await;
        assert_eq!(status, StatusCode::OK);
        assert!(!html.contains(r#"data-item="popular""#), "video belongs to the default source");
        assert!(html.contains(r#"data-session="webinar-1""#), "sessions are readable by every token for now");
    }

    #[tokio::test]
    async fn cross_origin_posts_are_refused_and_https_cookies_are_secure() {
        let dir = tempfile::tempdir().unwrap();
        let app = app(&dir).await;
        let form = format!("token={ALL}");
        let (status, headers, _) = send(&app, post("/dashboard/sign-in", &form, Some("https://evil.example"))).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(!headers.contains_key(header::SET_COOKIE));
        let (status, _, _) = send(&app, post("/dashboard/sign-out", "", Some("https://evil.example"))).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let mut request = post("/dashboard/sign-in", &form, None);
        request.headers_mut().insert("x-forwarded-proto", "https".parse().unwrap());
        let (status, headers, _) = send(&app, request).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert!(headers[header::SET_COOKIE].to_str().unwrap().ends_with("; Secure"));
    }
}
