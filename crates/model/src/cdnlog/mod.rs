//! CDN access-log lines: which of them are pingbacks, and what the request was.
//!
//! Platforms that serve `/ping/dot.gif` from a CDN ship its access logs instead of calling a
//! collector; this module turns one log line into the request it records (method, path, query,
//! client IP, user agent, log timestamp, status), or into a counted reason it is not a
//! pingback (a skip) or not a readable line (an error). It performs no I/O: lines come in as
//! bytes (`&[u8]`, any content: control characters, invalid UTF-8, broken escapes), at most
//! [`MAX_LINE_BYTES`] each, and nothing here panics on them.
//!
//! # Formats
//! - [`ncsa`]: NCSA common/combined, the default of nginx, Apache, Fastly and Akamai.
//! - [`cloudfront`]: Amazon CloudFront standard logs (W3C, `#Fields:` header, tab-separated).
//! - [`cloudflare`]: Cloudflare Logpush `http_requests` JSON lines.
//! - [`jsonmap`]: any JSON-lines log, given which field holds what.
//!
//! Only `GET`/`HEAD` requests to [`PINGBACK_PATH`] answered with a 2xx or 3xx status (a CDN
//! answering from cache says 200 or 304) are pingbacks; everything else is skipped.

pub mod cloudflare;
pub mod cloudfront;
pub mod jsonmap;
pub mod ncsa;

use std::fmt;
use std::net::IpAddr;

pub use jsonmap::{JsonMap, JsonMapError};

/// The path of pingback requests.
pub const PINGBACK_PATH: &str = "/ping/dot.gif";
/// Longest log line read, in bytes; a longer line is an error (`line_too_long`).
pub const MAX_LINE_BYTES: usize = 16 * 1024;

/// A log format.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Format {
    Ncsa,
    Cloudfront,
    Cloudflare,
    Json(JsonMap),
}

impl Format {
    /// The format's name as given in `?format=` and `--format`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Ncsa => "ncsa",
            Self::Cloudfront => "cloudfront",
            Self::Cloudflare => "cloudflare",
            Self::Json(_) => "json",
        }
    }

    /// The format named `name`; `json` needs a mapping (see [`JsonMap::parse`]).
    pub fn from_name(name: &str, json_map: Option<&str>) -> Result<Self, FormatError> {
        match (name, json_map) {
            ("ncsa", _) => Ok(Self::Ncsa),
            ("cloudfront", _) => Ok(Self::Cloudfront),
            ("cloudflare", _) => Ok(Self::Cloudflare),
            ("json", Some(spec)) => Ok(Self::Json(JsonMap::parse(spec)?)),
            ("json", None) => Err(FormatError::MissingMap),
            (other, _) => Err(FormatError::Unknown(other.chars().take(32).collect())),
        }
    }
}

/// Why a format could not be set up.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    #[error("unknown log format {0:?}; expected ncsa, cloudfront, cloudflare or json")]
    Unknown(String),
    #[error("format json needs a field mapping, e.g. path=req.url,ip=client,ua=agent,time=ts,status=code")]
    MissingMap,
    #[error(transparent)]
    Map(#[from] JsonMapError),
}

/// The request one log line records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogRequest {
    pub method: String,
    pub path: String,
    /// The raw (still URL-encoded) query string, without `?`.
    pub query: String,
    pub client_ip: IpAddr,
    /// The HTTP user agent, as the live collector would see it: empty unless visible ASCII.
    pub user_agent: String,
    /// When the CDN logged the request, epoch milliseconds.
    pub timestamp_ms: i64,
    pub status: u16,
}

/// What a line is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Parsed {
    /// A successful `GET`/`HEAD` of the pingback path.
    Pingback(LogRequest),
    /// Not a pingback: counted, not kept.
    Skipped(SkipReason),
}

/// Why a readable line is not a pingback.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SkipReason {
    /// An empty line.
    Blank,
    /// A header or comment line (`#...`).
    Header,
    /// A request for another path.
    NotPingbackPath,
    /// Not `GET` or `HEAD`.
    Method,
    /// A status other than 2xx/3xx.
    Status,
}

impl SkipReason {
    pub const ALL: [SkipReason; 5] = [Self::Blank, Self::Header, Self::NotPingbackPath, Self::Method, Self::Status];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Blank => "blank",
            Self::Header => "header",
            Self::NotPingbackPath => "not_pingback_path",
            Self::Method => "method",
            Self::Status => "status",
        }
    }
}

/// Why a line could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LineErrorReason {
    LineTooLong,
    InvalidUtf8,
    Malformed,
    MissingField,
    InvalidTimestamp,
    InvalidIp,
    InvalidStatus,
    InvalidJson,
    /// A CloudFront data line before any `#Fields:` header.
    NoFieldsHeader,
}

impl LineErrorReason {
    pub const ALL: [LineErrorReason; 9] = [
        Self::LineTooLong,
        Self::InvalidUtf8,
        Self::Malformed,
        Self::MissingField,
        Self::InvalidTimestamp,
        Self::InvalidIp,
        Self::InvalidStatus,
        Self::InvalidJson,
        Self::NoFieldsHeader,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::LineTooLong => "line_too_long",
            Self::InvalidUtf8 => "invalid_utf8",
            Self::Malformed => "malformed_line",
            Self::MissingField => "missing_field",
            Self::InvalidTimestamp => "invalid_timestamp",
            Self::InvalidIp => "invalid_ip",
            Self::InvalidStatus => "invalid_status",
            Self::InvalidJson => "invalid_json",
            Self::NoFieldsHeader => "no_fields_header",
        }
    }
}

impl fmt::Display for LineErrorReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A line that could not be read: a stable code and a one-line explanation.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{reason}: {detail}")]
pub struct LineError {
    pub reason: LineErrorReason,
    pub detail: String,
}

impl LineError {
    pub(crate) fn new(reason: LineErrorReason, detail: impl Into<String>) -> Self {
        Self { reason, detail: detail.into() }
    }
}

/// Reads the lines of one log, in order. Stateful only for CloudFront (its `#Fields:` header
/// says which column is which); the other formats read each line on its own.
#[derive(Clone, Debug)]
pub struct LineReader {
    format: Format,
    cloudfront: cloudfront::Columns,
}

impl LineReader {
    pub fn new(format: Format) -> Self {
        Self { format, cloudfront: cloudfront::Columns::default() }
    }

    pub fn format(&self) -> &Format {
        &self.format
    }

    /// Reads one line (without its line terminator; a trailing `\r` is ignored).
    pub fn read(&mut self, line: &[u8]) -> Result<Parsed, LineError> {
        if line.len() > MAX_LINE_BYTES {
            return Err(LineError::new(
                LineErrorReason::LineTooLong,
                format!("line is {} bytes, the limit is {MAX_LINE_BYTES}", line.len()),
            ));
        }
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            return Ok(Parsed::Skipped(SkipReason::Blank));
        }
        let request = match &self.format {
            Format::Ncsa => ncsa::parse(line)?,
            Format::Cloudfront => match self.cloudfront.parse(line)? {
                Some(r) => r,
                None => return Ok(Parsed::Skipped(SkipReason::Header)),
            },
            Format::Cloudflare => cloudflare::parse(line)?,
            Format::Json(map) => map.parse_line(line)?,
        };
        Ok(classify(request))
    }
}

/// Successful `GET`/`HEAD` requests of the pingback path are pingbacks; the rest is skipped.
pub fn classify(request: LogRequest) -> Parsed {
    if request.path != PINGBACK_PATH {
        return Parsed::Skipped(SkipReason::NotPingbackPath);
    }
    if !(request.method.eq_ignore_ascii_case("GET") || request.method.eq_ignore_ascii_case("HEAD")) {
        return Parsed::Skipped(SkipReason::Method);
    }
    if !(200..400).contains(&request.status) {
        return Parsed::Skipped(SkipReason::Status);
    }
    Parsed::Pingback(request)
}

// ---- helpers shared by the formats ----

/// The user agent as the live collector sees it (`HeaderValue::to_str`): visible ASCII or tab,
/// else empty, so a viewer gets the same key whether their pingback came live or from a log.
pub(crate) fn live_user_agent(ua: &[u8]) -> String {
    if ua == b"-" || !ua.iter().all(|&b| b == b'\t' || (0x20..0x7f).contains(&b)) {
        return String::new();
    }
    String::from_utf8_lossy(ua).into_owned()
}

/// Splits a request target (`/path?query`, or an absolute URL) into path and raw query.
pub(crate) fn split_target(target: &str) -> (String, String) {
    let rest = ["http://", "https://"]
        .iter()
        .find_map(|scheme| target.get(..scheme.len()).filter(|p| p.eq_ignore_ascii_case(scheme)).map(|_| scheme.len()))
        .map(|n| {
            let after = &target[n..];
            after.find('/').map_or("/", |i| &after[i..])
        })
        .unwrap_or(target);
    match rest.split_once('?') {
        Some((p, q)) => (p.to_string(), q.to_string()),
        None => (rest.to_string(), String::new()),
    }
}

pub(crate) fn parse_ip(s: &[u8]) -> Result<IpAddr, LineError> {
    std::str::from_utf8(s)
        .ok()
        .and_then(|s| s.trim().parse::<IpAddr>().ok())
        .ok_or_else(|| LineError::new(LineErrorReason::InvalidIp, format!("not an IP address: {:?}", clip(s))))
}

pub(crate) fn parse_status(s: &[u8]) -> Result<u16, LineError> {
    std::str::from_utf8(s)
        .ok()
        .filter(|s| (1..=3).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|s| s.parse::<u16>().ok())
        .filter(|n| (100..600).contains(n))
        .ok_or_else(|| LineError::new(LineErrorReason::InvalidStatus, format!("not an HTTP status: {:?}", clip(s))))
}

pub(crate) fn utf8(s: &[u8], what: &str) -> Result<String, LineError> {
    std::str::from_utf8(s)
        .map(str::to_string)
        .map_err(|_| LineError::new(LineErrorReason::InvalidUtf8, format!("{what} is not UTF-8")))
}

/// Days since the epoch of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
pub(crate) fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Epoch ms of a UTC civil time, checking every field's range.
pub(crate) fn civil_ms(y: i64, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> Option<i64> {
    if !(1..=9999).contains(&y) || !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let days = days_from_civil(y, mo, d);
    Some(((days * 24 + i64::from(h)) * 60 + i64::from(mi)) * 60_000 + i64::from(s) * 1000)
}

/// Parses a fixed-width run of ASCII digits.
pub(crate) fn digits(s: &[u8]) -> Option<u32> {
    if s.is_empty() || s.len() > 9 || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(s.iter().fold(0u32, |n, b| n * 10 + u32::from(b - b'0')))
}

/// An epoch number of unknown unit: seconds, milliseconds, microseconds or nanoseconds,
/// told apart by magnitude (valid for dates between 1973 and 5138).
pub(crate) fn epoch_number_ms(n: f64) -> Option<i64> {
    if !n.is_finite() || n <= 0.0 {
        return None;
    }
    let ms = if n >= 1e17 {
        n / 1e6
    } else if n >= 1e14 {
        n / 1e3
    } else if n >= 1e11 {
        n
    } else {
        n * 1e3
    };
    (ms < 1e15).then_some(ms as i64)
}

/// RFC 3339 (`2026-11-21T14:00:00Z`, `...+01:00`, fractions allowed) to epoch ms.
pub(crate) fn rfc3339_ms(s: &str) -> Option<i64> {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

/// Cuts bytes for quoting in an error message.
pub(crate) fn clip(s: &[u8]) -> String {
    String::from_utf8_lossy(&s[..s.len().min(40)]).into_owned()
}

#[cfg(test)]
mod tests;
