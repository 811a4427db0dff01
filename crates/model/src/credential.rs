//! Shared secrets presented by clients (Segment write keys, API tokens): compared in constant
//! time, and told apart from the placeholders of the deployment templates.
//!
//! Why here: the collector checks write keys and the read side checks tokens; both need the
//! same two rules, and a pure crate is where rules live. Comparison goes through `subtle`, so
//! how long a check takes does not depend on how many leading bytes of a guess were right
//! (only a length mismatch answers early; lengths are not secret).

use subtle::{ConditionallySelectable, ConstantTimeEq};

/// Whether `given` equals `expected`, in time independent of where they differ.
pub fn ct_eq(expected: &[u8], given: &[u8]) -> bool {
    expected.ct_eq(given).into()
}

/// The index of the first of `known` equal to `given`. Every entry is compared, whatever
/// matched, so the time taken says nothing about which entry (or how much of it) matched.
pub fn position<K: AsRef<[u8]>>(known: &[K], given: &[u8]) -> Option<usize> {
    let mut found = u32::MAX;
    for (i, k) in known.iter().enumerate() {
        let hit = k.as_ref().ct_eq(given) & found.ct_eq(&u32::MAX);
        found.conditional_assign(&(i as u32), hit);
    }
    (found != u32::MAX).then_some(found as usize)
}

/// Whether `value` is a placeholder left from a template rather than a real secret: the
/// values of `deploy/kubernetes` (`REPLACE-WITH-…`) and the usual stand-ins (`change-me`,
/// `changeme`, `placeholder`, `your-token`…). Case, `-` and `_` do not matter. Every role
/// refuses to start with one, naming the flag, so a copied template never runs open.
pub fn is_placeholder(value: &str) -> bool {
    let v: String = value.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_lowercase()).collect();
    const CONTAINS: [&str; 5] = ["replacewith", "replaceme", "changeme", "placeholder", "changeit"];
    const PREFIXES: [&str; 3] = ["your", "insert", "todo"];
    const EXACT: [&str; 6] = ["secret", "password", "token", "apitoken", "writekey", "example"];
    CONTAINS.iter().any(|p| v.contains(p)) || PREFIXES.iter().any(|p| v.starts_with(p)) || EXACT.contains(&v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equality_and_position_compare_whole_values() {
        assert!(ct_eq(b"key-one", b"key-one"));
        assert!(!ct_eq(b"key-one", b"key-onf"));
        assert!(!ct_eq(b"key-one", b"key-on"));
        assert!(!ct_eq(b"", b"x"));
        let known = ["alpha", "beta", "alpha"];
        assert_eq!(position(&known, b"alpha"), Some(0), "the first match");
        assert_eq!(position(&known, b"beta"), Some(1));
        assert_eq!(position(&known, b"gamma"), None);
        assert_eq!(position(&known, b"alph"), None);
        assert_eq!(position::<&str>(&[], b"alpha"), None);
    }

    #[test]
    fn the_templates_placeholders_are_recognized_and_real_secrets_are_not() {
        for p in [
            "REPLACE-WITH-WRITE-KEYS",
            "REPLACE-WITH-32-HEX-DIGITS",
            "REPLACE-WITH-API-TOKENS",
            "change-me",
            "CHANGE_ME",
            "changeme-please",
            "placeholder",
            "your-api-token-here",
            "secret",
            "<replace me>",
        ] {
            assert!(is_placeholder(p), "{p}");
        }
        for real in ["9f86d081884c7d659a2feaa0c55ad015", "wk_live_3kT9x2LmQp", "Zq8-vN2_hY7rT4wX1cB6", "sourceA-key"] {
            assert!(!is_placeholder(real), "{real}");
        }
    }
}
