//! Throughput of the window engine's `record` on a realistic generated mix.
//!
//! 2000 items (Zipf-like popularity), 3 applications, 200k viewers; sessions start at 60/s
//! of event time: 85 % level 2 (initialized, preroll, firstplay/play, checkpoints, pauses,
//! seeks while playing and while paused, stops, completions, abandonment), 15 % level 1,
//! 10 % with a view id, ~2 % retried (duplicate) pingbacks, network delays (a few long
//! enough to be late), delivered in order of receipt. The receipt is the edge time; the
//! player's stamp is its `ts`.
//!
//! The engine is first warmed with 2.2M events (about 70 minutes of event time, so views
//! time out and windows finalize at a steady rate: ~130k views and ~30k windows open),
//! snapshotted, and each measured iteration restores that snapshot and records the next
//! 500k events (about 16 minutes of event time: 16 view scans, 16 finalizations).
//!
//! Views that leave memory go to an in-memory archive the bench serves back when a late
//! event asks for one, as the consumer shell does from the store.
//!
//! `cargo bench -p engage-engine --bench engine`

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use engage_engine::{Engine, EngineConfig, Outcome, VideoEvent};
use engage_model::pingback::{EventKind, Level};
use std::collections::HashMap;

const ITEMS: usize = 2000;
const VIEWERS: u64 = 200_000;
const APPS: [&str; 3] = ["Acme/Web 4.1", "Acme/iOS 2.3", "StreamCo/TV 1.0"];
const SESSIONS_PER_SEC: f64 = 60.0;
const WARMUP_EVENTS: usize = 2_200_000;
const MEASURED_EVENTS: usize = 500_000;
const SEC: i64 = 1_000;
const MIN: i64 = 60 * SEC;
const T0: i64 = 1_700_000_000_000;

/// SplitMix64.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % (hi - lo) as u64) as i64
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A compact generated event; strings are looked up in [`Corpus`].
#[derive(Clone, Copy)]
struct Ev {
    t: i64,
    received: i64,
    viewer: u64,
    vid: u32, // 0: none
    item: u16,
    app: u8,
    kind: EventKind,
    level: Level,
    progress: u8,
}

struct Corpus {
    items: Vec<String>,
    vids: Vec<String>,
    events: Vec<Ev>,
}

impl Corpus {
    fn event(&self, e: &Ev) -> VideoEvent<'_> {
        VideoEvent {
            item: &self.items[e.item as usize],
            app: APPS[e.app as usize],
            viewer: e.viewer,
            prev_viewer: 0,
            view_id: (e.vid != 0).then(|| self.vids[e.vid as usize].as_str()),
            kind: e.kind,
            level: e.level,
            progress: e.progress,
            client_ts_ms: e.t,
            event_time_ms: e.received,
            ingested_at_ms: e.received,
            bot: false,
        }
    }
}

struct Session<'a> {
    rng: &'a mut Rng,
    template: Ev,
    out: &'a mut Vec<Ev>,
}

impl Session<'_> {
    fn send(&mut self, kind: EventKind, progress: u8) {
        let delay = match self.rng.next() % 1000 {
            0..=969 => self.rng.range(20, 1500),
            970..=998 => self.rng.range(1500, 60 * SEC),
            _ => self.rng.range(6 * MIN, 20 * MIN),
        };
        let e = Ev { kind, progress, received: self.template.t + delay, ..self.template };
        self.out.push(e);
        if self.rng.chance(2) {
            self.out.push(Ev { received: e.received + self.rng.range(100, 3 * SEC), ..e });
        }
    }

    fn wait(&mut self, lo: i64, hi: i64) {
        self.template.t += self.rng.range(lo, hi);
    }

    fn level2(&mut self) {
        self.send(EventKind::Initialized, 0);
        self.wait(300, 4 * SEC);
        if self.rng.chance(25) {
            self.wait(6 * SEC, 30 * SEC); // preroll
        }
        if self.rng.chance(20) {
            return; // never played
        }
        self.send(EventKind::Firstplay, 0);
        self.send(EventKind::Play, 0);
        let per_pct = self.rng.range(300, 9 * SEC); // videos of 30 s to 15 min
        let mut pos: u8 = 0;
        loop {
            let next = (pos / 10 + 1) * 10;
            let roll = self.rng.next() % 100;
            if roll < 80 {
                self.template.t += i64::from(next - pos) * per_pct;
                if next >= 100 {
                    self.send(EventKind::Stop, 100);
                    return;
                }
                self.send(EventKind::Update, next);
                pos = next;
                continue;
            }
            let at = pos + (self.rng.next() % u64::from(next - pos)) as u8;
            self.template.t += i64::from(at - pos) * per_pct;
            pos = at;
            if roll < 87 {
                self.send(EventKind::Pause, at);
                if self.rng.chance(10) {
                    return; // closed while paused
                }
                self.wait(2 * SEC, 3 * MIN);
                if self.rng.chance(20) {
                    pos = (self.rng.next() % 100) as u8; // seek while paused
                }
                self.send(EventKind::Resume, pos);
            } else if roll < 94 {
                let to = (self.rng.next() % 100) as u8;
                self.send(EventKind::Seekfrom, at);
                self.wait(100, 1500);
                self.send(EventKind::Seekto, to);
                pos = to;
            } else if roll < 98 {
                self.send(EventKind::Stop, at);
                return;
            } else {
                return; // tab closed without a stop
            }
        }
    }

    fn level1(&mut self) {
        if self.rng.chance(70) {
            self.send(EventKind::Initialized, 0);
            self.wait(500, 8 * SEC);
        }
        if self.rng.chance(85) {
            self.send(EventKind::Firstplay, 0);
        }
    }
}

fn generate(total: usize) -> Corpus {
    let mut rng = Rng(42);
    let items = (0..ITEMS).map(|i| format!("s1iTEm{i:06x}")).collect();
    let mut vids = vec![String::new()];
    let mut events = Vec::with_capacity(total + total / 8);
    let mut start = T0;
    while events.len() < total + total / 10 {
        start += (-rng.unit().max(1e-12).ln() * 1000.0 / SESSIONS_PER_SEC) as i64;
        // Zipf-like popularity: a few items get most sessions.
        let item = ((ITEMS as f64) * rng.unit().powi(3)) as u16;
        let app = match rng.next() % 10 {
            0..=5 => 0,
            6..=8 => 1,
            _ => 2,
        };
        let viewer_index = rng.next() % VIEWERS;
        let viewer = Rng(viewer_index).next();
        let vid = if rng.chance(10) {
            vids.push(format!("vid-{:016x}", rng.next()));
            (vids.len() - 1) as u32
        } else {
            0
        };
        let level = if rng.chance(85) { Level::Two } else { Level::One };
        let template =
            Ev { t: start, received: start, viewer, vid, item, app, kind: EventKind::Initialized, level, progress: 0 };
        let mut session = Session { rng: &mut rng, template, out: &mut events };
        match level {
            Level::Two => session.level2(),
            Level::One => session.level1(),
        }
    }
    events.sort_by_key(|e| e.received);
    events.truncate(total);
    Corpus { items, vids, events }
}

/// Archived views, as a store would keep them (all versions; the bench has no crashes).
#[derive(Default)]
struct Archive(HashMap<[u8; 16], Vec<Vec<u8>>>);

impl Archive {
    fn keep(&mut self, engine: &mut Engine) {
        for a in engine.take_archived() {
            self.0.entry(a.key).or_default().push(a.state);
        }
    }

    /// Records `ev`, serving archived views when the engine asks.
    fn record(&self, engine: &mut Engine, ev: &VideoEvent<'_>) -> Outcome {
        let outcome = engine.record(ev);
        if outcome != Outcome::NeedsArchive {
            return outcome;
        }
        for key in engine.missing_archives(ev) {
            let states = self.0.get(&key).map(Vec::as_slice).unwrap_or_default();
            engine.restore_archived(key, states);
        }
        engine.record(ev)
    }
}

fn bench_record(c: &mut Criterion) {
    let corpus = generate(WARMUP_EVENTS + MEASURED_EVENTS);
    let (warmup, measured) = corpus.events.split_at(WARMUP_EVENTS);
    // For profilers: a shorter warm-up (the measured part is skipped with the variable below).
    let warm_n = std::env::var("ENGAGE_BENCH_WARMUP_EVENTS").ok().and_then(|n| n.parse().ok()).unwrap_or(warmup.len());
    let warmup = &warmup[..warm_n.min(warmup.len())];

    let mut engine = Engine::new(EngineConfig::default());
    let mut archive = Archive::default();
    let warm_started = Instant::now();
    let mut tally: HashMap<&'static str, usize> = HashMap::new();
    for (i, e) in warmup.iter().enumerate() {
        engine.set_position(i as u64);
        *tally.entry(archive.record(&mut engine, &corpus.event(e)).as_str()).or_default() += 1;
        if i % 10_000 == 0 {
            engine.flush();
            archive.keep(&mut engine);
        }
    }
    engine.flush();
    archive.keep(&mut engine);
    let minutes = (warmup[warmup.len() - 1].t - warmup[0].t) / MIN;
    eprintln!("warm-up took {:?}", warm_started.elapsed());
    let mut tally: Vec<_> = tally.into_iter().collect();
    tally.sort();
    eprintln!(
        "warm-up: {} events over {minutes} min of event time; outcomes {tally:?}; \
         {} views ({} events) and {} windows open; {} views archived",
        warmup.len(),
        engine.open_views(),
        engine.held_events(),
        engine.open_windows(),
        archive.0.len(),
    );
    if std::env::var_os("ENGAGE_BENCH_WARMUP_ONLY").is_some() {
        // For profilers: the warm-up alone is 2.2M records and flushes, nothing else.
        return;
    }
    let snapshot = postcard::to_stdvec(&engine).expect("engine serializes");
    eprintln!("snapshot: {} bytes", snapshot.len());
    drop(engine);

    let mut group = c.benchmark_group("engine");
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    group.throughput(Throughput::Elements(measured.len() as u64));
    // `record` alone. The shell flushes on a timer; here every 100k events, untimed.
    group.bench_function("record", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let mut engine: Engine = postcard::from_bytes(&snapshot).expect("snapshot restores");
                for chunk in measured.chunks(100_000) {
                    let started = Instant::now();
                    for e in chunk {
                        black_box(archive.record(&mut engine, &corpus.event(e)));
                    }
                    total += started.elapsed();
                    black_box(engine.flush());
                    black_box(engine.take_archived());
                }
            }
            total
        });
    });
    // `record` plus a flush every 100k events (building and dropping the rows), all timed.
    group.bench_function("record_and_flush_every_100k", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let mut engine: Engine = postcard::from_bytes(&snapshot).expect("snapshot restores");
                let started = Instant::now();
                for chunk in measured.chunks(100_000) {
                    for e in chunk {
                        black_box(archive.record(&mut engine, &corpus.event(e)));
                    }
                    black_box(engine.flush());
                    black_box(engine.take_archived());
                }
                total += started.elapsed();
            }
            total
        });
    });
    group.finish();
}

criterion_group!(benches, bench_record);
criterion_main!(benches);
