//! librdkafka statistics as metrics: what operators look at when the bus misbehaves
//! (queue depth, broker state and round trips, errors, per-partition consumer lag).
//!
//! librdkafka emits a JSON document every `statistics.interval.ms`; rdkafka parses it and
//! hands it to [`StatsContext::stats`]. Cumulative librdkafka counters are exported as
//! counters set to their absolute value.

use rdkafka::ClientContext;
use rdkafka::Statistics;

/// Messages waiting in the client's queue (producer: not yet acknowledged).
pub const QUEUE_MESSAGES: &str = "engage_kafka_queue_messages";
/// Messages the client sent to brokers (cumulative).
pub const TX_MESSAGES: &str = "engage_kafka_tx_messages_total";
/// Messages the client received from brokers (cumulative).
pub const RX_MESSAGES: &str = "engage_kafka_rx_messages_total";
/// Request errors and timeouts towards a broker (cumulative).
pub const BROKER_ERRORS: &str = "engage_kafka_broker_errors_total";
/// 1 when the connection to the broker is up.
pub const BROKER_UP: &str = "engage_kafka_broker_up";
/// Average request round trip to the broker over the last interval, seconds.
pub const BROKER_RTT: &str = "engage_kafka_broker_rtt_seconds";
/// Records between the consumer's position and the partition's end.
pub const CONSUMER_LAG: &str = "engage_kafka_consumer_lag";

/// A client context that exports statistics; `role` labels the series (`collector`, `consumer`).
#[derive(Clone, Debug)]
pub struct StatsContext {
    pub role: &'static str,
}

impl ClientContext for StatsContext {
    fn stats(&self, s: Statistics) {
        export(self.role, &s);
    }
}

/// Exports one statistics document.
pub(crate) fn export(role: &'static str, s: &Statistics) {
    metrics::gauge!(QUEUE_MESSAGES, "role" => role).set(s.msg_cnt as f64);
    metrics::counter!(TX_MESSAGES, "role" => role).absolute(s.txmsgs.max(0) as u64);
    metrics::counter!(RX_MESSAGES, "role" => role).absolute(s.rxmsgs.max(0) as u64);
    for b in s.brokers.values() {
        // librdkafka's internal pseudo-brokers (":0/internal") carry no connection.
        if b.nodename.is_empty() {
            continue;
        }
        let broker = b.nodename.clone();
        metrics::gauge!(BROKER_UP, "role" => role, "broker" => broker.clone())
            .set(f64::from(u8::from(b.state == "UP")));
        metrics::counter!(BROKER_ERRORS, "role" => role, "broker" => broker.clone())
            .absolute(b.txerrs + b.rxerrs + b.req_timeouts);
        if let Some(rtt) = &b.rtt {
            metrics::gauge!(BROKER_RTT, "role" => role, "broker" => broker).set(rtt.avg as f64 / 1e6);
        }
    }
    if role == "consumer" {
        for t in s.topics.values() {
            for p in t.partitions.values().filter(|p| p.partition >= 0 && p.consumer_lag >= 0) {
                metrics::gauge!(CONSUMER_LAG, "topic" => t.topic.clone(), "partition" => p.partition.to_string())
                    .set(p.consumer_lag as f64);
            }
        }
    }
}

/// Describes the metrics (once per process).
pub fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge};
    describe_gauge!(QUEUE_MESSAGES, Unit::Count, "Messages waiting in the Kafka client's queue.");
    describe_counter!(TX_MESSAGES, Unit::Count, "Messages sent to Kafka brokers.");
    describe_counter!(RX_MESSAGES, Unit::Count, "Messages received from Kafka brokers.");
    describe_counter!(BROKER_ERRORS, Unit::Count, "Request errors and timeouts towards a broker.");
    describe_gauge!(BROKER_UP, Unit::Count, "1 when the connection to the broker is up.");
    describe_gauge!(BROKER_RTT, Unit::Seconds, "Average request round trip to the broker.");
    describe_gauge!(CONSUMER_LAG, Unit::Count, "Records between the consumer's position and the partition end.");
    use crate::consumer as c;
    describe_counter!(c::REBALANCES, Unit::Count, "Rebalance callbacks by kind.");
    describe_counter!(c::POLL_ERRORS, Unit::Count, "Errors returned by polling Kafka.");
    describe_counter!(c::DEAD_LETTERS, Unit::Count, "Records sent to the dead-letter topic.");
    describe_gauge!(c::ASSIGNED_PARTITIONS, Unit::Count, "Partitions this consumer owns.");
    describe_counter!(c::APPLIED_RECORDS, Unit::Count, "Records applied to partition state, before their commit.");
    describe_counter!(c::UNOWNED_RECORDS, Unit::Count, "Records dropped for partitions no longer owned.");
}
