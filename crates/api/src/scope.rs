//! What an authenticated request may read: the one place that decides it ([`authorize`]).
//!
//! A token reads every source (`TOKEN`) or some (`TOKEN=sourceA|sourceB`). Data belongs to a
//! source: a Segment event to its write key's source, pingbacks and CDN logs to the default
//! source (`--default-source`, default `default`). Until analytics rows carry their source,
//! the rule is:
//! - video rollups (items, apps, engagement): tokens whose scope includes the default source;
//! - rejected inputs and `/metrics`: unscoped tokens only (they belong to no one source);
//! - webinar sessions and everything else: every token, with the token's [`SourceFilter`]
//!   returned for the store query to apply once rows carry a source;
//! - erasure: admin tokens, within their scope.

use crate::auth::Access;
use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::collections::BTreeSet;

/// What a request reads (or does).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resource {
    /// Per-item video rollups: top items, per app, engagement. They belong to the default source.
    Video,
    /// Rejected inputs (`/api/v1/rejected`): no source, so unscoped tokens only.
    Rejected,
    /// Prometheus metrics of the process: totals over every source, so unscoped tokens only.
    Metrics,
    /// Webinar sessions and anything else derived from Segment events, and any endpoint not
    /// listed here.
    Analytics,
    /// Erasing a person's data (`--admin-tokens`).
    Erase,
}

/// Which sources a read may return.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SourceFilter {
    All,
    Only(BTreeSet<String>),
}

impl SourceFilter {
    pub fn allows(&self, source: &str) -> bool {
        match self {
            SourceFilter::All => true,
            SourceFilter::Only(s) => s.contains(source),
        }
    }

    /// The sources a store query is limited to: None for all.
    pub fn sources(&self) -> Option<Vec<String>> {
        match self {
            SourceFilter::All => None,
            SourceFilter::Only(s) => Some(s.iter().cloned().collect()),
        }
    }

    /// The sources a query asking for `asked` (or every source) reads: what is asked, within
    /// the filter; a source outside it is [`Forbidden`].
    pub fn narrow(&self, asked: Option<String>) -> Result<Option<Vec<String>>, Forbidden> {
        match asked {
            Some(source) if self.allows(&source) => Ok(Some(vec![source])),
            Some(source) => Err(Forbidden(format!("this token does not read the source {source:?}"))),
            None => Ok(self.sources()),
        }
    }
}

/// A known token without the right: 403.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Forbidden(pub String);

/// Whether `access` may read `resource`, and through which [`SourceFilter`].
///
/// THE single place for read scopes. Sources (issue 16, item 3): once analytics rows carry a
/// `source`, `Resource::Analytics` keeps answering `Ok(filter)` and each handler passes the
/// filter to its store query (or `Forbidden` when a `source=` parameter is outside it); the
/// video arm stays as it is (that data belongs to the default source).
pub fn authorize(access: &Access, resource: Resource) -> Result<SourceFilter, Forbidden> {
    let filter = if access.all { SourceFilter::All } else { SourceFilter::Only(access.sources.clone()) };
    match resource {
        Resource::Video if access.reads_source(&access.default_source) => Ok(filter),
        Resource::Video => Err(Forbidden(format!(
            "this token does not read the source {:?}, which video pingbacks and CDN logs belong to",
            access.default_source
        ))),
        Resource::Rejected | Resource::Metrics if access.all => Ok(filter),
        Resource::Rejected => {
            Err(Forbidden("rejected inputs belong to no one source: only a token without a scope reads them".into()))
        }
        Resource::Metrics => {
            Err(Forbidden("metrics add up every source: only a token without a scope reads them".into()))
        }
        Resource::Analytics => Ok(filter),
        Resource::Erase if access.admin => Ok(filter),
        Resource::Erase => Err(Forbidden("only an admin token (--admin-tokens) may erase".into())),
    }
}

#[derive(serde::Serialize)]
struct ErrorBody {
    error: String,
}

impl IntoResponse for Forbidden {
    fn into_response(self) -> Response {
        let mut response = (StatusCode::FORBIDDEN, Json(ErrorBody { error: self.0 })).into_response();
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(r#"Bearer realm="engage", error="insufficient_scope""#),
        );
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access(all: bool, sources: &[&str], admin: bool) -> Access {
        Access {
            all,
            sources: sources.iter().map(|s| s.to_string()).collect(),
            admin,
            token_id: Some("0123456789abcdef".into()),
            default_source: "default".into(),
        }
    }

    #[test]
    fn the_scope_rule() {
        let everything = access(true, &[], false);
        let with_default = access(false, &["default", "webinars"], false);
        let other = access(false, &["webinars"], false);
        let admin_other = access(false, &["webinars"], true);
        let only = |s: &[&str]| SourceFilter::Only(s.iter().map(|s| s.to_string()).collect());
        use Resource::*;
        assert_eq!(authorize(&everything, Video), Ok(SourceFilter::All));
        assert_eq!(authorize(&with_default, Video), Ok(only(&["default", "webinars"])));
        assert!(authorize(&other, Video).is_err());
        assert_eq!(authorize(&everything, Rejected), Ok(SourceFilter::All));
        assert!(authorize(&with_default, Rejected).is_err());
        assert!(authorize(&with_default, Metrics).is_err());
        assert_eq!(authorize(&other, Analytics), Ok(only(&["webinars"])));
        assert!(authorize(&other, Erase).is_err());
        assert!(authorize(&everything, Erase).is_err(), "reading everything is not erasing");
        assert_eq!(authorize(&admin_other, Erase), Ok(only(&["webinars"])));
        assert!(only(&["webinars"]).allows("webinars") && !only(&["webinars"]).allows("default"));
    }
}
