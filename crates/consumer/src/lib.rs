//! The consumer: turns the raw event stream into per-window engagement rollups.
//!
//! # Layout
//! - [`engine`]: re-export of the pure window engine crate (`engage-engine`): `record(event)`,
//!   `flush()`. View timelines, window generations, watermark, webinar sessions.
//! - [`decode`]: bus record → engine input (or a kept rejection).
//! - [`analytics`]: analytics events → engine input, raw rows and user traits.
//! - [`dedup`]: repeat suppression of analytics events by message id, pure (video events
//!   need none: a view's events are a set in the engine).
//! - [`partition`]: one partition's state (engine, dedup, position), the archive reads late
//!   events need, and the shared commit step, driven by every worker.
//! - [`worker`]: the async shell over the embedded log: read from the bus, feed the engine, commit windows,
//!   rejections, engine snapshot and position atomically to a store.
//! - [`snapshot`]: the saved state (engine + dedup) behind a versioned header.
//! - [`metrics`]: metric names.

pub mod analytics;
pub mod decode;
pub mod dedup;
pub use engage_engine as engine;
pub mod metrics;
pub mod partition;
pub mod snapshot;
pub mod worker;
