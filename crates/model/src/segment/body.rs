//! A Segment request body, before and around [`super::parse_message`]: its
//! `Content-Encoding` (none or gzip) with a size cap, the `batch` array and `sentAt` of
//! `/v1/batch`, and one batch item. Pure, so the collector's HTTP handlers stay a thin shell
//! and the fuzz target `segment_body` runs the same code.
//!
//! Decompression is bounded: at most `limit + 1` bytes are ever inflated, so a gzip bomb costs
//! no more memory than an honest body at the limit.

use super::{MAX_EVENT_BYTES, Message, MessageError, parse_message, parse_time};
use crate::reject::RejectReason;
use serde_json::Value;
use std::io::Read;

/// The body as JSON bytes: `raw` inflated when `content_encoding` is gzip (`gzip`, `x-gzip`,
/// any case), as is when it is absent, empty or `identity`; refused past `limit` bytes
/// (`payload_too_large`) and for any other encoding (`invalid_encoding`).
pub fn decode_body(raw: &[u8], content_encoding: Option<&str>, limit: usize) -> Result<Vec<u8>, MessageError> {
    let too_large =
        || MessageError::new(RejectReason::PayloadTooLarge, "body", format!("is larger than {limit} bytes"));
    let encoding = content_encoding.map(|v| v.trim().to_ascii_lowercase());
    match encoding.as_deref() {
        None | Some("" | "identity") if raw.len() > limit => Err(too_large()),
        None | Some("" | "identity") => Ok(raw.to_vec()),
        Some("gzip" | "x-gzip") => {
            let mut out = Vec::new();
            let mut reader = flate2::read::MultiGzDecoder::new(raw).take(limit as u64 + 1);
            reader.read_to_end(&mut out).map_err(|e| {
                MessageError::new(
                    RejectReason::InvalidEncoding,
                    "Content-Encoding",
                    format!("gzip body does not inflate: {e}"),
                )
            })?;
            if out.len() > limit {
                return Err(too_large());
            }
            Ok(out)
        }
        Some(other) => Err(MessageError::new(
            RejectReason::InvalidEncoding,
            "Content-Encoding",
            format!("{:?} is not supported (gzip or none)", other.chars().take(32).collect::<String>()),
        )),
    }
}

/// The `batch` array of a `/v1/batch` body, taken out of it.
pub fn batch_items(value: &mut Value) -> Result<Vec<Value>, MessageError> {
    let Value::Object(obj) = value else {
        return Err(MessageError::new(RejectReason::InvalidJson, "body", "must be a JSON object"));
    };
    match obj.remove("batch") {
        None | Some(Value::Null) => Err(MessageError::new(RejectReason::MissingField, "batch", "is required")),
        Some(Value::Array(items)) => Ok(items),
        Some(_) => Err(MessageError::new(RejectReason::InvalidField, "batch", "must be an array")),
    }
}

/// The batch's own `sentAt` (epoch milliseconds), for items without one.
pub fn batch_sent_at(value: &Value) -> Result<Option<i64>, MessageError> {
    match value.get("sentAt") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => parse_time(s)
            .map(Some)
            .ok_or_else(|| MessageError::new(RejectReason::InvalidField, "sentAt", "is not an ISO 8601 time")),
        Some(_) => Err(MessageError::new(RejectReason::InvalidField, "sentAt", "must be an ISO 8601 time string")),
    }
}

/// Item `index` of a batch: its JSON bytes (what a refusal keeps, and what a generated
/// message id hashes) and the validated call, refused past [`MAX_EVENT_BYTES`].
pub fn parse_batch_item(item: Value, index: usize) -> (Vec<u8>, Result<Message, MessageError>) {
    let bytes = serde_json::to_vec(&item).unwrap_or_default();
    let parsed = if bytes.len() > MAX_EVENT_BYTES {
        Err(MessageError::new(
            RejectReason::PayloadTooLarge,
            "batch",
            format!("item {index} is larger than {MAX_EVENT_BYTES} bytes"),
        ))
    } else {
        parse_message(item, None)
    };
    (bytes, parsed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::io::Write;

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(bytes).expect("gzip");
        e.finish().expect("gzip")
    }

    #[test]
    fn bodies_are_inflated_when_gzipped_and_kept_otherwise() {
        let json = br#"{"userId":"u","event":"e"}"#;
        assert_eq!(decode_body(json, None, 100).expect("plain"), json);
        assert_eq!(decode_body(json, Some(" Identity "), 100).expect("identity"), json);
        assert_eq!(decode_body(&gzip(json), Some("GZIP"), 100).expect("gzip"), json);
        // members concatenated, as `MultiGzDecoder` reads them
        let twice = [gzip(b"ab"), gzip(b"cd")].concat();
        assert_eq!(decode_body(&twice, Some("x-gzip"), 100).expect("members"), b"abcd");
    }

    #[test]
    fn oversized_garbled_and_unknown_bodies_are_refused_with_a_reason() {
        let reason = |r: Result<Vec<u8>, MessageError>| r.map(|_| ()).expect_err("refused").reason;
        assert_eq!(reason(decode_body(&[b' '; 101], None, 100)), RejectReason::PayloadTooLarge);
        // a bomb stops at the cap
        assert_eq!(reason(decode_body(&gzip(&vec![b' '; 1 << 20]), Some("gzip"), 100)), RejectReason::PayloadTooLarge);
        assert_eq!(reason(decode_body(b"plain, not gzip", Some("gzip"), 100)), RejectReason::InvalidEncoding);
        assert_eq!(reason(decode_body(b"{}", Some("br"), 100)), RejectReason::InvalidEncoding);
    }

    #[test]
    fn a_batch_gives_its_items_its_sent_at_and_each_item_its_refusal() {
        let mut body = json!({"batch": [{"type": "track", "userId": "u", "event": "e"}, {"type": "track"}],
                              "sentAt": "2024-05-01T12:00:00Z"});
        assert_eq!(batch_sent_at(&body).expect("sentAt"), Some(1_714_564_800_000));
        let items = batch_items(&mut body).expect("items");
        let mut parsed = items.into_iter().enumerate().map(|(i, item)| parse_batch_item(item, i).1);
        assert!(parsed.next().expect("first").is_ok());
        assert_eq!(parsed.next().expect("second").expect_err("no user").field, "userId");
        assert_eq!(batch_items(&mut json!({"batch": {}})).expect_err("object").field, "batch");
        assert_eq!(batch_items(&mut json!([])).expect_err("array").reason, RejectReason::InvalidJson);
        assert_eq!(batch_sent_at(&json!({"sentAt": 5})).expect_err("number").field, "sentAt");
        let big =
            json!({"type": "track", "userId": "u", "event": "e", "properties": {"p": "x".repeat(MAX_EVENT_BYTES)}});
        assert_eq!(parse_batch_item(big, 3).1.expect_err("big").reason, RejectReason::PayloadTooLarge);
    }
}
