//! CloudFront lines, with and without a `#Fields:` header first: must never panic.
#![no_main]

use engage_model::cdnlog::{Format, LineReader};
use libfuzzer_sys::fuzz_target;

const HEADER: &[u8] = b"#Fields: date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem sc-status cs(Referer) cs(User-Agent) cs-uri-query";

fuzz_target!(|data: &[u8]| {
    let mut bare = LineReader::new(Format::Cloudfront);
    let mut headed = LineReader::new(Format::Cloudfront);
    let _ = headed.read(HEADER);
    for line in data.split(|b| *b == b'\n') {
        let _ = bare.read(line);
        let _ = headed.read(line);
    }
});
