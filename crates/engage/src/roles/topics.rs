//! `engage create-topics`: the raw topic, its dead-letter topic and the compacted topic of the
//! viewer-key salts, created idempotently.

use crate::cli::KafkaArgs;
use clap::Args;

#[derive(Debug, Args)]
pub struct CreateTopicsArgs {
    #[command(flatten)]
    pub kafka: KafkaArgs,
    /// Partitions per topic: the most consumer processes that can share the work.
    #[arg(long, env = "ENGAGE_KAFKA_PARTITIONS", default_value_t = 12, value_parser = clap::value_parser!(i32).range(1..=10_000))]
    pub partitions: i32,
    /// Replication factor (3 on a production cluster).
    #[arg(long, env = "ENGAGE_KAFKA_REPLICATION", default_value_t = 1, value_parser = clap::value_parser!(i32).range(1..=16))]
    pub replication: i32,
}

pub async fn run(args: CreateTopicsArgs) -> anyhow::Result<()> {
    let config = args.kafka.required()?;
    let topics = [config.topic.as_str(), config.dead_letter_topic.as_str()];
    engage_kafka::admin::create_topics(&config, &topics, args.partitions, args.replication).await?;
    engage_kafka::admin::create_salts_topic(&config, &config.salts_topic, args.replication).await?;
    Ok(())
}
