//! Who is who within a source: ids (`userId`, `anonymousId`) → persons, merged by links.
//!
//! Each source has its own id table (and since sources are tenants, its own [`Webinars`]): the same `userId` sent with two write keys
//! is two persons, as Segment scopes identity to a source. A link (both ids on one call, or
//! an `alias`) merges the two persons: the smaller one's ids and events move to the larger
//! one, and every mark of the moved events is repointed, so the sessions holding them count
//! one attendee. Merging smaller into larger keeps the total work `O(n log n)`.
//!
//! A person remembers every webinar event of theirs in memory (its time, where its mark is,
//! what it names explicitly), which is what attribution reads. A person with no event in
//! memory, not seen for the lateness horizon plus the hold, is forgotten with its ids: its
//! links then no longer apply to later events (no event accepted afterwards is old enough to
//! have been part of its sessions).

use super::{MAX_IDS_PER_SOURCE, Webinars, attribution::Spans};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};

pub(super) type PersonId = u64;

/// Where an event's mark is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(super) enum Place {
    Session(String),
    /// The `no_session` bucket of this UTC day.
    NoSession(i64),
}

/// One webinar event of a person, as attribution sees it (keyed by `(time, seq)`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct Ev {
    /// It is a "Session Ended" (an end, for liveness).
    pub(super) ends: bool,
    /// The session its paths (or its `group` call) name.
    pub(super) explicit: Option<String>,
    /// Where its mark is now.
    pub(super) place: Place,
    /// The session whose liveness span it feeds: explicit, or attributed by its person.
    pub(super) span: Option<String>,
}

/// One person of one source.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Person {
    pub(super) source: String,
    pub(super) ids: Vec<String>,
    /// Latest event time of any call naming one of its ids.
    pub(super) last_seen: i64,
    /// Its webinar events in memory, by `(event time, seq)`.
    pub(super) events: BTreeMap<(i64, u64), Ev>,
}

/// One source's identity table and attribution state.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(super) struct Source {
    pub(super) ids: HashMap<String, PersonId>,
    /// Persons with events whose attribution depends on the liveness of sessions.
    pub(super) floating: BTreeSet<PersonId>,
    /// Liveness of the source's sessions (attribution rule 3).
    pub(super) spans: Spans,
    /// Events of the source in `no_session` buckets.
    pub(super) unattributed: usize,
    /// The spans changed outside a first pass (an explicit event arrived, one left memory):
    /// the floating persons must be walked again.
    pub(super) spans_changed: bool,
}

impl Webinars {
    /// The person of `primary` in `source` after applying `links` (pairs of ids of one
    /// person), seen at `t`; None when a new id would pass [`MAX_IDS_PER_SOURCE`].
    pub(super) fn identify(&mut self, source: &str, primary: &str, links: &[(&str, &str)], t: i64) -> Option<PersonId> {
        let src = self.sources.entry(source.to_owned()).or_default();
        let new_ids: BTreeSet<&str> = std::iter::once(primary)
            .chain(links.iter().flat_map(|(a, b)| [*a, *b]))
            .filter(|id| !src.ids.contains_key(*id))
            .collect();
        if src.ids.len() + new_ids.len() > MAX_IDS_PER_SOURCE {
            return None;
        }
        for id in new_ids {
            let person = self.next_person;
            self.next_person += 1;
            src.ids.insert(id.to_owned(), person);
            let p =
                Person { source: source.to_owned(), ids: vec![id.to_owned()], last_seen: t, events: BTreeMap::new() };
            self.persons.insert(person, p);
        }
        for (a, b) in links {
            let (pa, pb) = (self.person_of(source, a), self.person_of(source, b));
            if let (Some(pa), Some(pb)) = (pa, pb)
                && pa != pb
            {
                self.merge(pa, pb);
            }
        }
        let person = self.person_of(source, primary)?;
        if let Some(p) = self.persons.get_mut(&person) {
            p.last_seen = p.last_seen.max(t);
        }
        Some(person)
    }

    fn person_of(&self, source: &str, id: &str) -> Option<PersonId> {
        self.sources.get(source)?.ids.get(id).copied()
    }

    /// Merges two persons of one source: the one with fewer events and ids goes into the other.
    fn merge(&mut self, a: PersonId, b: PersonId) {
        let size = |p: PersonId| self.persons.get(&p).map_or(0, |p| p.events.len() + p.ids.len());
        let (into, from) = if (size(a), b) >= (size(b), a) { (a, b) } else { (b, a) };
        let Some(gone) = self.persons.remove(&from) else { return };
        if let Some(src) = self.sources.get_mut(&gone.source) {
            for id in &gone.ids {
                src.ids.insert(id.clone(), into);
            }
            src.floating.remove(&from);
        }
        for (&(_, seq), ev) in &gone.events {
            match &ev.place {
                Place::Session(sid) => {
                    if let Some(s) = self.sessions.get_mut(sid) {
                        s.repoint(seq, into);
                    }
                }
                Place::NoSession(day) => {
                    if let Some(b) = self.buckets.get_mut(day) {
                        b.repoint(seq, into);
                    }
                }
            }
        }
        self.dirty_persons.remove(&from);
        self.dirty_persons.insert(into);
        // A merge may move any event of the merged person: settle before the first one that
        // can still move freezes.
        let threshold = self.wm().saturating_sub(self.cfg.lateness_ms).saturating_sub(self.cfg.hold_ms);
        let earliest = gone.events.range((threshold, 0)..).next().map(|(&(t, _), _)| t);
        if let Some(p) = self.persons.get_mut(&into) {
            p.ids.extend(gone.ids);
            p.events.extend(gone.events);
            p.last_seen = p.last_seen.max(gone.last_seen);
        }
        let earliest = earliest
            .into_iter()
            .chain(self.persons.get(&into).and_then(|p| p.events.range((threshold, 0)..).next().map(|(&(t, _), _)| t)))
            .min();
        if let Some(t) = earliest {
            self.settle_before_freezing(t);
        }
    }

    /// Removes an event that left memory with its session or bucket from its person (and
    /// the liveness span it fed).
    pub(super) fn forget_event(&mut self, person: PersonId, t: i64, seq: u64) {
        let Some(p) = self.persons.get_mut(&person) else { return };
        let Some(ev) = p.events.remove(&(t, seq)) else { return };
        if let Some(sid) = &ev.span
            && let Some(src) = self.sources.get_mut(&p.source)
        {
            src.spans.remove(sid, t, ev.ends);
            src.spans_changed = true;
        }
    }

    /// An erasure: forgets the ids of every person holding one of `ids`, with the ids linked
    /// to them. The persons keep their events without any id (the counts they are part of
    /// hold nothing personal) and leave memory like any idle person; a later call with one
    /// of the ids starts a new person.
    pub(super) fn erase(&mut self, ids: &[String]) -> super::Erased {
        let persons: BTreeSet<PersonId> =
            self.sources.values().flat_map(|src| ids.iter().filter_map(|id| src.ids.get(id).copied())).collect();
        let mut forgotten = BTreeSet::new();
        for pid in &persons {
            let Some(p) = self.persons.get_mut(pid) else { continue };
            let gone = std::mem::take(&mut p.ids);
            if let Some(src) = self.sources.get_mut(&p.source) {
                for id in &gone {
                    src.ids.remove(id);
                }
            }
            forgotten.extend(gone);
        }
        super::Erased { ids: forgotten.into_iter().collect(), persons: persons.len() }
    }

    /// Forgets persons without events in memory, not seen for the lateness plus the hold.
    pub(super) fn forget_idle_persons(&mut self, wm: i64) {
        let idle_after = self.cfg.lateness_ms.saturating_add(self.cfg.hold_ms);
        let idle: Vec<PersonId> = self
            .persons
            .iter()
            .filter(|(_, p)| p.events.is_empty() && p.last_seen.saturating_add(idle_after) < wm)
            .map(|(id, _)| *id)
            .collect();
        for id in idle {
            let Some(p) = self.persons.remove(&id) else { continue };
            self.dirty_persons.remove(&id);
            if let Some(src) = self.sources.get_mut(&p.source) {
                for i in &p.ids {
                    src.ids.remove(i);
                }
                src.floating.remove(&id);
            }
        }
        self.sources.retain(|_, s| !s.ids.is_empty());
    }
}
