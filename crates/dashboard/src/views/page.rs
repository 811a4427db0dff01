//! The whole document: head with the inline stylesheet, the header (live status, range
//! picker, search), the view, and the inline script that refreshes it. Everything is served
//! by the binary: no external asset, no CDN.
//!
//! The stylesheet and the script are constants, so the page's Content-Security-Policy
//! ([`content_security_policy`]) allows exactly them by their SHA-256 hashes: no
//! `unsafe-inline`, so markup injected into the page could neither run script nor style it.

use crate::html::{datetime_local, escape};
use crate::query::{PRESETS, RangeChoice, ViewQuery};
use base64::Engine as _;
use sha2::{Digest, Sha256};
use std::fmt::Write as _;
use std::sync::LazyLock;

pub(crate) const CSS: &str = include_str!("../../assets/dashboard.css");
const SCRIPT: &str = include_str!("../../assets/live.js");

/// The CSP of the dashboard's HTML (the page, the sign-in form): its own stylesheet and
/// script by hash, requests to itself only, forms posting to itself, never framed.
pub fn content_security_policy() -> &'static str {
    static CSP: LazyLock<String> = LazyLock::new(|| {
        format!(
            "default-src 'none'; style-src '{}'; script-src '{}'; img-src 'self' data:; connect-src 'self'; \
             form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
            sha256_source(CSS),
            sha256_source(SCRIPT)
        )
    });
    &CSP
}

/// `sha256-<base64>` of an inline element's text, as CSP names it.
fn sha256_source(text: &str) -> String {
    format!("sha256-{}", base64::engine::general_purpose::STANDARD.encode(Sha256::digest(text.as_bytes())))
}

/// How often the script fetches the view again.
pub const REFRESH_MS: u32 = 5_000;

/// The document around `view_html` (the output of [`super::view`], or a notice).
pub fn page(q: &ViewQuery, view_html: &str) -> String {
    page_for(q, view_html, false)
}

/// [`page`], with a sign-out button when the reader signed in (tokens are configured).
pub fn page_for(q: &ViewQuery, view_html: &str, sign_out: bool) -> String {
    let mut out = String::with_capacity(view_html.len() + CSS.len() + SCRIPT.len() + 4096);
    let _ = write!(
        out,
        r##"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>engage · live engagement</title>
<style>{CSS}</style>
</head>
<body data-refresh-ms="{REFRESH_MS}" data-refreshes="0">
<a class="skip" href="#view">Skip to the numbers</a>
<header class="top">
<h1><a href="/">engage</a></h1>
<p class="live"><span class="dot" aria-hidden="true"></span><span>Live</span> · <span id="live-status">refreshes every {secs} s</span></p>
"##,
        secs = REFRESH_MS / 1000,
    );
    controls(&mut out, q);
    if sign_out {
        out.push_str(
            r#"<form class="sign-out" method="post" action="/dashboard/sign-out"><button type="submit">Sign out</button></form>"#,
        );
    }
    let _ = write!(
        out,
        r#"</header>
<main id="view" tabindex="-1">{view_html}</main>
<footer>Numbers refresh every {secs} seconds. Read them as JSON at <a href="/api/v1/items">/api/v1/items</a>; metrics at <a href="/metrics">/metrics</a>.</footer>
<script>{SCRIPT}</script>
</body>
</html>
"#,
        secs = REFRESH_MS / 1000,
    );
    out
}

/// The range picker and the search box: a plain GET form (works without the script; the
/// script submits it as soon as a preset is picked).
fn controls(out: &mut String, q: &ViewQuery) {
    let custom = matches!(q.range, RangeChoice::Custom { .. });
    let _ = write!(
        out,
        r#"<form id="controls" class="{class}" method="get" action="/" role="search" aria-label="Time range and item search">"#,
        class = if custom { "custom" } else { "" },
    );
    out.push_str(r#"<label>Time range<select name="range">"#);
    for (value, label, _) in PRESETS {
        let selected = if q.range == RangeChoice::Preset(value) { " selected" } else { "" };
        let _ = write!(out, r#"<option value="{value}"{selected}>{label}</option>"#);
    }
    let _ = write!(
        out,
        r#"<option value="custom"{}>Custom…</option></select></label>"#,
        if custom { " selected" } else { "" }
    );
    let (from, to) = match q.range {
        RangeChoice::Custom { from_ms, to_ms } => (from_ms.map(datetime_local), to_ms.map(datetime_local)),
        RangeChoice::Preset(_) => (None, None),
    };
    let _ = write!(
        out,
        r#"<label class="when-custom">From (UTC)<input type="datetime-local" name="from" value="{from}"></label><label class="when-custom">To (UTC)<input type="datetime-local" name="to" value="{to}"></label>"#,
        from = escape(&from.unwrap_or_default()),
        to = escape(&to.unwrap_or_default()),
    );
    let _ = write!(
        out,
        r#"<label>Search<input type="search" name="q" value="{q}" placeholder="item or session id" maxlength="128"></label>"#,
        q = escape(&q.search),
    );
    // Keep the selection when only the range changes.
    for (name, value) in [("item", &q.item), ("app", &q.app), ("session", &q.session)] {
        if let Some(v) = value {
            let _ = write!(out, r#"<input type="hidden" name="{name}" value="{}">"#, escape(v));
        }
    }
    out.push_str(r#"<button type="submit">Apply</button></form>"#);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_is_self_contained_and_keeps_the_selection() {
        let q = ViewQuery::parse(Some("range=1h&item=item-1&q=%22%3E%3Cx")).unwrap();
        let html = page(&q, "<p>view</p>");
        assert!(html.starts_with("<!doctype html>"));
        assert!(html.contains(r#"<main id="view" tabindex="-1"><p>view</p></main>"#));
        assert!(html.contains(r#"<option value="1h" selected>"#));
        assert!(html.contains(r#"<input type="hidden" name="item" value="item-1">"#));
        assert!(html.contains(r#"value="&quot;&gt;&lt;x""#), "the search text is escaped");
        assert!(!html.contains("src=\"http") && !html.contains("href=\"http"), "no external asset");
        assert!(html.contains("/dashboard/view"), "the refresh script is inline");
        let q = ViewQuery::parse(Some("range=custom&from=1714564800000")).unwrap();
        let html = page(&q, "");
        assert!(html.contains(r#"name="from" value="2024-05-01T12:00""#));
        assert!(html.contains(r#"<form id="controls" class="custom""#));
        assert!(!html.contains(r#"action="/dashboard/sign-out""#));
        assert!(page_for(&q, "", true).contains(r#"action="/dashboard/sign-out""#));
    }

    #[test]
    fn the_csp_allows_exactly_the_inline_stylesheet_and_script() {
        let csp = content_security_policy();
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        // Known answer: SHA-256 of "abc".
        assert_eq!(sha256_source("abc"), "sha256-ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=");
        let html = page(&ViewQuery::default(), "");
        for (open, hash) in [("<style>", sha256_source(CSS)), ("<script>", sha256_source(SCRIPT))] {
            let start = html.find(open).expect("inline element") + open.len();
            let end = start + html[start..].find("</").expect("its end");
            assert_eq!(sha256_source(&html[start..end]), hash, "{open} is the hashed text");
            assert!(csp.contains(&format!("'{hash}'")), "{csp}");
        }
    }
}
