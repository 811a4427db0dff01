//! Dotted JSON paths into a Segment call (`properties.session_id`, `context.groupId`): where
//! a deployment's apps put the webinar session id of an event.
//!
//! Apps name the session in different places: the web-conferencing semantic events put it in
//! `properties.session_id`; apps that model a webinar as a Segment group send `group` calls
//! and then carry `context.groupId` on every call. The engine takes a list of paths
//! (`--session-id-paths`) and uses the first one that holds an id. This is the pure part:
//! parsing a path and reading it out of a call's JSON objects.
//!
//! A path is a non-empty list of object keys separated by dots; its first key names one of
//! the call's objects (`properties`, `context`, `traits`). Keys are matched exactly (JSON is
//! case-sensitive). An id is a non-empty string or a number (SDKs send numeric ids), as text.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fmt;
use std::str::FromStr;

/// The default `--session-id-paths`.
pub const DEFAULT_SESSION_ID_PATHS: [&str; 2] = ["properties.session_id", "context.groupId"];

/// The top-level objects of a call a path may start from.
pub const ROOTS: [&str; 3] = ["properties", "context", "traits"];

/// One parsed path. Serialized as its text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct JsonPath {
    keys: Vec<String>,
}

impl TryFrom<String> for JsonPath {
    type Error = PathError;

    fn try_from(s: String) -> Result<Self, PathError> {
        s.parse()
    }
}

impl From<JsonPath> for String {
    fn from(p: JsonPath) -> String {
        p.to_string()
    }
}

/// Why a path was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("{0:?}: a path needs a root object and at least one key, like `properties.session_id`")]
    TooShort(String),
    #[error("{0:?}: empty key (two dots in a row, or a leading or trailing dot)")]
    EmptyKey(String),
    #[error("{path:?}: a path starts with one of {roots:?}, not {root:?}")]
    UnknownRoot { path: String, root: String, roots: [&'static str; 3] },
}

impl FromStr for JsonPath {
    type Err = PathError;

    fn from_str(s: &str) -> Result<Self, PathError> {
        let s = s.trim();
        let keys: Vec<String> = s.split('.').map(str::to_owned).collect();
        if keys.iter().any(String::is_empty) {
            return Err(if s.is_empty() { PathError::TooShort(s.into()) } else { PathError::EmptyKey(s.into()) });
        }
        if keys.len() < 2 {
            return Err(PathError::TooShort(s.into()));
        }
        if !ROOTS.contains(&keys[0].as_str()) {
            return Err(PathError::UnknownRoot { path: s.into(), root: keys[0].clone(), roots: ROOTS });
        }
        Ok(JsonPath { keys })
    }
}

impl fmt::Display for JsonPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.keys.join("."))
    }
}

/// The JSON objects of one call that paths can reach.
#[derive(Clone, Copy, Debug)]
pub struct CallObjects<'a> {
    pub properties: &'a Map<String, Value>,
    pub context: &'a Map<String, Value>,
    pub traits: &'a Map<String, Value>,
}

impl JsonPath {
    /// The root object this path starts from (`properties`, `context` or `traits`).
    pub fn root(&self) -> &str {
        &self.keys[0]
    }

    /// The value at this path, if every key along it exists.
    pub fn find<'a>(&self, call: &CallObjects<'a>) -> Option<&'a Value> {
        let root = match self.root() {
            "properties" => call.properties,
            "context" => call.context,
            _ => call.traits,
        };
        let (first, rest) = self.keys[1..].split_first()?;
        rest.iter().try_fold(root.get(first)?, |v, k| v.as_object()?.get(k))
    }

    /// The id at this path: a non-empty string, or a number as text.
    pub fn id<'a>(&self, call: &CallObjects<'a>) -> Option<IdText<'a>> {
        self.find(call).and_then(id_text)
    }
}

/// An id read from JSON: borrowed when it was a string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IdText<'a> {
    Str(&'a str),
    Number(String),
}

impl IdText<'_> {
    pub fn as_str(&self) -> &str {
        match self {
            IdText::Str(s) => s,
            IdText::Number(n) => n,
        }
    }
}

/// A non-empty string, or a number as text; anything else is no id.
pub fn id_text(v: &Value) -> Option<IdText<'_>> {
    match v {
        Value::String(s) if !s.is_empty() => Some(IdText::Str(s)),
        Value::Number(n) => Some(IdText::Number(n.to_string())),
        _ => None,
    }
}

/// Parses a list of paths (as `--session-id-paths` gives them), every problem at once.
pub fn parse_paths<S: AsRef<str>>(paths: &[S]) -> Result<Vec<JsonPath>, Vec<PathError>> {
    let (ok, errors): (Vec<_>, Vec<_>) = paths.iter().map(|p| p.as_ref().parse::<JsonPath>()).partition(Result::is_ok);
    if errors.is_empty() {
        Ok(ok.into_iter().filter_map(Result::ok).collect())
    } else {
        Err(errors.into_iter().filter_map(Result::err).collect())
    }
}

/// The first id any of `paths` finds in `call`, in the order of the list.
pub fn first_id<'a>(paths: &[JsonPath], call: &CallObjects<'a>) -> Option<IdText<'a>> {
    paths.iter().find_map(|p| p.id(call))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    fn defaults() -> Vec<JsonPath> {
        parse_paths(&DEFAULT_SESSION_ID_PATHS).expect("the defaults parse")
    }

    #[test]
    fn paths_parse_and_print_back() {
        let p: JsonPath = " properties.meeting.id ".parse().expect("valid");
        assert_eq!((p.root(), p.to_string().as_str()), ("properties", "properties.meeting.id"));
        assert_eq!("properties".parse::<JsonPath>(), Err(PathError::TooShort("properties".into())));
        assert_eq!("".parse::<JsonPath>(), Err(PathError::TooShort(String::new())));
        assert_eq!("properties..id".parse::<JsonPath>(), Err(PathError::EmptyKey("properties..id".into())));
        assert_eq!("context.".parse::<JsonPath>(), Err(PathError::EmptyKey("context.".into())));
        assert!(matches!("userId.x".parse::<JsonPath>(), Err(PathError::UnknownRoot { .. })));
        let errors = parse_paths(&["properties.a", "nope.b", "traits"]).expect_err("two bad paths");
        assert_eq!(errors.len(), 2);
    }

    #[test]
    fn the_first_path_with_an_id_wins() {
        let (props, context, traits) =
            (obj(json!({"session_id": "s1"})), obj(json!({"groupId": "g1"})), obj(json!({})));
        let call = CallObjects { properties: &props, context: &context, traits: &traits };
        assert_eq!(first_id(&defaults(), &call).map(|i| i.as_str().to_owned()), Some("s1".into()));
        let empty = obj(json!({"session_id": ""}));
        let call = CallObjects { properties: &empty, ..call };
        assert_eq!(first_id(&defaults(), &call), Some(IdText::Str("g1")));
        let none = Map::new();
        let call = CallObjects { properties: &none, context: &none, traits: &none };
        assert_eq!(first_id(&defaults(), &call), None);
    }

    #[test]
    fn nested_keys_numbers_and_non_ids() {
        let props = obj(json!({"meeting": {"id": 42, "tags": ["a"]}, "flag": true, "nil": null, "list": [1]}));
        let none = Map::new();
        let call = CallObjects { properties: &props, context: &none, traits: &none };
        let id = |p: &str| p.parse::<JsonPath>().expect("valid").id(&call).map(|i| i.as_str().to_owned());
        assert_eq!(id("properties.meeting.id"), Some("42".into()));
        for p in ["properties.meeting", "properties.meeting.tags", "properties.flag", "properties.nil"] {
            assert_eq!(id(p), None, "{p}");
        }
        // a key below a non-object, or missing
        assert_eq!(id("properties.list.0"), None);
        assert_eq!(id("properties.meeting.id.deeper"), None);
        assert_eq!(id("traits.session_id"), None);
    }

    #[test]
    fn the_seed_talk_session_started_names_its_session() {
        // analytics.track('Session started', { session_id: '12345678' });
        let props = obj(json!({"session_id": "12345678"}));
        let none = Map::new();
        let call = CallObjects { properties: &props, context: &none, traits: &none };
        assert_eq!(first_id(&defaults(), &call), Some(IdText::Str("12345678")));
    }
}
