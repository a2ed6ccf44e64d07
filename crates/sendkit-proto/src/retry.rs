use std::time::{Duration, SystemTime};

use http::HeaderValue;
use sendkit_model::{jiff, Timestamp};

/// How a call is retried: how many attempts, how long between them.
///
/// Between attempts the wait is the server's `Retry-After` when it sent one, otherwise exponential backoff
/// (`initial × 2^(retry − 1)`, capped at `max_backoff`) with full jitter: a random wait between zero and that
/// figure, so that many clients failing together do not retry together. Which failures are retried is not a
/// setting: it follows from what the call is (see [`Call`](crate::Call)).
///
/// ```
/// use std::time::Duration;
/// use sendkit_proto::RetryPolicy;
///
/// let policy = RetryPolicy::default()
///     .max_attempts(5)
///     .backoff(Duration::from_millis(100), Duration::from_secs(2))
///     .without_jitter();
/// assert_eq!(policy.get_max_attempts(), 5);
/// assert_eq!(RetryPolicy::none().get_max_attempts(), 1);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    max_attempts: u32,
    initial_backoff: Duration,
    max_backoff: Duration,
    max_retry_after: Duration,
    jitter: bool,
}

impl Default for RetryPolicy {
    /// 3 attempts, backoff from 250 ms up to 8 s with jitter, `Retry-After` honoured up to 60 s.
    fn default() -> Self {
        Self {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(8),
            max_retry_after: Duration::from_secs(60),
            jitter: true,
        }
    }
}

impl RetryPolicy {
    /// No retries: every call makes one attempt.
    pub fn none() -> Self {
        Self { max_attempts: 1, ..Self::default() }
    }

    /// Attempts in all, the first included (at least 1).
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// The backoff before the first retry, and the most it grows to.
    pub fn backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.initial_backoff = initial;
        self.max_backoff = max.max(initial);
        self
    }

    /// The longest `Retry-After` the client waits. A server asking for longer ends the retries, and the call
    /// fails with the delay the server asked for, for the caller to decide.
    pub fn max_retry_after(mut self, max: Duration) -> Self {
        self.max_retry_after = max;
        self
    }

    /// Waits exactly the backoff figure, with no randomness: for tests, and for callers that add their own.
    pub fn without_jitter(mut self) -> Self {
        self.jitter = false;
        self
    }

    /// Attempts in all.
    pub fn get_max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The wait before retry number `retry` (1 for the first retry), given `random` bits for the jitter.
    pub(crate) fn backoff_for(&self, retry: u32, random: u64) -> Duration {
        let doubling = 2u32.saturating_pow(retry.saturating_sub(1));
        let ceiling = self.initial_backoff.saturating_mul(doubling).min(self.max_backoff);
        if !self.jitter {
            return ceiling;
        }
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(if nanos == 0 { 0 } else { random % (nanos + 1) })
    }

    /// The wait a server asked for, if the policy accepts it: `None` means do not retry.
    pub(crate) fn accept_retry_after(&self, wait: Duration) -> Option<Duration> {
        (wait <= self.max_retry_after).then_some(wait)
    }
}

/// Reads a `Retry-After` value in either of its forms: delta-seconds (`120`) or an HTTP date
/// (`Wed, 21 Oct 2015 07:28:00 GMT`), which is measured from `now`. A date in the past means no wait. Anything
/// else is `None`, and the caller falls back to its own backoff.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use sendkit_proto::parse_retry_after;
///
/// let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_470); // 2015-10-21T07:27:50Z
/// let value = |s: &'static str| http::HeaderValue::from_static(s);
/// assert_eq!(parse_retry_after(&value("7"), now), Some(Duration::from_secs(7)));
/// assert_eq!(parse_retry_after(&value("Wed, 21 Oct 2015 07:28:00 GMT"), now), Some(Duration::from_secs(10)));
/// assert_eq!(parse_retry_after(&value("soon"), now), None);
/// ```
pub fn parse_retry_after(value: &HeaderValue, now: SystemTime) -> Option<Duration> {
    let text = value.to_str().ok()?.trim();
    if let Some(wait) = delta_seconds(text) {
        return Some(wait);
    }
    let at = jiff::civil::DateTime::strptime("%a, %d %b %Y %H:%M:%S GMT", text).ok()?;
    let at = jiff::tz::Offset::UTC.to_timestamp(at).ok()?;
    let now = Timestamp::try_from(now).ok()?;
    let wait = now.duration_until(at);
    Some(Duration::try_from(wait).unwrap_or(Duration::ZERO))
}

/// The delta-seconds form only, for reading a response with no clock at hand.
pub(crate) fn retry_after_seconds(value: &HeaderValue) -> Option<Duration> {
    delta_seconds(value.to_str().ok()?.trim())
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
    fn backoff_doubles_up_to_the_cap() {
        let policy =
            RetryPolicy::default().backoff(Duration::from_millis(100), Duration::from_millis(500)).without_jitter();
        let waits: Vec<u128> = (1..=5).map(|n| policy.backoff_for(n, 0).as_millis()).collect();
        assert_eq!(waits, [100, 200, 400, 500, 500]);
        assert_eq!(policy.backoff_for(u32::MAX, 0), Duration::from_millis(500));
    }

    #[test]
    fn jitter_stays_within_the_backoff() {
        let policy = RetryPolicy::default().backoff(Duration::from_millis(100), Duration::from_secs(1));
        for random in [0, 1, 99_999_999, 100_000_000, u64::MAX, 0x1234_5678_9abc_def0] {
            assert!(policy.backoff_for(1, random) <= Duration::from_millis(100));
        }
        assert_eq!(policy.backoff_for(1, 100_000_000), Duration::from_millis(100));
        assert_eq!(policy.backoff_for(1, 0), Duration::ZERO);
    }

    #[test]
    fn retry_after_forms() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_470);
        let parse = |s: &'static str| parse_retry_after(&HeaderValue::from_static(s), now);
        assert_eq!(parse("0"), Some(Duration::ZERO));
        assert_eq!(parse(" 12 "), Some(Duration::from_secs(12)));
        assert_eq!(parse("99999999999999999999999"), Some(Duration::from_secs(u64::MAX)));
        assert_eq!(parse("Wed, 21 Oct 2015 07:28:00 GMT"), Some(Duration::from_secs(10)));
        assert_eq!(parse("Wed, 21 Oct 2015 07:00:00 GMT"), Some(Duration::ZERO), "a date in the past means now");
        for garbage in [
            "",
            "-1",
            "1.5",
            "soon",
            "Wed, 21 Oct 2015 07:28:00",
            "2015-10-21T07:28:00Z",
            "Thu, 32 Oct 2015 07:28:00 GMT",
        ] {
            assert_eq!(parse(garbage), None, "{garbage:?}");
        }
        assert_eq!(parse_retry_after(&HeaderValue::from_bytes(b"\xff").unwrap(), now), None);
    }
}
