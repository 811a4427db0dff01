//! The `dot.gif` query string: any text must be refused with a reason or accepted as a
//! pingback that obeys the protocol and round-trips (see `engage_fuzz::check_pingback_query`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // A request target is text; the collector reads its query as `&str`.
    let query = String::from_utf8_lossy(data);
    engage_fuzz::check_pingback_query(&query);
});
