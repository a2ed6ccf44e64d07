//! The retry decisions of `Call`, driven with scripted outcomes and a fake clock.

use std::time::{Duration, Instant, SystemTime};

use sendkit_model::{EnrichRequest, EnrichmentType, Job, JobStatus};
use sendkit_proto::{
    Call, CancelJob, CancelJobFlow, Config, Delivery, Enrich, Error, Flow, GetJob, Now, Operation, RetryPolicy, Slot,
    Step, TransportError, TransportErrorKind,
};

/// 2015-10-21T07:27:50Z.
fn wall_start() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_470)
}

/// Pacing off: these tests are about one call's own retries (pacing has its own below).
fn config(retry: RetryPolicy) -> Config {
    Config::builder("sk_live_test").retry(retry).pacing(false).build().unwrap()
}

fn fixed() -> RetryPolicy {
    RetryPolicy::default().backoff(Duration::from_millis(100), Duration::from_secs(1)).without_jitter()
}

fn job_body(status: &str) -> Vec<u8> {
    format!(r#"{{"success":true,"data":{{"id":"job_1","type":"email_verification","status":"{status}"}}}}"#)
        .into_bytes()
}

type Outcome = Result<http::Response<Vec<u8>>, TransportError>;

fn answer(status: u16, headers: &[(&str, &str)], body: &[u8]) -> Outcome {
    let mut builder = http::Response::builder().status(status);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    Ok(builder.body(body.to_vec()).unwrap())
}

fn lost(kind: TransportErrorKind, delivery: Delivery) -> Outcome {
    Err(TransportError::new(kind, delivery))
}

/// What a run did: each request's method and path with the wait before it and its timeout, and the result.
struct Run<T> {
    sent: Vec<(String, Duration)>,
    timeouts: Vec<Duration>,
    result: Result<T, Error>,
    elapsed: Duration,
}

/// Runs `operation`, answering its requests from `script` in order, each answer taking `took` of a fake clock
/// that the call's sleeps advance too.
fn drive_timed<O: Operation>(operation: O, config: &Config, script: Vec<Outcome>, took: Duration) -> Run<O::Output> {
    run_flow(Call::new(operation, config), script, took)
}

/// Cancels `job_1` as the clients do: the cancel's call, then a read when its outcome is unknown.
fn drive_cancel(config: &Config, script: Vec<Outcome>) -> Run<Job> {
    run_flow(CancelJobFlow::new("job_1", config), script, Duration::from_millis(10))
}

fn run_flow<F: Flow>(mut call: F, script: Vec<Outcome>, took: Duration) -> Run<F::Output> {
    let start = Instant::now();
    let mut elapsed = Duration::ZERO;
    let now = |elapsed: Duration| Now::new(start + elapsed, wall_start() + elapsed);
    let mut script = script.into_iter();
    let (mut sent, mut timeouts) = (Vec::new(), Vec::new());
    let mut pause = Duration::ZERO;
    let mut step = call.next(now(elapsed));
    loop {
        step = match step {
            Step::Send(attempt) => {
                sent.push((format!("{} {}", attempt.request.method(), attempt.request.uri().path()), pause));
                timeouts.push(attempt.timeout);
                pause = Duration::ZERO;
                let outcome = script.next().expect("the call sent more requests than scripted");
                elapsed += took.min(attempt.timeout);
                call.receive(outcome, now(elapsed))
            }
            Step::Sleep(wait) => {
                pause = wait;
                elapsed += wait;
                call.next(now(elapsed))
            }
            Step::Done(result) => {
                assert!(script.next().is_none(), "the call stopped before the script ran out");
                return Run { sent, timeouts, result, elapsed };
            }
        };
    }
}

fn drive<O: Operation>(operation: O, config: &Config, script: Vec<Outcome>) -> Run<O::Output> {
    drive_timed(operation, config, script, Duration::ZERO)
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
fn retry_after_in_every_date_form_is_measured_from_the_answers_date() {
    for date in ["Wed, 21 Oct 2015 07:28:00 GMT", "Wednesday, 21-Oct-15 07:28:00 GMT", "Wed Oct 21 07:28:00 2015"] {
        // The answer's own Date says 07:27:55, so the wait is 5 s whatever the local clock says.
        let run = drive(
            GetJob::new("job_1"),
            &config(fixed()),
            vec![
                answer(503, &[("retry-after", date), ("date", "Wed, 21 Oct 2015 07:27:55 GMT")], b""),
                answer(200, &[], &job_body("pending")),
            ],
        );
        assert!(run.result.is_ok(), "{:?}", run.result);
        assert_eq!(waits(&run), [Duration::ZERO, Duration::from_secs(5)], "{date}");
    }
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
    let run = drive(CancelJob::new("job_1"), &config(fixed()), vec![lost(TransportErrorKind::Tls, Delivery::NotSent)]);
    assert!(matches!(run.result, Err(Error::Transport { source, .. }) if source.kind() == TransportErrorKind::Tls));
}

#[test]
fn enrich_is_retried_only_when_the_server_cannot_have_acted() {
    // A refused connection and a 429 are safe to repeat.
    let run_ok = drive(
        enrich(),
        &config(fixed()),
        vec![lost(TransportErrorKind::Resolve, Delivery::NotSent), answer(429, &[], b""), answer(200, &[], ENRICHED)],
    );
    assert_eq!(run_ok.result.unwrap().total_credits_charged, 1);
    assert_eq!(run_ok.sent.iter().filter(|(path, _)| path == ENRICH).count(), 3);
    // A 503, a timeout or a dropped connection may have been charged: not sent again.
    for outcome in [
        answer(503, &[("retry-after", "1")], b""),
        lost(TransportErrorKind::Timeout, Delivery::MaybeSent),
        lost(TransportErrorKind::ConnectionLost, Delivery::MaybeSent),
    ] {
        let run = drive(enrich(), &config(fixed()), vec![outcome]);
        assert_eq!(run.sent.len(), 1);
        assert!(run.result.is_err());
    }
    let run = drive(enrich(), &config(fixed()), vec![lost(TransportErrorKind::ConnectionLost, Delivery::MaybeSent)]);
    let error = run.result.unwrap_err();
    assert!(error.may_have_taken_effect());
    assert_eq!(
        error.to_string(),
        "enrich: connection lost before the answer was complete (api.sendkit.ai:443, 1 attempt in 0ms; the request \
         may have reached the server, so it may have taken effect: look for the jobs it would have created before \
         sending it again)"
    );
    // A 429 whose body broke off is still a refusal: retried, and never "may have taken effect".
    let broken_429 = TransportError::new(TransportErrorKind::ConnectionLost, Delivery::MaybeSent)
        .with_status(http::StatusCode::TOO_MANY_REQUESTS);
    let run = drive(enrich(), &config(fixed()), vec![Err(broken_429), answer(200, &[], ENRICHED)]);
    assert!(run.result.is_ok(), "{:?}", run.result);
}

#[test]
fn cancel_is_retried_after_a_lost_answer() {
    let run = drive(
        CancelJob::new("job_1"),
        &config(fixed()),
        vec![
            lost(TransportErrorKind::Timeout, Delivery::MaybeSent),
            lost(TransportErrorKind::ConnectionLost, Delivery::MaybeSent),
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
    let run = drive_cancel(
        &config(fixed()),
        vec![
            lost(TransportErrorKind::ConnectionLost, Delivery::MaybeSent),
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
    let run = drive_cancel(
        &config(fixed()),
        vec![
            answer(502, &[], b""),
            answer(400, &[], ALREADY_CANCELLED),
            answer(503, &[], b""),
            answer(503, &[], b""),
            answer(503, &[], b""),
        ],
    );
    // The read comes after the cancel's last attempt, with retries of its own; its failure settles nothing.
    let sent: Vec<&str> = run.sent.iter().map(|(path, _)| path.as_str()).collect();
    assert_eq!(sent, [CANCEL, CANCEL, GET, GET, GET]);
    let error = run.result.unwrap_err();
    assert!(matches!(error, Error::NotCancellable { .. }), "{error}");
    assert!(error.may_have_taken_effect(), "the 502 may have cancelled it: {error}");
    assert!(
        error.to_string().ends_with(
            "; an earlier attempt may have reached the server, so it may have taken effect: get job job_1 to see"
        ),
        "{error}"
    );
}

#[test]
fn invalid_input_stops_before_any_request() {
    let config = config(fixed());
    let mut call = Call::new(CancelJob::new(""), &config);
    assert!(matches!(call.next(Now::new(Instant::now(), wall_start())), Step::Done(Err(Error::InvalidInput(_)))));
    assert_eq!(call.attempts(), 0);
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

#[test]
fn a_refusal_settles_by_meaning_not_wording() {
    // Another wording, or a 409, after a lost answer: read the job; it is this one and cancelled, so success.
    let reworded = br#"{"success":false,"error":{"code":"CONFLICT","message":"already done"}}"#;
    for refusal in [
        answer(409, &[], reworded),
        answer(
            400,
            &[],
            br#"{"success":false,"error":{"code":"VALIDATION_ERROR","message":"Job cannot be cancelled"}}"#,
        ),
    ] {
        let run = drive_cancel(
            &config(fixed()),
            vec![
                lost(TransportErrorKind::ConnectionLost, Delivery::MaybeSent),
                refusal,
                answer(200, &[], &job_body("cancelled")),
            ],
        );
        let sent: Vec<&str> = run.sent.iter().map(|(path, _)| path.as_str()).collect();
        assert_eq!(sent, [CANCEL, CANCEL, GET]);
        assert_eq!(run.result.unwrap().status, JobStatus::Cancelled);
    }
    // The job read back is another job, or not cancelled: the refusal stands.
    let other = br#"{"success":true,"data":{"id":"job_2","type":"email_verification","status":"cancelled"}}"#;
    for (read_back, still_unknown) in
        [(answer(200, &[], other), true), (answer(200, &[], &job_body("completed")), false)]
    {
        let run = drive_cancel(
            &config(fixed()),
            vec![lost(TransportErrorKind::ConnectionLost, Delivery::MaybeSent), answer(409, &[], reworded), read_back],
        );
        let error = run.result.unwrap_err();
        assert!(matches!(error, Error::Api { .. }), "{error}");
        // Another job settles nothing; this job, completed, shows the cancel did not take effect.
        assert_eq!(error.may_have_taken_effect(), still_unknown, "{error}");
    }
    // A refusal that names another terminal status is not settled: it was not this call that finished the job.
    let completed = br#"{"success":false,"error":{"code":"VALIDATION_ERROR","message":"Job cannot be cancelled in status \"completed\""}}"#;
    let run = drive_cancel(
        &config(fixed()),
        vec![lost(TransportErrorKind::ConnectionLost, Delivery::MaybeSent), answer(400, &[], completed)],
    );
    assert!(matches!(run.result, Err(Error::NotCancellable { job_status: Some(JobStatus::Completed), .. })));
}

#[test]
fn the_deadline_bounds_the_whole_call() {
    // Each attempt hangs until its timeout; the deadline (1 s) cuts the retries short, and the last attempt's
    // timeout is clamped to what was left.
    let config = Config::builder("sk_live_test")
        .retry(
            RetryPolicy::default()
                .backoff(Duration::from_millis(50), Duration::from_secs(1))
                .without_jitter()
                .max_attempts(10),
        )
        .attempt_timeout(Duration::from_millis(400))
        .deadline(Some(Duration::from_secs(1)))
        .build()
        .unwrap();
    let hang = || lost(TransportErrorKind::Timeout, Delivery::MaybeSent);
    let run = drive_timed(GetJob::new("job_1"), &config, vec![hang(), hang(), hang()], Duration::from_secs(3600));
    assert!(run.elapsed <= Duration::from_secs(1), "{:?}", run.elapsed);
    assert_eq!(run.timeouts, [Duration::from_millis(400), Duration::from_millis(400), Duration::from_millis(50)]);
    let error = run.result.unwrap_err();
    assert_eq!(
        error.to_string(),
        "get_job job_1: timed out: no complete answer within 50ms (api.sendkit.ai:443, 3 attempts in 1s)"
    );
    assert!(!error.may_have_taken_effect(), "a get has no effect");
}

#[test]
fn a_retry_that_would_pass_the_deadline_is_not_made() {
    let config = Config::builder("sk_live_test").retry(fixed()).deadline(Some(Duration::from_secs(5))).build().unwrap();
    let run = drive(CancelJob::new("job_1"), &config, vec![answer(429, &[("retry-after", "10")], b"")]);
    assert!(matches!(run.result, Err(Error::RateLimited { retry_after: Some(d), .. }) if d == Duration::from_secs(10)));
}

#[test]
fn a_429_spends_no_attempt_and_the_calls_of_one_config_pace_together() {
    let config = Config::builder("sk_live_test").retry(fixed()).build().unwrap();
    // Three 429s without Retry-After, then a 502 and the answer: the 429s spend none of the three attempts.
    let run = drive(
        GetJob::new("job_1"),
        &config,
        vec![
            answer(429, &[], b""),
            answer(429, &[], b""),
            answer(429, &[], b""),
            answer(502, &[], b""),
            answer(200, &[], &job_body("pending")),
        ],
    );
    assert!(run.result.is_ok(), "{:?}", run.result.err());
    assert_eq!(run.sent.len(), 5);
    // The config's pacer now spaces requests; a second call made with it waits its turn.
    let rate = config.pacer().and_then(|pacer| pacer.rate()).expect("paced after a 429");
    assert!(rate >= sendkit_proto::Pacer::MIN_RATE);
    let mut second = Call::new(GetJob::new("job_2"), &config);
    let now = Now::new(Instant::now(), wall_start());
    let first = Call::new(GetJob::new("job_3"), &config).next(now);
    assert!(matches!(first, Step::Send(_) | Step::Sleep(_)));
    assert!(matches!(second.next(now), Step::Sleep(wait) if wait > Duration::ZERO), "the second request waits");
}

#[test]
fn a_server_that_always_429s_ends_the_call_at_the_cap() {
    let config = Config::builder("sk_live_test").retry(fixed()).pacing(false).deadline(None).build().unwrap();
    let script = (0..=Call::<GetJob>::MAX_RATE_LIMITED).map(|_| answer(429, &[], b"")).collect();
    let run = drive(GetJob::new("job_1"), &config, script);
    assert!(matches!(run.result, Err(Error::RateLimited { .. })));
    assert_eq!(run.sent.len() as u32, Call::<GetJob>::MAX_RATE_LIMITED + 1);
}

/// How long a step sleeps.
fn first_sleep(step: &Step<Job>) -> Duration {
    match step {
        Step::Sleep(wait) => *wait,
        _ => Duration::ZERO,
    }
}

/// The first step of a new call of `config` at `now`: whether it sends, sleeps, or ends.
fn first_step(config: &Config, now: Now) -> Step<Job> {
    Call::new(GetJob::new("job_2"), config).next(now)
}

#[test]
fn a_far_off_retry_after_fails_its_own_call_and_holds_no_other() {
    // The policy waits 60 s for a Retry-After at most; the server asks for an hour.
    let config = Config::builder("sk_live_test").retry(fixed()).deadline(None).build().unwrap();
    let run = drive(GetJob::new("job_1"), &config, vec![answer(429, &[("retry-after", "3600")], b"")]);
    assert!(matches!(run.result, Err(Error::RateLimited { .. })));
    // Another call of the same config, with no deadline, does not sleep an hour in silence: no call of this
    // config would wait that long, so it asks, and learns from its own answer.
    let now = Now::new(Instant::now(), wall_start());
    assert!(matches!(first_step(&config, now), Step::Send(_)), "the hour is not held for every call");
}

#[test]
fn a_503_asking_to_wait_holds_every_call_of_the_config_and_keeps_its_rate() {
    let config = Config::builder("sk_live_test").retry(RetryPolicy::none()).deadline(None).build().unwrap();
    let run = drive(GetJob::new("job_1"), &config, vec![answer(503, &[("retry-after", "2")], b"")]);
    assert!(run.result.is_err());
    let now = Now::new(Instant::now(), wall_start());
    let wait = first_sleep(&first_step(&config, now));
    assert!(wait > Duration::from_secs(1) && wait <= Duration::from_secs(2), "{wait:?}");
    assert_eq!(config.pacer().map(|pacer| pacer.rate()), Some(None), "a server that was down says nothing of a limit");
    // A 503 that names no wait leaves the wait to the call that met it.
    let config = Config::builder("sk_live_test").retry(RetryPolicy::none()).deadline(None).build().unwrap();
    let run = drive(GetJob::new("job_1"), &config, vec![answer(503, &[], b"")]);
    assert!(run.result.is_err());
    assert!(matches!(first_step(&config, now), Step::Send(_)));
}

#[test]
fn a_hold_longer_than_the_deadline_ends_the_call_never_sent() {
    // Retry-After: 30 is within the policy, so every call of the config holds it; a call with 5 s left cannot.
    let config = Config::builder("sk_live_test").retry(fixed()).deadline(Some(Duration::from_secs(5))).build().unwrap();
    let run = drive(GetJob::new("job_1"), &config, vec![answer(429, &[("retry-after", "30")], b"")]);
    assert!(run.result.is_err());
    let now = Now::new(Instant::now(), wall_start());
    let Step::Done(Err(error)) = first_step(&config, now) else { panic!("the call must end at once") };
    assert!(matches!(error, Error::RateLimited { retry_after: Some(wait), .. } if wait > Duration::from_secs(29)));
    let message = error.to_string();
    assert!(
        message.starts_with("get_job job_2: not sent: the server asked this client's calls to wait (retry after "),
        "{message}"
    );
    assert_eq!(error.status(), None, "{message}");
    assert!(!error.may_have_taken_effect());
}

#[test]
fn a_paced_wait_that_does_not_fit_the_deadline_ends_the_call_instead_of_sending_at_once() {
    let config = Config::builder("sk_live_test").retry(fixed()).deadline(Some(Duration::from_secs(1))).build().unwrap();
    // Another call meets a 429 asking every call to wait 2 s: more than this config's deadline.
    let run = drive(GetJob::new("job_1"), &config, vec![answer(429, &[("retry-after", "2")], b"")]);
    assert!(run.result.is_err());
    let now = Now::new(Instant::now(), wall_start());
    assert!(
        matches!(first_step(&config, now), Step::Done(Err(Error::RateLimited { .. }))),
        "a call that cannot wait out the hold must not send during it"
    );
}

/// The late effect: attempt 1 times out at the client (the server has it and will act on it later), attempts 2
/// and 3 are reset, and the settling read sees the job `pending`. That read proves nothing about attempt 1: the
/// cancel is sent again, and its answer settles it. Before, the flow said "did not take effect".
#[test]
fn a_read_that_shows_the_job_still_cancellable_sends_the_cancel_again() {
    let timed_out = || lost(TransportErrorKind::Timeout, Delivery::MaybeSent);
    let reset = || lost(TransportErrorKind::ConnectionLost, Delivery::MaybeSent);
    let run = drive_cancel(
        &config(fixed()),
        vec![
            timed_out(),
            reset(),
            reset(),
            answer(200, &[], &job_body("pending")),
            answer(200, &[], &job_body("cancelled")),
        ],
    );
    let sent: Vec<&str> = run.sent.iter().map(|(path, _)| path.as_str()).collect();
    assert_eq!(sent, [CANCEL, CANCEL, CANCEL, GET, CANCEL]);
    assert_eq!(run.result.unwrap().status, JobStatus::Cancelled);

    // The cancel sent again is refused as already cancelled (attempt 1 was carried out meanwhile): the read after
    // it returns the job.
    let run = drive_cancel(
        &config(fixed()),
        vec![
            timed_out(),
            reset(),
            reset(),
            answer(200, &[], &job_body("pending")),
            answer(400, &[], ALREADY_CANCELLED),
            answer(200, &[], &job_body("cancelled")),
        ],
    );
    assert_eq!(run.result.unwrap().status, JobStatus::Cancelled);
}

#[test]
fn with_no_time_to_cancel_again_a_cancellable_read_still_says_may_have_taken_effect() {
    let config = Config::builder("sk_live_test")
        .retry(fixed().max_attempts(1))
        .pacing(false)
        .attempt_timeout(Duration::from_millis(400))
        .deadline(Some(Duration::from_millis(500)))
        .build()
        .unwrap();
    let hang = lost(TransportErrorKind::Timeout, Delivery::MaybeSent);
    // The cancel hangs 400 ms; the read takes the last 100 ms: no time is left for another cancel.
    let run = run_flow(
        CancelJobFlow::new("job_1", &config),
        vec![hang, answer(200, &[], &job_body("pending"))],
        Duration::from_secs(3600),
    );
    let error = run.result.unwrap_err();
    assert!(error.may_have_taken_effect(), "{error}");
    assert!(error.to_string().contains("the job read back was pending"), "{error}");
    assert!(!error.to_string().contains("did not take effect"), "{error}");
}

#[test]
fn a_read_that_shows_the_job_finished_settles_that_the_cancel_did_not_take_effect() {
    let run = drive_cancel(
        &config(fixed()),
        vec![
            lost(TransportErrorKind::Timeout, Delivery::MaybeSent),
            lost(TransportErrorKind::Timeout, Delivery::MaybeSent),
            lost(TransportErrorKind::Timeout, Delivery::MaybeSent),
            answer(200, &[], &job_body("completed")),
        ],
    );
    let error = run.result.unwrap_err();
    assert!(!error.may_have_taken_effect());
    assert!(error.to_string().contains("the job read back is completed, so the call did not take effect"), "{error}");
}

#[test]
fn a_cancel_answer_for_another_job_or_not_cancelled_is_refused_and_may_have_taken_effect() {
    let other = br#"{"success":true,"data":{"id":"job_2","type":"email_verification","status":"cancelled"}}"#;
    for (body, says) in
        [(&other[..], "names job \"job_2\""), (&job_body("processing")[..], "is processing, not cancelled")]
    {
        let run = drive(CancelJob::new("job_1"), &config(fixed()), vec![answer(200, &[], body)]);
        let error = run.result.unwrap_err();
        assert!(error.to_string().contains(says), "{error}");
        assert!(error.may_have_taken_effect(), "the server accepted the cancel: {error}");
    }
    // The cancel that settles itself reads the job, finds it still running, and cancels it again.
    let run = drive_cancel(
        &config(fixed()),
        vec![
            answer(200, &[], other),
            answer(200, &[], &job_body("processing")),
            answer(200, &[], &job_body("cancelled")),
        ],
    );
    assert_eq!(run.result.unwrap().id, "job_1");
}

#[test]
fn a_get_answer_for_another_job_is_refused() {
    let other = br#"{"success":true,"data":{"id":"job_2","type":"email_verification","status":"pending"}}"#;
    let run = drive(GetJob::new("job_1"), &config(fixed()), vec![answer(200, &[], other)]);
    let error = run.result.unwrap_err();
    assert!(error.to_string().contains("names job \"job_2\", not the job asked for"), "{error}");
    assert!(!error.may_have_taken_effect());
}

#[test]
fn errors_sort_into_categories_without_matching_every_variant() {
    let none = config(RetryPolicy::none());
    let error_of = |operation_is_enrich: bool, outcome: Outcome| -> Error {
        if operation_is_enrich {
            drive(enrich(), &none, vec![outcome]).result.unwrap_err()
        } else {
            drive(GetJob::new("job_1"), &none, vec![outcome]).result.unwrap_err()
        }
    };
    let envelope =
        |code: &str| format!(r#"{{"success":false,"error":{{"code":"{code}","message":"m"}}}}"#).into_bytes();
    let unauthorized = error_of(false, answer(401, &[], &envelope("UNAUTHORIZED")));
    assert!(unauthorized.is_authentication() && !unauthorized.is_retryable());
    let forbidden = error_of(false, answer(403, &[], &envelope("FORBIDDEN")));
    assert!(forbidden.is_authentication());
    let missing = error_of(false, answer(404, &[], &envelope("NOT_FOUND")));
    assert!(missing.is_not_found() && !missing.is_retryable());
    let limited = error_of(false, answer(429, &[], b""));
    assert!(limited.is_rate_limited() && limited.is_retryable());
    let busy = error_of(false, answer(503, &[], b""));
    assert!(busy.is_retryable() && !busy.is_authentication());
    let tls = error_of(false, lost(TransportErrorKind::Tls, Delivery::NotSent));
    assert!(!tls.is_retryable());
    // An enrich that may have created its jobs is not safe to make again; one never sent is.
    let enrich_lost = error_of(true, lost(TransportErrorKind::ConnectionLost, Delivery::MaybeSent));
    assert!(enrich_lost.may_have_taken_effect() && !enrich_lost.is_retryable());
    let enrich_refused = error_of(true, lost(TransportErrorKind::Connect, Delivery::NotSent));
    assert!(enrich_refused.is_retryable());
}

#[test]
fn the_pacer_follows_what_the_limiter_reports_on_successful_answers() {
    let config = Config::builder("sk_live_test").retry(fixed()).deadline(None).build().unwrap();
    let now = Now::new(Instant::now(), wall_start());
    // Nothing left until the window resets in 2 s, and no policy to say more: every call of the config waits.
    let spent = [("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", "2")];
    let run = drive(GetJob::new("job_1"), &config, vec![answer(200, &spent, &job_body("pending"))]);
    assert!(run.result.is_ok());
    assert!(
        matches!(first_step(&config, now), Step::Sleep(wait) if wait > Duration::from_millis(1900)),
        "the next call waits for the window"
    );
    // With a policy of 50 in 2 s, the next request is due in 40 ms, not at the rounded-up reset; the ones after it
    // go one at a time, no faster than the policy's rate (slower while the rate comes back: an empty budget lowers
    // it as a 429 does).
    let config = Config::builder("sk_live_test").retry(fixed()).deadline(None).build().unwrap();
    let spent = [("ratelimit-policy", "\"default\";q=50;w=2"), ("ratelimit", "\"default\";r=0;t=2")];
    let run = drive(GetJob::new("job_1"), &config, vec![answer(200, &spent, &job_body("pending"))]);
    assert!(run.result.is_ok());
    let first = first_step(&config, now);
    assert!(matches!(first, Step::Sleep(wait) if (30..=45).contains(&wait.as_millis())), "{first:?}");
    // The second is not next in line: it sleeps until the first's slot, and asks again then.
    let second = first_step(&config, now);
    assert!(matches!(second, Step::Sleep(wait) if (30..=45).contains(&wait.as_millis())), "{second:?}");
    let pacer = config.pacer().unwrap();
    let Slot::Send(wait) = pacer.slot(now.monotonic + first_sleep(&first)) else { panic!("next in line then") };
    // One interval after the first: the policy's (40 ms) or the pacer's own, whichever is longer.
    let paced = Duration::from_secs_f64(1.0 / pacer.rate().expect("paced by the empty budget"));
    let interval = paced.max(Duration::from_millis(40));
    assert!(
        wait.abs_diff(interval) <= Duration::from_millis(5),
        "{wait:?}, one interval ({interval:?}) after the first"
    );
    // 5 left for the next second: the calls spread them, 200 ms apart.
    let config = Config::builder("sk_live_test").retry(fixed()).deadline(None).build().unwrap();
    let some = [("x-ratelimit-limit", "50"), ("x-ratelimit-remaining", "5"), ("x-ratelimit-reset", "1")];
    let run = drive(GetJob::new("job_1"), &config, vec![answer(200, &some, &job_body("pending"))]);
    assert!(run.result.is_ok());
    let later = Now::new(now.monotonic + Duration::from_millis(10), now.wall);
    assert!(matches!(first_step(&config, later), Step::Send(_)), "the first goes at once");
    assert!(
        matches!(first_step(&config, later), Step::Sleep(wait) if (190..=210).contains(&wait.as_millis())),
        "the second waits its share"
    );
    // A reset longer than the policy waits holds no call; malformed fields are ignored.
    let config = Config::builder("sk_live_test").retry(fixed()).deadline(None).build().unwrap();
    let far = [("ratelimit", "\"default\";r=0;t=3600"), ("x-ratelimit-remaining", "soon")];
    assert!(drive(GetJob::new("job_1"), &config, vec![answer(200, &far, &job_body("pending"))]).result.is_ok());
    assert!(matches!(first_step(&config, now), Step::Send(_)));
}

/// A fresh config's calls open with a slow start: the first goes at once, the next wait for its answer (asking
/// again every millisecond), two more go per accepted answer, and after the opening all go at once. Calls made
/// with pacing off are never held.
#[test]
fn a_fresh_config_opens_one_call_at_a_time() {
    let config = Config::builder("sk_live_test").retry(fixed()).deadline(None).build().unwrap();
    let start = Now::new(Instant::now(), wall_start());
    let at = |ms: u64| Now::new(start.monotonic + Duration::from_millis(ms), start.wall + Duration::from_millis(ms));
    assert!(matches!(first_step(&config, start), Step::Send(_)), "the first goes at once");
    assert!(
        matches!(first_step(&config, start), Step::Sleep(wait) if wait == Duration::from_millis(1)),
        "the second asks again in a millisecond"
    );
    // The first call's answer, accepted (as `Call` reports it to the config's pacer): two more may go.
    config.pacer().unwrap().answered_at(at(1).monotonic);
    let sent = (0..4).filter(|_| matches!(first_step(&config, at(2)), Step::Send(_))).count();
    assert_eq!(sent, 2, "two per accepted answer");
    // Past the opening, nothing holds them.
    assert!((0..16).all(|_| matches!(first_step(&config, at(100)), Step::Send(_))));
    let unpaced = Config::builder("sk_live_test").retry(fixed()).deadline(None).pacing(false).build().unwrap();
    assert!((0..16).all(|_| matches!(first_step(&unpaced, start), Step::Send(_))));
}
