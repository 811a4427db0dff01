//! Commands and flags. Every flag is also an `ENGAGE_*` environment variable; values are
//! validated here, before anything starts, and every problem is reported.

use clap::{Args, Parser, Subcommand};
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
    /// prerolls, abandonment, retries, deliberate bad requests) against a collector.
    Loadgen(crate::loadgen::LoadgenArgs),
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
    /// Log files, or - for standard input.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Address to serve the collector, the API and /metrics on.
    #[arg(long, env = "ENGAGE_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Where the embedded log, the store and the viewer secret live.
    #[arg(long, env = "ENGAGE_DATA_DIR", default_value = "./engage-data")]
    pub data_dir: PathBuf,
    #[command(flatten)]
    pub collector: CollectorArgs,
    #[command(flatten)]
    pub engine: EngineArgs,
    /// How often open windows are written to the store, in milliseconds (the real-time delay).
    #[arg(long, env = "ENGAGE_COMMIT_INTERVAL_MS", default_value_t = 500, value_parser = clap::value_parser!(u64).range(10..=60_000))]
    pub commit_interval_ms: u64,
    /// An event id seen again within this much event time is a repeat and dropped (re-shipped logs, retries), in seconds.
    #[arg(long, env = "ENGAGE_DEDUP_HORIZON_SECONDS", default_value_t = 86_400, value_parser = clap::value_parser!(u64).range(1..=30 * 86_400))]
    pub dedup_horizon_seconds: u64,
}

#[derive(Debug, Args)]
pub struct CollectorArgs {
    /// Proxies whose X-Forwarded-For is believed (comma-separated CIDRs, e.g. 10.0.0.0/8).
    #[arg(long, env = "ENGAGE_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// A client timestamp further than this from the receive time is replaced by it (seconds).
    #[arg(long, env = "ENGAGE_MAX_CLOCK_SKEW_SECONDS", default_value_t = 86_400, value_parser = clap::value_parser!(u64).range(1..=31_536_000))]
    pub max_clock_skew_seconds: u64,
    /// Secret of the viewer-key hash, 32 hex digits. Every collector must share it. Default:
    /// generated once and kept in the data directory.
    #[arg(long, env = "ENGAGE_VIEWER_SECRET", hide_env_values = true)]
    pub viewer_secret: Option<String>,
    /// Segment write keys accepted on /v1/* (comma-separated). When none are given, `engage run`
    /// accepts any key (and says so at start).
    #[arg(long, env = "ENGAGE_WRITE_KEYS", value_delimiter = ',', hide_env_values = true)]
    pub write_keys: Vec<String>,
}

#[derive(Debug, Args)]
pub struct EngineArgs {
    /// Window size in seconds.
    #[arg(long, env = "ENGAGE_WINDOW_SECONDS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub window_seconds: u64,
    /// How long after a window's end late events are still counted into it (seconds).
    #[arg(long, env = "ENGAGE_ALLOWED_LATENESS_SECONDS", default_value_t = 300, value_parser = clap::value_parser!(u64).range(0..=86_400))]
    pub allowed_lateness_seconds: u64,
    /// A view silent this long (event time) is closed; if it was playing or paused it counts as abandoned (seconds).
    #[arg(long, env = "ENGAGE_VIEW_TIMEOUT_SECONDS", default_value_t = 1800, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub view_timeout_seconds: u64,
    /// A webinar attendee who never sent "User Left" (and whose session did not end) leaves this long after their last event (seconds).
    #[arg(long, env = "ENGAGE_ATTENDEE_TIMEOUT_SECONDS", default_value_t = 7200, value_parser = clap::value_parser!(u64).range(1..=604_800))]
    pub attendee_timeout_seconds: u64,
}

impl EngineArgs {
    pub fn engine_config(&self) -> engage_consumer::engine::EngineConfig {
        engage_consumer::engine::EngineConfig {
            window_ms: self.window_seconds as i64 * 1000,
            allowed_lateness_ms: self.allowed_lateness_seconds as i64 * 1000,
            view_timeout_ms: self.view_timeout_seconds as i64 * 1000,
            attendee_timeout_ms: self.attendee_timeout_seconds as i64 * 1000,
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
    fn bad_values_are_refused_before_start() {
        assert!(Cli::try_parse_from(["engage", "run", "--listen", "nowhere"]).is_err());
        assert!(Cli::try_parse_from(["engage", "run", "--window-seconds", "0"]).is_err());
        assert!(Cli::try_parse_from(["engage", "run", "--trusted-proxies", "10.0.0.0/99"]).is_err());
    }
}
