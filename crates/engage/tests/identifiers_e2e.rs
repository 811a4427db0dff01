//! `engage run` end to end: an identifier is refused the same way on every path, and the
//! names a sender chooses are bounded, over HTTP.
//! - An HTML-looking `content_asset_id` is refused with 400 and its reason, counted and kept;
//!   it never becomes an item. The same asset sent well-formed is counted like a pingback.
//! - Sixty applications on one item in one window: fifty keep their names, the rest count
//!   under `(other)`, which the API can be asked for; the overflow is a metric.

mod support;

use serde_json::{Value, json};
use std::time::Duration;
use support::{Engage, agent, eventually, get, get_json, now_ms};

const HTML_ITEM: &str = "<img src=x onerror=alert(1)>";
const MIN: i64 = 60_000;

fn post(url: &str, body: &Value) -> (u16, Value) {
    let mut resp =
        agent().post(url).header("Content-Type", "application/json").send(body.to_string()).expect("HTTP POST");
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn metrics(engage: &Engage) -> String {
    let (_, _, body) = get(&agent(), &engage.url("/metrics"), "engage-e2e");
    String::from_utf8(body).expect("utf8")
}

#[test]
fn identifiers_are_refused_alike_and_dimensions_are_bounded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engage = Engage::start(dir.path(), &["--commit-interval-ms", "100"]);
    let agent = agent();

    // The finding: an asset id that is HTML.
    let started = |asset: &str| {
        json!({"userId": "u1", "event": "Video Playback Started", "properties": {
            "content_asset_id": asset, "session_id": "play-1", "position": 0, "total_length": 60}})
    };
    let (status, answer) = post(&engage.url("/v1/track"), &started(HTML_ITEM));
    assert_eq!(status, 400, "{answer}");
    assert_eq!(
        (answer["code"].as_str(), answer["field"].as_str()),
        (Some("invalid_item"), Some("properties.content_asset_id"))
    );
    let (status, err, _) =
        get(&agent, &engage.url("/ping/dot.gif?item=%3Cimg%3E&ts=1&progress=0&event=initialized"), "Acme/Player 1");
    assert_eq!((status, err.as_deref().map(|e| e.starts_with("invalid_item: "))), (400, Some(true)));
    let (status, answer) = post(&engage.url("/v1/track"), &started("asset-ok"));
    assert_eq!(status, 200, "{answer}");

    // Sixty applications of one item, in one window.
    let t0 = (now_ms() / MIN) * MIN;
    for i in 0..60 {
        let q = format!(
            "/ping/dot.gif?item=capped&ts={}&progress=0&event=initialized&il=2&ua=Vendor%2FApp{i:02}%201.0",
            t0 + i
        );
        let (status, err, _) = get(&agent, &engage.url(&q), &format!("Device/{i} 1.0"));
        assert_eq!(status, 200, "{err:?}");
    }

    let apps = eventually(Duration::from_secs(15), || {
        let body = get_json(&agent, &engage.url("/api/v1/items/capped/apps"));
        let apps = body["apps"].as_array().cloned().unwrap_or_default();
        let impressions: i64 = apps.iter().filter_map(|a| a["impressions"].as_i64()).sum();
        (impressions == 60).then_some(apps)
    })
    .expect("every impression counted")
    .0;
    assert_eq!(apps.len(), 51, "fifty applications and (other)");
    let other = apps.iter().find(|a| a["app"] == "(other)").expect("(other) listed");
    assert_eq!(other["impressions"], 10);
    let asked = get_json(&agent, &engage.url("/api/v1/items/capped/engagement?app=%28other%29"));
    assert_eq!(asked["impressions"], 10);

    // The well-formed asset became an item like a pingback's; nothing HTML did.
    eventually(Duration::from_secs(15), || {
        let ok = get_json(&agent, &engage.url("/api/v1/items/asset-ok/engagement"));
        (ok["impressions"] == 1).then_some(())
    })
    .expect("the valid asset counted");
    let top = get_json(&agent, &engage.url("/api/v1/items?limit=1000"));
    let items: Vec<&str> = top["items"].as_array().into_iter().flatten().filter_map(|i| i["item"].as_str()).collect();
    assert!(!items.iter().any(|i| i.contains('<')), "{items:?}");

    let m = metrics(&engage);
    for needle in [
        r#"engage_cardinality_overflow_total{dimension="app"} 10"#,
        r#"engage_collector_rejected_total{route="/v1/track",reason="invalid_item"} 1"#,
        r#"engage_collector_rejected_total{route="/ping/dot.gif",reason="invalid_item"} 1"#,
    ] {
        assert!(m.contains(needle), "{needle} not in\n{m}");
    }
    engage.stop();
}
