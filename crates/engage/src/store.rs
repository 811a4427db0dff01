//! Which store a process uses: ClickHouse when `--clickhouse-url` is given (its schema must
//! be migrated: `engage migrate`), else the embedded SQLite store under the data directory.

use crate::cli::StoreArgs;
use anyhow::Context;
use engage_sink::{ClickHouseConfig, ClickHouseStore, SqliteStore, Store};
use std::path::Path;
use std::sync::Arc;

/// Opens the store `args` name. ClickHouse: connects and checks the schema version (fails
/// with "run `engage migrate`" when it is missing or behind this build); SQLite: opens (and
/// migrates) `<data_dir>/engage.sqlite3`, the data directory made private (0700/0600).
pub async fn open_store(args: &StoreArgs, data_dir: &Path) -> anyhow::Result<Arc<dyn Store>> {
    match clickhouse_config(args)? {
        Some(config) => {
            let (url, database) = (config.url.clone(), config.database.clone());
            let store = ClickHouseStore::connect(config)
                .await
                .with_context(|| format!("opening the ClickHouse store (database `{database}` at {url})"))?;
            tracing::info!(%url, %database, "store: ClickHouse");
            Ok(Arc::new(store))
        }
        None => {
            crate::private_fs::create_private_dir(data_dir)?;
            let path = data_dir.join("engage.sqlite3");
            let mut store =
                SqliteStore::open(&path).with_context(|| format!("opening the SQLite store {}", path.display()))?;
            // Whatever an older version left readable by others becomes private.
            crate::private_fs::make_private(data_dir);
            if let Some(days) = args.traits_ttl_days {
                store = store.with_traits_ttl_days(days);
            }
            if let Some(days) = args.raw_ttl_days {
                store = store.with_raw_ttl_days(days);
            }
            tracing::info!(path = %path.display(), "store: SQLite");
            Ok(Arc::new(store))
        }
    }
}

/// The ClickHouse settings, None without `--clickhouse-url`.
pub fn clickhouse_config(args: &StoreArgs) -> anyhow::Result<Option<ClickHouseConfig>> {
    let Some(url) = args.clickhouse_url.as_deref().map(str::trim).filter(|u| !u.is_empty()) else {
        return Ok(None);
    };
    if url.starts_with("https://") && !cfg!(feature = "clickhouse-tls") {
        anyhow::bail!("--clickhouse-url {url}: this build has no TLS; build engage with `--features clickhouse-tls`");
    }
    if !url.starts_with("http://") && !url.starts_with("https://") {
        anyhow::bail!("--clickhouse-url {url}: expected an http:// or https:// URL of ClickHouse's HTTP interface");
    }
    let mut config = ClickHouseConfig::new(url);
    config.database.clone_from(&args.clickhouse_database);
    config.user.clone_from(&args.clickhouse_user);
    config.password.clone_from(&args.clickhouse_password);
    Ok(Some(config))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    fn run_store_args(flags: &[&str]) -> StoreArgs {
        let cli = Cli::try_parse_from(["engage", "run"].iter().chain(flags)).expect("parses");
        let Command::Run(args) = cli.command else { panic!("not run") };
        args.store
    }

    #[test]
    fn without_a_url_the_store_is_sqlite() {
        assert!(clickhouse_config(&run_store_args(&[])).unwrap().is_none());
        assert!(clickhouse_config(&run_store_args(&["--clickhouse-url", " "])).unwrap().is_none());
    }

    #[test]
    fn clickhouse_settings_come_from_the_flags() {
        let args = run_store_args(&[
            "--clickhouse-url",
            "http://ch:8123",
            "--clickhouse-database",
            "analytics",
            "--clickhouse-user",
            "engage",
            "--clickhouse-password",
            "s3cret",
        ]);
        let c = clickhouse_config(&args).unwrap().expect("ClickHouse");
        assert_eq!((c.url.as_str(), c.database.as_str()), ("http://ch:8123", "analytics"));
        assert_eq!((c.user.as_deref(), c.password.as_deref()), (Some("engage"), Some("s3cret")));
        assert!(!format!("{c:?}").contains("s3cret"), "the password is not logged");
        let default = clickhouse_config(&run_store_args(&["--clickhouse-url", "http://ch:8123"])).unwrap().unwrap();
        assert_eq!(default.database, "engage");
    }

    #[test]
    fn unusable_urls_are_refused_before_start() {
        let err = clickhouse_config(&run_store_args(&["--clickhouse-url", "ch:8123"])).unwrap_err();
        assert!(err.to_string().contains("http://"), "{err}");
        if !cfg!(feature = "clickhouse-tls") {
            let err = clickhouse_config(&run_store_args(&["--clickhouse-url", "https://ch:8443"])).unwrap_err();
            assert!(err.to_string().contains("clickhouse-tls"), "{err}");
        }
    }

    #[test]
    fn migrate_takes_the_store_flags_and_a_ttl() {
        let cli =
            Cli::try_parse_from(["engage", "migrate", "--clickhouse-url", "http://ch:8123", "--raw-ttl-days", "7"])
                .expect("parses");
        let Command::Migrate(args) = cli.command else { panic!("not migrate") };
        assert_eq!(args.store.raw_ttl_days, Some(7));
        assert_eq!(args.store.clickhouse_database, "engage");
        assert!(Cli::try_parse_from(["engage", "migrate", "--raw-ttl-days", "-1"]).is_err());
    }
}
