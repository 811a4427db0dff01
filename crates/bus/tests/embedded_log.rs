//! The embedded log against real SQLite files: order, offsets, waking readers, concurrency,
//! reopening, pruning, and every backpressure and failure answer.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use engage_bus::{BusError, EmbeddedLog, EmbeddedLogConfig, LogReader, LogRecord, PublishError, Publisher, Record};

/// Generous: bounds hangs, never asserts speed.
const PATIENCE: Duration = Duration::from_secs(20);

fn record(key: &str, payload: &str) -> Record {
    Record { key: key.as_bytes().to_vec(), payload: payload.as_bytes().to_vec() }
}

fn numbered(from: usize, n: usize) -> Vec<Record> {
    (from..from + n).map(|i| record(&format!("k{}", i % 7), &format!("p{i}"))).collect()
}

fn open(path: &Path) -> EmbeddedLog {
    EmbeddedLog::open(path, EmbeddedLogConfig::default()).expect("open log")
}

/// Everything stored from `from` on, read in pages.
async fn read_all(reader: &LogReader, from: u64) -> Vec<LogRecord> {
    let mut out = Vec::new();
    let mut next = from;
    loop {
        let page = reader.read(next, 1000, Duration::ZERO).await.expect("read");
        let Some(last) = page.last() else {
            return out;
        };
        next = last.offset + 1;
        out.extend(page);
    }
}

fn assert_dense(records: &[LogRecord], first: u64) {
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r.offset, first + i as u64, "offsets must be dense");
    }
}

#[tokio::test]
async fn publish_then_read_back_in_order_with_dense_offsets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = open(&dir.path().join("bus.db"));
    let reader = log.reader().expect("reader");
    assert_eq!(reader.end_offset(), 0);

    log.publish(numbered(0, 3)).await.expect("publish");
    log.publish(Vec::new()).await.expect("empty publish is a no-op");
    log.publish(numbered(3, 5)).await.expect("publish");
    assert_eq!(reader.end_offset(), 8);
    assert_eq!(log.end_offset(), 8);
    assert!(log.is_ready());

    let all = read_all(&reader, 0).await;
    assert_eq!(all.len(), 8);
    assert_dense(&all, 0);
    for (i, r) in all.iter().enumerate() {
        assert_eq!(r.payload, format!("p{i}").into_bytes());
        assert_eq!(r.key, format!("k{}", i % 7).into_bytes());
    }

    let page = reader.read(2, 3, Duration::ZERO).await.expect("read");
    assert_eq!(page.iter().map(|r| r.offset).collect::<Vec<_>>(), vec![2, 3, 4]);
    assert!(reader.read(0, 0, Duration::ZERO).await.expect("read").is_empty());
    log.close().await;
}

#[tokio::test]
async fn read_waits_for_new_records_and_wakes_when_one_is_published() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = open(&dir.path().join("bus.db"));
    let reader = log.reader().expect("reader");

    // Nothing there and a short wait: returns empty.
    let empty = reader.read(0, 10, Duration::from_millis(20)).await.expect("read");
    assert!(empty.is_empty());

    // A long wait is cut short by a publish.
    let waiting = tokio::spawn(async move {
        let got = reader.read(0, 10, Duration::from_secs(3600)).await;
        (reader, got)
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    log.publish(vec![record("a", "first")]).await.expect("publish");
    let (reader, got) = tokio::time::timeout(PATIENCE, waiting).await.expect("reader woke up").expect("task");
    let got = got.expect("read");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].offset, 0);
    assert_eq!(got[0].payload, b"first");

    // Waiting past the end also wakes for the next record only.
    let waiting = tokio::spawn(async move { reader.read(1, 10, Duration::from_secs(3600)).await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    log.publish(vec![record("a", "second")]).await.expect("publish");
    let got = tokio::time::timeout(PATIENCE, waiting).await.expect("reader woke up").expect("task").expect("read");
    assert_eq!(got.len(), 1);
    assert_eq!((got[0].offset, got[0].payload.as_slice()), (1, &b"second"[..]));
    log.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_publishers_all_records_present_exactly_once_in_task_order() {
    const TASKS: usize = 8;
    const CALLS: usize = 100;
    const PER_CALL: usize = 5;
    let dir = tempfile::tempdir().expect("tempdir");
    let log = open(&dir.path().join("bus.db"));
    let mut tasks = Vec::new();
    for task in 0..TASKS {
        let log = log.clone();
        tasks.push(tokio::spawn(async move {
            for call in 0..CALLS {
                let records = (0..PER_CALL)
                    .map(|i| record(&format!("t{task}"), &format!("{task}:{}", call * PER_CALL + i)))
                    .collect();
                log.publish(records).await.expect("publish");
            }
        }));
    }
    for task in tasks {
        task.await.expect("publisher task");
    }
    let reader = log.reader().expect("reader");
    let all = read_all(&reader, 0).await;
    assert_eq!(all.len(), TASKS * CALLS * PER_CALL);
    assert_dense(&all, 0);
    let mut last_seq: HashMap<usize, usize> = HashMap::new();
    for r in &all {
        let text = String::from_utf8(r.payload.clone()).expect("utf8");
        let (task, seq) = text.split_once(':').expect("task:seq");
        let (task, seq): (usize, usize) = (task.parse().expect("task"), seq.parse().expect("seq"));
        let expected = last_seq.get(&task).map_or(0, |s| s + 1);
        assert_eq!(seq, expected, "task {task}: records exactly once, in order");
        last_seq.insert(task, seq);
    }
    assert!(last_seq.values().all(|&s| s == CALLS * PER_CALL - 1));
    log.close().await;
}

#[tokio::test]
async fn reopen_after_drop_and_after_close_keeps_records_and_continues_offsets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("nested/dir/bus.db");
    {
        let log = open(&path);
        log.publish(numbered(0, 4)).await.expect("publish");
        // Dropped without close.
    }
    let log = open(&path);
    assert_eq!(log.end_offset(), 4);
    log.publish(numbered(4, 3)).await.expect("publish");
    log.close().await;
    log.close().await; // idempotent

    let log = open(&path);
    assert_eq!(log.end_offset(), 7);
    log.publish(numbered(7, 1)).await.expect("publish");
    let all = read_all(&log.reader().expect("reader"), 0).await;
    assert_eq!(all.len(), 8);
    assert_dense(&all, 0);
    for (i, r) in all.iter().enumerate() {
        assert_eq!(r.payload, format!("p{i}").into_bytes());
    }
    log.close().await;
}

#[tokio::test]
async fn release_prunes_only_below_the_released_offset_and_offsets_are_never_reused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bus.db");
    let log = open(&path);
    log.publish(numbered(0, 100)).await.expect("publish");
    let reader = log.reader().expect("reader");
    reader.release(60);
    reader.release(10); // lower releases are ignored
    log.close().await;

    let log = open(&path);
    let reader = log.reader().expect("reader");
    let all = read_all(&reader, 0).await;
    assert_eq!(all.len(), 40, "only records below 60 are pruned");
    assert_dense(&all, 60);
    assert_eq!(all[0].payload, b"p60");
    assert_eq!(log.end_offset(), 100);

    // Release everything: the table is empty, and offsets still continue.
    reader.release(u64::MAX);
    log.close().await;
    let log = open(&path);
    let reader = log.reader().expect("reader");
    assert!(read_all(&reader, 0).await.is_empty());
    assert_eq!(log.end_offset(), 100);
    log.publish(numbered(100, 2)).await.expect("publish");
    let all = read_all(&reader, 0).await;
    assert_eq!(all.iter().map(|r| r.offset).collect::<Vec<_>>(), vec![100, 101]);
    log.close().await;
}

#[tokio::test]
async fn released_records_are_pruned_in_the_background() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = open(&dir.path().join("bus.db"));
    for chunk in 0..4 {
        log.publish(numbered(chunk * 10_000, 10_000)).await.expect("publish");
    }
    let reader = log.reader().expect("reader");
    reader.release(30_000);
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let first = reader.read(0, 1, Duration::ZERO).await.expect("read");
        if first[0].offset == 30_000 {
            break;
        }
        assert!(first[0].offset < 30_000, "pruned past the release");
        assert!(tokio::time::Instant::now() < deadline, "not pruned in time");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(read_all(&reader, 0).await.len(), 10_000);
    log.close().await;
}

#[tokio::test]
async fn backlog_limit_answers_full_and_recovers_after_release() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = EmbeddedLogConfig { max_backlog: 10, ..EmbeddedLogConfig::default() };
    let log = EmbeddedLog::open(&dir.path().join("bus.db"), config).expect("open");
    let reader = log.reader().expect("reader");
    log.publish(numbered(0, 10)).await.expect("publish");
    assert!(!log.is_ready(), "backlog full: not ready");
    let err = log.publish(numbered(10, 1)).await.expect_err("full");
    assert!(matches!(err, PublishError::Full(_)), "{err}");

    reader.release(5);
    assert!(log.is_ready());
    log.publish(numbered(10, 1)).await.expect("room after release");
    let all = read_all(&reader, 0).await;
    assert_eq!(all.last().map(|r| r.offset), Some(10));
    log.close().await;
}

#[tokio::test]
async fn calls_larger_than_the_queue_and_the_batch_are_accepted_whole() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = EmbeddedLogConfig { max_pending: 10, max_batch: 7, ..EmbeddedLogConfig::default() };
    let log = EmbeddedLog::open(&dir.path().join("bus.db"), config).expect("open");
    let (a, b) = tokio::join!(log.publish(numbered(0, 100)), log.publish(numbered(100, 3)));
    a.expect("large call");
    b.expect("small call");
    let all = read_all(&log.reader().expect("reader"), 0).await;
    assert_eq!(all.len(), 103);
    assert_dense(&all, 0);
    log.close().await;
}

/// Holds SQLite's write lock from another connection, stalling the writer thread.
fn lock_file(path: &Path) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(path).expect("open side connection");
    conn.execute_batch("BEGIN IMMEDIATE").expect("take write lock");
    conn
}

#[tokio::test]
async fn a_queue_that_stays_full_answers_full() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bus.db");
    let config = EmbeddedLogConfig {
        max_pending: 1,
        enqueue_timeout: Duration::from_millis(50),
        ..EmbeddedLogConfig::default()
    };
    let log = Arc::new(EmbeddedLog::open(&path, config).expect("open"));
    let lock = lock_file(&path);
    // Takes the only queue slot and stalls in the writer behind the lock.
    let stuck = tokio::spawn({
        let log = Arc::clone(&log);
        async move { log.publish(numbered(0, 1)).await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let err = log.publish(numbered(1, 1)).await.expect_err("queue full");
    assert!(matches!(err, PublishError::Full(_)), "{err}");

    lock.execute_batch("ROLLBACK").expect("release lock");
    tokio::time::timeout(PATIENCE, stuck)
        .await
        .expect("stalled publish finishes")
        .expect("task")
        .expect("stalled publish succeeds once the lock is gone");
    log.publish(numbered(1, 1)).await.expect("room again");
    log.close().await;
}

#[tokio::test]
async fn a_failed_write_answers_unavailable_and_readiness_recovers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bus.db");
    let log = open(&path);
    log.publish(numbered(0, 1)).await.expect("publish");
    let lock = lock_file(&path);
    // The writer gives up after SQLite's busy timeout (5 s) and reports the failure.
    let err = log.publish(numbered(1, 1)).await.expect_err("cannot persist");
    assert!(matches!(err, PublishError::Unavailable(_)), "{err}");
    assert!(!log.is_ready());

    lock.execute_batch("ROLLBACK").expect("release lock");
    drop(lock);
    // No traffic needed: the writer probes the file and readiness comes back.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !log.is_ready() {
        assert!(tokio::time::Instant::now() < deadline, "never ready again");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    log.publish(numbered(1, 1)).await.expect("publish after recovery");
    let all = read_all(&log.reader().expect("reader"), 0).await;
    assert_eq!(all.len(), 2, "the failed call wrote nothing");
    assert_dense(&all, 0);
    log.close().await;
}

#[tokio::test]
async fn publishing_after_close_is_unavailable_and_readers_still_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = open(&dir.path().join("bus.db"));
    let reader = log.reader().expect("reader");
    log.publish(numbered(0, 2)).await.expect("publish");
    log.close().await;
    assert!(!log.is_ready());
    let err = log.publish(numbered(2, 1)).await.expect_err("closed");
    assert!(matches!(err, PublishError::Unavailable(_)), "{err}");
    assert_eq!(read_all(&reader, 0).await.len(), 2);
    // No writer any more: a waiting read returns instead of hanging.
    let nothing = tokio::time::timeout(PATIENCE, reader.read(2, 10, Duration::from_millis(50)))
        .await
        .expect("returns")
        .expect("read");
    assert!(nothing.is_empty());
    reader.release(2); // harmless without a writer
}

#[tokio::test]
async fn zero_limits_are_refused_at_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = EmbeddedLogConfig { max_pending: 0, max_batch: 0, ..EmbeddedLogConfig::default() };
    let err = EmbeddedLog::open(&dir.path().join("bus.db"), config).expect_err("invalid");
    assert!(matches!(err, BusError::Config(_)), "{err}");
    let text = err.to_string();
    assert!(text.contains("max_pending") && text.contains("max_batch"), "{text}");
}
