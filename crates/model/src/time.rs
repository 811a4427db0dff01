//! Time math, in one place: window alignment and event-time correction.
//!
//! All times are epoch milliseconds (`i64`), passed in by the caller.

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

/// The event time to use for an event the client stamped `client_ms` and the
/// server received at `received_ms`: the client time, unless it differs from the
/// receive time by more than `max_skew_ms` (a wrong clock, or seconds sent as
/// milliseconds), in which case the receive time.
pub fn corrected_event_time(client_ms: i64, received_ms: i64, max_skew_ms: i64) -> i64 {
    if client_ms.abs_diff(received_ms) > max_skew_ms.unsigned_abs() { received_ms } else { client_ms }
}

/// The UTC day number (days since the epoch) holding `t_ms`.
pub fn utc_day(t_ms: i64) -> i64 {
    t_ms.div_euclid(86_400_000)
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
    fn skew_correction() {
        let day = 86_400_000;
        assert_eq!(corrected_event_time(1_000, 2_000, day), 1_000);
        assert_eq!(corrected_event_time(1_000, 1_000 + day + 1, day), 1_000 + day + 1);
        // seconds sent instead of milliseconds
        assert_eq!(corrected_event_time(1_700_000_000, 1_700_000_000_000, day), 1_700_000_000_000);
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
    }
}
