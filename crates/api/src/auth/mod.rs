//! Who may read: API tokens (`Authorization: Bearer`), or the dashboard's session cookie.
//!
//! The read side holds viewing behaviour, so when tokens are configured every request under
//! `/api/`, the dashboard and (on a public listener) `/metrics` must present one. The check
//! turns a request into an [`Access`] (a request extension the handlers consult through
//! [`crate::scope::authorize`]); a missing or unknown credential is a 401 with
//! `WWW-Authenticate: Bearer realm="engage"`, a known one without the right a 403.
//! Without tokens ([`Auth::open`]) everyone reads everything: the binary allows that only on
//! a loopback address or with `--public-read`.
//!
//! - [`tokens`]: the configured tokens, parsed and checked; constant-time lookup.
//! - [`session`]: the dashboard's signed session cookie.

pub mod session;
#[cfg(test)]
mod tests;
pub mod tokens;

use crate::scope::{self, Resource};
use axum::Json;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::collections::BTreeSet;
use std::sync::Arc;
pub use tokens::{Scope, Token, TokenError, TokenSet};

/// The source pingbacks and CDN logs belong to unless told otherwise (`--default-source`).
pub const DEFAULT_SOURCE: &str = engage_model::source::DEFAULT_SOURCE;

/// The read side's credentials: none (open), or a set of tokens.
#[derive(Clone, Debug)]
pub struct Auth {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    tokens: TokenSet,
    default_source: Arc<str>,
}

/// What one request may do, from its credential. Handlers get it as an extractor (or a
/// request extension) and ask [`crate::scope::authorize`] before reading.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Access {
    /// Reads every source, and what belongs to none (rejected inputs, metrics).
    pub all: bool,
    /// With `all` false: the only sources this request reads.
    pub sources: BTreeSet<String>,
    /// May erase (an `--admin-tokens` token). Never true without a token.
    pub admin: bool,
    /// The token's public id (for logs and audit lines); None when the read side is open.
    pub token_id: Option<String>,
    /// The source pingbacks and CDN logs belong to.
    pub default_source: Arc<str>,
}

impl Access {
    /// Whether this request reads `source`.
    pub fn reads_source(&self, source: &str) -> bool {
        self.all || self.sources.contains(source)
    }
}

/// Why a request has no access: a 401.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Unauthorized {
    #[error("this needs an API token: `Authorization: Bearer <token>`, or sign in on the dashboard")]
    Missing,
    #[error("the API token (or dashboard session) is not valid")]
    Invalid,
}

impl Auth {
    /// No tokens: every request reads everything (loopback, or `--public-read`).
    pub fn open() -> Auth {
        Auth::new(TokenSet::default())
    }

    /// These tokens (none is the same as [`Auth::open`]).
    pub fn new(tokens: TokenSet) -> Auth {
        Auth { inner: Arc::new(Inner { tokens, default_source: DEFAULT_SOURCE.into() }) }
    }

    /// The source pingbacks and CDN logs belong to (default [`DEFAULT_SOURCE`]).
    pub fn with_default_source(self, source: &str) -> Auth {
        Auth { inner: Arc::new(Inner { tokens: self.inner.tokens.clone(), default_source: source.into() }) }
    }

    /// Whether requests must present a token.
    pub fn requires_token(&self) -> bool {
        !self.inner.tokens.is_empty()
    }

    pub fn tokens(&self) -> &TokenSet {
        &self.inner.tokens
    }

    /// The access of a request with these headers: its Bearer token if it sends an
    /// `Authorization` header (a wrong one is not rescued by a cookie), else its dashboard
    /// session cookie.
    pub fn authenticate(&self, headers: &HeaderMap, now_ms: i64) -> Result<Access, Unauthorized> {
        if !self.requires_token() {
            return Ok(Access {
                all: true,
                sources: BTreeSet::new(),
                admin: false,
                token_id: None,
                default_source: self.inner.default_source.clone(),
            });
        }
        let token = if let Some(value) = headers.get(header::AUTHORIZATION) {
            let presented = bearer(value).ok_or(Unauthorized::Invalid)?;
            self.inner.tokens.find(presented.as_bytes()).ok_or(Unauthorized::Invalid)?
        } else {
            let cookie = session_cookie(headers).ok_or(Unauthorized::Missing)?;
            session::verify(&self.inner.tokens, cookie, now_ms).ok_or(Unauthorized::Invalid)?
        };
        Ok(self.access_of(token))
    }

    /// The access a token gives.
    pub fn access_of(&self, token: &Token) -> Access {
        let (all, sources) = match &token.scope {
            Scope::All => (true, BTreeSet::new()),
            Scope::Sources(s) => (false, s.clone()),
        };
        Access {
            all,
            sources,
            admin: token.admin,
            token_id: Some(token.id.clone()),
            default_source: self.inner.default_source.clone(),
        }
    }
}

/// The token of `Authorization: Bearer <token>`.
fn bearer(value: &HeaderValue) -> Option<&str> {
    let (scheme, token) = value.to_str().ok()?.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
}

/// The dashboard session cookie of a request, if it sends one.
pub fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| session::cookie_value(c, session::COOKIE))
}

/// The `WWW-Authenticate` challenge of a 401.
pub fn challenge(why: Unauthorized) -> HeaderValue {
    HeaderValue::from_static(match why {
        Unauthorized::Missing => r#"Bearer realm="engage""#,
        Unauthorized::Invalid => r#"Bearer realm="engage", error="invalid_token""#,
    })
}

#[derive(serde::Serialize)]
struct ErrorBody {
    error: String,
}

impl IntoResponse for Unauthorized {
    fn into_response(self) -> Response {
        let mut response = (StatusCode::UNAUTHORIZED, Json(ErrorBody { error: self.to_string() })).into_response();
        response.headers_mut().insert(header::WWW_AUTHENTICATE, challenge(self));
        response
    }
}

/// Handlers take `access: Access`. Without the extension (a route not behind
/// [`require_token`]) the request is refused: a forgotten layer fails closed.
impl<S: Send + Sync> FromRequestParts<S> for Access {
    type Rejection = Unauthorized;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Access>().cloned().ok_or(Unauthorized::Missing)
    }
}

/// Middleware: authenticates the request and puts its [`Access`] in its extensions, or
/// answers 401.
pub async fn require_token(State(auth): State<Auth>, mut req: Request, next: Next) -> Response {
    match auth.authenticate(req.headers(), now_ms()) {
        Ok(access) => {
            req.extensions_mut().insert(access);
            next.run(req).await
        }
        Err(why) => why.into_response(),
    }
}

/// `router` behind a token with the right to `resource` (401, or 403 without the right):
/// for routes that are one resource as a whole, such as `/metrics`.
pub fn guard(router: axum::Router, auth: Auth, resource: Resource) -> axum::Router {
    router.layer(axum::middleware::from_fn(move |req: Request, next: Next| {
        let auth = auth.clone();
        async move {
            match auth.authenticate(req.headers(), now_ms()) {
                Ok(access) => match scope::authorize(&access, resource) {
                    Ok(_) => next.run(req).await,
                    Err(forbidden) => forbidden.into_response(),
                },
                Err(why) => why.into_response(),
            }
        }
    }))
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}
