//! The salts topic against a real Kafka-protocol broker (`KAFKA_BROKERS`, e.g. the Tansu of
//! `tests/services/with-services.sh`): collectors that race to make a day's salt end up with
//! the same one, so they key one viewer alike; a collector started later reads it; expired
//! days are tombstoned and forgotten by every collector.
//!
//! Without `KAFKA_BROKERS` the tests say so and pass, unless `ENGAGE_REQUIRE_SERVICES` is set.

use engage_collector::salts::SaltKeeper;
use engage_kafka::KafkaConfig;
use engage_kafka::salts::KafkaSaltBook;
use engage_model::time::DAY_MS;
use engage_model::viewer::ViewerKeyer;
use engage_model::viewer::salts::SaltPolicy;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

const HOUR: i64 = 3_600_000;
const DAY: i64 = 20_789;
const POLICY: SaltPolicy = SaltPolicy { allowed_lateness_ms: 48 * HOUR };

fn brokers() -> Option<String> {
    match std::env::var("KAFKA_BROKERS") {
        Ok(b) if !b.trim().is_empty() => Some(b.trim().to_owned()),
        _ => {
            assert!(std::env::var_os("ENGAGE_REQUIRE_SERVICES").is_none(), "KAFKA_BROKERS is required");
            eprintln!("skipped: KAFKA_BROKERS is not set (run under tests/services/with-services.sh)");
            None
        }
    }
}

/// A collector's salts: a book on the topic, a keeper, a keyer, on the shared clock.
fn collector(config: &KafkaConfig, now: &Arc<AtomicI64>) -> (SaltKeeper, ViewerKeyer) {
    let book = KafkaSaltBook::start(config).expect("salt book");
    let keyer = ViewerKeyer::default();
    let now = now.clone();
    let clock = Arc::new(move || now.load(Ordering::SeqCst));
    (SaltKeeper::new(Arc::new(book), keyer.clone(), POLICY, clock), keyer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collectors_share_the_first_salt_of_each_day_and_delete_expired_ones() {
    let Some(brokers) = brokers() else { return };
    let mut config = KafkaConfig::new(brokers);
    let stamp = std::time::UNIX_EPOCH.elapsed().map_or(0, |d| d.as_millis());
    config.salts_topic = format!("engage.viewer-salts.test-{}-{stamp}", std::process::id());
    engage_kafka::admin::create_salts_topic(&config, &config.salts_topic, 1).await.expect("create the topic");

    let now = Arc::new(AtomicI64::new(DAY * DAY_MS + 12 * HOUR));
    let (keeper_a, keyer_a) = collector(&config, &now);
    let (keeper_b, keyer_b) = collector(&config, &now);
    // Both find the topic empty and propose every day at once: they must converge.
    let (a, b) = tokio::join!(keeper_a.refresh(), keeper_b.refresh());
    a.expect("collector a");
    b.expect("collector b");
    let ip: IpAddr = "203.0.113.9".parse().expect("ip");
    let days: Vec<i64> = keyer_a.salts().days().collect();
    assert_eq!(days, vec![DAY - 2, DAY - 1, DAY, DAY + 1]);
    assert_eq!(keyer_a.salts(), keyer_b.salts(), "one salt per day for every collector");
    for day in DAY - 2..=DAY + 1 {
        assert_eq!(keyer_a.key(day, ip, "ua"), keyer_b.key(day, ip, "ua"), "day {day}");
    }
    assert_ne!(keyer_a.key(DAY, ip, "ua"), keyer_a.key(DAY + 1, ip, "ua"));

    // A collector started later reads the same salts and proposes nothing.
    let (keeper_c, keyer_c) = collector(&config, &now);
    assert_eq!(keeper_c.refresh().await.expect("collector c").proposed, Vec::<i64>::new());
    assert_eq!(keyer_c.salts(), keyer_a.salts());

    // Two days and 15 hours later the salts of DAY - 2 and DAY - 1 have expired.
    now.store((DAY + 2) * DAY_MS + 3 * HOUR, Ordering::SeqCst);
    let done = keeper_a.refresh().await.expect("collector a expires");
    assert_eq!(done.deleted, vec![DAY - 2, DAY - 1]);
    keeper_b.refresh().await.expect("collector b expires");
    assert_eq!(keyer_b.salts().days().collect::<Vec<_>>(), vec![DAY, DAY + 1, DAY + 2, DAY + 3]);
    assert_eq!(keyer_a.salts(), keyer_b.salts());
    // A collector started now finds no expired salt in the topic (tombstones hide them).
    let (keeper_d, keyer_d) = collector(&config, &now);
    keeper_d.refresh().await.expect("collector d");
    assert_eq!(keyer_d.salts(), keyer_a.salts());
}
