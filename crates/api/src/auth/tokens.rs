//! The configured tokens: `--api-tokens` and `--admin-tokens`, parsed and checked before
//! anything starts, and looked up in constant time.
//!
//! An entry is `TOKEN` (reads every source, rejected inputs included) or
//! `TOKEN=sourceA|sourceB` (reads only those sources). A token is at least
//! [`MIN_TOKEN_LEN`] characters of `A-Z a-z 0-9 - . _ ~ + /` (what a Bearer credential may hold,
//! without `=`, which separates the scope): `openssl rand -hex 24` makes a good one. Every
//! problem is reported at once, and never with the token itself (it is a secret; its position
//! in the list names it).

use engage_model::credential;
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::fmt;

/// The shortest token accepted.
pub const MIN_TOKEN_LEN: usize = 16;
/// The longest token accepted (a header's worth is plenty).
pub const MAX_TOKEN_LEN: usize = 512;

/// The flags' names, for messages.
pub const API_TOKENS_FLAG: &str = "--api-tokens / ENGAGE_API_TOKENS";
pub const ADMIN_TOKENS_FLAG: &str = "--admin-tokens / ENGAGE_ADMIN_TOKENS";

/// Which sources a token reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Every source, and what belongs to none (rejected inputs, metrics).
    All,
    /// Only these sources (never empty).
    Sources(BTreeSet<String>),
}

/// One configured token. Its secret is never printed: `Debug` shows its id.
#[derive(Clone)]
pub struct Token {
    secret: String,
    /// A public name of the token: 16 hex digits of a hash of it (for logs, audit lines and
    /// session cookies; it does not reveal the token).
    pub id: String,
    pub scope: Scope,
    /// May also erase (`--admin-tokens`).
    pub admin: bool,
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token").field("id", &self.id).field("scope", &self.scope).field("admin", &self.admin).finish()
    }
}

impl Token {
    pub(crate) fn secret(&self) -> &[u8] {
        self.secret.as_bytes()
    }
}

/// Every configured token.
#[derive(Clone, Debug, Default)]
pub struct TokenSet {
    tokens: Vec<Token>,
    /// The secrets in the same order, for the constant-time lookup.
    secrets: Vec<Vec<u8>>,
}

/// A `--api-tokens` or `--admin-tokens` entry that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{flag}: entry {position} {problem}")]
pub struct TokenError {
    pub flag: &'static str,
    /// 1-based position in its list.
    pub position: usize,
    pub problem: String,
}

impl TokenSet {
    /// Parses both lists (empty entries are skipped); every problem is returned.
    pub fn parse<S: AsRef<str>>(api: &[S], admin: &[S]) -> Result<TokenSet, Vec<TokenError>> {
        let mut set = TokenSet::default();
        let mut errors = Vec::new();
        let lists = [(API_TOKENS_FLAG, api, false), (ADMIN_TOKENS_FLAG, admin, true)];
        for (flag, list, is_admin) in lists {
            let entries = list.iter().map(|e| e.as_ref().trim()).filter(|e| !e.is_empty());
            for (i, entry) in entries.enumerate() {
                let error = |problem: String| TokenError { flag, position: i + 1, problem };
                match parse_entry(entry, is_admin) {
                    Ok(token) if set.secrets.iter().any(|s| credential::ct_eq(s, token.secret())) => {
                        errors.push(error(
                            "repeats a token listed before (an admin token is listed only under --admin-tokens)".into(),
                        ))
                    }
                    Ok(token) => {
                        set.secrets.push(token.secret().to_vec());
                        set.tokens.push(token);
                    }
                    Err(problem) => errors.push(error(problem)),
                }
            }
        }
        if errors.is_empty() { Ok(set) } else { Err(errors) }
    }

    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// The token equal to `presented`, compared in constant time with every token.
    pub fn find(&self, presented: &[u8]) -> Option<&Token> {
        credential::position(&self.secrets, presented).map(|i| &self.tokens[i])
    }

    /// Every token, in the order configured.
    pub fn iter(&self) -> impl Iterator<Item = &Token> {
        self.tokens.iter()
    }
}

fn parse_entry(entry: &str, admin: bool) -> Result<Token, String> {
    let (secret, scope) = match entry.split_once('=') {
        None => (entry, Scope::All),
        Some((secret, sources)) => (secret.trim(), Scope::Sources(parse_sources(sources)?)),
    };
    if credential::is_placeholder(secret) {
        return Err("is a placeholder from a template (e.g. REPLACE-WITH-…, change-me): set a real token".into());
    }
    if secret.len() < MIN_TOKEN_LEN {
        return Err(format!(
            "is {} characters; a token has at least {MIN_TOKEN_LEN} (e.g. `openssl rand -hex 24`)",
            secret.len()
        ));
    }
    if secret.len() > MAX_TOKEN_LEN {
        return Err(format!("is longer than {MAX_TOKEN_LEN} characters"));
    }
    if let Some(c) = secret.chars().find(|c| !is_token_char(*c)) {
        return Err(format!(
            "holds {c:?}: a token is made of A-Z a-z 0-9 - . _ ~ + / (then `=source|source` to scope it)"
        ));
    }
    Ok(Token { id: token_id(secret), secret: secret.to_owned(), scope, admin })
}

fn parse_sources(list: &str) -> Result<BTreeSet<String>, String> {
    let mut sources = BTreeSet::new();
    for s in list.split('|').map(str::trim) {
        if s.is_empty() || s.len() > 128 || s.chars().any(|c| c.is_control() || c.is_whitespace() || c == '=') {
            return Err(format!(
                "has a bad source {s:?} after `=`: sources are `|`-separated names without spaces (`TOKEN=sourceA|sourceB`)"
            ));
        }
        sources.insert(s.to_owned());
    }
    Ok(sources)
}

fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~' | '+' | '/')
}

/// The public id of a token: 16 hex digits of SHA-256 over a label and the token.
fn token_id(secret: &str) -> String {
    let digest = Sha256::new().chain_update(b"engage token id\0").chain_update(secret.as_bytes()).finalize();
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "aaaaaaaaaaaaaaaa1";
    const B: &str = "bbbbbbbbbbbbbbbb2";

    #[test]
    fn bare_scoped_and_admin_tokens_parse() {
        let api = [A.to_string(), format!("{B}=sourceA|sourceB")];
        let set = TokenSet::parse(&api, &["cccccccccccccccc3".to_string()]).expect("valid");
        assert_eq!(set.len(), 3);
        let a = set.find(A.as_bytes()).expect("found");
        assert_eq!((a.scope.clone(), a.admin), (Scope::All, false));
        let b = set.find(B.as_bytes()).expect("found");
        assert_eq!(b.scope, Scope::Sources(["sourceA".to_string(), "sourceB".to_string()].into()));
        assert!(set.find(b"cccccccccccccccc3").expect("admin").admin);
        assert!(set.find(b"aaaaaaaaaaaaaaaa").is_none(), "a prefix is not the token");
        assert!(set.find(format!("{B}=sourceA").as_bytes()).is_none(), "the scope is not part of the token");
        assert_eq!(a.id.len(), 16);
        assert_ne!(a.id, b.id);
        assert!(!format!("{a:?}").contains(A), "Debug never shows the secret");
    }

    #[test]
    fn every_bad_entry_is_reported_without_its_secret() {
        let api = ["short", "", "REPLACE-WITH-API-TOKENS", "has space inside it!", "change-me-now-please-123"];
        let admin = [format!("{A}="), A.to_string(), A.to_string()];
        let admin: Vec<&str> = admin.iter().map(String::as_str).collect();
        let errors = TokenSet::parse(&api, &admin).expect_err("invalid");
        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(errors.len(), 6, "{text:#?}");
        assert!(text[0].starts_with("--api-tokens / ENGAGE_API_TOKENS: entry 1 is 5 characters"), "{}", text[0]);
        assert!(text[1].contains("entry 2 is a placeholder"), "{}", text[1]);
        assert!(text[2].contains("entry 3 holds ' '"), "{}", text[2]);
        assert!(text[3].contains("entry 4 is a placeholder"), "{}", text[3]);
        assert!(text[4].starts_with("--admin-tokens / ENGAGE_ADMIN_TOKENS: entry 1 has a bad source"), "{}", text[4]);
        assert!(text[5].contains("entry 3 repeats a token"), "{}", text[5]);
        assert!(text.iter().all(|t| !t.contains("short") && !t.contains(A)), "secrets are not echoed");
        assert!(TokenSet::parse::<&str>(&[], &[]).expect("no tokens").is_empty());
    }
}
