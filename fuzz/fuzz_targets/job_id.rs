//! Any job ID: see the invariant.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../invariants/job_id.rs"]
mod invariant;

fuzz_target!(|id: &str| invariant::check(id));
