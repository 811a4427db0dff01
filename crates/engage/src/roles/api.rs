//! `engage api`: the read side (API and dashboard) over the store, stateless and scalable.

use crate::telemetry;
use axum::Router;
use clap::Args;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct ApiRoleArgs {
    /// Address to serve the API, the dashboard, health and /metrics on.
    #[arg(long, env = "ENGAGE_LISTEN", default_value = "0.0.0.0:8080")]
    pub listen: SocketAddr,
    /// Where the SQLite store lives when no ClickHouse is configured.
    #[arg(long, env = "ENGAGE_DATA_DIR", default_value = "./engage-data")]
    pub data_dir: PathBuf,
    #[command(flatten)]
    pub store: crate::cli::StoreArgs,
}

pub async fn run(args: ApiRoleArgs) -> anyhow::Result<()> {
    let metrics = telemetry::install_metrics()?;
    let store = crate::store::open_store(&args.store, &args.data_dir).await?;
    let ready_store = store.clone();
    let app = Router::new()
        .merge(engage_api::router(store.clone()))
        .merge(engage_dashboard::router(store))
        .merge(super::health(move || {
            let store = ready_store.clone();
            async move { store.ping().await.map_err(|e| e.to_string()) }
        }))
        .merge(super::metrics_route(metrics));
    super::serve(args.listen, app, "api", || {}).await
}
