use http::{Request, Response};
use sendkit_model::Job;

use crate::config::Config;
use crate::error::Error;
use crate::get_job::GetJob;

/// Whether sending an operation twice can do harm: decides which failures [`Call`](crate::Call) retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Idempotency {
    /// Sending it again cannot do harm (get, cancel): retried after any transient failure.
    Idempotent,
    /// Sending it again may charge twice (enrich): retried only when the server cannot have acted on it (a 429,
    /// a refused connection).
    NonIdempotent,
}

/// One call of the API, as a value: it builds its `http::Request` and parses the `http::Response`, and does no
/// I/O. Run it through an adapter, through [`Call`](crate::Call) in a loop of your own, or by hand with any HTTP
/// client:
///
/// ```
/// use sendkit_proto::{CancelJob, Config, Operation};
///
/// let config = Config::builder("sk_live_0123456789").build().unwrap();
/// let request = CancelJob::new("job_1").build_request(&config).unwrap();
/// assert_eq!(request.uri(), "https://api.sendkit.ai/v1/enrichment/jobs/job_1/cancel");
///
/// // ...send `request` with any HTTP client, then:
/// let response = http::Response::builder()
///     .status(200)
///     .body(br#"{"success":true,"data":{"id":"job_1","type":"email_verification","status":"cancelled"}}"#.to_vec())
///     .unwrap();
/// let job = CancelJob::new("job_1").parse_response(&response).unwrap();
/// assert!(job.status.is_terminal());
/// ```
pub trait Operation {
    /// What a successful call returns.
    type Output;

    /// The operation's name, as traces show it: `cancel_job`, `get_job`, `enrich`.
    fn name(&self) -> &'static str;

    /// The job the operation is about, if it is about one.
    fn job_id(&self) -> Option<&str> {
        None
    }

    /// Whether the operation may be sent twice.
    fn idempotency(&self) -> Idempotency;

    /// The request to send. Fails, before any I/O, on input the API could not take.
    fn build_request(&self, config: &Config) -> Result<Request<Vec<u8>>, Error>;

    /// The result the response stands for.
    fn parse_response<B: AsRef<[u8]>>(&self, response: &Response<B>) -> Result<Self::Output, Error>;

    /// When an earlier attempt may have been acted on and a later one failed with `error`, a read that may
    /// show the call succeeded after all. Only cancel has one: "already cancelled" after a lost answer.
    fn settle(&self, error: &Error) -> Option<Settle<Self::Output>> {
        let _ = error;
        None
    }
}

/// A read that settles a call whose outcome was unknown: get the job, and accept it as the call's result when it
/// shows the call took effect.
#[derive(Debug, Clone)]
pub struct Settle<T> {
    pub(crate) get: GetJob,
    pub(crate) accept: fn(Job) -> Option<T>,
}

impl<T> Settle<T> {
    /// Get `get`'s job; `accept` turns it into the call's result, or `None` when it does not show success.
    pub fn new(get: GetJob, accept: fn(Job) -> Option<T>) -> Self {
        Self { get, accept }
    }
}
