//! `engage run`: the whole pipeline in one process, on embedded defaults.
//!
//! collector ──► durable embedded log (`<data-dir>/bus.sqlite3`) ──► consumer worker
//! ──► SQLite store (`<data-dir>/engage.sqlite3`) ◄── API and dashboard. One port serves the
//! pingback endpoint, the API, the dashboard, `/healthz`, `/readyz` and `/metrics`.
//! With `--kafka-brokers`, the bus is Kafka instead: the same producer and consumer group
//! member as the `collector` and `consumer` roles, in one process. With `--clickhouse-url`,
//! the store is ClickHouse instead of SQLite (see [`crate::store`]).
//!
//! Shutdown (SIGINT/SIGTERM): readiness turns 503, the server finishes in-flight requests,
//! the log writes what it has queued, then the consumer commits and stops.

use crate::cli::RunArgs;
use crate::{private_fs, salts, telemetry};
use anyhow::Context;
use axum::Router;
use engage_bus::{EmbeddedLog, EmbeddedLogConfig, Publisher};
use engage_collector::cdn_logs::access::LogAccess;
use engage_collector::sources::WriteKeys;
use engage_collector::{Collector, system_clock};
use engage_consumer::worker::{self, WorkerConfig};
use engage_kafka::KafkaPublisher;
use engage_kafka::consumer::ConsumerSettings;
use engage_kafka::producer::ProducerSettings;
use engage_model::viewer::ViewerKeyer;
use engage_sink::Store;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    let auth = args
        .access
        .auth(crate::access::Role::Run, args.listen)?
        .with_default_source(args.collector.default_source.trim());
    crate::access::check_collector_secrets(&args.collector)?;
    crate::access::check_store_secrets(&args.store)?;
    let metrics = telemetry::install_metrics()?;
    engage_consumer::metrics::describe();
    private_fs::create_private_dir(&args.data_dir)?;
    salts::remove_legacy_secret(&args.data_dir);
    let salt_book = match args.kafka.config() {
        Some(kafka) => salts::kafka_book(&kafka).await?,
        None => salts::dir_book(&args.data_dir)?,
    };
    let store: Arc<dyn Store> = crate::store::open_store(&args.store, &args.data_dir).await?;

    let stop_consumer = CancellationToken::new();
    let (bus, consumer) = match args.kafka.config() {
        None => {
            let log = EmbeddedLog::open(&args.data_dir.join("bus.sqlite3"), EmbeddedLogConfig::default())
                .context("opening the embedded log")?;
            let consumer = tokio::spawn(worker::run(
                log.reader().context("opening a log reader")?,
                store.clone(),
                args.engine.engine_config(),
                WorkerConfig {
                    commit_interval: args.tuning.commit_interval(),
                    snapshot_interval: args.tuning.snapshot_interval(),
                    dedup: args.tuning.dedup(&args.engine),
                    ..WorkerConfig::default()
                },
                stop_consumer.clone(),
            ));
            let consumer = async move { consumer.await.context("consumer task panicked")?.context("consumer") };
            (Bus::Embedded(log), Box::pin(consumer) as ConsumerTask)
        }
        Some(kafka) => {
            engage_kafka::stats::describe();
            let publisher =
                KafkaPublisher::new(&kafka, &ProducerSettings::default()).context("creating the Kafka producer")?;
            if let Err(e) = publisher.check_topic(Duration::from_secs(10)).await {
                tracing::error!(error = %e, "Kafka is not ready");
            }
            let settings = ConsumerSettings {
                engine: args.engine.engine_config(),
                dedup: args.tuning.dedup(&args.engine),
                commit_interval: args.tuning.commit_interval(),
                snapshot_interval: args.tuning.snapshot_interval(),
                ..ConsumerSettings::default()
            };
            let (store, stop) = (store.clone(), stop_consumer.clone());
            let consumer =
                tokio::spawn(async move { engage_kafka::consumer::run(&kafka, store, settings, stop).await });
            let consumer = async move { consumer.await.context("consumer task panicked")?.context("Kafka consumer") };
            (Bus::Kafka(publisher), Box::pin(consumer) as ConsumerTask)
        }
    };

    // What older versions created readable by others becomes private too.
    private_fs::make_private(&args.data_dir);

    let mut collector_config = args.collector.collector_config(args.engine.allowed_lateness_seconds)?;
    if matches!(collector_config.log_access, LogAccess::Off) {
        // One process on one machine: logs from this machine are the operator's own.
        collector_config.log_access = LogAccess::Loopback;
        tracing::info!("no --log-tokens: POST /v1/cdn-logs takes logs from loopback clients only");
    }
    args.collector.warn_deprecated();
    let keyer = ViewerKeyer::default();
    let collector = Collector::new(bus.publisher(), keyer.clone(), collector_config, system_clock());
    let keeper = salts::keep(salt_book, keyer, &collector).await;
    let (metrics, _metrics_listener) = args.access.metrics(metrics, &auth).await?;
    let app = Router::new()
        .merge(collector.router())
        .merge(engage_api::router(store.clone(), auth.clone()))
        .merge(engage_api::erasure_router(
            engage_api::erase::Eraser { store: store.clone(), bus: Some(bus.publisher()) },
            auth.clone(),
        ))
        .merge(engage_dashboard::router(store.clone(), auth))
        .merge(metrics);

    let listener =
        tokio::net::TcpListener::bind(args.listen).await.with_context(|| format!("binding {}", args.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, data_dir = %args.data_dir.display(), kafka = args.kafka.config().is_some(), "engage is running");
    // One line on stdout that scripts and tests can wait for.
    #[allow(clippy::print_stdout)]
    {
        println!("engage listening on http://{addr}");
    }

    let shutdown = {
        let collector = collector.clone();
        async move {
            shutdown_signal().await;
            tracing::info!("shutting down: draining");
            collector.start_draining();
        }
    };
    let served = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await;
    keeper.abort();
    bus.close().await;
    stop_consumer.cancel();
    let consumed = consumer.await;
    served.context("serving HTTP")?;
    consumed?;
    tracing::info!("stopped");
    Ok(())
}

/// The consumer's task, whichever bus it reads.
type ConsumerTask = std::pin::Pin<Box<dyn std::future::Future<Output = anyhow::Result<()>> + Send>>;

/// What carries events from the collector to the consumer.
enum Bus {
    Embedded(EmbeddedLog),
    Kafka(KafkaPublisher),
}

impl Bus {
    fn publisher(&self) -> Arc<dyn Publisher> {
        match self {
            Bus::Embedded(log) => Arc::new(log.clone()),
            Bus::Kafka(p) => Arc::new(p.clone()),
        }
    }

    /// Makes what was accepted durable before the consumer stops.
    async fn close(&self) {
        match self {
            Bus::Embedded(log) => log.close().await,
            Bus::Kafka(p) => {
                if let Err(e) = p.flush(Duration::from_secs(10)).await {
                    tracing::warn!(error = %e, "Kafka flush on shutdown incomplete");
                }
            }
        }
    }
}

/// The accepted Segment write keys and their sources; none configured means any key, each
/// its own source (said once, loudly).
pub(crate) fn write_keys(entries: &[String]) -> anyhow::Result<Option<WriteKeys>> {
    let keys = WriteKeys::parse(entries).context("--write-keys / ENGAGE_WRITE_KEYS")?;
    match &keys {
        None => tracing::warn!(
            "no --write-keys / ENGAGE_WRITE_KEYS: the Segment endpoints /v1/* accept any write key, each its own source"
        ),
        Some(keys) => tracing::info!(sources = ?keys.sources(), "Segment write keys configured"),
    }
    Ok(keys)
}

pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
