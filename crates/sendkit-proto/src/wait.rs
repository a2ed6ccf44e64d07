//! Waiting for a job to finish: polls, each a [`Call`] of its own, within one deadline.

use std::time::{Duration, Instant};

use http::Response;
use sendkit_model::Job;

use crate::call::Call;
use crate::config::{setting, Config};
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
        crate::config::check_duration("poll_interval", self.first_poll)?;
        crate::config::check_duration("poll_interval", self.max_poll)?;
        Ok(())
    }
}

/// Waiting for a job to reach a terminal status (`completed`, `failed`, `cancelled`), as a [`Flow`]: it runs each
/// poll as a [`Call`] of its own (with its retries), reports each job a poll returns as [`Step::Progress`], and
/// sleeps between polls.
///
/// - A poll that fails for a passing reason (rate limited, a 5xx, a timeout or lost connection, each already
///   retried by the poll's own call) does not end the wait; any other error does at once (401, 403, 404, a TLS
///   failure, invalid input): polling cannot fix those.
/// - Time is measured on the monotonic clock. Every poll and every pause is clamped to what is left of the timeout,
///   so the wait ends within it. Past it, the wait ends with [`Error::WaitTimedOut`], carrying the last job seen
///   and the last poll's error.
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
/// assert!(matches!(wait.receive(Ok(running), now), Step::Progress(job) if job.id == "job_1"));
/// assert!(matches!(wait.next(now), Step::Sleep(pause) if pause == Duration::from_secs(1)));
/// ```
#[derive(Debug)]
pub struct WaitForJob<'c> {
    job_id: String,
    config: &'c Config,
    policy: WaitPolicy,
    started: Option<Instant>,
    deadline: Option<Instant>,
    interval: Duration,
    poll: Option<Call<'c, GetJob>>,
    /// A step decided already, handed out by the next call to `next` (after a progress report).
    queued: Option<Step<Job>>,
    last_job: Option<Job>,
    last_error: Option<Error>,
}

impl<'c> WaitForJob<'c> {
    /// Wait for the job with this ID, as `policy` says, with `config`'s settings for each poll.
    pub fn new(job_id: impl Into<String>, policy: WaitPolicy, config: &'c Config) -> Self {
        let interval = policy.first_poll;
        Self {
            job_id: job_id.into(),
            config,
            policy,
            started: None,
            deadline: None,
            interval,
            poll: None,
            queued: None,
            last_job: None,
            last_error: None,
        }
    }

    /// The last job a poll returned.
    pub fn last_job(&self) -> Option<&Job> {
        self.last_job.as_ref()
    }

    /// Passes the poll's steps on; a finished poll is read.
    fn forward(&mut self, step: Step<Job>, now: Now) -> Step<Job> {
        match step {
            Step::Done(result) => {
                self.poll = None;
                self.observe(result, now)
            }
            other => other,
        }
    }

    fn observe(&mut self, result: Result<Job, Error>, now: Now) -> Step<Job> {
        let asked = match result {
            Ok(job) if job.status.is_terminal() => {
                self.queued = Some(Step::Done(Ok(job.clone())));
                return Step::Progress(job);
            }
            Ok(job) => {
                self.last_job = Some(job.clone());
                self.last_error = None;
                self.queued = Some(Step::Progress(job));
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
        let started = self.started.unwrap_or(now.monotonic);
        let waited = now.monotonic.saturating_duration_since(started);
        let Some(left) = self.policy.timeout.checked_sub(waited).filter(|left| !left.is_zero()) else {
            self.queued = None;
            return Step::Done(Err(Error::WaitTimedOut {
                job_id: self.job_id.clone(),
                waited,
                last_job: self.last_job.take().map(Box::new),
                last_error: self.last_error.take().map(Box::new),
            }));
        };
        let pause = asked.unwrap_or(self.interval).min(left);
        self.interval = self.interval.saturating_add(self.interval / 2).min(self.policy.max_poll);
        match self.queued.take() {
            Some(progress) => {
                self.queued = Some(Step::Sleep(pause));
                progress
            }
            None => Step::Sleep(pause),
        }
    }
}

impl Flow for WaitForJob<'_> {
    type Output = Job;

    fn next(&mut self, now: Now) -> Step<Job> {
        if self.started.is_none() {
            if let Err(error) = self.policy.check() {
                return Step::Done(Err(error));
            }
            self.started = Some(now.monotonic);
            self.deadline = now.monotonic.checked_add(self.policy.timeout);
        }
        if let Some(step) = self.queued.take() {
            return step;
        }
        let config = self.config;
        let deadline = self.deadline;
        let job_id = &self.job_id;
        let poll = self.poll.get_or_insert_with(|| Call::new(GetJob::new(job_id.clone()), config).within(deadline));
        let step = poll.next(now);
        self.forward(step, now)
    }

    fn receive(&mut self, outcome: Result<Response<Vec<u8>>, TransportError>, now: Now) -> Step<Job> {
        let Some(poll) = self.poll.as_mut() else {
            return Step::Done(Err(Error::Internal { message: "a wait received an answer it did not ask for" }));
        };
        let step = poll.receive(outcome, now);
        self.forward(step, now)
    }
}

/// Failures that say nothing about the job: the next poll may well succeed.
fn passing(error: &Error) -> bool {
    match error {
        Error::Transport { source, .. } => source.kind() != TransportErrorKind::Tls,
        Error::RateLimited { .. } => true,
        other => other.status().is_some_and(|status| status.is_server_error()),
    }
}
