//! The model against the bodies the API documents.

use sendkit_model::{
    CreatedJob, EnrichResponse, ErrorCode, ErrorEnvelope, Job, JobMetadata, JobStatus, JobType, StatusErrorBody,
    SuccessEnvelope, Timestamp,
};

const GET_EXAMPLE: &str = r#"{"success": true, "data": {"id": "bulk_email_verification_1710000000000_abc1234",
  "type": "email_verification", "status": "pending", "metadata": {"totalItems": 100, "processedItems": 0,
  "successCount": 0, "failedCount": 0, "creditsUsed": 100}, "totalLeads": 100,
  "createdAt": "2025-03-19T10:00:00.000Z", "updatedAt": "2025-03-19T10:00:00.000Z",
  "startedAt": null, "completedAt": null}}"#;

#[test]
fn get_example_parses_every_field() {
    let envelope: SuccessEnvelope<Job> = serde_json::from_str(GET_EXAMPLE).unwrap();
    let job = envelope.data;
    assert_eq!(job.id, "bulk_email_verification_1710000000000_abc1234");
    assert_eq!(job.job_type, JobType::EmailVerification);
    assert_eq!(job.status, JobStatus::Pending);
    let metadata = job.metadata.as_ref().unwrap();
    assert_eq!((metadata.total_items, metadata.processed_items, metadata.credits_used), (100, 0, 100));
    assert_eq!(job.total_leads, Some(100));
    assert_eq!(job.created_at, Some("2025-03-19T10:00:00Z".parse::<Timestamp>().unwrap()));
    assert_eq!(job.started_at, None);
    assert_eq!(job.completed_at, None);
}

#[test]
fn job_writes_back_with_the_api_field_names_and_millisecond_timestamps() {
    let envelope: SuccessEnvelope<Job> = serde_json::from_str(GET_EXAMPLE).unwrap();
    let written = serde_json::to_value(&envelope.data).unwrap();
    let original: serde_json::Value = serde_json::from_str::<serde_json::Value>(GET_EXAMPLE).unwrap()["data"].clone();
    assert_eq!(written, original);
}

#[test]
fn timestamps_without_fraction_or_with_offset_parse() {
    let job: Job = serde_json::from_str(
        r#"{"id":"j","type":"x","status":"failed","updatedAt":"2025-03-19T12:01:00+02:00","completedAt":"2025-03-19T10:01:00Z"}"#,
    )
    .unwrap();
    assert_eq!(job.updated_at, job.completed_at);
    // Written back as the API writes timestamps: UTC, milliseconds.
    let written = serde_json::to_value(&job).unwrap();
    assert_eq!(written["updatedAt"], "2025-03-19T10:01:00.000Z");
    let bad = serde_json::from_str::<Job>(r#"{"id":"j","type":"x","status":"failed","updatedAt":"yesterday"}"#);
    assert!(bad.is_err());
}

#[test]
fn unknown_values_and_fields_are_kept_or_ignored() {
    let job: Job =
        serde_json::from_str(r#"{"id":"j","type":"phone_enrichment","status":"paused","priority":"high"}"#).unwrap();
    assert_eq!(job.job_type, JobType::Unknown("phone_enrichment".into()));
    assert_eq!(job.status, JobStatus::Unknown("paused".into()));
    assert!(!job.status.is_terminal() && !job.status.is_cancellable());
    let written = serde_json::to_value(&job).unwrap();
    assert_eq!(written["status"], "paused");
    assert_eq!(written["type"], "phone_enrichment");
}

#[test]
fn statuses_say_what_they_allow() {
    let cases = [
        ("pending", false, true),
        ("processing", false, true),
        ("completed", true, false),
        ("failed", true, false),
        ("cancelled", true, false),
    ];
    for (wire, terminal, cancellable) in cases {
        let status = JobStatus::from(wire);
        assert!(!matches!(status, JobStatus::Unknown(_)), "{wire}");
        assert_eq!(status.as_str(), wire);
        assert_eq!((status.is_terminal(), status.is_cancellable()), (terminal, cancellable), "{wire}");
    }
}

#[test]
fn enrich_example_parses() {
    let envelope: SuccessEnvelope<EnrichResponse> = serde_json::from_str(
        r#"{"success":true,"data":{"jobs":[{"jobId":"bulk_email_verification_1710000000000_abc1234",
        "type":"email_verification","status":"pending","totalItems":2,"creditsUsed":2}],
        "totalLeads":2,"totalCreditsCharged":2}}"#,
    )
    .unwrap();
    let expected = EnrichResponse::new(
        vec![CreatedJob::new(
            "bulk_email_verification_1710000000000_abc1234",
            JobType::EmailVerification,
            JobStatus::Pending,
            2,
            2,
        )],
        2,
        2,
    );
    assert_eq!(envelope.data, expected);
}

#[test]
fn both_error_shapes_parse() {
    let seed: ErrorEnvelope = serde_json::from_str(
        r#"{"success":false,"error":{"code":"VALIDATION_ERROR","message":"Job cannot be cancelled in status \"completed\""}}"#,
    )
    .unwrap();
    assert_eq!(seed.error.code, ErrorCode::ValidationError);
    assert_eq!(seed.error.message, r#"Job cannot be cancelled in status "completed""#);
    let other: StatusErrorBody =
        serde_json::from_str(r#"{"error":"Not Found","message":"The requested resource was not found","code":404}"#)
            .unwrap();
    assert_eq!(other.code, Some(404));
    assert_eq!(other.error, "Not Found");
}

#[test]
fn metadata_defaults_missing_counts_to_zero() {
    let metadata: JobMetadata = serde_json::from_str(r#"{"totalItems":5}"#).unwrap();
    assert_eq!(metadata, JobMetadata::new(5, 0));
}

/// Every example body of the seed page and the docs, read and written back: the same JSON value, field for field,
/// `null` where it was `null`, absent where it was absent.
#[test]
fn every_documented_body_round_trips_as_the_same_json_value() {
    fn round_trip<T: serde::de::DeserializeOwned + serde::Serialize>(body: &str) {
        let original: serde_json::Value = serde_json::from_str(body).unwrap();
        let parsed: T = serde_json::from_str(body).unwrap();
        assert_eq!(serde_json::to_value(&parsed).unwrap(), original, "{body}");
    }
    // The seed: cancel's answer (no totalLeads, createdAt or startedAt) and its two errors.
    round_trip::<SuccessEnvelope<Job>>(
        r#"{"success": true, "data": {"id": "bulk_email_verification_1710000000000_abc1234", "type": "email_verification",
        "status": "cancelled", "metadata": {"totalItems": 100, "processedItems": 0, "successCount": 0, "failedCount": 0,
        "creditsUsed": 100}, "updatedAt": "2025-03-19T10:01:00.000Z", "completedAt": "2025-03-19T10:01:00.000Z"}}"#,
    );
    round_trip::<ErrorEnvelope>(
        r#"{"success": false, "error": {"code": "VALIDATION_ERROR", "message": "Job cannot be cancelled in status \"completed\""}}"#,
    );
    round_trip::<ErrorEnvelope>(
        r#"{"success": false, "error": {"code": "NOT_FOUND", "message": "Job not found or expired"}}"#,
    );
    // The docs: get (with explicit nulls), enrich's request and answer, the other error shape.
    round_trip::<SuccessEnvelope<Job>>(GET_EXAMPLE);
    round_trip::<sendkit_model::EnrichRequest>(
        r#"{"leadIds": ["507f1f77bcf86cd799439011", "507f1f77bcf86cd799439012"],
        "enrichmentTypes": ["email", "phoneEnrichment", "segGateway", "espDetection"]}"#,
    );
    round_trip::<SuccessEnvelope<EnrichResponse>>(
        r#"{"success": true, "data": {"jobs": [{"jobId": "bulk_email_verification_1710000000000_abc1234",
        "type": "email_verification", "status": "pending", "totalItems": 2, "creditsUsed": 2}], "totalLeads": 2,
        "totalCreditsCharged": 2}}"#,
    );
    round_trip::<StatusErrorBody>(
        r#"{"error": "Not Found", "message": "The requested resource was not found", "code": 404}"#,
    );
}

#[test]
fn a_new_job_writes_only_what_is_set() {
    let job = Job::new("job_1", JobType::EmailVerification, JobStatus::Pending);
    assert_eq!(
        serde_json::to_string(&job).unwrap(),
        r#"{"id":"job_1","type":"email_verification","status":"pending"}"#
    );
    // A null and an absent field hold the same value: the jobs are equal.
    let with_null: Job =
        serde_json::from_str(r#"{"id":"job_1","type":"email_verification","status":"pending","startedAt":null}"#)
            .unwrap();
    assert_eq!(with_null, job);
    assert!(serde_json::to_string(&with_null).unwrap().ends_with(r#""startedAt":null}"#));
}

#[test]
fn unknown_fields_at_every_level_are_kept_and_written_back() {
    let job = r#"{"id":"job_1","type":"email_verification","status":"failed","error":"provider quota exceeded",
        "metadata":{"totalItems":10,"processedItems":4,"successCount":3,"failedCount":1,"creditsUsed":10,
        "refundedCredits":6,"breakdown":{"valid":3}},"priority":null}"#;
    let parsed: Job = serde_json::from_str(job).unwrap();
    assert_eq!(parsed.unknown.get("error").unwrap().get(), r#""provider quota exceeded""#);
    assert_eq!(parsed.metadata.as_ref().unwrap().unknown.get_as::<u64>("refundedCredits").unwrap().unwrap(), 6);
    let written: serde_json::Value = serde_json::to_value(&parsed).unwrap();
    assert_eq!(written, serde_json::from_str::<serde_json::Value>(job).unwrap(), "exactly what the API sent");

    let enrich = r#"{"jobs":[{"jobId":"j","type":"email","status":"pending","totalItems":1,"creditsUsed":1,
        "queuePosition":3}],"totalLeads":1,"totalCreditsCharged":1,"balanceAfter":99}"#;
    let parsed: sendkit_model::EnrichResponse = serde_json::from_str(enrich).unwrap();
    assert_eq!(parsed.unknown.get("balanceAfter").unwrap().get(), "99");
    assert_eq!(parsed.jobs[0].unknown.get("queuePosition").unwrap().get(), "3");
    let written = serde_json::to_value(&parsed).unwrap();
    assert_eq!(written, serde_json::from_str::<serde_json::Value>(enrich).unwrap());

    let error = r#"{"success":false,"error":{"code":"VALIDATION_ERROR","message":"bad","field":"leadIds"}}"#;
    let parsed: sendkit_model::ErrorEnvelope = serde_json::from_str(error).unwrap();
    assert_eq!(parsed.error.unknown.get_as::<String>("field").unwrap().unwrap(), "leadIds");
    assert_eq!(serde_json::to_value(&parsed).unwrap(), serde_json::from_str::<serde_json::Value>(error).unwrap());
}

/// What a map of values could not keep: numbers past f64 and 64 bits, `-0`, `1E2`, a lone surrogate, a duplicate
/// key. Each is kept as sent and written back to the byte, and none stops the job from being read.
#[test]
fn unknown_fields_are_kept_to_the_byte_and_never_break_a_job() {
    let job = r#"{"id":"job_1","type":"email_verification","status":"cancelled","f":1e400,"s":"\ud800x","big":18446744073709551617,"neg":-9223372036854775809,"z":-0,"e":1E2,"d":1,"d":2,"nested":{"a":[1.0,2e-5]}}"#;
    let parsed: Job = serde_json::from_str(job).expect("fields we do not know never break a job we can read");
    assert_eq!(parsed.status, sendkit_model::JobStatus::Cancelled);
    assert_eq!(serde_json::to_string(&parsed).unwrap(), job, "written back as the server sent it");
    assert_eq!(parsed.unknown.len(), 9, "a repeated name is kept each time");
    assert_eq!(parsed.unknown.get("z").unwrap().get(), "-0");
    // Inside the metadata, and in an enrich answer, the same.
    let metadata = r#"{"id":"j","type":"email_verification","status":"processing","metadata":{"totalItems":2,"processedItems":0,"successCount":0,"failedCount":0,"creditsUsed":0,"x":1E2}}"#;
    let parsed: Job = serde_json::from_str(metadata).unwrap();
    assert_eq!(serde_json::to_string(&parsed).unwrap(), metadata);
    // A known field that is wrong is still an error.
    assert!(serde_json::from_str::<Job>(r#"{"id":"j","type":"email_verification","status":7}"#).is_err());
}
