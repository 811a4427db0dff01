//! Parsing, validation, time correction and envelope building of Segment calls.

use super::envelope::{AnalyticsReceived, analytics_event, generated_message_id};
use super::*;
use crate::envelope::{AnalyticsType, Body, RawEvent};
use prost::Message as _;
use serde_json::json;

fn err(v: Value, call: Option<CallType>) -> (RejectReason, String) {
    let e = parse_message(v, call).expect_err("must be refused");
    (e.reason, e.field)
}

#[test]
fn track_is_parsed_with_its_fields() {
    let m = parse_message(
        json!({"userId": 42, "event": "User Joined", "properties": {"session_id": "s1"},
               "context": {"ip": "203.0.113.9", "userAgent": "ua"}, "messageId": "m1",
               "timestamp": "2024-05-01T12:00:00.500Z", "sentAt": "2024-05-01T12:00:01Z"}),
        Some(CallType::Track),
    )
    .expect("valid");
    assert_eq!(m.user_id.as_deref(), Some("42"));
    assert_eq!(m.event.as_deref(), Some("User Joined"));
    assert_eq!(m.properties["session_id"], "s1");
    assert_eq!(m.context_ip(), Some("203.0.113.9"));
    assert_eq!(m.context_user_agent(), Some("ua"));
    assert_eq!(m.timestamp_ms, Some(1_714_564_800_500));
    assert_eq!(m.sent_at_ms, Some(1_714_564_801_000));
}

#[test]
fn required_fields_are_named() {
    assert_eq!(err(json!({"event": "x"}), Some(CallType::Track)), (RejectReason::MissingField, "userId".into()));
    assert_eq!(err(json!({"userId": "u"}), Some(CallType::Track)), (RejectReason::MissingField, "event".into()));
    assert_eq!(err(json!({"userId": "u", "event": ""}), Some(CallType::Track)).1, "event");
    assert_eq!(err(json!({"userId": "u"}), None), (RejectReason::MissingField, "type".into()));
    assert_eq!(err(json!({"userId": "u", "type": "nope"}), None), (RejectReason::UnknownType, "type".into()));
    assert_eq!(err(json!({"userId": "u"}), Some(CallType::Group)).1, "groupId");
    assert_eq!(err(json!({"userId": "u"}), Some(CallType::Alias)).1, "previousId");
    // identify and page need no event
    assert!(parse_message(json!({"anonymousId": "a"}), Some(CallType::Identify)).is_ok());
    assert!(parse_message(json!({"anonymousId": "a", "type": "Page"}), None).is_ok());
}

#[test]
fn wrong_types_are_named() {
    let bad = [
        (json!({"userId": true, "event": "e"}), "userId"),
        (json!({"userId": "u", "event": 3}), "event"),
        (json!({"userId": "u", "event": "e", "properties": [1]}), "properties"),
        (json!({"userId": "u", "event": "e", "context": "x"}), "context"),
        (json!({"userId": "u", "event": "e", "timestamp": "yesterday"}), "timestamp"),
        (json!({"userId": "u", "event": "e", "sentAt": 5}), "sentAt"),
        (json!({"userId": "u", "event": "e", "messageId": {}}), "messageId"),
    ];
    for (v, field) in bad {
        assert_eq!(err(v, Some(CallType::Track)), (RejectReason::InvalidField, field.into()), "{field}");
    }
    assert_eq!(err(json!([1]), Some(CallType::Track)).0, RejectReason::InvalidJson);
}

#[test]
fn event_time_cancels_the_client_clock_offset() {
    let m = parse_message(
        json!({"userId": "u", "event": "e", "timestamp": "2024-05-01T12:00:00Z", "sentAt": "2024-05-01T12:00:10Z"}),
        Some(CallType::Track),
    )
    .expect("valid");
    // the client clock is an hour behind: received = sentAt + 1 h
    let received = m.sent_at_ms.expect("sent") + 3_600_000;
    assert_eq!(m.event_time(received, None), received - 10_000);
    let no_sent = Message { sent_at_ms: None, ..m.clone() };
    assert_eq!(no_sent.event_time(received, None), m.timestamp_ms.expect("ts"));
    // the batch's sentAt applies when the item has none
    assert_eq!(no_sent.event_time(received, Some(m.timestamp_ms.expect("ts") + 4_000)), received - 4_000);
    // transit time is not skew
    let sent = m.sent_at_ms.expect("sent");
    assert_eq!(m.event_time(sent + 300, None), m.timestamp_ms.expect("ts"));
    let bare = Message { timestamp_ms: None, ..m };
    assert_eq!(bare.event_time(received, None), received);
}

#[test]
fn times_without_offset_are_utc_and_sub_millisecond_digits_are_cut() {
    assert_eq!(parse_time("2024-05-01T12:00:00.123456+00:00"), Some(1_714_564_800_123));
    assert_eq!(parse_time("2024-05-01T12:00:00"), Some(1_714_564_800_000));
    assert_eq!(parse_time("2024-05-01T14:00:00+02:00"), Some(1_714_564_800_000));
    assert_eq!(parse_time("nope"), None);
}

#[test]
fn envelope_drops_the_ip_and_ids_are_deterministic() {
    let m = parse_message(
        json!({"anonymousId": "a1", "type": "page", "name": "Home", "properties": {"path": "/"},
               "context": {"ip": "203.0.113.9", "library": {"name": "analytics-python"}}}),
        None,
    )
    .expect("valid");
    let ctx = AnalyticsReceived {
        received_at_ms: 10,
        event_time_ms: 9,
        viewer_key: 7,
        prev_viewer_key: 0,
        ingested_at_ms: 10,
        app_key: "analytics-python",
        app_version: "2",
        user_agent: "analytics-python/2",
        source: "key1",
        bot: false,
    };
    let ev = analytics_event(&m, "m1", &ctx);
    let decoded = RawEvent::decode(ev.encode_to_vec().as_slice()).expect("decodes");
    assert_eq!(decoded, ev);
    let Some(Body::Analytics(a)) = &ev.body else { panic!("not analytics") };
    assert_eq!(AnalyticsType::try_from(a.r#type).ok().and_then(AnalyticsType::call), Some(CallType::Page));
    assert_eq!((a.name.as_str(), a.anonymous_id.as_str()), ("Home", "a1"));
    // the source travels with the call: identity links and attribution are per source
    assert_eq!(a.source, "key1");
    assert!(!a.context_json.contains("203.0.113.9"), "{}", a.context_json);
    assert!(a.context_json.contains("analytics-python"));
    assert_eq!(analytics_event(&m, "m1", &ctx).event_id, ev.event_id);
    assert_ne!(analytics_event(&m, "m2", &ctx).event_id, ev.event_id);
    let other_key = AnalyticsReceived { source: "key2", ..ctx };
    assert_ne!(analytics_event(&m, "m1", &other_key).event_id, ev.event_id);
    assert_eq!(generated_message_id(b"{}"), generated_message_id(b"{}"));
    assert_ne!(generated_message_id(b"{}"), generated_message_id(b"{ }"));
}

#[test]
fn partition_key_follows_the_state_an_event_feeds() {
    let key = |v: Value| partition_key(&parse_message(v, None).expect("valid"), "wk1");
    // Video Spec events meet the item's pingbacks (keyed by the item) in one partition.
    let video = json!({"type": "track", "userId": "u1", "event": "Video Playback Started",
        "properties": {"content_asset_ids": ["movie-7", "movie-8"], "session_id": "playback-1"}});
    assert_eq!(key(video), "movie-7");
    let heartbeat = json!({"type": "track", "userId": "u1", "event": "Video Content Playing",
        "properties": {"asset_id": "movie-8", "session_id": "playback-1", "position": 5, "total_length": 90}});
    assert_eq!(key(heartbeat), "movie-8");
    // Webinar events, with or without a session id, meet their source's identify, alias and
    // group calls: attribution and identity links are per source.
    let joined = json!({"type": "track", "userId": "u1", "event": "User Joined", "properties": {"session_id": "w-9"}});
    assert_eq!(key(joined), "source:wk1");
    let seed =
        json!({"type": "track", "userId": "u1", "event": "User joined", "properties": {"id": "5031", "name": "g"}});
    assert_eq!(key(seed), "source:wk1");
    assert_eq!(key(json!({"type": "identify", "userId": "u1", "anonymousId": "a1", "traits": {}})), "source:wk1");
    assert_eq!(key(json!({"type": "alias", "userId": "u1", "previousId": "a1"})), "source:wk1");
    assert_eq!(key(json!({"type": "group", "userId": "u1", "groupId": "w-9"})), "source:wk1");
    // Page views are counted per (kind, name): one partition per page.
    assert_eq!(
        key(json!({"type": "page", "anonymousId": "a", "name": "Home", "properties": {"session_id": "w-9"}})),
        "page:Home"
    );
    assert_eq!(key(json!({"type": "screen", "userId": "u", "name": "Player"})), "screen:Player");
    // Other track events: the user, so one user's calls stay in order.
    assert_eq!(key(json!({"type": "track", "anonymousId": "a2", "event": "Clicked"})), "a2");
    // A Video Spec event that maps to nothing is not a webinar event, whatever its session id.
    let ad = json!({"type": "track", "userId": "u1", "event": "Video Ad Started", "properties": {"session_id": "p"}});
    assert_eq!(key(ad), "p");
}
