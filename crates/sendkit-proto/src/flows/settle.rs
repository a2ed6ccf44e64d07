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
/// - it is this job, `completed` or `failed`: the cancel's error stands, saying the cancel did not take effect
///   (nothing can cancel a finished job, an abandoned attempt included);
/// - it is this job, still cancellable (`pending`, `processing`): a read proves what is true when it is read, not
///   what an attempt that timed out may still do, so the cancel is sent again (a cancel is safe to repeat, and
///   "already cancelled" settles it), and settled the same way, within the deadline and at most
///   [`CancelJobFlow::MAX_ROUNDS`] times; with no time left, the error says it may have taken effect, and what
///   the read saw;
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
    stage: Stage<'c>,
    /// The first error that may have taken effect: what the flow ends with unless a read or a later cancel
    /// settles it.
    unsettled: Option<Error>,
    /// When the first cancel must end by; every read and cancel after it keeps to it.
    deadline: Option<Instant>,
    /// Cancels sent again after a read showed the job still cancellable.
    rounds: u32,
    /// Requests sent by the calls that have ended.
    attempts_before: u32,
}

/// The call under way.
#[derive(Debug)]
enum Stage<'c> {
    Cancel(Call<'c, CancelJob>),
    Read(Call<'c, GetJob>),
}

impl<'c> CancelJobFlow<'c> {
    /// How many times the cancel is sent again after a read showed the job still cancellable.
    pub const MAX_ROUNDS: u32 = 3;

    /// Cancel the job with this ID with `config`'s settings, settling an unknown outcome by reading the job.
    pub fn new(job_id: impl Into<String>, config: &'c Config) -> Self {
        let job_id = job_id.into();
        let cancel = Call::new(CancelJob::new(job_id.clone()), config);
        Self {
            job_id,
            config,
            stage: Stage::Cancel(cancel),
            unsettled: None,
            deadline: None,
            rounds: 0,
            attempts_before: 0,
        }
    }

    /// How many requests have been sent so far, cancels and reads.
    pub fn attempts(&self) -> u32 {
        self.attempts_before
            + match &self.stage {
                Stage::Cancel(call) => call.attempts(),
                Stage::Read(call) => call.attempts(),
            }
    }

    /// Starts the next call of the flow, within the first cancel's deadline, and takes its first step.
    fn start(&mut self, stage: Stage<'c>, now: Now) -> Step<Job> {
        self.attempts_before = self.attempts();
        self.stage = stage;
        match &mut self.stage {
            Stage::Cancel(call) => {
                let step = call.next(now);
                self.after_cancel(step, now)
            }
            Stage::Read(call) => {
                let step = call.next(now);
                self.after_read(step, now)
            }
        }
    }

    fn read(&mut self, now: Now) -> Step<Job> {
        let read = Call::new(GetJob::new(self.job_id.clone()), self.config).within(self.deadline);
        self.start(Stage::Read(read), now)
    }

    /// What a cancel's step means: passed on, or, for an error that may hide a cancelled job, a read.
    fn after_cancel(&mut self, step: Step<Job>, now: Now) -> Step<Job> {
        if self.deadline.is_none() {
            if let Stage::Cancel(call) = &self.stage {
                self.deadline = call.deadline();
            }
        }
        let Step::Done(result) = step else { return step };
        let error = match result {
            Ok(job) => return Step::Done(Ok(job)),
            Err(error) => error,
        };
        let again = self.unsettled.is_some();
        match &error {
            // The cancel sent again found the job cancelled: by an earlier attempt of ours, or by now by anyone.
            // The read returns it.
            Error::NotCancellable { job_status: Some(JobStatus::Cancelled), .. } if again && self.time_left(now) => {
                self.read(now)
            }
            // The job finished: nothing of ours can still cancel it.
            Error::NotCancellable { job_status: Some(status), .. } if again && status.is_terminal() => {
                let status = status.clone();
                Step::Done(Err(self.take_unsettled(error).with_read_back(status)))
            }
            _ if error.may_have_taken_effect() || again => {
                if self.unsettled.is_none() {
                    self.unsettled = Some(error);
                }
                if self.time_left(now) {
                    self.read(now)
                } else {
                    Step::Done(Err(self.take_unsettled(Error::Internal { message: "settling without an error" })))
                }
            }
            _ => Step::Done(Err(error)),
        }
    }

    /// What a read's step means: passed on, or, once it is done, the cancel's result or another cancel.
    fn after_read(&mut self, step: Step<Job>, now: Now) -> Step<Job> {
        let Step::Done(read) = step else { return step };
        let unsettled =
            |flow: &mut Self| flow.take_unsettled(Error::Internal { message: "a settling read without its cancel" });
        match read {
            Ok(job) if job.id == self.job_id && job.status == JobStatus::Cancelled => Step::Done(Ok(job)),
            Ok(job) if job.id == self.job_id && job.status.is_terminal() => {
                Step::Done(Err(unsettled(self).with_read_back(job.status)))
            }
            // Still cancellable: an attempt that timed out may yet be carried out, so the read proves nothing.
            Ok(job) if job.id == self.job_id => {
                if self.rounds < Self::MAX_ROUNDS && self.time_left(now) {
                    self.rounds += 1;
                    let cancel = Call::new(CancelJob::new(self.job_id.clone()), self.config).within(self.deadline);
                    self.start(Stage::Cancel(cancel), now)
                } else {
                    Step::Done(Err(unsettled(self).with_seen(job.status)))
                }
            }
            // Another job, or no answer: nothing is settled, and the error still says it may have taken effect.
            _ => Step::Done(Err(unsettled(self))),
        }
    }

    fn take_unsettled(&mut self, otherwise: Error) -> Error {
        self.unsettled.take().unwrap_or(otherwise)
    }

    fn time_left(&self, now: Now) -> bool {
        self.deadline.is_none_or(|deadline| {
            deadline.checked_duration_since(now.monotonic).is_some_and(|left| left >= MIN_READ_TIME)
        })
    }
}

/// Less than this left of the deadline is no time for a read that could settle anything.
const MIN_READ_TIME: Duration = Duration::from_millis(1);

impl Flow for CancelJobFlow<'_> {
    type Output = Job;

    fn next(&mut self, now: Now) -> Step<Job> {
        match &mut self.stage {
            Stage::Read(read) => {
                let step = read.next(now);
                self.after_read(step, now)
            }
            Stage::Cancel(cancel) => {
                let step = cancel.next(now);
                self.after_cancel(step, now)
            }
        }
    }

    fn receive(&mut self, outcome: Result<Response<Vec<u8>>, TransportError>, now: Now) -> Step<Job> {
        match &mut self.stage {
            Stage::Read(read) => {
                let step = read.receive(outcome, now);
                self.after_read(step, now)
            }
            Stage::Cancel(cancel) => {
                let step = cancel.receive(outcome, now);
                self.after_cancel(step, now)
            }
        }
    }
}
