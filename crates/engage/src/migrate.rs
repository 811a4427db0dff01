//! `engage migrate`: creates or upgrades the ClickHouse schema (versioned migrations kept in
//! `engage_sink::clickhouse::schema`; safe to run twice and from several replicas at once).
//! Prints one JSON line saying what it did.

use crate::cli::StoreArgs;
use anyhow::Context;
use clap::Args;
use engage_sink::ClickHouseStore;
use engage_sink::clickhouse::MigrateOptions;
use engage_sink::clickhouse::schema;

#[derive(Debug, Args)]
pub struct MigrateArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Print the SQL of every migration instead of applying it (no connection needed).
    #[arg(long)]
    pub print_sql: bool,
}

pub async fn run(args: MigrateArgs) -> anyhow::Result<()> {
    if args.print_sql {
        for (version, name, sql) in schema::all_statements() {
            emit(&format!("-- version {version}: {name}\n{sql};\n"));
        }
        return Ok(());
    }
    let config = crate::store::clickhouse_config(&args.store)?
        .context("--clickhouse-url / ENGAGE_CLICKHOUSE_URL is required (the SQLite store migrates itself)")?;
    let options = MigrateOptions { raw_ttl_days: args.store.raw_ttl_days, traits_ttl_days: args.store.traits_ttl_days };
    let report = ClickHouseStore::migrate(&config, options)
        .await
        .with_context(|| format!("migrating the ClickHouse database `{}` at {}", config.database, config.url))?;
    emit(
        &serde_json::json!({
            "database": config.database,
            "schema_version": report.version,
            "applied": report.applied,
            "ttl_changed": report.ttl_changed,
        })
        .to_string(),
    );
    Ok(())
}

#[allow(clippy::print_stdout)]
fn emit(line: &str) {
    println!("{line}");
}
