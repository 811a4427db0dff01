//! Rollups of analytics events: per-(session, window) webinar aggregates, per-session
//! summaries and page/screen views per (name, window), as the engine emits them and every
//! store persists them.
//!
//! Like the video rollups, every row is the *full state* of its key, so rewriting it is
//! idempotent. Durations are kept in milliseconds; the API turns them into seconds.
//!
//! [`WebinarEventKind`] names the web-conferencing semantic events here, in the model, because
//! both the collector (which partitions them) and the engine (which aggregates them) need it.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The web-conferencing semantic events (the seed talk's), matched case-insensitively.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum WebinarEventKind {
    SessionStarted,
    SessionEnded,
    UserJoined,
    UserLeft,
    UserEngaged,
    StreamEnabled,
    StreamDisabled,
}

impl WebinarEventKind {
    const NAMES: [(&'static str, WebinarEventKind); 7] = [
        ("session started", Self::SessionStarted),
        ("session ended", Self::SessionEnded),
        ("user joined", Self::UserJoined),
        ("user left", Self::UserLeft),
        ("user engaged", Self::UserEngaged),
        ("stream enabled", Self::StreamEnabled),
        ("stream disabled", Self::StreamDisabled),
    ];

    /// The kind of a track event name, case-insensitively, surrounding spaces ignored.
    pub fn classify(name: &str) -> Option<WebinarEventKind> {
        let name = name.trim();
        Self::NAMES.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, k)| *k)
    }

    /// The event's name, in the seed talk's capitalization ("Session Started").
    pub fn name(self) -> &'static str {
        match self {
            Self::SessionStarted => "Session Started",
            Self::SessionEnded => "Session Ended",
            Self::UserJoined => "User Joined",
            Self::UserLeft => "User Left",
            Self::UserEngaged => "User Engaged",
            Self::StreamEnabled => "Stream Enabled",
            Self::StreamDisabled => "Stream Disabled",
        }
    }
}

/// The webinar aggregates of one (session, window).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionWindowCounts {
    /// "User Joined" that started a presence (a join of an attendee already present is not one).
    pub joins: u64,
    /// Presences that ended here: "User Left", "Session Ended" or the attendee timeout.
    pub leaves: u64,
    /// Distinct attendees present at any moment of the window.
    pub attendees: u64,
    /// Most attendees present at one moment of the window (carried over window boundaries).
    pub peak_concurrent: u64,
    /// "User Engaged" events by `type`.
    pub engagements: BTreeMap<String, u64>,
    /// Milliseconds of enabled streams inside the window, by stream `type`.
    pub stream_ms: BTreeMap<String, u64>,
}

/// The full state of one (session, window).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionWindow {
    /// The source (tenant) the session belongs to: session ids are per source.
    pub source: String,
    pub session_id: String,
    pub window_start_ms: i64,
    pub window_end_ms: i64,
    /// True once the watermark passed the end plus the allowed lateness.
    pub is_final: bool,
    pub counts: SessionWindowCounts,
}

/// The whole-session figures of one session.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionSummary {
    /// The source (tenant) the session belongs to.
    pub source: String,
    pub session_id: String,
    /// Earliest "Session Started", epoch milliseconds.
    pub started_at_ms: Option<i64>,
    /// Latest "Session Ended", epoch milliseconds.
    pub ended_at_ms: Option<i64>,
    /// Distinct attendees with a presence.
    pub unique_attendees: u64,
    /// Attendees among them who sent "User Engaged".
    pub engaged_attendees: u64,
    /// Sum of every presence's duration (open presences up to the watermark), milliseconds.
    pub attendance_ms: u64,
    /// Highest `peak_concurrent` of any window.
    pub peak_concurrent: u64,
    pub engagements: BTreeMap<String, u64>,
    pub stream_ms: BTreeMap<String, u64>,
}

/// Page (or screen) views of one generation of one (kind, name, window): like video
/// windows (see [`crate::rollup`]), the rows of one window with different generations sum,
/// so a page view arriving after the engine let the window go adds a row instead of
/// overwriting the count.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageViewWindow {
    /// The source (tenant) whose calls these views are.
    pub source: String,
    /// `page` or `screen`.
    pub kind: String,
    /// The page or screen name ("" when the call had none).
    pub name: String,
    pub window_start_ms: i64,
    pub window_end_ms: i64,
    /// Which generation of the window in its partition this row is.
    pub generation: u64,
    pub views: u64,
}
