//! Commands and flags. Every flag is also an `ENGAGE_*` environment variable; values are
//! validated here, before anything starts, and every problem is reported.

use clap::{Args, Parser, Subcommand};
use engage_collector::CollectorConfig;
use engage_collector::cdn_logs::access::{LogAccess, LogLimits, LogTokens};
use engage_collector::rate_limit::SourceRate;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(name = "engage", version, about = "Real-time engagement analytics for video and live webinars")]
pub struct Cli {
    /// Log filter (tracing EnvFilter syntax), e.g. `info` or `engage=debug,info`.
    #[arg(long, global = true, env = "ENGAGE_LOG", default_value = "info")]
    pub log: String,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// All in one process: collector, consumer, store and API on one port, on embedded
    /// defaults (a durable log and a SQLite store under --data-dir).
    Run(RunArgs),
    /// Ship CDN access-log files (plain or gzip, or - for standard input) to a collector's
    /// POST /v1/cdn-logs; prints a JSON summary per file.
    IngestLogs(IngestArgs),
    /// Simulate players (spec-conformant level-1 and level-2 sessions, seeks, pauses,
    /// prerolls, abandonment, retries, deliberate bad requests) and webinar audiences
    /// (Segment calls: joins, leaves, polls, chat, screen shares) against a collector.
    Loadgen(crate::loadgen::LoadgenArgs),
    /// Production role: the edge collector. Validates pingbacks, Segment calls and CDN logs
    /// and publishes them to Kafka (needs --kafka-brokers and --write-keys).
    Collector(crate::roles::collector::CollectorRoleArgs),
    /// Production role: a Kafka consumer group member that windows the events and writes
    /// rollups to the store (ClickHouse with --clickhouse-url, else SQLite under --data-dir).
    Consumer(crate::roles::consumer::ConsumerRoleArgs),
    /// Production role: the read API and the dashboard over the store.
    Api(crate::roles::api::ApiRoleArgs),
    /// Create the raw and dead-letter topics on a Kafka cluster (existing ones are kept).
    CreateTopics(crate::roles::topics::CreateTopicsArgs),
    /// Create or upgrade the ClickHouse schema (versioned migrations; safe to run twice and
    /// from several replicas at once).
    Migrate(crate::migrate::MigrateArgs),
    /// Erase a person (GDPR, CCPA): their traits and raw events in one source, in the store and
    /// in consumer state, through a running engage (--target) or directly (--kafka-brokers).
    Forget(crate::forget::ForgetArgs),
}

/// Where rollups are kept: ClickHouse with --clickhouse-url, else SQLite under --data-dir.
#[derive(Clone, Debug, Args)]
pub struct StoreArgs {
    /// ClickHouse's HTTP interface, e.g. http://clickhouse:8123 (run `engage migrate` first).
    /// Without it the embedded SQLite store under --data-dir is used.
    #[arg(long, env = "ENGAGE_CLICKHOUSE_URL")]
    pub clickhouse_url: Option<String>,
    /// The ClickHouse database.
    #[arg(long, env = "ENGAGE_CLICKHOUSE_DATABASE", default_value = "engage")]
    pub clickhouse_database: String,
    /// The ClickHouse user (default: ClickHouse's `default`).
    #[arg(long, env = "ENGAGE_CLICKHOUSE_USER", hide_env_values = true)]
    pub clickhouse_user: Option<String>,
    /// The ClickHouse password.
    #[arg(long, env = "ENGAGE_CLICKHOUSE_PASSWORD", hide_env_values = true)]
    pub clickhouse_password: Option<String>,
    /// Days user traits are kept after their last identify call (0: forever; default 395,
    /// about 13 months). SQLite applies it as it runs; on ClickHouse it is the table's TTL,
    /// set by `engage migrate`.
    #[arg(long, env = "ENGAGE_TRAITS_TTL_DAYS", value_parser = clap::value_parser!(u32).range(0..=36_500))]
    pub traits_ttl_days: Option<u32>,
    /// Days raw analytics events and rejected inputs are kept (0: forever; default 30).
    /// SQLite applies it as it runs; on ClickHouse it is the tables' TTL, set by `engage
    /// migrate` (without it, new tables get the default and existing ones keep theirs).
    #[arg(long, env = "ENGAGE_RAW_TTL_DAYS", value_parser = clap::value_parser!(u32).range(0..=36_500))]
    pub raw_ttl_days: Option<u32>,
}

/// Where Kafka is and what to call things there.
#[derive(Clone, Debug, Args)]
pub struct KafkaArgs {
    /// Kafka bootstrap servers (host:port,...). `engage run` uses its embedded log without it.
    #[arg(long, env = "ENGAGE_KAFKA_BROKERS")]
    pub kafka_brokers: Option<String>,
    /// The topic of raw events.
    #[arg(long, env = "ENGAGE_KAFKA_TOPIC", default_value = engage_kafka::config::DEFAULT_TOPIC)]
    pub kafka_topic: String,
    /// Where undecodable records go (default: the topic name + `.dlq`).
    #[arg(long, env = "ENGAGE_KAFKA_DEAD_LETTER_TOPIC")]
    pub kafka_dead_letter_topic: Option<String>,
    /// The consumer group.
    #[arg(long, env = "ENGAGE_KAFKA_GROUP", default_value = engage_kafka::config::DEFAULT_GROUP)]
    pub kafka_group: String,
    /// The compacted topic where the collectors share the daily salts of viewer keys.
    #[arg(long, env = "ENGAGE_KAFKA_SALTS_TOPIC", default_value = engage_kafka::config::DEFAULT_SALTS_TOPIC)]
    pub kafka_salts_topic: String,
    /// A librdkafka property, key=value (repeatable), e.g. -X security.protocol=SASL_SSL.
    #[arg(short = 'X', long = "kafka-property", env = "ENGAGE_KAFKA_PROPERTIES", value_delimiter = ';', value_parser = engage_kafka::config::parse_property)]
    pub kafka_properties: Vec<(String, String)>,
}

impl KafkaArgs {
    /// The client settings, or None without --kafka-brokers.
    pub fn config(&self) -> Option<engage_kafka::KafkaConfig> {
        let brokers = self.kafka_brokers.as_deref().map(str::trim).filter(|b| !b.is_empty())?;
        let mut c = engage_kafka::KafkaConfig::new(brokers);
        c.topic.clone_from(&self.kafka_topic);
        c.dead_letter_topic =
            self.kafka_dead_letter_topic.clone().unwrap_or_else(|| format!("{}.dlq", self.kafka_topic));
        c.group_id.clone_from(&self.kafka_group);
        c.salts_topic.clone_from(&self.kafka_salts_topic);
        c.properties.clone_from(&self.kafka_properties);
        Some(c)
    }

    /// The settings, or an error naming the flag when a role needs Kafka.
    pub fn required(&self) -> anyhow::Result<engage_kafka::KafkaConfig> {
        self.config().ok_or_else(|| anyhow::anyhow!("--kafka-brokers / ENGAGE_KAFKA_BROKERS is required"))
    }
}

#[derive(Debug, Args)]
pub struct IngestArgs {
    /// Log format: ncsa (nginx, Apache, Fastly, Akamai), cloudfront, cloudflare (Logpush JSON) or json.
    #[arg(long, env = "ENGAGE_LOG_FORMAT", value_parser = ["ncsa", "cloudfront", "cloudflare", "json"])]
    pub format: String,
    /// With --format json: which field holds what, e.g. path=req.url,ip=client,ua=agent,time=ts,status=code.
    #[arg(long, env = "ENGAGE_JSON_MAP")]
    pub json_map: Option<String>,
    /// The collector (or `engage run`) to send to.
    #[arg(long, env = "ENGAGE_TARGET", default_value = "http://127.0.0.1:8080")]
    pub target: String,
    /// A log-shipper token of the collector (`--log-tokens`); not needed for `engage run` on
    /// loopback without log tokens.
    #[arg(long, env = "ENGAGE_LOG_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Log files, or - for standard input.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Address to serve the collector, the API and /metrics on.
    #[arg(long, env = "ENGAGE_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Where the embedded log, the store and the viewer-key salts live (kept private: 0700/0600).
    #[arg(long, env = "ENGAGE_DATA_DIR", default_value = "./engage-data")]
    pub data_dir: PathBuf,
    #[command(flatten)]
    pub collector: CollectorArgs,
    #[command(flatten)]
    pub engine: EngineArgs,
    #[command(flatten)]
    pub kafka: KafkaArgs,
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub tuning: ConsumerTuning,
    #[command(flatten)]
    pub access: crate::access::ReadAccessArgs,
}

/// How the consumer commits and suppresses repeats.
#[derive(Debug, Args)]
pub struct ConsumerTuning {
    /// How often open windows are written to the store, in milliseconds (the real-time delay).
    #[arg(long, env = "ENGAGE_COMMIT_INTERVAL_MS", default_value_t = 500, value_parser = clap::value_parser!(u64).range(10..=60_000))]
    pub commit_interval_ms: u64,
    /// A Segment message id seen again within this much event time is a repeat and dropped
    /// (retried deliveries), in seconds; never less than --allowed-lateness-seconds. Pingbacks
    /// and CDN log lines need no id memory: a view's events are a set (see the README).
    #[arg(long, env = "ENGAGE_DEDUP_HORIZON_SECONDS", default_value_t = 172_800, value_parser = clap::value_parser!(u64).range(1..=30 * 86_400))]
    pub dedup_horizon_seconds: u64,
    /// How often a commit also saves the consumer's state (the checkpoint a restart resumes
    /// from), in seconds. Longer: smaller writes, longer replay after a crash. Results are
    /// exact either way.
    #[arg(long, env = "ENGAGE_SNAPSHOT_INTERVAL_SECONDS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub snapshot_interval_seconds: u64,
}

impl ConsumerTuning {
    pub fn snapshot_interval(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.snapshot_interval_seconds)
    }

    pub fn commit_interval(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.commit_interval_ms)
    }

    /// The repeat-suppression settings: the horizon is at least the lateness horizon.
    pub fn dedup(&self, engine: &EngineArgs) -> engage_consumer::dedup::DedupConfig {
        engage_consumer::dedup::DedupConfig {
            horizon_ms: self.dedup_horizon_seconds.max(engine.allowed_lateness_seconds) as i64 * 1000,
            ..engage_consumer::dedup::DedupConfig::default()
        }
    }
}

#[derive(Clone, Debug, Args)]
pub struct CollectorArgs {
    /// Proxies whose X-Forwarded-For is believed (comma-separated CIDRs, e.g. 10.0.0.0/8).
    #[arg(long, env = "ENGAGE_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// No effect since event times are edge times (a player's clock only orders its view);
    /// accepted so existing configurations keep starting, with a warning.
    #[arg(long, env = "ENGAGE_MAX_CLOCK_SKEW_SECONDS", hide = true)]
    pub max_clock_skew_seconds: Option<u64>,
    /// No effect since viewer keys use a random salt per day (see SECURITY.md, "Viewers");
    /// accepted so existing configurations keep starting, with a warning.
    #[arg(long, env = "ENGAGE_VIEWER_SECRET", hide = true, hide_env_values = true)]
    pub viewer_secret: Option<String>,
    /// Segment write keys accepted on /v1/*, each naming its source: `key1=sourceA,key2=sourceB`
    /// (a bare key is its own source). Sources are tenants: everything derived from a Segment
    /// call is kept per source. When none are given, `engage run` accepts any key, each its
    /// own source (and says so at start).
    #[arg(long, env = "ENGAGE_WRITE_KEYS", value_delimiter = ',', hide_env_values = true)]
    pub write_keys: Vec<String>,
    /// The source of pingbacks, CDN log lines, and Segment calls without a key when keys are
    /// not checked.
    #[arg(long, env = "ENGAGE_DEFAULT_SOURCE", default_value = engage_collector::sources::DEFAULT_SOURCE)]
    pub default_source: String,
    /// Segment calls a second each source may send on average, per collector (429 with
    /// Retry-After beyond it); 0: no limit.
    #[arg(long, env = "ENGAGE_SOURCE_RATE", default_value_t = 1000)]
    pub source_rate: u32,
    /// Segment calls a source may send at once above its rate (a batch counts its calls).
    #[arg(long, env = "ENGAGE_SOURCE_BURST", default_value_t = 5000, value_parser = clap::value_parser!(u32).range(1..))]
    pub source_burst: u32,
    /// Consent categories (`context.consent.categoryPreferences`) that, set to false, mean
    /// no analytics: such calls are dropped and counted (comma-separated, any case).
    #[arg(long, env = "ENGAGE_CONSENT_CATEGORIES", value_delimiter = ',', default_values_t = engage_collector::sources::DEFAULT_CONSENT_CATEGORIES.iter().map(|c| c.to_string()))]
    pub consent_categories: Vec<String>,
    /// Log-shipper tokens for POST /v1/cdn-logs (comma-separated, each at least 16
    /// characters; `Authorization: Bearer`). Without them `engage collector` serves no log
    /// route and `engage run` takes logs from loopback only.
    #[arg(long, env = "ENGAGE_LOG_TOKENS", value_delimiter = ',', hide_env_values = true)]
    pub log_tokens: Vec<String>,
    /// Most bytes of one CDN-log request, after decompression (413 past it).
    #[arg(long, env = "ENGAGE_LOG_MAX_BYTES", default_value_t = engage_collector::cdn_logs::access::DEFAULT_MAX_BYTES, value_parser = clap::value_parser!(u64).range(1..))]
    pub log_max_bytes: u64,
    /// Most lines of one CDN-log request (413 past it).
    #[arg(long, env = "ENGAGE_LOG_MAX_LINES", default_value_t = engage_collector::cdn_logs::access::DEFAULT_MAX_LINES, value_parser = clap::value_parser!(u64).range(1..))]
    pub log_max_lines: u64,
}

impl CollectorArgs {
    /// The collector's settings (validated); `allowed_lateness_seconds` is the horizon.
    pub fn collector_config(&self, allowed_lateness_seconds: u64) -> anyhow::Result<CollectorConfig> {
        let write_keys = crate::run::write_keys(&self.write_keys)?;
        let log_access = match LogTokens::parse(&self.log_tokens) {
            Ok(Some(tokens)) => LogAccess::Tokens(tokens),
            Ok(None) => LogAccess::Off,
            Err(errors) => anyhow::bail!("refusing to start, --log-tokens are not usable:\n  {}", errors.join("\n  ")),
        };
        let config = CollectorConfig {
            trusted_proxies: self.trusted_proxies.clone(),
            allowed_lateness_ms: allowed_lateness_seconds as i64 * 1000,
            write_keys,
            default_source: self.default_source.trim().to_owned(),
            source_rate: (self.source_rate > 0)
                .then_some(SourceRate { per_second: self.source_rate, burst: self.source_burst }),
            consent_categories: self
                .consent_categories
                .iter()
                .map(|c| c.trim().to_owned())
                .filter(|c| !c.is_empty())
                .collect(),
            log_access,
            log_limits: LogLimits { max_bytes: self.log_max_bytes, max_lines: self.log_max_lines },
        };
        config.validate()?;
        Ok(config)
    }

    /// Logs a warning for every flag given that no longer has an effect.
    pub fn warn_deprecated(&self) {
        if self.max_clock_skew_seconds.is_some() {
            tracing::warn!(
                "--max-clock-skew-seconds / ENGAGE_MAX_CLOCK_SKEW_SECONDS has no effect any more: an event counts \
                 at the time the edge saw it, and a player's clock only orders its own view"
            );
        }
        if self.viewer_secret.is_some() {
            tracing::warn!(
                "--viewer-secret / ENGAGE_VIEWER_SECRET has no effect any more: viewer keys use a random salt per \
                 day, shared through the salt book and deleted after use; remove it from the configuration"
            );
        }
    }
}

#[derive(Debug, Args)]
pub struct EngineArgs {
    /// Window size in seconds.
    #[arg(long, env = "ENGAGE_WINDOW_SECONDS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub window_seconds: u64,
    /// The lateness horizon (seconds; at most 7 days): inputs older than this by the
    /// collector's clock are refused (`beyond_horizon`); anything younger is counted and
    /// corrects the windows already written. A window is final this long after its end.
    #[arg(long, env = "ENGAGE_ALLOWED_LATENESS_SECONDS", default_value_t = 172_800, value_parser = clap::value_parser!(u64).range(1..=604_800))]
    pub allowed_lateness_seconds: u64,
    /// How long windows and ended views stay in memory after they end (seconds of event
    /// time). Later data is still exact (new window generations, archived views read back);
    /// shorter holds less memory and reads the store more for late data.
    #[arg(long, env = "ENGAGE_HOLD_SECONDS", default_value_t = 300, value_parser = clap::value_parser!(u64).range(0..=86_400))]
    pub hold_seconds: u64,
    /// A view silent this long (event time) is closed; if it was playing or paused it counts as abandoned (seconds).
    #[arg(long, env = "ENGAGE_VIEW_TIMEOUT_SECONDS", default_value_t = 1800, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub view_timeout_seconds: u64,
    /// A webinar session that never sent "Session Ended" is over this long after its last activity (seconds).
    #[arg(long, env = "ENGAGE_ATTENDEE_TIMEOUT_SECONDS", default_value_t = 7200, value_parser = clap::value_parser!(u64).range(1..=604_800))]
    pub attendee_timeout_seconds: u64,
    /// Where a webinar event names its session: dotted JSON paths into the call, the first
    /// that holds an id wins (comma-separated). Events without one are attributed by their
    /// user's other calls (see the README, "Webinar sessions").
    #[arg(long, env = "ENGAGE_SESSION_ID_PATHS", value_delimiter = ',', default_values_t = engage_model::segment::path::DEFAULT_SESSION_ID_PATHS.map(String::from), value_parser = parse_session_id_path)]
    pub session_id_paths: Vec<String>,
}

/// A `--session-id-paths` entry: a dotted JSON path (checked here, before anything starts).
fn parse_session_id_path(s: &str) -> Result<String, String> {
    s.trim().parse::<engage_model::segment::path::JsonPath>().map(|p| p.to_string()).map_err(|e| e.to_string())
}

impl EngineArgs {
    pub fn engine_config(&self) -> engage_consumer::engine::EngineConfig {
        engage_consumer::engine::EngineConfig {
            window_ms: self.window_seconds as i64 * 1000,
            allowed_lateness_ms: self.allowed_lateness_seconds as i64 * 1000,
            hold_ms: self.hold_seconds as i64 * 1000,
            view_timeout_ms: self.view_timeout_seconds as i64 * 1000,
            attendee_timeout_ms: self.attendee_timeout_seconds as i64 * 1000,
            session_id_paths: self.session_id_paths.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn defaults_match_the_contract() {
        let cli = Cli::try_parse_from(["engage", "run"]).expect("parses");
        let Command::Run(args) = cli.command else { panic!("not run") };
        assert_eq!(args.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(args.data_dir, PathBuf::from("./engage-data"));
        assert_eq!(args.engine.engine_config(), engage_consumer::engine::EngineConfig::default());
    }

    #[test]
    fn the_kubernetes_manifests_run_commands_that_parse() {
        let manifests = [
            include_str!("../../../deploy/kubernetes/collector.yaml"),
            include_str!("../../../deploy/kubernetes/consumer.yaml"),
            include_str!("../../../deploy/kubernetes/api.yaml"),
            include_str!("../../../deploy/kubernetes/setup-job.yaml"),
        ];
        let mut seen = 0;
        for line in manifests.iter().flat_map(|m| m.lines()) {
            let Some(args) = line.trim().strip_prefix("args: ") else { continue };
            let args: Vec<String> = serde_json::from_str(args).expect("args is a JSON-style list");
            let argv = std::iter::once("engage".to_string()).chain(args.iter().cloned());
            if let Err(e) = Cli::try_parse_from(argv) {
                panic!("`engage {}` does not parse: {e}", args.join(" "));
            }
            seen += 1;
        }
        assert_eq!(seen, 5, "collector, consumer, api, migrate and create-topics");
    }

    #[test]
    fn bad_values_are_refused_before_start() {
        assert!(Cli::try_parse_from(["engage", "run", "--listen", "nowhere"]).is_err());
        assert!(Cli::try_parse_from(["engage", "run", "--window-seconds", "0"]).is_err());
        assert!(Cli::try_parse_from(["engage", "run", "--allowed-lateness-seconds", "604801"]).is_err());
        assert!(Cli::try_parse_from(["engage", "run", "--allowed-lateness-seconds", "0"]).is_err());
        assert!(Cli::try_parse_from(["engage", "run", "--trusted-proxies", "10.0.0.0/99"]).is_err());
    }
}
