//! Quick throughput measurement of the embedded log: concurrent publishers (as the collector's
//! request handlers are) plus one consumer that reads and releases, on a temporary file.
//!
//! `cargo run --release -p engage-bus --example throughput -- [publishers] [records_per_call]
//! [total_records] [payload_bytes]` (defaults: 64 10 1000000 200).

use std::io::Write;
use std::time::{Duration, Instant};

use engage_bus::{EmbeddedLog, EmbeddedLogConfig, Publisher, Record};

fn arg(n: usize, default: usize) -> usize {
    std::env::args().nth(n).and_then(|a| a.parse().ok()).unwrap_or(default)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let publishers = arg(1, 64).max(1);
    let per_call = arg(2, 10).max(1);
    let total = arg(3, 1_000_000);
    let payload_bytes = arg(4, 200);
    let calls_per_publisher = total / publishers / per_call;
    let total = calls_per_publisher * publishers * per_call;

    let dir = tempfile::tempdir()?;
    let log = EmbeddedLog::open(&dir.path().join("bus.db"), EmbeddedLogConfig::default())?;
    let reader = log.reader()?;
    let consumer = tokio::spawn(async move {
        let mut next = 0u64;
        while (next as usize) < total {
            let page = reader.read(next, 8192, Duration::from_millis(100)).await?;
            if let Some(last) = page.last() {
                next = last.offset + 1;
                reader.release(next);
            }
        }
        Ok::<_, engage_bus::BusError>(())
    });

    let started = Instant::now();
    let mut tasks = Vec::new();
    for p in 0..publishers {
        let log = log.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..calls_per_publisher {
                let records = (0..per_call)
                    .map(|_| Record { key: format!("item-{p}").into_bytes(), payload: vec![b'x'; payload_bytes] })
                    .collect();
                log.publish(records).await?;
            }
            Ok::<_, engage_bus::PublishError>(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    let published = started.elapsed();
    consumer.await??;
    let consumed = started.elapsed();
    log.close().await;

    let rate = total as f64 / published.as_secs_f64();
    writeln!(
        std::io::stdout(),
        "{total} records ({publishers} publishers x {per_call} records/call, {payload_bytes} B payload): \
         published in {published:.2?} = {rate:.0} records/s; consumed and released in {consumed:.2?}"
    )?;
    Ok(())
}
