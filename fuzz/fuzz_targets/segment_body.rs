//! A Segment request body as the collector reads it: `Content-Encoding`, the size cap, the
//! JSON, then one call (`/v1/track`...) or a `/v1/batch` and each of its items, through to
//! the envelope the collector publishes.
//!
//! Input: a first line `ROUTE [ENCODING [pack]]`, then the body. ROUTE is a call type or
//! `batch` (anything else: `track`); ENCODING is the `Content-Encoding` header as sent; with
//! `pack` the body is gzipped here first, so the JSON parse is reached through gzip too.
//! Without `pack` a gzip body is the fuzzer's bytes, which fuzzes the inflater itself.
#![no_main]

use engage_fuzz::{check_message_error, check_video_spec};
use engage_model::envelope::{Body, RawEvent};
use engage_model::reject::RejectReason;
use engage_model::segment::body::{batch_items, batch_sent_at, decode_body, parse_batch_item};
use engage_model::segment::envelope::{AnalyticsReceived, analytics_event, generated_message_id};
use engage_model::segment::{CallType, MAX_BATCH_BYTES, MAX_EVENT_BYTES, Message, parse_message, partition_key};
use libfuzzer_sys::fuzz_target;
use prost::Message as _;
use serde_json::Value;
use std::io::Write;

/// The collector's receive time in these runs (2024-05-01T12:00:00Z).
const RECEIVED_AT_MS: i64 = 1_714_564_800_000;

fuzz_target!(|data: &[u8]| {
    let (header, body) = match data.iter().position(|b| *b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&data[..0], data),
    };
    let header = String::from_utf8_lossy(header);
    let mut words = header.split(' ');
    let route = words.next().unwrap_or_default();
    let encoding = words.next();
    let pack = words.next() == Some("pack");
    let call = if route == "batch" { None } else { Some(CallType::parse(route).unwrap_or(CallType::Track)) };
    let limit = if call.is_some() { MAX_EVENT_BYTES } else { MAX_BATCH_BYTES };

    let packed;
    let raw = if pack {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(body).expect("gzip to memory");
        packed = gz.finish().expect("gzip to memory");
        &packed[..]
    } else {
        body
    };
    let bytes = match decode_body(raw, encoding, limit) {
        Ok(bytes) => bytes,
        Err(e) => {
            check_message_error(&e);
            let gzip = encoding.is_some_and(|e| ["gzip", "x-gzip"].contains(&e.trim().to_ascii_lowercase().as_str()));
            // What we packed ourselves inflates: only its size can refuse it.
            if pack && gzip {
                assert_eq!(e.reason, RejectReason::PayloadTooLarge, "{e}");
                assert!(body.len() > limit);
            }
            return;
        }
    };
    assert!(bytes.len() <= limit, "{} bytes past the cap of {limit}", bytes.len());
    if pack && encoding.is_some_and(|e| e.trim().eq_ignore_ascii_case("gzip")) {
        assert_eq!(bytes, body, "gzip did not round-trip");
    }

    let Ok(mut value) = serde_json::from_slice::<Value>(&bytes) else { return };
    match call {
        Some(call) => match parse_message(value, Some(call)) {
            Ok(msg) => check_accepted(&msg, &bytes, None),
            Err(e) => check_message_error(&e),
        },
        None => {
            let items = match batch_items(&mut value) {
                Ok(items) => items,
                Err(e) => return check_message_error(&e),
            };
            let sent_at = match batch_sent_at(&value) {
                Ok(t) => t,
                Err(e) => return check_message_error(&e),
            };
            for (index, item) in items.into_iter().enumerate() {
                let (item_bytes, parsed) = parse_batch_item(item, index);
                match parsed {
                    Ok(msg) => check_accepted(&msg, &item_bytes, sent_at),
                    Err(e) => check_message_error(&e),
                }
            }
        }
    }
});

/// What the collector does with an accepted call: its time, its bus key and its envelope,
/// which the consumer decodes back unchanged and without the raw IP.
fn check_accepted(msg: &Message, json: &[u8], batch_sent_at_ms: Option<i64>) {
    assert!(msg.user_id.is_some() || msg.anonymous_id.is_some(), "a call without a user");
    assert_eq!(msg.call == CallType::Track, msg.event.is_some(), "track and its event");
    let event_time_ms = msg.event_time(RECEIVED_AT_MS, batch_sent_at_ms);
    let _ = partition_key(msg, "default");
    let message_id = msg.message_id.clone().unwrap_or_else(|| generated_message_id(json));
    let ctx = AnalyticsReceived {
        received_at_ms: RECEIVED_AT_MS,
        event_time_ms,
        viewer_key: 7,
        prev_viewer_key: 0,
        ingested_at_ms: RECEIVED_AT_MS,
        app_key: "",
        app_version: "",
        user_agent: msg.context_user_agent().unwrap_or_default(),
        source: "default",
        // The classifier, on whatever user agent the body names.
        bot: engage_model::bot::is_bot(msg.context_user_agent().unwrap_or_default()),
    };
    let ev = analytics_event(msg, &message_id, &ctx);
    let decoded = RawEvent::decode(ev.encode_to_vec().as_slice()).expect("an envelope decodes");
    assert_eq!(decoded, ev);
    let Some(Body::Analytics(a)) = &decoded.body else { panic!("an analytics envelope without its body") };
    let context: serde_json::Map<String, Value> = serde_json::from_str(&a.context_json).expect("context is JSON");
    assert!(!context.contains_key("ip"), "the raw IP left the collector");
    for json in [&a.properties_json, &a.traits_json] {
        serde_json::from_str::<serde_json::Map<String, Value>>(json).expect("an object");
    }
    if msg.call == CallType::Track {
        check_video_spec(msg.event.as_deref().unwrap_or_default(), &msg.properties);
    }
}
