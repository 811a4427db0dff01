//! Bot classifications per second on one core: the collector classifies every request.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use engage_model::bot::is_bot;
use std::hint::black_box;

const AGENTS: [&str; 6] = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
    "AppleCoreMedia/1.0.0.21A329 (iPhone; U; CPU OS 17_0 like Mac OS X; en_us)",
    "okhttp/4.12.0",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Vendor/App 1.2 (iPhone; iOS 17.0; Scale/3.00)",
];

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("bot");
    group.throughput(Throughput::Elements(AGENTS.len() as u64));
    group.bench_function("is_bot", |b| b.iter(|| AGENTS.iter().filter(|ua| is_bot(black_box(ua))).count()));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
