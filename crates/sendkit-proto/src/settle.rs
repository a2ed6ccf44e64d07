//! Cancelling a job so that the caller always learns where it stands: a cancel, then, when its outcome is
//! unknown, a read of the job.

use std::time::{Duration, Instant};

use http::Response;
use sendkit_model::{Job, JobStatus};

use crate::call::Call;
use crate::cancel_job::CancelJob;
use crate::config::Config;
use crate::error::Error;
use crate::flow::{Flow, Now, Step};
use crate::get_job::GetJob;
use crate::transport::TransportError;

/// A cancel that settles its own outcome, as a [`Flow`]: what the clients' `cancel_job` runs.
///
/// It runs a [`Call`] of [`CancelJob`]. When that call fails in a way that may have cancelled the job (an answer
/// lost, an answer the client could not read, a 5xx, or a refusal or rate limit after an earlier attempt that may
/// have gone through), it reads the job with a [`Call`] of [`GetJob`], within what is left of the cancel's
/// deadline, even after the cancel's last attempt:
///
/// - the job read back is this job, `cancelled`: the cancel succeeds with it;
/// - it is this job in another status: the cancel's error stands, saying the cancel did not take effect;
/// - the read fails, or names another job: the cancel's error stands, still saying it may have taken effect.
///
/// ```
/// use std::time::{Instant, SystemTime};
/// use sendkit_proto::{CancelJobFlow, Config, Delivery, Flow, Now, Step, TransportError, TransportErrorKind};
///
/// let config = Config::builder("sk_live_0123456789").build().unwrap();
/// let mut cancel = CancelJobFlow::new("job_1", &config);
/// let now = || Now::new(Instant::now(), SystemTime::now());
/// let cancelled = br#"{"success":true,"data":{"id":"job_1","type":"email_verification","status":"cancelled"}}"#;
/// let mut step = cancel.next(now());
/// let result = loop {
///     step = match step {
///         Step::Send(attempt) if attempt.request.method() == "POST" => {
///             // Every cancel's answer is lost: the server may have acted on it.
///             let lost = TransportError::new(TransportErrorKind::ConnectionLost, Delivery::MaybeSent);
///             cancel.receive(Err(lost), now())
///         }
///         Step::Send(_read) => {
///             let response = http::Response::builder().status(200).body(cancelled.to_vec()).unwrap();
///             cancel.receive(Ok(response), now())
///         }
///         Step::Sleep(_) => cancel.next(now()),
///         Step::Done(result) => break result,
///     };
/// };
/// assert_eq!(result.unwrap().status.to_string(), "cancelled");
/// ```
#[derive(Debug)]
pub struct CancelJobFlow<'c> {
    job_id: String,
    config: &'c Config,
    cancel: Call<'c, CancelJob>,
    /// The read of the job, and the cancel's error it may settle.
    read: Option<(Call<'c, GetJob>, Error)>,
}

impl<'c> CancelJobFlow<'c> {
    /// Cancel the job with this ID with `config`'s settings, settling an unknown outcome by reading the job.
    pub fn new(job_id: impl Into<String>, config: &'c Config) -> Self {
        let job_id = job_id.into();
        let cancel = Call::new(CancelJob::new(job_id.clone()), config);
        Self { job_id, config, cancel, read: None }
    }

    /// How many requests have been sent so far, cancels and the read.
    pub fn attempts(&self) -> u32 {
        self.cancel.attempts() + self.read.as_ref().map_or(0, |(read, _)| read.attempts())
    }

    /// What the cancel's step means: passed on, or, for an error that may hide a cancelled job, the read's first.
    fn after_cancel(&mut self, step: Step<Job>, now: Now) -> Step<Job> {
        match step {
            Step::Done(Err(error)) if error.may_have_taken_effect() && self.time_left(now.monotonic) => {
                let deadline = self.cancel.deadline();
                let mut read = Call::new(GetJob::new(self.job_id.clone()), self.config).within(deadline);
                let step = read.next(now);
                self.read = Some((read, error));
                self.after_read(step)
            }
            other => other,
        }
    }

    /// What the read's step means: passed on, or, once it is done, the cancel's result.
    fn after_read(&mut self, step: Step<Job>) -> Step<Job> {
        let Step::Done(read) = step else { return step };
        let Some((_, error)) = self.read.take() else {
            return Step::Done(Err(Error::Internal { message: "a settling read without its cancel" }));
        };
        Step::Done(match read {
            Ok(job) if job.id == self.job_id && job.status == JobStatus::Cancelled => Ok(job),
            Ok(job) if job.id == self.job_id => Err(error.with_read_back(job.status)),
            // Another job, or no answer: nothing is settled, and the error still says it may have taken effect.
            _ => Err(error),
        })
    }

    fn time_left(&self, now: Instant) -> bool {
        self.cancel
            .deadline()
            .is_none_or(|deadline| deadline.checked_duration_since(now).is_some_and(|left| left >= MIN_READ_TIME))
    }
}

/// Less than this left of the deadline is no time for a read that could settle anything.
const MIN_READ_TIME: Duration = Duration::from_millis(1);

impl Flow for CancelJobFlow<'_> {
    type Output = Job;

    fn next(&mut self, now: Now) -> Step<Job> {
        match &mut self.read {
            Some((read, _)) => {
                let step = read.next(now);
                self.after_read(step)
            }
            None => {
                let step = self.cancel.next(now);
                self.after_cancel(step, now)
            }
        }
    }

    fn receive(&mut self, outcome: Result<Response<Vec<u8>>, TransportError>, now: Now) -> Step<Job> {
        match &mut self.read {
            Some((read, _)) => {
                let step = read.receive(outcome, now);
                self.after_read(step)
            }
            None => {
                let step = self.cancel.receive(outcome, now);
                self.after_cancel(step, now)
            }
        }
    }
}
