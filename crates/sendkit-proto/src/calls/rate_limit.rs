//! What a rate limiter says of the budget left: the IETF RateLimit header fields, in the draft's structured form
//! and its earlier forms, and the common `X-RateLimit-*` ones. Read from every answer, success included.

use std::time::{Duration, SystemTime};

use http::{HeaderMap, HeaderName};

// The fields' names made once, when compiled: a name given as text is parsed at every lookup.
static RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");
static RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
static SEPARATE: [[HeaderName; 3]; 2] = [
    [
        HeaderName::from_static("ratelimit-limit"),
        HeaderName::from_static("ratelimit-remaining"),
        HeaderName::from_static("ratelimit-reset"),
    ],
    [
        HeaderName::from_static("x-ratelimit-limit"),
        HeaderName::from_static("x-ratelimit-remaining"),
        HeaderName::from_static("x-ratelimit-reset"),
    ],
];

/// The budget a rate limiter reported on an answer: how many requests its window allows, how many are left, and
/// when the window resets. What the pacer follows, and what an [`Observer`](crate::Observer) sees on every attempt.
///
/// ```
/// use std::time::Duration;
/// use sendkit_proto::RateLimitStatus;
///
/// let mut headers = http::HeaderMap::new();
/// headers.insert("ratelimit-policy", "\"default\";q=50;w=1".parse().unwrap());
/// headers.insert("ratelimit", "\"default\";r=7;t=1".parse().unwrap());
/// let status = RateLimitStatus::read(&headers).unwrap();
/// assert_eq!((status.limit, status.remaining, status.reset), (Some(50), Some(7), Some(Duration::from_secs(1))));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct RateLimitStatus {
    /// Requests the window allows (`q` of `RateLimit-Policy`, `limit`, `X-RateLimit-Limit`).
    pub limit: Option<u64>,
    /// Requests left in the window (`r` of `RateLimit`, `remaining`, `X-RateLimit-Remaining`).
    pub remaining: Option<u64>,
    /// When the window resets, from the answer (`t`, `reset`, `X-RateLimit-Reset` in seconds or as a Unix time).
    pub reset: Option<Duration>,
    /// The window's length (`w` of `RateLimit-Policy`).
    pub window: Option<Duration>,
}

impl RateLimitStatus {
    /// The budget the headers report, or `None` when they report none. A malformed field is ignored, never an
    /// error: it says nothing the pacer can follow.
    pub fn read(headers: &HeaderMap) -> Option<Self> {
        Self::read_at(headers, &|| SystemTime::UNIX_EPOCH)
    }

    /// As [`RateLimitStatus::read`], with `now` (the answer's `Date`, or the wall clock) to read an
    /// `X-RateLimit-Reset` given as a Unix time: asked only then, so that an answer without one costs no clock.
    pub(crate) fn read_at(headers: &HeaderMap, now: &dyn Fn() -> SystemTime) -> Option<Self> {
        // Read on every answer, and most answers carry none of these fields: one look at the few names an answer
        // has costs less than looking each field up (a hash of its name, eight times).
        let any = headers.keys().any(|name| {
            let name = name.as_str();
            name.starts_with("ratelimit") || name.starts_with("x-ratelimit")
        });
        if !any {
            return None;
        }
        let text = |name: &HeaderName| headers.get(name).and_then(|value| value.to_str().ok());
        let mut status = Self::default();
        // The draft's structured form: `RateLimit: "name";r=7;t=1`, `RateLimit-Policy: "name";q=50;w=1`; and the
        // earlier `RateLimit: limit=50, remaining=7, reset=1`.
        if let Some(value) = text(&RATELIMIT) {
            let first = value.split(',').next().unwrap_or_default();
            status.remaining = parameter(first, "r").or_else(|| parameter(value, "remaining"));
            status.reset = parameter(first, "t").or_else(|| parameter(value, "reset")).map(Duration::from_secs);
            status.limit = parameter(value, "limit");
        }
        if let Some(value) = text(&RATELIMIT_POLICY) {
            let first = value.split(',').next().unwrap_or_default();
            // `"name";q=50;w=1`, or the earlier `50;w=1`.
            let quota = parameter(first, "q").or_else(|| first.split(';').next().and_then(|n| n.trim().parse().ok()));
            status.limit = status.limit.or(quota);
            status.window = parameter(first, "w").map(Duration::from_secs);
        }
        // The separate fields: `RateLimit-Limit` and co., and the common `X-RateLimit-*`.
        for [limit, remaining, reset] in &SEPARATE {
            let number = |name: &HeaderName| text(name).and_then(|v| v.trim().parse::<u64>().ok());
            status.limit = status.limit.or_else(|| number(limit));
            status.remaining = status.remaining.or_else(|| number(remaining));
            status.reset = status.reset.or_else(|| number(reset).map(|reset| seconds_or_unix_time(reset, now)));
        }
        (status != Self::default()).then_some(status)
    }
}

/// `X-RateLimit-Reset` is seconds from now at some servers and a Unix time at others (GitHub's): a number past
/// 2001 read as seconds would be 31 years, so it is taken as a time.
fn seconds_or_unix_time(reset: u64, now: &dyn Fn() -> SystemTime) -> Duration {
    const A_BILLION_SECONDS: u64 = 1_000_000_000;
    if reset < A_BILLION_SECONDS {
        return Duration::from_secs(reset);
    }
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(reset);
    at.duration_since(now()).unwrap_or(Duration::ZERO)
}

/// The value of `name=` among `;`- or `,`-separated parameters, as a whole number.
fn parameter(text: &str, name: &str) -> Option<u64> {
    text.split([';', ',']).find_map(|part| {
        let (key, value) = part.split_once('=')?;
        (key.trim().eq_ignore_ascii_case(name)).then(|| value.trim().trim_matches('"').parse().ok()).flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs.iter().map(|(name, value)| (http::HeaderName::from_static(name), value.parse().unwrap())).collect()
    }

    #[test]
    fn every_form_is_read() {
        let seconds = Duration::from_secs;
        let read = |pairs| RateLimitStatus::read(&headers(pairs)).unwrap();
        let structured = read(&[("ratelimit-policy", "\"burst\";q=100;w=60"), ("ratelimit", "\"burst\";r=40;t=12")]);
        assert_eq!(structured.limit, Some(100));
        assert_eq!(
            (structured.remaining, structured.reset, structured.window),
            (Some(40), Some(seconds(12)), Some(seconds(60)))
        );
        let earlier = read(&[("ratelimit", "limit=10, remaining=3, reset=5"), ("ratelimit-policy", "10;w=5")]);
        assert_eq!((earlier.limit, earlier.remaining, earlier.reset), (Some(10), Some(3), Some(seconds(5))));
        let fields = read(&[("ratelimit-limit", "10"), ("ratelimit-remaining", "0"), ("ratelimit-reset", "2")]);
        assert_eq!((fields.limit, fields.remaining, fields.reset), (Some(10), Some(0), Some(seconds(2))));
        let x = read(&[("x-ratelimit-limit", "5000"), ("x-ratelimit-remaining", "4999"), ("x-ratelimit-reset", "30")]);
        assert_eq!((x.limit, x.remaining, x.reset), (Some(5000), Some(4999), Some(seconds(30))));
        // Among an answer's other fields, named in any case on the wire.
        let mut mixed = headers(&[("content-type", "application/json"), ("date", "x")]);
        mixed.insert(http::HeaderName::from_bytes(b"X-RateLimit-Remaining").unwrap(), "7".parse().unwrap());
        assert_eq!(RateLimitStatus::read(&mixed).unwrap().remaining, Some(7));
        // A Unix time, measured from the answer's clock.
        let now = SystemTime::UNIX_EPOCH + seconds(1_767_225_600);
        let unix = RateLimitStatus::read_at(&headers(&[("x-ratelimit-reset", "1767225660")]), &|| now).unwrap();
        assert_eq!(unix.reset, Some(seconds(60)));
    }

    #[test]
    fn malformed_fields_are_ignored() {
        for pairs in [
            &[("ratelimit", "remaining=many")][..],
            &[("x-ratelimit-remaining", "-1")],
            &[("x-ratelimit-limit", "ten")],
            &[("ratelimit-policy", "\"x\";w=soon")],
            &[],
        ] {
            assert_eq!(RateLimitStatus::read(&headers(pairs)), None, "{pairs:?}");
        }
    }
}
