//! Handler tests with an in-memory publisher (capturing, or failing for the 503 path).

use super::*;
use crate::test_support::{Capture, keyer_around};
use crate::{Collector, CollectorConfig};
use axum::body::{Body, to_bytes};
use axum::extract::connect_info::MockConnectInfo;
use axum::http::Request;
use engage_model::envelope::{Body as EvBody, RawEvent};
use std::sync::Arc;
use tower::ServiceExt;

const NOW: i64 = 1_700_000_000_000;

fn app(publisher: Arc<Capture>, trusted: &str) -> axum::Router {
    app_at(publisher, trusted, NOW)
}

/// The collector with its clock stopped at `now`.
fn app_at(publisher: Arc<Capture>, trusted: &str, now: i64) -> axum::Router {
    let config = CollectorConfig { trusted_proxies: vec![trusted.parse().expect("net")], ..Default::default() };
    let c = Collector::new(publisher, keyer_around(now), config, Arc::new(move || now));
    c.router().layer(MockConnectInfo(SocketAddr::from(([10, 0, 0, 1], 4000))))
}

async fn get(router: axum::Router, uri: &str, headers: &[(&str, &str)]) -> (StatusCode, HeaderMap, Vec<u8>) {
    let mut req = Request::get(uri);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = router.oneshot(req.body(Body::empty()).expect("request")).await.expect("response");
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = to_bytes(resp.into_body(), 1 << 20).await.expect("body").to_vec();
    (status, headers, body)
}

fn events(p: &Capture) -> Vec<RawEvent> {
    p.records.lock().expect("lock").iter().map(|r| RawEvent::decode(r.payload.as_slice()).expect("decodes")).collect()
}

#[tokio::test]
async fn accepted_pingback_answers_the_gif_and_publishes() {
    let p = Arc::new(Capture::default());
    let uri = format!("/ping/dot.gif?item=X1&ts={}&il=2&progress=30&event=update", NOW - 500);
    let (status, headers, body) =
        get(app(p.clone(), "192.0.2.0/24"), &uri, &[("user-agent", "CompanyName/AppName 2.3")]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, TRANSPARENT_GIF);
    assert_eq!(body.len(), 43);
    assert_eq!(headers[header::CACHE_CONTROL], "no-store");
    assert_eq!(headers[header::CONTENT_TYPE], "image/gif");
    let evs = events(&p);
    assert_eq!(evs.len(), 1);
    let ev = &evs[0];
    assert_eq!((ev.received_at_ms, ev.event_time_ms, ev.ingested_at_ms), (NOW, NOW, NOW));
    assert_eq!(ev.prev_viewer_key, 0, "22:13 UTC is not the start of a day");
    assert_eq!(ev.app.as_ref().map(|a| a.key.as_str()), Some("CompanyName/AppName"));
    assert_eq!(p.records.lock().expect("lock")[0].key, b"X1");
    let Some(EvBody::Pingback(pb)) = &ev.body else { panic!("not a pingback") };
    assert_eq!((pb.item.as_str(), pb.progress, pb.level, pb.client_ts_ms), ("X1", 30, 2, NOW - 500));
}

#[tokio::test]
async fn no_raw_ip_leaves_the_collector() {
    let p = Arc::new(Capture::default());
    let uri = format!("/ping/dot.gif?item=X&ts={NOW}&progress=0&event=firstplay");
    get(app(p.clone(), "192.0.2.0/24"), &uri, &[("user-agent", "Mozilla/5.0 ua")]).await;
    let payload = p.records.lock().expect("lock")[0].payload.clone();
    for needle in [b"10.0.0.1".as_slice(), &[10, 0, 0, 1]] {
        assert!(!payload.windows(needle.len()).any(|w| w == needle), "raw IP found in the envelope");
    }
}

#[tokio::test]
async fn forwarded_for_is_honoured_only_from_trusted_proxies() {
    let uri = format!("/ping/dot.gif?item=X&ts={NOW}&progress=0&event=firstplay");
    let key = |trusted: &'static str, xff: &'static str| {
        let uri = uri.clone();
        async move {
            let p = Arc::new(Capture::default());
            get(app(p.clone(), trusted), &uri, &[("user-agent", "ua"), ("x-forwarded-for", xff)]).await;
            events(&p)[0].viewer_key
        }
    };
    // Behind a trusted proxy, two clients are two viewers; an untrusted peer's header is ignored.
    assert_ne!(key("10.0.0.0/8", "203.0.113.1").await, key("10.0.0.0/8", "203.0.113.2").await);
    assert_eq!(key("192.0.2.0/24", "203.0.113.1").await, key("192.0.2.0/24", "203.0.113.2").await);
}

#[tokio::test]
async fn ua_parameter_overrides_the_application_not_the_viewer() {
    let p = Arc::new(Capture::default());
    let a = format!("/ping/dot.gif?item=X&ts={NOW}&progress=0&event=firstplay&ua=Acme/Player%201.0");
    let b = format!("/ping/dot.gif?item=X&ts={NOW}&progress=0&event=initialized");
    get(app(p.clone(), "192.0.2.0/24"), &a, &[("user-agent", "device")]).await;
    get(app(p.clone(), "192.0.2.0/24"), &b, &[("user-agent", "device")]).await;
    let evs = events(&p);
    assert_eq!(evs[0].app.as_ref().map(|a| a.key.as_str()), Some("Acme/Player"));
    assert_eq!(evs[0].viewer_key, evs[1].viewer_key);
}

#[tokio::test]
async fn the_event_time_is_the_receive_time_whatever_the_player_clock_says() {
    let day = 86_400_000;
    // 6 minutes slow (a drifting phone), days off either way, seconds instead of milliseconds,
    // 2099: all accepted, all at the receive time, each keeping the `ts` it sent.
    let slow = [NOW - 360_000, NOW - 3 * day, NOW + 3 * day, NOW / 1000, 4_070_908_800_000];
    for ts in slow {
        let p = Arc::new(Capture::default());
        let uri = format!("/ping/dot.gif?item=X&ts={ts}&il=2&progress=40&event=pause");
        assert_eq!(get(app(p.clone(), "192.0.2.0/24"), &uri, &[]).await.0, StatusCode::OK, "ts={ts}");
        let ev = &events(&p)[0];
        assert_eq!((ev.event_time_ms, ev.received_at_ms, ev.ingested_at_ms), (NOW, NOW, NOW), "ts={ts}");
        let Some(EvBody::Pingback(pb)) = &ev.body else { panic!("not a pingback") };
        assert_eq!(pb.client_ts_ms, ts);
    }
}

#[tokio::test]
async fn just_after_midnight_the_previous_days_key_comes_along() {
    // 2023-11-15T00:00:00Z
    let midnight = 1_700_006_400_000;
    let uri = format!("/ping/dot.gif?item=X&ts={midnight}&il=2&progress=40&event=update");
    let ua = [("user-agent", "Mozilla/5.0 ua")];
    let at = |now: i64| {
        let uri = uri.clone();
        async move {
            let p = Arc::new(Capture::default());
            assert_eq!(get(app_at(p.clone(), "192.0.2.0/24", now), &uri, &ua).await.0, StatusCode::OK);
            let ev = events(&p).remove(0);
            (ev.viewer_key, ev.prev_viewer_key)
        }
    };
    let (before, before_prev) = at(midnight - 10 * 60_000).await;
    let (after, after_prev) = at(midnight + 10 * 60_000).await;
    let (noon, noon_prev) = at(midnight + 12 * 3_600_000).await;
    assert_eq!(before_prev, 0, "23:50 is not in the bridge");
    assert_ne!(after, before, "the salt rotated at midnight");
    assert_eq!(after_prev, before, "00:10 also carries the key of 23:50");
    assert_eq!((noon, noon_prev), (after, 0), "noon: the day's key alone");
}

#[tokio::test]
async fn invalid_pingback_is_a_400_with_a_reason_a_gif_and_is_kept() {
    let p = Arc::new(Capture::default());
    let (status, headers, body) =
        get(app(p.clone(), "192.0.2.0/24"), "/ping/dot.gif?item=X&ts=1&il=2&progress=35&event=update", &[]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body, TRANSPARENT_GIF);
    let reason = headers["x-engage-error"].to_str().expect("ascii");
    assert!(reason.starts_with("invalid_update_progress: "), "{reason}");
    let evs = events(&p);
    let Some(EvBody::Rejected(r)) = &evs[0].body else { panic!("rejection not kept") };
    assert_eq!(r.reason_code, "invalid_update_progress");
    assert_eq!(r.input, "item=X&ts=1&il=2&progress=35&event=update");
    assert_eq!(r.route, ROUTE);
}

#[tokio::test]
async fn level_3_is_accepted_as_level_2() {
    let p = Arc::new(Capture::default());
    let uri = format!("/ping/dot.gif?item=X&ts={NOW}&il=3&progress=40&event=pause");
    assert_eq!(get(app(p.clone(), "192.0.2.0/24"), &uri, &[]).await.0, StatusCode::OK);
    let Some(EvBody::Pingback(pb)) = &events(&p)[0].body else { panic!("not a pingback") };
    assert_eq!(pb.level, 2);
}

#[tokio::test]
async fn a_webview_user_agent_with_the_app_token_at_the_end_gives_the_app() {
    let p = Arc::new(Capture::default());
    let ua = "Mozilla/5.0 (Linux; Android 14; Pixel 8 Build/UP1A.231005.007; wv) AppleWebKit/537.36 \
              (KHTML, like Gecko) Version/4.0 Chrome/120.0 Mobile Safari/537.36 Acme/Player 2.3";
    let uri = format!("/ping/dot.gif?item=X&ts={NOW}&progress=0&event=firstplay");
    get(app(p.clone(), "192.0.2.0/24"), &uri, &[("user-agent", ua)]).await;
    let app = events(&p)[0].app.clone().expect("app");
    assert_eq!((app.key.as_str(), app.version.as_str()), ("Acme/Player", "2.3"));
}

#[tokio::test]
async fn level2_event_at_level1_is_accepted_as_ignored() {
    let p = Arc::new(Capture::default());
    let (status, _, _) =
        get(app(p.clone(), "192.0.2.0/24"), "/ping/dot.gif?item=X&ts=1&progress=40&event=pause", &[]).await;
    assert_eq!(status, StatusCode::OK);
    let Some(EvBody::Pingback(pb)) = &events(&p)[0].body else { panic!("not a pingback") };
    assert_eq!(pb.level, 1);
}

#[tokio::test]
async fn head_is_served_too() {
    let p = Arc::new(Capture::default());
    let req = Request::head(format!("/ping/dot.gif?item=X&ts={NOW}&progress=0&event=firstplay"))
        .body(Body::empty())
        .expect("req");
    let resp = app(p.clone(), "192.0.2.0/24").oneshot(req).await.expect("resp");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(events(&p).len(), 1);
}

#[tokio::test]
async fn full_bus_is_a_503_with_retry_after_not_a_silent_success() {
    let p = Arc::new(Capture { fail: true, ..Default::default() });
    let router = app(p.clone(), "192.0.2.0/24");
    let (status, headers, _) =
        get(router.clone(), &format!("/ping/dot.gif?item=X&ts={NOW}&progress=0&event=firstplay"), &[]).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(headers[header::RETRY_AFTER], "1");
    let (status, _, _) = get(router, "/readyz", &[]).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn hostile_queries_never_panic() {
    let p = Arc::new(Capture::default());
    let router = app(p.clone(), "192.0.2.0/24");
    let long = format!("/ping/dot.gif?item={}", "A".repeat(8000));
    for q in [
        "/ping/dot.gif",
        "/ping/dot.gif?",
        "/ping/dot.gif?%ff%fe=%00&item=%",
        "/ping/dot.gif?item=X&item=Y&ts=1&progress=0&event=firstplay",
        "/ping/dot.gif?item=X&ts=1&progress=0&event=%E2%80%AEevil%0d%0aSet-Cookie:%20x",
        long.as_str(),
    ] {
        let (status, headers, body) = get(router.clone(), q, &[]).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{q}");
        assert_eq!(body, TRANSPARENT_GIF);
        assert!(headers.contains_key("x-engage-error"), "{q}");
    }
}

#[tokio::test]
async fn the_request_user_agent_flags_bots_and_players_stay_human() {
    let uri = format!("/ping/dot.gif?item=X&ts={NOW}&progress=0&event=firstplay&ua=Acme/Player%201.0");
    for (ua, bot) in [
        ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", true),
        ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0", true),
        ("ExoPlayerLib/2.18.1", false),
        ("AppleCoreMedia/1.0.0.21A329 (iPhone; U; CPU OS 17_0 like Mac OS X; en_us)", false),
        ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0", false),
    ] {
        let p = Arc::new(Capture::default());
        let (status, _, _) = get(app(p.clone(), "192.0.2.0/24"), &uri, &[("user-agent", ua)]).await;
        assert_eq!(status, StatusCode::OK);
        let evs = events(&p);
        assert_eq!(evs[0].bot, bot, "{ua}");
        // `ua` names the application, not the device: it never makes a bot human.
        assert_eq!(evs[0].app.as_ref().map(|a| a.key.as_str()), Some("Acme/Player"));
    }
}
