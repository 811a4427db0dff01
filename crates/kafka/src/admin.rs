//! Topic creation: the raw topic and its dead-letter topic, and the compacted topic of the
//! viewer-key salts, idempotently (an existing topic is fine). Operators may create them their
//! own way; `engage create-topics` and the tests use this, and the collector creates the salts
//! topic at start when it is missing. Brokers without auto-creation (Tansu, most managed
//! clusters) need it.

use crate::config::KafkaConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use std::time::Duration;

/// Creates `topics` with `partitions` each (replication `replication`); existing ones are kept.
pub async fn create_topics(
    config: &KafkaConfig,
    topics: &[&str],
    partitions: i32,
    replication: i32,
) -> Result<(), KafkaError> {
    let new: Vec<NewTopic<'_>> =
        topics.iter().map(|t| NewTopic::new(t, partitions, TopicReplication::Fixed(replication))).collect();
    create(config, &new).await
}

/// Creates the salts topic (see [`crate::salts`]): one partition, `cleanup.policy=compact`, so
/// it keeps the proposals of the days still in use and drops deleted days. An existing topic
/// is kept as it is.
pub async fn create_salts_topic(config: &KafkaConfig, topic: &str, replication: i32) -> Result<(), KafkaError> {
    let new = NewTopic::new(topic, 1, TopicReplication::Fixed(replication)).set("cleanup.policy", "compact");
    create(config, &[new]).await
}

async fn create(config: &KafkaConfig, new: &[NewTopic<'_>]) -> Result<(), KafkaError> {
    let mut c = config.client("engage-admin", Duration::from_secs(60));
    config.apply_properties(&mut c);
    let admin: AdminClient<DefaultClientContext> = c.create()?;
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    for result in admin.create_topics(new, &opts).await? {
        match result {
            Ok(topic) => tracing::info!(%topic, "created topic"),
            Err((topic, RDKafkaErrorCode::TopicAlreadyExists)) => tracing::info!(%topic, "topic exists"),
            Err((topic, code)) => {
                tracing::error!(%topic, error = %code, "cannot create topic");
                return Err(KafkaError::AdminOp(code));
            }
        }
    }
    Ok(())
}
