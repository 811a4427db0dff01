//! Query and path parameters of the read API, parsed and validated without any I/O.
//!
//! Every refusal is a [`ParamError`]: one line naming the parameter, which the handlers
//! return as a 400. Keeping this pure keeps the rules (time formats, limits, id charset)
//! testable on their own and identical across endpoints.
//!
//! - `from` / `to`: epoch milliseconds (optionally negative) or RFC 3339; absent or empty
//!   means unbounded. A `+` offset sent unencoded arrives as a space; that is repaired.
//! - Unknown parameters are ignored (cache busters); a known one given twice is refused.

use engage_model::ids::{self, IdKind};
use engage_sink::{ItemQuery, TimeRange, TopItemsQuery};
use std::fmt;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Default and largest `limit` of `GET /api/v1/items`.
pub const DEFAULT_TOP_LIMIT: u32 = 20;
pub const MAX_TOP_LIMIT: u32 = 1000;
/// Default and largest `limit` of `GET /api/v1/rejected`.
pub const DEFAULT_REJECTED_LIMIT: u32 = 100;
pub const MAX_REJECTED_LIMIT: u32 = 1000;

/// A refused parameter: one line naming it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamError(String);

impl ParamError {
    pub fn new(message: impl Into<String>) -> Self {
        ParamError(message.into())
    }
}

impl fmt::Display for ParamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ParamError {}

/// The decoded query string, with the parameters an endpoint knows picked out.
#[derive(Debug)]
struct Params<'k> {
    known: &'k [&'k str],
    values: Vec<Option<String>>,
}

impl<'k> Params<'k> {
    fn parse(raw: Option<&str>, known: &'k [&'k str]) -> Result<Self, ParamError> {
        let mut values = vec![None; known.len()];
        for (name, value) in form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
            let Some(i) = known.iter().position(|k| *k == name) else { continue };
            if values[i].is_some() {
                return Err(ParamError::new(format!("parameter `{name}` is given more than once")));
            }
            values[i] = Some(value.into_owned());
        }
        Ok(Params { known, values })
    }

    /// The value of `name`; empty values count as absent.
    fn get(&self, name: &str) -> Option<&str> {
        let i = self.known.iter().position(|k| *k == name)?;
        self.values[i].as_deref().filter(|v| !v.is_empty())
    }
}

/// `GET /api/v1/items/{item}/engagement?from=&to=[&app=]`.
pub fn engagement_query(item: &str, raw: Option<&str>) -> Result<ItemQuery, ParamError> {
    check_item(item)?;
    let p = Params::parse(raw, &["from", "to", "app"])?;
    let range = parse_range(p.get("from"), p.get("to"))?;
    let app = p.get("app").map(check_app).transpose()?;
    Ok(ItemQuery { item: item.to_owned(), app, range })
}

/// `GET /api/v1/items?from=&to=&limit=`.
pub fn top_items_query(raw: Option<&str>) -> Result<TopItemsQuery, ParamError> {
    let p = Params::parse(raw, &["from", "to", "limit"])?;
    let range = parse_range(p.get("from"), p.get("to"))?;
    let limit = parse_limit(p.get("limit"), DEFAULT_TOP_LIMIT, MAX_TOP_LIMIT)?;
    Ok(TopItemsQuery { range, limit })
}

/// `GET /api/v1/items/{item}/apps?from=&to=`.
pub fn apps_query(item: &str, raw: Option<&str>) -> Result<TimeRange, ParamError> {
    check_item(item)?;
    let p = Params::parse(raw, &["from", "to"])?;
    parse_range(p.get("from"), p.get("to"))
}

/// `GET /api/v1/rejected?limit=`.
pub fn rejected_limit(raw: Option<&str>) -> Result<u32, ParamError> {
    let p = Params::parse(raw, &["limit"])?;
    parse_limit(p.get("limit"), DEFAULT_REJECTED_LIMIT, MAX_REJECTED_LIMIT)
}

/// `from` and `to`, unbounded when absent; `from` must not be after `to`.
pub fn parse_range(from: Option<&str>, to: Option<&str>) -> Result<TimeRange, ParamError> {
    let from_ms = from.map(|v| parse_time("from", v)).transpose()?.unwrap_or(i64::MIN);
    let to_ms = to.map(|v| parse_time("to", v)).transpose()?.unwrap_or(i64::MAX);
    if from_ms > to_ms {
        return Err(ParamError::new(format!("`from` ({from_ms}) is after `to` ({to_ms})")));
    }
    Ok(TimeRange { from_ms, to_ms })
}

/// Epoch milliseconds (`-?[0-9]+`) or an RFC 3339 date-time, as epoch milliseconds.
pub fn parse_time(name: &str, value: &str) -> Result<i64, ParamError> {
    let bad = || {
        ParamError::new(format!(
            "`{name}` must be epoch milliseconds or an RFC 3339 time (2024-05-01T12:00:00Z), got {:?}",
            clip(value)
        ))
    };
    let digits = value.strip_prefix('-').unwrap_or(value);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return value.parse::<i64>().map_err(|_| bad());
    }
    let parsed = OffsetDateTime::parse(value, &Rfc3339).or_else(|first| {
        // `+01:00` sent without percent-encoding arrives as ` 01:00`.
        match value.rfind(' ') {
            Some(i) => OffsetDateTime::parse(&format!("{}+{}", &value[..i], &value[i + 1..]), &Rfc3339),
            None => Err(first),
        }
    });
    let nanos = parsed.map_err(|_| bad())?.unix_timestamp_nanos();
    i64::try_from(nanos.div_euclid(1_000_000)).map_err(|_| bad())
}

/// An optional `limit`: an integer in `1..=max`, `default` when absent.
pub fn parse_limit(value: Option<&str>, default: u32, max: u32) -> Result<u32, ParamError> {
    let Some(value) = value else { return Ok(default) };
    let bad = || ParamError::new(format!("`limit` must be an integer from 1 to {max}, got {:?}", clip(value)));
    let digits_only = value.bytes().all(|b| b.is_ascii_digit());
    match value.parse::<u32>() {
        Ok(n) if digits_only && (1..=max).contains(&n) => Ok(n),
        _ => Err(bad()),
    }
}

/// `?source=` of the session endpoints: a source name, or None for every source.
pub fn source_query(raw: Option<&str>) -> Result<Option<String>, ParamError> {
    let p = Params::parse(raw, &["source"])?;
    p.get("source").map(check_source).transpose()
}

/// A source name (the rule of [`engage_model::source::check_source_name`]).
pub fn check_source(source: &str) -> Result<String, ParamError> {
    engage_model::source::check_source_name(source).map_err(|e| ParamError::new(format!("`source`: {e}")))?;
    Ok(source.to_owned())
}

/// Longest user or anonymous id an erasure names.
pub const MAX_PERSON_ID_LEN: usize = 512;

/// `DELETE /api/v1/users/{id}?source=&anonymous_id=`: the user id of the path (`-` for none),
/// the source (required), anonymous ids (repeatable).
pub fn erasure_query(user_id: &str, raw: Option<&str>) -> Result<crate::erase::Person, ParamError> {
    let mut source = None;
    let mut user_ids = Vec::new();
    let mut anonymous_ids = Vec::new();
    if user_id != "-" {
        user_ids.push(check_person_id("user id", user_id)?);
    }
    for (name, value) in form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        match name.as_ref() {
            "source" if source.is_some() => {
                return Err(ParamError::new("parameter `source` is given more than once"));
            }
            "source" => source = Some(check_source(&value)?),
            "anonymous_id" if !value.is_empty() => anonymous_ids.push(check_person_id("anonymous_id", &value)?),
            _ => {}
        }
    }
    let source = source.ok_or_else(|| ParamError::new("`source` is required: whose user is it?"))?;
    if user_ids.is_empty() && anonymous_ids.is_empty() {
        return Err(ParamError::new("a user id (in the path) or an `anonymous_id` is required"));
    }
    Ok(crate::erase::Person { source, user_ids, anonymous_ids })
}

/// A user or anonymous id: 1 to 512 characters, no control characters.
pub fn check_person_id(what: &str, id: &str) -> Result<String, ParamError> {
    if id.is_empty() || id.chars().count() > MAX_PERSON_ID_LEN || id.chars().any(char::is_control) {
        return Err(ParamError::new(format!("`{what}` must be 1 to {MAX_PERSON_ID_LEN} printable characters")));
    }
    Ok(id.to_owned())
}

/// Item ids obey the one item rule ([`engage_model::ids`]) the collector applies on every
/// path, so every item it accepted can be asked for.
pub fn check_item(item: &str) -> Result<(), ParamError> {
    ids::check(IdKind::Item, item).map(|_| ()).map_err(|e| ParamError::new(format!("`item` {e}")))
}

/// Longest session id accepted.
pub const MAX_SESSION_ID_LEN: usize = 256;

/// A webinar session id, by the rule the collector applies to `properties.session_id`
/// ([`IdKind::Session`]).
pub fn check_session_id(id: &str) -> Result<(), ParamError> {
    ids::check(IdKind::Session, id).map(|_| ()).map_err(|e| ParamError::new(format!("`session_id` {e}")))
}

/// An application key, by the rule every key the collector derives obeys ([`IdKind::App`]),
/// `(other)` included; surrounding spaces are ignored.
pub fn check_app(app: &str) -> Result<String, ParamError> {
    ids::check(IdKind::App, app).map(str::to_owned).map_err(|e| ParamError::new(format!("`app` {e}")))
}

/// Cuts a value for quoting in an error message.
fn clip(s: &str) -> &str {
    match s.char_indices().nth(64) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_millis_or_rfc3339() {
        assert_eq!(parse_time("from", "0"), Ok(0));
        assert_eq!(parse_time("from", "1714564800000"), Ok(1_714_564_800_000));
        assert_eq!(parse_time("from", "-60000"), Ok(-60_000));
        assert_eq!(parse_time("from", "2024-05-01T12:00:00Z"), Ok(1_714_564_800_000));
        assert_eq!(parse_time("from", "2024-05-01T12:00:00.250Z"), Ok(1_714_564_800_250));
        assert_eq!(parse_time("from", "2024-05-01T14:00:00+02:00"), Ok(1_714_564_800_000));
        assert_eq!(parse_time("from", "2024-05-01T14:00:00 02:00"), Ok(1_714_564_800_000), "unencoded +");
        assert_eq!(parse_time("from", "1969-12-31T23:59:59.9995Z"), Ok(-1), "rounds toward the past");
    }

    #[test]
    fn bad_times_name_the_parameter() {
        for bad in ["abc", "-", "12a", "99999999999999999999", "2024-05-01", "2024-13-01T00:00:00Z", "+5"] {
            let err = parse_time("to", bad).unwrap_err().to_string();
            assert!(err.starts_with("`to` must be"), "{bad}: {err}");
            assert!(!err.contains('\n'));
        }
    }

    #[test]
    fn ranges() {
        assert_eq!(parse_range(None, None), Ok(TimeRange { from_ms: i64::MIN, to_ms: i64::MAX }));
        assert_eq!(parse_range(Some("5"), Some("5")), Ok(TimeRange { from_ms: 5, to_ms: 5 }));
        assert_eq!(parse_range(Some("5"), None), Ok(TimeRange { from_ms: 5, to_ms: i64::MAX }));
        let err = parse_range(Some("6"), Some("5")).unwrap_err().to_string();
        assert!(err.contains("`from`") && err.contains("`to`"), "{err}");
    }

    #[test]
    fn limits() {
        assert_eq!(parse_limit(None, 20, 1000), Ok(20));
        assert_eq!(parse_limit(Some("1"), 20, 1000), Ok(1));
        assert_eq!(parse_limit(Some("1000"), 20, 1000), Ok(1000));
        for bad in ["0", "1001", "-1", "+5", "ten", "99999999999"] {
            let err = parse_limit(Some(bad), 20, 1000).unwrap_err().to_string();
            assert!(err.starts_with("`limit`"), "{bad}: {err}");
        }
    }

    #[test]
    fn items() {
        for ok in ["v1", "a-b_c.d:e~f@g", &"x".repeat(128)] {
            assert_eq!(check_item(ok), Ok(()), "{ok}");
        }
        for bad in ["", "a b", "a/b", "é", &"x".repeat(129)] {
            let err = check_item(bad).unwrap_err().to_string();
            assert!(err.starts_with("`item`"), "{bad}: {err}");
        }
    }

    #[test]
    fn apps() {
        assert_eq!(check_app("Acme/Player 2"), Ok("Acme/Player 2".to_owned()));
        assert!(check_app(&"é".repeat(64)).is_ok());
        assert!(check_app(&"a".repeat(65)).unwrap_err().to_string().starts_with("`app`"));
        assert!(check_app("a\nb").is_err());
        assert_eq!(check_app("(other)"), Ok("(other)".to_owned()), "the overflow name can be asked for");
    }

    #[test]
    fn the_item_rule_is_the_collectors() {
        use engage_model::ids::is_valid;
        for item in ["v1", "<script>", "a b", "urn:x:1", "a/b", "", &"x".repeat(129)] {
            assert_eq!(check_item(item).is_ok(), is_valid(IdKind::Item, item), "{item:?}");
        }
    }

    #[test]
    fn whole_queries() {
        let q = engagement_query("v1", Some("from=0&to=60000&app=web%2FChrome&_=123")).unwrap();
        assert_eq!(q.item, "v1");
        assert_eq!(q.app.as_deref(), Some("web/Chrome"));
        assert_eq!(q.range, TimeRange { from_ms: 0, to_ms: 60_000 });
        let q = engagement_query("v1", Some("from=&app=")).unwrap();
        assert_eq!((q.range, q.app), (TimeRange::ALL, None), "empty values count as absent");
        let err = engagement_query("v1", Some("from=1&from=2")).unwrap_err().to_string();
        assert_eq!(err, "parameter `from` is given more than once");
        assert!(engagement_query("a b", None).unwrap_err().to_string().starts_with("`item`"));

        assert_eq!(top_items_query(None), Ok(TopItemsQuery { range: TimeRange::ALL, limit: DEFAULT_TOP_LIMIT }));
        assert_eq!(top_items_query(Some("limit=5")).unwrap().limit, 5);
        assert!(top_items_query(Some("limit=0")).is_err());
        assert_eq!(apps_query("v1", Some("to=10")), Ok(TimeRange { from_ms: i64::MIN, to_ms: 10 }));
        assert_eq!(rejected_limit(None), Ok(DEFAULT_REJECTED_LIMIT));
        assert!(rejected_limit(Some("limit=1001")).is_err());
        assert_eq!(source_query(Some("source=webinars&limit=3")), Ok(Some("webinars".into())));
        assert_eq!(source_query(None), Ok(None));
        assert!(source_query(Some("source=a%20b")).unwrap_err().to_string().starts_with("`source`"));
    }

    #[test]
    fn erasures_name_a_source_and_at_least_one_id() {
        use crate::erase::Person;
        let person = |u: &[&str], a: &[&str]| Person {
            source: "web".into(),
            user_ids: u.iter().map(|s| s.to_string()).collect(),
            anonymous_ids: a.iter().map(|s| s.to_string()).collect(),
        };
        assert_eq!(erasure_query("u1", Some("source=web")), Ok(person(&["u1"], &[])));
        assert_eq!(
            erasure_query("u1", Some("source=web&anonymous_id=a1&anonymous_id=a2")),
            Ok(person(&["u1"], &["a1", "a2"]))
        );
        assert_eq!(erasure_query("-", Some("source=web&anonymous_id=a1")), Ok(person(&[], &["a1"])));
        assert!(erasure_query("u1", None).unwrap_err().to_string().contains("`source` is required"));
        assert!(erasure_query("-", Some("source=web")).unwrap_err().to_string().contains("is required"));
        assert!(erasure_query("u1", Some("source=a&source=b")).is_err());
        assert!(erasure_query("u\u{1}", Some("source=a")).is_err(), "a control character");
    }
}
