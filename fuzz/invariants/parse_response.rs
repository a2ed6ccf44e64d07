//! Status, headers and body bytes in: every operation's parser answers `Ok` or a typed error, never panics, and an
//! error keeps the status.
//!
//! Shared by the fuzz target and by `sendkit-tests`' replay of the corpus (tests/tests/fuzz_replay.rs), so that
//! a target that no longer matches the code fails `cargo xtask ci`.

use sendkit_proto::http::{HeaderValue, Response, StatusCode};
use sendkit_proto::model::EnrichRequest;
use sendkit_proto::{CancelJob, Enrich, GetJob, Operation};

/// The invariant, for one input.
pub fn check(data: &[u8]) {
    if data.len() < 4 {
        return;
    }
    let status = StatusCode::from_u16(100 + u16::from_le_bytes([data[0], data[1]]) % 500).expect("100..600");
    // One byte says how long the Retry-After value is, the next how long the Content-Type is; the rest is body.
    let retry_len = usize::from(data[2] % 32).min(data.len() - 4);
    let type_len = usize::from(data[3] % 32).min(data.len() - 4 - retry_len);
    let (retry, rest) = data[4..].split_at(retry_len);
    let (content_type, body) = rest.split_at(type_len);
    let mut response = Response::new(body.to_vec());
    *response.status_mut() = status;
    if let Ok(value) = HeaderValue::from_bytes(retry) {
        response.headers_mut().insert("retry-after", value);
    }
    if let Ok(value) = HeaderValue::from_bytes(content_type) {
        response.headers_mut().insert("content-type", value);
    }
    for error in [
        CancelJob::new("j").parse_response(&response).err(),
        GetJob::new("j").parse_response(&response).err(),
        Enrich::new(EnrichRequest::new(["x"], [])).parse_response(&response).err(),
    ]
    .into_iter()
    .flatten()
    {
        assert_eq!(error.status(), Some(status));
        let _ = error.to_string();
    }
}
