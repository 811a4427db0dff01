//! `engage loadgen`: realistic synthetic players and webinar audiences against a collector
//! (see `engage-loadgen`).

use anyhow::bail;
use clap::Args;
use engage_loadgen::{Call, Expect, PlanConfig, Request, SendConfig, plan, send};

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
    /// Webinar sessions started during the run (Segment calls on top of --rate; 0: none).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(0..=1_000))]
    pub webinars: u32,
    /// Mean attendees per webinar.
    #[arg(long, default_value_t = 40, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub attendees: u32,
    /// Segment write key sent with the webinars' calls (must be one of the collector's --write-keys, if any).
    #[arg(long, env = "ENGAGE_LOADGEN_WRITE_KEY", default_value = "loadgen", hide_env_values = true)]
    pub write_key: String,
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
    /// Base of every timestamp sent, epoch milliseconds (default: now). With the same seed
    /// and flags, the same start plans the same requests byte for byte.
    #[arg(long)]
    pub start_ms: Option<i64>,
    /// Print the planned requests as JSON lines instead of sending them.
    #[arg(long)]
    pub dry_run: bool,
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
        webinars: args.webinars,
        attendees: args.attendees,
        write_key: args.write_key,
        speed: args.speed,
        duplicate_rate: args.duplicate_rate,
        bad_rate: args.bad_rate,
        ..PlanConfig::default()
    };
    let start_ms = args.start_ms.unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
    });
    let requests = plan(&cfg, start_ms);
    if args.dry_run {
        return print_plan(&requests);
    }
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

/// One JSON line per planned request: due time, lane, route, user agent, expectation and
/// the query (pingbacks) or body (Segment calls).
fn print_plan(requests: &[Request]) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for r in requests {
        let expect = match r.expect {
            Expect::Accepted => "accepted".to_owned(),
            Expect::Ignored => "ignored".to_owned(),
            Expect::Retry => "retry".to_owned(),
            Expect::Rejected(code) => format!("rejected:{code}"),
        };
        let mut line = serde_json::json!({
            "due_ms": r.due_ms, "lane": r.lane, "route": r.route(), "user_agent": r.user_agent, "expect": expect,
        });
        match &r.call {
            Call::Ping { query } => line["query"] = query.clone().into(),
            Call::Segment { body, .. } => line["body"] = body.clone().into(),
        }
        writeln!(out, "{line}")?;
    }
    out.flush()?;
    Ok(())
}
