//! Durability under SIGKILL: a child process (this test binary, re-executed in helper mode)
//! publishes from several tasks and reports every acknowledgement on stdout; the parent kills
//! it mid-stream, reopens the log and requires every acknowledged record, dense offsets and
//! per-task order. The environment is set only on the child's `Command`.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use engage_bus::{EmbeddedLog, EmbeddedLogConfig, LogRecord, Publisher, Record};

/// Set on the child only: the log file the helper publishes into.
const HELPER_ENV: &str = "ENGAGE_BUS_CRASH_HELPER_DB";
const HELPER_TEST: &str = "crash_helper_publishes_until_killed";
const TASKS: usize = 4;
const PER_CALL: usize = 5;
/// Acknowledgements to see before the kill.
const KILL_AFTER_ACKS: usize = 2000;

/// Helper mode, run only by the parent test with `HELPER_ENV` set: publishes forever (in
/// effect) from `TASKS` tasks, printing `acked <task> <last seq>` after each acknowledged call.
#[test]
#[ignore = "helper process of sigkill_keeps_every_acknowledged_record; run by it"]
fn crash_helper_publishes_until_killed() {
    let Some(path) = std::env::var_os(HELPER_ENV) else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    runtime.block_on(async move {
        let log = EmbeddedLog::open(Path::new(&path), EmbeddedLogConfig::default()).expect("open");
        let mut tasks = Vec::new();
        for task in 0..TASKS {
            let log = log.clone();
            tasks.push(tokio::spawn(async move {
                for call in 0..1_000_000usize {
                    let first = call * PER_CALL;
                    let records = (first..first + PER_CALL)
                        .map(|seq| Record {
                            key: format!("t{task}").into_bytes(),
                            payload: format!("{task}:{seq}").into_bytes(),
                        })
                        .collect();
                    log.publish(records).await.expect("publish");
                    let mut out = std::io::stdout().lock();
                    writeln!(out, "acked {task} {}", first + PER_CALL - 1).expect("stdout");
                    out.flush().expect("stdout");
                }
            }));
        }
        for task in tasks {
            task.await.expect("task");
        }
    });
}

#[test]
fn sigkill_keeps_every_acknowledged_record() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bus.db");
    let mut child = Command::new(std::env::current_exe().expect("current exe"))
        .args(["--exact", HELPER_TEST, "--ignored", "--nocapture", "--test-threads=1"])
        .env(HELPER_ENV, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn helper");
    let stdout = child.stdout.take().expect("child stdout");
    let (lines_tx, lines) = mpsc::channel();
    let pump = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });

    let mut acked: HashMap<usize, usize> = HashMap::new();
    let mut record_ack = |line: &str| {
        // Anything else on stdout (libtest's own lines) is ignored.
        let Some(("acked", task, seq)) = parse_ack(line) else {
            return false;
        };
        let best = acked.entry(task).or_insert(seq);
        *best = (*best).max(seq);
        true
    };
    let mut seen = 0;
    while seen < KILL_AFTER_ACKS {
        let line = lines.recv_timeout(Duration::from_secs(60)).expect("helper keeps acknowledging");
        if record_ack(&line) {
            seen += 1;
        }
    }
    child.kill().expect("SIGKILL the helper");
    child.wait().expect("reap the helper");
    // Acks already in the pipe were given before the kill: they count too.
    while let Ok(line) = lines.recv_timeout(Duration::from_secs(10)) {
        record_ack(&line);
    }
    pump.join().expect("stdout pump");
    assert!(acked.len() > 1, "several tasks were acknowledged: {acked:?}");

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let log = EmbeddedLog::open(&path, EmbeddedLogConfig::default()).expect("reopen");
        let reader = log.reader().expect("reader");
        let end = log.end_offset();
        let mut stored = Vec::new();
        let mut next = 0;
        while next < end {
            let page = reader.read(next, 10_000, Duration::ZERO).await.expect("read");
            assert!(!page.is_empty(), "hole below end offset {end} at {next}");
            next = page.last().map_or(next, |r| r.offset + 1);
            stored.extend(page);
        }
        if let Err(problem) = check(&stored, &acked) {
            panic!("{problem}");
        }
        // The log keeps working after the crash: offsets continue densely.
        log.publish(vec![Record::default()]).await.expect("publish");
        assert_eq!(log.end_offset(), end + 1);
        log.close().await;
    });
}

fn parse_ack(line: &str) -> Option<(&str, usize, usize)> {
    let mut parts = line.split_whitespace();
    let word = parts.next()?;
    let task = parts.next()?.parse().ok()?;
    let seq = parts.next()?.parse().ok()?;
    Some((word, task, seq))
}

/// Offsets dense from 0; per task every sequence number exactly once, in order; and every
/// acknowledged sequence number present.
fn check(stored: &[LogRecord], acked: &HashMap<usize, usize>) -> Result<(), String> {
    let mut last: HashMap<usize, usize> = HashMap::new();
    for (i, r) in stored.iter().enumerate() {
        if r.offset != i as u64 {
            return Err(format!("offset {} at position {i}: not dense from 0", r.offset));
        }
        let text = String::from_utf8_lossy(&r.payload);
        let (task, seq) = text
            .split_once(':')
            .and_then(|(t, s)| Some((t.parse::<usize>().ok()?, s.parse::<usize>().ok()?)))
            .ok_or_else(|| format!("unexpected payload {text:?}"))?;
        let expected = last.get(&task).map_or(0, |s| s + 1);
        if seq != expected {
            return Err(format!("task {task}: seq {seq} where {expected} was due (loss, duplicate or reorder)"));
        }
        last.insert(task, seq);
    }
    for (task, acked_seq) in acked {
        let stored_seq = last.get(task).copied();
        if stored_seq.is_none_or(|s| s < *acked_seq) {
            return Err(format!("task {task}: acked up to {acked_seq}, stored up to {stored_seq:?}"));
        }
    }
    Ok(())
}

/// Negative control: the check above does fail on loss, holes and duplicates.
#[test]
fn the_check_catches_lost_acknowledged_records_holes_and_duplicates() {
    let rec = |offset: u64, payload: &str| LogRecord { offset, key: Vec::new(), payload: payload.as_bytes().to_vec() };
    let good = vec![rec(0, "0:0"), rec(1, "1:0"), rec(2, "0:1")];
    let acked = HashMap::from([(0, 1), (1, 0)]);
    assert_eq!(check(&good, &acked), Ok(()));
    assert!(check(&good, &HashMap::from([(0, 2)])).is_err(), "lost ack");
    assert!(check(&good, &HashMap::from([(2, 0)])).is_err(), "lost task");
    let hole = vec![rec(0, "0:0"), rec(2, "0:1")];
    assert!(check(&hole, &HashMap::new()).is_err(), "offset hole");
    let dup = vec![rec(0, "0:0"), rec(1, "0:0")];
    assert!(check(&dup, &HashMap::new()).is_err(), "duplicate");
}
