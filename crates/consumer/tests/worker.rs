//! The worker against the real embedded log and the real SQLite store: exact results,
//! restarts from the checkpoint, and a store that fails for a while (retried, position not
//! advanced past unwritten data).

use async_trait::async_trait;
use engage_bus::{EmbeddedLog, EmbeddedLogConfig, Publisher, Record};
use engage_consumer::engine::EngineConfig;
use engage_consumer::worker::{self, WorkerConfig};
use engage_model::envelope::{Received, Source, pingback_event, rejected_event};
use engage_model::pingback::parse_query;
use engage_model::redact::Excerpt;
use engage_sink::{
    AppSummary, Checkpoint, CommitBatch, ItemEngagement, ItemQuery, ItemSummary, RejectedRow, SessionEngagement,
    SessionListing, SqliteStore, Store, StoreError, TimeRange, TopItemsQuery,
};
use prost::Message;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const T0: i64 = 1_700_000_000_000;

fn pingback(viewer: u64, t: i64, q: &str) -> Record {
    let p = parse_query(&format!("item=W&ts={t}&{q}")).expect("valid pingback");
    let ctx = Received {
        received_at_ms: t,
        event_time_ms: t,
        viewer_key: viewer,
        prev_viewer_key: 0,
        ingested_at_ms: t,
        app_key: "A/B",
        app_version: "1",
        user_agent: "A/B 1",
        source: Source::Pingback,
        bot: false,
    };
    Record { key: b"W".to_vec(), payload: pingback_event(&p, &ctx).encode_to_vec() }
}

/// `n` viewers each: initialized, firstplay, play, update 10..90, stop 100.
fn complete_views(n: u64) -> Vec<Record> {
    let mut out = Vec::new();
    for v in 0..n {
        let t = T0 + v as i64 * 10;
        out.push(pingback(v, t, "il=2&progress=0&event=initialized"));
        out.push(pingback(v, t + 1, "il=2&progress=0&event=firstplay"));
        out.push(pingback(v, t + 2, "il=2&progress=0&event=play"));
        for p in (10..=90).step_by(10) {
            out.push(pingback(v, t + 2 + p, &format!("il=2&progress={p}&event=update")));
        }
        out.push(pingback(v, t + 200, "il=2&progress=100&event=stop"));
    }
    out
}

async fn engagement(store: &dyn Store) -> ItemEngagement {
    store.item_engagement(&ItemQuery { item: "W".into(), app: None, range: TimeRange::ALL }).await.expect("query")
}

fn config() -> WorkerConfig {
    WorkerConfig { commit_interval: Duration::from_millis(20), ..WorkerConfig::default() }
}

fn open(dir: &std::path::Path) -> (EmbeddedLog, SqliteStore) {
    let log = EmbeddedLog::open(&dir.join("bus.sqlite3"), EmbeddedLogConfig::default()).expect("log");
    (log, SqliteStore::open(&dir.join("s.sqlite3")).expect("store").with_raw_ttl_days(0)) // fixtures from 2024
}

/// Runs a worker over `log` into `store` until `done` holds, then stops it cleanly.
async fn run_until(log: &EmbeddedLog, store: &Arc<dyn Store>, done: impl AsyncFnMut() -> bool) {
    let stop = CancellationToken::new();
    let task = tokio::spawn(worker::run(
        log.reader().expect("reader"),
        store.clone(),
        EngineConfig::default(),
        config(),
        stop.clone(),
    ));
    wait_until(done).await;
    stop.cancel();
    task.await.expect("join").expect("worker");
}

async fn wait_until(mut done: impl AsyncFnMut() -> bool) {
    for _ in 0..500 {
        if done().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("condition not reached in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exact_results_and_restart_from_checkpoint() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (log, store) = open(dir.path());
    let store: Arc<dyn Store> = Arc::new(store);

    log.publish(complete_views(20)).await.expect("publish");
    log.publish(vec![Record {
        key: vec![],
        payload: rejected_event(
            T0,
            "/ping/dot.gif",
            "missing_item",
            "parameter `item` is required",
            &Excerpt::of_query("ts=1"),
        )
        .encode_to_vec(),
    }])
    .await
    .expect("publish");
    log.publish(vec![Record { key: vec![], payload: vec![0xde, 0xad] }]).await.expect("publish garbage");

    run_until(&log, &store, async || engagement(store.as_ref()).await.plays == 20).await;

    let e = engagement(store.as_ref()).await;
    assert_eq!((e.impressions, e.plays, e.engaged_plays, e.completions, e.unique_viewers), (20, 20, 20, 20, 20));
    assert!(e.retention.iter().all(|r| *r == 20));
    let cp = store.checkpoint(0).await.expect("checkpoint").expect("written");
    assert_eq!(cp.next_offset, log.end_offset());
    let rejected = store.recent_rejected(10).await.expect("rejected");
    let codes: Vec<&str> = rejected.iter().map(|r| r.reason_code.as_str()).collect();
    assert!(codes.contains(&"missing_item") && codes.contains(&"undecodable"), "{codes:?}");

    // A second worker on the same store continues from the checkpoint: 5 more views, never the first 20 again.
    log.publish(complete_views(25).split_off(20 * 13)).await.expect("publish");
    run_until(&log, &store, async || engagement(store.as_ref()).await.plays >= 25).await;
    let e = engagement(store.as_ref()).await;
    assert_eq!((e.impressions, e.plays, e.completions, e.unique_viewers), (25, 25, 25, 25));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_are_written_every_commit_and_a_crash_replays_from_the_older_checkpoint_exactly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (log, store) = open(dir.path());
    let store: Arc<dyn Store> = Arc::new(store);
    // Snapshots an hour apart: after the first commit, commits write results only.
    let config = WorkerConfig { snapshot_interval: Duration::from_secs(3600), ..config() };
    let stop = CancellationToken::new();
    let reader = log.reader().expect("reader");
    let crashed =
        tokio::spawn(worker::run(reader, store.clone(), EngineConfig::default(), config.clone(), stop.clone()));
    let all = complete_views(30);
    log.publish(all[..10 * 13].to_vec()).await.expect("publish");
    wait_until(async || engagement(store.as_ref()).await.plays == 10).await;
    let first_checkpoint = store.checkpoint(0).await.expect("checkpoint").expect("the first commit snapshots");
    log.publish(all[10 * 13..].to_vec()).await.expect("publish");
    wait_until(async || engagement(store.as_ref()).await.plays == 30).await;
    // Results are visible, the checkpoint has not moved: a crash now replays 20 views.
    assert_eq!(store.checkpoint(0).await.expect("checkpoint"), Some(first_checkpoint.clone()));
    assert!(first_checkpoint.next_offset < log.end_offset());
    crashed.abort(); // no graceful stop: no final snapshot
    let _ = crashed.await;

    let before = engagement(store.as_ref()).await;
    let stop = CancellationToken::new();
    let again = tokio::spawn(worker::run(
        log.reader().expect("reader"),
        store.clone(),
        EngineConfig::default(),
        config,
        stop.clone(),
    ));
    wait_until(async || {
        store.checkpoint(0).await.ok().flatten().is_some_and(|c| c.next_offset == first_checkpoint.next_offset)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await; // the replay has been written by now
    stop.cancel();
    again.await.expect("join").expect("worker");
    assert_eq!(engagement(store.as_ref()).await, before, "the replay rewrote the same rows, counted nothing twice");
    let cp = store.checkpoint(0).await.expect("checkpoint").expect("written");
    assert_eq!(cp.next_offset, log.end_offset(), "a graceful stop snapshots");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_engine_config_is_refused_not_silently_mixed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (log, store) = open(dir.path());
    let store: Arc<dyn Store> = Arc::new(store);
    log.publish(complete_views(1)).await.expect("publish");
    run_until(&log, &store, async || store.checkpoint(0).await.ok().flatten().is_some()).await;

    let other = EngineConfig { window_ms: 30_000, ..EngineConfig::default() };
    let err = worker::run(log.reader().expect("reader"), store, other, config(), CancellationToken::new())
        .await
        .expect_err("must refuse");
    assert!(err.to_string().contains("configuration"), "{err}");
}

/// Wraps the real store; fails the first `fail_first` commits as an unreachable store would.
struct Flaky {
    inner: SqliteStore,
    fail_first: usize,
    attempts: AtomicUsize,
}

#[async_trait]
impl Store for Flaky {
    async fn commit(&self, batch: Arc<CommitBatch>) -> Result<(), StoreError> {
        if self.attempts.fetch_add(1, Ordering::SeqCst) < self.fail_first {
            return Err(StoreError::Task("store unavailable (test)".into()));
        }
        self.inner.commit(batch).await
    }
    async fn checkpoint(&self, partition: i32) -> Result<Option<Checkpoint>, StoreError> {
        self.inner.checkpoint(partition).await
    }
    async fn load_archived(
        &self,
        partition: i32,
        keys: &[[u8; 16]],
        max_version: u64,
    ) -> Result<Vec<([u8; 16], Vec<u8>)>, StoreError> {
        self.inner.load_archived(partition, keys, max_version).await
    }
    async fn item_engagement(&self, q: &ItemQuery) -> Result<ItemEngagement, StoreError> {
        self.inner.item_engagement(q).await
    }
    async fn top_items(&self, q: &TopItemsQuery) -> Result<Vec<ItemSummary>, StoreError> {
        self.inner.top_items(q).await
    }
    async fn item_apps(&self, item: &str, range: TimeRange) -> Result<Vec<AppSummary>, StoreError> {
        self.inner.item_apps(item, range).await
    }
    async fn recent_rejected(&self, limit: u32) -> Result<Vec<RejectedRow>, StoreError> {
        self.inner.recent_rejected(limit).await
    }
    async fn session_engagement(
        &self,
        session_id: &str,
        sources: Option<&[String]>,
    ) -> Result<Vec<SessionEngagement>, StoreError> {
        self.inner.session_engagement(session_id, sources).await
    }
    async fn top_sessions(
        &self,
        range: TimeRange,
        limit: u32,
        sources: Option<&[String]>,
    ) -> Result<Vec<SessionListing>, StoreError> {
        self.inner.top_sessions(range, limit, sources).await
    }

    async fn erase(&self, erasure: &engage_sink::Erasure) -> Result<engage_sink::ErasureReport, StoreError> {
        self.inner.erase(erasure).await
    }
    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_store_is_retried_and_nothing_is_lost_or_doubled() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (log, inner) = open(dir.path());
    let flaky = Arc::new(Flaky { inner, fail_first: 3, attempts: AtomicUsize::new(0) });
    let store: Arc<dyn Store> = flaky.clone();
    log.publish(complete_views(10)).await.expect("publish");
    run_until(&log, &store, async || engagement(store.as_ref()).await.plays == 10).await;
    assert!(flaky.attempts.load(Ordering::SeqCst) > 3, "the failed commits were retried");
    let e = engagement(store.as_ref()).await;
    assert_eq!((e.impressions, e.plays, e.completions, e.unique_viewers), (10, 10, 10, 10));
    assert_eq!(store.checkpoint(0).await.expect("cp").expect("written").next_offset, log.end_offset());
}
