//! Consumer throughput reading from a real broker: what one consumer core does with records
//! (decode + window engine), and what the broker lets it fetch.
//!
//! Produces `BENCH_EVENTS` (default 1,000,000) encoded pingback `RawEvent`s (level-2 sessions
//! over 2000 items and 200k viewers, one event per second per session) to a fresh 1-partition
//! topic on `KAFKA_BROKERS`, then measures, side by side on the same machine:
//! 1. `fetch`: the poll loop alone (librdkafka fetch + copy out), the broker's share;
//! 2. `fetch+apply`: the same with every record decoded and recorded by a
//!    [`PartitionState`] (the consumer's per-record work), wall time and the time spent in
//!    `apply` alone (the consumer's own cost per core);
//! 3. `apply (memory)`: the same records applied from memory, the baseline without a broker.
//!
//! `make bench-kafka` (starts Tansu) or `KAFKA_BROKERS=host:port cargo bench -p engage-kafka --bench consume`

#![allow(clippy::print_stdout)] // a report on the terminal is the point

use engage_consumer::dedup::DedupConfig;
use engage_consumer::engine::EngineConfig;
use engage_consumer::partition::PartitionState;
use engage_kafka::KafkaConfig;
use engage_model::envelope::{Received, Source, pingback_event};
use engage_model::pingback::parse_query;
use prost::Message as _;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

const ITEMS: u64 = 2000;
const VIEWERS: u64 = 200_000;

fn main() {
    let brokers = std::env::var("KAFKA_BROKERS").expect("set KAFKA_BROKERS (make bench-kafka starts a broker)");
    // `cargo test --all-targets` runs this without `--bench`: a quick smoke run then.
    let measuring = std::env::args().any(|a| a == "--bench");
    let default_events = if measuring { 1_000_000 } else { 20_000 };
    let n: usize = std::env::var("BENCH_EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(default_events);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let topic = format!("bench-consume-{}", std::process::id());
    let config = KafkaConfig::new(brokers.clone());
    runtime.block_on(engage_kafka::admin::create_topics(&config, &[topic.as_str()], 1, 1)).expect("create the topic");

    let payloads = generate(n);
    let bytes: usize = payloads.iter().map(Vec::len).sum();
    println!("{n} events, {:.1} MB encoded ({} B/event)", bytes as f64 / 1e6, bytes / n);
    let started = Instant::now();
    produce(&brokers, &topic, &payloads);
    println!("produce: {:>9.0} events/s (idempotent, acks=all, lz4)", n as f64 / started.elapsed().as_secs_f64());

    let fetch = consume(&brokers, &topic, n, false);
    let with_apply = consume(&brokers, &topic, n, true);
    let memory = apply_from_memory(&payloads);
    let rate = |d: Duration| n as f64 / d.as_secs_f64();
    println!("fetch:          {:>9.0} events/s wall (the broker's share)", rate(fetch.wall));
    println!(
        "fetch+apply:    {:>9.0} events/s wall; apply alone {:>9.0} events/s per core",
        rate(with_apply.wall),
        rate(with_apply.apply)
    );
    println!("apply (memory): {:>9.0} events/s per core (baseline, no broker)", rate(memory));
    println!(
        "ratios: apply-from-broker / apply-from-memory = {:.2}; fetch+apply wall / fetch wall = {:.2}",
        memory.as_secs_f64() / with_apply.apply.as_secs_f64(),
        with_apply.wall.as_secs_f64() / fetch.wall.as_secs_f64()
    );
}

/// Level-2 sessions, interleaved one event per session per second of event time.
fn generate(n: usize) -> Vec<Vec<u8>> {
    let script: Vec<(&str, u8)> = [("initialized", 0), ("firstplay", 0), ("play", 0)]
        .into_iter()
        .chain((10..=90).step_by(10).map(|p| ("update", p as u8)))
        .chain([("stop", 100)])
        .collect();
    let t0 = 1_700_000_000_000i64;
    let concurrent = 5000u64;
    let mut out = Vec::with_capacity(n);
    let mut step = 0u64;
    while out.len() < n {
        for s in 0..concurrent {
            if out.len() == n {
                break;
            }
            // Session `sid` runs from step `start` for script.len() steps.
            let slot = (step + s) % script.len() as u64;
            let sid = (step + s) / script.len() as u64 * concurrent + s;
            let (event, progress) = script[slot as usize];
            let item = sid.wrapping_mul(0x9E37_79B9) % ITEMS;
            let viewer = sid.wrapping_mul(0x85EB_CA6B) % VIEWERS;
            let t = t0 + step as i64 * 1000 + s as i64;
            let query = format!("item=i{item}&ts={t}&progress={progress}&event={event}&il=2");
            let p = parse_query(&query).expect("valid pingback");
            let ctx = Received {
                received_at_ms: t,
                event_time_ms: t,
                viewer_key: viewer,
                prev_viewer_key: 0,
                ingested_at_ms: t,
                app_key: "Acme/Web",
                app_version: "4.1",
                user_agent: "Acme/Web 4.1",
                source: Source::Pingback,
                bot: false,
            };
            out.push(pingback_event(&p, &ctx).encode_to_vec());
        }
        step += 1;
    }
    out
}

fn produce(brokers: &str, topic: &str, payloads: &[Vec<u8>]) {
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("compression.type", "lz4")
        .set("linger.ms", "20")
        .set("queue.buffering.max.messages", "1000000")
        .create()
        .expect("producer");
    for p in payloads {
        let mut record = BaseRecord::<(), [u8]>::to(topic).payload(p.as_slice());
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((_, back)) => {
                    record = back;
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        }
    }
    producer.flush(Duration::from_secs(120)).expect("flush");
}

struct Timing {
    wall: Duration,
    apply: Duration,
}

fn consume(brokers: &str, topic: &str, n: usize, apply: bool) -> Timing {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", format!("bench-{}", std::process::id()))
        .set("enable.auto.commit", "false")
        .set("fetch.max.bytes", "52428800")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning).expect("tpl");
    consumer.assign(&tpl).expect("assign");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let (mut state, store, _dir) = runtime.block_on(fresh_state());
    let never = CancellationToken::new();
    let (mut seen, mut in_apply) = (0usize, Duration::ZERO);
    let mut batch: Vec<(u64, Vec<u8>)> = Vec::with_capacity(BATCH);
    let started = Instant::now();
    while seen < n {
        let Some(m) = consumer.poll(Duration::from_millis(500)) else { continue };
        let m = m.expect("fetch");
        let payload = m.payload().unwrap_or_default().to_vec();
        std::hint::black_box(&payload);
        batch.push((m.offset() as u64, payload));
        seen += 1;
        if apply && (batch.len() == BATCH || seen == n) {
            let t = Instant::now();
            let records: Vec<(u64, &[u8])> = batch.iter().map(|(o, p)| (*o, p.as_slice())).collect();
            runtime.block_on(state.apply_batch(&records, &store, &never)).expect("applied");
            in_apply += t.elapsed();
        }
        if batch.len() == BATCH {
            batch.clear();
        }
    }
    Timing { wall: started.elapsed(), apply: in_apply }
}

/// Records per apply call, as a poll hands them over.
const BATCH: usize = 1000;

fn apply_from_memory(payloads: &[Vec<u8>]) -> Duration {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let (mut state, store, _dir) = runtime.block_on(fresh_state());
    let never = CancellationToken::new();
    let started = Instant::now();
    for (n, chunk) in payloads.chunks(BATCH).enumerate() {
        let records: Vec<(u64, &[u8])> =
            chunk.iter().enumerate().map(|(i, p)| ((n * BATCH + i) as u64, p.as_slice())).collect();
        runtime.block_on(state.apply_batch(&records, &store, &never)).expect("applied");
    }
    started.elapsed()
}

/// An empty partition state (restored from an empty store), with its store.
async fn fresh_state() -> (PartitionState, engage_sink::SqliteStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = engage_sink::SqliteStore::open(&dir.path().join("s.sqlite3")).expect("store");
    let state =
        PartitionState::restore(&store, 0, EngineConfig::default(), DedupConfig::default()).await.expect("state");
    (state, store, dir)
}
