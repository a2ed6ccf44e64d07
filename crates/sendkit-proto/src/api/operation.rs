//! An API call as a value: the trait every operation implements.

use http::{Request, Response};

use crate::config::Config;
use crate::error::Error;

/// What sending an operation twice can do: decides which failures [`Call`](crate::Call) retries, and whether an
/// error may say the call took effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Idempotency {
    /// It changes nothing (get): retried after any passing failure, and never "may have taken effect".
    Safe,
    /// It changes something, and sending it again does no more harm (cancel): retried after any passing failure.
    Idempotent,
    /// Sending it again may do it twice (enrich charges credits): retried only when the server cannot have acted
    /// on it (a 429, a request that was never sent).
    NonIdempotent,
}

/// One call of the API, as a value: it builds its `http::Request` and parses the `http::Response`, and does no
/// I/O. Run it through a client, through [`Call`](crate::Call) in a loop of your own, or by hand with any HTTP
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

    /// The operation's name, as the client method that runs it and as traces and errors show it: `cancel_job`,
    /// `get_job`, `enrich`.
    fn name(&self) -> &'static str;

    /// The job the operation is about, if it is about one.
    fn job_id(&self) -> Option<&str> {
        None
    }

    /// What sending it twice can do.
    fn idempotency(&self) -> Idempotency;

    /// The request to send. Fails, before any I/O, on input the API could not take.
    fn build_request(&self, config: &Config) -> Result<Request<Vec<u8>>, Error>;

    /// The result the response stands for.
    fn parse_response<B: AsRef<[u8]>>(&self, response: &Response<B>) -> Result<Self::Output, Error>;
}
