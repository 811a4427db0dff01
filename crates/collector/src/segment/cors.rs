//! CORS for browser SDKs (analytics.js posts from any page): preflight `OPTIONS` answers and
//! `Access-Control-Allow-Origin: *` on every answer. No credentials are involved (the write
//! key travels as Basic auth or in the body), so a wildcard origin is safe.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

const ALLOWED_HEADERS: &str = "Content-Type, Content-Encoding, Authorization, X-Retry-Count";

/// `OPTIONS /v1/...`: 204 with the methods and headers browsers may use.
pub(crate) async fn preflight(headers: HeaderMap) -> Response {
    let mut resp = StatusCode::NO_CONTENT.into_response();
    let h = resp.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("POST, OPTIONS"));
    let requested = headers.get(header::ACCESS_CONTROL_REQUEST_HEADERS).cloned();
    h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, requested.unwrap_or(HeaderValue::from_static(ALLOWED_HEADERS)));
    h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("86400"));
    resp
}

/// Adds `Access-Control-Allow-Origin: *` to every answer of the Segment routes.
pub(crate) async fn allow_origin(mut resp: Response) -> Response {
    resp.headers_mut().insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    resp
}
