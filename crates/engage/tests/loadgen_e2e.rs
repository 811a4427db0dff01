//! `engage loadgen` against `engage run`: every answer is what the specification requires,
//! deliberate bad requests are all refused and kept, and the traffic shows up in the API.

mod support;

use engage_loadgen::{Expect, PlanConfig, plan};
use std::process::Command;
use std::time::Duration;
use support::{Engage, agent, engage_bin, eventually, get_json};

#[test]
fn loadgen_traffic_is_accepted_and_its_bad_requests_are_refused_and_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engage = Engage::start(dir.path(), &["--commit-interval-ms", "200"]);
    let (seed, rate, secs, speed, bad) = (7u64, 400.0, 3u64, 60.0, 0.2);
    let out = Command::new(engage_bin())
        .args(["loadgen", "--target", &engage.base, "--quiet", "--items", "5"])
        .args(["--seed", &seed.to_string(), "--rate", &rate.to_string(), "--duration-seconds", &secs.to_string()])
        .args(["--speed", &speed.to_string(), "--bad-rate", &bad.to_string()])
        .env("ENGAGE_LOG", "warn")
        .output()
        .expect("run loadgen");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "loadgen failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("unexpected answers: 0"), "{stdout}");

    // The same seed plans the same requests: count the deliberate bad ones independently.
    let cfg = PlanConfig {
        seed,
        rate,
        duration_ms: secs as i64 * 1000,
        items: 5,
        speed,
        bad_rate: bad,
        ..PlanConfig::default()
    };
    let planned = plan(&cfg, 0);
    let bad_requests = planned.iter().filter(|r| matches!(r.expect, Expect::Rejected(_))).count();
    assert!(bad_requests > 0);
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
    let firstplays =
        planned.iter().filter(|r| r.expect == Expect::Accepted && r.query.contains("event=firstplay")).count();
    assert!(plays > 0 && plays as usize <= firstplays, "{plays} plays from {firstplays} firstplays");
    engage.stop();
}
