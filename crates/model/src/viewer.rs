//! The viewer key: who is watching, without storing who they are.
//!
//! Plausible-style: `key = SipHash-2-4(day_salt, client IP, user agent)`, where the day salt
//! is random, drawn once for each UTC day, shared by every collector, and deleted once no
//! accepted event can need it ([`salts`]). The key rotates every day, so viewers can be
//! counted exactly within a day but not followed across days; the raw IP never leaves the
//! collector; and once a day's salt is deleted nobody can tell whose key is whose.
//!
//! A player-supplied `vid` identifies the *view*, not the viewer: it does not replace this key.
//!
//! The day is the UTC day of the event's edge time (not of the collector's clock: a log line
//! shipped a day late keys like the live request would have). A view that crosses midnight
//! would change keys under it, so events in the first [`MIDNIGHT_BRIDGE_MS`] of a day also
//! carry the key under the previous day's salt ([`ViewerKeys::prev`]); the engine joins the
//! two, and unique viewers still count the key of the day of the play.
//!
//! A day without a salt is never keyed some other way: [`ViewerKeyer::keys_at`] says
//! [`MissingSalt`] and the collector answers 503 (clients retry), as when the bus is down.

pub mod salts;

use crate::time::{DAY_MS, ms_into_utc_day, utc_day};
use salts::{DaySalts, Salt};
use siphasher::sip::SipHasher24;
use std::hash::Hasher;
use std::net::IpAddr;
use std::sync::{Arc, PoisonError, RwLock};

/// How long after UTC midnight an event also carries the previous day's key.
///
/// Longer than any sensible view timeout (default 30 minutes, a few hours at most): a view
/// still open at midnight sends its next event within the timeout, or it is closed anyway, so
/// three hours bridge every view that can cross midnight. Outside the bridge the previous key
/// would only cost bytes.
pub const MIDNIGHT_BRIDGE_MS: i64 = 3 * 3_600_000;

/// The keys of one event: of the day of its edge time, and of the day before in the bridge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ViewerKeys {
    /// The key under the salt of the UTC day of the event time.
    pub key: u64,
    /// The key under the previous day's salt when the event time is in the first
    /// [`MIDNIGHT_BRIDGE_MS`] of its day; 0 otherwise.
    pub prev: u64,
}

/// No salt is known for a day an event needs (the salt book was not read yet, or is
/// unreachable).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("no viewer-key salt for UTC day {day} yet")]
pub struct MissingSalt {
    pub day: i64,
}

/// Computes viewer keys from the day salts it shares with whoever keeps them up to date
/// (clones share one table).
#[derive(Clone, Default)]
pub struct ViewerKeyer {
    salts: Arc<RwLock<DaySalts>>,
}

impl std::fmt::Debug for ViewerKeyer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ViewerKeyer { salts: <redacted> }")
    }
}

impl ViewerKeyer {
    /// A keyer over these salts.
    pub fn new(salts: DaySalts) -> Self {
        Self { salts: Arc::new(RwLock::new(salts)) }
    }

    /// Changes the shared salts (adopting new days, forgetting expired ones).
    pub fn update<R>(&self, f: impl FnOnce(&mut DaySalts) -> R) -> R {
        f(&mut self.salts.write().unwrap_or_else(PoisonError::into_inner))
    }

    /// A copy of the salts known now.
    pub fn salts(&self) -> DaySalts {
        self.salts.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Whether the salt of `day` is known.
    pub fn has_salt(&self, day: i64) -> bool {
        self.salts.read().unwrap_or_else(PoisonError::into_inner).get(day).is_some()
    }

    /// The viewer key of a client on UTC day `day`.
    pub fn key(&self, day: i64, ip: IpAddr, user_agent: &str) -> Result<u64, MissingSalt> {
        let salts = self.salts.read().unwrap_or_else(PoisonError::into_inner);
        let salt = salts.get(day).ok_or(MissingSalt { day })?;
        Ok(key_under(salt, ip, user_agent))
    }

    /// The keys of a client's event whose edge time is `event_time_ms`.
    pub fn keys_at(&self, event_time_ms: i64, ip: IpAddr, user_agent: &str) -> Result<ViewerKeys, MissingSalt> {
        let day = utc_day(event_time_ms);
        let prev =
            if ms_into_utc_day(event_time_ms) < MIDNIGHT_BRIDGE_MS { self.key(day - 1, ip, user_agent)? } else { 0 };
        Ok(ViewerKeys { key: self.key(day, ip, user_agent)?, prev })
    }
}

/// The key of a client under one day's salt.
fn key_under(salt: &Salt, ip: IpAddr, user_agent: &str) -> u64 {
    let mut h = SipHasher24::new_with_key(salt);
    match ip.to_canonical() {
        IpAddr::V4(v4) => h.write(&v4.octets()),
        IpAddr::V6(v6) => h.write(&v6.octets()),
    }
    h.write_u8(0xff);
    h.write(user_agent.as_bytes());
    h.finish()
}

const _: () = assert!(MIDNIGHT_BRIDGE_MS < DAY_MS);

#[cfg(test)]
mod tests {
    use super::*;

    fn ip() -> IpAddr {
        "203.0.113.9".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
    }

    /// Salts for days 19_990..20_010, each different.
    fn keyer() -> ViewerKeyer {
        let mut salts = DaySalts::new();
        for day in 19_990..20_010 {
            salts.adopt(day, [(day % 251) as u8; 16]);
        }
        ViewerKeyer::new(salts)
    }

    #[test]
    fn stable_within_a_day_and_rotating_across_days() {
        let k = keyer();
        let ip = ip();
        assert_eq!(k.key(20_000, ip, "ua"), k.key(20_000, ip, "ua"));
        assert_ne!(k.key(20_000, ip, "ua"), k.key(20_001, ip, "ua"));
        assert_ne!(k.key(20_000, ip, "ua"), k.key(20_000, ip, "ub"));
        let mapped: IpAddr = "::ffff:203.0.113.9".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        assert_eq!(k.key(20_000, ip, "ua"), k.key(20_000, mapped, "ua"), "IPv4-mapped IPv6 is the same client");
        let other = ViewerKeyer::new(DaySalts::new());
        other.update(|s| s.adopt(20_000, [8; 16]));
        assert_ne!(k.key(20_000, ip, "ua"), other.key(20_000, ip, "ua"));
    }

    #[test]
    fn a_day_without_a_salt_is_never_keyed() {
        let k = keyer();
        assert_eq!(k.key(30_000, ip(), "ua"), Err(MissingSalt { day: 30_000 }));
        // 01:00 of the first day with a salt: the previous day has none, so no keys at all.
        assert_eq!(k.keys_at(19_990 * DAY_MS + 3_600_000, ip(), "ua"), Err(MissingSalt { day: 19_989 }));
        assert!(k.keys_at(19_990 * DAY_MS + MIDNIGHT_BRIDGE_MS, ip(), "ua").is_ok());
        // Forgetting a day (it expired) makes it missing for clones too.
        let clone = k.clone();
        k.update(|s| s.forget(20_000));
        assert_eq!(clone.key(20_000, ip(), "ua"), Err(MissingSalt { day: 20_000 }));
    }

    #[test]
    fn the_previous_days_key_bridges_midnight_only() -> Result<(), MissingSalt> {
        let k = keyer();
        let ip = ip();
        let midnight = 20_001 * DAY_MS;
        // Just before midnight: the old day's key, no bridge (23:59 is not the start of a day).
        let before = k.keys_at(midnight - 60_000, ip, "ua")?;
        assert_eq!(before, ViewerKeys { key: k.key(20_000, ip, "ua")?, prev: 0 });
        // Just after: the new day's key, and the previous day's key, which is the key before.
        let after = k.keys_at(midnight + 60_000, ip, "ua")?;
        assert_eq!(after, ViewerKeys { key: k.key(20_001, ip, "ua")?, prev: before.key });
        assert_ne!(after.key, after.prev);
        assert_eq!(k.keys_at(midnight, ip, "ua")?.prev, before.key);
        assert_eq!(k.keys_at(midnight + MIDNIGHT_BRIDGE_MS - 1, ip, "ua")?.prev, before.key);
        assert_eq!(k.keys_at(midnight + MIDNIGHT_BRIDGE_MS, ip, "ua")?.prev, 0);
        // Noon: no previous key.
        assert_eq!(k.keys_at(midnight + DAY_MS / 2, ip, "ua")?, ViewerKeys { key: after.key, prev: 0 });
        Ok(())
    }
}
