//! One view (one player load of one item by one viewer): its key, its level-2 playback
//! state machine, and how it is closed.
//!
//! A view remembers its last recorded `(event, progress)` (for duplicate detection), its
//! last event time (for the view timeout), and, once it has a level-2 play, a position, a
//! state and the set of percent segments it has watched. Every increment a view makes goes
//! to the window of the event that caused it, in the application of the view's latest event.
//!
//! Active views: a view is *playing* (state `Playing` or `Seeking`) from the event that put
//! it there until the event that took it out (inclusive), or until it is abandoned. Each
//! view remembers the last window it was counted active in, so marking is idempotent and
//! `active_views[W]` counts each view at most once per window.
//!
//! The struct is kept to 64 bytes: the engine holds every view of the last half hour, and
//! the periodic scan reads them all.

use engage_model::pingback::{EventKind, Level};
use engage_model::rollup::RETENTION_SEGMENTS;
use serde::{Deserialize, Serialize};

use super::Outcome;
use super::window::Windows;

/// Playback state of a level-2 view.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(super) enum PlayState {
    /// Loaded, not playing (and every view without a level-2 play).
    Idle,
    Playing,
    Paused,
    Seeking,
    Stopped,
}

/// The key of a view: `(item, viewer)`, or `(item, vid)` when the player sent a view id.
/// `item` and `vid` are interned string ids (from two interners).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(super) struct ViewKey {
    pub(super) item: u32,
    /// The interned `vid`, or [`ViewKey::NO_VID`].
    pub(super) vid: u32,
    /// The viewer key; 0 when `vid` identifies the view.
    pub(super) viewer: u64,
}

impl ViewKey {
    pub(super) const NO_VID: u32 = u32::MAX;

    pub(super) fn new(item: u32, viewer: u64, vid: Option<u32>) -> Self {
        match vid {
            Some(vid) => Self { item, vid, viewer: 0 },
            None => Self { item, vid: Self::NO_VID, viewer },
        }
    }
}

/// No window marked yet (see [`View::last_active`]).
const NEVER: i64 = i64::MIN;

/// The state of one view.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct View {
    /// Latest event time seen (the view times out at `last_ms + view_timeout_ms`).
    last_ms: i64,
    /// Earliest event time seen.
    first_ms: i64,
    /// Window start of the event that last put the view into playing.
    play_start: i64,
    /// Start of the last window this view was counted active in, or [`NEVER`].
    last_active: i64,
    /// Watched percent segments (bit `s` is `[s, s+1)`), low and high halves.
    watched: [u64; 2],
    /// Application of the latest event; where this view's increments go.
    app: u32,
    /// The last recorded `(event, progress)`, for duplicate detection.
    last_event: Option<(EventKind, u8)>,
    state: PlayState,
    position: u8,
    /// Its `initialized` was counted.
    impression: bool,
    /// A `firstplay` was counted.
    played: bool,
    /// That `firstplay` was level 2: the view tracks positions, retention, exits and seeks.
    engaged: bool,
    /// A `stop` at 100 was counted.
    completed: bool,
}

/// The fields of an event a view needs, with ids resolved.
#[derive(Clone, Copy, Debug)]
pub(super) struct Applied {
    pub(super) item: u32,
    pub(super) viewer: u64,
    pub(super) kind: EventKind,
    pub(super) level: Level,
    pub(super) progress: u8,
    /// Start of the window holding the event time.
    pub(super) start: i64,
}

impl View {
    /// A fresh view whose first event is at `t_ms` in application `app`.
    pub(super) fn new(t_ms: i64, app: u32) -> Self {
        Self {
            last_ms: t_ms,
            first_ms: t_ms,
            play_start: NEVER,
            last_active: NEVER,
            watched: [0; 2],
            app,
            last_event: None,
            state: PlayState::Idle,
            position: 0,
            impression: false,
            played: false,
            engaged: false,
            completed: false,
        }
    }

    /// When this view is abandoned (or silently evicted) if nothing more arrives.
    pub(super) fn expiry(&self, timeout_ms: i64) -> i64 {
        self.last_ms.saturating_add(timeout_ms)
    }

    pub(super) fn app(&self) -> u32 {
        self.app
    }

    /// Whether `(kind, progress)` repeats the last recorded event, or is a second `firstplay`.
    pub(super) fn is_duplicate(&self, kind: EventKind, progress: u8) -> bool {
        self.last_event == Some((kind, progress)) || (kind == EventKind::Firstplay && self.played)
    }

    /// Remembers `(kind, progress)` for duplicate detection only (ignored events).
    pub(super) fn remember(&mut self, kind: EventKind, progress: u8) {
        self.last_event = Some((kind, progress));
    }

    /// Records an applied event: duplicate memory, liveness and application.
    pub(super) fn touch(&mut self, kind: EventKind, progress: u8, t_ms: i64, app: u32) {
        self.last_event = Some((kind, progress));
        self.last_ms = self.last_ms.max(t_ms);
        self.first_ms = self.first_ms.min(t_ms);
        self.app = app;
    }

    /// Whether an `initialized` at `t_ms` is this view's own, delayed by the network past
    /// the view's first events (which started the view implicitly): it then counts the
    /// impression instead of closing the view it belongs to.
    pub(super) fn is_own_late_initialized(&self, t_ms: i64) -> bool {
        !self.impression && t_ms < self.first_ms
    }

    /// Counts this view's impression.
    pub(super) fn set_impression(&mut self) {
        self.impression = true;
    }

    /// Playing, for `active_views`: state `Playing` or `Seeking`.
    pub(super) fn is_playing(&self) -> bool {
        matches!(self.state, PlayState::Playing | PlayState::Seeking)
    }

    /// Settled: neither playing nor left open, so closing it counts nothing; and not just
    /// loaded: stopped, a level-1 play, or idle since before `idle_before`.
    pub(super) fn is_settled(&self, idle_before: i64) -> bool {
        match self.state {
            PlayState::Playing | PlayState::Paused | PlayState::Seeking => false,
            PlayState::Stopped => true,
            PlayState::Idle => self.played || self.last_ms < idle_before,
        }
    }

    /// Applies a non-`initialized`, non-ignored event (duplicates already filtered out).
    pub(super) fn apply(&mut self, ev: &Applied, windows: &mut Windows) -> Outcome {
        if ev.kind == EventKind::Firstplay {
            self.firstplay(ev, windows);
            return Outcome::Counted;
        }
        if !self.engaged {
            // Level-2 events on a view without a level-2 play (its firstplay was lost or
            // level 1, or this view restarted after a timeout): they keep the view alive and
            // feed duplicate detection, but have no play to attribute positions to.
            return Outcome::Ignored;
        }
        let (item, app, p, start) = (ev.item, self.app, ev.progress, ev.start);
        let was_playing = self.is_playing();
        if was_playing {
            self.mark_active(item, start, windows);
        }
        match ev.kind {
            EventKind::Play | EventKind::Resume | EventKind::Seekto => {
                if ev.kind == EventKind::Seekto
                    && let Some(w) = windows.at_start(item, app, start)
                {
                    w.seek_to_at(p);
                }
                self.state = PlayState::Playing;
                self.position = p;
            }
            EventKind::Update | EventKind::Pause | EventKind::Seekfrom | EventKind::Stop => {
                if self.state == PlayState::Playing && p > self.position {
                    self.watch(item, p, start, windows);
                }
                self.position = p;
                match ev.kind {
                    EventKind::Pause => {
                        self.state = PlayState::Paused;
                        if let Some(w) = windows.at_start(item, app, start) {
                            w.counters.pauses += 1;
                        }
                    }
                    EventKind::Seekfrom => {
                        self.state = PlayState::Seeking;
                        if let Some(w) = windows.at_start(item, app, start) {
                            w.seek_from_at(p);
                        }
                    }
                    EventKind::Stop => {
                        self.state = PlayState::Stopped;
                        let completes = p == 100 && !self.completed;
                        self.completed |= completes;
                        if let Some(w) = windows.at_start(item, app, start) {
                            w.exit_at(p);
                            if completes {
                                w.counters.completions += 1;
                            }
                        }
                    }
                    _ => {}
                }
            }
            EventKind::Initialized | EventKind::Firstplay => {}
        }
        if !was_playing && self.is_playing() {
            self.begin_play(item, start, windows);
        }
        Outcome::Counted
    }

    fn firstplay(&mut self, ev: &Applied, windows: &mut Windows) {
        self.played = true;
        let (item, app, start) = (ev.item, self.app, ev.start);
        if let Some(w) = windows.at_start(item, app, start) {
            w.counters.plays += 1;
            if ev.level == Level::Two {
                w.counters.engaged_plays += 1;
            }
            w.add_viewer(ev.viewer);
        }
        if ev.level == Level::Two {
            self.engaged = true;
            self.state = PlayState::Playing;
            self.position = ev.progress;
        }
        // A level-1 view is active only in the window of its firstplay.
        self.begin_play(item, start, windows);
    }

    /// A play interval starts in the window at `start` (the view just entered `Playing` or
    /// `Seeking`, or sent a level-1 firstplay).
    fn begin_play(&mut self, item: u32, start: i64, windows: &mut Windows) {
        self.play_start = start;
        self.mark_active(item, start, windows);
    }

    /// The interval `[position, p)` was watched: count the segments never watched before.
    fn watch(&mut self, item: u32, p: u8, start: i64, windows: &mut Windows) {
        let watched = u128::from(self.watched[0]) | (u128::from(self.watched[1]) << 64);
        let fresh = segments(self.position, p) & !watched;
        if fresh == 0 {
            return;
        }
        let watched = watched | fresh;
        self.watched = [watched as u64, (watched >> 64) as u64];
        if let Some(w) = windows.at_start(item, self.app, start) {
            w.retain_segments(fresh);
        }
    }

    /// Counts this view active in every window from its current play interval's start (or
    /// the window after the last one counted) up to the window starting at `to_start`.
    pub(super) fn mark_active(&mut self, item: u32, to_start: i64, windows: &mut Windows) {
        if let Some((first, last)) = self.take_active_span(to_start, windows) {
            let step = windows.window_ms();
            let mut w = first;
            while w <= last {
                if let Some(agg) = windows.at_start(item, self.app, w) {
                    agg.counters.active_views += 1;
                }
                w += step;
            }
        }
    }

    /// Moves the view's active marking up to the window starting at `to_start` and returns
    /// the window starts `(first, last)` (inclusive, one window apart) not yet counted.
    pub(super) fn take_active_span(&mut self, to_start: i64, windows: &Windows) -> Option<(i64, i64)> {
        if self.last_active >= to_start || self.play_start == NEVER {
            return None;
        }
        let step = windows.window_ms();
        let after_last = if self.last_active == NEVER { NEVER } else { self.last_active.saturating_add(step) };
        // Defensive bound against pathological timestamps: a view is never silent longer
        // than the view timeout, so one call never has more windows than that to mark.
        let first = self.play_start.max(after_last).max(windows.earliest_active_mark(to_start));
        self.last_active = to_start;
        // `to_start` is aligned and at most `i64::MAX - step`, so stepping cannot overflow.
        (first <= to_start && to_start <= i64::MAX - step).then_some((first, to_start))
    }

    /// Closes the view at `at_ms` (timeout, or a new `initialized` of its key): a view left
    /// playing, paused or seeking is abandoned there; any other view just goes.
    pub(super) fn close(&mut self, item: u32, at_ms: i64, windows: &mut Windows) {
        let start = windows.start_of(at_ms);
        if self.is_playing() {
            self.mark_active(item, start, windows);
        }
        let left_open = matches!(self.state, PlayState::Playing | PlayState::Paused | PlayState::Seeking);
        if self.engaged
            && left_open
            && let Some(w) = windows.at_start(item, self.app, start)
        {
            w.exit_at(self.position);
            w.counters.abandons += 1;
        }
        self.state = PlayState::Stopped;
    }
}

/// The bit set of segments `[from, to)` (both clamped to 0..=100).
fn segments(from: u8, to: u8) -> u128 {
    let below = |n: u8| -> u128 {
        let n = u32::from(n).min(RETENTION_SEGMENTS as u32);
        (1u128 << n) - 1
    };
    below(to) & !below(from)
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn a_view_fits_a_cache_line() {
        assert!(std::mem::size_of::<View>() <= 64, "{}", std::mem::size_of::<View>());
        assert_eq!(std::mem::size_of::<ViewKey>(), 16);
    }
}
