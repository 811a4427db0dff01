//! The Video Spec bridge on Segment's own example lifecycle, playlists, pods and ads.

use super::*;
use serde_json::json;

fn props(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

/// The bridged events as (item, view id, kind, progress).
fn bridged(name: &str, p: Value) -> Vec<(String, Option<String>, EventKind, u8)> {
    let events = video_spec_events(name, &props(p)).expect("a Video Spec event").expect("bridged");
    events.into_iter().map(|e| (e.item, e.view_id, e.kind, e.progress)).collect()
}

fn one(item: &str, kind: EventKind, progress: u8) -> Vec<(String, Option<String>, EventKind, u8)> {
    vec![(item.to_string(), Some(format!("12345/{item}")), kind, progress)]
}

fn content(position: u32, pod: &str) -> Value {
    json!({"session_id": "12345", "asset_id": "0129370", "pod_id": pod, "position": position, "total_length": 360,
           "title": "Interview with Tony Robbins"})
}

fn ad(name_position: u32, pod: &str) -> Value {
    json!({"session_id": "12345", "asset_id": "ad123", "pod_id": pod, "type": "mid-roll", "position": name_position,
           "total_length": 21})
}

/// Segment's "Example event lifecycle": play, content, heartbeats, pause/resume, a mid-roll ad,
/// the second pod to the end, a post-roll, and a playback completion without an asset.
#[test]
fn segments_example_lifecycle() {
    use EventKind::*;
    let started = json!({"session_id": "12345", "content_asset_ids": ["0129370"], "content_pod_ids": ["segA", "segB"],
        "ad_asset_ids": ["ad123", "ad097"], "position": 0, "total_length": 392});
    assert_eq!(bridged("Video Playback Started", started), one("0129370", Initialized, 0));
    assert_eq!(bridged("Video Content Started", content(0, "segA")), one("0129370", Firstplay, 0));
    assert_eq!(bridged("Video Content Playing", content(10, "segA")), one("0129370", Update, 2));
    assert_eq!(bridged("Video Content Playing", content(20, "segA")), one("0129370", Update, 5));
    let paused = json!({"session_id": "12345", "content_asset_id": "0129370", "content_pod_id": "segA",
        "ad_asset_id": null, "position": 21, "total_length": 392});
    assert_eq!(bridged("Video Playback Paused", paused.clone()), one("0129370", Pause, 5));
    assert_eq!(bridged("Video Playback Resumed", paused), one("0129370", Resume, 5));
    // the mid-roll: nothing, whatever its position
    for name in ["Video Ad Started", "Video Ad Playing", "Video Ad Completed"] {
        assert_eq!(bridged(name, ad(10, "adSegA")), vec![], "{name}");
    }
    assert_eq!(bridged("Video Content Playing", content(31, "segB")), one("0129370", Update, 8));
    // the end of the asset: a completion
    assert_eq!(bridged("Video Content Completed", content(360, "segB")), one("0129370", Stop, 100));
    assert_eq!(bridged("Video Ad Started", ad(0, "adSegB")), vec![]);
    // Segment's own example completes the playback with `content_asset_id: null`: nothing to
    // attach it to; the content completion above already counted.
    let done = json!({"session_id": "12345", "content_asset_id": null, "ad_asset_id": "ad907", "position": 392,
        "total_length": 392});
    assert_eq!(video_spec_events("Video Playback Completed", &props(done)), Some(Err(VideoSpecError::MissingAsset)));
}

#[test]
fn the_end_of_a_pod_is_not_a_completion() {
    // a content pod cut by a mid-roll at 3 minutes of 6
    assert_eq!(bridged("Video Content Completed", content(180, "segA")), one("0129370", EventKind::Update, 50));
    // within the tolerance of the end: complete; a second short is not
    assert_eq!(bridged("Video Content Playing", content(359, "segB")), one("0129370", EventKind::Stop, 100));
    assert_eq!(bridged("Video Content Completed", content(358, "segB")), one("0129370", EventKind::Update, 99));
    // past the end (rounding): complete
    assert_eq!(bridged("Video Content Playing", content(361, "segB")), one("0129370", EventKind::Stop, 100));
    let completed = json!({"session_id": "12345", "content_asset_id": "0129370", "position": 100, "total_length": 392});
    assert_eq!(bridged("Video Playback Completed", completed), one("0129370", EventKind::Stop, 100));
}

#[test]
fn every_asset_of_a_playlist_is_its_own_view() {
    use EventKind::*;
    let started = json!({"session_id": "p1", "content_asset_ids": ["a1", "a2", "a2", ""], "position": 0,
        "total_length": 600});
    let view = |a: &str| Some(format!("p1/{a}"));
    assert_eq!(
        bridged("Video Playback Started", started),
        vec![("a1".into(), view("a1"), Initialized, 0), ("a2".into(), view("a2"), Initialized, 0)]
    );
    let a2 = json!({"session_id": "p1", "asset_id": "a2", "position": 30, "total_length": 300});
    assert_eq!(bridged("Video Content Started", a2), vec![("a2".into(), view("a2"), Firstplay, 10)]);
    // a playback event without the singular form: the last asset of the list
    let exited = json!({"session_id": "p1", "content_asset_ids": ["a1", "a2"], "position": 450, "total_length": 600});
    assert_eq!(bridged("Video Playback Exited", exited), vec![("a2".into(), view("a2"), Stop, 75)]);
    // without a session id: the viewer's view of the item
    let lone = json!({"content_asset_id": 7, "position": 0, "total_length": 10});
    assert_eq!(bridged("video playback seek started", lone), vec![("7".into(), None, Seekfrom, 0)]);
}

#[test]
fn seeks_interruptions_and_buffering() {
    use EventKind::*;
    let p = |v: Value| v;
    let seek = p(json!({"session_id": "12345", "content_asset_id": "0129370", "position": 278, "seek_position": 320,
        "total_length": 392}));
    assert_eq!(bridged("Video Playback Seek Started", seek), one("0129370", Seekfrom, 70));
    // Seek Completed carries the target in `position`; `seek_position` only when it is missing
    let landed = json!({"session_id": "12345", "content_asset_id": "0129370", "position": 320, "total_length": 392});
    assert_eq!(bridged("Video Playback Seek Completed", landed), one("0129370", Seekto, 81));
    let target_only =
        json!({"session_id": "12345", "content_asset_id": "0129370", "seek_position": 196, "total_length": 392});
    assert_eq!(bridged("Video Playback Seek Completed", target_only), one("0129370", Seekto, 50));
    let interrupted = json!({"session_id": "12345", "content_asset_id": "0129370", "position": 40,
        "total_length": 392, "method": "network loss"});
    assert_eq!(bridged("Video Playback Interrupted", interrupted), one("0129370", Pause, 10));
    for name in [
        "Video Playback Buffer Started",
        "Video Playback Buffer Completed",
        "Video Quality Updated",
        "Video Ad Skipped",
    ] {
        assert_eq!(bridged(name, json!({})), vec![], "{name}");
    }
}

#[test]
fn other_events_and_incomplete_ones() {
    assert_eq!(video_spec_events("User Joined", &Map::new()), None);
    assert!(!is_video_spec("Session Started"));
    assert!(is_video_spec(" video content playing "));
    let no_asset = props(json!({"position": 1, "total_length": 2}));
    assert_eq!(video_spec_events("Video Playback Paused", &no_asset), Some(Err(VideoSpecError::MissingAsset)));
    assert_eq!(video_spec_events("Video Playback Started", &no_asset), Some(Err(VideoSpecError::MissingAsset)));
    // content events name the asset in `asset_id`, not `content_asset_id`
    let playback_style = props(json!({"content_asset_id": "a", "position": 1, "total_length": 2}));
    assert_eq!(
        video_spec_events("Video Content Playing", &playback_style),
        Some(Err(VideoSpecError::MissingContentAsset))
    );
    let no_length = props(json!({"content_asset_ids": ["a2"], "position": 1}));
    assert_eq!(video_spec_events("Video Playback Paused", &no_length), Some(Err(VideoSpecError::MissingPosition)));
    let live = props(json!({"asset_id": "live-1", "position": 5, "total_length": null, "livestream": true}));
    assert_eq!(video_spec_events("Video Content Playing", &live), Some(Err(VideoSpecError::MissingPosition)));
    // a livestream still counts its play
    assert_eq!(
        bridged("Video Content Started", json!({"asset_id": "live-1", "livestream": true})),
        vec![("live-1".into(), None, EventKind::Firstplay, 0)]
    );
}
