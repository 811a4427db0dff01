//! A validated Segment call → the bus record of its `Analytics` envelope: message id, viewer
//! keys (never the raw IP), application, event time, partitioning key; or its refusal when
//! that time is outside the lateness horizon.
//!
//! The event time is [`Message::event_time`]: `timestamp` corrected by `sentAt` (the item's,
//! else the batch's) and the receive time, which cancels the device clock's offset, so an
//! honest wrong clock loses nothing. That correction is the only clock-skew logic kept: the
//! former collector-wide replacement of far-off times by the receive time is gone, since it
//! moved an offline queue flushed a day later into the current window. A time the correction
//! cannot place within the horizon (no `sentAt`, or a genuinely old or forged `timestamp`) is
//! refused with `beyond_horizon` or `future_timestamp`, field `timestamp`, never moved.

use super::error::SegmentError;
use crate::{Collector, client};
use axum::http::{HeaderMap, header};
use engage_bus::Record;
use engage_model::app::parse_app;
use engage_model::segment::Message;
use engage_model::segment::envelope::{AnalyticsReceived, analytics_event, generated_message_id};
use engage_model::viewer::MissingSalt;
use prost::Message as _;
use std::net::{IpAddr, SocketAddr};

/// What one HTTP request contributes to every call it carries.
pub(crate) struct Request<'a> {
    pub(crate) peer: SocketAddr,
    pub(crate) headers: &'a HeaderMap,
    /// The collector's clock when the request was read: receive time, `ingested_at_ms` and
    /// the `now` of the horizon.
    pub(crate) received_at_ms: i64,
    /// The call's source (named by its write key): part of the event id and of the bus key.
    pub(crate) source: &'a str,
    /// The batch's `sentAt`, for items without their own.
    pub(crate) batch_sent_at_ms: Option<i64>,
}

/// Why a valid call has no record.
#[derive(Debug)]
pub(crate) enum NotRecorded {
    /// Refused (4xx, kept as a rejected input).
    Refused(SegmentError),
    /// Not now: no viewer-key salt for its day yet (503, the client retries).
    NoSalt(MissingSalt),
}

impl From<SegmentError> for NotRecorded {
    fn from(e: SegmentError) -> Self {
        Self::Refused(e)
    }
}

/// The record of an accepted call (`json` is the call as received, for a generated message
/// id), or its refusal when its event time is outside the horizon.
pub(crate) fn accepted(c: &Collector, msg: &Message, json: &[u8], req: &Request<'_>) -> Result<Record, NotRecorded> {
    let event_time_ms = msg.event_time(req.received_at_ms, req.batch_sent_at_ms);
    c.check_horizon(event_time_ms, req.received_at_ms).map_err(|outside| {
        SegmentError::new(outside.reason(), "timestamp", format!("(corrected by `sentAt` when given) {outside}"))
    })?;
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
    // The day of the event time, as for pingbacks: a call queued offline before midnight keys
    // like it would have live.
    let keys = c.inner.keyer.keys_at(event_time_ms, ip, user_agent).map_err(NotRecorded::NoSalt)?;
    let app = parse_app(user_agent);
    let ctx = AnalyticsReceived {
        received_at_ms: req.received_at_ms,
        event_time_ms,
        viewer_key: keys.key,
        prev_viewer_key: keys.prev,
        ingested_at_ms: req.received_at_ms,
        app_key: &app.key,
        app_version: &app.version,
        user_agent,
        source: req.source,
        // Only the agent the call describes: the header is the sending library's (a server
        // SDK's `analytics-node/…` would make every call a bot's).
        bot: msg.context_user_agent().is_some_and(engage_model::bot::is_bot),
    };
    let event = analytics_event(msg, &message_id, &ctx);
    let key = engage_model::segment::partition_key(msg, req.source);
    Ok(Record { key: key.into_bytes(), payload: event.encode_to_vec() })
}
