//! The open views, kept in two maps by temperature, and the once-per-window scan.
//!
//! A view lives in memory for the view timeout (30 minutes by default) after its last
//! event, but is interesting for much less: once stopped, or idle for a window, it only
//! waits to expire (or for a rare late event: a retry, a restart after completion). Such
//! *settled* views go to the `cold` map, so the `hot` map holds the views that are playing,
//! paused or just loaded: small enough to stay in cache, and all the watermark scan has
//! to visit. Cold views are swept for expiry a few times per timeout period.
//!
//! Closing a settled view has no effect on any counter (it is neither playing nor left
//! open), so where a settled view is kept, and when it is evicted, is invisible in the
//! results: an event for a view past its timeout starts a fresh view either way.

use hashbrown::HashMap;
use hashbrown::hash_map::Entry;
use serde::{Deserialize, Serialize};

use super::view::{View, ViewKey};
use super::window::{WindowKey, Windows};

/// Every open view.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Views {
    /// Views playing, paused, seeking, or idle for less than a window.
    hot: HashMap<ViewKey, View>,
    /// Settled views, waiting to expire.
    cold: HashMap<ViewKey, View>,
    /// Sweep `cold` for expired views when the watermark reaches this.
    next_sweep_at: i64,
    sweep_every_ms: i64,
    /// Scratch space of `scan` (always empty between calls).
    #[serde(skip)]
    active_batch: HashMap<WindowKey, u64>,
}

impl Views {
    pub(super) fn new(window_ms: i64, view_timeout_ms: i64) -> Self {
        Self {
            hot: HashMap::new(),
            cold: HashMap::new(),
            next_sweep_at: i64::MIN,
            sweep_every_ms: (view_timeout_ms / 8).max(window_ms),
            active_batch: HashMap::new(),
        }
    }

    /// Number of views in memory.
    pub(super) fn len(&self) -> usize {
        self.hot.len() + self.cold.len()
    }

    /// The view of `key` for an event at `t_ms` in application `app`, and whether the event
    /// starts it (`fresh`). A view past its timeout at `now_ms` is closed first (at its
    /// expiry) and replaced by a fresh one.
    pub(super) fn get(
        &mut self,
        key: ViewKey,
        t_ms: i64,
        app: u32,
        now_ms: i64,
        timeout_ms: i64,
        windows: &mut Windows,
    ) -> (&mut View, bool) {
        let mut fresh = false;
        let view = match self.hot.entry(key) {
            Entry::Occupied(entry) => entry.into_mut(),
            Entry::Vacant(entry) => {
                let view = self.cold.remove(&key).unwrap_or_else(|| {
                    fresh = true;
                    View::new(t_ms, app)
                });
                entry.insert(view)
            }
        };
        if !fresh && view.expiry(timeout_ms) <= now_ms {
            let mut old = std::mem::replace(view, View::new(t_ms, app));
            old.close(key.item, old.expiry(timeout_ms), windows);
            fresh = true;
        }
        (view, fresh)
    }

    /// Once per window of watermark: closes the views whose timeout passed (abandoning
    /// those left playing or paused), counts the playing ones active up to the window at
    /// `now_start`, moves settled views to the cold map, and now and then sweeps it.
    pub(super) fn scan(&mut self, watermark: i64, now_start: i64, timeout_ms: i64, windows: &mut Windows) {
        let Views { hot, cold, active_batch, .. } = self;
        let step = windows.window_ms();
        let idle_before = now_start.saturating_sub(step);
        let leaving = hot.extract_if(|key, view| {
            let expiry = view.expiry(timeout_ms);
            if expiry <= watermark {
                view.close(key.item, expiry, windows);
                return true;
            }
            if view.is_playing()
                && let Some((first, last)) = view.take_active_span(now_start, windows)
            {
                // Batched per window: far fewer lookups in the window map.
                let mut w = first;
                while w <= last {
                    *active_batch.entry(WindowKey { item: key.item, app: view.app(), start: w }).or_insert(0) += 1;
                    w += step;
                }
            }
            view.is_settled(idle_before)
        });
        for (key, view) in leaving {
            if view.expiry(timeout_ms) > watermark {
                cold.insert(key, view);
            }
        }
        for (key, n) in active_batch.drain() {
            if let Some(w) = windows.at_start(key.item, key.app, key.start) {
                w.counters.active_views += n;
            }
        }
        if watermark >= self.next_sweep_at {
            self.next_sweep_at = watermark.saturating_add(self.sweep_every_ms);
            self.cold.retain(|_, view| view.expiry(timeout_ms) > watermark);
        }
    }

    /// Sets `used[id]` for every item and application id a view refers to.
    pub(super) fn mark_strings(&self, used: &mut [bool]) {
        for (key, view) in self.hot.iter().chain(&self.cold) {
            used[key.item as usize] = true;
            used[view.app() as usize] = true;
        }
    }

    /// Sets `used[id]` for every view id a view is keyed by.
    pub(super) fn mark_vids(&self, used: &mut [bool]) {
        for key in self.hot.keys().chain(self.cold.keys()) {
            if key.vid != ViewKey::NO_VID {
                used[key.vid as usize] = true;
            }
        }
    }
}
