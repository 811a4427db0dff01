//! `POST /v1/cdn-logs?format=ncsa|cloudfront|cloudflare|json[&map=...]`: CDN access logs in,
//! pingbacks out.
//!
//! Only log shippers may post ([`access`]: a Bearer log-shipper token, 401 otherwise), and one
//! request carries at most [`access::LogLimits`] bytes (decompressed) and lines (413 past
//! them, with `accepted` and `resume_at_line`).
//!
//! The body is newline-delimited log lines, plain or `Content-Encoding: gzip` (concatenated
//! gzip members too, as log files often are). It is streamed: read chunk by chunk, decoded a
//! bounded step at a time, split into lines of at most [`MAX_LINE_BYTES`], so a body of any
//! size takes bounded memory. Each pingback line goes through the same path as a live
//! pingback ([`crate::pingback::pingback_record`]) with the log's client IP, user agent and
//! timestamp, and an event id derived from the line itself, so a re-shipped log repeats ids
//! the consumer drops. Records are published in batches of [`BATCH_RECORDS`].
//!
//! The line's own timestamp is the event's time (the player's `ts` only orders its view). A
//! log is late by nature, so the collector decides here, by its own clock, whether a line is
//! still within the lateness horizon: older than the allowed lateness is refused as
//! `beyond_horizon`, more than a minute ahead as `future_timestamp` (a forged line dated 2099
//! must not move time). Every record carries `ingested_at_ms`, the collector's clock.
//!
//! The answer is JSON: `{"lines", "accepted", "beyond_horizon", "future_timestamp",
//! "skipped": {reason: n}, "rejected": {reason: n}, "rejected_kept"}`, so that `lines` =
//! `accepted` + the skipped + the rejected. Lines that are not pingbacks (other paths,
//! methods, failed statuses, headers) are skipped and counted; unreadable lines, invalid
//! pingbacks and pingbacks outside the horizon are rejected, counted by reason, and kept as
//! `Rejected` records (route `/v1/cdn-logs`, the first [`MAX_KEPT_REJECTED`] of a request).
//! Lines outside the horizon are also counted at the top level (`beyond_horizon`,
//! `future_timestamp`, always present), as a shipper wants to see them without reading
//! reasons; they are the same lines as `rejected.beyond_horizon` and
//! `rejected.future_timestamp`, not more. When the bus refuses a batch the answer is 503 with
//! `Retry-After` and `resume_at_line`: every line before it is done, so a shipper can resume
//! there (re-sending from the start is also safe: repeats are dropped downstream). A line
//! whose day has no viewer-key salt yet (the salt book not read yet) stops the request the same
//! way: 503 and `resume_at_line` at that line.

pub mod access;

use crate::pingback::{Origin, pingback_record};
use crate::rejects::RequestSample;
use crate::{Collector, metrics as m};
use axum::Router;
use axum::body::{Body, HttpBody};
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use engage_bus::Record;
use engage_model::cdnlog::{Format, LineReader, MAX_LINE_BYTES, Parsed};
use engage_model::envelope::{self, Source};
use engage_model::pingback;
use engage_model::redact::Excerpt;
use engage_model::time::OutsideHorizon;
use engage_model::viewer::MissingSalt;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::pin::Pin;

pub const ROUTE: &str = "/v1/cdn-logs";
/// Records per publish call.
pub const BATCH_RECORDS: usize = 500;
/// Compressed bytes decoded per step: bounds what one step can inflate to (about 1 MB).
const GZIP_STEP: usize = 1024;
/// Seconds a shipper is asked to wait before retrying a 503.
const RETRY_AFTER_SECS: &str = "1";

pub(crate) fn routes() -> Router<Collector> {
    Router::new().route(ROUTE, post(ingest))
}

#[derive(Debug, Deserialize)]
struct Params {
    format: Option<String>,
    map: Option<String>,
}

/// What a request did, line by line.
#[derive(Debug, Default, Serialize)]
struct Summary {
    lines: u64,
    accepted: u64,
    /// Pingback lines older than the allowed lateness (also in `rejected`).
    beyond_horizon: u64,
    /// Pingback lines more than the tolerance ahead of the collector's clock (also in `rejected`).
    future_timestamp: u64,
    skipped: BTreeMap<&'static str, u64>,
    rejected: BTreeMap<&'static str, u64>,
    rejected_kept: u64,
}

async fn ingest(
    State(c): State<Collector>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(params): Query<Params>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if let Some(refused) = access::refusal(&c.inner.config.log_access, peer.ip(), &headers) {
        return refused;
    }
    let format = match Format::from_name(params.format.as_deref().unwrap_or(""), params.map.as_deref()) {
        Ok(f) => f,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e.to_string(), None),
    };
    let gzip =
        match headers.get(header::CONTENT_ENCODING).map(|v| v.to_str().unwrap_or("?").trim().to_ascii_lowercase()) {
            None => false,
            Some(e) if e.is_empty() || e == "identity" => false,
            Some(e) if e == "gzip" || e == "x-gzip" => true,
            Some(e) => {
                return error(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    &format!("unsupported Content-Encoding {e:?}; use gzip"),
                    None,
                );
            }
        };
    let mut job = Job::new(c.clone(), format);
    let mut decoder = gzip.then(|| flate2::write::MultiGzDecoder::new(Vec::new()));
    let mut body = body;
    loop {
        let frame = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await;
        let data = match frame {
            None => break,
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => data,
                Err(_) => continue,
            },
            Some(Err(e)) => {
                return job.stopped(StatusCode::BAD_REQUEST, &format!("reading the body failed: {e}")).await;
            }
        };
        job.tick();
        match decoder.as_mut() {
            None => job.feed(&data),
            Some(dec) => {
                for step in data.chunks(GZIP_STEP) {
                    if let Err(e) = dec.write_all(step).and_then(|()| dec.flush()) {
                        return job.stopped(StatusCode::BAD_REQUEST, &format!("the gzip body is corrupt: {e}")).await;
                    }
                    let out = std::mem::take(dec.get_mut());
                    job.feed(&out);
                    if job.over_limit.is_some() {
                        break;
                    }
                }
            }
        }
        if let Some(limit) = job.over_limit.take() {
            return job.stopped(StatusCode::PAYLOAD_TOO_LARGE, &limit).await;
        }
        if let Some(resp) = job.stop_without_salt().await {
            return resp;
        }
        if let Err(resp) = job.publish_full_batches().await {
            return resp;
        }
    }
    if let Some(dec) = decoder {
        match dec.finish() {
            Ok(rest) => {
                job.feed(&rest);
                if let Some(limit) = job.over_limit.take() {
                    return job.stopped(StatusCode::PAYLOAD_TOO_LARGE, &limit).await;
                }
            }
            Err(e) => return job.stopped(StatusCode::BAD_REQUEST, &format!("the gzip body is truncated: {e}")).await,
        }
    }
    job.end_of_body();
    if let Some(resp) = job.stop_without_salt().await {
        return resp;
    }
    match job.publish_all().await {
        Ok(()) => {
            job.count_metrics();
            (StatusCode::OK, axum::Json(&job.summary)).into_response()
        }
        Err(resp) => resp,
    }
}

/// One request's state: the line splitter, the reader, the pending records and the counts.
struct Job {
    c: Collector,
    reader: LineReader,
    /// The collector's clock as of the last body chunk: `ingested_at_ms` of the records and
    /// the `now` of the horizon.
    now_ms: i64,
    partial: Vec<u8>,
    partial_too_long: bool,
    /// Records not yet published, with the number of the line they came from.
    pending: Vec<(u64, Record)>,
    summary: Summary,
    /// Which refused lines of this request are kept.
    sample: RequestSample,
    /// Decompressed bytes read so far.
    bytes: u64,
    /// Why the request stopped reading: a limit of [`access::LogLimits`] was reached.
    over_limit: Option<String>,
    /// Set when a line could not be keyed: no line after it is read; the request ends in 503.
    no_salt: Option<MissingSalt>,
}

impl Job {
    fn new(c: Collector, format: Format) -> Self {
        let now_ms = c.now_ms();
        Self {
            c,
            reader: LineReader::new(format),
            now_ms,
            partial: Vec::new(),
            partial_too_long: false,
            pending: Vec::new(),
            summary: Summary::default(),
            sample: RequestSample::default(),
            bytes: 0,
            over_limit: None,
            no_salt: None,
        }
    }

    /// Reads the clock again: a long upload's lines are judged by the time they arrive.
    fn tick(&mut self) {
        self.now_ms = self.c.now_ms();
    }

    /// Splits `data` into lines, carrying an unfinished line over; a line longer than the
    /// limit is not buffered past it (its head is kept for the rejection).
    fn feed(&mut self, mut data: &[u8]) {
        if self.over_limit.is_some() {
            return;
        }
        let limits = self.c.inner.config.log_limits;
        let room = limits.max_bytes.saturating_sub(self.bytes);
        if data.len() as u64 > room {
            data = &data[..room as usize];
            self.over_limit = Some(format!(
                "the body is larger than {} bytes (decompressed): send the rest from `resume_at_line` in another request",
                limits.max_bytes
            ));
        }
        self.bytes += data.len() as u64;
        while let Some(nl) = data.iter().position(|b| *b == b'\n') {
            if self.summary.lines >= limits.max_lines {
                self.over_limit = Some(format!(
                    "the body has more than {} lines: send the rest from `resume_at_line` in another request",
                    limits.max_lines
                ));
                self.partial.clear();
                return;
            }
            let (head, tail) = (&data[..nl], &data[nl + 1..]);
            if self.partial.is_empty() && !self.partial_too_long {
                self.line(head, head.len() > MAX_LINE_BYTES);
            } else {
                self.push_partial(head);
                let line = std::mem::take(&mut self.partial);
                let too_long = std::mem::take(&mut self.partial_too_long);
                self.line(&line, too_long);
            }
            data = tail;
        }
        self.push_partial(data);
    }

    fn push_partial(&mut self, data: &[u8]) {
        let room = (MAX_LINE_BYTES + 1).saturating_sub(self.partial.len());
        if data.len() > room {
            self.partial_too_long = true;
        }
        self.partial.extend_from_slice(&data[..data.len().min(room)]);
    }

    fn end_of_body(&mut self) {
        if self.over_limit.is_some() {
            return;
        }
        if !self.partial.is_empty() || self.partial_too_long {
            let line = std::mem::take(&mut self.partial);
            let too_long = std::mem::take(&mut self.partial_too_long);
            self.line(&line, too_long);
        }
    }

    fn line(&mut self, line: &[u8], too_long: bool) {
        if self.no_salt.is_some() {
            return;
        }
        self.summary.lines += 1;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let outcome = if too_long {
            let detail = format!("line is longer than {MAX_LINE_BYTES} bytes");
            Err((engage_model::cdnlog::LineErrorReason::LineTooLong.as_str(), detail))
        } else {
            self.reader.read(line).map_err(|e| (e.reason.as_str(), e.detail))
        };
        match outcome {
            Ok(Parsed::Skipped(reason)) => *self.summary.skipped.entry(reason.as_str()).or_default() += 1,
            Ok(Parsed::Pingback(req)) => match pingback::parse_query(&req.query) {
                Ok(p) => {
                    if let Err(outside) = self.c.check_horizon(req.timestamp_ms, self.now_ms) {
                        match outside {
                            OutsideHorizon::BeyondHorizon { .. } => self.summary.beyond_horizon += 1,
                            OutsideHorizon::Future { .. } => self.summary.future_timestamp += 1,
                        }
                        let detail = format!("the line's timestamp {outside}");
                        return self.reject(outside.reason().as_str(), &detail, line);
                    }
                    let origin = Origin {
                        client_ip: req.client_ip,
                        user_agent: &req.user_agent,
                        edge_time_ms: req.timestamp_ms,
                        ingested_at_ms: self.now_ms,
                        source: Source::CdnLog,
                    };
                    let id = envelope::event_id(&[b"cdnlog", self.reader.format().name().as_bytes(), line]);
                    match pingback_record(&self.c, &p, &origin, Some(id)) {
                        Ok(record) => {
                            self.pending.push((self.summary.lines, record));
                            self.summary.accepted += 1;
                        }
                        Err(no_salt) => {
                            // Not read: the shipper resumes at this line.
                            self.summary.lines -= 1;
                            self.no_salt = Some(no_salt);
                        }
                    }
                }
                Err(e) => self.reject(e.reason.as_str(), &e.detail, line),
            },
            Err((reason, detail)) => self.reject(reason, &detail, line),
        }
    }

    fn reject(&mut self, reason: &'static str, detail: &str, line: &[u8]) {
        *self.summary.rejected.entry(reason).or_default() += 1;
        let excerpt = || Excerpt::of_log_line(line);
        if let Some(record) =
            self.c.rejected_record(ROUTE, reason, detail, excerpt, Some(&mut self.sample), self.now_ms)
        {
            self.summary.rejected_kept += 1;
            self.pending.push((self.summary.lines, record));
        }
    }

    async fn publish_full_batches(&mut self) -> Result<(), Response> {
        while self.pending.len() >= BATCH_RECORDS {
            self.publish(BATCH_RECORDS).await?;
        }
        Ok(())
    }

    async fn publish_all(&mut self) -> Result<(), Response> {
        while !self.pending.is_empty() {
            self.publish(self.pending.len().min(BATCH_RECORDS)).await?;
        }
        Ok(())
    }

    async fn publish(&mut self, n: usize) -> Result<(), Response> {
        let records: Vec<Record> = self.pending[..n].iter().map(|(_, r)| r.clone()).collect();
        match self.c.inner.publisher.publish(records).await {
            Ok(()) => {
                self.pending.drain(..n);
                Ok(())
            }
            Err(e) => {
                m::warn_refused("CDN log records", &e);
                let mut resp = self.answer_stopped(StatusCode::SERVICE_UNAVAILABLE, &format!("unavailable: {e}"));
                resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECS));
                Err(resp)
            }
        }
    }

    /// When a line could not be keyed: publishes what was read before it, then answers 503
    /// with `Retry-After` and the line to resume at.
    async fn stop_without_salt(&mut self) -> Option<Response> {
        let no_salt = self.no_salt?;
        if let Err(resp) = self.publish_all().await {
            return Some(resp);
        }
        tracing::warn!(error = %no_salt, "CDN log lines refused for now");
        let mut resp = self.answer_stopped(StatusCode::SERVICE_UNAVAILABLE, &format!("unavailable: {no_salt}"));
        resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECS));
        Some(resp)
    }

    /// Lines before this one are done (published, skipped, or counted as rejected).
    fn resume_at_line(&self) -> u64 {
        self.pending.first().map_or(self.summary.lines, |(line, _)| line - 1)
    }

    /// Stops on a bad body: publishes what was read before, then answers `status`.
    async fn stopped(mut self, status: StatusCode, why: &str) -> Response {
        if let Err(resp) = self.publish_all().await {
            return resp;
        }
        self.answer_stopped(status, why)
    }

    fn answer_stopped(&self, status: StatusCode, why: &str) -> Response {
        self.count_metrics();
        let accepted_published =
            self.summary.accepted - self.pending.iter().filter(|(_, r)| !r.key.is_empty()).count() as u64;
        error(status, why, Some((accepted_published, self.resume_at_line())))
    }

    /// Emitted once per request, not per line.
    fn count_metrics(&self) {
        metrics::counter!(m::CDN_LOG_LINES, "outcome" => "accepted").increment(self.summary.accepted);
        for (reason, n) in &self.summary.skipped {
            metrics::counter!(m::CDN_LOG_LINES, "outcome" => "skipped", "reason" => *reason).increment(*n);
        }
        for (reason, n) in &self.summary.rejected {
            metrics::counter!(m::CDN_LOG_LINES, "outcome" => "rejected", "reason" => *reason).increment(*n);
            metrics::counter!(m::REJECTED, "route" => ROUTE, "reason" => *reason).increment(*n);
        }
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    accepted: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    resume_at_line: Option<u64>,
}

fn error(status: StatusCode, why: &str, progress: Option<(u64, u64)>) -> Response {
    let body = ErrorBody { error: why, accepted: progress.map(|p| p.0), resume_at_line: progress.map(|p| p.1) };
    (status, axum::Json(body)).into_response()
}

#[cfg(test)]
mod tests;
