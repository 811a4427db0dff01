//! The dashboard in a real browser: headless Chromium (Debian `chromium`) loads `/` from a
//! started `engage run`, lets the page's own script refresh the view (virtual time runs its
//! timers), and the charts' plotted values (`data-values`) are compared with the API's
//! answers after a seeded `engage loadgen` run. Screenshots go to
//! `target/test-output/dashboard.png` (an item) and `dashboard-webinar.png` (a session).
//!
//! With API tokens configured, the browser sees the sign-in form and no data
//! (`dashboard-sign-in.png`); signing in and reusing the cookie is tested without a browser
//! in `read_auth_e2e.rs` (submitting a form here would need the DevTools protocol).
//!
//! Without Chromium the tests say so loudly and skip, unless `ENGAGE_REQUIRE_BROWSER=1`
//! (set by `make test`, which installs it first with `tests/browser/install.sh`).

mod support;

use engage_dashboard::html::{attribute_after, count, unescape};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::{Engage, agent, engage_bin, eventually, get_json, now_ms};

/// Headless Chromium with a throw-away profile.
struct Browser {
    bin: PathBuf,
    profile: tempfile::TempDir,
}

impl Browser {
    /// The browser, or None (after saying why) when the test may skip.
    fn find() -> Option<Browser> {
        let candidates = std::env::var_os("CHROMIUM")
            .map(PathBuf::from)
            .into_iter()
            .chain(["chromium", "chromium-browser", "google-chrome"].map(PathBuf::from));
        for bin in candidates {
            let works = Command::new(&bin).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status();
            if works.is_ok_and(|s| s.success()) {
                return Some(Browser { bin, profile: tempfile::tempdir().expect("profile dir") });
            }
        }
        assert!(
            std::env::var("ENGAGE_REQUIRE_BROWSER").as_deref() != Ok("1"),
            "ENGAGE_REQUIRE_BROWSER=1 but no chromium found: run tests/browser/install.sh"
        );
        eprintln!("\n*** SKIPPED: no headless Chromium (install it with tests/browser/install.sh) ***\n");
        None
    }

    /// Runs Chromium on `url` with `extra` flags; its standard output.
    fn run(&self, url: &str, extra: &[String]) -> String {
        let mut child = Command::new(&self.bin)
            .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"])
            .args(["--no-default-browser-check", "--hide-scrollbars", "--run-all-compositor-stages-before-draw"])
            .arg(format!("--user-data-dir={}", self.profile.path().display()))
            .args(extra)
            .arg(url)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromium");
        let start = Instant::now();
        while child.try_wait().expect("wait chromium").is_none() {
            if start.elapsed() > Duration::from_secs(120) {
                let _ = child.kill();
                panic!("chromium did not finish within 120 s on {url}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let out = child.wait_with_output().expect("chromium output");
        assert!(out.status.success(), "chromium failed on {url}: {}", out.status);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The DOM after `budget_ms` of virtual time (the page's timers run: it refreshes).
    fn dom(&self, url: &str, budget_ms: u32) -> String {
        self.run(url, &[format!("--virtual-time-budget={budget_ms}"), "--dump-dom".into()])
    }

    fn screenshot(&self, url: &str, path: &Path, (w, h): (u32, u32), budget_ms: u32) {
        let _ = std::fs::remove_file(path);
        self.run(
            url,
            &[
                format!("--virtual-time-budget={budget_ms}"),
                format!("--window-size={w},{h}"),
                format!("--screenshot={}", path.display()),
            ],
        );
        let png = std::fs::read(path).unwrap_or_else(|e| panic!("no screenshot at {}: {e}", path.display()));
        assert!(png.starts_with(b"\x89PNG") && png.len() > 20_000, "{} is not a real screenshot", path.display());
    }
}

/// `target/test-output`.
fn output_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).parent().expect("target dir").join("test-output");
    std::fs::create_dir_all(&dir).expect("create target/test-output");
    dir
}

/// The JSON in `data-values` of the chart `key`.
fn plotted(dom: &str, key: &str) -> Value {
    let raw = attribute_after(dom, &format!(r#"data-chart="{key}""#), "data-values")
        .unwrap_or_else(|| panic!("no chart {key} in the page"));
    serde_json::from_str(&raw).expect("data-values is JSON")
}

/// Values of attribute `name` of every `<tr>` with `marker` (e.g. `data-item`), in order.
fn rows(dom: &str, marker: &str, name: &str) -> Vec<String> {
    dom.match_indices(&format!("<tr {marker}=\""))
        .filter_map(|(i, _)| attribute_after(&dom[i..], &format!("{marker}=\""), name))
        .collect()
}

fn refreshes(dom: &str) -> u32 {
    attribute_after(dom, "<body ", "data-refreshes").and_then(|v| v.parse().ok()).unwrap_or(0)
}

#[test]
fn a_fresh_dashboard_explains_the_first_pingback_and_its_snippet_works() {
    let Some(browser) = Browser::find() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let engage = Engage::start(dir.path(), &["--commit-interval-ms", "200"]);
    let dom = browser.dom(&engage.url("/"), 1_000);
    assert!(dom.contains(r#"data-empty="first-run""#), "{dom}");
    let start = dom.find(r#"<code id="first-pingback">"#).expect("the snippet") + r#"<code id="first-pingback">"#.len();
    let script = unescape(&dom[start..start + dom[start..].find("</code>").expect("end of snippet")]);
    assert!(script.contains(&engage.base["http://".len()..]), "the snippet targets this server: {script}");
    let out = Command::new("bash").arg("-c").arg(&script).output().expect("run the snippet with bash");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "200\n200\n", "{script}");
    let agent = agent();
    let seen = eventually(Duration::from_secs(10), || {
        let e = get_json(&agent, &engage.url("/api/v1/items/s1iTEmiD251a/engagement"));
        (e["impressions"] == 1 && e["plays"] == 1).then_some(())
    });
    assert!(seen.is_some(), "the pasted pingbacks were counted");
    let dom = browser.dom(&engage.url("/"), 1_000);
    assert!(dom.contains(r#"<tr data-item="s1iTEmiD251a" data-plays="1""#), "the item is listed");
    engage.stop();
}

#[test]
fn the_dashboard_plots_what_the_api_says_after_a_seeded_loadgen_run() {
    let Some(browser) = Browser::find() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    // One-second windows: the 5-second run makes timelines of several points.
    let engage = Engage::start(dir.path(), &["--commit-interval-ms", "200", "--window-seconds", "1"]);
    let start_ms = now_ms();
    let out = Command::new(engage_bin())
        .args(["loadgen", "--target", &engage.base, "--quiet", "--seed", "11", "--items", "5", "--rate", "300"])
        .args(["--duration-seconds", "5", "--speed", "60", "--webinars", "2", "--attendees", "30"])
        .args(["--start-ms", &start_ms.to_string()])
        .env("ENGAGE_LOG", "warn")
        .output()
        .expect("run loadgen");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && stdout.contains("unexpected answers: 0"), "{stdout}");

    // Wait until the API no longer changes: everything sent has been counted.
    let agent = agent();
    let session = engage_loadgen::segment::session_id(start_ms, 0);
    let snapshot = || {
        let top = get_json(&agent, &engage.url("/api/v1/items?limit=25"));
        let item = top["items"][0]["item"].as_str().unwrap_or_default().to_owned();
        let engagement = get_json(&agent, &engage.url(&format!("/api/v1/items/{item}/engagement")));
        let apps = get_json(&agent, &engage.url(&format!("/api/v1/items/{item}/apps")));
        let (_, _, body) = support::get(&agent, &engage.url(&format!("/api/v1/sessions/{session}/engagement")), "e2e");
        json!({"top": top, "item": item, "engagement": engagement, "apps": apps,
               "session": serde_json::from_slice::<Value>(&body).unwrap_or(Value::Null)})
    };
    let mut last = snapshot();
    let stable = eventually(Duration::from_secs(30), || {
        std::thread::sleep(Duration::from_millis(1_000));
        let now = snapshot();
        let same = now == last && now["engagement"]["plays"].as_u64() > Some(0) && now["session"].is_object();
        last = now;
        same.then(|| last.clone())
    });
    let (api, _) = stable.expect("the API settles after the run");
    let item = api["item"].as_str().expect("top item");
    let e = &api["engagement"];

    // The page, after the script has swapped in a freshly fetched view at least once.
    let dom = browser.dom(&engage.url("/?range=all"), 12_000);
    assert!(refreshes(&dom) >= 1, "the live refresh ran (data-refreshes={})", refreshes(&dom));
    assert!(dom.contains(&format!(r#"<section class="card detail" data-item="{item}""#)), "the top item is shown");
    assert_eq!(plotted(&dom, "retention"), e["retention"], "retention curve = API retention");
    assert_eq!(plotted(&dom, "exits"), e["exits"]);
    let seeks = plotted(&dom, "seeks");
    assert_eq!((&seeks["seek_from"], &seeks["seek_to"]), (&e["seek_from"], &e["seek_to"]));
    assert!(e["retention"][0].as_u64() > Some(0), "level-2 plays were plotted");
    // Every API window is plotted with its numbers; the plotted windows in between are zeros.
    let timeline = plotted(&dom, "timeline");
    let starts: Vec<i64> = serde_json::from_value(timeline["window_start"].clone()).expect("starts");
    for (i, start) in starts.iter().enumerate() {
        let api_point = e["timeline"].as_array().expect("timeline").iter().find(|p| p["window_start"] == *start);
        let (plays, active) =
            api_point.map_or((json!(0), json!(0)), |p| (p["plays"].clone(), p["active_views"].clone()));
        assert_eq!((&timeline["plays"][i], &timeline["active_views"][i]), (&plays, &active), "window {start}");
    }
    assert!(starts.len() >= e["timeline"].as_array().map_or(0, Vec::len));
    // The lists and tables are the API's.
    let api_items: Vec<String> =
        api["top"]["items"].as_array().expect("items").iter().map(|i| i["item"].as_str().unwrap().to_owned()).collect();
    assert_eq!(rows(&dom, "data-item", "data-item"), api_items);
    let api_plays: Vec<String> =
        api["top"]["items"].as_array().unwrap().iter().map(|i| i["plays"].to_string()).collect();
    assert_eq!(rows(&dom, "data-item", "data-plays"), api_plays);
    let api_apps: Vec<String> =
        api["apps"]["apps"].as_array().expect("apps").iter().map(|a| a["app"].as_str().unwrap().to_owned()).collect();
    assert_eq!(rows(&dom, "data-app", "data-app"), api_apps);
    let kpi = format!(r#"<dd data-kpi="plays">{}</dd>"#, count(e["plays"].as_u64().unwrap()));
    assert!(dom.contains(&kpi), "KPI {kpi}");
    assert!(rows(&dom, "data-session", "data-session").contains(&session), "the webinar is listed");

    // The webinar: attendees over time, engagement and stream time by type.
    let s = &api["session"];
    let url = engage.url(&format!("/?range=all&session={session}"));
    let dom = browser.dom(&url, 6_000);
    assert!(refreshes(&dom) >= 1);
    let attendees = plotted(&dom, "attendees");
    for p in s["timeline"].as_array().expect("session timeline") {
        let i = attendees["window_start"].as_array().unwrap().iter().position(|w| *w == p["window_start"]);
        let i = i.unwrap_or_else(|| panic!("window {} plotted", p["window_start"]));
        assert_eq!(attendees["attendees"][i], p["attendees"]);
        assert_eq!(attendees["peak_concurrent"][i], p["peak_concurrent"]);
    }
    assert_eq!(plotted(&dom, "engagements"), s["engagements"]);
    assert_eq!(plotted(&dom, "streams"), s["stream_seconds"]);
    assert!(s["unique_attendees"].as_u64() > Some(3) && s["engagements"].as_object().is_some_and(|m| !m.is_empty()));
    let kpi = format!(r#"<dd data-kpi="peak_concurrent">{}</dd>"#, count(s["peak_concurrent"].as_u64().unwrap()));
    assert!(dom.contains(&kpi), "KPI {kpi}");

    let out = output_dir();
    browser.screenshot(&engage.url("/?range=all"), &out.join("dashboard.png"), (1400, 1900), 6_000);
    browser.screenshot(&url, &out.join("dashboard-webinar.png"), (1400, 1300), 6_000);
    eprintln!("screenshots: {}", out.display());
    engage.stop();
}

#[test]
fn with_tokens_the_browser_sees_only_the_sign_in_form() {
    let Some(browser) = Browser::find() else { return };
    const TOKEN: &str = "browser-e2e-token-0001";
    let dir = tempfile::tempdir().expect("tempdir");
    let engage = Engage::start(dir.path(), &["--commit-interval-ms", "200", "--api-tokens", TOKEN]);
    let agent = agent();
    let ts = now_ms();
    for event in ["initialized", "firstplay"] {
        let url = engage.url(&format!("/ping/dot.gif?item=signInItem&ts={ts}&il=1&progress=0&event={event}"));
        assert_eq!(agent.get(&url).call().expect("pingback").status().as_u16(), 200);
    }
    let counted = eventually(Duration::from_secs(10), || {
        let mut r =
            agent.get(&engage.url("/api/v1/items")).header("Authorization", format!("Bearer {TOKEN}")).call().ok()?;
        r.body_mut().read_to_string().ok().filter(|b| b.contains("signInItem")).map(|_| ())
    });
    assert!(counted.is_some(), "there is data to hide");
    let dom = browser.dom(&engage.url("/?range=all"), 2_000);
    assert!(dom.contains(r#"action="/dashboard/sign-in""#) && dom.contains(r#"type="password""#), "{dom}");
    assert!(!dom.contains("signInItem") && !dom.contains("data-chart"), "no data before signing in");
    let out = output_dir();
    let png = out.join("dashboard-sign-in.png");
    let _ = std::fs::remove_file(&png);
    browser.run(&engage.url("/"), &["--window-size=900,600".into(), format!("--screenshot={}", png.display())]);
    assert!(std::fs::read(&png).is_ok_and(|p| p.starts_with(b"\x89PNG")), "a screenshot of the form");
    engage.stop();
}
