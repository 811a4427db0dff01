//! The edge collector: where players' pingbacks enter engage.
//!
//! It validates each input against the pingback specification (`engage_model::pingback`),
//! derives the viewer key (the raw client IP never leaves this crate) and the application,
//! stamps the event's edge time, and publishes a `RawEvent` through the
//! [`engage_bus::Publisher`] seam (the embedded log, or Kafka). Refused inputs get a 4xx with
//! a one-line reason, are counted by reason, and are published as `Rejected` envelopes so they
//! are kept for inspection. When the bus cannot take an event, the answer is 503 with
//! `Retry-After`, never a 2xx for something that could be lost.
//!
//! # Time
//! An event's time is when the edge saw it: the receive time of a live pingback (the player's
//! `ts` only orders its view, so a wrong player clock moves nothing), the timestamp of a CDN
//! log line, Segment's `timestamp` corrected by `sentAt`. Whether it is too late or too far
//! ahead is decided here, by this collector's clock ([`engage_model::time::check_horizon`]):
//! older than [`CollectorConfig::allowed_lateness_ms`] is refused as `beyond_horizon`, more
//! than [`FUTURE_TOLERANCE_MS`] ahead as `future_timestamp`. So nothing acknowledged is
//! refused later, and no input can move time into the future. Every envelope carries
//! `ingested_at_ms`, this clock when the input was accepted.
//!
//! # Layout
//! - [`client`]: who the client is (trusted proxies, `X-Forwarded-For`).
//! - [`pingback`]: `GET|HEAD /ping/dot.gif`.
//! - [`cdn_logs`]: `POST /v1/cdn-logs`, CDN access logs read as pingbacks.
//! - [`segment`]: the Segment HTTP Tracking API, `POST /v1/{track,identify,page,screen,group,alias,batch}`.
//! - [`sources`]: write keys → sources (tenants), consent.
//! - [`rate_limit`]: per-source rate limits (429 + `Retry-After`).
//! - `rejects`: which refused inputs are kept (sampled, redacted), all of them counted.
//! - [`salts`]: the viewer-key salts, kept in step with the salt book every collector shares.
//! - [`health`]: `/healthz`, `/readyz`.
//! - [`metrics`]: metric names.

pub mod cdn_logs;
pub mod client;
pub mod health;
#[cfg(test)]
mod ids_tests;
pub mod metrics;
pub mod pingback;
pub mod rate_limit;
mod rejects;
pub mod salts;
pub mod segment;
pub mod sources;
#[cfg(test)]
mod test_support;

use axum::Router;
use engage_bus::Publisher;
use engage_model::time::{DEFAULT_ALLOWED_LATENESS_MS, MAX_ALLOWED_LATENESS_MS};
use engage_model::viewer::ViewerKeyer;
use ipnet::IpNet;
use rate_limit::{RateLimiter, SourceRate};
use sources::WriteKeys;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

pub use engage_model::time::FUTURE_TOLERANCE_MS;

/// Collector settings.
#[derive(Clone, Debug)]
pub struct CollectorConfig {
    /// Proxies and load balancers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpNet>,
    /// The lateness horizon: an input whose event time is older than this by the collector's
    /// clock is refused as `beyond_horizon` (CDN log lines, Segment calls; a live pingback's
    /// time is now). Default 48 hours ([`DEFAULT_ALLOWED_LATENESS_MS`]); valid is
    /// `0 < allowed_lateness_ms <= 7 days` ([`MAX_ALLOWED_LATENESS_MS`]). Whoever builds the
    /// config calls [`CollectorConfig::validate`] and refuses to start on an error (the CLI's
    /// `--allowed-lateness-seconds`); [`Collector::new`] asserts it in debug builds.
    pub allowed_lateness_ms: i64,
    /// Segment write keys accepted, with the source each names; `None` accepts any key (or
    /// none), each key then its own source.
    pub write_keys: Option<WriteKeys>,
    /// The source of key-less Segment calls (when keys are not checked), pingbacks and logs.
    pub default_source: String,
    /// Per-source rate limit of Segment calls; `None`: unlimited.
    pub source_rate: Option<SourceRate>,
    /// Consent categories that, denied in `context.consent.categoryPreferences`, drop a call.
    pub consent_categories: Vec<String>,
    /// Who may post CDN logs (default: nobody).
    pub log_access: cdn_logs::access::LogAccess,
    /// How much one CDN-log request may carry.
    pub log_limits: cdn_logs::access::LogLimits,
}

impl Default for CollectorConfig {
    fn default() -> Self {
        Self {
            trusted_proxies: Vec::new(),
            allowed_lateness_ms: DEFAULT_ALLOWED_LATENESS_MS,
            write_keys: None,
            default_source: sources::DEFAULT_SOURCE.to_owned(),
            source_rate: None,
            consent_categories: sources::DEFAULT_CONSENT_CATEGORIES.iter().map(|c| c.to_string()).collect(),
            log_access: cdn_logs::access::LogAccess::default(),
            log_limits: cdn_logs::access::LogLimits::default(),
        }
    }
}

/// A collector configuration that cannot run.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CollectorConfigError {
    #[error("allowed_lateness_ms must be more than 0 and at most {MAX_ALLOWED_LATENESS_MS} (7 days), got {0}")]
    AllowedLateness(i64),
    #[error("--default-source: {0}")]
    DefaultSource(engage_model::source::SourceNameError),
    #[error("the CDN-log limits (bytes and lines per request) must be more than 0")]
    LogLimits,
}

impl CollectorConfig {
    /// Checks the configuration; called where it is built, before [`Collector::new`].
    pub fn validate(&self) -> Result<(), CollectorConfigError> {
        if self.allowed_lateness_ms <= 0 || self.allowed_lateness_ms > MAX_ALLOWED_LATENESS_MS {
            return Err(CollectorConfigError::AllowedLateness(self.allowed_lateness_ms));
        }
        sources::check_source_name(&self.default_source).map_err(CollectorConfigError::DefaultSource)?;
        if self.log_limits.max_bytes == 0 || self.log_limits.max_lines == 0 {
            return Err(CollectorConfigError::LogLimits);
        }
        Ok(())
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
    limiter: Option<RateLimiter>,
    kept_budget: rejects::KeptBudget,
}

impl std::fmt::Debug for Collector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Collector").field("config", &self.inner.config).finish_non_exhaustive()
    }
}

impl Collector {
    /// A collector over a bus, a viewer keyer (whose salts a [`salts::SaltKeeper`] keeps up
    /// to date), its settings (checked by [`CollectorConfig::validate`]) and a clock.
    pub fn new(publisher: Arc<dyn Publisher>, keyer: ViewerKeyer, config: CollectorConfig, clock: Clock) -> Self {
        debug_assert_eq!(config.validate(), Ok(()), "an invalid collector config");
        metrics::describe();
        // Compiles the bot list now rather than on the first request, and says if a pattern
        // of it is unusable (its bots would then count as people).
        for why in engage_model::bot::unusable_patterns() {
            tracing::warn!(pattern = %why, "a bot pattern could not be compiled and is not used");
        }
        let limiter = config.source_rate.map(RateLimiter::new);
        Self {
            inner: Arc::new(Inner {
                publisher,
                keyer,
                config,
                clock,
                draining: AtomicBool::new(false),
                limiter,
                kept_budget: Default::default(),
            }),
        }
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

    /// Ready: not draining, the bus takes events, and today's viewer-key salt is known.
    fn is_ready(&self) -> bool {
        let today = engage_model::time::utc_day(self.now_ms());
        !self.inner.draining.load(Ordering::SeqCst)
            && self.inner.publisher.is_ready()
            && self.inner.keyer.has_salt(today)
    }

    /// The rule of which salts must exist and which must be gone, for this collector's horizon.
    pub fn salt_policy(&self) -> engage_model::viewer::salts::SaltPolicy {
        engage_model::viewer::salts::SaltPolicy { allowed_lateness_ms: self.inner.config.allowed_lateness_ms }
    }

    /// The collector's own clock: receive times of live requests, `ingested_at_ms` of every
    /// envelope, and the `now` of the lateness horizon.
    fn now_ms(&self) -> i64 {
        (self.inner.clock)()
    }

    /// Whether an event time is within the horizon of `now_ms` (see the crate's `# Time`).
    fn check_horizon(&self, event_ms: i64, now_ms: i64) -> Result<(), engage_model::time::OutsideHorizon> {
        engage_model::time::check_horizon(event_ms, now_ms, self.inner.config.allowed_lateness_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_lateness_is_checked() {
        let with = |ms| CollectorConfig { allowed_lateness_ms: ms, ..CollectorConfig::default() }.validate();
        assert_eq!(CollectorConfig::default().allowed_lateness_ms, 172_800_000);
        assert_eq!(with(172_800_000), Ok(()));
        assert_eq!(with(1), Ok(()));
        assert_eq!(with(7 * 86_400_000), Ok(()));
        assert_eq!(with(0), Err(CollectorConfigError::AllowedLateness(0)));
        assert_eq!(with(-1), Err(CollectorConfigError::AllowedLateness(-1)));
        assert_eq!(with(7 * 86_400_000 + 1), Err(CollectorConfigError::AllowedLateness(7 * 86_400_000 + 1)));
    }
}
