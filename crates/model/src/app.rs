//! The application dimension: which app (or browser) sent an event.
//!
//! The pingback spec asks apps to identify themselves in the user agent (or the `ua`
//! parameter) as `CompanyName/AppName 2.3`; rollups are kept per application. Browsers
//! embedding a web player send their own user agent; those are grouped per browser family
//! (`web/Chrome`), using woothee's user-agent database. The key is bounded in length so the
//! dimension stays low-cardinality and safe as a label.

/// Longest application key kept.
pub const MAX_APP_KEY_LEN: usize = 64;

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
        return AppInfo { key: bounded(&format!("web/{}", browser.name)), version: bounded(browser.version) };
    }
    // A generic `product/version (comment)` token.
    let first = ua.split_whitespace().next().unwrap_or(ua);
    let (product, version) = first.split_once('/').unwrap_or((first, ""));
    AppInfo { key: bounded(product), version: bounded(version) }
}

/// `Vendor/Name Version`, the form the specification prescribes.
fn spec_form(ua: &str) -> Option<AppInfo> {
    let mut parts = ua.split_whitespace();
    let head = parts.next()?;
    let version = parts.next()?;
    let (vendor, name) = head.split_once('/')?;
    let is_word = |s: &str| !s.is_empty() && s.chars().next().is_some_and(|c| !c.is_ascii_digit()) && !s.contains('/');
    if !is_word(vendor) || !is_word(name) || vendor.eq_ignore_ascii_case("mozilla") {
        return None;
    }
    if !version.chars().next().is_some_and(|c| c.is_ascii_digit()) {
        return None;
    }
    Some(AppInfo { key: bounded(head), version: bounded(version) })
}

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
