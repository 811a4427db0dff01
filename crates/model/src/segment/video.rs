//! The Segment Video Spec bridge: video track events → the pingback events of the video engine.
//!
//! Segment's Video Spec has three families of events, and they mean different things:
//! - **Playback** events describe the player session (`session_id`): started, paused,
//!   resumed, seeks, buffering, interrupted, completed, exited. They name the asset playing
//!   (`content_asset_id`; `Video Playback Started` lists every asset of the playback in
//!   `content_asset_ids`). They drive a view's lifecycle.
//! - **Content** events describe one content pod of one asset (`asset_id`): started, the
//!   `Video Content Playing` heartbeat (every 10 s), completed. Their `position` and
//!   `total_length` are the asset's own, ads excluded. They drive progress.
//! - **Ad** events describe ads. Ad time is not content: an ad's `position` is inside the ad.
//!
//! Each asset of a playback is its own view: the view id is the playback `session_id` and the
//! asset (`<session_id>/<asset>`), on the item of the asset. One Segment event may become
//! several pingback events (one per asset for `Video Playback Started`), or none.
//!
//! | Video Spec event | pingback events, per asset |
//! | --- | --- |
//! | Video Playback Started | `initialized` for every asset of `content_asset_ids` (else `content_asset_id`) |
//! | Video Content Started | `firstplay` at the content position (0 for a livestream) |
//! | Video Content Playing | `update` at the content position |
//! | Video Content Completed | `update` at the content position: the end of a *pod*, e.g. before a mid-roll |
//! | Video Playback Paused / Resumed | `pause` / `resume` |
//! | Video Playback Seek Started | `seekfrom` at `position` |
//! | Video Playback Seek Completed | `seekto` at `position` (the target, per the spec), else `seek_position` |
//! | Video Playback Interrupted | `pause`: if nothing follows, the view is abandoned at the timeout |
//! | Video Playback Completed | `stop` at 100 (a completion) |
//! | Video Playback Exited | `stop` at the position |
//! | Video Playback Buffer Started / Completed, Video Ad *, Video Quality Updated | nothing |
//!
//! Completion: `Video Playback Completed`, or a content event whose position reached the end
//! of the asset (`position >= total_length - COMPLETION_TOLERANCE_SECONDS`: players report
//! whole seconds and the last heartbeat may round down), which becomes `stop` at 100 instead.
//! A `Video Content Completed` before the end (a pod cut by a mid-roll) is progress, not a
//! completion. A second content pod's `Video Content Started` repeats the view's `firstplay`:
//! the engine counts it as a duplicate, and the position carries on from the first pod's end.
//!
//! Identifiers: every asset id is an item id and the playback `session_id` a view id; both
//! obey their rule ([`crate::ids`]) exactly as a pingback's `item` and `vid` do. A Video Spec
//! event naming an invalid one is [`VideoSpecError::InvalidId`]: the collector refuses it
//! (with the same reason a pingback gets), so an item that could never be sent as a pingback,
//! or asked for through the API, never reaches the rollups by this path either.
//!
//! Positions: content events carry the asset's position; Segment defines a playback event's
//! `position` and `total_length` over the whole playback, ads seen included, so their percent
//! matches the asset's only for a single asset without ads. They are used as given for
//! pauses, resumes, seeks and exits (there is nothing better in the event), and the next
//! heartbeat brings the view back to the content position. Ads never move the position: Ad
//! events map to nothing.

use crate::ids::{self, IdError, IdKind};
use crate::pingback::EventKind;
use serde_json::{Map, Value};

/// How far (seconds) before `total_length` a content position counts as the end of the asset.
pub const COMPLETION_TOLERANCE_SECONDS: f64 = 1.0;

/// One pingback event of a Video Spec event.
#[derive(Clone, Debug, PartialEq)]
pub struct VideoSpecEvent {
    /// The asset: `content_asset_id(s)` of playback events, `asset_id` of content events.
    pub item: String,
    /// `<session_id>/<asset>`; None without a playback `session_id` (the viewer's view).
    pub view_id: Option<String>,
    pub kind: EventKind,
    /// Percent, 0..=100.
    pub progress: u8,
}

/// Why a Video Spec event cannot be bridged (it is still kept raw).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum VideoSpecError {
    #[error("`content_asset_id` (or `content_asset_ids`) is required")]
    MissingAsset,
    #[error("`asset_id` is required")]
    MissingContentAsset,
    #[error("`position` and a positive `total_length` are required")]
    MissingPosition,
    /// An asset id or playback session id that breaks its rule: refused, not kept unbridged.
    #[error("`{field}` {error}")]
    InvalidId { field: &'static str, error: IdError },
}

/// `value` (of `field`) when it obeys the rule of `kind`.
fn checked(kind: IdKind, field: &'static str, value: String) -> Result<String, VideoSpecError> {
    match ids::check(kind, &value) {
        Ok(_) => Ok(value),
        Err(error) => Err(VideoSpecError::InvalidId { field, error }),
    }
}

/// What a recognized event name becomes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mapping {
    /// `initialized` for every asset of the playback.
    PlaybackStarted,
    /// A playback event: this kind at the playback position.
    Playback(EventKind),
    /// `stop` at 100 on the current asset.
    PlaybackCompleted,
    /// Content: `firstplay` (started) or `update`, or `stop` at 100 at the end of the asset.
    Content(EventKind),
    /// Recognized, maps to nothing.
    Nothing,
}

const NAMES: [(&str, Mapping); 16] = [
    ("video playback started", Mapping::PlaybackStarted),
    ("video playback paused", Mapping::Playback(EventKind::Pause)),
    ("video playback resumed", Mapping::Playback(EventKind::Resume)),
    ("video playback interrupted", Mapping::Playback(EventKind::Pause)),
    ("video playback seek started", Mapping::Playback(EventKind::Seekfrom)),
    ("video playback seek completed", Mapping::Playback(EventKind::Seekto)),
    ("video playback exited", Mapping::Playback(EventKind::Stop)),
    ("video playback completed", Mapping::PlaybackCompleted),
    ("video playback buffer started", Mapping::Nothing),
    ("video playback buffer completed", Mapping::Nothing),
    ("video content started", Mapping::Content(EventKind::Firstplay)),
    ("video content playing", Mapping::Content(EventKind::Update)),
    ("video content completed", Mapping::Content(EventKind::Update)),
    ("video ad started", Mapping::Nothing),
    ("video ad playing", Mapping::Nothing),
    ("video ad completed", Mapping::Nothing),
];

fn mapping(name: &str) -> Option<Mapping> {
    let name = name.trim();
    if let Some((_, m)) = NAMES.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
        return Some(*m);
    }
    // Other ad events (`Video Ad Skipped`...) and the quality event carry no content progress.
    let lower = name.to_ascii_lowercase();
    (lower.starts_with("video ad ") || lower == "video quality updated").then_some(Mapping::Nothing)
}

/// Whether `name` is a Video Spec event (then it is never a webinar event, even with a
/// `session_id`: that is the playback's).
pub fn is_video_spec(name: &str) -> bool {
    mapping(name).is_some()
}

/// The pingback events of a track event `name`, or None when it is not a Video Spec event.
pub fn video_spec_events(
    name: &str,
    properties: &Map<String, Value>,
) -> Option<Result<Vec<VideoSpecEvent>, VideoSpecError>> {
    Some(bridge(mapping(name)?, properties))
}

fn text(v: Option<&Value>) -> Option<String> {
    match v {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    }
}

/// `content_asset_ids`, else `content_asset_id`, without empty entries.
fn playback_assets(p: &Map<String, Value>) -> Vec<String> {
    let mut assets: Vec<String> = match p.get("content_asset_ids") {
        Some(Value::Array(a)) => a.iter().filter_map(|v| text(Some(v))).collect(),
        other => text(other).into_iter().collect(),
    };
    if assets.is_empty() {
        assets.extend(text(p.get("content_asset_id")));
    }
    assets.dedup();
    assets
}

/// `(position, total_length)` in seconds, when both are there and the length is positive.
fn position(p: &Map<String, Value>, field: &str) -> Option<(f64, f64)> {
    let pos = p.get(field).and_then(Value::as_f64)?;
    let total = p.get("total_length").and_then(Value::as_f64).filter(|t| *t > 0.0)?;
    Some((pos, total))
}

fn percent((pos, total): (f64, f64)) -> u8 {
    (pos / total * 100.0).floor().clamp(0.0, 100.0) as u8
}

fn bridge(m: Mapping, p: &Map<String, Value>) -> Result<Vec<VideoSpecEvent>, VideoSpecError> {
    let session = text(p.get("session_id")).map(|s| checked(IdKind::ViewId, "properties.session_id", s)).transpose()?;
    let event = |item: String, kind: EventKind, progress: u8| VideoSpecEvent {
        view_id: session.as_ref().map(|s| format!("{s}/{item}")),
        item,
        kind,
        progress,
    };
    match m {
        Mapping::Nothing => Ok(Vec::new()),
        Mapping::PlaybackStarted => {
            let assets = playback_assets(p);
            if assets.is_empty() {
                return Err(VideoSpecError::MissingAsset);
            }
            let listed = matches!(p.get("content_asset_ids"), Some(Value::Array(a)) if !a.is_empty());
            let field = if listed { "properties.content_asset_ids" } else { "properties.content_asset_id" };
            assets.into_iter().map(|a| Ok(event(checked(IdKind::Item, field, a)?, EventKind::Initialized, 0))).collect()
        }
        Mapping::PlaybackCompleted => {
            // The asset playing when the playback completed: the singular form, else the last
            // of a playlist.
            let asset = text(p.get("content_asset_id")).or_else(|| playback_assets(p).pop());
            let asset =
                checked(IdKind::Item, "properties.content_asset_id", asset.ok_or(VideoSpecError::MissingAsset)?)?;
            Ok(vec![event(asset, EventKind::Stop, 100)])
        }
        Mapping::Playback(kind) => {
            let asset = text(p.get("content_asset_id"))
                .or_else(|| playback_assets(p).pop())
                .ok_or(VideoSpecError::MissingAsset)?;
            let asset = checked(IdKind::Item, "properties.content_asset_id", asset)?;
            let at = match kind {
                EventKind::Seekto => position(p, "position").or_else(|| position(p, "seek_position")),
                _ => position(p, "position"),
            };
            Ok(vec![event(asset, kind, percent(at.ok_or(VideoSpecError::MissingPosition)?))])
        }
        Mapping::Content(kind) => {
            let asset = text(p.get("asset_id")).ok_or(VideoSpecError::MissingContentAsset)?;
            let asset = checked(IdKind::Item, "properties.asset_id", asset)?;
            let at = position(p, "position");
            let ended = at.is_some_and(|(pos, total)| pos >= total - COMPLETION_TOLERANCE_SECONDS);
            Ok(vec![match (kind, at) {
                (EventKind::Firstplay, None) => event(asset, kind, 0),
                (_, None) => return Err(VideoSpecError::MissingPosition),
                (EventKind::Update, Some(_)) if ended => event(asset, EventKind::Stop, 100),
                (_, Some(at)) => event(asset, kind, percent(at)),
            }])
        }
    }
}

#[cfg(test)]
mod tests;
