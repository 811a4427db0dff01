//! One video item: key figures, retention curve, exits, seek hotspots, plays and active
//! views over time, and the breakdown per application (each row filters the charts).

use crate::charts::{self, BLUE, Figure, ORANGE, PURPLE, Style, TEAL};
use crate::html::{count, escape, link, percent};
use crate::query::ViewQuery;
use crate::shape;
use engage_sink::{AppSummary, ItemEngagement};
use std::fmt::Write as _;

fn href(q: &ViewQuery, item: &str, app: Option<&str>) -> String {
    let pairs = q.pairs_with(Some(item), app, None);
    let refs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    link(&refs)
}

pub(super) fn detail(out: &mut String, e: &ItemEngagement, apps: &[AppSummary], q: &ViewQuery) {
    let scope = match &e.app {
        Some(app) => format!(
            r#"Only <strong>{}</strong> (<a href="{}">all applications</a>)"#,
            escape(app),
            href(q, &e.item, None)
        ),
        None => "All applications".to_owned(),
    };
    let _ = write!(
        out,
        r#"<section class="card detail" data-item="{id}" aria-labelledby="detail-h"><h2 id="detail-h">Item <code>{id}</code></h2><p class="sub">{scope} · {range}</p>"#,
        id = escape(&e.item),
        range = escape(&q.range.label()),
    );
    if e.impressions == 0 && e.plays == 0 && e.timeline.is_empty() {
        out.push_str(r#"<p data-empty="item">No pingback of this item in this range.</p></section>"#);
        return;
    }
    kpis(out, e);
    out.push_str(r#"<div class="charts">"#);
    for figure in figures(e) {
        figure.write_html(out);
    }
    out.push_str("</div>");
    apps_table(out, e, apps, q);
    out.push_str("</section>");
}

fn kpis(out: &mut String, e: &ItemEngagement) {
    let rows: [(&str, &str, String); 9] = [
        ("impressions", "Impressions", count(e.impressions)),
        ("plays", "Plays", count(e.plays)),
        ("unique_viewers", "Unique viewers", count(e.unique_viewers)),
        ("play_rate", "Play rate", percent(e.play_rate)),
        ("completion_rate", "Completion rate", percent(e.completion_rate)),
        ("avg_percent_watched", "Avg. watched", e.avg_percent_watched.map_or("—".into(), |p| format!("{p:.1}%"))),
        ("pauses", "Pauses", count(e.pauses)),
        ("abandons", "Abandoned", count(e.abandons)),
        // Counted apart: in none of the figures above.
        ("bot_plays", "Bot plays", count(e.bot_plays)),
    ];
    out.push_str(r#"<dl class="kpis">"#);
    for (key, label, value) in rows {
        let _ = write!(out, r#"<div><dt>{label}</dt><dd data-kpi="{key}">{value}</dd></div>"#);
    }
    out.push_str("</dl>");
}

/// The item's charts, in page order.
pub(crate) fn figures(e: &ItemEngagement) -> Vec<Figure> {
    let mut figures = Vec::with_capacity(4);
    let marks = shape::retention_marks(&e.retention);
    let retention_desc = if marks.is_empty() {
        "No level-2 viewing in this range yet (retention needs il=2 players).".to_owned()
    } else {
        let marks: Vec<String> =
            marks.iter().map(|(s, r)| format!("{:.0}% still watching at {s}%", r * 100.0)).collect();
        format!(
            "Views that watched each percent of the video, of {} engaged plays: {}.",
            count(e.engaged_plays),
            marks.join(", ")
        )
    };
    figures.push(figure(
        "retention",
        "Audience retention",
        retention_desc,
        charts::distribution(&[(&e.retention, BLUE)], Style::Area, "views"),
        serde_json::json!(e.retention),
        vec![],
    ));
    let exits_desc = match shape::peak(&e.exits[..e.exits.len().min(100)]) {
        Some((at, n)) => {
            format!("Where viewers stopped or left (100% = completed). Most exits before the end: {n} at {at}%.")
        }
        None => "Where viewers stopped or left (100% = completed).".to_owned(),
    };
    figures.push(figure(
        "exits",
        "Exits by position",
        exits_desc,
        charts::distribution(&[(&e.exits, ORANGE)], Style::Bars, "exits"),
        serde_json::json!(e.exits),
        vec![],
    ));
    let seeks_desc = match (shape::peak(&e.seek_from), shape::peak(&e.seek_to)) {
        (Some((f, _)), Some((t, _))) => format!("Where viewers jumped from and to. Hottest: from {f}%, to {t}%."),
        _ => "Where viewers jumped from and to (seeks while playing).".to_owned(),
    };
    figures.push(figure(
        "seeks",
        "Seek hotspots",
        seeks_desc,
        charts::distribution(&[(&e.seek_from, PURPLE), (&e.seek_to, TEAL)], Style::Area, "seeks"),
        serde_json::json!({"seek_from": e.seek_from, "seek_to": e.seek_to}),
        vec![("seek from", PURPLE), ("seek to", TEAL)],
    ));
    let series = shape::item_timeline(&e.timeline);
    figures.push(figure(
        "timeline",
        "Plays and active views over time",
        match series.window_start.len() {
            1 => "Per window: plays started and views playing at any moment (1 window).".to_owned(),
            n => format!("Per window: plays started and views playing at any moment ({n} windows)."),
        },
        charts::timeline(&series, &[BLUE, TEAL], "views"),
        series.to_json(),
        vec![("plays", BLUE), ("active views", TEAL)],
    ));
    figures
}

/// A figure, or its drawing error shown in its place.
pub(super) fn figure(
    key: &'static str,
    title: &str,
    description: String,
    svg: charts::ChartResult,
    values: serde_json::Value,
    legend: Vec<(&'static str, plotters::style::RGBColor)>,
) -> Figure {
    let svg = svg.unwrap_or_else(|e| {
        tracing::warn!(chart = key, error = %e, "dashboard chart failed");
        format!(r#"<p class="notice">{}</p>"#, escape(&e))
    });
    Figure { key, title: title.to_owned(), description, svg, values, legend }
}

fn apps_table(out: &mut String, e: &ItemEngagement, apps: &[AppSummary], q: &ViewQuery) {
    out.push_str(r#"<section class="apps" aria-labelledby="apps-h"><h3 id="apps-h">Per application</h3>"#);
    if apps.is_empty() {
        out.push_str("<p>No application in this range.</p></section>");
        return;
    }
    out.push_str(
        r#"<table data-table="apps"><thead><tr><th scope="col">Application</th><th scope="col" class="num">Impressions</th><th scope="col" class="num">Plays</th><th scope="col" class="num">Unique viewers</th><th scope="col" class="num">Play rate</th><th scope="col" class="num">Completion</th></tr></thead><tbody>"#,
    );
    for a in apps {
        let current = if e.app.as_deref() == Some(a.app.as_str()) { r#" aria-current="true""# } else { "" };
        let _ = write!(
            out,
            r#"<tr data-app="{app}" data-plays="{plays}"{current}><th scope="row"><a href="{href}" title="Show only this application">{app}</a></th><td class="num">{imp}</td><td class="num">{plays_h}</td><td class="num">{uv}</td><td class="num">{pr}</td><td class="num">{cr}</td></tr>"#,
            app = escape(&a.app),
            plays = a.plays,
            href = href(q, &e.item, Some(&a.app)),
            imp = count(a.impressions),
            plays_h = count(a.plays),
            uv = count(a.unique_viewers),
            pr = percent(a.play_rate),
            cr = percent(a.completion_rate),
        );
    }
    out.push_str("</tbody></table></section>");
}
