//! Webinar audiences as Segment HTTP API requests: the events of a [`crate::webinar`]
//! session turned into `POST /v1/track` calls (one per event, as a browser SDK sends them)
//! or `POST /v1/batch` calls (a second's events at a time, as a server-side SDK queues
//! them), with a `messageId` per event (so a retried request counts once), `timestamp`,
//! `sentAt`, the attendee's app as `context.userAgent`, and the write key in the body.
//! Some requests are retried byte for byte; some attendees send one deliberately invalid
//! call, which the collector must refuse with the expected reason.

use crate::plan::{Call, Expect, PlanConfig, Request};
use crate::player::Chance;
use crate::webinar::{self, Audience, WebinarEvent};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Lanes of webinar sessions count down from here (viewers' lanes count up from 0).
const LANE_TOP: u32 = u32::MAX;

/// Longest batch, in events.
const MAX_BATCH: usize = 100;

/// How long a server-side SDK queues events before sending a batch, real milliseconds.
const FLUSH_MS: i64 = 1_000;

/// Kinds of deliberately invalid calls (see [`bad`] for each one's expected reason).
const BAD: [&str; 6] =
    ["missing_event", "missing_user", "properties_not_object", "bad_timestamp", "unknown_type", "invalid_json"];

/// The session id of the `index`-th webinar of a run starting at `start_ms`: unique per
/// run, so sessions of two runs against one engage never merge.
pub fn session_id(start_ms: i64, index: u32) -> String {
    format!("webinar-{:x}-{index:02}", start_ms.div_euclid(1_000))
}

/// RFC 3339 UTC with milliseconds, as Segment's SDKs write times.
pub fn iso(ms: i64) -> String {
    let t = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    t.format(&Rfc3339).unwrap_or_default()
}

/// Every request of the `index`-th webinar, launched at `launch_ms` (real ms into the run).
pub(crate) fn webinar(
    cfg: &PlanConfig,
    rng: &mut fastrand::Rng,
    index: u32,
    launch_ms: i64,
    start_ms: i64,
    out: &mut Vec<Request>,
) {
    let sid = session_id(start_ms, index);
    let attendees = ((f64::from(cfg.attendees) * (0.5 + rng.f64())).round() as u32).max(1);
    let audience = webinar::session(rng, &cfg.audience, &sid, attendees);
    let batched = rng.chance(0.5);
    let lane = LANE_TOP - index;
    let due = |at_ms: i64| launch_ms + (at_ms as f64 / cfg.speed) as i64;
    let items: Vec<(i64, Value)> = audience
        .events
        .iter()
        .enumerate()
        .map(|(seq, e)| (due(e.at_ms), item(&audience, e, &sid, seq, start_ms + due(e.at_ms))))
        .collect();
    let mut requests = Vec::new();
    if batched {
        let mut i = 0;
        while i < items.len() {
            let bucket = items[i].0.div_euclid(FLUSH_MS);
            let mut batch = Vec::new();
            while i < items.len() && items[i].0.div_euclid(FLUSH_MS) == bucket && batch.len() < MAX_BATCH {
                let mut it = items[i].1.clone();
                it["type"] = "track".into();
                batch.push(it);
                i += 1;
            }
            // Sent at the end of the second it was queued in (never before its events).
            let sent = (bucket + 1) * FLUSH_MS;
            let body = json!({"batch": batch, "sentAt": iso(start_ms + sent), "writeKey": cfg.write_key});
            requests.push((sent, "/v1/batch", body.to_string(), "engage-loadgen webinar-backend".to_owned()));
        }
    } else {
        for ((at, it), e) in items.iter().zip(&audience.events) {
            let mut body = it.clone();
            body["sentAt"] = iso(start_ms + at).into();
            body["writeKey"] = cfg.write_key.clone().into();
            let ua = audience.members[e.member].user_agent.to_owned();
            requests.push((*at, "/v1/track", body.to_string(), ua));
        }
    }
    for (due_ms, route, body, user_agent) in requests {
        let retry = rng.chance(cfg.duplicate_rate);
        let request =
            Request { due_ms, call: Call::Segment { route, body }, user_agent, lane, expect: Expect::Accepted };
        let copy = retry.then(|| Request { expect: Expect::Retry, ..request.clone() });
        out.push(request);
        out.extend(copy);
    }
    // One invalid call for some attendees, at the time of one of their events.
    for member in 1..audience.members.len() {
        if !rng.chance(cfg.bad_rate) {
            continue;
        }
        let theirs: Vec<usize> = (0..audience.events.len()).filter(|&i| audience.events[i].member == member).collect();
        if theirs.is_empty() {
            continue;
        }
        let i = theirs[rng.usize(0..theirs.len())];
        let kind = BAD[rng.usize(0..BAD.len())];
        let (route, body, reason) = bad(kind, &items[i].1, &cfg.write_key);
        let user_agent = audience.members[member].user_agent.to_owned();
        let call = Call::Segment { route, body };
        out.push(Request { due_ms: items[i].0, call, user_agent, lane, expect: Expect::Rejected(reason) });
    }
}

/// One track call (without `type`, `sentAt` and `writeKey`, which depend on the delivery).
fn item(a: &Audience, e: &WebinarEvent, sid: &str, seq: usize, ts_ms: i64) -> Value {
    let m = &a.members[e.member];
    let mut properties = json!({"session_id": sid});
    if let Some(kind) = e.kind {
        properties["type"] = kind.into();
    }
    if let Some(id) = &e.id {
        properties["id"] = id.clone().into();
    }
    if e.event == "Stream Enabled" {
        properties["resolution"] = if e.kind == Some("screen") { "1920x1080" } else { "1280x720" }.into();
    }
    let mut call = json!({
        "anonymousId": m.anonymous_id,
        "event": e.event,
        "properties": properties,
        "timestamp": iso(ts_ms),
        "messageId": format!("{sid}-{seq}"),
        "context": {
            "userAgent": m.user_agent,
            "library": {"name": "engage-loadgen", "version": env!("CARGO_PKG_VERSION")},
        },
    });
    if let Some(user_id) = &m.user_id {
        call["userId"] = user_id.clone().into();
    }
    call
}

/// A deliberately invalid request made from a good call: (route, body, expected reason).
fn bad(kind: &str, good: &Value, write_key: &str) -> (&'static str, String, &'static str) {
    let mut call = good.clone();
    call["messageId"] = format!("{}-bad", good["messageId"].as_str().unwrap_or("m")).into();
    call["writeKey"] = write_key.into();
    let single = |v: &Value| v.to_string();
    match kind {
        "missing_event" => {
            call.as_object_mut().map(|o| o.remove("event"));
            ("/v1/track", single(&call), "missing_field")
        }
        "missing_user" => {
            call.as_object_mut().map(|o| (o.remove("userId"), o.remove("anonymousId")));
            ("/v1/track", single(&call), "missing_field")
        }
        "properties_not_object" => {
            call["properties"] = "poll".into();
            ("/v1/track", single(&call), "invalid_field")
        }
        "bad_timestamp" => {
            call["timestamp"] = "yesterday".into();
            ("/v1/track", single(&call), "invalid_field")
        }
        "unknown_type" => {
            call.as_object_mut().map(|o| o.remove("writeKey"));
            call["type"] = "tracks".into();
            ("/v1/batch", json!({"batch": [call], "writeKey": write_key}).to_string(), "unknown_type")
        }
        _ => {
            // A body cut short, as a client killed mid-request sends.
            let text = single(&call);
            let cut = (0..=text.len() / 2).rev().find(|i| text.is_char_boundary(*i)).unwrap_or(0);
            ("/v1/track", text[..cut].to_owned(), "invalid_json")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_utc_with_milliseconds() {
        assert_eq!(iso(1_714_564_800_123), "2024-05-01T12:00:00.123Z");
        assert_eq!(engage_model::segment::parse_time(&iso(1_714_564_800_000)), Some(1_714_564_800_000));
    }

    #[test]
    fn session_ids_differ_per_run_and_index() {
        assert_eq!(session_id(1_714_564_800_000, 3), "webinar-66322ec0-03");
        assert_ne!(session_id(1_714_564_800_000, 3), session_id(1_714_564_860_000, 3));
    }
}
