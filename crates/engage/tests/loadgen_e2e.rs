//! `engage loadgen` against `engage run`: every answer is what the specification requires,
//! deliberate bad requests (pingbacks and Segment calls) are all refused and kept, the
//! players' traffic shows up in the API and every webinar's attendees and engagements are
//! exactly what the plan sent; and the same seed plans the same requests.

mod support;

use engage_loadgen::{Call, Expect, PlanConfig, plan};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::time::Duration;
use support::{Engage, agent, engage_bin, eventually, get_json, now_ms};

/// Per webinar session: the attendees who joined and the engagements by type, from a plan.
fn expected_sessions(
    planned: &[engage_loadgen::Request],
) -> BTreeMap<String, (BTreeSet<String>, BTreeMap<String, u64>)> {
    let mut out: BTreeMap<String, (BTreeSet<String>, BTreeMap<String, u64>)> = BTreeMap::new();
    for r in planned.iter().filter(|r| r.expect == Expect::Accepted) {
        let Call::Segment { route, body } = &r.call else { continue };
        let v: Value = serde_json::from_str(body).expect("planned JSON");
        let calls = if *route == "/v1/batch" { v["batch"].as_array().expect("batch").clone() } else { vec![v] };
        for c in calls {
            let sid = c["properties"]["session_id"].as_str().expect("session id").to_owned();
            let user = c["userId"].as_str().or(c["anonymousId"].as_str()).expect("user").to_owned();
            let entry = out.entry(sid).or_default();
            match c["event"].as_str() {
                Some("User Joined") => {
                    entry.0.insert(user);
                }
                Some("User Engaged") => {
                    *entry.1.entry(c["properties"]["type"].as_str().expect("type").to_owned()).or_default() += 1;
                }
                _ => {}
            }
        }
    }
    out
}

#[test]
fn loadgen_traffic_is_accepted_and_its_bad_requests_are_refused_and_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engage = Engage::start(dir.path(), &["--commit-interval-ms", "200"]);
    let (seed, rate, secs, speed, bad) = (7u64, 400.0, 4u64, 60.0, 0.2);
    let start_ms = now_ms();
    let out = Command::new(engage_bin())
        .args(["loadgen", "--target", &engage.base, "--quiet", "--items", "5", "--webinars", "2"])
        .args(["--seed", &seed.to_string(), "--rate", &rate.to_string(), "--duration-seconds", &secs.to_string()])
        .args(["--speed", &speed.to_string(), "--bad-rate", &bad.to_string(), "--start-ms", &start_ms.to_string()])
        .env("ENGAGE_LOG", "warn")
        .output()
        .expect("run loadgen");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "loadgen failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("unexpected answers: 0"), "{stdout}");

    // The same seed and start plan the same requests: count what was sent independently.
    let cfg = PlanConfig {
        seed,
        rate,
        duration_ms: secs as i64 * 1000,
        items: 5,
        speed,
        bad_rate: bad,
        webinars: 2,
        ..PlanConfig::default()
    };
    let planned = plan(&cfg, start_ms);
    let bad_requests = planned.iter().filter(|r| matches!(r.expect, Expect::Rejected(_))).count();
    let bad_segment = planned.iter().filter(|r| matches!(r.expect, Expect::Rejected(_)) && r.query().is_none()).count();
    assert!(bad_requests > bad_segment && bad_segment > 0, "{bad_requests} bad, {bad_segment} of them Segment calls");
    let agent = agent();
    let kept = eventually(Duration::from_secs(15), || {
        let rows = get_json(&agent, &engage.url("/api/v1/rejected?limit=1000"));
        let n = rows["rejected"].as_array().map_or(0, Vec::len);
        (n == bad_requests).then_some(n)
    });
    assert!(kept.is_some(), "expected {bad_requests} kept rejections");

    let top = get_json(&agent, &engage.url("/api/v1/items?limit=5"));
    let items = top["items"].as_array().expect("items");
    assert!(!items.is_empty());
    let plays: u64 = items.iter().map(|i| i["plays"].as_u64().unwrap_or(0)).sum();
    let firstplays = planned
        .iter()
        .filter(|r| r.expect == Expect::Accepted && r.query().is_some_and(|q| q.contains("event=firstplay")))
        .count();
    assert!(plays > 0 && plays as usize <= firstplays, "{plays} plays from {firstplays} firstplays");

    // Every webinar: exactly the attendees who joined and the engagements sent (retries and
    // bad calls count for nothing).
    let sessions = expected_sessions(&planned);
    assert_eq!(sessions.len(), 2, "{:?}", sessions.keys());
    for (sid, (attendees, engagements)) in &sessions {
        assert!(attendees.len() > 3, "{sid}: {} attendees", attendees.len());
        let url = engage.url(&format!("/api/v1/sessions/{sid}/engagement"));
        let seen = eventually(Duration::from_secs(15), || {
            let (status, _, body) = support::get(&agent, &url, "engage-e2e");
            let e: Value = serde_json::from_slice(&body).ok()?;
            let got: BTreeMap<String, u64> = serde_json::from_value(e["engagements"].clone()).ok()?;
            (status == 200 && e["unique_attendees"] == attendees.len() as u64 && &got == engagements).then_some(())
        });
        assert!(
            seen.is_some(),
            "{sid}: expected {} attendees and {engagements:?}, got {}",
            attendees.len(),
            get_json(&agent, &url)
        );
    }
    engage.stop();
}

#[test]
fn the_same_seed_and_start_plan_the_same_requests() {
    let dry = |seed: &str| {
        let out = Command::new(engage_bin())
            .args(["loadgen", "--dry-run", "--duration-seconds", "5", "--rate", "100", "--start-ms", "1714564800000"])
            .args(["--seed", seed])
            .output()
            .expect("run loadgen --dry-run");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).expect("UTF-8")
    };
    let (a, b, other) = (dry("3"), dry("3"), dry("4"));
    assert_eq!(a, b, "same seed, same requests");
    assert_ne!(a, other, "another seed, other requests");
    let lines: Vec<Value> = a.lines().map(|l| serde_json::from_str(l).expect("JSON line")).collect();
    let routes: BTreeSet<&str> = lines.iter().filter_map(|l| l["route"].as_str()).collect();
    let segment = routes.contains("/v1/track") || routes.contains("/v1/batch");
    assert!(routes.contains("/ping/dot.gif") && segment, "{routes:?}");
}
