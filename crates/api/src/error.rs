//! How the read API fails: a 400 naming the bad parameter (the caller's fault, do not
//! retry as is), a 404 for an unknown session, or a 503 when the store cannot answer
//! (retry later); 403 for a token without the right (401s come from [`crate::auth`]).
//! Always a JSON body
//! `{"error": "..."}` so dashboards can show it.

use crate::params::ParamError;
use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use engage_sink::StoreError;
use serde::Serialize;

/// Every failure of an API handler.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    BadRequest(#[from] ParamError),
    /// The thing asked for does not exist (yet): 404.
    #[error("{0}")]
    NotFound(String),
    /// The question has several answers (a session id of several sources): 409.
    #[error("{0}")]
    Ambiguous(String),
    /// What is asked is not available in this deployment: 503 with the reason.
    #[error("{0}")]
    Unavailable(String),
    /// A known token without the right to this (see [`crate::scope`]): 403.
    #[error(transparent)]
    Forbidden(#[from] crate::scope::Forbidden),
    #[error("store failed: {0}")]
    Store(#[from] StoreError),
}

#[derive(Serialize)]
struct ErrorBody {
    error: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::BadRequest(e) => {
                (StatusCode::BAD_REQUEST, Json(ErrorBody { error: e.to_string() })).into_response()
            }
            ApiError::NotFound(what) => (StatusCode::NOT_FOUND, Json(ErrorBody { error: what })).into_response(),
            ApiError::Ambiguous(what) => (StatusCode::CONFLICT, Json(ErrorBody { error: what })).into_response(),
            ApiError::Unavailable(what) => {
                (StatusCode::SERVICE_UNAVAILABLE, Json(ErrorBody { error: what })).into_response()
            }
            ApiError::Forbidden(f) => f.into_response(),
            ApiError::Store(e) => {
                // The detail (paths, SQL steps) goes to the log, not to the client.
                tracing::warn!(error = %e, transient = e.is_transient(), "API query failed in the store");
                let body = ErrorBody { error: "the store could not answer; retry later".into() };
                let mut response = (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response();
                response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                response
            }
        }
    }
}
