//! The whole load as a plan: every request, its due time and what the collector should
//! answer, computed from a seed before anything is sent.
//!
//! Precomputing makes runs reproducible (the same seed and start time give the same
//! requests, byte for byte) and lets the sender check every answer against its
//! expectation: spec-conformant pingbacks must be accepted, deliberate bad requests must be
//! refused with the expected reason.

use crate::player::{self, Behaviour, Chance, Step};
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
    /// Share of sessions with one deliberately invalid request.
    pub bad_rate: f64,
    pub behaviour: Behaviour,
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
    /// 400 with this reason code.
    Rejected(&'static str),
}

/// One request of the plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// Real milliseconds after the run starts.
    pub due_ms: i64,
    /// Query string of `/ping/dot.gif`.
    pub query: String,
    /// HTTP User-Agent: identifies the simulated viewer (device).
    pub user_agent: String,
    pub viewer: u32,
    pub expect: Expect,
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
    ("item={item}&ts={ts}&il=3&progress=0&event=firstplay", "invalid_level"),
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
    out.retain(|r| r.due_ms < cfg.duration_ms);
    out.sort_by_key(|r| r.due_ms);
    out
}

fn session(cfg: &PlanConfig, rng: &mut fastrand::Rng, launch_ms: i64, start_ms: i64, out: &mut Vec<Request>) {
    let item = format!("item-{:04}", popular(rng, cfg.items.max(1)));
    let viewer = rng.u32(0..cfg.viewers.max(1));
    let app = weighted_app(rng);
    let level2 = rng.chance(cfg.level2_share);
    let mut steps =
        if level2 { player::level2_session(rng, &cfg.behaviour) } else { player::level1_session(rng, &cfg.behaviour) };
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
                query,
                user_agent: user_agent.clone(),
                viewer,
                expect: Expect::Rejected(reason),
            });
        }
        let il = if level2 { "&il=2" } else { "" };
        let query =
            format!("item={item}&ts={ts}{il}&progress={}&event={}&ua={ua_param}", step.progress, step.event.as_str());
        let expect = if !level2 && !step.event.is_level1() { Expect::Ignored } else { Expect::Accepted };
        let retry = rng.chance(cfg.duplicate_rate);
        out.push(Request { due_ms, query: query.clone(), user_agent: user_agent.clone(), viewer, expect });
        if retry {
            out.push(Request { due_ms, query, user_agent: user_agent.clone(), viewer, expect: Expect::Retry });
        }
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

    const START: i64 = 1_700_000_000_000;

    #[test]
    fn same_seed_same_requests_other_seed_other_requests() {
        let cfg = PlanConfig { duration_ms: 20_000, ..PlanConfig::default() };
        assert_eq!(plan(&cfg, START), plan(&cfg, START));
        assert_ne!(plan(&cfg, START), plan(&PlanConfig { seed: 2, ..cfg.clone() }, START));
        // Sessions ramp up (each runs for a while), so fewer than rate x duration early on.
        let n = plan(&cfg, START).len();
        assert!((1_000..=6_000).contains(&n), "about rate x duration requests, got {n}");
    }

    #[test]
    fn every_request_gets_the_answer_it_expects_from_the_validator() {
        let cfg = PlanConfig { duration_ms: 30_000, rate: 1_000.0, bad_rate: 0.2, ..PlanConfig::default() };
        let requests = plan(&cfg, START);
        let mut rejected = 0;
        for r in &requests {
            let parsed = parse_query(&r.query);
            match r.expect {
                Expect::Accepted | Expect::Retry => {
                    let p = parsed.unwrap_or_else(|e| panic!("{}: {e}", r.query));
                    assert!(!p.is_ignored(), "{}", r.query);
                }
                Expect::Ignored => assert!(parsed.expect("accepted").is_ignored(), "{}", r.query),
                Expect::Rejected(reason) => {
                    rejected += 1;
                    assert_eq!(parsed.expect_err("refused").reason.as_str(), reason, "{}", r.query);
                }
            }
        }
        assert!(rejected > 0);
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
