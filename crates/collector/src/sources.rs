//! Sources are tenants: which source a Segment call belongs to, and whether its sender's
//! consent allows analytics at all.
//!
//! A *source* is a name: `--write-keys key1=sourceA,key2=sourceB` names the source of each
//! write key (a bare key is its own source; two keys may name one source, e.g. while a key is
//! rotated). Everything derived from a Segment call is kept per source, so the name, never
//! the key, travels in the envelope: a key can be rotated without splitting a source's data,
//! and no stored row holds a write key. Pingbacks and CDN log lines belong to the default
//! source (`--default-source`, default `default`), and so do Segment calls without a key
//! when keys are not checked.
//!
//! Consent: a call whose `context.consent.categoryPreferences` (Segment's consent object)
//! sets one of the configured analytics categories to `false` is dropped at the edge: answered
//! like an accepted call (the sender did nothing wrong), counted
//! (`engage_collector_analytics_events_total{outcome="no_consent"}`), and neither published nor
//! kept. A call without a consent object, or whose object does not mention those categories,
//! is not affected.

use engage_model::segment::Message;
use serde_json::Value;

pub use engage_model::source::{DEFAULT_SOURCE, check_source_name};

/// The consent categories that, set to `false`, mean "no analytics", unless configured.
pub const DEFAULT_CONSENT_CATEGORIES: &[&str] = &["analytics"];

/// The configured write keys and the source each names.
#[derive(Clone, PartialEq, Eq)]
pub struct WriteKeys {
    keys: Vec<String>,
    sources: Vec<String>,
}

impl std::fmt::Debug for WriteKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Keys are secrets: only the sources are shown.
        f.debug_struct("WriteKeys").field("sources", &self.sources).finish_non_exhaustive()
    }
}

/// Why a `--write-keys` entry cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    #[error("write key entry {0:?}: the key is empty")]
    EmptyKey(String),
    #[error(transparent)]
    BadSource(#[from] engage_model::source::SourceNameError),
    #[error("a write key is listed twice (once for source {0:?})")]
    DuplicateKey(String),
}

impl WriteKeys {
    /// Parses `key=source` entries (a bare `key` is its own source); blanks are skipped.
    /// None when no entry is left.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Option<WriteKeys>, SourceError> {
        let mut out = WriteKeys { keys: Vec::new(), sources: Vec::new() };
        for entry in entries.iter().map(|e| e.as_ref().trim()).filter(|e| !e.is_empty()) {
            let (key, source) = match entry.split_once('=') {
                Some((k, s)) => (k.trim(), s.trim()),
                None => (entry, entry),
            };
            if key.is_empty() {
                return Err(SourceError::EmptyKey(format!("={source}")));
            }
            check_source_name(source)?;
            if out.keys.iter().any(|k| k == key) {
                return Err(SourceError::DuplicateKey(source.to_owned()));
            }
            out.keys.push(key.to_owned());
            out.sources.push(source.to_owned());
        }
        Ok((!out.keys.is_empty()).then_some(out))
    }

    /// The source of `key`, if it is configured. Every configured key is compared, in time
    /// independent of where a guess differs, so timing tells nothing about the keys.
    pub fn source_of(&self, key: &str) -> Option<&str> {
        engage_model::credential::position(&self.keys, key.as_bytes()).map(|i| self.sources[i].as_str())
    }

    /// The configured keys (to check them for template placeholders at start).
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(String::as_str)
    }

    /// The distinct source names.
    pub fn sources(&self) -> Vec<&str> {
        let mut s: Vec<&str> = self.sources.iter().map(String::as_str).collect();
        s.sort_unstable();
        s.dedup();
        s
    }
}

/// Whether the call's consent object denies one of `categories` (compared case-insensitively):
/// `context.consent.categoryPreferences.<category>` is `false`.
pub fn denies_consent<S: AsRef<str>>(msg: &Message, categories: &[S]) -> bool {
    let Some(Value::Object(prefs)) =
        msg.context.get("consent").and_then(|c| c.get("categoryPreferences")).filter(|p| p.is_object())
    else {
        return false;
    };
    prefs.iter().any(|(name, granted)| {
        *granted == Value::Bool(false) && categories.iter().any(|c| c.as_ref().eq_ignore_ascii_case(name))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use engage_model::segment::parse_message;
    use serde_json::json;

    #[test]
    fn keys_name_their_sources_and_a_bare_key_is_its_own() {
        let keys = WriteKeys::parse(&["k1=webinars", " k2 = webinars ", "k3", ""]).unwrap().expect("keys");
        assert_eq!(keys.source_of("k1"), Some("webinars"));
        assert_eq!(keys.source_of("k2"), Some("webinars"));
        assert_eq!(keys.source_of("k3"), Some("k3"));
        assert_eq!(keys.source_of("k"), None);
        assert_eq!(keys.source_of("k11"), None);
        assert_eq!(keys.source_of(""), None);
        assert_eq!(keys.sources(), ["k3", "webinars"]);
        assert!(!format!("{keys:?}").contains("k1"), "keys are not logged: {keys:?}");
        assert_eq!(WriteKeys::parse::<&str>(&[]).unwrap(), None);
        assert_eq!(WriteKeys::parse(&[" ", ""]).unwrap(), None);
    }

    #[test]
    fn unusable_entries_are_refused_with_the_reason() {
        assert!(matches!(WriteKeys::parse(&["=a"]), Err(SourceError::EmptyKey(_))));
        assert!(matches!(WriteKeys::parse(&["k="]), Err(SourceError::BadSource(_))));
        assert!(matches!(WriteKeys::parse(&["k=a b"]), Err(SourceError::BadSource(_))));
        assert!(matches!(WriteKeys::parse(&["k=<script>"]), Err(SourceError::BadSource(_))));
        let long = format!("k={}", "s".repeat(65));
        assert!(matches!(WriteKeys::parse(&[long]), Err(SourceError::BadSource(_))));
        assert!(matches!(WriteKeys::parse(&["k=a", "k=b"]), Err(SourceError::DuplicateKey(_))));
        // a bare key that is no valid source name must be given one
        assert!(WriteKeys::parse(&["key with space"]).is_err());
        assert!(WriteKeys::parse(&["key with space=ok"]).is_ok());
    }

    #[test]
    fn consent_denied_for_analytics_drops_and_anything_else_does_not() {
        let call = |context: serde_json::Value| {
            parse_message(json!({"type": "track", "userId": "u", "event": "E", "context": context}), None).unwrap()
        };
        let cats = DEFAULT_CONSENT_CATEGORIES;
        assert!(denies_consent(&call(json!({"consent": {"categoryPreferences": {"Analytics": false}}})), cats));
        assert!(denies_consent(
            &call(json!({"consent": {"categoryPreferences": {"analytics": false, "ads": true}}})),
            cats
        ));
        assert!(!denies_consent(&call(json!({"consent": {"categoryPreferences": {"Analytics": true}}})), cats));
        assert!(!denies_consent(&call(json!({"consent": {"categoryPreferences": {"Advertising": false}}})), cats));
        assert!(!denies_consent(&call(json!({"consent": {"categoryPreferences": {"Analytics": "no"}}})), cats));
        assert!(!denies_consent(&call(json!({"consent": {}})), cats));
        assert!(!denies_consent(&call(json!({})), cats));
        // OneTrust-style category ids, when configured
        let onetrust = ["C0002"];
        assert!(denies_consent(&call(json!({"consent": {"categoryPreferences": {"C0002": false}}})), &onetrust));
    }
}
