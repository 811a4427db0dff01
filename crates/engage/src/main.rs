//! `engage`: the binary. Wiring only; the work lives in the library crates.
//!
//! # Layout
//! - [`cli`]: commands and flags (every flag also an `ENGAGE_*` environment variable).
//! - [`access`]: the read side's tokens per role, `/metrics` placement, placeholder refusal.
//! - [`run`]: `engage run`, the whole pipeline in one process (embedded defaults, or over Kafka).
//! - [`roles`]: the production roles `collector`, `consumer`, `api`, and `create-topics`.
//! - [`migrate`]: `engage migrate`, the ClickHouse schema created or upgraded.
//! - [`store`]: which store a process uses (ClickHouse or SQLite), opened and checked.
//! - [`ingest`]: `engage ingest-logs`, CDN log files shipped to a collector.
//! - [`forget`]: `engage forget`, a person's data erased.
//! - [`loadgen`]: `engage loadgen`, synthetic players against a collector.
//! - [`telemetry`]: logging and the Prometheus recorder.
//! - [`salts`]: the viewer-key salts: which salt book, kept up to date.
//! - [`private_fs`]: the data directory, private (0700/0600) whatever the umask.

mod access;
mod cli;
mod forget;
mod ingest;
mod loadgen;
mod migrate;
mod private_fs;
mod roles;
mod run;
mod salts;
mod store;
mod telemetry;

use clap::Parser;

fn main() -> anyhow::Result<()> {
    private_fs::restrict_umask();
    let cli = cli::Cli::parse();
    telemetry::init_logging(&cli.log);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    match cli.command {
        cli::Command::Run(args) => runtime.block_on(run::run(args)),
        cli::Command::IngestLogs(args) => ingest::run(args),
        cli::Command::Loadgen(args) => loadgen::run(args),
        cli::Command::Collector(args) => runtime.block_on(roles::collector::run(args)),
        cli::Command::Consumer(args) => runtime.block_on(roles::consumer::run(args)),
        cli::Command::Api(args) => runtime.block_on(roles::api::run(args)),
        cli::Command::CreateTopics(args) => runtime.block_on(roles::topics::run(args)),
        cli::Command::Migrate(args) => runtime.block_on(migrate::run(args)),
        cli::Command::Forget(args) => runtime.block_on(forget::run(args)),
    }
}
