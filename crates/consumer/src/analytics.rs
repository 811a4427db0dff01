//! Analytics events in the consumer: envelope → engine input and stored rows.
//!
//! Every accepted analytics event is kept raw ([`AnalyticsRow`]); identify calls also
//! update the user's latest traits ([`UserTraits`]); webinar events and page/screen calls
//! go to the engine ([`crate::engine::webinar`]); Video Spec events go to the video engine
//! as the pingback events they mean ([`engage_model::segment::video`]). Nothing is refused
//! for being late: the collector refuses what is beyond the lateness horizon. A bot's call
//! (`context.userAgent` classified at the edge) is kept raw but never reaches a webinar or
//! page-view metric; its Video Spec events count as a bot's view.

use crate::decode::OwnedVideoEvent;
use crate::engine::{AnalyticsEvent, AnalyticsOutcome, Engine};
use engage_model::envelope::{AnalyticsBody, AnalyticsType};
use engage_model::pingback::Level;
use engage_model::segment::CallType;
use engage_model::segment::video::{VideoSpecEvent, video_spec_events};
use engage_sink::{AnalyticsRow, UserTraits};
use serde_json::{Map, Value};

const OUTCOMES: [(AnalyticsOutcome, &str); 5] = [
    (AnalyticsOutcome::Aggregated, "aggregated"),
    (AnalyticsOutcome::NoSession, "no_session"),
    (AnalyticsOutcome::NotAggregated, "not_aggregated"),
    (AnalyticsOutcome::OverCap, "over_cap"),
    (AnalyticsOutcome::Expired, "expired"),
];

/// A decoded analytics event, owning its strings.
#[derive(Clone, Debug)]
pub struct OwnedAnalytics {
    pub call: CallType,
    /// `userId`, else `anonymousId`.
    pub user: String,
    /// Its source (the envelope's `source`: the name of its write key).
    pub source: String,
    pub user_id: Option<String>,
    pub anonymous_id: Option<String>,
    pub previous_id: Option<String>,
    pub group_id: Option<String>,
    pub properties: Map<String, Value>,
    pub context: Map<String, Value>,
    pub traits: Map<String, Value>,
    pub event_id: Vec<u8>,
    pub event_time_ms: i64,
    pub received_at_ms: i64,
    /// The collector's clock when it accepted the call (0 from older producers).
    pub ingested_at_ms: i64,
    /// The client's own `timestamp` (orders bridged video events of one view).
    pub client_ts_ms: i64,
    /// The viewer key of the envelope, and the previous day's (first hours of a day).
    pub viewer: u64,
    pub prev_viewer: u64,
    /// The collector classified `context.userAgent` as a bot's.
    pub bot: bool,
    /// A Video Spec event that could be bridged to pingback events.
    pub video: Option<Vec<VideoSpecEvent>>,
    /// The raw row kept for BI.
    pub row: AnalyticsRow,
}

impl OwnedAnalytics {
    pub fn as_event(&self) -> AnalyticsEvent<'_> {
        AnalyticsEvent {
            call: self.call,
            name: &self.row.name,
            source: &self.source,
            user_id: self.user_id.as_deref(),
            anonymous_id: self.anonymous_id.as_deref(),
            previous_id: self.previous_id.as_deref(),
            group_id: self.group_id.as_deref(),
            properties: &self.properties,
            context: &self.context,
            traits: &self.traits,
            event_time_ms: self.event_time_ms,
            received_at_ms: self.received_at_ms,
        }
    }
}

/// The envelope fields an analytics body comes with.
#[derive(Clone, Debug)]
pub struct Meta {
    pub event_id: Vec<u8>,
    pub received_at_ms: i64,
    pub event_time_ms: i64,
    pub ingested_at_ms: i64,
    pub app: String,
    pub viewer: u64,
    pub prev_viewer: u64,
    pub bot: bool,
}

/// Decodes an `Analytics` body, or says why it is not a valid one.
pub fn decode(a: AnalyticsBody, meta: Meta) -> Result<OwnedAnalytics, String> {
    let call = AnalyticsType::try_from(a.r#type)
        .ok()
        .and_then(AnalyticsType::call)
        .ok_or_else(|| format!("unknown analytics type {}", a.r#type))?;
    let user = if a.user_id.is_empty() { a.anonymous_id.clone() } else { a.user_id.clone() };
    if user.is_empty() {
        return Err("analytics event without userId or anonymousId".into());
    }
    let object = |json: &str, what: &str| -> Result<Map<String, Value>, String> {
        serde_json::from_str(json).map_err(|e| format!("{what} are not a JSON object: {e}"))
    };
    let properties = object(&a.properties_json, "properties")?;
    let context = object(&a.context_json, "context")?;
    let traits = object(&a.traits_json, "traits")?;
    let some = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    let text = |k: &str| match properties.get(k) {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let name = if call == CallType::Track { a.event.clone() } else { a.name.clone() };
    let session_id = text("session_id");
    // A Video Spec event missing its asset or position is kept raw, not bridged.
    let video = (call == CallType::Track).then(|| video_spec_events(&name, &properties)).flatten().and_then(Result::ok);
    Ok(OwnedAnalytics {
        viewer: meta.viewer,
        prev_viewer: meta.prev_viewer,
        bot: meta.bot,
        ingested_at_ms: meta.ingested_at_ms,
        client_ts_ms: a.original_timestamp_ms.unwrap_or(meta.event_time_ms),
        video,
        call,
        user,
        source: a.source.clone(),
        user_id: some(&a.user_id),
        anonymous_id: some(&a.anonymous_id),
        previous_id: some(&a.previous_id),
        group_id: some(&a.group_id),
        context,
        traits,
        event_id: meta.event_id.clone(),
        event_time_ms: meta.event_time_ms,
        received_at_ms: meta.received_at_ms,
        row: AnalyticsRow {
            event_id: meta.event_id,
            source: a.source.clone(),
            received_at_ms: meta.received_at_ms,
            event_time_ms: meta.event_time_ms,
            call: call.as_str().into(),
            user_id: a.user_id,
            anonymous_id: a.anonymous_id,
            name,
            properties_json: a.properties_json,
            traits_json: a.traits_json,
            context_json: a.context_json,
            message_id: a.message_id,
            app: meta.app,
            session_id: session_id.unwrap_or_default(),
        },
        properties,
    })
}

/// Analytics results awaiting the next commit.
#[derive(Debug, Default)]
pub struct PendingAnalytics {
    pub events: Vec<AnalyticsRow>,
    pub traits: Vec<UserTraits>,
    outcomes: [u64; 5],
    /// Bots' calls other than Video Spec events: kept raw, aggregated nowhere.
    bots: u64,
}

/// The video events a Video Spec call stands for (none for other calls, or for an ad or
/// buffering event).
pub fn bridged_video(a: &OwnedAnalytics) -> Vec<OwnedVideoEvent> {
    let Some(events) = &a.video else { return Vec::new() };
    let app = if a.row.app.is_empty() { "unknown" } else { a.row.app.as_str() };
    events.iter().map(|v| video_event(a, v, app)).collect()
}

fn video_event(a: &OwnedAnalytics, v: &VideoSpecEvent, app: &str) -> OwnedVideoEvent {
    OwnedVideoEvent {
        item: v.item.clone(),
        app: app.to_owned(),
        viewer: a.viewer,
        prev_viewer: a.prev_viewer,
        view_id: v.view_id.clone(),
        kind: v.kind,
        level: Level::Two,
        progress: v.progress,
        client_ts_ms: a.client_ts_ms,
        event_time_ms: a.event_time_ms,
        ingested_at_ms: a.ingested_at_ms,
        bot: a.bot,
    }
}

/// Feeds one event to the webinar engine and collects what must be stored. A Video Spec
/// call is not: the caller recorded its video events ([`bridged_video`]) already.
pub fn apply(engine: &mut Engine, a: OwnedAnalytics, pending: &mut PendingAnalytics) {
    let outcome = match &a.video {
        Some(events) if events.is_empty() => Some(AnalyticsOutcome::NotAggregated),
        Some(_) => Some(AnalyticsOutcome::Aggregated),
        None if a.bot => None,
        None => Some(engine.record_analytics(&a.as_event())),
    };
    match outcome {
        None => pending.bots += 1,
        Some(outcome) => {
            if let Some(i) = OUTCOMES.iter().position(|(o, _)| *o == outcome) {
                pending.outcomes[i] += 1;
            }
        }
    }
    if a.call == CallType::Identify {
        pending.traits.push(UserTraits {
            source: a.source.clone(),
            user_key: a.user.clone(),
            user_id: a.row.user_id.clone(),
            anonymous_id: a.row.anonymous_id.clone(),
            traits_json: a.row.traits_json.clone(),
            updated_at_ms: a.event_time_ms,
            event_id: a.event_id.clone(),
        });
    }
    pending.events.push(a.row);
}

/// Emits the per-commit analytics counters.
pub fn record_metrics(pending: &PendingAnalytics) {
    for ((_, label), n) in OUTCOMES.iter().zip(&pending.outcomes) {
        if *n > 0 {
            metrics::counter!(crate::metrics::ANALYTICS_EVENTS, "outcome" => *label).increment(*n);
        }
    }
    if pending.bots > 0 {
        metrics::counter!(crate::metrics::ANALYTICS_EVENTS, "outcome" => "bot").increment(pending.bots);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{Decoded, decode};
    use crate::engine::EngineConfig;
    use engage_model::segment::envelope::{AnalyticsReceived, analytics_event};
    use engage_model::segment::parse_message;
    use prost::Message as _;
    use serde_json::json;

    const T0: i64 = 1_714_564_800_000;

    fn envelope(body: Value, at: i64, id: &str) -> Vec<u8> {
        envelope_of(body, at, id, false)
    }

    fn envelope_of(body: Value, at: i64, id: &str, bot: bool) -> Vec<u8> {
        let m = parse_message(body, None).expect("valid call");
        let ctx = AnalyticsReceived {
            received_at_ms: at,
            event_time_ms: at,
            viewer_key: 7,
            prev_viewer_key: 0,
            ingested_at_ms: at,
            app_key: "Acme/Player",
            app_version: "1",
            user_agent: "Acme/Player 1",
            source: "k",
            bot,
        };
        analytics_event(&m, id, &ctx).encode_to_vec()
    }

    fn feed(engine: &mut Engine, pending: &mut PendingAnalytics, payload: &[u8]) {
        let Decoded::Analytics(a) = decode(payload) else { panic!("not analytics") };
        for ev in bridged_video(&a) {
            assert_ne!(engine.record(&ev.as_video_event()), crate::engine::Outcome::NeedsArchive);
        }
        apply(engine, *a, pending);
    }

    #[test]
    fn video_spec_events_feed_the_video_engine() {
        let mut engine = Engine::new(EngineConfig::default());
        let mut pending = PendingAnalytics::default();
        let video = |name: &str, position: u32| {
            json!({"type": "track", "userId": "u", "event": name, "properties": {
                "content_asset_id": "asset-1", "asset_id": "asset-1", "session_id": "play-1", "position": position,
                "total_length": 100}})
        };
        let calls = [
            video("Video Playback Started", 0),
            video("Video Content Started", 0),
            video("Video Content Playing", 50),
            video("Video Playback Paused", 60),
            video("Video Playback Resumed", 60),
            video("Video Playback Completed", 100),
        ];
        for (i, call) in calls.into_iter().enumerate() {
            feed(&mut engine, &mut pending, &envelope(call, T0 + i as i64 * 1000, &format!("m{i}")));
        }
        let windows = engine.flush();
        assert_eq!(windows.len(), 1);
        let c = &windows[0].counters;
        assert_eq!((windows[0].item.as_str(), windows[0].app.as_str()), ("asset-1", "Acme/Player"));
        assert_eq!((c.impressions, c.plays, c.engaged_plays, c.pauses, c.completions), (1, 1, 1, 1, 1));
        assert_eq!(c.retention.iter().filter(|n| **n == 1).count(), 100, "watched 0..100");
        assert_eq!(pending.events.len(), 6, "kept raw too");
    }

    #[test]
    fn identify_keeps_traits_and_every_event_is_kept_raw() {
        let mut engine = Engine::new(EngineConfig::default());
        let mut pending = PendingAnalytics::default();
        let identify = json!({"type": "identify", "userId": "u1", "traits": {"plan": "pro"}});
        feed(&mut engine, &mut pending, &envelope(identify, T0, "i1"));
        let joined = json!({"type": "track", "anonymousId": "a1", "event": "User Joined", "properties": {}});
        feed(&mut engine, &mut pending, &envelope(joined, T0, "j1"));
        assert_eq!(pending.traits.len(), 1);
        assert_eq!(
            (pending.traits[0].user_key.as_str(), pending.traits[0].traits_json.as_str()),
            ("u1", "{\"plan\":\"pro\"}")
        );
        assert_eq!(pending.events.len(), 2);
        assert_eq!(pending.outcomes, [0, 1, 1, 0, 0], "one without session id, one not aggregated");
        // an hour later, a join of an hour ago still counts: nothing is late in the consumer
        let mover = json!({"type": "track", "userId": "u", "event": "Other", "properties": {}});
        feed(&mut engine, &mut pending, &envelope(mover, T0 + 3_600_000, "x"));
        let old = json!({"type": "track", "userId": "u", "event": "User Joined", "properties": {"session_id": "s"}});
        feed(&mut engine, &mut pending, &envelope(old, T0, "old"));
        assert_eq!(pending.outcomes[0], 1);
    }

    #[test]
    fn a_bots_calls_are_kept_raw_and_count_only_as_a_bots_view() {
        let mut engine = Engine::new(EngineConfig::default());
        let mut pending = PendingAnalytics::default();
        let joined = json!({"type": "track", "userId": "u", "event": "User Joined", "properties": {"session_id": "s"}});
        feed(&mut engine, &mut pending, &envelope_of(joined, T0, "j", true));
        let started = json!({"type": "track", "userId": "u", "event": "Video Playback Started", "properties": {
            "content_asset_id": "asset-1", "session_id": "play-1", "position": 0, "total_length": 100}});
        feed(&mut engine, &mut pending, &envelope_of(started, T0, "v", true));
        assert_eq!((pending.bots, pending.outcomes), (1, [1, 0, 0, 0, 0]), "the join went nowhere");
        assert_eq!(pending.events.len(), 2, "kept raw");
        assert_eq!(engine.open_sessions(), (0, 0), "no webinar state");
        let windows = engine.flush();
        let c = &windows[0].counters;
        assert_eq!((c.impressions, c.plays, c.bot_impressions, c.bot_plays), (0, 0, 1, 0));
    }
}
