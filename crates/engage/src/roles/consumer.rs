//! `engage consumer`: a Kafka consumer group member writing rollups to the store. Run as
//! many replicas as the topic has partitions; each owns some and hands them over on
//! rebalances (see `engage_kafka::consumer`). Serves `/healthz`, `/readyz` and `/metrics`.

use crate::cli::{ConsumerTuning, EngineArgs, KafkaArgs};
use crate::telemetry;
use anyhow::Context;
use clap::Args;
use engage_kafka::consumer::{ConsumerSettings, OffsetMode};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Args)]
pub struct ConsumerRoleArgs {
    /// Address to serve /healthz, /readyz and /metrics on.
    #[arg(long, env = "ENGAGE_LISTEN", default_value = "0.0.0.0:9090")]
    pub listen: SocketAddr,
    /// Where the SQLite store lives when no ClickHouse is configured.
    #[arg(long, env = "ENGAGE_DATA_DIR", default_value = "./engage-data")]
    pub data_dir: PathBuf,
    #[command(flatten)]
    pub store: crate::cli::StoreArgs,
    #[command(flatten)]
    pub engine: EngineArgs,
    #[command(flatten)]
    pub kafka: KafkaArgs,
    #[command(flatten)]
    pub tuning: ConsumerTuning,
    #[command(flatten)]
    pub access: crate::access::ReadAccessArgs,
    /// Group session timeout (ms): how long a silent member keeps its partitions.
    #[arg(long = "kafka-session-timeout-ms", env = "ENGAGE_KAFKA_SESSION_TIMEOUT_MS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1000..=300_000))]
    pub session_timeout_ms: u64,
    /// Group max poll interval (ms).
    #[arg(long = "kafka-max-poll-interval-ms", env = "ENGAGE_KAFKA_MAX_POLL_INTERVAL_MS", default_value_t = 60_000, value_parser = clap::value_parser!(u64).range(1000..=3_600_000))]
    pub max_poll_interval_ms: u64,
    /// FAULT INJECTION for tests only: commit offsets before the store write and trust them
    /// on restart (loses events on a crash; proves the crash test can fail).
    #[arg(long, env = "ENGAGE_FAULT_COMMIT_BEFORE_WRITE", hide = true)]
    pub fault_commit_before_write: bool,
}

pub async fn run(args: ConsumerRoleArgs) -> anyhow::Result<()> {
    let kafka = args.kafka.required()?;
    let auth = args.access.auth(crate::access::Role::Consumer, args.listen)?;
    crate::access::check_store_secrets(&args.store)?;
    let metrics = telemetry::install_metrics()?;
    engage_consumer::metrics::describe();
    engage_kafka::stats::describe();
    let store = crate::store::open_store(&args.store, &args.data_dir).await?;
    let settings = ConsumerSettings {
        engine: args.engine.engine_config(),
        dedup: args.tuning.dedup(&args.engine),
        commit_interval: args.tuning.commit_interval(),
        snapshot_interval: args.tuning.snapshot_interval(),
        session_timeout: Duration::from_millis(args.session_timeout_ms),
        max_poll_interval: Duration::from_millis(args.max_poll_interval_ms),
        offset_mode: if args.fault_commit_before_write {
            tracing::error!("FAULT INJECTION: offsets are committed before the store write; results will be wrong");
            OffsetMode::UnsafeCommitBeforeWrite
        } else {
            OffsetMode::Checkpoint
        },
        ..ConsumerSettings::default()
    };
    let stop = CancellationToken::new();
    let consumer = {
        let (store, stop) = (store.clone(), stop.clone());
        tokio::spawn(async move { engage_kafka::consumer::run(&kafka, store, settings, stop).await })
    };
    let (metrics_routes, _metrics_listener) = args.access.metrics(metrics, &auth).await?;
    let ready_store = store.clone();
    let app = super::health(move || {
        let store = ready_store.clone();
        async move { store.ping().await.map_err(|e| e.to_string()) }
    })
    .merge(metrics_routes);
    let stopping = stop.clone();
    let served = tokio::select! {
        s = super::serve(args.listen, app, "consumer", move || stopping.cancel()) => s,
        // The consumer stopped on its own (a fatal error): stop serving too.
        () = stop.cancelled() => Ok(()),
    };
    stop.cancel();
    let consumed = consumer.await.context("consumer task panicked")?;
    served?;
    consumed.context("consumer")
}
