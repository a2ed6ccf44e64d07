//! `WaitForJob` driven with scripted outcomes and a fake clock: when it polls, what it reports, when it stops.

use std::time::{Duration, Instant, SystemTime};

use sendkit_model::Job;
use sendkit_proto::{
    Config, Delivery, Error, Flow, Now, RetryPolicy, Step, TransportError, TransportErrorKind, WaitForJob, WaitPolicy,
};

type Outcome = Result<http::Response<Vec<u8>>, TransportError>;

fn job(status: &str, processed: u64) -> Outcome {
    let body = format!(
        r#"{{"success":true,"data":{{"id":"job_1","type":"email_verification","status":"{status}","metadata":{{"totalItems":10,"processedItems":{processed}}}}}}}"#
    );
    Ok(http::Response::builder().status(200).body(body.into_bytes()).unwrap())
}

fn failure(kind: TransportErrorKind, delivery: Delivery) -> Outcome {
    Err(TransportError::new(kind, delivery))
}

/// What a wait did: when each poll was sent (since the start), what it reported, and how it ended.
struct Run {
    polls: Vec<Duration>,
    reported: Vec<Job>,
    result: Result<Job, Error>,
    elapsed: Duration,
}

/// Runs a wait, answering each poll from `script` after `took`; a script that runs out answers `processing`.
fn wait(policy: WaitPolicy, script: Vec<Outcome>, took: Duration) -> Run {
    let config = Config::builder("sk_live_test").retry(RetryPolicy::none()).build().unwrap();
    let start = Instant::now();
    let mut elapsed = Duration::ZERO;
    let now = |elapsed: Duration| Now::new(start + elapsed, SystemTime::UNIX_EPOCH + elapsed);
    let mut flow = WaitForJob::new("job_1", policy, &config);
    let mut script = script.into_iter();
    let (mut polls, mut reported) = (Vec::new(), Vec::new());
    let mut step = flow.next(now(elapsed));
    loop {
        while let Some(job) = flow.take_progress() {
            reported.push(job);
        }
        step = match step {
            Step::Send(attempt) => {
                polls.push(elapsed);
                elapsed += took.min(attempt.timeout);
                flow.receive(script.next().unwrap_or_else(|| job("processing", 5)), now(elapsed))
            }
            Step::Sleep(pause) => {
                elapsed += pause;
                flow.next(now(elapsed))
            }
            Step::Done(result) => return Run { polls, reported, result, elapsed },
        };
    }
}

fn policy(timeout: u64) -> WaitPolicy {
    WaitPolicy::default()
        .timeout(Duration::from_secs(timeout))
        .poll_interval(Duration::from_secs(1), Duration::from_secs(1))
}

#[test]
fn progress_is_reported_only_when_the_job_changed() {
    let script = vec![
        job("pending", 0),
        job("pending", 0),
        job("processing", 3),
        job("processing", 3),
        job("processing", 7),
        job("completed", 10),
    ];
    let run = wait(policy(60), script, Duration::from_millis(10));
    let seen: Vec<String> = run
        .reported
        .iter()
        .map(|job| format!("{} {}", job.status, job.metadata.as_ref().map_or(0, |m| m.processed_items)))
        .collect();
    assert_eq!(seen, ["pending 0", "processing 3", "processing 7", "completed 10"]);
    assert_eq!(run.result.unwrap().status.to_string(), "completed");
}

#[test]
fn no_poll_is_sent_that_cannot_finish_before_the_deadline() {
    // Polls take 400 ms each, a second apart, within a 3.2 s wait: none may start with under 100 ms left.
    let run = wait(policy(3).timeout(Duration::from_millis(3200)), Vec::new(), Duration::from_millis(400));
    let deadline = Duration::from_millis(3200);
    for sent in &run.polls {
        assert!(deadline - *sent >= WaitForJob::MIN_POLL_TIME, "a poll sent at {sent:?}");
    }
    assert!(run.elapsed <= deadline, "{:?}", run.elapsed);
    let error = run.result.unwrap_err();
    let Error::WaitTimedOut { last_job, last_error, .. } = &error else { panic!("{error}") };
    assert!(last_error.is_none(), "no poll failed, so none is blamed: {error}");
    assert_eq!(last_job.as_ref().unwrap().status.to_string(), "processing");
    assert!(error.to_string().starts_with("wait_for_job job_1: not finished within 3."), "{error}");
    assert!(error.to_string().ends_with("(last seen processing)"), "{error}");
}

#[test]
fn failures_polling_cannot_fix_end_the_wait_at_once() {
    for kind in [TransportErrorKind::Resolve, TransportErrorKind::Tls] {
        let run = wait(policy(600), vec![failure(kind, Delivery::NotSent)], Duration::from_millis(5));
        assert_eq!(run.polls.len(), 1, "{kind:?}");
        let error = run.result.unwrap_err();
        assert!(matches!(&error, Error::Transport { source, .. } if source.kind() == kind), "{error}");
        assert!(run.elapsed < Duration::from_secs(1), "{kind:?} ended at {:?}", run.elapsed);
    }
}

#[test]
fn a_passing_failure_is_the_timeouts_cause() {
    let lost = || failure(TransportErrorKind::ConnectionLost, Delivery::MaybeSent);
    let run = wait(policy(2), vec![job("processing", 1), lost(), lost(), lost()], Duration::from_millis(5));
    let error = run.result.unwrap_err();
    assert!(matches!(error, Error::WaitTimedOut { .. }), "{error}");
    let cause = std::error::Error::source(&error).expect("the last poll's error is the cause");
    assert!(cause.to_string().starts_with("get_job job_1: connection lost"), "{cause}");
    assert!(!error.to_string().contains("connection lost"), "said once, in the cause: {error}");
}
