//! Who may ship CDN logs, and how much one request may carry.
//!
//! A log line claims a client, a time and an item, and nothing in it can be checked: whoever
//! can post lines can invent viewers. So `POST /v1/cdn-logs` takes log-shipper tokens
//! (`--log-tokens`, `Authorization: Bearer`, compared in constant time) and answers 401
//! without one. A production collector without tokens does not serve the route at all (404
//! saying so); `engage run` without tokens takes logs from loopback clients only.
//!
//! One request is bounded twice, after decompression ([`LogLimits`]): a gzip body of
//! newlines inflates a thousandfold, and each line costs parsing. Past a limit the answer is
//! 413 with what was done (`accepted`, `resume_at_line`): lines before it are kept, the
//! shipper sends the rest in another request.

use crate::metrics as m;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use engage_model::credential;
use engage_model::reject::RejectReason;
use std::net::IpAddr;

/// Shortest log-shipper token accepted.
pub const MIN_TOKEN_LEN: usize = 16;
/// Default most bytes of one request after decompression: 128 MiB.
pub const DEFAULT_MAX_BYTES: u64 = 128 << 20;
/// Default most lines of one request.
pub const DEFAULT_MAX_LINES: u64 = 1_000_000;

/// Who may post logs.
#[derive(Clone, Debug, Default)]
pub enum LogAccess {
    /// Nobody: the route answers 404 (a production collector started without tokens).
    #[default]
    Off,
    /// Clients on loopback, without a token (`engage run` without `--log-tokens`).
    Loopback,
    /// Holders of a log-shipper token.
    Tokens(LogTokens),
}

/// The log-shipper tokens. `Debug` shows how many, never the tokens.
#[derive(Clone)]
pub struct LogTokens {
    secrets: Vec<Vec<u8>>,
}

impl std::fmt::Debug for LogTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LogTokens({} tokens)", self.secrets.len())
    }
}

impl LogTokens {
    /// The tokens of `--log-tokens`, or every problem (by position, never quoting a token):
    /// shorter than [`MIN_TOKEN_LEN`], a template's placeholder, or given twice. `None` when
    /// no token is given.
    pub fn parse(entries: &[String]) -> Result<Option<Self>, Vec<String>> {
        let mut secrets: Vec<Vec<u8>> = Vec::new();
        let mut errors = Vec::new();
        for (i, entry) in entries.iter().map(|e| e.trim()).enumerate().filter(|(_, e)| !e.is_empty()) {
            let n = i + 1;
            if credential::is_placeholder(entry) {
                errors.push(format!("log token {n} is a template's placeholder: set a real secret"));
            } else if entry.len() < MIN_TOKEN_LEN {
                errors
                    .push(format!("log token {n} has {} characters, at least {MIN_TOKEN_LEN} are needed", entry.len()));
            } else if secrets.iter().any(|s| credential::ct_eq(s, entry.as_bytes())) {
                errors.push(format!("log token {n} is given twice"));
            } else {
                secrets.push(entry.as_bytes().to_vec());
            }
        }
        match (errors.is_empty(), secrets.is_empty()) {
            (false, _) => Err(errors),
            (true, true) => Ok(None),
            (true, false) => Ok(Some(Self { secrets })),
        }
    }

    fn contains(&self, presented: &[u8]) -> bool {
        credential::position(&self.secrets, presented).is_some()
    }
}

/// How much one request may carry, after decompression.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogLimits {
    pub max_bytes: u64,
    pub max_lines: u64,
}

impl Default for LogLimits {
    fn default() -> Self {
        Self { max_bytes: DEFAULT_MAX_BYTES, max_lines: DEFAULT_MAX_LINES }
    }
}

/// `None` when the request may post logs, else the refusal (counted, nothing of it kept).
pub(crate) fn refusal(access: &LogAccess, peer: IpAddr, headers: &HeaderMap) -> Option<Response> {
    let refusal = match access {
        LogAccess::Off => {
            let why = "log shipping is off on this collector: start it with --log-tokens";
            return Some(refused(StatusCode::NOT_FOUND, why));
        }
        LogAccess::Loopback if peer.to_canonical().is_loopback() => return None,
        LogAccess::Loopback => "logs are taken from loopback only until --log-tokens is set",
        LogAccess::Tokens(tokens) => match bearer(headers) {
            Some(token) if tokens.contains(token.as_bytes()) => return None,
            Some(_) => "the log-shipper token is not known",
            None => "a log-shipper token is required (Authorization: Bearer)",
        },
    };
    let mut resp = refused(StatusCode::UNAUTHORIZED, refusal);
    resp.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"engage-logs\""));
    Some(resp)
}

fn refused(status: StatusCode, why: &str) -> Response {
    let reason = RejectReason::Unauthorized.as_str();
    metrics::counter!(m::REJECTED, "route" => super::ROUTE, "reason" => reason).increment(1);
    (status, axum::Json(serde_json::json!({ "error": why, "code": reason }))).into_response()
}

/// The token of an `Authorization: Bearer` header.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(list: &[&str]) -> Result<Option<LogTokens>, Vec<String>> {
        LogTokens::parse(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn tokens_are_long_real_and_distinct() {
        assert!(tokens(&[]).expect("none").is_none());
        assert!(tokens(&[" ", ""]).expect("blank").is_none());
        assert!(tokens(&["shipper-token-0123456789"]).expect("one").is_some());
        let errors =
            tokens(&["short", "REPLACE-WITH-LOG-TOKEN", "shipper-token-0123456789", "shipper-token-0123456789"])
                .expect_err("bad");
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(errors.iter().all(|e| !e.contains("short") && !e.contains("0123456789")), "never quoted: {errors:?}");
    }

    #[test]
    fn a_token_a_loopback_client_or_nothing() {
        let access = LogAccess::Tokens(tokens(&["shipper-token-0123456789"]).expect("ok").expect("some"));
        let outside: IpAddr = [192, 0, 2, 7].into();
        let mut h = HeaderMap::new();
        assert_eq!(refusal(&access, outside, &h).expect("no token").status(), StatusCode::UNAUTHORIZED);
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer shipper-token-0123456780"));
        assert_eq!(refusal(&access, outside, &h).expect("wrong").status(), StatusCode::UNAUTHORIZED);
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("bearer  shipper-token-0123456789 "));
        assert!(refusal(&access, outside, &h).is_none());
        let loopback: IpAddr = "::ffff:127.0.0.1".parse().expect("ip");
        assert!(refusal(&LogAccess::Loopback, loopback, &HeaderMap::new()).is_none());
        let resp = refusal(&LogAccess::Loopback, outside, &HeaderMap::new()).expect("outside");
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
        assert!(resp.headers().contains_key(header::WWW_AUTHENTICATE));
        assert_eq!(refusal(&LogAccess::Off, loopback, &h).expect("off").status(), StatusCode::NOT_FOUND);
    }
}
