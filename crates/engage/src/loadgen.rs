//! `engage loadgen`: realistic synthetic players against a collector (see `engage-loadgen`).

use anyhow::bail;
use clap::Args;
use engage_loadgen::{PlanConfig, SendConfig, plan, send};

#[derive(Debug, Args)]
pub struct LoadgenArgs {
    /// Base URL of the collector (or `engage run`).
    #[arg(long, env = "ENGAGE_LOADGEN_TARGET", default_value = "http://127.0.0.1:8080")]
    pub target: String,
    /// Approximate requests per second once sessions have ramped up.
    #[arg(long, default_value_t = 200.0)]
    pub rate: f64,
    /// Length of the run in seconds.
    #[arg(long, default_value_t = 60)]
    pub duration_seconds: u64,
    /// Number of distinct items; a few popular ones get most plays.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..))]
    pub items: u32,
    /// Size of the viewer pool.
    #[arg(long, default_value_t = 5_000, value_parser = clap::value_parser!(u32).range(1..))]
    pub viewers: u32,
    /// Seed: the same seed sends the same requests.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Simulated seconds per real second (10 plays a 5-minute video in 30 s).
    #[arg(long, default_value_t = 10.0)]
    pub speed: f64,
    /// Share of requests immediately retried (duplicates).
    #[arg(long, default_value_t = 0.01)]
    pub duplicate_rate: f64,
    /// Share of sessions with one deliberately invalid request (must be refused).
    #[arg(long, default_value_t = 0.02)]
    pub bad_rate: f64,
    /// Parallel connections.
    #[arg(long, default_value_t = 8)]
    pub connections: usize,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

pub fn run(args: LoadgenArgs) -> anyhow::Result<()> {
    for (name, v) in [("--duplicate-rate", args.duplicate_rate), ("--bad-rate", args.bad_rate)] {
        if !(0.0..=1.0).contains(&v) {
            bail!("{name} must be between 0 and 1, got {v}");
        }
    }
    if !(args.rate > 0.0 && args.speed > 0.0) {
        bail!("--rate and --speed must be positive");
    }
    let cfg = PlanConfig {
        seed: args.seed,
        rate: args.rate,
        duration_ms: args.duration_seconds as i64 * 1000,
        items: args.items,
        viewers: args.viewers,
        speed: args.speed,
        duplicate_rate: args.duplicate_rate,
        bad_rate: args.bad_rate,
        ..PlanConfig::default()
    };
    let start_ms =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0);
    let requests = plan(&cfg, start_ms);
    tracing::info!(requests = requests.len(), target = %args.target, "loadgen starting");
    let report =
        send(requests, &SendConfig { target: args.target, connections: args.connections, progress: !args.quiet });
    #[allow(clippy::print_stdout)]
    {
        println!("{report}");
    }
    if !report.is_clean() {
        bail!("{} answers were not what the specification requires", report.mismatches + report.failed);
    }
    Ok(())
}
