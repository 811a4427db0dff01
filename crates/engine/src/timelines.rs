//! The timelines in memory: which are scanned as time moves, which wait to leave, and how
//! they leave (to the store's archive) and come back.
//!
//! A timeline whose contribution still changes with the watermark (its last view is
//! playing, or would be abandoned at its timeout) is *hot*: the once-per-window scan moves
//! its tail. Any other timeline is *cold*: it only waits. Once its last cluster is closed
//! and the watermark is a hold past that, a cold timeline leaves memory: it is serialized
//! into an [`ArchivedState`] that the consumer writes to the store with its next commit, and
//! kept in `leaving` until then. An event for a view key that is not in memory but may have
//! been archived (its edge time is older than the watermark minus the hold: only then could
//! it join a timeline that left) makes the consumer load the key's archived states first
//! ([`crate::Engine::missing_archives`], [`crate::Engine::restore_archived`]).
//!
//! Archived states of one key are a union: a viewer may have left and come back (a new
//! timeline, archived later on its own). Their clusters are more than a view timeout apart
//! (that is why no lookup was needed when the second one started), so their contributions
//! simply add up, and loading all of them gives the timeline an uninterrupted engine would
//! hold.
//!
//! Midnight: a viewer's key changes with the UTC day (its salt rotates). Events of the first
//! hours of a day carry the previous day's key too; the timeline of that key is joined into
//! the new key's ([`Timelines::link`]) and the old key becomes an alias, so a view crossing
//! midnight stays one view, whichever side of midnight arrives first.

use engage_model::envelope::event_id;
use hashbrown::HashMap;
use serde::{Deserialize, Serialize};

use crate::intern::Interner;
use crate::timeline::{Params, Timeline};
use crate::view::Sink;
use engage_model::rollup::ArchivedState;

/// The key of a timeline: `(item, viewer)`, or `(item, vid)` when the player sent a view id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub(crate) struct ViewKey {
    pub(crate) item: u32,
    /// The interned `vid`, or [`ViewKey::NO_VID`].
    pub(crate) vid: u32,
    /// The viewer key; 0 when `vid` identifies the view.
    pub(crate) viewer: u64,
}

impl ViewKey {
    pub(crate) const NO_VID: u32 = u32::MAX;

    pub(crate) fn new(item: u32, viewer: u64, vid: Option<u32>) -> Self {
        match vid {
            Some(vid) => Self { item, vid, viewer: 0 },
            None => Self { item, vid: Self::NO_VID, viewer },
        }
    }
}

/// The 16-byte store key of a view key (strings, so it is stable across processes).
pub(crate) fn archive_key(item: &str, vid: Option<&str>, viewer: u64) -> [u8; 16] {
    let id = match vid {
        Some(vid) => event_id(&[b"engage.video.view", item.as_bytes(), b"vid", vid.as_bytes()]),
        None => event_id(&[b"engage.video.view", item.as_bytes(), b"viewer", &viewer.to_le_bytes()]),
    };
    id.try_into().unwrap_or([0; 16])
}

/// A timeline as archived: with its strings, so any process can load it.
#[derive(Debug, Serialize, Deserialize)]
struct Saved {
    item: String,
    vid: Option<String>,
    viewer: u64,
    /// Previous-day viewer keys joined into this timeline.
    aliases: Vec<u64>,
    /// `who[i].app` of the timeline indexes this.
    apps: Vec<String>,
    /// The position it was archived at (the row's version).
    version: u64,
    timeline: Timeline,
}

/// Version byte of the archived format. 2: events remember whether a bot sent them
/// (archives of format 1 are not decoded; the consumer counts them).
const SAVED_FORMAT: u8 = 2;

/// Every timeline in memory.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct Timelines {
    hot: HashMap<ViewKey, Timeline>,
    cold: HashMap<ViewKey, Timeline>,
    /// Previous-day keys → the key whose timeline holds their events.
    aliases: HashMap<ViewKey, ViewKey>,
    /// Aliases of each timeline that has some.
    alias_lists: HashMap<ViewKey, Vec<ViewKey>>,
    /// Timelines archived since the last flush, until the commit makes the archive durable.
    leaving: HashMap<ViewKey, (Timeline, Vec<ViewKey>)>,
    /// What leaves with the next commit.
    archived: Vec<ArchivedState>,
    /// Sweep `cold` for timelines to archive when the watermark reaches this.
    next_sweep_at: i64,
    /// Timelines archived since the start (metrics).
    pub(crate) archived_total: u64,
    /// Timelines restored from the archive since the start (metrics).
    pub(crate) restored_total: u64,
}

impl Timelines {
    /// Timelines in memory.
    pub(crate) fn len(&self) -> usize {
        self.hot.len() + self.cold.len() + self.leaving.len()
    }

    /// Events held by all timelines in memory.
    pub(crate) fn events(&self) -> usize {
        self.hot.values().chain(self.cold.values()).map(Timeline::len).sum()
    }

    /// Whether any key is an alias (midnight links): when none is, keys are canonical.
    pub(crate) fn has_aliases(&self) -> bool {
        !self.aliases.is_empty()
    }

    /// The key holding `key`'s events (itself, or what it is an alias of).
    pub(crate) fn canonical(&self, key: ViewKey) -> ViewKey {
        self.aliases.get(&key).copied().unwrap_or(key)
    }

    /// Whether `key` (canonical or alias) has a timeline in memory (or leaving), and whether
    /// that timeline is complete (see [`Timeline::complete`]).
    pub(crate) fn known(&self, key: ViewKey) -> Option<bool> {
        let key = self.canonical(key);
        let t =
            self.hot.get(&key).or_else(|| self.cold.get(&key)).or_else(|| self.leaving.get(&key).map(|(t, _)| t))?;
        Some(t.complete)
    }

    /// The timeline of canonical `key`, made hot; a new one at `wm`, created at `position`,
    /// when there is none. One hash lookup when it is hot already.
    pub(crate) fn get(&mut self, key: ViewKey, wm: i64, position: u64) -> &mut Timeline {
        let Timelines { hot, cold, leaving, aliases, alias_lists, .. } = self;
        hot.entry(key).or_insert_with(|| {
            if let Some(t) = cold.remove(&key) {
                return t;
            }
            match leaving.remove(&key) {
                Some((t, moved)) => {
                    for a in &moved {
                        aliases.insert(*a, key);
                    }
                    if !moved.is_empty() {
                        alias_lists.insert(key, moved);
                    }
                    t
                }
                None => Timeline::new(wm, position),
            }
        })
    }

    fn take(&mut self, key: ViewKey) -> Option<Timeline> {
        if let Some(t) = self.hot.remove(&key).or_else(|| self.cold.remove(&key)) {
            return Some(t);
        }
        let (t, aliases) = self.leaving.remove(&key)?;
        self.relink(key, aliases);
        Some(t)
    }

    fn relink(&mut self, key: ViewKey, aliases: Vec<ViewKey>) {
        for a in &aliases {
            self.aliases.insert(*a, key);
        }
        if !aliases.is_empty() {
            self.alias_lists.insert(key, aliases);
        }
    }

    /// Joins the timeline of `prev` (a previous-day key of the same viewer and item) into
    /// `key`'s, retracting both contributions and adding the union's, and makes `prev` an
    /// alias of `key`. Both are canonical and different.
    pub(crate) fn link<S: Sink + ?Sized>(
        &mut self,
        key: ViewKey,
        prev: ViewKey,
        wm: i64,
        position: u64,
        p: &Params,
        sink: &mut S,
    ) {
        let absorbed = self.take(prev);
        let mut moved = self.alias_lists.remove(&prev).unwrap_or_default();
        moved.push(prev);
        for a in &moved {
            self.aliases.insert(*a, key);
        }
        self.alias_lists.entry(key).or_default().extend(moved);
        let Some(mut other) = absorbed else { return };
        other.advance(wm, p, sink);
        let t = self.get(key, wm, position);
        t.advance(wm, p, sink);
        if t.is_compact() || other.is_compact() {
            // No events to re-derive from: both contributions stay as they are.
            t.absorb(&other);
            return;
        }
        let mut net = crate::view::NetSink::default();
        other.derive(p, &mut net, -1);
        t.derive(p, &mut net, -1);
        t.absorb(&other);
        t.rederive(p, &mut net);
        net.emit(sink);
    }

    /// Once per window of watermark: moves every hot timeline's contribution to `wm` (tails
    /// grow, clusters close and abandon), cools what no longer changes with time, and now
    /// and then archives cold timelines that are done. `position` versions the archive rows.
    pub(crate) fn scan<S: Sink + ?Sized>(
        &mut self,
        wm: i64,
        p: &Params,
        sink: &mut S,
        strings: &Interner,
        vids: &Interner,
        position: u64,
    ) {
        let (timeout, hold_ms, horizon_ms) = (p.timeout_ms, p.hold_ms, p.horizon_ms);
        let cooled = self.hot.extract_if(|key, t| {
            t.advance(wm, &p.for_item(key.item), sink);
            !t.is_live(timeout)
        });
        self.cold.extend(cooled);
        if wm < self.next_sweep_at {
            return;
        }
        self.next_sweep_at = wm.saturating_add(hold_ms.max(p.ctx.window_ms));
        let done =
            |t: &Timeline| t.is_closed(wm, timeout) && wm >= t.last_e().saturating_add(timeout).saturating_add(hold_ms);
        let leaving: Vec<(ViewKey, Timeline)> = self.cold.extract_if(|_, t| done(t)).collect();
        for (key, mut t) in leaving {
            t.advance(wm, &p.for_item(key.item), sink);
            let aliases = self.alias_lists.remove(&key).unwrap_or_default();
            for a in &aliases {
                self.aliases.remove(a);
            }
            let expires = t.last_e().saturating_add(timeout).saturating_add(horizon_ms).saturating_add(60_000);
            self.archive(key, &t, &aliases, expires, strings, vids, position);
            self.leaving.insert(key, (t, aliases));
        }
    }

    /// Serializes `t` under its key and each alias.
    #[allow(clippy::too_many_arguments)]
    fn archive(
        &mut self,
        key: ViewKey,
        t: &Timeline,
        aliases: &[ViewKey],
        expires_at_ms: i64,
        strings: &Interner,
        vids: &Interner,
        position: u64,
    ) {
        let mut apps: Vec<String> = Vec::new();
        let mut saved_t = t.clone();
        saved_t.map_apps(|app| {
            let s = strings.get(app);
            match apps.iter().position(|a| a == s) {
                Some(i) => i as u32,
                None => {
                    apps.push(s.to_owned());
                    (apps.len() - 1) as u32
                }
            }
        });
        let item = strings.get(key.item).to_owned();
        let vid = (key.vid != ViewKey::NO_VID).then(|| vids.get(key.vid).to_owned());
        let saved = Saved {
            item: item.clone(),
            vid: vid.clone(),
            viewer: key.viewer,
            aliases: aliases.iter().map(|a| a.viewer).collect(),
            apps,
            version: position,
            timeline: saved_t,
        };
        let mut state = vec![SAVED_FORMAT];
        // Serializing plain data into a vector cannot fail.
        state.extend(postcard::to_stdvec(&saved).unwrap_or_default());
        self.archived_total += 1;
        let mut keys = vec![archive_key(&item, vid.as_deref(), key.viewer)];
        keys.extend(aliases.iter().map(|a| archive_key(&item, None, a.viewer)));
        for k in keys {
            self.archived.push(ArchivedState { key: k, version: position, expires_at_ms, state: state.clone() });
        }
    }

    /// What left memory since the last call; the timelines leaving are dropped now (the
    /// caller writes these states before anything can need them from the store).
    pub(crate) fn take_archived(&mut self) -> Vec<ArchivedState> {
        self.leaving.clear();
        std::mem::take(&mut self.archived)
    }

    /// Installs the archived states found for one key (every row at or below the current
    /// position; see the module documentation), whose contribution the store already holds.
    /// Of each lineage the newest row counts, and lineages another row superseded are left
    /// out; what remains are timelines whose contributions add up. Returns false if a state
    /// does not decode (it is then ignored).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn restore<S: Sink + ?Sized>(
        &mut self,
        states: &[Vec<u8>],
        wm: i64,
        p: &Params,
        sink: &mut S,
        strings: &mut Interner,
        vids: &mut Interner,
    ) -> bool {
        let mut ok = true;
        let mut rows: Vec<Saved> = Vec::new();
        for bytes in states {
            match bytes.split_first() {
                Some((&SAVED_FORMAT, body)) => match postcard::from_bytes::<Saved>(body) {
                    Ok(saved) => rows.push(saved),
                    Err(_) => ok = false,
                },
                _ => ok = false,
            }
        }
        let superseded: Vec<u64> = rows.iter().flat_map(|r| r.timeline.supersedes.iter().copied()).collect();
        rows.retain(|r| !superseded.contains(&r.timeline.lineage));
        rows.sort_by_key(|r| (r.timeline.lineage, std::cmp::Reverse(r.version)));
        rows.dedup_by_key(|r| r.timeline.lineage);
        for saved in rows {
            let item = strings.intern(&saved.item);
            let vid = saved.vid.as_deref().map(|v| vids.intern(v));
            let apps: Vec<u32> = saved.apps.iter().map(|a| strings.intern(a)).collect();
            let mut loaded = saved.timeline;
            loaded.map_apps(|i| apps.get(i as usize).copied().unwrap_or(0));
            let aliases: Vec<ViewKey> = saved.aliases.iter().map(|v| ViewKey::new(item, *v, None)).collect();
            // An alias's canonical timeline may be in memory already: join there.
            let key = self.canonical(ViewKey::new(item, saved.viewer, vid));
            self.relink(key, aliases);
            let p = &p.for_item(item);
            self.restored_total += 1;
            if self.known(key).is_some() {
                let t = self.get(key, wm, 0);
                // Another lineage of the key: its clusters are a view timeout apart from
                // this one's (an event that could join them would have been looked up
                // first), so the contributions add up and nothing is emitted.
                loaded.advance(t.wm(), p, sink);
                t.absorb(&loaded);
                t.rederive(p, &mut NullSink);
                t.complete = true;
            } else {
                loaded.advance(wm, p, sink);
                loaded.complete = true;
                self.hot.insert(key, loaded);
            }
        }
        ok
    }

    /// Marks the timeline of `key` (if any) as complete: its key was looked up.
    pub(crate) fn set_complete(&mut self, key: ViewKey) {
        let key = self.canonical(key);
        if let Some(t) = self.hot.get_mut(&key).or_else(|| self.cold.get_mut(&key)) {
            t.complete = true;
        }
    }

    /// Sets `used[id]` for every item and application id a timeline refers to.
    pub(crate) fn mark_strings(&self, used: &mut [bool]) {
        let all = self.hot.iter().chain(&self.cold).chain(self.leaving.iter().map(|(k, (t, _))| (k, t)));
        for (key, t) in all {
            used[key.item as usize] = true;
            for w in t.who.iter() {
                used[w.app as usize] = true;
            }
        }
    }

    /// Sets `used[id]` for every view id a timeline is keyed by.
    pub(crate) fn mark_vids(&self, used: &mut [bool]) {
        for key in self.hot.keys().chain(self.cold.keys()).chain(self.leaving.keys()) {
            if key.vid != ViewKey::NO_VID {
                used[key.vid as usize] = true;
            }
        }
    }
}

/// A sink that drops everything: re-deriving a restored timeline whose contribution the
/// store already holds only rebuilds its state.
struct NullSink;

impl Sink for NullSink {
    fn add(&mut self, _: u32, _: u32, _: i64, _: crate::view::Delta, _: i64) {}
}
