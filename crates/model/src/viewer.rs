//! The viewer key: who is watching, without storing who they are.
//!
//! Plausible-style: `key = SipHash-2-4(day_salt, client IP, user agent)`, where the day salt
//! is itself a keyed hash of a secret and the UTC day number. The key rotates every day, so
//! viewers can be counted exactly within a day but not followed across days, and the raw IP
//! never leaves the collector. Every collector replica must share the secret (embedded mode
//! generates one and keeps it in the data directory).
//!
//! A player-supplied `vid` identifies the *view*, not the viewer: it does not replace this key.
//!
//! The day is the UTC day of the event's edge time (not of the collector's clock: a log line
//! shipped a day late keys like the live request would have). A view that crosses midnight
//! would change keys under it, so events in the first [`MIDNIGHT_BRIDGE_MS`] of a day also
//! carry the key under the previous day's salt ([`ViewerKeys::prev`]); the engine joins the
//! two, and unique viewers still count the key of the day of the play.

use crate::time::{DAY_MS, ms_into_utc_day, utc_day};
use siphasher::sip::SipHasher24;
use siphasher::sip128::{Hasher128, SipHasher24 as SipHasher128};
use std::hash::Hasher;
use std::net::IpAddr;

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

/// Computes viewer keys from a long-lived secret.
#[derive(Clone)]
pub struct ViewerKeyer {
    secret: [u8; 16],
}

impl std::fmt::Debug for ViewerKeyer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ViewerKeyer { secret: <redacted> }")
    }
}

impl ViewerKeyer {
    pub fn new(secret: [u8; 16]) -> Self {
        Self { secret }
    }

    /// The salt of UTC day `day` (days since the epoch).
    fn day_salt(&self, day: i64) -> [u8; 16] {
        let mut h = SipHasher128::new_with_key(&self.secret);
        h.write(b"engage.viewer.salt.v1");
        h.write_i64(day);
        h.finish128().as_bytes()
    }

    /// The viewer key of a client on UTC day `day`.
    pub fn key(&self, day: i64, ip: IpAddr, user_agent: &str) -> u64 {
        let mut h = SipHasher24::new_with_key(&self.day_salt(day));
        match ip.to_canonical() {
            IpAddr::V4(v4) => h.write(&v4.octets()),
            IpAddr::V6(v6) => h.write(&v6.octets()),
        }
        h.write_u8(0xff);
        h.write(user_agent.as_bytes());
        h.finish()
    }

    /// The keys of a client's event whose edge time is `event_time_ms`.
    pub fn keys_at(&self, event_time_ms: i64, ip: IpAddr, user_agent: &str) -> ViewerKeys {
        let day = utc_day(event_time_ms);
        let prev =
            if ms_into_utc_day(event_time_ms) < MIDNIGHT_BRIDGE_MS { self.key(day - 1, ip, user_agent) } else { 0 };
        ViewerKeys { key: self.key(day, ip, user_agent), prev }
    }
}

const _: () = assert!(MIDNIGHT_BRIDGE_MS < DAY_MS);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_within_a_day_and_rotating_across_days() {
        let k = ViewerKeyer::new([7; 16]);
        let ip: IpAddr = "203.0.113.9".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        assert_eq!(k.key(20_000, ip, "ua"), k.key(20_000, ip, "ua"));
        assert_ne!(k.key(20_000, ip, "ua"), k.key(20_001, ip, "ua"));
        assert_ne!(k.key(20_000, ip, "ua"), k.key(20_000, ip, "ub"));
        let mapped: IpAddr = "::ffff:203.0.113.9".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        assert_eq!(k.key(20_000, ip, "ua"), k.key(20_000, mapped, "ua"), "IPv4-mapped IPv6 is the same client");
        assert_ne!(k.key(20_000, ip, "ua"), ViewerKeyer::new([8; 16]).key(20_000, ip, "ua"));
    }

    #[test]
    fn the_previous_days_key_bridges_midnight_only() {
        let k = ViewerKeyer::new([7; 16]);
        let ip: IpAddr = "203.0.113.9".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let midnight = 20_001 * DAY_MS;
        // Just before midnight: the old day's key, no bridge (23:59 is not the start of a day).
        let before = k.keys_at(midnight - 60_000, ip, "ua");
        assert_eq!(before, ViewerKeys { key: k.key(20_000, ip, "ua"), prev: 0 });
        // Just after: the new day's key, and the previous day's key, which is the key before.
        let after = k.keys_at(midnight + 60_000, ip, "ua");
        assert_eq!(after, ViewerKeys { key: k.key(20_001, ip, "ua"), prev: before.key });
        assert_ne!(after.key, after.prev);
        assert_eq!(k.keys_at(midnight, ip, "ua").prev, before.key);
        assert_eq!(k.keys_at(midnight + MIDNIGHT_BRIDGE_MS - 1, ip, "ua").prev, before.key);
        assert_eq!(k.keys_at(midnight + MIDNIGHT_BRIDGE_MS, ip, "ua").prev, 0);
        // Noon: no previous key.
        assert_eq!(k.keys_at(midnight + DAY_MS / 2, ip, "ua"), ViewerKeys { key: after.key, prev: 0 });
    }
}
