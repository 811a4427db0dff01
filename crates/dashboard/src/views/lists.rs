//! The left column: top items and webinar sessions of the range, each row a link that
//! selects it. Rows carry their numbers as `data-*` attributes for tests.

use super::{Detail, ViewData};
use crate::html::{count, escape, link, percent};
use crate::query::ViewQuery;
use std::fmt::Write as _;

fn href(q: &ViewQuery, item: Option<&str>, session: Option<&str>) -> String {
    let pairs = q.pairs_with(item, None, session);
    let refs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    link(&refs)
}

fn matched_note(shown: usize, matched: usize, q: &ViewQuery) -> String {
    match (q.search.is_empty(), shown < matched) {
        (true, false) => String::new(),
        (true, true) => format!("top {shown} of {matched}"),
        (false, _) => format!("{matched} matching “{}”", escape(&q.search)),
    }
}

pub(super) fn items(out: &mut String, data: &ViewData, q: &ViewQuery) {
    let selected = match &data.detail {
        Detail::Item { engagement, .. } => Some(engagement.item.as_str()),
        _ => None,
    };
    let _ = write!(
        out,
        r#"<section class="card" aria-labelledby="items-h"><h2 id="items-h">Top items</h2><p class="sub">{range}{note}</p>"#,
        range = escape(&q.range.label()),
        note = match matched_note(data.items.len(), data.items_matched, q) {
            n if n.is_empty() => n,
            n => format!(" · {n}"),
        },
    );
    if data.items.is_empty() {
        out.push_str(r#"<p data-empty="items">No video item in this range"#);
        if !q.search.is_empty() {
            let _ = write!(out, " matches “{}”", escape(&q.search));
        }
        out.push_str(".</p></section>");
        return;
    }
    out.push_str(
        r#"<table data-table="top-items"><caption class="sr-only">Items with the most plays</caption><thead><tr><th scope="col">Item</th><th scope="col" class="num">Plays</th><th scope="col" class="num">Unique viewers</th><th scope="col" class="num">Completion</th></tr></thead><tbody>"#,
    );
    for it in &data.items {
        let current = if selected == Some(it.item.as_str()) { r#" aria-current="true""# } else { "" };
        let _ = write!(
            out,
            r#"<tr data-item="{id}" data-plays="{plays}" data-unique-viewers="{uv}"{current}><th scope="row"><a href="{href}">{id}</a></th><td class="num">{plays_h}</td><td class="num">{uv_h}</td><td class="num">{cr}</td></tr>"#,
            id = escape(&it.item),
            plays = it.plays,
            uv = it.unique_viewers,
            href = href(q, Some(&it.item), None),
            plays_h = count(it.plays),
            uv_h = count(it.unique_viewers),
            cr = percent(it.completion_rate),
        );
    }
    out.push_str("</tbody></table></section>");
}

pub(super) fn sessions(out: &mut String, data: &ViewData, q: &ViewQuery) {
    let selected = match &data.detail {
        Detail::Session { id, .. } => Some(id.as_str()),
        _ => None,
    };
    let note = matched_note(data.sessions.len(), data.sessions_matched, q);
    let _ = write!(
        out,
        r#"<section class="card" aria-labelledby="sessions-h"><h2 id="sessions-h">Webinar sessions</h2>{note}"#,
        note = if note.is_empty() { note } else { format!(r#"<p class="sub">{note}</p>"#) },
    );
    if data.sessions.is_empty() {
        out.push_str(r#"<p data-empty="sessions">No webinar session in this range.</p></section>"#);
        return;
    }
    out.push_str(
        r#"<table data-table="sessions"><caption class="sr-only">Webinar sessions with the most attendees</caption><thead><tr><th scope="col">Session</th><th scope="col" class="num">Attendees</th><th scope="col" class="num">Peak</th><th scope="col" class="num">Engaged</th></tr></thead><tbody>"#,
    );
    for s in &data.sessions {
        let current = if selected == Some(s.session_id.as_str()) { r#" aria-current="true""# } else { "" };
        let badge = if s.ended_at.is_some() {
            r#"<span class="badge ended">ended</span>"#
        } else {
            r#"<span class="badge">live</span>"#
        };
        let _ = write!(
            out,
            r#"<tr data-session="{id}" data-unique-attendees="{ua}" data-peak-concurrent="{peak}"{current}><th scope="row"><a href="{href}">{id}</a> {badge}</th><td class="num">{ua_h}</td><td class="num">{peak_h}</td><td class="num">{engaged}</td></tr>"#,
            id = escape(&s.session_id),
            ua = s.unique_attendees,
            peak = s.peak_concurrent,
            href = href(q, None, Some(&s.session_id)),
            ua_h = count(s.unique_attendees),
            peak_h = count(s.peak_concurrent),
            engaged = percent(s.engaged_share),
        );
    }
    out.push_str("</tbody></table></section>");
}
