//! engage-api: the read side over HTTP, for dashboards and scripts.
//!
//! A thin layer over [`engage_sink::Store`]: the same endpoints work on the embedded
//! SQLite store and on ClickHouse. Answers are the store's types serialized as JSON (a
//! public contract, see the design's "Contracts"); errors are `{"error": "..."}` with 400
//! for bad parameters and 503 when the store cannot answer.
//!
//! Every route is behind the read side's credentials ([`auth`]): 401 without a valid token
//! (when tokens are configured), 403 when the token's scope does not cover what is asked
//! ([`scope`]). Every answer is `Cache-Control: no-store` with security headers ([`headers`]).
//!
//! # Layout
//! - [`params`]: pure parsing and validation of path and query parameters.
//! - `handlers`: one async function per endpoint.
//! - [`error`]: [`ApiError`] and its HTTP mapping.
//! - [`auth`]: tokens, the dashboard session cookie, [`auth::Access`] of a request.
//! - [`scope`]: what an access may read, decided in one function.
//! - [`headers`]: `no-store` and security headers.
//!
//! # Endpoints
//! - `GET /api/v1/items/{item}/engagement?from=&to=[&app=]`
//! - `GET /api/v1/items?from=&to=&limit=` (limit 1..=1000, default 20) → `{"items": [...]}`
//! - `GET /api/v1/items/{item}/apps?from=&to=` → `{"apps": [...]}`
//! - `GET /api/v1/rejected?limit=` (limit 1..=1000, default 100) → `{"rejected": [...]}`
//! - `GET /api/v1/sessions?from=&to=&limit=` → `{"sessions": [...]}`: webinar sessions with a
//!   window in the range, unique attendees desc (limit 1..=1000, default 20)
//! - `GET /api/v1/sessions/{session_id}/engagement[?source=]` → a webinar session's summary
//!   and timeline (404 when the session was never seen; 409 when several sources have a
//!   session of that id and no `source` says which)
//! - `GET /api/v1/sessions?...&source=`: only that source's sessions
//! - `DELETE /api/v1/users/{id}?source=&anonymous_id=` → erases a person (see [`erase`])

pub mod auth;
pub mod erase;
pub mod error;
mod handlers;
pub mod headers;
pub mod params;
pub mod scope;

#[cfg(test)]
mod tests;

pub use auth::{Access, Auth};
pub use error::ApiError;

use axum::Router;
use axum::middleware;
use axum::routing::get;
use engage_sink::Store;
use std::sync::Arc;

/// The erasure route (`DELETE /api/v1/users/{id}`), for admin tokens only (see [`erase`]).
pub fn erasure_router(eraser: erase::Eraser, auth: Auth) -> Router {
    Router::new()
        .route("/api/v1/users/{id}", axum::routing::delete(erase::delete_user))
        .with_state(eraser)
        .route_layer(middleware::from_fn_with_state(auth, auth::require_token))
        .layer(middleware::from_fn(headers::secure))
}

/// The read API's routes behind `auth`, ready to be merged into the process's router.
pub fn router(store: Arc<dyn Store>, auth: Auth) -> Router {
    Router::new()
        .route("/api/v1/items", get(handlers::top_items))
        .route("/api/v1/items/{item}/engagement", get(handlers::item_engagement))
        .route("/api/v1/items/{item}/apps", get(handlers::item_apps))
        .route("/api/v1/rejected", get(handlers::recent_rejected))
        .route("/api/v1/sessions", get(handlers::top_sessions))
        .route("/api/v1/sessions/{session_id}/engagement", get(handlers::session_engagement))
        .with_state(store)
        .route_layer(middleware::from_fn_with_state(auth, auth::require_token))
        .layer(middleware::from_fn(headers::secure))
}
