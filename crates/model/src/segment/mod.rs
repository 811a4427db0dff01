//! The Segment HTTP Tracking API, as pure parsing and validation: JSON in, [`Message`] out.
//!
//! Segment's SDKs (and anything speaking its HTTP API) send `track`, `identify`, `page`,
//! `screen`, `group` and `alias` calls, one per request or many in a `batch`. This module
//! checks one call against the spec (which fields are required, which types they must have),
//! corrects its time for the client's clock ([`Message::event_time`]) and builds its
//! [`crate::envelope::RawEvent`] ([`envelope`]). No I/O: the collector does HTTP and write
//! keys, and calls this.
//!
//! # Layout
//! - `mod.rs`: the call types, [`Message`], [`parse_message`] and its errors.
//! - [`body`]: the request body: gzip and size limits, the batch array, one batch item.
//! - [`envelope`]: a validated message → the `Analytics` body of the wire envelope.
//! - [`path`]: dotted JSON paths into a call (where the webinar session id is).
//! - [`video`]: the Video Spec bridge (video track events → pingback events).
//! - `identifiers`: asset ids, playback session ids, page names and event types checked by
//!   their rule ([`crate::ids`]), as on every other path.

pub mod body;
pub mod envelope;
mod identifiers;
pub mod path;
pub mod video;

#[cfg(test)]
mod tests;

use crate::reject::RejectReason;
use serde_json::{Map, Value};
use std::fmt;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Largest accepted event (one call, or one item of a batch), in bytes of JSON.
pub const MAX_EVENT_BYTES: usize = 32 * 1024;
/// Largest accepted batch request body (after decompression), in bytes.
pub const MAX_BATCH_BYTES: usize = 500 * 1024;

/// A difference between `sentAt` and the receive time below this is network transit, not
/// client clock skew (correcting for it would shift every event by its delivery delay).
pub const TRANSIT_TOLERANCE_MS: u64 = 1_000;

/// The kind of a Segment call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CallType {
    Track,
    Identify,
    Page,
    Screen,
    Group,
    Alias,
}

impl CallType {
    pub const ALL: [CallType; 6] = [Self::Track, Self::Identify, Self::Page, Self::Screen, Self::Group, Self::Alias];

    /// The spec's name (`"track"`), also the last segment of its route (`/v1/track`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Track => "track",
            Self::Identify => "identify",
            Self::Page => "page",
            Self::Screen => "screen",
            Self::Group => "group",
            Self::Alias => "alias",
        }
    }

    /// The call type named `s` (case-insensitive), as a batch item's `type` gives it.
    pub fn parse(s: &str) -> Option<CallType> {
        Self::ALL.into_iter().find(|t| t.as_str().eq_ignore_ascii_case(s))
    }
}

impl fmt::Display for CallType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a call was refused: a bounded reason code, the offending field, a human detail.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{reason}: `{field}` {detail}")]
pub struct MessageError {
    pub reason: RejectReason,
    /// The JSON field at fault (`userId`, `event`, `properties`...), or `body`.
    pub field: String,
    pub detail: String,
}

impl MessageError {
    pub fn new(reason: RejectReason, field: &str, detail: impl Into<String>) -> Self {
        Self { reason, field: field.into(), detail: detail.into() }
    }
}

/// One validated call.
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    pub call: CallType,
    pub user_id: Option<String>,
    pub anonymous_id: Option<String>,
    /// Track: the event name (required, non-empty).
    pub event: Option<String>,
    /// Page and screen: the name, when given.
    pub name: Option<String>,
    pub properties: Map<String, Value>,
    pub traits: Map<String, Value>,
    pub context: Map<String, Value>,
    pub message_id: Option<String>,
    /// `timestamp` (else `originalTimestamp`), epoch milliseconds, client clock.
    pub timestamp_ms: Option<i64>,
    /// `sentAt`, epoch milliseconds, client clock.
    pub sent_at_ms: Option<i64>,
    /// Group: `groupId` (required).
    pub group_id: Option<String>,
    /// Alias: `previousId` (required).
    pub previous_id: Option<String>,
    /// `writeKey` given in the body, if any.
    pub write_key: Option<String>,
}

impl Message {
    /// The event time: `receivedAt - (sentAt - timestamp)` when the client sent both (its
    /// clock offset cancels out), its `timestamp` alone otherwise, else the receive time.
    /// `batch_sent_at_ms` is the batch's `sentAt`, used when the item has none.
    /// An offset between `sentAt` and the receive time under [`TRANSIT_TOLERANCE_MS`] is
    /// transit time, not a wrong clock: the timestamp is then taken as is.
    pub fn event_time(&self, received_at_ms: i64, batch_sent_at_ms: Option<i64>) -> i64 {
        match (self.timestamp_ms, self.sent_at_ms.or(batch_sent_at_ms)) {
            (Some(ts), Some(sent)) if received_at_ms.abs_diff(sent) < TRANSIT_TOLERANCE_MS => ts,
            (Some(ts), Some(sent)) => received_at_ms.saturating_sub(sent.saturating_sub(ts)),
            (Some(ts), None) => ts,
            (None, _) => received_at_ms,
        }
    }

    /// `context.ip`, when the client (or a server-side library) sent one.
    pub fn context_ip(&self) -> Option<&str> {
        self.context.get("ip").and_then(Value::as_str)
    }

    /// `context.userAgent`, when given.
    pub fn context_user_agent(&self) -> Option<&str> {
        self.context.get("userAgent").and_then(Value::as_str)
    }
}

/// Validates one call. `call` is the route's type (`/v1/track`); `None` for a batch item,
/// whose own `type` field then decides.
pub fn parse_message(value: Value, call: Option<CallType>) -> Result<Message, MessageError> {
    let Value::Object(mut obj) = value else {
        return Err(MessageError::new(RejectReason::InvalidJson, "body", "must be a JSON object"));
    };
    let call = match call {
        Some(c) => c,
        None => match obj.get("type") {
            None | Some(Value::Null) => {
                return Err(MessageError::new(RejectReason::MissingField, "type", "is required"));
            }
            Some(Value::String(s)) => CallType::parse(s).ok_or_else(|| {
                MessageError::new(
                    RejectReason::UnknownType,
                    "type",
                    format!("{:?} is not a Segment call type", clip(s)),
                )
            })?,
            Some(_) => return Err(wrong_type("type", "a string")),
        },
    };
    let user_id = id_field(&obj, "userId")?;
    let anonymous_id = id_field(&obj, "anonymousId")?;
    if user_id.is_none() && anonymous_id.is_none() {
        return Err(MessageError::new(RejectReason::MissingField, "userId", "or `anonymousId` is required"));
    }
    let event = string_field(&obj, "event")?;
    if call == CallType::Track && event.is_none() {
        return Err(MessageError::new(RejectReason::MissingField, "event", "is required for track"));
    }
    let group_id = id_field(&obj, "groupId")?;
    if call == CallType::Group && group_id.is_none() {
        return Err(MessageError::new(RejectReason::MissingField, "groupId", "is required for group"));
    }
    let previous_id = id_field(&obj, "previousId")?;
    if call == CallType::Alias && previous_id.is_none() {
        return Err(MessageError::new(RejectReason::MissingField, "previousId", "is required for alias"));
    }
    let timestamp_ms = match time_field(&obj, "timestamp")? {
        Some(t) => Some(t),
        None => time_field(&obj, "originalTimestamp")?,
    };
    let mut message = Message {
        call,
        user_id,
        anonymous_id,
        event: if call == CallType::Track { event } else { None },
        name: string_field(&obj, "name")?,
        properties: object_field(&mut obj, "properties")?,
        traits: object_field(&mut obj, "traits")?,
        context: object_field(&mut obj, "context")?,
        message_id: id_field(&obj, "messageId")?,
        timestamp_ms,
        sent_at_ms: time_field(&obj, "sentAt")?,
        group_id,
        previous_id,
        write_key: string_field(&obj, "writeKey")?,
    };
    identifiers::check_identifiers(&mut message)?;
    Ok(message)
}

/// Parses an ISO 8601 / RFC 3339 time (`2024-05-01T12:00:00.123Z`, `...+02:00`); a time
/// without an offset is taken as UTC, as Segment does.
pub fn parse_time(s: &str) -> Option<i64> {
    let parse = |s: &str| OffsetDateTime::parse(s, &Rfc3339).ok();
    let t = parse(s).or_else(|| parse(&format!("{s}Z")))?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

fn wrong_type(field: &str, expected: &str) -> MessageError {
    MessageError::new(RejectReason::InvalidField, field, format!("must be {expected}"))
}

/// A string field; absent, null and empty are `None`.
fn string_field(obj: &Map<String, Value>, field: &str) -> Result<Option<String>, MessageError> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok((!s.is_empty()).then(|| s.clone())),
        Some(_) => Err(wrong_type(field, "a string")),
    }
}

/// An id field: a string, or a number (SDKs send numeric user ids), as a string.
fn id_field(obj: &Map<String, Value>, field: &str) -> Result<Option<String>, MessageError> {
    match obj.get(field) {
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        _ => string_field(obj, field).map_err(|_| wrong_type(field, "a string or a number")),
    }
}

/// An object field, taken out of `obj`; absent and null are empty.
fn object_field(obj: &mut Map<String, Value>, field: &str) -> Result<Map<String, Value>, MessageError> {
    match obj.remove(field) {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(m)) => Ok(m),
        Some(_) => Err(wrong_type(field, "an object")),
    }
}

/// A time field (ISO 8601 string), epoch milliseconds.
fn time_field(obj: &Map<String, Value>, field: &str) -> Result<Option<i64>, MessageError> {
    match string_field(obj, field).map_err(|_| wrong_type(field, "an ISO 8601 time string"))? {
        None => Ok(None),
        Some(s) => parse_time(&s).map(Some).ok_or_else(|| {
            MessageError::new(RejectReason::InvalidField, field, format!("{:?} is not an ISO 8601 time", clip(&s)))
        }),
    }
}

/// At most 64 characters of a client value, for error messages.
fn clip(s: &str) -> &str {
    s.char_indices().nth(64).map_or(s, |(i, _)| &s[..i])
}

/// The bus key of a call from `source` (the name of its write key): which events must share a partition
/// (and so one consumer's state).
///
/// Every full-state rollup row is computed by the one consumer that owns its key's partition,
/// so the key of an event is the key of the state it feeds:
/// - a Video Spec track event feeds the item's video windows: the item (the first asset),
///   exactly as a pingback for that item is keyed, so both kinds of input meet in one engine;
/// - a page or screen call feeds its (kind, name) view windows: `page:<name>` / `screen:<name>`;
/// - a webinar event, and every `identify`, `alias` and `group` call, feeds the webinar state
///   of its source: `source:<source>` ([`crate::envelope::source_key`]). A webinar event without a session id is attributed
///   to a session by its user's other calls in the same source, and ids are linked by
///   identify and alias calls of that source, so all of them must meet in one engine. (Sources
///   are tenants: two write keys named as one source share that state.)
/// - anything else (other track events): `properties.session_id`, else the user, to keep one
///   user's calls in order.
pub fn partition_key(m: &Message, source: &str) -> String {
    let text = |v: Option<&Value>| match v {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let event = m.event.as_deref().unwrap_or_default();
    if m.call == CallType::Track
        && let Some(Ok(video)) = video::video_spec_events(event, &m.properties)
        && let Some(first) = video.into_iter().next()
    {
        return first.item;
    }
    let webinar = m.call == CallType::Track
        && !video::is_video_spec(event)
        && crate::webinar::WebinarEventKind::classify(event).is_some();
    match m.call {
        CallType::Page | CallType::Screen => format!("{}:{}", m.call.as_str(), m.name.as_deref().unwrap_or_default()),
        CallType::Identify | CallType::Alias | CallType::Group => crate::envelope::source_key(source),
        CallType::Track if webinar => crate::envelope::source_key(source),
        CallType::Track => text(m.properties.get("session_id"))
            .or_else(|| m.user_id.clone())
            .or_else(|| m.anonymous_id.clone())
            .unwrap_or_default(),
    }
}
