//! Chart data shaping, pure: the API's answers turned into the series a chart plots.
//!
//! What is shaped here is exactly what is drawn and what is written into the chart's
//! `data-values` attribute, so a test can compare a chart with the API.

use engage_sink::{SessionTimelinePoint, TimelinePoint};
use std::collections::BTreeMap;

/// Most points a gap-filled timeline may have; beyond that the points are plotted as they are.
pub const MAX_FILLED_POINTS: usize = 1_500;

/// A time series: window starts and one or more named value columns.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TimeSeries {
    pub window_start: Vec<i64>,
    /// (name, one value per window start).
    pub columns: Vec<(&'static str, Vec<u64>)>,
}

impl TimeSeries {
    /// `{"window_start": [...], "<name>": [...], ...}`.
    pub fn to_json(&self) -> serde_json::Value {
        let mut obj = serde_json::Map::new();
        obj.insert("window_start".into(), self.window_start.clone().into());
        for (name, values) in &self.columns {
            obj.insert((*name).into(), values.clone().into());
        }
        obj.into()
    }

    pub fn is_empty(&self) -> bool {
        self.window_start.is_empty()
    }
}

/// Plays and active views per window, windows without data filled with zeros (a line over a
/// gap would suggest activity that was not there).
pub fn item_timeline(points: &[TimelinePoint]) -> TimeSeries {
    let rows: Vec<(i64, i64, [u64; 2])> =
        points.iter().map(|p| (p.window_start, p.window_end, [p.plays, p.active_views])).collect();
    fill(&rows, ["plays", "active_views"])
}

/// Attendees present and peak concurrency per window, gaps filled with zeros.
pub fn session_timeline(points: &[SessionTimelinePoint]) -> TimeSeries {
    let rows: Vec<(i64, i64, [u64; 2])> =
        points.iter().map(|p| (p.window_start, p.window_end, [p.attendees, p.peak_concurrent])).collect();
    fill(&rows, ["attendees", "peak_concurrent"])
}

/// Rows `(window_start, window_end, values)` sorted by start → a series with a point per
/// window from the first to the last (the window size is the first row's length).
fn fill<const N: usize>(rows: &[(i64, i64, [u64; N])], names: [&'static str; N]) -> TimeSeries {
    let mut out = TimeSeries { window_start: Vec::new(), columns: names.iter().map(|n| (*n, Vec::new())).collect() };
    let (Some(first), Some(last)) = (rows.first(), rows.last()) else { return out };
    let step = first.1 - first.0;
    let span = last.0.saturating_sub(first.0);
    let fillable = step > 0
        && span % step == 0
        && usize::try_from(span / step).is_ok_and(|n| n < MAX_FILLED_POINTS)
        && rows.iter().all(|r| (r.0 - first.0) % step == 0);
    let mut push = |start: i64, values: &[u64; N]| {
        out.window_start.push(start);
        for (col, v) in out.columns.iter_mut().zip(values) {
            col.1.push(*v);
        }
    };
    if !fillable {
        rows.iter().for_each(|r| push(r.0, &r.2));
        return out;
    }
    let mut next = first.0;
    for r in rows {
        while next < r.0 {
            push(next, &[0; N]);
            next += step;
        }
        push(r.0, &r.2);
        next = r.0 + step;
    }
    out
}

/// A per-type map as (label, value) bars: largest first, then by name.
pub fn categories<V: Copy>(map: &BTreeMap<String, V>, value: impl Fn(V) -> f64) -> Vec<(String, f64)> {
    let mut out: Vec<(String, f64)> = map.iter().map(|(k, v)| (k.clone(), value(*v))).collect();
    out.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    out
}

/// Index and value of the largest entry (the first when tied); None when all are zero.
pub fn peak(values: &[u64]) -> Option<(usize, u64)> {
    let (i, v) = values.iter().enumerate().fold((0, 0), |best, (i, &v)| if v > best.1 { (i, v) } else { best });
    (v > 0).then_some((i, v))
}

/// The share of the starting audience still watching at segments 25, 50 and 75 (retention
/// relative to segment 0), for the chart's description.
pub fn retention_marks(retention: &[u64]) -> Vec<(usize, f64)> {
    let Some(&base) = retention.first().filter(|b| **b > 0) else { return Vec::new() };
    [25, 50, 75].into_iter().filter_map(|s| retention.get(s).map(|v| (s, *v as f64 / base as f64))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(start: i64, plays: u64, active: u64) -> TimelinePoint {
        TimelinePoint { window_start: start, window_end: start + 60, plays, active_views: active, ..Default::default() }
    }

    #[test]
    fn timelines_fill_gaps_with_zeros() {
        let s = item_timeline(&[point(0, 2, 1), point(180, 1, 3), point(240, 4, 4)]);
        assert_eq!(s.window_start, vec![0, 60, 120, 180, 240]);
        assert_eq!(s.columns[0], ("plays", vec![2, 0, 0, 1, 4]));
        assert_eq!(s.columns[1], ("active_views", vec![1, 0, 0, 3, 4]));
        let json = s.to_json();
        assert_eq!(json["plays"], serde_json::json!([2, 0, 0, 1, 4]));
        assert_eq!(json["window_start"][4], 240);
        assert!(item_timeline(&[]).is_empty());
    }

    #[test]
    fn unfillable_timelines_are_plotted_as_they_are() {
        // too long a gap
        let far = 60 * (MAX_FILLED_POINTS as i64 + 5);
        let s = item_timeline(&[point(0, 1, 1), point(far, 2, 2)]);
        assert_eq!(s.window_start, vec![0, far]);
        // misaligned windows (a changed window size)
        let s = item_timeline(&[point(0, 1, 1), point(90, 2, 2)]);
        assert_eq!(s.window_start, vec![0, 90]);
    }

    #[test]
    fn session_timelines_take_attendees_and_peaks() {
        let p = |start: i64, attendees: u64, peak: u64| SessionTimelinePoint {
            window_start: start,
            window_end: start + 10,
            is_final: false,
            attendees,
            joins: 0,
            leaves: 0,
            peak_concurrent: peak,
            engagements: BTreeMap::new(),
            stream_seconds: BTreeMap::new(),
        };
        let s = session_timeline(&[p(0, 3, 2), p(20, 5, 4)]);
        assert_eq!(s.window_start, vec![0, 10, 20]);
        assert_eq!(s.columns, vec![("attendees", vec![3, 0, 5]), ("peak_concurrent", vec![2, 0, 4])]);
    }

    #[test]
    fn categories_are_largest_first() {
        let m = BTreeMap::from([("chat".to_string(), 3u32), ("poll".to_string(), 7), ("emoji".to_string(), 3)]);
        let c = categories(&m, f64::from);
        assert_eq!(c, vec![("poll".into(), 7.0), ("chat".into(), 3.0), ("emoji".into(), 3.0)]);
        let f = BTreeMap::from([("screen".to_string(), 1.5f64)]);
        assert_eq!(categories(&f, |v| v), vec![("screen".into(), 1.5)]);
    }

    #[test]
    fn peaks_and_retention_marks() {
        assert_eq!(peak(&[0, 3, 5, 5, 1]), Some((2, 5)));
        assert_eq!(peak(&[0, 0]), None);
        let mut retention = vec![0u64; 100];
        retention[0] = 200;
        retention[25] = 150;
        retention[50] = 100;
        retention[75] = 50;
        assert_eq!(retention_marks(&retention), vec![(25, 0.75), (50, 0.5), (75, 0.25)]);
        assert!(retention_marks(&[0; 100]).is_empty());
    }
}
