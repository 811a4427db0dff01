//! The view's HTML from hand-made data: what is shown, what is escaped, what is plotted.

use super::*;
use crate::html::attribute_after;
use engage_model::rollup::VideoCounters;
use engage_sink::{
    ItemQuery, ItemSummary, SessionEngagement, SessionListing, SessionTimelinePoint, TimeRange, TimelinePoint,
};
use std::collections::BTreeMap;

const T0: i64 = 1_714_564_800_000;
const EVIL: &str = r#"<script>alert("x")</script>"#;

fn engagement(item: &str) -> ItemEngagement {
    let mut c = VideoCounters { impressions: 10, plays: 8, engaged_plays: 6, completions: 3, ..Default::default() };
    for (s, v) in c.retention.iter_mut().enumerate() {
        *v = 6 - (s as i64 * 6 / 100);
    }
    c.exits[40] = 2;
    c.exits[100] = 3;
    c.seek_from[10] = 4;
    c.seek_to[60] = 4;
    let q = ItemQuery { item: item.into(), app: None, range: TimeRange::ALL };
    let timeline = vec![
        TimelinePoint { window_start: T0, window_end: T0 + 60_000, plays: 5, active_views: 4, ..Default::default() },
        TimelinePoint {
            window_start: T0 + 120_000,
            window_end: T0 + 180_000,
            plays: 3,
            active_views: 6,
            ..Default::default()
        },
    ];
    ItemEngagement::new(&q, c, 7, timeline)
}

fn data(detail: Detail) -> ViewData {
    ViewData {
        now_ms: T0,
        host: Some("127.0.0.1:8080".into()),
        items: vec![ItemSummary {
            item: "item-1".into(),
            impressions: 10,
            plays: 8,
            unique_viewers: 7,
            completions: 3,
            play_rate: Some(0.8),
            completion_rate: Some(0.5),
        }],
        items_matched: 1,
        sessions: vec![SessionListing {
            source: "webinars".into(),
            session_id: EVIL.into(),
            started_at: Some(T0),
            ended_at: None,
            unique_attendees: 4,
            peak_concurrent: 3,
            avg_attendance_seconds: Some(90.0),
            engaged_share: Some(0.5),
        }],
        sessions_matched: 1,
        any_data: true,
        detail,
    }
}

fn values(html: &str, chart: &str) -> serde_json::Value {
    let raw = attribute_after(html, &format!(r#"data-chart="{chart}""#), "data-values")
        .unwrap_or_else(|| panic!("no chart {chart}"));
    serde_json::from_str(&raw).unwrap()
}

#[test]
fn an_item_shows_its_figures_and_plots_the_api_numbers() {
    let e = engagement("item-1");
    let apps = vec![engage_sink::AppSummary {
        app: "Acme/<TV>".into(),
        impressions: 10,
        plays: 8,
        unique_viewers: 7,
        completions: 3,
        play_rate: Some(0.8),
        completion_rate: Some(0.5),
    }];
    let q = crate::query::ViewQuery::parse(Some("range=1h")).unwrap();
    let html = view(&data(Detail::Item { engagement: Box::new(e.clone()), apps }), &q);
    assert_eq!(values(&html, "retention"), serde_json::json!(e.retention));
    assert_eq!(values(&html, "exits"), serde_json::json!(e.exits));
    assert_eq!(values(&html, "seeks")["seek_to"], serde_json::json!(e.seek_to));
    let timeline = values(&html, "timeline");
    assert_eq!(timeline["window_start"], serde_json::json!([T0, T0 + 60_000, T0 + 120_000]));
    assert_eq!(timeline["plays"], serde_json::json!([5, 0, 3]));
    assert_eq!(timeline["active_views"], serde_json::json!([4, 0, 6]));
    assert!(html.contains(r#"<dd data-kpi="plays">8</dd>"#));
    assert!(html.contains(r#"<dd data-kpi="completion_rate">50.0%</dd>"#));
    assert!(html.contains(r#"<tr data-item="item-1" data-plays="8" data-unique-viewers="7" aria-current="true">"#));
    assert_eq!(html.matches("<svg role=\"img\"").count(), 4);
    // user-controlled strings are escaped everywhere
    assert!(!html.contains("<script>") && !html.contains("Acme/<TV>"), "{html}");
    assert!(html.contains("Acme/&lt;TV&gt;") && html.contains("&lt;script&gt;alert(&quot;x&quot;)"));
    assert!(html.contains(r#"href="/?range=1h&amp;item=item-1&amp;app=Acme%2F%3CTV%3E""#), "{html}");
}

#[test]
fn a_session_shows_attendance_engagement_and_streams() {
    let e = SessionEngagement {
        source: "webinars".into(),
        session_id: EVIL.into(),
        started_at: Some(T0),
        ended_at: Some(T0 + 120_000),
        unique_attendees: 4,
        peak_concurrent: 3,
        avg_attendance_seconds: Some(90.0),
        engaged_share: Some(0.5),
        engagements: BTreeMap::from([("poll".into(), 5), ("<chat>".into(), 2)]),
        stream_seconds: BTreeMap::from([("screen".into(), 75.5)]),
        timeline: vec![SessionTimelinePoint {
            window_start: T0,
            window_end: T0 + 60_000,
            is_final: true,
            attendees: 4,
            joins: 4,
            leaves: 1,
            peak_concurrent: 3,
            engagements: BTreeMap::new(),
            stream_seconds: BTreeMap::new(),
        }],
    };
    let q = crate::query::ViewQuery::default();
    let html = view(&data(Detail::Session { id: EVIL.into(), engagement: Some(Box::new(e)) }), &q);
    assert_eq!(values(&html, "attendees")["attendees"], serde_json::json!([4]));
    assert_eq!(values(&html, "engagements"), serde_json::json!({"poll": 5, "<chat>": 2}));
    assert_eq!(values(&html, "streams"), serde_json::json!({"screen": 75.5}));
    assert!(html.contains(r#"<dd data-kpi="peak_concurrent">3</dd>"#));
    assert!(html.contains(r#"<dd data-kpi="avg_attendance_seconds">1m 30s</dd>"#));
    assert!(html.contains("Ended 2024-05-01 12:02 UTC"));
    assert!(!html.contains("<script>") && !html.contains("<chat>"), "{html}");
    let unknown = view(&data(Detail::Session { id: "nope".into(), engagement: None }), &q);
    assert!(unknown.contains(r#"data-empty="session""#));
}

#[test]
fn empty_states_explain_what_to_do() {
    let q = crate::query::ViewQuery::default();
    let first = view(&ViewData { any_data: false, host: Some("localhost:9000".into()), ..data(Detail::None) }, &q);
    assert!(first.contains(r#"data-empty="first-run""#));
    assert!(first.contains("http://localhost:9000/ping/dot.gif?item=s1iTEmiD251a&amp;ts=$ts&amp;progress=0"));
    let none =
        ViewData { items: vec![], items_matched: 0, sessions: vec![], sessions_matched: 0, ..data(Detail::None) };
    let q = crate::query::ViewQuery::parse(Some("range=15m&q=zzz")).unwrap();
    let html = view(&none, &q);
    assert!(html.contains(r#"data-empty="range""#) && html.contains("matching “zzz”"), "{html}");
    assert!(html.contains(r#"href="/?range=all&amp;q=zzz""#));
}
