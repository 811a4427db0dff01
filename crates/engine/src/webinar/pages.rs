//! Page and screen views per (kind, name, window): plain counters, with the same
//! finalization as every window (closed once the watermark passes end + lateness).

use engage_model::webinar::PageViewWindow;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Default, Serialize, Deserialize)]
struct PageAgg {
    views: u64,
    dirty: bool,
    is_final: bool,
}

/// Open page-view windows, keyed by (kind, name, window start).
#[derive(Debug, Default, Serialize, Deserialize)]
pub(super) struct Pages {
    windows: BTreeMap<(String, String, i64), PageAgg>,
}

impl Pages {
    pub(super) fn view(&mut self, kind: &str, name: &str, start: i64) {
        let agg = self.windows.entry((kind.to_owned(), name.to_owned(), start)).or_default();
        agg.views += 1;
        agg.dirty = true;
    }

    /// Marks final (and dirty) every window `closed` says is closed.
    pub(super) fn finalize(&mut self, closed: impl Fn(i64) -> bool) {
        for ((_, _, start), agg) in &mut self.windows {
            if !agg.is_final && closed(*start) {
                agg.is_final = true;
                agg.dirty = true;
            }
        }
    }

    /// Dirty windows, full state; final ones are then evicted.
    pub(super) fn flush(&mut self, window_ms: i64) -> Vec<PageViewWindow> {
        let mut out = Vec::new();
        for ((kind, name, start), agg) in &mut self.windows {
            if agg.dirty {
                agg.dirty = false;
                out.push(PageViewWindow {
                    kind: kind.clone(),
                    name: name.clone(),
                    window_start_ms: *start,
                    window_end_ms: start.saturating_add(window_ms),
                    // Placeholder until page views get generations (the webinar rework).
                    generation: 0,
                    views: agg.views,
                });
            }
        }
        self.windows.retain(|_, agg| !agg.is_final);
        out
    }

    pub(super) fn len(&self) -> usize {
        self.windows.len()
    }
}
