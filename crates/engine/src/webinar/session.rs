//! One webinar session: the marks it received and the sweep that turns them into window
//! aggregates and a summary.
//!
//! Presence (joins, leaves, attendees, peak concurrency) and stream time depend on the
//! *order in time* of joins, leaves and ends, which the network may not preserve. So a
//! session keeps its marks and recomputes from them, sorted by (event time, arrival), at
//! each flush that finds it changed: out-of-order events within the lateness give exactly
//! the result of in-order ones.
//!
//! Rules of the sweep:
//! - A join of an absent attendee starts a presence (counted in `joins`); a join of one
//!   present is part of the same presence. A leave of one present ends it (`leaves`).
//! - "Session Ended" ends every presence at its time (counted as leaves).
//! - An attendee silent (no event of theirs) for the attendee timeout left at their last
//!   event + timeout; only a new join brings them back. So an event never changes windows
//!   before its own: a final window stays exactly what it was when it closed.
//! - A presence not ended is open: it counts up to `open_end` (the later of the watermark
//!   and the last event). Streams are the same, keyed by (stream id, type).
//! - A window exists when something happened or someone was present in it; a window
//!   emitted earlier that an out-of-order event emptied is emitted again with zero counts.

use engage_model::time::window_start;
use engage_model::webinar::{SessionSummary, SessionWindowCounts};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// What a presence mark says about an attendee.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(super) enum Mark {
    Join,
    Leave,
    /// Any other event of the attendee: keeps a presence alive against the timeout.
    Activity,
    /// "Session Ended": ends every presence.
    End,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
struct PresenceMark {
    t: i64,
    seq: u64,
    /// Index in `Session::attendees` (unused for `End`).
    attendee: u32,
    mark: Mark,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
struct StreamMark {
    t: i64,
    seq: u64,
    /// Index in `Session::streams`.
    stream: u32,
    on: bool,
}

/// One session's state.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(super) struct Session {
    pub(super) started_at: Option<i64>,
    pub(super) ended_at: Option<i64>,
    pub(super) last_ms: i64,
    attendees: Vec<String>,
    attendee_ids: HashMap<String, u32>,
    /// (stream key, stream type).
    streams: Vec<(String, String)>,
    stream_ids: HashMap<(String, String), u32>,
    presence: Vec<PresenceMark>,
    stream_marks: Vec<StreamMark>,
    /// "User Engaged" by window start, then type.
    engagements: BTreeMap<i64, BTreeMap<String, u64>>,
    engaged: BTreeSet<u32>,
    seq: u64,
    /// Changed since the last recompute.
    pub(super) dirty: bool,
    /// The watermark of the last recompute.
    pub(super) computed_at: Option<i64>,
    /// Last emitted counts of windows not yet final.
    pub(super) emitted: BTreeMap<i64, SessionWindowCounts>,
    pub(super) emitted_summary: Option<SessionSummary>,
}

/// What a recompute found.
#[derive(Debug)]
pub(super) struct Computed {
    pub(super) windows: BTreeMap<i64, SessionWindowCounts>,
    pub(super) summary: SessionSummary,
}

impl Session {
    pub(super) fn new(t: i64) -> Self {
        Self { last_ms: t, ..Self::default() }
    }

    /// When the session is over: its "Session Ended" (or its last event, if later), else its
    /// last event plus the attendee timeout. A pure function of the events recorded.
    pub(super) fn closing_time(&self, timeout_ms: i64) -> i64 {
        match self.ended_at {
            Some(end) => end.max(self.last_ms),
            None => self.last_ms.saturating_add(timeout_ms),
        }
    }

    fn touch(&mut self, t: i64) -> u64 {
        self.last_ms = self.last_ms.max(t);
        self.dirty = true;
        self.seq += 1;
        self.seq
    }

    fn attendee(&mut self, who: &str) -> u32 {
        if let Some(&id) = self.attendee_ids.get(who) {
            return id;
        }
        let id = u32::try_from(self.attendees.len()).unwrap_or(u32::MAX);
        self.attendees.push(who.to_owned());
        self.attendee_ids.insert(who.to_owned(), id);
        id
    }

    pub(super) fn presence(&mut self, t: i64, who: &str, mark: Mark) {
        let seq = self.touch(t);
        let attendee = if mark == Mark::End { u32::MAX } else { self.attendee(who) };
        self.presence.push(PresenceMark { t, seq, attendee, mark });
    }

    pub(super) fn started(&mut self, t: i64) {
        self.touch(t);
        self.started_at = Some(self.started_at.map_or(t, |s| s.min(t)));
    }

    pub(super) fn ended(&mut self, t: i64) {
        self.ended_at = Some(self.ended_at.map_or(t, |e| e.max(t)));
        self.presence(t, "", Mark::End);
    }

    pub(super) fn engaged(&mut self, t: i64, start: i64, who: &str, kind: &str) {
        *self.engagements.entry(start).or_default().entry(kind.to_owned()).or_default() += 1;
        let id = self.attendee(who);
        self.engaged.insert(id);
        self.presence(t, who, Mark::Activity);
    }

    pub(super) fn stream(&mut self, t: i64, who: &str, key: &str, kind: &str, on: bool) {
        let k = (key.to_owned(), kind.to_owned());
        let stream = match self.stream_ids.get(&k) {
            Some(&id) => id,
            None => {
                let id = u32::try_from(self.streams.len()).unwrap_or(u32::MAX);
                self.streams.push(k.clone());
                self.stream_ids.insert(k, id);
                id
            }
        };
        self.presence(t, who, Mark::Activity);
        let seq = self.seq;
        self.stream_marks.push(StreamMark { t, seq, stream, on });
    }

    /// The windows (start → counts) and summary, with open presences and streams counted up
    /// to `open_end`.
    pub(super) fn compute(&self, open_end: i64, window_ms: i64, timeout_ms: i64) -> Computed {
        let win = |t: i64| window_start(t, window_ms);
        let mut windows: BTreeMap<i64, SessionWindowCounts> = BTreeMap::new();

        // Presence sweep: intervals [s, e) per attendee, `open` when not ended.
        let mut marks = self.presence.clone();
        marks.sort_unstable_by_key(|m| (m.t, m.seq));
        let n = self.attendees.len();
        let mut since: Vec<Option<i64>> = vec![None; n];
        let mut last: Vec<i64> = vec![i64::MIN; n];
        let mut intervals: Vec<Vec<(i64, i64)>> = vec![Vec::new(); n];
        let mut leaves: Vec<i64> = Vec::new();
        let mut joins: Vec<i64> = Vec::new();
        let expire = |a: usize,
                      t: i64,
                      since: &mut [Option<i64>],
                      last: &[i64],
                      iv: &mut [Vec<(i64, i64)>],
                      lv: &mut Vec<i64>| {
            if let Some(s) = since[a] {
                let gone = last[a].saturating_add(timeout_ms);
                if gone <= t {
                    iv[a].push((s, gone));
                    lv.push(gone);
                    since[a] = None;
                }
            }
        };
        for m in &marks {
            if m.mark == Mark::End {
                for a in 0..n {
                    expire(a, m.t, &mut since, &last, &mut intervals, &mut leaves);
                    if let Some(s) = since[a].take() {
                        intervals[a].push((s, m.t));
                        leaves.push(m.t);
                    }
                }
                continue;
            }
            let a = m.attendee as usize;
            expire(a, m.t, &mut since, &last, &mut intervals, &mut leaves);
            match m.mark {
                Mark::Join => {
                    if since[a].is_none() {
                        since[a] = Some(m.t);
                        joins.push(m.t);
                    }
                    last[a] = last[a].max(m.t);
                }
                Mark::Leave => {
                    if let Some(s) = since[a].take() {
                        intervals[a].push((s, m.t));
                        leaves.push(m.t);
                    }
                    last[a] = last[a].max(m.t);
                }
                Mark::Activity => last[a] = last[a].max(m.t),
                Mark::End => {}
            }
        }
        let mut open_intervals: Vec<Option<i64>> = vec![None; n];
        for a in 0..n {
            expire(a, open_end, &mut since, &last, &mut intervals, &mut leaves);
            if let Some(s) = since[a] {
                open_intervals[a] = Some(s);
            }
        }
        for &t in &joins {
            windows.entry(win(t)).or_default().joins += 1;
        }
        for &t in &leaves {
            windows.entry(win(t)).or_default().leaves += 1;
        }

        // Attendees per window and attendance; intervals are at least 1 ms long for overlap.
        let mut attendance_ms: u64 = 0;
        let mut points: Vec<(i64, i64)> = Vec::new();
        let mut unique = 0u64;
        let mut engaged = 0u64;
        for a in 0..n {
            // (start, end for the duration, end for overlaps): an open presence is there
            // at `open_end` itself.
            let mut spans: Vec<(i64, i64, i64)> = intervals[a].iter().map(|&(s, e)| (s, e, e)).collect();
            if let Some(s) = open_intervals[a] {
                spans.push((s, open_end, open_end.saturating_add(1)));
            }
            if spans.is_empty() {
                continue;
            }
            unique += 1;
            if self.engaged.contains(&(a as u32)) {
                engaged += 1;
            }
            let mut next_unmarked = i64::MIN;
            for (s, e, overlap_end) in spans {
                attendance_ms += e.saturating_sub(s).max(0) as u64;
                let e = overlap_end.max(s.saturating_add(1));
                points.push((s, 1));
                points.push((e, -1));
                let mut w = win(s).max(next_unmarked);
                while w <= win(e - 1) {
                    windows.entry(w).or_default().attendees += 1;
                    w += window_ms;
                }
                next_unmarked = next_unmarked.max(w);
            }
        }

        // Streams: [on, off) per (key, type); open ones end at the next "Session Ended",
        // else after the timeout, else count up to `open_end`.
        let mut smarks = self.stream_marks.clone();
        smarks.sort_unstable_by_key(|m| (m.t, m.seq));
        let mut on_since: Vec<Option<i64>> = vec![None; self.streams.len()];
        let mut stream_last: Vec<i64> = vec![i64::MIN; self.streams.len()];
        let add_stream = |windows: &mut BTreeMap<i64, SessionWindowCounts>, kind: &str, s: i64, e: i64| {
            let mut a = s;
            while a < e {
                let w = win(a);
                let b = e.min(w + window_ms);
                *windows.entry(w).or_default().stream_ms.entry(kind.to_owned()).or_default() += (b - a) as u64;
                a = b;
            }
        };
        // "Session Ended" closes the streams open at its time (and only those).
        let mut ends: Vec<(i64, u64)> =
            self.presence.iter().filter(|m| m.mark == Mark::End).map(|m| (m.t, m.seq)).collect();
        ends.sort_unstable();
        let mut next_end = 0usize;
        let mut close_all = |upto: Option<(i64, u64)>,
                             on_since: &mut [Option<i64>],
                             windows: &mut BTreeMap<i64, SessionWindowCounts>| {
            while next_end < ends.len() && upto.is_none_or(|u| ends[next_end] < u) {
                let end = ends[next_end].0;
                for (i, since) in on_since.iter_mut().enumerate() {
                    if let Some(s) = since.take() {
                        add_stream(windows, &self.streams[i].1, s, end);
                    }
                }
                next_end += 1;
            }
        };
        for m in &smarks {
            close_all(Some((m.t, m.seq)), &mut on_since, &mut windows);
            let i = m.stream as usize;
            stream_last[i] = stream_last[i].max(m.t);
            match (m.on, on_since[i]) {
                (true, None) => on_since[i] = Some(m.t),
                (false, Some(s)) => {
                    add_stream(&mut windows, &self.streams[i].1, s, m.t);
                    on_since[i] = None;
                }
                _ => {}
            }
        }
        close_all(None, &mut on_since, &mut windows);
        for (i, s) in on_since.iter().enumerate() {
            let Some(s) = *s else { continue };
            let end = if stream_last[i].saturating_add(timeout_ms) <= open_end {
                stream_last[i] + timeout_ms
            } else {
                open_end
            };
            add_stream(&mut windows, &self.streams[i].1, s, end);
        }

        for (&w, by_type) in &self.engagements {
            let c = windows.entry(w).or_default();
            for (k, v) in by_type {
                *c.engagements.entry(k.clone()).or_default() += v;
            }
        }

        points.sort_unstable();
        let (mut i, mut cur, mut peak_all) = (0usize, 0i64, 0u64);
        for (&w, c) in windows.iter_mut() {
            // Presence at the window's first instant: everything up to and including it.
            while i < points.len() && points[i].0 <= w {
                cur += points[i].1;
                i += 1;
            }
            let mut peak = cur;
            while i < points.len() && points[i].0 < w + window_ms {
                cur += points[i].1;
                peak = peak.max(cur);
                i += 1;
            }
            c.peak_concurrent = peak.max(0) as u64;
            peak_all = peak_all.max(c.peak_concurrent);
        }

        let mut summary = SessionSummary {
            started_at_ms: self.started_at,
            ended_at_ms: self.ended_at,
            unique_attendees: unique,
            engaged_attendees: engaged,
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
        Computed { windows, summary }
    }
}
