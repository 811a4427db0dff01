//! Kafka in the middle, end to end with real processes: `engage collector` → a
//! Kafka-protocol broker (Tansu, or `KAFKA_BROKERS`) → `engage consumer` group members →
//! store → `engage api`. Asserts exact numbers against expectations computed from the
//! workload itself, across rebalances, SIGKILLs and a broker outage.

#[path = "../../sink/tests/clickhouse_support/mod.rs"]
mod clickhouse_support;
mod support;

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};
use support::kafka::{Broker, Role, unique};
use support::workload::Workload;
use support::{agent, eventually, get, get_json, now_ms};

/// Partitions of the crash tests' topic.
const PARTITIONS: u32 = 4;

/// The log-shipper token of the collectors of these tests.
const LOG_TOKEN: &str = "e2e-kafka-log-token-0001";

fn collector(broker: &Broker, topic: &str) -> Role {
    Role::collector(broker, topic, &["--log-tokens", LOG_TOKEN, "--publish-timeout-ms", "1000"])
}

fn consumer(broker: &Broker, topic: &str, group: &str, data_dir: &Path, envs: &[(&str, &str)]) -> Role {
    consumer_committing_every(broker, topic, group, data_dir, envs, "100")
}

fn consumer_committing_every(
    broker: &Broker,
    topic: &str,
    group: &str,
    data_dir: &Path,
    envs: &[(&str, &str)],
    commit_interval_ms: &str,
) -> Role {
    let dir = data_dir.to_str().expect("utf-8 path");
    Role::start(
        &[
            "consumer",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            dir,
            "--kafka-brokers",
            &broker.brokers,
            "--kafka-topic",
            topic,
            "--kafka-group",
            group,
            "--commit-interval-ms",
            commit_interval_ms,
            "--kafka-session-timeout-ms",
            "6000",
            "--kafka-max-poll-interval-ms",
            "10000",
        ],
        envs,
    )
}

fn api(data_dir: &Path) -> Role {
    api_with(data_dir, &[])
}

fn api_with(data_dir: &Path, envs: &[(&str, &str)]) -> Role {
    let dir = data_dir.to_str().expect("utf-8");
    Role::start(&["api", "--listen", "127.0.0.1:0", "--public-read", "--data-dir", dir], envs)
}

/// Ships the workload's lines to the collector as an NCSA access log.
fn ingest(collector: &Role, workload: &Workload, lines: std::ops::Range<usize>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let part = Workload { lines: workload.lines[lines].to_vec(), expected: BTreeMap::new() };
    let file = dir.path().join("access.log");
    part.write(&file);
    let out = std::process::Command::new(support::engage_bin())
        .args(["ingest-logs", "--format", "ncsa", "--target", &collector.base, "--token", LOG_TOKEN])
        .arg(&file)
        .env("ENGAGE_LOG", "warn")
        .output()
        .expect("run ingest-logs");
    assert!(out.status.success(), "ingest-logs failed: {}", String::from_utf8_lossy(&out.stderr));
    let summary: Value = serde_json::from_slice(&out.stdout).expect("summary JSON");
    assert_eq!(summary["accepted"], summary["lines"], "every line is a valid pingback: {summary}");
}

/// Every item's engagement JSON, as the API answers it.
fn all_engagement(api: &Role) -> BTreeMap<String, Value> {
    let agent = agent();
    let items = get_json(&agent, &api.url("/api/v1/items?limit=1000"));
    let names: Vec<String> = items["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["item"].as_str().expect("item").to_string())
        .collect();
    names
        .into_iter()
        .map(|item| {
            let e = get_json(&agent, &api.url(&format!("/api/v1/items/{item}/engagement")));
            (item, e)
        })
        .collect()
}

fn total_impressions(api: &Role) -> u64 {
    let items = get_json(&agent(), &api.url("/api/v1/items?limit=1000"));
    items["items"].as_array().expect("items").iter().map(|i| i["impressions"].as_u64().unwrap_or(0)).sum()
}

/// Asserts the API's numbers equal the workload's expectations, item by item.
fn assert_expected(api: &Role, workload: &Workload) {
    let got = all_engagement(api);
    assert_eq!(got.len(), workload.expected.len(), "items: {:?}", got.keys().collect::<Vec<_>>());
    for (item, want) in &workload.expected {
        let e = &got[item];
        let field = |f: &str| e[f].as_u64().unwrap_or_else(|| panic!("{item}.{f} missing: {e}"));
        assert_eq!(
            (field("impressions"), field("plays"), field("completions"), field("unique_viewers")),
            (want.impressions, want.plays, want.completions, want.unique_viewers),
            "{item}"
        );
        assert_eq!(field("duplicates"), 0, "{item}: nothing was sent twice");
    }
}

/// Waits until `f` holds, panicking with `what` after `limit`.
fn wait_for(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    eventually(limit, || f().then_some(())).unwrap_or_else(|| panic!("timed out waiting for {what}"));
}

#[test]
fn two_consumers_split_the_partitions_and_rebalances_change_nothing() {
    let broker = Broker::for_test();
    let topic = unique("split");
    broker.create_topic(&topic, 4);
    let group = unique("g");
    let store = tempfile::tempdir().expect("tempdir");
    let workload = Workload::new("split", 900, 12, now_ms());
    let third = workload.lines.len() / 3;

    let collector = collector(&broker, &topic);
    let a = consumer(&broker, &topic, &group, store.path(), &[]);
    let api = api(store.path());
    wait_for("consumer A to own every partition", Duration::from_secs(60), || {
        a.metric("engage_kafka_assigned_partitions") == 4.0
    });
    ingest(&collector, &workload, 0..third);

    // B joins mid-stream: the partitions are split between the two members.
    let b = consumer(&broker, &topic, &group, store.path(), &[]);
    wait_for("the partitions to be split", Duration::from_secs(60), || {
        let (pa, pb) = (a.metric("engage_kafka_assigned_partitions"), b.metric("engage_kafka_assigned_partitions"));
        pa > 0.0 && pb > 0.0 && pa + pb == 4.0
    });
    ingest(&collector, &workload, third..2 * third);
    wait_for("both members to consume", Duration::from_secs(60), || {
        a.metric("engage_consumer_records_total") > 0.0 && b.metric("engage_consumer_records_total") > 0.0
    });

    // B leaves mid-stream: A takes its partitions back from B's checkpoints.
    b.stop();
    ingest(&collector, &workload, 2 * third..workload.lines.len());
    let want = workload.total_impressions();
    wait_for("every impression", Duration::from_secs(90), || total_impressions(&api) >= want);
    std::thread::sleep(Duration::from_millis(500)); // a double count would show by now
    assert_expected(&api, &workload);
    a.stop();
}

/// Consumes the whole workload with one consumer per incarnation, SIGKILLing it when the
/// records it applied (committed or not) pass each of `kill_at` (fractions of the records),
/// restarting it each time. Commits are a second apart, so a kill nearly always finds applied
/// records not yet written. Returns every item's engagement once the consumer has gone idle.
fn consume_with_kills(
    broker: &Broker,
    topic: &str,
    records: usize,
    kill_at: &[f64],
    envs: &[(&str, &str)],
) -> BTreeMap<String, Value> {
    let group = unique("crash");
    let store = tempfile::tempdir().expect("tempdir");
    let consumer = |envs| consumer_committing_every(broker, topic, &group, store.path(), envs, "1000");
    let mut done_before = 0.0; // records applied by earlier incarnations (replays included)
    for fraction in kill_at {
        let c = consumer(envs);
        let target = fraction * records as f64;
        wait_for("progress before the kill", Duration::from_secs(120), || {
            done_before + c.metric("engage_kafka_applied_records_total") >= target
        });
        done_before += c.metric("engage_kafka_applied_records_total");
        c.kill();
    }
    let c = consumer(envs);
    // Idle: owning every partition (a killed member keeps its share until its session times
    // out), and nothing new applied for three seconds.
    let mut last = ((-1.0, -1.0), Instant::now());
    wait_for("the consumer to go idle", Duration::from_secs(120), || {
        let now = (c.metric("engage_consumer_records_total"), c.metric("engage_kafka_assigned_partitions"));
        if now != last.0 {
            last = (now, Instant::now());
        }
        now.1 == f64::from(PARTITIONS) && last.1.elapsed() > Duration::from_secs(3)
    });
    let api = api(store.path());
    let result = all_engagement(&api);
    eprintln!(
        "consumed {} records in the last incarnation ({done_before} before); {} items",
        c.metric("engage_consumer_records_total"),
        result.len()
    );
    c.stop();
    result
}

fn crash_fixture() -> (Broker, String, Workload, BTreeMap<String, Value>) {
    let broker = Broker::for_test();
    let topic = unique("crash");
    broker.create_topic(&topic, PARTITIONS);
    let workload = Workload::new("crash", 1500, 10, now_ms());
    let collector = collector(&broker, &topic);
    ingest(&collector, &workload, 0..workload.lines.len());
    // The clean run: one consumer, never interrupted.
    let clean = consume_with_kills(&broker, &topic, workload.lines.len(), &[], &[]);
    (broker, topic, workload, clean)
}

#[test]
fn a_consumer_killed_at_10_50_and_90_percent_ends_exactly_like_a_clean_run() {
    let (broker, topic, workload, clean) = crash_fixture();
    // The clean run itself is right (so equality below means right, not equally wrong).
    for (item, want) in &workload.expected {
        assert_eq!(clean[item]["impressions"].as_u64(), Some(want.impressions), "{item}");
        assert_eq!(clean[item]["completions"].as_u64(), Some(want.completions), "{item}");
    }
    let crashed = consume_with_kills(&broker, &topic, workload.lines.len(), &[0.1, 0.5, 0.9], &[]);
    assert_eq!(crashed.len(), clean.len());
    for (item, e) in &clean {
        assert_eq!(&crashed[item], e, "{item} differs after SIGKILLs");
    }
}

#[test]
fn the_crash_check_detects_offsets_committed_before_the_store_write() {
    // Negative control: the same kills with the classic mistake injected must be caught.
    let (broker, topic, workload, clean) = crash_fixture();
    let fault = [("ENGAGE_FAULT_COMMIT_BEFORE_WRITE", "true")];
    let crashed = consume_with_kills(&broker, &topic, workload.lines.len(), &[0.1, 0.5, 0.9], &fault);
    let totals = |m: &BTreeMap<String, Value>| {
        let sum = |f: &str| m.values().map(|e| e[f].as_u64().unwrap_or(0)).sum::<u64>();
        ["impressions", "plays", "completions", "pauses", "unique_viewers"].map(|f| (f, sum(f)))
    };
    assert_ne!(
        crashed,
        clean,
        "committing offsets before the write must change the results after SIGKILLs (totals {:?})",
        totals(&crashed)
    );
    eprintln!("negative control: clean {:?}, with the fault {:?}", totals(&clean), totals(&crashed));
}

#[test]
fn a_broker_outage_loses_nothing_acknowledged_and_answers_503_promptly() {
    let broker = Broker::private();
    let topic = unique("outage");
    broker.create_topic(&topic, 2);
    let store = tempfile::tempdir().expect("tempdir");
    let collector = collector(&broker, &topic);
    let consumer = consumer(&broker, &topic, &unique("g"), store.path(), &[]);
    let api = api(store.path());

    // One request per item, so each acknowledged request is one impression to find.
    let base = collector.base.clone();
    let sender = std::thread::spawn(move || {
        let agent = agent();
        let mut outcomes = Vec::new();
        for k in 0..600 {
            let url = format!("{base}/ping/dot.gif?item=outage-{k}&ts={}&progress=0&event=initialized", now_ms());
            let started = Instant::now();
            let (status, _, _) = get(&agent, &url, &format!("Acme/Player 2.0 (outage-{k})"));
            outcomes.push((k, status, started.elapsed()));
            std::thread::sleep(Duration::from_millis(10));
        }
        outcomes
    });
    std::thread::sleep(Duration::from_secs(2));
    broker.freeze(true);
    std::thread::sleep(Duration::from_secs(5));
    broker.freeze(false);
    let outcomes = sender.join().expect("sender");

    let acked: Vec<u64> = outcomes.iter().filter(|(_, s, _)| *s == 200).map(|(k, _, _)| *k).collect();
    let refused: Vec<&(u64, u16, Duration)> = outcomes.iter().filter(|(_, s, _)| *s != 200).collect();
    assert!(!refused.is_empty(), "the outage must have refused some requests");
    assert!(refused.iter().all(|(_, s, _)| *s == 503), "refusals are 503s: {refused:?}");
    let slowest = refused.iter().map(|(_, _, d)| *d).max().unwrap_or_default();
    assert!(slowest < Duration::from_secs(5), "503s come promptly, not after a hang: {slowest:?}");
    let last = outcomes.last().expect("outcomes");
    assert_eq!(last.1, 200, "the pipeline resumed without manual steps");

    // Every acknowledged request is counted, once; nothing is counted twice.
    wait_for("every acknowledged impression", Duration::from_secs(120), || {
        let items = get_json(&agent(), &api.url("/api/v1/items?limit=1000"));
        let counted: BTreeMap<String, u64> = items["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|i| (i["item"].as_str().unwrap_or_default().to_string(), i["impressions"].as_u64().unwrap_or(0)))
            .collect();
        assert!(counted.values().all(|&n| n == 1), "an impression counted twice");
        acked.iter().all(|k| counted.get(&format!("outage-{k}")) == Some(&1))
    });
    consumer.stop();
    collector.stop();
}

#[test]
fn undecodable_records_go_to_the_dead_letter_topic_and_the_partition_moves_on() {
    use rdkafka::ClientConfig;
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::message::{Headers, Message};
    use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

    let broker = Broker::for_test();
    let topic = unique("dlq");
    broker.create_topic(&topic, 1);
    let store = tempfile::tempdir().expect("tempdir");
    let consumer = consumer(&broker, &topic, &unique("g"), store.path(), &[]);
    let api = api(store.path());

    // Something that is not a RawEvent lands on the raw topic (a foreign producer, a bug)...
    let producer: BaseProducer =
        ClientConfig::new().set("bootstrap.servers", &broker.brokers).create().expect("producer");
    producer.send(BaseRecord::to(&topic).key("k").payload(&[0xff_u8, 0xff, 0xff][..])).expect("send");
    producer.flush(Duration::from_secs(10)).expect("flush");
    // ... followed by a valid pingback, which must still be counted.
    let collector = collector(&broker, &topic);
    let url = collector.url(&format!("/ping/dot.gif?item=after-garbage&ts={}&progress=0&event=initialized", now_ms()));
    // A client retries a 503 (the producer may still be connecting).
    wait_for("the pingback accepted", Duration::from_secs(30), || get(&agent(), &url, "Acme/Player 2.0").0 == 200);
    wait_for("the pingback after the garbage", Duration::from_secs(60), || total_impressions(&api) == 1);

    let rejected = get_json(&agent(), &api.url("/api/v1/rejected"));
    let row = &rejected["rejected"][0];
    assert_eq!((row["reason_code"].as_str(), row["input"].as_str()), (Some("undecodable"), Some("ffffff")), "{row}");

    let dlq: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &broker.brokers)
        .set("group.id", unique("dlq-reader"))
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "6000")
        .set("max.poll.interval.ms", "10000")
        .create()
        .expect("consumer");
    dlq.subscribe(&[format!("{topic}.dlq").as_str()]).expect("subscribe");
    let (letter, _) = eventually(Duration::from_secs(60), || match dlq.poll(Duration::from_millis(200)) {
        Some(Ok(m)) => Some(m.detach()),
        _ => None,
    })
    .expect("a dead letter");
    assert_eq!(letter.payload(), Some(&[0xff_u8, 0xff, 0xff][..]));
    assert_eq!(letter.key(), Some(&b"k"[..]));
    let headers: BTreeMap<String, String> = letter
        .headers()
        .expect("headers")
        .iter()
        .map(|h| (h.key.to_string(), String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned()))
        .collect();
    assert_eq!(headers.get("engage.source.topic"), Some(&topic));
    assert_eq!(headers.get("engage.source.offset").map(String::as_str), Some("0"));
    assert!(!headers.get("engage.reason").map(String::is_empty).unwrap_or(true), "{headers:?}");
    consumer.stop();
}

#[test]
fn engage_run_over_kafka_counts_pingbacks() {
    let broker = Broker::for_test();
    let topic = unique("run");
    broker.create_topic(&topic, 2);
    let dir = tempfile::tempdir().expect("tempdir");
    let engage = support::Engage::start(
        dir.path(),
        &["--kafka-brokers", &broker.brokers, "--kafka-topic", &topic, "--kafka-group", &unique("g")],
    );
    let agent = agent();
    let t = now_ms();
    for (n, (event, progress)) in [("initialized", 0), ("firstplay", 0)].into_iter().enumerate() {
        let q = format!("item=over-kafka&ts={}&progress={progress}&event={event}", t + n as i64);
        let url = engage.url(&format!("/ping/dot.gif?{q}"));
        // A client retries a 503 (the producer may still be connecting).
        wait_for("the pingback accepted", Duration::from_secs(30), || get(&agent, &url, "Acme/Player 2.0").0 == 200);
    }
    let url = engage.url("/api/v1/items/over-kafka/engagement");
    let (e, _) = eventually(Duration::from_secs(60), || {
        let e = get_json(&agent, &url);
        (e["plays"] == 1).then_some(e)
    })
    .expect("the play counted");
    assert_eq!((e["impressions"].as_u64(), e["unique_viewers"].as_u64()), (Some(1), Some(1)));
    engage.stop();
}

#[test]
fn the_production_pipeline_writes_exact_numbers_to_clickhouse() {
    // collector → Kafka (4 partitions) → two consumers → ClickHouse → api, all separate processes.
    let url = clickhouse_support::shared_url();
    let database = clickhouse_support::fresh_database("kafka");
    let migrated = std::process::Command::new(support::engage_bin())
        .args(["migrate", "--clickhouse-url", &url, "--clickhouse-database", &database])
        .env("ENGAGE_LOG", "warn")
        .output()
        .expect("run engage migrate");
    assert!(migrated.status.success(), "migrate: {}", String::from_utf8_lossy(&migrated.stderr));
    let clickhouse = [("ENGAGE_CLICKHOUSE_URL", url.as_str()), ("ENGAGE_CLICKHOUSE_DATABASE", database.as_str())];

    let broker = Broker::for_test();
    let topic = unique("prod");
    broker.create_topic(&topic, 4);
    let group = unique("g");
    let unused = tempfile::tempdir().expect("tempdir"); // no SQLite: the store is ClickHouse
    let collector = collector(&broker, &topic);
    let a = consumer(&broker, &topic, &group, unused.path(), &clickhouse);
    let b = consumer(&broker, &topic, &group, unused.path(), &clickhouse);
    let api = api_with(unused.path(), &clickhouse);
    wait_for("the partitions to be split", Duration::from_secs(60), || {
        let (pa, pb) = (a.metric("engage_kafka_assigned_partitions"), b.metric("engage_kafka_assigned_partitions"));
        pa > 0.0 && pb > 0.0 && pa + pb == 4.0
    });
    let workload = Workload::new("prod", 600, 8, now_ms());
    ingest(&collector, &workload, 0..workload.lines.len());
    let want = workload.total_impressions();
    wait_for("every impression in ClickHouse", Duration::from_secs(90), || total_impressions(&api) >= want);
    std::thread::sleep(Duration::from_millis(500));
    assert_expected(&api, &workload);
    assert!(!unused.path().join("engage.sqlite3").exists(), "nothing went to SQLite");
    a.stop();
    b.stop();
}
