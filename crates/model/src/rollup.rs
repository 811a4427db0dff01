//! Per-window aggregates: what the window engine emits and every store persists.
//!
//! # Generations: rows that sum
//! A window's numbers are the *sum* of its rows. Each row belongs to one *generation* of
//! the window in one partition: the stretch during which the engine held that window in
//! memory. A row carries the full state of its generation (never a delta of a delta), so
//! writing it twice, or rewriting it as the generation changes, is idempotent (stores keep
//! the row of the highest version, the position of the batch that wrote it). When data
//! arrives for a window the engine no longer holds (late CDN logs, a correction to a view
//! that ended hours ago), the engine opens a new generation for it: a new row that adds to
//! the rows already written. So late data corrects written windows without the engine
//! holding 48 hours of windows in memory.
//!
//! Counters are signed: a correction retracts what a view contributed before (weight -1)
//! and adds what it contributes now (+1), so one generation may hold negative counts; the
//! sum over all rows of a window never is. Viewers are a weighted set in the same way: a
//! viewer has a play in a window when their weights over all rows sum to more than 0.

use serde::{Deserialize, Serialize};

/// Number of retention segments: segment `s` is the percent range `[s, s+1)`.
pub const RETENTION_SEGMENTS: usize = 100;
/// Number of percent positions for exits and seeks: `0..=100`.
pub const PERCENT_POSITIONS: usize = 101;

/// The additive video counters of one (item, application, window) generation. Signed:
/// see the module documentation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VideoCounters {
    /// `initialized` events that started a view.
    pub impressions: i64,
    /// Views whose first `firstplay` fell in this window.
    pub plays: i64,
    /// Plays of level-2 views (`il=2`).
    pub engaged_plays: i64,
    /// Views that sent `stop` at 100 (once per view).
    pub completions: i64,
    /// `pause` events.
    pub pauses: i64,
    /// Events equal (event and progress) to the previous event of their view: not counted.
    pub duplicates: i64,
    /// Level-2 events sent with `il=1` (or no `il`): accepted, not parsed.
    pub ignored: i64,
    /// Level-2 events of a view that never started (no `firstplay`): counted apart.
    pub orphans: i64,
    /// Views left playing or paused that were closed by silence or a new `initialized`.
    pub abandons: i64,
    /// Views that were playing at any moment of the window.
    pub active_views: i64,
    /// `retention[s]`: views that watched segment `[s, s+1)` for the first time in this window.
    pub retention: Vec<i64>,
    /// `exits[p]`: views that ended (stop or abandonment) at percent `p`.
    pub exits: Vec<i64>,
    /// `seek_from[p]`: seeks that started at percent `p`.
    pub seek_from: Vec<i64>,
    /// `seek_to[p]`: seeks that landed at percent `p`.
    pub seek_to: Vec<i64>,
    /// Impressions of bots' views ([`crate::bot`]): counted here, in no other field.
    pub bot_impressions: i64,
    /// Plays of bots' views: counted here, in no other field.
    pub bot_plays: i64,
}

impl Default for VideoCounters {
    fn default() -> Self {
        let mut c = Self::unallocated();
        c.retention = vec![0; RETENTION_SEGMENTS];
        c.exits = vec![0; PERCENT_POSITIONS];
        c.seek_from = vec![0; PERCENT_POSITIONS];
        c.seek_to = vec![0; PERCENT_POSITIONS];
        c
    }
}

impl VideoCounters {
    /// Zero counters with empty (unallocated) histograms, for aggregates that allocate a
    /// histogram only when it is first touched (most windows never see a seek).
    pub fn unallocated() -> Self {
        Self {
            impressions: 0,
            plays: 0,
            engaged_plays: 0,
            completions: 0,
            pauses: 0,
            duplicates: 0,
            ignored: 0,
            orphans: 0,
            abandons: 0,
            active_views: 0,
            retention: Vec::new(),
            exits: Vec::new(),
            seek_from: Vec::new(),
            seek_to: Vec::new(),
            bot_impressions: 0,
            bot_plays: 0,
        }
    }

    /// Adds `other` into `self`, field by field (used to sum windows over a range).
    pub fn merge(&mut self, other: &VideoCounters) {
        self.impressions += other.impressions;
        self.plays += other.plays;
        self.engaged_plays += other.engaged_plays;
        self.completions += other.completions;
        self.pauses += other.pauses;
        self.duplicates += other.duplicates;
        self.ignored += other.ignored;
        self.orphans += other.orphans;
        self.abandons += other.abandons;
        self.active_views += other.active_views;
        self.bot_impressions += other.bot_impressions;
        self.bot_plays += other.bot_plays;
        add_into(&mut self.retention, &other.retention);
        add_into(&mut self.exits, &other.exits);
        add_into(&mut self.seek_from, &other.seek_from);
        add_into(&mut self.seek_to, &other.seek_to);
    }
}

fn add_into(into: &mut Vec<i64>, from: &[i64]) {
    if into.len() < from.len() {
        into.resize(from.len(), 0);
    }
    for (a, b) in into.iter_mut().zip(from) {
        *a += *b;
    }
}

/// The full state of one generation of one video window, as emitted by the engine.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VideoWindow {
    pub item: String,
    /// The application dimension (see [`crate::app`]).
    pub app: String,
    /// Inclusive start, epoch milliseconds, aligned to the window size.
    pub window_start_ms: i64,
    /// Exclusive end, epoch milliseconds.
    pub window_end_ms: i64,
    /// Which generation of the window in its partition this row is (the position of the
    /// record that opened it): rows of one window with different generations sum.
    pub generation: u64,
    /// The generation's counters, full state (signed).
    pub counters: VideoCounters,
    /// Viewer weights of this generation that changed since its previous emission, each
    /// with its full weight in the generation (0: no longer present in this generation).
    pub viewers: Vec<(u64, i64)>,
}

impl VideoCounters {
    /// Whether every counter and histogram slot is 0.
    pub fn is_zero(&self) -> bool {
        let scalars = [
            self.impressions,
            self.plays,
            self.engaged_plays,
            self.completions,
            self.pauses,
            self.duplicates,
            self.ignored,
            self.orphans,
            self.abandons,
            self.active_views,
            self.bot_impressions,
            self.bot_plays,
        ];
        scalars.iter().all(|n| *n == 0)
            && [&self.retention, &self.exits, &self.seek_from, &self.seek_to].iter().all(|h| h.iter().all(|n| *n == 0))
    }
}

/// A serialized engine state kept in the store while it may still be needed: a view key's
/// timeline after it left memory, so an event arriving late (up to the lateness horizon)
/// can re-derive the view exactly. Written in commit batches, read back by key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchivedState {
    /// A 16-byte hash of the state's key (for video: item and viewer or view id).
    pub key: [u8; 16],
    /// The partition position when it was archived: a replay after a crash reads the newest
    /// version at or below its own position, so it sees exactly what the first run saw.
    pub version: u64,
    /// Event time after which nothing can reach this state any more (the store may delete it).
    pub expires_at_ms: i64,
    /// The serialized state (engine-defined format).
    pub state: Vec<u8>,
}
