//! Per-window aggregates: what the window engine emits and every store persists.
//!
//! A rollup row carries the *full state* of one window (never a delta), so writing the
//! same row twice, or rewriting it as the window changes, is idempotent. Only the set
//! of viewers is shipped as additions (`new_viewers`), which stores insert as a set.

use serde::{Deserialize, Serialize};

/// Number of retention segments: segment `s` is the percent range `[s, s+1)`.
pub const RETENTION_SEGMENTS: usize = 100;
/// Number of percent positions for exits and seeks: `0..=100`.
pub const PERCENT_POSITIONS: usize = 101;

/// The additive video counters of one (item, application, window).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VideoCounters {
    /// `initialized` events that started a view.
    pub impressions: u64,
    /// Views whose first `firstplay` fell in this window.
    pub plays: u64,
    /// Plays of level-2 views (`il=2`).
    pub engaged_plays: u64,
    /// Views that sent `stop` at 100 (once per view).
    pub completions: u64,
    /// `pause` events.
    pub pauses: u64,
    /// Events equal (event and progress) to the previous event of their view: not counted.
    pub duplicates: u64,
    /// Level-2 events sent with `il=1` (or no `il`): accepted, not parsed.
    pub ignored: u64,
    /// Views left playing or paused that were closed by silence or a new `initialized`.
    pub abandons: u64,
    /// Views that were playing at any moment of the window.
    pub active_views: u64,
    /// `retention[s]`: views that watched segment `[s, s+1)` for the first time in this window.
    pub retention: Vec<u64>,
    /// `exits[p]`: views that ended (stop or abandonment) at percent `p`.
    pub exits: Vec<u64>,
    /// `seek_from[p]`: seeks that started at percent `p`.
    pub seek_from: Vec<u64>,
    /// `seek_to[p]`: seeks that landed at percent `p`.
    pub seek_to: Vec<u64>,
}

impl Default for VideoCounters {
    fn default() -> Self {
        Self {
            impressions: 0,
            plays: 0,
            engaged_plays: 0,
            completions: 0,
            pauses: 0,
            duplicates: 0,
            ignored: 0,
            abandons: 0,
            active_views: 0,
            retention: vec![0; RETENTION_SEGMENTS],
            exits: vec![0; PERCENT_POSITIONS],
            seek_from: vec![0; PERCENT_POSITIONS],
            seek_to: vec![0; PERCENT_POSITIONS],
        }
    }
}

impl VideoCounters {
    /// Adds `other` into `self`, field by field (used to sum windows over a range).
    pub fn merge(&mut self, other: &VideoCounters) {
        self.impressions += other.impressions;
        self.plays += other.plays;
        self.engaged_plays += other.engaged_plays;
        self.completions += other.completions;
        self.pauses += other.pauses;
        self.duplicates += other.duplicates;
        self.ignored += other.ignored;
        self.abandons += other.abandons;
        self.active_views += other.active_views;
        add_into(&mut self.retention, &other.retention);
        add_into(&mut self.exits, &other.exits);
        add_into(&mut self.seek_from, &other.seek_from);
        add_into(&mut self.seek_to, &other.seek_to);
    }
}

fn add_into(into: &mut Vec<u64>, from: &[u64]) {
    if into.len() < from.len() {
        into.resize(from.len(), 0);
    }
    for (a, b) in into.iter_mut().zip(from) {
        *a += *b;
    }
}

/// The full state of one video window, as emitted by the engine.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VideoWindow {
    pub item: String,
    /// The application dimension (see [`crate::app`]).
    pub app: String,
    /// Inclusive start, epoch milliseconds, aligned to the window size.
    pub window_start_ms: i64,
    /// Exclusive end, epoch milliseconds.
    pub window_end_ms: i64,
    /// True once the watermark passed `window_end_ms` plus the allowed lateness:
    /// this row will not change again.
    pub is_final: bool,
    pub counters: VideoCounters,
    /// Viewer keys with a play in this window that were not in any earlier emission of it.
    pub new_viewers: Vec<u64>,
}
