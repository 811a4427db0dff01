//! Implausible viewers: one viewer key with more views open at once than a person has.
//!
//! A person plays one video, a few in tabs; a viewer key (a day's salt, an IP and a user
//! agent) with more than [`IMPLAUSIBLE_OPEN_VIEWS`] views open at one instant is a scraper the
//! bot list does not know, a load test, or many people behind one address with one agent (a
//! school, a carrier's NAT). It cannot be told which, so such a viewer is *flagged* (counted
//! in a metric, so someone looks) and never excluded: its views count as every other's.
//!
//! A view is open from its first event until `stop` or until the view timeout of edge time
//! has passed after its last event (the engine's own rule, [`crate::view`]), here measured
//! against the newest edge time of the same viewer. Which views were open is taken from the
//! events in arrival order: a flag, not a number the rollups depend on, so it need not be
//! order-independent. A viewer is counted once per *episode*: from the moment it crosses the
//! threshold until it has no view open any more (viewer keys change every UTC day, so at
//! most a few times a day). Bots' events are not looked at: they are counted apart already.
//!
//! Memory is bounded: a viewer holds at most [`MAX_TRACKED`] open views, and viewers without
//! an open view are forgotten on the watermark's scans.

use hashbrown::HashMap;
use serde::{Deserialize, Serialize};

/// More open views than this at one instant make a viewer implausible.
pub const IMPLAUSIBLE_OPEN_VIEWS: usize = 50;
/// Open views remembered per viewer: past the threshold, more tell nothing new.
const MAX_TRACKED: usize = IMPLAUSIBLE_OPEN_VIEWS + 1;

/// One view of a viewer: (item id, view id or `u32::MAX`).
type ViewOf = (u32, u32);

/// A viewer's open views.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Viewer {
    /// Each open view and the newest edge time of its events.
    open: Vec<(ViewOf, i64)>,
    /// The newest edge time of the viewer's events.
    latest: i64,
    /// In an episode: counted already.
    flagged: bool,
}

/// Open views per viewer key.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct Crowds {
    viewers: HashMap<u64, Viewer>,
    /// Episodes started since the last [`Crowds::take_flagged`].
    #[serde(skip)]
    flagged: u64,
}

impl Crowds {
    /// Notes an event of `viewer` on `view` at edge time `e`; `closes` for a `stop`.
    pub(crate) fn note(&mut self, viewer: u64, view: ViewOf, e: i64, closes: bool, timeout_ms: i64) {
        if viewer == 0 {
            return; // unknown viewer: nothing to tell apart
        }
        let v = self.viewers.entry(viewer).or_default();
        v.latest = v.latest.max(e);
        let since = v.latest.saturating_sub(timeout_ms);
        v.open.retain(|&(_, last)| last >= since);
        if v.open.is_empty() {
            v.flagged = false; // the episode is over
        }
        let found = v.open.iter().position(|(w, _)| *w == view);
        match (found, closes) {
            (Some(i), true) => {
                v.open.swap_remove(i);
            }
            (Some(i), false) => v.open[i].1 = v.open[i].1.max(e),
            (None, false) if e >= since && v.open.len() < MAX_TRACKED => v.open.push((view, e)),
            (None, _) => {}
        }
        if v.open.len() > IMPLAUSIBLE_OPEN_VIEWS && !v.flagged {
            v.flagged = true;
            self.flagged += 1;
        }
    }

    /// Forgets viewers whose every view timed out by watermark `wm` (a scan).
    pub(crate) fn forget_idle(&mut self, wm: i64, timeout_ms: i64) {
        let since = wm.saturating_sub(timeout_ms);
        self.viewers.retain(|_, v| {
            v.open.retain(|&(_, last)| last >= since);
            !v.open.is_empty()
        });
    }

    /// Episodes of implausible viewers started since the last call.
    pub(crate) fn take_flagged(&mut self) -> u64 {
        std::mem::take(&mut self.flagged)
    }

    /// Marks the item and view ids still referred to (string garbage collection; either
    /// slice may be empty).
    pub(crate) fn mark(&self, items: &mut [bool], vids: &mut [bool]) {
        for &((item, vid), _) in self.viewers.values().flat_map(|v| &v.open) {
            if let Some(used) = items.get_mut(item as usize) {
                *used = true;
            }
            if let Some(used) = vids.get_mut(vid as usize) {
                *used = true;
            }
        }
    }

    /// Viewers with open views in memory.
    pub(crate) fn len(&self) -> usize {
        self.viewers.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMEOUT: i64 = 1_800_000;

    #[test]
    fn more_than_fifty_open_views_flag_a_viewer_once_per_episode() {
        let mut c = Crowds::default();
        for item in 0..50 {
            c.note(7, (item, u32::MAX), 1_000, false, TIMEOUT);
        }
        assert_eq!(c.take_flagged(), 0, "fifty is plausible");
        c.note(7, (50, u32::MAX), 2_000, false, TIMEOUT);
        c.note(7, (51, u32::MAX), 2_000, false, TIMEOUT);
        c.note(7, (0, u32::MAX), 3_000, false, TIMEOUT);
        assert_eq!(c.take_flagged(), 1, "once while the episode lasts");
        // Every view times out: a new episode may be counted again.
        c.note(7, (99, u32::MAX), 3_000 + TIMEOUT + 1, false, TIMEOUT);
        assert!(!c.viewers[&7].flagged);
        for item in 100..152 {
            c.note(7, (item, u32::MAX), 3_000 + TIMEOUT + 2, false, TIMEOUT);
        }
        assert_eq!(c.take_flagged(), 1);
        assert_eq!(c.viewers[&7].open.len(), MAX_TRACKED, "bounded");
    }

    #[test]
    fn stopped_and_timed_out_views_are_not_open() {
        let mut c = Crowds::default();
        for item in 0..60 {
            c.note(3, (item, 1), 1_000 * i64::from(item), false, TIMEOUT);
            c.note(3, (item, 1), 1_000 * i64::from(item) + 500, true, TIMEOUT);
        }
        assert_eq!(c.take_flagged(), 0, "one view at a time, sixty times");
        for item in 0..60 {
            c.note(4, (item, 1), i64::from(item) * TIMEOUT, false, TIMEOUT);
        }
        assert_eq!(c.take_flagged(), 0, "each view timed out before the next");
        c.forget_idle(100 * TIMEOUT, TIMEOUT);
        assert_eq!(c.len(), 0);
    }
}
