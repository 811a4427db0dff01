//! One webinar session: the marks (events) attributed to it, and the sweep that turns them
//! into window aggregates and a summary.
//!
//! Presence and stream time depend on the order in time of joins, leaves and ends, which the
//! network does not preserve, and attribution may move events in and out later. So a session
//! keeps its marks and recomputes from the whole set whenever it changed (or the watermark
//! moved while something is undecided), sorted by (time, lifecycle rank, person, content):
//! any arrival order gives the same rows.
//!
//! Rules of the sweep (the module documentation says why):
//! - A "User Joined" of an absent person starts a presence (counted in `joins`); a join of
//!   someone present is part of the same presence.
//! - A presence ends at the person's next "User Left" (counted in `leaves`); else at the next
//!   "Session Ended" at or after its start; else at the session's last activity (its latest
//!   mark of any kind), once the watermark passes that activity plus the attendee timeout.
//!   Until then the presence is open and counts up to the later of the watermark and that
//!   activity; it is not counted as a leave.
//! - At equal times: start, join, stream on, engagement, activity, stream off, leave, end.
//! - Streams are keyed by (`properties.id`, else the person) and `type`, and end the same way
//!   (a "Stream Disabled", else the next end, else the last activity).
//! - Engagement and stream types are a bounded dimension: a window keeps at most
//!   [`MAX_EVENT_TYPES_PER_WINDOW`] of each, the largest (engagements by count, streams by
//!   time; ties by name) and `(other)` adding up the rest; the summary is bounded the same
//!   way. A function of the session's events, whatever their order.
//! - A window exists when something happened or someone was present in it; presences of zero
//!   length still count their attendee in their window.

use super::identity::PersonId;
use super::rows::{Rows, first_open_window};
use super::{Config, MAX_ATTENDEES_PER_SESSION, MAX_MARKS_PER_SESSION, WebinarEventKind};
use engage_model::dimension::{MAX_EVENT_TYPES_PER_WINDOW, fold_top};
use engage_model::time::window_start;
use engage_model::webinar::{SessionSummary, SessionWindowCounts};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// What a mark is, in the order marks of equal time are applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub(super) enum MarkKind {
    Started,
    Joined,
    StreamOn,
    Engaged,
    /// A `group` call naming the session: activity, no presence.
    Activity,
    StreamOff,
    Left,
    Ended,
}

impl From<WebinarEventKind> for MarkKind {
    fn from(k: WebinarEventKind) -> Self {
        match k {
            WebinarEventKind::SessionStarted => Self::Started,
            WebinarEventKind::SessionEnded => Self::Ended,
            WebinarEventKind::UserJoined => Self::Joined,
            WebinarEventKind::UserLeft => Self::Left,
            WebinarEventKind::UserEngaged => Self::Engaged,
            WebinarEventKind::StreamEnabled => Self::StreamOn,
            WebinarEventKind::StreamDisabled => Self::StreamOff,
        }
    }
}

impl MarkKind {
    /// The event's name, as `no_session` rows count them.
    pub(super) fn name(self) -> &'static str {
        match self {
            Self::Started => WebinarEventKind::SessionStarted.name(),
            Self::Joined => WebinarEventKind::UserJoined.name(),
            Self::StreamOn => WebinarEventKind::StreamEnabled.name(),
            Self::Engaged => WebinarEventKind::UserEngaged.name(),
            Self::Activity => "Group",
            Self::StreamOff => WebinarEventKind::StreamDisabled.name(),
            Self::Left => WebinarEventKind::UserLeft.name(),
            Self::Ended => WebinarEventKind::SessionEnded.name(),
        }
    }
}

/// One event of a session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Mark {
    pub(super) t: i64,
    pub(super) person: PersonId,
    pub(super) kind: MarkKind,
    /// `properties.type` (engagement or stream type).
    pub(super) detail: Option<String>,
    /// `properties.id` (a stream's id).
    pub(super) stream: Option<String>,
}

impl Mark {
    fn order_key(&self) -> (i64, MarkKind, PersonId, &Option<String>, &Option<String>) {
        (self.t, self.kind, self.person, &self.stream, &self.detail)
    }

    fn kind_type(&self) -> &str {
        self.detail.as_deref().filter(|d| !d.is_empty()).unwrap_or("unknown")
    }
}

/// One session's state.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(super) struct Session {
    /// Marks by seq (arrival number), so attribution can move one out.
    marks: BTreeMap<u64, Mark>,
    /// Marks per person: who is in the session (the attendee cap).
    persons: HashMap<PersonId, u32>,
    /// Times of the marks, and of its "Session Ended" marks (for the closing time).
    times: BTreeMap<i64, u32>,
    end_times: BTreeMap<i64, u32>,
    /// Marks changed since the last recompute.
    dirty: bool,
    /// The watermark of the last recompute.
    computed_at: Option<i64>,
    /// Something was open (counting up to the watermark) at the last recompute.
    open: bool,
    /// Where the session is in the engine's eviction index.
    pub(super) indexed_at: Option<i64>,
    rows: Rows,
}

fn count(m: &mut BTreeMap<i64, u32>, t: i64, up: bool) {
    if up {
        *m.entry(t).or_default() += 1;
    } else if let Some(n) = m.get_mut(&t) {
        *n -= 1;
        if *n == 0 {
            m.remove(&t);
        }
    }
}

/// What a recompute found.
#[derive(Debug, Default)]
pub(super) struct Computed {
    pub(super) windows: BTreeMap<i64, SessionWindowCounts>,
    pub(super) summary: SessionSummary,
    /// Every presence and stream has its end (no open one).
    pub(super) decided: bool,
    /// Window start → event types folded into `(other)` there.
    pub(super) folded: BTreeMap<i64, u64>,
}

impl Session {
    pub(super) fn has_room(&self, person: PersonId) -> bool {
        self.marks.len() < MAX_MARKS_PER_SESSION
            && (self.persons.contains_key(&person) || self.persons.len() < MAX_ATTENDEES_PER_SESSION)
    }

    pub(super) fn insert(&mut self, seq: u64, mark: Mark) {
        *self.persons.entry(mark.person).or_default() += 1;
        count(&mut self.times, mark.t, true);
        if mark.kind == MarkKind::Ended {
            count(&mut self.end_times, mark.t, true);
        }
        if let Some(old) = self.marks.insert(seq, mark) {
            self.forget(&old);
        }
        self.dirty = true;
    }

    pub(super) fn remove(&mut self, seq: u64) -> Option<Mark> {
        let mark = self.marks.remove(&seq)?;
        self.forget(&mark);
        self.dirty = true;
        Some(mark)
    }

    fn forget(&mut self, mark: &Mark) {
        self.unref(mark.person);
        count(&mut self.times, mark.t, false);
        if mark.kind == MarkKind::Ended {
            count(&mut self.end_times, mark.t, false);
        }
    }

    /// The mark `seq` now belongs to `person` (two persons merged).
    pub(super) fn repoint(&mut self, seq: u64, person: PersonId) {
        let Some(m) = self.marks.get_mut(&seq) else { return };
        let old = std::mem::replace(&mut m.person, person);
        *self.persons.entry(person).or_default() += 1;
        self.unref(old);
        self.dirty = true;
    }

    fn unref(&mut self, person: PersonId) {
        if let Some(n) = self.persons.get_mut(&person) {
            *n -= 1;
            if *n == 0 {
                self.persons.remove(&person);
            }
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.marks.is_empty()
    }

    /// Whether its rows must be emitted before the watermark makes windows before `boundary`
    /// final: it changed, something is open (grows with the watermark), or one of its
    /// windows goes final.
    pub(super) fn due(&self, boundary: i64) -> bool {
        self.dirty || self.open || self.rows.goes_final(boundary)
    }

    pub(super) fn into_marks(self) -> BTreeMap<u64, Mark> {
        self.marks
    }

    /// When the session is over: its last "Session Ended" if nothing came later, else its
    /// last activity plus the timeout. A pure function of its marks (None without any).
    pub(super) fn closing(&self, timeout_ms: i64) -> Option<i64> {
        let (&last, _) = self.times.last_key_value()?;
        Some(match self.end_times.last_key_value() {
            Some((&e, _)) if e >= last => e,
            _ => last.saturating_add(timeout_ms),
        })
    }

    /// The watermark at which the session leaves memory: its closing time plus the timeout
    /// (how far its liveness reaches), rounded up to the end of that window, plus the
    /// lateness and the hold. By then every window of it is final and every event that
    /// could still change it is frozen.
    pub(super) fn evict_at(&self, cfg: &Config) -> Option<i64> {
        let closing = self.closing(cfg.timeout_ms)?;
        Some(
            window_start(closing.saturating_add(cfg.timeout_ms), cfg.window_ms)
                .saturating_add(cfg.window_ms)
                .saturating_add(cfg.lateness_ms)
                .saturating_add(cfg.hold_ms),
        )
    }

    /// Recomputes if needed and emits what changed; windows before `done_before` are done
    /// (see [`Rows::emit`]). Returns the event types folded into `(other)` in the windows
    /// that went final now (each window is counted once, when it goes final).
    pub(super) fn flush(
        &mut self,
        id: &str,
        wm: i64,
        done_before: i64,
        cfg: &Config,
        out: &mut super::AnalyticsFlush,
    ) -> u64 {
        // Rows change with the marks, with the watermark while something is open, and when
        // an emitted window goes final.
        let open_from = first_open_window(wm, cfg);
        let moved = self.open && self.computed_at != Some(wm);
        if !self.dirty && !moved && !self.rows.goes_final(open_from) {
            return 0;
        }
        self.dirty = false;
        self.computed_at = Some(wm);
        let c = self.compute(wm, cfg);
        self.open = !c.decided;
        let going_final = done_before.min(open_from)..open_from;
        let folded = c.folded.range(going_final.clone()).map(|(_, n)| n).sum();
        self.rows.emit(id, &c.windows, c.summary, (going_final.start, open_from), cfg, out);
        folded
    }

    /// The windows (start → counts) and summary at watermark `wm`.
    pub(super) fn compute(&self, wm: i64, cfg: &Config) -> Computed {
        let (window_ms, timeout_ms) = (cfg.window_ms, cfg.timeout_ms);
        let win = |t: i64| window_start(t, window_ms);
        let mut marks: Vec<&Mark> = self.marks.values().collect();
        marks.sort_by(|a, b| a.order_key().cmp(&b.order_key()));
        let Some(last) = marks.last().map(|m| m.t) else {
            return Computed { decided: true, ..Computed::default() };
        };
        let ends: Vec<i64> = marks.iter().filter(|m| m.kind == MarkKind::Ended).map(|m| m.t).collect();
        let decided_by_silence = wm >= last.saturating_add(timeout_ms);
        let open_end = wm.max(last);
        // Where something started at `start` ends, and whether that is still open.
        let limit = |start: i64| -> (i64, bool) {
            match ends.get(ends.partition_point(|&e| e < start)) {
                Some(&e) => (e, false),
                None if decided_by_silence => (last, false),
                None => (open_end, true),
            }
        };
        let mut windows: BTreeMap<i64, SessionWindowCounts> = BTreeMap::new();
        let mut decided = true;

        // Presences: (person, start, end, open).
        let mut present: BTreeMap<PersonId, (i64, i64, bool)> = BTreeMap::new();
        let mut intervals: Vec<(PersonId, i64, i64, bool)> = Vec::new();
        let mut joins: Vec<i64> = Vec::new();
        let mut leaves: Vec<i64> = Vec::new();
        for m in marks.iter().filter(|m| matches!(m.kind, MarkKind::Joined | MarkKind::Left)) {
            if let Some(&(s, e, open)) = present.get(&m.person)
                && !open
                && e < m.t
            {
                intervals.push((m.person, s, e, false));
                leaves.push(e);
                present.remove(&m.person);
            }
            match (m.kind, present.get(&m.person)) {
                (MarkKind::Joined, None) => {
                    let (e, open) = limit(m.t);
                    present.insert(m.person, (m.t, e, open));
                    joins.push(m.t);
                }
                (MarkKind::Left, Some(&(s, _, _))) => {
                    intervals.push((m.person, s, m.t, false));
                    leaves.push(m.t);
                    present.remove(&m.person);
                }
                _ => {}
            }
        }
        for (person, (s, e, open)) in present {
            intervals.push((person, s, e, open));
            if open {
                decided = false;
            } else {
                leaves.push(e);
            }
        }
        for &t in &joins {
            windows.entry(win(t)).or_default().joins += 1;
        }
        for &t in &leaves {
            windows.entry(win(t)).or_default().leaves += 1;
        }

        // Attendees per window, attendance, peaks. For overlaps an open presence is there at
        // its end itself, and every presence lasts at least 1 ms.
        intervals.sort_unstable();
        let mut attendance_ms: u64 = 0;
        let mut points: Vec<(i64, i64)> = Vec::new();
        let mut attendees: BTreeSet<PersonId> = BTreeSet::new();
        let mut next_unmarked: (PersonId, i64) = (PersonId::MAX, i64::MIN);
        for &(person, s, e, open) in &intervals {
            attendees.insert(person);
            attendance_ms += e.saturating_sub(s).max(0).unsigned_abs();
            let overlap_end = if open { e.saturating_add(1) } else { e }.max(s.saturating_add(1));
            points.push((s, 1));
            points.push((overlap_end, -1));
            if next_unmarked.0 != person {
                next_unmarked = (person, i64::MIN);
            }
            let mut w = win(s).max(next_unmarked.1);
            while w <= win(overlap_end - 1) {
                windows.entry(w).or_default().attendees += 1;
                w += window_ms;
            }
            next_unmarked.1 = next_unmarked.1.max(w);
        }

        // Streams: [on, off) per key, ended like presences.
        type StreamKey<'a> = (Option<&'a str>, PersonId, &'a str);
        let mut on: BTreeMap<StreamKey<'_>, (i64, i64, bool)> = BTreeMap::new();
        let mut stream_spans: Vec<(&str, i64, i64)> = Vec::new();
        for m in marks.iter().filter(|m| matches!(m.kind, MarkKind::StreamOn | MarkKind::StreamOff)) {
            let key: StreamKey<'_> = match m.stream.as_deref() {
                Some(id) => (Some(id), 0, m.kind_type()),
                None => (None, m.person, m.kind_type()),
            };
            if let Some(&(s, e, open)) = on.get(&key)
                && !open
                && e < m.t
            {
                stream_spans.push((key.2, s, e));
                on.remove(&key);
            }
            match (m.kind, on.get(&key)) {
                (MarkKind::StreamOn, None) => {
                    let (e, open) = limit(m.t);
                    on.insert(key, (m.t, e, open));
                }
                (MarkKind::StreamOff, Some(&(s, _, _))) => {
                    stream_spans.push((key.2, s, m.t));
                    on.remove(&key);
                }
                _ => {}
            }
        }
        for ((_, _, kind), (s, e, open)) in on {
            decided &= !open;
            stream_spans.push((kind, s, e));
        }
        for (kind, s, e) in stream_spans {
            let mut a = s;
            while a < e {
                let w = win(a);
                let b = e.min(w.saturating_add(window_ms));
                let slot = windows.entry(w).or_default().stream_ms.entry(kind.to_owned()).or_default();
                *slot += b.saturating_sub(a).unsigned_abs();
                a = b;
            }
        }

        // Engagements.
        let mut engaged: BTreeSet<PersonId> = BTreeSet::new();
        for m in marks.iter().filter(|m| m.kind == MarkKind::Engaged) {
            *windows.entry(win(m.t)).or_default().engagements.entry(m.kind_type().to_owned()).or_default() += 1;
            engaged.insert(m.person);
        }

        // Peaks: presence at each window's first instant, then every change inside it.
        points.sort_unstable();
        let (mut i, mut cur, mut peak_all) = (0usize, 0i64, 0u64);
        for (&w, c) in windows.iter_mut() {
            while i < points.len() && points[i].0 <= w {
                cur += points[i].1;
                i += 1;
            }
            let mut peak = cur;
            while i < points.len() && points[i].0 < w.saturating_add(window_ms) {
                cur += points[i].1;
                peak = peak.max(cur);
                i += 1;
            }
            c.peak_concurrent = peak.max(0).unsigned_abs();
            peak_all = peak_all.max(c.peak_concurrent);
        }

        // Bounded dimensions: the most frequent event types of each window keep their names.
        let mut folded = BTreeMap::new();
        for (&w, c) in windows.iter_mut() {
            let n = fold_top(&mut c.engagements, MAX_EVENT_TYPES_PER_WINDOW)
                + fold_top(&mut c.stream_ms, MAX_EVENT_TYPES_PER_WINDOW);
            if n > 0 {
                folded.insert(w, n);
            }
        }

        let mut summary = SessionSummary {
            started_at_ms: marks.iter().find(|m| m.kind == MarkKind::Started).map(|m| m.t),
            ended_at_ms: ends.last().copied(),
            unique_attendees: attendees.len() as u64,
            engaged_attendees: engaged.intersection(&attendees).count() as u64,
            attendance_ms,
            peak_concurrent: peak_all,
            ..SessionSummary::default()
        };
        for c in windows.values() {
            for (k, v) in &c.engagements {
                *summary.engagements.entry(k.clone()).or_default() += v;
            }
            for (k, v) in &c.stream_ms {
                *summary.stream_ms.entry(k.clone()).or_default() += v;
            }
        }
        // Already counted in the windows: only bounded here.
        fold_top(&mut summary.engagements, MAX_EVENT_TYPES_PER_WINDOW);
        fold_top(&mut summary.stream_ms, MAX_EVENT_TYPES_PER_WINDOW);
        Computed { windows, summary, decided, folded }
    }
}
