//! What a dashboard URL asks for, parsed without I/O: the time range, the selected item
//! (and application) or webinar session, and the search text.
//!
//! `/?range=1h&item=X&app=Y&session=S&q=text&from=..&to=..`
//! - `range`: `15m`, `1h`, `6h`, `24h` (default), `7d`, `all`, or `custom` with `from` / `to`.
//!   A relative range ends "now" and includes the window being filled (its end is open).
//! - `from` / `to` (custom): epoch milliseconds, RFC 3339, or the value of a
//!   `datetime-local` input (`2024-05-01T12:00`, read as UTC); absent means unbounded.
//! - `item` and `session` are validated as the API validates them; `app` likewise.
//! - Unknown parameters are ignored; a known one given twice is refused.

use engage_api::params::{self, ParamError};
use engage_sink::TimeRange;

/// The preset time ranges, in the order the picker shows them: (value, label, length in ms).
pub const PRESETS: [(&str, &str, Option<i64>); 6] = [
    ("15m", "Last 15 minutes", Some(15 * 60_000)),
    ("1h", "Last hour", Some(3_600_000)),
    ("6h", "Last 6 hours", Some(6 * 3_600_000)),
    ("24h", "Last 24 hours", Some(24 * 3_600_000)),
    ("7d", "Last 7 days", Some(7 * 24 * 3_600_000)),
    ("all", "All time", None),
];

/// The range used when none is asked for.
pub const DEFAULT_RANGE: &str = "24h";

/// Longest search text kept.
pub const MAX_SEARCH_LEN: usize = 128;

/// The time range a URL asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RangeChoice {
    /// One of [`PRESETS`] (by value).
    Preset(&'static str),
    /// Explicit bounds, epoch milliseconds; None is unbounded.
    Custom { from_ms: Option<i64>, to_ms: Option<i64> },
}

impl RangeChoice {
    /// The store range at `now_ms`.
    pub fn resolve(&self, now_ms: i64) -> TimeRange {
        match self {
            RangeChoice::Preset(value) => {
                let length = PRESETS.iter().find(|(v, _, _)| v == value).and_then(|(_, _, len)| *len);
                match length {
                    Some(len) => TimeRange { from_ms: now_ms.saturating_sub(len), to_ms: i64::MAX },
                    None => TimeRange::ALL,
                }
            }
            RangeChoice::Custom { from_ms, to_ms } => {
                TimeRange { from_ms: from_ms.unwrap_or(i64::MIN), to_ms: to_ms.unwrap_or(i64::MAX) }
            }
        }
    }

    /// The `range` parameter's value.
    pub fn value(&self) -> &'static str {
        match self {
            RangeChoice::Preset(v) => v,
            RangeChoice::Custom { .. } => "custom",
        }
    }

    /// A short label for headings ("Last hour", "2024-05-01 12:00 UTC → now").
    pub fn label(&self) -> String {
        match self {
            RangeChoice::Preset(v) => PRESETS.iter().find(|(p, _, _)| p == v).map_or("", |(_, l, _)| l).to_owned(),
            RangeChoice::Custom { from_ms, to_ms } => {
                let side =
                    |ms: &Option<i64>, open: &str| ms.map_or_else(|| open.to_owned(), |ms| crate::html::utc(ms, false));
                format!("{} → {}", side(from_ms, "the beginning"), side(to_ms, "now"))
            }
        }
    }

    /// The URL parameters that select this range again.
    pub fn pairs(&self) -> Vec<(&'static str, String)> {
        match self {
            RangeChoice::Preset(v) => vec![("range", (*v).to_owned())],
            RangeChoice::Custom { from_ms, to_ms } => {
                let mut out = vec![("range", "custom".to_owned())];
                if let Some(ms) = from_ms {
                    out.push(("from", ms.to_string()));
                }
                if let Some(ms) = to_ms {
                    out.push(("to", ms.to_string()));
                }
                out
            }
        }
    }
}

/// Everything a dashboard URL selects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ViewQuery {
    pub range: RangeChoice,
    pub item: Option<String>,
    /// Only this application in the item's charts.
    pub app: Option<String>,
    pub session: Option<String>,
    /// Case-insensitive substring filter of the item and session lists ("" for none).
    pub search: String,
}

impl Default for ViewQuery {
    /// The default range, nothing selected, no search.
    fn default() -> Self {
        ViewQuery {
            range: RangeChoice::Preset(DEFAULT_RANGE),
            item: None,
            app: None,
            session: None,
            search: String::new(),
        }
    }
}

impl ViewQuery {
    /// Parses a raw query string (`None` or empty: the defaults).
    pub fn parse(raw: Option<&str>) -> Result<ViewQuery, ParamError> {
        const KNOWN: [&str; 7] = ["range", "from", "to", "item", "app", "session", "q"];
        let mut values: [Option<String>; 7] = Default::default();
        for (name, value) in form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
            let Some(i) = KNOWN.iter().position(|k| *k == name) else { continue };
            if values[i].is_some() {
                return Err(ParamError::new(format!("parameter `{name}` is given more than once")));
            }
            values[i] = Some(value.trim().to_owned());
        }
        let [range, from, to, item, app, session, q] = values.map(|v| v.filter(|v| !v.is_empty()));
        let range = match range.as_deref() {
            Some("custom") => RangeChoice::Custom {
                from_ms: from.as_deref().map(|v| parse_time("from", v)).transpose()?,
                to_ms: to.as_deref().map(|v| parse_time("to", v)).transpose()?,
            },
            None if from.is_some() || to.is_some() => RangeChoice::Custom {
                from_ms: from.as_deref().map(|v| parse_time("from", v)).transpose()?,
                to_ms: to.as_deref().map(|v| parse_time("to", v)).transpose()?,
            },
            None => RangeChoice::Preset(DEFAULT_RANGE),
            Some(v) => match PRESETS.iter().find(|(p, _, _)| *p == v) {
                Some((p, _, _)) => RangeChoice::Preset(p),
                None => {
                    let names: Vec<&str> = PRESETS.iter().map(|(p, _, _)| *p).collect();
                    return Err(ParamError::new(format!(
                        "`range` must be one of {} or custom, got {:?}",
                        names.join(", "),
                        clip(v)
                    )));
                }
            },
        };
        if let RangeChoice::Custom { from_ms: Some(f), to_ms: Some(t) } = range
            && f > t
        {
            return Err(ParamError::new("`from` is after `to`"));
        }
        if let Some(item) = &item {
            params::check_item(item)?;
        }
        if let Some(app) = &app {
            params::check_app(app)?;
        }
        if let Some(session) = &session {
            params::check_session_id(session)?;
        }
        let mut search = q.unwrap_or_default();
        if let Some((cut, _)) = search.char_indices().nth(MAX_SEARCH_LEN) {
            search.truncate(cut);
        }
        Ok(ViewQuery { range, item, app, session, search })
    }

    /// Whether `candidate` matches the search text (always, without one).
    pub fn matches(&self, candidate: &str) -> bool {
        self.search.is_empty() || candidate.to_lowercase().contains(&self.search.to_lowercase())
    }

    /// The URL parameters of this view with `item` / `app` / `session` replaced.
    pub fn pairs_with(
        &self,
        item: Option<&str>,
        app: Option<&str>,
        session: Option<&str>,
    ) -> Vec<(&'static str, String)> {
        let mut out = self.range.pairs();
        for (k, v) in [("item", item), ("app", app), ("session", session), ("q", Some(self.search.as_str()))] {
            if let Some(v) = v.filter(|v| !v.is_empty()) {
                out.push((k, v.to_owned()));
            }
        }
        out
    }
}

/// A time bound: what the API accepts, or a `datetime-local` value read as UTC.
pub fn parse_time(name: &str, value: &str) -> Result<i64, ParamError> {
    params::parse_time(name, value).or_else(|e| {
        // `2024-05-01T12:00` or `2024-05-01T12:00:30`: no offset, from a datetime-local input.
        let b = value.as_bytes();
        let local = (b.len() == 16 || b.len() == 19) && b.get(10) == Some(&b'T') && !value.contains(['Z', 'z', '+']);
        if !local {
            return Err(e);
        }
        let seconds = if b.len() == 16 { ":00" } else { "" };
        params::parse_time(name, &format!("{value}{seconds}Z")).map_err(|_| e)
    })
}

fn clip(s: &str) -> &str {
    s.char_indices().nth(32).map_or(s, |(i, _)| &s[..i])
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_714_564_800_000;

    #[test]
    fn defaults_and_presets() {
        let q = ViewQuery::parse(None).unwrap();
        assert_eq!(q, ViewQuery::default());
        assert_eq!(q.range, RangeChoice::Preset("24h"));
        assert_eq!((q.item, q.app, q.session, q.search.as_str()), (None, None, None, ""));
        assert_eq!(q.range.resolve(NOW), TimeRange { from_ms: NOW - 86_400_000, to_ms: i64::MAX });
        let q = ViewQuery::parse(Some("range=15m&_=1")).unwrap();
        assert_eq!(q.range.resolve(NOW), TimeRange { from_ms: NOW - 900_000, to_ms: i64::MAX });
        assert_eq!(ViewQuery::parse(Some("range=all")).unwrap().range.resolve(NOW), TimeRange::ALL);
        assert_eq!(ViewQuery::parse(Some("range=")).unwrap().range, RangeChoice::Preset("24h"), "empty = absent");
        let err = ViewQuery::parse(Some("range=2h")).unwrap_err().to_string();
        assert!(err.starts_with("`range` must be one of 15m, 1h"), "{err}");
        assert!(ViewQuery::parse(Some("range=1h&range=6h")).is_err());
    }

    #[test]
    fn custom_ranges_take_api_times_and_datetime_local_inputs_as_utc() {
        let q = ViewQuery::parse(Some("range=custom&from=2024-05-01T12%3A00&to=1714568400000")).unwrap();
        assert_eq!(q.range, RangeChoice::Custom { from_ms: Some(NOW), to_ms: Some(NOW + 3_600_000) });
        assert_eq!(q.range.resolve(0), TimeRange { from_ms: NOW, to_ms: NOW + 3_600_000 });
        let q = ViewQuery::parse(Some("range=custom&from=2024-05-01T12:00:30")).unwrap();
        assert_eq!(q.range.resolve(0), TimeRange { from_ms: NOW + 30_000, to_ms: i64::MAX });
        let q = ViewQuery::parse(Some("from=2024-05-01T14:00:00%2B02:00")).unwrap();
        assert_eq!(q.range, RangeChoice::Custom { from_ms: Some(NOW), to_ms: None }, "bounds alone mean custom");
        assert_eq!(q.range.pairs(), vec![("range", "custom".to_owned()), ("from", NOW.to_string())]);
        assert!(q.range.label().starts_with("2024-05-01 12:00 UTC → now"));
        let q = ViewQuery::parse(Some("range=custom")).unwrap();
        assert_eq!(q.range.resolve(NOW), TimeRange::ALL);
        for bad in ["range=custom&from=yesterday", "range=custom&from=2024-05-01T12", "from=5&to=4"] {
            assert!(ViewQuery::parse(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn selections_are_validated_like_the_api() {
        let q = ViewQuery::parse(Some("item=item-0001&app=web%2FChrome&session=webinar+1&q=+Item+")).unwrap();
        assert_eq!(q.item.as_deref(), Some("item-0001"));
        assert_eq!(q.app.as_deref(), Some("web/Chrome"));
        assert_eq!(q.session.as_deref(), Some("webinar 1"));
        assert_eq!(q.search, "Item");
        assert!(q.matches("item-0001") && q.matches("ITEM-2") && !q.matches("video-1"));
        assert!(ViewQuery::parse(Some("item=%3Cscript%3E")).unwrap_err().to_string().starts_with("`item`"));
        assert!(ViewQuery::parse(Some("session=a%0Ab")).is_err());
        let long = "x".repeat(500);
        assert_eq!(ViewQuery::parse(Some(&format!("q={long}"))).unwrap().search.len(), MAX_SEARCH_LEN);
    }

    #[test]
    fn links_keep_the_range_and_search() {
        let q = ViewQuery::parse(Some("range=1h&q=abc&item=a")).unwrap();
        let pairs = q.pairs_with(Some("b"), None, None);
        assert_eq!(pairs, vec![("range", "1h".into()), ("item", "b".into()), ("q", "abc".into())]);
    }
}
