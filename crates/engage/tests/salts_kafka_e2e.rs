//! Two `engage collector` processes on one broker key one viewer alike: they share each day's
//! random salt through the compacted salts topic (each made its own at start, racing; the first
//! proposal won for both). A third collector, started later, keys alike too.

mod support;

use prost::Message as _;
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use std::time::Duration;
use support::kafka::{Broker, Role, unique};
use support::{agent, eventually, get, now_ms};

const UA: &str = "Acme/Player 3.0 salts-kafka-e2e";

fn collector(broker: &Broker, topic: &str, salts_topic: &str) -> Role {
    Role::collector(broker, topic, &["--kafka-salts-topic", salts_topic])
}

/// One pingback of the one viewer (same client address and user agent) through `collector`.
fn ping(collector: &Role, item: &str) {
    let url = collector.url(&format!("/ping/dot.gif?item={item}&ts={}&progress=0&event=initialized", now_ms()));
    let accepted = eventually(Duration::from_secs(30), || (get(&agent(), &url, UA).0 == 200).then_some(()));
    accepted.expect("the pingback accepted");
}

#[test]
fn collectors_on_one_broker_give_one_viewer_one_key() {
    let broker = Broker::for_test();
    let (topic, salts_topic) = (unique("salts-raw"), unique("salts"));
    broker.create_topic(&topic, 1);
    // Started together: both find no salt and propose their own; the salts topic is created
    // by whichever comes first.
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| collector(&broker, &topic, &salts_topic));
        let b = s.spawn(|| collector(&broker, &topic, &salts_topic));
        (a.join().expect("collector a"), b.join().expect("collector b"))
    });
    ping(&a, "via-a");
    ping(&b, "via-b");
    let c = collector(&broker, &topic, &salts_topic);
    ping(&c, "via-c");

    let reader: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &broker.brokers)
        .set("group.id", unique("salts-reader"))
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "6000")
        .set("max.poll.interval.ms", "10000")
        .create()
        .expect("consumer");
    reader.subscribe(&[topic.as_str()]).expect("subscribe");
    let mut keys = std::collections::BTreeMap::new();
    eventually(Duration::from_secs(60), || {
        if let Some(Ok(m)) = reader.poll(Duration::from_millis(200)) {
            let event = engage_model::envelope::RawEvent::decode(m.payload().unwrap_or_default()).expect("a RawEvent");
            let item = String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned();
            keys.insert(item, event.viewer_key);
        }
        (keys.len() == 3).then_some(())
    })
    .unwrap_or_else(|| panic!("three pingbacks on the raw topic, got {keys:?}"));
    assert_ne!(keys["via-a"], 0);
    assert_eq!(keys["via-a"], keys["via-b"], "{keys:?}");
    assert_eq!(keys["via-a"], keys["via-c"], "{keys:?}");
    a.stop();
    b.stop();
    c.stop();
}
