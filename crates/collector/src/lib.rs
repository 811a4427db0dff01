//! The edge collector: where players' pingbacks enter engage.
//!
//! It validates each input against the pingback specification (`engage_model::pingback`),
//! derives the viewer key (the raw client IP never leaves this crate) and the application,
//! corrects implausible client clocks, and publishes a `RawEvent` through the
//! [`engage_bus::Publisher`] seam (the embedded log, or Kafka). Refused inputs get a 4xx with
//! a one-line reason, are counted by reason, and are published as `Rejected` envelopes so they
//! are kept for inspection. When the bus cannot take an event, the answer is 503 with
//! `Retry-After`, never a 2xx for something that could be lost.
//!
//! # Layout
//! - [`client`]: who the client is (trusted proxies, `X-Forwarded-For`).
//! - [`pingback`]: `GET|HEAD /ping/dot.gif`.
//! - [`cdn_logs`]: `POST /v1/cdn-logs`, CDN access logs read as pingbacks.
//! - [`segment`]: the Segment HTTP Tracking API, `POST /v1/{track,identify,page,screen,group,alias,batch}`.
//! - [`health`]: `/healthz`, `/readyz`.
//! - [`metrics`]: metric names.

pub mod cdn_logs;
pub mod client;
pub mod health;
pub mod metrics;
pub mod pingback;
pub mod segment;
#[cfg(test)]
mod test_support;

use axum::Router;
use engage_bus::Publisher;
use engage_model::viewer::ViewerKeyer;
use ipnet::IpNet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Collector settings.
#[derive(Clone, Debug)]
pub struct CollectorConfig {
    /// Proxies and load balancers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpNet>,
    /// A client timestamp further than this from the receive time is replaced by it.
    pub max_clock_skew_ms: i64,
    /// Segment write keys accepted; `None` accepts any key (or none).
    pub write_keys: Option<Vec<String>>,
}

impl Default for CollectorConfig {
    fn default() -> Self {
        Self { trusted_proxies: Vec::new(), max_clock_skew_ms: 24 * 3_600_000, write_keys: None }
    }
}

/// A clock returning epoch milliseconds; injected so tests control time.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// The system clock.
pub fn system_clock() -> Clock {
    Arc::new(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
    })
}

/// Shared state of the collector's handlers.
#[derive(Clone)]
pub struct Collector {
    inner: Arc<Inner>,
}

struct Inner {
    publisher: Arc<dyn Publisher>,
    keyer: ViewerKeyer,
    config: CollectorConfig,
    clock: Clock,
    draining: AtomicBool,
}

impl std::fmt::Debug for Collector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Collector").field("config", &self.inner.config).finish_non_exhaustive()
    }
}

impl Collector {
    pub fn new(publisher: Arc<dyn Publisher>, keyer: ViewerKeyer, config: CollectorConfig, clock: Clock) -> Self {
        metrics::describe();
        Self { inner: Arc::new(Inner { publisher, keyer, config, clock, draining: AtomicBool::new(false) }) }
    }

    /// The collector's routes: pingbacks, Segment calls and health.
    pub fn router(&self) -> Router {
        Router::new()
            .merge(pingback::routes())
            .merge(cdn_logs::routes())
            .merge(segment::routes())
            .merge(health::routes())
            .with_state(self.clone())
    }

    /// Readiness turns false first on shutdown, so load balancers stop sending before the drain.
    pub fn start_draining(&self) {
        self.inner.draining.store(true, Ordering::SeqCst);
    }

    fn is_ready(&self) -> bool {
        !self.inner.draining.load(Ordering::SeqCst) && self.inner.publisher.is_ready()
    }

    fn now_ms(&self) -> i64 {
        (self.inner.clock)()
    }
}
