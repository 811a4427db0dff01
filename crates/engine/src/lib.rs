//! The pure window engine: video events in, per-(item, application, window) rollups out.
//!
//! No I/O, no clocks, no async: time arrives with the events (`event_time_ms`,
//! `received_at_ms`), and the caller decides when to [`Engine::flush`]. The consumer shell
//! feeds it from the bus, writes what `flush` returns, and snapshots the whole engine
//! (serde, postcard) after each flush so a restart resumes exactly where it stopped: the
//! engine is a deterministic function of the events recorded, and a restored engine
//! continues exactly like one that never stopped (property-tested).
//!
//! # Semantics (design.md, "Metric definitions (video)")
//! - A view is keyed by `(item, viewer)`, or `(item, vid)` when the player sent a view id.
//!   Its state machine lives in [`view`]; the window aggregates in [`window`].
//! - Watermark: the maximum over all recorded events of `min(event_time, received_at)`, so
//!   a client clock running ahead cannot push it past server time.
//! - On each `record`: advance the watermark; when it enters a new window, scan the views
//!   once (fire view timeouts, extend open play intervals for `active_views`, evict);
//!   then mark final every window whose `end + allowed_lateness <= watermark`; then reject
//!   the event as [`Outcome::Late`] if its own window is final, else apply it.
//! - Timeouts also fire lazily: an event for a view silent for the timeout (judged at the
//!   later of its own time and the watermark) first closes the old view at
//!   `last + timeout`, then hits a fresh, implicitly started one.
//! - Applying an event: duplicate check first (any kind, level-1 events included, so a
//!   retried pingback never counts twice); then `initialized`; then level filtering; then
//!   the view's state machine.
//! - An `initialized` older than every event of a view started implicitly (the network
//!   delivered the load after the play) is that view's own: it counts the impression and
//!   does not close the view.
//! - Level-2 events on a view without a level-2 `firstplay` are [`Outcome::Ignored`]
//!   without a counter: there is no play to attribute positions, exits or seeks to.
//! - Nothing changes a closed window. Only a timeout can aim at one, and only with a view
//!   timeout shorter than window plus lateness; such increments are dropped.
//!
//! # Layout
//! - `mod.rs`: the public API, the watermark, dispatch of an event to its view.
//! - [`view`]: view keys and the per-view state machine.
//! - [`views`]: the open views (hot and cold), the once-per-window scan.
//! - [`window`]: window aggregates, finalization, flush.
//! - [`intern`]: string interning (items and applications; view ids).
//! - [`webinar`]: analytics events: webinar sessions and page views, on the same watermark.

mod intern;
mod view;
mod views;
pub mod webinar;
mod window;

#[cfg(test)]
mod tests;

use engage_model::pingback::{EventKind, Level};
use engage_model::rollup::VideoWindow;
use serde::{Deserialize, Serialize};

use intern::Interner;
use view::{Applied, View, ViewKey};
use views::Views;
use window::Windows;

pub use webinar::{AnalyticsEvent, AnalyticsFlush, AnalyticsOutcome, WebinarEventKind};

/// Engine configuration; times in milliseconds of event time.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct EngineConfig {
    /// Tumbling window size (default one minute).
    pub window_ms: i64,
    /// The lateness horizon: how late (by watermark) an event may arrive and still count
    /// (default 48 hours, the collector's `--allowed-lateness-seconds`). A window is final
    /// once the watermark passes its end plus this.
    pub allowed_lateness_ms: i64,
    /// How long (of watermark) a window stays in memory after it ends (default five minutes).
    pub hold_ms: i64,
    /// Silence after which a view is closed, abandoned if it was left playing or paused
    /// (default thirty minutes).
    pub view_timeout_ms: i64,
    /// A webinar session that never ends is over at its last activity, decided once the
    /// watermark passes that activity plus this (default two hours). See [`webinar`].
    pub attendee_timeout_ms: i64,
    /// Where a webinar event names its session (`--session-id-paths`): dotted JSON paths,
    /// the first that holds an id wins (default `properties.session_id`, `context.groupId`).
    pub session_id_paths: Vec<String>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            window_ms: 60_000,
            allowed_lateness_ms: 172_800_000,
            hold_ms: 300_000,
            view_timeout_ms: 1_800_000,
            attendee_timeout_ms: 7_200_000,
            session_id_paths: engage_model::segment::path::DEFAULT_SESSION_ID_PATHS.map(String::from).to_vec(),
        }
    }
}

/// A configuration the engine cannot run with.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EngineConfigError {
    #[error("window_ms must be positive, got {0}")]
    WindowNotPositive(i64),
    #[error("allowed_lateness_ms must not be negative, got {0}")]
    NegativeLateness(i64),
    #[error("view_timeout_ms must be positive, got {0}")]
    TimeoutNotPositive(i64),
    #[error("attendee_timeout_ms must be positive, got {0}")]
    AttendeeTimeoutNotPositive(i64),
    #[error("hold_ms must not be negative, got {0}")]
    NegativeHold(i64),
    #[error("invalid session id path {0}")]
    SessionIdPath(#[from] engage_model::segment::path::PathError),
}

impl EngineConfig {
    /// Checks the configuration (the shell calls this at start-up, before [`Engine::new`]).
    pub fn validate(&self) -> Result<(), EngineConfigError> {
        if self.window_ms <= 0 {
            return Err(EngineConfigError::WindowNotPositive(self.window_ms));
        }
        if self.allowed_lateness_ms < 0 {
            return Err(EngineConfigError::NegativeLateness(self.allowed_lateness_ms));
        }
        if self.view_timeout_ms <= 0 {
            return Err(EngineConfigError::TimeoutNotPositive(self.view_timeout_ms));
        }
        if self.attendee_timeout_ms <= 0 {
            return Err(EngineConfigError::AttendeeTimeoutNotPositive(self.attendee_timeout_ms));
        }
        if self.hold_ms < 0 {
            return Err(EngineConfigError::NegativeHold(self.hold_ms));
        }
        for path in &self.session_id_paths {
            path.parse::<engage_model::segment::path::JsonPath>()?;
        }
        Ok(())
    }
}

/// One video pingback, as the engine sees it (validated and enriched by the collector).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VideoEvent<'a> {
    pub item: &'a str,
    /// The application dimension.
    pub app: &'a str,
    /// The viewer key (keyed hash of salt, IP, user agent).
    pub viewer: u64,
    /// The `vid` extension: a player-supplied view id, overriding sessionization.
    pub view_id: Option<&'a str>,
    pub kind: EventKind,
    pub level: Level,
    /// Percent, `0..=100` (larger values are treated as 100).
    pub progress: u8,
    /// Event time (the client `ts`, skew-corrected), epoch milliseconds.
    pub event_time_ms: i64,
    /// When the collector received it, epoch milliseconds.
    pub received_at_ms: i64,
}

/// What [`Engine::record`] did with an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Applied to its view and windows.
    Counted,
    /// Repeats its view's previous event (or is a second `firstplay`): only `duplicates`.
    Duplicate,
    /// Not parsed: a level-2 event sent at level 1 (counted in `ignored`), or a level-2
    /// event on a view without a level-2 play (no counter: there is no play to attribute
    /// its position to).
    Ignored,
    /// Its window is already final: not applied at all.
    Late,
}

/// Engine-internal tallies (not part of the rollups).
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct EngineStats {
    /// Views started by an event other than `initialized` (no impression).
    pub(crate) implicit_views: u64,
}

/// The window engine. See the module documentation.
#[derive(Debug, Serialize, Deserialize)]
pub struct Engine {
    config: EngineConfig,
    watermark: Option<i64>,
    /// Start of the window after the watermark's: reaching it triggers a view scan.
    next_scan_at: i64,
    /// Item ids and application names.
    strings: Interner,
    /// View ids, apart: there are many, and the item/application table stays small.
    vids: Interner,
    views: Views,
    windows: Windows,
    /// Run string garbage collection when more strings than this are interned.
    gc_at: usize,
    /// Same, for view ids.
    vid_gc_at: usize,
    pub(crate) stats: EngineStats,
    /// Webinar sessions and page views (analytics events).
    webinar: webinar::Webinars,
    /// The position of the record being applied (see [`Engine::set_position`]).
    position: u64,
}

/// Event and receive times are clamped to `±TIME_LIMIT_MS`.
const TIME_LIMIT_MS: i64 = 1 << 62;

/// Interned strings below which garbage collection is not worth a pass.
const GC_MIN_STRINGS: usize = 1024;

impl Engine {
    /// A new, empty engine.
    ///
    /// # Panics
    /// If the configuration is invalid (see [`EngineConfig::validate`]).
    pub fn new(config: EngineConfig) -> Self {
        if let Err(e) = config.validate() {
            panic!("invalid engine configuration: {e}");
        }
        let windows = Windows::new(config.window_ms, config.allowed_lateness_ms, config.view_timeout_ms);
        let views = Views::new(config.window_ms, config.view_timeout_ms);
        let webinar = webinar::Webinars::new(&config);
        Self {
            config,
            watermark: None,
            next_scan_at: i64::MIN,
            strings: Interner::default(),
            vids: Interner::default(),
            views,
            windows,
            gc_at: GC_MIN_STRINGS,
            vid_gc_at: GC_MIN_STRINGS,
            stats: EngineStats::default(),
            webinar,
            position: 0,
        }
    }

    /// The position (partition offset) of the record about to be applied; the consumer calls
    /// this before each record. A window generation opened by that record is named after it.
    pub fn set_position(&mut self, position: u64) {
        self.position = position;
    }

    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// Records one event. See the module documentation for the order of operations.
    pub fn record(&mut self, ev: &VideoEvent<'_>) -> Outcome {
        // The collector bounds times (skew correction); this only keeps window math in
        // range for absurd inputs (about ±146 million years).
        let t = ev.event_time_ms.clamp(-TIME_LIMIT_MS, TIME_LIMIT_MS);
        let received = ev.received_at_ms.clamp(-TIME_LIMIT_MS, TIME_LIMIT_MS);
        self.advance_watermark(t.min(received));
        let start = self.windows.start_of(t);
        if self.windows.is_closed(start) {
            return Outcome::Late;
        }
        self.apply(ev, t, start)
    }

    /// Every window changed since the last flush, full state, sorted by
    /// (item, app, window_start). Windows that became final are included once with
    /// `is_final = true` and then evicted from memory.
    pub fn flush(&mut self) -> Vec<VideoWindow> {
        self.windows.flush(&self.strings)
    }

    /// The watermark: max over recorded events of `min(event_time, received_at)`.
    pub fn watermark_ms(&self) -> Option<i64> {
        self.watermark
    }

    /// Views in memory.
    pub fn open_views(&self) -> usize {
        self.views.len()
    }

    /// Windows in memory: open ones, and final ones awaiting their last flush.
    pub fn open_windows(&self) -> usize {
        self.windows.len()
    }

    fn advance_watermark(&mut self, candidate: i64) {
        if self.watermark.is_some_and(|wm| candidate <= wm) {
            return;
        }
        self.watermark = Some(candidate);
        if candidate >= self.next_scan_at {
            let start = self.windows.start_of(candidate);
            self.next_scan_at = start.saturating_add(self.config.window_ms);
            self.views.scan(candidate, start, self.config.view_timeout_ms, &mut self.windows);
            self.collect_strings();
        }
        // After the timeouts: they may still land in windows this closes.
        self.windows.finalize(candidate);
        self.webinar.finalize(candidate);
    }

    /// Frees interned strings no view or window refers to any more, when enough piled up.
    fn collect_strings(&mut self) {
        if self.strings.len() > self.gc_at {
            let mut used = vec![false; self.strings.id_bound()];
            self.views.mark_strings(&mut used);
            self.windows.mark_strings(&mut used);
            self.strings.retain(&used);
            self.gc_at = (self.strings.len() * 2).max(GC_MIN_STRINGS);
        }
        if self.vids.len() > self.vid_gc_at {
            let mut used = vec![false; self.vids.id_bound()];
            self.views.mark_vids(&mut used);
            self.vids.retain(&used);
            self.vid_gc_at = (self.vids.len() * 2).max(GC_MIN_STRINGS);
        }
    }

    /// Applies an event that is not late: event time `t`, in the window starting at `start`.
    fn apply(&mut self, ev: &VideoEvent<'_>, t: i64, start: i64) -> Outcome {
        let item = self.strings.intern(ev.item);
        let app = self.strings.intern(ev.app);
        let vid = ev.view_id.map(|vid| self.vids.intern(vid));
        let progress = ev.progress.min(100);
        // The view timeout is judged against the later of this event and the watermark, so
        // a view the next scan would time out is timed out here too.
        let now = self.watermark.map_or(t, |wm| wm.max(t));
        let timeout = self.config.view_timeout_ms;
        let windows = &mut self.windows;

        let (view, fresh) = self.views.get(ViewKey::new(item, ev.viewer, vid), t, app, now, timeout, windows);

        if view.is_duplicate(ev.kind, progress) {
            if let Some(w) = windows.at_start(item, app, start) {
                w.counters.duplicates += 1;
            }
            return Outcome::Duplicate;
        }

        if ev.kind == EventKind::Initialized {
            if !fresh && !view.is_own_late_initialized(t) {
                let mut old = std::mem::replace(view, View::new(t, app));
                old.close(item, t, windows);
            }
            view.touch(ev.kind, progress, t, app);
            view.set_impression();
            if let Some(w) = windows.at_start(item, app, start) {
                w.counters.impressions += 1;
            }
            return Outcome::Counted;
        }
        if fresh {
            self.stats.implicit_views += 1;
        }

        if ev.level == Level::One && !ev.kind.is_level1() {
            view.remember(ev.kind, progress);
            if let Some(w) = windows.at_start(item, app, start) {
                w.counters.ignored += 1;
            }
            return Outcome::Ignored;
        }

        view.touch(ev.kind, progress, t, app);
        let applied = Applied { item, viewer: ev.viewer, kind: ev.kind, level: ev.level, progress, start };
        view.apply(&applied, windows)
    }
}
