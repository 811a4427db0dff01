//! One simulated player session, as the pingback specification says a player behaves.
//!
//! Level-2 players: `initialized` on load, an optional preroll (pingbacks wait for it),
//! `firstplay` + `play` where playback starts (0, or a chapter), `update` at every 10%
//! mark crossed while playing, `pause`/`resume` (a seek while paused sends nothing: the
//! resume carries the new position), `seekfrom`/`seekto` for seeks while playing, `stop`
//! at the position when closed while playing, `stop` at 100 on completion (sometimes a
//! restart with `play` at 0, never a second `firstplay`), and nothing at all when closed
//! while paused. Level-1 players send `initialized` (or not) and `firstplay`, progress 0.
//!
//! Drop-off is front-loaded (most viewers who leave do so early), as audience retention
//! curves show. Seeks are not uniform either: some viewers skip the intro (from the first
//! few percent to about 10%), and many seeks aim at the item's hotspots (the part everyone
//! jumps to, stable per item, see [`hotspots`]); the rest mostly skip a little ahead.
//! Times are simulated milliseconds from the session start.

use engage_model::pingback::EventKind;

/// A yes with probability `p`.
pub(crate) trait Chance {
    fn chance(&mut self, p: f64) -> bool;
}

impl Chance for fastrand::Rng {
    fn chance(&mut self, p: f64) -> bool {
        self.f64() < p
    }
}

/// One pingback of a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step {
    /// Simulated milliseconds since the session started.
    pub at_ms: i64,
    pub event: EventKind,
    pub progress: u8,
}

/// Probabilities of what viewers do, per 10% segment of playback unless said otherwise.
#[derive(Clone, Debug, PartialEq)]
pub struct Behaviour {
    /// Share of sessions that start playing at all (the rest only load the player).
    pub play_rate: f64,
    /// Share of sessions with a preroll ad before the main video.
    pub preroll_rate: f64,
    /// Share of sessions starting at a chapter (25% or 50%) instead of 0.
    pub chapter_rate: f64,
    /// Leaving while playing, in the first segment and in later ones.
    pub early_drop: f64,
    pub drop: f64,
    pub pause: f64,
    /// Of pauses: the viewer closes the player while paused (nothing is sent).
    pub close_while_paused: f64,
    /// Of pauses: the viewer seeks while paused, then resumes elsewhere.
    pub seek_while_paused: f64,
    pub seek: f64,
    /// Of sessions starting at 0: the viewer skips the intro (a seek from the first few
    /// percent to around 10%).
    pub intro_skip: f64,
    /// Of seeks: the share aimed at one of the item's hotspots (the part everyone jumps to);
    /// of the rest, most skip a little ahead and some go anywhere.
    pub to_hotspot: f64,
    /// Of completions: the viewer plays it again from the start.
    pub restart: f64,
    /// Video lengths, seconds.
    pub min_length_s: u32,
    pub max_length_s: u32,
}

impl Default for Behaviour {
    fn default() -> Self {
        Self {
            play_rate: 0.85,
            preroll_rate: 0.3,
            chapter_rate: 0.1,
            early_drop: 0.12,
            drop: 0.05,
            pause: 0.07,
            close_while_paused: 0.15,
            seek_while_paused: 0.25,
            seek: 0.06,
            intro_skip: 0.12,
            to_hotspot: 0.45,
            restart: 0.05,
            min_length_s: 30,
            max_length_s: 600,
        }
    }
}

/// A level-2 session of an item whose seek hotspots (percent positions) are `hotspots`.
pub fn level2_session(rng: &mut fastrand::Rng, b: &Behaviour, hotspots: &[u8]) -> Vec<Step> {
    let mut s = Session { steps: vec![], t: 0, ms_per_percent: 0 };
    let length_s = rng.u32(b.min_length_s..=b.max_length_s.max(b.min_length_s));
    s.ms_per_percent = i64::from(length_s) * 10;
    s.push(EventKind::Initialized, 0);
    if !rng.chance(b.play_rate) {
        return s.steps;
    }
    s.t += rng.i64(1_000..=8_000);
    if rng.chance(b.preroll_rate) {
        s.t += rng.i64(5_000..=30_000);
    }
    let start = if rng.chance(b.chapter_rate) { [25, 50][rng.usize(0..2)] } else { 0 };
    s.push(EventKind::Firstplay, start);
    s.t += 50;
    s.push(EventKind::Play, start);
    let mut pos = start;
    if start == 0 && rng.chance(b.intro_skip) {
        let p = s.play_to(rng, 0, 5);
        s.push(EventKind::Seekfrom, p);
        s.t += rng.i64(100..=800);
        pos = rng.u8(8..=15);
        s.push(EventKind::Seekto, pos);
    }
    let mut restarts = 0;
    loop {
        let next_mark = (pos / 10 + 1) * 10;
        let drop = if pos < 10 { b.early_drop } else { b.drop };
        let r = rng.f64();
        if r < drop {
            let p = s.play_to(rng, pos, next_mark);
            s.push(EventKind::Stop, p);
            return s.steps;
        } else if r < drop + b.pause {
            let p = s.play_to(rng, pos, next_mark);
            s.push(EventKind::Pause, p);
            if rng.chance(b.close_while_paused) {
                return s.steps;
            }
            s.t += rng.i64(2_000..=60_000);
            pos = if rng.chance(b.seek_while_paused) { seek_target(rng, b, p, hotspots) } else { p };
            s.push(EventKind::Resume, pos);
        } else if r < drop + b.pause + b.seek {
            let p = s.play_to(rng, pos, next_mark);
            s.push(EventKind::Seekfrom, p);
            s.t += rng.i64(100..=1_500);
            pos = seek_target(rng, b, p, hotspots);
            s.push(EventKind::Seekto, pos);
        } else {
            s.t += i64::from(next_mark - pos) * s.ms_per_percent;
            if next_mark < 100 {
                s.push(EventKind::Update, next_mark);
                pos = next_mark;
            } else {
                s.push(EventKind::Stop, 100);
                if restarts > 0 || !rng.chance(b.restart) {
                    return s.steps;
                }
                restarts += 1;
                s.t += rng.i64(1_000..=5_000);
                s.push(EventKind::Play, 0);
                pos = 0;
            }
        }
    }
}

/// A level-1 session: `initialized` (most players send it) and, if it plays, `firstplay`.
pub fn level1_session(rng: &mut fastrand::Rng, b: &Behaviour) -> Vec<Step> {
    let mut s = Session { steps: vec![], t: 0, ms_per_percent: 0 };
    let initialized = rng.chance(0.8);
    if initialized {
        s.push(EventKind::Initialized, 0);
    }
    if !initialized || rng.chance(b.play_rate) {
        s.t += rng.i64(1_000..=8_000);
        s.push(EventKind::Firstplay, 0);
    }
    s.steps
}

struct Session {
    steps: Vec<Step>,
    t: i64,
    ms_per_percent: i64,
}

impl Session {
    fn push(&mut self, event: EventKind, progress: u8) {
        self.steps.push(Step { at_ms: self.t, event, progress });
    }

    /// Plays from `pos` to a random point before `next_mark`; returns that point.
    fn play_to(&mut self, rng: &mut fastrand::Rng, pos: u8, next_mark: u8) -> u8 {
        let p = rng.u8(pos..next_mark);
        self.t += i64::from(p - pos) * self.ms_per_percent + rng.i64(0..self.ms_per_percent.max(1));
        p
    }
}

/// A seek target different from `from`, in 0..=99: near one of the item's hotspots, a
/// little ahead (viewers skip forward), or anywhere.
fn seek_target(rng: &mut fastrand::Rng, b: &Behaviour, from: u8, hotspots: &[u8]) -> u8 {
    loop {
        let q = if !hotspots.is_empty() && rng.chance(b.to_hotspot) {
            let h = i32::from(hotspots[rng.usize(0..hotspots.len())]);
            (h + rng.i32(-2..=2)).clamp(0, 99) as u8
        } else if from < 95 && rng.chance(0.7) {
            rng.u8(from + 1..=(from + 20).min(99))
        } else {
            rng.u8(0..=99)
        };
        if q != from {
            return q;
        }
    }
}

/// The seek hotspots of item number `n`: two positions, stable per item.
pub fn hotspots(n: u32) -> [u8; 2] {
    [(20 + n.wrapping_mul(37) % 45) as u8, (60 + n.wrapping_mul(53) % 35) as u8]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_playing_start(e: EventKind) -> bool {
        matches!(e, EventKind::Firstplay | EventKind::Play | EventKind::Resume | EventKind::Seekto)
    }

    /// Checks one level-2 session against the specification's rules.
    fn check_level2(steps: &[Step]) {
        assert_eq!(steps[0].event, EventKind::Initialized);
        let firstplays = steps.iter().filter(|s| s.event == EventKind::Firstplay).count();
        assert!(firstplays <= 1, "firstplay is never re-sent: {steps:?}");
        let mut playing = false;
        for (i, s) in steps.iter().enumerate() {
            if i > 0 {
                let prev = steps[i - 1];
                assert!(s.at_ms >= prev.at_ms, "time goes forward");
                assert!((s.event, s.progress) != (prev.event, prev.progress), "no accidental duplicate: {steps:?}");
            }
            if s.event == EventKind::Update {
                assert!(s.progress % 10 == 0 && (10..=90).contains(&s.progress), "{steps:?}");
                assert!(playing, "updates only while playing: {steps:?}");
            }
            if matches!(s.event, EventKind::Seekfrom | EventKind::Pause | EventKind::Stop) && i > 1 {
                assert!(playing, "{:?} only from playing: {steps:?}", s.event);
            }
            if s.event == EventKind::Seekto {
                assert_eq!(steps[i - 1].event, EventKind::Seekfrom, "seekto follows seekfrom");
            }
            playing = is_playing_start(s.event) || (playing && s.event == EventKind::Update);
            if s.event == EventKind::Seekfrom {
                playing = false;
            }
        }
    }

    #[test]
    fn level2_sessions_follow_the_specification() {
        let mut rng = fastrand::Rng::with_seed(7);
        let b = Behaviour::default();
        let mut completions = 0;
        let mut closed_paused = 0;
        let mut to_hotspot = 0;
        let mut seeks = 0;
        for n in 0..5_000 {
            let spots = hotspots(n % 7);
            let steps = level2_session(&mut rng, &b, &spots);
            for s in steps.iter().filter(|s| s.event == EventKind::Seekto) {
                seeks += 1;
                to_hotspot += usize::from(spots.iter().any(|h| h.abs_diff(s.progress) <= 2));
            }
            check_level2(&steps);
            let last = steps.last().expect("non-empty");
            completions += usize::from(last.event == EventKind::Stop && last.progress == 100);
            closed_paused += usize::from(last.event == EventKind::Pause);
        }
        assert!(completions > 500 && closed_paused > 50, "a realistic mix: {completions} {closed_paused}");
        assert!(seeks > 500 && to_hotspot * 3 > seeks, "seeks cluster at hotspots: {to_hotspot}/{seeks}");
    }

    #[test]
    fn level1_sessions_are_progress_zero_level1_events() {
        let mut rng = fastrand::Rng::with_seed(3);
        for _ in 0..1_000 {
            for s in level1_session(&mut rng, &Behaviour::default()) {
                assert!(s.event.is_level1() && s.progress == 0);
            }
        }
    }
}
