//! NCSA common and combined log format, the default of nginx (`combined`), Apache
//! (`%h %l %u %t \"%r\" %>s %b \"%{Referer}i\" \"%{User-agent}i\"`), Fastly and Akamai:
//!
//! `203.0.113.9 - - [21/Nov/2026:14:00:00 +0000] "GET /ping/dot.gif?... HTTP/1.1" 200 43 "referer" "user agent"`
//!
//! Fields after the user agent (nginx `$http_x_forwarded_for`, timings) are ignored; the
//! common format (no referer, no user agent) gives an empty user agent. Quoted fields may
//! carry `\"`, `\\` and nginx's `\xHH` escapes.

use super::{LineError, LineErrorReason as R, LogRequest, civil_ms, clip, digits, live_user_agent, parse_ip};
use super::{parse_status, split_target, utf8};

/// Parses one NCSA line.
pub fn parse(line: &[u8]) -> Result<LogRequest, LineError> {
    let mut rest = line;
    let ip = token(&mut rest).ok_or_else(|| malformed("no client address"))?;
    let client_ip = parse_ip(ip)?;
    token(&mut rest).ok_or_else(|| malformed("no ident field"))?;
    token(&mut rest).ok_or_else(|| malformed("no user field"))?;
    let time = bracketed(&mut rest).ok_or_else(|| malformed("no [time] field"))?;
    let timestamp_ms = parse_time(time)?;
    let request = quoted(&mut rest).ok_or_else(|| malformed("no quoted request field"))?;
    let status = token(&mut rest).ok_or_else(|| malformed("no status field"))?;
    let status = parse_status(status)?;
    let _bytes = token(&mut rest);
    let _referer = quoted(&mut rest);
    let user_agent = quoted(&mut rest).map(|ua| live_user_agent(&unescape(ua))).unwrap_or_default();

    let request = unescape(request);
    let mut parts = request.split(|b| *b == b' ').filter(|p| !p.is_empty());
    let method = parts.next().unwrap_or(b"-");
    let target = parts.next().unwrap_or(b"-");
    let method = utf8(method, "the method")?;
    let (path, query) = split_target(&utf8(target, "the request target")?);
    Ok(LogRequest { method, path, query, client_ip, user_agent, timestamp_ms, status })
}

fn malformed(what: &str) -> LineError {
    LineError::new(R::Malformed, format!("not an NCSA log line: {what}"))
}

fn skip_spaces(rest: &mut &[u8]) {
    while let [b' ' | b'\t', tail @ ..] = rest {
        *rest = tail;
    }
}

/// The next space-separated token.
fn token<'a>(rest: &mut &'a [u8]) -> Option<&'a [u8]> {
    skip_spaces(rest);
    if rest.is_empty() {
        return None;
    }
    let end = rest.iter().position(|b| *b == b' ' || *b == b'\t').unwrap_or(rest.len());
    let (tok, tail) = rest.split_at(end);
    *rest = tail;
    Some(tok)
}

/// The next `[...]` field, without brackets.
fn bracketed<'a>(rest: &mut &'a [u8]) -> Option<&'a [u8]> {
    skip_spaces(rest);
    let body = rest.strip_prefix(b"[")?;
    let end = body.iter().position(|b| *b == b']')?;
    *rest = &body[end + 1..];
    Some(&body[..end])
}

/// The next `"..."` field, without quotes, escapes still in (a `\"` does not end it).
fn quoted<'a>(rest: &mut &'a [u8]) -> Option<&'a [u8]> {
    skip_spaces(rest);
    let body = rest.strip_prefix(b"\"")?;
    let mut i = 0;
    while i < body.len() {
        match body[i] {
            b'\\' => i += 2,
            b'"' => {
                *rest = &body[i + 1..];
                return Some(&body[..i]);
            }
            _ => i += 1,
        }
    }
    None
}

/// Resolves `\"`, `\\` and `\xHH`; other backslashes stay as they are.
fn unescape(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        match (s[i], s.get(i + 1)) {
            (b'\\', Some(&c @ (b'"' | b'\\'))) => {
                out.push(c);
                i += 2;
            }
            (b'\\', Some(b'x')) => match s.get(i + 2..i + 4).and_then(hex_byte) {
                Some(b) => {
                    out.push(b);
                    i += 4;
                }
                None => {
                    out.push(b'\\');
                    i += 1;
                }
            },
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

fn hex_byte(h: &[u8]) -> Option<u8> {
    let v = |c: u8| (c as char).to_digit(16);
    Some((v(h[0])? * 16 + v(h[1])?) as u8)
}

const MONTHS: [&[u8]; 12] =
    [b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec"];

/// `10/Oct/2000:13:55:36 -0700` to epoch ms (UTC).
pub(crate) fn parse_time(t: &[u8]) -> Result<i64, LineError> {
    parse_time_opt(t).ok_or_else(|| {
        LineError::new(R::InvalidTimestamp, format!("expected dd/Mon/yyyy:HH:MM:SS +hhmm, got {:?}", clip(t)))
    })
}

fn parse_time_opt(t: &[u8]) -> Option<i64> {
    if t.len() != 26 || t[2] != b'/' || t[6] != b'/' || t[11] != b':' || t[14] != b':' || t[17] != b':' {
        return None;
    }
    if t[20] != b' ' {
        return None;
    }
    let day = digits(&t[0..2])?;
    let month = MONTHS.iter().position(|m| m.eq_ignore_ascii_case(&t[3..6]))? as u32 + 1;
    let year = i64::from(digits(&t[7..11])?);
    let (h, mi, s) = (digits(&t[12..14])?, digits(&t[15..17])?, digits(&t[18..20])?);
    let sign = match t[21] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let (oh, om) = (digits(&t[22..24])?, digits(&t[24..26])?);
    if oh > 23 || om > 59 {
        return None;
    }
    let offset_ms = sign * i64::from(oh * 60 + om) * 60_000;
    Some(civil_ms(year, month, day, h, mi, s)? - offset_ms)
}
