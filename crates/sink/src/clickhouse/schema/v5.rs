//! Schema version 5: bots counted apart.
//!
//! The consumer keeps the views of known crawlers, monitoring agents and headless browsers
//! (`engage_model::bot`) out of every human counter and counts them in two columns of their
//! own. Rows written before have 0 there (bots were then counted as people). Running a
//! statement again is a no-op (`ADD COLUMN IF NOT EXISTS`).

/// The statements of version 5, in order.
pub(super) const V5_BOTS: &[&str] = &["
ALTER TABLE video_window_rows
    ADD COLUMN IF NOT EXISTS bot_impressions Int64 DEFAULT 0 COMMENT 'views bots started (in no other counter)',
    ADD COLUMN IF NOT EXISTS bot_plays Int64 DEFAULT 0 COMMENT 'views bots played (in no other counter)'"];
