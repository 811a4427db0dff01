//! Cloudflare Logpush JSON lines: must never panic.
#![no_main]

use engage_model::cdnlog::{Format, LineReader};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut reader = LineReader::new(Format::Cloudflare);
    for line in data.split(|b| *b == b'\n') {
        let _ = reader.read(line);
    }
});
