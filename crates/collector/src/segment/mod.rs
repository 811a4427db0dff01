//! The Segment HTTP Tracking API: `POST /v1/{track,identify,page,screen,group,alias,batch}`,
//! so Segment's own SDKs can point at engage unchanged.
//!
//! - Write key: the Basic-auth user name, or `writeKey` in the body; checked against the
//!   configured keys (401), any key accepted when none are configured. The key names the
//!   call's *source* (see [`crate::sources`]): the envelope carries the source's name.
//! - Rate: each source has a token bucket (`--source-rate`, see [`crate::rate_limit`]); a
//!   request whose calls do not fit is answered 429 with `Retry-After`, counted
//!   (`rate_limited`), and not kept.
//! - Consent: a call whose consent object denies analytics is answered like an accepted one,
//!   counted (`outcome="no_consent"`), and dropped: neither published nor kept.
//! - Bodies: JSON, optionally `Content-Encoding: gzip`; 32 KB per event, 500 KB per batch (413).
//! - Each call is validated by [`engage_model::segment`] (400 naming the field), its time
//!   corrected for the client's clock by `sentAt`, its viewer key derived from `context.ip`
//!   (else the client address) and `context.userAgent` (else the `User-Agent`), and it is
//!   published as an `Analytics` envelope whose event id comes from (write key, `messageId`).
//! - A call whose corrected time is older than the allowed lateness, or more than a minute
//!   ahead of the collector's clock, is refused (`beyond_horizon`, `future_timestamp`, field
//!   `timestamp`): a 400 for a single call, an item of `rejected` in a batch (see `record`).
//! - Answer `{"success":true}`. A batch mixing good and bad items publishes the good ones
//!   and answers `{"success":true,"rejected":[{"index":..,"code":..,"field":..,"message":..}]}`
//!   (400 when no item was good). Every refusal is counted and published as a `Rejected`
//!   envelope; a bus that cannot take the events makes it a 503 with `Retry-After`.
//! - CORS: preflight `OPTIONS` and `Access-Control-Allow-*` on every answer, for browsers.
//!
//! # Layout
//! - `mod.rs`: routes and the request flow. `body`: write key, size limits, gzip.
//! - `record`: a validated call → a bus record. `error`: refusals and their answers.
//! - `cors`: the browser headers.

mod body;
mod cors;
pub mod error;
mod record;

#[cfg(test)]
mod tests;

use crate::rejects::RequestSample;
use crate::sources::{check_source_name, denies_consent};
use crate::{Collector, metrics as m};
use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::post;
use engage_bus::PublishError;
use engage_model::redact::Excerpt;
use engage_model::reject::RejectReason;
use engage_model::segment::body::{batch_items, batch_sent_at, parse_batch_item};
use engage_model::segment::{CallType, MAX_BATCH_BYTES, MAX_EVENT_BYTES, parse_message};
use error::SegmentError;
use record::NotRecorded;
use serde::Serialize;
use serde_json::Value;
use std::net::SocketAddr;

/// The batch route.
pub const BATCH_ROUTE: &str = "/v1/batch";

/// The route of a single call (`/v1/track`...), a bounded metrics label.
pub fn route_of(call: CallType) -> &'static str {
    match call {
        CallType::Track => "/v1/track",
        CallType::Identify => "/v1/identify",
        CallType::Page => "/v1/page",
        CallType::Screen => "/v1/screen",
        CallType::Group => "/v1/group",
        CallType::Alias => "/v1/alias",
    }
}

pub(crate) fn routes() -> Router<Collector> {
    let mut router = Router::new();
    for call in CallType::ALL {
        router = router.route(
            route_of(call),
            post(move |State(c): State<Collector>, ConnectInfo(peer): ConnectInfo<SocketAddr>, headers, body| {
                single(c, call, peer, headers, body)
            })
            .options(cors::preflight),
        );
    }
    router
        .route(BATCH_ROUTE, post(batch).options(cors::preflight))
        .layer(axum::middleware::map_response(cors::allow_origin))
}

/// `{"success": true}`, plus the refused items of a batch.
#[derive(Debug, Serialize)]
struct Success {
    success: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    rejected: Vec<ItemRejection>,
}

/// One refused item of a batch.
#[derive(Debug, Serialize)]
struct ItemRejection {
    index: usize,
    code: &'static str,
    field: String,
    message: String,
}

async fn single(c: Collector, call: CallType, peer: SocketAddr, headers: HeaderMap, body: Body) -> Response {
    let route = route_of(call);
    let received_at_ms = c.now_ms();
    let bytes = match body::read_body(body, &headers, MAX_EVENT_BYTES).await {
        Ok(b) => b,
        Err(e) => return refuse(&c, route, received_at_ms, e, b"").await,
    };
    let value: Value = match serde_json::from_slice(&bytes) {
        Ok(v) => v,
        Err(e) => return refuse(&c, route, received_at_ms, invalid_json(&e), &bytes).await,
    };
    let source = match source_of(&c, &headers, &value) {
        Ok(s) => s,
        Err(e) => return refuse(&c, route, received_at_ms, e, &bytes).await,
    };
    if let Some(resp) = over_rate(&c, route, &source, 1, received_at_ms) {
        return resp;
    }
    let msg = match parse_message(value, Some(call)) {
        Ok(m) => m,
        Err(e) => return refuse(&c, route, received_at_ms, e.into(), &bytes).await,
    };
    if denies_consent(&msg, &c.inner.config.consent_categories) {
        metrics::counter!(m::ANALYTICS, "outcome" => "no_consent").increment(1);
        return success(Vec::new());
    }
    let req = record::Request { peer, headers: &headers, received_at_ms, source: &source, batch_sent_at_ms: None };
    let rec = match record::accepted(&c, &msg, &bytes, &req) {
        Ok(rec) => rec,
        Err(NotRecorded::Refused(e)) => return refuse(&c, route, received_at_ms, e, &bytes).await,
        Err(NotRecorded::NoSalt(e)) => return unavailable(PublishError::Unavailable(e.to_string()), 1),
    };
    match c.inner.publisher.publish(vec![rec]).await {
        Ok(()) => {
            metrics::counter!(m::ANALYTICS, "outcome" => "accepted").increment(1);
            success(Vec::new())
        }
        Err(e) => unavailable(e, 1),
    }
}

async fn batch(
    State(c): State<Collector>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let received_at_ms = c.now_ms();
    let bytes = match body::read_body(body, &headers, MAX_BATCH_BYTES).await {
        Ok(b) => b,
        Err(e) => return refuse(&c, BATCH_ROUTE, received_at_ms, e, b"").await,
    };
    let mut value: Value = match serde_json::from_slice(&bytes) {
        Ok(v) => v,
        Err(e) => return refuse(&c, BATCH_ROUTE, received_at_ms, invalid_json(&e), &bytes).await,
    };
    let source = match source_of(&c, &headers, &value) {
        Ok(s) => s,
        Err(e) => return refuse(&c, BATCH_ROUTE, received_at_ms, e, &bytes).await,
    };
    let items = match batch_items(&mut value) {
        Ok(items) => items,
        Err(e) => return refuse(&c, BATCH_ROUTE, received_at_ms, e.into(), &bytes).await,
    };
    let calls = u32::try_from(items.len()).unwrap_or(u32::MAX);
    if let Some(resp) = over_rate(&c, BATCH_ROUTE, &source, calls, received_at_ms) {
        return resp;
    }
    let batch_sent_at_ms = match batch_sent_at(&value) {
        Ok(t) => t,
        Err(e) => return refuse(&c, BATCH_ROUTE, received_at_ms, e.into(), &bytes).await,
    };
    let req = record::Request { peer, headers: &headers, received_at_ms, source: &source, batch_sent_at_ms };
    let mut records = Vec::with_capacity(items.len());
    let mut rejected = Vec::new();
    let mut sample = RequestSample::default();
    let mut kept = 0usize;
    let mut no_consent = 0u64;
    for (index, item) in items.into_iter().enumerate() {
        let (item_bytes, parsed) = parse_batch_item(item, index);
        let parsed = parsed.map_err(SegmentError::from);
        let parsed = match parsed {
            Ok(msg) if denies_consent(&msg, &c.inner.config.consent_categories) => {
                no_consent += 1;
                continue;
            }
            other => other,
        };
        let recorded = match parsed {
            Ok(msg) => record::accepted(&c, &msg, &item_bytes, &req),
            Err(e) => Err(NotRecorded::Refused(e)),
        };
        match recorded {
            Ok(rec) => records.push(rec),
            // Nothing of the batch was published yet: all of it is retried.
            Err(NotRecorded::NoSalt(e)) => {
                return unavailable(PublishError::Unavailable(e.to_string()), calls.into());
            }
            Err(NotRecorded::Refused(e)) => {
                count_rejected(BATCH_ROUTE, e.reason);
                let detail = format!("item {index}: `{}` {}", e.field, e.detail);
                let excerpt = || Excerpt::of_json(&item_bytes);
                let reason = e.reason.as_str();
                if let Some(record) =
                    c.rejected_record(BATCH_ROUTE, reason, &detail, excerpt, Some(&mut sample), received_at_ms)
                {
                    records.push(record);
                    kept += 1;
                }
                let body = e.body();
                rejected.push(ItemRejection { index, code: body.code, field: body.field, message: body.message });
            }
        }
    }
    let accepted = records.len() - kept;
    if no_consent > 0 {
        metrics::counter!(m::ANALYTICS, "outcome" => "no_consent").increment(no_consent);
    }
    if let Err(e) = c.inner.publisher.publish(records).await {
        return unavailable(e, accepted as u64);
    }
    metrics::counter!(m::ANALYTICS, "outcome" => "accepted").increment(accepted as u64);
    if accepted == 0 && !rejected.is_empty() {
        let first = &rejected[0];
        let body = serde_json::json!({
            "success": false, "code": first.code, "field": first.field,
            "message": format!("no item of the batch was accepted; item {}: {}", first.index, first.message),
            "rejected": rejected,
        });
        return (StatusCode::BAD_REQUEST, Json(body)).into_response();
    }
    success(rejected)
}

/// The request's source: the source its write key (Basic-auth user, else `writeKey` in the
/// body) names. When keys are not checked, a key is its own source (if it is a valid source
/// name, else 400) and no key is the default source.
fn source_of(c: &Collector, headers: &HeaderMap, value: &Value) -> Result<String, SegmentError> {
    let key = body::basic_auth_user(headers)
        .or_else(|| value.get("writeKey").and_then(Value::as_str).filter(|k| !k.is_empty()).map(str::to_string));
    match (&c.inner.config.write_keys, key) {
        (None, None) => Ok(c.inner.config.default_source.clone()),
        (None, Some(key)) => match check_source_name(&key) {
            Ok(()) => Ok(key),
            Err(e) => {
                Err(SegmentError::new(RejectReason::InvalidField, "writeKey", format!("names no valid source: {e}")))
            }
        },
        (Some(keys), Some(key)) => match keys.source_of(&key) {
            Some(source) => Ok(source.to_owned()),
            None => Err(SegmentError::new(RejectReason::Unauthorized, "writeKey", "is not a configured key")),
        },
        (Some(_), None) => Err(SegmentError::new(
            RejectReason::Unauthorized,
            "writeKey",
            "is required (Basic-auth user name or `writeKey` in the body)",
        )),
    }
}

/// Takes `calls` from the source's rate limit; when they do not fit, the answer: 429 with
/// `Retry-After`, counted, not kept (keeping every throttled request would turn a flood into
/// writes).
fn over_rate(c: &Collector, route: &'static str, source: &str, calls: u32, now_ms: i64) -> Option<Response> {
    let limiter = c.inner.limiter.as_ref()?;
    let retry_after = limiter.take(source, calls, now_ms).err()?;
    metrics::counter!(m::ANALYTICS, "outcome" => "rate_limited").increment(u64::from(calls));
    metrics::counter!(m::REJECTED, "route" => route, "reason" => RejectReason::RateLimited.as_str()).increment(1);
    let burst = c.inner.config.source_rate.map_or(0, |r| r.burst);
    let message = if calls > burst {
        format!("a request of {calls} calls is more than the source's burst of {burst}: split it")
    } else {
        format!("the source is over its rate limit; retry after {retry_after} s")
    };
    let body = serde_json::json!({"success": false, "code": RejectReason::RateLimited.as_str(), "message": message});
    let mut resp = (StatusCode::TOO_MANY_REQUESTS, Json(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(&retry_after.to_string()) {
        resp.headers_mut().insert(header::RETRY_AFTER, v);
    }
    Some(resp)
}

fn invalid_json(e: &serde_json::Error) -> SegmentError {
    SegmentError::new(RejectReason::InvalidJson, "body", format!("is not valid JSON: {e}"))
}

fn count_rejected(route: &'static str, reason: RejectReason) {
    metrics::counter!(m::ANALYTICS, "outcome" => "rejected").increment(1);
    metrics::counter!(m::REJECTED, "route" => route, "reason" => reason.as_str()).increment(1);
}

/// Counts, keeps (sampled and redacted: see `crate::rejects`) and answers a refusal. A body
/// refused for its write key keeps nothing of itself: it was never meant for this collector.
async fn refuse(c: &Collector, route: &'static str, received_at_ms: i64, e: SegmentError, input: &[u8]) -> Response {
    count_rejected(route, e.reason);
    let detail = format!("`{}` {}", e.field, e.detail);
    let unauthorized = e.reason == RejectReason::Unauthorized;
    let excerpt = || if unauthorized { Excerpt::none() } else { Excerpt::of_json(input) };
    c.keep_rejected(route, e.reason.as_str(), &detail, excerpt, received_at_ms).await;
    e.into_response()
}

fn success(rejected: Vec<ItemRejection>) -> Response {
    Json(Success { success: true, rejected }).into_response()
}

fn unavailable(e: engage_bus::PublishError, events: u64) -> Response {
    metrics::counter!(m::ANALYTICS, "outcome" => "unavailable").increment(events);
    m::warn_refused("analytics events", &e);
    let body = serde_json::json!({"success": false, "code": "unavailable", "message": e.to_string()});
    let mut resp = (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response();
    resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    resp
}
