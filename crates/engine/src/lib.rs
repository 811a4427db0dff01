//! The pure window engine: video events in, per-(item, application, window) rollups out.
//!
//! No I/O, no clocks, no async (this crate's manifest has no tokio, Kafka, bus or store
//! dependency): time arrives with the events, and the caller decides when to
//! [`Engine::flush`]. The consumer shell feeds it from the bus, writes what `flush` returns,
//! and snapshots the engine (serde) so a restart resumes exactly where it stopped: the
//! engine is a deterministic function of the records it was given, in order.
//!
//! # Time model
//! An event's time is when the *edge* saw it ([`VideoEvent::event_time_ms`]: the collector's
//! receive time for live pingbacks, the log line's timestamp for CDN logs, Segment's
//! corrected `timestamp`). It decides the window an event counts in. The player's `ts` only
//! orders the events of one view. So a wrong player clock never moves or loses an event.
//! The collector refuses what is older than the lateness horizon by its own clock, so the
//! engine counts every event it is given: there is no "late" refusal here.
//!
//! The watermark is the highest `min(event time, ingested_at + tolerance)` seen: no input
//! can move it past the collectors' own clocks. It drives view timeouts (abandonment), the
//! tails of views still playing (active views), which windows and views stay in memory, and
//! which windows are final (`watermark - allowed lateness`).
//!
//! # Numbers as a function of the event set
//! A view's contribution is derived from the set of its events ([`timeline`]), applied in
//! player order by the specification's state machine ([`view`]); a reordered or late event
//! retracts the old contribution and adds the new one. Windows are held for a short hold
//! after they end; later increments open new generations that stores sum ([`windows`]).
//! Timelines leave memory a hold after their views close, to the store's archive, and come
//! back when a late event needs them ([`timelines`]). Property-tested: any permutation and
//! any batching of the same events give the same sums.
//!
//! # Layout
//! - `lib.rs`: configuration, the public API, the watermark, dispatch of an event.
//! - [`view`]: one view's state machine and the increments it emits.
//! - [`timeline`]: a view key's event set, clustering, ordering, fast path and re-derivation.
//! - [`timelines`]: timelines in memory, scanning, archiving, midnight links.
//! - [`windows`]: window generations, eviction, flush.
//! - [`crowds`]: implausible viewers (too many views open at once), flagged for a metric.
//! - [`intern`]: string interning (items and applications; view ids).
//! - [`webinar`]: analytics events: webinar sessions and page views, on the same watermark.
//!
//! # Bounded dimensions
//! Items are never capped. Applications are ([`engage_model::dimension`]): per item and
//! window of edge time, the first [`engage_model::dimension::MAX_APPS_PER_ITEM_WINDOW`]
//! distinct applications recorded keep their names while the window is held (a window past
//! the hold, for late data, gets a quota for one window of watermark); an event of any
//! other application is recorded as `(other)`. The name is decided once per event and kept
//! with it, so a view's later corrections retract exactly what it added. Below the cap the
//! numbers are a function of the event set as everywhere; past it, which applications keep
//! their names depends on arrival order, while every total over applications stays exact.

mod crowds;
mod intern;
mod timeline;
mod timelines;
mod view;
pub mod webinar;
mod windows;

#[cfg(test)]
mod tests;

use engage_model::dimension::{Dimension, DistinctCap, OTHER, Overflow};
use engage_model::pingback::{EventKind, Level};
use engage_model::rollup::{ArchivedState, VideoWindow};
use hashbrown::HashSet;
use serde::{Deserialize, Serialize};

use intern::Interner;
use timeline::{Inserted, NewEvent, Params, Who};
use timelines::{Timelines, ViewKey, archive_key};
use view::{Class, Ctx};
use windows::Windows;

pub use crowds::IMPLAUSIBLE_OPEN_VIEWS;
pub use webinar::{AnalyticsEvent, AnalyticsFlush, AnalyticsOutcome, WebinarEventKind};

/// How far past an input's `ingested_at` (the collector's clock) its event time may move the
/// watermark: the collectors refuse anything later than this ahead of their clocks.
pub const FUTURE_TOLERANCE_MS: i64 = 60_000;

/// Engine configuration; times in milliseconds of event time.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct EngineConfig {
    /// Tumbling window size (default one minute).
    pub window_ms: i64,
    /// The lateness horizon (default 48 hours, at most 7 days): the collectors refuse what is
    /// older by their clocks; a window is final once the watermark is this far past its end.
    pub allowed_lateness_ms: i64,
    /// How long windows and closed views stay in memory after they end, by watermark
    /// (default five minutes). Later data is still exact: it opens new window generations
    /// and loads archived views. Shorter: less memory, more store reads for late data.
    pub hold_ms: i64,
    /// Silence (of edge time) after which a view is closed, abandoned if it was left playing
    /// or paused (default thirty minutes).
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

/// The longest lateness horizon accepted: 7 days.
pub const MAX_ALLOWED_LATENESS_MS: i64 = 7 * 86_400_000;

/// A configuration the engine cannot run with.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EngineConfigError {
    #[error("window_ms must be positive, got {0}")]
    WindowNotPositive(i64),
    #[error("allowed_lateness_ms must be positive and at most 7 days, got {0}")]
    LatenessOutOfRange(i64),
    #[error("hold_ms must not be negative, got {0}")]
    NegativeHold(i64),
    #[error("view_timeout_ms must be positive, got {0}")]
    TimeoutNotPositive(i64),
    #[error("attendee_timeout_ms must be positive, got {0}")]
    AttendeeTimeoutNotPositive(i64),
    #[error("invalid session id path {0}")]
    SessionIdPath(#[from] engage_model::segment::path::PathError),
}

impl EngineConfig {
    /// Checks the configuration (the shell calls this at start-up, before [`Engine::new`]).
    pub fn validate(&self) -> Result<(), EngineConfigError> {
        if self.window_ms <= 0 {
            return Err(EngineConfigError::WindowNotPositive(self.window_ms));
        }
        if self.allowed_lateness_ms <= 0 || self.allowed_lateness_ms > MAX_ALLOWED_LATENESS_MS {
            return Err(EngineConfigError::LatenessOutOfRange(self.allowed_lateness_ms));
        }
        if self.hold_ms < 0 {
            return Err(EngineConfigError::NegativeHold(self.hold_ms));
        }
        if self.view_timeout_ms <= 0 {
            return Err(EngineConfigError::TimeoutNotPositive(self.view_timeout_ms));
        }
        if self.attendee_timeout_ms <= 0 {
            return Err(EngineConfigError::AttendeeTimeoutNotPositive(self.attendee_timeout_ms));
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
    /// The viewer key (keyed hash of the day's salt, IP, user agent).
    pub viewer: u64,
    /// The viewer key under the previous day's salt, in the first hours of a UTC day (0:
    /// none): the view keeps the identity it started with across midnight.
    pub prev_viewer: u64,
    /// The `vid` extension: a player-supplied view id, overriding sessionization.
    pub view_id: Option<&'a str>,
    pub kind: EventKind,
    pub level: Level,
    /// Percent, `0..=100` (larger values are treated as 100).
    pub progress: u8,
    /// The player's `ts`: orders the events of one view.
    pub client_ts_ms: i64,
    /// Edge time, epoch milliseconds: decides the window.
    pub event_time_ms: i64,
    /// The collector's clock when it accepted the event (0: unknown, then the event time).
    pub ingested_at_ms: i64,
    /// The collector classified the sender as a bot: its view counts only in
    /// `bot_impressions` and `bot_plays` (see [`view`]).
    pub bot: bool,
}

/// What [`Engine::record`] did with an event. Every event but `NeedsArchive` is counted in
/// the rollups (a repeat counts where its first copy did).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Applied in order, on time.
    Counted,
    /// The same `(event, progress)` as its view's previous event (or a second `firstplay`).
    Duplicate,
    /// A level-2 event sent at level 1: accepted, not parsed.
    Ignored,
    /// A level-2 event of a view that never started.
    Orphan,
    /// The same pingback as one already recorded (retry, re-shipped log): changes nothing.
    Repeat,
    /// Out of player order within its view: the view was re-derived.
    Reordered,
    /// In order, but for a window the engine no longer held: counted in a new generation.
    Late,
    /// Applied in arrival order to a view over the event cap (see `timeline`).
    Unordered,
    /// Not applied: its view may be in the store's archive. Load it
    /// ([`Engine::missing_archives`], [`Engine::restore_archived`]) and record again.
    NeedsArchive,
}

impl Outcome {
    /// Every outcome, for metrics.
    pub const ALL: [Outcome; 9] = [
        Self::Counted,
        Self::Duplicate,
        Self::Ignored,
        Self::Orphan,
        Self::Repeat,
        Self::Reordered,
        Self::Late,
        Self::Unordered,
        Self::NeedsArchive,
    ];

    /// The metrics label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Counted => "counted",
            Self::Duplicate => "duplicate",
            Self::Ignored => "ignored",
            Self::Orphan => "orphan",
            Self::Repeat => "repeat",
            Self::Reordered => "reordered",
            Self::Late => "late",
            Self::Unordered => "unordered",
            Self::NeedsArchive => "needs_archive",
        }
    }
}

/// The window engine. See the crate documentation.
#[derive(Debug, Serialize, Deserialize)]
pub struct Engine {
    config: EngineConfig,
    watermark: Option<i64>,
    /// Start of the window after the watermark's: reaching it triggers a scan.
    next_scan_at: i64,
    /// The position of the record being applied (versions and generations).
    position: u64,
    /// Item ids and application names.
    strings: Interner,
    /// View ids, apart: there are many, and the item/application table stays small.
    vids: Interner,
    timelines: Timelines,
    windows: Windows,
    /// Run string garbage collection when more strings than this are interned.
    gc_at: usize,
    vid_gc_at: usize,
    /// Archive keys looked up since the last flush (found or not): never asked twice.
    #[serde(skip)]
    checked: HashSet<[u8; 16]>,
    /// Webinar sessions and page views (analytics events).
    webinar: webinar::tenants::Tenants,
    /// Applications admitted per (window, item): past the cap an event's application is
    /// `(other)` (see "Bounded dimensions").
    app_cap: DistinctCap<u32, u32>,
    /// Open views per viewer, for the implausible-viewer metric (never for the rollups).
    crowds: crowds::Crowds,
}

/// Event times are clamped to `±TIME_LIMIT_MS` (window math stays in range).
const TIME_LIMIT_MS: i64 = 1 << 60;

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
        let webinar = webinar::tenants::Tenants::new(&config);
        Self {
            windows: Windows::new(config.window_ms, config.hold_ms),
            config,
            watermark: None,
            next_scan_at: i64::MIN,
            position: 0,
            strings: Interner::default(),
            vids: Interner::default(),
            timelines: Timelines::default(),
            gc_at: GC_MIN_STRINGS,
            vid_gc_at: GC_MIN_STRINGS,
            checked: HashSet::new(),
            webinar,
            app_cap: DistinctCap::new(Dimension::App),
            crowds: crowds::Crowds::default(),
        }
    }

    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// Sets the position of the record about to be applied (the consumer's offset). It
    /// numbers window generations and versions archived states, so a replay from a
    /// checkpoint reproduces them exactly.
    pub fn set_position(&mut self, position: u64) {
        self.position = position;
        self.windows.set_position(position);
    }

    /// The position last set.
    pub fn position(&self) -> u64 {
        self.position
    }

    fn params(&self, item: u32) -> Params {
        Params {
            ctx: Ctx { item, window_ms: self.config.window_ms },
            timeout_ms: self.config.view_timeout_ms,
            hold_ms: self.config.hold_ms,
            horizon_ms: self.config.allowed_lateness_ms,
        }
    }

    fn wm(&self) -> i64 {
        self.watermark.unwrap_or(i64::MIN)
    }

    /// Whether an event this old may belong to a timeline that left memory.
    fn may_be_archived(&self, event_time_ms: i64) -> bool {
        self.watermark.is_some_and(|wm| event_time_ms <= wm.saturating_sub(self.config.hold_ms))
    }

    /// The archive keys `ev` needs loaded before it can be recorded (empty: none). A key is
    /// asked for once until the next flush, found or not.
    pub fn missing_archives(&self, ev: &VideoEvent<'_>) -> Vec<[u8; 16]> {
        let mut out = Vec::new();
        if !self.may_be_archived(ev.event_time_ms.clamp(-TIME_LIMIT_MS, TIME_LIMIT_MS)) {
            return out;
        }
        let item = self.strings.lookup(ev.item);
        let mut consider = |viewer: u64, vid: Option<&str>| {
            let key = match (item, vid) {
                (None, _) => None,
                (Some(item), Some(v)) => self.vids.lookup(v).map(|v| ViewKey::new(item, 0, Some(v))),
                (Some(item), None) => Some(ViewKey::new(item, viewer, None)),
            };
            // Known and complete: nothing archived is missing.
            if key.and_then(|k| self.timelines.known(k)) == Some(true) {
                return;
            }
            let hash = archive_key(ev.item, vid, viewer);
            if !self.checked.contains(&hash) {
                out.push(hash);
            }
        };
        consider(ev.viewer, ev.view_id);
        if ev.view_id.is_none() && ev.prev_viewer != 0 {
            consider(ev.prev_viewer, None);
        }
        out
    }

    /// Installs the archived states the store holds for `key` (every row at or below the
    /// current position; none is fine) and marks the key as looked up. Returns false if a
    /// state did not decode (it is ignored; the consumer counts it).
    pub fn restore_archived(&mut self, key: [u8; 16], states: &[Vec<u8>]) -> bool {
        self.checked.insert(key);
        if states.is_empty() {
            return true;
        }
        let wm = self.wm();
        let p = self.params(0);
        self.timelines.restore(states, wm, &p, &mut self.windows, &mut self.strings, &mut self.vids)
    }

    /// Marks the timeline of `ev`'s view key complete when its key was looked up.
    fn note_looked_up(&mut self, key: ViewKey, ev: &VideoEvent<'_>) {
        if self.checked.contains(&archive_key(ev.item, ev.view_id, ev.viewer)) {
            self.timelines.set_complete(key);
        }
    }

    /// Records one event. See the crate documentation.
    pub fn record(&mut self, ev: &VideoEvent<'_>) -> Outcome {
        let e = ev.event_time_ms.clamp(-TIME_LIMIT_MS, TIME_LIMIT_MS);
        if !self.missing_archives(ev).is_empty() {
            return Outcome::NeedsArchive;
        }
        let ingested = if ev.ingested_at_ms > 0 { ev.ingested_at_ms } else { e };
        self.advance_watermark(e.min(ingested.saturating_add(FUTURE_TOLERANCE_MS)));
        let wm = self.wm();

        let item = self.strings.intern(ev.item);
        let app = self.capped_app(item, ev.app, e, wm);
        let vid = ev.view_id.map(|v| self.vids.intern(v));
        let p = self.params(item);
        let position = self.position;
        let key = ViewKey::new(item, ev.viewer, vid);
        let key = if self.timelines.has_aliases() { self.timelines.canonical(key) } else { key };
        if vid.is_none() && ev.prev_viewer != 0 && ev.prev_viewer != ev.viewer {
            let prev = self.timelines.canonical(ViewKey::new(item, ev.prev_viewer, None));
            if prev != key {
                self.timelines.link(key, prev, wm, position, &p, &mut self.windows);
            }
        }
        // Cheap first: an event within the hold of the watermark is never late.
        let late =
            e.saturating_add(self.config.hold_ms) < wm && self.windows.is_past_hold(self.windows.start_of(e), wm);
        if !self.checked.is_empty() {
            self.timelines.get(key, wm, position);
            self.note_looked_up(key, ev);
        }
        if !ev.bot {
            let view = (item, vid.unwrap_or(u32::MAX));
            self.crowds.note(ev.viewer, view, e, ev.kind == EventKind::Stop, self.config.view_timeout_ms);
        }
        let t = self.timelines.get(key, wm, position);
        t.advance(wm, &p, &mut self.windows);
        let new = NewEvent {
            ts: ev.client_ts_ms,
            e,
            kind: ev.kind,
            level: ev.level,
            progress: ev.progress.min(100),
            who: Who { app, viewer: ev.viewer, bot: ev.bot },
        };
        match t.insert(new, &p, &mut self.windows) {
            Inserted::Repeat => Outcome::Repeat,
            Inserted::Reordered => Outcome::Reordered,
            Inserted::Unordered(_) => Outcome::Unordered,
            Inserted::InOrder(class) => match class {
                Class::Duplicate => Outcome::Duplicate,
                Class::Ignored => Outcome::Ignored,
                Class::Orphan => Outcome::Orphan,
                Class::Counted if late => Outcome::Late,
                Class::Counted => Outcome::Counted,
            },
        }
    }

    /// The interned application an event of `item` at edge time `e` is recorded under: its
    /// own, or `(other)` when its window already has the cap of other applications.
    fn capped_app(&mut self, item: u32, app: &str, e: i64, wm: i64) -> u32 {
        let id = self.strings.intern(app);
        let start = self.windows.start_of(e);
        let window_ms = self.config.window_ms;
        // Held like the window itself; a window past the hold (late data) keeps its quota
        // for one window of watermark.
        let expires_at =
            start.saturating_add(window_ms).saturating_add(self.config.hold_ms).max(wm.saturating_add(window_ms));
        if self.app_cap.admit(start, expires_at, item, &id) { id } else { self.strings.intern(OTHER) }
    }

    /// Values recorded as `(other)` since the last call, per dimension (applications here,
    /// page names and event types in the analytics half): the consumer's
    /// `engage_cardinality_overflow_total`.
    pub fn take_cardinality_overflow(&mut self) -> Overflow {
        let mut out = self.app_cap.take_overflow();
        out.merge(self.webinar.take_overflow());
        out
    }

    /// Every window generation changed since the last flush, full state, sorted by
    /// (item, app, window_start, generation).
    pub fn flush(&mut self) -> Vec<VideoWindow> {
        self.checked.clear();
        self.windows.flush(&self.strings)
    }

    /// Timelines that left memory since the last call, for the store's archive. The caller
    /// must write them before any later record can need them (with the same commit).
    pub fn take_archived(&mut self) -> Vec<ArchivedState> {
        self.timelines.take_archived()
    }

    /// The watermark: highest `min(event time, ingested_at + tolerance)` recorded.
    pub fn watermark_ms(&self) -> Option<i64> {
        self.watermark
    }

    /// Windows ending at or before this are final: no input the collectors accept can
    /// change them (the watermark minus the allowed lateness).
    pub fn final_before_ms(&self) -> Option<i64> {
        self.watermark.map(|wm| wm.saturating_sub(self.config.allowed_lateness_ms))
    }

    /// View timelines in memory.
    pub fn open_views(&self) -> usize {
        self.timelines.len()
    }

    /// Events held by the timelines in memory.
    pub fn held_events(&self) -> usize {
        self.timelines.events()
    }

    /// Window generations in memory.
    pub fn open_windows(&self) -> usize {
        self.windows.len()
    }

    /// Viewers that crossed [`IMPLAUSIBLE_OPEN_VIEWS`] open views at one instant since the
    /// last call (once per episode; see `crowds`): for a metric, they are not excluded.
    pub fn take_implausible_viewers(&mut self) -> u64 {
        self.crowds.take_flagged()
    }

    /// Viewers with views open, tracked for the implausible-viewer metric.
    pub fn tracked_viewers(&self) -> usize {
        self.crowds.len()
    }

    /// Totals since the start: timelines archived and restored, late generations opened.
    pub fn archive_stats(&self) -> (u64, u64, u64) {
        (self.timelines.archived_total, self.timelines.restored_total, self.windows.late_generations())
    }

    fn advance_watermark(&mut self, candidate: i64) {
        if self.watermark.is_some_and(|wm| candidate <= wm) {
            return;
        }
        self.watermark = Some(candidate);
        if candidate >= self.next_scan_at {
            let start = self.windows.start_of(candidate);
            self.next_scan_at = start.saturating_add(self.config.window_ms);
            // Evict before anything is added at this position (see `windows`).
            self.windows.evict(candidate);
            self.app_cap.expire(candidate);
            let p = self.params(0);
            self.timelines.scan(candidate, &p, &mut self.windows, &self.strings, &self.vids, self.position);
            self.crowds.forget_idle(candidate, self.config.view_timeout_ms);
            self.collect_strings();
        }
        self.webinar.finalize(candidate);
    }

    /// Frees interned strings nothing refers to any more, when enough piled up.
    fn collect_strings(&mut self) {
        if self.strings.len() > self.gc_at {
            let mut used = vec![false; self.strings.id_bound()];
            self.timelines.mark_strings(&mut used);
            self.windows.mark_strings(&mut used);
            for (item, app) in self.app_cap.held() {
                used[*item as usize] = true;
                used[*app as usize] = true;
            }
            self.crowds.mark(&mut used, &mut []);
            self.strings.retain(&used);
            self.gc_at = (self.strings.len() * 2).max(GC_MIN_STRINGS);
        }
        if self.vids.len() > self.vid_gc_at {
            let mut used = vec![false; self.vids.id_bound()];
            self.timelines.mark_vids(&mut used);
            self.crowds.mark(&mut [], &mut used);
            self.vids.retain(&used);
            self.vid_gc_at = (self.vids.len() * 2).max(GC_MIN_STRINGS);
        }
    }
}
