//! Sources are tenants: each source (the name `--write-keys` gives a write key) has its own
//! webinar state, so two sources never see or change each other's sessions, persons or page
//! views, even when they use the same session ids, user ids or page names.
//!
//! [`Tenants`] holds one [`Webinars`] per source and stamps every row it flushes with that
//! source. All of them move on the one watermark of the engine: a source created later starts
//! at the current watermark, exactly as if it had been there all along, so what a source's
//! rows hold never depends on when its first event arrived relative to other sources'.
//!
//! # Bounds
//! At most [`MAX_SOURCES`] sources are held (a collector with configured write keys has a
//! handful; without them, any key is its own source): an event of one more source is
//! [`AnalyticsOutcome::OverCap`], counted and kept raw, not aggregated. A source whose state
//! is empty again is dropped (and re-created, identical, by its next event), so the cap
//! counts sources with state in memory, not every source ever seen.

use super::{AnalyticsEvent, AnalyticsFlush, AnalyticsOutcome, Config, Webinars};
use crate::EngineConfig;
use engage_model::dimension::Overflow;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Most sources with webinar or page-view state in memory at once.
pub const MAX_SOURCES: usize = 10_000;

/// What [`Tenants::erase`] found and forgot.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Erased {
    /// Every id of the erased persons (the ids asked for and those linked to them), sorted.
    pub ids: Vec<String>,
    /// Persons whose ids were forgotten.
    pub persons: usize,
}

/// The webinar and page-view state of every source.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Tenants {
    /// The configuration of every source's state.
    cfg: Config,
    watermark: Option<i64>,
    by_source: BTreeMap<String, Webinars>,
    /// Overflow counts of sources dropped since the last take (a metric, not state).
    #[serde(skip)]
    overflow: Overflow,
}

impl Tenants {
    pub(crate) fn new(config: &EngineConfig) -> Self {
        Self { cfg: Config::new(config), watermark: None, by_source: BTreeMap::new(), overflow: Overflow::default() }
    }

    /// Moves every source's watermark (see [`Webinars::finalize`]), and drops sources whose
    /// state is empty again (nothing held, no rows waiting for a flush): a new state at this
    /// watermark is the same, so dropping changes no row, and it happens as records move the
    /// watermark, never at a flush.
    pub(crate) fn finalize(&mut self, watermark: i64) {
        self.watermark = Some(watermark);
        if self.by_source.is_empty() {
            return;
        }
        for w in self.by_source.values_mut() {
            w.finalize(watermark);
        }
        let overflow = &mut self.overflow;
        self.by_source.retain(|_, w| {
            let keep = !w.is_empty();
            if !keep {
                overflow.merge(w.take_overflow());
            }
            keep
        });
    }

    /// Applies one event to its source's state.
    pub(crate) fn record(&mut self, ev: &AnalyticsEvent<'_>, t: i64, position: u64) -> AnalyticsOutcome {
        if !self.by_source.contains_key(ev.source) {
            if self.by_source.len() >= MAX_SOURCES {
                return AnalyticsOutcome::OverCap;
            }
            let mut fresh = Webinars::new(self.cfg.clone());
            if let Some(wm) = self.watermark {
                fresh.finalize(wm);
            }
            self.by_source.insert(ev.source.to_owned(), fresh);
        }
        match self.by_source.get_mut(ev.source) {
            Some(w) => w.record(ev, t, position),
            None => AnalyticsOutcome::OverCap,
        }
    }

    /// Every source's changed rows, each stamped with its source; sorted by (source, key).
    pub(crate) fn flush(&mut self) -> AnalyticsFlush {
        let mut out = AnalyticsFlush::default();
        for (source, w) in &mut self.by_source {
            let mut f = w.flush();
            for r in &mut f.session_windows {
                r.source.clone_from(source);
            }
            for r in &mut f.summaries {
                r.source.clone_from(source);
            }
            for r in &mut f.page_views {
                r.source.clone_from(source);
            }
            out.session_windows.append(&mut f.session_windows);
            out.summaries.append(&mut f.summaries);
            out.page_views.append(&mut f.page_views);
        }
        out
    }

    /// Forgets the ids of the persons of `source` holding any of `ids`, and the ids linked to
    /// them (see [`Webinars::erase`]).
    pub(crate) fn erase(&mut self, source: &str, ids: &[String]) -> Erased {
        match self.by_source.get_mut(source) {
            Some(w) => w.erase(ids),
            None => Erased::default(),
        }
    }

    /// Values recorded as `(other)` since the last call, over all sources.
    pub(crate) fn take_overflow(&mut self) -> Overflow {
        let mut out = std::mem::take(&mut self.overflow);
        for w in self.by_source.values_mut() {
            out.merge(w.take_overflow());
        }
        out
    }

    /// Sessions and `no_session` days in memory, over all sources.
    pub(crate) fn sessions(&self) -> usize {
        self.by_source.values().map(Webinars::sessions).sum()
    }

    /// Page-view windows in memory, over all sources.
    pub(crate) fn page_windows(&self) -> usize {
        self.by_source.values().map(Webinars::page_windows).sum()
    }

    /// Sources with state in memory.
    pub(crate) fn sources(&self) -> usize {
        self.by_source.len()
    }
}
