//! The whole load as a plan: every request, its due time and what the collector should
//! answer, computed from a seed before anything is sent.
//!
//! Precomputing makes runs reproducible (the same seed and start time give the same
//! requests, byte for byte) and lets the sender check every answer against its
//! expectation: spec-conformant pingbacks and Segment calls must be accepted, deliberate
//! bad requests must be refused with the expected reason.
//!
//! Players and webinars draw from separate random streams of the seed, so adding webinars
//! to a run leaves its pingbacks unchanged.

use crate::player::{self, Behaviour, Chance, Step};
use crate::segment;
use crate::webinar::AudienceBehaviour;
use engage_model::pingback::EventKind;

/// What to generate.
#[derive(Clone, Debug, PartialEq)]
pub struct PlanConfig {
    pub seed: u64,
    /// Approximate requests per second (real time).
    pub rate: f64,
    /// Real-time length of the run, milliseconds.
    pub duration_ms: i64,
    pub items: u32,
    pub viewers: u32,
    /// Simulated seconds per real second: 10 plays a 5-minute video in 30 s.
    pub speed: f64,
    /// Share of level-2 players.
    pub level2_share: f64,
    /// Share of level-1 players that also send level-2 events (accepted, ignored).
    pub misconfigured_share: f64,
    /// Share of requests re-sent at once, byte for byte (a client retry): accepted, and
    /// dropped downstream as a repeat of the same event id.
    pub duplicate_rate: f64,
    /// Share of sessions (player sessions, webinar attendees) with one deliberately
    /// invalid request.
    pub bad_rate: f64,
    pub behaviour: Behaviour,
    /// Webinar sessions started during the run (their events come on top of `rate`).
    pub webinars: u32,
    /// Mean attendees per webinar (each gets between half and one and a half times it).
    pub attendees: u32,
    /// The Segment write key sent with every call (`writeKey` in the body).
    pub write_key: String,
    pub audience: AudienceBehaviour,
}

impl Default for PlanConfig {
    fn default() -> Self {
        Self {
            seed: 1,
            rate: 200.0,
            duration_ms: 60_000,
            items: 50,
            viewers: 5_000,
            speed: 10.0,
            level2_share: 0.8,
            misconfigured_share: 0.05,
            duplicate_rate: 0.01,
            bad_rate: 0.02,
            behaviour: Behaviour::default(),
            webinars: 2,
            attendees: 40,
            write_key: "loadgen".to_owned(),
            audience: AudienceBehaviour::default(),
        }
    }
}

/// What the collector should answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Expect {
    /// 200, counted.
    Accepted,
    /// 200, but a level-2 event at level 1: not parsed.
    Ignored,
    /// 200, a byte-for-byte retry of the previous request: dropped downstream as a repeat.
    Retry,
    /// 400 with this reason code (`X-Engage-Error` of a pingback, `code` of a Segment answer).
    Rejected(&'static str),
}

/// What is sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Call {
    /// `GET /ping/dot.gif?{query}`.
    Ping { query: String },
    /// `POST {route}` (`/v1/track` or `/v1/batch`) with a JSON body.
    Segment { route: &'static str, body: String },
}

/// One request of the plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// Real milliseconds after the run starts.
    pub due_ms: i64,
    pub call: Call,
    /// HTTP User-Agent: identifies the simulated viewer (device) of a pingback.
    pub user_agent: String,
    /// Requests of one lane go out in order on one connection: a viewer's pingbacks (the
    /// viewer number), a webinar's calls (counting down from `u32::MAX`).
    pub lane: u32,
    pub expect: Expect,
}

impl Request {
    /// The query string of a pingback.
    pub fn query(&self) -> Option<&str> {
        match &self.call {
            Call::Ping { query } => Some(query),
            Call::Segment { .. } => None,
        }
    }

    /// The route it is sent to (a bounded label for reports).
    pub fn route(&self) -> &'static str {
        match &self.call {
            Call::Ping { .. } => "/ping/dot.gif",
            Call::Segment { route, .. } => route,
        }
    }
}

/// Applications players identify as (`ua` parameter), with weights.
const APPS: [(&str, u32); 6] = [
    ("Acme/TVApp 4.2", 25),
    ("Acme/iOSPlayer 2.3", 20),
    ("Globex/AndroidPlayer 1.9", 15),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
        25,
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
        10,
    ),
    ("Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0", 5),
];

/// Deliberately invalid requests, with the reason the collector must give.
const BAD: [(&str, &str); 5] = [
    ("ts={ts}&progress=0&event=firstplay", "missing_item"),
    ("item={item}&ts={ts}&il=2&progress=35&event=update", "invalid_update_progress"),
    ("item={item}&ts={ts}&il=2&progress=101&event=stop", "invalid_progress"),
    ("item={item}&ts={ts}&progress=0&event=rewind", "unknown_event"),
    ("item={item}&ts={ts}&il=0&progress=0&event=firstplay", "invalid_level"),
];

/// Average requests per session, to turn a request rate into a session rate.
const REQUESTS_PER_SESSION: f64 = 9.0;

/// Every request of a run starting at `start_ms` (epoch ms, the base of every `ts`),
/// sorted by due time.
pub fn plan(cfg: &PlanConfig, start_ms: i64) -> Vec<Request> {
    let mut rng = fastrand::Rng::with_seed(cfg.seed);
    let sessions_per_ms = (cfg.rate / REQUESTS_PER_SESSION / 1000.0).max(1e-9);
    let mut out = Vec::new();
    let mut launch = 0.0_f64;
    loop {
        // Poisson arrivals.
        launch += -(1.0 - rng.f64()).ln() / sessions_per_ms;
        if launch as i64 >= cfg.duration_ms {
            break;
        }
        session(cfg, &mut rng, launch as i64, start_ms, &mut out);
    }
    // Webinars start over the first half of the run, from their own random stream.
    let mut rng = fastrand::Rng::with_seed(cfg.seed ^ 0x5745_4249_4e41_5253);
    for index in 0..cfg.webinars {
        let launch = cfg.duration_ms / 2 * i64::from(index) / i64::from(cfg.webinars) + rng.i64(200..=2_000);
        segment::webinar(cfg, &mut rng, index, launch, start_ms, &mut out);
    }
    out.retain(|r| r.due_ms < cfg.duration_ms);
    out.sort_by_key(|r| r.due_ms);
    out
}

fn session(cfg: &PlanConfig, rng: &mut fastrand::Rng, launch_ms: i64, start_ms: i64, out: &mut Vec<Request>) {
    let item_no = popular(rng, cfg.items.max(1));
    let item = format!("item-{item_no:04}");
    let viewer = rng.u32(0..cfg.viewers.max(1));
    let app = weighted_app(rng);
    let level2 = rng.chance(cfg.level2_share);
    let mut steps = if level2 {
        player::level2_session(rng, &cfg.behaviour, &player::hotspots(item_no))
    } else {
        player::level1_session(rng, &cfg.behaviour)
    };
    let misconfigured = !level2 && rng.chance(cfg.misconfigured_share);
    if misconfigured {
        let at_ms = steps.last().map_or(0, |s| s.at_ms) + 5_000;
        steps.push(Step { at_ms, event: EventKind::Update, progress: 30 });
    }
    let ua_param = encode(app);
    let user_agent = format!("engage-loadgen/{} viewer-{viewer}", env!("CARGO_PKG_VERSION"));
    let due = |at_ms: i64| launch_ms + (at_ms as f64 / cfg.speed) as i64;
    let bad_at = rng.chance(cfg.bad_rate).then(|| rng.usize(0..steps.len().max(1)));
    for (i, step) in steps.iter().enumerate() {
        let due_ms = due(step.at_ms);
        let ts = start_ms + due_ms;
        if bad_at == Some(i) {
            let (template, reason) = BAD[rng.usize(0..BAD.len())];
            let query = template.replace("{item}", &item).replace("{ts}", &ts.to_string());
            out.push(Request {
                due_ms,
                call: Call::Ping { query },
                user_agent: user_agent.clone(),
                lane: viewer,
                expect: Expect::Rejected(reason),
            });
        }
        let il = if level2 { "&il=2" } else { "" };
        let query =
            format!("item={item}&ts={ts}{il}&progress={}&event={}&ua={ua_param}", step.progress, step.event.as_str());
        let expect = if !level2 && !step.event.is_level1() { Expect::Ignored } else { Expect::Accepted };
        let retry = rng.chance(cfg.duplicate_rate);
        let request =
            Request { due_ms, call: Call::Ping { query }, user_agent: user_agent.clone(), lane: viewer, expect };
        let copy = retry.then(|| Request { expect: Expect::Retry, ..request.clone() });
        out.push(request);
        out.extend(copy);
    }
}

/// Item popularity: a few items get most plays.
fn popular(rng: &mut fastrand::Rng, items: u32) -> u32 {
    ((f64::from(items) * rng.f64().powf(2.5)) as u32).min(items - 1)
}

fn weighted_app(rng: &mut fastrand::Rng) -> &'static str {
    let total: u32 = APPS.iter().map(|(_, w)| w).sum();
    let mut pick = rng.u32(0..total);
    for (app, w) in APPS {
        if pick < w {
            return app;
        }
        pick -= w;
    }
    APPS[0].0
}

/// Percent-encodes a query value.
fn encode(s: &str) -> String {
    form_urlencoded_value(s)
}

fn form_urlencoded_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use engage_model::pingback::parse_query;
    use engage_model::segment::{CallType, parse_message};
    use serde_json::Value;
    use std::collections::BTreeSet;

    const START: i64 = 1_700_000_000_000;

    #[test]
    fn same_seed_same_requests_other_seed_other_requests() {
        let cfg = PlanConfig { duration_ms: 20_000, ..PlanConfig::default() };
        assert_eq!(plan(&cfg, START), plan(&cfg, START));
        assert_ne!(plan(&cfg, START), plan(&PlanConfig { seed: 2, ..cfg.clone() }, START));
        // Sessions ramp up (each runs for a while), so fewer than rate x duration early on.
        let n = plan(&cfg, START).iter().filter(|r| r.query().is_some()).count();
        assert!((1_000..=6_000).contains(&n), "about rate x duration requests, got {n}");
        assert!(plan(&cfg, START).iter().any(|r| r.route() == "/v1/batch" || r.route() == "/v1/track"));
    }

    #[test]
    fn webinars_leave_the_pingbacks_of_a_seed_unchanged() {
        let cfg = PlanConfig { duration_ms: 20_000, ..PlanConfig::default() };
        let without = plan(&PlanConfig { webinars: 0, ..cfg.clone() }, START);
        let with: Vec<Request> = plan(&cfg, START).into_iter().filter(|r| r.query().is_some()).collect();
        assert!(without.iter().all(|r| r.query().is_some()));
        assert_eq!(with, without);
    }

    /// Checks one Segment call against the collector's validation; returns the accepted
    /// track calls (track call objects) it carries.
    fn check_segment(route: &str, body: &str, expect: Expect) -> Vec<Value> {
        let value: Result<Value, _> = serde_json::from_str(body);
        if expect == Expect::Rejected("invalid_json") {
            assert!(value.is_err(), "{body}");
            return vec![];
        }
        let value = value.unwrap_or_else(|e| panic!("{e}: {body}"));
        assert_eq!(value["writeKey"], "loadgen", "{body}");
        let calls: Vec<(Value, Option<CallType>)> = match route {
            "/v1/track" => vec![(value, Some(CallType::Track))],
            "/v1/batch" => value["batch"].as_array().expect("batch").iter().map(|v| (v.clone(), None)).collect(),
            other => panic!("route {other}"),
        };
        let mut accepted = vec![];
        for (call, route_type) in calls {
            let parsed = parse_message(call.clone(), route_type);
            match expect {
                Expect::Accepted | Expect::Retry => {
                    let m = parsed.unwrap_or_else(|e| panic!("{e}: {call}"));
                    assert_eq!(m.call, CallType::Track);
                    assert!(m.properties["session_id"].as_str().is_some_and(|s| s.starts_with("webinar-")));
                    accepted.push(call);
                }
                Expect::Rejected(reason) => {
                    assert_eq!(parsed.expect_err("refused").reason.as_str(), reason, "{call}");
                }
                Expect::Ignored => panic!("no ignored Segment call"),
            }
        }
        accepted
    }

    #[test]
    fn every_request_gets_the_answer_it_expects_from_the_validator() {
        let cfg = PlanConfig {
            duration_ms: 30_000,
            rate: 1_000.0,
            bad_rate: 0.2,
            speed: 60.0,
            webinars: 4,
            attendees: 60,
            ..PlanConfig::default()
        };
        let requests = plan(&cfg, START);
        let mut rejected = BTreeSet::new();
        let mut message_ids = BTreeSet::new();
        let mut events = BTreeSet::new();
        for r in &requests {
            if let Expect::Rejected(reason) = r.expect {
                rejected.insert((r.route(), reason));
            }
            match &r.call {
                Call::Ping { query } => {
                    let parsed = parse_query(query);
                    match r.expect {
                        Expect::Accepted => {
                            let p = parsed.unwrap_or_else(|e| panic!("{query}: {e}"));
                            assert!(!p.is_ignored(), "{query}");
                        }
                        // A retry of an accepted or of an ignored pingback.
                        Expect::Retry => assert!(parsed.is_ok(), "{query}"),
                        Expect::Ignored => assert!(parsed.expect("accepted").is_ignored(), "{query}"),
                        Expect::Rejected(reason) => {
                            assert_eq!(parsed.expect_err("refused").reason.as_str(), reason, "{query}");
                        }
                    }
                }
                Call::Segment { route, body } => {
                    for call in check_segment(route, body, r.expect) {
                        let id = call["messageId"].as_str().expect("messageId").to_owned();
                        events.insert(call["event"].as_str().expect("event").to_owned());
                        if r.expect == Expect::Accepted {
                            assert!(message_ids.insert(id), "a message id is sent once (retries aside)");
                        }
                    }
                }
            }
        }
        let reasons: BTreeSet<&str> = rejected.iter().map(|(_, reason)| *reason).collect();
        for reason in ["missing_item", "missing_field", "invalid_field", "unknown_type", "invalid_json"] {
            assert!(reasons.contains(reason), "{reason} in {rejected:?}");
        }
        for event in
            ["Session Started", "User Joined", "User Left", "User Engaged", "Stream Enabled", "Stream Disabled"]
        {
            assert!(events.contains(event), "{event} in {events:?}");
        }
        assert!(requests.iter().any(|r| r.expect == Expect::Retry && r.query().is_none()), "retried Segment calls");
        assert!(requests.windows(2).all(|w| w[0].due_ms <= w[1].due_ms), "sorted by due time");
    }

    #[test]
    fn apps_are_parsed_as_intended() {
        use engage_model::app::parse_app;
        assert_eq!(parse_app(APPS[0].0).key, "Acme/TVApp");
        assert_eq!(parse_app(APPS[3].0).key, "web/Chrome");
        let decoded: String = form_urlencoded::parse(format!("ua={}", encode(APPS[3].0)).as_bytes())
            .map(|(_, v)| v.into_owned())
            .collect();
        assert_eq!(decoded, APPS[3].0);
    }
}
