//! The embedded log's single writer: a dedicated thread that owns the write connection, so
//! SQLite's one-writer rule is met by construction and the async runtime never blocks on an
//! fsync. It group-commits (everything queued, up to `max_batch` records, in one transaction),
//! acks after the commit, wakes readers, prunes released records in chunks between batches,
//! and after a failed commit probes the file until writes succeed again (readiness recovers
//! without waiting for traffic that a not-ready instance would never get).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rusqlite::Connection;
use tokio::sync::mpsc::error::TryRecvError;
use tokio::sync::{OwnedSemaphorePermit, mpsc, oneshot};

use crate::metrics::{
    BACKLOG_RECORDS, COMMIT_DURATION_SECONDS, COMMITS_TOTAL, RECORDS_PRUNED_TOTAL, RECORDS_WRITTEN_TOTAL,
};
use crate::{PublishError, Record};

use super::{Shared, store};

/// Prune as soon as this many released records are waiting...
const PRUNE_MIN_RECORDS: u64 = 8192;
/// ...or when some have waited this long (so a trickle of releases is batched too).
const PRUNE_INTERVAL: Duration = Duration::from_secs(1);
/// Records deleted per prune transaction, so a large release does not stall appends.
const PRUNE_CHUNK: u64 = 16_384;
/// How often an unhealthy writer tries a write to find out whether the file recovered.
const PROBE_INTERVAL: Duration = Duration::from_secs(1);

/// What the handle and readers ask of the writer.
pub(crate) enum Command {
    /// Persist these records, then answer on `ack`.
    Append(Append),
    /// The consumer released records: consider pruning.
    Prune,
    /// Write what is queued before this, prune what is released, stop, then answer.
    Close { done: oneshot::Sender<()> },
}

/// One publish call waiting for the writer.
pub(crate) struct Append {
    pub(crate) records: Vec<Record>,
    pub(crate) ack: oneshot::Sender<Result<(), PublishError>>,
    /// Room in the bounded queue, given back once the records are written (or refused).
    pub(crate) permit: OwnedSemaphorePermit,
}

enum Next {
    Command(Command),
    TimedOut,
    Disconnected,
}

pub(crate) struct Writer {
    conn: Connection,
    rx: mpsc::Receiver<Command>,
    shared: Arc<Shared>,
    max_batch: usize,
    /// Timers only: lets this thread wait on the queue with a deadline.
    rt: tokio::runtime::Runtime,
    /// A message taken from the queue that did not fit the previous batch.
    carry: Option<Append>,
    /// Everything below was deleted.
    pruned: u64,
    last_prune: Instant,
    prune_not_before: Instant,
    /// Set while unhealthy: when the last write failed.
    last_failure: Option<Instant>,
}

impl Writer {
    pub(crate) fn new(
        conn: Connection,
        rx: mpsc::Receiver<Command>,
        shared: Arc<Shared>,
        max_batch: usize,
        pruned: u64,
    ) -> std::io::Result<Self> {
        let rt = tokio::runtime::Builder::new_current_thread().enable_time().build()?;
        let now = Instant::now();
        Ok(Self {
            conn,
            rx,
            shared,
            max_batch,
            rt,
            carry: None,
            pruned,
            last_prune: now,
            prune_not_before: now,
            last_failure: None,
        })
    }

    /// The thread body: serve until closed or every handle is gone, then wind down.
    pub(crate) fn run(mut self) {
        let done = self.serve();
        self.shutdown(done);
    }

    /// Returns the `Close` answer channel, or `None` when every handle was dropped.
    fn serve(&mut self) -> Option<oneshot::Sender<()>> {
        loop {
            let command = match self.carry.take() {
                Some(append) => Some(Command::Append(append)),
                None => match self.next(self.wakeup()) {
                    Next::Command(command) => Some(command),
                    Next::TimedOut => None,
                    Next::Disconnected => return None,
                },
            };
            match command {
                Some(Command::Append(first)) => {
                    if let Some(done) = self.append_batch(first) {
                        return Some(done);
                    }
                }
                Some(Command::Prune) => self.shared.prune_nudged.store(false, Ordering::Release),
                Some(Command::Close { done }) => return Some(done),
                None => {}
            }
            if self.last_failure.is_some_and(|at| at.elapsed() >= PROBE_INTERVAL) {
                self.probe();
            }
            if self.prune_due() {
                self.prune_chunk();
            }
        }
    }

    /// Refuses what was queued after the close, prunes everything released, closes the
    /// connection and only then answers `close` (so a reopen finds the file settled).
    fn shutdown(mut self, done: Option<oneshot::Sender<()>>) {
        self.rx.close();
        let mut waiting: Vec<oneshot::Sender<()>> = done.into_iter().collect();
        let refuse = |append: Append| {
            let _ = append.ack.send(Err(PublishError::Unavailable("embedded log is closed".into())));
        };
        if let Some(append) = self.carry.take() {
            refuse(append);
        }
        while let Ok(command) = self.rx.try_recv() {
            match command {
                Command::Append(append) => refuse(append),
                Command::Close { done } => waiting.push(done),
                Command::Prune => {}
            }
        }
        while self.pruned < self.shared.released.load(Ordering::Acquire) {
            if !self.prune_chunk() {
                break;
            }
        }
        let Self { conn, .. } = self;
        if let Err((_, error)) = conn.close() {
            tracing::warn!(%error, "embedded log: closing the write connection failed");
        }
        tracing::info!("embedded log writer stopped");
        for done in waiting {
            let _ = done.send(());
        }
    }

    /// How long the queue may be waited on before there is other work (probe, prune).
    fn wakeup(&self) -> Option<Duration> {
        let mut wait = self.last_failure.map(|at| PROBE_INTERVAL.saturating_sub(at.elapsed()));
        let released = self.shared.released.load(Ordering::Acquire);
        if released > self.pruned {
            let now = Instant::now();
            let until_allowed = self.prune_not_before.saturating_duration_since(now);
            let until_due = if released - self.pruned >= PRUNE_MIN_RECORDS {
                Duration::ZERO
            } else {
                PRUNE_INTERVAL.saturating_sub(self.last_prune.elapsed())
            };
            let prune = until_allowed.max(until_due);
            wait = Some(wait.map_or(prune, |w| w.min(prune)));
        }
        wait
    }

    fn next(&mut self, wait: Option<Duration>) -> Next {
        let received = match wait {
            None => self.rx.blocking_recv(),
            Some(wait) if wait.is_zero() => match self.rx.try_recv() {
                Ok(command) => Some(command),
                Err(TryRecvError::Empty) => return Next::TimedOut,
                Err(TryRecvError::Disconnected) => None,
            },
            Some(wait) => {
                let rx = &mut self.rx;
                match self.rt.block_on(async { tokio::time::timeout(wait, rx.recv()).await }) {
                    Ok(received) => received,
                    Err(_) => return Next::TimedOut,
                }
            }
        };
        received.map_or(Next::Disconnected, Next::Command)
    }

    /// Gathers queued appends up to `max_batch` records, commits them as one transaction and
    /// answers them. Returns the `Close` answer channel if a close was queued behind them.
    fn append_batch(&mut self, first: Append) -> Option<oneshot::Sender<()>> {
        let mut count = first.records.len();
        let mut batch = vec![first];
        let mut close = None;
        while count < self.max_batch {
            match self.rx.try_recv() {
                Ok(Command::Append(next)) => {
                    if count + next.records.len() > self.max_batch {
                        self.carry = Some(next);
                        break;
                    }
                    count += next.records.len();
                    batch.push(next);
                }
                Ok(Command::Prune) => self.shared.prune_nudged.store(false, Ordering::Release),
                Ok(Command::Close { done }) => {
                    close = Some(done);
                    break;
                }
                Err(_) => break,
            }
        }
        self.commit(batch, count);
        close
    }

    fn commit(&mut self, batch: Vec<Append>, count: usize) {
        let started = Instant::now();
        let result = store::append(&mut self.conn, batch.iter().flat_map(|append| append.records.iter()));
        match result {
            Ok((_, end)) => {
                self.shared.end.store(end, Ordering::Release);
                self.shared.committed.send_replace(end);
                self.recovered();
                metrics::histogram!(COMMIT_DURATION_SECONDS).record(started.elapsed());
                metrics::counter!(RECORDS_WRITTEN_TOTAL).increment(count as u64);
                metrics::counter!(COMMITS_TOTAL).increment(1);
                self.report_backlog();
                for append in batch {
                    drop(append.permit);
                    let _ = append.ack.send(Ok(()));
                }
            }
            Err(error) => {
                self.failed("commit", &error);
                let reason = format!("could not persist {count} records: {error}");
                for append in batch {
                    drop(append.permit);
                    let _ = append.ack.send(Err(PublishError::Unavailable(reason.clone())));
                }
            }
        }
    }

    fn probe(&mut self) {
        match store::probe(&mut self.conn) {
            Ok(()) => self.recovered(),
            Err(error) => self.failed("probe", &error),
        }
    }

    fn failed(&mut self, op: &'static str, error: &rusqlite::Error) {
        if self.last_failure.is_none() {
            tracing::error!(%error, op, "embedded log write failed; publishing answers unavailable");
        } else {
            tracing::debug!(%error, op, "embedded log write still failing");
        }
        self.shared.healthy.store(false, Ordering::Release);
        self.last_failure = Some(Instant::now());
    }

    fn recovered(&mut self) {
        if self.last_failure.take().is_some() {
            tracing::info!("embedded log writes succeed again");
        }
        self.shared.healthy.store(true, Ordering::Release);
    }

    fn prune_due(&self) -> bool {
        let released = self.shared.released.load(Ordering::Acquire);
        released > self.pruned
            && Instant::now() >= self.prune_not_before
            && (released - self.pruned >= PRUNE_MIN_RECORDS || self.last_prune.elapsed() >= PRUNE_INTERVAL)
    }

    /// Deletes one chunk of released records; false if that failed (retried later).
    fn prune_chunk(&mut self) -> bool {
        let released = self.shared.released.load(Ordering::Acquire);
        let upto = released.min(self.pruned.saturating_add(PRUNE_CHUNK));
        match store::prune(&mut self.conn, upto) {
            Ok(deleted) => {
                self.pruned = upto;
                self.last_prune = Instant::now();
                metrics::counter!(RECORDS_PRUNED_TOTAL).increment(deleted as u64);
                self.report_backlog();
                true
            }
            Err(error) => {
                tracing::warn!(%error, upto, "embedded log prune failed; will retry");
                self.prune_not_before = Instant::now() + PRUNE_INTERVAL;
                false
            }
        }
    }

    fn report_backlog(&self) {
        metrics::gauge!(BACKLOG_RECORDS).set(self.shared.backlog() as f64);
    }
}
