//! engage-dashboard: the live dashboard at `/`, for people.
//!
//! Server-rendered HTML over the [`engage_sink::Store`] trait only, so it shows the same
//! numbers as the API on the embedded SQLite store and on ClickHouse alike. Charts are SVG
//! drawn on the server by `plotters` (its SVG backend only: no fonts, no bitmaps, no
//! JavaScript chart library); a small inline script fetches the view again every few
//! seconds as an HTML fragment and swaps it in, so the page moves live without reloading.
//! No external asset: the stylesheet and the script are part of the binary.
//!
//! What it shows: top items of a time range (plays, unique viewers, completion rate) and,
//! for the selected item, key figures, the retention curve (100 segments), exits by
//! position, seek-from / seek-to hotspots, plays and active views over time and the
//! breakdown per application (each a filter); for a webinar session, attendees over time,
//! peak concurrency, engagement by type and stream time by type. A time-range picker, a
//! search box, and, before any data arrived, how to send a first pingback.
//!
//! Every chart is a `<figure data-chart=".." data-values="..">` whose `data-values` is the
//! JSON of exactly what is plotted (e.g. the 100 retention counts), so a browser test can
//! compare the page with the API. Every user-controlled string (item ids, applications,
//! session ids, engagement types, search text) is HTML-escaped.
//!
//! # Layout
//! - [`query`]: the page's URL parameters (range, selection, search), pure.
//! - [`html`]: escaping, links, number and time formatting, pure.
//! - [`shape`]: API answers → plotted series, pure.
//! - [`charts`]: plotters drawing and the `<figure>` wrapper.
//! - [`views`]: the HTML of the page and of the refreshed view.
//! - `handlers`: the two endpoints and the store reads behind them.
//! - `sign_in`: the sign-in form, sign-in and sign-out (when API tokens are configured).
//!
//! # Endpoints
//! - `GET /?range=&from=&to=&item=&app=&session=&q=`: the page (the sign-in form, 401,
//!   without a session when tokens are configured).
//! - `GET /dashboard/view?…` (same parameters): the view alone, refreshed by the page.
//! - `POST /dashboard/sign-in` (`token`, `next`), `POST /dashboard/sign-out`.
//!
//! Every answer is `no-store` with security headers; the HTML's Content-Security-Policy
//! allows its own inline stylesheet and script by hash only.

pub mod charts;
mod handlers;
pub mod html;
pub mod query;
pub mod shape;
mod sign_in;
pub mod views;

#[cfg(test)]
mod tests;

pub use handlers::load;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use engage_api::Auth;
use engage_sink::Store;
use std::sync::Arc;

/// The dashboard's routes, behind `auth`, ready to be merged into a router.
pub fn router(store: Arc<dyn Store>, auth: Auth) -> Router {
    Router::new()
        .route("/", get(handlers::page))
        .route("/dashboard/view", get(handlers::view))
        .route("/dashboard/sign-in", post(sign_in::sign_in))
        .route("/dashboard/sign-out", post(sign_in::sign_out))
        .layer(DefaultBodyLimit::max(4096))
        .with_state(handlers::DashState { store, auth })
        .layer(axum::middleware::from_fn(engage_api::headers::secure))
}
