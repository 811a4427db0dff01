//! Amazon CloudFront standard logs: W3C extended format, gzip files whose `#Version:` and
//! `#Fields:` header lines name the tab-separated columns of the data lines after them.
//!
//! Columns are found by name, so logs with fields added or removed still read. Used here:
//! `date` and `time` (UTC), `c-ip`, `cs-method`, `cs-uri-stem`, `cs-uri-query` (raw, `-`
//! when empty), `sc-status` (`000` when the viewer closed the connection early) and
//! `cs(User-Agent)` (URL-encoded by CloudFront, decoded here once).

use super::{LineError, LineErrorReason as R, LogRequest, civil_ms, clip, digits, live_user_agent, parse_ip};
use super::{parse_status, utf8};

/// Where each needed column is, from the last `#Fields:` header.
#[derive(Clone, Debug, Default)]
pub struct Columns {
    fields: Option<Fields>,
}

#[derive(Clone, Copy, Debug)]
struct Fields {
    date: usize,
    time: usize,
    ip: usize,
    method: usize,
    stem: usize,
    query: Option<usize>,
    status: usize,
    ua: Option<usize>,
}

impl Columns {
    /// Reads one line: `Ok(None)` for header and comment lines (a `#Fields:` line updates the
    /// columns), the request for a data line.
    pub fn parse(&mut self, line: &[u8]) -> Result<Option<LogRequest>, LineError> {
        if let Some(comment) = line.strip_prefix(b"#") {
            if let Some(names) = comment.strip_prefix(b"Fields:") {
                self.fields = Some(Fields::from_header(names)?);
            }
            return Ok(None);
        }
        let f = self
            .fields
            .ok_or_else(|| LineError::new(R::NoFieldsHeader, "a CloudFront data line before any #Fields: header"))?;
        let cols: Vec<&[u8]> = line.split(|b| *b == b'\t').collect();
        let col = |i: usize, name: &str| {
            cols.get(i)
                .copied()
                .ok_or_else(|| LineError::new(R::MissingField, format!("line has {} columns, no `{name}`", cols.len())))
        };
        let timestamp_ms = parse_date_time(col(f.date, "date")?, col(f.time, "time")?)?;
        let client_ip = parse_ip(col(f.ip, "c-ip")?)?;
        let method = utf8(col(f.method, "cs-method")?, "cs-method")?;
        let path = utf8(col(f.stem, "cs-uri-stem")?, "cs-uri-stem")?;
        let query = match f.query {
            Some(i) => match col(i, "cs-uri-query")? {
                b"-" => String::new(),
                q => utf8(q, "cs-uri-query")?,
            },
            None => String::new(),
        };
        let status = match col(f.status, "sc-status")? {
            // The viewer closed the connection before the response: not a delivered request.
            b"000" => 0,
            s => parse_status(s)?,
        };
        let user_agent = match f.ua {
            Some(i) => live_user_agent(&percent_decode(col(i, "cs(User-Agent)")?)),
            None => String::new(),
        };
        Ok(Some(LogRequest { method, path, query, client_ip, user_agent, timestamp_ms, status }))
    }
}

impl Fields {
    fn from_header(names: &[u8]) -> Result<Self, LineError> {
        let names: Vec<&[u8]> = names.split(|b| *b == b' ' || *b == b'\t').filter(|n| !n.is_empty()).collect();
        let find = |name: &str| names.iter().position(|n| n.eq_ignore_ascii_case(name.as_bytes()));
        let need = |name: &str| {
            find(name).ok_or_else(|| LineError::new(R::MissingField, format!("#Fields: header has no `{name}`")))
        };
        Ok(Self {
            date: need("date")?,
            time: need("time")?,
            ip: need("c-ip")?,
            method: need("cs-method")?,
            stem: need("cs-uri-stem")?,
            query: find("cs-uri-query"),
            status: need("sc-status")?,
            ua: find("cs(User-Agent)"),
        })
    }
}

/// `2019-12-04` and `21:02:31` (UTC) to epoch ms.
fn parse_date_time(date: &[u8], time: &[u8]) -> Result<i64, LineError> {
    let parsed = (|| {
        if date.len() != 10
            || date[4] != b'-'
            || date[7] != b'-'
            || time.len() != 8
            || time[2] != b':'
            || time[5] != b':'
        {
            return None;
        }
        let y = i64::from(digits(&date[0..4])?);
        let (mo, d) = (digits(&date[5..7])?, digits(&date[8..10])?);
        civil_ms(y, mo, d, digits(&time[0..2])?, digits(&time[3..5])?, digits(&time[6..8])?)
    })();
    parsed.ok_or_else(|| {
        LineError::new(
            R::InvalidTimestamp,
            format!("expected yyyy-mm-dd and HH:MM:SS, got {:?} {:?}", clip(date), clip(time)),
        )
    })
}

/// Decodes `%HH` escapes once (CloudFront encodes a literal `%` as `%25`); a broken
/// escape stays as it is.
fn percent_decode(s: &[u8]) -> Vec<u8> {
    decode_once(s)
}

fn decode_once(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match (s[i], s.get(i + 1).copied().and_then(hex), s.get(i + 2).copied().and_then(hex)) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}
