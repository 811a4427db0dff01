//! Window aggregates in generations: where every increment lands, and what a flush emits.
//!
//! Windows are tumbling, keyed by `(item, app, window_start)`. The engine holds a window in
//! memory from its first increment until the watermark passes its end plus the *hold*
//! (default five minutes); then it is evicted. An increment for a window not held (late
//! data, or a correction retracting what a view contributed hours ago) opens a new
//! *generation* of it, numbered by the current position (the offset of the record being
//! applied). Each generation is emitted as a full-state row of its own; stores sum the rows
//! of a window (see `engage_model::rollup`). So a correction never needs the whole history
//! of a window in memory, and rewriting a row is idempotent.
//!
//! Eviction happens when the watermark moves (a pure function of the events recorded), never
//! at flush time, so which generation an increment lands in does not depend on when the
//! caller flushes. Within one record, eviction runs before any increment (see
//! `Engine::advance`), so no two generations of one window share a position.
//!
//! Histograms (`retention`, `exits`, `seek_from`, `seek_to`) stay empty vectors until first
//! touched and are padded to full length on output.

use engage_model::rollup::{PERCENT_POSITIONS, RETENTION_SEGMENTS, VideoCounters, VideoWindow};
use engage_model::time::window_start;
use hashbrown::HashMap;
use hashbrown::hash_map::Entry;
use serde::{Deserialize, Serialize};

use crate::intern::Interner;
use crate::view::{Delta, Sink};

/// The key of one window.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) struct WindowKey {
    pub(crate) item: u32,
    pub(crate) app: u32,
    pub(crate) start: i64,
}

/// One generation of one window.
#[derive(Debug, Serialize, Deserialize)]
struct Agg {
    key: WindowKey,
    generation: u64,
    /// Counters; histogram vectors are empty until touched.
    counters: VideoCounters,
    /// Viewer weights in this generation, and whether the viewer is in `changed`.
    viewers: HashMap<u64, (i64, bool)>,
    /// Viewers whose weight changed since the last emission.
    changed: Vec<u64>,
    /// In `Windows::dirty`.
    dirty: bool,
    /// No longer held: emitted one last time if dirty, then dropped.
    evicted: bool,
}

impl Agg {
    fn new(key: WindowKey, generation: u64) -> Self {
        Self {
            key,
            generation,
            counters: VideoCounters::unallocated(),
            viewers: HashMap::new(),
            changed: Vec::new(),
            dirty: false,
            evicted: false,
        }
    }

    fn apply(&mut self, delta: Delta, sign: i64) {
        let c = &mut self.counters;
        match delta {
            Delta::Impression => c.impressions += sign,
            Delta::Play { engaged, viewer } => {
                c.plays += sign;
                if engaged {
                    c.engaged_plays += sign;
                }
                let (w, listed) = self.viewers.entry(viewer).or_insert((0, false));
                *w += sign;
                if !*listed {
                    *listed = true;
                    self.changed.push(viewer);
                }
            }
            Delta::Duplicate => c.duplicates += sign,
            Delta::Ignored => c.ignored += sign,
            Delta::Orphan => c.orphans += sign,
            Delta::Pause => c.pauses += sign,
            Delta::Completion => c.completions += sign,
            Delta::Abandon => c.abandons += sign,
            Delta::Active => c.active_views += sign,
            Delta::Retention(mut bits) => {
                if c.retention.is_empty() {
                    c.retention.resize(RETENTION_SEGMENTS, 0);
                }
                while bits != 0 {
                    let s = bits.trailing_zeros() as usize;
                    if let Some(slot) = c.retention.get_mut(s) {
                        *slot += sign;
                    }
                    bits &= bits - 1;
                }
            }
            Delta::Exit(p) => bump(&mut c.exits, p, sign),
            Delta::SeekFrom(p) => bump(&mut c.seek_from, p, sign),
            Delta::SeekTo(p) => bump(&mut c.seek_to, p, sign),
            Delta::BotImpression => c.bot_impressions += sign,
            Delta::BotPlay => c.bot_plays += sign,
        }
    }

    /// The counters with every histogram at full length.
    fn emit_counters(&self) -> VideoCounters {
        let full = |v: &[i64], len: usize| {
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

fn bump(hist: &mut Vec<i64>, p: u8, sign: i64) {
    if hist.is_empty() {
        hist.resize(PERCENT_POSITIONS, 0);
    }
    if let Some(slot) = hist.get_mut(usize::from(p)) {
        *slot += sign;
    }
}

/// All window generations in memory.
///
/// Generations live densely in `slots`; `index` points at the held generation of each
/// window. Evicted generations stay in `slots` until the flush that emits them.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Windows {
    window_ms: i64,
    hold_ms: i64,
    index: HashMap<WindowKey, u32>,
    slots: Vec<Agg>,
    dirty: Vec<u32>,
    /// Smallest start among held windows (tells when an eviction pass has work).
    min_start: Option<i64>,
    /// The generation number of windows opened now: the position being applied.
    position: u64,
    /// Generations opened for windows older than the hold (late data and corrections).
    late_generations: u64,
    /// The watermark of the last eviction pass.
    horizon: Option<i64>,
    /// The last window looked up: a one-entry cache, valid until slots move.
    #[serde(skip)]
    last: Option<(WindowKey, u32)>,
}

impl Windows {
    pub(crate) fn new(window_ms: i64, hold_ms: i64) -> Self {
        Self {
            window_ms,
            hold_ms,
            index: HashMap::new(),
            slots: Vec::new(),
            dirty: Vec::new(),
            min_start: None,
            position: 0,
            late_generations: 0,
            horizon: None,
            last: None,
        }
    }

    /// The generation of windows opened from now on.
    pub(crate) fn set_position(&mut self, position: u64) {
        self.position = position;
    }

    /// Start of the window holding `t`.
    pub(crate) fn start_of(&self, t: i64) -> i64 {
        window_start(t, self.window_ms)
    }

    /// Whether the window starting at `start` is past the hold at watermark `wm`.
    pub(crate) fn is_past_hold(&self, start: i64, wm: i64) -> bool {
        start.saturating_add(self.window_ms).saturating_add(self.hold_ms) <= wm
    }

    #[inline]
    fn slot(&mut self, key: WindowKey) -> &mut Agg {
        let slot = match self.last {
            Some((k, slot)) if k == key => slot,
            _ => {
                let slot = match self.index.entry(key) {
                    Entry::Occupied(e) => *e.get(),
                    Entry::Vacant(e) => {
                        let past = |start: i64| start.saturating_add(self.window_ms).saturating_add(self.hold_ms);
                        if self.horizon.is_some_and(|h| past(key.start) <= h) {
                            self.late_generations += 1;
                        }
                        let slot = u32::try_from(self.slots.len()).expect("fewer than 2^32 windows");
                        self.slots.push(Agg::new(key, self.position));
                        e.insert(slot);
                        self.min_start = Some(self.min_start.map_or(key.start, |m| m.min(key.start)));
                        slot
                    }
                };
                self.last = Some((key, slot));
                slot
            }
        };
        let agg = &mut self.slots[slot as usize];
        if !agg.dirty {
            agg.dirty = true;
            self.dirty.push(slot);
        }
        agg
    }

    /// Evicts every held window whose end plus the hold is at or before `wm`.
    pub(crate) fn evict(&mut self, wm: i64) {
        self.horizon = Some(wm);
        if !self.min_start.is_some_and(|s| self.is_past_hold(s, wm)) {
            return;
        }
        let (window_ms, hold_ms) = (self.window_ms, self.hold_ms);
        let past = |start: i64| start.saturating_add(window_ms).saturating_add(hold_ms) <= wm;
        let mut min_start: Option<i64> = None;
        let index = &mut self.index;
        for agg in self.slots.iter_mut().filter(|a| !a.evicted) {
            if past(agg.key.start) {
                agg.evicted = true;
                index.remove(&agg.key);
            } else {
                min_start = Some(min_start.map_or(agg.key.start, |m| m.min(agg.key.start)));
            }
        }
        self.min_start = min_start;
        self.last = None;
    }

    /// Every generation changed since the last flush, full state, sorted by (item, app,
    /// window_start, generation); evicted generations are dropped after this.
    pub(crate) fn flush(&mut self, strings: &Interner) -> Vec<VideoWindow> {
        let mut order: Vec<(&str, &str, i64, u64, u32)> = self
            .dirty
            .iter()
            .map(|&slot| {
                let a = &self.slots[slot as usize];
                (strings.get(a.key.item), strings.get(a.key.app), a.key.start, a.generation, slot)
            })
            .collect();
        order.sort_unstable();
        let mut out = Vec::with_capacity(order.len());
        for (item, app, start, generation, slot) in order {
            let a = &mut self.slots[slot as usize];
            a.dirty = false;
            let mut changed = std::mem::take(&mut a.changed);
            changed.sort_unstable();
            let viewers = changed
                .iter()
                .map(|v| match a.viewers.get_mut(v) {
                    Some((w, listed)) => {
                        *listed = false;
                        (*v, *w)
                    }
                    None => (*v, 0),
                })
                .collect();
            a.viewers.retain(|_, (w, _)| *w != 0);
            out.push(VideoWindow {
                item: item.to_owned(),
                app: app.to_owned(),
                window_start_ms: start,
                window_end_ms: start.saturating_add(self.window_ms),
                generation,
                counters: a.emit_counters(),
                viewers,
            });
        }
        self.dirty.clear();
        self.last = None;
        if self.slots.iter().any(|a| a.evicted) {
            self.slots.retain(|a| !a.evicted);
            self.index.clear();
            for (slot, a) in self.slots.iter().enumerate() {
                self.index.insert(a.key, slot as u32);
            }
        }
        out
    }

    /// Generations in memory (held ones, and evicted ones awaiting their last flush).
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    /// Generations opened for windows already past the hold, since the start.
    pub(crate) fn late_generations(&self) -> u64 {
        self.late_generations
    }

    /// Sets `used[id]` for every string id a window refers to.
    pub(crate) fn mark_strings(&self, used: &mut [bool]) {
        for a in &self.slots {
            used[a.key.item as usize] = true;
            used[a.key.app as usize] = true;
        }
    }
}

impl Sink for Windows {
    #[inline]
    fn add(&mut self, item: u32, app: u32, window: i64, delta: Delta, sign: i64) {
        let key = WindowKey { item, app, start: window };
        let agg = self.slot(key);
        agg.apply(delta, sign);
    }
}
