//! `engage loadgen`: realistic synthetic players and webinar audiences against a collector.
//!
//! A run is a [`plan`] computed from a seed (every request, its due time and the answer
//! the collector must give), then [`send`]: paced, viewer-ordered, every answer checked.
//! Players follow the pingback specification exactly ([`player`]), across several
//! applications, with front-loaded drop-off, pauses, seeks while playing and while paused
//! (intro skips, per-item hotspots), prerolls, completions, occasional retries
//! (duplicates) and deliberate bad requests. Webinar audiences ([`webinar`]) join, leave,
//! answer polls, chat, react and share screens, sent as Segment `track` and `batch` calls
//! ([`segment`]), with retries and deliberately invalid calls too.
//!
//! # Layout
//! - [`player`]: one session's pingbacks (pure).
//! - [`webinar`]: one webinar session's events (pure).
//! - [`segment`]: a webinar's events as Segment API requests (pure).
//! - [`plan`]: the whole run from a seed (pure).
//! - [`send`]: HTTP sending with pacing and a progress bar.
//! - [`report`]: totals, mismatches, latency percentiles.

pub mod plan;
pub mod player;
pub mod report;
pub mod segment;
pub mod send;
pub mod webinar;

pub use plan::{Call, Expect, PlanConfig, Request, plan};
pub use report::Report;
pub use send::{SendConfig, send};
