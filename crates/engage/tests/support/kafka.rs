//! Kafka for end-to-end tests: a Tansu broker (or the cluster `KAFKA_BROKERS` names), topics,
//! and the production roles as real processes.
//!
//! `KAFKA_BROKERS` set: tests use that cluster (the Makefile starts one Tansu for the whole
//! run). Otherwise each test starts a private Tansu on a free loopback port (installed by
//! `tests/kafka/install.sh` if needed). The outage test always uses a private broker, since it
//! freezes it with SIGSTOP. Every test creates its own topics and groups, so tests never share
//! state on a shared broker.

use super::{engage_bin, now_ms};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A name unique to this test run (topics and groups on a shared broker).
pub fn unique(what: &str) -> String {
    format!("{what}-{}-{}", std::process::id(), now_ms())
}

/// A Kafka-protocol broker for one test.
#[derive(Debug)]
pub struct Broker {
    pub brokers: String,
    /// The private Tansu process (None when `KAFKA_BROKERS` points elsewhere).
    child: Option<Child>,
    _dir: Option<tempfile::TempDir>,
}

impl Broker {
    /// `KAFKA_BROKERS` when set, else a private Tansu.
    pub fn for_test() -> Broker {
        match std::env::var("KAFKA_BROKERS") {
            Ok(b) if !b.trim().is_empty() => Broker { brokers: b.trim().to_string(), child: None, _dir: None },
            _ => Broker::private(),
        }
    }

    /// A Tansu of this test's own (memory storage: it starts empty).
    pub fn private() -> Broker {
        let bin = tansu_bin();
        let dir = tempfile::tempdir().expect("tempdir");
        for _ in 0..5 {
            let port = free_port();
            let url = format!("tcp://127.0.0.1:{port}");
            let mut child = Command::new(&bin)
                .args(["broker", "--listener-url", &url, "--advertised-listener-url", &url])
                .args(["--storage-engine", "memory://tansu/"])
                .current_dir(dir.path())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn tansu");
            let addr = format!("127.0.0.1:{port}");
            let up = Instant::now();
            while up.elapsed() < Duration::from_secs(10) {
                if std::net::TcpStream::connect(&addr).is_ok() {
                    return Broker { brokers: addr, child: Some(child), _dir: Some(dir) };
                }
                if child.try_wait().expect("try_wait").is_some() {
                    break; // lost the port race: try another
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("tansu did not start");
    }

    /// Creates `topic` (and its `.dlq`) with `partitions` partitions.
    pub fn create_topic(&self, topic: &str, partitions: u32) {
        let out = Command::new(engage_bin())
            .args(["create-topics", "--kafka-brokers", &self.brokers, "--kafka-topic", topic])
            .args(["--partitions", &partitions.to_string()])
            .env("ENGAGE_LOG", "warn")
            .output()
            .expect("run engage create-topics");
        assert!(out.status.success(), "create-topics failed: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// SIGSTOP (an outage that keeps the broker's in-memory data) or SIGCONT.
    pub fn freeze(&self, frozen: bool) {
        let child = self.child.as_ref().expect("only a private broker can be frozen");
        let signal = if frozen { "-STOP" } else { "-CONT" };
        let ok = Command::new("kill").args([signal, &child.id().to_string()]).status().expect("kill");
        assert!(ok.success());
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = Command::new("kill").args(["-CONT", &child.id().to_string()]).status();
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The tansu binary: `TANSU_BIN`, else installed into the workspace's target/kafka-venv.
fn tansu_bin() -> PathBuf {
    if let Ok(bin) = std::env::var("TANSU_BIN") {
        return PathBuf::from(bin);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = Command::new(root.join("tests/kafka/install.sh"))
        .arg(root.join("target/kafka-venv"))
        .stderr(Stdio::inherit())
        .output()
        .expect("run tests/kafka/install.sh");
    assert!(out.status.success(), "installing tansu failed");
    PathBuf::from(String::from_utf8(out.stdout).expect("utf-8").trim())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// A running engage role process (`collector`, `consumer`, `api`, or `run`).
#[derive(Debug)]
pub struct Role {
    child: Child,
    pub base: String,
}

impl Role {
    /// `engage collector` on a free loopback port, publishing to `topic`, any write key
    /// accepted, with `extra` flags.
    pub fn collector(broker: &Broker, topic: &str, extra: &[&str]) -> Role {
        let mut args = vec![
            "collector",
            "--listen",
            "127.0.0.1:0",
            "--kafka-brokers",
            &broker.brokers,
            "--kafka-topic",
            topic,
            "--allow-any-write-key",
        ];
        args.extend_from_slice(extra);
        Role::start(&args, &[])
    }

    /// Starts `engage <args...>` (which must include `--listen 127.0.0.1:0`) and waits for its
    /// `listening on` line.
    pub fn start(args: &[&str], envs: &[(&str, &str)]) -> Role {
        let mut cmd = Command::new(engage_bin());
        cmd.args(args).envs(envs.iter().copied());
        let (child, base) = super::spawn_listening(cmd);
        Role { child, base }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// SIGKILL: no chance to commit anything.
    pub fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("wait");
    }

    /// SIGTERM and a clean exit.
    pub fn stop(mut self) {
        let ok = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().expect("kill");
        assert!(ok.success());
        let exit = self.child.wait().expect("wait");
        assert!(exit.success(), "engage exited with {exit}");
    }

    /// The sum of every series of metric `name` on this process's /metrics.
    pub fn metric(&self, name: &str) -> f64 {
        let agent = super::agent();
        let (_, _, body) = super::get(&agent, &self.url("/metrics"), "engage-e2e");
        String::from_utf8_lossy(&body)
            .lines()
            .filter(|l| l.starts_with(name) && l[name.len()..].starts_with([' ', '{']))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }
}

impl Drop for Role {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
