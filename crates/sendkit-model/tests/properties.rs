//! Every model value survives a trip through its JSON form.

use proptest::prelude::*;
use sendkit_model::{
    CreatedJob, EnrichRequest, EnrichResponse, EnrichmentType, Job, JobMetadata, JobStatus, JobType, Timestamp,
};

fn status() -> impl Strategy<Value = JobStatus> {
    prop_oneof![
        Just(JobStatus::Pending),
        Just(JobStatus::Processing),
        Just(JobStatus::Completed),
        Just(JobStatus::Failed),
        Just(JobStatus::Cancelled),
        "[a-z_]{1,12}".prop_map(JobStatus::from),
    ]
}

fn job_type() -> impl Strategy<Value = JobType> {
    prop_oneof![Just(JobType::EmailVerification), "\\PC{0,20}".prop_map(JobType::from)]
}

/// Instants from 1970 to 2100, to the millisecond: the precision the API writes.
fn timestamp() -> impl Strategy<Value = Option<Timestamp>> {
    proptest::option::of((0i64..4_102_444_800_000).prop_map(|ms| Timestamp::from_millisecond(ms).unwrap()))
}

fn metadata() -> impl Strategy<Value = Option<JobMetadata>> {
    proptest::option::of(any::<[u64; 5]>().prop_map(|[total, processed, success, failed, credits]| {
        let mut metadata = JobMetadata::new(total, credits);
        metadata.processed_items = processed;
        metadata.success_count = success;
        metadata.failed_count = failed;
        metadata
    }))
}

prop_compose! {
    fn job()(
        id in "\\PC{0,40}",
        job_type in job_type(),
        status in status(),
        metadata in metadata(),
        total_leads in proptest::option::of(any::<u64>()),
        times in [timestamp(), timestamp(), timestamp(), timestamp()],
    ) -> Job {
        let mut job = Job::new(id, job_type, status);
        job.metadata = metadata;
        job.total_leads = total_leads;
        [job.created_at, job.updated_at, job.started_at, job.completed_at] = times;
        job
    }
}

fn enrichment_type() -> impl Strategy<Value = EnrichmentType> {
    prop_oneof![
        Just(EnrichmentType::Email),
        Just(EnrichmentType::PhoneEnrichment),
        Just(EnrichmentType::SegGateway),
        Just(EnrichmentType::EspDetection),
        "[a-zA-Z]{1,16}".prop_map(EnrichmentType::from),
    ]
}

proptest! {
    #[test]
    fn jobs_round_trip(job in job()) {
        let json = serde_json::to_string(&job).unwrap();
        prop_assert_eq!(serde_json::from_str::<Job>(&json).unwrap(), job);
    }

    #[test]
    fn enrich_requests_round_trip(
        leads in proptest::collection::vec("[0-9a-f]{24}", 0..5),
        types in proptest::collection::vec(enrichment_type(), 0..5),
    ) {
        let request = EnrichRequest::new(leads, types);
        let json = serde_json::to_string(&request).unwrap();
        prop_assert_eq!(serde_json::from_str::<EnrichRequest>(&json).unwrap(), request);
    }

    #[test]
    fn enrich_responses_round_trip(
        jobs in proptest::collection::vec(("\\PC{1,30}", job_type(), status(), any::<u64>(), any::<u64>()), 0..4),
        leads in any::<u64>(),
        charged in any::<u64>(),
    ) {
        let jobs = jobs.into_iter().map(|(id, t, s, items, credits)| CreatedJob::new(id, t, s, items, credits)).collect();
        let response = EnrichResponse::new(jobs, leads, charged);
        let json = serde_json::to_string(&response).unwrap();
        prop_assert_eq!(serde_json::from_str::<EnrichResponse>(&json).unwrap(), response);
    }
}
