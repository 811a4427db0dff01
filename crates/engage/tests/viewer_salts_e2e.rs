//! `engage run` and its data directory: random viewer-key salts kept across restarts (one
//! viewer keeps one key on one day), an older version's long-lived secret deleted, and every
//! file and directory private (0600 / 0700) although the process was started under umask 022.

mod support;

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;
use support::{agent, engage_bin, eventually, get, get_json, now_ms, spawn_listening};

const ITEM: &str = "saltItem";
const UA: &str = "Acme/Player 1.0 salts-e2e";

/// A running `engage run`, killed if the test fails before stopping it.
struct Running(Option<Child>);

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `engage run` on `data_dir`, started by a shell whose umask is 022.
fn start(data_dir: &Path) -> (Running, String) {
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "umask 022 && exec \"$0\" \"$@\""])
        .arg(engage_bin())
        .args(["run", "--listen", "127.0.0.1:0", "--commit-interval-ms", "100", "--data-dir"])
        .arg(data_dir);
    let (child, base) = spawn_listening(cmd);
    (Running(Some(child)), base)
}

fn stop(mut running: Running) {
    let Some(mut child) = running.0.take() else { return };
    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().expect("kill -TERM").success());
    assert!(child.wait().expect("wait").success());
}

/// A new view of the item by the one viewer: `initialized`, then `firstplay`.
fn play(base: &str) {
    for event in ["initialized", "firstplay"] {
        let url = format!("{base}/ping/dot.gif?item={ITEM}&il=2&progress=0&event={event}&ts={}", now_ms());
        let (status, err, _) = get(&agent(), &url, UA);
        assert_eq!(status, 200, "{err:?}");
    }
}

/// Waits for `plays` plays and returns the item's unique viewers.
fn viewers_once_plays_are(base: &str, plays: u64) -> u64 {
    let url = format!("{base}/api/v1/items/{ITEM}/engagement");
    let found = eventually(Duration::from_secs(20), || {
        let e: Value = get_json(&agent(), &url);
        (e["plays"].as_u64() == Some(plays)).then(|| e["unique_viewers"].as_u64().unwrap_or(0))
    });
    found.unwrap_or_else(|| panic!("never {plays} plays")).0
}

/// Every entry under `dir` (itself included) with its permission bits.
fn modes(dir: &Path) -> BTreeMap<PathBuf, u32> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(path) = pending.pop() {
        let meta = std::fs::symlink_metadata(&path).expect("stat");
        if meta.is_dir() {
            pending.extend(std::fs::read_dir(&path).expect("list").map(|e| e.expect("entry").path()));
        }
        out.insert(path, meta.permissions().mode() & 0o777);
    }
    out
}

fn assert_private(dir: &Path) {
    for (path, mode) in modes(dir) {
        let want = if path.is_dir() { 0o700 } else { 0o600 };
        assert_eq!(mode, want, "{} is {mode:o}", path.display());
    }
}

fn salts(dir: &Path) -> BTreeMap<String, String> {
    std::fs::read_dir(dir.join("viewer-salts"))
        .expect("the salts directory")
        .map(|e| e.expect("entry"))
        .map(|e| (e.file_name().to_string_lossy().into_owned(), std::fs::read_to_string(e.path()).expect("salt")))
        .collect()
}

#[cfg(unix)]
#[test]
fn salts_are_random_private_and_kept_across_restarts() {
    use std::os::unix::fs::PermissionsExt;
    let root = tempfile::tempdir().expect("tempdir");
    let data = root.path().join("data");
    std::fs::create_dir(&data).expect("data dir");
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    // What an older version left: its long-lived secret, world-readable files.
    std::fs::write(data.join("viewer-secret"), "00112233445566778899aabbccddeeff").expect("old secret");
    std::fs::write(data.join("notes"), "left by someone").expect("a file");
    std::fs::set_permissions(data.join("notes"), std::fs::Permissions::from_mode(0o644)).expect("chmod");

    let (child, base) = start(&data);
    play(&base);
    assert_eq!(viewers_once_plays_are(&base, 1), 1);
    assert!(!data.join("viewer-secret").exists(), "the long-lived secret is deleted");
    let before = salts(&data);
    assert_eq!(before.len(), 4, "the horizon's days and tomorrow: {before:?}");
    assert!(data.join("engage.sqlite3-wal").exists() && data.join("bus.sqlite3-wal").exists());
    assert_private(&data);
    stop(child);
    assert_private(&data);

    // Restarted: the same salts, so the same viewer is the same viewer today.
    let (child, base) = start(&data);
    assert_eq!(salts(&data), before, "salts are kept across restarts");
    play(&base);
    assert_eq!(viewers_once_plays_are(&base, 2), 1, "one viewer before and after the restart");
    stop(child);
    assert_private(&data);

    // Another data directory draws other salts.
    let other = root.path().join("other");
    let (child, _) = start(&other);
    let theirs = salts(&other);
    drop(child);
    let today = before.keys().nth(2).expect("today");
    assert_ne!(theirs.get(today), before.get(today), "salts are random, not derived");
    assert_private(&other);
}
