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
        // Like a player: a 503 is retried after its Retry-After (capped), a few times.
        let mut retried = 0;
        let (status, reason) = loop {
            let (status, reason, retry_after) = attempt(&agent, base, &r);
            if status != Some(503) || retried == MAX_503_RETRIES {
                break (status, reason);
            }
            retried += 1;
            std::thread::sleep(retry_after.min(MAX_RETRY_WAIT));
        };
        let latency = sent.elapsed();
        out.push(Outcome { expect: r.expect, route: r.route(), status, reason, latency, retried });
        done.fetch_add(1, Ordering::Relaxed);
    }
    out
}

/// How often a request answered 503 is sent again, and the longest wait between tries.
const MAX_503_RETRIES: u32 = 3;
const MAX_RETRY_WAIT: Duration = Duration::from_secs(2);

/// Sends `r` once: (status, refusal reason, the Retry-After asked for, 1 s when absent).
fn attempt(agent: &ureq::Agent, base: &str, r: &Request) -> (Option<u16>, Option<String>, Duration) {
    let retry_after = |headers: &ureq::http::HeaderMap| {
        let secs = headers.get("retry-after").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse().ok());
        Duration::from_secs(secs.unwrap_or(1))
    };
    match &r.call {
        Call::Ping { query } => {
            match agent.get(&format!("{base}/ping/dot.gif?{query}")).header("User-Agent", &r.user_agent).call() {
                Ok(resp) => {
                    let reason = resp
                        .headers()
                        .get("x-engage-error")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.split(':').next())
                        .map(str::to_string);
                    (Some(resp.status().as_u16()), reason, retry_after(resp.headers()))
                }
                Err(_) => (None, None, Duration::ZERO),
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
                    let wait = retry_after(resp.headers());
                    let text = resp.body_mut().read_to_string().unwrap_or_default();
                    (Some(status), segment_code(&text), wait)
                }
                Err(_) => (None, None, Duration::ZERO),
            }
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Call, Expect, Request};
    use std::io::{BufRead, BufReader, Write};

    /// A one-connection HTTP server answering `statuses` in turn (503s with Retry-After: 0).
    fn server(statuses: Vec<u16>) -> (String, std::thread::JoinHandle<usize>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let handle = std::thread::spawn(move || {
            let mut answered = 0;
            for status in statuses {
                let (stream, _) = listener.accept().expect("accept");
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let mut line = String::new();
                while reader.read_line(&mut line).expect("read") > 2 {
                    line.clear(); // skip the request line and headers
                }
                let extra = if status == 503 { "Retry-After: 0\r\n" } else { "" };
                let answer = format!("HTTP/1.1 {status} X\r\n{extra}Content-Length: 0\r\nConnection: close\r\n\r\n");
                (&stream).write_all(answer.as_bytes()).expect("write");
                answered += 1;
            }
            answered
        });
        (base, handle)
    }

    fn ping() -> Request {
        Request {
            due_ms: 0,
            call: Call::Ping { query: "item=a&ts=1&progress=0&event=initialized".into() },
            user_agent: "Acme/Player 1.0".into(),
            lane: 0,
            expect: Expect::Accepted,
        }
    }

    #[test]
    fn a_503_is_retried_after_its_retry_after_like_a_player() {
        let (base, server) = server(vec![503, 503, 200]);
        let out = send_lane(&base, vec![ping()], Instant::now(), &AtomicU64::new(0));
        assert_eq!((out[0].status, out[0].retried), (Some(200), 2));
        assert_eq!(server.join().expect("server"), 3);
    }

    #[test]
    fn retries_stop_after_a_few_and_the_503_is_reported() {
        let (base, server) = server(vec![503; MAX_503_RETRIES as usize + 1]);
        let out = send_lane(&base, vec![ping()], Instant::now(), &AtomicU64::new(0));
        assert_eq!((out[0].status, out[0].retried), (Some(503), MAX_503_RETRIES));
        assert_eq!(server.join().expect("server"), MAX_503_RETRIES as usize + 1);
    }
}
