//! The observer hook: every attempt of every call, with the OpenTelemetry HTTP names' facts, and never the key,
//! through every transport (the hook is proto's, so a transport of a user's own gets it too).

use std::sync::{Arc, Mutex};

use sendkit_mock::{Fault, MockServer, Route};
use sendkit_model::{Job, JobStatus, JobType};
use sendkit_proto::{AttemptRecord, Observer};
use sendkit_tests::{settings, Connect};

/// What a log line of each attempt would say.
#[derive(Clone, Default)]
struct Recorded(Arc<Mutex<Vec<String>>>);

impl Observer for Recorded {
    fn attempt(&self, record: &AttemptRecord<'_>) {
        let line = format!(
            "{} {} {} {} attempt={} status={:?} error.type={:?} request={:?} retry={} debug={record:?}",
            record.operation,
            record.job_id.unwrap_or("-"),
            record.method,
            record.url,
            record.attempt,
            record.status.map(|status| status.as_u16()),
            record.error_type(),
            record.request_id,
            record.retry_in.is_some(),
        );
        self.0.lock().unwrap().push(line);
    }
}

fn every_attempt_is_observed(connect: Connect) {
    let server = MockServer::start();
    server.insert_job(Job::new("job_1", JobType::EmailVerification, JobStatus::Pending));
    server.inject(Fault::status(429).on(Route::Cancel).times(1));
    let recorded = Recorded::default();
    let config = settings(&server).observer(recorded.clone()).pacing(false).build().unwrap();
    connect(config).cancel_job("job_1").unwrap();
    let lines = recorded.0.lock().unwrap().clone();
    let url = format!("{}/v1/enrichment/jobs/job_1/cancel", server.base_url());
    assert_eq!(lines.len(), 2, "{lines:#?}");
    assert!(
        lines[0].starts_with(&format!(
            "cancel_job job_1 POST {url} attempt=1 status=Some(429) error.type=Some(\"429\") request=Some(\"req_1\") \
             retry=true"
        )),
        "{}",
        lines[0]
    );
    assert!(
        lines[1]
            .starts_with(&format!("cancel_job job_1 POST {url} attempt=2 status=Some(200) error.type=None request=Some(\"req_2\") retry=false")),
        "{}",
        lines[1]
    );
    for line in &lines {
        assert!(!line.contains(server.api_key()), "the key is never observed: {line}");
    }
}

sendkit_tests::through_every_transport!(every_attempt_is_observed);
