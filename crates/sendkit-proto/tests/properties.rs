//! Properties of the parser and of job-ID encoding, over arbitrary input.

use proptest::prelude::*;
use sendkit_proto::{CancelJob, Config, Enrich, GetJob, Operation};

fn response(
    status: u16,
    content_type: Option<String>,
    retry_after: Option<String>,
    body: Vec<u8>,
) -> http::Response<Vec<u8>> {
    let mut response = http::Response::new(body);
    *response.status_mut() = http::StatusCode::from_u16(status).unwrap();
    for (name, value) in [("content-type", content_type), ("retry-after", retry_after)] {
        if let Some(value) = value.and_then(|v| http::HeaderValue::from_str(&v).ok()) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

/// Bodies that are sometimes near the real thing: random bytes, random JSON-ish text, and real envelopes mangled.
fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..512),
        "[{}\\[\\]\":,a-z0-9 ]{0,200}".prop_map(String::into_bytes),
        (0usize..120, any::<u8>()).prop_map(|(at, byte)| {
            let mut body = br#"{"success":true,"data":{"id":"j","type":"email_verification","status":"pending","metadata":{"totalItems":1}}}"#.to_vec();
            if at < body.len() { body[at] = byte; } else { body.truncate(at % body.len()); }
            body
        }),
        (0usize..90, any::<u8>()).prop_map(|(at, byte)| {
            let mut body = br#"{"success":false,"error":{"code":"VALIDATION_ERROR","message":"Job cannot be cancelled in status \"x\""}}"#.to_vec();
            if at < body.len() { body[at] = byte; }
            body
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Any status, headers and body give `Ok` or a typed `Err`, never a panic, and an error keeps the status.
    #[test]
    fn parsing_never_panics(
        status in 100u16..600,
        content_type in proptest::option::of("\\PC{0,30}"),
        retry_after in proptest::option::of("\\PC{0,30}"),
        body in body(),
    ) {
        let response = response(status, content_type, retry_after, body);
        if let Err(error) = CancelJob::new("j").parse_response(&response) {
            prop_assert_eq!(error.status(), Some(response.status()));
            let _ = error.to_string();
        }
        if let Err(error) = GetJob::new("j").parse_response(&response) {
            prop_assert_eq!(error.status(), Some(response.status()));
        }
        if let Err(error) = Enrich::new(sendkit_proto::model::EnrichRequest::new(["x"], [])).parse_response(&response) {
            prop_assert_eq!(error.status(), Some(response.status()));
        }
    }

    /// Any job ID is exactly one path segment, and decodes back to itself; `.` and `..` are refused.
    #[test]
    fn job_ids_stay_one_segment(id in "\\PC{1,60}|\\.{1,3}") {
        let config = Config::builder("sk_test").build().unwrap();
        let built = CancelJob::new(id.clone()).build_request(&config);
        if id == "." || id == ".." {
            prop_assert!(matches!(built, Err(sendkit_proto::Error::InvalidInput(_))));
            return Ok(());
        }
        let request = built.unwrap();
        let path = request.uri().path();
        prop_assert_eq!(request.uri().query(), None);
        let segments: Vec<&str> = path.split('/').collect();
        prop_assert_eq!(segments.len(), 6, "{}", path);
        prop_assert_eq!(&segments[..4], &["", "v1", "enrichment", "jobs"]);
        prop_assert_eq!(segments[5], "cancel");
        prop_assert!(segments[4] != "." && segments[4] != "..");
        prop_assert_eq!(percent_decode(segments[4]), id);
    }
}

fn percent_decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            out.push(u8::from_str_radix(&segment[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}
