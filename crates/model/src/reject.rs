//! Why an input was refused: a bounded set of codes.
//!
//! The code is the `reason` label of the rejection metrics and the `reason_code`
//! kept with every rejected input, so it must stay a small, stable set. The
//! human-readable detail travels separately.

use std::fmt;

/// A stable code for every way an input can be refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RejectReason {
    QueryTooLong,
    DuplicateParameter,
    MissingItem,
    InvalidItem,
    MissingTs,
    InvalidTs,
    MissingProgress,
    InvalidProgress,
    MissingEvent,
    UnknownEvent,
    InvalidLevel,
    Level1ProgressNotZero,
    InvalidUpdateProgress,
    InvalidViewId,
    InvalidUserAgent,
    /// Accepted by the collector, but its window was already final when it reached the engine
    /// (only in history written before the lateness horizon moved to the edge).
    LateEvent,
    /// Older than the allowed lateness by the collector's own clock: refused at the edge.
    BeyondHorizon,
    /// Later than the collector's own clock plus the tolerance: refused at the edge.
    FutureTimestamp,
    /// A message on the bus that does not decode as a `RawEvent`.
    Undecodable,
    /// The body is not JSON, or not the JSON object expected.
    InvalidJson,
    /// A Segment call without a write key, or with one not configured.
    Unauthorized,
    /// An analytics event over 32 KB or a batch over 500 KB.
    PayloadTooLarge,
    /// A body whose `Content-Encoding` is unsupported or does not decode (gzip that is not gzip).
    InvalidEncoding,
    /// A required analytics field is absent (`userId`/`anonymousId`, `event`, `type`, ...).
    MissingField,
    /// An analytics field of the wrong type or shape.
    InvalidField,
    /// A batch item whose `type` is not a Segment call type.
    UnknownType,
    /// A source past its rate limit (`--source-rate`): 429, counted, not kept.
    RateLimited,
}

impl RejectReason {
    /// Every code, for documentation and for pre-registering metrics.
    pub const ALL: [RejectReason; 27] = [
        Self::QueryTooLong,
        Self::DuplicateParameter,
        Self::MissingItem,
        Self::InvalidItem,
        Self::MissingTs,
        Self::InvalidTs,
        Self::MissingProgress,
        Self::InvalidProgress,
        Self::MissingEvent,
        Self::UnknownEvent,
        Self::InvalidLevel,
        Self::Level1ProgressNotZero,
        Self::InvalidUpdateProgress,
        Self::InvalidViewId,
        Self::InvalidUserAgent,
        Self::LateEvent,
        Self::BeyondHorizon,
        Self::FutureTimestamp,
        Self::Undecodable,
        Self::InvalidJson,
        Self::Unauthorized,
        Self::PayloadTooLarge,
        Self::InvalidEncoding,
        Self::MissingField,
        Self::InvalidField,
        Self::UnknownType,
        Self::RateLimited,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::QueryTooLong => "query_too_long",
            Self::DuplicateParameter => "duplicate_parameter",
            Self::MissingItem => "missing_item",
            Self::InvalidItem => "invalid_item",
            Self::MissingTs => "missing_ts",
            Self::InvalidTs => "invalid_ts",
            Self::MissingProgress => "missing_progress",
            Self::InvalidProgress => "invalid_progress",
            Self::MissingEvent => "missing_event",
            Self::UnknownEvent => "unknown_event",
            Self::InvalidLevel => "invalid_level",
            Self::Level1ProgressNotZero => "level1_progress_not_zero",
            Self::InvalidUpdateProgress => "invalid_update_progress",
            Self::InvalidViewId => "invalid_view_id",
            Self::InvalidUserAgent => "invalid_user_agent",
            Self::LateEvent => "late_event",
            Self::BeyondHorizon => "beyond_horizon",
            Self::FutureTimestamp => "future_timestamp",
            Self::Undecodable => "undecodable",
            Self::InvalidJson => "invalid_json",
            Self::Unauthorized => "unauthorized",
            Self::PayloadTooLarge => "payload_too_large",
            Self::InvalidEncoding => "invalid_encoding",
            Self::MissingField => "missing_field",
            Self::InvalidField => "invalid_field",
            Self::UnknownType => "unknown_type",
            Self::RateLimited => "rate_limited",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == code)
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for r in RejectReason::ALL {
            assert!(seen.insert(r.as_str()));
            assert_eq!(RejectReason::from_code(r.as_str()), Some(r));
        }
    }
}
