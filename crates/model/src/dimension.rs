//! Bounded cardinality of the dimensions a client chooses: past a per-window cap, values
//! count under [`OTHER`].
//!
//! Items are validated ([`crate::ids`]) but never capped: they are what engage measures. The
//! other names a sender picks freely (applications from its user agent, page names, webinar
//! event types) would otherwise grow the rollups, the engine's memory and the dashboards
//! without bound. One mechanism bounds them, in two forms for the two kinds of state:
//!
//! - [`DistinctCap`] *admits* values per (window, scope) as they arrive, up to the cap; a
//!   value past it is recorded as [`OTHER`] from then on. For state built incrementally
//!   (video windows with retractions, page-view counters), where a value, once recorded, must
//!   stay where it was recorded. Which values keep their names when a window receives more
//!   than the cap therefore depends on arrival order (the first `cap` distinct ones); below
//!   the cap nothing changes, and totals over all values are exact either way.
//! - [`fold_top`] keeps the `cap` largest values of a map computed from a whole set of
//!   events (largest count first, then by name) and folds the rest into [`OTHER`]: a
//!   function of the set, whatever the order of arrival.
//!
//! Every value put under [`OTHER`] is counted per [`Dimension`]; the consumer exports the
//! counts as `engage_cardinality_overflow_total{dimension}`.

use serde::{Deserialize, Serialize};
use std::borrow::Borrow;
use std::collections::BTreeMap;

/// The name every value past a cap is recorded under.
pub const OTHER: &str = "(other)";

/// Most applications per item and window.
pub const MAX_APPS_PER_ITEM_WINDOW: usize = 50;
/// Most page (or screen) names per source and window.
pub const MAX_PAGE_NAMES_PER_WINDOW: usize = 1000;
/// Most engagement types, and most stream types, per webinar session window.
pub const MAX_EVENT_TYPES_PER_WINDOW: usize = 50;

/// A capped dimension: the `dimension` label of the overflow metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Dimension {
    /// The application of a video window.
    App,
    /// The name of a page or screen view.
    PageName,
    /// The `type` of a webinar engagement or stream.
    EventType,
}

impl Dimension {
    pub const ALL: [Dimension; 3] = [Self::App, Self::PageName, Self::EventType];

    /// The metrics label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::App => "app",
            Self::PageName => "page_name",
            Self::EventType => "event_type",
        }
    }

    /// The cap of this dimension per window (see the constants).
    pub fn cap(self) -> usize {
        match self {
            Self::App => MAX_APPS_PER_ITEM_WINDOW,
            Self::PageName => MAX_PAGE_NAMES_PER_WINDOW,
            Self::EventType => MAX_EVENT_TYPES_PER_WINDOW,
        }
    }
}

/// Overflow counts per dimension, indexed like [`Dimension::ALL`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Overflow(pub [u64; Dimension::ALL.len()]);

impl Overflow {
    pub fn add(&mut self, d: Dimension, n: u64) {
        self.0[d as usize] += n;
    }

    pub fn get(&self, d: Dimension) -> u64 {
        self.0[d as usize]
    }

    pub fn merge(&mut self, other: Overflow) {
        for d in Dimension::ALL {
            self.add(d, other.get(d));
        }
    }

    /// `(dimension, count)` of every dimension that overflowed.
    pub fn nonzero(&self) -> impl Iterator<Item = (Dimension, u64)> + '_ {
        Dimension::ALL.into_iter().map(|d| (d, self.get(d))).filter(|(_, n)| *n > 0)
    }
}

/// The values admitted in one window, per scope, and when the window's quota ends.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Admitted<S: Ord, V> {
    expires_at: i64,
    scopes: BTreeMap<S, Vec<V>>,
}

/// Distinct values admitted per (window start, scope), at most `cap` each: see the module
/// documentation. `S` is the scope within a window (an item, a page kind), `V` the value.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DistinctCap<S: Ord, V> {
    dimension: Dimension,
    windows: BTreeMap<i64, Admitted<S, V>>,
    /// Values recorded as [`OTHER`] since the last [`DistinctCap::take_overflow`] (a metric,
    /// not state: not saved).
    #[serde(skip)]
    overflow: u64,
}

impl<S: Ord, V> DistinctCap<S, V> {
    pub fn new(dimension: Dimension) -> Self {
        Self { dimension, windows: BTreeMap::new(), overflow: 0 }
    }

    /// Whether `value` keeps its name in (`start`, `scope`): it was admitted before, or there
    /// is room for it. Otherwise it is to be recorded as [`OTHER`] (and counted). The quota
    /// of the window is kept at least until `expires_at` (a watermark).
    pub fn admit<Q>(&mut self, start: i64, expires_at: i64, scope: S, value: &Q) -> bool
    where
        V: Borrow<Q>,
        Q: PartialEq + ToOwned<Owned = V> + ?Sized,
    {
        let window = self.windows.entry(start).or_insert_with(|| Admitted { expires_at, scopes: BTreeMap::new() });
        window.expires_at = window.expires_at.max(expires_at);
        let admitted = window.scopes.entry(scope).or_default();
        if admitted.iter().any(|v| v.borrow() == value) {
            return true;
        }
        if admitted.len() < self.dimension.cap() {
            admitted.push(value.to_owned());
            return true;
        }
        self.overflow += 1;
        false
    }

    /// Forgets the quotas of windows whose time is over at watermark `wm`.
    pub fn expire(&mut self, wm: i64) {
        self.windows.retain(|_, w| w.expires_at > wm);
    }

    /// Values recorded as [`OTHER`] since the last call.
    pub fn take_overflow(&mut self) -> Overflow {
        let mut out = Overflow::default();
        out.add(self.dimension, std::mem::take(&mut self.overflow));
        out
    }

    /// Every (scope, value) held, to keep what they refer to alive.
    pub fn held(&self) -> impl Iterator<Item = (&S, &V)> {
        self.windows.values().flat_map(|w| w.scopes.iter().flat_map(|(s, vs)| vs.iter().map(move |v| (s, v))))
    }

    /// Windows with a quota in memory.
    pub fn len(&self) -> usize {
        self.windows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.windows.is_empty()
    }
}

/// Keeps the `cap` largest entries of `counts` (largest value first, then by name) and adds
/// the others into [`OTHER`]; returns how many names were folded. A function of the map
/// alone. A key equal to [`OTHER`] already is one of the entries like any other.
pub fn fold_top(counts: &mut BTreeMap<String, u64>, cap: usize) -> u64 {
    if counts.len() <= cap {
        return 0;
    }
    let mut ranked: Vec<(String, u64)> = std::mem::take(counts).into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    // Keep room for the overflow entry itself.
    let keep = cap.saturating_sub(1);
    let folded = ranked.split_off(keep.min(ranked.len()));
    let n = folded.iter().filter(|(k, _)| k != OTHER).count() as u64;
    counts.extend(ranked);
    let rest: u64 = folded.iter().map(|(_, v)| *v).sum();
    *counts.entry(OTHER.to_owned()).or_default() += rest;
    n
}

#[cfg(test)]
mod tests;
