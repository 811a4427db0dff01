//! Realistic generated event streams for the property tests: spec-conformant level-2
//! sessions (prerolls, checkpoints, pauses, seeks while playing and while paused, stops,
//! completions and restarts, abandonment, long pauses past the view timeout), level-1
//! sessions (some sending level-2 events without `il=2`), view ids, retries, random noise,
//! player clock skew and network delays, delivered in order of receipt. The edge time of an
//! event is its receipt; the player's `ts` is its clock (skewed for some players).

use engage_model::pingback::EventKind::{self, *};
use engage_model::pingback::Level;

use super::{MIN, SEC, T0, VideoEvent};

/// SplitMix64: a tiny deterministic generator (the seed comes from proptest).
pub(super) struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..hi` (`hi > lo`).
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % (hi - lo) as u64) as i64
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    pub fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[(self.next() % xs.len() as u64) as usize]
    }
}

/// An owned event of a generated stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct OwnedEvent {
    pub item: String,
    pub app: &'static str,
    pub viewer: u64,
    pub vid: Option<String>,
    pub kind: EventKind,
    pub level: Level,
    pub progress: u8,
    /// The player's `ts`.
    pub ts: i64,
    /// Edge time (the receipt).
    pub event_time_ms: i64,
    /// Sent by a bot: every fifth viewer is one ([`bot_viewer`]), so view ids shared by a
    /// bot and a person exercise the "first event decides" rule under reordering.
    pub bot: bool,
}

/// Whether generated viewer `viewer` is a bot (the user agent is part of the viewer key).
pub(super) fn bot_viewer(viewer: u64) -> bool {
    viewer % 5 == 4
}

impl OwnedEvent {
    pub fn as_event(&self) -> VideoEvent<'_> {
        VideoEvent {
            item: &self.item,
            app: self.app,
            viewer: self.viewer,
            prev_viewer: 0,
            view_id: self.vid.as_deref(),
            kind: self.kind,
            level: self.level,
            progress: self.progress,
            client_ts_ms: self.ts,
            event_time_ms: self.event_time_ms,
            ingested_at_ms: self.event_time_ms,
            bot: self.bot,
        }
    }
}

/// What to generate.
#[derive(Clone, Copy, Debug)]
pub(super) struct Shape {
    pub seed: u64,
    pub sessions: usize,
    /// Noise events per hundred session events.
    pub noise_percent: u64,
    /// Give every session its own item (so per-item totals are per-view facts).
    pub item_per_session: bool,
}

const APPS: [&str; 3] = ["Acme/Web 1.0", "Acme/iOS 2.3", "Other/TV 7"];
/// Span of session start times.
const SPAN_MS: i64 = 90 * MIN;

/// One session's events in the client's order, before delivery.
struct Session<'a> {
    rng: &'a mut Rng,
    out: Vec<(EventKind, u8, i64)>,
    t: i64,
    level: Level,
}

impl Session<'_> {
    fn send(&mut self, kind: EventKind, p: u8) {
        self.out.push((kind, p, self.t));
        if self.rng.chance(3) {
            // A retry of the same URL (a repeat), or the player sending it twice (a duplicate).
            let ts = if self.rng.chance(50) { self.t } else { self.t + self.rng.range(1, 2 * SEC) };
            self.out.push((kind, p, ts));
        }
    }

    fn wait(&mut self, lo: i64, hi: i64) {
        self.t += self.rng.range(lo, hi);
    }

    /// A level-2 session: load, (preroll,) play, checkpoints with pauses and seeks, an end.
    fn level2(&mut self) {
        if self.rng.chance(92) {
            self.send(Initialized, 0);
        }
        self.wait(200, 5 * SEC);
        if self.rng.chance(30) {
            self.wait(10 * SEC, 30 * SEC); // preroll
        }
        if !self.rng.chance(85) {
            return; // loaded, never played
        }
        let start = if self.rng.chance(10) { self.rng.range(1, 60) as u8 } else { 0 };
        self.send(Firstplay, start);
        self.send(Play, start);
        // Milliseconds of video per percent: videos of 20 s to 20 min.
        let per_pct = self.rng.range(200, 12 * SEC);
        let mut pos = start;
        let mut restarted = false;
        loop {
            let next = (pos / 10 + 1) * 10;
            let roll = self.rng.next() % 100;
            if roll < 72 {
                self.t += i64::from(next - pos) * per_pct;
                if next >= 100 {
                    self.send(Stop, 100);
                    if !restarted && self.rng.chance(10) {
                        restarted = true;
                        self.wait(SEC, 20 * SEC);
                        self.send(Play, 0);
                        pos = 0;
                        continue;
                    }
                    return;
                }
                self.send(Update, next);
                pos = next;
                continue;
            }
            let at = pos + (self.rng.next() % u64::from(next - pos)) as u8;
            self.t += i64::from(at - pos) * per_pct;
            pos = at;
            if roll < 82 {
                self.send(Pause, at);
                match self.rng.next() % 100 {
                    0..=9 => return,                          // closed while paused: nothing is sent
                    10..=14 => self.wait(35 * MIN, 50 * MIN), // back after the view timeout
                    _ => self.wait(2 * SEC, 5 * MIN),
                }
                if self.rng.chance(25) {
                    pos = self.rng.range(0, 100) as u8; // seek while paused: nothing sent
                }
                self.send(Resume, pos);
            } else if roll < 91 {
                let to = self.rng.range(0, 100) as u8;
                self.send(Seekfrom, at);
                self.wait(100, 2 * SEC);
                self.send(Seekto, to);
                pos = to;
            } else if roll < 97 {
                self.send(Stop, at); // closed while playing
                return;
            } else {
                return; // crashed while playing: nothing more
            }
        }
    }

    /// A level-1 session (no `il`): initialized and/or firstplay, sometimes level-2 events.
    fn level1(&mut self) {
        if self.rng.chance(60) {
            self.send(Initialized, 0);
            self.wait(500, 10 * SEC);
        }
        if self.rng.chance(90) {
            self.send(Firstplay, 0);
        }
        if self.rng.chance(20) {
            // A player that forgot `il=2`.
            self.send(Play, 0);
            self.wait(5 * SEC, 60 * SEC);
            self.send(Update, 10);
            self.wait(5 * SEC, 60 * SEC);
            self.send(Stop, 17);
        }
    }
}

/// Generates a stream in order of receipt.
pub(super) fn generate(shape: Shape) -> Vec<OwnedEvent> {
    let mut rng = Rng::new(shape.seed);
    let viewers = (shape.sessions as u64 / 3).max(2);
    let mut timed: Vec<(i64, usize, OwnedEvent)> = Vec::new();
    for s in 0..shape.sessions {
        let item = if shape.item_per_session { format!("s{s}") } else { format!("item{}", rng.next() % 6) };
        let app = rng.pick(&APPS);
        let viewer = rng.next() % viewers;
        let vid = rng.chance(20).then(|| format!("v{}", rng.next() % 1_000));
        let level = if rng.chance(80) { Level::Two } else { Level::One };
        let skew = if rng.chance(10) { rng.range(-2 * MIN, 2 * MIN) } else { 0 };
        let start = T0 + rng.range(0, SPAN_MS);
        let mut session = Session { rng: &mut rng, out: Vec::new(), t: start, level };
        match session.level {
            Level::Two => session.level2(),
            Level::One => session.level1(),
        }
        let events = std::mem::take(&mut session.out);
        for (kind, progress, t) in events {
            let received = t + delay(&mut rng);
            let ev = OwnedEvent {
                item: item.clone(),
                app,
                viewer,
                vid: vid.clone(),
                kind,
                level,
                progress,
                ts: t + skew,
                event_time_ms: received,
                bot: bot_viewer(viewer),
            };
            timed.push((received, timed.len(), ev));
            if rng.chance(shape.noise_percent) {
                let ev = noise(&mut rng, viewers, received);
                timed.push((ev.event_time_ms, timed.len(), ev));
            }
        }
    }
    timed.sort_by_key(|(received, seq, _)| (*received, *seq));
    timed.into_iter().map(|(_, _, ev)| ev).collect()
}

/// Network delay before the collector receives an event.
fn delay(rng: &mut Rng) -> i64 {
    match rng.next() % 100 {
        0..=89 => rng.range(0, 2 * SEC),
        90..=97 => rng.range(2 * SEC, 60 * SEC),
        _ => rng.range(5 * MIN, 15 * MIN), // long: later events of the view overtake it
    }
}

/// A random, protocol-violating event near `around`.
fn noise(rng: &mut Rng, viewers: u64, around: i64) -> OwnedEvent {
    let kind = rng.pick(&EventKind::ALL);
    let level = if rng.chance(50) { Level::One } else { Level::Two };
    let t = around + rng.range(-3 * MIN, 3 * MIN);
    let item = format!("item{}", rng.next() % 6);
    let app = rng.pick(&APPS);
    let viewer = rng.next() % viewers;
    OwnedEvent {
        item,
        app,
        viewer,
        bot: bot_viewer(viewer),
        vid: rng.chance(10).then(|| format!("v{}", rng.next() % 1_000)),
        kind,
        level,
        progress: (rng.next() % 101) as u8,
        ts: t,
        event_time_ms: t + rng.range(0, 3 * SEC),
    }
}
