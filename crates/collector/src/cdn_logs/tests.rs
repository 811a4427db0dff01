//! Handler tests with an in-memory publisher (capturing, or failing for the 503 path).

use super::*;
use crate::test_support::{Capture, keyer_around, with_metrics};
use crate::{Collector, CollectorConfig};
use axum::body::to_bytes;
use axum::extract::connect_info::MockConnectInfo;
use axum::http::Request;
use engage_model::envelope::{Body as EvBody, RawEvent};
use prost::Message;
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::Arc;
use tower::ServiceExt;

/// 21/Nov/2026:14:00:00 +0000
const LOG_TS: i64 = 1_795_269_600_000;
/// The collector's clock: the log arrives 30 hours late (22/Nov/2026:20:00:00), within 48 h.
const NOW: i64 = LOG_TS + 30 * HOUR;
const HOUR: i64 = 3_600_000;
const UA: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0";

/// The log-shipper token of these tests.
const TOKEN: &str = "shipper-token-0123456789";

fn config() -> CollectorConfig {
    let tokens = access::LogTokens::parse(&[TOKEN.to_owned()]).expect("valid").expect("one");
    CollectorConfig { log_access: access::LogAccess::Tokens(tokens), ..CollectorConfig::default() }
}

fn collector_with(publisher: Arc<Capture>, config: CollectorConfig) -> Collector {
    Collector::new(publisher, keyer_around(NOW), config, Arc::new(|| NOW))
}

fn collector(publisher: Arc<Capture>) -> Collector {
    collector_with(publisher, config())
}

fn app(publisher: Arc<Capture>) -> axum::Router {
    on_network(collector(publisher))
}

/// The collector's routes, called from a client off this machine.
fn on_network(c: Collector) -> axum::Router {
    c.router().layer(MockConnectInfo(SocketAddr::from(([192, 0, 2, 7], 4000))))
}

async fn call(router: axum::Router, req: Request<Body>) -> (StatusCode, HeaderMap, Vec<u8>) {
    let resp = router.oneshot(req).await.expect("response");
    let status = resp.status();
    let headers = resp.headers().clone();
    (status, headers, to_bytes(resp.into_body(), 1 << 20).await.expect("body").to_vec())
}

async fn post_log(
    p: Arc<Capture>,
    format: &str,
    body: Vec<u8>,
    encoding: Option<&str>,
) -> (StatusCode, HeaderMap, Value) {
    let mut req =
        Request::post(format!("/v1/cdn-logs?format={format}")).header(header::AUTHORIZATION, format!("Bearer {TOKEN}"));
    if let Some(e) = encoding {
        req = req.header(header::CONTENT_ENCODING, e);
    }
    let (status, headers, body) = call(app(p), req.body(Body::from(body)).expect("request")).await;
    (status, headers, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

fn events(p: &Capture) -> Vec<RawEvent> {
    p.records.lock().expect("lock").iter().map(|r| RawEvent::decode(r.payload.as_slice()).expect("decodes")).collect()
}

fn ncsa(query: &str, status: u16) -> String {
    ncsa_at("21/Nov/2026:14:00:00", query, status)
}

fn ncsa_at(time: &str, query: &str, status: u16) -> String {
    format!(r#"192.0.2.7 - - [{time} +0000] "GET /ping/dot.gif?{query} HTTP/1.1" {status} 43 "-" "{UA}""#)
}

fn log_body() -> String {
    [
        // ts 2 s before the log time, or far from it: the log time is the event time
        ncsa(&format!("item=X&ts={}&il=2&progress=30&event=update", LOG_TS - 2_000), 200),
        ncsa("item=X&ts=5&progress=0&event=firstplay&ua=Acme/Player%201.0", 304),
        ncsa("item=X&ts=5&progress=0&event=firstplay", 404),
        r#"192.0.2.7 - - [21/Nov/2026:14:00:00 +0000] "GET /index.html HTTP/1.1" 200 43 "-" "x""#.into(),
        ncsa("item=X&ts=1&progress=7&event=firstplay", 200),
        "garbage".into(),
        String::new(),
    ]
    .join("\n")
}

#[tokio::test]
async fn log_lines_become_the_same_events_as_live_pingbacks() {
    let p = Arc::new(Capture { max_batch: Some(BATCH_RECORDS), ..Capture::default() });
    let (status, _, summary) = post_log(p.clone(), "ncsa", log_body().into_bytes(), None).await;
    assert_eq!(status, StatusCode::OK, "{summary}");
    assert_eq!(summary["lines"], 6);
    assert_eq!(summary["accepted"], 2);
    assert_eq!((summary["beyond_horizon"].clone(), summary["future_timestamp"].clone()), (0.into(), 0.into()));
    assert_eq!(summary["skipped"], serde_json::json!({"status": 1, "not_pingback_path": 1}));
    assert_eq!(summary["rejected"], serde_json::json!({"level1_progress_not_zero": 1, "invalid_ip": 1}));
    let evs = events(&p);
    assert_eq!(evs.len(), 4, "2 pingbacks, 2 kept rejections");
    let (update, firstplay) = (&evs[0], &evs[1]);
    assert_eq!(update.source, Source::CdnLog as i32);
    assert_eq!((update.received_at_ms, update.event_time_ms, update.ingested_at_ms), (LOG_TS, LOG_TS, NOW));
    assert_eq!((firstplay.received_at_ms, firstplay.event_time_ms, firstplay.ingested_at_ms), (LOG_TS, LOG_TS, NOW));
    let client_ts = |ev: &RawEvent| match &ev.body {
        Some(EvBody::Pingback(pb)) => pb.client_ts_ms,
        _ => panic!("not a pingback"),
    };
    assert_eq!((client_ts(update), client_ts(firstplay)), (LOG_TS - 2_000, 5), "the player's ts is kept");
    assert_eq!(update.prev_viewer_key, 0, "14:00 is not the start of a day");
    assert_eq!(firstplay.app.as_ref().map(|a| a.key.as_str()), Some("Acme/Player"));
    let Some(EvBody::Rejected(r)) = &evs[2].body else { panic!("not a rejection") };
    assert_eq!((r.route.as_str(), r.reason_code.as_str()), (ROUTE, "level1_progress_not_zero"));

    // The same viewer live (same IP and user agent, same day) has the same key.
    let live = Arc::new(Capture { max_batch: Some(BATCH_RECORDS), ..Capture::default() });
    let c = Collector::new(live.clone(), keyer_around(NOW), CollectorConfig::default(), Arc::new(|| LOG_TS));
    let router = c.router().layer(MockConnectInfo(SocketAddr::from(([192, 0, 2, 7], 4000))));
    let uri = format!("/ping/dot.gif?item=X&ts={}&il=2&progress=30&event=update", LOG_TS - 2_000);
    let req = Request::get(uri).header(header::USER_AGENT, UA).body(Body::empty()).expect("request");
    assert_eq!(call(router, req).await.0, StatusCode::OK);
    let live_ev = &events(&live)[0];
    assert_eq!(live_ev.ingested_at_ms, LOG_TS);
    assert_eq!(live_ev.viewer_key, update.viewer_key);
    assert_eq!(live_ev.app, update.app);
    assert_eq!((live_ev.event_time_ms, live_ev.body.clone()), (update.event_time_ms, update.body.clone()));

    // Shipping the same log again gives the same ids (the consumer drops the repeats).
    let again = Arc::new(Capture { max_batch: Some(BATCH_RECORDS), ..Capture::default() });
    post_log(again.clone(), "ncsa", log_body().into_bytes(), None).await;
    assert_eq!(events(&again)[0].event_id, update.event_id);
    assert_eq!(events(&again)[1].event_id, firstplay.event_id);
}

/// Lines around the horizon of NOW (22/Nov/2026:20:00:00), with the allowed lateness of 48 h.
fn horizon_body() -> String {
    let q = "item=X&ts=1&il=2&progress=40&event=pause";
    [
        ncsa_at("20/Nov/2026:19:59:59", q, 200), // 48 h and 1 s old: beyond the horizon
        ncsa_at("20/Nov/2026:20:00:00", q, 200), // exactly 48 h old: accepted
        ncsa_at("22/Nov/2026:20:01:00", q, 200), // 60 s ahead: accepted
        ncsa_at("22/Nov/2026:20:02:00", q, 200), // 2 min ahead: future
        ncsa_at("01/Jan/2099:00:00:00", q, 200), // a forged date: future
        ncsa_at("01/Jan/2099:00:00:00", "item=X", 200), // invalid first, whatever its time
        ncsa_at("01/Jan/2099:00:00:00", "", 404), // not a pingback: skipped, whatever its time
    ]
    .join("\n")
}

#[test]
fn lines_outside_the_horizon_are_refused_counted_and_kept() {
    let p = Arc::new(Capture { max_batch: Some(BATCH_RECORDS), ..Capture::default() });
    let ((status, _, summary), metrics) = with_metrics(post_log(p.clone(), "ncsa", horizon_body().into_bytes(), None));
    assert_eq!(status, StatusCode::OK, "{summary}");
    assert_eq!(
        summary,
        serde_json::json!({
            "lines": 7, "accepted": 2, "beyond_horizon": 1, "future_timestamp": 2,
            "skipped": {"status": 1},
            "rejected": {"beyond_horizon": 1, "future_timestamp": 2, "missing_ts": 1},
            "rejected_kept": 4,
        })
    );
    let evs = events(&p);
    let accepted: Vec<i64> =
        evs.iter().filter(|e| matches!(e.body, Some(EvBody::Pingback(_)))).map(|e| e.event_time_ms).collect();
    assert_eq!(accepted, vec![NOW - 48 * HOUR, NOW + 60_000]);
    let kept: Vec<(String, String)> = evs
        .iter()
        .filter_map(|e| match &e.body {
            Some(EvBody::Rejected(r)) => Some((r.reason_code.clone(), r.route.clone())),
            _ => None,
        })
        .collect();
    let kept: Vec<(&str, &str)> = kept.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    assert_eq!(
        kept,
        vec![
            ("beyond_horizon", ROUTE),
            ("future_timestamp", ROUTE),
            ("future_timestamp", ROUTE),
            ("missing_ts", ROUTE)
        ]
    );
    for line in [
        r#"engage_collector_rejected_total{route="/v1/cdn-logs",reason="beyond_horizon"} 1"#,
        r#"engage_collector_rejected_total{route="/v1/cdn-logs",reason="future_timestamp"} 2"#,
        r#"engage_collector_cdn_log_lines_total{outcome="rejected",reason="future_timestamp"} 2"#,
    ] {
        assert!(metrics.contains(line), "{line} not in\n{metrics}");
    }
}

#[tokio::test]
async fn logged_pingbacks_after_midnight_carry_the_previous_days_key() {
    let q = "item=X&ts=1&il=2&progress=40&event=pause";
    let body = [
        ncsa_at("21/Nov/2026:23:50:00", q, 200),
        ncsa_at("22/Nov/2026:00:10:00", q, 200),
        ncsa_at("22/Nov/2026:12:00:00", q, 200),
    ]
    .join("\n");
    let p = Arc::new(Capture::default());
    assert_eq!(post_log(p.clone(), "ncsa", body.into_bytes(), None).await.0, StatusCode::OK);
    let keys: Vec<(u64, u64)> = events(&p).iter().map(|e| (e.viewer_key, e.prev_viewer_key)).collect();
    let [(before, before_prev), (after, after_prev), (noon, noon_prev)] = keys[..] else { panic!("{keys:?}") };
    assert_eq!(before_prev, 0);
    assert_ne!(after, before, "the salt of the log line's day");
    assert_eq!(after_prev, before);
    assert_eq!((noon, noon_prev), (after, 0));
}

#[tokio::test]
async fn gzip_bodies_and_any_chunking_read_the_same() {
    let plain = log_body().repeat(600);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(plain.as_bytes()).expect("gzip");
    let mut gz = gz.finish().expect("gzip");
    // a second gzip member, as concatenated log files have
    let mut member = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    member.write_all(log_body().as_bytes()).expect("gzip");
    gz.extend(member.finish().expect("gzip"));
    let p = Arc::new(Capture { max_batch: Some(BATCH_RECORDS), ..Capture::default() });
    let (status, _, summary) = post_log(p.clone(), "ncsa", gz, Some("gzip")).await;
    assert_eq!(status, StatusCode::OK, "{summary}");
    assert_eq!(summary["accepted"], 2 * 601);
    // 601 refusals of each of two reasons: a sample of each is kept.
    let kept = u64::from(2 * crate::rejects::MAX_KEPT_PER_REASON);
    assert_eq!(summary["rejected_kept"], kept);
    assert_eq!(events(&p).len() as u64, 2 * 601 + kept, "the accepted, and the sample of the refused");

    // one byte at a time splits into the same lines as one chunk
    let whole = |chunk: usize| {
        let mut job = Job::new(
            collector(Arc::new(Capture { max_batch: Some(BATCH_RECORDS), ..Capture::default() })),
            Format::Ncsa,
        );
        for piece in plain.as_bytes().chunks(chunk) {
            job.feed(piece);
        }
        job.end_of_body();
        serde_json::to_value(&job.summary).expect("json")
    };
    assert_eq!(whole(1), whole(plain.len()));
    assert_eq!(whole(7), whole(plain.len()));

    let (status, _, _) = post_log(
        Arc::new(Capture { max_batch: Some(BATCH_RECORDS), ..Capture::default() }),
        "ncsa",
        b"\x1f\x8b\x08garbage".to_vec(),
        Some("gzip"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn overlong_lines_are_cut_counted_and_the_next_line_reads() {
    let body = format!("{}\n{}\n", "x".repeat(MAX_LINE_BYTES * 3), ncsa("item=X&ts=1&progress=0&event=firstplay", 200));
    let p = Arc::new(Capture { max_batch: Some(BATCH_RECORDS), ..Capture::default() });
    let (status, _, summary) = post_log(p.clone(), "ncsa", body.into_bytes(), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!((summary["accepted"].clone(), summary["rejected"]["line_too_long"].clone()), (1.into(), 1.into()));
    let Some(EvBody::Rejected(r)) = &events(&p)[0].body else { panic!("not a rejection") };
    assert!(r.truncated && r.input.chars().count() <= engage_model::redact::MAX_EXCERPT_CHARS);
}

#[tokio::test]
async fn bus_refusal_is_503_with_where_to_resume() {
    let p = Arc::new(Capture { fail: true, ..Default::default() });
    let (status, headers, body) = post_log(p, "ncsa", log_body().into_bytes(), None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(headers[header::RETRY_AFTER], "1");
    assert_eq!((body["accepted"].clone(), body["resume_at_line"].clone()), (0.into(), 0.into()), "{body}");
}

#[tokio::test]
async fn bad_requests_say_why() {
    let p = Arc::new(Capture { max_batch: Some(BATCH_RECORDS), ..Capture::default() });
    let (status, _, body) = post_log(p.clone(), "w3c", Vec::new(), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"].as_str().unwrap_or("").contains("unknown log format"), "{body}");
    assert_eq!(post_log(p.clone(), "json", Vec::new(), None).await.0, StatusCode::BAD_REQUEST);
    assert_eq!(post_log(p.clone(), "ncsa", Vec::new(), Some("br")).await.0, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let (status, _, body) = post_log(p, "json&map=path%3Dp%2Cip%3Di%2Ctime%3Dt", Vec::new(), None).await;
    assert_eq!((status, body["lines"].clone()), (StatusCode::OK, 0.into()));
}

#[test]
fn only_log_shippers_may_post() {
    let p = Arc::new(Capture::default());
    let body = || Body::from(log_body());
    let post = || Request::post("/v1/cdn-logs?format=ncsa");
    let ((no_token, wrong, off, outside, inside), metrics) = with_metrics(async {
        let no_token = call(app(p.clone()), post().body(body()).expect("request")).await;
        let wrong = post().header(header::AUTHORIZATION, "Bearer shipper-token-0123456780");
        let wrong = call(app(p.clone()), wrong.body(body()).expect("request")).await;
        let off = call(
            on_network(collector_with(p.clone(), CollectorConfig::default())),
            post().body(body()).expect("request"),
        )
        .await;
        let loopback_only =
            || CollectorConfig { log_access: access::LogAccess::Loopback, ..CollectorConfig::default() };
        let outside =
            call(on_network(collector_with(p.clone(), loopback_only())), post().body(body()).expect("request")).await;
        let local = collector_with(p.clone(), loopback_only())
            .router()
            .layer(MockConnectInfo(SocketAddr::from(([127, 0, 0, 1], 4000))));
        let inside = call(local, post().body(body()).expect("request")).await;
        (no_token, wrong, off, outside, inside)
    });
    for (status, headers, answer) in [&no_token, &wrong, &outside] {
        assert_eq!(*status, StatusCode::UNAUTHORIZED, "{}", String::from_utf8_lossy(answer));
        assert_eq!(headers[header::WWW_AUTHENTICATE], "Bearer realm=\"engage-logs\"");
    }
    assert_eq!(off.0, StatusCode::NOT_FOUND);
    assert!(String::from_utf8_lossy(&off.2).contains("--log-tokens"));
    assert_eq!(inside.0, StatusCode::OK, "loopback without tokens, in `engage run`");
    assert_eq!(events(&p).len(), 4, "only the loopback request published anything");
    assert!(
        metrics.contains(r#"engage_collector_rejected_total{route="/v1/cdn-logs",reason="unauthorized"} 4"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_request_past_its_line_or_byte_limit_is_413_with_where_to_resume() {
    let line = ncsa("item=X&ts=1&progress=0&event=firstplay", 200);
    let body = format!("{line}\n").repeat(25);
    let limited = |max_bytes, max_lines| {
        let c = CollectorConfig { log_limits: access::LogLimits { max_bytes, max_lines }, ..config() };
        move |p: Arc<Capture>| on_network(collector_with(p, c))
    };
    for (router, done) in [(limited(1 << 20, 10), 10), (limited(line.len() as u64 * 3 + 10, 1000), 3)] {
        let p = Arc::new(Capture::default());
        let req = Request::post("/v1/cdn-logs?format=ncsa").header(header::AUTHORIZATION, format!("Bearer {TOKEN}"));
        let (status, _, answer) = call(router(p.clone()), req.body(Body::from(body.clone())).expect("request")).await;
        let answer: Value = serde_json::from_slice(&answer).expect("json");
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{answer}");
        assert_eq!(
            (answer["accepted"].clone(), answer["resume_at_line"].clone()),
            (done.into(), done.into()),
            "{answer}"
        );
        assert_eq!(events(&p).len(), done, "the lines before the limit are kept");
    }

    // A gzip of newlines (a thousandfold) stops at the line limit, not at the end of the body.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&vec![b'\n'; 20 << 20]).expect("gzip");
    let bomb = gz.finish().expect("gzip");
    assert!(bomb.len() < 100 << 10, "{} bytes", bomb.len());
    let p = Arc::new(Capture::default());
    let req = Request::post("/v1/cdn-logs?format=ncsa")
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .header(header::CONTENT_ENCODING, "gzip");
    let (status, _, answer) =
        call(limited(1 << 30, 1000)(p.clone()), req.body(Body::from(bomb)).expect("request")).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{}", String::from_utf8_lossy(&answer));
    assert!(String::from_utf8_lossy(&answer).contains("more than 1000 lines"));
}

#[tokio::test]
async fn a_kept_refusal_holds_neither_the_client_ip_nor_an_email() {
    let bad = ncsa_at("21/Nov/2026:14:00:00", "item=X&ts=1&progress=7&event=firstplay&email=jane%40example.com", 200);
    let bad = bad.replace("\"-\" \"", "\"https://site.example/?mail=jane@example.com\" \"");
    let p = Arc::new(Capture::default());
    let (status, _, summary) = post_log(p.clone(), "ncsa", bad.clone().into_bytes(), None).await;
    assert_eq!((status, summary["rejected_kept"].clone()), (StatusCode::OK, 1.into()), "{summary}");
    assert!(bad.contains("192.0.2.7") && bad.contains("jane"));
    let payload = p.records.lock().expect("lock")[0].payload.clone();
    let kept = String::from_utf8_lossy(&payload);
    assert!(!kept.contains("192.0.2.7") && !kept.contains("jane") && !kept.contains("example.com/"), "{kept}");
    let Some(EvBody::Rejected(r)) = &events(&p)[0].body else { panic!("not a rejection") };
    assert!(
        r.input.starts_with("<ip> - - [21/Nov/2026:14:00:00 +0000] \"GET /ping/dot.gif?item=X&ts=1&progress=7"),
        "{}",
        r.input
    );
}

#[tokio::test]
async fn a_log_lines_user_agent_flags_bots() {
    let q = "item=X&ts=1&progress=0&event=firstplay";
    let line = |ua: &str| {
        format!(r#"192.0.2.7 - - [21/Nov/2026:14:00:00 +0000] "GET /ping/dot.gif?{q} HTTP/1.1" 200 43 "-" "{ua}""#)
    };
    let body = [line("Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)"), line(UA)].join("\n");
    let p = Arc::new(Capture { max_batch: Some(BATCH_RECORDS), ..Capture::default() });
    let (status, _, summary) = post_log(p.clone(), "ncsa", body.into_bytes(), None).await;
    assert_eq!(status, StatusCode::OK, "{summary}");
    let bots: Vec<bool> = events(&p).iter().map(|e| e.bot).collect();
    assert_eq!(bots, [true, false]);
}
