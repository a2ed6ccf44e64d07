//! Any job ID: refused when it cannot name a job (empty, `.`, `..`); otherwise the request path has exactly the
//! expected segments, and the ID segment decodes back to the ID.
//!
//! Shared by the fuzz target and by `sendkit-tests`' replay of the corpus (tests/tests/fuzz_replay.rs), so that
//! a target that no longer matches the code fails `cargo xtask ci`.

use sendkit_proto::{CancelJob, Config, GetJob, Operation};

/// The invariant, for one input.
pub fn check(id: &str) {
    let config = Config::builder("sk_fuzz").build().expect("a valid key");
    let cancel = CancelJob::new(id).build_request(&config);
    let get = GetJob::new(id).build_request(&config);
    if matches!(id, "" | "." | "..") {
        assert!(cancel.is_err() && get.is_err(), "{id:?} cannot name a job");
        return;
    }
    let cancel = cancel.expect("any other ID builds");
    let get = get.expect("any other ID builds");
    assert_eq!(cancel.uri().query(), None);
    let segments: Vec<&str> = cancel.uri().path().split('/').collect();
    assert_eq!(segments.len(), 6, "{}", cancel.uri());
    assert_eq!(&segments[..4], &["", "v1", "enrichment", "jobs"]);
    assert_eq!(segments[5], "cancel");
    assert!(segments[4] != "." && segments[4] != "..");
    assert_eq!(decode(segments[4]), id.as_bytes());
    let get_segments: Vec<&str> = get.uri().path().split('/').collect();
    assert_eq!(get_segments, segments[..5]);
}

fn decode(segment: &str) -> Vec<u8> {
    let bytes = segment.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            out.push(u8::from_str_radix(&segment[i + 1..i + 3], 16).expect("two hex digits after %"));
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}
