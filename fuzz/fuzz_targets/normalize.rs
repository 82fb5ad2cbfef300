//! Any body a signed sender can post goes through `normalize`: whatever the bytes, it must
//! return a batch (events or a problem), never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard::channels::normalize;

fuzz_target!(|body: &[u8]| {
    let _ = normalize(body, 1_700_000_000_000);
});
