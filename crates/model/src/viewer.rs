//! The viewer key: who is watching, without storing who they are.
//!
//! Plausible-style: `key = SipHash-2-4(day_salt, client IP, user agent)`, where the day salt
//! is itself a keyed hash of a secret and the UTC day number. The key rotates every day, so
//! viewers can be counted exactly within a day but not followed across days, and the raw IP
//! never leaves the collector. Every collector replica must share the secret (embedded mode
//! generates one and keeps it in the data directory).
//!
//! A player-supplied `vid` identifies the *view*, not the viewer: it does not replace this key.

use siphasher::sip::SipHasher24;
use siphasher::sip128::{Hasher128, SipHasher24 as SipHasher128};
use std::hash::Hasher;
use std::net::IpAddr;

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
}

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
}
