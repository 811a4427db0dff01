//! A bus payload: any bytes must decode to a `RawEvent` or fail, never panic; a decoded event
//! re-encodes to itself, and the consumer's per-body steps run on it (see
//! `engage_fuzz::check_raw_event`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| engage_fuzz::check_raw_event(data));
