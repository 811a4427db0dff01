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
