//! Time math, in one place: window alignment, UTC days and the edge's lateness horizon.
//!
//! All times are epoch milliseconds (`i64`), passed in by the caller: nothing here reads a
//! clock. An event's time is when the *edge* saw it (the collector's receive time for live
//! pingbacks, the log line's timestamp for CDN logs, Segment's `timestamp` corrected by
//! `sentAt`); the collector decides, by its own clock, whether that time is too old or too far
//! ahead to be taken ([`check_horizon`]), so nothing it acknowledges is refused later and no
//! input can move event time into the future.

use crate::reject::RejectReason;
use std::fmt;

/// One UTC day, in milliseconds.
pub const DAY_MS: i64 = 86_400_000;

/// Default allowed lateness: 48 hours, the worst delivery delay of CDN access logs.
pub const DEFAULT_ALLOWED_LATENESS_MS: i64 = 2 * DAY_MS;
/// Largest allowed lateness: 7 days (the archive of closed views is kept that long at most).
pub const MAX_ALLOWED_LATENESS_MS: i64 = 7 * DAY_MS;
/// How far ahead of the collector's clock an event time may be: clocks of collector hosts
/// and CDN edges disagree by seconds, never by a minute. Further ahead is a wrong or forged
/// time, refused so it cannot drag the watermark into the future.
pub const FUTURE_TOLERANCE_MS: i64 = 60_000;

/// Start of the tumbling window of `size_ms` holding `t_ms`.
///
/// Uses `rem_euclid`, so times before the epoch land in the right window
/// (`window_start(-1, 60_000) == -60_000`).
///
/// # Panics
/// If `size_ms <= 0` (a configuration error rejected at start-up).
pub fn window_start(t_ms: i64, size_ms: i64) -> i64 {
    assert!(size_ms > 0, "window size must be positive");
    t_ms - t_ms.rem_euclid(size_ms)
}

/// The UTC day number (days since the epoch) holding `t_ms`.
pub fn utc_day(t_ms: i64) -> i64 {
    t_ms.div_euclid(DAY_MS)
}

/// Milliseconds since the start of the UTC day holding `t_ms` (`0..DAY_MS`).
pub fn ms_into_utc_day(t_ms: i64) -> i64 {
    t_ms.rem_euclid(DAY_MS)
}

/// An event time outside the horizon of the collector's clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutsideHorizon {
    /// Older than `now - allowed_lateness` by this many milliseconds of age (`now - event`).
    BeyondHorizon { age_ms: i64, allowed_lateness_ms: i64 },
    /// Later than `now + FUTURE_TOLERANCE_MS`: `ahead_ms` = `event - now`.
    Future { ahead_ms: i64 },
}

impl OutsideHorizon {
    /// The reason code it is refused with.
    pub fn reason(self) -> RejectReason {
        match self {
            Self::BeyondHorizon { .. } => RejectReason::BeyondHorizon,
            Self::Future { .. } => RejectReason::FutureTimestamp,
        }
    }
}

impl fmt::Display for OutsideHorizon {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::BeyondHorizon { age_ms, allowed_lateness_ms } => write!(
                f,
                "is {} s older than the collector's clock; the allowed lateness is {} s",
                age_ms / 1000,
                allowed_lateness_ms / 1000
            ),
            Self::Future { ahead_ms } => write!(
                f,
                "is {} s ahead of the collector's clock; at most {} s ahead is accepted",
                ahead_ms / 1000,
                FUTURE_TOLERANCE_MS / 1000
            ),
        }
    }
}

/// Whether an event time is within the horizon of the collector's clock `now_ms`:
/// `now - allowed_lateness <= event <= now + FUTURE_TOLERANCE_MS`.
pub fn check_horizon(event_ms: i64, now_ms: i64, allowed_lateness_ms: i64) -> Result<(), OutsideHorizon> {
    if event_ms < now_ms.saturating_sub(allowed_lateness_ms) {
        return Err(OutsideHorizon::BeyondHorizon { age_ms: now_ms.saturating_sub(event_ms), allowed_lateness_ms });
    }
    if event_ms > now_ms.saturating_add(FUTURE_TOLERANCE_MS) {
        return Err(OutsideHorizon::Future { ahead_ms: event_ms.saturating_sub(now_ms) });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn aligns_negative_times() {
        assert_eq!(window_start(-1, 60_000), -60_000);
        assert_eq!(window_start(0, 60_000), 0);
        assert_eq!(window_start(59_999, 60_000), 0);
        assert_eq!(window_start(60_000, 60_000), 60_000);
    }

    #[test]
    fn days_and_time_into_the_day() {
        assert_eq!((utc_day(DAY_MS - 1), ms_into_utc_day(DAY_MS - 1)), (0, DAY_MS - 1));
        assert_eq!((utc_day(DAY_MS), ms_into_utc_day(DAY_MS)), (1, 0));
        assert_eq!((utc_day(-1), ms_into_utc_day(-1)), (-1, DAY_MS - 1));
    }

    #[test]
    fn horizon_bounds_are_inclusive() {
        let (now, late) = (1_800_000_000_000, DEFAULT_ALLOWED_LATENESS_MS);
        assert_eq!(check_horizon(now, now, late), Ok(()));
        assert_eq!(check_horizon(now - late, now, late), Ok(()));
        assert_eq!(check_horizon(now + FUTURE_TOLERANCE_MS, now, late), Ok(()));
        let old = check_horizon(now - late - 1, now, late).unwrap_err();
        assert_eq!(old.reason(), RejectReason::BeyondHorizon);
        assert_eq!(old, OutsideHorizon::BeyondHorizon { age_ms: late + 1, allowed_lateness_ms: late });
        let ahead = check_horizon(now + 120_000, now, late).unwrap_err();
        assert_eq!(
            (ahead.reason(), ahead),
            (RejectReason::FutureTimestamp, OutsideHorizon::Future { ahead_ms: 120_000 })
        );
        assert!(ahead.to_string().contains("120 s ahead"), "{ahead}");
        // No overflow at the extremes.
        assert!(check_horizon(i64::MIN, i64::MAX, late).is_err());
        assert!(check_horizon(i64::MAX, i64::MIN, late).is_err());
    }

    proptest! {
        #[test]
        fn window_contains_time(t in any::<i64>().prop_map(|t| t / 4), size in 1i64..10_000_000) {
            let start = window_start(t, size);
            prop_assert!(start <= t);
            prop_assert!(t - start < size);
            prop_assert_eq!(start.rem_euclid(size), 0);
            prop_assert_eq!(window_start(start, size), start);
        }

        #[test]
        fn horizon_is_the_closed_interval(
            now in -(1i64 << 50)..(1i64 << 50), d in -(1i64 << 40)..(1i64 << 40), late in 1..=MAX_ALLOWED_LATENESS_MS,
        ) {
            let inside = now - late <= now + d && now + d <= now + FUTURE_TOLERANCE_MS;
            prop_assert_eq!(check_horizon(now + d, now, late).is_ok(), inside);
        }
    }
}
