//! `engage ingest-logs --format F [--target URL] FILE...|-`: ships CDN access-log files to a
//! collector's `POST /v1/cdn-logs`.
//!
//! Files may be plain or gzip (told by their first bytes, whatever the name), `-` is standard
//! input. Each file is read in chunks of whole lines (about [`CHUNK_BYTES`], so memory stays
//! bounded whatever the file size) and each chunk is one POST; for CloudFront the last
//! `#Fields:` header is repeated at the head of every chunk. A 503 (the bus is full) or a
//! connection failure is retried with backoff, resuming at the `resume_at_line` the collector
//! reported; shipping the same file again is safe, the consumer drops the repeats. Prints one
//! JSON summary line per file.

use crate::cli::IngestArgs;
use anyhow::{Context, bail};
use engage_model::cdnlog::Format;
use serde_json::{Map, Value};
use std::io::{BufRead, BufReader, Read};
use std::time::Duration;

/// Bytes of whole lines sent per request.
pub const CHUNK_BYTES: usize = 4 << 20;
/// Attempts per chunk before giving up.
const MAX_ATTEMPTS: u32 = 10;

pub fn run(args: IngestArgs) -> anyhow::Result<()> {
    let format = Format::from_name(&args.format, args.json_map.as_deref())?;
    let mut url = format!("{}/v1/cdn-logs?format={}", args.target.trim_end_matches('/'), format.name());
    if let Some(map) = &args.json_map {
        url.push_str("&map=");
        url.push_str(&percent_encode(map));
    }
    let auth = args.token.as_deref().map(str::trim).filter(|t| !t.is_empty()).map(|t| format!("Bearer {t}"));
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(300)))
        .build()
        .into();
    for file in &args.files {
        let name = file.display().to_string();
        let input: Box<dyn Read> = if name == "-" {
            Box::new(std::io::stdin().lock())
        } else {
            Box::new(std::fs::File::open(file).with_context(|| format!("opening {name}"))?)
        };
        let mut total = Summary::default();
        let target = Target { url: &url, auth: auth.as_deref() };
        ship(&agent, &target, &format, open(input)?, &mut total).with_context(|| format!("shipping {name}"))?;
        let mut line = total.0;
        line.insert("file".into(), Value::String(name));
        #[allow(clippy::print_stdout)]
        {
            println!("{}", Value::Object(line));
        }
    }
    Ok(())
}

/// Plain or gzip (any number of members), by the magic bytes.
fn open(input: Box<dyn Read>) -> anyhow::Result<Box<dyn BufRead>> {
    let mut reader = BufReader::with_capacity(64 << 10, input);
    let head = reader.fill_buf().context("reading")?;
    if head.starts_with(&[0x1f, 0x8b]) {
        Ok(Box::new(BufReader::new(flate2::bufread::MultiGzDecoder::new(reader))))
    } else {
        Ok(Box::new(reader))
    }
}

/// Where chunks go: the route's URL, and the `Authorization` header of the log token.
struct Target<'a> {
    url: &'a str,
    auth: Option<&'a str>,
}

fn ship(
    agent: &ureq::Agent,
    target: &Target<'_>,
    format: &Format,
    mut input: Box<dyn BufRead>,
    total: &mut Summary,
) -> anyhow::Result<()> {
    let mut carry: Vec<u8> = Vec::new();
    let mut header: Option<Vec<u8>> = None;
    let mut buf = vec![0u8; 256 << 10];
    loop {
        let n = input.read(&mut buf).context("reading")?;
        carry.extend_from_slice(&buf[..n]);
        let eof = n == 0;
        if carry.len() < CHUNK_BYTES && !eof {
            continue;
        }
        // Send whole lines; keep an unfinished one for the next chunk (unless it alone fills one).
        let cut =
            if eof { carry.len() } else { carry.iter().rposition(|b| *b == b'\n').map_or(carry.len(), |i| i + 1) };
        let chunk: Vec<u8> = carry.drain(..cut).collect();
        if !chunk.is_empty() {
            let prefix = header.clone();
            if *format == Format::Cloudfront
                && let Some(h) = chunk.rsplit(|b| *b == b'\n').find(|l| l.starts_with(b"#Fields:"))
            {
                header = Some(h.to_vec());
            }
            let prefix = prefix.filter(|_| !chunk.starts_with(b"#"));
            post_chunk(agent, target, prefix.as_deref(), &chunk, total)?;
        }
        if eof {
            return Ok(());
        }
    }
}

/// POSTs one chunk (after an optional header line), retrying 503s and connection failures
/// from where the collector says it stopped.
fn post_chunk(
    agent: &ureq::Agent,
    target: &Target<'_>,
    header: Option<&[u8]>,
    chunk: &[u8],
    total: &mut Summary,
) -> anyhow::Result<()> {
    let mut rest = chunk;
    let mut backoff = Duration::from_millis(200);
    for attempt in 1..=MAX_ATTEMPTS {
        let mut body = Vec::with_capacity(rest.len() + header.map_or(0, |h| h.len() + 1));
        if let Some(h) = header {
            body.extend_from_slice(h);
            body.push(b'\n');
        }
        body.extend_from_slice(rest);
        let mut request = agent.post(target.url).header("Content-Type", "text/plain");
        if let Some(auth) = target.auth {
            request = request.header("Authorization", auth);
        }
        let wait = match request.send(&body[..]) {
            Ok(mut resp) => {
                let status = resp.status().as_u16();
                let retry_after = resp
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u64>().ok())
                    .map(Duration::from_secs);
                let text = resp.body_mut().read_to_string().unwrap_or_default();
                let answer: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                match status {
                    200 => {
                        total.add(&answer);
                        return Ok(());
                    }
                    503 => {
                        // Lines before `resume_at_line` are done: count them, send the rest.
                        let done = answer["resume_at_line"].as_u64().unwrap_or(0) as usize;
                        let done_in_rest = done.saturating_sub(usize::from(header.is_some()));
                        rest = skip_lines(rest, done_in_rest);
                        total.add_accepted(answer["accepted"].as_u64().unwrap_or(0));
                        retry_after.unwrap_or(backoff)
                    }
                    // Past the collector's per-request limits: what it read is done, send the rest.
                    413 if answer["resume_at_line"]
                        .as_u64()
                        .is_some_and(|n| n as usize > usize::from(header.is_some())) =>
                    {
                        let done = answer["resume_at_line"].as_u64().unwrap_or(0) as usize;
                        rest = skip_lines(rest, done.saturating_sub(usize::from(header.is_some())));
                        total.add_accepted(answer["accepted"].as_u64().unwrap_or(0));
                        continue;
                    }
                    401 => bail!("the collector refused the log token (--token / ENGAGE_LOG_TOKEN): {}", text.trim()),
                    _ => bail!("the collector answered {status}: {}", text.trim()),
                }
            }
            Err(e) if attempt < MAX_ATTEMPTS => {
                tracing::warn!(error = %e, attempt, "sending failed; retrying");
                backoff
            }
            Err(e) => return Err(e).context("sending to the collector"),
        };
        tracing::warn!(attempt, wait_ms = wait.as_millis() as u64, "collector busy; retrying");
        std::thread::sleep(wait);
        backoff = (backoff * 2).min(Duration::from_secs(10));
    }
    bail!("the collector stayed unavailable after {MAX_ATTEMPTS} attempts")
}

fn skip_lines(s: &[u8], n: usize) -> &[u8] {
    let mut rest = s;
    for _ in 0..n {
        match rest.iter().position(|b| *b == b'\n') {
            Some(i) => rest = &rest[i + 1..],
            None => return &[],
        }
    }
    rest
}

/// The collector's answers, added up.
#[derive(Debug, Default)]
struct Summary(Map<String, Value>);

impl Summary {
    fn add(&mut self, answer: &Value) {
        for key in ["lines", "accepted", "beyond_horizon", "future_timestamp", "rejected_kept"] {
            self.bump(&[key], answer[key].as_u64().unwrap_or(0));
        }
        for group in ["skipped", "rejected"] {
            self.0.entry(group).or_insert_with(|| Value::Object(Map::new()));
            if let Some(reasons) = answer[group].as_object() {
                for (reason, n) in reasons {
                    self.bump(&[group, reason], n.as_u64().unwrap_or(0));
                }
            }
        }
    }

    fn add_accepted(&mut self, n: u64) {
        self.bump(&["accepted"], n);
    }

    fn bump(&mut self, path: &[&str], n: u64) {
        let mut map = &mut self.0;
        for key in &path[..path.len() - 1] {
            let entry = map.entry(*key).or_insert_with(|| Value::Object(Map::new()));
            let Value::Object(inner) = entry else { return };
            map = inner;
        }
        let slot = map.entry(path[path.len() - 1]).or_insert(Value::from(0u64));
        *slot = Value::from(slot.as_u64().unwrap_or(0) + n);
    }
}

pub(crate) fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resuming_skips_whole_lines() {
        assert_eq!(skip_lines(b"a\nb\nc", 2), b"c");
        assert_eq!(skip_lines(b"a\nb\n", 5), b"");
        assert_eq!(skip_lines(b"a\nb\n", 0), b"a\nb\n");
    }

    #[test]
    fn summaries_add_up() {
        let mut s = Summary::default();
        let answer = serde_json::json!({"lines": 4, "accepted": 1, "beyond_horizon": 1, "future_timestamp": 0,
            "skipped": {"status": 1}, "rejected": {"invalid_ip": 1, "beyond_horizon": 1}});
        s.add(&answer);
        s.add(&answer);
        let v = Value::Object(s.0);
        assert_eq!(
            (v["lines"].clone(), v["skipped"]["status"].clone(), v["rejected"]["invalid_ip"].clone()),
            (8.into(), 2.into(), 2.into())
        );
        assert_eq!(
            (v["beyond_horizon"].clone(), v["future_timestamp"].clone(), v["rejected"]["beyond_horizon"].clone()),
            (2.into(), 0.into(), 2.into())
        );
        assert_eq!(percent_encode("path=a.b,ip=c"), "path%3Da.b%2Cip%3Dc");
    }
}
