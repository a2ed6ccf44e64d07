//! Any `Retry-After` bytes: a delay or `None`, never a panic; a delay from a number is that many seconds.
//!
//! Shared by the fuzz target and by `sendkit-tests`' replay of the corpus (tests/tests/fuzz_replay.rs), so that
//! a target that no longer matches the code fails `cargo xtask ci`.

use sendkit_proto::http::HeaderValue;
use sendkit_proto::parse_retry_after;
use std::time::{Duration, SystemTime};

/// The invariant, for one input.
pub fn check(data: &[u8]) {
    let Ok(value) = HeaderValue::from_bytes(data) else { return };
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let parsed = parse_retry_after(&value, now);
    if let Ok(text) = value.to_str() {
        let text = text.trim();
        if let Ok(seconds) = text.parse::<u64>() {
            if text.bytes().all(|b| b.is_ascii_digit()) {
                assert_eq!(parsed, Some(Duration::from_secs(seconds)));
            }
        }
    }
}
