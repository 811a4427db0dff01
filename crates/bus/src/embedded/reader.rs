//! The consumer's side of the embedded log: reads by offset on its own SQLite connection (on
//! the blocking pool, so the runtime never waits on disk), sleeps on the writer's `watch`
//! signal instead of polling, and passes releases to the writer as prune hints.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rusqlite::Connection;
use tokio::sync::mpsc;

use crate::BusError;

use super::writer::Command;
use super::{Shared, store};

/// One stored record and its offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    /// Position in the log: dense, starting at 0, never reused.
    pub offset: u64,
    /// The key it was published with.
    pub key: Vec<u8>,
    /// The payload it was published with.
    pub payload: Vec<u8>,
}

/// Reads the embedded log by offset and tells it what may be pruned. Obtained from
/// [`super::EmbeddedLog::reader`]; keeps working (reading what is stored) after the log handle
/// is closed or dropped.
pub struct LogReader {
    conn: Arc<Mutex<Connection>>,
    shared: Arc<Shared>,
    /// Weak, so a reader does not keep the writer alive after the last log handle is gone.
    writer: mpsc::WeakSender<Command>,
}

impl std::fmt::Debug for LogReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogReader")
            .field("end_offset", &self.end_offset())
            .field("released", &self.shared.released.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl LogReader {
    pub(super) fn new(conn: Connection, shared: Arc<Shared>, writer: mpsc::WeakSender<Command>) -> Self {
        Self { conn: Arc::new(Mutex::new(conn)), shared, writer }
    }

    /// Up to `max` records with offset >= `from`, in offset order; if there are none, waits up
    /// to `wait` for new ones (woken by the writer's commit signal, no polling), then returns
    /// what there is (possibly empty). Records below the released offset may already be
    /// pruned: reading from there starts at the oldest record still stored.
    pub async fn read(&self, from: u64, max: usize, wait: Duration) -> Result<Vec<LogRecord>, BusError> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let deadline = tokio::time::Instant::now() + wait;
        // Subscribe before looking, so a commit between the look and the wait still wakes us.
        let mut committed = self.shared.committed.subscribe();
        loop {
            let end = *committed.borrow_and_update();
            if end > from {
                let records = self.query(from, max).await?;
                if !records.is_empty() {
                    return Ok(records);
                }
            }
            match tokio::time::timeout_at(deadline, committed.changed()).await {
                Ok(Ok(())) => {}
                // Timed out, or the log is gone: nothing more will arrive in this call.
                Ok(Err(_)) | Err(_) => return Ok(Vec::new()),
            }
        }
    }

    /// The consumer has durably committed everything below `upto`: those records may be
    /// pruned (the writer deletes them in the background, batched, not on every call).
    /// Monotonic: a lower `upto` than before is ignored; one beyond the end is capped.
    pub fn release(&self, upto: u64) {
        let upto = upto.min(self.end_offset());
        let before = self.shared.released.fetch_max(upto, Ordering::AcqRel);
        if upto <= before || self.shared.prune_nudged.swap(true, Ordering::AcqRel) {
            return;
        }
        let sent = self.writer.upgrade().is_some_and(|writer| writer.try_send(Command::Prune).is_ok());
        if !sent {
            // The writer is gone or its queue is busy (it will look at `released` after the
            // batch it is working on anyway); let the next release try again.
            self.shared.prune_nudged.store(false, Ordering::Release);
        }
    }

    /// Offset the next published record will get.
    pub fn end_offset(&self) -> u64 {
        self.shared.end.load(Ordering::Acquire)
    }

    async fn query(&self, from: u64, max: usize) -> Result<Vec<LogRecord>, BusError> {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            let conn = conn.lock().unwrap_or_else(PoisonError::into_inner);
            store::read(&conn, from, max).map_err(BusError::storage("read"))
        })
        .await
        .map_err(|error| BusError::Task(error.to_string()))?
    }
}
