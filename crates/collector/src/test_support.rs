//! Test doubles shared by the collector's handler tests: an in-memory publisher that
//! captures what is published, or refuses everything (the 503 path).

use engage_bus::{PublishError, Publisher, Record};
use std::sync::Mutex;

#[derive(Default)]
pub(crate) struct Capture {
    pub(crate) records: Mutex<Vec<Record>>,
    /// Refuse every publish, as a full bus does.
    pub(crate) fail: bool,
    /// When set, every publish call must carry at most this many records.
    pub(crate) max_batch: Option<usize>,
}

#[async_trait::async_trait]
impl Publisher for Capture {
    async fn publish(&self, records: Vec<Record>) -> Result<(), PublishError> {
        if self.fail {
            return Err(PublishError::Full("test".into()));
        }
        if let Some(max) = self.max_batch {
            assert!(records.len() <= max, "a publish call of {} records, the limit is {max}", records.len());
        }
        self.records.lock().expect("lock").extend(records);
        Ok(())
    }
    fn is_ready(&self) -> bool {
        !self.fail
    }
}
