use std::time::Duration;

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
/// # let _ = policy;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    pub(crate) max_attempts: u32,
    pub(crate) initial_backoff: Duration,
    pub(crate) max_backoff: Duration,
    pub(crate) max_retry_after: Duration,
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

    /// Requests in all, the first and any settling read included (at least 1: zero is refused when the config
    /// is built).
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts;
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

    /// Refuses what cannot be honoured: no attempt at all, or a wait too long to schedule.
    pub(crate) fn check(&self) -> Result<(), crate::error::InvalidInput> {
        if self.max_attempts == 0 {
            return Err(crate::check::setting("max_attempts", "must be at least 1 (the first attempt)".to_owned()));
        }
        for (name, wait) in [("backoff", self.max_backoff), ("max_retry_after", self.max_retry_after)] {
            if wait > crate::check::MAX_DURATION {
                return Err(crate::check::setting(name, format!("{wait:?} is longer than the most allowed, one day")));
            }
        }
        Ok(())
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
    /// The longest wait for a `Retry-After` (or a limiter's reset) the policy accepts.
    pub(crate) fn longest_retry_after(&self) -> Duration {
        self.max_retry_after
    }

    pub(crate) fn accept_retry_after(&self, wait: Duration) -> Option<Duration> {
        (wait <= self.max_retry_after).then_some(wait)
    }
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
}
