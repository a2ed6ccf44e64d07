use http::{Method, Request, Response};
use sendkit_model::Job;

use crate::config::Config;
use crate::error::Error;
use crate::operation::{Idempotency, Operation};
use crate::path::job_path;
use crate::response::parse_response;

/// `GET /v1/enrichment/jobs/{jobId}`: a job's current status and progress. Jobs expire after 7 days.
///
/// ```
/// use sendkit_proto::{Config, GetJob, Operation};
///
/// let config = Config::builder("sk_live_0123456789").build().unwrap();
/// let request = GetJob::new("a/b?c#d").build_request(&config).unwrap();
/// assert_eq!(request.uri().path(), "/v1/enrichment/jobs/a%2Fb%3Fc%23d");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetJob {
    job_id: String,
}

impl GetJob {
    /// Get the job with this ID. The ID is opaque: any string is sent as one path segment.
    pub fn new(job_id: impl Into<String>) -> Self {
        Self { job_id: job_id.into() }
    }

    /// The job ID.
    pub fn job_id(&self) -> &str {
        &self.job_id
    }
}

/// The path of a job: `/v1/enrichment/jobs/{jobId}`, the ID encoded as one segment.
impl Operation for GetJob {
    type Output = Job;

    fn name(&self) -> &'static str {
        "get_job"
    }

    fn job_id(&self) -> Option<&str> {
        Some(&self.job_id)
    }

    fn idempotency(&self) -> Idempotency {
        Idempotency::Safe
    }

    fn build_request(&self, config: &Config) -> Result<Request<Vec<u8>>, Error> {
        Ok(config.request(Method::GET, &job_path(&self.job_id, "")?, None)?)
    }

    fn parse_response<B: AsRef<[u8]>>(&self, response: &Response<B>) -> Result<Job, Error> {
        crate::response::the_job_asked(response, &self.job_id, parse_response(response)?)
    }
}
