//! Who may read, per role: the read side's tokens, `--public-read`, where `/metrics` is
//! served, and the refusal to start on a template's placeholder secrets.
//!
//! The read side (API, dashboard, `/metrics`) holds viewing behaviour, so a process never
//! serves it to the network without credentials by accident:
//! - `engage api` refuses to start without `--api-tokens` unless `--public-read`;
//! - `engage run` without tokens listens on loopback only (else refuses, unless `--public-read`);
//! - `engage collector` and `engage consumer` serve `/metrics` behind a token, on their own
//!   `--metrics-listen` address (no token, for in-cluster scraping), or on loopback;
//! - with `--metrics-listen`, the main listener serves no `/metrics` at all.

use crate::cli::{CollectorArgs, StoreArgs};
use anyhow::bail;
use axum::Router;
use clap::Args;
use engage_api::Auth;
use engage_api::auth::TokenSet;
use engage_api::scope::Resource;
use engage_model::credential::is_placeholder;
use metrics_exporter_prometheus::PrometheusHandle;
use std::net::SocketAddr;

/// The read side's credentials and the metrics listener.
#[derive(Clone, Default, Args)]
pub struct ReadAccessArgs {
    /// API tokens for the read side (comma-separated, each at least 16 characters):
    /// `TOKEN` reads everything, rejected inputs included; `TOKEN=sourceA|sourceB` reads only
    /// those sources. Sent as `Authorization: Bearer TOKEN`, or signed in on the dashboard.
    #[arg(long, env = "ENGAGE_API_TOKENS", value_delimiter = ',', hide_env_values = true)]
    pub api_tokens: Vec<String>,
    /// Tokens that may also erase a person's data (same syntax as --api-tokens).
    #[arg(long, env = "ENGAGE_ADMIN_TOKENS", value_delimiter = ',', hide_env_values = true)]
    pub admin_tokens: Vec<String>,
    /// Serve the read side (API, dashboard, /metrics) without tokens to whoever reaches the
    /// listener. Without it, `engage api` needs tokens and `engage run` stays on loopback.
    #[arg(long, env = "ENGAGE_PUBLIC_READ")]
    pub public_read: bool,
    /// Serve /metrics on this address instead (no token: for in-cluster scraping; keep it
    /// off the internet); the main listener then serves no /metrics.
    #[arg(long, env = "ENGAGE_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
}

impl std::fmt::Debug for ReadAccessArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadAccessArgs")
            .field("api_tokens", &self.api_tokens.len())
            .field("admin_tokens", &self.admin_tokens.len())
            .field("public_read", &self.public_read)
            .field("metrics_listen", &self.metrics_listen)
            .finish()
    }
}

/// Which process asks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Run,
    Api,
    Collector,
    Consumer,
}

impl ReadAccessArgs {
    /// The read side's [`Auth`] for `role` listening on `listen`, or why it must not start.
    pub fn auth(&self, role: Role, listen: SocketAddr) -> anyhow::Result<Auth> {
        let tokens = match TokenSet::parse(&self.api_tokens, &self.admin_tokens) {
            Ok(tokens) => tokens,
            Err(errors) => {
                let list: Vec<String> = errors.iter().map(|e| format!("  {e}")).collect();
                bail!("refusing to start, the read side's tokens are not usable:\n{}", list.join("\n"));
            }
        };
        if !tokens.is_empty() {
            if self.public_read {
                bail!("--public-read and --api-tokens / --admin-tokens exclude each other: choose one");
            }
            tracing::info!(tokens = tokens.len(), "the read side needs an API token");
            return Ok(Auth::new(tokens));
        }
        let loopback = listen.ip().to_canonical().is_loopback();
        let metrics_elsewhere = self.metrics_listen.is_some();
        match role {
            _ if self.public_read => {
                tracing::warn!(%listen, "--public-read: the read side is open to anyone who reaches this address");
            }
            Role::Api => bail!(
                "engage api needs --api-tokens / ENGAGE_API_TOKENS (comma-separated, each at least 16 characters, \
                 e.g. `openssl rand -hex 24`): without them anyone who reaches {listen} reads everything. \
                 Pass --public-read to serve the read side without credentials on purpose."
            ),
            Role::Run if !loopback => bail!(
                "--listen {listen} is not a loopback address and no --api-tokens / ENGAGE_API_TOKENS are set: \
                 the API, the dashboard and /metrics would be open to the network. Set tokens, listen on \
                 127.0.0.1, or pass --public-read to serve them without credentials on purpose."
            ),
            Role::Run => tracing::info!(
                %listen,
                "no --api-tokens: the read side (API, dashboard, /metrics) is open, on loopback only"
            ),
            Role::Collector | Role::Consumer if !loopback && !metrics_elsewhere => bail!(
                "/metrics would be open to anyone who reaches {listen}: pass --metrics-listen ADDR to serve it on \
                 its own (in-cluster) address, --api-tokens to require a token for it, or --public-read"
            ),
            Role::Collector | Role::Consumer => {}
        }
        Ok(Auth::open())
    }

    /// `/metrics` by the rule: on its own listener with --metrics-listen (bound and served
    /// here; the routes for the main listener are then empty), else a route for the main
    /// listener, behind an unscoped token when tokens are configured.
    pub async fn metrics(
        &self,
        handle: PrometheusHandle,
        auth: &Auth,
    ) -> anyhow::Result<(Router, Option<MetricsListener>)> {
        let route = crate::roles::metrics_route(handle);
        let Some(addr) = self.metrics_listen else {
            let route = if auth.requires_token() {
                engage_api::auth::guard(route, auth.clone(), Resource::Metrics)
            } else {
                route
            };
            return Ok((route, None));
        };
        let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| anyhow::anyhow!("binding {addr}: {e}"))?;
        let local = listener.local_addr()?;
        tracing::info!(addr = %local, "serving /metrics on its own listener");
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, route).await {
                tracing::error!(error = %e, "the metrics listener stopped");
            }
        });
        Ok((Router::new(), Some(MetricsListener { task })))
    }
}

/// The `--metrics-listen` server; stops when dropped (with the process's main server).
#[derive(Debug)]
pub struct MetricsListener {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for MetricsListener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Refuses to start on a placeholder left from a deployment template, naming the flag.
pub fn refuse_placeholders(flags: &[(&str, &[String])]) -> anyhow::Result<()> {
    let found: Vec<&str> =
        flags.iter().filter(|(_, values)| values.iter().any(|v| is_placeholder(v.trim()))).map(|(f, _)| *f).collect();
    if !found.is_empty() {
        bail!(
            "refusing to start: {} still hold a template placeholder (e.g. REPLACE-WITH-…, change-me): set real values",
            found.join(", ")
        );
    }
    Ok(())
}

/// [`refuse_placeholders`] for a collector's secrets.
pub fn check_collector_secrets(c: &CollectorArgs) -> anyhow::Result<()> {
    // `key=source`: the key is the secret.
    let keys: Vec<String> =
        c.write_keys.iter().map(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k).to_owned()).collect();
    refuse_placeholders(&[("--write-keys / ENGAGE_WRITE_KEYS", &keys)])
}

/// [`refuse_placeholders`] for the store's credentials (an empty password is no placeholder).
pub fn check_store_secrets(s: &StoreArgs) -> anyhow::Result<()> {
    let password: Vec<String> = s.clickhouse_password.iter().filter(|p| !p.is_empty()).cloned().collect();
    refuse_placeholders(&[("--clickhouse-password / ENGAGE_CLICKHOUSE_PASSWORD", &password)])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(tokens: &[&str], public_read: bool, metrics: Option<&str>) -> ReadAccessArgs {
        ReadAccessArgs {
            api_tokens: tokens.iter().map(|t| t.to_string()).collect(),
            admin_tokens: Vec::new(),
            public_read,
            metrics_listen: metrics.map(|m| m.parse().unwrap()),
        }
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn refusal(a: &ReadAccessArgs, role: Role, listen: &str) -> String {
        a.auth(role, addr(listen)).map(|_| ()).expect_err("refused").to_string()
    }

    #[test]
    fn each_role_serves_the_read_side_only_as_the_rule_says() {
        let none = args(&[], false, None);
        let token = args(&["a-token-of-16-chars"], false, None);
        let public = args(&[], true, None);
        let metrics = args(&[], false, Some("0.0.0.0:9090"));
        assert!(refusal(&none, Role::Api, "127.0.0.1:8080").contains("--public-read"));
        assert!(token.auth(Role::Api, addr("0.0.0.0:8080")).unwrap().requires_token());
        assert!(!public.auth(Role::Api, addr("0.0.0.0:8080")).unwrap().requires_token());
        assert!(refusal(&none, Role::Run, "0.0.0.0:8080").contains("not a loopback address"));
        for listen in ["127.0.0.1:8080", "[::1]:8080", "127.0.0.2:0"] {
            assert!(none.auth(Role::Run, addr(listen)).is_ok(), "{listen}");
        }
        assert!(token.auth(Role::Run, addr("0.0.0.0:8080")).is_ok());
        assert!(public.auth(Role::Run, addr("0.0.0.0:8080")).is_ok());
        for role in [Role::Collector, Role::Consumer] {
            assert!(refusal(&none, role, "0.0.0.0:8080").contains("--metrics-listen"));
            assert!(metrics.auth(role, addr("0.0.0.0:8080")).is_ok());
            assert!(none.auth(role, addr("127.0.0.1:0")).is_ok());
            assert!(token.auth(role, addr("0.0.0.0:8080")).is_ok());
        }
        let both = args(&["a-token-of-16-chars"], true, None);
        assert!(refusal(&both, Role::Api, "0.0.0.0:8080").contains("exclude each other"));
    }

    #[test]
    fn short_and_placeholder_tokens_are_refused_naming_the_flag() {
        let e = refusal(&args(&["short"], false, None), Role::Api, "0.0.0.0:8080");
        assert!(e.contains("--api-tokens / ENGAGE_API_TOKENS: entry 1 is 5 characters"), "{e}");
        let e = refusal(&args(&["REPLACE-WITH-API-TOKENS"], false, None), Role::Run, "127.0.0.1:0");
        assert!(e.contains("entry 1 is a placeholder"), "{e}");
        let debug = format!("{:?}", args(&["a-token-of-16-chars"], false, None));
        assert!(!debug.contains("a-token-of-16-chars"), "{debug}");
    }

    #[test]
    fn every_placeholder_of_the_secret_template_is_refused() {
        let manifest = include_str!("../../../deploy/kubernetes/config.yaml");
        let placeholders: Vec<&str> = manifest
            .lines()
            .filter_map(|l| l.trim().strip_prefix("ENGAGE_")?.split_once(": "))
            .map(|(_, v)| v.trim_matches('"'))
            .filter(|v| v.starts_with("REPLACE-WITH"))
            .collect();
        assert_eq!(placeholders.len(), 3, "write keys, API tokens, log tokens: {placeholders:?}");
        assert!(placeholders.iter().all(|p| is_placeholder(p)), "{placeholders:?}");
    }

    #[test]
    fn placeholder_secrets_are_refused_naming_the_flag() {
        let keys = vec!["REPLACE-WITH-WRITE-KEYS".to_string()];
        let e = refuse_placeholders(&[("--write-keys / ENGAGE_WRITE_KEYS", &keys)]).unwrap_err().to_string();
        assert!(e.contains("--write-keys / ENGAGE_WRITE_KEYS"), "{e}");
        assert!(refuse_placeholders(&[("--write-keys", &["wk_live_3kT9x2LmQp".to_string()])]).is_ok());
    }
}
