//! Bots: the one classifier that tells crawlers, monitoring agents, HTTP libraries and
//! headless browsers from people, by user agent.
//!
//! Why one function: the collector flags every event it accepts with it (pingbacks and CDN
//! log lines by the request's `User-Agent`, Segment calls by `context.userAgent` only, never
//! by the sending library's own header), the engine keeps flagged events out of every human
//! metric and counts them apart, and a later per-view `device` dimension says `bot` by the
//! same rule. Two rules would disagree.
//!
//! The list is isbot's (`data/isbot-patterns.json`, vendored unchanged; its README says where
//! it comes from and how to refresh it). It is written for JavaScript regular expressions:
//! ASCII `\w`, case-insensitive, and a few patterns with lookbehind or lookahead, which the
//! `regex` crate does not have. Such a pattern is split into its core (compiled) and the
//! surrounding assertions (checked around each match of the core). Every pattern is screened
//! at once by one `RegexSet`; only the patterns that hit are looked at again. About half a
//! microsecond per agent on one core (`cargo bench -p engage-model --bench bot`).
//!
//! Media players and app HTTP stacks send short agents that a crawler list flags
//! (`ExoPlayerLib/2.18.1`, `okhttp/4.12.0`, `AppleTV11,1/11.1`): a match lying entirely inside
//! one of the [`PLAYER_PRODUCTS`] tokens is no evidence of a bot. Anything else that matches
//! still is (`Googlebot ... okhttp/4.12` stays a bot).

use regex::bytes::{Regex, RegexBuilder, RegexSet, RegexSetBuilder};
use std::ops::Range;
use std::sync::LazyLock;

/// isbot's pattern list, one JavaScript regular expression per string.
const ISBOT_PATTERNS: &str = include_str!("../data/isbot-patterns.json");

/// Product tokens of media players and app HTTP stacks: never evidence of a bot. Compared
/// case-insensitively; a token is the product, anything glued to it (`AppleTV11,1`) and its
/// `/version`.
pub const PLAYER_PRODUCTS: [&str; 8] =
    ["AppleCoreMedia", "AppleTV", "ExoPlayerLib", "ExoPlayer", "okhttp", "stagefright", "Roku", "Dalvik"];

/// Whether `user_agent` is a known crawler, monitoring agent, HTTP library or headless
/// browser. An empty agent is not (nothing says it is).
pub fn is_bot(user_agent: &str) -> bool {
    CLASSIFIER.is_bot(user_agent.as_bytes())
}

/// Patterns of the vendored list that could not be compiled, each with why (empty for the
/// list shipped: a test keeps it so; a refreshed list may need the translation extended).
/// Compiles the list if nothing did yet, so a service can check it at start.
pub fn unusable_patterns() -> &'static [String] {
    &CLASSIFIER.skipped
}

static CLASSIFIER: LazyLock<Classifier> = LazyLock::new(Classifier::vendored);

/// One pattern: a core the `regex` crate compiles, and the lookaround assertions around it.
#[derive(Debug)]
struct Rule {
    core: Regex,
    /// A lookbehind `(?<!A)`: compiled as `(?:A)$`, must not match the text before a match.
    not_after: Option<Regex>,
    /// A lookahead `(?!C)`: compiled as `^(?:C)`, must not match the text after a match.
    not_before: Option<Regex>,
}

impl Rule {
    fn compile(pattern: &str) -> Result<(Self, String), String> {
        let translated = literal_class_dashes(pattern);
        let (behind, core, ahead) = split_lookarounds(&translated);
        if ["(?<", "(?=", "(?!"].iter().any(|l| core.contains(l)) {
            return Err(format!("unsupported lookaround in {pattern:?}"));
        }
        let build = |p: &str| regex_builder(p).build().map_err(|e| format!("{pattern:?}: {e}"));
        let rule = Rule {
            core: build(core)?,
            not_after: behind.map(|b| build(&format!("(?:{b})$"))).transpose()?,
            not_before: ahead.map(|a| build(&format!("^(?:{a})"))).transpose()?,
        };
        Ok((rule, core.to_owned()))
    }

    /// Whether the pattern matches somewhere `accept` accepts (every start position is tried).
    fn matches_where(&self, ua: &[u8], accept: impl Fn(&Range<usize>) -> bool) -> bool {
        let mut at = 0;
        while at <= ua.len() {
            let Some(m) = self.core.find_at(ua, at) else { return false };
            let holds = self.not_after.as_ref().is_none_or(|b| !b.is_match(&ua[..m.start()]))
                && self.not_before.as_ref().is_none_or(|a| !a.is_match(&ua[m.end()..]));
            if holds && accept(&m.range()) {
                return true;
            }
            at = m.start() + 1;
        }
        false
    }
}

/// JavaScript's semantics for the list: ASCII classes, case-insensitive, bytes.
fn regex_builder(pattern: &str) -> RegexBuilder {
    let mut b = RegexBuilder::new(pattern);
    b.unicode(false).case_insensitive(true);
    b
}

#[derive(Debug)]
struct Classifier {
    /// The cores of every rule, in rule order: a superset of the rules' matches.
    screen: RegexSet,
    rules: Vec<Rule>,
    players: Option<Regex>,
    /// Patterns that did not compile (a test keeps this empty for the vendored list).
    skipped: Vec<String>,
}

impl Classifier {
    fn vendored() -> Self {
        match serde_json::from_str::<Vec<String>>(ISBOT_PATTERNS) {
            Ok(patterns) => Self::new(&patterns),
            Err(e) => {
                let mut none = Self::new(&[]);
                none.skipped.push(format!("the vendored list is not a JSON array of strings: {e}"));
                none
            }
        }
    }

    fn new(patterns: &[String]) -> Self {
        let (mut rules, mut cores, mut skipped) = (Vec::new(), Vec::new(), Vec::new());
        for p in patterns {
            match Rule::compile(p) {
                Ok((rule, core)) => {
                    rules.push(rule);
                    cores.push(core);
                }
                Err(why) => skipped.push(why),
            }
        }
        let screen = RegexSetBuilder::new(&cores).unicode(false).case_insensitive(true).build().unwrap_or_else(|e| {
            skipped.push(format!("the pattern set: {e}"));
            rules.clear();
            RegexSet::empty()
        });
        let players = format!(r"\b(?:{})[\w,.\-]*(?:/[^\s;()]*)?", PLAYER_PRODUCTS.join("|"));
        // Without it (it does not compile), no allowance rather than a wrong one.
        let players =
            regex_builder(&players).build().map_err(|e| skipped.push(format!("the player products: {e}"))).ok();
        Self { screen, rules, players, skipped }
    }

    fn is_bot(&self, ua: &[u8]) -> bool {
        let hits = self.screen.matches(ua);
        if !hits.matched_any() {
            return false;
        }
        let players: Vec<Range<usize>> = self.players.iter().flat_map(|p| p.find_iter(ua)).map(|m| m.range()).collect();
        let unexplained = |r: &Range<usize>| !players.iter().any(|p| p.start <= r.start && r.end <= p.end);
        hits.iter().any(|i| self.rules.get(i).is_some_and(|rule| rule.matches_where(ua, unexplained)))
    }
}

/// Splits a leading `(?<!...)` and a trailing `(?!...)` off a pattern: (behind, core, ahead).
fn split_lookarounds(p: &str) -> (Option<&str>, &str, Option<&str>) {
    let (mut behind, mut core, mut ahead) = (None, p, None);
    if core.starts_with("(?<!")
        && let Some(end) = group_end(core, 0)
    {
        behind = Some(&core[4..end]);
        core = &core[end + 1..];
    }
    let mut search = 0;
    while let Some(i) = core[search..].find("(?!").map(|i| i + search) {
        if group_end(core, i) == Some(core.len() - 1) {
            ahead = Some(&core[i + 3..core.len() - 1]);
            core = &core[..i];
            break;
        }
        search = i + 3;
    }
    (behind, core, ahead)
}

/// JavaScript reads a `-` right after a class escape (`[\w-.]`) as itself; the `regex` crate
/// refuses it as a range. Escapes such dashes.
fn literal_class_dashes(p: &str) -> String {
    let mut out = String::with_capacity(p.len());
    let (mut in_class, mut after_class_escape, mut chars) = (false, false, p.chars().peekable());
    while let Some(c) = chars.next() {
        let was_after_escape = std::mem::take(&mut after_class_escape);
        match c {
            '\\' => {
                out.push(c);
                if let Some(next) = chars.next() {
                    out.push(next);
                    after_class_escape = in_class && matches!(next, 'w' | 'W' | 'd' | 'D' | 's' | 'S');
                }
                continue;
            }
            '[' if !in_class => in_class = true,
            ']' if in_class => in_class = false,
            '-' if in_class && was_after_escape && chars.peek() != Some(&']') => {
                out.push_str("\\-");
                continue;
            }
            _ => {}
        }
        out.push(c);
    }
    out
}

/// The index of the `)` closing the group opened at `open`, skipping escapes and classes.
fn group_end(p: &str, open: usize) -> Option<usize> {
    let bytes = p.as_bytes();
    let (mut depth, mut i, mut in_class) = (0usize, open, false);
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 1,
            b'[' if !in_class => in_class = true,
            b']' if in_class => in_class = false,
            b'(' if !in_class => depth += 1,
            b')' if !in_class => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests;
