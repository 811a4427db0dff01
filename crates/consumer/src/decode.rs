//! From bus records to engine input: decoding the `RawEvent` envelope.
//!
//! Anything that does not decode as a valid envelope becomes a rejected row (reason
//! `undecodable`) instead of stopping the partition or vanishing; rejections published by
//! the collector become rejected rows as they are.

use crate::engine::VideoEvent;
use engage_model::envelope::{self, Body, RawEvent};
use engage_model::pingback::{EventKind, Level};
use engage_model::reject::RejectReason;
use engage_sink::RejectedRow;
use prost::Message;

/// A decoded video event, owning its strings.
#[derive(Clone, Debug)]
pub struct OwnedVideoEvent {
    pub item: String,
    pub app: String,
    pub viewer: u64,
    /// The viewer key under the previous day's salt (first hours of a UTC day), else 0.
    pub prev_viewer: u64,
    pub view_id: Option<String>,
    pub kind: EventKind,
    pub level: Level,
    pub progress: u8,
    /// The player's `ts`.
    pub client_ts_ms: i64,
    /// Edge time.
    pub event_time_ms: i64,
    /// The collector's clock when it accepted the event (0 from older producers).
    pub ingested_at_ms: i64,
    /// The collector classified the sender as a bot (counted apart).
    pub bot: bool,
}

impl OwnedVideoEvent {
    pub fn as_video_event(&self) -> VideoEvent<'_> {
        VideoEvent {
            item: &self.item,
            app: &self.app,
            viewer: self.viewer,
            prev_viewer: self.prev_viewer,
            view_id: self.view_id.as_deref(),
            kind: self.kind,
            level: self.level,
            progress: self.progress,
            client_ts_ms: self.client_ts_ms,
            event_time_ms: self.event_time_ms,
            ingested_at_ms: self.ingested_at_ms,
            bot: self.bot,
        }
    }
}

/// What one bus record is.
#[derive(Debug)]
pub enum Decoded {
    Video(OwnedVideoEvent),
    Analytics(Box<crate::analytics::OwnedAnalytics>),
    Rejected(RejectedRow),
    Undecodable(RejectedRow),
    /// An erasure request: the ids of one source to forget ([`engage_sink::Erasure`], ids
    /// not yet extended by the ids linked to them).
    Erasure(engage_sink::Erasure),
}

/// Longest prefix of an undecodable payload kept (hex-encoded) for inspection.
const MAX_UNDECODABLE_KEPT: usize = 1024;

pub fn decode(payload: &[u8]) -> Decoded {
    let ev = match RawEvent::decode(payload) {
        Ok(ev) => ev,
        Err(e) => return undecodable(payload, 0, &format!("not a RawEvent: {e}")),
    };
    match ev.body {
        Some(Body::Pingback(pb)) => match pb.validated() {
            Ok((kind, level, progress)) => {
                let app = ev.app.map(|a| a.key).filter(|k| !k.is_empty()).unwrap_or_else(|| "unknown".into());
                let view_id = (!pb.view_id.is_empty()).then_some(pb.view_id);
                Decoded::Video(OwnedVideoEvent {
                    item: pb.item,
                    app,
                    viewer: ev.viewer_key,
                    prev_viewer: ev.prev_viewer_key,
                    view_id,
                    kind,
                    level,
                    progress,
                    client_ts_ms: pb.client_ts_ms,
                    event_time_ms: ev.event_time_ms,
                    ingested_at_ms: ev.ingested_at_ms,
                    bot: ev.bot,
                })
            }
            Err(why) => undecodable(payload, ev.received_at_ms, &format!("invalid pingback body: {why}")),
        },
        Some(Body::Analytics(a)) => {
            let app = ev.app.map(|a| a.key).unwrap_or_default();
            let meta = crate::analytics::Meta {
                event_id: ev.event_id,
                received_at_ms: ev.received_at_ms,
                event_time_ms: ev.event_time_ms,
                ingested_at_ms: ev.ingested_at_ms,
                app,
                viewer: ev.viewer_key,
                prev_viewer: ev.prev_viewer_key,
                bot: ev.bot,
            };
            match crate::analytics::decode(a, meta) {
                Ok(a) => Decoded::Analytics(Box::new(a)),
                Err(why) => undecodable(payload, ev.received_at_ms, &format!("invalid analytics body: {why}")),
            }
        }
        Some(Body::Rejected(r)) => Decoded::Rejected(RejectedRow {
            event_id: ev.event_id,
            received_at_ms: ev.received_at_ms,
            route: r.route,
            reason_code: r.reason_code,
            reason: r.reason,
            input: r.input,
            truncated: r.truncated,
        }),
        Some(Body::Erasure(e)) => {
            let mut ids: Vec<String> =
                e.user_ids.into_iter().chain(e.anonymous_ids).filter(|i| !i.is_empty()).collect();
            ids.sort_unstable();
            ids.dedup();
            if e.source.is_empty() || ids.is_empty() {
                return undecodable(payload, ev.received_at_ms, "erasure without a source or an id");
            }
            Decoded::Erasure(engage_sink::Erasure { source: e.source, ids })
        }
        None => undecodable(payload, ev.received_at_ms, "envelope without a body"),
    }
}

fn undecodable(payload: &[u8], received_at_ms: i64, why: &str) -> Decoded {
    let kept = &payload[..payload.len().min(MAX_UNDECODABLE_KEPT)];
    let input: String = kept.iter().map(|b| format!("{b:02x}")).collect();
    Decoded::Undecodable(RejectedRow {
        event_id: envelope::event_id(&[b"undecodable", payload]),
        received_at_ms,
        route: "bus".into(),
        reason_code: RejectReason::Undecodable.as_str().into(),
        reason: why.into(),
        input,
        truncated: kept.len() < payload.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use engage_model::envelope::{Received, Source, pingback_event, rejected_event};
    use engage_model::pingback::parse_query;
    use engage_model::redact::Excerpt;

    #[test]
    fn pingbacks_decode_to_video_events() {
        let p = parse_query("item=X&ts=5&il=2&progress=30&event=update&vid=v1").expect("valid");
        let ctx = Received {
            received_at_ms: 10,
            event_time_ms: 5,
            viewer_key: 9,
            prev_viewer_key: 0,
            ingested_at_ms: 10,
            app_key: "",
            app_version: "",
            user_agent: "",
            source: Source::Pingback,
            bot: false,
        };
        let Decoded::Video(event) = decode(&pingback_event(&p, &ctx).encode_to_vec()) else { panic!("not video") };
        assert_eq!((event.item.as_str(), event.app.as_str(), event.view_id.as_deref()), ("X", "unknown", Some("v1")));
        assert_eq!((event.kind, event.level, event.progress, event.viewer), (EventKind::Update, Level::Two, 30, 9));
    }

    #[test]
    fn rejections_pass_through_and_garbage_is_kept_not_dropped() {
        let r = rejected_event(
            1,
            "/ping/dot.gif",
            "missing_item",
            "parameter `item` is required",
            &Excerpt::of_query("ts=1"),
        );
        let Decoded::Rejected(row) = decode(&r.encode_to_vec()) else { panic!("not a rejection") };
        assert_eq!((row.reason_code.as_str(), row.input.as_str()), ("missing_item", "ts=1"));
        let Decoded::Undecodable(row) = decode(&[0xff, 0xff, 0xff]) else { panic!("garbage decoded") };
        assert_eq!(row.reason_code, "undecodable");
        assert_eq!(row.input, "ffffff");
        // deterministic ids: a replay inserts the same row, not a second one
        let Decoded::Undecodable(again) = decode(&[0xff, 0xff, 0xff]) else { panic!() };
        assert_eq!(row.event_id, again.event_id);
    }
}
