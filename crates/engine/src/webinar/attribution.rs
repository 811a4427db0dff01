//! Attribution of webinar events to sessions (rules 1–4 of the module documentation), as a
//! function of each person's set of events and of the liveness of their source's sessions.
//!
//! A person's events are walked in event time order (at equal times, explicit events first,
//! by session id, so the walk does not depend on arrival order). The walk keeps the latest
//! attributed event: an event without an explicit session takes its session when it is at
//! most the attendee timeout older (rule 2), else the only live session (rule 3), else none.
//!
//! Liveness depends on attribution, so it is layered to stay well defined: a source's
//! [`Spans`] hold the times of explicit events and of events attributed by rule 2 from an
//! explicit one (the *first pass*: the same walk without rule 3). Rule 3 reads the spans and
//! never feeds them. The second pass (with rule 3) agrees with the first wherever the first
//! found a session: an event the first pass chains is within the timeout of an explicit or
//! chained event, and no event rule 3 places can lie between them (it would have been
//! chained itself). So a flush settles in two steps: first passes of the changed persons
//! (updating spans), then second passes of those persons and, when a source's spans changed,
//! of its *floating* persons (those with an event the first pass left unattributed).

use super::Webinars;
use super::identity::{Ev, PersonId, Place};
use engage_model::time::utc_day;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Activity and end times of one session, from one source's explicit and chained events.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Span {
    activity: BTreeMap<i64, u32>,
    ends: BTreeMap<i64, u32>,
}

/// The liveness spans of one source's sessions.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(super) struct Spans {
    sessions: BTreeMap<String, Span>,
}

fn bump(m: &mut BTreeMap<i64, u32>, t: i64, up: bool) {
    if up {
        *m.entry(t).or_default() += 1;
    } else if let Some(n) = m.get_mut(&t) {
        *n -= 1;
        if *n == 0 {
            m.remove(&t);
        }
    }
}

impl Spans {
    pub(super) fn add(&mut self, sid: &str, t: i64, ends: bool) {
        let span = self.sessions.entry(sid.to_owned()).or_default();
        bump(&mut span.activity, t, true);
        if ends {
            bump(&mut span.ends, t, true);
        }
    }

    pub(super) fn remove(&mut self, sid: &str, t: i64, ends: bool) {
        if let Some(span) = self.sessions.get_mut(sid) {
            bump(&mut span.activity, t, false);
            if ends {
                bump(&mut span.ends, t, false);
            }
            if span.activity.is_empty() {
                self.sessions.remove(sid);
            }
        }
    }

    /// The only session live at `t`: with an activity in `[t - timeout, t]` and no end
    /// between that activity and `t` (an end at `t` itself still lets `t` in).
    pub(super) fn only_live(&self, t: i64, timeout_ms: i64) -> Option<&str> {
        let mut live = self.sessions.iter().filter(|(_, span)| {
            let Some((&a, _)) = span.activity.range(..=t).next_back() else { return false };
            t.saturating_sub(a) <= timeout_ms && span.ends.range(a..t).next().is_none()
        });
        let (sid, _) = live.next()?;
        live.next().is_none().then_some(sid.as_str())
    }
}

/// The walk over one person's events: the session of each, in the order given.
fn walk(
    events: &[((i64, u64), &Ev)],
    timeout_ms: i64,
    live: Option<&dyn Fn(i64) -> Option<String>>,
) -> Vec<Option<String>> {
    let mut last: Option<(i64, String)> = None;
    let mut out = Vec::with_capacity(events.len());
    for &((t, _), ev) in events {
        let sid = match &ev.explicit {
            Some(sid) => Some(sid.clone()),
            None => match &last {
                Some((at, sid)) if t.saturating_sub(*at) <= timeout_ms => Some(sid.clone()),
                _ => live.and_then(|live| live(t)),
            },
        };
        if let Some(sid) = &sid {
            last = Some((t, sid.clone()));
        }
        out.push(sid);
    }
    out
}

/// A person's events in walk order: by time; at equal times explicit first, by session id.
fn ordered(events: &BTreeMap<(i64, u64), Ev>) -> Vec<((i64, u64), &Ev)> {
    let mut v: Vec<_> = events.iter().map(|(k, e)| (*k, e)).collect();
    v.sort_by(|((ta, sa), a), ((tb, sb), b)| {
        (ta, a.explicit.is_none(), &a.explicit, sa).cmp(&(tb, b.explicit.is_none(), &b.explicit, sb))
    });
    v
}

impl Webinars {
    /// Where a new event of `person` at `t` goes on arrival: the walk's answer from the events
    /// in memory (the next flush settles it exactly, with the event itself).
    pub(super) fn quick_place(&self, person: PersonId, t: i64) -> Place {
        let timeout = self.cfg.timeout_ms;
        let Some(p) = self.persons.get(&person) else { return Place::NoSession(utc_day(t)) };
        let previous = p.events.range(..=(t, u64::MAX)).rev().find_map(|(&(at, _), ev)| match &ev.place {
            Place::Session(sid) => Some((at, sid)),
            Place::NoSession(_) => None,
        });
        if let Some((at, sid)) = previous
            && t.saturating_sub(at) <= timeout
        {
            return Place::Session(sid.clone());
        }
        match self.sources.get(&p.source).and_then(|s| s.spans.only_live(t, timeout)) {
            Some(sid) => Place::Session(sid.to_owned()),
            None => Place::NoSession(utc_day(t)),
        }
    }

    /// Recomputes the attribution of every person changed since the last flush (and of the
    /// floating persons of sources whose spans changed), moving marks that change place.
    pub(super) fn settle(&mut self) {
        self.settle_by = i64::MAX;
        let dirty = std::mem::take(&mut self.dirty_persons);
        let mut changed_sources = BTreeSet::new();
        for (id, s) in &mut self.sources {
            if std::mem::take(&mut s.spans_changed) {
                changed_sources.insert(id.clone());
            }
        }
        for &p in &dirty {
            if self.first_pass(p) {
                changed_sources.extend(self.persons.get(&p).map(|p| p.source.clone()));
            }
        }
        let mut second = dirty;
        for source in &changed_sources {
            if let Some(s) = self.sources.get(source) {
                second.extend(s.floating.iter().copied());
            }
        }
        for p in second {
            self.second_pass(p);
        }
    }

    /// The first pass of `person`: updates the spans its events feed; true if any changed.
    fn first_pass(&mut self, person: PersonId) -> bool {
        let Some(p) = self.persons.get_mut(&person) else { return false };
        let order = ordered(&p.events);
        let spans = walk(&order, self.cfg.timeout_ms, None);
        // (event, is an end, span before, span now)
        type Change = ((i64, u64), bool, Option<String>, Option<String>);
        let changes: Vec<Change> = order
            .iter()
            .zip(spans)
            .filter(|((_, ev), span)| ev.span != *span)
            .map(|((key, ev), span)| (*key, ev.ends, ev.span.clone(), span))
            .collect();
        if changes.is_empty() {
            return false;
        }
        let Some(src) = self.sources.get_mut(&p.source) else { return false };
        for (key, ends, old, new) in changes {
            if let Some(old) = old {
                src.spans.remove(&old, key.0, ends);
            }
            if let Some(new) = &new {
                src.spans.add(new, key.0, ends);
            }
            if let Some(ev) = p.events.get_mut(&key) {
                ev.span = new;
            }
        }
        true
    }

    /// The second pass of `person`: the final place of each event; moves the marks that
    /// change place (not those frozen), and keeps the source's floating set.
    fn second_pass(&mut self, person: PersonId) {
        let timeout = self.cfg.timeout_ms;
        let Some(p) = self.persons.get(&person) else { return };
        let source = p.source.clone();
        let order = ordered(&p.events);
        let spans = self.sources.get(&source).map(|s| &s.spans);
        let live = |t: i64| spans.and_then(|s| s.only_live(t, timeout)).map(str::to_owned);
        let places = walk(&order, timeout, Some(&live));
        let floating = order.iter().any(|(_, ev)| ev.span.is_none());
        let moves: Vec<((i64, u64), Place, Place)> = order
            .iter()
            .zip(places)
            .map(|((key, ev), sid)| {
                let to = sid.map_or_else(|| Place::NoSession(utc_day(key.0)), Place::Session);
                (*key, ev.place.clone(), to)
            })
            .filter(|(key, from, to)| from != to && !self.frozen(key.0))
            .collect();
        if let Some(src) = self.sources.get_mut(&source) {
            if floating {
                src.floating.insert(person);
            } else {
                src.floating.remove(&person);
            }
        }
        for ((t, seq), from, to) in moves {
            if let Some(mark) = self.take_mark(&from, seq) {
                self.put_mark(&to, seq, mark);
            }
            if let Some(ev) = self.persons.get_mut(&person).and_then(|p| p.events.get_mut(&(t, seq))) {
                ev.place = to;
            }
        }
    }
}
