//! The dashboard's sign-in cookie: a session signed with the token it was opened with.
//!
//! Why not the token itself in the cookie: a cookie is kept by the browser, may sit in its
//! profile on disk and travels with every request. The session cookie holds
//! `v1.<token id>.<expiry>.<HMAC-SHA-256 keyed by the token>`, so it
//! - never contains the token (a stolen cookie cannot be used as a Bearer token elsewhere, and
//!   is not the long-lived secret scripts use);
//! - expires on its own after [`SESSION_SECONDS`] (the expiry is inside the MAC);
//! - needs no server-side state and no extra secret: every replica of `engage api` holding
//!   the token can check it, and removing the token from the configuration ends its sessions.
//!
//! The cookie gives exactly the rights of its token.

use super::tokens::{Token, TokenSet};
use engage_model::credential;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The cookie's name.
pub const COOKIE: &str = "engage_session";
/// How long a session lasts (12 hours).
pub const SESSION_SECONDS: i64 = 12 * 3600;

const VERSION: &str = "v1";

/// A new session value for `token`, valid for [`SESSION_SECONDS`] from `now_ms`.
pub fn issue(token: &Token, now_ms: i64) -> String {
    let expires = now_ms.div_euclid(1000) + SESSION_SECONDS;
    format!("{VERSION}.{}.{expires}.{}", token.id, hex(&mac(token, expires)))
}

/// The token a session value was issued for, if it is genuine, unexpired and its token is
/// still configured.
pub fn verify<'a>(tokens: &'a TokenSet, value: &str, now_ms: i64) -> Option<&'a Token> {
    let mut parts = value.split('.');
    let (version, id, expires, tag) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if version != VERSION || parts.next().is_some() {
        return None;
    }
    let expires: i64 = expires.parse().ok()?;
    if expires <= now_ms.div_euclid(1000) {
        return None;
    }
    // Ids are public; the MAC comparison is the secret part, in constant time.
    tokens.iter().filter(|t| t.id == id).find(|t| credential::ct_eq(hex(&mac(t, expires)).as_bytes(), tag.as_bytes()))
}

fn mac(token: &Token, expires: i64) -> [u8; 32] {
    // HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(token.secret()).expect("HMAC takes any key length");
    m.update(format!("engage dashboard session {VERSION}.{}.{expires}", token.id).as_bytes());
    m.finalize().into_bytes().into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The value of cookie `name` in a `Cookie` header (`a=1; b=2`).
pub fn cookie_value<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').filter_map(|kv| kv.trim().split_once('=')).find(|(k, _)| *k == name).map(|(_, v)| v.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_714_564_800_000;

    fn tokens() -> TokenSet {
        TokenSet::parse(&["aaaaaaaaaaaaaaaa1", "bbbbbbbbbbbbbbbb2=src"], &[]).expect("valid")
    }

    #[test]
    fn a_session_names_its_token_until_it_expires() {
        let set = tokens();
        let b = set.find(b"bbbbbbbbbbbbbbbb2").expect("token");
        let value = issue(b, T0);
        assert!(!value.contains("bbbbbbbbbbbbbbbb2"), "the cookie does not hold the token: {value}");
        assert_eq!(verify(&set, &value, T0).map(|t| t.id.as_str()), Some(b.id.as_str()));
        let last = T0 + (SESSION_SECONDS - 1) * 1000;
        assert!(verify(&set, &value, last).is_some());
        assert!(verify(&set, &value, T0 + SESSION_SECONDS * 1000).is_none(), "expired");
    }

    #[test]
    fn forged_altered_or_orphaned_sessions_are_refused() {
        let set = tokens();
        let a = set.find(b"aaaaaaaaaaaaaaaa1").expect("token");
        let value = issue(a, T0);
        let later = value.replacen(&format!(".{}.", T0 / 1000 + SESSION_SECONDS), ".99999999999.", 1);
        assert_ne!(later, value);
        assert!(verify(&set, &later, T0).is_none(), "the expiry is signed");
        let b = set.find(b"bbbbbbbbbbbbbbbb2").expect("token");
        let swapped = value.replacen(&a.id, &b.id, 1);
        assert!(verify(&set, &swapped, T0).is_none(), "the token id is signed");
        for junk in ["", "v1", "v1...", "v2.x.1.y", &format!("{value}.x"), "v1.00.abc.00"] {
            assert!(verify(&set, junk, T0).is_none(), "{junk}");
        }
        let other = TokenSet::parse(&["cccccccccccccccc3"], &[]).expect("valid");
        assert!(verify(&other, &value, T0).is_none(), "a token no longer configured ends its sessions");
    }

    #[test]
    fn cookies_are_found_by_name() {
        assert_eq!(cookie_value("a=1; engage_session=v1.x; b=2", COOKIE), Some("v1.x"));
        assert_eq!(cookie_value("engage_session_old=1", COOKIE), None);
        assert_eq!(cookie_value("", COOKIE), None);
    }
}
