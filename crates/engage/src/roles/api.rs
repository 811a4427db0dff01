//! `engage api`: the read side (API and dashboard) over the store, stateless and scalable.

use crate::telemetry;
use anyhow::Context;
use axum::Router;
use clap::Args;
use engage_bus::Publisher;
use engage_kafka::KafkaPublisher;
use engage_kafka::producer::ProducerSettings;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Debug, Args)]
pub struct ApiRoleArgs {
    /// Address to serve the API, the dashboard, health and /metrics on (every interface: the
    /// role refuses to start without --api-tokens unless --public-read).
    #[arg(long, env = "ENGAGE_LISTEN", default_value = "0.0.0.0:8080")]
    pub listen: SocketAddr,
    /// Where the SQLite store lives when no ClickHouse is configured.
    #[arg(long, env = "ENGAGE_DATA_DIR", default_value = "./engage-data")]
    pub data_dir: PathBuf,
    #[command(flatten)]
    pub store: crate::cli::StoreArgs,
    /// The bus the consumers read (`--kafka-brokers`, `--kafka-topic`): erasures
    /// (`DELETE /api/v1/users/{id}`) are published there so consumer state forgets the person
    /// too; without it they are refused (503).
    #[command(flatten)]
    pub kafka: crate::cli::KafkaArgs,
    #[command(flatten)]
    pub access: crate::access::ReadAccessArgs,
    /// The source pingbacks and CDN logs belong to (the collectors' `--default-source`): a
    /// token scoped to sources reads video rollups only when its scope holds it.
    #[arg(long, env = "ENGAGE_DEFAULT_SOURCE", default_value = engage_model::source::DEFAULT_SOURCE)]
    pub default_source: String,
}

pub async fn run(args: ApiRoleArgs) -> anyhow::Result<()> {
    engage_model::source::check_source_name(&args.default_source).context("--default-source")?;
    let auth = args.access.auth(crate::access::Role::Api, args.listen)?.with_default_source(&args.default_source);
    crate::access::check_store_secrets(&args.store)?;
    let metrics = telemetry::install_metrics()?;
    let store = crate::store::open_store(&args.store, &args.data_dir).await?;
    let (metrics_routes, _metrics_listener) = args.access.metrics(metrics, &auth).await?;
    let bus: Option<Arc<dyn Publisher>> = match args.kafka.config() {
        Some(kafka) => {
            let publisher = KafkaPublisher::new(&kafka, &ProducerSettings::default())
                .context("creating the Kafka producer for erasures")?;
            Some(Arc::new(publisher))
        }
        None => None,
    };
    let eraser = engage_api::erase::Eraser { store: store.clone(), bus };
    let ready_store = store.clone();
    let app = Router::new()
        .merge(engage_api::router(store.clone(), auth.clone()))
        .merge(engage_api::erasure_router(eraser, auth.clone()))
        .merge(engage_dashboard::router(store, auth.clone()))
        .merge(super::health(move || {
            let store = ready_store.clone();
            async move { store.ping().await.map_err(|e| e.to_string()) }
        }))
        .merge(metrics_routes);
    super::serve(args.listen, app, "api", || {}).await
}
