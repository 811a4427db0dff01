//! What is kept of a refused input: the reason, not the person.
//!
//! A refused input is kept so an operator can see *why* it was refused, but it can hold
//! anything its sender put in it: the client IP of a CDN log line, the e-mail address and
//! traits of a Segment body, a token in a query string. Everything kept about a refused input
//! is built here, at the collector, before it is published, so no log file, Kafka topic,
//! table or free database page ever holds more than this:
//!
//! - an [`Excerpt`]: a short (at most [`MAX_EXCERPT_CHARS`]), redacted view of the input. It is
//!   the only way to fill a `Rejected` envelope's `input`, so an unredacted input cannot be
//!   published by mistake. Its makers know the input's shape: a pingback query keeps the
//!   values of the specification's parameters only ([`Excerpt::of_query`]); a log line is
//!   redacted as text, its query as a query ([`Excerpt::of_log_line`]); a JSON body keeps its
//!   shape (keys and value types), not its values ([`Excerpt::of_json`]); a call refused for
//!   its credentials keeps nothing ([`Excerpt::none`]).
//! - the reason's detail, redacted and cut the same way ([`detail`]): details quote values.
//!
//! Redaction replaces IP addresses (v4, v6, with or without a port) by `<ip>` and e-mail
//! addresses (also percent-encoded) by `<email>`. It errs on the side of hiding: a version
//! number that looks like an IPv4 address is hidden too.

use std::net::{IpAddr, Ipv4Addr};

/// Longest excerpt kept, in characters.
pub const MAX_EXCERPT_CHARS: usize = 160;
/// Longest detail kept, in characters.
pub const MAX_DETAIL_CHARS: usize = 200;
/// What an IP address becomes.
pub const IP: &str = "<ip>";
/// What an e-mail address becomes.
pub const EMAIL: &str = "<email>";
/// What a hidden value becomes.
pub const HIDDEN: &str = "…";

/// Pingback parameters whose values an excerpt keeps (redacted); others' values are hidden.
const QUERY_KEYS_KEPT: [&str; 7] = ["item", "ts", "progress", "event", "il", "vid", "ua"];
/// Keys of a JSON body whose (string) values an excerpt keeps, redacted and cut short.
const JSON_KEYS_KEPT: [&str; 2] = ["type", "event"];
/// Longest JSON string value kept.
const JSON_VALUE_CHARS: usize = 40;
/// Deepest JSON level an excerpt shows.
const JSON_DEPTH: usize = 2;

/// The redacted excerpt of a refused input. See the module documentation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Excerpt {
    text: String,
    truncated: bool,
}

impl Excerpt {
    /// Nothing of the input (a call refused for its credentials; an unreadable body).
    pub fn none() -> Self {
        Self::default()
    }

    /// A pingback query string: every parameter's name, the values of the specification's
    /// parameters (redacted), `…` for any other value.
    pub fn of_query(query: &str) -> Self {
        Self::cut(redact_query(query))
    }

    /// A line of a CDN access log: redacted as text, its query string as a query.
    pub fn of_log_line(line: &[u8]) -> Self {
        let line = String::from_utf8_lossy(line);
        let mut out = String::new();
        let mut rest: &str = &line;
        while let Some(q) = rest.find('?') {
            out.push_str(&redact_text(&rest[..q]));
            out.push('?');
            let after = &rest[q + 1..];
            let end = after.find(|c: char| c.is_whitespace() || c == '"' || c == '\'').unwrap_or(after.len());
            out.push_str(&redact_query(&after[..end]));
            rest = &after[end..];
            if out.chars().count() > MAX_EXCERPT_CHARS {
                break;
            }
        }
        out.push_str(&redact_text(rest));
        Self::cut(out)
    }

    /// A JSON body: its keys and the types of its values (`"…"` a string, `0` a number, as
    /// deep as [`JSON_DEPTH`]), with the values of `type` and `event` kept, redacted. A body
    /// that is not JSON shows its size only.
    pub fn of_json(body: &[u8]) -> Self {
        match serde_json::from_slice::<serde_json::Value>(body) {
            Ok(value) => {
                let mut out = String::new();
                shape(&value, None, 0, &mut out);
                Self::cut(out)
            }
            Err(_) => Self { text: format!("<{} bytes, not JSON>", body.len()), truncated: false },
        }
    }

    /// The excerpt's text.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the excerpt was cut at [`MAX_EXCERPT_CHARS`].
    pub fn truncated(&self) -> bool {
        self.truncated
    }

    fn cut(text: String) -> Self {
        let (text, truncated) = cut_chars(text, MAX_EXCERPT_CHARS);
        Self { text, truncated }
    }
}

/// The detail of a refusal, redacted and cut to [`MAX_DETAIL_CHARS`].
pub fn detail(detail: &str) -> String {
    cut_chars(redact_text(detail), MAX_DETAIL_CHARS).0
}

/// Replaces IP and e-mail addresses in free text.
pub fn redact_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut start = None;
    for (i, c) in text.char_indices() {
        let in_token = c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '%' | '+' | '-' | '_' | '@');
        match (in_token, start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                redact_token(&text[s..i], &mut out);
                start = None;
                out.push(c);
            }
            (false, None) => out.push(c),
            (true, Some(_)) => {}
        }
    }
    if let Some(s) = start {
        redact_token(&text[s..], &mut out);
    }
    out
}

/// One run of address characters: an e-mail address, an IP address (with a port), or text
/// in which dotted quads are hidden.
fn redact_token(token: &str, out: &mut String) {
    if is_email(token) {
        out.push_str(EMAIL);
    } else if is_ip(token) {
        out.push_str(IP);
    } else {
        hide_dotted_quads(token, out);
    }
}

fn is_email(token: &str) -> bool {
    let lower = token.to_ascii_lowercase();
    let at = lower.find('@').map(|i| (i, 1)).or_else(|| lower.find("%40").map(|i| (i, 3)));
    at.is_some_and(|(i, len)| i > 0 && i + len < token.len())
}

fn is_ip(token: &str) -> bool {
    if token.parse::<IpAddr>().is_ok() {
        return true;
    }
    // `a.b.c.d:port`; an IPv6 address with a zone (`fe80::1%eth0`).
    let host = token.rsplit_once(':').map(|(h, _)| h).filter(|h| h.parse::<Ipv4Addr>().is_ok());
    host.is_some() || token.split_once('%').is_some_and(|(h, _)| h.contains(':') && h.parse::<IpAddr>().is_ok())
}

/// Copies `token`, hiding every run of digits and dots that is an IPv4 address.
fn hide_dotted_quads(token: &str, out: &mut String) {
    let mut rest = token;
    while !rest.is_empty() {
        let Some(s) = rest.find(|c: char| c.is_ascii_digit()) else { break };
        out.push_str(&rest[..s]);
        let run = &rest[s..];
        let end = run.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(run.len());
        let candidate = run[..end].trim_end_matches('.');
        if candidate.parse::<Ipv4Addr>().is_ok() {
            out.push_str(IP);
            out.push_str(&run[candidate.len()..end]);
        } else {
            out.push_str(&run[..end]);
        }
        rest = &run[end..];
    }
    out.push_str(rest);
}

/// `key=value&…` with only the kept keys' values, redacted.
fn redact_query(query: &str) -> String {
    let mut out = String::with_capacity(query.len().min(4 * MAX_EXCERPT_CHARS));
    for (n, pair) in query.split('&').enumerate() {
        if n > 0 {
            out.push('&');
        }
        match pair.split_once('=') {
            Some((key, value)) => {
                out.push_str(&cut_chars(redact_text(key), 32).0);
                out.push('=');
                if QUERY_KEYS_KEPT.contains(&key) {
                    out.push_str(&redact_text(value));
                } else if !value.is_empty() {
                    out.push_str(HIDDEN);
                }
            }
            None => out.push_str(&cut_chars(redact_text(pair), 32).0),
        }
        if out.chars().count() > MAX_EXCERPT_CHARS {
            break;
        }
    }
    out
}

/// Writes the shape of `value` (the key it is under, if any, decides whether a string is kept).
fn shape(value: &serde_json::Value, key: Option<&str>, depth: usize, out: &mut String) {
    use serde_json::Value;
    if out.len() > 4 * MAX_EXCERPT_CHARS {
        return;
    }
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(_) => out.push('0'),
        Value::String(s) if key.is_some_and(|k| JSON_KEYS_KEPT.contains(&k)) => {
            let kept = cut_chars(redact_text(s), JSON_VALUE_CHARS).0;
            out.push_str(&serde_json::Value::String(kept).to_string());
        }
        Value::String(_) => out.push_str("\"…\""),
        Value::Array(items) if depth >= JSON_DEPTH => out.push_str(&format!("[{} items]", items.len())),
        Value::Array(items) => {
            out.push('[');
            if let Some(first) = items.first() {
                shape(first, None, depth + 1, out);
                if items.len() > 1 {
                    out.push_str(&format!(", … {} items", items.len()));
                }
            }
            out.push(']');
        }
        Value::Object(map) if depth >= JSON_DEPTH => out.push_str(&format!("{{{} keys}}", map.len())),
        Value::Object(map) => {
            out.push('{');
            for (n, (k, v)) in map.iter().enumerate() {
                if n > 0 {
                    out.push(',');
                }
                let k_shown = cut_chars(redact_text(k), 32).0;
                out.push_str(&serde_json::Value::String(k_shown).to_string());
                out.push(':');
                shape(v, Some(k), depth + 1, out);
            }
            out.push('}');
        }
    }
}

/// `text` cut to at most `max` characters (the last one `…` when cut), and whether it was cut.
fn cut_chars(text: String, max: usize) -> (String, bool) {
    match text.char_indices().nth(max.saturating_sub(1)) {
        Some((i, _)) if text[i..].chars().nth(1).is_some() => {
            let mut cut = text[..i].to_owned();
            cut.push_str(HIDDEN);
            (cut, true)
        }
        _ => (text, false),
    }
}

#[cfg(test)]
mod tests;
