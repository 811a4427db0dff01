//! `engage loadgen`: realistic synthetic players against a collector.
//!
//! A run is a [`plan`] computed from a seed (every request, its due time and the answer
//! the collector must give), then [`send`]: paced, viewer-ordered, every answer checked.
//! Players follow the pingback specification exactly ([`player`]), across several
//! applications, with front-loaded drop-off, pauses, seeks while playing and while paused,
//! prerolls, completions, occasional retries (duplicates) and deliberate bad requests.
//!
//! # Layout
//! - [`player`]: one session's pingbacks (pure).
//! - [`plan`]: the whole run from a seed (pure).
//! - [`send`]: HTTP sending with pacing and a progress bar.
//! - [`report`]: totals, mismatches, latency percentiles.

pub mod plan;
pub mod player;
pub mod report;
pub mod send;

pub use plan::{Expect, PlanConfig, Request, plan};
pub use report::Report;
pub use send::{SendConfig, send};
