//! One identifier, three paths: a pingback, a Segment Video Spec call and a CDN log line
//! naming the same item get the same verdict, with the same reason, each counted; an item
//! that looks like HTML never becomes an item by any of them.

use crate::test_support::{Capture, keyer_around, with_metrics};
use crate::{Collector, CollectorConfig};
use axum::body::{Body, to_bytes};
use axum::extract::connect_info::MockConnectInfo;
use axum::http::{Request, StatusCode};
use engage_model::envelope::{Body as EvBody, RawEvent};
use prost::Message as _;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use tower::ServiceExt;

/// 21/Nov/2026:14:00:00 +0000, the collector's clock and the log lines' time.
const NOW: i64 = 1_795_269_600_000;
const HTML_ITEM: &str = "<img src=x onerror=alert(1)>";

fn app(p: Arc<Capture>) -> axum::Router {
    // Logs from loopback need no token (as in `engage run` without log tokens).
    let config = CollectorConfig { log_access: crate::cdn_logs::access::LogAccess::Loopback, ..Default::default() };
    let c = Collector::new(p, keyer_around(NOW), config, Arc::new(|| NOW));
    c.router().layer(MockConnectInfo(SocketAddr::from(([127, 0, 0, 1], 4000))))
}

async fn send(p: Arc<Capture>, req: Request<Body>) -> (StatusCode, String, Value) {
    let resp = app(p).oneshot(req).await.expect("response");
    let status = resp.status();
    let error = resp.headers().get("x-engage-error").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let bytes = to_bytes(resp.into_body(), 1 << 20).await.expect("body");
    (status, error, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

fn query(item: &str, vid: &str) -> String {
    let enc = |v: &str| v.bytes().map(|b| format!("%{b:02X}")).collect::<String>();
    format!("item={}&vid={}&ts=1&progress=0&event=initialized&il=2", enc(item), enc(vid))
}

/// The reason each path gives (`None`: accepted).
async fn verdicts(item: &str, vid: &str) -> [Option<String>; 3] {
    let p = Arc::new(Capture::default());
    let uri = format!("/ping/dot.gif?{}", query(item, vid));
    let (status, error, _) = send(p.clone(), Request::get(uri).body(Body::empty()).expect("request")).await;
    let pingback = (status != StatusCode::OK).then(|| error.split(':').next().unwrap_or("").to_owned());

    let call = json!({"userId": "u", "event": "Video Playback Started",
        "properties": {"content_asset_id": item, "session_id": vid, "position": 0, "total_length": 60}});
    let req = Request::post("/v1/track").body(Body::from(call.to_string())).expect("request");
    let (status, _, answer) = send(p.clone(), req).await;
    let segment = (status != StatusCode::OK).then(|| answer["code"].as_str().unwrap_or("").to_owned());
    if status != StatusCode::OK {
        assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    }

    let line = format!(
        r#"192.0.2.7 - - [21/Nov/2026:14:00:00 +0000] "GET /ping/dot.gif?{} HTTP/1.1" 200 43 "-" "Acme/Player 1""#,
        query(item, vid)
    );
    let req = Request::post("/v1/cdn-logs?format=ncsa").body(Body::from(line)).expect("request");
    let (status, _, summary) = send(p, req).await;
    assert_eq!(status, StatusCode::OK, "{summary}");
    let log = summary["rejected"].as_object().and_then(|r| r.keys().next().cloned());
    [pingback, segment, log]
}

#[test]
fn every_path_gives_the_same_verdict_and_counts_it() {
    let cases = [
        ("video-1", "view-1", None),
        ("urn:video:42", "a@b", None),
        (HTML_ITEM, "view-1", Some("invalid_item")),
        ("video 1", "view-1", Some("invalid_item")),
        (&*"x".repeat(129), "view-1", Some("invalid_item")),
        ("video-1", "<b>", Some("invalid_view_id")),
        ("video-1", "a/b", Some("invalid_view_id")),
    ];
    for (item, vid, want) in cases {
        let (got, metrics) = with_metrics(verdicts(item, vid));
        let want = want.map(str::to_owned);
        assert_eq!(got, [want.clone(), want.clone(), want.clone()], "item {item:?}, vid {vid:?}");
        if let Some(reason) = want {
            for route in ["/ping/dot.gif", "/v1/track", "/v1/cdn-logs"] {
                let line = format!(r#"engage_collector_rejected_total{{route="{route}",reason="{reason}"}} 1"#);
                assert!(metrics.contains(&line), "{line} in\n{metrics}");
            }
        }
    }
}

#[tokio::test]
async fn an_html_asset_id_is_refused_with_its_field_and_kept_as_a_rejection() {
    let p = Arc::new(Capture::default());
    let call = json!({"userId": "u", "event": "Video Content Playing",
        "properties": {"asset_id": HTML_ITEM, "position": 6, "total_length": 60}});
    let req = Request::post("/v1/track").body(Body::from(call.to_string())).expect("request");
    let (status, _, answer) = send(p.clone(), req).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        (answer["code"].as_str(), answer["field"].as_str()),
        (Some("invalid_item"), Some("properties.asset_id"))
    );
    let kept: Vec<(String, String)> = p
        .records
        .lock()
        .expect("lock")
        .iter()
        .filter_map(|r| match RawEvent::decode(r.payload.as_slice()).expect("decodes").body {
            Some(EvBody::Rejected(r)) => Some((r.reason_code, r.route)),
            Some(EvBody::Analytics(_)) => panic!("an invalid asset was published"),
            _ => None,
        })
        .collect();
    assert_eq!(kept, vec![("invalid_item".to_owned(), "/v1/track".to_owned())]);
}
