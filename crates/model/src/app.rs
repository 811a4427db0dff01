//! The application dimension: which app (or browser) sent an event.
//!
//! The pingback spec asks apps to identify themselves in the user agent (or the `ua`
//! parameter) as `CompanyName/AppName 2.3`; rollups are kept per application. The spec says
//! the user agent must *contain* that token, not start with it: Android and iOS WebViews
//! append it to the system browser's user agent, so it is searched in every top-level token
//! (outside parenthesised comments), skipping the browsers' own tokens ([`BROWSER_PRODUCTS`]).
//! Browsers embedding a web player send their own user agent; those are grouped per browser
//! family (`web/Chrome`), using woothee's user-agent database. The key is bounded in length so
//! the dimension stays low-cardinality and safe as a label.

use crate::ids::normalize_app;

/// Longest application key kept (the rule is [`crate::ids::IdKind::App`]'s).
pub const MAX_APP_KEY_LEN: usize = crate::ids::MAX_APP_CHARS;

/// Product names of browser and engine tokens (`Mozilla/5.0`, `AppleWebKit/537.36`,
/// `Chrome/120.0`, `Safari/537.36`, `Version/4.0`, `Mobile/15E148`, `Gecko/20100101`,
/// `Firefox/121.0`, `Edg/120.0`, `OPR/105.0`, ...): never an application, whatever follows
/// them. Most carry a version after the slash and so do not have the app form anyway; the
/// list guards the vendor side. `KHTML` and `like Gecko` live inside a comment
/// (`(KHTML, like Gecko)`), which is never searched. Compared case-insensitively.
pub const BROWSER_PRODUCTS: [&str; 18] = [
    "Mozilla",
    "AppleWebKit",
    "Chrome",
    "Chromium",
    "Safari",
    "Version",
    "Mobile",
    "Gecko",
    "Firefox",
    "Edg",
    "Edge",
    "OPR",
    "Opera",
    "KHTML",
    "CriOS",
    "FxiOS",
    "SamsungBrowser",
    "Trident",
];

/// The application an event came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppInfo {
    /// `Vendor/Name` for apps following the spec, `web/<Browser>` for browsers,
    /// the product token otherwise, `unknown` when there is no user agent.
    pub key: String,
    /// The version, when the user agent gives one.
    pub version: String,
}

/// Derives the application from a user agent string.
pub fn parse_app(user_agent: &str) -> AppInfo {
    let ua = user_agent.trim();
    if ua.is_empty() {
        return AppInfo { key: "unknown".into(), version: String::new() };
    }
    if let Some(app) = spec_form(ua) {
        return app;
    }
    let browser_like = ua.starts_with("Mozilla/") || ua.starts_with("Opera/");
    if let Some(browser) = browser_like.then(|| woothee::parser::Parser::new().parse(ua)).flatten()
        && browser.name != "UNKNOWN"
        && browser.name != "Webview"
    {
        return AppInfo { key: normalize_app(&format!("web/{}", browser.name)), version: bounded(browser.version) };
    }
    // A generic `product/version (comment)` token.
    let first = ua.split_whitespace().next().unwrap_or(ua);
    let (product, version) = first.split_once('/').unwrap_or((first, ""));
    AppInfo { key: normalize_app(product), version: bounded(version) }
}

/// The first `Vendor/Name Version` token pair (the form the specification prescribes) among
/// the top-level tokens of the user agent: `Vendor` and `Name` are words (starting with a
/// letter, no `/`, parenthesis, `;` or `,`), `Vendor` is not a browser product, and the
/// version that follows after a space starts with a digit.
fn spec_form(ua: &str) -> Option<AppInfo> {
    let tokens = top_level_tokens(ua);
    tokens.windows(2).find_map(|pair| {
        let [head, version] = [pair[0], pair[1]];
        let (vendor, name) = head.split_once('/')?;
        let browser = BROWSER_PRODUCTS.iter().any(|b| b.eq_ignore_ascii_case(vendor));
        let versioned = version.chars().next().is_some_and(|c| c.is_ascii_digit());
        (is_word(vendor) && is_word(name) && !browser && versioned)
            .then(|| AppInfo { key: normalize_app(head), version: bounded(version) })
    })
}

/// Whitespace-separated tokens of the user agent, in order, with every token of a
/// parenthesised comment replaced by `""` (which matches nothing): tokens inside a comment
/// are never an app, and a token and a version on either side of a comment are not a pair.
fn top_level_tokens(ua: &str) -> Vec<&str> {
    let mut depth = 0usize;
    let mut tokens = Vec::new();
    for token in ua.split_whitespace() {
        let top = depth == 0 && !token.starts_with('(');
        for c in token.chars() {
            match c {
                '(' => depth += 1,
                ')' => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
        tokens.push(if top { token } else { "" });
    }
    tokens
}

fn is_word(s: &str) -> bool {
    s.chars().next().is_some_and(char::is_alphabetic)
        && !s.chars().any(|c| c.is_control() || matches!(c, '/' | '(' | ')' | ';' | ','))
}

/// A version, bounded like a key (it is a label in the stores, not a dimension).
fn bounded(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(MAX_APP_KEY_LEN).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_form_is_vendor_name_version() {
        let app = parse_app("CompanyName/AppName 2.3");
        assert_eq!(app, AppInfo { key: "CompanyName/AppName".into(), version: "2.3".into() });
    }

    #[test]
    fn the_app_token_is_found_where_webviews_append_it() {
        let android = "Mozilla/5.0 (Linux; Android 14; Pixel 8 Build/UP1A.231005.007; wv) AppleWebKit/537.36 \
                       (KHTML, like Gecko) Version/4.0 Chrome/120.0 Mobile Safari/537.36 Acme/Player 2.3";
        assert_eq!(parse_app(android), AppInfo { key: "Acme/Player".into(), version: "2.3".into() });
        let ios = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) \
                   Mobile/15E148 Acme/Player 2.3.1";
        assert_eq!(parse_app(ios), AppInfo { key: "Acme/Player".into(), version: "2.3.1".into() });
        let middle = "Acme/Player 2.3 (iPhone; iOS 17.0) CFNetwork/1474 Darwin/23.0.0";
        assert_eq!(parse_app(middle).key, "Acme/Player");
    }

    #[test]
    fn browser_tokens_and_comments_are_not_apps() {
        // A browser product as the vendor, or a token inside a comment, is never an app.
        assert_eq!(parse_app("Mozilla/Firefox 121.0").key, "Mozilla");
        assert_eq!(parse_app("Safari/Mobile 17").key, "Safari");
        let in_comment = "Mozilla/5.0 (Linux; Acme/Player 2.3) AppleWebKit/537.36 (KHTML, like Gecko) \
                          Chrome/120.0.0.0 Safari/537.36";
        assert_eq!(parse_app(in_comment).key, "web/Chrome");
        // The version must follow the token directly, not across a comment.
        assert_eq!(parse_app("curl/8.5.0 Acme/Player (x) 2.3").key, "curl");
        // Both parts must be words: `Chrome/120.0` and `Build/UP1A` followed by text are not.
        assert_eq!(parse_app("Foo/1bar 2.0").key, "Foo");
    }

    #[test]
    fn browsers_group_by_family() {
        let chrome =
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
        assert_eq!(parse_app(chrome).key, "web/Chrome");
        let firefox = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0";
        assert_eq!(parse_app(firefox).key, "web/Firefox");
    }

    #[test]
    fn product_tokens_and_empty() {
        assert_eq!(
            parse_app("AppleCoreMedia/1.0.0.21A329 (iPhone; U; CPU OS 17_0 like Mac OS X)").key,
            "AppleCoreMedia"
        );
        assert_eq!(parse_app("curl/8.5.0").key, "curl");
        assert_eq!(parse_app("   ").key, "unknown");
        assert!(parse_app(&"x".repeat(10_000)).key.len() <= MAX_APP_KEY_LEN);
    }
}
