//! Paths of the API: job IDs as one path segment each.

use crate::error::{Error, InvalidInput};

/// `/v1/enrichment/jobs/{job_id}{suffix}`, the job ID checked and encoded as one segment.
pub(crate) fn job_path(job_id: &str, suffix: &str) -> Result<String, Error> {
    check_job_id(job_id)?;
    let mut path = String::with_capacity(24 + job_id.len() + suffix.len());
    path.push_str("/v1/enrichment/jobs/");
    push_segment(&mut path, job_id);
    path.push_str(suffix);
    Ok(path)
}

/// Percent-encodes everything but RFC 3986's unreserved characters, so that no job ID can add a path segment,
/// a query or a fragment.
pub(crate) fn push_segment(out: &mut String, segment: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    // A table, made when compiled: a look-up a byte where the tests it stands for cost a dozen instructions each,
    // on every call's path.
    const UNRESERVED: [bool; 256] = {
        let mut table = [false; 256];
        let mut byte = 0;
        while byte < 256 {
            let b = byte as u8;
            table[byte] = b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'~' | b'.');
            byte += 1;
        }
        table
    };
    let unreserved = |byte: &u8| UNRESERVED[usize::from(*byte)];
    let bytes = segment.as_bytes();
    let mut at = 0;
    while at < bytes.len() {
        // Runs of unreserved characters go in whole: a job ID is usually one run. A run is ASCII, so both of its
        // ends fall on character boundaries (an empty one may not: it is skipped).
        let run = bytes[at..].iter().position(|byte| !unreserved(byte)).unwrap_or(bytes.len() - at);
        if run > 0 {
            out.push_str(&segment[at..at + run]);
            at += run;
        }
        if let Some(&byte) = bytes.get(at) {
            out.push('%');
            out.push(HEX[usize::from(byte >> 4)] as char);
            out.push(HEX[usize::from(byte & 0xf)] as char);
            at += 1;
        }
    }
}

/// Refuses IDs that cannot name a job. `.` and `..` are refused rather than encoded: RFC 3986 lets any
/// normalising proxy or URL library read `%2E%2E` as `..`, which would turn a cancel into another call.
fn check_job_id(job_id: &str) -> Result<(), InvalidInput> {
    let reason = match job_id {
        "" => "is empty",
        "." | ".." => "is a dot segment, which proxies and URL libraries may read as a path step",
        _ => return Ok(()),
    };
    Err(InvalidInput::JobId { job_id: job_id.to_owned(), reason })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(segment: &str) -> String {
        let mut out = String::new();
        push_segment(&mut out, segment);
        out
    }

    #[test]
    fn reserved_characters_cannot_change_the_path() {
        assert_eq!(
            encoded("bulk_email_verification_1710000000000_abc1234"),
            "bulk_email_verification_1710000000000_abc1234"
        );
        assert_eq!(encoded("a/b?c#d"), "a%2Fb%3Fc%23d");
        assert_eq!(encoded("50% off"), "50%25%20off");
        assert_eq!(encoded("v1.2"), "v1.2");
        assert_eq!(encoded("..."), "...");
        assert_eq!(encoded("é"), "%C3%A9");
    }

    #[test]
    fn dot_segments_and_empty_ids_are_refused() {
        for id in ["", ".", ".."] {
            assert!(matches!(job_path(id, ""), Err(Error::InvalidInput(InvalidInput::JobId { .. }))), "{id:?}");
        }
        assert_eq!(job_path("a.b", "/cancel").unwrap(), "/v1/enrichment/jobs/a.b/cancel");
    }
}
