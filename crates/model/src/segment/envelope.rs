//! A validated [`Message`] → the `Analytics` body of the wire envelope.
//!
//! The event id is a keyed hash of (source, `messageId`): a retried delivery of one call (same
//! source, same message id) always gets the same id, so the consumer's dedup stage counts
//! it once. A call without a `messageId` gets one derived from its body
//! ([`generated_message_id`]), so an identical retry still gets the same id.

use super::{CallType, Message};
use crate::envelope::{AnalyticsBody, AnalyticsType, App, Body, RawEvent, Source, event_id};
use serde_json::{Map, Value};

impl From<CallType> for AnalyticsType {
    fn from(c: CallType) -> Self {
        match c {
            CallType::Track => Self::Track,
            CallType::Identify => Self::Identify,
            CallType::Page => Self::Page,
            CallType::Screen => Self::Screen,
            CallType::Group => Self::Group,
            CallType::Alias => Self::Alias,
        }
    }
}

impl AnalyticsType {
    /// The model's call type; `None` for the unspecified value of an unknown producer.
    pub fn call(self) -> Option<CallType> {
        Some(match self {
            Self::Unspecified => return None,
            Self::Track => CallType::Track,
            Self::Identify => CallType::Identify,
            Self::Page => CallType::Page,
            Self::Screen => CallType::Screen,
            Self::Group => CallType::Group,
            Self::Alias => CallType::Alias,
        })
    }
}

/// What the collector knows about a call besides the message.
#[derive(Clone, Debug)]
pub struct AnalyticsReceived<'a> {
    pub received_at_ms: i64,
    /// The event time: `timestamp` corrected by `sentAt` (see [`Message::event_time`]).
    pub event_time_ms: i64,
    /// The viewer key of the UTC day of `event_time_ms`.
    pub viewer_key: u64,
    /// The viewer key under the previous day's salt, in the first hours of a UTC day (else 0).
    pub prev_viewer_key: u64,
    /// The collector's own clock when it accepted the call.
    pub ingested_at_ms: i64,
    pub app_key: &'a str,
    pub app_version: &'a str,
    pub user_agent: &'a str,
    /// Its source (the name its write key has): part of the event id.
    pub source: &'a str,
    /// `context.userAgent` is a bot's ([`crate::bot::is_bot`]); never the sending library's
    /// own User-Agent.
    pub bot: bool,
}

/// A message id derived from the call's JSON (32 hex digits): identical bodies, identical ids.
pub fn generated_message_id(body: &[u8]) -> String {
    hex(&event_id(&[b"segment.message", body]))
}

/// Builds the envelope of a validated call. `message_id` is the client's, or
/// [`generated_message_id`] when it sent none.
pub fn analytics_event(m: &Message, message_id: &str, ctx: &AnalyticsReceived<'_>) -> RawEvent {
    let id = event_id(&[b"analytics", ctx.source.as_bytes(), message_id.as_bytes()]);
    let mut context = m.context.clone();
    // The raw IP never leaves the collector: it is only an input of the viewer key.
    context.remove("ip");
    RawEvent {
        event_id: id,
        received_at_ms: ctx.received_at_ms,
        event_time_ms: ctx.event_time_ms,
        source: Source::Analytics as i32,
        viewer_key: ctx.viewer_key,
        app: Some(App { key: ctx.app_key.into(), version: ctx.app_version.into(), user_agent: ctx.user_agent.into() }),
        ingested_at_ms: ctx.ingested_at_ms,
        prev_viewer_key: ctx.prev_viewer_key,
        bot: ctx.bot,
        body: Some(Body::Analytics(AnalyticsBody {
            r#type: AnalyticsType::from(m.call) as i32,
            user_id: m.user_id.clone().unwrap_or_default(),
            anonymous_id: m.anonymous_id.clone().unwrap_or_default(),
            event: m.event.clone().unwrap_or_default(),
            name: m.name.clone().unwrap_or_default(),
            properties_json: json(&m.properties),
            traits_json: json(&m.traits),
            context_json: json(&context),
            message_id: message_id.into(),
            sent_at_ms: m.sent_at_ms,
            original_timestamp_ms: m.timestamp_ms,
            group_id: m.group_id.clone().unwrap_or_default(),
            previous_id: m.previous_id.clone().unwrap_or_default(),
            source: ctx.source.into(),
        })),
    }
}

fn json(m: &Map<String, Value>) -> String {
    // Serializing a map of JSON values cannot fail.
    serde_json::to_string(m).unwrap_or_else(|_| "{}".into())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
