//! `GET|HEAD /ping/dot.gif`: the pingback endpoint.
//!
//! Every answer carries the 43-byte transparent GIF (so a page never shows a broken image)
//! and `Cache-Control: no-store` (a cached pingback is a lost pingback). A refused pingback
//! is a 400 whose one-line reason is in the `X-Engage-Error` header; a pingback the bus
//! cannot take now is a 503 with `Retry-After`.
//!
//! A live pingback's event time is its receive time, by the collector's clock: the player's
//! `ts` is kept as `client_ts_ms` and only orders the events of its view, so a player clock
//! minutes or days off neither moves the event to another window nor makes it late, and a
//! live pingback is never outside the lateness horizon.

use crate::{Collector, client, metrics as m};
use axum::Router;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use engage_bus::{PublishError, Record};
use engage_model::app::parse_app;
use engage_model::envelope::{self, Received, Source};
use engage_model::pingback::{self, Pingback};
use engage_model::redact::Excerpt;
use engage_model::viewer::MissingSalt;
use prost::Message;
use std::net::{IpAddr, SocketAddr};

pub const ROUTE: &str = "/ping/dot.gif";

/// A 1x1 transparent GIF, 43 bytes.
pub const TRANSPARENT_GIF: [u8; 43] = [
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff,
    0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x02,
    0x02, 0x44, 0x01, 0x00, 0x3b,
];

/// Seconds a client is asked to wait before retrying a 503.
const RETRY_AFTER_SECS: &str = "1";

pub(crate) fn routes() -> Router<Collector> {
    Router::new().route(ROUTE, get(dot_gif))
}

async fn dot_gif(
    State(c): State<Collector>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let received_at_ms = c.now_ms();
    let query = uri.query().unwrap_or("");
    match pingback::parse_query(query) {
        Ok(p) => {
            let outcome = if p.is_ignored() { "ignored" } else { "accepted" };
            let record = match accepted_record(&c, &p, peer, &headers, received_at_ms) {
                Ok(record) => record,
                Err(no_salt) => return unavailable(PublishError::Unavailable(no_salt.to_string())),
            };
            match c.inner.publisher.publish(vec![record]).await {
                Ok(()) => {
                    metrics::counter!(m::PINGBACKS, "outcome" => outcome).increment(1);
                    gif(StatusCode::OK, None)
                }
                Err(e) => unavailable(e),
            }
        }
        Err(e) => {
            metrics::counter!(m::PINGBACKS, "outcome" => "rejected").increment(1);
            metrics::counter!(m::REJECTED, "route" => ROUTE, "reason" => e.reason.as_str()).increment(1);
            c.keep_rejected(ROUTE, e.reason.as_str(), &e.detail, || Excerpt::of_query(query), received_at_ms).await;
            gif(StatusCode::BAD_REQUEST, Some(format!("{}: {}", e.reason, e.detail)))
        }
    }
}

fn accepted_record(
    c: &Collector,
    p: &Pingback,
    peer: SocketAddr,
    headers: &HeaderMap,
    received_at_ms: i64,
) -> Result<Record, MissingSalt> {
    let header_ua = headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("");
    let forwarded = headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok());
    let client_ip = client::client_ip(peer.ip(), forwarded, &c.inner.config.trusted_proxies);
    let origin = Origin {
        client_ip,
        user_agent: header_ua,
        edge_time_ms: received_at_ms,
        ingested_at_ms: received_at_ms,
        source: Source::Pingback,
    };
    pingback_record(c, p, &origin, None)
}

/// Where a pingback came from: a live request, or a line of a CDN access log.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Origin<'a> {
    pub client_ip: IpAddr,
    /// The HTTP User-Agent of the request.
    pub user_agent: &'a str,
    /// When the edge saw it: now for live requests, the log line's timestamp for log lines.
    /// It is the event's time, its receive time and the day of its viewer key.
    pub edge_time_ms: i64,
    /// The collector's clock when it accepted the input (= `edge_time_ms` for live requests).
    pub ingested_at_ms: i64,
    pub source: Source,
}

/// The one path from a valid pingback to its bus record, for live and logged pingbacks alike:
/// the same viewer keys (so a viewer counts once however their pingbacks arrive), the same
/// application and the same time model (the edge time is the event time). `event_id` replaces
/// the default id (log lines are identified by their content). Without the salts of the
/// event's days there is no record ([`MissingSalt`]: answered 503, the client retries).
pub(crate) fn pingback_record(
    c: &Collector,
    p: &Pingback,
    origin: &Origin<'_>,
    event_id: Option<Vec<u8>>,
) -> Result<Record, MissingSalt> {
    // The viewer is the device (HTTP user agent); the application is `ua` when given.
    let keys = c.inner.keyer.keys_at(origin.edge_time_ms, origin.client_ip, origin.user_agent)?;
    let app_ua = p.ua.as_deref().unwrap_or(origin.user_agent);
    let app = parse_app(app_ua);
    let ctx = Received {
        received_at_ms: origin.edge_time_ms,
        event_time_ms: origin.edge_time_ms,
        viewer_key: keys.key,
        prev_viewer_key: keys.prev,
        ingested_at_ms: origin.ingested_at_ms,
        app_key: &app.key,
        app_version: &app.version,
        user_agent: app_ua,
        source: origin.source,
        // The device's agent, not `ua` (an app names itself there, a crawler would not).
        bot: engage_model::bot::is_bot(origin.user_agent),
    };
    let mut event = envelope::pingback_event(p, &ctx);
    if let Some(id) = event_id {
        event.event_id = id;
    }
    Ok(Record { key: p.item.as_bytes().to_vec(), payload: event.encode_to_vec() })
}

fn unavailable(e: PublishError) -> Response {
    metrics::counter!(m::PINGBACKS, "outcome" => "unavailable").increment(1);
    m::warn_refused("a pingback", &e);
    let mut resp = gif(StatusCode::SERVICE_UNAVAILABLE, Some(format!("unavailable: {e}")));
    resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECS));
    resp
}

fn gif(status: StatusCode, error: Option<String>) -> Response {
    let mut resp = (status, TRANSPARENT_GIF.as_slice()).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("image/gif"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(msg) = error {
        // Reasons are built from escaped values, but never let a header value fail.
        let line: String = msg.chars().map(|c| if c.is_ascii() && !c.is_ascii_control() { c } else { '?' }).collect();
        if let Ok(v) = HeaderValue::from_str(&line) {
            h.insert("x-engage-error", v);
        }
    }
    resp
}

#[cfg(test)]
mod tests;
