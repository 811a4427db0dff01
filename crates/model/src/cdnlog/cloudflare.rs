//! Cloudflare Logpush, dataset `http_requests`, JSON lines.
//!
//! Fields used: `ClientIP`, `ClientRequestMethod` (default `GET`), `ClientRequestURI` (path
//! and query; `ClientRequestPath` is the fallback), `ClientRequestUserAgent`,
//! `EdgeResponseStatus` and `EdgeStartTimestamp`, which Logpush writes as unix nanoseconds
//! (the default), unix seconds or RFC 3339, per the job's `timestamp_format`.

use super::jsonmap::{json_status, json_time_ms};
use super::{LineError, LineErrorReason as R, LogRequest, live_user_agent, parse_ip, split_target};
use serde_json::Value;

/// Parses one Logpush JSON line.
pub fn parse(line: &[u8]) -> Result<LogRequest, LineError> {
    let v: Value =
        serde_json::from_slice(line).map_err(|e| LineError::new(R::InvalidJson, format!("not a JSON object: {e}")))?;
    let obj = v.as_object().ok_or_else(|| LineError::new(R::InvalidJson, "not a JSON object"))?;
    let field = |name: &str| obj.get(name).filter(|v| !v.is_null());
    let need = |name: &str| field(name).ok_or_else(|| LineError::new(R::MissingField, format!("no `{name}`")));
    let ip = need("ClientIP")?.as_str().ok_or_else(|| LineError::new(R::InvalidIp, "`ClientIP` is not a string"))?;
    let client_ip = parse_ip(ip.as_bytes())?;
    let target = match field("ClientRequestURI").or_else(|| field("ClientRequestPath")) {
        Some(Value::String(s)) => s.as_str(),
        Some(_) => return Err(LineError::new(R::Malformed, "`ClientRequestURI` is not a string")),
        None => return Err(LineError::new(R::MissingField, "no `ClientRequestURI`")),
    };
    let (path, query) = split_target(target);
    let method = field("ClientRequestMethod").and_then(Value::as_str).unwrap_or("GET").to_string();
    let user_agent = field("ClientRequestUserAgent")
        .and_then(Value::as_str)
        .map(|ua| live_user_agent(ua.as_bytes()))
        .unwrap_or_default();
    let status = json_status(need("EdgeResponseStatus")?)?;
    let timestamp_ms = json_time_ms(need("EdgeStartTimestamp")?)?;
    Ok(LogRequest { method, path, query, client_ip, user_agent, timestamp_ms, status })
}
