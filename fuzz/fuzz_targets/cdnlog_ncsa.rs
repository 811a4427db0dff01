//! NCSA log lines: any bytes, split into lines, must never panic; pingbacks are checked and
//! their queries parsed, as the collector does (see `engage_fuzz::check_log_lines`).
#![no_main]

use engage_model::cdnlog::{Format, LineReader};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| engage_fuzz::check_log_lines(&mut LineReader::new(Format::Ncsa), data));
