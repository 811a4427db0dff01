//! Connection settings every engage Kafka client shares, and the librdkafka properties that
//! operators may pass through (`-X key=value`, e.g. TLS and SASL for a managed cluster).

use rdkafka::ClientConfig;
use std::time::Duration;

/// Where the brokers are, which topics, and pass-through client properties.
#[derive(Clone, Debug)]
pub struct KafkaConfig {
    /// `host:port[,host:port...]`.
    pub brokers: String,
    /// The topic of raw events (default `engage.raw.v1`).
    pub topic: String,
    /// Where undecodable records go, with the reason in headers (default `<topic>.dlq`).
    pub dead_letter_topic: String,
    /// The consumer group of the consumer role.
    pub group_id: String,
    /// The compacted topic where collectors share the viewer-key salts (default
    /// `engage.viewer-salts`; see [`crate::salts`]).
    pub salts_topic: String,
    /// librdkafka properties applied last (they win), e.g. `security.protocol=SASL_SSL`.
    pub properties: Vec<(String, String)>,
}

/// The default topic of raw events.
pub const DEFAULT_TOPIC: &str = "engage.raw.v1";
/// The default consumer group.
pub const DEFAULT_GROUP: &str = "engage-consumer";
/// The default topic of the viewer-key salts.
pub const DEFAULT_SALTS_TOPIC: &str = "engage.viewer-salts";

impl KafkaConfig {
    /// Settings with the default topic names and group.
    pub fn new(brokers: impl Into<String>) -> KafkaConfig {
        KafkaConfig {
            brokers: brokers.into(),
            topic: DEFAULT_TOPIC.to_string(),
            dead_letter_topic: format!("{DEFAULT_TOPIC}.dlq"),
            group_id: DEFAULT_GROUP.to_string(),
            salts_topic: DEFAULT_SALTS_TOPIC.to_string(),
            properties: Vec::new(),
        }
    }

    /// A client config with the brokers, `client.id`, statistics every `stats_every`, and the
    /// pass-through properties.
    pub(crate) fn client(&self, client_id: &str, stats_every: Duration) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers)
            .set("client.id", client_id)
            .set("statistics.interval.ms", stats_every.as_millis().to_string());
        c
    }

    /// Applies the operator's pass-through properties (last, so they override ours).
    pub(crate) fn apply_properties(&self, c: &mut ClientConfig) {
        for (k, v) in &self.properties {
            c.set(k, v);
        }
    }
}

/// Parses `key=value` (a librdkafka property given on the command line).
pub fn parse_property(s: &str) -> Result<(String, String), String> {
    let (k, v) = s.split_once('=').ok_or_else(|| format!("`{s}` is not key=value"))?;
    let k = k.trim();
    if k.is_empty() {
        return Err(format!("`{s}` has an empty key"));
    }
    Ok((k.to_string(), v.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_parse_as_key_value() {
        assert_eq!(parse_property("security.protocol=SASL_SSL"), Ok(("security.protocol".into(), "SASL_SSL".into())));
        assert_eq!(parse_property("sasl.password=a=b"), Ok(("sasl.password".into(), "a=b".into())));
        assert!(parse_property("novalue").is_err());
        assert!(parse_property("=x").is_err());
    }

    #[test]
    fn defaults_name_the_dead_letter_topic_after_the_topic() {
        let c = KafkaConfig::new("127.0.0.1:9092");
        assert_eq!((c.topic.as_str(), c.dead_letter_topic.as_str()), ("engage.raw.v1", "engage.raw.v1.dlq"));
    }
}
