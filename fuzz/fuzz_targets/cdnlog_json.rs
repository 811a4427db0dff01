//! The JSON-lines mapping: the first line is the mapping, the rest are log lines; must never
//! panic.
#![no_main]

use engage_model::cdnlog::{Format, JsonMap, LineReader};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut lines = data.split(|b| *b == b'\n');
    let spec = lines.next().map(String::from_utf8_lossy).unwrap_or_default();
    let map = JsonMap::parse(&spec)
        .or_else(|_| JsonMap::parse("path=req.url,ip=client,ua=req.ua,time=ts,status=code,method=verb"));
    let Ok(map) = map else { return };
    let mut reader = LineReader::new(Format::Json(map));
    for line in lines {
        let _ = reader.read(line);
    }
});
