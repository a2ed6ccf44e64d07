use std::time::{Duration, SystemTime};

use sendkit_model::Job;

use crate::error::Error;
use crate::get_job::GetJob;

/// How to wait for a job to finish: how long in all, and how often to look.
///
/// Polls start `first_poll` apart and grow by half each time up to `max_poll`: quick jobs are seen finishing
/// quickly, long ones do not cost a request a second. A `Retry-After` from the server overrides the interval.
///
/// ```
/// use std::time::Duration;
/// use sendkit_proto::WaitPolicy;
///
/// let policy = WaitPolicy::default().timeout(Duration::from_secs(120)).poll_interval(Duration::from_millis(500), Duration::from_secs(5));
/// assert_eq!(policy.get_timeout(), Duration::from_secs(120));
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
    /// The longest to wait in all.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The first interval between polls, and the most it grows to.
    pub fn poll_interval(mut self, first: Duration, max: Duration) -> Self {
        self.first_poll = first;
        self.max_poll = max.max(first);
        self
    }

    /// The longest to wait in all.
    pub fn get_timeout(&self) -> Duration {
        self.timeout
    }
}

/// What an adapter does next while waiting for a job.
#[derive(Debug)]
#[must_use]
pub enum WaitStep {
    /// Wait `wait`, run `get` (as a [`Call`](crate::Call), with its retries) and hand its result to
    /// [`WaitForJob::observe`].
    Poll {
        /// The read to run.
        get: GetJob,
        /// How long to wait before it.
        wait: Duration,
    },
    /// The wait is over: the job in a terminal status, or why not.
    Done(Result<Job, Error>),
}

/// Waiting for a job to reach a terminal status (`completed`, `failed`, `cancelled`), sans IO: it says when to
/// poll, and reads each poll's result.
///
/// A poll that fails for a passing reason (rate limited, a 5xx, a transport failure, each already retried by the
/// poll's own `Call`) does not end the wait; any other error does. Past the timeout, the wait ends with
/// [`Error::WaitTimedOut`] carrying the last job seen.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use sendkit_proto::{WaitForJob, WaitPolicy, WaitStep};
/// use sendkit_proto::model::{Job, JobStatus, JobType};
///
/// let now = SystemTime::UNIX_EPOCH;
/// let mut wait = WaitForJob::new("job_1", WaitPolicy::default());
/// assert!(matches!(wait.start(now), WaitStep::Poll { wait, .. } if wait.is_zero()));
/// let running = Job::new("job_1", JobType::EmailVerification, JobStatus::Processing);
/// assert!(matches!(wait.observe(Ok(running), now), WaitStep::Poll { wait, .. } if wait == Duration::from_secs(1)));
/// let done = Job::new("job_1", JobType::EmailVerification, JobStatus::Completed);
/// assert!(matches!(wait.observe(Ok(done), now), WaitStep::Done(Ok(job)) if job.status == JobStatus::Completed));
/// ```
#[derive(Debug)]
pub struct WaitForJob {
    job_id: String,
    policy: WaitPolicy,
    started: Option<SystemTime>,
    interval: Duration,
    last: Option<Job>,
}

impl WaitForJob {
    /// Wait for the job with this ID, as `policy` says.
    pub fn new(job_id: impl Into<String>, policy: WaitPolicy) -> Self {
        let interval = policy.first_poll;
        Self { job_id: job_id.into(), policy, started: None, interval, last: None }
    }

    /// The last job a poll returned.
    pub fn last_job(&self) -> Option<&Job> {
        self.last.as_ref()
    }

    /// The first step, at `now`: poll at once.
    pub fn start(&mut self, now: SystemTime) -> WaitStep {
        self.started = Some(now);
        self.poll(Duration::ZERO)
    }

    /// Takes a poll's result at `now`, and says what comes next.
    pub fn observe(&mut self, result: Result<Job, Error>, now: SystemTime) -> WaitStep {
        let asked = match result {
            Ok(job) if job.status.is_terminal() => return WaitStep::Done(Ok(job)),
            Ok(job) => {
                self.last = Some(job);
                None
            }
            Err(Error::RateLimited { retry_after, .. }) => retry_after,
            Err(error) if passing(&error) => None,
            Err(error) => return WaitStep::Done(Err(error)),
        };
        let waited = now.duration_since(self.started.unwrap_or(now)).unwrap_or(Duration::ZERO);
        let Some(left) = self.policy.timeout.checked_sub(waited).filter(|left| !left.is_zero()) else {
            return WaitStep::Done(Err(Error::WaitTimedOut {
                job_id: self.job_id.clone(),
                waited,
                last_job: self.last.take().map(Box::new),
            }));
        };
        let wait = asked.unwrap_or(self.interval);
        self.interval = (self.interval + self.interval / 2).min(self.policy.max_poll);
        // One last look at the deadline rather than a wait past it.
        self.poll(wait.min(left))
    }

    fn poll(&self, wait: Duration) -> WaitStep {
        WaitStep::Poll { get: GetJob::new(self.job_id.clone()), wait }
    }
}

/// Failures that say nothing about the job: the next poll may well succeed.
fn passing(error: &Error) -> bool {
    match error {
        Error::Transport(_) => true,
        other => other.status().is_some_and(|status| status.is_server_error()),
    }
}
