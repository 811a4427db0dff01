//! Handler tests with an in-memory publisher (capturing, or failing for the 503 path).

use super::*;
use crate::test_support::Capture;
use crate::{Collector, CollectorConfig};
use axum::body::{Body, to_bytes};
use axum::extract::connect_info::MockConnectInfo;
use axum::http::Request;
use engage_model::envelope::{Body as EvBody, RawEvent};
use engage_model::viewer::ViewerKeyer;
use std::sync::Arc;
use tower::ServiceExt;

const NOW: i64 = 1_700_000_000_000;

fn app(publisher: Arc<Capture>, trusted: &str) -> axum::Router {
    let config = CollectorConfig { trusted_proxies: vec![trusted.parse().expect("net")], ..Default::default() };
    let c = Collector::new(publisher, ViewerKeyer::new([1; 16]), config, Arc::new(|| NOW));
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
    assert_eq!(ev.received_at_ms, NOW);
    assert_eq!(ev.event_time_ms, NOW - 500);
    assert_eq!(ev.app.as_ref().map(|a| a.key.as_str()), Some("CompanyName/AppName"));
    assert_eq!(p.records.lock().expect("lock")[0].key, b"X1");
    let Some(EvBody::Pingback(pb)) = &ev.body else { panic!("not a pingback") };
    assert_eq!((pb.item.as_str(), pb.progress, pb.level), ("X1", 30, 2));
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
async fn implausible_client_clock_is_replaced_by_receive_time() {
    let p = Arc::new(Capture::default());
    // seconds instead of milliseconds
    let uri = format!("/ping/dot.gif?item=X&ts={}&progress=0&event=firstplay", NOW / 1000);
    get(app(p.clone(), "192.0.2.0/24"), &uri, &[]).await;
    assert_eq!(events(&p)[0].event_time_ms, NOW);
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
