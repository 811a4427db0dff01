//! The events of one view key (an item and a viewer, or an item and a player view id) as a
//! set, and the views derived from that set.
//!
//! A view's numbers must be a function of the set of its events, not of their arrival
//! order. So a timeline keeps its events, and its contribution to the windows is defined as
//! [`Timeline::derive`] of that set:
//! 1. Events are clustered by edge time: a gap longer than the view timeout between two
//!    consecutive edge times (sorted) separates clusters. A cluster is a stretch of activity
//!    of one viewer on one item; views never span two clusters.
//! 2. Within a cluster, events are taken in player order: by `ts`, equal `ts` in lifecycle
//!    order (initialized, firstplay, play, seekfrom, seekto, pause, resume, update, stop),
//!    then progress and level. Each `initialized` starts a new view (closing the one before
//!    it); events before the first `initialized` form a view started implicitly.
//! 3. Each view runs the state machine of [`crate::view`]. Every cluster but the last is
//!    closed (its last view ends at its last edge time plus the timeout); the last is closed
//!    once the watermark reaches that time, and until then its last view's tail follows
//!    the watermark.
//!
//! Element identity is `(ts, event, progress, level)`: the same pingback seen twice (a browser
//! retry, a CDN log shipped twice or overlapping a live request) is one element, a *repeat*,
//! counted nowhere. Of two copies the one with the earlier edge time is kept.
//!
//! Keeping the derivation exact is cheap in the common case: an event that sorts after
//! every event of the timeline and joins its open last cluster is applied to the last
//! view's state directly ([`Timeline::insert`], the fast path). Anything else (a reordered
//! event, one late enough to join or bridge older clusters, a closer copy of a repeat)
//! retracts the whole derivation (-1) and adds the new one (+1): exact by construction.
//!
//! # Bound
//! At most [`MAX_EVENTS`] events are kept per timeline (a view sends about 15: load, play,
//! nine checkpoints, a stop, a few pauses and seeks). A timeline that reaches the cap turns
//! *compact*: it drops its events and applies later ones to its last view in arrival order,
//! still counting everything once (outcome `unordered` in the metrics).

use engage_model::pingback::{EventKind, Level};
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;

use crate::view::{Class, Ctx, NetSink, Sink, Step, ViewState};

/// Most events kept per timeline; see the module documentation.
pub(crate) const MAX_EVENTS: usize = 1024;
/// Most distinct (application, viewer) pairs told apart in one timeline; more share the last.
const MAX_WHO: usize = 255;

/// The lifecycle rank of an event, ordering events of equal `ts`.
pub(crate) fn rank(kind: EventKind) -> u8 {
    match kind {
        EventKind::Initialized => 0,
        EventKind::Firstplay => 1,
        EventKind::Play => 2,
        EventKind::Seekfrom => 3,
        EventKind::Seekto => 4,
        EventKind::Pause => 5,
        EventKind::Resume => 6,
        EventKind::Update => 7,
        EventKind::Stop => 8,
    }
}

/// One event of a timeline: 24 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Ev {
    /// The player's `ts`.
    pub(crate) ts: i64,
    /// Edge time.
    pub(crate) e: i64,
    pub(crate) kind: EventKind,
    pub(crate) level: Level,
    pub(crate) progress: u8,
    /// Index into [`Timeline::who`].
    pub(crate) who: u8,
}

impl Ev {
    /// The identity and player order of an event.
    fn key(&self) -> (i64, u8, u8, u8) {
        (self.ts, rank(self.kind), self.progress, self.level as u8)
    }
}

/// The application and viewer an event came with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) struct Who {
    pub(crate) app: u32,
    pub(crate) viewer: u64,
    /// The collector classified the sender as a bot.
    pub(crate) bot: bool,
}

/// The distinct (application, viewer) pairs of a timeline's events; the first is kept
/// inline (almost every timeline has one), so a timeline costs one allocation, its events.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct WhoTable {
    first: Option<Who>,
    more: Vec<Who>,
}

impl WhoTable {
    fn get(&self, i: u8) -> Who {
        match i {
            0 => self.first.unwrap_or(Who { app: 0, viewer: 0, bot: false }),
            i => self.more[usize::from(i) - 1],
        }
    }

    /// The index of `who`, adding it when there is room (past [`MAX_WHO`], the last one).
    fn index(&mut self, who: Who) -> u8 {
        match self.first {
            None => {
                self.first = Some(who);
                return 0;
            }
            Some(w) if w == who => return 0,
            _ => {}
        }
        if let Some(i) = self.more.iter().position(|w| *w == who) {
            return (i + 1) as u8;
        }
        if self.more.len() + 1 < MAX_WHO {
            self.more.push(who);
        }
        self.more.len() as u8
    }

    /// Every pair, mutably (to rewrite application ids).
    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = &mut Who> {
        self.first.iter_mut().chain(self.more.iter_mut())
    }

    /// Every pair.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Who> {
        self.first.iter().chain(self.more.iter())
    }
}

/// An event to insert, before it gets its [`Ev::who`] index.
#[derive(Clone, Copy, Debug)]
pub(crate) struct NewEvent {
    pub(crate) ts: i64,
    pub(crate) e: i64,
    pub(crate) kind: EventKind,
    pub(crate) level: Level,
    pub(crate) progress: u8,
    pub(crate) who: Who,
}

/// What inserting an event did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Inserted {
    /// Appended in order; how its view classified it.
    InOrder(Class),
    /// Out of order (or a closer copy of a repeat): the timeline was re-derived.
    Reordered,
    /// Already in the set: nothing changed.
    Repeat,
    /// Applied in arrival order to a compact timeline (see the module documentation).
    Unordered(Class),
}

/// Settings of a derivation.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Params {
    pub(crate) ctx: Ctx,
    pub(crate) timeout_ms: i64,
    /// How long a done timeline stays in memory (see `EngineConfig::hold_ms`).
    pub(crate) hold_ms: i64,
    /// The lateness horizon: how long an archived timeline may still be needed.
    pub(crate) horizon_ms: i64,
}

impl Params {
    /// The same settings for the timelines of `item`.
    pub(crate) fn for_item(&self, item: u32) -> Params {
        Params { ctx: Ctx { item, ..self.ctx }, ..*self }
    }
}

/// The event set of one view key, and what its emitted contribution currently assumes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Timeline {
    /// In player order (see [`Ev::key`]); empty when compact.
    events: Vec<Ev>,
    pub(crate) who: WhoTable,
    /// The last view of the last cluster, after all its events (its tail not included).
    live: ViewState,
    /// Edge-time bounds of the last cluster.
    last_lo: i64,
    last_hi: i64,
    /// The watermark the emitted contribution assumes.
    wm: i64,
    /// Past [`MAX_EVENTS`]: events are no longer kept.
    compact: bool,
    /// The position that created this timeline: identifies it in the archive, where a key
    /// may hold several timelines (a viewer who left and came back much later).
    pub(crate) lineage: u64,
    /// Lineages joined into this one (their archived rows are superseded by this one's).
    pub(crate) supersedes: Vec<u64>,
    /// Every archived lineage of its key is joined in (it was looked up): an old event
    /// needs no archive lookup. A timeline started without a lookup is not complete.
    pub(crate) complete: bool,
}

impl Timeline {
    /// An empty timeline at watermark `wm`, created at `position`.
    pub(crate) fn new(wm: i64, position: u64) -> Self {
        Self {
            lineage: position,
            supersedes: Vec::new(),
            complete: false,
            events: Vec::new(),
            who: WhoTable::default(),
            live: ViewState::default(),
            last_lo: i64::MAX,
            last_hi: i64::MIN,
            wm,
            compact: false,
        }
    }

    /// Number of events kept.
    pub(crate) fn len(&self) -> usize {
        self.events.len()
    }

    /// Latest edge time of the last cluster.
    pub(crate) fn last_e(&self) -> i64 {
        self.last_hi
    }

    /// Whether the last cluster is closed at watermark `wm`.
    pub(crate) fn is_closed(&self, wm: i64, timeout_ms: i64) -> bool {
        self.last_hi == i64::MIN || wm >= self.last_hi.saturating_add(timeout_ms)
    }

    /// Whether its contribution still changes with the watermark (see [`ViewState::is_live`]).
    pub(crate) fn is_live(&self, timeout_ms: i64) -> bool {
        !self.is_closed(self.wm, timeout_ms) && self.live.is_live()
    }

    /// Whether the last view has not been closed by its first events yet and was just loaded
    /// (idle): the engine keeps such views in the scanned set for one window.
    pub(crate) fn is_compact(&self) -> bool {
        self.compact
    }

    /// The tail end and closedness of the last cluster at watermark `wm`.
    fn end(&self, wm: i64, timeout_ms: i64) -> (i64, bool) {
        if self.is_closed(wm, timeout_ms) {
            (self.last_hi.saturating_add(timeout_ms), true)
        } else {
            (wm.max(self.last_hi), false)
        }
    }

    fn who_index(&mut self, who: Who) -> u8 {
        self.who.index(who)
    }

    fn step(&self, ev: &Ev) -> Step {
        let who = self.who.get(ev.who);
        Step {
            kind: ev.kind,
            level: ev.level,
            progress: ev.progress,
            e: ev.e,
            app: who.app,
            viewer: who.viewer,
            bot: who.bot,
        }
    }

    /// Moves the emitted contribution to watermark `wm` (a view still playing extends its
    /// tail; the last cluster closes, abandoning a view left open).
    pub(crate) fn advance<S: Sink + ?Sized>(&mut self, wm: i64, p: &Params, sink: &mut S) {
        if wm <= self.wm {
            return;
        }
        let (old, new) = (self.end(self.wm, p.timeout_ms), self.end(wm, p.timeout_ms));
        if old != new && !old.1 {
            self.live.move_tail(old, new, &p.ctx, sink);
        }
        self.wm = wm;
    }

    /// Adds `ev` to the set at watermark `wm` (the caller advanced the timeline to `wm`
    /// first) and emits the change of contribution.
    pub(crate) fn insert<S: Sink + ?Sized>(&mut self, ev: NewEvent, p: &Params, sink: &mut S) -> Inserted {
        debug_assert!(self.wm >= ev.e.min(self.wm));
        let who = self.who_index(ev.who);
        let new = Ev { ts: ev.ts, e: ev.e, kind: ev.kind, level: ev.level, progress: ev.progress, who };
        if self.compact {
            return Inserted::Unordered(self.apply_last(new, p, sink));
        }
        // In order (the common case): after the last event, no search.
        let at = match self.events.last() {
            Some(last) if last.key() < new.key() => Err(self.events.len()),
            None => Err(0),
            _ => self.events.binary_search_by(|x| x.key().cmp(&new.key())),
        };
        if let Ok(i) = at {
            let old = self.events[i];
            if (old.e, self.who_order(old.who)) <= (new.e, self.who_order(new.who)) {
                return Inserted::Repeat;
            }
        }
        if at == Err(self.events.len()) && self.extends_last_cluster(new.e) {
            if self.events.len() >= MAX_EVENTS {
                self.compact = true;
                self.events = Vec::new();
                return Inserted::Unordered(self.apply_last(new, p, sink));
            }
            if self.events.capacity() == 0 {
                self.events.reserve_exact(8);
            }
            self.events.push(new);
            return Inserted::InOrder(self.apply_last(new, p, sink));
        }
        // Re-derive: retract everything, change the set, add everything; only the net
        // change reaches the windows.
        let mut net = NetSink::default();
        self.derive(p, &mut net, -1);
        match at {
            Ok(i) => self.events[i] = new,
            Err(i) => self.events.insert(i, new),
        }
        let (live, lo, hi) = self.derive(p, &mut net, 1);
        net.emit(sink);
        (self.live, self.last_lo, self.last_hi) = (live, lo, hi);
        if self.events.len() > MAX_EVENTS {
            self.compact = true;
            self.events = Vec::new();
        }
        Inserted::Reordered
    }

    /// A deterministic order of `(app, viewer)` entries for choosing between repeats.
    fn who_order(&self, who: u8) -> (u64, u32, bool) {
        let w = self.who.get(who);
        (w.viewer, w.app, w.bot)
    }

    /// Whether an event at edge time `e` that sorts after every event can be applied to the
    /// last view directly: it joins the last cluster (open or closed) or starts a new one
    /// after it; an earlier edge time could bridge to older clusters.
    fn extends_last_cluster(&self, e: i64) -> bool {
        self.events.is_empty() || e >= self.last_lo
    }

    /// Applies `ev` to the last view (it sorts after everything, or the timeline is compact).
    fn apply_last<S: Sink + ?Sized>(&mut self, ev: Ev, p: &Params, sink: &mut S) -> Class {
        let (tm, ctx) = (p.timeout_ms, &p.ctx);
        let step = self.step(&ev);
        if self.last_hi == i64::MIN {
            (self.last_lo, self.last_hi) = (ev.e, ev.e);
            self.live = ViewState::default();
            let class = self.live.apply(&step, ctx, sink, 1);
            let (end, closed) = self.end(self.wm, tm);
            self.live.tail(end, closed, ctx, sink, 1);
            return class;
        }
        let (end, closed) = self.end(self.wm, tm);
        self.live.tail(end, closed, ctx, sink, -1);
        if ev.e > self.last_hi.saturating_add(tm) {
            // A new cluster: the last one closes for good at its timeout.
            self.live.tail(self.last_hi.saturating_add(tm), true, ctx, sink, 1);
            self.live = ViewState::default();
            self.last_lo = ev.e;
        } else if starts_view(&self.live, &ev) {
            self.live.close(step.e, ctx, sink, 1);
            self.live = ViewState::default();
        }
        let class = self.live.apply(&step, ctx, sink, 1);
        self.last_hi = self.last_hi.max(ev.e);
        self.last_lo = self.last_lo.min(ev.e);
        let (end, closed) = self.end(self.wm, tm);
        self.live.tail(end, closed, ctx, sink, 1);
        class
    }

    /// The whole contribution of the event set at the timeline's watermark, emitted with
    /// `sign`. Returns the last cluster's live view and edge-time bounds.
    pub(crate) fn derive<S: Sink + ?Sized>(&self, p: &Params, sink: &mut S, sign: i64) -> (ViewState, i64, i64) {
        let clusters = self.clusters(p.timeout_ms);
        let mut last = (ViewState::default(), i64::MAX, i64::MIN);
        for (n, &(lo, hi)) in clusters.iter().enumerate() {
            let mut view = ViewState::default();
            for ev in self.events.iter().filter(|ev| lo <= ev.e && ev.e <= hi) {
                if starts_view(&view, ev) {
                    view.close(ev.e, &p.ctx, sink, sign);
                    view = ViewState::default();
                }
                view.apply(&self.step(ev), &p.ctx, sink, sign);
            }
            let is_last = n + 1 == clusters.len();
            let closed = !is_last || self.wm >= hi.saturating_add(p.timeout_ms);
            let end = if closed { hi.saturating_add(p.timeout_ms) } else { self.wm.max(hi) };
            view.tail(end, closed, &p.ctx, sink, sign);
            if is_last {
                last = (view, lo, hi);
            }
        }
        last
    }

    /// Edge-time bounds of the clusters, in order. One pass when the whole timeline spans less
    /// than a timeout (the common case); sorted otherwise.
    fn clusters(&self, timeout_ms: i64) -> Clusters {
        let (lo, hi) = self.events.iter().fold((i64::MAX, i64::MIN), |(lo, hi), e| (lo.min(e.e), hi.max(e.e)));
        if lo > hi {
            return Clusters::Many(Vec::new());
        }
        if hi.saturating_sub(lo) <= timeout_ms {
            return Clusters::One([(lo, hi)]);
        }
        let mut times: Vec<i64> = self.events.iter().map(|e| e.e).collect();
        times.sort_unstable();
        let mut clusters: Vec<(i64, i64)> = Vec::new();
        for &t in &times {
            match clusters.last_mut() {
                Some((_, hi)) if t <= hi.saturating_add(timeout_ms) => *hi = t,
                _ => clusters.push((t, t)),
            }
        }
        Clusters::Many(clusters)
    }

    /// Joins `other` (the same viewer's timeline under another key: the previous day's viewer
    /// key) into this one. Both must be at the same watermark; the caller retracted both
    /// contributions, and [`Timeline::rederive`] adds the union's.
    pub(crate) fn absorb(&mut self, other: &Timeline) {
        if other.lineage != self.lineage && !self.supersedes.contains(&other.lineage) {
            self.supersedes.push(other.lineage);
        }
        for l in &other.supersedes {
            if *l != self.lineage && !self.supersedes.contains(l) {
                self.supersedes.push(*l);
            }
        }
        if self.compact || other.compact {
            self.compact = true;
            self.events.clear();
            return;
        }
        for ev in &other.events {
            let who = self.who_index(other.who.get(ev.who));
            let ev = Ev { who, ..*ev };
            match self.events.binary_search_by(|x| x.key().cmp(&ev.key())) {
                Ok(i) => {
                    let old = self.events[i];
                    if (ev.e, self.who_order(ev.who)) < (old.e, self.who_order(old.who)) {
                        self.events[i] = ev;
                    }
                }
                Err(i) => self.events.insert(i, ev),
            }
        }
    }

    /// Recomputes the live state after [`Timeline::absorb`] and emits the contribution.
    pub(crate) fn rederive<S: Sink + ?Sized>(&mut self, p: &Params, sink: &mut S) {
        let (live, lo, hi) = self.derive(p, sink, 1);
        (self.live, self.last_lo, self.last_hi) = (live, lo, hi);
    }

    /// The watermark its contribution assumes.
    pub(crate) fn wm(&self) -> i64 {
        self.wm
    }

    /// Rewrites application ids (after loading from an archive with its own string table).
    pub(crate) fn map_apps(&mut self, mut f: impl FnMut(u32) -> u32) {
        for w in self.who.iter_mut() {
            w.app = f(w.app);
        }
        self.live.map_app(&mut f);
    }
}

/// Edge-time bounds of a timeline's clusters: almost always one, without an allocation.
enum Clusters {
    One([(i64, i64); 1]),
    Many(Vec<(i64, i64)>),
}

impl std::ops::Deref for Clusters {
    type Target = [(i64, i64)];

    fn deref(&self) -> &[(i64, i64)] {
        match self {
            Clusters::One(one) => one,
            Clusters::Many(many) => many,
        }
    }
}

/// Whether `ev` starts a new view after `view`: an `initialized` that is not a duplicate.
fn starts_view(view: &ViewState, ev: &Ev) -> bool {
    ev.kind == EventKind::Initialized && view.started() && !view.repeats(ev.kind, ev.progress)
}

impl PartialOrd for Ev {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Ev {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key().cmp(&other.key()).then(self.e.cmp(&other.e))
    }
}
