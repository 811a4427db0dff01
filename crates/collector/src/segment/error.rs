//! How a Segment call fails: a bounded reason code, the offending field, the HTTP status
//! (400 bad input, 401 write key, 413 size, 503 bus), and the JSON answer
//! `{"success": false, "code": ..., "field": ..., "message": ...}`.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use engage_model::reject::RejectReason;
use engage_model::segment::MessageError;
use serde::Serialize;

/// A refused Segment request (or batch item).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{reason}: `{field}` {detail}")]
pub struct SegmentError {
    pub reason: RejectReason,
    pub field: String,
    pub detail: String,
}

impl SegmentError {
    pub(crate) fn new(reason: RejectReason, field: &str, detail: impl Into<String>) -> Self {
        Self { reason, field: field.into(), detail: detail.into() }
    }

    pub fn status(&self) -> StatusCode {
        match self.reason {
            RejectReason::Unauthorized => StatusCode::UNAUTHORIZED,
            RejectReason::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    pub(crate) fn body(&self) -> ErrorBody {
        ErrorBody {
            success: false,
            code: self.reason.as_str(),
            field: self.field.clone(),
            message: format!("`{}` {}", self.field, self.detail),
        }
    }
}

impl From<MessageError> for SegmentError {
    fn from(e: MessageError) -> Self {
        Self { reason: e.reason, field: e.field, detail: e.detail }
    }
}

/// The JSON of a refusal.
#[derive(Debug, Serialize)]
pub(crate) struct ErrorBody {
    pub(crate) success: bool,
    pub(crate) code: &'static str,
    pub(crate) field: String,
    pub(crate) message: String,
}

impl IntoResponse for SegmentError {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut resp = (status, Json(self.body())).into_response();
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"engage\""));
        }
        resp
    }
}
