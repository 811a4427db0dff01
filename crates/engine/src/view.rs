//! One view's state machine: the pingback specification's rules, applied to a view's events
//! in their player order, emitting every increment with a sign.
//!
//! A view is one player load of one item by one viewer. Its events arrive here already in
//! order (see [`crate::timeline`]): by the player's `ts`, equal `ts` in lifecycle order. Every
//! increment lands in the window of the edge time `E` of the event that caused it, in the
//! view's application (the application of its first event). Increments go to a [`Sink`]
//! with a sign: +1 when a view's contribution is added, -1 when it is retracted because a
//! late or reordered event changed the view. Because the same code emits both, a retraction
//! is exactly the contribution that was added.
//!
//! # Rules
//! - `initialized` (only ever a view's first event): `impressions` +1.
//! - The same `(event, progress)` as the view's previous event: `duplicates` +1, no effect.
//! - `firstplay`: the first one counts `plays` +1 (and `engaged_plays` +1 at level 2) and
//!   marks the event's viewer as having a play in its window; later ones are duplicates.
//!   At level 2 it starts playing at its position.
//! - Other events sent at level 1 (or without `il`): `ignored` +1 (the specification says
//!   they are not parsed).
//! - A level-2 event of a view with no play yet (its `firstplay` never arrived): `orphans`
//!   +1; a `play` or `resume` also starts the view implicitly: it counts a play and starts
//!   playing at its position. Other orphans change nothing else: there is no play to
//!   attribute positions, exits or seeks to. A level-2 event of a view whose play was level
//!   1 is `ignored`.
//! - Level-2 playback: `play`/`resume`/`seekto` at p play from p (`seekto` also counts
//!   `seek_to[p]`); `update`/`pause`/`seekfrom`/`stop` at p close `[position, p)` as watched
//!   when playing (each retention segment once per view), then `pause` counts `pauses`,
//!   `seekfrom` counts `seek_from[p]` and seeks, `stop` counts `exits[p]` (and a completion
//!   at 100, once per view).
//! - Active views: a view is playing in state `Playing` or `Seeking`; it is active in every
//!   window from the one where it started playing through the one of the event that ends
//!   it, each window counted once per view. An open view still playing is active up to the
//!   watermark's window (its *tail*, retracted and re-added as time moves).
//! - Bots: a view whose first event (in player order) came from a bot (the collector's flag)
//!   runs the same state machine, so repeats, duplicates and order are handled alike, but
//!   emits only `bot_impressions` (for `initialized`) and `bot_plays` (for a counted play):
//!   no viewer, no activity, no position, no exit, nothing any human metric reads.
//! - Closing: a view left playing, paused or seeking is abandoned when it closes (a newer
//!   `initialized` of the same viewer and item, or silence for the view timeout):
//!   `abandons` +1 and `exits[position]` +1, in the window of the closing time.

use engage_model::pingback::{EventKind, Level};
use engage_model::rollup::RETENTION_SEGMENTS;
use engage_model::time::window_start;
use serde::{Deserialize, Serialize};

/// One increment (or, with a negative sign, decrement) of a window aggregate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Delta {
    Impression,
    /// A counted play; `engaged` at level 2; `viewer` gets a play in the window.
    Play {
        engaged: bool,
        viewer: u64,
    },
    Duplicate,
    Ignored,
    Orphan,
    Pause,
    Completion,
    Abandon,
    /// The view was playing in this window.
    Active,
    /// Retention segments watched for the first time (bit s: `[s, s+1)`).
    Retention(u128),
    Exit(u8),
    SeekFrom(u8),
    SeekTo(u8),
    /// An impression of a bot's view.
    BotImpression,
    /// A counted play of a bot's view.
    BotPlay,
}

/// The sink of a bot's view: its impression and play become bot counts, and everything else
/// (viewers, activity, positions, exits, pauses, seeks, duplicates) is dropped.
struct BotOnly<'a, S: ?Sized>(&'a mut S);

impl<S: Sink + ?Sized> Sink for BotOnly<'_, S> {
    fn add(&mut self, item: u32, app: u32, window: i64, delta: Delta, sign: i64) {
        let bot = match delta {
            Delta::Impression => Delta::BotImpression,
            Delta::Play { .. } => Delta::BotPlay,
            _ => return,
        };
        self.0.add(item, app, window, bot, sign);
    }
}

/// Where increments go: the window aggregates, or a test's tally.
pub(crate) trait Sink {
    /// Adds `sign` × `delta` to the window of `(item, app)` starting at `window`.
    fn add(&mut self, item: u32, app: u32, window: i64, delta: Delta, sign: i64);
}

/// A sink that keeps increments until [`NetSink::emit`], then emits only their net effect:
/// re-deriving a view after a reordered event retracts and re-adds mostly the same
/// increments, and those cancel here instead of touching windows (or opening generations of
/// windows no longer held) for nothing.
#[derive(Debug)]
pub(crate) struct NetSink {
    entries: Vec<NetEntry>,
}

type NetEntry = (u32, u32, i64, Delta, i64);

thread_local! {
    /// The buffer of the last [`NetSink`], reused by the next (no allocation per re-derivation).
    static SCRATCH: std::cell::RefCell<Vec<NetEntry>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl Default for NetSink {
    fn default() -> Self {
        Self { entries: SCRATCH.with(|s| std::mem::take(&mut *s.borrow_mut())) }
    }
}

impl Drop for NetSink {
    fn drop(&mut self) {
        let mut entries = std::mem::take(&mut self.entries);
        entries.clear();
        SCRATCH.with(|s| {
            let mut s = s.borrow_mut();
            if s.capacity() < entries.capacity() {
                *s = entries;
            }
        });
    }
}

impl Sink for NetSink {
    fn add(&mut self, item: u32, app: u32, window: i64, delta: Delta, sign: i64) {
        self.entries.push((item, app, window, delta, sign));
    }
}

impl NetSink {
    /// Emits the net increments into `sink`, in a deterministic order.
    pub(crate) fn emit<S: Sink + ?Sized>(mut self, sink: &mut S) {
        self.entries.sort_unstable_by_key(|&(item, app, window, delta, _)| (item, app, window, delta));
        let mut i = 0;
        while i < self.entries.len() {
            let (item, app, window, delta, mut net) = self.entries[i];
            let mut j = i + 1;
            while j < self.entries.len()
                && self.entries[j].0 == item
                && self.entries[j].1 == app
                && self.entries[j].2 == window
                && self.entries[j].3 == delta
            {
                net += self.entries[j].4;
                j += 1;
            }
            if net != 0 {
                sink.add(item, app, window, delta, net);
            }
            i = j;
        }
    }
}

/// What a view needs to know about its surroundings.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ctx {
    pub(crate) item: u32,
    pub(crate) window_ms: i64,
}

impl Ctx {
    fn win(&self, t: i64) -> i64 {
        window_start(t, self.window_ms)
    }
}

/// The fields of one event the state machine reads.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Step {
    pub(crate) kind: EventKind,
    pub(crate) level: Level,
    pub(crate) progress: u8,
    /// Edge time.
    pub(crate) e: i64,
    pub(crate) app: u32,
    pub(crate) viewer: u64,
    /// The collector classified the sender as a bot.
    pub(crate) bot: bool,
}

/// How a view classified one of its events (for the events-by-outcome metric).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Class {
    Counted,
    Duplicate,
    Ignored,
    Orphan,
}

/// Playback state of a level-2 view.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum PlayState {
    /// Loaded, not playing (and every view without a level-2 play).
    Idle,
    Playing,
    Paused,
    Seeking,
    Stopped,
}

/// No window (see [`ViewState::marked_through`]).
pub(crate) const NEVER: i64 = i64::MIN;

/// The state of one view after the events applied so far.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ViewState {
    /// Watched segments, bit s = `[s, s+1)`.
    watched: u128,
    /// Last window counted active (events and closed intervals; never the tail).
    marked_through: i64,
    /// Window where the current play interval started; [`NEVER`] when not playing.
    open_lo: i64,
    /// The view's application: its first event's.
    app: u32,
    /// A bot's view (its first event's flag): counts only bot impressions and plays.
    bot: bool,
    /// The previous event's `(kind, progress)`, for duplicates.
    prev: Option<(EventKind, u8)>,
    state: PlayState,
    position: u8,
    /// Any event applied.
    started: bool,
    played: bool,
    /// The play was level 2: positions, retention, exits and seeks are tracked.
    engaged: bool,
    completed: bool,
}

impl Default for ViewState {
    fn default() -> Self {
        Self {
            watched: 0,
            marked_through: NEVER,
            open_lo: NEVER,
            app: 0,
            bot: false,
            prev: None,
            state: PlayState::Idle,
            position: 0,
            started: false,
            played: false,
            engaged: false,
            completed: false,
        }
    }
}

impl ViewState {
    /// Rewrites the application id (after loading from an archive with its own strings).
    pub(crate) fn map_app(&mut self, f: &mut impl FnMut(u32) -> u32) {
        self.app = f(self.app);
    }

    /// Whether `(kind, progress)` repeats the previous event (a duplicate, even for an
    /// `initialized`: two in a row are one load sent twice, not two views).
    pub(crate) fn repeats(&self, kind: EventKind, progress: u8) -> bool {
        self.prev == Some((kind, progress))
    }

    /// Whether an event has been applied (an `initialized` then starts a new view).
    pub(crate) fn started(&self) -> bool {
        self.started
    }

    /// Playing for active views: `Playing` or `Seeking`.
    pub(crate) fn is_playing(&self) -> bool {
        matches!(self.state, PlayState::Playing | PlayState::Seeking)
    }

    /// Closing it would count an abandonment.
    fn left_open(&self) -> bool {
        self.engaged && matches!(self.state, PlayState::Playing | PlayState::Paused | PlayState::Seeking)
    }

    /// Whether the view's contribution can still depend on time: playing (its tail grows
    /// with the watermark) or left open (it would be abandoned at its timeout).
    pub(crate) fn is_live(&self) -> bool {
        self.is_playing() || self.left_open()
    }

    /// Applies one event (in order) and emits its increments.
    pub(crate) fn apply<S: Sink + ?Sized>(&mut self, s: &Step, ctx: &Ctx, sink: &mut S, sign: i64) -> Class {
        if !self.started {
            self.started = true;
            self.app = s.app;
            self.bot = s.bot;
        }
        if self.bot {
            self.apply_started(s, ctx, &mut BotOnly(sink), sign)
        } else {
            self.apply_started(s, ctx, sink, sign)
        }
    }

    fn apply_started<S: Sink + ?Sized>(&mut self, s: &Step, ctx: &Ctx, sink: &mut S, sign: i64) -> Class {
        let w = ctx.win(s.e);
        let mut add = |delta: Delta| sink.add(ctx.item, self.app, w, delta, sign);
        if self.prev == Some((s.kind, s.progress)) {
            add(Delta::Duplicate);
            return Class::Duplicate;
        }
        self.prev = Some((s.kind, s.progress));
        match s.kind {
            EventKind::Initialized => {
                add(Delta::Impression);
                Class::Counted
            }
            EventKind::Firstplay if self.played => {
                add(Delta::Duplicate);
                Class::Duplicate
            }
            EventKind::Firstplay => {
                self.count_play(s, w, ctx, sink, sign);
                Class::Counted
            }
            _ if s.level == Level::One || (self.played && !self.engaged) => {
                add(Delta::Ignored);
                Class::Ignored
            }
            EventKind::Play | EventKind::Resume if !self.played => {
                add(Delta::Orphan);
                self.count_play(s, w, ctx, sink, sign);
                Class::Orphan
            }
            _ if !self.played => {
                add(Delta::Orphan);
                Class::Orphan
            }
            _ => {
                self.playback(s, w, ctx, sink, sign);
                Class::Counted
            }
        }
    }

    /// A counted play: `firstplay`, or an orphan `play`/`resume` that starts the view.
    fn count_play<S: Sink + ?Sized>(&mut self, s: &Step, w: i64, ctx: &Ctx, sink: &mut S, sign: i64) {
        let engaged = s.level == Level::Two;
        sink.add(ctx.item, self.app, w, Delta::Play { engaged, viewer: s.viewer }, sign);
        self.played = true;
        if engaged {
            self.engaged = true;
            self.state = PlayState::Playing;
            self.position = s.progress;
            self.open_lo = w;
            self.mark_through(w, ctx, sink, sign);
        } else {
            // A level-1 view is active in the window of its firstplay only.
            if w > self.marked_through {
                sink.add(ctx.item, self.app, w, Delta::Active, sign);
                self.marked_through = w;
            }
        }
    }

    /// A level-2 event of an engaged view.
    fn playback<S: Sink + ?Sized>(&mut self, s: &Step, w: i64, ctx: &Ctx, sink: &mut S, sign: i64) {
        let (item, app, p) = (ctx.item, self.app, s.progress);
        let was_playing = self.is_playing();
        if was_playing {
            self.mark_through(w, ctx, sink, sign);
        }
        match s.kind {
            EventKind::Play | EventKind::Resume | EventKind::Seekto => {
                if s.kind == EventKind::Seekto {
                    sink.add(item, app, w, Delta::SeekTo(p), sign);
                }
                self.state = PlayState::Playing;
                self.position = p;
            }
            EventKind::Update | EventKind::Pause | EventKind::Seekfrom | EventKind::Stop => {
                if self.state == PlayState::Playing && p > self.position {
                    let fresh = segments(self.position, p) & !self.watched;
                    if fresh != 0 {
                        self.watched |= fresh;
                        sink.add(item, app, w, Delta::Retention(fresh), sign);
                    }
                }
                self.position = p;
                match s.kind {
                    EventKind::Pause => {
                        self.state = PlayState::Paused;
                        sink.add(item, app, w, Delta::Pause, sign);
                    }
                    EventKind::Seekfrom => {
                        self.state = PlayState::Seeking;
                        sink.add(item, app, w, Delta::SeekFrom(p), sign);
                    }
                    EventKind::Stop => {
                        self.state = PlayState::Stopped;
                        sink.add(item, app, w, Delta::Exit(p), sign);
                        if p == 100 && !self.completed {
                            self.completed = true;
                            sink.add(item, app, w, Delta::Completion, sign);
                        }
                    }
                    _ => {}
                }
            }
            EventKind::Initialized | EventKind::Firstplay => {}
        }
        match (was_playing, self.is_playing()) {
            (false, true) => {
                self.open_lo = w;
                self.mark_through(w, ctx, sink, sign);
            }
            (true, false) => self.open_lo = NEVER,
            _ => {}
        }
    }

    /// Counts the view active in the windows of its open interval up to `w`.
    fn mark_through<S: Sink + ?Sized>(&mut self, w: i64, ctx: &Ctx, sink: &mut S, sign: i64) {
        let from = self.next_unmarked(ctx);
        let mut x = from;
        while x <= w {
            sink.add(ctx.item, self.app, x, Delta::Active, sign);
            x += ctx.window_ms;
        }
        self.marked_through = self.marked_through.max(w);
    }

    /// The first window of the open interval not yet counted active.
    fn next_unmarked(&self, ctx: &Ctx) -> i64 {
        let after = if self.marked_through == NEVER { NEVER } else { self.marked_through + ctx.window_ms };
        self.open_lo.max(after)
    }

    /// Closes the view at edge time `at` (a newer `initialized` of its viewer and item):
    /// a view still playing is active through `at`'s window, one left open is abandoned there.
    pub(crate) fn close<S: Sink + ?Sized>(&mut self, at: i64, ctx: &Ctx, sink: &mut S, sign: i64) {
        self.tail(at, true, ctx, sink, sign);
        let w = ctx.win(at);
        if self.is_playing() {
            self.marked_through = self.marked_through.max(w);
        }
        self.open_lo = NEVER;
        self.state = PlayState::Stopped;
    }

    /// The increments that depend on time rather than on events: a view still playing is
    /// active from its last counted window through `end`'s window, and when `closed` a view
    /// left open is abandoned at `end`. Emitted with `sign`; the same call with the opposite
    /// sign retracts them exactly.
    pub(crate) fn tail<S: Sink + ?Sized>(&self, end: i64, closed: bool, ctx: &Ctx, sink: &mut S, sign: i64) {
        if self.bot {
            return; // activity and abandonment are human metrics
        }
        let abandons = closed && self.left_open();
        // A window start is at or before `end` exactly when it is at or before end's window:
        // no division unless there is something to emit.
        let from = self.next_unmarked(ctx);
        let active = self.is_playing() && from <= end;
        if !active && !abandons {
            return;
        }
        let w = ctx.win(end);
        if active {
            let mut x = from;
            while x <= w {
                sink.add(ctx.item, self.app, x, Delta::Active, sign);
                x += ctx.window_ms;
            }
        }
        if abandons {
            sink.add(ctx.item, self.app, w, Delta::Exit(self.position), sign);
            sink.add(ctx.item, self.app, w, Delta::Abandon, sign);
        }
    }

    /// Moves the tail from `(old_end, old_closed)` to `(new_end, new_closed)`, emitting only
    /// what differs (the windows between the two ends, and the abandonment if it changed).
    pub(crate) fn move_tail<S: Sink + ?Sized>(&self, old: (i64, bool), new: (i64, bool), ctx: &Ctx, sink: &mut S) {
        if self.bot || (!self.is_playing() && !self.left_open()) {
            return;
        }
        let abandoned = |(end, closed): (i64, bool)| (closed && self.left_open()).then(|| ctx.win(end));
        if let Some(w) = abandoned(old) {
            sink.add(ctx.item, self.app, w, Delta::Exit(self.position), -1);
            sink.add(ctx.item, self.app, w, Delta::Abandon, -1);
        }
        let from = self.next_unmarked(ctx);
        if self.is_playing() && (old.0 >= from || new.0 >= from) {
            let (a, b) = (ctx.win(old.0).max(from - ctx.window_ms), ctx.win(new.0).max(from - ctx.window_ms));
            // Windows (a, b] are added when the tail grows, (b, a] removed when it shrinks.
            let (lo, hi, sign) = if b >= a { (a, b, 1) } else { (b, a, -1) };
            let mut x = lo + ctx.window_ms;
            while x <= hi {
                sink.add(ctx.item, self.app, x, Delta::Active, sign);
                x += ctx.window_ms;
            }
        }
        if let Some(w) = abandoned(new) {
            sink.add(ctx.item, self.app, w, Delta::Exit(self.position), 1);
            sink.add(ctx.item, self.app, w, Delta::Abandon, 1);
        }
    }
}

/// The bit set of segments `[from, to)` (both clamped to 0..=100).
pub(crate) fn segments(from: u8, to: u8) -> u128 {
    let below = |n: u8| -> u128 {
        let n = u32::from(n).min(RETENTION_SEGMENTS as u32);
        if n >= 128 { u128::MAX } else { (1u128 << n) - 1 }
    };
    below(to) & !below(from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[derive(Default)]
    struct Tally(BTreeMap<(i64, String), i64>);

    impl Sink for Tally {
        fn add(&mut self, _item: u32, _app: u32, window: i64, delta: Delta, sign: i64) {
            let name = match delta {
                Delta::Play { .. } => "play".to_string(),
                Delta::Retention(bits) => format!("retention{}", bits.count_ones()),
                other => format!("{other:?}"),
            };
            *self.0.entry((window, name)).or_default() += sign;
            self.0.retain(|_, n| *n != 0);
        }
    }

    const CTX: Ctx = Ctx { item: 0, window_ms: 60_000 };

    fn step(kind: EventKind, progress: u8, e: i64) -> Step {
        Step { kind, level: Level::Two, progress, e, app: 0, viewer: 9, bot: false }
    }

    #[test]
    fn segment_masks() {
        assert_eq!(segments(0, 0), 0);
        assert_eq!(segments(0, 1), 1);
        assert_eq!(segments(37, 42).count_ones(), 5);
        assert_eq!(segments(0, 100).count_ones(), 100);
        assert_eq!(segments(90, 100).trailing_zeros(), 90);
        assert_eq!(segments(50, 40), 0);
    }

    #[test]
    fn a_retraction_undoes_exactly_what_was_added() {
        let events = [
            step(EventKind::Initialized, 0, 0),
            step(EventKind::Firstplay, 0, 1_000),
            step(EventKind::Update, 10, 70_000),
            step(EventKind::Pause, 15, 130_000),
            step(EventKind::Resume, 15, 200_000),
            step(EventKind::Seekfrom, 20, 250_000),
        ];
        let mut tally = Tally::default();
        for sign in [1, -1] {
            let mut v = ViewState::default();
            for s in &events {
                v.apply(s, &CTX, &mut tally, sign);
            }
            v.tail(400_000, true, &CTX, &mut tally, sign);
            if sign == 1 {
                assert_eq!(tally.0.get(&(360_000, "Abandon".into())), Some(&1));
                assert_eq!(tally.0.get(&(240_000, "Active".into())), Some(&1));
            }
        }
        assert!(tally.0.is_empty(), "{:?}", tally.0);
    }

    #[test]
    fn moving_the_tail_equals_retracting_and_re_adding_it() {
        let mut v = ViewState::default();
        let mut sink = Tally::default();
        v.apply(&step(EventKind::Firstplay, 0, 0), &CTX, &mut sink, 1);
        for (old, new) in
            [((0, false), (300_000, false)), ((300_000, false), (120_000, false)), ((120_000, false), (500_000, true))]
        {
            let mut moved = Tally::default();
            v.move_tail(old, new, &CTX, &mut moved);
            let mut redone = Tally::default();
            v.tail(old.0, old.1, &CTX, &mut redone, -1);
            v.tail(new.0, new.1, &CTX, &mut redone, 1);
            assert_eq!(moved.0, redone.0, "{old:?} -> {new:?}");
        }
    }
}
