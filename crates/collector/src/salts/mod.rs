//! The salt keeper: keeps this collector's viewer-key salts equal to the salt book's, makes
//! the salts of the days about to be needed, and deletes the expired ones.
//!
//! It runs at start (before the collector serves) and then every minute:
//! 1. read the book (every collector's salts, the first proposal of each day);
//! 2. propose a salt for every day [`SaltPolicy::kept_days`] needs and the book lacks: the one
//!    this collector already uses if any (the book was lost or restored without it), else 16
//!    fresh random bytes; then read the book again and adopt what it says, so collectors
//!    racing to make a day all end up with the first proposal. Tomorrow's salt is made a day
//!    ahead, so such races are settled long before anyone keys under it;
//! 3. delete from the book, and forget, every day whose salt has expired.
//!
//! Until the first read succeeds the collector has no salts: events are answered 503 (clients
//! retry) and `/readyz` is 503, never keyed some other way.
//!
//! # Layout
//! - `mod.rs`: the keeper.
//! - [`dir`]: the book of `engage run`, a directory of the data dir.

pub mod dir;

use crate::{Clock, metrics as m};
use engage_bus::{SaltBook, SaltBookError};
use engage_model::viewer::ViewerKeyer;
use engage_model::viewer::salts::{DaySalts, Salt, SaltPolicy, day_name};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// How often the keeper reads the book when all is well.
pub const REFRESH_EVERY: Duration = Duration::from_secs(60);
/// How soon it tries again after the book failed.
pub const RETRY_EVERY: Duration = Duration::from_secs(5);

/// Keeps a [`ViewerKeyer`]'s salts in step with a [`SaltBook`].
#[derive(Clone)]
pub struct SaltKeeper {
    book: Arc<dyn SaltBook>,
    keyer: ViewerKeyer,
    policy: SaltPolicy,
    clock: Clock,
}

impl std::fmt::Debug for SaltKeeper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SaltKeeper").field("policy", &self.policy).finish_non_exhaustive()
    }
}

/// What one refresh changed in the book.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Refreshed {
    /// Days a salt was proposed for (adopted or not).
    pub proposed: Vec<i64>,
    /// Days whose salts were deleted.
    pub deleted: Vec<i64>,
}

impl SaltKeeper {
    /// A keeper of `keyer`'s salts (the collector's keyer: clones share the salts).
    pub fn new(book: Arc<dyn SaltBook>, keyer: ViewerKeyer, policy: SaltPolicy, clock: Clock) -> Self {
        Self { book, keyer, policy, clock }
    }

    /// One pass: read, propose what is missing, delete what expired (see the module doc).
    pub async fn refresh(&self) -> Result<Refreshed, SaltBookError> {
        let outcome = self.refresh_once().await;
        let label = if outcome.is_ok() { "ok" } else { "failed" };
        metrics::counter!(m::SALT_REFRESHES, "outcome" => label).increment(1);
        metrics::gauge!(m::SALT_DAYS).set(self.keyer.salts().days().count() as f64);
        outcome
    }

    async fn refresh_once(&self) -> Result<Refreshed, SaltBookError> {
        let now = (self.clock)();
        let mut book: BTreeMap<i64, Salt> = self.book.read().await?.into_iter().collect();
        let current = self.keyer.salts();
        let mut done = Refreshed::default();
        for day in self.policy.kept_days(now) {
            if book.contains_key(&day) {
                continue;
            }
            let salt = match current.get(day) {
                Some(salt) => *salt,
                None => fresh_salt()?,
            };
            self.book.propose(day, salt).await?;
            done.proposed.push(day);
        }
        if !done.proposed.is_empty() {
            book = self.book.read().await?.into_iter().collect();
            let days: Vec<String> = done.proposed.iter().map(|d| day_name(*d)).collect();
            tracing::info!(days = ?days, "proposed viewer-key salts");
        }
        for (&day, _) in book.iter().filter(|(day, _)| self.policy.is_expired(**day, now)) {
            self.book.delete(day).await?;
            done.deleted.push(day);
        }
        let mut table = DaySalts::new();
        for (day, salt) in book {
            if !self.policy.is_expired(day, now) {
                table.adopt(day, salt);
            }
        }
        self.keyer.update(|salts| *salts = table);
        if !done.deleted.is_empty() {
            let days: Vec<String> = done.deleted.iter().map(|d| day_name(*d)).collect();
            tracing::info!(days = ?days, "deleted expired viewer-key salts");
        }
        Ok(done)
    }

    /// Refreshes every [`REFRESH_EVERY`] (every [`RETRY_EVERY`] after a failure) until the
    /// task is aborted.
    pub fn spawn(self) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                let wait = match self.refresh().await {
                    Ok(_) => REFRESH_EVERY,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot refresh the viewer-key salts; retrying");
                        RETRY_EVERY
                    }
                };
                tokio::time::sleep(wait).await;
            }
        })
    }
}

/// 16 random bytes from the operating system.
fn fresh_salt() -> Result<Salt, SaltBookError> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| SaltBookError::Unavailable(format!("no randomness for a salt: {e}")))?;
    Ok(salt)
}

#[cfg(test)]
mod tests;
