//! Sources: the tenants of an engage deployment.
//!
//! A source is a name: `--write-keys key=name` gives each Segment write key one, and
//! everything derived from a Segment call (traits, webinar sessions, page views, raw events)
//! is kept per source, so two sources never see nor overwrite each other's data. Pingbacks
//! and CDN log lines belong to the default source. Names appear in keys, URLs (`?source=`)
//! and metrics, so they are short and plain: one rule, here, for the collector, the API and
//! `engage forget`.

/// The source of pingbacks, CDN log lines and key-less Segment calls, unless configured.
pub const DEFAULT_SOURCE: &str = "default";

/// Longest source name.
pub const MAX_SOURCE_LEN: usize = 64;

/// Why a source name cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("source {name:?}: {why}")]
pub struct SourceNameError {
    /// The name (cut to [`MAX_SOURCE_LEN`] characters).
    pub name: String,
    pub why: &'static str,
}

/// Checks a source name: 1 to [`MAX_SOURCE_LEN`] characters of `A-Z a-z 0-9 . _ -`.
pub fn check_source_name(name: &str) -> Result<(), SourceNameError> {
    let bad = |why| Err(SourceNameError { name: name.chars().take(MAX_SOURCE_LEN).collect(), why });
    if name.is_empty() {
        return bad("a source name cannot be empty");
    }
    if name.len() > MAX_SOURCE_LEN {
        return bad("a source name has at most 64 characters");
    }
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')) {
        return bad("a source name has only letters, digits, `.`, `_` and `-`");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_short_and_plain() {
        for ok in ["default", "webinars", "wk_live.2-a", &"s".repeat(64)] {
            assert_eq!(check_source_name(ok), Ok(()), "{ok}");
        }
        for bad in ["", "a b", "<script>", "a/b", "é", &"s".repeat(65)] {
            assert!(check_source_name(bad).is_err(), "{bad}");
        }
    }
}
