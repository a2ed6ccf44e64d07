//! Pacing: the calls of one config slow down together when the server says they are too many.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// An adaptive limit on the rate of requests, shared by every call made with one [`Config`](crate::Config) (and its
/// clones): every call of a client, of its `cancel_jobs`, its waits and the settling reads.
///
/// It sends freely until the server answers 429. From then on, until no 429 has come for
/// [`Pacer::FORGET_AFTER`], requests are spaced to a rate: on each 429 the rate
/// drops to 85% of what was being sent in the last second, and a `Retry-After` holds every call until it has
/// passed; each answer that is not a 429 raises the rate by half a request per second, so that an unthrottled rate
/// grows by about half of itself each second. A rate that backs off sharply and probes upwards steadily, as TCP
/// and smithy's adaptive retry mode do: a batch settles just under what a gateway allows, whether or not the
/// gateway says how long to wait. Sans-IO like the rest of proto: the
/// caller passes the time in, and [`Call`](crate::Call) turns a wait into a [`Step::Sleep`](crate::Step::Sleep).
///
/// ```
/// use std::time::{Duration, Instant};
/// use sendkit_proto::Pacer;
///
/// let pacer = Pacer::default();
/// let start = Instant::now();
/// assert_eq!(pacer.reserve(start), Duration::ZERO, "free until the server objects");
/// pacer.rate_limited(start, Some(Duration::from_secs(2)));
/// assert_eq!(pacer.reserve(start), Duration::from_secs(2), "held until Retry-After has passed");
/// assert!(pacer.rate().is_some());
/// ```
#[derive(Debug, Default)]
pub struct Pacer {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Requests per second allowed; `None` until the first 429.
    rate: Option<f64>,
    /// When the next request may go, at the current rate.
    next_send: Option<Instant>,
    /// No request before this (a `Retry-After`).
    paused_until: Option<Instant>,
    /// The rate a limiter's reported budget allows (what is left, spread over what is left of its window), and
    /// until when.
    budget: Option<(f64, Instant)>,
    /// When each request of the last second was sent, to measure the rate being sent.
    recent: VecDeque<Instant>,
    /// The last decrease: a burst of 429s answering requests sent together counts once.
    last_decrease: Option<Instant>,
}

impl State {
    /// The rate sent over the last second: over the time the sends of that second span, when it is shorter (a
    /// batch that met its first 429 a few milliseconds in), but never less than a tenth of a second, so that a
    /// handful of sends together does not read as thousands a second.
    fn sent_per_second(&self, now: Instant) -> f64 {
        let second_ago = |sent: &&Instant| now.saturating_duration_since(**sent) <= Duration::from_secs(1);
        let count = self.recent.iter().filter(second_ago).count();
        let first = self.recent.iter().find(second_ago);
        let span = first.map_or(Duration::ZERO, |first| now.saturating_duration_since(*first));
        count as f64 / span.max(Duration::from_millis(100)).as_secs_f64()
    }
}

impl Pacer {
    /// The slowest the pacer goes: one request every two seconds.
    pub const MIN_RATE: f64 = 0.5;
    /// How much of the measured rate is kept on a 429.
    const DECREASE: f64 = 0.85;
    /// How much each answer that is not a 429 adds, in requests per second.
    const INCREASE: f64 = 0.5;
    /// 429s closer together than this answer the same burst, and decrease the rate once.
    const SAME_BURST: Duration = Duration::from_millis(250);
    /// The most send times kept for measuring.
    const RECENT_LIMIT: usize = 4096;
    /// With no 429 for this long, pacing stops: the limit the server had may be gone, and a client that sends
    /// rarely should not stay slow for one refusal long ago.
    pub const FORGET_AFTER: Duration = Duration::from_secs(10);

    /// Follows what a rate limiter reported of its budget on an answer at `now`: with none left, every call of the
    /// config waits for the window to reset (`longest`, the most the policy waits for a Retry-After, bounds it);
    /// with some left, the calls spread it over what is left of the window. A report without a reset time says
    /// nothing to schedule by, and is ignored.
    pub fn budget(&self, now: Instant, status: &crate::RateLimitStatus, longest: Duration) {
        let (Some(remaining), Some(reset)) = (status.remaining, status.reset) else { return };
        let mut state = self.lock();
        let Some(until) = now.checked_add(reset) else { return };
        if remaining == 0 {
            // The fields count whole seconds: with a policy (q requests in w seconds), the next request is due in
            // w/q, which may be far sooner than the rounded-up reset.
            let next = match (status.limit, status.window) {
                (Some(quota), Some(window)) if quota > 0 => {
                    reset.min(window / u32::try_from(quota).unwrap_or(u32::MAX))
                }
                _ => reset,
            };
            if let Some(until) = now.checked_add(next).filter(|_| next <= longest) {
                state.paused_until = Some(state.paused_until.map_or(until, |paused| paused.max(until)));
            }
            // And after it, one at a time at the policy's rate: the calls held together must not go together.
            if let (Some(quota), Some(window)) = (status.limit, status.window.filter(|w| !w.is_zero())) {
                let rate = (quota as f64 / window.as_secs_f64()).max(Self::MIN_RATE);
                if let Some(until) = now.checked_add(window) {
                    state.budget = Some((rate, until));
                }
            }
            return;
        }
        // A window already over (reset 0) leaves the whole budget to the next one: nothing to spread.
        if !reset.is_zero() {
            let rate = (remaining as f64 / reset.as_secs_f64()).max(Self::MIN_RATE);
            state.budget = Some((rate, until));
        }
    }

    /// Reserves the next slot for a request about to be sent at `now`: how long to wait before sending it.
    pub fn reserve(&self, now: Instant) -> Duration {
        let mut state = self.lock();
        if state.last_decrease.is_some_and(|last| now.saturating_duration_since(last) > Self::FORGET_AFTER) {
            state.rate = None;
            state.next_send = None;
            state.last_decrease = None;
        }
        let mut at = now;
        if let Some(until) = state.paused_until {
            at = at.max(until);
        }
        if state.budget.is_some_and(|(_, until)| now >= until) {
            state.budget = None;
        }
        // The slower of what 429s taught and what the limiter reported.
        let rate = match (state.rate, state.budget.map(|(rate, _)| rate)) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if let Some(rate) = rate {
            if let Some(next) = state.next_send {
                at = at.max(next);
            }
            state.next_send = at.checked_add(Duration::from_secs_f64(1.0 / rate.max(Self::MIN_RATE)));
        }
        state.recent.push_back(at);
        while state.recent.len() > Self::RECENT_LIMIT
            || state.recent.front().is_some_and(|sent| at.saturating_duration_since(*sent) > Duration::from_secs(1))
        {
            state.recent.pop_front();
        }
        at.saturating_duration_since(now)
    }

    /// The server answered 429 at `now`, asking (or not) to wait `retry_after`.
    pub fn rate_limited(&self, now: Instant, retry_after: Option<Duration>) {
        let mut state = self.lock();
        if let Some(until) = retry_after.and_then(|wait| now.checked_add(wait)) {
            state.paused_until = Some(state.paused_until.map_or(until, |paused| paused.max(until)));
        }
        if state.last_decrease.is_some_and(|last| now.saturating_duration_since(last) < Self::SAME_BURST) {
            return;
        }
        state.last_decrease = Some(now);
        let sent_last_second = state.sent_per_second(now);
        let measured = state.rate.map_or(sent_last_second, |rate| rate.min(sent_last_second.max(Self::MIN_RATE)));
        state.rate = Some((measured * Self::DECREASE).max(Self::MIN_RATE));
    }

    /// The server answered something other than a 429: the rate may grow.
    pub fn answered(&self) {
        let mut state = self.lock();
        if let Some(rate) = state.rate.as_mut() {
            *rate += Self::INCREASE;
        }
    }

    /// The rate requests are spaced to, in requests per second; `None` while no 429 has been met.
    pub fn rate(&self) -> Option<f64> {
        self.lock().rate
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is plain numbers, valid after any panic.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_429_spaces_requests_to_less_than_was_sent() {
        let pacer = Pacer::default();
        let start = Instant::now();
        // 20 requests in the last second, then a 429 without Retry-After.
        for i in 0..20 {
            assert_eq!(pacer.reserve(start + Duration::from_millis(i * 50)), Duration::ZERO);
        }
        let now = start + Duration::from_millis(1000);
        pacer.rate_limited(now, None);
        let rate = pacer.rate().unwrap();
        assert!((16.0..=17.5).contains(&rate), "{rate}");
        // The next requests go 1/rate apart.
        let first = pacer.reserve(now);
        let second = pacer.reserve(now);
        assert_eq!(first, Duration::ZERO);
        assert!((second.as_secs_f64() - 1.0 / rate).abs() < 1e-6, "{second:?}");
        // A burst of 429s for requests sent together decreases once.
        pacer.rate_limited(now + Duration::from_millis(10), None);
        assert_eq!(pacer.rate(), Some(rate));
        // Answers raise it again.
        for _ in 0..10 {
            pacer.answered();
        }
        assert!((pacer.rate().unwrap() - (rate + 5.0)).abs() < 1e-9);
    }

    #[test]
    fn a_429_a_few_milliseconds_into_a_batch_measures_over_what_the_sends_spanned() {
        let pacer = Pacer::default();
        let start = Instant::now();
        for i in 0..30 {
            pacer.reserve(start + Duration::from_millis(i));
        }
        // 30 sends within 30 ms: measured over the least span, 100 ms, that is 300 a second.
        pacer.rate_limited(start + Duration::from_millis(30), None);
        let rate = pacer.rate().unwrap();
        assert!((250.0..=260.0).contains(&rate), "{rate}");
    }

    #[test]
    fn pacing_stops_when_429s_stop() {
        let pacer = Pacer::default();
        let start = Instant::now();
        pacer.rate_limited(start, None);
        assert!(pacer.rate().is_some());
        let later = start + Pacer::FORGET_AFTER + Duration::from_millis(1);
        assert_eq!(pacer.reserve(later), Duration::ZERO);
        assert_eq!(pacer.rate(), None);
    }

    #[test]
    fn never_slower_than_the_minimum() {
        let pacer = Pacer::default();
        let start = Instant::now();
        for i in 0..50 {
            pacer.rate_limited(start + Duration::from_secs(i), None);
        }
        assert_eq!(pacer.rate(), Some(Pacer::MIN_RATE));
    }
}
