//! What a cancel of one job of a batch came to: the one place that decides that a job already cancelled is what
//! a cancel asks for.

use sendkit_model::{Job, JobStatus};

use crate::error::Error;

/// How a cancel succeeded, in a batch (`cancel_jobs`, `cancel_jobs_each`): the job was cancelled now, or it already
/// was. Either way the job is cancelled, which is what was asked, so a batch can be run again. Every other outcome
/// is an [`Error`]: not cancellable because it finished ([`Error::NotCancellable`] with its status), may have taken
/// effect ([`Error::may_have_taken_effect`]), or did not.
///
/// ```
/// use sendkit_proto::model::{Job, JobStatus, JobType};
/// use sendkit_proto::CancelOutcome;
///
/// let job = Job::new("job_1", JobType::EmailVerification, JobStatus::Cancelled);
/// let outcome = CancelOutcome::of(Ok(job)).unwrap();
/// assert!(matches!(outcome, CancelOutcome::Cancelled(_)));
/// assert_eq!(outcome.job().unwrap().id, "job_1");
/// ```
#[derive(Debug)]
#[non_exhaustive]
// The large variant is the common one: boxing the job would allocate for every cancel to save bytes on the rare
// one.
#[allow(clippy::large_enum_variant)]
pub enum CancelOutcome {
    /// This call cancelled the job (or a read after an attempt that may have done it showed it cancelled): the
    /// job as the server returned it.
    Cancelled(Job),
    /// The job was cancelled before this call, and nothing of this call may have done it: nothing changed. The
    /// API's refusal that says so (400 `VALIDATION_ERROR`, status `cancelled`) is kept for its request ID and words.
    AlreadyCancelled(Box<Error>),
}

impl CancelOutcome {
    /// A cancel's result as a batch reports it: a refusal naming the job as already cancelled becomes
    /// [`CancelOutcome::AlreadyCancelled`]; anything else that failed stays an error.
    pub fn of(result: Result<Job, Error>) -> Result<Self, Error> {
        match result {
            Ok(job) => Ok(Self::Cancelled(job)),
            Err(error @ Error::NotCancellable { job_status: Some(JobStatus::Cancelled), .. })
                if !error.may_have_taken_effect() =>
            {
                Ok(Self::AlreadyCancelled(Box::new(error)))
            }
            Err(error) => Err(error),
        }
    }

    /// The job, when this call cancelled it.
    pub fn job(&self) -> Option<&Job> {
        match self {
            Self::Cancelled(job) => Some(job),
            Self::AlreadyCancelled(_) => None,
        }
    }
}
