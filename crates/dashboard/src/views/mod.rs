//! The dashboard's HTML, from data already read from the store: pure functions of
//! ([`ViewData`], [`ViewQuery`]), so what a page shows is testable without a server.
//!
//! - [`page`]: the whole document (header, range picker, search, the view, the script).
//! - [`view`]: the part the script refreshes: lists on the left, the selected item or
//!   webinar session on the right, or an empty state.
//! - `lists`, `item`, `session`, `empty`: the pieces.

mod empty;
mod item;
mod lists;
mod page;
mod session;

pub(crate) use page::CSS;
pub use page::{content_security_policy, page, page_for};

use crate::query::ViewQuery;
use engage_sink::{AppSummary, ItemEngagement, ItemSummary, SessionEngagement, SessionListing};
use std::fmt::Write as _;

/// Everything one rendering of the view needs, read from the store.
#[derive(Clone, Debug, PartialEq)]
pub struct ViewData {
    pub now_ms: i64,
    /// The `Host` the page was asked on (for the copy-pasteable first pingback), if sane.
    pub host: Option<String>,
    /// Top items in the range that match the search, most plays first.
    pub items: Vec<ItemSummary>,
    /// How many matched before the list was cut.
    pub items_matched: usize,
    /// Webinar sessions active in the range that match the search.
    pub sessions: Vec<SessionListing>,
    pub sessions_matched: usize,
    /// Whether the store holds anything at all (any range).
    pub any_data: bool,
    pub detail: Detail,
}

/// What the right-hand side shows.
#[derive(Clone, Debug, PartialEq)]
pub enum Detail {
    None,
    Item {
        engagement: Box<ItemEngagement>,
        apps: Vec<AppSummary>,
    },
    /// A session asked for, None when it was never seen.
    Session {
        id: String,
        engagement: Option<Box<SessionEngagement>>,
    },
}

/// The view fragment (what `#view` holds).
pub fn view(data: &ViewData, q: &ViewQuery) -> String {
    let mut out = String::with_capacity(64 * 1024);
    let _ = write!(out, r#"<div class="view" data-rendered-at="{}">"#, data.now_ms);
    if !data.any_data {
        empty::first_run(&mut out, data.host.as_deref());
        out.push_str("</div>");
        return out;
    }
    out.push_str(r#"<div class="layout"><div class="lists">"#);
    lists::items(&mut out, data, q);
    lists::sessions(&mut out, data, q);
    out.push_str(r#"</div><div class="detail-col">"#);
    match &data.detail {
        Detail::Item { engagement, apps } => item::detail(&mut out, engagement, apps, q),
        Detail::Session { id, engagement } => session::detail(&mut out, id, engagement.as_deref()),
        Detail::None => empty::range(&mut out, q),
    }
    out.push_str("</div></div></div>");
    out
}

#[cfg(test)]
mod tests;
