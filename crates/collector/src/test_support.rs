//! Test doubles shared by the collector's handler tests: an in-memory publisher that
//! captures what is published, or refuses everything (the 503 path); and a run of a future
//! under a recorder local to the test, to read the metrics it emitted.

use engage_bus::{PublishError, Publisher, Record};
use engage_model::viewer::ViewerKeyer;
use engage_model::viewer::salts::DaySalts;
use std::sync::Mutex;

/// A keyer with a salt for every day from ten days before `t_ms` to ten days after, each
/// different.
pub(crate) fn keyer_around(t_ms: i64) -> ViewerKeyer {
    let today = engage_model::time::utc_day(t_ms);
    let mut salts = DaySalts::new();
    for day in today - 10..=today + 10 {
        salts.adopt(day, [(day.rem_euclid(251)) as u8; 16]);
    }
    ViewerKeyer::new(salts)
}

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

/// Runs `f` to completion on a current-thread runtime with a metrics recorder local to this
/// thread (other tests running in parallel do not count into it); returns its output and the
/// metrics in the Prometheus text format.
pub(crate) fn with_metrics<T>(f: impl std::future::Future<Output = T>) -> (T, String) {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let out = metrics::with_local_recorder(&recorder, || rt.block_on(f));
    (out, handle.render())
}
