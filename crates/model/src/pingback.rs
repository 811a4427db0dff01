//! The StreamOne "Statistics Pingbacks" protocol: `GET /ping/dot.gif?item=..&ts=..&progress=..&event=..&il=..`.
//!
//! The specification (`shared/seeds/003_*.txt`) is normative. What it says, and where it is enforced here:
//! - `item`, `ts` (milliseconds), `progress` (integer 0..=100) and `event` are always required.
//! - `il` is the implementation level; absent means 1. The spec asks for it "if you implement
//!   Level 2 or higher", so any integer >= 2 is level 2 (the highest level defined); 0 and
//!   anything but digits are refused. With level 1 only `initialized` and `firstplay` are
//!   parsed: other (known) events are accepted but marked ignored.
//! - Level-1 events carry progress 0 at level 1.
//! - `update` is sent only at 10, 20, ..., 90 (never 0 or 100).
//! - `ua` overrides the HTTP User-Agent for the application dimension.
//! - `vid` (an engage extension) is a player-supplied view id that overrides sessionization.
//!
//! Unknown parameters are ignored (players add cache busters); a known parameter given twice is
//! refused, since either value could be the intended one.

use crate::ids::{self, IdKind};
use crate::reject::RejectReason;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Longest query string accepted, in bytes.
pub const MAX_QUERY_BYTES: usize = 4096;
/// Longest item id accepted, in bytes (the rule is [`crate::ids::IdKind::Item`]'s).
pub const MAX_ITEM_LEN: usize = ids::MAX_ITEM_BYTES;
/// Longest `vid` accepted, in bytes (the rule is [`crate::ids::IdKind::ViewId`]'s).
pub const MAX_VIEW_ID_LEN: usize = ids::MAX_ITEM_BYTES;
/// Longest `ua` accepted, in bytes.
pub const MAX_UA_LEN: usize = 512;

/// A pingback event name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventKind {
    Initialized,
    Firstplay,
    Play,
    Update,
    Seekfrom,
    Seekto,
    Stop,
    Pause,
    Resume,
}

impl EventKind {
    pub const ALL: [EventKind; 9] = [
        Self::Initialized,
        Self::Firstplay,
        Self::Play,
        Self::Update,
        Self::Seekfrom,
        Self::Seekto,
        Self::Stop,
        Self::Pause,
        Self::Resume,
    ];

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Initialized => "initialized",
            Self::Firstplay => "firstplay",
            Self::Play => "play",
            Self::Update => "update",
            Self::Seekfrom => "seekfrom",
            Self::Seekto => "seekto",
            Self::Stop => "stop",
            Self::Pause => "pause",
            Self::Resume => "resume",
        }
    }

    /// Events of implementation level 1 (the only ones parsed at level 1).
    pub fn is_level1(self) -> bool {
        matches!(self, Self::Initialized | Self::Firstplay)
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The implementation level (`il`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Level {
    One,
    Two,
}

impl Level {
    pub fn as_u32(self) -> u32 {
        match self {
            Self::One => 1,
            Self::Two => 2,
        }
    }

    /// The level of a wire envelope, which carries exactly 1 or 2.
    pub fn from_u32(n: u32) -> Option<Self> {
        match n {
            1 => Some(Self::One),
            2 => Some(Self::Two),
            _ => None,
        }
    }

    /// The level an `il` parameter announces: `1`, or level 2 for any integer >= 2 ("Level 2
    /// or higher": a player of a later level sends every level-2 pingback too). `0`, an empty
    /// value and anything but ASCII digits announce none. Any number of digits is read.
    pub fn from_il(il: &str) -> Option<Self> {
        if il.is_empty() || !il.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        match il.trim_start_matches('0') {
            "" => None,
            "1" => Some(Self::One),
            _ => Some(Self::Two),
        }
    }
}

/// A validated pingback.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pingback {
    pub item: String,
    /// The `ts` parameter: the client's clock, epoch milliseconds.
    pub ts_ms: i64,
    pub progress: u8,
    pub event: EventKind,
    pub level: Level,
    /// The `ua` parameter, overriding the HTTP User-Agent.
    pub ua: Option<String>,
    /// The `vid` extension parameter.
    pub view_id: Option<String>,
}

impl Pingback {
    /// A level-2 event sent at level 1: accepted, but "not parsed" (counted as ignored).
    pub fn is_ignored(&self) -> bool {
        self.level == Level::One && !self.event.is_level1()
    }
}

/// Why a pingback was refused: a stable code and a one-line explanation.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{detail}")]
pub struct PingbackError {
    pub reason: RejectReason,
    pub detail: String,
}

impl PingbackError {
    fn new(reason: RejectReason, detail: impl Into<String>) -> Self {
        Self { reason, detail: detail.into() }
    }
}

/// Parses and validates the query string of a `dot.gif` request (without the leading `?`).
pub fn parse_query(query: &str) -> Result<Pingback, PingbackError> {
    if query.len() > MAX_QUERY_BYTES {
        return Err(PingbackError::new(
            RejectReason::QueryTooLong,
            format!("query string is {} bytes, the limit is {MAX_QUERY_BYTES}", query.len()),
        ));
    }
    let mut raw = RawParams::default();
    for (name, value) in form_urlencoded::parse(query.as_bytes()) {
        let slot = match name.as_ref() {
            "item" => &mut raw.item,
            "ts" => &mut raw.ts,
            "progress" => &mut raw.progress,
            "event" => &mut raw.event,
            "il" => &mut raw.il,
            "ua" => &mut raw.ua,
            "vid" => &mut raw.vid,
            _ => continue,
        };
        if slot.is_some() {
            return Err(PingbackError::new(
                RejectReason::DuplicateParameter,
                format!("parameter `{name}` is given more than once"),
            ));
        }
        *slot = Some(value.into_owned());
    }
    raw.validate()
}

#[derive(Default)]
struct RawParams {
    item: Option<String>,
    ts: Option<String>,
    progress: Option<String>,
    event: Option<String>,
    il: Option<String>,
    ua: Option<String>,
    vid: Option<String>,
}

impl RawParams {
    fn validate(self) -> Result<Pingback, PingbackError> {
        use RejectReason as R;
        let item = self.item.ok_or_else(|| PingbackError::new(R::MissingItem, "parameter `item` is required"))?;
        check_id(IdKind::Item, "item", &item)?;

        let ts =
            self.ts.ok_or_else(|| PingbackError::new(R::MissingTs, "parameter `ts` (milliseconds) is required"))?;
        let ts_ms = parse_digits::<i64>(&ts).ok_or_else(|| {
            PingbackError::new(R::InvalidTs, format!("`ts` must be epoch milliseconds as digits, got {:?}", clip(&ts)))
        })?;

        let progress = self.progress.ok_or_else(|| {
            PingbackError::new(R::MissingProgress, "parameter `progress` (integer percent 0-100) is required")
        })?;
        let progress = parse_digits::<u32>(&progress).ok_or_else(|| {
            PingbackError::new(
                R::InvalidProgress,
                format!("`progress` must be an integer percent 0-100, got {:?}", clip(&progress)),
            )
        })?;
        if progress > 100 {
            return Err(PingbackError::new(R::InvalidProgress, format!("`progress` must be 0-100, got {progress}")));
        }
        let progress = progress as u8;

        let event = self.event.ok_or_else(|| PingbackError::new(R::MissingEvent, "parameter `event` is required"))?;
        let event = EventKind::parse(&event).ok_or_else(|| {
            PingbackError::new(
                R::UnknownEvent,
                format!(
                    "unknown `event` {:?}; expected initialized, firstplay, play, update, seekfrom, seekto, stop, pause or resume",
                    clip(&event)
                ),
            )
        })?;

        let level = match self.il {
            None => Level::One,
            Some(il) => Level::from_il(&il).ok_or_else(|| {
                PingbackError::new(R::InvalidLevel, format!("`il` must be 1, 2 or higher, got {:?}", clip(&il)))
            })?,
        };

        if level == Level::One && event.is_level1() && progress != 0 {
            return Err(PingbackError::new(
                R::Level1ProgressNotZero,
                format!(
                    "`{event}` at implementation level 1 must have progress 0, got {progress} (send il=2 for positions)"
                ),
            ));
        }
        if level == Level::Two
            && event == EventKind::Update
            && (!progress.is_multiple_of(10) || progress == 0 || progress == 100)
        {
            return Err(PingbackError::new(
                R::InvalidUpdateProgress,
                format!("`update` is sent only at 10, 20, ..., 90 percent, got {progress}"),
            ));
        }

        if let Some(ua) = &self.ua
            && (ua.len() > MAX_UA_LEN || ua.chars().any(char::is_control))
        {
            return Err(PingbackError::new(
                R::InvalidUserAgent,
                format!("`ua` must be at most {MAX_UA_LEN} bytes of printable text"),
            ));
        }
        let ua = self.ua.filter(|ua| !ua.trim().is_empty());

        if let Some(vid) = &self.vid {
            check_id(IdKind::ViewId, "vid", vid)?;
        }

        Ok(Pingback { item, ts_ms, progress, event, level, ua, view_id: self.vid })
    }
}

/// Items and view ids obey the one rule of their kind ([`crate::ids`]), as on every path.
fn check_id(kind: IdKind, param: &str, value: &str) -> Result<(), PingbackError> {
    ids::check(kind, value).map(|_| ()).map_err(|e| PingbackError::new(e.reason(), format!("`{param}` {e}")))
}

/// Parses plain ASCII digits (no sign, no spaces, no `+`), refusing overflow.
fn parse_digits<T: std::str::FromStr>(s: &str) -> Option<T> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Cuts a value for quoting in an error message.
fn clip(s: &str) -> &str {
    match s.char_indices().nth(32) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[cfg(test)]
mod tests;
