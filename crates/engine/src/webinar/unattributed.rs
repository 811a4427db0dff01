//! Webinar events no rule attributes to a session, listed instead of dropped.
//!
//! They are grouped by UTC day of event time into a pseudo-session `no_session:YYYY-MM-DD`
//! (a real session id cannot be told apart from it, so that prefix is reserved), whose rows
//! the stores and the API list like any session's: per window, `engagements` counts its
//! events by event name ("User Joined": 3) and `attendees` the distinct persons among them;
//! the summary has `unique_attendees` (distinct persons of the day) and the per-name totals.
//! The events stay here, kept for re-attribution, until the watermark passes the day's end
//! plus the lateness and the hold.

use super::identity::PersonId;
use super::rows::{Rows, first_open_window};
use super::session::Mark;
use super::{AnalyticsFlush, Config};
use engage_model::time::window_start;
use engage_model::webinar::{SessionSummary, SessionWindowCounts};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

const DAY_MS: i64 = 86_400_000;

/// The reserved session id prefix of unattributed events.
pub const NO_SESSION_PREFIX: &str = "no_session:";

/// The watermark at which day `day` leaves memory: its end plus the lateness and the hold
/// (every window of it is final, every event of it frozen).
pub(super) fn leaves_at(day: i64, cfg: &Config) -> i64 {
    day.saturating_add(1).saturating_mul(DAY_MS).saturating_add(cfg.lateness_ms).saturating_add(cfg.hold_ms)
}

/// The pseudo-session id of UTC day `day` (days since the epoch): `no_session:2024-05-01`.
pub fn no_session_id(day: i64) -> String {
    let (y, m, d) = civil_from_days(day);
    format!("{NO_SESSION_PREFIX}{y:04}-{m:02}-{d:02}")
}

/// The proleptic Gregorian date of a day number (Howard Hinnant's `civil_from_days`).
fn civil_from_days(day: i64) -> (i64, u32, u32) {
    let z = day + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// The unattributed events of one day.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(super) struct Bucket {
    marks: BTreeMap<u64, Mark>,
    dirty: bool,
    rows: Rows,
}

impl Bucket {
    pub(super) fn insert(&mut self, seq: u64, mark: Mark) {
        self.marks.insert(seq, mark);
        self.dirty = true;
    }

    pub(super) fn remove(&mut self, seq: u64) -> Option<Mark> {
        self.dirty = true;
        self.marks.remove(&seq)
    }

    pub(super) fn repoint(&mut self, seq: u64, person: PersonId) {
        if let Some(m) = self.marks.get_mut(&seq) {
            m.person = person;
            self.dirty = true;
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.marks.is_empty()
    }

    /// Whether its rows must be emitted before the watermark makes windows before `boundary`
    /// final: it changed, or one of its windows goes final.
    pub(super) fn due(&self, boundary: i64) -> bool {
        self.dirty || self.rows.goes_final(boundary)
    }

    pub(super) fn into_marks(self) -> BTreeMap<u64, Mark> {
        self.marks
    }

    /// Emits what changed (see [`Rows::emit`] for `done_before`).
    pub(super) fn flush(&mut self, day: i64, wm: i64, done_before: i64, cfg: &Config, out: &mut AnalyticsFlush) {
        // Rows change with the marks, and when an emitted window goes final.
        let open_from = first_open_window(wm, cfg);
        if self.dirty || self.rows.goes_final(open_from) {
            self.dirty = false;
            let (windows, summary) = self.compute(cfg);
            self.rows.emit(&no_session_id(day), &windows, summary, (done_before.min(open_from), open_from), cfg, out);
        }
    }

    fn compute(&self, cfg: &Config) -> (BTreeMap<i64, SessionWindowCounts>, SessionSummary) {
        let mut windows: BTreeMap<i64, SessionWindowCounts> = BTreeMap::new();
        let mut per_window: BTreeMap<i64, BTreeSet<PersonId>> = BTreeMap::new();
        let mut persons: BTreeSet<PersonId> = BTreeSet::new();
        let mut summary = SessionSummary::default();
        for m in self.marks.values() {
            let w = window_start(m.t, cfg.window_ms);
            *windows.entry(w).or_default().engagements.entry(m.kind.name().to_owned()).or_default() += 1;
            *summary.engagements.entry(m.kind.name().to_owned()).or_default() += 1;
            per_window.entry(w).or_default().insert(m.person);
            persons.insert(m.person);
        }
        for (w, who) in per_window {
            if let Some(c) = windows.get_mut(&w) {
                c.attendees = who.len() as u64;
            }
        }
        summary.unique_attendees = persons.len() as u64;
        (windows, summary)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_numbers_are_dates() {
        assert_eq!(no_session_id(0), "no_session:1970-01-01");
        assert_eq!(no_session_id(19_844), "no_session:2024-05-01");
        assert_eq!(no_session_id(11_016), "no_session:2000-02-29");
        assert_eq!(no_session_id(-1), "no_session:1969-12-31");
    }
}
