//! Metric names of the bus, as documented constants, so dashboards and alerts have one place to
//! look. Everything is emitted per group commit, per prune or per rejected call, never per
//! record; labels are bounded (`reason` has two values).

/// Counter: records made durable by the embedded log writer.
pub const RECORDS_WRITTEN_TOTAL: &str = "engage_bus_records_written_total";
/// Counter: group commits (transactions) of the embedded log writer.
pub const COMMITS_TOTAL: &str = "engage_bus_commits_total";
/// Gauge: records written but not yet released by the consumer (`end_offset - released`).
pub const BACKLOG_RECORDS: &str = "engage_bus_backlog_records";
/// Counter: publish calls answered with an error, label `reason` = `full` | `unavailable`.
pub const PUBLISH_REJECTED_TOTAL: &str = "engage_bus_publish_rejected_total";
/// Counter: records deleted after the consumer released them.
pub const RECORDS_PRUNED_TOTAL: &str = "engage_bus_records_pruned_total";
/// Histogram: seconds one group commit took (insert + commit, including the fsync).
pub const COMMIT_DURATION_SECONDS: &str = "engage_bus_commit_duration_seconds";

/// Label key of [`PUBLISH_REJECTED_TOTAL`].
pub const LABEL_REASON: &str = "reason";
/// [`LABEL_REASON`] value: backlog or queue full.
pub const REASON_FULL: &str = "full";
/// [`LABEL_REASON`] value: the log failed to persist, or is closed.
pub const REASON_UNAVAILABLE: &str = "unavailable";

/// Registers descriptions with the installed recorder; call once after installing it.
pub fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(RECORDS_WRITTEN_TOTAL, Unit::Count, "Records made durable by the embedded log.");
    describe_counter!(COMMITS_TOTAL, Unit::Count, "Group commits of the embedded log.");
    describe_gauge!(
        BACKLOG_RECORDS,
        Unit::Count,
        "Records written to the embedded log but not yet released by the consumer."
    );
    describe_counter!(
        PUBLISH_REJECTED_TOTAL,
        Unit::Count,
        "Publish calls rejected by the bus, by reason (full, unavailable)."
    );
    describe_counter!(RECORDS_PRUNED_TOTAL, Unit::Count, "Records pruned from the embedded log after release.");
    describe_histogram!(COMMIT_DURATION_SECONDS, Unit::Seconds, "Duration of one embedded log group commit.");
}

pub(crate) fn rejected(reason: &'static str) {
    metrics::counter!(PUBLISH_REJECTED_TOTAL, LABEL_REASON => reason).increment(1);
}
