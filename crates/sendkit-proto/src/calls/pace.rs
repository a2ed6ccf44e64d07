//! Pacing: the calls of one config slow down together when the server says they are too many.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// What [`Pacer::slot`] says of a request about to be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// Send it after this wait (zero: now): the slot is held for it.
    Send(Duration),
    /// Others are ahead: ask again after this wait, when the rate may have changed.
    AskAgain(Duration),
}

/// An adaptive limit on the rate of requests, shared by every call made with one [`Config`](crate::Config) (and its
/// clones): every call of a client, of its `cancel_jobs`, its waits and the settling reads.
///
/// - **Opening.** In its first [`Pacer::OPENING`] it opens as TCP's slow start does: the first request goes alone
///   and each accepted answer lets two more go, so that processes starting together behind one key do not each send
///   a whole batch into a limiter the first has already emptied. Then it sends freely until the server answers 429.
/// - **Pacing.** From then on, until no 429 has come for [`Pacer::FORGET_AFTER`], requests are spaced to a rate
///   that follows CUBIC's curve (RFC 9438, as smithy's adaptive retry does for rates). On a 429 the rate drops to
///   70% of the rate it had reached (80% while this process is refused rarely: few or none share its key). It then
///   comes back to that rate in time, fast while far below it and slowly near it, and probes past it, slowly at
///   first, then doubling, so that a process whose neighbours have finished soon takes up what they leave. The rate
///   grows with time, not with answers, so that a process that gets few answers is not starved by one that gets
///   many.
/// - **The first 429** knows no rate reached, and says only that the limiter's burst is spent, not how fast it
///   refills. The curve starts under the rate of answers *accepted* (raised as the first burst's late answers come
///   in), but not under a quarter of what was sent, and aims at what was sent, at most four times what was accepted.
///   It doubles its rate from there until the next 429, which is measured against the rate sent lately; the faster
///   when its first requests were mostly refused (others had taken the limit), so that it is not left far below
///   them.
/// - **Sharing a key.** A rate below its last peak gives up half of the difference (CUBIC's fast convergence), so
///   that processes sharing a key, none knowing of the others, converge to a fair share of the limit without
///   synchronising.
/// - **What a limiter reports.** One saying nothing is left counts as a 429; one saying one request is left gives
///   up a little of the rate (before the refusal); one saying its budget is nearly whole (others have finished, or
///   the rate was cut further than it had to be) doubles the rate while it says so. In the opening, no more requests
///   go than it says are left. A `Retry-After` (on a 429, or a 503's) holds every call until it has passed.
/// - **Cost.** While nothing paces or holds the calls, it only counts them, each thread on its own counters, so that
///   calls on different cores share nothing through it.
/// - **A ceiling.** A config's [`max_rate`](crate::ConfigBuilder::max_rate) is a ceiling over all of this: the
///   requests are never closer together than it allows, from the first.
///
/// Sans-IO like the rest of proto: the caller passes the time in, and [`Call`](crate::Call) turns a wait into a
/// [`Step::Sleep`](crate::Step::Sleep).
///
/// # What it reaches
///
/// Measured with real `sendkit cancel -` processes behind nginx's `limit_req` and the project's emulator
/// (BENCHMARKS.md, `sendkit-bench --fleet`): one to eight processes sharing a key behind 50 requests a second use
/// 0.93-0.98 of it together, at fair shares, with at most about 0.2 refusals (429s) per accepted request; with a
/// limiter's RateLimit headers, 0.03 or fewer. Where it falls short:
/// - Runs of a few seconds end with some of the limit unused: a 429 cuts one process at a time, which ones is chance,
///   and a short run has too few refusals to even the shares out again, so processes with equal work finish seconds
///   apart (eight processes with 100 jobs each behind 100 a second: 0.85-0.88 of it; simulated, a start equal for
///   all changes nothing).
/// - Its curve runs in seconds, whatever the limit. One process alone uses about 0.8 of a limit of 200 a second and
///   two thirds of 1,000; four processes sharing 10 a second meet about 0.6 refusals per accepted request.
///
/// Processes that know their share of a limit can say so with [`max_rate`](crate::ConfigBuilder::max_rate), and
/// meet it without refusals.
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
    /// Whether the pacer runs free: past its opening, with no rate, pause or budget. Calls then only count their
    /// sends and answers, in [`Pacer::tally`], without the lock.
    free: AtomicBool,
    /// The counts of a pacer running free, made when it first runs free.
    tally: OnceLock<Tally>,
    /// The most requests a second, whatever the server says
    /// ([`ConfigBuilder::max_rate`](crate::ConfigBuilder::max_rate)): a pacer with one never runs free.
    ceiling: Option<f64>,
    /// Only the ceiling: the rate does not follow 429s or a limiter's reports (pacing turned off).
    ceiling_only: bool,
}

/// The sends and answers of a pacer running free, counted in slices of [`Tally::SLICE`] on each thread's shard, so
/// that calls on different cores write different cache lines: under the lock, or in counts shared by all, every
/// call took the line from the core of the last (measured: the pacer cost sendkit-hyper 1-3% at concurrency 16
/// while deciding nothing). Read only when the pacer stops running free, into the record under the lock.
#[derive(Debug)]
struct Tally {
    /// When slice 0 began.
    epoch: Instant,
    shards: Box<[Shard]>,
}

/// One shard of a [`Tally`]: a ring of slices, each `slice number << 32 | sends << 16 | accepted answers`.
#[derive(Debug)]
#[repr(align(128))]
struct Shard([AtomicU64; Tally::SLICES]);

impl Tally {
    /// How long a slice lasts.
    const SLICE: Duration = Duration::from_millis(4);
    /// Slices in a ring: a little more than the second the record keeps.
    const SLICES: usize = 256;
    /// Shards: threads beyond this many share them.
    const SHARDS: usize = 8;

    fn new(epoch: Instant) -> Self {
        let shards = (0..Self::SHARDS).map(|_| Shard(std::array::from_fn(|_| AtomicU64::new(0)))).collect();
        Self { epoch, shards }
    }

    /// The slice `at` falls in (slices before the epoch count as the first).
    fn slice(&self, at: Instant) -> u64 {
        let since = at.saturating_duration_since(self.epoch);
        (since.as_nanos() / Self::SLICE.as_nanos()) as u64 & u64::from(u32::MAX)
    }

    /// Counts a send (`sent`) or an accepted answer at `at`, on this thread's shard.
    fn note(&self, at: Instant, sent: bool) {
        static NEXT_SHARD: AtomicUsize = AtomicUsize::new(0);
        thread_local! {
            static SHARD: usize = NEXT_SHARD.fetch_add(1, Ordering::Relaxed);
        }
        let shard = SHARD.try_with(|shard| *shard).unwrap_or(0) % Self::SHARDS;
        let slice = self.slice(at);
        let cell = &self.shards[shard].0[slice as usize % Self::SLICES];
        let _ = cell.fetch_update(Ordering::SeqCst, Ordering::Relaxed, |packed| {
            let (sends, answers) =
                if packed >> 32 == slice { ((packed >> 16) & 0xffff, packed & 0xffff) } else { (0, 0) };
            let (sends, answers) = if sent { (sends + 1, answers) } else { (sends, answers + 1) };
            Some(slice << 32 | sends.min(0xffff) << 16 | answers.min(0xffff))
        });
    }

    /// Moves the counts of the last second before `now` into `state`'s records, each at the middle of its slice (or
    /// at `now`, for a slice not over by then: another thread read its clock after the caller did), and clears them.
    fn drain_into(&self, state: &mut State, now: Instant) {
        let last = self.slice(now);
        let mut slices: Vec<(u64, u64, u64)> = Vec::new();
        for shard in self.shards.iter() {
            for cell in shard.0.iter() {
                let packed = cell.swap(0, Ordering::SeqCst);
                let slice = packed >> 32;
                if packed != 0 && last.saturating_sub(slice) < Self::SLICES as u64 {
                    slices.push((slice, (packed >> 16) & 0xffff, packed & 0xffff));
                }
            }
        }
        slices.sort_unstable();
        for (slice, sends, answers) in slices {
            let at = (self.epoch + Self::SLICE * (slice as u32) + Self::SLICE / 2).min(now);
            for _ in 0..sends {
                state.recent.note(at);
            }
            for _ in 0..answers {
                state.accepted.note(at);
            }
        }
    }
}

#[derive(Debug, Default)]
struct State {
    /// Requests per second allowed; `None` until the first 429 (or a limiter's empty budget).
    rate: Option<f64>,
    /// The rate at the last 429 (CUBIC's `W_max`): the curve comes back to it, then probes past it.
    peak: f64,
    /// Seconds after the last decrease when the curve is back at the peak (CUBIC's `K`).
    back_at: f64,
    /// The first 429's time and the burst rate it saw sent, while the answers of that burst may still come: they
    /// raise its estimate of what the limiter accepts.
    first: Option<(Instant, f64)>,
    /// The last slot held: the next is one interval, at the rate of then, after it.
    last_slot: Option<Instant>,
    /// No request before this (a `Retry-After`).
    paused_until: Option<Instant>,
    /// The rate a limiter's reported budget allows (what is left, spread over what is left of its window), and
    /// until when.
    budget: Option<(f64, Instant)>,
    /// When each request of the last second was sent, to measure the rate being sent.
    recent: LastSecond,
    /// When each accepted answer of the last second came.
    accepted: LastSecond,
    /// The last decrease: a burst of 429s answering requests sent together counts once.
    last_decrease: Option<Instant>,
    /// The rate the first curve started from, and how many seconds it takes to double from there until the next
    /// decrease: [`Pacer::FIRST_DOUBLING`] when the first requests were mostly refused, [`Pacer::FIRST_SEARCH`]
    /// otherwise.
    doubling_from: Option<(f64, f64)>,
    /// The slow start of a fresh pacer.
    opening: Opening,
    /// Where the curve's time starts: the last decrease, or the end of a stretch in which the limiter reported its
    /// budget nearly whole (the rate gained in it is kept).
    origin: Option<Instant>,
    /// The most a limiter has reported left: the measure of its burst.
    fullest: u64,
    /// Since when, and from what rate, the limiter has reported its budget nearly whole: the calls do not use what
    /// it allows, and the rate doubles every [`Pacer::SLACK_DOUBLING`] while it says so.
    slack: Option<(Instant, f64)>,
    /// The 429s and the accepted answers since this stretch of pacing began: how crowded the key is.
    refusals: Refusals,
}

/// The 429s a pacer met, and the answers accepted, since its first 429 (until it forgets it). A token bucket refuses
/// whichever request comes when it is empty, so each process's refusals per accepted answer follow its whole
/// fleet's, and they grow with the processes sharing the key.
#[derive(Debug, Default, Clone, Copy)]
struct Refusals {
    refused: u32,
    accepted: u32,
}

impl Refusals {
    /// How much of its rate a 429 keeps: [`Pacer::DECREASE_ALONE`] for a process refused rarely (at most
    /// [`Pacer::FEW_REFUSALS`] per accepted answer: few or no others share its key, and a rate given up is given up
    /// to none), [`Pacer::DECREASE`] for one refused often (from [`Pacer::MANY_REFUSALS`]: many share it, and only
    /// deeper decreases leave room for the others and keep the refusals down), in proportion between.
    fn decrease(self) -> f64 {
        let per_accepted = f64::from(self.refused) / f64::from(self.accepted.max(1));
        let crowded =
            ((per_accepted - Pacer::FEW_REFUSALS) / (Pacer::MANY_REFUSALS - Pacer::FEW_REFUSALS)).clamp(0.0, 1.0);
        Pacer::DECREASE_ALONE + (Pacer::DECREASE - Pacer::DECREASE_ALONE) * crowded
    }
}

/// A fresh pacer's first [`Pacer::OPENING`]: when it began, the requests it let go, the answers accepted, and what
/// a limiter's reports of its budget leave for it.
#[derive(Debug, Default)]
struct Opening {
    began: Option<Instant>,
    sent: u32,
    accepted: u32,
    /// Answers that reported the limiter's budget.
    reports: u32,
    /// Requests the last report leaves: what it said was left, less the requests sent and not yet answered then
    /// (they take from it too), less those sent since.
    left: Option<i64>,
}

impl Opening {
    /// An answer reported `remaining` left: what the requests sent and not yet answered will not take from it is
    /// what the opening may still send.
    fn reported(&mut self, remaining: u64) {
        self.reports = self.reports.saturating_add(1);
        let unanswered = i64::from(self.sent) - i64::from(self.reports);
        self.left = Some(i64::try_from(remaining).unwrap_or(i64::MAX) - unanswered.max(0));
    }
}

/// The times of the events of the last second (sends, or accepted answers), to measure their rate.
#[derive(Debug, Default)]
struct LastSecond(VecDeque<Instant>);

impl LastSecond {
    /// The most times kept.
    const LIMIT: usize = 4096;

    /// Notes an event at `at`, forgetting those more than a second before it.
    fn note(&mut self, at: Instant) {
        self.0.push_back(at);
        // One subtraction, then comparisons: this runs for every request and every answer.
        let second_before = at.checked_sub(Duration::from_secs(1));
        while self.0.len() > Self::LIMIT || self.0.front().zip(second_before).is_some_and(|(then, cut)| *then < cut) {
            self.0.pop_front();
        }
    }

    /// How long [`LastSecond::lately`] looks back.
    const LATELY: Duration = Duration::from_millis(250);

    /// The rate over the last [`LastSecond::LATELY`] (slots held for later are not sent yet).
    fn lately(&self, now: Instant) -> f64 {
        let recent = self.0.iter().rev().take_while(|at| now.saturating_duration_since(**at) <= Self::LATELY);
        let count = recent.filter(|at| **at <= now).count();
        count as f64 / Self::LATELY.as_secs_f64()
    }

    /// The rate over the last second: over the time its events span, when that is shorter (a batch that met its
    /// first 429 a few milliseconds in), but never less than a tenth of a second, so that a handful of events
    /// together does not read as thousands a second.
    fn per_second(&self, now: Instant) -> f64 {
        let second_ago = |at: &&Instant| now.saturating_duration_since(**at) <= Duration::from_secs(1);
        let count = self.0.iter().filter(second_ago).count();
        let first = self.0.iter().find(second_ago);
        let span = first.map_or(Duration::ZERO, |first| now.saturating_duration_since(*first));
        count as f64 / span.max(Duration::from_millis(100)).as_secs_f64()
    }
}

impl Pacer {
    /// A pacer that never lets more than `per_second` requests a second go: below that it follows the server as
    /// [`Pacer::default`] does when `adaptive`, else it only spaces the requests to that rate.
    pub(crate) fn with_ceiling(per_second: f64, adaptive: bool) -> Self {
        Self { ceiling: Some(per_second), ceiling_only: !adaptive, ..Self::default() }
    }

    /// The ceiling, when set ([`Config::max_rate`](crate::Config::max_rate) reads it here).
    pub(crate) fn ceiling(&self) -> Option<f64> {
        self.ceiling
    }

    /// The ceiling, when a wait it gives is the ceiling's alone: the server has not asked the calls to slow down.
    pub(crate) fn ceiling_alone(&self) -> Option<f64> {
        self.ceiling.filter(|_| {
            self.ceiling_only || {
                let state = self.lock();
                state.rate.is_none() && state.budget.is_none() && state.paused_until.is_none()
            }
        })
    }

    /// How far above what was accepted the first curve aims (at most), before any pacing.
    const FIRST_REACH: f64 = 4.0;
    /// The slowest the pacer goes: one request every two seconds.
    pub const MIN_RATE: f64 = 0.5;
    /// How much of the rate is kept on a 429 (CUBIC's β) by a process refused often (see [`Refusals::decrease`]).
    const DECREASE: f64 = 0.7;
    /// How much of the rate is kept on a 429 by a process refused rarely. Alone behind a limiter, a process that
    /// keeps 70% spends its time climbing back (0.94 of the limit, simulated); keeping 80% reaches 0.97, with no
    /// more refusals. In a fleet, refusals per accepted answer rise with the processes, and the decrease deepens
    /// to CUBIC's (`sendkit-bench --fleet-model 601`: 2 x 8 processes 0.92 -> 0.93 of the limit, 8 x 8 the same,
    /// refusals the same in every row).
    const DECREASE_ALONE: f64 = 0.8;
    /// At most this many 429s per accepted answer, a process is refused rarely: one process alone meets about 0.04.
    const FEW_REFUSALS: f64 = 0.08;
    /// From this many 429s per accepted answer, a process is refused often: 8 processes behind 50 a second meet
    /// about 0.18.
    const MANY_REFUSALS: f64 = 0.16;
    /// How fast the rate comes back and probes (CUBIC's C), in requests per second per second cubed. RFC 9438's
    /// 0.4 is for windows of packets; for request rates shared by a few processes, 2 brings a process from
    /// nothing to a fair share of 50 a second in about two seconds (`cargo xtask bench`, the fleet in simulated
    /// time: 1 and 4 gave worse fairness or more refusals).
    const GROWTH: f64 = 2.0;
    /// 429s closer together than this answer the same burst, and decrease the rate once. Longer than a round trip
    /// to an API across a continent, so that the answers to requests sent together count once; and short, because
    /// the decreases are what makes processes sharing a key converge: a process far above its share meets most of
    /// the 429s, and gives up its excess as fast as they count. 250 ms held it to four decreases a second, and
    /// processes starting a few milliseconds apart did not meet within an 8-second run (with the probing below,
    /// fairness in the simulated short fleets went from 0.89-0.94 to 0.93-0.98, refusals the same; 100 ms cost
    /// share).
    const SAME_BURST: Duration = Duration::from_millis(150);
    /// How much of the rate is kept when a limiter reports one request left (see [`Pacer::last_one_left`]). 0.8
    /// halved the refusals of 8 processes with headers in the simulated fleets (0.06 to 0.03) at 0.96 of the
    /// limit; 0.9 and 0.95 left more refusals; 0.7 (a 429's) cost share.
    const LAST_ONE_DECREASE: f64 = 0.8;
    /// With no 429 for this long, pacing stops: the limit the server had may be gone, and a client that sends
    /// rarely should not stay slow for one refusal long ago.
    pub const FORGET_AFTER: Duration = Duration::from_secs(10);
    /// How long a fresh pacer's slow start lasts at most: a server slow to answer holds calls no longer than this,
    /// once in the pacer's life. On loopback or a near network the slow start is over in a few round trips, well
    /// within it. A longer opening costs bulk work against a slow server: 2,000 cancels at concurrency 64 against a
    /// server answering in 20 ms took 0.815 s with 100 ms, 0.764 s with 20 ms, 0.731 s with none (sendkit-ureq,
    /// `sendkit-bench --bulk`); the simulated fleets were the same from 10 ms to 100 ms.
    pub const OPENING: Duration = Duration::from_millis(20);
    /// How often a held request asks again during the opening (an answer may have come meanwhile).
    const OPENING_POLL: Duration = Duration::from_millis(1);
    /// The first curve starts at no less than this part of the rate that was sent (1/4): processes that start
    /// together send alike, while what each had accepted is luck.
    const FIRST_SHARE: f64 = 4.0;
    /// A first curve whose requests were mostly refused (less than [`Pacer::FIRST_SHARE`]'s part accepted)
    /// doubles this often until its next 429.
    const FIRST_DOUBLING: f64 = 0.25;
    /// Any other first curve doubles this often until its next 429: the first 429 comes when the limiter's burst is
    /// spent, a few milliseconds in, and the answers of so short a time say little of how fast it refills. One
    /// process behind 200 a second kept 0.69 of it with this alone, 0.81 with [`Pacer::reached`] measured lately
    /// too (0.63 without either); 1,000 a second 0.68 (0.45); the issue's fleets moved by 0.01 at most (simulated,
    /// `sendkit-bench --fleet-model 601`).
    const FIRST_SEARCH: f64 = 0.5;
    /// Past its peak, once this long, the curve at least doubles every [`Pacer::PROBE_DOUBLING`] seconds: CUBIC's
    /// probing alone takes seconds to find a limit that others have stopped using. (0.5 s left the last processes
    /// of a fleet longer at their old shares once the others had finished; 0.2 s raised refusals at 8 processes.)
    const PROBE_AFTER: f64 = 0.3;
    /// See [`Pacer::PROBE_AFTER`].
    const PROBE_DOUBLING: f64 = 0.75;
    /// A limiter reporting at least this part of the most it has reported left (4/5) has its budget nearly whole:
    /// the calls sharing its key leave it unused.
    const SLACK_SHARE: f64 = 0.8;
    /// While a limiter reports its budget nearly whole, the rate doubles this often (in seconds).
    const SLACK_DOUBLING: f64 = 0.4;

    /// Follows what a rate limiter reported of its budget on an answer at `now`: with none left, the rate drops as
    /// on a 429, and every call of the config waits for the window to reset (`longest`, the most the policy waits
    /// for a Retry-After, bounds it);
    /// with some left, the calls spread it over what is left of the window. A report without a reset time says
    /// nothing to schedule by, and is ignored.
    pub fn budget(&self, now: Instant, status: &crate::RateLimitStatus, longest: Duration) {
        if self.ceiling_only {
            return;
        }
        let (Some(remaining), Some(reset)) = (status.remaining, status.reset) else { return };
        let mut state = self.lock();
        // Only an empty budget, or one to spread over a window, ends running free.
        if remaining == 0 || !reset.is_zero() {
            self.stop_running_free(&mut state, now);
        }
        // Only a pacer not yet paced consults its opening.
        if state.last_decrease.is_none() {
            state.opening.reported(remaining);
        }
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
            // An empty budget is the limit met before a refusal, as ECN marks congestion before a loss: the rate
            // drops as on a 429. Every process sharing the key sees it, each in proportion to the answers it gets,
            // so a fleet meets the limit with few refusals. Before any 429 too: a process whose first requests
            // found the last tokens of a limiter that others had emptied would otherwise go on at the policy's
            // whole rate, never refused, and keep the others under it.
            Self::decrease(&mut state, now);
            // And after it, one at a time at the policy's rate: the calls held together must not go together.
            if let (Some(quota), Some(window)) = (status.limit, status.window.filter(|w| !w.is_zero())) {
                let rate = (quota as f64 / window.as_secs_f64()).max(Self::MIN_RATE);
                if let Some(until) = now.checked_add(window) {
                    state.budget = Some((rate, until));
                }
            }
            return;
        }
        state.fullest = state.fullest.max(remaining);
        if remaining == 1 {
            Self::last_one_left(&mut state, now);
        }
        Self::follow_slack(&mut state, now, remaining);
        // A window already over (reset 0) leaves the whole budget to the next one: nothing to spread.
        if !reset.is_zero() {
            let rate = (remaining as f64 / reset.as_secs_f64()).max(Self::MIN_RATE);
            state.budget = Some((rate, until));
        }
    }

    /// The rate at `now` on the cubic curve from the last 429: `peak + C (t - K)³`, where `K` is when it is back
    /// at the peak. Past the peak, it at least doubles every [`Pacer::PROBE_DOUBLING`] seconds once
    /// [`Pacer::PROBE_AFTER`] has passed; a first curve that was mostly refused at least doubles every
    /// [`Pacer::FIRST_DOUBLING`].
    fn cubic(state: &State, now: Instant) -> Option<f64> {
        state.rate?;
        let t = now.saturating_duration_since(state.origin?).as_secs_f64();
        let mut rate = state.peak + Self::GROWTH * (t - state.back_at).powi(3);
        let probing = t - state.back_at - Self::PROBE_AFTER;
        if probing > 0.0 {
            rate = rate.max(state.peak * (probing / Self::PROBE_DOUBLING).exp2());
        }
        if let Some((from, every)) = state.doubling_from {
            rate = rate.max(from * (t / every).exp2());
        }
        if let Some((since, from)) = state.slack {
            let slack = now.saturating_duration_since(since).as_secs_f64();
            rate = rate.max(from * (slack / Self::SLACK_DOUBLING).exp2());
        }
        Some(rate.max(Self::MIN_RATE))
    }

    /// Follows a limiter's report of `remaining` left at `now`, while pacing: a budget nearly whole (at least
    /// [`Pacer::SLACK_SHARE`] of the most it has reported) is one the calls sharing its key leave unused (others
    /// have finished, or the rate was cut further than it had to be), and the rate doubles until a report says
    /// otherwise; then the curve goes on from the rate reached. With a token bucket, the budget stays nearly whole
    /// only while less is asked of it than it allows, so this takes nothing from a limit that is used.
    fn follow_slack(state: &mut State, now: Instant, remaining: u64) {
        if state.rate.is_none() {
            return;
        }
        let slack = state.fullest >= 2 && remaining as f64 >= Self::SLACK_SHARE * state.fullest as f64;
        match (slack, state.slack) {
            (true, None) => state.slack = Self::cubic(state, now).map(|rate| (now, rate)),
            (false, Some(_)) => {
                let raised = Self::cubic(state, now);
                state.slack = None;
                if let (Some(raised), Some(plain)) = (raised, Self::cubic(state, now)) {
                    if raised > plain {
                        Self::start_curve(state, raised, raised);
                        state.origin = Some(now);
                        state.doubling_from = None;
                    }
                }
            }
            _ => {}
        }
    }

    /// Reserves the next slot for a request about to be sent at `now`: how long to wait before sending it. The slot
    /// is held however far off it is, at the rate of now; [`Pacer::slot`] holds only the next one, so that a rate
    /// that grows meanwhile is used. The opening's slow start does not hold it: it is for a caller that sends at the
    /// time given, whatever it is.
    pub fn reserve(&self, now: Instant) -> Duration {
        match self.take_slot(now, true) {
            Slot::Send(wait) | Slot::AskAgain(wait) => wait,
        }
    }

    /// The slot for a request about to be sent at `now`: send after a wait (the slot is held for it), or, when
    /// other requests are ahead, ask again after a wait, at which time the rate may have changed (a pacer coming
    /// back up after a 429 spaces requests at its new rate, not at the one it had when they were queued).
    pub fn slot(&self, now: Instant) -> Slot {
        self.take_slot(now, false)
    }

    fn take_slot(&self, now: Instant, hold_any: bool) -> Slot {
        if let Some(tally) = self.running_free() {
            tally.note(now, true);
            self.noted_while_free(tally, now);
            return Slot::Send(Duration::ZERO);
        }
        let mut state = self.lock();
        state.rate = Self::cubic(&state, now);
        if state.last_decrease.is_some_and(|last| now.saturating_duration_since(last) > Self::FORGET_AFTER) {
            state.rate = None;
            state.last_slot = None;
            state.last_decrease = None;
            state.doubling_from = None;
            state.origin = None;
            state.slack = None;
            state.refusals = Refusals::default();
        }
        let mut at = now;
        if let Some(until) = state.paused_until {
            at = at.max(until);
        }
        if state.budget.is_some_and(|(_, until)| now >= until) {
            state.budget = None;
        }
        // The slow start, before any 429 and within the opening: one request, then two more per accepted answer.
        // (A limiter's report that spaces the calls, a budget or a pause, already says more than the opening's
        // guess.)
        let paused = at > now;
        if state.last_decrease.is_none() && !hold_any && state.budget.is_none() && !paused && !self.ceiling_only {
            let opening = &mut state.opening;
            let began = *opening.began.get_or_insert(now);
            let open = now.saturating_duration_since(began) >= Self::OPENING;
            if !open {
                // Two more per accepted answer, and no more than the limiter said it has left.
                if opening.sent > opening.accepted.saturating_mul(2) || opening.left.is_some_and(|left| left <= 0) {
                    return Slot::AskAgain(Self::OPENING_POLL);
                }
                opening.sent += 1;
                if let Some(left) = &mut opening.left {
                    *left -= 1;
                }
            }
        }
        // The slower of what 429s taught and what the limiter reported, and never above the ceiling (which may be
        // under the slowest the pacer goes on its own).
        let rate = match (state.rate, state.budget.map(|(rate, _)| rate)) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let rate = match (rate.map(|rate| rate.max(Self::MIN_RATE)), self.ceiling) {
            (Some(rate), Some(ceiling)) => Some(rate.min(ceiling)),
            (rate, ceiling) => rate.or(ceiling),
        };
        if let Some(rate) = rate {
            let interval = Duration::try_from_secs_f64(1.0 / rate).unwrap_or(crate::check::MAX_DURATION);
            let queued = state.last_slot.and_then(|last| last.checked_add(interval)).filter(|next| *next > at);
            if let Some(next) = queued {
                // Not the next in line (others hold the slots before): come back when it may be, without holding
                // a slot at today's rate. (Within a millisecond it is held: clocks that keep no finer time must
                // not ask again for nothing.)
                let ask_at = next.checked_sub(interval).unwrap_or(now);
                if !hold_any && ask_at.saturating_duration_since(now) > Duration::from_millis(1) {
                    return Slot::AskAgain(ask_at.saturating_duration_since(now));
                }
                at = next;
            }
            state.last_slot = Some(at);
        }
        state.recent.note(at);
        self.run_free_if_nothing_to_keep(&state, now);
        Slot::Send(at.saturating_duration_since(now))
    }

    /// Runs free from now when nothing paces or holds the calls: past the opening, no 429 remembered, no pause to
    /// come, no budget to spread. Under the lock, so that nothing changes the state meanwhile.
    fn run_free_if_nothing_to_keep(&self, state: &State, now: Instant) {
        if self.ceiling.is_some() {
            return;
        }
        let opened = state.opening.began.filter(|began| now.saturating_duration_since(*began) >= Self::OPENING);
        let nothing_to_keep = state.rate.is_none()
            && state.last_decrease.is_none()
            && state.budget.is_none()
            && state.first.is_none()
            && state.paused_until.is_none_or(|until| until <= now);
        if let (Some(began), true) = (opened, nothing_to_keep) {
            self.tally.get_or_init(|| Tally::new(began));
            self.free.store(true, Ordering::Relaxed);
        }
    }

    /// The counts to note a call in, while the pacer runs free.
    fn running_free(&self) -> Option<&Tally> {
        self.tally.get().filter(|_| self.free.load(Ordering::Relaxed))
    }

    /// Stops running free (before a change to the state under the lock): what was counted meanwhile goes into the
    /// records, as if counted there.
    fn stop_running_free(&self, state: &mut State, now: Instant) {
        // Sequentially consistent, as the counts' writes and the read of `free` after them: see `noted_while_free`.
        if self.free.swap(false, Ordering::SeqCst) {
            if let Some(tally) = self.tally.get() {
                tally.drain_into(state, now);
            }
        }
    }

    /// After a call counted at `now` on `tally` while the pacer ran free: if it has stopped meanwhile, the drain
    /// may have passed the count by, so the count is moved into the records here, under the lock returned. (Each
    /// side writes, then reads what the other wrote, all in one sequentially consistent order, so at least one
    /// sees the other: no count is left behind. Seen by both, a count is moved once: each cell is swapped out.
    /// On x86 this costs nothing more: a read-modify-write is a full barrier there, and such a load a plain one.)
    fn noted_while_free(&self, tally: &Tally, now: Instant) -> Option<std::sync::MutexGuard<'_, State>> {
        if self.free.load(Ordering::SeqCst) {
            return None;
        }
        let mut state = self.lock();
        tally.drain_into(&mut state, now);
        Some(state)
    }

    /// The server answered 429 at `now`, asking (or not) to wait `retry_after`.
    pub fn rate_limited(&self, now: Instant, retry_after: Option<Duration>) {
        if self.ceiling_only {
            return;
        }
        let mut state = self.lock();
        self.stop_running_free(&mut state, now);
        state.refusals.refused = state.refusals.refused.saturating_add(1);
        if let Some(wait) = retry_after {
            Self::pause(&mut state, now, wait);
        }
        Self::decrease(&mut state, now);
    }

    /// The server answered at `now` that it is unavailable for `retry_after` (a 503's `Retry-After`): no request
    /// goes before that has passed. The rate stays: a server that is down for a while says nothing of its limit.
    pub fn unavailable(&self, now: Instant, retry_after: Duration) {
        if self.ceiling_only {
            return;
        }
        let mut state = self.lock();
        self.stop_running_free(&mut state, now);
        Self::pause(&mut state, now, retry_after);
    }

    /// Holds every request until `wait` after `now`, or longer if a hold already says so.
    fn pause(state: &mut State, now: Instant, wait: Duration) {
        if let Some(until) = now.checked_add(wait) {
            state.paused_until = Some(state.paused_until.map_or(until, |paused| paused.max(until)));
        }
    }

    /// The limit was met at `now` (a 429, or a limiter saying nothing is left): the rate drops to β of what it
    /// reached, once for a burst of such answers.
    fn decrease(state: &mut State, now: Instant) {
        if Self::same_burst(state, now) {
            return;
        }
        let (start, peak, doubling_from) = match Self::cubic(state, now) {
            // Paced: the rate reached.
            Some(rate) => {
                let reached = Self::reached(state, now, rate);
                // Fast convergence: a rate that met a 429 below its last peak gives up more, so newcomers catch up.
                let decrease = state.refusals.decrease();
                let peak = if reached < state.peak { reached * (1.0 + decrease) / 2.0 } else { reached };
                (peak * decrease, peak, None)
            }
            // Not yet paced: the few answers of the first milliseconds say little of the limit (answers come back
            // out of order), so the curve starts below what was accepted and aims at what was sent, at most four
            // times that: it climbs fast at first, and the next 429 tells it the limit.
            None => {
                let sent = state.recent.per_second(now);
                let accepted = state.accepted.per_second(now);
                state.first = Some((now, sent));
                let (start, peak) = Self::first_curve(accepted, sent);
                // The first 429 says only that a burst the limiter allows is spent, not the rate it refills at: the
                // curve doubles from its start until the next 429 says that. Fast when others had taken the limit
                // before this process's requests came.
                let every = if accepted < sent / Self::FIRST_SHARE { Self::FIRST_DOUBLING } else { Self::FIRST_SEARCH };
                (start, peak, Some((start, every)))
            }
        };
        Self::restart_curve(state, now, start, peak, doubling_from);
    }

    /// A limiter reported at `now` that one request is left: the limit is all but met. While paced, the rate gives
    /// up a little ([`Pacer::LAST_ONE_DECREASE`]), once for a burst, as a 429 would make it give up more: the
    /// processes sharing the key each hear of the limit before a refusal, from their own answers, so that the one
    /// left is not taken by two. (An ECN mark at a queue's threshold, not at its end: a report is as old as the
    /// answer that brought it, and others send meanwhile; a refusal waits at least the call's backoff.) A limit
    /// that refills, as a token bucket does, is kept as full as it needs to be; one whose window is almost used
    /// says so once, near its end.
    fn last_one_left(state: &mut State, now: Instant) {
        if Self::same_burst(state, now) {
            return;
        }
        let Some(rate) = Self::cubic(state, now) else { return };
        let reached = Self::reached(state, now, rate);
        Self::restart_curve(state, now, reached * Self::LAST_ONE_DECREASE, reached, None);
    }

    /// Whether a decrease at `now` answers the same burst as the last one, which counted for it.
    fn same_burst(state: &State, now: Instant) -> bool {
        state.last_decrease.is_some_and(|last| now.saturating_duration_since(last) < Self::SAME_BURST)
    }

    /// The rate a paced pacer reached at `now`: its `rate`, or what was really sent when that was less (a few calls,
    /// a slow server).
    fn reached(state: &State, now: Instant, rate: f64) -> f64 {
        let mut sent = state.recent.per_second(now);
        if state.doubling_from.is_some() {
            // A rate doubling lately is above what the last second averages: a peak set from that average would
            // leave the curve far under the limit (one process behind 200 a second kept 0.63 of it, simulated).
            sent = sent.max(state.recent.lately(now));
        }
        rate.min(sent.max(Self::MIN_RATE))
    }

    /// Starts the curve anew at `now`, from `start` back to `peak`: the time of the decrease that starts it.
    fn restart_curve(state: &mut State, now: Instant, start: f64, peak: f64, doubling_from: Option<(f64, f64)>) {
        state.doubling_from = doubling_from;
        Self::start_curve(state, start, peak);
        state.last_decrease = Some(now);
        state.origin = Some(now);
        state.slack = None;
    }

    /// Puts the rate at `start` on a curve that is back at `peak` after `K` seconds.
    fn start_curve(state: &mut State, start: f64, peak: f64) {
        state.peak = peak;
        state.back_at = ((peak - start).max(0.0) / Self::GROWTH).cbrt();
        state.rate = Some(start.max(Self::MIN_RATE));
    }

    /// The server accepted a request (answered anything but a 429) at `now`: counted, so that the first 429
    /// can say what the limiter let through.
    pub fn answered_at(&self, now: Instant) {
        if self.ceiling_only {
            return;
        }
        if let Some(tally) = self.running_free() {
            tally.note(now, false);
            if let Some(mut state) = self.noted_while_free(tally, now) {
                Self::first_burst_answered(&mut state, now);
            }
            return;
        }
        let mut state = self.lock();
        if state.last_decrease.is_some() {
            state.refusals.accepted = state.refusals.accepted.saturating_add(1);
        }
        state.accepted.note(now);
        state.opening.accepted = state.opening.accepted.saturating_add(1);
        Self::first_burst_answered(&mut state, now);
    }

    /// After an answer at `now` is counted, under the lock.
    fn first_burst_answered(state: &mut State, now: Instant) {
        // An answer of the first burst that came after its 429 (answers come back out of order): what the limiter
        // accepted was more than the first estimate counted, so the first curve starts higher.
        if let Some((at, sent)) = state.first {
            if now.saturating_duration_since(at) >= Self::SAME_BURST || state.last_decrease != Some(at) {
                state.first = None;
            } else {
                let (start, peak) = Self::first_curve(state.accepted.per_second(at.max(now)), sent);
                if start > state.rate.unwrap_or(0.0) {
                    Self::start_curve(state, start, peak);
                }
            }
        }
    }

    /// The first curve, before the limit is known: from under what was accepted (but not under
    /// [`Pacer::FIRST_SHARE`]'s part of what was sent) toward what was sent, at most [`Pacer::FIRST_REACH`] times
    /// what was accepted.
    fn first_curve(accepted: f64, sent: f64) -> (f64, f64) {
        let accepted = accepted.max(Self::MIN_RATE);
        let floor = sent / Self::FIRST_SHARE;
        let start = (accepted * Self::DECREASE).max(floor).max(Self::MIN_RATE);
        let peak = sent.clamp(accepted, accepted * Self::FIRST_REACH).max(floor);
        (start, peak)
    }

    /// The server accepted a request, at a time not given. The rate grows with time since the last 429, not
    /// with answers, so this changes nothing; [`Pacer::answered_at`] counts the answer for the first 429's
    /// measure.
    pub fn answered(&self) {}

    /// The rate requests are spaced to (as of the last slot taken), in requests per second; `None` while no 429
    /// has been met.
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

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// What a token bucket of 50 a second and a burst of 5 says on an answer: `left` tokens, the window not over.
    fn report(left: u64) -> crate::RateLimitStatus {
        crate::RateLimitStatus {
            limit: Some(50),
            remaining: Some(left),
            reset: Some(Duration::ZERO),
            window: Some(Duration::from_secs(1)),
        }
    }

    /// A pacer that sent 20 a second for the second after `start`, each accepted 2 ms later.
    fn accepted_20_a_second(start: Instant) -> Pacer {
        let pacer = Pacer::default();
        send_20_a_second(&pacer, start);
        pacer
    }

    /// Sends 20 a second on `pacer` for the second after `start`, each accepted 2 ms later.
    fn send_20_a_second(pacer: &Pacer, start: Instant) {
        for i in 0..20 {
            let _ = pacer.reserve(start + ms(i * 50));
            pacer.answered_at(start + ms(i * 50 + 2));
        }
    }

    /// Sends 25 a second on `pacer` for the five seconds after `start`, each accepted, then meets a 429: the part of
    /// the rate reached that the 429 keeps.
    fn kept_after_five_seconds_at_25(pacer: &Pacer, start: Instant) -> f64 {
        for i in 0..125 {
            let sent = start + ms(i * 40);
            let _ = pacer.reserve(sent);
            pacer.answered_at(sent + ms(2));
        }
        let now = start + ms(5000);
        let reached = pacer.lock().recent.per_second(now);
        pacer.rate_limited(now, None);
        pacer.rate().unwrap() / reached
    }

    /// A pacer that sent and had accepted 20 a second, then met a 429 at `start` + 0.8 s, and another at 1 s which
    /// ended its first curve's doubling.
    fn paced(start: Instant) -> Pacer {
        let pacer = accepted_20_a_second(start);
        pacer.rate_limited(start + ms(800), None);
        pacer.rate_limited(start + ms(1000), None);
        pacer
    }

    /// A limiter that reports its budget nearly whole is not being used up: the rate doubles while it says so, and
    /// keeps what it gained when it stops saying so.
    #[test]
    fn a_budget_left_nearly_whole_doubles_the_rate_until_it_is_used() {
        let longest = Duration::from_secs(60);
        let start = Instant::now();
        let (pacer, twin) = (paced(start), paced(start));
        let from = start + ms(1100);
        let _ = (pacer.slot(from), twin.slot(from));
        let rate = pacer.rate().unwrap();
        pacer.budget(from, &report(5), longest);
        let _ = (pacer.slot(from + ms(400)), twin.slot(from + ms(400)));
        let (raised, plain) = (pacer.rate().unwrap(), twin.rate().unwrap());
        assert!((raised / rate - 2.0).abs() < 0.01, "doubled in 0.4 s: {rate} -> {raised}");
        assert!(plain < rate * 1.3, "the curve alone climbs slower: {rate} -> {plain}");
        // Nearly empty now: the rate gained is kept, and grows no faster than the curve from it.
        pacer.budget(from + ms(400), &report(2), longest);
        let _ = pacer.slot(from + ms(600));
        let kept = pacer.rate().unwrap();
        assert!(kept >= raised && kept < raised * 1.05, "kept {raised}, now {kept}");
        // A report below four fifths of the most it reported is not whole.
        twin.budget(from + ms(400), &report(5), longest);
        twin.budget(from + ms(410), &report(3), longest);
        let _ = twin.slot(from + ms(800));
        assert!(twin.rate().unwrap() < plain * 1.3, "{plain} -> {:?}", twin.rate());
    }

    /// In the opening, a limiter's report of what is left bounds the requests let go, less those still unanswered.
    #[test]
    fn the_opening_sends_no_more_than_the_limiter_has_left() {
        let longest = Duration::from_secs(60);
        let pacer = Pacer::default();
        let start = Instant::now();
        assert_eq!(pacer.slot(start), Slot::Send(Duration::ZERO));
        pacer.budget(start + ms(2), &report(1), longest);
        pacer.answered_at(start + ms(2));
        assert_eq!(pacer.slot(start + ms(2)), Slot::Send(Duration::ZERO));
        assert_eq!(pacer.slot(start + ms(2)), Slot::AskAgain(Pacer::OPENING_POLL), "one was left, two were allowed");
        pacer.budget(start + ms(3), &report(2), longest);
        pacer.answered_at(start + ms(3));
        assert_eq!(pacer.slot(start + ms(3)), Slot::Send(Duration::ZERO));
        assert_eq!(pacer.slot(start + ms(3)), Slot::Send(Duration::ZERO));
        assert_eq!(pacer.slot(start + ms(3)), Slot::AskAgain(Pacer::OPENING_POLL), "two were left, three allowed");
        // A report that came while two were unanswered leaves them out.
        pacer.budget(start + ms(4), &report(3), longest);
        pacer.answered_at(start + ms(4));
        assert_eq!(pacer.slot(start + ms(4)), Slot::Send(Duration::ZERO));
        assert_eq!(pacer.slot(start + ms(4)), Slot::Send(Duration::ZERO));
        assert_eq!(pacer.slot(start + ms(4)), Slot::AskAgain(Pacer::OPENING_POLL), "3 left, less 1 unanswered");
    }

    /// The first 429 paces to 70% of what the limiter accepted in the last second, not of what was sent.
    #[test]
    fn the_first_429_paces_to_less_than_was_accepted() {
        let pacer = Pacer::default();
        let start = Instant::now();
        // 40 requests sent in the last second, 20 of them accepted, then a 429 without Retry-After.
        for i in 0..40 {
            assert_eq!(pacer.reserve(start + ms(i * 25)), Duration::ZERO, "free until the server objects");
        }
        for i in 0..20 {
            pacer.answered_at(start + ms(i * 50));
        }
        let now = start + ms(1000);
        pacer.rate_limited(now, None);
        let rate = pacer.rate().unwrap();
        assert!((13.0..=15.0).contains(&rate), "{rate}");
        // The next requests go 1/rate apart.
        assert_eq!(pacer.reserve(now), Duration::ZERO);
        let second = pacer.reserve(now).as_secs_f64();
        assert!((second - 1.0 / rate).abs() < 0.01, "{second}");
        // A burst of 429s for requests sent together decreases once, within 150 ms.
        pacer.rate_limited(now + ms(10), None);
        pacer.rate_limited(now + ms(140), None);
        assert!((pacer.rate().unwrap() - rate).abs() < 1e-9);
        // A 429 past it is the rate still too high: it decreases again, to under where the curve began.
        pacer.rate_limited(now + ms(160), None);
        let again = pacer.rate().unwrap();
        assert!(again < rate * 0.9, "{rate} -> {again}");
    }

    /// Past its opening and before any 429, a pacer runs free, counting sends and answers without its lock: the first
    /// 429 reads what was counted as it reads its own record, and a 503 that asks to wait holds the calls again.
    #[test]
    fn a_pacer_running_free_counts_for_its_first_429_and_stops_for_a_hold() {
        let start = Instant::now();
        let sent_40_accepted_20 = || {
            let pacer = Pacer::default();
            for i in 0..40 {
                // As calls ask: within the opening one goes alone until answered, so each is answered at once.
                assert_eq!(pacer.slot(start + ms(i * 25)), Slot::Send(Duration::ZERO));
                if i % 2 == 0 {
                    pacer.answered_at(start + ms(i * 25));
                }
            }
            assert!(pacer.free.load(Ordering::Relaxed), "past the opening, nothing paces it");
            pacer
        };
        let pacer = sent_40_accepted_20();
        pacer.rate_limited(start + ms(1000), None);
        assert!(!pacer.free.load(Ordering::Relaxed));
        let rate = pacer.rate().unwrap();
        assert!((13.0..=15.0).contains(&rate), "20 a second accepted, 40 sent: {rate}");

        let pacer = sent_40_accepted_20();
        pacer.unavailable(start + ms(1000), Duration::from_secs(2));
        assert_eq!(pacer.slot(start + ms(1500)), Slot::Send(Duration::from_millis(1500)));
        assert_eq!(pacer.rate(), None, "a server down says nothing of its limit");
    }

    /// Threads count on their own while the pacer runs free, and their clocks and counts cross the first 429's:
    /// an answer whose clock read after the 429's, and an answer counted after the 429 had read the counts, are
    /// each counted once, as they were when every count took the lock. (Lost, they made the first estimate of a
    /// process that had few answers lower than it was.)
    #[test]
    fn answers_counted_on_their_threads_as_a_429_reads_the_counts_are_each_counted_once() {
        let start = Instant::now();
        let pacer = Pacer::default();
        for i in 0..10 {
            assert_eq!(pacer.slot(start + ms(i * 25)), Slot::Send(Duration::ZERO));
            pacer.answered_at(start + ms(i * 25));
        }
        assert!(pacer.free.load(Ordering::Relaxed));
        let refused = start + ms(300);
        // Its clock read after the 429's, its count made before the 429 is read.
        pacer.answered_at(refused + ms(9));
        pacer.rate_limited(refused, None);
        assert_eq!(pacer.lock().accepted.0.len(), 11, "the later clock's answer counts");
        // Counted on its thread's shard after the 429 read the shards: moved in by the thread that counted it.
        let tally = pacer.tally.get().unwrap();
        tally.note(refused + ms(1), false);
        let state = pacer.noted_while_free(tally, refused + ms(1)).expect("no longer free");
        assert_eq!(state.accepted.0.len(), 12, "the answer counted after the 429 read the counts");
        drop(state);
        let state = pacer.noted_while_free(tally, refused + ms(1)).expect("no longer free");
        assert_eq!(state.accepted.0.len(), 12, "each count is moved once");
    }

    /// A server unavailable for a while (a 503's `Retry-After`) holds every request until then, and says nothing of
    /// the limit: the rate stays as it was, paced or not.
    #[test]
    fn a_server_unavailable_for_a_while_holds_every_request_and_keeps_the_rate() {
        let start = Instant::now();
        let fresh = Pacer::default();
        fresh.unavailable(start, Duration::from_secs(1));
        assert_eq!(fresh.reserve(start + ms(200)), ms(800));
        assert_eq!(fresh.rate(), None, "not paced by a server that was down");
        let pacer = paced(start);
        let now = start + ms(1000);
        let rate = pacer.rate();
        pacer.unavailable(now, Duration::from_secs(2));
        assert_eq!(pacer.rate(), rate);
        assert_eq!(pacer.reserve(now), Duration::from_secs(2));
        // A shorter wait asked later does not shorten the hold.
        pacer.unavailable(now + ms(100), ms(500));
        assert!(pacer.reserve(now + ms(100)) >= ms(1900));
    }

    /// Answers of the first burst that come after its 429 (out of order) raise the first estimate; later answers
    /// do not.
    #[test]
    fn late_answers_of_the_first_burst_raise_the_first_estimate() {
        let pacer = Pacer::default();
        let start = Instant::now();
        for i in 0..16 {
            let _ = pacer.reserve(start + ms(i / 4));
        }
        pacer.answered_at(start + ms(2));
        pacer.rate_limited(start + ms(3), None);
        // A quarter of what was sent (16 in the tenth of a second the rate is measured over at least).
        let first = pacer.rate().unwrap();
        assert!((first - 40.0).abs() < 0.01, "{first}");
        for i in 0..12 {
            pacer.answered_at(start + ms(4 + i));
        }
        let raised = pacer.rate().unwrap();
        assert!(raised > first * 2.0, "{first} -> {raised}");
        // Past the burst, an answer is only counted.
        pacer.answered_at(start + ms(400));
        assert_eq!(pacer.rate(), Some(raised));
    }

    /// After a 429 (past the first curve's search) the rate comes back to the rate it had, in time (not with
    /// answers), then probes past it.
    #[test]
    fn the_rate_comes_back_to_its_peak_and_probes_past_it() {
        let start = Instant::now();
        let pacer = paced(start);
        let low = pacer.rate().unwrap();
        let peak = low / Pacer::DECREASE;
        let rate_at = |seconds: f64| {
            let _ = pacer.slot(start + ms(1000) + Duration::from_secs_f64(seconds));
            pacer.rate().unwrap()
        };
        // K = cbrt(peak (1 - β) / C): back at the peak then, above it later, faster and faster.
        let k = (peak * (1.0 - Pacer::DECREASE) / Pacer::GROWTH).cbrt();
        assert!(rate_at(k / 2.0) > low && rate_at(k / 2.0) < peak);
        assert!((rate_at(k) - peak).abs() < 0.01, "{} {peak}", rate_at(k));
        assert!(rate_at(k + 1.0) - peak < rate_at(k + 2.0) - rate_at(k + 1.0), "convex past the peak");
        // And doubling, once it has probed for a while without a 429: what others left is taken up in seconds.
        let doubled_twice = k + Pacer::PROBE_AFTER + 2.0 * Pacer::PROBE_DOUBLING;
        assert!(rate_at(doubled_twice) >= 4.0 * peak * 0.999, "{} {peak}", rate_at(doubled_twice));
    }

    /// A fresh pacer's first request goes alone; each accepted answer lets two more go; after the opening,
    /// requests go freely until a 429. `reserve` is not held.
    #[test]
    fn a_fresh_pacer_opens_as_a_slow_start() {
        let pacer = Pacer::default();
        let start = Instant::now();
        assert_eq!(pacer.slot(start), Slot::Send(Duration::ZERO));
        assert_eq!(pacer.slot(start), Slot::AskAgain(Pacer::OPENING_POLL), "the first goes alone");
        assert_eq!(pacer.reserve(start), Duration::ZERO, "reserve sends at the time given");
        pacer.answered_at(start + ms(2));
        assert_eq!(pacer.slot(start + ms(2)), Slot::Send(Duration::ZERO));
        assert_eq!(pacer.slot(start + ms(2)), Slot::Send(Duration::ZERO));
        assert_eq!(pacer.slot(start + ms(2)), Slot::AskAgain(Pacer::OPENING_POLL), "two per accepted answer");
        // A server that does not answer holds the others for the opening at most, once in the pacer's life.
        let open = start + Pacer::OPENING;
        for _ in 0..10 {
            assert_eq!(pacer.slot(open), Slot::Send(Duration::ZERO));
        }
        assert_eq!(pacer.rate(), None, "not paced");
    }

    /// A first 429 that finds most requests refused (others had taken the limit) starts at a quarter of what was
    /// sent, not at the slowest rate, and doubles from there until the next 429.
    #[test]
    fn a_first_burst_mostly_refused_starts_at_a_share_of_what_was_sent_and_doubles() {
        let pacer = Pacer::default();
        let start = Instant::now();
        for i in 0..8 {
            let _ = pacer.reserve(start + ms(i));
        }
        pacer.rate_limited(start + ms(10), None);
        let first = pacer.rate().unwrap();
        assert!((first - 20.0).abs() < 0.01, "8 sent in the tenth of a second: {first}");
        let _ = pacer.slot(start + ms(10) + ms(500));
        let later = pacer.rate().unwrap();
        assert!(later >= 4.0 * first * 0.999, "two doublings in half a second: {first} -> {later}");
        // The next 429 ends the doubling: the curve restarts under what was really sent, and stays under it for
        // a while (doubling on, it would be at 20 × 2⁶ by then).
        for i in 0..100 {
            let _ = pacer.reserve(start + ms(510 + i * 5));
        }
        let sent = pacer.lock().recent.per_second(start + ms(1010));
        pacer.rate_limited(start + ms(1010), None);
        let _ = pacer.slot(start + ms(1010) + ms(500));
        let after = pacer.rate().unwrap();
        assert!(after < sent, "no longer doubling: {sent} sent, {after} half a second after the 429");
    }

    /// A first 429 that finds the first requests mostly accepted (the limiter's burst spent, a few milliseconds in)
    /// says little of how fast the limiter refills: the curve doubles every [`Pacer::FIRST_SEARCH`] until the next
    /// 429, and that one's peak is the rate sent lately, not the last second's average of a rate that was doubling.
    #[test]
    fn a_first_curve_doubles_until_the_next_429_which_reads_the_rate_sent_lately() {
        let pacer = Pacer::default();
        let start = Instant::now();
        for i in 0..16 {
            let _ = pacer.reserve(start + ms(i / 8));
        }
        for _ in 0..12 {
            pacer.answered_at(start + ms(2));
        }
        let first_429 = start + ms(3);
        pacer.rate_limited(first_429, None);
        let first = pacer.rate().unwrap();
        // Sending at every slot the pacer gives, for a second.
        let mut now = first_429;
        while now < first_429 + ms(1000) {
            now += pacer.reserve(now);
        }
        let doubling = pacer.rate().unwrap();
        assert!(doubling >= first * 4.0 * 0.99, "two doublings in a second: {first} -> {doubling}");
        let second = pacer.lock().recent.per_second(now);
        pacer.rate_limited(now, None);
        let peak = pacer.lock().peak;
        assert!(peak > second * 1.3 && peak <= doubling, "{second} a second on average, {doubling} at the 429: {peak}");
    }

    /// A 429 takes less from a process refused rarely (few or none share its key: what it gives up goes to none)
    /// than from one refused often (many share it): 80% of the rate reached kept, against 70%.
    #[test]
    fn a_process_refused_rarely_gives_up_less_on_a_429() {
        let start = Instant::now();
        let after_five_seconds = |refused_at_first: u64| {
            let pacer = paced(start);
            // More 429s answering the first burst: counted, but one decrease.
            for i in 1..=refused_at_first {
                pacer.rate_limited(start + ms(1000 + i), None);
            }
            // Past the first peak (20).
            kept_after_five_seconds_at_25(&pacer, start + ms(1000))
        };
        let rarely = after_five_seconds(0);
        let often = after_five_seconds(20);
        assert!((rarely - Pacer::DECREASE_ALONE).abs() < 0.01, "1 refused in 125 accepted: kept {rarely}");
        assert!((often - Pacer::DECREASE).abs() < 0.01, "21 refused in 125 accepted: kept {often}");
    }

    /// Pacing forgotten (no 429 for [`Pacer::FORGET_AFTER`]), the 429s counted before are forgotten with it: a
    /// process refused often once, then alone behind the limiter, gives up as one refused rarely.
    #[test]
    fn the_429s_counted_are_forgotten_with_the_pacing() {
        let start = Instant::now();
        let pacer = paced(start);
        for i in 1..=20 {
            pacer.rate_limited(start + ms(1000 + i), None);
        }
        let again = start + ms(1000) + Pacer::FORGET_AFTER + ms(1000);
        let _ = pacer.slot(again);
        assert_eq!(pacer.rate(), None, "pacing forgotten");
        // A second at 20 a second and a first 429 again; then past the first peak.
        send_20_a_second(&pacer, again);
        pacer.rate_limited(again + ms(1000), None);
        let kept = kept_after_five_seconds_at_25(&pacer, again + ms(1000));
        assert!((kept - Pacer::DECREASE_ALONE).abs() < 0.01, "the 21 refused before forgotten: kept {kept}");
    }

    /// A 429 met below the last peak lowers the peak further (fast convergence): a process that grew into a share
    /// of the limit others now need gives more of it back.
    #[test]
    fn a_429_below_the_last_peak_gives_more_back() {
        let pacer = Pacer::default();
        let start = Instant::now();
        for i in 0..40 {
            pacer.answered_at(start + ms(i * 25));
        }
        pacer.rate_limited(start + ms(1000), None);
        let first = pacer.rate().unwrap();
        // Another 429 half a second later, below the peak: sending at the paced rate.
        let later = start + ms(1500);
        for i in 0..10 {
            let _ = pacer.reserve(start + ms(1000 + i * 50));
        }
        pacer.rate_limited(later, None);
        let second = pacer.rate().unwrap();
        assert!(second < first * Pacer::DECREASE * 1.01, "{first} -> {second}");
    }

    /// Waiters behind others are told to ask again rather than handed a slot at today's rate: when they ask, the
    /// rate that grew meanwhile spaces them.
    #[test]
    fn a_slot_far_off_is_asked_for_again() {
        let pacer = Pacer::default();
        let start = Instant::now();
        pacer.rate_limited(start + ms(1), None);
        assert_eq!(pacer.rate(), Some(Pacer::MIN_RATE), "nothing accepted: the slowest rate");
        let now = start + ms(2);
        assert_eq!(pacer.slot(now), Slot::Send(Duration::ZERO));
        // The next in line holds its slot, two seconds off at 0.5 a second; the one after is told to come back
        // when it may be next, rather than hold a slot four seconds off.
        let about_two = |wait: Duration| (1.99..=2.0).contains(&wait.as_secs_f64());
        assert!(matches!(pacer.slot(now), Slot::Send(wait) if about_two(wait)));
        let Slot::AskAgain(wait) = pacer.slot(now) else { panic!("held a slot 4 s off") };
        assert!(about_two(wait), "{wait:?}");
        // Far along the curve the rate has grown: once the held slot has passed, the next are closer together
        // than two seconds.
        let then = now + Duration::from_secs(3);
        let Slot::Send(first) = pacer.slot(then) else { panic!("next in line") };
        let Slot::Send(second) = pacer.slot(then) else { panic!("next in line") };
        assert!(second - first < Duration::from_secs(1), "{first:?} {second:?} at {:?}", pacer.rate());
        // `reserve` holds any slot, however far.
        let held = pacer.reserve(then);
        assert!(held > Duration::ZERO);
    }

    /// A limiter reporting one request left lowers a paced rate a little, once for a burst of such reports; two
    /// left, or a pacer not yet paced, change nothing.
    #[test]
    fn one_request_left_gives_up_a_little_of_the_rate() {
        let longest = Duration::from_secs(60);
        let start = Instant::now();
        let (pacer, twin) = (paced(start), paced(start));
        // Past the 429's burst.
        let from = start + ms(1200);
        pacer.budget(from, &report(1), longest);
        let _ = (pacer.slot(from + ms(10)), twin.slot(from + ms(10)));
        let (marked, plain) = (pacer.rate().unwrap(), twin.rate().unwrap());
        assert!((0.75..0.85).contains(&(marked / plain)), "a fifth given up: {plain} -> {marked}");
        // Another report of the same burst: counted once.
        pacer.budget(from + ms(60), &report(1), longest);
        twin.budget(from + ms(60), &report(2), longest);
        let _ = (pacer.slot(from + ms(70)), twin.slot(from + ms(70)));
        let (again, plain_again) = (pacer.rate().unwrap(), twin.rate().unwrap());
        assert!(again >= marked, "once for a burst: {marked} -> {again}");
        assert!(plain_again >= plain, "two left is not the limit met: {plain} -> {plain_again}");
        // Past the burst, it counts again.
        pacer.budget(from + ms(300), &report(1), longest);
        let _ = pacer.slot(from + ms(310));
        assert!(pacer.rate().unwrap() < again * 0.85, "{again} -> {:?}", pacer.rate());
        // Not paced yet: one left is no reason to start.
        let fresh = accepted_20_a_second(start);
        fresh.budget(start + ms(1000), &report(1), longest);
        let _ = fresh.slot(start + ms(1010));
        assert_eq!(fresh.rate(), None);
    }

    /// A limiter saying nothing is left lowers the rate as a 429 does, before any refusal, paced or not yet.
    #[test]
    fn an_empty_budget_lowers_the_rate_as_a_429_does() {
        let empty = crate::RateLimitStatus {
            limit: Some(50),
            remaining: Some(0),
            reset: Some(Duration::from_secs(1)),
            window: Some(Duration::from_secs(1)),
        };
        let start = Instant::now();
        let fresh = accepted_20_a_second(start);
        fresh.budget(start + ms(1000), &empty, Duration::from_secs(60));
        let paced = fresh.rate().expect("paced by an empty budget before any 429");
        assert!((13.0..=15.0).contains(&paced), "under the 20 a second accepted: {paced}");
        let pacer = Pacer::default();
        for i in 0..40 {
            pacer.answered_at(start + ms(i * 25));
        }
        pacer.rate_limited(start + ms(1000), None);
        // Back at the peak, then the limiter says nothing is left.
        let k = start + ms(1000) + Duration::from_secs(3);
        let _ = pacer.slot(k);
        let before = pacer.rate().unwrap();
        pacer.budget(k, &empty, Duration::from_secs(60));
        let _ = pacer.slot(k + ms(100));
        assert!(pacer.rate().unwrap() < before * 0.8, "{before} -> {:?}", pacer.rate());
    }

    #[test]
    fn pacing_stops_when_429s_stop() {
        let pacer = Pacer::default();
        let start = Instant::now();
        pacer.rate_limited(start, None);
        assert!(pacer.rate().is_some());
        let later = start + Pacer::FORGET_AFTER + ms(1);
        assert_eq!(pacer.reserve(later), Duration::ZERO);
        assert_eq!(pacer.rate(), None);
    }

    #[test]
    fn a_ceiling_spaces_requests_from_the_first_and_caps_the_rate_after_a_429() {
        let pacer = Pacer::with_ceiling(4.0, true);
        let start = Instant::now();
        let waits: Vec<Duration> = (0..3).map(|_| pacer.reserve(start)).collect();
        assert_eq!(waits, [ms(0), ms(250), ms(500)], "spaced from the first request: it never runs free");
        // A second later, still spaced.
        let later = start + Duration::from_secs(1);
        assert_eq!(pacer.reserve(later), ms(0));
        assert_eq!(pacer.reserve(later), ms(250));
        // After a 429 the curve's own rate (from 20 answers in 20 ms) is far above the ceiling: the spacing is not.
        for i in 0..20 {
            pacer.answered_at(later + ms(i));
        }
        pacer.rate_limited(later + ms(20), None);
        let mut last = pacer.reserve(later + ms(20));
        for _ in 0..200 {
            let next = pacer.reserve(later + ms(20));
            assert!(next - last >= ms(250) - Duration::from_nanos(1), "{last:?} then {next:?}");
            last = next;
        }
        assert!(pacer.rate().is_some_and(|rate| rate > 4.0), "the curve is above the ceiling: {:?}", pacer.rate());
    }

    #[test]
    fn a_ceiling_alone_only_spaces_requests() {
        let pacer = Pacer::with_ceiling(2.0, false);
        let start = Instant::now();
        pacer.rate_limited(start, Some(Duration::from_secs(10)));
        pacer.unavailable(start, Duration::from_secs(10));
        pacer.budget(start, &report(0), Duration::from_secs(60));
        assert_eq!(pacer.reserve(start), ms(0), "no 429, Retry-After or report holds it");
        assert_eq!(pacer.reserve(start), ms(500));
        assert_eq!(pacer.rate(), None);
        assert_eq!(pacer.ceiling_alone(), Some(2.0));
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
