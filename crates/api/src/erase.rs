//! Erasure (GDPR art. 17, CCPA): `DELETE /api/v1/users/{id}?source=&anonymous_id=`, and the
//! same for `engage forget`.
//!
//! An erasure names a source and ids (a `userId`, `anonymousId`s). It is, in this order:
//! 1. published on the bus, keyed like the source's webinar state ([`source_key`]): the
//!    consumer owning that partition forgets the ids and the ids linked to them in its state,
//!    and deletes their rows again in its next commit, after any of their events still in
//!    flight (so nothing written later brings them back);
//! 2. applied to the store at once ([`Store::erase`]): traits and raw analytics events of
//!    those ids in the source (and in rows written before sources, source "");
//! 3. logged as one audit line (target `engage::audit`: source, how many ids, who asked, the
//!    request id), which names no id.
//!
//! The answer says what was deleted. What stays: copies in the Kafka topic until its retention
//! passes, and aggregates (session and page-view counts), which hold no id. Pingback data is
//! keyed by salted viewer hashes, not by person, and cannot be found by a user id.
//! Without a bus (an `api` role given no `--kafka-brokers`) an erasure is refused with 503:
//! deleting the stored rows while a consumer still holds the ids would be half an erasure.

use crate::auth::Access;
use crate::error::ApiError;
use crate::params;
use crate::scope::{Forbidden, Resource, authorize};
use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, header};
use engage_bus::{Publisher, Record};
use engage_model::envelope::{Erasure as ErasureBody, erasure_event, source_key};
use engage_sink::{Erasure, ErasureReport, Store};
use prost::Message as _;
use serde::Serialize;
use std::sync::Arc;

/// What erasing needs: the store, and the bus consumers read (None: erasure unavailable).
#[derive(Clone)]
pub struct Eraser {
    pub store: Arc<dyn Store>,
    pub bus: Option<Arc<dyn Publisher>>,
}

impl std::fmt::Debug for Eraser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Eraser").field("bus", &self.bus.is_some()).finish_non_exhaustive()
    }
}

/// Whose data to erase: ids of one source.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Person {
    pub source: String,
    pub user_ids: Vec<String>,
    pub anonymous_ids: Vec<String>,
}

impl Person {
    fn ids(&self) -> Vec<String> {
        self.user_ids.iter().chain(&self.anonymous_ids).cloned().collect()
    }
}

/// The answer of an erasure.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Erased {
    /// Who was erased (as asked).
    #[serde(flatten)]
    pub person: Person,
    /// What the store deleted at once.
    pub deleted: ErasureReport,
    /// The erasure record's id (hex), as in the audit lines of this process and the consumer.
    pub request_id: String,
    /// What happens next, in words.
    pub pending: &'static str,
}

const PENDING: &str = "consumers forget these ids (and ids linked to them) and delete rows of theirs still in \
    flight at their next commit; copies in the Kafka topic remain until its retention passes";

/// Erases a person (see the module documentation); `by` names who asked, for the audit line
/// (a token id, `engage forget`). `now_ms` stamps the request.
pub async fn erase(eraser: &Eraser, person: Person, by: &str, now_ms: i64) -> Result<Erased, ApiError> {
    let Some(bus) = &eraser.bus else {
        return Err(ApiError::Unavailable(
            "erasure needs the bus the consumers read (give this process --kafka-brokers), so consumer state \
             forgets the ids too; `engage forget` does the same from a shell"
                .into(),
        ));
    };
    let (source, ids) = (person.source.as_str(), person.ids());
    let body = ErasureBody {
        source: source.to_owned(),
        user_ids: person.user_ids.clone(),
        anonymous_ids: person.anonymous_ids.clone(),
    };
    let event = erasure_event(now_ms, body);
    let request_id: String = event.event_id.iter().map(|b| format!("{b:02x}")).collect();
    let record = Record { key: source_key(source).into_bytes(), payload: event.encode_to_vec() };
    bus.publish(vec![record]).await.map_err(|e| {
        tracing::warn!(error = %e, "the bus refused an erasure record");
        ApiError::Unavailable(format!("the bus refused the erasure; nothing was erased, retry later: {e}"))
    })?;
    let deleted = eraser.store.erase(&Erasure { source: source.to_owned(), ids: ids.clone() }).await?;
    tracing::info!(
        target: "engage::audit",
        action = "erase",
        source,
        ids = ids.len(),
        by,
        request_id = %request_id,
        traits_deleted = deleted.traits,
        events_deleted = deleted.events,
        "erasure requested: stored rows deleted, consumers notified"
    );
    Ok(Erased { person, deleted, request_id, pending: PENDING })
}

/// `DELETE /api/v1/users/{id}?source=&anonymous_id=` (`-` as the id: anonymous ids only):
/// an admin token whose scope holds the source, presented as `Authorization: Bearer` (a
/// dashboard session cookie is not enough to erase).
pub(crate) async fn delete_user(
    State(eraser): State<Eraser>,
    access: Access,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Result<Json<Erased>, ApiError> {
    let filter = authorize(&access, Resource::Erase)?;
    if !headers.contains_key(header::AUTHORIZATION) {
        return Err(Forbidden(
            "erasing needs an admin token as `Authorization: Bearer`, not a dashboard session".into(),
        )
        .into());
    }
    let id = id.map(|Path(id)| id).map_err(|_| params::ParamError::new("the user id must be percent-encoded UTF-8"))?;
    let person = params::erasure_query(&id, query.as_deref())?;
    filter.narrow(Some(person.source.clone()))?;
    let by = access.token_id.clone().unwrap_or_else(|| "unknown".into());
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    Ok(Json(erase(&eraser, person, &format!("token {by}"), now_ms).await?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{Auth, TokenSet};
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use engage_bus::PublishError;
    use engage_sink::{AnalyticsRow, CommitBatch, SqliteStore, UserTraits};
    use std::sync::Mutex;
    use tower::ServiceExt;

    const ADMIN: &str = "admin-token-for-acme-01";
    const READER: &str = "reader-token-all-0002";

    /// A bus that keeps what it is given (or refuses everything).
    #[derive(Default)]
    struct Bus {
        records: Mutex<Vec<Record>>,
        refuse: bool,
    }

    #[async_trait::async_trait]
    impl Publisher for Bus {
        async fn publish(&self, records: Vec<Record>) -> Result<(), PublishError> {
            if self.refuse {
                return Err(PublishError::Unavailable("down".into()));
            }
            self.records.lock().unwrap().extend(records);
            Ok(())
        }
        fn is_ready(&self) -> bool {
            true
        }
    }

    async fn store(dir: &std::path::Path) -> Arc<dyn Store> {
        let store = SqliteStore::open(&dir.join("s.db")).unwrap().with_raw_ttl_days(0); // fixtures from 2024
        let traits = |source: &str| UserTraits {
            source: source.into(),
            user_key: "u42".into(),
            user_id: "u42".into(),
            anonymous_id: String::new(),
            traits_json: r#"{"email":"jane@example.com"}"#.into(),
            // recent: traits older than the traits TTL are expired by the commit
            updated_at_ms: 1_900_000_000_000,
            event_id: source.as_bytes().to_vec(),
        };
        let event = |source: &str, id: u8| AnalyticsRow {
            event_id: vec![id],
            source: source.into(),
            received_at_ms: 1,
            event_time_ms: 1,
            call: "identify".into(),
            user_id: "u42".into(),
            anonymous_id: "a1".into(),
            name: String::new(),
            properties_json: "{}".into(),
            traits_json: "{}".into(),
            context_json: "{}".into(),
            message_id: format!("m{id}"),
            app: String::new(),
            session_id: String::new(),
        };
        let batch = CommitBatch {
            next_offset: 1,
            user_traits: vec![traits("acme"), traits("globex")],
            analytics_events: vec![event("acme", 1), event("globex", 2)],
            ..CommitBatch::default()
        };
        store.commit(batch.into()).await.unwrap();
        Arc::new(store)
    }

    fn app(store: Arc<dyn Store>, bus: Option<Arc<dyn Publisher>>) -> axum::Router {
        let tokens = TokenSet::parse(&[READER], &[&format!("{ADMIN}=acme")]).unwrap();
        crate::erasure_router(Eraser { store, bus }, Auth::new(tokens))
    }

    async fn delete(app: &axum::Router, uri: &str, header: Option<(&str, String)>) -> (StatusCode, serde_json::Value) {
        let mut request = Request::delete(uri);
        if let Some((name, value)) = header {
            request = request.header(name, value);
        }
        let response = app.clone().oneshot(request.body(Body::empty()).unwrap()).await.unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap_or_default())
    }

    fn bearer(token: &str) -> Option<(&'static str, String)> {
        Some(("authorization", format!("Bearer {token}")))
    }

    #[tokio::test]
    async fn only_an_admin_token_of_the_source_erases_and_the_bus_hears_of_it_first() {
        let dir = tempfile::tempdir().unwrap();
        let bus = Arc::new(Bus::default());
        let app = app(store(dir.path()).await, Some(bus.clone()));
        let uri = "/api/v1/users/u42?source=acme&anonymous_id=a1";
        assert_eq!(delete(&app, uri, None).await.0, StatusCode::UNAUTHORIZED);
        assert_eq!(delete(&app, uri, bearer(READER)).await.0, StatusCode::FORBIDDEN, "reading is not erasing");
        let other = "/api/v1/users/u42?source=globex";
        assert_eq!(delete(&app, other, bearer(ADMIN)).await.0, StatusCode::FORBIDDEN, "outside the admin's scope");
        assert_eq!(delete(&app, "/api/v1/users/u42", bearer(ADMIN)).await.0, StatusCode::BAD_REQUEST, "no source");
        assert!(bus.records.lock().unwrap().is_empty());

        let (status, answer) = delete(&app, uri, bearer(ADMIN)).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(answer["deleted"], serde_json::json!({"traits": 1, "events": 1}));
        assert_eq!((answer["user_ids"][0].as_str(), answer["anonymous_ids"][0].as_str()), (Some("u42"), Some("a1")));
        let records = bus.records.lock().unwrap().clone();
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].key, b"source:acme");
        let event = engage_model::envelope::RawEvent::decode(records[0].payload.as_slice()).unwrap();
        let Some(engage_model::envelope::Body::Erasure(e)) = event.body else { panic!("not an erasure") };
        assert_eq!((e.source.as_str(), e.user_ids, e.anonymous_ids), ("acme", vec!["u42".into()], vec!["a1".into()]));
        // erasing again finds nothing; the other source's u42 is still there
        assert_eq!(delete(&app, uri, bearer(ADMIN)).await.1["deleted"], serde_json::json!({"traits": 0, "events": 0}));
    }

    #[tokio::test]
    async fn without_a_bus_or_when_it_refuses_nothing_is_erased() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path()).await;
        let uri = "/api/v1/users/u42?source=acme";
        let (status, answer) = delete(&app(store.clone(), None), uri, bearer(ADMIN)).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(answer["error"].as_str().unwrap().contains("--kafka-brokers"), "{answer}");
        let down: Arc<dyn Publisher> = Arc::new(Bus { refuse: true, ..Bus::default() });
        assert_eq!(
            delete(&app(store.clone(), Some(down)), uri, bearer(ADMIN)).await.0,
            StatusCode::SERVICE_UNAVAILABLE
        );
        // still there: erasing now finds the rows
        let erased = store.erase(&Erasure { source: "acme".into(), ids: vec!["u42".into()] }).await.unwrap();
        assert_eq!(erased, ErasureReport { traits: 1, events: 1 });
    }
}
