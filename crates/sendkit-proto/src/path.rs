//! Job IDs in paths.

use crate::error::InvalidInput;

/// Appends `segment` to `out` percent-encoded as one path segment: every byte but RFC 3986's unreserved
/// characters (`A-Z a-z 0-9 - . _ ~`) is encoded, so `/`, `?`, `#`, `%` and `..` can never change the path.
pub(crate) fn push_segment(out: &mut String, segment: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &byte in segment.as_bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'~') {
            out.push(byte as char);
        } else if byte == b'.' && !matches!(segment, "." | "..") {
            out.push('.');
        } else {
            out.push('%');
            out.push(HEX[usize::from(byte >> 4)] as char);
            out.push(HEX[usize::from(byte & 0xf)] as char);
        }
    }
}

/// A job ID checked for use in a path: not empty. Otherwise opaque.
pub(crate) fn checked_job_id(job_id: &str) -> Result<&str, InvalidInput> {
    if job_id.is_empty() {
        Err(InvalidInput::EmptyJobId)
    } else {
        Ok(job_id)
    }
}

#[cfg(test)]
mod tests {
    use super::push_segment;

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
        assert_eq!(encoded(".."), "%2E%2E");
        assert_eq!(encoded("."), "%2E");
        assert_eq!(encoded("v1.2"), "v1.2");
        assert_eq!(encoded("é"), "%C3%A9");
    }
}
