//! One webinar session: key figures, attendees over time, engagement by type and stream
//! time by type (whole session, whatever the range).

use super::item::figure;
use crate::charts::{self, BLUE, Figure, ORANGE, PURPLE, TEAL};
use crate::html::{count, duration, escape, percent, utc};
use crate::shape;
use engage_sink::SessionEngagement;
use std::fmt::Write as _;

pub(super) fn detail(out: &mut String, id: &str, e: Option<&SessionEngagement>) {
    let _ = write!(
        out,
        r#"<section class="card detail" data-session="{id}" aria-labelledby="detail-h"><h2 id="detail-h">Webinar <code>{id}</code></h2>"#,
        id = escape(id),
    );
    let Some(e) = e else {
        out.push_str(r#"<p data-empty="session">No event of this session has been seen.</p></section>"#);
        return;
    };
    let status = match (e.started_at, e.ended_at) {
        (_, Some(end)) => format!("Ended {}", utc(end, false)),
        (Some(start), None) => format!("Live since {}", utc(start, false)),
        (None, None) => "Live (no “Session Started” seen)".to_owned(),
    };
    let started = match (e.started_at, e.ended_at) {
        (Some(start), Some(_)) => format!(" · started {}", utc(start, false)),
        _ => String::new(),
    };
    let _ = write!(out, r#"<p class="sub">{status}{started} · whole session</p>"#);
    let engagements: u64 = e.engagements.values().sum();
    let stream: f64 = e.stream_seconds.values().sum();
    let rows: [(&str, &str, String); 6] = [
        ("unique_attendees", "Unique attendees", count(e.unique_attendees)),
        ("peak_concurrent", "Peak concurrent", count(e.peak_concurrent)),
        ("avg_attendance_seconds", "Avg. attendance", duration(e.avg_attendance_seconds)),
        ("engaged_share", "Engaged", percent(e.engaged_share)),
        ("engagements", "Engagements", count(engagements)),
        ("stream_seconds", "Stream time", duration(Some(stream))),
    ];
    out.push_str(r#"<dl class="kpis">"#);
    for (key, label, value) in rows {
        let _ = write!(out, r#"<div><dt>{label}</dt><dd data-kpi="{key}">{value}</dd></div>"#);
    }
    out.push_str(r#"</dl><div class="charts">"#);
    for f in figures(e) {
        f.write_html(out);
    }
    out.push_str("</div></section>");
}

/// The session's charts, in page order.
pub(crate) fn figures(e: &SessionEngagement) -> Vec<Figure> {
    let series = shape::session_timeline(&e.timeline);
    let attendees = figure(
        "attendees",
        "Attendees over time",
        format!(
            "Per window: attendees present at any moment, and the most present at once (peak {}).",
            count(e.peak_concurrent)
        ),
        charts::timeline(&series, &[BLUE, ORANGE], "attendees"),
        series.to_json(),
        vec![("attendees", BLUE), ("peak concurrent", ORANGE)],
    );
    let by_type = shape::categories(&e.engagements, |v| v as f64);
    let engagement_desc = match by_type.first() {
        Some((top, n)) => format!("“User Engaged” events by type; most: {} ({n:.0}).", clip(top)),
        None => "No “User Engaged” event yet.".to_owned(),
    };
    let engagement = figure(
        "engagements",
        "Engagement by type",
        engagement_desc,
        charts::categories(&by_type, PURPLE, "events"),
        serde_json::json!(e.engagements),
        vec![],
    );
    let streams = shape::categories(&e.stream_seconds, |v| v);
    let stream_desc = match streams.first() {
        Some((top, s)) => format!("Seconds of enabled streams by type; most: {} ({}).", clip(top), duration(Some(*s))),
        None => "No stream enabled yet.".to_owned(),
    };
    let stream = figure(
        "streams",
        "Stream time by type",
        stream_desc,
        charts::categories(&streams, TEAL, "seconds"),
        serde_json::json!(e.stream_seconds),
        vec![],
    );
    vec![attendees, engagement, stream]
}

fn clip(s: &str) -> &str {
    s.char_indices().nth(40).map_or(s, |(i, _)| &s[..i])
}
