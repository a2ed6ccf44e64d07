//! The retry decisions of `Call`, driven with scripted outcomes and a fake clock.

use std::time::{Duration, SystemTime};

use sendkit_model::{EnrichRequest, EnrichmentType, Job, JobStatus};
use sendkit_proto::{
    Call, CancelJob, Config, Enrich, Error, GetJob, Operation, RetryPolicy, Step, TransportError, TransportErrorKind,
};

/// 2015-10-21T07:27:50Z.
fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_470)
}

fn config(retry: RetryPolicy) -> Config {
    Config::builder("sk_live_test").retry(retry).build().unwrap()
}

fn fixed() -> RetryPolicy {
    RetryPolicy::default().backoff(Duration::from_millis(100), Duration::from_secs(1)).without_jitter()
}

fn job_body(status: &str) -> Vec<u8> {
    format!(r#"{{"success":true,"data":{{"id":"job_1","type":"email_verification","status":"{status}"}}}}"#)
        .into_bytes()
}

fn answer(status: u16, headers: &[(&str, &str)], body: &[u8]) -> Result<http::Response<Vec<u8>>, Error> {
    let mut builder = http::Response::builder().status(status);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    Ok(builder.body(body.to_vec()).unwrap())
}

fn lost(kind: TransportErrorKind, reached_server: bool) -> Result<http::Response<Vec<u8>>, Error> {
    Err(Error::Transport(TransportError::new(kind, reached_server, "scripted")))
}

/// What a run did: each request's method and path with the wait before it, and the result.
struct Run<T> {
    sent: Vec<(String, Duration)>,
    result: Result<T, Error>,
}

/// Runs `operation`, answering its requests from `script` in order.
fn drive<O: Operation>(
    operation: O,
    config: &Config,
    script: Vec<Result<http::Response<Vec<u8>>, Error>>,
) -> Run<O::Output> {
    let mut call = Call::new(operation, config);
    let mut script = script.into_iter();
    let mut sent = Vec::new();
    let mut step = call.start();
    loop {
        match step {
            Step::Send { request, wait } => {
                sent.push((format!("{} {}", request.method(), request.uri().path()), wait));
                let outcome = script.next().expect("the call sent more requests than scripted");
                step = call.receive(outcome, now());
            }
            Step::Done(result) => {
                assert!(script.next().is_none(), "the call stopped before the script ran out");
                return Run { sent, result };
            }
        }
    }
}

const CANCEL: &str = "POST /v1/enrichment/jobs/job_1/cancel";
const GET: &str = "GET /v1/enrichment/jobs/job_1";
const ENRICH: &str = "POST /v1/enrichment/enrich";

fn enrich() -> Enrich {
    Enrich::new(EnrichRequest::new(["507f1f77bcf86cd799439011"], [EnrichmentType::Email]))
}

const ENRICHED: &[u8] = br#"{"success":true,"data":{"jobs":[],"totalLeads":1,"totalCreditsCharged":1}}"#;

fn waits<T>(run: &Run<T>) -> Vec<Duration> {
    run.sent.iter().map(|(_, wait)| *wait).collect()
}

#[test]
fn retry_after_in_seconds_then_success() {
    let run = drive(
        CancelJob::new("job_1"),
        &config(fixed()),
        vec![answer(429, &[("retry-after", "2")], b""), answer(200, &[], &job_body("cancelled"))],
    );
    assert_eq!(waits(&run), [Duration::ZERO, Duration::from_secs(2)]);
    assert_eq!(run.result.unwrap().status, JobStatus::Cancelled);
}

#[test]
fn retry_after_as_a_date_is_measured_from_now() {
    let run = drive(
        GetJob::new("job_1"),
        &config(fixed()),
        vec![
            answer(503, &[("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT")], b""),
            answer(200, &[], &job_body("pending")),
        ],
    );
    assert!(run.result.is_ok(), "{:?}", run.result);
    assert_eq!(waits(&run), [Duration::ZERO, Duration::from_secs(10)]);
}

#[test]
fn garbage_retry_after_falls_back_to_backoff() {
    let run = drive(
        GetJob::new("job_1"),
        &config(fixed()),
        vec![
            answer(429, &[("retry-after", "whenever")], b""),
            answer(502, &[], b"<html>bad gateway</html>"),
            answer(200, &[], &job_body("pending")),
        ],
    );
    assert!(run.result.is_ok(), "{:?}", run.result);
    assert_eq!(waits(&run), [Duration::ZERO, Duration::from_millis(100), Duration::from_millis(200)]);
}

#[test]
fn gives_up_after_max_attempts_with_the_last_error() {
    let run = drive(
        CancelJob::new("job_1"),
        &config(fixed()),
        vec![answer(503, &[], b""), answer(504, &[], b""), answer(502, &[], b"")],
    );
    assert_eq!(run.result.unwrap_err().status().map(|s| s.as_u16()), Some(502));
    assert_eq!(run.sent.len(), 3);
}

#[test]
fn retries_off() {
    let run = drive(CancelJob::new("job_1"), &config(RetryPolicy::none()), vec![answer(503, &[], b"")]);
    assert!(matches!(run.result, Err(Error::UnexpectedResponse { .. })));
    let run = run_many_429(RetryPolicy::none());
    assert_eq!(run.sent.len(), 1);
}

fn run_many_429(policy: RetryPolicy) -> Run<Job> {
    drive(CancelJob::new("job_1"), &config(policy), vec![answer(429, &[("retry-after", "1")], b"")])
}

#[test]
fn a_longer_retry_after_than_allowed_ends_the_call_with_the_delay() {
    let run = drive(
        CancelJob::new("job_1"),
        &config(fixed().max_retry_after(Duration::from_secs(30))),
        vec![answer(429, &[("retry-after", "Wed, 21 Oct 2015 08:27:50 GMT")], b"")],
    );
    let error = run.result.unwrap_err();
    assert!(
        matches!(error, Error::RateLimited { retry_after: Some(d), .. } if d == Duration::from_secs(3600)),
        "{error:?}"
    );
}

#[test]
fn not_found_and_client_errors_are_not_retried() {
    let body = br#"{"success":false,"error":{"code":"NOT_FOUND","message":"Job not found or expired"}}"#;
    let run = drive(CancelJob::new("job_1"), &config(fixed()), vec![answer(404, &[], body)]);
    assert!(matches!(run.result, Err(Error::NotFound { .. })));
    let run = drive(CancelJob::new("job_1"), &config(fixed()), vec![lost(TransportErrorKind::Tls, false)]);
    assert!(matches!(run.result, Err(Error::Transport(t)) if t.kind() == TransportErrorKind::Tls));
}

#[test]
fn enrich_is_retried_only_when_the_server_cannot_have_acted() {
    // A refused connection and a 429 are safe to repeat.
    let run_ok = drive(
        enrich(),
        &config(fixed()),
        vec![lost(TransportErrorKind::Connect, false), answer(429, &[], b""), answer(200, &[], ENRICHED)],
    );
    assert_eq!(run_ok.result.unwrap().total_credits_charged, 1);
    assert_eq!(run_ok.sent.iter().filter(|(path, _)| path == ENRICH).count(), 3);
    // A 503, a timeout or a dropped connection may have been charged: not sent again.
    for outcome in [
        answer(503, &[("retry-after", "1")], b""),
        lost(TransportErrorKind::Timeout, true),
        lost(TransportErrorKind::Io, true),
    ] {
        let run = drive(enrich(), &config(fixed()), vec![outcome]);
        assert_eq!(run.sent.len(), 1);
        assert!(run.result.is_err());
    }
    let run = drive(enrich(), &config(fixed()), vec![lost(TransportErrorKind::Io, true)]);
    let message = run.result.unwrap_err().to_string();
    assert!(message.contains("outcome is unknown"), "{message}");
}

#[test]
fn cancel_is_retried_after_a_lost_answer() {
    let run = drive(
        CancelJob::new("job_1"),
        &config(fixed()),
        vec![
            lost(TransportErrorKind::Timeout, true),
            lost(TransportErrorKind::Io, true),
            answer(200, &[], &job_body("cancelled")),
        ],
    );
    assert!(run.result.is_ok(), "{:?}", run.result);
    assert_eq!(waits(&run), [Duration::ZERO, Duration::from_millis(100), Duration::from_millis(200)]);
}

const ALREADY_CANCELLED: &[u8] =
    br#"{"success":false,"error":{"code":"VALIDATION_ERROR","message":"Job cannot be cancelled in status \"cancelled\""}}"#;

#[test]
fn a_lost_cancel_that_took_effect_succeeds_with_the_job() {
    let run = drive(
        CancelJob::new("job_1"),
        &config(fixed()),
        vec![
            lost(TransportErrorKind::Io, true),
            answer(400, &[], ALREADY_CANCELLED),
            answer(200, &[], &job_body("cancelled")),
        ],
    );
    let sent: Vec<&str> = run.sent.iter().map(|(path, _)| path.as_str()).collect();
    assert_eq!(sent, [CANCEL, CANCEL, GET]);
    assert_eq!(run.result.unwrap().status, JobStatus::Cancelled);
}

#[test]
fn already_cancelled_without_a_lost_answer_is_an_error() {
    let run = drive(CancelJob::new("job_1"), &config(fixed()), vec![answer(400, &[], ALREADY_CANCELLED)]);
    let error = run.result.unwrap_err();
    assert!(matches!(error, Error::NotCancellable { job_status: Some(JobStatus::Cancelled), .. }), "{error:?}");
}

#[test]
fn settling_read_that_fails_returns_the_cancel_error() {
    let run = drive(
        CancelJob::new("job_1"),
        &config(fixed()),
        vec![
            answer(502, &[], b""),
            answer(400, &[], ALREADY_CANCELLED),
            answer(503, &[], b""),
            answer(503, &[], b""),
            answer(503, &[], b""),
        ],
    );
    let sent: Vec<&str> = run.sent.iter().map(|(path, _)| path.as_str()).collect();
    assert_eq!(sent, [CANCEL, CANCEL, GET, GET, GET]);
    assert!(matches!(run.result, Err(Error::NotCancellable { .. })));
}

#[test]
fn invalid_input_stops_before_any_request() {
    let config = config(fixed());
    let mut call = Call::new(CancelJob::new(""), &config);
    assert!(matches!(call.start(), Step::Done(Err(Error::InvalidInput(_)))));
    assert_eq!(call.attempt(), 0);
}

#[test]
fn jittered_waits_stay_under_the_backoff() {
    let policy = RetryPolicy::default().backoff(Duration::from_millis(100), Duration::from_secs(1));
    for _ in 0..50 {
        let run = drive(
            GetJob::new("job_1"),
            &config(policy.clone()),
            vec![answer(503, &[], b""), answer(503, &[], b""), answer(200, &[], &job_body("pending"))],
        );
        let waits = waits(&run);
        assert!(waits[1] <= Duration::from_millis(100) && waits[2] <= Duration::from_millis(200), "{waits:?}");
    }
}
