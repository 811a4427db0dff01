//! The rule of every identifier kind, in one place, so a value is accepted or refused the same
//! way on every path it can arrive by (a pingback, a Segment call, a CDN log line) and
//! anything accepted can be asked for again through the API.
//!
//! Each [`IdKind`] has one rule: which characters, how long, and what normalisation happens
//! before the check. [`check`] applies it and says why a value is refused; [`IdError::reason`]
//! maps the refusal onto the bounded [`RejectReason`] codes the collector counts and keeps.
//!
//! | kind | where it comes from | rule |
//! | --- | --- | --- |
//! | [`IdKind::Item`] | pingback `item`, Segment `content_asset_id(s)` / `asset_id`, API `{item}` | 1–128 bytes of ASCII letters, digits and `-_.:~@`; taken exactly as sent |
//! | [`IdKind::ViewId`] | pingback `vid`, Segment Video Spec `session_id` | as items |
//! | [`IdKind::Session`] | Segment `properties.session_id` of webinar events; API `{session_id}` | 1–256 characters without control or format characters, exactly as sent |
//! | [`IdKind::App`] | derived from the user agent (or `ua`) | never refused: control and format characters removed, surrounding spaces trimmed, at most 64 characters; the API accepts exactly such values |
//! | [`IdKind::PageName`] | Segment page and screen `name` | a *label*: surrounding spaces trimmed, then 1–128 characters, no control or format characters |
//! | [`IdKind::EventType`] | Segment `properties.type` of webinar events | a label of 1–64 characters |
//! | [`IdKind::Stream`] | livestream stream id (from a playlist or segment path) | 1–128 bytes of ASCII letters, digits and `-_.~` |
//! | [`IdKind::Rendition`] | livestream rendition id | 1–64 bytes of ASCII letters, digits and `-_.~` |
//!
//! Identifiers that name rows and may be typed into a URL (items, view ids, streams,
//! renditions) are a conservative ASCII set: nothing that means something in HTML, a URL
//! path, a CSV cell or a shell. Labels shown to people (page names, event types) may be any
//! language, but not characters that hide or reorder text (control characters, bidirectional
//! overrides, zero-width characters). None of these rules bounds how many distinct values
//! arrive: see [`crate::dimension`] for that.

use crate::reject::RejectReason;
use std::fmt;

/// Longest item and view id, in bytes.
pub const MAX_ITEM_BYTES: usize = 128;
/// Longest application key, in characters.
pub const MAX_APP_CHARS: usize = 64;

/// Characters allowed besides ASCII letters and digits in items and view ids.
pub const ITEM_PUNCTUATION: &str = "-_.:~@";
/// Characters allowed besides ASCII letters and digits in stream and rendition ids (they are
/// path segments).
pub const STREAM_PUNCTUATION: &str = "-_.~";

/// The kinds of identifier engage accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IdKind {
    /// An item (video) id; Segment's asset ids are item ids.
    Item,
    /// A player-supplied view id (`vid`), or a Video Spec playback `session_id`.
    ViewId,
    /// A webinar session id.
    Session,
    /// An application key, derived from a user agent.
    App,
    /// A page or screen name.
    PageName,
    /// The `type` of a webinar engagement or stream.
    EventType,
    /// A livestream's stream id.
    Stream,
    /// A livestream rendition id.
    Rendition,
}

/// The shape of a rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shape {
    /// ASCII letters, digits and the given punctuation, exactly as sent, 1..=max bytes.
    Token { punctuation: &'static str, max_bytes: usize },
    /// Surrounding whitespace trimmed, then 1..=max characters with no control or format
    /// character.
    Label { max_chars: usize },
    /// As a label, but exactly as sent (an id is matched, never shown trimmed).
    ExactLabel { max_chars: usize },
}

impl IdKind {
    pub const ALL: [IdKind; 8] = [
        Self::Item,
        Self::ViewId,
        Self::Session,
        Self::App,
        Self::PageName,
        Self::EventType,
        Self::Stream,
        Self::Rendition,
    ];

    /// The name used in messages and documentation.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Item => "item",
            Self::ViewId => "view id",
            Self::Session => "session id",
            Self::App => "application",
            Self::PageName => "page name",
            Self::EventType => "event type",
            Self::Stream => "stream id",
            Self::Rendition => "rendition id",
        }
    }

    /// The reject reason a value of this kind is refused with.
    pub fn reason(self) -> RejectReason {
        match self {
            Self::Item => RejectReason::InvalidItem,
            Self::ViewId => RejectReason::InvalidViewId,
            Self::App => RejectReason::InvalidUserAgent,
            Self::Session | Self::PageName | Self::EventType | Self::Stream | Self::Rendition => {
                RejectReason::InvalidField
            }
        }
    }

    /// The longest value accepted: bytes for tokens, characters for labels.
    pub fn max_len(self) -> usize {
        match self.shape() {
            Shape::Token { max_bytes, .. } => max_bytes,
            Shape::Label { max_chars } | Shape::ExactLabel { max_chars } => max_chars,
        }
    }

    fn shape(self) -> Shape {
        match self {
            Self::Item | Self::ViewId => Shape::Token { punctuation: ITEM_PUNCTUATION, max_bytes: MAX_ITEM_BYTES },
            Self::Stream => Shape::Token { punctuation: STREAM_PUNCTUATION, max_bytes: 128 },
            Self::Rendition => Shape::Token { punctuation: STREAM_PUNCTUATION, max_bytes: 64 },
            Self::Session => Shape::ExactLabel { max_chars: 256 },
            Self::App => Shape::Label { max_chars: MAX_APP_CHARS },
            Self::PageName => Shape::Label { max_chars: 128 },
            Self::EventType => Shape::Label { max_chars: 64 },
        }
    }

    /// One line describing the rule, for error messages and documentation.
    pub fn rule(self) -> String {
        match self.shape() {
            Shape::Token { punctuation, max_bytes } => {
                format!("1 to {max_bytes} ASCII letters, digits or {punctuation}")
            }
            Shape::Label { max_chars } | Shape::ExactLabel { max_chars } => {
                format!("1 to {max_chars} characters, without control or invisible formatting characters")
            }
        }
    }
}

impl fmt::Display for IdKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What is wrong with a value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    Empty,
    TooLong { len: usize },
    Forbidden(char),
}

/// A refused identifier: its kind and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.detail())]
pub struct IdError {
    pub kind: IdKind,
    pub problem: Problem,
}

impl IdError {
    /// The reject reason to count and keep.
    pub fn reason(&self) -> RejectReason {
        self.kind.reason()
    }

    /// Why, in words, without the value itself (it is the client's).
    pub fn detail(&self) -> String {
        let what = match &self.problem {
            Problem::Empty => "is empty".to_string(),
            Problem::TooLong { len } => format!("is {len} long, the limit is {}", self.kind.max_len()),
            Problem::Forbidden(c) => format!("contains {c:?}"),
        };
        format!("{what}; allowed: {}", self.kind.rule())
    }
}

/// Checks `value` against the rule of `kind` and returns it normalised (labels trimmed;
/// tokens as they are). [`IdKind::App`] values are checked like a label: what
/// [`normalize_app`] returns always passes.
pub fn check(kind: IdKind, value: &str) -> Result<&str, IdError> {
    let err = |problem| IdError { kind, problem };
    match kind.shape() {
        Shape::Token { punctuation, max_bytes } => {
            if value.is_empty() {
                return Err(err(Problem::Empty));
            }
            if value.len() > max_bytes {
                return Err(err(Problem::TooLong { len: value.len() }));
            }
            if let Some(bad) = value.chars().find(|c| !(c.is_ascii_alphanumeric() || punctuation.contains(*c))) {
                return Err(err(Problem::Forbidden(bad)));
            }
            Ok(value)
        }
        Shape::Label { max_chars } | Shape::ExactLabel { max_chars } => {
            let value = if matches!(kind.shape(), Shape::Label { .. }) { value.trim() } else { value };
            if value.is_empty() {
                return Err(err(Problem::Empty));
            }
            if let Some(bad) = value.chars().find(|c| is_hidden(*c)) {
                return Err(err(Problem::Forbidden(bad)));
            }
            let len = value.chars().count();
            if len > max_chars {
                return Err(err(Problem::TooLong { len }));
            }
            Ok(value)
        }
    }
}

/// Whether `value` obeys the rule of `kind`, as given (no normalisation needed).
pub fn is_valid(kind: IdKind, value: &str) -> bool {
    check(kind, value).is_ok_and(|v| v.len() == value.len())
}

/// The application key of a raw token from a user agent: hidden characters removed,
/// surrounding spaces trimmed, at most [`IdKind::App`]'s length; `unknown` when nothing
/// is left. The result always passes [`check`] for [`IdKind::App`].
pub fn normalize_app(raw: &str) -> String {
    let kept: String = raw.chars().filter(|c| !is_hidden(*c)).collect();
    let out: String = kept.trim().chars().take(IdKind::App.max_len()).collect();
    let out = out.trim_end();
    if out.is_empty() { "unknown".to_owned() } else { out.to_owned() }
}

/// Characters that hide or reorder text: Unicode control characters, and the format
/// characters that steer layout invisibly (bidirectional controls, zero-width characters,
/// the byte-order mark, the soft hyphen).
fn is_hidden(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{00AD}' | '\u{061C}' | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{2028}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206F}'
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}')
}

#[cfg(test)]
mod tests;
