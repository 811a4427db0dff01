//! The consumer: turns the raw event stream into per-window engagement rollups.
//!
//! # Layout
//! - [`engine`]: the window engine, pure (no tokio, no I/O, no clock): `record(event)`,
//!   `flush()`. View state machines, event-time windows, watermark, lateness.
//! - [`decode`]: bus record → engine input (or a kept rejection).
//! - [`worker`]: the async shell: read from the bus, feed the engine, commit windows,
//!   rejections, engine snapshot and position atomically to a store.
//! - [`metrics`]: metric names.

pub mod decode;
pub mod engine;
pub mod metrics;
pub mod worker;
