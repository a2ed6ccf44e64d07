//! Any `Retry-After` bytes: a delay or `None`, never a panic; a delay from a number is that many seconds.
#![no_main]

use std::time::{Duration, SystemTime};

use libfuzzer_sys::fuzz_target;
use sendkit_proto::http::HeaderValue;
use sendkit_proto::parse_retry_after;

fuzz_target!(|data: &[u8]| {
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
});
