//! A validated Segment call → the bus record of its `Analytics` envelope: message id, viewer
//! key (never the raw IP), application, skew-corrected event time, partitioning key.

use crate::{Collector, client, metrics as m};
use axum::http::{HeaderMap, header};
use engage_bus::Record;
use engage_model::app::parse_app;
use engage_model::segment::Message;
use engage_model::segment::envelope::{AnalyticsReceived, analytics_event, generated_message_id};
use engage_model::time::{corrected_event_time, utc_day};
use prost::Message as _;
use std::net::{IpAddr, SocketAddr};

/// What one HTTP request contributes to every call it carries.
pub(crate) struct Request<'a> {
    pub(crate) peer: SocketAddr,
    pub(crate) headers: &'a HeaderMap,
    pub(crate) received_at_ms: i64,
    /// The write key ("" when none): part of the event id.
    pub(crate) source: &'a str,
    /// The batch's `sentAt`, for items without their own.
    pub(crate) batch_sent_at_ms: Option<i64>,
}

/// The record of an accepted call; `json` is the call as received (for a generated message id).
pub(crate) fn accepted(c: &Collector, msg: &Message, json: &[u8], req: &Request<'_>) -> Record {
    let message_id = msg.message_id.clone().unwrap_or_else(|| generated_message_id(json));
    let header_ua = req.headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("");
    let user_agent = msg.context_user_agent().unwrap_or(header_ua);
    let ip = match msg.context_ip().and_then(|ip| ip.trim().parse::<IpAddr>().ok()) {
        Some(ip) => ip,
        None => {
            let forwarded = req.headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok());
            client::client_ip(req.peer.ip(), forwarded, &c.inner.config.trusted_proxies)
        }
    };
    let viewer_key = c.inner.keyer.key(utc_day(req.received_at_ms), ip, user_agent);
    let app = parse_app(user_agent);
    let client_time = msg.event_time(req.received_at_ms, req.batch_sent_at_ms);
    let event_time_ms = corrected_event_time(client_time, req.received_at_ms, c.inner.config.max_clock_skew_ms);
    if event_time_ms != client_time {
        metrics::counter!(m::CLOCK_CORRECTED).increment(1);
    }
    let ctx = AnalyticsReceived {
        received_at_ms: req.received_at_ms,
        event_time_ms,
        viewer_key,
        app_key: &app.key,
        app_version: &app.version,
        user_agent,
        source: req.source,
    };
    let event = analytics_event(msg, &message_id, &ctx);
    let key = engage_model::segment::partition_key(msg);
    Record { key: key.into_bytes(), payload: event.encode_to_vec() }
}
