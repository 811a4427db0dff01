//! Tests of the window engine: the pingback spec's examples walked event by event
//! ([`spec`]), disorder (reordering, lateness, clocks, midnight: [`disorder`]), windows and
//! watermark behaviour ([`windows`]), bots' views counted apart ([`bots`]), and property
//! tests on generated streams ([`props`], streams from [`stream`]).
//!
//! The harness ([`Sim`]) plays the consumer shell: it numbers records with positions,
//! answers [`Outcome::NeedsArchive`] from an in-memory archive, and keeps what each flush
//! emits the way a store does (a row replaces the row of its generation only with a version
//! at least as new; the rows of a window sum).

mod bots;
mod dimensions;
mod disorder;
mod props;
mod spec;
mod stream;
mod windows;

use std::collections::{BTreeMap, BTreeSet};

use engage_model::pingback::{EventKind, Level};
use engage_model::rollup::{ArchivedState, VideoCounters, VideoWindow};

use super::{Engine, EngineConfig, Outcome, VideoEvent};

/// A window-aligned base time (epoch ms).
pub(super) const T0: i64 = 1_700_000_040_000;
pub(super) const SEC: i64 = 1_000;
pub(super) const MIN: i64 = 60_000;
pub(super) const HOUR: i64 = 60 * MIN;

/// A viewer weight's key: (item, app, window_start, viewer, generation).
pub(super) type ViewerKey = (String, String, i64, u64, u64);

/// A store's view of the rows: generation rows with their versions, viewer weights, archive.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Store {
    /// (item, app, window_start, generation) → (version, counters).
    pub rows: BTreeMap<(String, String, i64, u64), (u64, VideoCounters)>,
    /// (item, app, window_start, viewer, generation) → (version, weight).
    pub viewers: BTreeMap<ViewerKey, (u64, i64)>,
    pub archive: Vec<ArchivedState>,
}

impl Store {
    /// Writes a flush at `version`, checking the shape of every row.
    pub fn write(&mut self, out: &[VideoWindow], archived: &[ArchivedState], version: u64) {
        let keys: Vec<_> = out.iter().map(|w| (&w.item, &w.app, w.window_start_ms, w.generation)).collect();
        assert!(keys.windows(2).all(|k| k[0] < k[1]), "flush output not sorted or repeated");
        for w in out {
            assert!(w.window_end_ms > w.window_start_ms);
            let c = &w.counters;
            assert_eq!((c.retention.len(), c.exits.len(), c.seek_from.len(), c.seek_to.len()), (100, 101, 101, 101));
            let key = (w.item.clone(), w.app.clone(), w.window_start_ms, w.generation);
            let slot = self.rows.entry(key).or_insert((0, VideoCounters::default()));
            if version >= slot.0 {
                *slot = (version, c.clone());
            }
            for &(viewer, weight) in &w.viewers {
                let key = (w.item.clone(), w.app.clone(), w.window_start_ms, viewer, w.generation);
                let slot = self.viewers.entry(key).or_insert((0, 0));
                if version >= slot.0 {
                    *slot = (version, weight);
                }
            }
        }
        self.archive.extend(archived.iter().cloned());
    }

    /// Every archived state of `key` at or below `version`.
    pub fn load(&self, key: &[u8; 16], version: u64) -> Vec<Vec<u8>> {
        self.archive.iter().filter(|a| &a.key == key && a.version <= version).map(|a| a.state.clone()).collect()
    }

    /// The sums per (item, app, window) over generations, zero windows left out.
    pub fn sums(&self) -> BTreeMap<(String, String, i64), VideoCounters> {
        let mut out: BTreeMap<(String, String, i64), VideoCounters> = BTreeMap::new();
        for ((item, app, start, _), (_, c)) in &self.rows {
            out.entry((item.clone(), app.clone(), *start)).or_default().merge(c);
        }
        out.retain(|_, c| !c.is_zero());
        out
    }

    /// Viewers with a play per (item, app, window): weights over generations summing > 0.
    pub fn present(&self) -> BTreeMap<(String, String, i64), BTreeSet<u64>> {
        let mut weights: BTreeMap<(String, String, i64, u64), i64> = BTreeMap::new();
        for ((item, app, start, viewer, _), (_, w)) in &self.viewers {
            *weights.entry((item.clone(), app.clone(), *start, *viewer)).or_default() += w;
        }
        let mut out: BTreeMap<(String, String, i64), BTreeSet<u64>> = BTreeMap::new();
        for ((item, app, start, viewer), w) in weights {
            assert!(w >= 0, "negative viewer weight {w} for {item} {app} {start} {viewer}");
            if w > 0 {
                out.entry((item, app, start)).or_default().insert(viewer);
            }
        }
        out
    }

    /// Counters of `item` summed over every window and app.
    pub fn totals(&self, item: &str) -> VideoCounters {
        let mut sum = VideoCounters::default();
        for ((i, _, _), c) in self.sums() {
            if i == item {
                sum.merge(&c);
            }
        }
        sum
    }
}

/// An engine driven like the consumer drives it, with a store.
pub(super) struct Sim {
    pub engine: Engine,
    pub store: Store,
    /// The next position to apply.
    pub position: u64,
}

impl Sim {
    pub fn new() -> Self {
        Self::with(EngineConfig::default())
    }

    pub fn with(config: EngineConfig) -> Self {
        Self { engine: Engine::new(config), store: Store::default(), position: 0 }
    }

    /// Records one event at the next position, loading archived views when asked.
    pub fn record(&mut self, ev: &VideoEvent<'_>) -> Outcome {
        self.engine.set_position(self.position);
        let mut outcome = self.engine.record(ev);
        let mut rounds = 0;
        while outcome == Outcome::NeedsArchive {
            rounds += 1;
            assert!(rounds < 3, "the engine keeps asking for archives");
            for key in self.engine.missing_archives(ev) {
                let states = self.store.load(&key, self.position);
                assert!(self.engine.restore_archived(key, &states), "archived state decodes");
            }
            outcome = self.engine.record(ev);
        }
        self.position += 1;
        outcome
    }

    /// Flushes into the store (version: the next position).
    pub fn flush(&mut self) -> Vec<VideoWindow> {
        let out = self.engine.flush();
        let archived = self.engine.take_archived();
        self.store.write(&out, &archived, self.position);
        out
    }

    /// Moves the watermark to `t` with an event of an unrelated item, then flushes.
    pub fn advance_to(&mut self, t: i64) {
        let clock = Player::new("__clock", "clock", u64::MAX).level1();
        self.record(&clock.at(EventKind::Initialized, 0, t));
        self.flush();
    }

    /// Totals of `item` after a flush.
    pub fn totals(&mut self, item: &str) -> VideoCounters {
        self.flush();
        self.store.totals(item)
    }

    /// The summed counters and viewers of `(item, app)` in the window holding `t`.
    pub fn window(&mut self, item: &str, app: &str, t: i64) -> (VideoCounters, BTreeSet<u64>) {
        self.flush();
        let start = engage_model::time::window_start(t, self.engine.config().window_ms);
        let key = (item.to_owned(), app.to_owned(), start);
        (
            self.store.sums().get(&key).cloned().unwrap_or_default(),
            self.store.present().get(&key).cloned().unwrap_or_default(),
        )
    }
}

/// One player: item, app, viewer, optional vid and implementation level.
#[derive(Clone, Copy, Debug)]
pub(super) struct Player {
    pub item: &'static str,
    pub app: &'static str,
    pub viewer: u64,
    pub vid: Option<&'static str>,
    pub level: Level,
    /// The collector classified its user agent as a bot's.
    pub bot: bool,
}

impl Player {
    pub fn new(item: &'static str, app: &'static str, viewer: u64) -> Self {
        Self { item, app, viewer, vid: None, level: Level::Two, bot: false }
    }

    pub fn bot(mut self) -> Self {
        self.bot = true;
        self
    }

    pub fn level1(mut self) -> Self {
        self.level = Level::One;
        self
    }

    pub fn vid(mut self, vid: &'static str) -> Self {
        self.vid = Some(vid);
        self
    }

    /// An event the player stamped `t` and the edge saw at `t`.
    pub fn at(&self, kind: EventKind, progress: u8, t: i64) -> VideoEvent<'static> {
        self.stamped(kind, progress, t, t)
    }

    /// An event the player stamped `ts` and the edge saw at `e`.
    pub fn stamped(&self, kind: EventKind, progress: u8, ts: i64, e: i64) -> VideoEvent<'static> {
        VideoEvent {
            item: self.item,
            app: self.app,
            viewer: self.viewer,
            prev_viewer: 0,
            view_id: self.vid,
            kind,
            level: self.level,
            progress,
            client_ts_ms: ts,
            event_time_ms: e,
            ingested_at_ms: e,
            bot: self.bot,
        }
    }

    /// Sends an event the edge saw when it was stamped.
    pub fn send(&self, sim: &mut Sim, kind: EventKind, progress: u8, t: i64) -> Outcome {
        sim.record(&self.at(kind, progress, t))
    }
}

/// A 100-entry retention vector with 1 in each `[from, to)` of `ranges`, 0 elsewhere.
pub(super) fn retention_of(ranges: &[(usize, usize)]) -> Vec<i64> {
    let mut r = vec![0; 100];
    for &(from, to) in ranges {
        for n in &mut r[from..to] {
            *n += 1;
        }
    }
    r
}

/// A 101-entry histogram with the given `(position, count)` entries.
pub(super) fn hist(entries: &[(usize, i64)]) -> Vec<i64> {
    let mut h = vec![0; 101];
    for &(p, n) in entries {
        h[p] += n;
    }
    h
}
