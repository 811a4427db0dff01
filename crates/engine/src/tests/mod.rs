//! Tests of the window engine: the pingback spec's examples walked event by event
//! ([`spec`]), windowing, lateness and watermark behaviour ([`windows`]), and property
//! tests on generated streams ([`props`], streams from [`stream`]).

mod props;
mod spec;
mod stream;
mod windows;

use std::collections::{BTreeMap, BTreeSet};

use engage_model::pingback::{EventKind, Level};
use engage_model::rollup::{VideoCounters, VideoWindow};

use super::{Engine, EngineConfig, Outcome, VideoEvent};

/// A window-aligned base time (epoch ms).
pub(super) const T0: i64 = 1_700_000_040_000;
pub(super) const SEC: i64 = 1_000;
pub(super) const MIN: i64 = 60_000;

/// The merged result of a sequence of flushes: per (item, app, window_start), the last
/// emitted counters (rows carry full state), the union of `new_viewers`, and finality.
pub(super) type Merged = BTreeMap<(String, String, i64), MergedWindow>;

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct MergedWindow {
    pub counters: VideoCounters,
    pub viewers: BTreeSet<u64>,
    pub is_final: bool,
}

/// Merges flush outputs as a store would; panics if an output is not sorted (or repeats a
/// window), if a window is emitted after being final, or if a viewer is re-sent.
pub(super) fn merge_into(merged: &mut Merged, out: &[VideoWindow]) {
    let keys: Vec<_> = out.iter().map(|w| (&w.item, &w.app, w.window_start_ms)).collect();
    assert!(keys.windows(2).all(|k| k[0] < k[1]), "flush output not sorted by (item, app, window_start)");
    for w in out {
        let key = (w.item.clone(), w.app.clone(), w.window_start_ms);
        let entry = merged.entry(key.clone()).or_insert_with(|| MergedWindow {
            counters: VideoCounters::default(),
            viewers: BTreeSet::new(),
            is_final: false,
        });
        assert!(!entry.is_final, "window {key:?} emitted again after being final");
        assert!(w.window_end_ms > w.window_start_ms);
        let c = &w.counters;
        assert_eq!((c.retention.len(), c.exits.len(), c.seek_from.len(), c.seek_to.len()), (100, 101, 101, 101));
        entry.counters = w.counters.clone();
        for v in &w.new_viewers {
            assert!(entry.viewers.insert(*v), "viewer {v} sent twice for {key:?}");
        }
        entry.is_final = w.is_final;
    }
}

/// Sums counters over every window of `item` (all apps).
pub(super) fn totals(merged: &Merged, item: &str) -> VideoCounters {
    let mut sum = VideoCounters::default();
    for ((i, _, _), w) in merged {
        if i == item {
            sum.merge(&w.counters);
        }
    }
    sum
}

/// An engine plus everything it flushed, merged.
pub(super) struct Sim {
    pub engine: Engine,
    pub merged: Merged,
}

impl Sim {
    pub fn new() -> Self {
        Self::with(EngineConfig::default())
    }

    pub fn with(config: EngineConfig) -> Self {
        Self { engine: Engine::new(config), merged: Merged::new() }
    }

    pub fn record(&mut self, ev: &VideoEvent<'_>) -> Outcome {
        self.engine.record(ev)
    }

    pub fn flush(&mut self) -> Vec<VideoWindow> {
        let out = self.engine.flush();
        merge_into(&mut self.merged, &out);
        out
    }

    /// Moves the watermark to `t` with an event of an unrelated item, then flushes.
    pub fn advance_to(&mut self, t: i64) {
        let clock = Player::new("__clock", "clock", u64::MAX).level1();
        self.record(&clock.at(EventKind::Initialized, 0, t));
        self.flush();
    }

    /// Totals of `item` after a flush.
    pub fn totals(&mut self, item: &str) -> VideoCounters {
        self.flush();
        totals(&self.merged, item)
    }

    /// The merged window of `(item, app)` holding `t`.
    pub fn window(&mut self, item: &str, app: &str, t: i64) -> MergedWindow {
        self.flush();
        let start = engage_model::time::window_start(t, self.engine.config().window_ms);
        self.merged.get(&(item.to_owned(), app.to_owned(), start)).cloned().unwrap_or_else(|| MergedWindow {
            counters: VideoCounters::default(),
            viewers: BTreeSet::new(),
            is_final: false,
        })
    }
}

/// One player: item, app, viewer, optional vid and implementation level.
#[derive(Clone, Copy, Debug)]
pub(super) struct Player {
    pub item: &'static str,
    pub app: &'static str,
    pub viewer: u64,
    pub vid: Option<&'static str>,
    pub level: Level,
}

impl Player {
    pub fn new(item: &'static str, app: &'static str, viewer: u64) -> Self {
        Self { item, app, viewer, vid: None, level: Level::Two }
    }

    pub fn level1(mut self) -> Self {
        self.level = Level::One;
        self
    }

    pub fn vid(mut self, vid: &'static str) -> Self {
        self.vid = Some(vid);
        self
    }

    /// An event at event time `t`, received at `t`.
    pub fn at(&self, kind: EventKind, progress: u8, t: i64) -> VideoEvent<'static> {
        VideoEvent {
            item: self.item,
            app: self.app,
            viewer: self.viewer,
            view_id: self.vid,
            kind,
            level: self.level,
            progress,
            event_time_ms: t,
            received_at_ms: t,
        }
    }

    /// Sends an event received when it was stamped.
    pub fn send(&self, sim: &mut Sim, kind: EventKind, progress: u8, t: i64) -> Outcome {
        sim.record(&self.at(kind, progress, t))
    }
}

/// A 100-entry retention vector with 1 in each `[from, to)` of `ranges`, 0 elsewhere.
pub(super) fn retention_of(ranges: &[(usize, usize)]) -> Vec<u64> {
    let mut r = vec![0; 100];
    for &(from, to) in ranges {
        for n in &mut r[from..to] {
            *n += 1;
        }
    }
    r
}

/// A 101-entry histogram with the given `(position, count)` entries.
pub(super) fn hist(entries: &[(usize, u64)]) -> Vec<u64> {
    let mut h = vec![0; 101];
    for &(p, n) in entries {
        h[p] += n;
    }
    h
}
