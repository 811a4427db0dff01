//! The invariants the fuzz targets check, beyond "never panics": what the collector and the
//! consumer do with a parser's answer, run on every answer the fuzzer provokes.
//!
//! - A pingback query: an accepted one obeys the protocol's rules and round-trips (through
//!   its query string and through the wire envelope the consumer decodes); a refused one has
//!   a reason code the store can read back, and its kept input is bounded.
//! - A log line: a pingback is a successful `GET`/`HEAD` of the pingback path, and its query
//!   goes on to the pingback parser, as in the collector.
//! - A `RawEvent`: decoding is stable (decode, encode, decode gives the same event), and the
//!   consumer's per-body steps run on it.

use engage_model::cdnlog::{LineReader, PINGBACK_PATH, Parsed};
use engage_model::envelope::{self, AnalyticsType, Body, RawEvent, Received, Source};
use engage_model::pingback::{self, EventKind, Level, MAX_QUERY_BYTES, Pingback};
use engage_model::redact::{Excerpt, MAX_DETAIL_CHARS, MAX_EXCERPT_CHARS};
use engage_model::reject::RejectReason;
use engage_model::segment::video::video_spec_events;
use engage_model::segment::{CallType, MessageError};
use prost::Message as _;
use serde_json::{Map, Value};

/// A refusal names its reason (a code the store reads back), its field and why.
pub fn check_message_error(e: &MessageError) {
    check_reason(e.reason);
    assert!(!e.field.is_empty(), "a refusal without a field: {e:?}");
    assert!(!e.detail.is_empty(), "a refusal without a detail: {e:?}");
}

/// A reason code survives its trip through the store.
pub fn check_reason(reason: RejectReason) {
    assert_eq!(RejectReason::from_code(reason.as_str()), Some(reason), "reason code does not read back");
}

/// Parses a pingback query as the collector does, checking what it answers.
pub fn check_pingback_query(query: &str) {
    match pingback::parse_query(query) {
        Ok(p) => check_pingback(query, &p),
        Err(e) => {
            check_reason(e.reason);
            assert!(!e.detail.is_empty(), "a refused pingback without a detail: {e:?}");
            // What the collector keeps of it: a short redacted excerpt and detail, whatever the query.
            let excerpt = Excerpt::of_query(query);
            let ev = envelope::rejected_event(0, "/ping/dot.gif", e.reason.as_str(), &e.detail, &excerpt);
            let Some(Body::Rejected(r)) = &ev.body else { panic!("a rejection without its body") };
            assert!(r.input.chars().count() <= MAX_EXCERPT_CHARS && r.truncated == excerpt.truncated());
            assert!(r.reason.chars().count() <= MAX_DETAIL_CHARS);
        }
    }
}

fn check_pingback(query: &str, p: &Pingback) {
    assert!(query.len() <= MAX_QUERY_BYTES);
    assert!(p.progress <= 100, "progress {} accepted", p.progress);
    assert!(!p.item.is_empty() && p.item.len() <= pingback::MAX_ITEM_LEN);
    assert!(p.item.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:~@".contains(&b)), "item {:?}", p.item);
    if p.level == Level::One && p.event.is_level1() {
        assert_eq!(p.progress, 0, "level 1 {} with progress", p.event);
    }
    if p.level == Level::Two && p.event == EventKind::Update {
        assert!(p.progress.is_multiple_of(10) && (10..=90).contains(&p.progress), "update at {}", p.progress);
    }
    // The query the pingback means parses to the same pingback.
    let mut again = form_urlencoded::Serializer::new(String::new());
    again.append_pair("item", &p.item);
    again.append_pair("ts", &p.ts_ms.to_string());
    again.append_pair("progress", &p.progress.to_string());
    again.append_pair("event", p.event.as_str());
    again.append_pair("il", &p.level.as_u32().to_string());
    if let Some(ua) = &p.ua {
        again.append_pair("ua", ua);
    }
    if let Some(vid) = &p.view_id {
        again.append_pair("vid", vid);
    }
    let again = again.finish();
    if again.len() <= MAX_QUERY_BYTES {
        assert_eq!(pingback::parse_query(&again).as_ref(), Ok(p), "{again}");
    }
    // Through the envelope, the consumer reads the same event back.
    let ctx = Received {
        received_at_ms: 1,
        event_time_ms: 1,
        viewer_key: 7,
        prev_viewer_key: 0,
        ingested_at_ms: 1,
        app_key: "",
        app_version: "",
        user_agent: "",
        source: Source::Pingback,
        bot: false,
    };
    let ev = RawEvent::decode(envelope::pingback_event(p, &ctx).encode_to_vec().as_slice()).expect("decodes");
    let Some(Body::Pingback(body)) = &ev.body else { panic!("a pingback envelope without its body") };
    assert_eq!(body.validated(), Ok((p.event, p.level, p.progress)));
}

/// Reads `data` line by line, as `/v1/cdn-logs` does, checking every answer.
pub fn check_log_lines(reader: &mut LineReader, data: &[u8]) {
    for line in data.split(|b| *b == b'\n') {
        match reader.read(line) {
            Ok(Parsed::Pingback(r)) => {
                assert_eq!(r.path, PINGBACK_PATH);
                assert!(r.method.eq_ignore_ascii_case("GET") || r.method.eq_ignore_ascii_case("HEAD"));
                assert!((200..400).contains(&r.status), "status {}", r.status);
                assert!(r.user_agent.bytes().all(|b| b == b'\t' || (0x20..0x7f).contains(&b)));
                check_pingback_query(&r.query);
            }
            Ok(Parsed::Skipped(s)) => assert!(!s.as_str().is_empty()),
            Err(e) => assert!(!e.reason.as_str().is_empty() && !e.detail.is_empty(), "{e:?}"),
        }
    }
}

/// Decodes a bus payload as the consumer does, checking that decoding is stable.
pub fn check_raw_event(payload: &[u8]) {
    let Ok(ev) = RawEvent::decode(payload) else { return };
    let again = RawEvent::decode(ev.encode_to_vec().as_slice()).expect("a re-encoded event decodes");
    assert_eq!(again, ev, "decode → encode → decode changed the event");
    match ev.body {
        Some(Body::Pingback(pb)) => {
            if let Ok((_, _, progress)) = pb.validated() {
                assert!(progress <= 100 && !pb.item.is_empty());
            }
        }
        Some(Body::Analytics(a)) => {
            // The consumer's analytics step: a known call type, a user, JSON objects.
            let Some(call) = AnalyticsType::try_from(a.r#type).ok().and_then(AnalyticsType::call) else { return };
            if a.user_id.is_empty() && a.anonymous_id.is_empty() {
                return;
            }
            let object = |json: &str| serde_json::from_str::<Map<String, Value>>(json).ok();
            let (Some(properties), Some(_), Some(_)) =
                (object(&a.properties_json), object(&a.context_json), object(&a.traits_json))
            else {
                return;
            };
            if call == CallType::Track {
                check_video_spec(&a.event, &properties);
            }
        }
        Some(Body::Rejected(r)) => {
            let _ = RejectReason::from_code(&r.reason_code);
        }
        Some(Body::Erasure(_)) | None => {}
    }
}

/// The Video Spec bridge of a track event: what it gives is a valid pingback event.
pub fn check_video_spec(event: &str, properties: &Map<String, Value>) {
    if let Some(Ok(events)) = video_spec_events(event, properties) {
        for e in events {
            assert!(e.progress <= 100, "video spec progress {}", e.progress);
            assert!(!e.item.is_empty(), "video spec event without an item");
        }
    }
}
