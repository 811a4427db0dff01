//! The two endpoints: `GET /` (the page with the view inside) and `GET /dashboard/view`
//! (the view alone, what the script swaps in). Both read the store the same way
//! ([`load`]) and render with [`crate::views`].

use crate::query::ViewQuery;
use crate::views::{self, Detail, ViewData};
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use engage_sink::{ItemQuery, Store, StoreError, TimeRange, TopItemsQuery};
use std::sync::Arc;

/// Rows shown in each list.
pub const LIST_ROWS: usize = 25;
/// Rows searched when there is a search text (the API's largest `limit`).
const SEARCH_ROWS: u32 = 1_000;

pub(crate) type SharedStore = Arc<dyn Store>;

/// `GET /`.
pub(crate) async fn page(State(store): State<SharedStore>, headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    let q = match ViewQuery::parse(raw.as_deref()) {
        Ok(q) => q,
        Err(e) => {
            let q = ViewQuery::default();
            let html = views::page(&q, &notice(&format!("This dashboard address is not valid: {e}."), true));
            return html_response(StatusCode::BAD_REQUEST, html);
        }
    };
    let (status, view) = render_view(store.as_ref(), &q, host(&headers)).await;
    html_response(status, views::page(&q, &view))
}

/// `GET /dashboard/view`.
pub(crate) async fn view(State(store): State<SharedStore>, headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    match ViewQuery::parse(raw.as_deref()) {
        Ok(q) => {
            let (status, view) = render_view(store.as_ref(), &q, host(&headers)).await;
            html_response(status, view)
        }
        Err(e) => html_response(StatusCode::BAD_REQUEST, notice(&format!("Not a valid view: {e}."), true)),
    }
}

async fn render_view(store: &dyn Store, q: &ViewQuery, host: Option<String>) -> (StatusCode, String) {
    match load(store, q, now_ms(), host).await {
        Ok(data) => (StatusCode::OK, views::view(&data, q)),
        Err(e) => {
            tracing::warn!(error = %e, transient = e.is_transient(), "dashboard query failed in the store");
            (StatusCode::SERVICE_UNAVAILABLE, notice("The store could not answer; the page retries by itself.", false))
        }
    }
}

/// Reads what the view shows.
pub async fn load(store: &dyn Store, q: &ViewQuery, now_ms: i64, host: Option<String>) -> Result<ViewData, StoreError> {
    let range = q.range.resolve(now_ms);
    let limit = if q.search.is_empty() { LIST_ROWS as u32 } else { SEARCH_ROWS };
    let mut items = store.top_items(&TopItemsQuery { range, limit }).await?;
    items.retain(|i| q.matches(&i.item));
    let items_matched = items.len();
    items.truncate(LIST_ROWS);
    let mut sessions = store.top_sessions(range, limit, None).await?;
    sessions.retain(|s| q.matches(&s.session_id));
    let sessions_matched = sessions.len();
    sessions.truncate(LIST_ROWS);
    let any_data = items_matched > 0
        || sessions_matched > 0
        || !store.top_items(&TopItemsQuery { range: TimeRange::ALL, limit: 1 }).await?.is_empty()
        || !store.top_sessions(TimeRange::ALL, 1, None).await?.is_empty();
    let item =
        q.item.clone().or_else(|| if q.session.is_none() { items.first().map(|i| i.item.clone()) } else { None });
    let detail = match (item, &q.session) {
        (Some(item), _) => {
            let engagement =
                store.item_engagement(&ItemQuery { item: item.clone(), app: q.app.clone(), range }).await?;
            let apps = store.item_apps(&item, range).await?;
            Detail::Item { engagement: Box::new(engagement), apps }
        }
        (None, Some(id)) => Detail::Session {
            id: id.clone(),
            engagement: store.session_engagement(id, None).await?.into_iter().next().map(Box::new),
        },
        (None, None) => match sessions.first() {
            Some(s) => Detail::Session {
                id: s.session_id.clone(),
                engagement: store
                    .session_engagement(&s.session_id, Some(std::slice::from_ref(&s.source)))
                    .await?
                    .into_iter()
                    .next()
                    .map(Box::new),
            },
            None => Detail::None,
        },
    };
    Ok(ViewData { now_ms, host, items, items_matched, sessions, sessions_matched, any_data, detail })
}

fn host(headers: &HeaderMap) -> Option<String> {
    headers.get(header::HOST).and_then(|h| h.to_str().ok()).map(str::to_owned)
}

fn notice(text: &str, back: bool) -> String {
    let back = if back { r#" <a href="/">Back to the dashboard</a>."# } else { "" };
    format!(r#"<p class="notice" role="alert">{}{back}</p>"#, crate::html::escape(text))
}

fn html_response(status: StatusCode, body: String) -> Response {
    let mut resp = (status, body).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
        ),
    );
    resp
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}
