//! The production roles, each a separate process (a Kubernetes Deployment): `collector`,
//! `consumer`, `api`, plus `create-topics`. They share the serving and shutdown plumbing here.

pub mod api;
pub mod collector;
pub mod consumer;
pub mod topics;

use anyhow::Context;
use axum::Router;
use std::future::Future;
use std::net::SocketAddr;

/// Binds `listen`, prints the `engage <role> listening on http://ADDR` line scripts wait for,
/// and serves `app` until SIGINT/SIGTERM; `on_signal` runs first (e.g. start draining) and
/// in-flight requests then finish.
pub(crate) async fn serve(
    listen: SocketAddr,
    app: Router,
    role: &str,
    on_signal: impl FnOnce() + Send + 'static,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("binding {listen}"))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, role, "serving");
    #[allow(clippy::print_stdout)]
    {
        println!("engage {role} listening on http://{addr}");
    }
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(async move {
            crate::run::shutdown_signal().await;
            tracing::info!("shutting down");
            on_signal();
        })
        .await
        .context("serving HTTP")
}

/// `/healthz` (the process is up) and `/readyz` (the given check passes) for roles without a
/// collector (which has its own).
pub(crate) fn health<F, Fut>(ready: F) -> Router
where
    F: Fn() -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    use axum::http::StatusCode;
    use axum::routing::get;
    Router::new().route("/healthz", get(|| async { "ok\n" })).route(
        "/readyz",
        get(move || {
            let ready = ready.clone();
            async move {
                match ready().await {
                    Ok(()) => (StatusCode::OK, "ready\n".to_string()),
                    Err(why) => (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {why}\n")),
                }
            }
        }),
    )
}

/// The Prometheus scrape endpoint.
pub(crate) fn metrics_route(handle: metrics_exporter_prometheus::PrometheusHandle) -> Router {
    Router::new().route("/metrics", axum::routing::get(move || std::future::ready(handle.render())))
}
