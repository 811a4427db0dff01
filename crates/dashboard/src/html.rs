//! HTML text helpers, pure: escaping of everything that did not come from this crate's own
//! literals (item ids, application names, session ids, engagement types, the Host header),
//! link building, and number and time formatting for people.
//!
//! Every value interpolated into markup goes through [`escape`] (text and attribute values
//! alike: it escapes both quote kinds), and every link through [`link`].

use std::fmt::Write as _;

/// `s` with `& < > " '` replaced by character references: safe in text and in quoted
/// attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The text of HTML-escaped markup (the character references [`escape`] writes, `&nbsp;`,
/// and numeric ones), as a browser's DOM would give it back. For reading pages in tests.
pub fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let Some(end) = rest.find(';').filter(|e| *e <= 10) else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let entity = &rest[1..end];
        let c = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            "nbsp" => Some('\u{a0}'),
            _ => entity
                .strip_prefix("#x")
                .or_else(|| entity.strip_prefix("#X"))
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match c {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The value of attribute `name` of the first element that has attribute `marker`
/// (e.g. `data-chart="retention"`), unescaped. For reading pages in tests.
pub fn attribute_after(html: &str, marker: &str, name: &str) -> Option<String> {
    let at = html.find(marker)?;
    let tag_start = html[..at].rfind('<')?;
    let tag_end = at + html[at..].find('>')?;
    let tag = &html[tag_start..tag_end];
    let needle = format!(" {name}=\"");
    let start = tag.find(&needle)? + needle.len();
    let len = tag[start..].find('"')?;
    Some(unescape(&tag[start..start + len]))
}

/// A dashboard URL (`/?range=1h&item=x`), percent-encoded and HTML-escaped, ready for an
/// `href`. Empty values are left out.
pub fn link(pairs: &[(&str, &str)]) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs.iter().filter(|(_, v)| !v.is_empty()) {
        query.append_pair(k, v);
    }
    let query = query.finish();
    if query.is_empty() { "/".to_owned() } else { escape(&format!("/?{query}")) }
}

/// A count with thin thousands separators: `12 345`.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('\u{202f}');
        }
        out.push(c);
    }
    out
}

/// A ratio as a percentage with one decimal (`42.5%`), or an em dash when undefined.
pub fn percent(ratio: Option<f64>) -> String {
    match ratio {
        Some(r) if r.is_finite() => format!("{:.1}%", r * 100.0),
        _ => "—".to_owned(),
    }
}

/// Seconds as `1h 02m`, `3m 05s` or `42s`; an em dash when undefined.
pub fn duration(seconds: Option<f64>) -> String {
    let Some(s) = seconds.filter(|s| s.is_finite() && *s >= 0.0) else { return "—".to_owned() };
    let s = s.round() as u64;
    match (s / 3600, s % 3600 / 60, s % 60) {
        (0, 0, sec) => format!("{sec}s"),
        (0, m, sec) => format!("{m}m {sec:02}s"),
        (h, m, _) => format!("{h}h {m:02}m"),
    }
}

/// Epoch milliseconds as `2024-05-01 12:00 UTC` (`with_seconds`: `12:00:05`).
pub fn utc(ms: i64, with_seconds: bool) -> String {
    let Ok(t) = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000) else {
        return ms.to_string();
    };
    let mut out =
        format!("{:04}-{:02}-{:02} {:02}:{:02}", t.year(), u8::from(t.month()), t.day(), t.hour(), t.minute());
    if with_seconds {
        let _ = write!(out, ":{:02}", t.second());
    }
    out.push_str(" UTC");
    out
}

/// Epoch milliseconds as the value of an `<input type="datetime-local">` (UTC): `2024-05-01T12:00`.
pub fn datetime_local(ms: i64) -> String {
    let Ok(t) = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000) else {
        return String::new();
    };
    format!("{:04}-{:02}-{:02}T{:02}:{:02}", t.year(), u8::from(t.month()), t.day(), t.hour(), t.minute())
}

/// An axis label of a time: `HH:MM` (UTC), with the date when the axis spans days.
pub fn axis_time(ms: i64, span_ms: i64) -> String {
    let Ok(t) = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000) else {
        return String::new();
    };
    if span_ms > 86_400_000 {
        format!("{:02}-{:02} {:02}:{:02}", u8::from(t.month()), t.day(), t.hour(), t.minute())
    } else if span_ms < 300_000 {
        format!("{:02}:{:02}:{:02}", t.hour(), t.minute(), t.second())
    } else {
        format!("{:02}:{:02}", t.hour(), t.minute())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_text_and_both_quotes() {
        assert_eq!(escape(r#"<script>alert("x")</script>"#), "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;");
        assert_eq!(escape("a&b 'c'"), "a&amp;b &#39;c&#39;");
        assert_eq!(escape("plain-id_1.2:3~@"), "plain-id_1.2:3~@");
        assert_eq!(escape("é ✓"), "é ✓");
    }

    #[test]
    fn unescaping_inverts_escaping_and_reads_browser_serializations() {
        for s in [r#"<a href="x">it's & more</a>"#, "plain", "&amp; literally", "é ✓ &"] {
            assert_eq!(unescape(&escape(s)), s);
        }
        assert_eq!(unescape("1&nbsp;000 &#8239;&#x41; &bogus; & &;"), "1\u{a0}000 \u{202f}A &bogus; & &;");
        let html =
            r#"<p>x</p><figure class="chart" data-chart="retention" data-values="[1,2,&quot;a&quot;]"><svg></svg>"#;
        assert_eq!(attribute_after(html, r#"data-chart="retention""#, "data-values").as_deref(), Some(r#"[1,2,"a"]"#));
        assert_eq!(attribute_after(html, r#"data-chart="exits""#, "data-values"), None);
    }

    #[test]
    fn links_are_encoded_then_escaped() {
        assert_eq!(link(&[]), "/");
        assert_eq!(link(&[("range", "1h"), ("item", "")]), "/?range=1h");
        assert_eq!(link(&[("item", "a&b"), ("app", "web/Chrome")]), "/?item=a%26b&amp;app=web%2FChrome");
        assert_eq!(link(&[("session", "\"><img>")]), "/?session=%22%3E%3Cimg%3E");
    }

    #[test]
    fn numbers_and_times_for_people() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1_000), "1\u{202f}000");
        assert_eq!(count(12_345_678), "12\u{202f}345\u{202f}678");
        assert_eq!(percent(Some(0.4251)), "42.5%");
        assert_eq!(percent(None), "—");
        assert_eq!(percent(Some(f64::NAN)), "—");
        assert_eq!(duration(Some(42.4)), "42s");
        assert_eq!(duration(Some(185.0)), "3m 05s");
        assert_eq!(duration(Some(3_720.0)), "1h 02m");
        assert_eq!(duration(None), "—");
        assert_eq!(utc(1_714_564_805_000, false), "2024-05-01 12:00 UTC");
        assert_eq!(utc(1_714_564_805_000, true), "2024-05-01 12:00:05 UTC");
        assert_eq!(datetime_local(1_714_564_805_000), "2024-05-01T12:00");
        assert_eq!(axis_time(1_714_564_805_000, 3_600_000), "12:00");
        assert_eq!(axis_time(1_714_564_805_000, 120_000), "12:00:05");
        assert_eq!(axis_time(1_714_564_805_000, 3 * 86_400_000), "05-01 12:00");
    }
}
