//! `Retry-After` (RFC 9110 section 10.2.3): delta-seconds, or an HTTP-date in any of its three forms.

use std::time::{Duration, SystemTime};

use http::header::{DATE, RETRY_AFTER};
use http::{HeaderMap, HeaderValue};

/// How long `value` asks to wait, as of `now`: delta-seconds, or an HTTP-date in any of the three forms RFC 9110
/// section 5.6.7 requires recipients to read (IMF-fixdate, RFC 850, asctime). A date in the past means now;
/// anything else is `None`.
pub(crate) fn parse_retry_after(value: &HeaderValue, now: SystemTime) -> Option<Duration> {
    let text = value.to_str().ok()?.trim();
    if let Some(wait) = delta_seconds(text) {
        return Some(wait);
    }
    let at = httpdate::parse_http_date(text).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// How long an answer's `Retry-After` asks to wait: the one reading of it. A date is measured against the answer's
/// own `Date`, so that a wrong local clock does not matter; an answer with no `Date` has only its delta-seconds
/// form read ([`Call`](crate::Call) gives an answer that lacks one the driver's wall clock before reading it).
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?;
    match headers.get(DATE).and_then(|date| httpdate::parse_http_date(date.to_str().ok()?).ok()) {
        Some(server_now) => parse_retry_after(value, server_now),
        None => delta_seconds(value.to_str().ok()?.trim()),
    }
}

fn delta_seconds(text: &str) -> Option<Duration> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // An absurdly long number saturates rather than failing: it still means "a long time".
    Some(Duration::from_secs(text.parse::<u64>().unwrap_or(u64::MAX)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_rfc_9110_names() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_470);
        let parse = |s: &'static str| parse_retry_after(&HeaderValue::from_static(s), now);
        assert_eq!(parse("0"), Some(Duration::ZERO));
        assert_eq!(parse(" 12 "), Some(Duration::from_secs(12)));
        assert_eq!(parse("99999999999999999999999"), Some(Duration::from_secs(u64::MAX)));
        assert_eq!(parse("Wed, 21 Oct 2015 07:28:00 GMT"), Some(Duration::from_secs(10)), "IMF-fixdate");
        assert_eq!(parse("Wednesday, 21-Oct-15 07:28:00 GMT"), Some(Duration::from_secs(10)), "RFC 850");
        assert_eq!(parse("Wed Oct 21 07:28:00 2015"), Some(Duration::from_secs(10)), "asctime");
        assert_eq!(parse("Wed, 21 Oct 2015 07:00:00 GMT"), Some(Duration::ZERO), "a date in the past means now");
        for garbage in ["", "-1", "1.5", "soon", "2015-10-21T07:28:00Z", "Thu, 32 Oct 2015 07:28:00 GMT"] {
            assert_eq!(parse(garbage), None, "{garbage:?}");
        }
        assert_eq!(parse_retry_after(&HeaderValue::from_bytes(b"\xff").unwrap(), now), None);
    }
}
