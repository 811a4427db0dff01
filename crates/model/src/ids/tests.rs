use super::*;

/// Identifiers and whether they are valid items (and view ids): the table every path is
/// tested with (pingbacks, Segment calls, log lines, the API).
pub(crate) const ITEM_TABLE: &[(&str, bool)] = &[
    ("video-1", true),
    ("a", true),
    ("Cat_2024.mp4", true),
    ("urn:video:42", true),
    ("~user@host", true),
    ("<script>alert(1)</script>", false),
    ("\"><img src=x onerror=alert(1)>", false),
    ("", false),
    (" video-1", false),
    ("video 1", false),
    ("a/b", false),
    ("a?b", false),
    ("a%20b", false),
    ("vidéo", false),
    ("line\nbreak", false),
];

#[test]
fn tokens_follow_the_table() {
    for (value, valid) in ITEM_TABLE {
        assert_eq!(check(IdKind::Item, value).is_ok(), *valid, "item {value:?}");
        assert_eq!(check(IdKind::ViewId, value).is_ok(), *valid, "view id {value:?}");
    }
    let long = "a".repeat(128);
    assert_eq!(check(IdKind::Item, &long), Ok(long.as_str()));
    let too_long = "a".repeat(129);
    assert_eq!(check(IdKind::Item, &too_long).unwrap_err().problem, Problem::TooLong { len: 129 });
}

#[test]
fn each_kind_maps_to_its_reason() {
    let bad = "<b>";
    assert_eq!(check(IdKind::Item, bad).unwrap_err().reason(), RejectReason::InvalidItem);
    assert_eq!(check(IdKind::ViewId, bad).unwrap_err().reason(), RejectReason::InvalidViewId);
    assert_eq!(check(IdKind::Stream, bad).unwrap_err().reason(), RejectReason::InvalidField);
    assert_eq!(check(IdKind::PageName, "").unwrap_err().reason(), RejectReason::InvalidField);
    // The detail names the rule, never the value.
    let e = check(IdKind::Item, "<script>").unwrap_err();
    assert!(e.detail().contains("ASCII letters") && !e.detail().contains("script"), "{}", e.detail());
}

#[test]
fn streams_and_renditions_are_path_segments() {
    assert!(is_valid(IdKind::Stream, "live-news_1.x"));
    assert!(!is_valid(IdKind::Stream, "live:news"));
    assert!(!is_valid(IdKind::Stream, "a/b"));
    assert!(is_valid(IdKind::Rendition, "1080p"));
    assert!(!is_valid(IdKind::Rendition, &"r".repeat(65)));
}

#[test]
fn labels_are_trimmed_and_keep_any_language() {
    assert_eq!(check(IdKind::PageName, "  Preise & Über uns "), Ok("Preise & Über uns"));
    assert_eq!(check(IdKind::EventType, "reaction 👍"), Ok("reaction 👍"));
    assert!(!is_valid(IdKind::PageName, " Home"), "valid only once trimmed");
    for hidden in ["a\u{202E}b", "a\u{200B}", "a\tb", "a\u{0}b", "\u{FEFF}x"] {
        assert!(check(IdKind::PageName, hidden).is_err(), "{hidden:?}");
    }
    assert!(check(IdKind::PageName, "   ").is_err());
    assert!(check(IdKind::PageName, &"é".repeat(128)).is_ok(), "characters, not bytes");
    assert!(check(IdKind::PageName, &"é".repeat(129)).is_err());
    assert!(check(IdKind::EventType, &"x".repeat(65)).is_err());
}

#[test]
fn session_ids_are_exact_labels() {
    assert_eq!(check(IdKind::Session, "webinar 42 – Q&A"), Ok("webinar 42 – Q&A"));
    assert!(is_valid(IdKind::Session, " padded "), "not trimmed: matched as sent");
    assert!(!is_valid(IdKind::Session, "a\nb"));
    assert!(!is_valid(IdKind::Session, ""));
    assert!(is_valid(IdKind::Session, &"s".repeat(256)) && !is_valid(IdKind::Session, &"s".repeat(257)));
}

#[test]
fn app_keys_are_normalised_never_refused() {
    assert_eq!(normalize_app("Acme/Player"), "Acme/Player");
    assert_eq!(normalize_app(" \u{202E}Evil\u{0}/App "), "Evil/App");
    assert_eq!(normalize_app("\u{200B}"), "unknown");
    let long = normalize_app(&"x".repeat(1000));
    assert_eq!(long.chars().count(), 64);
    for raw in ["web/Chrome", &"ü".repeat(100), "a \u{7}b", "  "] {
        let key = normalize_app(raw);
        assert!(is_valid(IdKind::App, &key), "{raw:?} → {key:?}");
    }
}

mod props {
    use super::super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn check_never_panics_and_accepts_only_what_it_returns(s in "\\PC{0,200}|[ -~]{0,200}") {
            for kind in IdKind::ALL {
                if let Ok(v) = check(kind, &s) {
                    prop_assert!(is_valid(kind, v), "{kind}: {v:?}");
                }
            }
        }

        #[test]
        fn normalised_apps_always_pass(s in "\\PC{0,200}|[\\x00-\\x7f]{0,200}") {
            prop_assert!(is_valid(IdKind::App, &normalize_app(&s)));
        }
    }
}

/// The verdict of each path on one value as an item: `Ok(())` or the reason.
mod paths {
    use super::ITEM_TABLE;
    use crate::cdnlog::{Format, LineReader, Parsed};
    use crate::pingback::parse_query;
    use crate::reject::RejectReason;
    use crate::segment::{CallType, parse_message};
    use serde_json::json;

    fn encoded(v: &str) -> String {
        form_urlencoded::byte_serialize(v.as_bytes()).collect()
    }

    fn pingback(item: &str, vid: &str) -> Result<(), RejectReason> {
        let q = format!("item={}&vid={}&ts=1&progress=0&event=initialized&il=2", encoded(item), encoded(vid));
        parse_query(&q).map(|_| ()).map_err(|e| e.reason)
    }

    fn log_line(item: &str, vid: &str) -> Result<(), RejectReason> {
        let q = format!("item={}&vid={}&ts=1&progress=0&event=initialized&il=2", encoded(item), encoded(vid));
        let line = format!(
            r#"203.0.113.9 - - [21/Nov/2026:14:00:00 +0000] "GET /ping/dot.gif?{q} HTTP/1.1" 200 43 "-" "Acme/Player 1""#
        );
        match LineReader::new(Format::Ncsa).read(line.as_bytes()) {
            Ok(Parsed::Pingback(r)) => parse_query(&r.query).map(|_| ()).map_err(|e| e.reason),
            other => panic!("the line is a pingback: {other:?}"),
        }
    }

    fn segment(item: &str, session: &str) -> Result<(), RejectReason> {
        let started = json!({"type": "track", "userId": "u", "event": "Video Playback Started",
            "properties": {"content_asset_id": item, "session_id": session, "position": 0, "total_length": 60}});
        let playing = json!({"type": "track", "userId": "u", "event": "Video Content Playing",
            "properties": {"asset_id": item, "session_id": session, "position": 6, "total_length": 60}});
        let listed = json!({"type": "track", "userId": "u", "event": "Video Playback Started",
            "properties": {"content_asset_ids": ["ok-1", item], "session_id": session}});
        let verdicts: Vec<_> = [started, playing, listed]
            .into_iter()
            .map(|call| parse_message(call, Some(CallType::Track)).map(|_| ()).map_err(|e| e.reason))
            .collect();
        assert!(verdicts.windows(2).all(|w| w[0] == w[1]), "{item:?}: {verdicts:?}");
        verdicts[0]
    }

    #[test]
    fn every_path_gives_the_same_verdict_on_items_and_view_ids() {
        // An empty Segment field is an absent one (the call is kept, not bridged): the
        // empty value is the table's only row every path cannot share.
        for (value, valid) in ITEM_TABLE.iter().filter(|(v, _)| !v.is_empty()) {
            let want_item = if *valid { Ok(()) } else { Err(RejectReason::InvalidItem) };
            assert_eq!(pingback(value, "v-1"), want_item, "pingback item {value:?}");
            assert_eq!(log_line(value, "v-1"), want_item, "log line item {value:?}");
            assert_eq!(segment(value, "v-1"), want_item, "Segment asset {value:?}");
            let want_view = if *valid { Ok(()) } else { Err(RejectReason::InvalidViewId) };
            assert_eq!(pingback("item-1", value), want_view, "pingback vid {value:?}");
            assert_eq!(log_line("item-1", value), want_view, "log line vid {value:?}");
            assert_eq!(segment("item-1", value), want_view, "Segment session {value:?}");
        }
    }

    #[test]
    fn page_names_and_event_types_are_labels() {
        let page = |name: &str| parse_message(json!({"type": "page", "userId": "u", "name": name}), None);
        assert_eq!(page("  Pricing ").expect("valid").name.as_deref(), Some("Pricing"), "trimmed");
        let e = page("a\u{202E}b").expect_err("hidden characters");
        assert_eq!((e.reason, e.field.as_str()), (RejectReason::InvalidField, "name"));
        assert_eq!(page(&"p".repeat(129)).expect_err("too long").reason, RejectReason::InvalidField);
        let engaged = |kind: &str| {
            parse_message(
                json!({"type": "track", "userId": "u", "event": "User Engaged",
                "properties": {"session_id": "s", "type": kind}}),
                None,
            )
        };
        assert_eq!(engaged(" poll ").expect("valid").properties["type"], "poll");
        let e = engaged(&"x".repeat(65)).expect_err("too long");
        assert_eq!((e.reason, e.field.as_str()), (RejectReason::InvalidField, "properties.type"));
        let joined = |sid: &str| {
            parse_message(
                json!({"type": "track", "userId": "u", "event": "User Joined",
                "properties": {"session_id": sid}}),
                None,
            )
        };
        assert!(joined("webinar 42").is_ok());
        let e = joined("a\u{7}b").expect_err("a control character");
        assert_eq!((e.reason, e.field.as_str()), (RejectReason::InvalidField, "properties.session_id"));
        // Other track events keep any `type` property: it is no dimension of theirs.
        let other = json!({"type": "track", "userId": "u", "event": "Clicked", "properties": {"type": "x".repeat(65)}});
        assert!(parse_message(other, None).is_ok());
    }
}
