//! Webinar engagement and page views: the analytics half of the window engine, pure.
//!
//! Track events named after the web-conferencing semantic events (design.md, "Webinars";
//! names matched case-insensitively: "Session started" = "Session Started") are aggregated
//! per session: joins, leaves, attendees present, peak concurrent attendees, engagements by
//! `type` and stream time by `type` per window, and a per-session summary. Page and screen
//! calls count views per (name, window). Everything else is accepted and not aggregated (the
//! consumer keeps every event raw). It shares the video engine's watermark and window size,
//! and is part of the engine's snapshot.
//!
//! Nothing is refused for being late: the collector refuses what is older than the lateness
//! horizon (by its own clock), so every event that reaches the engine is counted, and the
//! numbers are a function of the *set* of events within the horizon, whatever their order of
//! arrival. Only what lies past a documented bound is order-dependent (see "Bounds").
//!
//! # Rules
//! **Sources and persons.** Every call comes from a *source*, the tenant its write key names.
//! Each source has its own state ([`tenants`]): sessions, `no_session` days, page views and
//! persons are per source, and rows carry their source. Within a source,
//! ids are linked into *persons*: an `identify`, `group` or webinar event carrying both
//! `userId` and `anonymousId` links them (SDKs send both on every call after identify), and
//! so does `alias` (`previousId` → `userId`). Other calls do not reach identity. Links are timeless and apply whatever the order of
//! arrival: when two persons merge, every session holding events of either is recomputed,
//! so an attendee known first by `anonymousId` and later by `userId` counts once. The
//! attendee of a webinar event is the person of its `userId`, else of its `anonymousId`.
//!
//! **Attribution.** A webinar event belongs to a session found, in this order:
//! 1. *explicitly*: the first of `session_id_paths` (`--session-id-paths`, default
//!    `properties.session_id`, `context.groupId`) that holds an id. When the paths include
//!    `context.groupId` (groups are sessions in this deployment), a `group` call attributes
//!    its person to the session `groupId` too: it is an explicit event of that session
//!    (activity, no presence);
//! 2. *by its person*: to the session of the person's latest attributed event at or before
//!    it (by event time; at equal times explicit events count first, by session id),
//!    provided that event is at most `attendee_timeout_ms` older;
//! 3. *by liveness*: to the only session of its source live at its time. A session is live
//!    at `t` when one of its explicit events, or events attributed to it by rule 2, lies in
//!    `[t - attendee_timeout_ms, t]` with no "Session Ended" of it in between;
//! 4. otherwise it is *unattributed* (`no_session`).
//!
//! Attribution is recomputed from a person's whole set of events whenever it changes (a new
//! event, an earlier anchor arriving later, a merge), and for every person of a source whose
//! attribution depends on liveness when that source's sessions change. An event moves between
//! sessions accordingly. Track events that are not webinar events are never session activity,
//! and Video Spec events (whose `session_id` is a playback's) never reach this module.
//!
//! **Unattributed events** are counted, not dropped: per UTC day of event time they form a
//! pseudo-session `no_session:YYYY-MM-DD` whose rows list them like a session: per window,
//! `engagements` counts its events *by event name* ("User Joined": 3) and `attendees` the
//! distinct persons among them; its summary has `unique_attendees` (distinct persons) and
//! the same per-name totals, and nothing else. They stay in memory for the horizon, so an
//! anchor or link arriving later still moves them into their session.
//!
//! **Presence** (see [`session`]): a "User Joined" starts a presence (a join of someone
//! present is part of it). It runs to the attendee's next "User Left"; else to the session's
//! next "Session Ended"; else — the session never ended — to the session's last activity
//! (any event of the session), decided once the watermark passes that activity plus
//! `attendee_timeout_ms`. Until then it is open and counts up to the watermark. Never a
//! fixed time after joining: an attendee who joins and then only watches stays present for as
//! long as the session goes on. Streams ("Stream Enabled" / "Disabled", keyed by
//! `properties.id`, else by their person, and `type`) follow the same rule.
//!
//! **Rows.** Session rows are full state per (session, window), `is_final` once
//! `window_end + allowed_lateness_ms <= watermark`; the summary is rewritten whenever it
//! changes. A session stays in memory until the watermark passes its closing time (its last
//! "Session Ended", or its last activity plus `attendee_timeout_ms` if anything came later)
//! plus `attendee_timeout_ms` (how far its liveness reaches), rounded up to the end of that
//! window, plus the lateness and `hold_ms`: the hold covers the watermark's tolerance over
//! the collectors' clocks. A `no_session` day stays until its end plus the lateness and the
//! hold. Page views: see [`pages`].
//!
//! **Flushes change nothing.** What leaves memory, what a final row holds and what is frozen
//! follow the watermark as the records move it ([`Webinars::finalize`]), never the moments
//! the consumer flushes: a replay from a snapshot writes exactly the rows of a run that never
//! stopped (property-tested, with horizons short enough for all of it to happen).
//!
//! # Bounds
//! - A final window is never rewritten. An event can change a window earlier than its own
//!   (a late activity extends open presences back to `attendee_timeout_ms` before it; a late
//!   link merges attendees of any time): if that window is already final, only the summary
//!   and the later windows show it.
//! - An event's attribution is frozen once the watermark passes its time plus the lateness
//!   and the hold (nothing accepted can be earlier any more).
//! - An explicit event of a session that already left memory, timed before its closing time
//!   plus the timeout, is [`AnalyticsOutcome::Expired`], and so is an unattributed event of
//!   a `no_session` day that left memory (both possible only when collector clocks disagree
//!   by more than the hold). A session's id is remembered until the watermark passes its
//!   closing time plus the timeout, twice the lateness and the hold; an event naming it later
//!   (or timed after that reach) starts a new session of the same id, whose summary replaces
//!   the old one's (rows are keyed by session id).
//! - State is capped ([`MAX_SOURCES`], [`MAX_ATTENDEES_PER_SESSION`], [`MAX_MARKS_PER_SESSION`],
//!   [`MAX_IDS_PER_SOURCE`], [`MAX_UNATTRIBUTED_PER_SOURCE`]): an event past a cap is
//!   [`AnalyticsOutcome::OverCap`], counted and kept raw by the consumer, not aggregated.
//!   Which events got in under a cap depends on arrival order. An event moved into a session
//!   by a later recomputation is not refused, so a session may pass its caps by the events
//!   attribution moves into it (all of them already counted under some cap).
//! - The outcome returned for an event is decided at its arrival (metrics count it so); rows
//!   follow later re-attribution.
//!
//! # Layout
//! - `mod.rs`: the engine input, [`Webinars`] (one source's state: record, flush), the
//!   [`super::Engine`] methods.
//! - [`tenants`]: one [`Webinars`] per source, erasure.
//! - [`identity`]: ids → persons per source, links and merges.
//! - [`attribution`]: the rules above, per person, and the liveness spans.
//! - [`session`]: one session's marks and the sweep computing its rows.
//! - [`unattributed`]: the `no_session:<day>` pseudo-sessions.
//! - [`rows`]: emission of full-state rows (changes only, final once).
//! - [`pages`]: page and screen views, in generations.

mod attribution;
mod identity;
mod pages;
mod rows;
mod session;
pub(crate) mod tenants;
mod unattributed;

#[cfg(test)]
mod tests;

use super::{Engine, EngineConfig};
use engage_model::dimension::{Dimension, Overflow};
use engage_model::segment::CallType;
use engage_model::segment::path::{CallObjects, JsonPath, first_id};
use engage_model::segment::video::is_video_spec;
use engage_model::time::window_start;
use engage_model::webinar::{PageViewWindow, SessionSummary, SessionWindow};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};

pub use engage_model::webinar::WebinarEventKind;
pub use tenants::{Erased, MAX_SOURCES};

use identity::{Person, PersonId, Place, Source};
use pages::Pages;
use session::{Mark, MarkKind, Session};
use unattributed::Bucket;

/// Most distinct attendees (persons with an event) one session holds.
pub const MAX_ATTENDEES_PER_SESSION: usize = 50_000;
/// Most events one session holds (about 100 bytes each).
pub const MAX_MARKS_PER_SESSION: usize = 500_000;
/// Most ids (`userId`, `anonymousId`) one source tracks for identity links.
pub const MAX_IDS_PER_SOURCE: usize = 1_000_000;
/// Most unattributed webinar events one source keeps for later attribution.
pub const MAX_UNATTRIBUTED_PER_SOURCE: usize = 100_000;

/// One analytics call, as the engine sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AnalyticsEvent<'a> {
    pub call: CallType,
    /// Track: the event name. Page, screen: the name.
    pub name: &'a str,
    /// Who sent it: the write key ("" when keys are not checked).
    pub source: &'a str,
    pub user_id: Option<&'a str>,
    pub anonymous_id: Option<&'a str>,
    /// Alias: `previousId`.
    pub previous_id: Option<&'a str>,
    /// Group: `groupId`.
    pub group_id: Option<&'a str>,
    pub properties: &'a Map<String, Value>,
    pub context: &'a Map<String, Value>,
    pub traits: &'a Map<String, Value>,
    /// Edge time (Segment's `timestamp` corrected by `sentAt`/`receivedAt`), epoch ms.
    pub event_time_ms: i64,
    pub received_at_ms: i64,
}

/// What [`Engine::record_analytics`] did with an event, decided at its arrival.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnalyticsOutcome {
    /// Counted in a session or page-view window.
    Aggregated,
    /// A webinar event no rule attributes (yet): counted in its day's `no_session` row.
    NoSession,
    /// Not an event engage aggregates (identify, other track names...): kept raw.
    NotAggregated,
    /// Past a documented cap: not aggregated.
    OverCap,
    /// Names a session that already left memory: not aggregated (see "Bounds").
    Expired,
}

/// Everything analytics rows changed since the last flush.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AnalyticsFlush {
    pub session_windows: Vec<SessionWindow>,
    pub summaries: Vec<SessionSummary>,
    pub page_views: Vec<PageViewWindow>,
}

/// The configuration the analytics half uses (from [`EngineConfig`]).
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Config {
    window_ms: i64,
    lateness_ms: i64,
    hold_ms: i64,
    timeout_ms: i64,
    paths: Vec<JsonPath>,
    /// `context.groupId` is among the paths: a `group` call attributes its person.
    group_sessions: bool,
}

/// Webinar sessions, persons and page views in memory.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Webinars {
    cfg: Config,
    watermark: Option<i64>,
    /// Arrival counter: identifies an event (its mark) wherever attribution moves it.
    next_seq: u64,
    next_person: PersonId,
    /// Watermark at which to forget idle persons next.
    next_gc_at: i64,
    /// `(evict_at, session id)` of every session in memory (see [`Session::evict_at`]).
    evictions: BTreeSet<(i64, String)>,
    /// Rows of what left memory as the watermark advanced, for the next flush.
    pending: AnalyticsFlush,
    sources: BTreeMap<String, Source>,
    persons: HashMap<PersonId, Person>,
    /// Persons whose attribution must be recomputed at the next flush.
    dirty_persons: BTreeSet<PersonId>,
    /// The watermark past which a pending change would freeze (see [`Webinars::finalize`]).
    settle_by: i64,
    sessions: BTreeMap<String, Session>,
    /// Sessions that left memory: id → closing time; and the same by when to forget them.
    expired: BTreeMap<String, i64>,
    expired_until: BTreeSet<(i64, String)>,
    /// Unattributed webinar events, by UTC day (days since the epoch) of event time.
    buckets: BTreeMap<i64, Bucket>,
    pages: Pages,
    /// Event types folded into `(other)` in windows gone final since the last take (a
    /// metric, not state).
    #[serde(skip)]
    event_type_overflow: u64,
}

/// Event times are clamped to this (as in the video half) so window math stays in range.
const TIME_LIMIT_MS: i64 = super::TIME_LIMIT_MS;

/// Keeps the last of each run of rows with equal keys (rows sorted by key).
fn keep_last<T, K: PartialEq>(rows: &mut Vec<T>, key: impl Fn(&T) -> K) {
    let mut out: Vec<T> = Vec::with_capacity(rows.len());
    for row in rows.drain(..) {
        if out.last().is_some_and(|last| key(last) == key(&row)) {
            out.pop();
        }
        out.push(row);
    }
    *rows = out;
}

fn non_empty(s: Option<&str>) -> Option<&str> {
    s.filter(|s| !s.is_empty())
}

impl Config {
    fn new(config: &EngineConfig) -> Self {
        // The configuration was validated: every path parses.
        let paths: Vec<JsonPath> = config.session_id_paths.iter().filter_map(|p| p.parse().ok()).collect();
        let group_sessions = paths.iter().any(|p| p.to_string() == "context.groupId");
        Config {
            window_ms: config.window_ms,
            lateness_ms: config.allowed_lateness_ms,
            hold_ms: config.hold_ms,
            timeout_ms: config.attendee_timeout_ms,
            paths,
            group_sessions,
        }
    }
}

impl Webinars {
    /// An empty state of one source.
    fn new(cfg: Config) -> Self {
        Self {
            cfg,
            watermark: None,
            next_seq: 0,
            next_person: 0,
            next_gc_at: i64::MIN,
            evictions: BTreeSet::new(),
            pending: AnalyticsFlush::default(),
            sources: BTreeMap::new(),
            persons: HashMap::new(),
            dirty_persons: BTreeSet::new(),
            settle_by: i64::MAX,
            sessions: BTreeMap::new(),
            expired: BTreeMap::new(),
            expired_until: BTreeSet::new(),
            buckets: BTreeMap::new(),
            pages: Pages::default(),
            event_type_overflow: 0,
        }
    }

    /// Moves the watermark (called by the engine whenever it advances), and lets go of what
    /// it leaves behind: sessions, `no_session` days and page-view generations past their
    /// time (their last rows wait for the next flush), expired ids, idle persons. All of it
    /// happens here, as records advance the watermark, never at a flush: what the engine
    /// holds depends only on the records it was given, so a replay writes the same rows
    /// wherever the consumer flushed.
    ///
    /// Attribution is settled at each flush; but if the watermark is about to freeze an event
    /// a pending change could still move (one at or after the change's time), it is settled
    /// here first, at the old watermark. So what is frozen never depends on flushes either.
    ///
    /// Likewise a window's final row is what the window holds when the watermark makes it
    /// final: when the watermark crosses a window boundary, whatever changed, and every row
    /// going final, is emitted then (into `pending`), not at whichever flush comes next.
    pub(super) fn finalize(&mut self, watermark: i64) {
        let wm = watermark;
        if self.is_idle() {
            // Nothing held: a video-only partition pays nothing here.
            self.watermark = Some(wm);
            return;
        }
        if wm > self.settle_by {
            self.settle();
        }
        let boundary = rows::first_open_window(wm, &self.cfg);
        if let Some(old) = self.watermark.map(|old| rows::first_open_window(old, &self.cfg))
            && old < boundary
        {
            self.settle();
            for (id, s) in &mut self.sessions {
                if s.due(boundary) {
                    self.event_type_overflow += s.flush(id, wm, old, &self.cfg, &mut self.pending);
                }
            }
            for (day, b) in &mut self.buckets {
                if b.due(boundary) {
                    b.flush(*day, wm, old, &self.cfg, &mut self.pending);
                }
            }
        }
        self.watermark = Some(wm);
        while let Some((at, _)) = self.evictions.first()
            && *at <= wm
        {
            let Some((_, id)) = self.evictions.pop_first() else { break };
            self.evict_session(&id, wm);
        }
        while let Some((&day, _)) = self.buckets.first_key_value()
            && unattributed::leaves_at(day, &self.cfg) <= wm
        {
            if let Some(mut b) = self.buckets.remove(&day) {
                b.flush(day, wm, boundary, &self.cfg, &mut self.pending);
                self.forget_marks(b.into_marks(), true);
            }
        }
        self.pages.finalize(wm, self.cfg.window_ms);
        while let Some((until, _)) = self.expired_until.first()
            && *until < wm
        {
            if let Some((_, id)) = self.expired_until.pop_first() {
                self.expired.remove(&id);
            }
        }
        if wm >= self.next_gc_at {
            self.next_gc_at = wm.saturating_add(self.cfg.hold_ms.max(self.cfg.window_ms));
            self.forget_idle_persons(wm);
        }
    }

    /// Values recorded as `(other)` since the last call: page names, event types.
    pub(super) fn take_overflow(&mut self) -> Overflow {
        let mut out = self.pages.take_overflow();
        out.add(Dimension::EventType, std::mem::take(&mut self.event_type_overflow));
        out
    }

    /// Whether nothing at all is held: no state, no rows waiting for a flush, no ids. A new
    /// state at the same watermark would write the same rows from here on.
    fn is_empty(&self) -> bool {
        self.is_idle()
            && self.sources.is_empty()
            && !self.pages.has_pending()
            && self.pending == AnalyticsFlush::default()
    }

    /// Whether no webinar or page state is held (finalizing would find nothing to do).
    fn is_idle(&self) -> bool {
        self.sessions.is_empty()
            && self.buckets.is_empty()
            && self.evictions.is_empty()
            && self.expired_until.is_empty()
            && self.persons.is_empty()
            && self.dirty_persons.is_empty()
            && self.pages.is_empty()
    }

    /// Emits a session's last rows (into `pending`), forgets it, and remembers its id.
    fn evict_session(&mut self, id: &str, wm: i64) {
        let Some(mut s) = self.sessions.remove(id) else { return };
        // Its windows went final as the watermark crossed them; what is left is the summary.
        self.event_type_overflow +=
            s.flush(id, wm, rows::first_open_window(wm, &self.cfg), &self.cfg, &mut self.pending);
        let Some(closing) = s.closing(self.cfg.timeout_ms) else { return };
        self.forget_marks(s.into_marks(), false);
        let c = &self.cfg;
        let until = closing.saturating_add(c.timeout_ms).saturating_add(c.hold_ms).saturating_add(2 * c.lateness_ms);
        self.expired.insert(id.to_owned(), closing);
        self.expired_until.insert((until, id.to_owned()));
    }

    /// Forgets the events of marks that left memory (from a `no_session` day when `bucket`).
    fn forget_marks(&mut self, marks: BTreeMap<u64, Mark>, bucket: bool) {
        for (seq, mark) in marks {
            if bucket
                && let Some(source) = self.persons.get(&mark.person).map(|p| p.source.clone())
                && let Some(s) = self.sources.get_mut(&source)
            {
                s.unattributed = s.unattributed.saturating_sub(1);
            }
            self.forget_event(mark.person, mark.t, seq);
        }
    }

    /// Keeps a session's place in the eviction index after its marks changed.
    fn reindex(&mut self, id: &str) {
        let Some(s) = self.sessions.get_mut(id) else { return };
        let at = s.evict_at(&self.cfg);
        if s.indexed_at == at {
            return;
        }
        if let Some(old) = s.indexed_at.take() {
            self.evictions.remove(&(old, id.to_owned()));
        }
        if let Some(at) = at {
            self.evictions.insert((at, id.to_owned()));
        }
        s.indexed_at = at;
    }

    fn wm(&self) -> i64 {
        self.watermark.unwrap_or(i64::MIN)
    }

    /// Whether an event at `t` is past the point where its attribution may change.
    fn frozen(&self, t: i64) -> bool {
        self.freezes_after(t) < self.wm()
    }

    /// The watermark past which an event at `t` is frozen.
    fn freezes_after(&self, t: i64) -> i64 {
        t.saturating_add(self.cfg.lateness_ms).saturating_add(self.cfg.hold_ms)
    }

    /// A change at `t` may move events at or after `t`: settle before they freeze.
    fn settle_before_freezing(&mut self, t: i64) {
        self.settle_by = self.settle_by.min(self.freezes_after(t));
    }

    /// Applies one event at (clamped) event time `t`; `position` is its record's.
    fn record(&mut self, ev: &AnalyticsEvent<'_>, t: i64, position: u64) -> AnalyticsOutcome {
        if matches!(ev.call, CallType::Page | CallType::Screen) {
            let start = window_start(t, self.cfg.window_ms);
            self.pages.view(ev.call.as_str(), ev.name, start, position, self.wm(), &self.cfg);
            return AnalyticsOutcome::Aggregated;
        }
        let user = non_empty(ev.user_id);
        let anonymous = non_empty(ev.anonymous_id);
        let Some(primary) = user.or(anonymous) else {
            return AnalyticsOutcome::NotAggregated;
        };
        let kind = match ev.call {
            CallType::Track if !is_video_spec(ev.name) => WebinarEventKind::classify(ev.name),
            _ => None,
        };
        let group = non_empty(ev.group_id).filter(|_| ev.call == CallType::Group && self.cfg.group_sessions);
        let links: Vec<(&str, &str)> =
            [user.zip(anonymous), non_empty(ev.previous_id).zip(user).filter(|_| ev.call == CallType::Alias)]
                .into_iter()
                .flatten()
                .collect();
        let relevant = kind.is_some() || group.is_some();
        // Identify and alias calls matter only for the links they carry.
        if !relevant && (links.is_empty() || !matches!(ev.call, CallType::Identify | CallType::Alias)) {
            return AnalyticsOutcome::NotAggregated;
        }
        let Some(person) = self.identify(ev.source, primary, &links, t) else {
            return AnalyticsOutcome::OverCap;
        };
        if !relevant {
            return AnalyticsOutcome::NotAggregated;
        }
        let explicit = match group {
            Some(g) => Some(g.to_owned()),
            None => {
                let call = CallObjects { properties: ev.properties, context: ev.context, traits: ev.traits };
                first_id(&self.cfg.paths, &call).map(|id| id.as_str().to_owned())
            }
        };
        // An explicit event of a session that left memory, within its reach: see "Bounds".
        if let Some(sid) = &explicit
            && self.expired.get(sid).is_some_and(|closing| t <= closing.saturating_add(self.cfg.timeout_ms))
        {
            return AnalyticsOutcome::Expired;
        }
        let text = |k: &str| ev.properties.get(k).and_then(engage_model::segment::path::id_text);
        let mark = Mark {
            t,
            person,
            kind: kind.map_or(MarkKind::Activity, MarkKind::from),
            detail: text("type").map(|d| d.as_str().to_owned()),
            stream: text("id").map(|d| d.as_str().to_owned()),
        };
        let place = match &explicit {
            Some(sid) => Place::Session(sid.clone()),
            None => self.quick_place(person, t),
        };
        // A no_session day that left memory (its rows are final).
        if let Place::NoSession(day) = place
            && unattributed::leaves_at(day, &self.cfg) <= self.wm()
        {
            return AnalyticsOutcome::Expired;
        }
        if !self.has_room(&place, person, ev.source) {
            return AnalyticsOutcome::OverCap;
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        let ends = mark.kind == MarkKind::Ended;
        self.put_mark(&place, seq, mark);
        // An explicit event feeds its session's liveness at once (the first pass would say
        // the same), so the next arrivals see it.
        if let Some(sid) = &explicit
            && let Some(src) = self.sources.get_mut(ev.source)
        {
            src.spans.add(sid, t, ends);
            src.spans_changed = true;
        }
        if let Some(p) = self.persons.get_mut(&person) {
            let span = explicit.clone();
            p.events.insert((t, seq), identity::Ev { ends, explicit, place: place.clone(), span });
        }
        self.dirty_persons.insert(person);
        self.settle_before_freezing(t);
        match place {
            Place::Session(_) => AnalyticsOutcome::Aggregated,
            Place::NoSession(_) => AnalyticsOutcome::NoSession,
        }
    }

    /// Whether `place` may take one more event of `person` (see the caps).
    fn has_room(&self, place: &Place, person: PersonId, source: &str) -> bool {
        match place {
            Place::Session(sid) => self.sessions.get(sid).is_none_or(|s| s.has_room(person)),
            Place::NoSession(_) => {
                self.sources.get(source).is_none_or(|s| s.unattributed < MAX_UNATTRIBUTED_PER_SOURCE)
            }
        }
    }

    /// Puts a mark in its place (creating the session or bucket).
    fn put_mark(&mut self, place: &Place, seq: u64, mark: Mark) {
        match place {
            Place::Session(sid) => {
                self.sessions.entry(sid.clone()).or_default().insert(seq, mark);
                self.reindex(sid);
            }
            Place::NoSession(day) => {
                let source = self.persons.get(&mark.person).map(|p| p.source.clone()).unwrap_or_default();
                if let Some(s) = self.sources.get_mut(&source) {
                    s.unattributed += 1;
                }
                self.buckets.entry(*day).or_default().insert(seq, mark);
            }
        }
    }

    /// Takes a mark out of its place.
    fn take_mark(&mut self, place: &Place, seq: u64) -> Option<Mark> {
        match place {
            Place::Session(sid) => {
                let mark = self.sessions.get_mut(sid).and_then(|s| s.remove(seq));
                self.reindex(sid);
                mark
            }
            Place::NoSession(day) => {
                let mark = self.buckets.get_mut(day).and_then(|b| b.remove(seq))?;
                let source = self.persons.get(&mark.person).map(|p| p.source.clone()).unwrap_or_default();
                if let Some(s) = self.sources.get_mut(&source) {
                    s.unattributed = s.unattributed.saturating_sub(1);
                }
                Some(mark)
            }
        }
    }

    /// Settles attribution, recomputes what changed and emits its rows.
    fn flush(&mut self) -> AnalyticsFlush {
        self.settle();
        let mut out = std::mem::take(&mut self.pending);
        let Some(wm) = self.watermark else {
            return out;
        };
        // Windows before the boundary went final as the watermark crossed them.
        let done_before = rows::first_open_window(wm, &self.cfg);
        let mut emptied = Vec::new();
        for (id, s) in &mut self.sessions {
            self.event_type_overflow += s.flush(id, wm, done_before, &self.cfg, &mut out);
            if s.is_empty() {
                emptied.push(id.clone());
            }
        }
        // A session all of whose events moved elsewhere just goes: its rows were zeroed.
        for id in emptied {
            if let Some(s) = self.sessions.remove(&id)
                && let Some(at) = s.indexed_at
            {
                self.evictions.remove(&(at, id));
            }
        }
        for (day, b) in &mut self.buckets {
            b.flush(*day, wm, done_before, &self.cfg, &mut out);
        }
        self.buckets.retain(|_, b| !b.is_empty());
        out.page_views.extend(self.pages.flush(self.cfg.window_ms));
        // One row per key, the latest: rows of one flush share a version in the stores.
        // (Stable sorts keep emission order within a key; a final row is never followed by
        // another of its key.)
        out.session_windows.sort_by(|a, b| (&a.session_id, a.window_start_ms).cmp(&(&b.session_id, b.window_start_ms)));
        keep_last(&mut out.session_windows, |w| (w.session_id.clone(), w.window_start_ms));
        out.summaries.sort_by(|a, b| a.session_id.cmp(&b.session_id));
        keep_last(&mut out.summaries, |s| s.session_id.clone());
        out
    }

    /// Sessions and `no_session` days in memory.
    pub(super) fn sessions(&self) -> usize {
        self.sessions.len() + self.buckets.len()
    }

    /// Page-view windows in memory.
    pub(super) fn page_windows(&self) -> usize {
        self.pages.len()
    }
}

impl Engine {
    /// Records one analytics event: advances the shared watermark (finalizing video
    /// windows), then applies it. See the module documentation.
    pub fn record_analytics(&mut self, ev: &AnalyticsEvent<'_>) -> AnalyticsOutcome {
        let t = ev.event_time_ms.clamp(-TIME_LIMIT_MS, TIME_LIMIT_MS);
        let received = ev.received_at_ms.clamp(-TIME_LIMIT_MS, TIME_LIMIT_MS);
        self.advance_watermark(t.min(received));
        let position = self.position;
        self.webinar.record(ev, t, position)
    }

    /// Forgets, in `source`, the ids of every person holding one of `ids`, and the ids
    /// linked to them (an erasure request: see [`Webinars::erase`]). Returns every id
    /// forgotten, so the caller can erase what is stored under the linked ones too.
    pub fn erase_analytics(&mut self, source: &str, ids: &[String]) -> Erased {
        self.webinar.erase(source, ids)
    }

    /// Every session window, session summary and page-view generation changed since the last
    /// call, full state, sorted by key. Final session windows are included once.
    pub fn flush_analytics(&mut self) -> AnalyticsFlush {
        self.webinar.flush()
    }

    /// Webinar sessions (with `no_session` days) and page-view windows in memory.
    pub fn open_sessions(&self) -> (usize, usize) {
        (self.webinar.sessions(), self.webinar.page_windows())
    }

    /// Sources with webinar or page-view state in memory.
    pub fn open_sources(&self) -> usize {
        self.webinar.sources()
    }
}
