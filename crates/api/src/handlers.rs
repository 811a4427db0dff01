//! The endpoint handlers: parse parameters (see [`crate::params`]), ask the store, wrap
//! the answer. No logic of their own beyond that, so they stay the same for every store.

use crate::auth::Access;
use crate::error::ApiError;
use crate::params::{self, ParamError};
use crate::scope::{Resource, authorize};
use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use engage_sink::{AppSummary, ItemEngagement, ItemSummary, RejectedRow, SessionEngagement, SessionListing, Store};
use serde::Serialize;
use std::sync::Arc;

/// The state every handler shares.
pub(crate) type SharedStore = Arc<dyn Store>;

/// `{"items": [...]}`.
#[derive(Debug, Serialize)]
pub(crate) struct Items {
    items: Vec<ItemSummary>,
}

/// `{"apps": [...]}`.
#[derive(Debug, Serialize)]
pub(crate) struct Apps {
    apps: Vec<AppSummary>,
}

/// `{"sessions": [...]}`.
#[derive(Debug, Serialize)]
pub(crate) struct Sessions {
    sessions: Vec<SessionListing>,
}

/// `{"rejected": [...]}`.
#[derive(Debug, Serialize)]
pub(crate) struct Rejected {
    rejected: Vec<RejectedRow>,
}

/// `GET /api/v1/items/{item}/engagement`.
pub(crate) async fn item_engagement(
    State(store): State<SharedStore>,
    access: Access,
    item: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Result<Json<ItemEngagement>, ApiError> {
    authorize(&access, Resource::Video)?;
    let q = params::engagement_query(&item_path(item)?, query.as_deref())?;
    Ok(Json(store.item_engagement(&q).await?))
}

/// `GET /api/v1/items`.
pub(crate) async fn top_items(
    State(store): State<SharedStore>,
    access: Access,
    RawQuery(query): RawQuery,
) -> Result<Json<Items>, ApiError> {
    authorize(&access, Resource::Video)?;
    let q = params::top_items_query(query.as_deref())?;
    Ok(Json(Items { items: store.top_items(&q).await? }))
}

/// `GET /api/v1/items/{item}/apps`.
pub(crate) async fn item_apps(
    State(store): State<SharedStore>,
    access: Access,
    item: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Result<Json<Apps>, ApiError> {
    authorize(&access, Resource::Video)?;
    let item = item_path(item)?;
    let range = params::apps_query(&item, query.as_deref())?;
    Ok(Json(Apps { apps: store.item_apps(&item, range).await? }))
}

/// `GET /api/v1/rejected`.
pub(crate) async fn recent_rejected(
    State(store): State<SharedStore>,
    access: Access,
    RawQuery(query): RawQuery,
) -> Result<Json<Rejected>, ApiError> {
    authorize(&access, Resource::Rejected)?;
    let limit = params::rejected_limit(query.as_deref())?;
    Ok(Json(Rejected { rejected: store.recent_rejected(limit).await? }))
}

/// `GET /api/v1/sessions`: webinar sessions active in the range, most attendees first.
pub(crate) async fn top_sessions(
    State(store): State<SharedStore>,
    access: Access,
    RawQuery(query): RawQuery,
) -> Result<Json<Sessions>, ApiError> {
    // Sessions are per source: the token's sources, narrowed by `?source=`.
    let filter = authorize(&access, Resource::Analytics)?;
    let q = params::top_items_query(query.as_deref())?;
    let sources = filter.narrow(params::source_query(query.as_deref())?)?;
    Ok(Json(Sessions { sessions: store.top_sessions(q.range, q.limit, sources.as_deref()).await? }))
}

/// `GET /api/v1/sessions/{session_id}/engagement[?source=]`: 404 until the session has been
/// seen; session ids are per source, so an id two sources use needs `?source=` (409 without).
pub(crate) async fn session_engagement(
    State(store): State<SharedStore>,
    access: Access,
    id: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Result<Json<SessionEngagement>, ApiError> {
    let filter = authorize(&access, Resource::Analytics)?;
    let id = id.map(|Path(id)| id).map_err(|_| ParamError::new("`session_id` must be percent-encoded UTF-8"))?;
    params::check_session_id(&id)?;
    let sources = filter.narrow(params::source_query(query.as_deref())?)?;
    let mut found = store.session_engagement(&id, sources.as_deref()).await?;
    match found.len() {
        0 => Err(ApiError::NotFound(format!("no webinar session {id:?} has been seen"))),
        1 => Ok(Json(found.remove(0))),
        _ => {
            let sources: Vec<&str> = found.iter().map(|e| e.source.as_str()).collect();
            Err(ApiError::Ambiguous(format!(
                "sources {sources:?} each have a webinar session {id:?}: say which with `?source=`"
            )))
        }
    }
}

/// The `{item}` path segment, percent-decoded; undecodable is a 400 like any bad item.
fn item_path(item: Result<Path<String>, PathRejection>) -> Result<String, ParamError> {
    item.map(|Path(item)| item).map_err(|_| ParamError::new("`item` must be percent-encoded UTF-8 in the path"))
}
