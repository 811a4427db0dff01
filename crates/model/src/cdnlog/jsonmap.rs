//! Any JSON-lines access log, given which field holds what.
//!
//! The mapping is `key=field` pairs separated by commas, a field being a dot path into nested
//! objects: `path=req.url,ip=client,ua=headers.user_agent,time=ts,status=code,method=verb`.
//! - `path` (required): the request path, or path and query (`/ping/dot.gif?item=..`), or an
//!   absolute URL.
//! - `query` (optional): the raw query string, when the log keeps it apart from the path.
//! - `ip` (required): the client IP. `time` (required, alias `timestamp`): RFC 3339, the NCSA
//!   form `21/Nov/2026:14:00:00 +0000`, or an epoch number in s, ms, µs or ns.
//! - `ua` (optional): the user agent. `status` (optional, number or string; unmapped means
//!   200). `method` (optional; unmapped means GET).

use super::{LineError, LineErrorReason as R, LogRequest, epoch_number_ms, live_user_agent, parse_ip};
use super::{parse_status, rfc3339_ms, split_target};
use serde_json::Value;

/// Longest mapping accepted, in bytes.
pub const MAX_MAP_LEN: usize = 1024;

/// Where each request field is in a JSON log line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JsonMap {
    path: Vec<String>,
    query: Option<Vec<String>>,
    ip: Vec<String>,
    ua: Option<Vec<String>>,
    time: Vec<String>,
    status: Option<Vec<String>>,
    method: Option<Vec<String>>,
}

/// Why a mapping is not usable.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum JsonMapError {
    #[error("the JSON mapping is longer than {MAX_MAP_LEN} bytes")]
    TooLong,
    #[error("`{0}` is not key=field (keys: path, query, ip, ua, time, status, method)")]
    NotAPair(String),
    #[error("unknown key `{0}` (keys: path, query, ip, ua, time, status, method)")]
    UnknownKey(String),
    #[error("key `{0}` is given twice")]
    Duplicate(String),
    #[error("the mapping needs `{0}`")]
    Missing(&'static str),
}

impl JsonMap {
    /// Parses `path=req.url,ip=client,...`.
    pub fn parse(spec: &str) -> Result<Self, JsonMapError> {
        if spec.len() > MAX_MAP_LEN {
            return Err(JsonMapError::TooLong);
        }
        let (mut path, mut query, mut ip, mut ua, mut time, mut status, mut method) =
            (None, None, None, None, None, None, None);
        for pair in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, field) = pair
                .split_once('=')
                .map(|(k, f)| (k.trim(), f.trim()))
                .filter(|(k, f)| !k.is_empty() && !f.is_empty() && f.split('.').all(|s| !s.is_empty()))
                .ok_or_else(|| JsonMapError::NotAPair(pair.chars().take(64).collect()))?;
            let slot = match key {
                "path" => &mut path,
                "query" => &mut query,
                "ip" => &mut ip,
                "ua" => &mut ua,
                "time" | "timestamp" => &mut time,
                "status" => &mut status,
                "method" => &mut method,
                other => return Err(JsonMapError::UnknownKey(other.chars().take(32).collect())),
            };
            if slot.is_some() {
                return Err(JsonMapError::Duplicate(key.into()));
            }
            *slot = Some(field.split('.').map(str::to_string).collect::<Vec<_>>());
        }
        Ok(Self {
            path: path.ok_or(JsonMapError::Missing("path"))?,
            ip: ip.ok_or(JsonMapError::Missing("ip"))?,
            time: time.ok_or(JsonMapError::Missing("time"))?,
            query,
            ua,
            status,
            method,
        })
    }

    /// Reads one JSON line with this mapping.
    pub fn parse_line(&self, line: &[u8]) -> Result<LogRequest, LineError> {
        let v: Value = serde_json::from_slice(line)
            .map_err(|e| LineError::new(R::InvalidJson, format!("not a JSON object: {e}")))?;
        if !v.is_object() {
            return Err(LineError::new(R::InvalidJson, "not a JSON object"));
        }
        let need = |p: &[String]| {
            lookup(&v, p).ok_or_else(|| LineError::new(R::MissingField, format!("no `{}`", p.join("."))))
        };
        let text = |p: &[String]| -> Result<String, LineError> {
            match need(p)? {
                Value::String(s) => Ok(s.clone()),
                other => Err(LineError::new(R::Malformed, format!("`{}` is {other} , not a string", p.join(".")))),
            }
        };
        let (path, mut query) = split_target(&text(&self.path)?);
        if let Some(q) = &self.query {
            query = lookup(&v, q).and_then(Value::as_str).unwrap_or("").trim_start_matches('?').to_string();
        }
        let ip = text(&self.ip)?;
        let client_ip = parse_ip(ip.as_bytes())?;
        let timestamp_ms = json_time_ms(need(&self.time)?)?;
        let status = match &self.status {
            Some(p) => json_status(need(p)?)?,
            None => 200,
        };
        let method = match &self.method {
            Some(p) => text(p)?,
            None => "GET".into(),
        };
        let user_agent = self
            .ua
            .as_ref()
            .and_then(|p| lookup(&v, p))
            .and_then(Value::as_str)
            .map(|ua| live_user_agent(ua.as_bytes()))
            .unwrap_or_default();
        Ok(LogRequest { method, path, query, client_ip, user_agent, timestamp_ms, status })
    }
}

fn lookup<'v>(v: &'v Value, path: &[String]) -> Option<&'v Value> {
    path.iter().try_fold(v, |v, key| v.get(key)).filter(|v| !v.is_null())
}

/// A status given as a number or a string of digits.
pub(crate) fn json_status(v: &Value) -> Result<u16, LineError> {
    match v {
        Value::Number(n) => n
            .as_u64()
            .filter(|n| (100..600).contains(n))
            .map(|n| n as u16)
            .ok_or_else(|| LineError::new(R::InvalidStatus, format!("not an HTTP status: {n}"))),
        Value::String(s) => parse_status(s.as_bytes()),
        _ => Err(LineError::new(R::InvalidStatus, "the status is neither a number nor a string")),
    }
}

/// A timestamp given as an epoch number (s, ms, µs or ns), RFC 3339, or NCSA time.
pub(crate) fn json_time_ms(v: &Value) -> Result<i64, LineError> {
    let ms = match v {
        Value::Number(n) => n.as_f64().and_then(epoch_number_ms),
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse::<f64>().ok().and_then(epoch_number_ms)
        }
        Value::String(s) => rfc3339_ms(s).or_else(|| super::ncsa::parse_time(s.as_bytes()).ok()),
        _ => None,
    };
    ms.ok_or_else(|| {
        let shown: String = v.to_string().chars().take(40).collect();
        LineError::new(R::InvalidTimestamp, format!("not a timestamp (epoch number or RFC 3339): {shown}"))
    })
}
