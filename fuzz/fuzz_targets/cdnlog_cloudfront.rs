//! CloudFront lines, with and without a `#Fields:` header first: must never panic; pingbacks
//! are checked and their queries parsed (see `engage_fuzz::check_log_lines`).
#![no_main]

use engage_model::cdnlog::{Format, LineReader};
use libfuzzer_sys::fuzz_target;

const HEADER: &[u8] = b"#Fields: date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem sc-status cs(Referer) cs(User-Agent) cs-uri-query";

fuzz_target!(|data: &[u8]| {
    engage_fuzz::check_log_lines(&mut LineReader::new(Format::Cloudfront), data);
    let mut headed = LineReader::new(Format::Cloudfront);
    let _ = headed.read(HEADER);
    engage_fuzz::check_log_lines(&mut headed, data);
});
