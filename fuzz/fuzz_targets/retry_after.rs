//! Any `Retry-After` bytes: a delay or `None`, never a panic; a delay from a number is that many seconds.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../invariants/retry_after.rs"]
mod invariant;

fuzz_target!(|data: &[u8]| invariant::check(data));
