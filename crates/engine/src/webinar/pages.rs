//! Page and screen views per (kind, name, window), in generations.
//!
//! Page views are plain counters, so they need no window held for the whole horizon: a
//! window stays in memory for `hold_ms` of watermark after it ends; a view for a window not
//! in memory opens a new *generation* of it, a row of its own that sums with the rows
//! already written (the model's `PageViewWindow`). A generation is named after the position
//! of the record that opened it, so a replay from the same position rewrites the same rows.
//! A generation opened late (for a window that ended long ago) is held `hold_ms` after it was
//! opened, so a late backfill of many views of one window makes one row, not one per view.
//! Each row is the full state of its generation: rewriting it is idempotent.
//!
//! Page names are a bounded dimension ([`engage_model::dimension`]): per (kind, window), the
//! first [`engage_model::dimension::MAX_PAGE_NAMES_PER_WINDOW`] distinct names recorded
//! while a generation of the window is held keep their names; views of any other name count
//! under `(other)`. Which names keep theirs past the cap depends on arrival order; the total
//! views do not.
//!
//! A generation leaves memory when the watermark reaches its time, as the watermark
//! advances, not when the consumer flushes, so which generation a view lands in depends only
//! on the records: a replay after a restart writes the same rows.

use super::Config;
use engage_model::dimension::{Dimension, DistinctCap, OTHER, Overflow};
use engage_model::webinar::PageViewWindow;
use serde::{Deserialize, Serialize};
use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Serialize, Deserialize)]
struct Generation {
    generation: u64,
    views: u64,
    dirty: bool,
}

type Key = (String, String, i64);

/// Page-view generations in memory, keyed by (kind, name, window start).
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Pages {
    windows: BTreeMap<Key, Generation>,
    /// `(evict_at, key)` of every generation in memory.
    evictions: BTreeSet<(i64, Key)>,
    /// Rows of generations that left memory changed since the last flush.
    pending: Vec<PageViewWindow>,
    /// Names admitted per (window, kind).
    names: DistinctCap<String, String>,
}

impl Default for Pages {
    fn default() -> Self {
        Self {
            windows: BTreeMap::new(),
            evictions: BTreeSet::new(),
            pending: Vec::new(),
            names: DistinctCap::new(Dimension::PageName),
        }
    }
}

fn row((kind, name, start): &Key, g: &Generation, window_ms: i64) -> PageViewWindow {
    PageViewWindow {
        // Stamped by the source's tenant (see `tenants`).
        source: String::new(),
        kind: kind.clone(),
        name: name.clone(),
        window_start_ms: *start,
        window_end_ms: start.saturating_add(window_ms),
        generation: g.generation,
        views: g.views,
    }
}

impl Pages {
    /// Counts a view of `name` in the window starting at `start`, at watermark `wm`, by the
    /// record at `position`.
    pub(super) fn view(&mut self, kind: &str, name: &str, start: i64, position: u64, wm: i64, cfg: &Config) {
        let end = start.saturating_add(cfg.window_ms);
        let evict_at = end.max(wm).saturating_add(cfg.hold_ms);
        let name = if self.names.admit(start, evict_at, kind.to_owned(), name) { name } else { OTHER };
        let key = (kind.to_owned(), name.to_owned(), start);
        let g = match self.windows.entry(key) {
            Entry::Occupied(o) => o.into_mut(),
            Entry::Vacant(v) => {
                self.evictions.insert((evict_at, v.key().clone()));
                v.insert(Generation { generation: position, views: 0, dirty: false })
            }
        };
        g.views += 1;
        g.dirty = true;
    }

    /// Lets go of the generations whose hold is over at watermark `wm` (their last changes
    /// wait for the next flush).
    pub(super) fn finalize(&mut self, wm: i64, window_ms: i64) {
        self.names.expire(wm);
        while let Some((at, _)) = self.evictions.first()
            && *at <= wm
        {
            let Some((_, key)) = self.evictions.pop_first() else { break };
            if let Some(g) = self.windows.remove(&key)
                && g.dirty
            {
                self.pending.push(row(&key, &g, window_ms));
            }
        }
    }

    /// Changed generations, full state, sorted by (kind, name, window, generation).
    pub(super) fn flush(&mut self, window_ms: i64) -> Vec<PageViewWindow> {
        let mut out = std::mem::take(&mut self.pending);
        for (key, g) in &mut self.windows {
            if g.dirty {
                g.dirty = false;
                out.push(row(key, g, window_ms));
            }
        }
        out.sort_by(|a, b| {
            (&a.kind, &a.name, a.window_start_ms, a.generation).cmp(&(
                &b.kind,
                &b.name,
                b.window_start_ms,
                b.generation,
            ))
        });
        out
    }

    pub(super) fn is_empty(&self) -> bool {
        self.len() == 0 && self.names.is_empty()
    }

    /// Views recorded as `(other)` since the last call.
    pub(super) fn take_overflow(&mut self) -> Overflow {
        self.names.take_overflow()
    }

    /// Whether rows of generations that left memory wait for the next flush.
    pub(super) fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    pub(super) fn len(&self) -> usize {
        self.windows.len()
    }
}
