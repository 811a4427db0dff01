//! Which ClickHouse failures are worth retrying, and retrying them with backoff and jitter.
//!
//! The store retries each request a few times itself (a short, jittered exponential backoff
//! rides out a dropped connection or a server restart without failing the whole commit),
//! then reports [`StoreError::ClickHouseUnavailable`], which [`StoreError::is_transient`]
//! calls transient: the consumer worker then keeps retrying the whole commit with its own,
//! longer backoff, without advancing its offsets. Everything else fails at once: a schema
//! that does not match ([`StoreError::ClickHouseSchema`], "run `engage migrate`") or a
//! request ClickHouse refuses for good (credentials, permissions, a malformed query).
//!
//! The `clickhouse` crate reports a server error as `BadResponse("Code: N. DB::Exception:
//! ...")` (the HTTP status is not kept), so the classification reads ClickHouse's error code:
//! <https://github.com/ClickHouse/ClickHouse/blob/master/src/Common/ErrorCodes.cpp>.

use crate::error::StoreError;
use clickhouse::error::Error;
use std::future::Future;
use std::time::Duration;

/// What kind of failure a ClickHouse error is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Classified {
    /// Network, timeout, overload, a server restarting: may pass.
    Unavailable,
    /// A table, column or database is missing or has another type.
    Schema,
    /// `CREATE` of something that exists (a concurrent migrator won the race).
    AlreadyExists,
    /// Refused for good: credentials, permissions, a malformed query or data.
    Refused,
}

/// Codes meaning the schema is not what this build expects.
const SCHEMA_CODES: &[u32] = &[
    8,  // THERE_IS_NO_COLUMN
    10, // NOT_FOUND_COLUMN_IN_BLOCK
    16, // NO_SUCH_COLUMN_IN_TABLE
    44, // ILLEGAL_COLUMN
    47, // UNKNOWN_IDENTIFIER
    53, // TYPE_MISMATCH
    60, // UNKNOWN_TABLE
    81, // UNKNOWN_DATABASE
];

/// Codes of requests that will fail the same way however often they are sent.
const REFUSED_CODES: &[u32] = &[
    1,   // UNSUPPORTED_METHOD
    2,   // UNSUPPORTED_PARAMETER
    6,   // CANNOT_PARSE_TEXT
    26,  // CANNOT_PARSE_QUOTED_STRING
    27,  // CANNOT_PARSE_INPUT_ASSERTION_FAILED
    36,  // BAD_ARGUMENTS
    41,  // CANNOT_PARSE_DATETIME
    42,  // NUMBER_OF_ARGUMENTS_DOESNT_MATCH
    43,  // ILLEGAL_TYPE_OF_ARGUMENT
    46,  // UNKNOWN_FUNCTION
    48,  // NOT_IMPLEMENTED
    62,  // SYNTAX_ERROR
    69,  // ARGUMENT_OUT_OF_BOUND
    70,  // CANNOT_CONVERT_TYPE
    72,  // CANNOT_PARSE_NUMBER
    115, // UNKNOWN_SETTING
    117, // INCORRECT_DATA
    164, // READONLY
    184, // ILLEGAL_AGGREGATION
    192, // UNKNOWN_USER
    193, // WRONG_PASSWORD
    215, // NOT_AN_AGGREGATE
    497, // ACCESS_DENIED
    516, // AUTHENTICATION_FAILED
];

/// Codes of `CREATE` racing a concurrent one.
const EXISTS_CODES: &[u32] = &[
    57, // TABLE_ALREADY_EXISTS
    82, // DATABASE_ALREADY_EXISTS
];

/// The ClickHouse error code of a server error (`Code: N. DB::Exception: ...`).
pub(crate) fn error_code(message: &str) -> Option<u32> {
    let at = message.find("Code: ")?;
    let digits: String = message[at + 6..].chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Sorts an error of the `clickhouse` crate into what the store does with it.
pub(crate) fn classify(e: &Error) -> Classified {
    match e {
        Error::Network(_) | Error::TimedOut | Error::Decompression(_) => Classified::Unavailable,
        Error::SchemaMismatch(_) | Error::InvalidColumnsHeader(_) => Classified::Schema,
        Error::BadResponse(message) => match error_code(message) {
            Some(code) if SCHEMA_CODES.contains(&code) => Classified::Schema,
            Some(code) if EXISTS_CODES.contains(&code) => Classified::AlreadyExists,
            Some(code) if REFUSED_CODES.contains(&code) => Classified::Refused,
            // Any other server-side failure: memory, too many parts, keeper, timeouts...
            Some(_) => Classified::Unavailable,
            // No exception code: a bare HTTP status (a proxy, a server starting): 4xx is ours.
            None if message.starts_with('4') => Classified::Refused,
            None => Classified::Unavailable,
        },
        _ => Classified::Refused,
    }
}

/// The store error for a failed step `op`.
pub(crate) fn store_error(op: &'static str, e: Error) -> StoreError {
    match classify(&e) {
        Classified::Unavailable => StoreError::ClickHouseUnavailable { op, source: e },
        Classified::Schema => StoreError::ClickHouseSchema { op, detail: e.to_string() },
        Classified::AlreadyExists | Classified::Refused => StoreError::ClickHouse { op, source: e },
    }
}

/// How a step is retried inside the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Tries in all (1: no retry).
    pub attempts: u32,
    /// Delay before the first retry; doubles each time, up to `max_delay`.
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    /// Four tries within about two seconds: enough for a dropped connection or a restart,
    /// short enough that the consumer's own commit loop takes over when it is an outage.
    fn default() -> Self {
        RetryPolicy { attempts: 4, base_delay: Duration::from_millis(100), max_delay: Duration::from_secs(1) }
    }
}

impl RetryPolicy {
    /// No retries (each failure is reported at once).
    pub const NONE: RetryPolicy = RetryPolicy { attempts: 1, base_delay: Duration::ZERO, max_delay: Duration::ZERO };

    /// The delay before retry `n` (0-based): exponential, capped, with "equal jitter"
    /// (half fixed, half random), so replicas retrying together spread out.
    pub fn delay(&self, n: u32) -> Duration {
        let exp = self.base_delay.saturating_mul(1u32.checked_shl(n).unwrap_or(u32::MAX)).min(self.max_delay);
        let half = exp / 2;
        half + half.mul_f64(fastrand::f64())
    }

    /// Runs `f` until it succeeds, fails for good, or the tries run out.
    pub(crate) async fn run<T, F, Fut>(&self, op: &'static str, mut f: F) -> Result<T, StoreError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Error>>,
    {
        let mut attempt = 0;
        loop {
            match f().await {
                Ok(v) => return Ok(v),
                Err(e) => {
                    attempt += 1;
                    if classify(&e) != Classified::Unavailable || attempt >= self.attempts.max(1) {
                        return Err(store_error(op, e));
                    }
                    let delay = self.delay(attempt - 1);
                    tracing::debug!(op, error = %e, attempt, retry_in_ms = delay.as_millis() as u64, "ClickHouse request failed; retrying");
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }
}
