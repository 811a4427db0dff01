//! The daily salts of viewer keys: random, one per UTC day, shared by every collector, and
//! deleted as soon as no accepted event can need them any more.
//!
//! Plausible's scheme: a salt is drawn at random (never derived from anything), so once it is
//! deleted nobody, the operator included, can recompute that day's viewer keys from an IP and
//! a user agent. This module is the pure part: the table of salts ([`DaySalts`]), the rule of
//! which days must have one and which must be gone at a time ([`SaltPolicy`]), and the text
//! forms the salt books write (day as `YYYY-MM-DD`, salt as 32 hex digits). Where the salts
//! live (a directory, a compacted Kafka topic) is the shells' business.
//!
//! # Which days
//! The collector keys an event under the salt of the UTC day of its edge time, and an event in
//! the first [`MIDNIGHT_BRIDGE_MS`] of a day also under the previous day's salt. It accepts
//! edge times in `[now - allowed_lateness, now + FUTURE_TOLERANCE_MS]`. So at time `now` the
//! salts needed are those of the days from `utc_day(now - allowed_lateness - bridge)` to
//! `utc_day(now + FUTURE_TOLERANCE_MS)`; tomorrow's is made a day ahead, so that collectors
//! racing to make it have hours to converge and midnight never finds it missing. A day's salt
//! expires at the end of the day plus the lateness horizon plus the bridge (the longest view
//! timeout a view can keep across midnight): from then on no event the collector accepts can
//! be keyed under it. A salt older than that is never needed: [`SaltPolicy::kept_days`] covers
//! every day an accepted event touches (a property test below says so).

use super::MIDNIGHT_BRIDGE_MS;
use crate::time::{DAY_MS, utc_day};
use std::collections::BTreeMap;
use std::ops::RangeInclusive;

/// The salt of one day: the key of that day's viewer-key hash.
pub type Salt = [u8; 16];

/// When salts must exist and when they must be gone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SaltPolicy {
    /// The collectors' lateness horizon (`--allowed-lateness-seconds`), in milliseconds.
    pub allowed_lateness_ms: i64,
}

impl SaltPolicy {
    /// The days whose salts must exist at `now_ms`: from the oldest day an accepted event can
    /// still be keyed under, to tomorrow.
    pub fn kept_days(&self, now_ms: i64) -> RangeInclusive<i64> {
        let oldest = utc_day(now_ms.saturating_sub(self.allowed_lateness_ms).saturating_sub(MIDNIGHT_BRIDGE_MS));
        oldest..=utc_day(now_ms).saturating_add(1)
    }

    /// When the salt of `day` must be gone: the end of the day, plus the lateness horizon,
    /// plus the midnight bridge.
    pub fn expires_at_ms(&self, day: i64) -> i64 {
        day.saturating_add(1)
            .saturating_mul(DAY_MS)
            .saturating_add(self.allowed_lateness_ms)
            .saturating_add(MIDNIGHT_BRIDGE_MS)
    }

    /// Whether the salt of `day` must be deleted at `now_ms`.
    pub fn is_expired(&self, day: i64, now_ms: i64) -> bool {
        now_ms >= self.expires_at_ms(day)
    }
}

/// The salts known to one process, by UTC day number (days since the epoch).
///
/// The first salt adopted for a day stays: a salt book may hold several proposals for one day
/// (collectors racing to make it), and every reader adopts the first in the book's order.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct DaySalts {
    by_day: BTreeMap<i64, Salt>,
}

impl std::fmt::Debug for DaySalts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DaySalts").field("days", &self.by_day.keys().collect::<Vec<_>>()).finish_non_exhaustive()
    }
}

impl DaySalts {
    pub fn new() -> Self {
        Self::default()
    }

    /// The salt of `day`, if known.
    pub fn get(&self, day: i64) -> Option<&Salt> {
        self.by_day.get(&day)
    }

    /// Adopts `salt` for `day` unless the day already has one (the first wins); says whether
    /// it was adopted.
    pub fn adopt(&mut self, day: i64, salt: Salt) -> bool {
        match self.by_day.entry(day) {
            std::collections::btree_map::Entry::Occupied(_) => false,
            std::collections::btree_map::Entry::Vacant(v) => {
                v.insert(salt);
                true
            }
        }
    }

    /// Forgets the salt of `day`; says whether there was one.
    pub fn forget(&mut self, day: i64) -> bool {
        self.by_day.remove(&day).is_some()
    }

    /// The days that have a salt, oldest first.
    pub fn days(&self) -> impl Iterator<Item = i64> + '_ {
        self.by_day.keys().copied()
    }

    /// The days `policy` needs at `now_ms` that have no salt yet, oldest first.
    pub fn missing(&self, policy: &SaltPolicy, now_ms: i64) -> Vec<i64> {
        policy.kept_days(now_ms).filter(|d| !self.by_day.contains_key(d)).collect()
    }

    /// The days whose salts `policy` says must be deleted at `now_ms`, oldest first.
    pub fn expired(&self, policy: &SaltPolicy, now_ms: i64) -> Vec<i64> {
        self.days().filter(|&d| policy.is_expired(d, now_ms)).collect()
    }
}

/// A day or salt in a salt book that does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SaltTextError {
    #[error("not a day (YYYY-MM-DD): {0:?}")]
    Day(String),
    #[error("not a salt (32 hex digits)")]
    Salt,
}

/// A UTC day number as the salt books name it: `YYYY-MM-DD`.
pub fn day_name(day: i64) -> String {
    let date =
        i32::try_from(day).ok().and_then(|d| time::Date::from_julian_day(UNIX_EPOCH_JULIAN_DAY.checked_add(d)?).ok());
    match date {
        Some(date) => format!("{:04}-{:02}-{:02}", date.year(), u8::from(date.month()), date.day()),
        // Outside the calendar `time` knows (±9999 years): the day number itself, never read back.
        None => format!("day{day}"),
    }
}

/// Reads a day name written by [`day_name`].
pub fn parse_day_name(s: &str) -> Result<i64, SaltTextError> {
    let bad = || SaltTextError::Day(s.chars().take(40).collect());
    let mut parts = s.split('-');
    let (Some(y), Some(m), Some(d), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(bad());
    };
    if y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return Err(bad());
    }
    let number = |p: &str| p.bytes().all(|b| b.is_ascii_digit()).then(|| p.parse::<u16>().ok()).flatten();
    let (Some(y), Some(m), Some(d)) = (number(y), number(m), number(d)) else { return Err(bad()) };
    let month = time::Month::try_from(u8::try_from(m).map_err(|_| bad())?).map_err(|_| bad())?;
    let date =
        time::Date::from_calendar_date(i32::from(y), month, u8::try_from(d).map_err(|_| bad())?).map_err(|_| bad())?;
    Ok(i64::from(date.to_julian_day() - UNIX_EPOCH_JULIAN_DAY))
}

/// A salt as the salt books write it: 32 lowercase hex digits.
pub fn salt_hex(salt: &Salt) -> String {
    salt.iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads a salt written by [`salt_hex`] (surrounding whitespace allowed).
pub fn parse_salt_hex(s: &str) -> Result<Salt, SaltTextError> {
    let s = s.trim().as_bytes();
    if s.len() != 32 {
        return Err(SaltTextError::Salt);
    }
    let digit = |b: u8| (b as char).to_digit(16).ok_or(SaltTextError::Salt);
    let mut out = [0u8; 16];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = (digit(s[2 * i])? * 16 + digit(s[2 * i + 1])?) as u8;
    }
    Ok(out)
}

/// The Julian day number of 1970-01-01.
const UNIX_EPOCH_JULIAN_DAY: i32 = 2_440_588;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::{FUTURE_TOLERANCE_MS, check_horizon, ms_into_utc_day};
    use proptest::prelude::*;

    const HOUR: i64 = 3_600_000;
    const LATENESS: i64 = 48 * HOUR;
    const POLICY: SaltPolicy = SaltPolicy { allowed_lateness_ms: LATENESS };

    #[test]
    fn kept_days_run_from_the_horizon_to_tomorrow() {
        let day = 20_000;
        let noon = day * DAY_MS + 12 * HOUR;
        // Noon minus 48 h minus 3 h is 09:00 two days before.
        assert_eq!(POLICY.kept_days(noon), day - 2..=day + 1);
        // At 02:00, 48 h + 3 h back is 23:00 three days before.
        assert_eq!(POLICY.kept_days(day * DAY_MS + 2 * HOUR), day - 3..=day + 1);
        // At 03:00 exactly, the day three days before has just expired.
        let at_three = day * DAY_MS + 3 * HOUR;
        assert_eq!(POLICY.kept_days(at_three), day - 2..=day + 1);
        assert!(POLICY.is_expired(day - 3, at_three));
        assert!(!POLICY.is_expired(day - 3, at_three - 1));
        assert_eq!(POLICY.expires_at_ms(day - 3), (day - 2) * DAY_MS + LATENESS + MIDNIGHT_BRIDGE_MS);
    }

    #[test]
    fn missing_and_expired_days() {
        let day = 20_000;
        let now = day * DAY_MS + 12 * HOUR;
        let mut salts = DaySalts::new();
        assert_eq!(salts.missing(&POLICY, now), vec![day - 2, day - 1, day, day + 1]);
        assert!(salts.adopt(day - 5, [5; 16]));
        assert!(salts.adopt(day, [1; 16]));
        assert!(!salts.adopt(day, [2; 16]), "the first salt of a day stays");
        assert_eq!(salts.get(day), Some(&[1; 16]));
        assert_eq!(salts.missing(&POLICY, now), vec![day - 2, day - 1, day + 1]);
        assert_eq!(salts.expired(&POLICY, now), vec![day - 5]);
        assert!(salts.forget(day - 5));
        assert!(!salts.forget(day - 5));
        assert_eq!(salts.days().collect::<Vec<_>>(), vec![day]);
        // A day later, with the clock injected: today's salt has not expired, the day
        // before yesterday's has.
        let later = now + 3 * DAY_MS;
        assert_eq!(salts.expired(&POLICY, later), vec![day]);
    }

    #[test]
    fn text_forms_round_trip() {
        assert_eq!(day_name(0), "1970-01-01");
        assert_eq!(day_name(20_789), "2026-12-02");
        assert_eq!(day_name(-1), "1969-12-31");
        assert_eq!(parse_day_name("2026-12-02"), Ok(20_789));
        for bad in ["", "2026-12", "2026-13-01", "2026-02-30", "26-12-02", "2026-12-02-1", "+026-12-02", "day5"] {
            assert!(parse_day_name(bad).is_err(), "{bad}");
        }
        let salt: Salt = [0x00, 0x01, 0xab, 0xff, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 0x10, 0xfe];
        assert_eq!(parse_salt_hex(&salt_hex(&salt)), Ok(salt));
        assert_eq!(parse_salt_hex(&format!(" {}\n", salt_hex(&salt))), Ok(salt));
        assert_eq!(parse_salt_hex("00"), Err(SaltTextError::Salt));
        assert_eq!(parse_salt_hex(&"g".repeat(32)), Err(SaltTextError::Salt));
        assert_eq!(parse_salt_hex(&"é".repeat(16)), Err(SaltTextError::Salt));
    }

    proptest! {
        /// Every day an accepted event is keyed under (its own, and the previous one in the
        /// bridge) is kept at the time it is accepted: a missing salt is never an expired one.
        #[test]
        fn every_accepted_event_finds_its_salts_kept(
            now in 0i64..4_000_000_000_000,
            age in -FUTURE_TOLERANCE_MS..=7 * DAY_MS,
            lateness in 1i64..=7 * DAY_MS,
        ) {
            let policy = SaltPolicy { allowed_lateness_ms: lateness };
            let event = now - age;
            prop_assume!(check_horizon(event, now, lateness).is_ok());
            let kept = policy.kept_days(now);
            prop_assert!(kept.contains(&utc_day(event)));
            prop_assert!(!policy.is_expired(utc_day(event), now));
            if ms_into_utc_day(event) < MIDNIGHT_BRIDGE_MS {
                prop_assert!(kept.contains(&(utc_day(event) - 1)));
                prop_assert!(!policy.is_expired(utc_day(event) - 1, now));
            }
        }

        /// Kept and expired are exact complements over the past: a day before tomorrow is
        /// either kept or expired, never both.
        #[test]
        fn kept_is_not_expired(now in 0i64..4_000_000_000_000, back in 0i64..12, lateness in 1i64..=7 * DAY_MS) {
            let policy = SaltPolicy { allowed_lateness_ms: lateness };
            let day = utc_day(now) + 1 - back;
            prop_assert_eq!(policy.kept_days(now).contains(&day), !policy.is_expired(day, now));
        }

        #[test]
        fn day_names_round_trip(day in -700_000i64..2_900_000) {
            prop_assert_eq!(parse_day_name(&day_name(day)), Ok(day));
        }
    }
}
