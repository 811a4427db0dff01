//! Helpers for end-to-end tests: start the real `engage` binary on an ephemeral port with
//! its own data directory, talk to it over HTTP, stop it (gracefully or with SIGKILL).
//!
//! Cargo builds the binary for this package's integration tests and tells us where it is
//! (`CARGO_BIN_EXE_engage`), so the tests always run the binary of the same source.

#![allow(dead_code)]

pub mod kafka;
pub mod workload;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The engage binary under test.
pub fn engage_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_engage"))
}

/// A running `engage run` process.
#[derive(Debug)]
pub struct Engage {
    child: Child,
    pub base: String,
}

impl Engage {
    /// Starts `engage run` on 127.0.0.1:0 with `data_dir` and extra flags; waits for it to listen.
    pub fn start(data_dir: &Path, extra: &[&str]) -> Engage {
        let mut cmd = Command::new(engage_bin());
        cmd.arg("run").args(["--listen", "127.0.0.1:0", "--data-dir"]).arg(data_dir).args(extra);
        let (child, base) = spawn_listening(cmd);
        Engage { child, base }
    }

    /// SIGTERM, then wait for a clean exit.
    pub fn stop(mut self) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill").args(["-TERM", &pid]).status().expect("kill -TERM");
        assert!(status.success());
        let exit = self.child.wait().expect("wait");
        assert!(exit.success(), "engage exited with {exit}");
    }

    /// SIGKILL: no chance to flush anything.
    pub fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("wait");
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

impl Drop for Engage {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Spawns an engage process (logging at `warn` unless the command sets ENGAGE_LOG) and waits
/// for its `... listening on http://ADDR` line; returns the child and `http://ADDR`.
pub fn spawn_listening(mut cmd: Command) -> (Child, String) {
    if !cmd.get_envs().any(|(k, _)| k == "ENGAGE_LOG") {
        cmd.env("ENGAGE_LOG", "warn");
    }
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().expect("spawn engage");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).expect("read the listening line");
    let base = line.trim().split_once(" listening on ").map(|(_, url)| url.to_string());
    let base = base.unwrap_or_else(|| panic!("unexpected first line {line:?} of {cmd:?}"));
    (child, base)
}

/// Runs `engage ARGS` expecting it to refuse to start: it must exit unsuccessfully within
/// 20 s without ever listening; returns what it said on stderr.
pub fn refuses_to_start(args: &[&str]) -> String {
    let mut child = Command::new(engage_bin())
        .args(args)
        .env("ENGAGE_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn engage");
    let start = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if start.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("`engage {}` did not refuse to start", args.join(" "));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("output");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success() && !stdout.contains("listening on"), "`engage {}` started: {stdout}", args.join(" "));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// An HTTP agent that reports 4xx/5xx as responses, not errors.
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into()
}

/// GET `url` with a user agent; returns (status, X-Engage-Error header, body bytes).
pub fn get(agent: &ureq::Agent, url: &str, user_agent: &str) -> (u16, Option<String>, Vec<u8>) {
    let mut resp = agent.get(url).header("User-Agent", user_agent).call().expect("HTTP GET");
    let status = resp.status().as_u16();
    let err = resp.headers().get("x-engage-error").and_then(|v| v.to_str().ok()).map(str::to_string);
    let body = resp.body_mut().read_to_vec().expect("body");
    (status, err, body)
}

/// GET a JSON document.
pub fn get_json(agent: &ureq::Agent, url: &str) -> serde_json::Value {
    let (status, _, body) = get(agent, url, "engage-e2e");
    assert_eq!(status, 200, "{url}: {}", String::from_utf8_lossy(&body));
    serde_json::from_slice(&body).expect("JSON")
}

/// Polls `f` until it returns Some or `limit` passes; returns the value and how long it took.
pub fn eventually<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<(T, Duration)> {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return Some((v, start.elapsed()));
        }
        if start.elapsed() > limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Epoch milliseconds now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis() as i64
}

/// (year, month, day, seconds into the day) of epoch milliseconds, UTC (Howard Hinnant's
/// civil-from-days).
pub fn civil(ms: i64) -> (i64, i64, i64, i64) {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d, rem)
}

/// `21/Nov/2026:14:00:00 +0000` (an access log's time) of epoch ms, floored to the second.
pub fn ncsa_time(ms: i64) -> String {
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let (y, m, d, rem) = civil(ms);
    format!("{d:02}/{}/{y:04}:{:02}:{:02}:{:02} +0000", MONTHS[(m - 1) as usize], rem / 3600, rem % 3600 / 60, rem % 60)
}
