//! Emission of full-state session rows: only what changed since the last emission, each
//! window once more when it becomes final, and never again after that.
//!
//! A window is final once `window_end + allowed_lateness <= watermark`. The engine moves
//! the boundary as records move the watermark (see `Webinars::finalize`): an emission is
//! given the boundary before it (`done_before`: earlier windows went final already, and are
//! skipped) and the boundary now (`open_from`: windows in between go final now). A
//! window emitted before and now empty (an event moved to another session, a presence cut
//! back to the session's last activity) is emitted again with zero counts, which readers
//! treat as no window. The summary is written when it differs from the last one written.

use super::{AnalyticsFlush, Config};
use engage_model::time::window_start;
use engage_model::webinar::{SessionSummary, SessionWindow, SessionWindowCounts};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What was emitted for one session (or `no_session` day).
#[derive(Debug, Default, Serialize, Deserialize)]
pub(super) struct Rows {
    /// Last emitted counts of windows not final yet.
    emitted: BTreeMap<i64, SessionWindowCounts>,
    summary: Option<SessionSummary>,
}

/// The start of the first window not final at watermark `wm`.
pub(super) fn first_open_window(wm: i64, cfg: &Config) -> i64 {
    let last_final = wm.saturating_sub(cfg.lateness_ms).saturating_sub(cfg.window_ms);
    window_start(last_final, cfg.window_ms).saturating_add(cfg.window_ms)
}

impl Rows {
    /// Emits the rows of `id` that changed, given its freshly computed windows and summary:
    /// windows before `done_before` are done, those up to `open_from` go final now.
    pub(super) fn emit(
        &mut self,
        id: &str,
        windows: &BTreeMap<i64, SessionWindowCounts>,
        summary: SessionSummary,
        (done_before, open_from): (i64, i64),
        cfg: &Config,
        out: &mut AnalyticsFlush,
    ) {
        let empty = SessionWindowCounts::default();
        let mut starts: Vec<i64> = windows.keys().chain(self.emitted.keys()).copied().collect();
        starts.sort_unstable();
        starts.dedup();
        for w in starts.into_iter().filter(|w| *w >= done_before) {
            let counts = windows.get(&w).unwrap_or(&empty);
            let is_final = w < open_from;
            let before = self.emitted.get(&w);
            let unchanged = before.map_or(*counts == empty, |b| b == counts);
            if is_final {
                if before.is_none() && *counts == empty {
                    continue;
                }
                self.emitted.remove(&w);
            } else if unchanged {
                continue;
            } else {
                self.emitted.insert(w, counts.clone());
            }
            out.session_windows.push(SessionWindow {
                // Stamped by the source's tenant (see `tenants`).
                source: String::new(),
                session_id: id.to_owned(),
                window_start_ms: w,
                window_end_ms: w.saturating_add(cfg.window_ms),
                is_final,
                counts: counts.clone(),
            });
        }
        self.emitted.retain(|w, _| *w >= open_from);
        // The first summary is always written: the store may hold one of an earlier session
        // of the same id (gone from memory), so after every flush it holds the current one.
        let summary = SessionSummary { session_id: id.to_owned(), ..summary };
        if self.summary.as_ref() != Some(&summary) {
            out.summaries.push(summary.clone());
            self.summary = Some(summary);
        }
    }

    /// Whether a window emitted as not final becomes final at `boundary` (see
    /// [`first_open_window`]).
    pub(super) fn goes_final(&self, boundary: i64) -> bool {
        self.emitted.first_key_value().is_some_and(|(&w, _)| w < boundary)
    }
}
