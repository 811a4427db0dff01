//! Webinar engagement and page views: the analytics half of the window engine, pure.
//!
//! Track events named after the web-conferencing semantic events (design.md, "Webinars";
//! names matched case-insensitively, "Session started" = "Session Started") are aggregated
//! per `properties.session_id`: joins, leaves, attendees present, peak concurrent attendees,
//! engagements by `type` and stream time by `type` per window, and a per-session summary.
//! Page and screen calls count views per (name, window). Everything else, and webinar
//! events without a session id, is accepted but not aggregated (the worker keeps it raw).
//!
//! It shares the video engine's watermark, window size and lateness: [`super::Engine`]
//! advances the watermark for every event of either kind and finalizes both, and the
//! whole state is part of the engine's snapshot, so restarts stay exact.
//!
//! Attendees are the caller's `userId` (else `anonymousId`). The semantics of presence
//! (repeated joins, implicit leaves, out-of-order events) are in [`session`].
//! A session is closed once the window of its end ("Session Ended", or its last event plus
//! the attendee timeout) is final: later events for it are late. Closed sessions are
//! evicted after their last emission; their ids are remembered for a day.
//!
//! # Layout
//! - `mod.rs`: event classification, [`Webinars`] (record, finalize, flush) and the
//!   [`super::Engine`] methods for analytics events.
//! - [`session`]: one session's marks and the sweep computing its aggregates.
//! - [`pages`]: page and screen views.

mod pages;
mod session;

#[cfg(test)]
mod tests;

use super::Engine;
use engage_model::segment::CallType;
use engage_model::time::window_start;
use engage_model::webinar::{PageViewWindow, SessionSummary, SessionWindow, SessionWindowCounts};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use pages::Pages;
use session::{Mark, Session};

/// How long (of watermark time) an evicted session's id is remembered.
const TOMBSTONE_MS: i64 = 86_400_000;

/// The web-conferencing semantic events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WebinarEventKind {
    SessionStarted,
    SessionEnded,
    UserJoined,
    UserLeft,
    UserEngaged,
    StreamEnabled,
    StreamDisabled,
}

impl WebinarEventKind {
    const NAMES: [(&'static str, WebinarEventKind); 7] = [
        ("session started", Self::SessionStarted),
        ("session ended", Self::SessionEnded),
        ("user joined", Self::UserJoined),
        ("user left", Self::UserLeft),
        ("user engaged", Self::UserEngaged),
        ("stream enabled", Self::StreamEnabled),
        ("stream disabled", Self::StreamDisabled),
    ];

    /// The kind of a track event name, case-insensitively, surrounding spaces ignored.
    pub fn classify(name: &str) -> Option<WebinarEventKind> {
        let name = name.trim();
        Self::NAMES.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, k)| *k)
    }
}

/// One analytics call, as the engine sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AnalyticsEvent<'a> {
    pub call: CallType,
    /// Track: the event name. Page, screen: the name.
    pub name: &'a str,
    /// `userId`, else `anonymousId`: the attendee.
    pub user: &'a str,
    /// `properties.session_id`.
    pub session_id: Option<&'a str>,
    /// `properties.type` (engagement or stream type).
    pub kind: Option<&'a str>,
    /// `properties.id` (identifies a stream; the attendee's own stream when absent).
    pub stream_id: Option<&'a str>,
    pub event_time_ms: i64,
    pub received_at_ms: i64,
}

/// What [`Engine::record_analytics`] did with an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnalyticsOutcome {
    /// Counted in a session or page-view window.
    Aggregated,
    /// A webinar event without `properties.session_id`: kept raw, not aggregated.
    NoSession,
    /// Not an event engage aggregates (identify, other track names...): kept raw.
    NotAggregated,
    /// Its window is final (or its session was closed and evicted): not applied.
    Late,
}

/// Everything analytics rows changed since the last flush.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AnalyticsFlush {
    pub session_windows: Vec<SessionWindow>,
    pub summaries: Vec<SessionSummary>,
    pub page_views: Vec<PageViewWindow>,
}

/// Webinar sessions and page views in memory.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Webinars {
    window_ms: i64,
    lateness_ms: i64,
    attendee_timeout_ms: i64,
    /// The watermark at the last finalization pass.
    horizon: Option<i64>,
    sessions: BTreeMap<String, Session>,
    /// Evicted session ids and the watermark when they were evicted.
    tombstones: BTreeMap<String, i64>,
    pages: Pages,
}

impl Webinars {
    pub(super) fn new(window_ms: i64, lateness_ms: i64, attendee_timeout_ms: i64) -> Self {
        Self {
            window_ms,
            lateness_ms,
            attendee_timeout_ms,
            horizon: None,
            sessions: BTreeMap::new(),
            tombstones: BTreeMap::new(),
            pages: Pages::default(),
        }
    }

    /// Whether the window starting at `start` is final.
    fn is_closed(&self, start: i64) -> bool {
        self.horizon.is_some_and(|h| start.saturating_add(self.window_ms).saturating_add(self.lateness_ms) <= h)
    }

    /// Moves the horizon to the watermark (called by the engine whenever it advances).
    pub(super) fn finalize(&mut self, watermark: i64) {
        self.horizon = Some(watermark);
        let (w, l) = (self.window_ms, self.lateness_ms);
        self.pages.finalize(|start| start.saturating_add(w).saturating_add(l) <= watermark);
    }

    /// Applies one event at (clamped) event time `t`.
    fn record(&mut self, ev: &AnalyticsEvent<'_>, t: i64) -> AnalyticsOutcome {
        let start = window_start(t, self.window_ms);
        let kind = match ev.call {
            CallType::Page | CallType::Screen => {
                if self.is_closed(start) {
                    return AnalyticsOutcome::Late;
                }
                self.pages.view(ev.call.as_str(), ev.name, start);
                return AnalyticsOutcome::Aggregated;
            }
            CallType::Track => match WebinarEventKind::classify(ev.name) {
                Some(kind) => kind,
                None => return AnalyticsOutcome::NotAggregated,
            },
            _ => return AnalyticsOutcome::NotAggregated,
        };
        let Some(sid) = ev.session_id.filter(|s| !s.is_empty()) else {
            return AnalyticsOutcome::NoSession;
        };
        let session_closed = self
            .sessions
            .get(sid)
            .is_some_and(|s| self.is_closed(window_start(s.closing_time(self.attendee_timeout_ms), self.window_ms)));
        if self.is_closed(start) || session_closed || self.tombstones.contains_key(sid) {
            return AnalyticsOutcome::Late;
        }
        let session = self.sessions.entry(sid.to_owned()).or_insert_with(|| Session::new(t));
        let kind_type = ev.kind.filter(|k| !k.is_empty()).unwrap_or("unknown");
        match kind {
            WebinarEventKind::SessionStarted => session.started(t),
            WebinarEventKind::SessionEnded => session.ended(t),
            WebinarEventKind::UserJoined => session.presence(t, ev.user, Mark::Join),
            WebinarEventKind::UserLeft => session.presence(t, ev.user, Mark::Leave),
            WebinarEventKind::UserEngaged => session.engaged(t, start, ev.user, kind_type),
            WebinarEventKind::StreamEnabled | WebinarEventKind::StreamDisabled => {
                let key = ev.stream_id.filter(|k| !k.is_empty()).unwrap_or(ev.user);
                session.stream(t, ev.user, key, kind_type, kind == WebinarEventKind::StreamEnabled);
            }
        }
        AnalyticsOutcome::Aggregated
    }

    /// Recomputes changed sessions and emits every row that changed; evicts what is done.
    fn flush(&mut self) -> AnalyticsFlush {
        let mut out = AnalyticsFlush::default();
        let Some(wm) = self.horizon else {
            return out;
        };
        let (window_ms, lateness_ms, timeout_ms) = (self.window_ms, self.lateness_ms, self.attendee_timeout_ms);
        let closed = |start: i64| start.saturating_add(window_ms).saturating_add(lateness_ms) <= wm;
        let mut done = Vec::new();
        for (id, s) in &mut self.sessions {
            if !s.dirty && s.computed_at == Some(wm) {
                continue;
            }
            // A window closed at the previous recompute was emitted final then: never again.
            let previous = s.computed_at;
            let was_closed =
                |start: i64| previous.is_some_and(|p| start.saturating_add(window_ms).saturating_add(lateness_ms) <= p);
            s.dirty = false;
            s.computed_at = Some(wm);
            let c = s.compute(wm.max(s.last_ms), window_ms, timeout_ms);
            let mut all_final = true;
            // Windows emitted before that are now empty are emitted again, with zero counts.
            let empty = SessionWindowCounts::default();
            let emptied: Vec<i64> = s.emitted.keys().filter(|w| !c.windows.contains_key(w)).copied().collect();
            let rows = c.windows.iter().chain(emptied.iter().map(|w| (w, &empty)));
            for (&w, counts) in rows {
                if was_closed(w) {
                    continue;
                }
                let is_final = closed(w);
                all_final &= is_final;
                if !is_final && s.emitted.get(&w) == Some(counts) {
                    continue;
                }
                out.session_windows.push(SessionWindow {
                    session_id: id.clone(),
                    window_start_ms: w,
                    window_end_ms: w.saturating_add(window_ms),
                    is_final,
                    counts: counts.clone(),
                });
                if is_final {
                    s.emitted.remove(&w);
                } else {
                    s.emitted.insert(w, counts.clone());
                }
            }
            let summary = SessionSummary { session_id: id.clone(), ..c.summary };
            if s.emitted_summary.as_ref() != Some(&summary) {
                out.summaries.push(summary.clone());
                s.emitted_summary = Some(summary);
            }
            let closing = window_start(s.closing_time(timeout_ms), window_ms);
            if all_final && closed(closing) {
                done.push(id.clone());
            }
        }
        for id in done {
            self.sessions.remove(&id);
            self.tombstones.insert(id, wm);
        }
        self.tombstones.retain(|_, at| wm.saturating_sub(*at) <= TOMBSTONE_MS);
        out.page_views = self.pages.flush(window_ms);
        out
    }

    /// Sessions in memory.
    pub(super) fn sessions(&self) -> usize {
        self.sessions.len()
    }

    /// Page-view windows in memory.
    pub(super) fn page_windows(&self) -> usize {
        self.pages.len()
    }
}

impl Engine {
    /// Records one analytics event: advances the shared watermark (finalizing video and
    /// analytics windows), then applies it. See the module documentation.
    pub fn record_analytics(&mut self, ev: &AnalyticsEvent<'_>) -> AnalyticsOutcome {
        let t = ev.event_time_ms.clamp(-super::TIME_LIMIT_MS, super::TIME_LIMIT_MS);
        let received = ev.received_at_ms.clamp(-super::TIME_LIMIT_MS, super::TIME_LIMIT_MS);
        self.advance_watermark(t.min(received));
        self.webinar.record(ev, t)
    }

    /// Every session window, session summary and page-view window changed since the last
    /// call, full state, sorted by key; final windows are included once, then evicted.
    pub fn flush_analytics(&mut self) -> AnalyticsFlush {
        self.webinar.flush()
    }

    /// Webinar sessions and page-view windows in memory.
    pub fn open_sessions(&self) -> (usize, usize) {
        (self.webinar.sessions(), self.webinar.page_windows())
    }
}
