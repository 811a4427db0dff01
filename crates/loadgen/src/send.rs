//! Sending a plan: requests go out at their due time over a few connections, each lane's
//! requests on one connection in order (a player's pingbacks, a webinar's calls are
//! sequential), and every answer is checked against what the plan expected: the status,
//! and the reason of a refusal (`X-Engage-Error` of a pingback, `code` of a Segment answer).

use crate::plan::{Call, Expect, Request};
use crate::report::{Outcome, Report};
use indicatif::{ProgressBar, ProgressStyle};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How to send.
#[derive(Clone, Debug)]
pub struct SendConfig {
    /// Base URL of the collector, e.g. `http://127.0.0.1:8080`.
    pub target: String,
    /// Parallel connections.
    pub connections: usize,
    /// Show a progress bar on stderr (hidden anyway when stderr is not a terminal).
    pub progress: bool,
}

/// Sends every request of `plan` relative to now; blocks until all are answered.
pub fn send(plan: Vec<Request>, cfg: &SendConfig) -> Report {
    let lanes = cfg.connections.max(1);
    let mut queues: Vec<Vec<Request>> = (0..lanes).map(|_| Vec::new()).collect();
    let total = plan.len() as u64;
    for r in plan {
        queues[r.lane as usize % lanes].push(r);
    }
    let bar = if cfg.progress { ProgressBar::new(total) } else { ProgressBar::hidden() };
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:40}] {pos}/{len} requests ({per_sec})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let done = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let base = cfg.target.trim_end_matches('/').to_owned();
    let lanes: Vec<_> = queues
        .into_iter()
        .map(|queue| {
            let base = base.clone();
            let done = done.clone();
            std::thread::spawn(move || send_lane(&base, queue, start, &done))
        })
        .collect();
    while done.load(Ordering::Relaxed) < total && lanes.iter().any(|l| !l.is_finished()) {
        bar.set_position(done.load(Ordering::Relaxed));
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut report = Report::default();
    for lane in lanes {
        match lane.join() {
            Ok(outcomes) => outcomes.into_iter().for_each(|o| report.add(o)),
            Err(_) => report.lane_panicked += 1,
        }
    }
    bar.finish_and_clear();
    report.elapsed = start.elapsed();
    report
}

fn send_lane(base: &str, queue: Vec<Request>, start: Instant, done: &AtomicU64) -> Vec<Outcome> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let mut out = Vec::with_capacity(queue.len());
    for r in queue {
        let due = start + Duration::from_millis(r.due_ms.max(0) as u64);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let sent = Instant::now();
        let (status, reason) = match &r.call {
            Call::Ping { query } => {
                match agent.get(&format!("{base}/ping/dot.gif?{query}")).header("User-Agent", &r.user_agent).call() {
                    Ok(resp) => {
                        let reason = resp
                            .headers()
                            .get("x-engage-error")
                            .and_then(|v| v.to_str().ok())
                            .and_then(|v| v.split(':').next())
                            .map(str::to_string);
                        (Some(resp.status().as_u16()), reason)
                    }
                    Err(_) => (None, None),
                }
            }
            Call::Segment { route, body } => {
                let sent = agent
                    .post(&format!("{base}{route}"))
                    .header("User-Agent", &r.user_agent)
                    .header("Content-Type", "application/json")
                    .send(body.as_bytes());
                match sent {
                    Ok(mut resp) => {
                        let status = resp.status().as_u16();
                        let text = resp.body_mut().read_to_string().unwrap_or_default();
                        (Some(status), segment_code(&text))
                    }
                    Err(_) => (None, None),
                }
            }
        };
        let latency = sent.elapsed();
        out.push(Outcome { expect: r.expect, route: r.route(), status, reason, latency });
        done.fetch_add(1, Ordering::Relaxed);
    }
    out
}

/// The `code` of a Segment answer (`{"success":false,"code":"missing_field",...}`).
fn segment_code(body: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    v.get("code").and_then(|c| c.as_str()).map(str::to_string)
}

/// Whether an answer is what the plan expected.
pub(crate) fn as_expected(expect: Expect, status: Option<u16>, reason: Option<&str>) -> bool {
    match expect {
        Expect::Accepted | Expect::Ignored | Expect::Retry => status == Some(200),
        Expect::Rejected(code) => status == Some(400) && reason == Some(code),
    }
}
