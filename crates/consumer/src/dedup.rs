//! Repeat suppression of analytics events: a message id seen before, within a horizon of
//! event time, is dropped.
//!
//! Event ids are deterministic (`engage_model::segment::envelope`): a Segment call's id is a
//! hash of its write key and `messageId`, so a retried delivery repeats it and must not count
//! twice. (Video events need no id memory: the engine keeps a view's events as a set, which
//! recognizes a repeat for the whole lateness horizon.) Pure: no I/O, no clock; the state is
//! saved in the same snapshot as the engine, so a restart neither forgets ids nor double-drops.
//!
//! Memory is bounded by time and by count. The horizon is event time (at least the lateness
//! horizon): ids whose event time is more than `horizon_ms` behind the highest event time seen
//! are forgotten; an event that old is not checked (it passes on: the collector refuses what
//! is older than the lateness horizon). At most `max_ids` ids are held; past that the oldest are
//! forgotten first and counted ([`Dedup::evicted`]). Each id held costs about 90 bytes: a
//! 32-byte `(u128, i64)` hash-map entry at 7/8 load plus its control byte (~38 bytes), and a
//! 32-byte `(i64, u128)` B-tree key with node overhead (~50 bytes). A million events per
//! horizon is about 90 MB.

use hashbrown::HashMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeSet;

/// Repeat-suppression settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DedupConfig {
    /// How far behind the watermark (event time) an id is still remembered.
    pub horizon_ms: i64,
    /// Most ids held; the oldest are forgotten first beyond it.
    pub max_ids: usize,
}

impl Default for DedupConfig {
    fn default() -> Self {
        Self { horizon_ms: 48 * 3_600_000, max_ids: 2_000_000 }
    }
}

/// What an event is to the deduplicator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Not seen within the horizon: process it (its id is now remembered).
    First,
    /// Seen before: drop it.
    Repeat,
    /// Older than the horizon: cannot be checked; process it (the engine decides lateness).
    BeyondHorizon,
}

/// The ids seen within the horizon.
#[derive(Debug, Default)]
pub struct Dedup {
    config: DedupConfig,
    watermark_ms: Option<i64>,
    ids: HashMap<u128, i64>,
    by_time: BTreeSet<(i64, u128)>,
    evicted: u64,
}

impl Dedup {
    pub fn new(config: DedupConfig) -> Self {
        Self { config, ..Self::default() }
    }

    pub fn config(&self) -> &DedupConfig {
        &self.config
    }

    /// Adopts new settings (a changed horizon applies from the next event on).
    pub fn set_config(&mut self, config: DedupConfig) {
        self.config = config;
        self.expire();
    }

    /// Checks an event and remembers its id.
    pub fn check(&mut self, event_id: &[u8], event_time_ms: i64) -> Verdict {
        if let Some(wm) = self.watermark_ms
            && event_time_ms < wm.saturating_sub(self.config.horizon_ms)
        {
            return Verdict::BeyondHorizon;
        }
        let key = key_of(event_id);
        if self.ids.contains_key(&key) {
            return Verdict::Repeat;
        }
        self.ids.insert(key, event_time_ms);
        self.by_time.insert((event_time_ms, key));
        self.watermark_ms = Some(self.watermark_ms.map_or(event_time_ms, |w| w.max(event_time_ms)));
        self.expire();
        Verdict::First
    }

    fn expire(&mut self) {
        let Some(wm) = self.watermark_ms else { return };
        let cutoff = wm.saturating_sub(self.config.horizon_ms);
        while let Some(&(t, key)) = self.by_time.first() {
            let over = self.by_time.len() > self.config.max_ids;
            if t >= cutoff && !over {
                break;
            }
            self.by_time.pop_first();
            self.ids.remove(&key);
            if t >= cutoff {
                self.evicted += 1;
            }
        }
    }

    /// Ids held now.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Ids forgotten before their horizon because of `max_ids`, since the start.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }
}

/// 16-byte ids (all of engage's) as they are; any other length hashed to 16 bytes.
fn key_of(id: &[u8]) -> u128 {
    let bytes: [u8; 16] = match id.try_into() {
        Ok(b) => b,
        Err(_) => engage_model::envelope::event_id(&[b"dedup", id]).try_into().unwrap_or([0; 16]),
    };
    u128::from_le_bytes(bytes)
}

/// The saved form: the ids in (time, id) order, so equal states save to equal bytes.
#[derive(Serialize)]
struct SavedRef<'a> {
    config: &'a DedupConfig,
    watermark_ms: Option<i64>,
    ids: &'a BTreeSet<(i64, u128)>,
    evicted: u64,
}

#[derive(Deserialize)]
struct Saved {
    config: DedupConfig,
    watermark_ms: Option<i64>,
    ids: BTreeSet<(i64, u128)>,
    evicted: u64,
}

impl Serialize for Dedup {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        SavedRef { config: &self.config, watermark_ms: self.watermark_ms, ids: &self.by_time, evicted: self.evicted }
            .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Dedup {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let saved = Saved::deserialize(d)?;
        let ids = saved.ids.iter().map(|&(t, key)| (key, t)).collect();
        Ok(Self {
            config: saved.config,
            watermark_ms: saved.watermark_ms,
            ids,
            by_time: saved.ids,
            evicted: saved.evicted,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const H: i64 = 1_000;

    fn dedup() -> Dedup {
        Dedup::new(DedupConfig { horizon_ms: H, max_ids: 100 })
    }

    #[test]
    fn repeats_within_the_horizon_are_dropped() {
        let mut d = dedup();
        assert_eq!(d.check(&[1; 16], 10_000), Verdict::First);
        assert_eq!(d.check(&[1; 16], 10_000), Verdict::Repeat);
        assert_eq!(d.check(&[2; 16], 10_500), Verdict::First);
        assert_eq!(d.check(&[1; 16], 10_000), Verdict::Repeat, "still within the horizon");
        assert_eq!(d.check(b"short id", 10_500), Verdict::First);
        assert_eq!(d.check(b"short id", 10_500), Verdict::Repeat);
        // the watermark moves past 10_000 + H: id 1 is forgotten, and that old an event is not checked
        assert_eq!(d.check(&[3; 16], 11_001), Verdict::First);
        assert_eq!(d.len(), 3);
        assert_eq!(d.check(&[1; 16], 10_000), Verdict::BeyondHorizon);
        assert_eq!(d.check(&[2; 16], 10_500), Verdict::Repeat);
    }

    #[test]
    fn the_count_bound_forgets_the_oldest_first() {
        let mut d = Dedup::new(DedupConfig { horizon_ms: i64::MAX, max_ids: 3 });
        for i in 0..5u8 {
            assert_eq!(d.check(&[i; 16], i64::from(i)), Verdict::First);
        }
        assert_eq!((d.len(), d.evicted()), (3, 2));
        assert_eq!(d.check(&[4; 16], 4), Verdict::Repeat);
        assert_eq!(d.check(&[0; 16], 0), Verdict::First, "forgotten");
    }

    proptest! {
        /// Saving and restoring at any point gives the same verdicts afterwards, and equal
        /// states save to equal bytes.
        #[test]
        fn snapshot_restore_is_exact(
            events in proptest::collection::vec((0u8..20, 0i64..5_000), 1..200),
            cut in 0usize..200,
        ) {
            let mut straight = dedup();
            let mut restored = dedup();
            let cut = cut.min(events.len());
            for &(id, t) in &events[..cut] {
                straight.check(&[id; 16], t);
                restored.check(&[id; 16], t);
            }
            let bytes = postcard::to_stdvec(&restored).expect("saves");
            let mut restored: Dedup = postcard::from_bytes(&bytes).expect("restores");
            prop_assert_eq!(postcard::to_stdvec(&restored).expect("saves"), bytes);
            for &(id, t) in &events[cut..] {
                prop_assert_eq!(straight.check(&[id; 16], t), restored.check(&[id; 16], t));
            }
            prop_assert!(straight.len() <= 100);
        }
    }
}
