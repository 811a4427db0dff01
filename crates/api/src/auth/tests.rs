//! The API behind tokens, over real requests: 401 with a challenge, 403 outside a scope,
//! the session cookie as good as its token, and the security headers on every answer.

use crate::auth::{Auth, TokenSet, session};
use crate::tests::fixture_with;
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use tower::ServiceExt;

const ALL: &str = "all-sources-token-0001";
const DEFAULT_ONLY: &str = "default-source-token-02=default";
/// Reads the webinar source `acme` of the fixture (and one without data).
const WEBINARS: &str = "webinar-only-token-0003=acme|other";

fn auth() -> Auth {
    Auth::new(TokenSet::parse(&[ALL, DEFAULT_ONLY, WEBINARS], &[]).expect("valid tokens"))
}

fn secret(entry: &str) -> &str {
    entry.split_once('=').map_or(entry, |(t, _)| t)
}

async fn call(app: &Router, uri: &str, header: Option<(header::HeaderName, String)>) -> axum::response::Response {
    let mut request = Request::get(uri);
    if let Some((name, value)) = header {
        request = request.header(name, value);
    }
    app.clone().oneshot(request.body(Body::empty()).unwrap()).await.unwrap()
}

fn bearer(entry: &str) -> Option<(header::HeaderName, String)> {
    Some((header::AUTHORIZATION, format!("Bearer {}", secret(entry))))
}

const READS: [&str; 6] = [
    "/api/v1/items",
    "/api/v1/items/v1/engagement",
    "/api/v1/items/v1/apps",
    "/api/v1/rejected",
    "/api/v1/sessions",
    "/api/v1/sessions/web%201/engagement?source=acme",
];

#[tokio::test]
async fn without_a_valid_token_every_read_is_401_with_a_challenge() {
    let (_dir, app) = fixture_with(auth()).await;
    for uri in READS {
        for credential in [
            None,
            Some((header::AUTHORIZATION, "Bearer not-a-configured-token".to_string())),
            Some((header::AUTHORIZATION, format!("Basic {}", secret(ALL)))),
            Some((header::AUTHORIZATION, "Bearer ".to_string())),
            Some((header::COOKIE, format!("{}=v1.0000000000000000.99999999999.00", session::COOKIE))),
        ] {
            let response = call(&app, uri, credential.clone()).await;
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{uri} {credential:?}");
            let challenge = response.headers()[header::WWW_AUTHENTICATE].to_str().unwrap();
            assert!(challenge.starts_with(r#"Bearer realm="engage""#), "{challenge}");
            assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
        }
    }
}

#[tokio::test]
async fn each_token_reads_what_its_scope_allows() {
    let (_dir, app) = fixture_with(auth()).await;
    let expect = [
        // (token, [items, engagement, apps, rejected, sessions, session]) as status codes
        (ALL, [200, 200, 200, 200, 200, 200]),
        (DEFAULT_ONLY, [200, 200, 200, 403, 200, 403]),
        (WEBINARS, [403, 403, 403, 403, 200, 200]),
    ];
    for (token, statuses) in expect {
        for (uri, status) in READS.iter().zip(statuses) {
            let response = call(&app, uri, bearer(token)).await;
            assert_eq!(response.status().as_u16(), status, "{token} on {uri}");
            if status == 403 {
                let challenge = response.headers()[header::WWW_AUTHENTICATE].to_str().unwrap();
                assert!(challenge.contains(r#"error="insufficient_scope""#));
            }
        }
    }
    // Two sources have a session "web 1": a token reading both must say which, one reading
    // one of them need not.
    let ambiguous = "/api/v1/sessions/web%201/engagement";
    assert_eq!(call(&app, ambiguous, bearer(ALL)).await.status(), StatusCode::CONFLICT);
    assert_eq!(call(&app, ambiguous, bearer(WEBINARS)).await.status(), StatusCode::OK);
    assert_eq!(call(&app, ambiguous, bearer(DEFAULT_ONLY)).await.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_session_cookie_reads_what_its_token_reads() {
    let auth = auth();
    let (_dir, app) = fixture_with(auth.clone()).await;
    let token = auth.tokens().find(secret(DEFAULT_ONLY).as_bytes()).expect("token");
    let cookie =
        Some((header::COOKIE, format!("theme=dark; {}={}", session::COOKIE, session::issue(token, super::now_ms()))));
    assert_eq!(call(&app, "/api/v1/items", cookie.clone()).await.status(), StatusCode::OK);
    assert_eq!(call(&app, "/api/v1/rejected", cookie).await.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn every_answer_carries_the_security_headers() {
    let (_dir, app) = fixture_with(auth()).await;
    for (uri, credential) in
        [("/api/v1/items", bearer(ALL)), ("/api/v1/items", None), ("/api/v1/items?limit=0", bearer(ALL))]
    {
        let response = call(&app, uri, credential).await;
        let h = response.headers();
        assert_eq!(h[header::CACHE_CONTROL], "no-store", "{uri}");
        assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(h[header::REFERRER_POLICY], "no-referrer");
        assert_eq!(h[header::X_FRAME_OPTIONS], "DENY");
        assert_eq!(h[header::CONTENT_SECURITY_POLICY], "default-src 'none'; frame-ancestors 'none'");
    }
}

#[tokio::test]
async fn an_open_read_side_needs_no_token() {
    let (_dir, app) = fixture_with(Auth::open()).await;
    for uri in READS {
        assert_eq!(call(&app, uri, None).await.status(), StatusCode::OK, "{uri}");
    }
}
