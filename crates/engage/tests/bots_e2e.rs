//! Bots end to end: a Googlebot view sent over HTTP is not counted as a person's. `engage
//! run` takes a full view from a crawler and one from a browser; the engagement answer
//! counts one impression and one play for people, and the crawler only in `bot_impressions`
//! and `bot_plays`, in total and in the timeline's windows.

mod support;

use serde_json::Value;
use std::time::Duration;
use support::{Engage, agent, eventually, get, get_json, now_ms};

const ITEM: &str = "botsItem";
const GOOGLEBOT: &str = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";
const BROWSER: &str =
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";

/// A complete level-2 view: load, play, checkpoints, a pause, a seek, the end.
fn full_view() -> Vec<String> {
    let mut events = vec![("initialized", 0), ("firstplay", 0), ("play", 0), ("update", 10), ("pause", 15)];
    events.extend([("resume", 15), ("seekfrom", 20), ("seekto", 50), ("update", 60), ("stop", 100)]);
    events.iter().map(|(e, p)| format!("item={ITEM}&il=2&progress={p}&event={e}")).collect()
}

fn send_view(engage: &Engage, user_agent: &str) {
    let agent = agent();
    let mut ts = now_ms();
    for q in full_view() {
        ts += 5;
        let (status, err, _) = get(&agent, &engage.url(&format!("/ping/dot.gif?{q}&ts={ts}")), user_agent);
        assert_eq!(status, 200, "{q}: {err:?}");
    }
}

fn sum_over_timeline(answer: &Value, field: &str) -> u64 {
    answer["timeline"].as_array().expect("timeline").iter().map(|w| w[field].as_u64().unwrap_or(0)).sum()
}

#[test]
fn a_googlebot_view_is_not_counted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engage = Engage::start(dir.path(), &["--commit-interval-ms", "200"]);
    send_view(&engage, GOOGLEBOT);
    send_view(&engage, BROWSER);

    let url = engage.url(&format!("/api/v1/items/{ITEM}/engagement"));
    let fields = ["impressions", "plays", "unique_viewers", "completions", "bot_impressions", "bot_plays"];
    let want = serde_json::json!([1, 1, 1, 1, 1, 1]);
    let project = |a: &Value| Value::Array(fields.iter().map(|f| a[*f].clone()).collect());
    let found = eventually(Duration::from_secs(15), || {
        let answer = get_json(&agent(), &url);
        (project(&answer) == want).then_some(answer)
    });
    let Some((answer, _)) = found else {
        panic!("never counted apart: {fields:?} = {}", project(&get_json(&agent(), &url)))
    };
    // The person's view alone, in every human field.
    assert_eq!((answer["engaged_plays"].clone(), answer["pauses"].clone()), (1.into(), 1.into()));
    assert_eq!((answer["seek_from"][20].clone(), answer["seek_to"][50].clone()), (1.into(), 1.into()));
    assert_eq!(answer["exits"][100], 1);
    assert_eq!(answer["retention"][5], 1, "one view watched 5%, not two");
    assert_eq!(answer["play_rate"], 1.0);
    // Per window: the timeline holds the bot's counts, apart from the people's.
    for (field, n) in [("plays", 1), ("impressions", 1), ("bot_impressions", 1), ("bot_plays", 1)] {
        assert_eq!(sum_over_timeline(&answer, field), n, "{field} over the timeline");
    }
    assert_eq!(metric(&engage, "engage_consumer_bot_events_total"), 10.0, "the crawler's ten pingbacks");
    let bot_window = answer["timeline"].as_array().expect("timeline").iter().find(|w| w["bot_plays"] == 1);
    assert!(bot_window.is_some_and(|w| w["window_start"].is_i64()), "{}", answer["timeline"]);
    engage.stop();
}

/// The value of an unlabelled Prometheus series (0 while it was never emitted).
fn metric(engage: &Engage, name: &str) -> f64 {
    let (_, _, body) = get(&agent(), &engage.url("/metrics"), "e2e");
    let text = String::from_utf8_lossy(&body).into_owned();
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0.0)
}

#[test]
fn a_viewer_with_more_than_fifty_views_open_is_flagged_and_still_counted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engage = Engage::start(dir.path(), &["--commit-interval-ms", "200"]);
    let agent = agent();
    let mut ts = now_ms();
    // One device (one address, one agent) starts 51 videos and leaves them all playing.
    for n in 0..51 {
        for q in
            [format!("item=crowd{n}&progress=0&event=initialized"), format!("item=crowd{n}&progress=0&event=firstplay")]
        {
            ts += 3;
            let (status, err, _) = get(&agent, &engage.url(&format!("/ping/dot.gif?{q}&ts={ts}")), BROWSER);
            assert_eq!(status, 200, "{q}: {err:?}");
        }
    }
    let flagged = eventually(Duration::from_secs(15), || {
        (metric(&engage, "engage_consumer_implausible_viewers_total") >= 1.0).then_some(())
    });
    assert!(flagged.is_some(), "never flagged");
    assert_eq!(metric(&engage, "engage_consumer_implausible_viewers_total"), 1.0, "once per episode");
    // Not excluded: its plays count.
    let last = get_json(&agent, &engage.url("/api/v1/items/crowd50/engagement"));
    assert_eq!((last["plays"].clone(), last["unique_viewers"].clone()), (1.into(), 1.into()));
    engage.stop();
}
