//! The Segment Video Spec bridge: video track events → the pingback events of the video engine.
//!
//! Players instrumented for Segment send `Video Playback Started`, `Video Playback Paused`,
//! `Video Playback Resumed`, `Video Playback Seek Started` / `Seek Completed`,
//! `Video Playback Completed`, `Video Playback Exited` and the `Video Content Playing`
//! heartbeat, with `position` and `total_length` in seconds. They become the level-2 pingback
//! events with the same meaning, on the item `content_asset_id`, the view being the Video
//! Spec's playback `session_id`; the percent position is `position / total_length`. So the
//! same per-item metrics (plays, retention, seeks, completions) come out of either protocol.
//!
//! | Video Spec event | pingback events |
//! | --- | --- |
//! | Video Playback Started | `initialized`, then `firstplay` at the position |
//! | Video Content Playing | `update` |
//! | Video Playback Paused / Resumed | `pause` / `resume` |
//! | Video Playback Seek Started / Completed | `seekfrom` / `seekto` (`seek_position`, else `position`) |
//! | Video Playback Completed, Video Content Completed | `stop` at 100 |
//! | Video Playback Exited | `stop` at the position |

use crate::pingback::EventKind;
use serde_json::{Map, Value};

/// One Video Spec event, as pingback events on an item.
#[derive(Clone, Debug, PartialEq)]
pub struct VideoSpecEvent {
    /// `content_asset_id`.
    pub item: String,
    /// The playback `session_id`, the view id (None: the viewer's view of the item).
    pub view_id: Option<String>,
    /// The pingback events, in order, all at `progress`.
    pub kinds: Vec<EventKind>,
    /// Percent, 0..=100.
    pub progress: u8,
}

/// Why a Video Spec event cannot be bridged (it is still kept raw).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum VideoSpecError {
    #[error("`content_asset_id` is required")]
    MissingAsset,
    #[error("`position` and a positive `total_length` are required")]
    MissingPosition,
}

/// The pingback events of a track event `name`, or None when it is not a Video Spec event.
pub fn video_spec_event(name: &str, properties: &Map<String, Value>) -> Option<Result<VideoSpecEvent, VideoSpecError>> {
    let name = name.trim();
    let is = |n: &str| name.eq_ignore_ascii_case(n);
    let (kinds, position_field, at_end): (&[EventKind], &str, bool) = if is("Video Playback Started") {
        (&[EventKind::Initialized, EventKind::Firstplay], "position", false)
    } else if is("Video Content Playing") {
        (&[EventKind::Update], "position", false)
    } else if is("Video Playback Paused") {
        (&[EventKind::Pause], "position", false)
    } else if is("Video Playback Resumed") {
        (&[EventKind::Resume], "position", false)
    } else if is("Video Playback Seek Started") {
        (&[EventKind::Seekfrom], "position", false)
    } else if is("Video Playback Seek Completed") {
        (&[EventKind::Seekto], "seek_position", false)
    } else if is("Video Playback Completed") || is("Video Content Completed") {
        (&[EventKind::Stop], "position", true)
    } else if is("Video Playback Exited") {
        (&[EventKind::Stop], "position", false)
    } else {
        return None;
    };
    Some(bridge(properties, kinds, position_field, at_end))
}

fn bridge(
    p: &Map<String, Value>,
    kinds: &[EventKind],
    position_field: &str,
    at_end: bool,
) -> Result<VideoSpecEvent, VideoSpecError> {
    let text = |v: Option<&Value>| match v {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let item = text(p.get("content_asset_id"))
        .or_else(|| p.get("content_asset_ids").and_then(Value::as_array).and_then(|a| text(a.first())))
        .ok_or(VideoSpecError::MissingAsset)?;
    let progress = if at_end {
        100
    } else {
        let position = p.get(position_field).or_else(|| p.get("position")).and_then(Value::as_f64);
        let total = p.get("total_length").and_then(Value::as_f64).filter(|t| *t > 0.0);
        match (position, total) {
            (Some(pos), Some(total)) => (pos / total * 100.0).floor().clamp(0.0, 100.0) as u8,
            _ => return Err(VideoSpecError::MissingPosition),
        }
    };
    Ok(VideoSpecEvent { item, view_id: text(p.get("session_id")), kinds: kinds.to_vec(), progress })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn props(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn video_spec_events_map_to_pingback_events() {
        let p = props(json!({"content_asset_id": "a1", "session_id": "v1", "position": 30, "total_length": 120}));
        let started = video_spec_event("Video Playback Started", &p).expect("video").expect("valid");
        assert_eq!(started.kinds, vec![EventKind::Initialized, EventKind::Firstplay]);
        assert_eq!((started.item.as_str(), started.view_id.as_deref(), started.progress), ("a1", Some("v1"), 25));
        let playing = video_spec_event("video content playing", &p).expect("video").expect("valid");
        assert_eq!(playing.kinds, vec![EventKind::Update]);
        let seek = props(json!({"content_asset_id": "a1", "position": 30, "seek_position": 90, "total_length": 120}));
        assert_eq!(video_spec_event("Video Playback Seek Completed", &seek).expect("v").expect("ok").progress, 75);
        assert_eq!(video_spec_event("Video Playback Seek Started", &seek).expect("v").expect("ok").progress, 25);
        let done = props(json!({"content_asset_id": "a1"}));
        let completed = video_spec_event("Video Playback Completed", &done).expect("v").expect("ok");
        assert_eq!((completed.kinds, completed.progress), (vec![EventKind::Stop], 100));
        let over = props(json!({"content_asset_id": "a1", "position": 500, "total_length": 120}));
        assert_eq!(video_spec_event("Video Playback Exited", &over).expect("v").expect("ok").progress, 100);
    }

    #[test]
    fn other_events_and_incomplete_ones() {
        assert_eq!(video_spec_event("User Joined", &Map::new()), None);
        let no_asset = props(json!({"position": 1, "total_length": 2}));
        assert_eq!(video_spec_event("Video Playback Paused", &no_asset), Some(Err(VideoSpecError::MissingAsset)));
        let no_length = props(json!({"content_asset_ids": ["a2"], "position": 1}));
        assert_eq!(video_spec_event("Video Playback Paused", &no_length), Some(Err(VideoSpecError::MissingPosition)));
    }
}
