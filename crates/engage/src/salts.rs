//! The viewer-key salts of a collecting process: which salt book it shares (a directory of
//! the data dir for `engage run` on its embedded log, the compacted Kafka topic otherwise),
//! the keeper's first pass before the process serves, and its periodic passes after.
//!
//! Also the upgrade from a long-lived secret: a `viewer-secret` file left in the data dir by
//! an older version is deleted at start (salts are random per day now; viewer counts of the
//! day of the upgrade split once, as a viewer keyed before it gets a new key after it).

use anyhow::Context;
use engage_bus::SaltBook;
use engage_collector::Collector;
use engage_collector::salts::SaltKeeper;
use engage_collector::salts::dir::DirSaltBook;
use engage_kafka::KafkaConfig;
use engage_model::viewer::ViewerKeyer;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// The file older versions kept their viewer-key secret in.
const LEGACY_SECRET_FILE: &str = "viewer-secret";
/// The longest the process waits for its first salts before serving anyway (events are then
/// answered 503 until the keeper succeeds).
const FIRST_PASS_TIMEOUT: Duration = Duration::from_secs(20);

/// The salt book of a data directory.
pub fn dir_book(data_dir: &Path) -> anyhow::Result<Arc<dyn SaltBook>> {
    let book = DirSaltBook::in_data_dir(data_dir).context("opening the viewer-key salts")?;
    Ok(Arc::new(book))
}

/// The salt book in Kafka, its topic created first when missing (best effort: an operator may
/// have created it, or the brokers may come later).
pub async fn kafka_book(kafka: &KafkaConfig) -> anyhow::Result<Arc<dyn SaltBook>> {
    if let Err(e) = engage_kafka::admin::create_salts_topic(kafka, &kafka.salts_topic, 1).await {
        tracing::warn!(topic = %kafka.salts_topic, error = %e, "cannot create the salts topic (engage create-topics makes it)");
    }
    let book = engage_kafka::salts::KafkaSaltBook::start(kafka).context("reading the salts topic")?;
    Ok(Arc::new(book))
}

/// Runs the keeper's first pass (bounded), then keeps it running; abort the handle to stop it.
pub async fn keep(book: Arc<dyn SaltBook>, keyer: ViewerKeyer, collector: &Collector) -> tokio::task::JoinHandle<()> {
    let keeper = SaltKeeper::new(book, keyer, collector.salt_policy(), engage_collector::system_clock());
    match tokio::time::timeout(FIRST_PASS_TIMEOUT, keeper.refresh()).await {
        Ok(Ok(_)) => tracing::info!("viewer-key salts ready"),
        Ok(Err(e)) => tracing::error!(error = %e, "no viewer-key salts yet: events are answered 503 until there are"),
        Err(_) => {
            tracing::error!("no viewer-key salts yet (the salt book is slow): events are answered 503 until there are")
        }
    }
    keeper.spawn()
}

/// Deletes the long-lived secret of older versions, saying so once.
pub fn remove_legacy_secret(data_dir: &Path) {
    let path = data_dir.join(LEGACY_SECRET_FILE);
    match std::fs::remove_file(&path) {
        Ok(()) => tracing::warn!(
            path = %path.display(),
            "deleted the old viewer-key secret: viewer keys now use a random salt per day, so today's viewers \
             keyed before this start count again after it"
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => tracing::error!(path = %path.display(), error = %e, "cannot delete the old viewer-key secret"),
    }
}
