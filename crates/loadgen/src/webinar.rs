//! One simulated webinar session, as the web-conferencing semantic events a webinar tool
//! sends through Segment: "Session Started", "User Joined" / "User Left", "User Engaged"
//! (`type`: poll, chat, reaction, question), "Stream Enabled" / "Stream Disabled"
//! (`type`: camera, screen), "Session Ended".
//!
//! The audience behaves as audiences do: most attendees arrive in the first minutes, some
//! late; they drift away over the session (an exponential stay), some reconnect, some just
//! vanish without a "User Left" (the engine closes their presence at "Session Ended"); the
//! host shares a screen for the main part and runs polls, which a share of those present
//! answer; people chat and react at their own pace. Times are simulated milliseconds from
//! the session's start.

use crate::player::Chance;

/// One track call of a session.
#[derive(Clone, Debug, PartialEq)]
pub struct WebinarEvent {
    /// Simulated milliseconds since the session started.
    pub at_ms: i64,
    /// Index into [`Audience::members`].
    pub member: usize,
    /// The track event name.
    pub event: &'static str,
    /// `properties.type` (engagement or stream type), when the event has one.
    pub kind: Option<&'static str>,
    /// `properties.id` (poll id, stream id), when the event has one.
    pub id: Option<String>,
}

/// Who takes part: the host (member 0) and the attendees.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// `userId`, or None for a guest identified by `anonymousId` only.
    pub user_id: Option<String>,
    pub anonymous_id: String,
    /// The user agent of their app (`context.userAgent`).
    pub user_agent: &'static str,
}

impl Member {
    /// The attendee as the engine sees them: `userId`, else `anonymousId`.
    pub fn key(&self) -> &str {
        self.user_id.as_deref().unwrap_or(&self.anonymous_id)
    }
}

/// A session's members and events, events sorted by time.
#[derive(Clone, Debug, PartialEq)]
pub struct Audience {
    pub members: Vec<Member>,
    pub events: Vec<WebinarEvent>,
    /// Simulated length, milliseconds ("Session Ended" is at this time).
    pub length_ms: i64,
}

/// Probabilities of what attendees do.
#[derive(Clone, Debug, PartialEq)]
pub struct AudienceBehaviour {
    /// Session lengths, simulated minutes.
    pub min_minutes: u32,
    pub max_minutes: u32,
    /// Share of attendees arriving in the first minutes (the rest arrive any time).
    pub on_time: f64,
    /// Share of attendees who stay until the end; the others stay an exponential time.
    pub stay_to_end: f64,
    /// Of those leaving early: the share who never send "User Left" (a closed tab).
    pub vanish: f64,
    /// Of those leaving early: the share who come back later.
    pub rejoin: f64,
    /// Polls per session, and the share of those present who answer each.
    pub polls: u32,
    pub poll_answer: f64,
    /// Chat messages and reactions per attendee per simulated minute present.
    pub chat_per_minute: f64,
    pub reaction_per_minute: f64,
    /// Share of attendees asking a question, and turning their camera on for a while.
    pub question: f64,
    pub camera: f64,
    /// Share of attendees without an account (`anonymousId` only).
    pub guests: f64,
}

impl Default for AudienceBehaviour {
    fn default() -> Self {
        Self {
            min_minutes: 10,
            max_minutes: 40,
            on_time: 0.75,
            stay_to_end: 0.45,
            vanish: 0.15,
            rejoin: 0.12,
            polls: 3,
            poll_answer: 0.6,
            chat_per_minute: 0.15,
            reaction_per_minute: 0.25,
            question: 0.15,
            camera: 0.08,
            guests: 0.2,
        }
    }
}

/// Apps attendees use (`context.userAgent`), with weights.
pub const APPS: [(&str, u32); 5] = [
    ("Acme/WebinarWeb 5.4", 35),
    ("Acme/WebinarDesktop 2.1", 20),
    ("Acme/WebinarIOS 3.0", 15),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
        20,
    ),
    ("Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0", 10),
];

const MINUTE: i64 = 60_000;

/// A session of `attendees` attendees (plus the host) whose ids start with `id_prefix`.
pub fn session(rng: &mut fastrand::Rng, b: &AudienceBehaviour, id_prefix: &str, attendees: u32) -> Audience {
    let length_ms = i64::from(rng.u32(b.min_minutes..=b.max_minutes.max(b.min_minutes))) * MINUTE;
    let mut members = vec![Member {
        user_id: Some(format!("{id_prefix}-host")),
        anonymous_id: format!("{id_prefix}-anon-host"),
        user_agent: APPS[1].0,
    }];
    let mut events = Vec::new();
    let push = |events: &mut Vec<WebinarEvent>, at_ms: i64, member: usize, event, kind, id: Option<String>| {
        events.push(WebinarEvent { at_ms: at_ms.clamp(0, length_ms), member, event, kind, id });
    };

    // The host: starts, joins, camera on; shares a screen for the main part; ends.
    push(&mut events, 0, 0, "Session Started", None, None);
    push(&mut events, 500, 0, "User Joined", None, None);
    push(&mut events, 2_000, 0, "Stream Enabled", Some("camera"), Some("cam-host".into()));
    let share_from = length_ms / 10 + rng.i64(0..MINUTE);
    let share_to = length_ms * 8 / 10 - rng.i64(0..MINUTE);
    push(&mut events, share_from, 0, "Stream Enabled", Some("screen"), Some("screen-1".into()));
    push(&mut events, share_to, 0, "Stream Disabled", Some("screen"), Some("screen-1".into()));
    push(&mut events, length_ms - 3_000, 0, "Stream Disabled", Some("camera"), Some("cam-host".into()));
    push(&mut events, length_ms, 0, "Session Ended", None, None);
    let polls: Vec<i64> = (1..=b.polls).map(|k| length_ms * i64::from(k) / i64::from(b.polls + 1)).collect();

    for n in 0..attendees {
        let guest = rng.chance(b.guests);
        let member = members.len();
        members.push(Member {
            user_id: (!guest).then(|| format!("{id_prefix}-u{n}")),
            anonymous_id: format!("{id_prefix}-anon{n}"),
            user_agent: weighted(rng, &APPS),
        });
        let join = if rng.chance(b.on_time) {
            // Arrivals cluster at the start: exponential with a 90-second mean, a minute early at most.
            (-(1.0 - rng.f64()).ln() * 90_000.0) as i64 - rng.i64(0..MINUTE)
        } else {
            rng.i64(0..length_ms)
        }
        .clamp(1_000, length_ms - 5_000);
        let mut stays = Vec::new();
        let leave = if rng.chance(b.stay_to_end) {
            length_ms
        } else {
            (join + (-(1.0 - rng.f64()).ln() * length_ms as f64 * 0.35) as i64 + 30_000).min(length_ms)
        };
        stays.push((join, leave));
        if leave < length_ms && rng.chance(b.rejoin) {
            let back = leave + rng.i64(30_000..=3 * MINUTE);
            if back < length_ms - MINUTE {
                stays.push((back, length_ms));
            }
        }
        for (i, &(from, mut to)) in stays.iter().enumerate() {
            push(&mut events, from, member, "User Joined", None, None);
            if to < length_ms {
                // The last early leave may vanish silently; a left-then-rejoined one says so.
                let silent = i + 1 == stays.len() && rng.chance(b.vanish);
                if !silent {
                    push(&mut events, to, member, "User Left", None, None);
                }
            } else if rng.chance(0.3) {
                // Some say goodbye just before the end; the others leave at "Session Ended".
                to = length_ms - rng.i64(1_000..=4_000);
                push(&mut events, to, member, "User Left", None, None);
            }
            activity(rng, b, &mut events, member, (from, to), &polls);
        }
        if rng.chance(b.camera) {
            let (from, to) = stays[0];
            if to - from > 2 * MINUTE {
                let on = from + rng.i64(10_000..MINUTE);
                let off = (on + rng.i64(MINUTE..=5 * MINUTE)).min(to - 1_000);
                push(&mut events, on, member, "Stream Enabled", Some("camera"), Some(format!("cam-{n}")));
                push(&mut events, off, member, "Stream Disabled", Some("camera"), Some(format!("cam-{n}")));
            }
        }
    }
    // Stable: simultaneous events keep their causal order (join before engagement).
    events.sort_by_key(|e| e.at_ms);
    Audience { members, events, length_ms }
}

/// Engagement of one member during one presence `[from, to)`.
fn activity(
    rng: &mut fastrand::Rng,
    b: &AudienceBehaviour,
    events: &mut Vec<WebinarEvent>,
    member: usize,
    (from, to): (i64, i64),
    polls: &[i64],
) {
    let mut engaged = |at_ms: i64, kind: &'static str, id: Option<String>| {
        if at_ms > from && at_ms < to {
            events.push(WebinarEvent { at_ms, member, event: "User Engaged", kind: Some(kind), id });
        }
    };
    for (k, &poll) in polls.iter().enumerate() {
        if poll > from && rng.chance(b.poll_answer) {
            engaged(poll + rng.i64(5_000..=60_000), "poll", Some(format!("poll-{}", k + 1)));
        }
    }
    for (kind, per_minute) in [("chat", b.chat_per_minute), ("reaction", b.reaction_per_minute)] {
        if per_minute <= 0.0 {
            continue;
        }
        let mut t = from;
        loop {
            t += (-(1.0 - rng.f64()).ln() * MINUTE as f64 / per_minute) as i64 + 1;
            if t >= to {
                break;
            }
            engaged(t, kind, None);
        }
    }
    if rng.chance(b.question) && to - from > 20_000 {
        engaged(rng.i64(from + 10_000..to), "question", None);
    }
}

fn weighted(rng: &mut fastrand::Rng, choices: &[(&'static str, u32)]) -> &'static str {
    let total: u32 = choices.iter().map(|(_, w)| w).sum();
    let mut pick = rng.u32(0..total.max(1));
    for (choice, w) in choices {
        if pick < *w {
            return choice;
        }
        pick -= w;
    }
    choices[0].0
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, BTreeSet};

    #[test]
    fn sessions_are_well_formed_and_realistic() {
        let mut rng = fastrand::Rng::with_seed(11);
        let b = AudienceBehaviour::default();
        let (mut arrived_early, mut joined, mut left_early) = (0, 0, 0);
        let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
        for s in 0..30 {
            let a = session(&mut rng, &b, &format!("w{s}"), 60);
            assert_eq!(a.events.first().map(|e| e.event), Some("Session Started"));
            assert_eq!(a.events.last().map(|e| (e.event, e.at_ms)), Some(("Session Ended", a.length_ms)));
            assert!(a.events.windows(2).all(|w| w[0].at_ms <= w[1].at_ms), "sorted");
            let mut present = BTreeSet::new();
            for e in &a.events {
                assert!((0..=a.length_ms).contains(&e.at_ms));
                match e.event {
                    "User Joined" => {
                        assert!(present.insert(e.member), "no join while present");
                        joined += 1;
                        arrived_early += usize::from(e.at_ms < 3 * MINUTE);
                    }
                    "User Left" => {
                        assert!(present.remove(&e.member), "a leave follows a join");
                        left_early += usize::from(e.at_ms < a.length_ms - 5_000);
                    }
                    "User Engaged" => {
                        assert!(present.contains(&e.member), "engaged while present: {e:?}");
                        *kinds.entry(e.kind.unwrap()).or_default() += 1;
                    }
                    _ => {}
                }
            }
            let keys: BTreeSet<&str> = a.members.iter().map(Member::key).collect();
            assert_eq!(keys.len(), a.members.len(), "distinct attendees");
        }
        assert!(arrived_early * 2 > joined, "most arrive in the first minutes: {arrived_early}/{joined}");
        assert!(left_early * 4 > joined, "a realistic share drifts away: {left_early}/{joined}");
        for kind in ["poll", "chat", "reaction", "question"] {
            assert!(kinds.get(kind).copied().unwrap_or(0) > 10, "{kind}: {kinds:?}");
        }
    }
}
