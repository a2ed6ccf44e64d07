//! Any `Retry-After` bytes on a 429: the parser answers a rate-limit error with a delay or none, never a panic; a
//! plain number is that many seconds; a date is measured against the answer's own `Date`.
//!
//! Shared by the fuzz target and by `sendkit-tests`' replay of the corpus (tests/tests/fuzz_replay.rs), so that
//! a target that no longer matches the code fails `cargo xtask ci`.

use std::time::Duration;

use sendkit_proto::http::{HeaderValue, Response};
use sendkit_proto::{Error, GetJob, Operation};

/// The invariant, for one input.
pub fn check(data: &[u8]) {
    let Ok(value) = HeaderValue::from_bytes(data) else { return };
    let response = Response::builder()
        .status(429)
        .header("date", "Tue, 14 Nov 2023 22:13:20 GMT")
        .header("retry-after", value.clone())
        .body(Vec::new())
        .expect("a valid response");
    let error = GetJob::new("job_1").parse_response(&response).expect_err("a 429 is an error");
    let Error::RateLimited { retry_after, .. } = error else { panic!("a 429 is rate limited: {error}") };
    if let Ok(text) = value.to_str() {
        let text = text.trim();
        if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
            let seconds = text.parse::<u64>().unwrap_or(u64::MAX);
            assert_eq!(retry_after, Some(Duration::from_secs(seconds)), "{text:?}");
        }
        if text == "Tue, 14 Nov 2023 22:13:30 GMT" {
            assert_eq!(retry_after, Some(Duration::from_secs(10)));
        }
    }
}
