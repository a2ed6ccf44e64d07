use http::{Method, Request, Response};
use sendkit_model::{ErrorCode, Job, JobStatus};

use crate::config::Config;
use crate::error::Error;
use crate::operation::{Idempotency, Operation};
use crate::path::job_path;
use crate::response::parse_response;

/// `POST /v1/enrichment/jobs/{jobId}/cancel`: cancel a job that is `pending` or `processing`.
///
/// Returns the cancelled job. A job that is already `completed`, `failed` or `cancelled` is an
/// [`Error::NotCancellable`] naming its status. Sent as the API's page sends it: no body, with
/// `Content-Type: application/json`.
///
/// Cancel is safe to retry. Run through [`CancelJobFlow`](crate::CancelJobFlow) (as the clients' `cancel_job`
/// does), a cancel whose outcome is unknown is settled by reading the job.
///
/// ```
/// use sendkit_proto::{CancelJob, Config, Operation};
///
/// let config = Config::builder("sk_live_0123456789").build().unwrap();
/// let request = CancelJob::new("bulk_email_verification_1710000000000_abc1234").build_request(&config).unwrap();
/// assert_eq!(request.method(), "POST");
/// assert_eq!(request.headers()["content-type"], "application/json");
/// assert!(request.body().is_empty());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CancelJob {
    job_id: String,
}

impl CancelJob {
    /// Cancel the job with this ID. The ID is opaque: any string is sent as one path segment.
    pub fn new(job_id: impl Into<String>) -> Self {
        Self { job_id: job_id.into() }
    }

    /// The job ID.
    pub fn job_id(&self) -> &str {
        &self.job_id
    }
}

impl Operation for CancelJob {
    type Output = Job;

    fn name(&self) -> &'static str {
        "cancel_job"
    }

    fn job_id(&self) -> Option<&str> {
        Some(&self.job_id)
    }

    fn idempotency(&self) -> Idempotency {
        Idempotency::Idempotent
    }

    fn build_request(&self, config: &Config) -> Result<Request<Vec<u8>>, Error> {
        Ok(config.request(Method::POST, &job_path(&self.job_id, "/cancel")?, Some(Vec::new()))?)
    }

    fn parse_response<B: AsRef<[u8]>>(&self, response: &Response<B>) -> Result<Job, Error> {
        let job =
            crate::response::the_job_asked(response, &self.job_id, parse_response(response).map_err(not_cancellable)?)?;
        // A cancel's success answer that does not say `cancelled` is not a cancelled job: the server accepted the
        // request, so it may have taken effect, and the settling read finds out.
        if job.status != JobStatus::Cancelled {
            let message = format!("the cancel's answer says the job is {}, not cancelled", job.status);
            return Err(crate::response::decode_error(response, "data.status", &message));
        }
        Ok(job)
    }
}

fn not_cancellable(error: Error) -> Error {
    match error {
        Error::Api { call, answer }
            if answer.code == ErrorCode::ValidationError && answer.message.contains("cannot be cancelled") =>
        {
            let job_status = quoted_status(&answer.message);
            Error::NotCancellable { call, answer, job_status }
        }
        other => other,
    }
}

fn quoted_status(message: &str) -> Option<JobStatus> {
    let rest = &message[message.find("in status \"")? + "in status \"".len()..];
    let status = &rest[..rest.find('"')?];
    (!status.is_empty()).then(|| JobStatus::from(status))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_is_read_from_the_message() {
        assert_eq!(quoted_status(r#"Job cannot be cancelled in status "completed""#), Some(JobStatus::Completed));
        assert_eq!(
            quoted_status(r#"Job cannot be cancelled in status "archived""#),
            Some(JobStatus::Unknown("archived".into()))
        );
        assert_eq!(quoted_status(r#"Job cannot be cancelled in status """#), None);
        assert_eq!(quoted_status(r#"Job cannot be cancelled in status "completed"#), None);
        assert_eq!(quoted_status("Job cannot be cancelled"), None);
    }
}
