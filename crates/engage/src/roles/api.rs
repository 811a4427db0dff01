//! `engage api`: the read side (API and dashboard) over the store, stateless and scalable.

use crate::telemetry;
use axum::Router;
use clap::Args;
use std::net::SocketAddr;
use std::path::PathBuf;

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
    #[command(flatten)]
    pub access: crate::access::ReadAccessArgs,
}

pub async fn run(args: ApiRoleArgs) -> anyhow::Result<()> {
    let auth = args.access.auth(crate::access::Role::Api, args.listen)?;
    crate::access::check_store_secrets(&args.store)?;
    let metrics = telemetry::install_metrics()?;
    let store = crate::store::open_store(&args.store, &args.data_dir).await?;
    let (metrics_routes, _metrics_listener) = args.access.metrics(metrics, &auth).await?;
    let ready_store = store.clone();
    let app = Router::new()
        .merge(engage_api::router(store.clone(), auth.clone()))
        .merge(engage_dashboard::router(store, auth.clone()))
        .merge(super::health(move || {
            let store = ready_store.clone();
            async move { store.ping().await.map_err(|e| e.to_string()) }
        }))
        .merge(metrics_routes);
    super::serve(args.listen, app, "api", || {}).await
}
