//! The JSON-lines mapping: the first line is the mapping, the rest are log lines; must never
//! panic; pingbacks are checked and their queries parsed (see `engage_fuzz::check_log_lines`).
#![no_main]

use engage_model::cdnlog::{Format, JsonMap, LineReader};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (spec, lines) = match data.iter().position(|b| *b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &data[..0]),
    };
    let spec = String::from_utf8_lossy(spec);
    let map = JsonMap::parse(&spec)
        .or_else(|_| JsonMap::parse("path=req.url,ip=client,ua=req.ua,time=ts,status=code,method=verb"));
    let Ok(map) = map else { return };
    engage_fuzz::check_log_lines(&mut LineReader::new(Format::Json(map)), lines);
});
