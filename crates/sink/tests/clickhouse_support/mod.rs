//! A ClickHouse for tests: `CLICKHOUSE_URL` when set (a real server), else the chDB HTTP
//! front of `tests/clickhouse/` started here, so `cargo test` works on a bare machine.
//!
//! The front's venv is made once by `tests/clickhouse/install.sh <target>/chdb-venv` (under
//! `flock`, since several test binaries may start at once). One front serves a whole test
//! binary ([`shared_url`]); a test that kills ClickHouse starts its own ([`Front::start`]).
//! Each test uses a database of its own ([`fresh_database`]).
//!
//! The front runs under a small `sh` guard that reads the test process's pipe and kills the
//! front when it closes: a test binary that exits (or dies) never leaves a front behind,
//! even from a `static` that Rust never drops.
//!
//! Included by path from other crates' tests (`#[path = ...] mod clickhouse_support;`).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The workspace root (this file is in `crates/sink/tests/clickhouse_support/`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("workspace root")
}

/// Cargo's target directory (`CARGO_TARGET_TMPDIR` is `<target>/tmp`).
fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).parent().expect("target dir").to_path_buf()
}

/// The venv's Python, installing the venv first if needed.
fn python() -> PathBuf {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON
        .get_or_init(|| {
            let venv = target_dir().join("chdb-venv");
            let lock = target_dir().join("chdb-venv.lock");
            let install = workspace_root().join("tests/clickhouse/install.sh");
            let status = Command::new("flock")
                .arg(&lock)
                .arg("bash")
                .arg(&install)
                .arg(&venv)
                .status()
                .expect("run flock tests/clickhouse/install.sh");
            assert!(status.success(), "tests/clickhouse/install.sh {} failed: {status}", venv.display());
            venv.join("bin/python")
        })
        .clone()
}

/// A running chDB front on its own data directory.
#[derive(Debug)]
pub struct Front {
    guard: Child,
    stdin: Option<ChildStdin>,
    pub url: String,
    pub data_dir: PathBuf,
    /// `host:port` it listens on (kept so a restart comes back at the same address).
    pub listen: String,
}

impl Front {
    /// Starts a front on a free loopback port with data under `data_dir`.
    pub fn start(data_dir: &Path) -> Front {
        Front::start_on(data_dir, "127.0.0.1:0")
    }

    /// Starts a front listening on `listen` (e.g. the address of a front killed before).
    pub fn start_on(data_dir: &Path, listen: &str) -> Front {
        Front::try_start_on(data_dir, listen, false).unwrap_or_else(|e| panic!("{e}"))
    }

    /// `remove_data`: the guard deletes the data directory once the front is gone (for a
    /// front that is never restarted).
    fn try_start_on(data_dir: &Path, listen: &str, remove_data: bool) -> Result<Front, String> {
        std::fs::create_dir_all(data_dir).expect("front data dir");
        let url_file = data_dir.with_extension("url");
        let _ = std::fs::remove_file(&url_file);
        let script = workspace_root().join("tests/clickhouse/chfront.py");
        // The guard: start the front, wait for our pipe to close, then kill it hard.
        let mut guard = Command::new("sh")
            .arg("-c")
            .arg(
                r#""$@" & front=$!; cat >/dev/null; kill -9 "$front" 2>/dev/null; wait "$front" 2>/dev/null
                if [ -n "$CHFRONT_REMOVE" ]; then rm -rf "$CHFRONT_REMOVE" "$CHFRONT_REMOVE.url"; fi; exit 0"#,
            )
            .env("CHFRONT_REMOVE", if remove_data { data_dir.as_os_str() } else { "".as_ref() })
            .arg("chfront-guard")
            .arg(python())
            .arg(&script)
            .args(["--listen", listen, "--data-dir"])
            .arg(data_dir)
            .arg("--url-file")
            .arg(&url_file)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn the ClickHouse front");
        let stdin = guard.stdin.take();
        let mut front =
            Front { guard, stdin, url: String::new(), data_dir: data_dir.to_path_buf(), listen: String::new() };
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Ok(url) = std::fs::read_to_string(&url_file) {
                front.url = url.trim().to_owned();
                front.listen = front.url.trim_start_matches("http://").to_owned();
                return Ok(front);
            }
            if let Ok(Some(status)) = front.guard.try_wait() {
                return Err(format!("the ClickHouse front exited before serving: {status}"));
            }
            if Instant::now() >= deadline {
                return Err("the ClickHouse front did not start within 120 s".into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills the front (SIGKILL: no clean shutdown) and waits until it is gone.
    pub fn kill(&mut self) {
        drop(self.stdin.take());
        let _ = self.guard.wait();
    }

    /// Starts the front again on the same data directory and address.
    pub fn restart(&mut self) {
        self.kill();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            // The port may take a moment to be free again.
            match Front::try_start_on(&self.data_dir, &self.listen, false) {
                Ok(front) => {
                    *self = front;
                    return;
                }
                Err(e) if Instant::now() >= deadline => panic!("restarting the ClickHouse front: {e}"),
                Err(_) => std::thread::sleep(Duration::from_millis(200)),
            }
        }
    }
}

impl Drop for Front {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The URL of the ClickHouse the tests of this binary share.
pub fn shared_url() -> String {
    static SHARED: OnceLock<(String, Option<Front>)> = OnceLock::new();
    SHARED
        .get_or_init(|| match std::env::var("CLICKHOUSE_URL") {
            Ok(url) if !url.is_empty() => (url, None),
            _ => {
                let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("chfront-{}", std::process::id()));
                remove_stale_fronts();
                let front = Front::try_start_on(&dir, "127.0.0.1:0", true).unwrap_or_else(|e| panic!("{e}"));
                (front.url.clone(), Some(front))
            }
        })
        .0
        .clone()
}

/// Removes the data of shared fronts whose test process is gone without its guard cleaning
/// up (the guard removes it when the test binary exits; a killed guard cannot).
fn remove_stale_fronts() {
    let Ok(entries) = std::fs::read_dir(env!("CARGO_TARGET_TMPDIR")) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.strip_prefix("chfront-").and_then(|rest| rest.split('.').next()) else { continue };
        if pid.parse::<u32>().is_ok() && !Path::new("/proc").join(pid).exists() {
            let path = entry.path();
            let _ = if path.is_dir() { std::fs::remove_dir_all(&path) } else { std::fs::remove_file(&path) };
        }
    }
}

/// A database name no other test (of any binary, of any run) uses.
pub fn fresh_database(test: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    format!("engage_test_{test}_{}_{n}_{nanos:x}", std::process::id())
}
