//! `engage run`: the whole pipeline in one process, on embedded defaults.
//!
//! collector ──► durable embedded log (`<data-dir>/bus.sqlite3`) ──► consumer worker
//! ──► SQLite store (`<data-dir>/engage.sqlite3`) ◄── API. One port serves the pingback
//! endpoint, the API, `/healthz`, `/readyz` and `/metrics`.
//!
//! Shutdown (SIGINT/SIGTERM): readiness turns 503, the server finishes in-flight requests,
//! the log writes what it has queued, then the consumer commits and stops.

use crate::cli::RunArgs;
use crate::{secret, telemetry};
use anyhow::Context;
use axum::Router;
use axum::routing::get;
use engage_bus::{EmbeddedLog, EmbeddedLogConfig};
use engage_collector::{Collector, CollectorConfig, system_clock};
use engage_consumer::dedup::DedupConfig;
use engage_consumer::worker::{self, WorkerConfig};
use engage_model::viewer::ViewerKeyer;
use engage_sink::{SqliteStore, Store};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    let metrics = telemetry::install_metrics()?;
    engage_consumer::metrics::describe();
    std::fs::create_dir_all(&args.data_dir).with_context(|| format!("creating {}", args.data_dir.display()))?;
    let secret = secret::load_or_create(args.collector.viewer_secret.as_deref(), &args.data_dir)?;

    let log = EmbeddedLog::open(&args.data_dir.join("bus.sqlite3"), EmbeddedLogConfig::default())
        .context("opening the embedded log")?;
    let store = SqliteStore::open(&args.data_dir.join("engage.sqlite3")).context("opening the store")?;
    let store: Arc<dyn Store> = Arc::new(store);

    let collector = Collector::new(
        Arc::new(log.clone()),
        ViewerKeyer::new(secret),
        CollectorConfig {
            trusted_proxies: args.collector.trusted_proxies.clone(),
            max_clock_skew_ms: args.collector.max_clock_skew_seconds as i64 * 1000,
            write_keys: write_keys(&args.collector.write_keys),
        },
        system_clock(),
    );
    let app = Router::new()
        .merge(collector.router())
        .merge(engage_api::router(store.clone()))
        .route("/metrics", get(move || std::future::ready(metrics.render())));

    let stop_consumer = CancellationToken::new();
    let consumer = tokio::spawn(worker::run(
        log.reader().context("opening a log reader")?,
        store.clone(),
        args.engine.engine_config(),
        WorkerConfig {
            commit_interval: Duration::from_millis(args.commit_interval_ms),
            dedup: DedupConfig { horizon_ms: args.dedup_horizon_seconds as i64 * 1000, ..DedupConfig::default() },
            ..WorkerConfig::default()
        },
        stop_consumer.clone(),
    ));

    let listener =
        tokio::net::TcpListener::bind(args.listen).await.with_context(|| format!("binding {}", args.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, data_dir = %args.data_dir.display(), "engage is running");
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
    log.close().await;
    stop_consumer.cancel();
    let consumed = consumer.await.context("consumer task panicked")?;
    served.context("serving HTTP")?;
    consumed.context("consumer")?;
    tracing::info!("stopped");
    Ok(())
}

/// The accepted Segment write keys; none configured means any key (said once, loudly).
fn write_keys(keys: &[String]) -> Option<Vec<String>> {
    let keys: Vec<String> = keys.iter().map(|k| k.trim().to_string()).filter(|k| !k.is_empty()).collect();
    if keys.is_empty() {
        tracing::warn!("no --write-keys / ENGAGE_WRITE_KEYS: the Segment endpoints /v1/* accept any write key");
        return None;
    }
    Some(keys)
}

async fn shutdown_signal() {
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
