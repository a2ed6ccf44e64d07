//! Telemetry: every attempt of every call as one JSON line on standard output, named as the OpenTelemetry HTTP
//! client conventions name them, ready for a log pipeline or a metrics layer to count.
//!
//! ```text
//! cargo run -p sendkit-ureq --example telemetry
//! ```
//! It starts the emulator for itself, with a 503 on the first cancel, so that a retry shows.

use sendkit_mock::{Fault, MockServer, Route};
use sendkit_ureq::model::{Job, JobStatus, JobType};
use sendkit_ureq::proto::{AttemptRecord, Observer};
use sendkit_ureq::{Client, Config};

/// Prints each attempt as a JSON line.
struct JsonLines;

impl Observer for JsonLines {
    fn attempt(&self, record: &AttemptRecord<'_>) {
        let line = serde_json::json!({
            "sendkit.operation": record.operation,
            "sendkit.job_id": record.job_id,
            "http.request.method": record.method.as_str(),
            "url.full": record.url,
            "http.request.resend_count": record.attempt - 1,
            "http.response.status_code": record.status.map(|status| status.as_u16()),
            "error.type": record.error_type(),
            "sendkit.request_id": record.request_id,
            "duration_ms": record.took.as_secs_f64() * 1000.0,
            "sendkit.retry_in_ms": record.retry_in.map(|wait| wait.as_millis() as u64),
        });
        println!("{line}");
    }
}

fn main() {
    let server = MockServer::start();
    server.insert_job(Job::new("job_1", JobType::EmailVerification, JobStatus::Processing));
    server.inject(Fault::status(503).on(Route::Cancel).times(1));
    let config = Config::builder(server.api_key())
        .base_url(server.base_url())
        .observer(JsonLines)
        .build()
        .expect("valid settings");
    match Client::new(config).cancel_job("job_1") {
        Ok(job) => eprintln!("{} is {}", job.id, job.status),
        Err(error) => eprintln!("{error}"),
    }
}
