//! Pure types and parsers of engage. No I/O, no async, no clocks: every time is passed in.
//!
//! # Layout
//! - [`pingback`]: the StreamOne `dot.gif` pingback protocol, parsed and validated.
//! - [`cdnlog`]: CDN access-log lines (NCSA, CloudFront, Cloudflare, JSON) read as requests.
//! - [`credential`]: write keys and tokens compared in constant time; template placeholders refused.
//! - [`bot`]: the one bot classifier (crawlers, monitors, headless browsers) by user agent.
//! - [`app`]: the application dimension, parsed from a user agent (or the `ua` parameter).
//! - [`dimension`]: bounded cardinality: values past a per-window cap count under `(other)`.
//! - [`ids`]: the one rule of every identifier kind (items, view ids, apps, page names, ...).
//! - [`viewer`]: the privacy-preserving viewer key (keyed hash, daily-rotating salt).
//! - [`time`]: window alignment, UTC days and the edge's lateness horizon, the one place for time math.
//! - [`rollup`]: the per-window aggregates the consumer emits and the stores persist.
//! - [`envelope`]: the protobuf `RawEvent` published to the bus, and its conversions.
//! - [`reject`]: the bounded set of reasons an input is refused.
//! - [`redact`]: what is kept of a refused input: the reason, not the person.
//! - [`segment`]: the Segment HTTP Tracking API calls, parsed and validated.
//! - [`source`]: sources (tenants): the default source and the rule of a source name.
//! - [`webinar`]: rollups of analytics events (webinar sessions, page views).

pub mod app;
pub mod bot;
pub mod cdnlog;
pub mod credential;
pub mod dimension;
pub mod envelope;
pub mod ids;
pub mod pingback;
pub mod redact;
pub mod reject;
pub mod rollup;
pub mod segment;
pub mod source;
pub mod time;
pub mod viewer;
pub mod webinar;
