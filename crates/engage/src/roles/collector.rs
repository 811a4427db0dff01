//! `engage collector`: the edge role. Validates inputs and publishes them to Kafka; holds no
//! state of its own, so it scales horizontally behind a load balancer.
//!
//! It refuses to start without what production needs: the brokers and the Segment write keys
//! (else anyone can write), unless `--allow-any-write-key` says that is intended. The random
//! daily salts of viewer keys are shared with the other replicas through the salts topic
//! (see [`crate::salts`]), so one viewer gets one key whichever replica it reaches.
//! Without `--log-tokens` it serves no CDN-log route: a forged log line invents viewers.

use crate::cli::{CollectorArgs, KafkaArgs};
use crate::{salts, telemetry};
use anyhow::{Context, bail};
use clap::Args;
use engage_collector::cdn_logs::access::LogAccess;
use engage_collector::{Collector, system_clock};
use engage_kafka::KafkaPublisher;
use engage_kafka::producer::ProducerSettings;
use engage_model::viewer::ViewerKeyer;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Args)]
pub struct CollectorRoleArgs {
    /// Address to serve pingbacks, Segment calls, CDN logs, health and /metrics on.
    #[arg(long, env = "ENGAGE_LISTEN", default_value = "0.0.0.0:8080")]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub collector: CollectorArgs,
    #[command(flatten)]
    pub kafka: KafkaArgs,
    #[command(flatten)]
    pub access: crate::access::ReadAccessArgs,
    /// Accept Segment calls with any write key (otherwise --write-keys is required).
    #[arg(long, env = "ENGAGE_ALLOW_ANY_WRITE_KEY")]
    pub allow_any_write_key: bool,
    /// The lateness horizon (seconds; at most 7 days): log lines and Segment calls older than
    /// this by this collector's clock are refused (`beyond_horizon`). Use the consumers' value.
    #[arg(long, env = "ENGAGE_ALLOWED_LATENESS_SECONDS", default_value_t = 172_800, value_parser = clap::value_parser!(u64).range(1..=604_800))]
    pub allowed_lateness_seconds: u64,
    /// The longest a request waits for Kafka's acknowledgement before it is answered 503 (ms).
    #[arg(long, env = "ENGAGE_PUBLISH_TIMEOUT_MS", default_value_t = 2000, value_parser = clap::value_parser!(u64).range(50..=60_000))]
    pub publish_timeout_ms: u64,
}

pub async fn run(args: CollectorRoleArgs) -> anyhow::Result<()> {
    let kafka = args.kafka.required()?;
    let config = args.collector.collector_config(args.allowed_lateness_seconds)?;
    if matches!(config.log_access, LogAccess::Off) {
        tracing::warn!("no --log-tokens: POST /v1/cdn-logs is off (404) until log-shipper tokens are given");
    }
    if config.write_keys.is_none() && !args.allow_any_write_key {
        bail!("--write-keys / ENGAGE_WRITE_KEYS is required (or --allow-any-write-key to accept any Segment key)");
    }
    let auth = args.access.auth(crate::access::Role::Collector, args.listen)?;
    crate::access::check_collector_secrets(&args.collector)?;
    let metrics = telemetry::install_metrics()?;
    engage_kafka::stats::describe();
    let settings = ProducerSettings {
        publish_timeout: Duration::from_millis(args.publish_timeout_ms),
        ..ProducerSettings::default()
    };
    let publisher = KafkaPublisher::new(&kafka, &settings).context("creating the Kafka producer")?;
    match publisher.check_topic(Duration::from_secs(10)).await {
        Ok(partitions) => tracing::info!(topic = %kafka.topic, partitions, "Kafka topic found"),
        // Not fatal: the brokers may come later; requests are answered 503 until they do.
        Err(e) => tracing::error!(error = %e, "Kafka is not ready"),
    }
    args.collector.warn_deprecated();
    let keyer = ViewerKeyer::default();
    let collector = Collector::new(Arc::new(publisher.clone()), keyer.clone(), config, system_clock());
    let keeper = salts::keep(salts::kafka_book(&kafka).await?, keyer, &collector).await;
    let (metrics_routes, _metrics_listener) = args.access.metrics(metrics, &auth).await?;
    let app = collector.router().merge(metrics_routes);
    let draining = collector.clone();
    let served = super::serve(args.listen, app, "collector", move || draining.start_draining()).await;
    keeper.abort();
    served?;
    // What was acknowledged is already durable; flush what is still in flight.
    if let Err(e) = publisher.flush(Duration::from_secs(10)).await {
        tracing::warn!(error = %e, "Kafka flush on shutdown incomplete");
    }
    Ok(())
}
