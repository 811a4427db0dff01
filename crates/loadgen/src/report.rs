//! What a run did: requests by expectation and answer, mismatches, latency percentiles.

use crate::plan::Expect;
use crate::send::as_expected;
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// One answered (or failed) request.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub expect: Expect,
    /// Where it was sent (`/ping/dot.gif`, `/v1/track`, `/v1/batch`).
    pub route: &'static str,
    /// HTTP status, or None when the request failed (connection refused, timeout).
    pub status: Option<u16>,
    /// The reason code of a refusal (`X-Engage-Error`).
    pub reason: Option<String>,
    pub latency: Duration,
    /// How often it was sent again after a 503.
    pub retried: u32,
}

/// Totals of a run.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub sent: u64,
    pub by_route: BTreeMap<&'static str, u64>,
    pub by_expectation: BTreeMap<String, u64>,
    pub by_status: BTreeMap<String, u64>,
    /// Answers other than expected, excluding 503 (the collector asked to retry later).
    pub mismatches: u64,
    /// Final 503 answers (after the retries): backpressure, not an error of the generator or
    /// the collector.
    pub unavailable: u64,
    /// Requests sent again after a 503 (each retry counted).
    pub retried_after_503: u64,
    /// Requests that got no HTTP answer.
    pub failed: u64,
    pub lane_panicked: u64,
    pub elapsed: Duration,
    latencies_us: Vec<u64>,
    first_mismatches: Vec<String>,
}

impl Report {
    pub(crate) fn add(&mut self, o: Outcome) {
        self.sent += 1;
        self.retried_after_503 += u64::from(o.retried);
        *self.by_route.entry(o.route).or_default() += 1;
        let expect = match o.expect {
            Expect::Accepted => "accepted".to_string(),
            Expect::Ignored => "ignored".to_string(),
            Expect::Retry => "retry".to_string(),
            Expect::Rejected(code) => format!("rejected:{code}"),
        };
        *self.by_expectation.entry(expect.clone()).or_default() += 1;
        let status = o.status.map_or_else(|| "no answer".to_string(), |s| s.to_string());
        *self.by_status.entry(status.clone()).or_default() += 1;
        match o.status {
            None => self.failed += 1,
            Some(503) => self.unavailable += 1,
            Some(_) if !as_expected(o.expect, o.status, o.reason.as_deref()) => {
                self.mismatches += 1;
                if self.first_mismatches.len() < 10 {
                    self.first_mismatches.push(format!("expected {expect}, got {status} {:?}", o.reason));
                }
            }
            Some(_) => {}
        }
        self.latencies_us.push(o.latency.as_micros() as u64);
    }

    /// Latency at quantile `q` (0..=1), or None without answers.
    pub fn latency(&mut self, q: f64) -> Option<Duration> {
        if self.latencies_us.is_empty() {
            return None;
        }
        self.latencies_us.sort_unstable();
        let i = ((self.latencies_us.len() - 1) as f64 * q.clamp(0.0, 1.0)).round() as usize;
        Some(Duration::from_micros(self.latencies_us[i]))
    }

    /// True when every answer was what the plan expected (503s aside) and nothing failed.
    pub fn is_clean(&self) -> bool {
        self.mismatches == 0 && self.failed == 0 && self.lane_panicked == 0
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut r = self.clone();
        let rate = r.sent as f64 / r.elapsed.as_secs_f64().max(1e-9);
        writeln!(f, "sent {} requests in {:.1} s ({rate:.0}/s)", r.sent, r.elapsed.as_secs_f64())?;
        writeln!(f, "by route: {:?}", r.by_route)?;
        writeln!(f, "by expectation: {:?}", r.by_expectation)?;
        writeln!(f, "by status: {:?}", r.by_status)?;
        let ms = |d: Option<Duration>| d.map_or_else(|| "-".into(), |d| format!("{:.2} ms", d.as_secs_f64() * 1e3));
        writeln!(
            f,
            "latency p50 {} p90 {} p99 {} max {}",
            ms(r.latency(0.5)),
            ms(r.latency(0.9)),
            ms(r.latency(0.99)),
            ms(r.latency(1.0))
        )?;
        write!(
            f,
            "unexpected answers: {}, 503 after retries: {} (retried {} times), no answer: {}",
            r.mismatches, r.unavailable, r.retried_after_503, r.failed
        )?;
        for m in &r.first_mismatches {
            write!(f, "\n  {m}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(expect: Expect, status: u16, reason: Option<&str>) -> Outcome {
        Outcome {
            retried: 0,
            expect,
            route: "/ping/dot.gif",
            status: Some(status),
            reason: reason.map(str::to_string),
            latency: Duration::from_millis(1),
        }
    }

    #[test]
    fn mismatches_are_counted_and_503_is_not_one() {
        let mut r = Report::default();
        r.add(outcome(Expect::Accepted, 200, None));
        r.add(outcome(Expect::Rejected("missing_item"), 400, Some("missing_item")));
        r.add(outcome(Expect::Accepted, 503, None));
        assert!(r.is_clean());
        r.add(outcome(Expect::Rejected("missing_item"), 400, Some("invalid_ts")));
        r.add(outcome(Expect::Accepted, 400, Some("invalid_ts")));
        assert_eq!((r.mismatches, r.unavailable, r.sent), (2, 1, 5));
        assert!(!r.is_clean());
        assert_eq!(r.latency(0.99), Some(Duration::from_millis(1)));
    }
}
