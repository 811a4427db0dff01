use super::*;
use proptest::prelude::*;

fn ok(q: &str) -> Pingback {
    parse_query(q).unwrap_or_else(|e| panic!("{q}: {e}"))
}

fn err(q: &str) -> RejectReason {
    match parse_query(q) {
        Ok(p) => panic!("{q} was accepted: {p:?}"),
        Err(e) => e.reason,
    }
}

#[test]
fn spec_examples_parse() {
    let p = ok("item=X&ts=1397044124557&progress=0&event=initialized");
    assert_eq!(
        (p.item.as_str(), p.ts_ms, p.progress, p.event, p.level),
        ("X", 1397044124557, 0, EventKind::Initialized, Level::One)
    );
    let p = ok("item=X&ts=1&il=2&progress=0&event=firstplay");
    assert_eq!((p.event, p.level), (EventKind::Firstplay, Level::Two));
    for (q, ev, pr) in [
        ("item=X&ts=1&il=2&progress=30&event=update", EventKind::Update, 30),
        ("item=X&ts=1&il=2&progress=42&event=pause", EventKind::Pause, 42),
        ("item=X&ts=1&il=2&progress=42&event=resume", EventKind::Resume, 42),
        ("item=X&ts=1&il=2&progress=42&event=seekfrom", EventKind::Seekfrom, 42),
        ("item=X&ts=1&il=2&progress=74&event=seekto", EventKind::Seekto, 74),
        ("item=X&ts=1&il=2&progress=100&event=stop", EventKind::Stop, 100),
        ("item=X&ts=1&il=2&progress=25&event=play", EventKind::Play, 25),
    ] {
        let p = ok(q);
        assert_eq!((p.event, p.progress, p.is_ignored()), (ev, pr, false), "{q}");
    }
}

#[test]
fn ua_and_vid_are_optional_extensions() {
    let p = ok("item=X&ts=1&progress=0&event=firstplay&ua=CompanyName/AppName%202.3&vid=v-1");
    assert_eq!(p.ua.as_deref(), Some("CompanyName/AppName 2.3"));
    assert_eq!(p.view_id.as_deref(), Some("v-1"));
    assert_eq!(ok("item=X&ts=1&progress=0&event=firstplay&ua=").ua, None);
}

#[test]
fn level1_parses_only_level1_events() {
    let p = ok("item=X&ts=1&progress=40&event=pause");
    assert!(p.is_ignored());
    let p = ok("item=X&ts=1&il=1&progress=35&event=update");
    assert!(p.is_ignored(), "level-1 filtering happens before level-2 validation");
    assert!(!ok("item=X&ts=1&il=1&progress=0&event=firstplay").is_ignored());
}

#[test]
fn bad_input_has_a_reason() {
    use RejectReason as R;
    assert_eq!(err("ts=1&progress=0&event=play"), R::MissingItem);
    assert_eq!(err("item=&ts=1&progress=0&event=play"), R::InvalidItem);
    assert_eq!(err(&format!("item={}&ts=1&progress=0&event=firstplay", "a".repeat(129))), R::InvalidItem);
    assert_eq!(err("item=a%20b&ts=1&progress=0&event=firstplay"), R::InvalidItem);
    assert_eq!(err("item=X&progress=0&event=firstplay"), R::MissingTs);
    assert_eq!(err("item=X&ts=-5&progress=0&event=firstplay"), R::InvalidTs);
    assert_eq!(err("item=X&ts=99999999999999999999999&progress=0&event=firstplay"), R::InvalidTs);
    assert_eq!(err("item=X&ts=1&event=firstplay"), R::MissingProgress);
    assert_eq!(err("item=X&ts=1&progress=4.5&event=firstplay"), R::InvalidProgress);
    assert_eq!(err("item=X&ts=1&il=2&progress=101&event=stop"), R::InvalidProgress);
    assert_eq!(err("item=X&ts=1&progress=0"), R::MissingEvent);
    assert_eq!(err("item=X&ts=1&progress=0&event=explode"), R::UnknownEvent);
    assert_eq!(err("item=X&ts=1&progress=0&event=FirstPlay"), R::UnknownEvent);
    assert_eq!(err("item=X&ts=1&il=0&progress=0&event=firstplay"), R::InvalidLevel);
    assert_eq!(err("item=X&ts=1&il=00&progress=0&event=firstplay"), R::InvalidLevel);
    assert_eq!(err("item=X&ts=1&il=&progress=0&event=firstplay"), R::InvalidLevel);
    assert_eq!(err("item=X&ts=1&il=two&progress=0&event=firstplay"), R::InvalidLevel);
    assert_eq!(err("item=X&ts=1&il=-2&progress=0&event=firstplay"), R::InvalidLevel);
    assert_eq!(err("item=X&ts=1&il=2.5&progress=0&event=firstplay"), R::InvalidLevel);
    assert_eq!(err("item=X&ts=1&progress=10&event=firstplay"), R::Level1ProgressNotZero);
    assert_eq!(err("item=X&ts=1&il=2&progress=35&event=update"), R::InvalidUpdateProgress);
    assert_eq!(err("item=X&ts=1&il=2&progress=0&event=update"), R::InvalidUpdateProgress);
    assert_eq!(err("item=X&ts=1&il=2&progress=100&event=update"), R::InvalidUpdateProgress);
    assert_eq!(err("item=X&ts=1&progress=0&event=firstplay&event=stop"), R::DuplicateParameter);
    assert_eq!(err("item=X&ts=1&progress=0&event=firstplay&vid=a/b"), R::InvalidViewId);
    assert_eq!(err("item=X&ts=1&progress=0&event=firstplay&ua=a%0Ab"), R::InvalidUserAgent);
    assert_eq!(err(&format!("item=X&ts=1&progress=0&event=firstplay&pad={}", "x".repeat(5000))), R::QueryTooLong);
}

#[test]
fn level_2_or_higher_is_level_2() {
    for il in ["2", "3", "02", "10", "99999999999999999999999"] {
        let p = ok(&format!("item=X&ts=1&il={il}&progress=40&event=pause"));
        assert_eq!((p.level, p.level.as_u32(), p.is_ignored()), (Level::Two, 2, false), "il={il}");
    }
    assert_eq!(ok("item=X&ts=1&il=01&progress=0&event=firstplay").level, Level::One);
    // Level-2 rules apply to a level-3 player as to a level-2 one.
    assert_eq!(err("item=X&ts=1&il=3&progress=35&event=update"), RejectReason::InvalidUpdateProgress);
}

#[test]
fn messages_are_one_line() {
    let e = parse_query("item=X&ts=1&progress=0&event=%0A%0Aevil").unwrap_err();
    assert!(!e.detail.contains('\n'), "{}", e.detail);
}

#[test]
fn every_valid_level2_update_is_accepted() {
    for p in (10..=90).step_by(10) {
        ok(&format!("item=X&ts=1&il=2&progress={p}&event=update"));
    }
}

proptest! {
    #[test]
    fn never_panics(q in ".{0,300}") {
        let _ = parse_query(&q);
    }

    #[test]
    fn never_panics_on_near_valid(
        item in "[a-zA-Z0-9%&=]{0,20}", ts in "[0-9a-z-]{0,22}", progress in "[0-9.%]{0,4}",
        event in "(initialized|firstplay|play|update|seekfrom|seekto|stop|pause|resume|x)", il in "[0-9]{0,2}"
    ) {
        let q = format!("item={item}&ts={ts}&progress={progress}&event={event}&il={il}");
        if let Ok(p) = parse_query(&q) {
            prop_assert!(p.progress <= 100);
            prop_assert!(!p.item.is_empty() && p.item.len() <= MAX_ITEM_LEN);
        }
    }
}
