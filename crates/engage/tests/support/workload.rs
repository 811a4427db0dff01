//! A generated pingback workload shipped as a CDN access log (NCSA), with its expected
//! per-item numbers computed here by counting sessions: independently of the window engine.
//!
//! Every viewer is distinct (own IP and user agent) and watches one item with one of three
//! level-2/level-1 sessions that follow the specification: complete (impression, play,
//! completion), partial with a pause and a seek (impression, play), level 1 (impression,
//! play). Lines are in time order, a few minutes in the past, one event per second.

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Expected numbers of one item.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Expected {
    pub impressions: u64,
    pub plays: u64,
    pub completions: u64,
    pub unique_viewers: u64,
}

#[derive(Debug)]
pub struct Workload {
    /// NCSA lines, in time order.
    pub lines: Vec<String>,
    pub expected: BTreeMap<String, Expected>,
}

const COMPLETE: &[(&str, u8)] = &[
    ("initialized", 0),
    ("firstplay", 0),
    ("play", 0),
    ("update", 10),
    ("update", 20),
    ("update", 30),
    ("update", 40),
    ("update", 50),
    ("update", 60),
    ("update", 70),
    ("update", 80),
    ("update", 90),
    ("stop", 100),
];
const PARTIAL: &[(&str, u8)] = &[
    ("initialized", 0),
    ("firstplay", 0),
    ("play", 0),
    ("update", 10),
    ("update", 20),
    ("pause", 25),
    ("resume", 25),
    ("seekfrom", 30),
    ("seekto", 60),
    ("update", 70),
    ("stop", 75),
];
const LEVEL1: &[(&str, u8)] = &[("initialized", 0), ("firstplay", 0)];

impl Workload {
    /// `sessions` viewers over `items` items, tagged `tag` (so workloads never share viewers).
    pub fn new(tag: &str, sessions: usize, items: usize, now_ms: i64) -> Workload {
        let start_ms = now_ms - 240_000;
        let mut events: Vec<(i64, String)> = Vec::new();
        let mut expected: BTreeMap<String, Expected> = BTreeMap::new();
        for i in 0..sessions {
            let item = format!("{tag}-item-{}", i % items);
            let (events_of, level) = match i % 3 {
                0 => (COMPLETE, 2),
                1 => (PARTIAL, 2),
                _ => (LEVEL1, 1),
            };
            let e = expected.entry(item.clone()).or_default();
            e.impressions += 1;
            e.plays += 1;
            e.unique_viewers += 1;
            e.completions += u64::from(i % 3 == 0);
            let ip = format!("10.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255);
            let ua = format!("Acme/Player 2.0 ({tag}-viewer-{i})");
            // Sessions start spread over two minutes; events one second apart.
            let session_start = start_ms + (i as i64 * 120_000 / sessions.max(1) as i64);
            for (n, (event, progress)) in events_of.iter().enumerate() {
                let t = session_start + n as i64 * 1000;
                let il = if level == 2 { "&il=2" } else { "" };
                let path = format!("/ping/dot.gif?item={item}&ts={t}&progress={progress}&event={event}{il}");
                events.push((t, ncsa(&ip, t, &path, &ua)));
            }
        }
        events.sort_by_key(|(t, _)| *t);
        Workload { lines: events.into_iter().map(|(_, l)| l).collect(), expected }
    }

    /// Writes the lines to `path`.
    pub fn write(&self, path: &std::path::Path) {
        let mut text = String::with_capacity(self.lines.len() * 200);
        for l in &self.lines {
            text.push_str(l);
            text.push('\n');
        }
        std::fs::write(path, text).expect("write the log");
    }

    /// The sum of the expected impressions.
    pub fn total_impressions(&self) -> u64 {
        self.expected.values().map(|e| e.impressions).sum()
    }
}

/// One NCSA combined log line.
fn ncsa(ip: &str, t_ms: i64, path: &str, ua: &str) -> String {
    let mut out = String::with_capacity(200);
    let _ = write!(out, "{ip} - - [{}] \"GET {path} HTTP/1.1\" 200 43 \"-\" \"{ua}\"", super::ncsa_time(t_ms));
    out
}
