//! Status, headers and body bytes in: every operation's parser answers `Ok` or a typed error, never panics, and an
//! error keeps the status.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../invariants/parse_response.rs"]
mod invariant;

fuzz_target!(|data: &[u8]| invariant::check(data));
