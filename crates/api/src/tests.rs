//! Router tests: real HTTP requests (`oneshot`) against a real SQLite store in a tempdir.

use crate::router;
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use engage_model::rollup::{VideoCounters, VideoWindow};
use engage_model::webinar::{SessionSummary, SessionWindow, SessionWindowCounts};
use engage_sink::{CommitBatch, RejectedRow, SqliteStore, Store};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use tower::ServiceExt;

const MIN: i64 = 60_000;
/// 2024-05-01T12:00:00Z.
const T0: i64 = 1_714_564_800_000;

fn window(item: &str, app: &str, start: i64, plays: i64, viewers: &[u64]) -> VideoWindow {
    let mut counters = VideoCounters { impressions: 2 * plays, plays, engaged_plays: plays, ..Default::default() };
    counters.retention[0] = plays;
    counters.exits[100] = 1;
    counters.seek_to[50] = 1;
    VideoWindow {
        item: item.into(),
        app: app.into(),
        window_start_ms: start,
        window_end_ms: start + MIN,
        generation: 0,
        counters,
        viewers: viewers.iter().map(|&v| (v, 1)).collect(),
    }
}

fn session_window(start: i64, joins: u64, attendees: u64) -> SessionWindow {
    SessionWindow {
        source: "acme".into(),
        session_id: "web 1".into(),
        window_start_ms: start,
        window_end_ms: start + MIN,
        is_final: false,
        counts: SessionWindowCounts { joins, attendees, peak_concurrent: attendees, ..Default::default() },
    }
}

/// A router over a store holding two items, two apps and two rejected inputs, open to all.
async fn fixture() -> (tempfile::TempDir, Router) {
    fixture_with(crate::Auth::open()).await
}

/// The same, behind `auth`.
pub(crate) async fn fixture_with(auth: crate::Auth) -> (tempfile::TempDir, Router) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("engage.db")).unwrap().with_raw_ttl_days(0); // fixtures from 2024
    let mut acme = window("v1", "Acme/Player", T0, 4, &[1, 2, 3]);
    acme.counters.completions = 2;
    acme.counters.pauses = 3;
    acme.counters.active_views = 4;
    (acme.counters.bot_impressions, acme.counters.bot_plays) = (5, 2);
    let rejected = |id: u8, at: i64| RejectedRow {
        event_id: vec![0xab, id],
        received_at_ms: at,
        route: "/ping/dot.gif".into(),
        reason_code: "missing_item".into(),
        reason: "parameter `item` is required".into(),
        input: format!("ts={at}&event=play"),
        truncated: id == 2,
    };
    let batch = CommitBatch {
        partition: 0,
        next_offset: 10,
        snapshot: Some(vec![]),
        // Every window of the fixture is final.
        watermark_ms: Some(T0 + 60 * MIN),
        final_before_ms: Some(T0 + 2 * MIN),
        windows: vec![
            acme,
            window("v1", "web/Chrome", T0, 2, &[1, 4]),
            window("v1", "web/Chrome", T0 + MIN, 1, &[5]),
            window("v2", "web/Chrome", T0, 9, &[1]),
        ],
        rejected: vec![rejected(1, T0), rejected(2, T0 + 5)],
        session_windows: vec![
            session_window(T0, 2, 2),
            session_window(T0 + MIN, 1, 3),
            // another source's session of the same id
            SessionWindow { source: "globex".into(), ..session_window(T0, 1, 1) },
        ],
        session_summaries: vec![
            SessionSummary {
                source: "globex".into(),
                session_id: "web 1".into(),
                unique_attendees: 1,
                peak_concurrent: 1,
                ..SessionSummary::default()
            },
            SessionSummary {
                source: "acme".into(),
                session_id: "web 1".into(),
                started_at_ms: Some(T0),
                ended_at_ms: Some(T0 + 2 * MIN),
                unique_attendees: 3,
                engaged_attendees: 1,
                attendance_ms: 180_000,
                peak_concurrent: 3,
                engagements: BTreeMap::from([("poll".to_string(), 4)]),
                stream_ms: BTreeMap::from([("screensharing".to_string(), 90_500)]),
            },
        ],
        ..CommitBatch::default()
    };
    store.commit(batch.into()).await.unwrap();
    (dir, router(Arc::new(store), auth))
}

async fn get(app: &Router, uri: &str) -> (StatusCode, Value) {
    let request = Request::get(uri).body(Body::empty()).unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let content_type = response.headers().get(header::CONTENT_TYPE).cloned();
    assert_eq!(content_type.unwrap(), "application/json", "{uri}");
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap())
}

fn keys(v: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    keys
}

#[tokio::test]
async fn engagement_has_the_contract_fields() {
    let (_dir, app) = fixture().await;
    let (status, body) = get(&app, "/api/v1/items/v1/engagement").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut expected = vec![
        "item",
        "app",
        "from",
        "to",
        "impressions",
        "plays",
        "engaged_plays",
        "unique_viewers",
        "completions",
        "pauses",
        "duplicates",
        "ignored",
        "orphan_events",
        "abandons",
        "play_rate",
        "completion_rate",
        "avg_percent_watched",
        "retention",
        "exits",
        "seek_from",
        "seek_to",
        "bot_impressions",
        "bot_plays",
        "timeline",
    ];
    expected.sort_unstable();
    assert_eq!(keys(&body), expected);
    assert_eq!(body["item"], "v1");
    assert_eq!(body["app"], Value::Null);
    // An unbounded range is reported as open (null), not as sentinel integers.
    assert_eq!((&body["from"], &body["to"]), (&Value::Null, &Value::Null));
    assert_eq!(body["impressions"], 14);
    assert_eq!(body["plays"], 7);
    assert_eq!(body["engaged_plays"], 7);
    assert_eq!(body["unique_viewers"], 5);
    assert_eq!(body["completions"], 2);
    assert_eq!(body["pauses"], 3);
    assert_eq!(body["play_rate"], 0.5);
    assert_eq!(body["completion_rate"], 2.0 / 7.0);
    assert_eq!(body["avg_percent_watched"], 1.0);
    assert_eq!(body["retention"].as_array().unwrap().len(), 100);
    assert_eq!(body["retention"][0], 7);
    for name in ["exits", "seek_from", "seek_to"] {
        assert_eq!(body[name].as_array().unwrap().len(), 101, "{name}");
    }
    assert_eq!((body["exits"][100].clone(), body["seek_to"][50].clone()), (json!(3), json!(3)));
    assert_eq!((body["bot_impressions"].clone(), body["bot_plays"].clone()), (json!(5), json!(2)));
    assert_eq!(
        body["timeline"],
        json!([
            {"window_start": T0, "window_end": T0 + MIN, "final": true, "impressions": 12, "plays": 6,
             "engaged_plays": 6, "unique_viewers": 4, "completions": 2, "pauses": 3, "active_views": 4,
             "bot_impressions": 5, "bot_plays": 2},
            {"window_start": T0 + MIN, "window_end": T0 + 2 * MIN, "final": true, "impressions": 2, "plays": 1,
             "engaged_plays": 1, "unique_viewers": 1, "completions": 0, "pauses": 0, "active_views": 0,
             "bot_impressions": 0, "bot_plays": 0},
        ])
    );
}

#[tokio::test]
async fn engagement_filters_by_app_and_range() {
    let (_dir, app) = fixture().await;
    let uri = "/api/v1/items/v1/engagement?from=2024-05-01T14:00:00%2B02:00&to=1714564860001&app=web%2FChrome";
    let (status, body) = get(&app, uri).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (body["app"].clone(), body["from"].clone(), body["to"].clone()),
        (json!("web/Chrome"), json!(T0), json!(T0 + MIN + 1))
    );
    assert_eq!((body["plays"].clone(), body["unique_viewers"].clone()), (json!(3), json!(3)));
    assert_eq!(body["timeline"].as_array().unwrap().len(), 2);

    let (_, body) = get(&app, "/api/v1/items/v1/engagement?from=1714564800000&to=1714564860000").await;
    assert_eq!((body["plays"].clone(), body["unique_viewers"].clone()), (json!(6), json!(4)), "to is exclusive");
}

#[tokio::test]
async fn an_unknown_item_has_zeros_and_null_rates() {
    let (_dir, app) = fixture().await;
    let (status, body) = get(&app, "/api/v1/items/nobody@home/engagement").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!((body["plays"].clone(), body["unique_viewers"].clone()), (json!(0), json!(0)));
    for rate in ["play_rate", "completion_rate", "avg_percent_watched"] {
        assert_eq!(body[rate], Value::Null, "{rate}");
    }
    assert_eq!(body["timeline"], json!([]));
    assert_eq!(body["retention"], json!(vec![0; 100]));
}

#[tokio::test]
async fn webinar_sessions_are_listed_with_their_figures() {
    let (_dir, app) = fixture().await;
    let (status, body) = get(&app, "/api/v1/sessions").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let acme = json!({"source": "acme", "session_id": "web 1", "started_at": T0, "ended_at": T0 + 2 * MIN,
        "unique_attendees": 3, "peak_concurrent": 3, "avg_attendance_seconds": 60.0, "engaged_share": 1.0 / 3.0});
    assert_eq!(body["sessions"][0], acme);
    assert_eq!(body["sessions"][1]["source"], "globex", "two sources, one session id each: two sessions");
    // one source's sessions
    assert_eq!(get(&app, "/api/v1/sessions?source=acme").await.1["sessions"], json!([acme]));
    assert_eq!(get(&app, "/api/v1/sessions?source=nobody").await.1["sessions"], json!([]));
    assert_eq!(get(&app, "/api/v1/sessions?source=a%20b").await.0, StatusCode::BAD_REQUEST);
    // A range without any of its windows lists nothing; bad parameters are a 400.
    let later = format!("/api/v1/sessions?from={}", T0 + 10 * MIN);
    assert_eq!(get(&app, &later).await.1["sessions"], json!([]));
    assert_eq!(get(&app, "/api/v1/sessions?limit=0").await.0, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn top_items_are_listed_by_plays() {
    let (_dir, app) = fixture().await;
    let (status, body) = get(&app, "/api/v1/items").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(keys(&body), ["items"]);
    assert_eq!(
        body["items"],
        json!([
            {"item": "v2", "impressions": 18, "plays": 9, "unique_viewers": 1, "completions": 0,
             "play_rate": 0.5, "completion_rate": 0.0},
            {"item": "v1", "impressions": 14, "plays": 7, "unique_viewers": 5, "completions": 2,
             "play_rate": 0.5, "completion_rate": 2.0 / 7.0},
        ])
    );
    let (_, body) = get(&app, "/api/v1/items?limit=1&from=0").await;
    assert_eq!(body["items"].as_array().unwrap().len(), 1);
    let (_, body) = get(&app, "/api/v1/items?from=1714564860000").await;
    assert_eq!(body["items"][0]["item"], "v1");
    assert_eq!(body["items"][0]["plays"], 1);
}

#[tokio::test]
async fn item_apps_are_listed_by_plays() {
    let (_dir, app) = fixture().await;
    let (status, body) = get(&app, "/api/v1/items/v1/apps").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(keys(&body), ["apps"]);
    assert_eq!(
        body["apps"],
        json!([
            {"app": "Acme/Player", "impressions": 8, "plays": 4, "unique_viewers": 3, "completions": 2,
             "play_rate": 0.5, "completion_rate": 0.5},
            {"app": "web/Chrome", "impressions": 6, "plays": 3, "unique_viewers": 3, "completions": 0,
             "play_rate": 0.5, "completion_rate": 0.0},
        ])
    );
    let (_, body) = get(&app, "/api/v1/items/v1/apps?to=1714564800000").await;
    assert_eq!(body["apps"], json!([]));
}

#[tokio::test]
async fn rejected_inputs_are_listed_newest_first() {
    let (_dir, app) = fixture().await;
    let (status, body) = get(&app, "/api/v1/rejected").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(keys(&body), ["rejected"]);
    assert_eq!(
        body["rejected"][0],
        json!({"event_id": "ab02", "received_at_ms": T0 + 5, "route": "/ping/dot.gif",
               "reason_code": "missing_item", "reason": "parameter `item` is required",
               "input": format!("ts={}&event=play", T0 + 5), "truncated": true})
    );
    assert_eq!(body["rejected"][1]["event_id"], "ab01");
    let (_, body) = get(&app, "/api/v1/rejected?limit=1").await;
    assert_eq!(body["rejected"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn bad_parameters_are_400_naming_the_parameter() {
    let (_dir, app) = fixture().await;
    let long_item = "x".repeat(129);
    let cases = [
        ("/api/v1/items/v1/engagement?from=yesterday".to_owned(), "`from`"),
        ("/api/v1/items/v1/engagement?to=2024-05-01".to_owned(), "`to`"),
        ("/api/v1/items/v1/engagement?from=10&to=5".to_owned(), "`from`"),
        ("/api/v1/items/v1/engagement?from=1&from=2".to_owned(), "`from`"),
        ("/api/v1/items/v1/engagement?app=a%0Ab".to_owned(), "`app`"),
        ("/api/v1/items/a%20b/engagement".to_owned(), "`item`"),
        ("/api/v1/items/a%2Fb/engagement".to_owned(), "`item`"),
        ("/api/v1/items/%FF/engagement".to_owned(), "`item`"),
        (format!("/api/v1/items/{long_item}/engagement"), "`item`"),
        ("/api/v1/items/a!/apps".to_owned(), "`item`"),
        ("/api/v1/items/v1/apps?from=x".to_owned(), "`from`"),
        ("/api/v1/items?limit=0".to_owned(), "`limit`"),
        ("/api/v1/items?limit=1001".to_owned(), "`limit`"),
        ("/api/v1/items?limit=abc".to_owned(), "`limit`"),
        ("/api/v1/items?to=-".to_owned(), "`to`"),
        ("/api/v1/rejected?limit=0".to_owned(), "`limit`"),
        ("/api/v1/rejected?limit=5000".to_owned(), "`limit`"),
    ];
    for (uri, param) in cases {
        let (status, body) = get(&app, &uri).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {body}");
        assert_eq!(keys(&body), ["error"], "{uri}");
        let message = body["error"].as_str().unwrap();
        assert!(message.contains(param) && !message.contains('\n'), "{uri}: {message}");
    }
}

#[tokio::test]
async fn store_failures_are_503() {
    let (dir, app) = fixture().await;
    // Damage the file behind the store's back: a count array no longer decodes.
    let raw = rusqlite::Connection::open(dir.path().join("engage.db")).unwrap();
    raw.execute("UPDATE video_window_rows SET retention = x'00'", []).unwrap();
    let request = Request::get("/api/v1/items/v1/engagement").body(Body::empty()).unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()[header::RETRY_AFTER], "1");
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 16).await.unwrap();
    let body: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(keys(&body), ["error"]);

    raw.execute_batch("DROP TABLE rejected").unwrap();
    let (status, _) = get(&app, "/api/v1/rejected").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    // Other endpoints still answer.
    let (status, _) = get(&app, "/api/v1/items").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn session_engagement_has_the_contract_fields() {
    let (_dir, app) = fixture().await;
    // Two sources have a session "web 1": which one must be said.
    let (status, body) = get(&app, "/api/v1/sessions/web%201/engagement").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body["error"].as_str().unwrap().contains("?source="), "{body}");
    let (status, other) = get(&app, "/api/v1/sessions/web%201/engagement?source=globex").await;
    assert_eq!((status, &other["source"], &other["unique_attendees"]), (StatusCode::OK, &json!("globex"), &json!(1)));
    let (status, body) = get(&app, "/api/v1/sessions/web%201/engagement?source=acme").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["source"], "acme");
    for field in [
        "started_at",
        "ended_at",
        "unique_attendees",
        "peak_concurrent",
        "avg_attendance_seconds",
        "engaged_share",
        "engagements",
        "stream_seconds",
        "timeline",
    ] {
        assert!(body.get(field).is_some(), "missing {field}: {body}");
    }
    assert_eq!(body["started_at"], T0);
    assert_eq!(body["avg_attendance_seconds"], 60.0);
    assert_eq!(body["engaged_share"], 1.0 / 3.0);
    assert_eq!(body["engagements"], json!({"poll": 4}));
    assert_eq!(body["stream_seconds"], json!({"screensharing": 90.5}));
    let point = &body["timeline"][1];
    for field in ["window_start", "attendees", "joins", "leaves", "peak_concurrent"] {
        assert!(point.get(field).is_some(), "missing {field}: {point}");
    }
    assert_eq!((point["window_start"].as_i64(), point["attendees"].as_u64()), (Some(T0 + MIN), Some(3)));
    let (status, body) = get(&app, "/api/v1/sessions/nope/engagement").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(body["error"].as_str().is_some());
    let (status, _) = get(&app, "/api/v1/sessions/%01/engagement").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}
