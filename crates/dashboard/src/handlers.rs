//! The two endpoints: `GET /` (the page with the view inside) and `GET /dashboard/view`
//! (the view alone, what the script swaps in). Both read the store the same way
//! ([`load`]) and render with [`crate::views`]. When tokens are configured, both first need
//! a session or a token: `/` shows the sign-in form without one ([`crate::sign_in`]),
//! `/dashboard/view` answers 401; and both show only what the token's scope reads.

use crate::query::ViewQuery;
use crate::views::{self, Detail, ViewData};
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use engage_api::auth::{Access, Auth};
use engage_api::scope::{Resource, authorize};
use engage_sink::{ItemQuery, Store, StoreError, TimeRange, TopItemsQuery};
use std::sync::Arc;

/// Rows shown in each list.
pub const LIST_ROWS: usize = 25;
/// Rows searched when there is a search text (the API's largest `limit`).
const SEARCH_ROWS: u32 = 1_000;

/// What the dashboard's handlers share.
#[derive(Clone)]
pub(crate) struct DashState {
    pub store: Arc<dyn Store>,
    pub auth: Auth,
}

/// `GET /`.
pub(crate) async fn page(State(state): State<DashState>, headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    let access = match state.auth.authenticate(&headers, now_ms()) {
        Ok(access) => access,
        Err(why) => return crate::sign_in::form(why, raw.as_deref().unwrap_or_default(), None),
    };
    let store = &state.store;
    let q = match ViewQuery::parse(raw.as_deref()) {
        Ok(q) => q,
        Err(e) => {
            let q = ViewQuery::default();
            let html = views::page(&q, &notice(&format!("This dashboard address is not valid: {e}."), true));
            return html_response(StatusCode::BAD_REQUEST, html);
        }
    };
    let (status, view) = render_view(store.as_ref(), &q, host(&headers), &access).await;
    html_response(status, views::page_for(&q, &view, state.auth.requires_token()))
}

/// `GET /dashboard/view`.
pub(crate) async fn view(State(state): State<DashState>, headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    let access = match state.auth.authenticate(&headers, now_ms()) {
        Ok(access) => access,
        Err(why) => {
            let mut response = html_response(StatusCode::UNAUTHORIZED, notice("Signed out: reload to sign in.", false));
            response.headers_mut().insert(header::WWW_AUTHENTICATE, engage_api::auth::challenge(why));
            return response;
        }
    };
    match ViewQuery::parse(raw.as_deref()) {
        Ok(q) => {
            let (status, view) = render_view(state.store.as_ref(), &q, host(&headers), &access).await;
            html_response(status, view)
        }
        Err(e) => html_response(StatusCode::BAD_REQUEST, notice(&format!("Not a valid view: {e}."), true)),
    }
}

async fn render_view(store: &dyn Store, q: &ViewQuery, host: Option<String>, access: &Access) -> (StatusCode, String) {
    match load(store, q, now_ms(), host, access).await {
        Ok(data) => (StatusCode::OK, views::view(&data, q)),
        Err(e) => {
            tracing::warn!(error = %e, transient = e.is_transient(), "dashboard query failed in the store");
            (StatusCode::SERVICE_UNAVAILABLE, notice("The store could not answer; the page retries by itself.", false))
        }
    }
}

/// Reads what the view shows, of what `access` may read: video items only with the default
/// source in its scope (see [`engage_api::scope`]).
pub async fn load(
    store: &dyn Store,
    q: &ViewQuery,
    now_ms: i64,
    host: Option<String>,
    access: &Access,
) -> Result<ViewData, StoreError> {
    let video = authorize(access, Resource::Video).is_ok();
    // Sessions are per source: only the sources of the access are read.
    let sources = authorize(access, Resource::Analytics).ok().and_then(|f| f.sources());
    let sessions_filter = sources.as_deref();
    let range = q.range.resolve(now_ms);
    let limit = if q.search.is_empty() { LIST_ROWS as u32 } else { SEARCH_ROWS };
    let mut items = if video { store.top_items(&TopItemsQuery { range, limit }).await? } else { Vec::new() };
    items.retain(|i| q.matches(&i.item));
    let items_matched = items.len();
    items.truncate(LIST_ROWS);
    let mut sessions = store.top_sessions(range, limit, sessions_filter).await?;
    sessions.retain(|s| q.matches(&s.session_id));
    let sessions_matched = sessions.len();
    sessions.truncate(LIST_ROWS);
    let any_data = items_matched > 0
        || sessions_matched > 0
        || (video && !store.top_items(&TopItemsQuery { range: TimeRange::ALL, limit: 1 }).await?.is_empty())
        || !store.top_sessions(TimeRange::ALL, 1, sessions_filter).await?.is_empty();
    let item = q
        .item
        .clone()
        .or_else(|| if q.session.is_none() { items.first().map(|i| i.item.clone()) } else { None })
        .filter(|_| video);
    let detail = match (item, &q.session) {
        (Some(item), _) => {
            let engagement =
                store.item_engagement(&ItemQuery { item: item.clone(), app: q.app.clone(), range }).await?;
            let apps = store.item_apps(&item, range).await?;
            Detail::Item { engagement: Box::new(engagement), apps }
        }
        (None, Some(id)) => Detail::Session {
            id: id.clone(),
            engagement: store.session_engagement(id, sessions_filter).await?.into_iter().next().map(Box::new),
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

pub(crate) fn html_response(status: StatusCode, body: String) -> Response {
    let mut resp = (status, body).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(views::content_security_policy()));
    resp
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}
