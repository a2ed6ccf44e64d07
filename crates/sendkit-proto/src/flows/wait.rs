//! Waiting for a job to finish: polls, each a [`Call`] of its own, within one deadline.

use std::time::{Duration, Instant};

use http::Response;
use sendkit_model::Job;

use crate::call::Call;
use crate::check::{check_duration, setting};
use crate::config::Config;
use crate::error::Error;
use crate::flow::{Flow, Now, Step};
use crate::get_job::GetJob;
use crate::transport::{TransportError, TransportErrorKind};

/// How to wait for a job to finish: how long in all, and how often to look.
///
/// Polls start `first` apart and grow by half each time up to `max`: quick jobs are seen finishing quickly, long
/// ones do not cost a request a second. A `Retry-After` from the server overrides the interval.
///
/// ```
/// use std::time::Duration;
/// use sendkit_proto::WaitPolicy;
///
/// let policy = WaitPolicy::default()
///     .timeout(Duration::from_secs(120))
///     .poll_interval(Duration::from_millis(500), Duration::from_secs(5));
/// # let _ = policy;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitPolicy {
    timeout: Duration,
    first_poll: Duration,
    max_poll: Duration,
}

impl Default for WaitPolicy {
    /// Up to 10 minutes, polling from every second up to every 15 seconds.
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(600),
            first_poll: Duration::from_secs(1),
            max_poll: Duration::from_secs(15),
        }
    }
}

impl WaitPolicy {
    /// The longest a job is waited for (more than zero, at most 7 days: jobs expire after 7 days).
    pub const MAX_TIMEOUT: Duration = Duration::from_secs(7 * 24 * 60 * 60);

    /// The longest to wait in all.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The first interval between polls, and the most it grows to. Each must be more than zero and at most a day;
    /// a wait with an interval outside that ends at once with [`Error::InvalidInput`].
    pub fn poll_interval(mut self, first: Duration, max: Duration) -> Self {
        self.first_poll = first;
        self.max_poll = max.max(first);
        self
    }

    fn check(&self) -> Result<(), Error> {
        if self.timeout.is_zero() || self.timeout > Self::MAX_TIMEOUT {
            return Err(setting("wait timeout", format!("{:?} is not between zero and 7 days", self.timeout)).into());
        }
        check_duration("poll_interval", self.first_poll)?;
        check_duration("poll_interval", self.max_poll)?;
        Ok(())
    }
}

/// Waiting for a job to reach a terminal status (`completed`, `failed`, `cancelled`), as a [`Flow`]: it runs each
/// poll as a [`Call`] of its own (with its retries), hands out each job that changed through
/// [`Flow::take_progress`], and sleeps between polls.
///
/// - A poll that fails for a passing reason (rate limited, a 5xx, a timeout or lost connection, each already
///   retried by the poll's own call) does not end the wait; any other error ends it at once, as that error: a host
///   that does not resolve, a TLS failure, 401, 403, 404, invalid input. Polling cannot fix those.
/// - Time is measured on the monotonic clock. Every poll and every pause is clamped to what is left of the timeout,
///   and a poll with less than [`WaitForJob::MIN_POLL_TIME`] left is not sent: past that point the wait ends with
///   [`Error::WaitTimedOut`], carrying the last job seen and, as its `source()`, the last poll's error.
///
/// ```
/// use std::time::{Duration, Instant, SystemTime};
/// use sendkit_proto::{Config, Flow, Now, Step, WaitForJob, WaitPolicy};
///
/// let config = Config::builder("sk_live_0123456789").build().unwrap();
/// let mut wait = WaitForJob::new("job_1", WaitPolicy::default(), &config);
/// let now = Now::new(Instant::now(), SystemTime::now());
/// let Step::Send(attempt) = wait.next(now) else { panic!() };
/// assert_eq!(attempt.request.uri().path(), "/v1/enrichment/jobs/job_1");
/// let body = br#"{"success":true,"data":{"id":"job_1","type":"email_verification","status":"processing"}}"#;
/// let running = http::Response::builder().status(200).body(body.to_vec()).unwrap();
/// assert!(matches!(wait.receive(Ok(running), now), Step::Sleep(pause) if pause == Duration::from_secs(1)));
/// assert_eq!(wait.take_progress().unwrap().status.to_string(), "processing");
/// assert!(wait.take_progress().is_none(), "each change is handed out once");
/// ```
#[derive(Debug)]
pub struct WaitForJob<'c> {
    job_id: String,
    config: &'c Config,
    policy: WaitPolicy,
    /// The policy was checked, on the first step.
    checked: bool,
    started: Option<Instant>,
    deadline: Option<Instant>,
    interval: Duration,
    poll: Option<Call<'c, GetJob>>,
    /// A job that changed, not yet handed out.
    progress: Option<Job>,
    last_job: Option<Job>,
    last_error: Option<Error>,
}

impl<'c> WaitForJob<'c> {
    /// A poll is not sent with less than this left of the wait: it could not finish, and its failure would be
    /// blamed for the wait's end.
    pub const MIN_POLL_TIME: Duration = Duration::from_millis(100);

    /// Wait for the job with this ID, as `policy` says, with `config`'s settings for each poll.
    pub fn new(job_id: impl Into<String>, policy: WaitPolicy, config: &'c Config) -> Self {
        let interval = policy.first_poll;
        Self {
            job_id: job_id.into(),
            config,
            policy,
            checked: false,
            started: None,
            deadline: None,
            interval,
            poll: None,
            progress: None,
            last_job: None,
            last_error: None,
        }
    }

    /// The same wait, its timeout counted from `start` rather than from its first step: what waiting for many
    /// jobs with a few workers needs, so that the timeout bounds the whole call and not each job from when a worker
    /// first picks it up.
    pub fn since(mut self, start: Instant) -> Self {
        self.started = Some(start);
        self.deadline = start.checked_add(self.policy.timeout);
        self
    }

    /// The least time a poll needs: [`WaitForJob::MIN_POLL_TIME`], or the attempt timeout when it is shorter.
    fn min_poll_time(&self) -> Duration {
        Self::MIN_POLL_TIME.min(self.config.attempt_timeout())
    }

    fn left(&self, now: Instant) -> Duration {
        self.deadline.map_or(Duration::MAX, |deadline| deadline.saturating_duration_since(now))
    }

    fn timed_out(&mut self, now: Instant) -> Step<Job> {
        // The wait used up its timeout: the last moments were too few for a poll that could finish, and saying
        // "within 2.9s" of a 3 s timeout would only puzzle.
        let waited = now.saturating_duration_since(self.started.unwrap_or(now));
        let waited = if waited + self.min_poll_time() >= self.policy.timeout { self.policy.timeout } else { waited };
        Step::Done(Err(Error::WaitTimedOut {
            job_id: self.job_id.clone(),
            waited,
            last_job: self.last_job.take().map(Box::new),
            last_error: self.last_error.take().map(Box::new),
        }))
    }

    /// Passes the poll's steps on; a finished poll is read.
    fn poll_step(&mut self, step: Step<Job>, now: Now) -> Step<Job> {
        match step {
            Step::Done(result) => {
                self.poll = None;
                self.after_poll(result, now)
            }
            other => other,
        }
    }

    fn after_poll(&mut self, result: Result<Job, Error>, now: Now) -> Step<Job> {
        let asked = match result {
            Ok(job) => {
                if self.last_job.as_ref() != Some(&job) {
                    self.progress = Some(job.clone());
                }
                if job.status.is_terminal() {
                    return Step::Done(Ok(job));
                }
                self.last_job = Some(job);
                self.last_error = None;
                None
            }
            Err(error) if passing(&error) => {
                let asked = match &error {
                    Error::RateLimited { retry_after, .. } => *retry_after,
                    _ => None,
                };
                self.last_error = Some(error);
                asked
            }
            Err(error) => return Step::Done(Err(error)),
        };
        // Sleep only as long as leaves time for the next poll; with no time for one, the wait is over now.
        let Some(room) = self.left(now.monotonic).checked_sub(self.min_poll_time()) else {
            return self.timed_out(now.monotonic);
        };
        let pause = asked.unwrap_or(self.interval).min(room);
        self.interval = self.interval.saturating_add(self.interval / 2).min(self.policy.max_poll);
        Step::Sleep(pause)
    }
}

impl Flow for WaitForJob<'_> {
    type Output = Job;

    fn next(&mut self, now: Now) -> Step<Job> {
        if !self.checked {
            if let Err(error) = self.policy.check() {
                return Step::Done(Err(error));
            }
            self.checked = true;
        }
        let started = *self.started.get_or_insert(now.monotonic);
        if self.deadline.is_none() {
            self.deadline = started.checked_add(self.policy.timeout);
        }
        // With no more than a poll's least time left, no poll is sent: it could not finish. (`<=`, not `<`: a poll
        // that ends at once without sending, held back by the pacer, must not let the wait spin in place.)
        // A poll that has sent nothing yet (it slept for the pacer, and its worker came back late) is dropped too.
        let sent_nothing = self.poll.as_ref().is_none_or(|poll| poll.attempts() == 0);
        if sent_nothing && self.left(now.monotonic) <= self.min_poll_time() {
            self.poll = None;
            return self.timed_out(now.monotonic);
        }
        let (config, deadline, job_id) = (self.config, self.deadline, &self.job_id);
        let poll = self.poll.get_or_insert_with(|| Call::new(GetJob::new(job_id.clone()), config).within(deadline));
        let step = poll.next(now);
        self.poll_step(step, now)
    }

    fn receive(&mut self, outcome: Result<Response<Vec<u8>>, TransportError>, now: Now) -> Step<Job> {
        let Some(poll) = self.poll.as_mut() else {
            return Step::Done(Err(Error::Internal { message: "a wait received an answer it did not ask for" }));
        };
        let step = poll.receive(outcome, now);
        self.poll_step(step, now)
    }

    fn take_progress(&mut self) -> Option<Job> {
        self.progress.take()
    }
}

/// Failures that say nothing about the job: the next poll may well succeed. A name that does not resolve or a
/// TLS failure will not mend by asking again.
fn passing(error: &Error) -> bool {
    match error {
        Error::Transport { source, .. } => !matches!(
            source.kind(),
            TransportErrorKind::Tls | TransportErrorKind::Resolve | TransportErrorKind::ProxyAuth
        ),
        Error::RateLimited { .. } => true,
        other => other.status().is_some_and(|status| status.is_server_error()),
    }
}
