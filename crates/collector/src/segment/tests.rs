//! Handler tests of the Segment routes with an in-memory publisher.

use super::*;
use crate::CollectorConfig;
use crate::test_support::{Capture, keyer_around, with_metrics};
use axum::body::to_bytes;
use axum::extract::connect_info::MockConnectInfo;
use axum::http::Request;
use engage_model::envelope::{AnalyticsType, Body as EvBody, RawEvent};
use flate2::Compression;
use flate2::write::GzEncoder;
use prost::Message;
use serde_json::json;
use std::io::Write;
use std::sync::Arc;
use tower::ServiceExt;

/// 2024-05-01T12:00:00Z
const NOW: i64 = 1_714_564_800_000;
const MINUTE: i64 = 60_000;

fn app(p: Arc<Capture>, keys: Option<&[&str]>) -> Router {
    let config = CollectorConfig {
        write_keys: keys.and_then(|k| crate::sources::WriteKeys::parse(k).expect("valid keys")),
        ..CollectorConfig::default()
    };
    let c = Collector::new(p, keyer_around(NOW), config, Arc::new(|| NOW));
    c.router().layer(MockConnectInfo(SocketAddr::from(([198, 51, 100, 7], 4000))))
}

async fn post(router: Router, uri: &str, headers: &[(&str, &str)], body: Vec<u8>) -> (StatusCode, HeaderMap, Value) {
    let mut req = Request::post(uri);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = router.oneshot(req.body(Body::from(body)).expect("request")).await.expect("response");
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = to_bytes(resp.into_body(), 1 << 20).await.expect("body");
    let value = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).expect("JSON answer") };
    (status, headers, value)
}

fn json_body(v: Value) -> Vec<u8> {
    serde_json::to_vec(&v).expect("json")
}

fn events(p: &Capture) -> Vec<RawEvent> {
    p.records.lock().expect("lock").iter().map(|r| RawEvent::decode(r.payload.as_slice()).expect("decodes")).collect()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(bytes).expect("gzip");
    e.finish().expect("gzip")
}

/// (reason_code, route) of every kept rejection.
fn rejections(p: &Capture) -> Vec<(String, String)> {
    events(p)
        .into_iter()
        .filter_map(|e| match e.body {
            Some(EvBody::Rejected(r)) => Some((r.reason_code, r.route)),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn track_is_accepted_and_published_without_the_raw_ip() {
    let p = Arc::new(Capture::default());
    let body = json!({"userId": "u1", "event": "User Joined", "properties": {"session_id": "s1"},
                      "context": {"ip": "203.0.113.9", "userAgent": "Acme/Webinar 2.0"}, "messageId": "m1",
                      "timestamp": "2024-05-01T11:59:00Z"});
    let (status, headers, answer) =
        post(app(p.clone(), None), "/v1/track", &[("content-type", "application/json")], json_body(body)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer, json!({"success": true}));
    assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
    let evs = events(&p);
    assert_eq!(evs.len(), 1);
    let ev = &evs[0];
    assert_eq!(ev.event_time_ms, NOW - 60_000);
    assert_eq!(ev.app.as_ref().map(|a| a.key.as_str()), Some("Acme/Webinar"));
    assert_eq!(
        p.records.lock().expect("lock")[0].key,
        b"source:default",
        "webinar events meet their source's identity state; without a key, the default source's"
    );
    let Some(EvBody::Analytics(a)) = &ev.body else { panic!("not analytics") };
    assert_eq!(a.r#type, AnalyticsType::Track as i32);
    assert_eq!((a.event.as_str(), a.user_id.as_str(), a.message_id.as_str()), ("User Joined", "u1", "m1"));
    assert!(!format!("{ev:?}").contains("203.0.113.9"));
}

#[tokio::test]
async fn write_keys_are_checked_as_basic_auth_or_in_the_body() {
    let body = json!({"userId": "u1", "event": "e"});
    let p = Arc::new(Capture::default());
    let router = app(p.clone(), Some(&["key1"]));
    // base64("key1:") and base64("nope:")
    let (s, _, _) =
        post(router.clone(), "/v1/track", &[("authorization", "Basic a2V5MTo=")], json_body(body.clone())).await;
    assert_eq!(s, StatusCode::OK);
    let with_key = json!({"userId": "u1", "event": "e", "writeKey": "key1"});
    assert_eq!(post(router.clone(), "/v1/track", &[], json_body(with_key)).await.0, StatusCode::OK);
    let (s, h, answer) =
        post(router.clone(), "/v1/track", &[("authorization", "Basic bm9wZTo=")], json_body(body.clone())).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert!(h.contains_key(header::WWW_AUTHENTICATE));
    assert_eq!((answer["code"].as_str(), answer["field"].as_str()), (Some("unauthorized"), Some("writeKey")));
    assert_eq!(post(router, "/v1/track", &[], json_body(body)).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(rejections(&p), vec![("unauthorized".into(), "/v1/track".into()); 2]);
}

/// (route, headers, body, status, code, field).
type Case = (&'static str, Vec<(&'static str, &'static str)>, Vec<u8>, StatusCode, &'static str, &'static str);

#[tokio::test]
async fn bad_input_gets_a_clear_4xx_naming_the_field_and_is_kept() {
    let p = Arc::new(Capture::default());
    let router = app(p.clone(), None);
    let cases: Vec<Case> = vec![
        ("/v1/track", vec![], b"{not json".to_vec(), StatusCode::BAD_REQUEST, "invalid_json", "body"),
        ("/v1/track", vec![], json_body(json!({"event": "e"})), StatusCode::BAD_REQUEST, "missing_field", "userId"),
        ("/v1/track", vec![], json_body(json!({"userId": "u"})), StatusCode::BAD_REQUEST, "missing_field", "event"),
        (
            "/v1/identify",
            vec![],
            json_body(json!({"userId": "u", "traits": "x"})),
            StatusCode::BAD_REQUEST,
            "invalid_field",
            "traits",
        ),
        (
            "/v1/track",
            vec![("content-encoding", "gzip")],
            b"plain, not gzip".to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid_encoding",
            "Content-Encoding",
        ),
        (
            "/v1/track",
            vec![("content-encoding", "br")],
            json_body(json!({"userId": "u", "event": "e"})),
            StatusCode::BAD_REQUEST,
            "invalid_encoding",
            "Content-Encoding",
        ),
        (
            "/v1/track",
            vec![],
            json_body(json!({"userId": "u", "event": "e", "properties": {"x": "a".repeat(MAX_EVENT_BYTES)}})),
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "body",
        ),
        (
            "/v1/batch",
            vec![],
            json_body(json!({"batch": [{"type": "track", "userId": "u", "event": "e",
                                        "properties": {"x": "a".repeat(MAX_BATCH_BYTES)}}]})),
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "body",
        ),
        ("/v1/batch", vec![], json_body(json!({"writeKey": "k"})), StatusCode::BAD_REQUEST, "missing_field", "batch"),
        ("/v1/batch", vec![], json_body(json!({"batch": {}})), StatusCode::BAD_REQUEST, "invalid_field", "batch"),
    ];
    let n = cases.len();
    for (uri, headers, body, status, code, field) in cases {
        let (s, _, answer) = post(router.clone(), uri, &headers, body).await;
        assert_eq!(s, status, "{uri} {code}: {answer}");
        assert_eq!(answer["success"], false);
        assert_eq!((answer["code"].as_str(), answer["field"].as_str()), (Some(code), Some(field)), "{answer}");
        assert!(answer["message"].as_str().is_some_and(|m| m.contains(field)), "{answer}");
    }
    let kept = rejections(&p);
    assert_eq!(kept.len(), n, "every refusal is kept");
    assert!(events(&p).iter().all(|e| matches!(e.body, Some(EvBody::Rejected(_)))));
}

#[tokio::test]
async fn gzip_bodies_are_inflated() {
    let p = Arc::new(Capture::default());
    let body = gzip(&json_body(json!({"anonymousId": "a", "name": "Home"})));
    let (s, _, answer) = post(app(p.clone(), None), "/v1/page", &[("content-encoding", "gzip")], body).await;
    assert_eq!((s, answer), (StatusCode::OK, json!({"success": true})));
    let Some(EvBody::Analytics(a)) = &events(&p)[0].body else { panic!("not analytics") };
    assert_eq!((a.r#type, a.name.as_str()), (AnalyticsType::Page as i32, "Home"));
}

#[tokio::test]
async fn a_mixed_batch_accepts_the_good_items_and_reports_the_bad() {
    let p = Arc::new(Capture::default());
    let body = json!({"batch": [
        {"type": "track", "userId": "u1", "event": "User Joined", "messageId": "a"},
        {"type": "track", "userId": "u1", "messageId": "b"},
        {"type": "identify", "userId": "u1", "traits": {"name": "Ada"}, "messageId": "c"},
        {"type": "nope", "userId": "u1"},
        {"type": "page", "properties": {}},
    ], "sentAt": "2024-05-01T12:00:00Z"});
    let (s, _, answer) = post(app(p.clone(), None), "/v1/batch", &[], json_body(body)).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(answer["success"], true);
    let rejected: Vec<(u64, &str, &str)> = answer["rejected"]
        .as_array()
        .expect("rejected list")
        .iter()
        .map(|r| {
            (r["index"].as_u64().unwrap_or(99), r["code"].as_str().unwrap_or(""), r["field"].as_str().unwrap_or(""))
        })
        .collect();
    assert_eq!(
        rejected,
        vec![(1, "missing_field", "event"), (3, "unknown_type", "type"), (4, "missing_field", "userId")]
    );
    let evs = events(&p);
    let accepted = evs.iter().filter(|e| matches!(e.body, Some(EvBody::Analytics(_)))).count();
    assert_eq!((accepted, rejections(&p).len()), (2, 3));
    // an all-bad batch is a 400
    let p = Arc::new(Capture::default());
    let (s, _, answer) =
        post(app(p, None), "/v1/batch", &[], json_body(json!({"batch": [{"type": "track", "userId": "u"}]}))).await;
    assert_eq!((s, answer["code"].as_str()), (StatusCode::BAD_REQUEST, Some("missing_field")));
}

/// (index, code, field) of a batch answer's refused items.
fn refused_items(answer: &Value) -> Vec<(u64, String, String)> {
    answer["rejected"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|r| {
                    let text = |k: &str| r[k].as_str().unwrap_or("").to_string();
                    (r["index"].as_u64().unwrap_or(99), text("code"), text("field"))
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_batch_keeps_an_offline_queue_within_the_horizon_and_refuses_2099() {
    let p = Arc::new(Capture::default());
    // A device whose clock is 5 minutes fast flushes a queue: an event of 10 minutes ago
    // (by its clock 11:55, sent at 12:05), one dated 2099, one three days old (no sentAt of
    // its own can place it: the batch's says the clock is right), and one stamped now.
    let body = json!({"batch": [
        {"type": "track", "userId": "u1", "event": "User Joined", "messageId": "old",
         "properties": {"session_id": "s1"}, "timestamp": "2024-05-01T11:55:00Z", "sentAt": "2024-05-01T12:05:00Z"},
        {"type": "track", "userId": "u1", "event": "User Engaged", "messageId": "future",
         "properties": {"session_id": "s1"}, "timestamp": "2099-01-01T00:00:00Z"},
        {"type": "track", "userId": "u1", "event": "User Engaged", "messageId": "ancient",
         "properties": {"session_id": "s1"}, "timestamp": "2024-04-28T12:00:00Z"},
        {"type": "identify", "userId": "u1", "traits": {"name": "Ada"}, "messageId": "now"},
    ], "sentAt": "2024-05-01T12:00:00Z"});
    let ((s, _, answer), metrics) = with_metrics(post(app(p.clone(), None), "/v1/batch", &[], json_body(body)));
    assert_eq!((s, answer["success"].clone()), (StatusCode::OK, true.into()), "{answer}");
    assert_eq!(
        refused_items(&answer),
        vec![(1, "future_timestamp".into(), "timestamp".into()), (2, "beyond_horizon".into(), "timestamp".into())]
    );
    let accepted: Vec<(String, i64, i64)> = events(&p)
        .into_iter()
        .filter_map(|e| match e.body {
            Some(EvBody::Analytics(a)) => Some((a.message_id, e.event_time_ms, e.ingested_at_ms)),
            _ => None,
        })
        .collect();
    assert_eq!(accepted, vec![("old".into(), NOW - 10 * MINUTE, NOW), ("now".into(), NOW, NOW)]);
    assert_eq!(
        rejections(&p),
        vec![("future_timestamp".into(), BATCH_ROUTE.into()), ("beyond_horizon".into(), BATCH_ROUTE.into())]
    );
    for line in [
        r#"engage_collector_rejected_total{route="/v1/batch",reason="future_timestamp"} 1"#,
        r#"engage_collector_rejected_total{route="/v1/batch",reason="beyond_horizon"} 1"#,
        r#"engage_collector_analytics_events_total{outcome="accepted"} 2"#,
    ] {
        assert!(metrics.contains(line), "{line} not in\n{metrics}");
    }
}

#[test]
fn a_single_call_outside_the_horizon_is_a_400_on_timestamp() {
    for (timestamp, code) in [("2099-01-01T00:00:00Z", "future_timestamp"), ("2024-04-28T12:00:00Z", "beyond_horizon")]
    {
        let p = Arc::new(Capture::default());
        let body = json_body(json!({"userId": "u", "event": "e", "timestamp": timestamp}));
        let ((s, _, answer), metrics) = with_metrics(post(app(p.clone(), None), "/v1/track", &[], body));
        assert_eq!(s, StatusCode::BAD_REQUEST, "{answer}");
        assert_eq!(
            (answer["success"].clone(), answer["code"].as_str(), answer["field"].as_str()),
            (false.into(), Some(code), Some("timestamp"))
        );
        assert!(answer["message"].as_str().is_some_and(|m| m.starts_with("`timestamp` ")), "{answer}");
        assert_eq!(rejections(&p), vec![(code.into(), "/v1/track".into())]);
        let line = format!(r#"engage_collector_rejected_total{{route="/v1/track",reason="{code}"}} 1"#);
        assert!(metrics.contains(&line), "{line} not in\n{metrics}");
    }
    // A minute ahead is clock disagreement, not a forged time: accepted as sent.
    let p = Arc::new(Capture::default());
    let body = json_body(json!({"userId": "u", "event": "e", "timestamp": "2024-05-01T12:01:00Z"}));
    let _ = with_metrics(post(app(p.clone(), None), "/v1/track", &[], body));
    assert_eq!(events(&p)[0].event_time_ms, NOW + MINUTE);
}

#[tokio::test]
async fn calls_after_midnight_carry_the_previous_days_key() {
    let p = Arc::new(Capture::default());
    let call = |id: &str, timestamp: &str| {
        json!({"type": "track", "userId": "u1", "event": "e", "messageId": id, "timestamp": timestamp,
               "context": {"ip": "203.0.113.9", "userAgent": "Acme/Webinar 2.0"}})
    };
    // Queued offline overnight, sent at noon (NOW): the keys follow the event time's day.
    let body = json!({"batch": [
        call("before", "2024-04-30T23:50:00Z"), call("after", "2024-05-01T00:10:00Z"), call("noon", "2024-05-01T12:00:00Z"),
    ]});
    assert_eq!(post(app(p.clone(), None), "/v1/batch", &[], json_body(body)).await.0, StatusCode::OK);
    let keys: Vec<(u64, u64)> = events(&p).iter().map(|e| (e.viewer_key, e.prev_viewer_key)).collect();
    let [(before, before_prev), (after, after_prev), (noon, noon_prev)] = keys[..] else { panic!("{keys:?}") };
    assert_eq!(before_prev, 0);
    assert_ne!(after, before, "the day of the event time, not of the receive time");
    assert_eq!(after_prev, before);
    assert_eq!((noon, noon_prev), (after, 0));
}

#[tokio::test]
async fn missing_message_ids_are_derived_from_the_body() {
    let p = Arc::new(Capture::default());
    let router = app(p.clone(), None);
    let body = json_body(json!({"userId": "u", "event": "e", "timestamp": "2024-05-01T11:00:00Z"}));
    for _ in 0..2 {
        assert_eq!(post(router.clone(), "/v1/track", &[], body.clone()).await.0, StatusCode::OK);
    }
    let evs = events(&p);
    assert_eq!(evs[0].event_id, evs[1].event_id, "a retried call keeps its id");
    let other = json_body(json!({"userId": "u", "event": "e", "timestamp": "2024-05-01T11:00:01Z"}));
    post(router, "/v1/track", &[], other).await;
    assert_ne!(events(&p)[2].event_id, evs[0].event_id);
}

#[tokio::test]
async fn preflight_and_unavailable_bus() {
    let p = Arc::new(Capture::default());
    let req = Request::options("/v1/batch")
        .header("origin", "https://example.com")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .body(Body::empty())
        .expect("request");
    let resp = app(p, None).oneshot(req).await.expect("response");
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(resp.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
    assert_eq!(resp.headers()[header::ACCESS_CONTROL_ALLOW_HEADERS], "content-type");
    let failing = Arc::new(Capture { fail: true, ..Capture::default() });
    let (s, h, _) = post(app(failing, None), "/v1/track", &[], json_body(json!({"userId": "u", "event": "e"}))).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(h[header::RETRY_AFTER], "1");
}

fn app_with(p: Arc<Capture>, config: CollectorConfig) -> Router {
    let c = Collector::new(p, keyer_around(NOW), config, Arc::new(|| NOW));
    c.router().layer(MockConnectInfo(SocketAddr::from(([198, 51, 100, 7], 4000))))
}

/// The `source` of every published analytics envelope, with its bus key.
fn sources(p: &Capture) -> Vec<(String, String)> {
    let records = p.records.lock().expect("lock").clone();
    records
        .iter()
        .filter_map(|r| match RawEvent::decode(r.payload.as_slice()).expect("decodes").body {
            Some(EvBody::Analytics(a)) => Some((a.source, String::from_utf8_lossy(&r.key).into_owned())),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_write_key_names_its_source_and_the_key_itself_is_never_published() {
    let p = Arc::new(Capture::default());
    let keys = crate::sources::WriteKeys::parse(&["wk_live_1=webinars", "wk_live_2=webinars", "marketing"]).unwrap();
    let router = app_with(p.clone(), CollectorConfig { write_keys: keys, ..CollectorConfig::default() });
    for key in ["wk_live_1", "wk_live_2", "marketing"] {
        let body = json!({"userId": "u1", "event": "User Joined", "writeKey": key});
        assert_eq!(post(router.clone(), "/v1/track", &[], json_body(body)).await.0, StatusCode::OK);
    }
    let got = sources(&p);
    let expected =
        [("webinars", "source:webinars"), ("webinars", "source:webinars"), ("marketing", "source:marketing")];
    assert_eq!(got, expected.map(|(s, k)| (s.to_string(), k.to_string())));
    let all = format!("{:?}", p.records.lock().expect("lock"));
    assert!(!all.contains("wk_live"), "no write key on the bus");
    // one call, retried with the source's other key: the same event id (dedup is per source)
    let ids: Vec<Vec<u8>> = events(&p).into_iter().map(|e| e.event_id).collect();
    let retried = [
        json!({"userId": "u", "event": "E", "messageId": "m", "writeKey": "wk_live_1"}),
        json!({"userId": "u", "event": "E", "messageId": "m", "writeKey": "wk_live_2"}),
    ];
    for body in retried {
        post(router.clone(), "/v1/track", &[], json_body(body)).await;
    }
    let after: Vec<Vec<u8>> = events(&p).into_iter().map(|e| e.event_id).skip(ids.len()).collect();
    assert_eq!(after[0], after[1]);
}

#[tokio::test]
async fn a_source_past_its_rate_is_answered_429_with_retry_after_and_others_are_not() {
    let p = Arc::new(Capture::default());
    let config = CollectorConfig {
        source_rate: Some(crate::rate_limit::SourceRate { per_second: 1, burst: 3 }),
        ..CollectorConfig::default()
    };
    let router = app_with(p.clone(), config);
    let batch = |key: &str, n: usize| {
        let items: Vec<Value> =
            (0..n).map(|i| json!({"type": "track", "userId": "u", "event": format!("e{i}")})).collect();
        json_body(json!({"batch": items, "writeKey": key}))
    };
    assert_eq!(post(router.clone(), "/v1/batch", &[], batch("a", 3)).await.0, StatusCode::OK);
    let (status, headers, answer) = post(router.clone(), "/v1/batch", &[], batch("a", 1)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(headers[header::RETRY_AFTER], "1");
    assert_eq!(answer["code"], "rate_limited");
    let (status, _, answer) = post(router.clone(), "/v1/batch", &[], batch("b", 4)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "more than the burst");
    assert!(answer["message"].as_str().unwrap().contains("split it"), "{answer}");
    assert_eq!(
        post(router.clone(), "/v1/track", &[], json_body(json!({"userId": "u", "event": "e", "writeKey": "b"})))
            .await
            .0,
        StatusCode::OK
    );
    // throttled requests are counted, not kept: only the 4 accepted calls were published
    assert_eq!(events(&p).len(), 4);
    assert!(rejections(&p).is_empty());
}

#[tokio::test]
async fn a_call_whose_consent_denies_analytics_is_answered_ok_and_dropped() {
    let p = Arc::new(Capture::default());
    let router = app(p.clone(), None);
    let denied = json!({"type": "track", "userId": "u1", "event": "User Joined",
        "context": {"consent": {"categoryPreferences": {"Analytics": false, "Advertising": true}}}});
    let granted = json!({"type": "track", "userId": "u2", "event": "User Joined",
        "context": {"consent": {"categoryPreferences": {"Analytics": true}}}});
    let (s, _, answer) = post(router.clone(), "/v1/track", &[], json_body(denied.clone())).await;
    assert_eq!((s, answer), (StatusCode::OK, json!({"success": true})));
    let (s, _, answer) = post(router, "/v1/batch", &[], json_body(json!({"batch": [denied, granted]}))).await;
    assert_eq!((s, answer), (StatusCode::OK, json!({"success": true})));
    let published: Vec<String> = events(&p)
        .into_iter()
        .filter_map(|e| match e.body {
            Some(EvBody::Analytics(a)) => Some(a.user_id),
            _ => None,
        })
        .collect();
    assert_eq!(published, ["u2"], "only the call with consent");
    assert!(rejections(&p).is_empty(), "a consent drop keeps nothing");
}

#[tokio::test]
async fn only_context_user_agent_classifies_a_call_as_a_bots() {
    let call = |context_ua: Option<&str>| {
        let mut body = json!({"userId": "u1", "event": "User Joined", "properties": {"session_id": "s1"},
                              "messageId": "m1"});
        if let Some(ua) = context_ua {
            body["context"] = json!({"userAgent": ua});
        }
        json_body(body)
    };
    // A server-side SDK's own agent is in the list (`analytics-node/…`, `python-requests/…`):
    // it never says who the call is about.
    for (header_ua, context_ua, bot) in [
        ("analytics-node/7.0.0", None, false),
        (
            "python-requests/2.31.0",
            Some("Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:121.0) Firefox/121.0"),
            false,
        ),
        ("Mozilla/5.0 (Windows NT 10.0) Chrome/120.0", Some("Mozilla/5.0 (compatible; Googlebot/2.1)"), true),
        ("okhttp/4.12.0", Some("Vendor/App 1.2"), false),
    ] {
        let p = Arc::new(Capture::default());
        let headers = [("content-type", "application/json"), ("user-agent", header_ua)];
        let (status, _, _) = post(app(p.clone(), None), "/v1/track", &headers, call(context_ua)).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(events(&p)[0].bot, bot, "{header_ua} / {context_ua:?}");
    }
}
