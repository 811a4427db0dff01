//! Liveness and readiness: `/healthz` says the process serves; `/readyz` says it can accept
//! events now (the bus takes them and no shutdown is under way).

use crate::Collector;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;

pub(crate) fn routes() -> Router<Collector> {
    Router::new().route("/healthz", get(|| async { "ok\n" })).route("/readyz", get(readyz))
}

async fn readyz(State(c): State<Collector>) -> (StatusCode, &'static str) {
    if c.is_ready() { (StatusCode::OK, "ready\n") } else { (StatusCode::SERVICE_UNAVAILABLE, "not ready\n") }
}
