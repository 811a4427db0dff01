//! Per-(item, application, window) aggregates: where every increment lands, when a window
//! becomes final, and what [`Windows::flush`] emits.
//!
//! Windows are tumbling, keyed by `(item, app, window_start)`. A window is *closed* once
//! `window_start + window_ms + allowed_lateness_ms <= horizon`, where the horizon is the
//! watermark at the last finalization pass. Closing is a pure function of time: an
//! increment aimed at a closed window is dropped whether or not the window has been
//! flushed yet, so where the caller flushes never changes results.
//!
//! Histograms (`retention`, `exits`, `seek_from`, `seek_to`) stay empty vectors until first
//! touched and are padded to full length on output: most windows of a long-tail item
//! never see a seek, and a full set of histograms is 3 KB.

use engage_model::rollup::{PERCENT_POSITIONS, RETENTION_SEGMENTS, VideoCounters, VideoWindow};
use engage_model::time::window_start;
use hashbrown::hash_map::Entry;
use hashbrown::{HashMap, HashSet};
use serde::{Deserialize, Serialize};

use super::intern::Interner;

/// The key of one window.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(super) struct WindowKey {
    pub(super) item: u32,
    pub(super) app: u32,
    pub(super) start: i64,
}

/// The in-memory state of one window.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct WindowAgg {
    key: WindowKey,
    /// Counters; histogram vectors are empty until touched.
    pub(super) counters: VideoCounters,
    /// Every viewer with a play in this window (for exact unique viewers).
    viewers: HashSet<u64>,
    /// Viewers added since the window was last emitted.
    new_viewers: Vec<u64>,
    /// In `Windows::dirty` (changed or finalized since the last flush).
    dirty: bool,
    /// Closed: emitted once more with `is_final`, then evicted.
    is_final: bool,
}

impl WindowAgg {
    fn new(key: WindowKey) -> Self {
        Self {
            key,
            counters: empty_counters(),
            viewers: HashSet::new(),
            new_viewers: Vec::new(),
            dirty: false,
            is_final: false,
        }
    }

    /// Adds a viewer with a play; it is emitted in `new_viewers` if the window never had it.
    pub(super) fn add_viewer(&mut self, viewer: u64) {
        if self.viewers.insert(viewer) {
            self.new_viewers.push(viewer);
        }
    }

    /// `exits[p] += 1`.
    pub(super) fn exit_at(&mut self, p: u8) {
        bump(&mut self.counters.exits, PERCENT_POSITIONS, p.into());
    }

    /// `seek_from[p] += 1`.
    pub(super) fn seek_from_at(&mut self, p: u8) {
        bump(&mut self.counters.seek_from, PERCENT_POSITIONS, p.into());
    }

    /// `seek_to[p] += 1`.
    pub(super) fn seek_to_at(&mut self, p: u8) {
        bump(&mut self.counters.seek_to, PERCENT_POSITIONS, p.into());
    }

    /// `retention[s] += 1` for every bit `s` set in `segments` (bits 0..100).
    pub(super) fn retain_segments(&mut self, mut segments: u128) {
        let retention = &mut self.counters.retention;
        if retention.is_empty() {
            retention.resize(RETENTION_SEGMENTS, 0);
        }
        while segments != 0 {
            let s = segments.trailing_zeros() as usize;
            if let Some(slot) = retention.get_mut(s) {
                *slot += 1;
            }
            segments &= segments - 1;
        }
    }

    /// The counters with every histogram at full length.
    /// The counters to emit, every histogram at full length: a copy, or for a final
    /// window (never touched again) the counters themselves.
    fn emit_counters(&mut self) -> VideoCounters {
        if self.is_final {
            let mut c = std::mem::replace(&mut self.counters, empty_counters());
            for (v, len) in [
                (&mut c.retention, RETENTION_SEGMENTS),
                (&mut c.exits, PERCENT_POSITIONS),
                (&mut c.seek_from, PERCENT_POSITIONS),
                (&mut c.seek_to, PERCENT_POSITIONS),
            ] {
                v.resize(len, 0);
            }
            return c;
        }
        let full = |v: &[u64], len: usize| {
            if v.is_empty() {
                return vec![0; len];
            }
            let mut out = Vec::with_capacity(len);
            out.extend_from_slice(v);
            out.resize(len, 0);
            out
        };
        let c = &self.counters;
        VideoCounters {
            retention: full(&c.retention, RETENTION_SEGMENTS),
            exits: full(&c.exits, PERCENT_POSITIONS),
            seek_from: full(&c.seek_from, PERCENT_POSITIONS),
            seek_to: full(&c.seek_to, PERCENT_POSITIONS),
            ..*c
        }
    }
}

/// Zero counters with empty (unallocated) histograms.
fn empty_counters() -> VideoCounters {
    VideoCounters {
        impressions: 0,
        plays: 0,
        engaged_plays: 0,
        completions: 0,
        pauses: 0,
        duplicates: 0,
        ignored: 0,
        abandons: 0,
        active_views: 0,
        retention: Vec::new(),
        exits: Vec::new(),
        seek_from: Vec::new(),
        seek_to: Vec::new(),
    }
}

fn bump(hist: &mut Vec<u64>, len: usize, idx: usize) {
    if hist.is_empty() {
        hist.resize(len, 0);
    }
    if let Some(slot) = hist.get_mut(idx) {
        *slot += 1;
    }
}

/// All windows in memory, the dirty list and the finalization horizon.
///
/// Windows live densely in `slots`, in creation order (a flush evicts final windows by
/// compacting), found through a small `index`. So the windows still receiving events sit
/// together at the end of one vector, the index stays cache-resident, and finalization
/// and string collection walk a packed vector.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Windows {
    window_ms: i64,
    lateness_ms: i64,
    /// Most windows one active-marking call may cover: the view timeout, plus slack.
    max_active_span: i64,
    /// Window key → position in `slots`.
    index: HashMap<WindowKey, u32>,
    slots: Vec<WindowAgg>,
    /// Slots to emit at the next flush, each once (guarded by `WindowAgg::dirty`). Slots
    /// move only when a flush evicts, after this list is consumed.
    dirty: Vec<u32>,
    /// The watermark at the last finalization pass; `None` before the first event.
    horizon: Option<i64>,
    /// Smallest start among windows not yet final (tells when a pass has work).
    min_open_start: Option<i64>,
    /// Increments aimed at windows that were already closed, dropped.
    dropped: u64,
    /// The last window looked up: a one-entry cache, valid until a flush moves slots.
    #[serde(skip)]
    last: Option<(WindowKey, u32)>,
}

impl Windows {
    pub(super) fn new(window_ms: i64, lateness_ms: i64, view_timeout_ms: i64) -> Self {
        Self {
            window_ms,
            lateness_ms,
            max_active_span: view_timeout_ms / window_ms + 2,
            index: HashMap::new(),
            slots: Vec::new(),
            dirty: Vec::new(),
            horizon: None,
            min_open_start: None,
            dropped: 0,
            last: None,
        }
    }

    /// The window size, milliseconds.
    pub(super) fn window_ms(&self) -> i64 {
        self.window_ms
    }

    /// The earliest window start an active-marking call ending at `to_start` may mark.
    pub(super) fn earliest_active_mark(&self, to_start: i64) -> i64 {
        to_start.saturating_sub(self.window_ms.saturating_mul(self.max_active_span))
    }

    /// Start of the window holding `t_ms`.
    pub(super) fn start_of(&self, t_ms: i64) -> i64 {
        window_start(t_ms, self.window_ms)
    }

    /// Whether the window starting at `start` is closed (final, or about to be emitted final).
    pub(super) fn is_closed(&self, start: i64) -> bool {
        self.horizon.is_some_and(|h| start.saturating_add(self.window_ms).saturating_add(self.lateness_ms) <= h)
    }

    /// The window of `(item, app)` starting at `start`, marked dirty; `None` if it is closed.
    pub(super) fn at_start(&mut self, item: u32, app: u32, start: i64) -> Option<&mut WindowAgg> {
        if self.is_closed(start) {
            self.dropped += 1;
            return None;
        }
        let key = WindowKey { item, app, start };
        let slot = match self.last {
            Some((k, slot)) if k == key => slot,
            _ => {
                let slot = match self.index.entry(key) {
                    Entry::Occupied(e) => *e.get(),
                    Entry::Vacant(e) => {
                        let slot = u32::try_from(self.slots.len()).expect("fewer than 2^32 windows");
                        self.slots.push(WindowAgg::new(key));
                        e.insert(slot);
                        self.min_open_start = Some(self.min_open_start.map_or(start, |m| m.min(start)));
                        slot
                    }
                };
                self.last = Some((key, slot));
                slot
            }
        };
        let w = &mut self.slots[slot as usize];
        if !w.dirty {
            w.dirty = true;
            self.dirty.push(slot);
        }
        Some(w)
    }

    /// Moves the horizon to `watermark` and marks every window it closes final (and dirty).
    pub(super) fn finalize(&mut self, watermark: i64) {
        self.horizon = Some(watermark);
        if !self.min_open_start.is_some_and(|s| self.is_closed(s)) {
            return;
        }
        let (window_ms, lateness_ms) = (self.window_ms, self.lateness_ms);
        let closed = |start: i64| start.saturating_add(window_ms).saturating_add(lateness_ms) <= watermark;
        let mut min_open: Option<i64> = None;
        for (slot, w) in self.slots.iter_mut().enumerate() {
            if w.is_final {
                continue;
            }
            if closed(w.key.start) {
                w.is_final = true;
                if !w.dirty {
                    w.dirty = true;
                    self.dirty.push(slot as u32);
                }
            } else {
                min_open = Some(min_open.map_or(w.key.start, |m| m.min(w.key.start)));
            }
        }
        self.min_open_start = min_open;
    }

    /// Every dirty window, full state, sorted by (item, app, window_start); final windows
    /// are evicted after this, their last emission.
    pub(super) fn flush(&mut self, strings: &Interner) -> Vec<VideoWindow> {
        // Order the dirty slots by their strings first, then build the rows in that order.
        let mut order: Vec<(&str, &str, i64, u32)> = self
            .dirty
            .iter()
            .map(|&slot| {
                let key = self.slots[slot as usize].key;
                (strings.get(key.item), strings.get(key.app), key.start, slot)
            })
            .collect();
        order.sort_unstable();
        let mut out = Vec::with_capacity(order.len());
        let mut evict = Vec::new();
        for (item, app, _, slot) in order {
            let w = &mut self.slots[slot as usize];
            w.dirty = false;
            let mut new_viewers = std::mem::take(&mut w.new_viewers);
            new_viewers.sort_unstable();
            out.push(VideoWindow {
                item: item.to_owned(),
                app: app.to_owned(),
                window_start_ms: w.key.start,
                window_end_ms: w.key.start.saturating_add(self.window_ms),
                is_final: w.is_final,
                counters: w.emit_counters(),
                new_viewers,
            });
            if w.is_final {
                evict.push(slot);
            }
        }
        self.dirty.clear();
        self.last = None;
        // Evict what went final, keeping the rest in creation order: the windows that are
        // still receiving events stay packed together at the end.
        if let Some(&first) = evict.iter().min() {
            for &slot in &evict {
                self.index.remove(&self.slots[slot as usize].key);
            }
            self.slots.retain(|w| !w.is_final);
            for (slot, w) in self.slots.iter().enumerate().skip(first as usize) {
                self.index.insert(w.key, slot as u32);
            }
        }
        out
    }

    /// Number of windows in memory (open ones, and final ones awaiting their last flush).
    pub(super) fn len(&self) -> usize {
        self.slots.len()
    }

    /// Increments dropped because their window was already closed.
    #[cfg(test)]
    pub(super) fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Sets `used[id]` for every string id a window refers to.
    pub(super) fn mark_strings(&self, used: &mut [bool]) {
        for w in &self.slots {
            used[w.key.item as usize] = true;
            used[w.key.app as usize] = true;
        }
    }
}
