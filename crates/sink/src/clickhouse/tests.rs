//! Unit tests of the pure parts: error classification, retry delays, rendered statements.
//! The store itself is tested against a real engine in `crates/sink/tests/clickhouse.rs`.

use super::retry::{Classified, RetryPolicy, classify, error_code, store_error};
use super::schema::{self, DEFAULT_RAW_TTL_DAYS, MIGRATIONS, current_ttl, render, ttl_clause};
use crate::error::StoreError;
use ::clickhouse::error::Error;
use std::time::Duration;

fn server(message: &str) -> Error {
    Error::BadResponse(message.to_owned())
}

#[test]
fn error_codes_are_read_from_the_exception_text() {
    assert_eq!(error_code("Code: 60. DB::Exception: Table engage.x does not exist. (UNKNOWN_TABLE)"), Some(60));
    assert_eq!(error_code("Code: 241. DB::Exception: Memory limit"), Some(241));
    assert_eq!(error_code("503 Service Unavailable"), None);
    assert_eq!(error_code("Code: x"), None);
}

#[test]
fn failures_are_classified_by_whose_fault_and_whether_they_pass() {
    let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
    assert_eq!(classify(&Error::Network(Box::new(io))), Classified::Unavailable);
    assert_eq!(classify(&Error::TimedOut), Classified::Unavailable);
    assert_eq!(classify(&server("Code: 60. DB::Exception: Unknown table (UNKNOWN_TABLE)")), Classified::Schema);
    assert_eq!(classify(&server("Code: 16. DB::Exception: No such column x")), Classified::Schema);
    assert_eq!(classify(&server("Code: 81. DB::Exception: Database engage does not exist")), Classified::Schema);
    assert_eq!(classify(&Error::SchemaMismatch("column plays is UInt32".into())), Classified::Schema);
    assert_eq!(classify(&server("Code: 62. DB::Exception: Syntax error")), Classified::Refused);
    assert_eq!(classify(&server("Code: 516. DB::Exception: Authentication failed")), Classified::Refused);
    assert_eq!(classify(&server("Code: 57. DB::Exception: Table already exists")), Classified::AlreadyExists);
    // Server-side trouble that passes: memory, too many parts, keeper, a bare 5xx.
    assert_eq!(classify(&server("Code: 241. DB::Exception: Memory limit exceeded")), Classified::Unavailable);
    assert_eq!(classify(&server("Code: 252. DB::Exception: Too many parts")), Classified::Unavailable);
    assert_eq!(classify(&server("502 Bad Gateway")), Classified::Unavailable);
    assert_eq!(classify(&server("404 Not Found")), Classified::Refused);
}

#[test]
fn store_errors_say_what_to_do() {
    let schema = store_error("insert video windows", server("Code: 60. DB::Exception: Unknown table video_windows"));
    assert!(!schema.is_transient());
    let text = schema.to_string();
    assert!(text.contains("engage migrate") && text.contains("video_windows"), "{text}");
    let down = store_error("insert video windows", Error::TimedOut);
    assert!(down.is_transient(), "{down}");
    assert!(matches!(down, StoreError::ClickHouseUnavailable { .. }));
    let refused = store_error("read top items", server("Code: 62. DB::Exception: Syntax error"));
    assert!(!refused.is_transient());
    let behind = StoreError::ClickHouseSchemaBehind { database: "engage".into(), found: 0, needed: 2 };
    assert!(behind.to_string().contains("run `engage migrate"), "{behind}");
}

#[test]
fn retry_delays_grow_are_capped_and_jittered() {
    let p = RetryPolicy { attempts: 5, base_delay: Duration::from_millis(100), max_delay: Duration::from_millis(400) };
    for n in 0..8 {
        let full = (Duration::from_millis(100) * 2u32.pow(n.min(5))).min(Duration::from_millis(400));
        let d = p.delay(n);
        assert!(d >= full / 2 && d <= full, "retry {n}: {d:?} outside [{:?}, {full:?}]", full / 2);
    }
    let spread: std::collections::HashSet<Duration> = (0..20).map(|_| p.delay(2)).collect();
    assert!(spread.len() > 1, "jitter spreads retries");
    assert!(p.delay(40) <= Duration::from_millis(400), "huge retry counts do not overflow");
}

#[tokio::test]
async fn only_retryable_failures_are_retried_and_tries_are_bounded() {
    let p = RetryPolicy { attempts: 3, base_delay: Duration::from_millis(10), max_delay: Duration::from_millis(10) };
    let calls = std::cell::Cell::new(0);
    let r: Result<(), StoreError> = p
        .run("op", || {
            calls.set(calls.get() + 1);
            async { Err(Error::TimedOut) }
        })
        .await;
    assert!(matches!(r, Err(StoreError::ClickHouseUnavailable { .. })));
    assert_eq!(calls.get(), 3);

    calls.set(0);
    let r: Result<(), StoreError> = p
        .run("op", || {
            calls.set(calls.get() + 1);
            async { Err(server("Code: 60. DB::Exception: Unknown table")) }
        })
        .await;
    assert!(matches!(r, Err(StoreError::ClickHouseSchema { .. })));
    assert_eq!(calls.get(), 1, "a schema error is not retried");

    calls.set(0);
    let r = p
        .run("op", || {
            calls.set(calls.get() + 1);
            let n = calls.get();
            async move { if n < 2 { Err(Error::TimedOut) } else { Ok(n) } }
        })
        .await;
    assert_eq!(r.unwrap(), 2, "succeeds on the second try");
}

#[test]
fn the_ttl_is_rendered_as_clickhouse_prints_it_and_read_back() {
    assert_eq!(ttl_clause("received_at", 7), "TTL toDateTime(received_at) + toIntervalDay(7)");
    assert_eq!(ttl_clause("received_at", 0), "");
    let engine = "ReplacingMergeTree PARTITION BY toYYYYMM(received_at) ORDER BY (received_at, event_id) \
                  TTL toDateTime(received_at) + toIntervalDay(30) SETTINGS index_granularity = 8192";
    assert_eq!(current_ttl(engine).as_deref(), Some("TTL toDateTime(received_at) + toIntervalDay(30)"));
    assert_eq!(current_ttl("ReplacingMergeTree ORDER BY x SETTINGS index_granularity = 8192"), None);
}

#[test]
fn statements_render_their_settings() {
    let all = schema::all_statements();
    let events = all.iter().find(|(_, _, sql)| sql.contains("TABLE IF NOT EXISTS analytics_events")).unwrap();
    assert!(events.2.contains(&ttl_clause("received_at", DEFAULT_RAW_TTL_DAYS)), "{}", events.2);
    let table = MIGRATIONS[0].statements.iter().find(|s| s.contains("EXISTS rejected\n")).unwrap();
    let forever = render(table, 0);
    assert!(!forever.contains("TTL") && !forever.contains("{raw_ttl}") && !forever.contains("\n\n"), "{forever}");
    for (_, _, sql) in &all {
        assert!(!sql.contains('{') || sql.contains("{item:String}") || sql.contains("{from:"), "unrendered: {sql}");
        assert!(!sql.contains('?'), "the crate would take `?` for a bind: {sql}");
    }
}

#[test]
fn migrations_are_numbered_in_order_and_create_every_table() {
    for (i, m) in MIGRATIONS.iter().enumerate() {
        assert_eq!(m.version as usize, i + 1, "{}", m.name);
    }
    let names = schema::created_names();
    for table in [
        "schema_migrations",
        "video_windows",
        "video_viewers",
        "session_windows",
        "session_summaries",
        "page_views",
        "user_traits",
        "analytics_events",
        "rejected",
        "checkpoints",
        "retention_curve",
        "completion_rate_by_app",
        "concurrent_viewers",
        "webinar_attendance",
        "webinar_sessions",
        "user_traits_latest",
    ] {
        assert!(names.iter().any(|n| n == table), "{table} missing from {names:?}");
    }
}
