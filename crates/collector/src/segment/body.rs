//! Reading a Segment request: the write key (Basic auth or `writeKey`), and the body with its
//! size limit and `Content-Encoding`, decoded by [`engage_model::segment::body::decode_body`]
//! (gzip inflated with a cap: a gzip bomb costs no more memory than an honest body).

use super::error::SegmentError;
use axum::body::Body;
use axum::http::{HeaderMap, header};
use engage_model::reject::RejectReason;
use engage_model::segment::body::decode_body;

/// Reads the body, inflating it when gzipped, refusing it past `limit` bytes (413).
pub(crate) async fn read_body(body: Body, headers: &HeaderMap, limit: usize) -> Result<Vec<u8>, SegmentError> {
    // A compressed body is (for any real payload) smaller than its content: the same bound holds.
    let raw = axum::body::to_bytes(body, limit).await.map_err(|_| {
        SegmentError::new(RejectReason::PayloadTooLarge, "body", format!("is larger than {limit} bytes"))
    })?;
    let encoding = headers.get(header::CONTENT_ENCODING).map(|v| v.to_str().unwrap_or("?"));
    Ok(decode_body(&raw, encoding, limit)?)
}

/// The write key of a request: the Basic-auth user name, if any.
pub(crate) fn basic_auth_user(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(base64_decode(encoded.trim())?).ok()?;
    let user = decoded.split_once(':').map_or(decoded.as_str(), |(u, _)| u);
    (!user.is_empty()).then(|| user.to_string())
}

/// Standard base64 (padding optional); `None` on any invalid character.
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.trim_end_matches('=').bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_auth_user_is_the_write_key() {
        let mut h = HeaderMap::new();
        // base64("key1:")
        h.insert(header::AUTHORIZATION, "Basic a2V5MTo=".parse().expect("header"));
        assert_eq!(basic_auth_user(&h).as_deref(), Some("key1"));
        h.insert(header::AUTHORIZATION, "Basic a2V5MQ".parse().expect("header"));
        assert_eq!(basic_auth_user(&h).as_deref(), Some("key1"));
        h.insert(header::AUTHORIZATION, "Bearer a2V5MTo=".parse().expect("header"));
        assert_eq!(basic_auth_user(&h), None);
        h.insert(header::AUTHORIZATION, "Basic !!!".parse().expect("header"));
        assert_eq!(basic_auth_user(&h), None);
    }
}
