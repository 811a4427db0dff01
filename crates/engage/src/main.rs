//! `engage`: the binary. Wiring only; the work lives in the library crates.
//!
//! # Layout
//! - [`cli`]: commands and flags (every flag also an `ENGAGE_*` environment variable).
//! - [`run`]: `engage run`, the whole pipeline in one process on embedded defaults.
//! - [`ingest`]: `engage ingest-logs`, CDN log files shipped to a collector.
//! - [`loadgen`]: `engage loadgen`, synthetic players against a collector.
//! - [`telemetry`]: logging and the Prometheus recorder.
//! - [`secret`]: the viewer-key secret, loaded or created.

mod cli;
mod ingest;
mod loadgen;
mod run;
mod secret;
mod telemetry;

use clap::Parser;

fn main() -> anyhow::Result<()> {
    let cli = cli::Cli::parse();
    telemetry::init_logging(&cli.log);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    match cli.command {
        cli::Command::Run(args) => runtime.block_on(run::run(args)),
        cli::Command::IngestLogs(args) => ingest::run(args),
        cli::Command::Loadgen(args) => loadgen::run(args),
    }
}
