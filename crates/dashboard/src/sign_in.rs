//! Signing in to the dashboard with an API token, when tokens are configured.
//!
//! Without a valid session the page is a sign-in form and nothing else (401, with the
//! `WWW-Authenticate` challenge like the API). `POST /dashboard/sign-in` with the right token
//! sets the session cookie (see [`engage_api::auth::session`]: signed with the token, never
//! the token itself; `HttpOnly`, `SameSite=Strict`, `Path=/`, `Secure` when the request came
//! over https) and goes back to the page; a wrong token gets the form again with an error,
//! 401. `POST /dashboard/sign-out` clears the cookie.
//!
//! Cross-site request forgery: the cookie is `SameSite=Strict`, so no other site's page can
//! make the browser send it; sign-in and sign-out are POST only, and refused (403) when the
//! browser's `Origin` names another host than the request's `Host` (or is `null`).

use crate::handlers::DashState;
use crate::html::escape;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use engage_api::auth::{Unauthorized, challenge, session};

/// The sign-in page: 401 with the challenge; `next` is the page's query to return to.
pub(crate) fn form(why: Unauthorized, next: &str, error: Option<&str>) -> Response {
    let error = error.map_or(String::new(), |e| format!(r#"<p class="notice" role="alert">{}</p>"#, escape(e)));
    let body = format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>engage · sign in</title>
<style>{css}</style>
</head>
<body>
<header class="top"><h1><a href="/">engage</a></h1></header>
<main>
<form class="sign-in card" method="post" action="/dashboard/sign-in">
<h2>Sign in</h2>
<p class="sub">This dashboard needs an API token (one of <code>--api-tokens</code>).</p>
{error}<label>API token<input type="password" name="token" autocomplete="current-password" required autofocus></label>
<input type="hidden" name="next" value="{next}">
<button type="submit">Sign in</button>
</form>
</main>
</body>
</html>
"#,
        css = crate::views::CSS,
        next = escape(next),
    );
    let mut response = crate::handlers::html_response(StatusCode::UNAUTHORIZED, body);
    response.headers_mut().insert(header::WWW_AUTHENTICATE, challenge(why));
    response
}

/// `POST /dashboard/sign-in` (form: `token`, `next`).
pub(crate) async fn sign_in(State(state): State<DashState>, headers: HeaderMap, body: Bytes) -> Response {
    if !same_origin(&headers) {
        return cross_origin();
    }
    let (mut token, mut next) = (String::new(), String::new());
    for (k, v) in form_urlencoded::parse(&body) {
        match k.as_ref() {
            "token" => token = v.trim().to_owned(),
            "next" => next = v.into_owned(),
            _ => {}
        }
    }
    let next = safe_next(&next);
    if !state.auth.requires_token() {
        return see_other(&next, None);
    }
    if token.is_empty() {
        return form(Unauthorized::Missing, &next, Some("Enter an API token."));
    }
    match state.auth.tokens().find(token.as_bytes()) {
        Some(t) => {
            let value = session::issue(t, crate::handlers::now_ms());
            let cookie = format!(
                "{}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
                session::COOKIE,
                session::SESSION_SECONDS,
                secure(&headers)
            );
            tracing::info!(token = %t.id, "dashboard sign-in");
            see_other(&next, Some(cookie))
        }
        None => {
            tracing::info!("dashboard sign-in refused: unknown token");
            form(Unauthorized::Invalid, &next, Some("That token is not valid."))
        }
    }
}

/// `POST /dashboard/sign-out`: the cookie cleared.
pub(crate) async fn sign_out(headers: HeaderMap) -> Response {
    if !same_origin(&headers) {
        return cross_origin();
    }
    let cookie = format!("{}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{}", session::COOKIE, secure(&headers));
    see_other("", Some(cookie))
}

/// `; Secure` when the browser reached us over https (directly, or says the proxy in front).
fn secure(headers: &HeaderMap) -> &'static str {
    let forwarded = headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok());
    let https = forwarded.and_then(|v| v.split(',').next()).is_some_and(|p| p.trim().eq_ignore_ascii_case("https"));
    if https { "; Secure" } else { "" }
}

/// False for a browser request whose `Origin` is another site than the `Host` asked (or
/// `null`). Browsers send `Origin` with every POST; other clients need not.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else { return true };
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let origin_host = origin.to_str().ok().and_then(|o| o.split_once("://")).map(|(_, rest)| rest);
    matches!((origin_host, host), (Some(o), Some(h)) if o.eq_ignore_ascii_case(h))
}

fn cross_origin() -> Response {
    (StatusCode::FORBIDDEN, "cross-origin sign-in or sign-out refused\n").into_response()
}

/// The page's query to go back to: printable ASCII only (it goes into `Location`), else none.
fn safe_next(next: &str) -> String {
    let next = next.strip_prefix("/?").or_else(|| next.strip_prefix('?')).unwrap_or(next);
    if next.len() <= 2048 && next.bytes().all(|b| b.is_ascii_graphic() && b != b'#') {
        next.to_owned()
    } else {
        String::new()
    }
}

/// 303 to the dashboard (`/?next`), setting `cookie`.
fn see_other(next: &str, cookie: Option<String>) -> Response {
    let location = if next.is_empty() { "/".to_owned() } else { format!("/?{next}") };
    let mut response = StatusCode::SEE_OTHER.into_response();
    let h = response.headers_mut();
    h.insert(header::LOCATION, HeaderValue::from_str(&location).unwrap_or(HeaderValue::from_static("/")));
    if let Some(cookie) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        h.insert(header::SET_COOKIE, cookie);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_page_stays_on_the_dashboard() {
        assert_eq!(safe_next("range=1h&item=x"), "range=1h&item=x");
        assert_eq!(safe_next("/?range=1h"), "range=1h");
        assert_eq!(safe_next("a\r\nSet-Cookie: x"), "");
        assert_eq!(safe_next("x#y"), "");
        let r = see_other("//evil.example/", None);
        assert_eq!(r.headers()[header::LOCATION], "/?//evil.example/", "always the dashboard's own path");
    }

    #[test]
    fn only_same_origin_browsers_may_post() {
        let mut h = HeaderMap::new();
        assert!(same_origin(&h), "no Origin: not a browser's cross-site form");
        h.insert(header::HOST, HeaderValue::from_static("dash.example:8080"));
        h.insert(header::ORIGIN, HeaderValue::from_static("https://dash.example:8080"));
        assert!(same_origin(&h));
        h.insert(header::ORIGIN, HeaderValue::from_static("https://evil.example"));
        assert!(!same_origin(&h));
        h.insert(header::ORIGIN, HeaderValue::from_static("null"));
        assert!(!same_origin(&h));
    }

    #[test]
    fn cookies_are_secure_over_https() {
        let mut h = HeaderMap::new();
        assert_eq!(secure(&h), "");
        h.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        assert_eq!(secure(&h), "; Secure");
    }
}
