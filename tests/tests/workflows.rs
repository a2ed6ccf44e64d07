//! The workflow around cancel: wait for a job with progress, and cancel many.

use std::time::Duration;

use sendkit_mock::{Fault, MockServer, Progress, Route};
use sendkit_model::{EnrichRequest, EnrichmentType, Job, JobStatus, JobType};
use sendkit_proto::{CancelOutcome, Error, WaitPolicy};
use sendkit_tests::{client, Connect};

/// An emulator on real time whose jobs finish in a fraction of a second.
fn quick_jobs() -> MockServer {
    MockServer::builder().system_clock().progress(Progress::new(Duration::from_millis(40), 400)).start().unwrap()
}

fn quick_polls() -> WaitPolicy {
    WaitPolicy::default()
        .timeout(Duration::from_secs(20))
        .poll_interval(Duration::from_millis(10), Duration::from_millis(40))
}

fn wait_sees_progress_until_completed(connect: Connect) {
    let server = quick_jobs();
    let client = client(connect, &server);
    let created =
        client.enrich(EnrichRequest::new(vec!["507f1f77bcf86cd799439011"; 100], [EnrichmentType::Email])).unwrap();
    let id = &created.jobs[0].job_id;
    let (result, seen) = client.wait_for_job(id, quick_polls());
    let job = result.unwrap();
    assert_eq!(job.status, JobStatus::Completed);
    assert_eq!(job.metadata.as_ref().unwrap().processed_items, 100);
    assert_eq!(seen.last(), Some(&job), "the callback saw the terminal job");
    assert!(seen.len() >= 2, "the callback saw progress: {seen:?}");
    let processed: Vec<u64> = seen.iter().map(|job| job.metadata.as_ref().unwrap().processed_items).collect();
    assert!(processed.windows(2).all(|pair| pair[0] <= pair[1]), "progress never goes back: {processed:?}");
}

fn wait_rides_out_a_passing_failure(connect: Connect) {
    let server = quick_jobs();
    server.insert_job(Job::new("job_1", JobType::EmailVerification, JobStatus::Processing));
    // Three 503s exhaust one poll's own retries; the wait goes on regardless.
    server.inject(Fault::status(503).on(Route::Get).times(3));
    let client = client(connect, &server);
    let cancel_soon = std::thread::spawn({
        let base = server.base_url();
        let key = server.api_key().to_owned();
        move || {
            std::thread::sleep(Duration::from_millis(100));
            let config = sendkit_proto::Config::builder(key).base_url(base).build().unwrap();
            sendkit_ureq::Client::new(config).cancel_job("job_1").unwrap()
        }
    });
    let (result, _) = client.wait_for_job("job_1", quick_polls());
    assert_eq!(result.unwrap().status, JobStatus::Cancelled);
    assert_eq!(cancel_soon.join().unwrap().status, JobStatus::Cancelled);
}

fn wait_times_out_with_the_last_job(connect: Connect) {
    let server = MockServer::start();
    server.insert_job(Job::new("stuck", JobType::EmailVerification, JobStatus::Processing));
    let policy = WaitPolicy::default()
        .timeout(Duration::from_millis(150))
        .poll_interval(Duration::from_millis(20), Duration::from_millis(50));
    let (result, seen) = client(connect, &server).wait_for_job("stuck", policy);
    let error = result.unwrap_err();
    let Error::WaitTimedOut { job_id, last_job: Some(last), .. } = &error else { panic!("{error:?}") };
    assert_eq!((job_id.as_str(), &last.status), ("stuck", &JobStatus::Processing));
    // Polled again and again, reported once: progress is a change, not a poll.
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(server.ledger().requests >= 2);
    assert!(error.to_string().contains("last seen processing"), "{error}");
}

fn wait_stops_on_a_lasting_error(connect: Connect) {
    let server = MockServer::start();
    let (result, seen) = client(connect, &server).wait_for_job("missing", quick_polls());
    assert!(matches!(result, Err(Error::NotFound { .. })), "{result:?}");
    assert!(seen.is_empty());
    assert_eq!(server.ledger().requests, 1);
}

fn wait_stops_at_once_on_a_wrong_key(connect: Connect) {
    let server = MockServer::start();
    server.insert_job(Job::new("job_1", JobType::EmailVerification, JobStatus::Processing));
    let wrong = sendkit_proto::Config::builder("sk_live_wrong").base_url(server.base_url());
    let (result, _) = connect(wrong.build().unwrap()).wait_for_job("job_1", quick_polls());
    assert!(matches!(result, Err(Error::Unauthorized { .. })), "{result:?}");
    assert_eq!(server.ledger().requests, 1, "polling cannot fix a wrong key");
}

fn wait_on_a_silent_server_ends_at_its_timeout_with_the_last_error(connect: Connect) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let config = sendkit_proto::Config::builder("sk_live_x")
        .base_url(format!("http://{}", listener.local_addr().unwrap()))
        .build()
        .unwrap();
    let policy = WaitPolicy::default().timeout(Duration::from_millis(200));
    let started = std::time::Instant::now();
    let (result, _) = connect(config).wait_for_job("job_1", policy);
    let took = started.elapsed();
    // The poll's own call is clamped to the wait's timeout (its 30 s attempt timeout would otherwise hold it).
    assert!(took < Duration::from_secs(2), "{took:?}");
    let error = result.unwrap_err();
    let Error::WaitTimedOut { last_error: Some(last), .. } = &error else { panic!("{error:?}") };
    assert!(matches!(**last, Error::Transport { .. }), "{last:?}");
    // The wait's message is about the wait; the poll's failure is its cause, said once.
    assert!(!error.to_string().contains("timed out"), "{error}");
    let cause = std::error::Error::source(&error).map(ToString::to_string).unwrap_or_default();
    assert!(cause.starts_with("get_job job_1: timed out"), "{cause}");
}

fn cancel_many_reports_each_job(connect: Connect) {
    let server = MockServer::start();
    for (id, status) in [
        ("a", JobStatus::Pending),
        ("b", JobStatus::Processing),
        ("c", JobStatus::Completed),
        ("d", JobStatus::Pending),
        ("e", JobStatus::Cancelled),
    ] {
        server.insert_job(Job::new(id, JobType::EmailVerification, status));
    }
    let results = client(connect, &server).cancel_jobs(&["a", "b", "c", "missing", "d", "e"], 2);
    let ids: Vec<&str> = results.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids, ["a", "b", "c", "missing", "d", "e"], "results keep the order given");
    let cancelled = |result: &Result<CancelOutcome, Error>| matches!(result, Ok(CancelOutcome::Cancelled(job)) if job.status == JobStatus::Cancelled);
    assert!(cancelled(&results[0].1));
    assert!(cancelled(&results[1].1));
    assert!(matches!(&results[2].1, Err(Error::NotCancellable { job_status: Some(JobStatus::Completed), .. })));
    assert!(matches!(&results[3].1, Err(Error::NotFound { .. })));
    assert!(cancelled(&results[4].1), "an error did not stop the rest");
    // A job already cancelled is what a cancel asks for: a success of its own, with the API's words kept.
    let Ok(CancelOutcome::AlreadyCancelled(refusal)) = &results[5].1 else { panic!("{:?}", results[5].1) };
    assert!(refusal.to_string().contains("cannot be cancelled in status \"cancelled\""), "{refusal}");
    let ledger = server.ledger();
    assert_eq!(ledger.cancels.len(), 3, "the job already cancelled was left as it was");
}

sendkit_tests::through_every_transport!(
    wait_sees_progress_until_completed,
    wait_rides_out_a_passing_failure,
    wait_times_out_with_the_last_job,
    wait_stops_on_a_lasting_error,
    wait_stops_at_once_on_a_wrong_key,
    cancel_many_reports_each_job,
);

/// A silent server is a socket that never answers: the in-memory transport cannot reach one.
mod sockets {
    use super::*;

    sendkit_tests::through_both_adapters!(wait_on_a_silent_server_ends_at_its_timeout_with_the_last_error);
}

/// Dropping the async wait stops the polling: no request reaches the server after the future is gone.
#[test]
fn dropping_the_async_wait_stops_polling() {
    let server = MockServer::start();
    server.insert_job(Job::new("stuck", JobType::EmailVerification, JobStatus::Processing));
    let config = sendkit_tests::settings(&server).build().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let client = sendkit_hyper::Client::new(config);
        let wait = client.wait_for_job("stuck", quick_polls(), |_| {});
        assert!(tokio::time::timeout(Duration::from_millis(120), wait).await.is_err(), "the job never finishes");
        let polls = server.ledger().requests;
        assert!(polls >= 3, "it was polling: {polls}");
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(server.ledger().requests, polls, "no poll after the future was dropped");
    });
}

/// `cancel_jobs_each` reports each result as it comes, and a `Break` stops the cancels not yet started, through
/// both clients alike.
#[test]
fn cancel_many_stops_when_asked_and_says_what_was_not_started() {
    use std::ops::ControlFlow;
    let ids = ["a", "b", "c", "d", "e"];
    let setup = || {
        let server = MockServer::start();
        for id in ids {
            server.insert_job(Job::new(id, JobType::EmailVerification, JobStatus::Pending));
        }
        let config = sendkit_tests::settings(&server).build().unwrap();
        (server, config)
    };
    let stop_after_two = |seen: &mut Vec<String>, id: &str| {
        seen.push(id.to_owned());
        if seen.len() == 2 {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    };
    let (server, config) = setup();
    let mut seen = Vec::new();
    let not_started =
        sendkit_ureq::Client::new(config).cancel_jobs_each(ids, 1, |_, id, _| stop_after_two(&mut seen, id));
    assert_eq!(
        (seen, not_started),
        (vec!["a".to_owned(), "b".to_owned()], vec!["c".to_owned(), "d".to_owned(), "e".to_owned()])
    );
    assert_eq!(server.ledger().cancels.len(), 2);

    let (server, config) = setup();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let mut seen = Vec::new();
    let not_started = runtime.block_on(
        sendkit_hyper::Client::new(config).cancel_jobs_each(ids, 1, |_, id, _| stop_after_two(&mut seen, id)),
    );
    assert_eq!(
        (seen, not_started),
        (vec!["a".to_owned(), "b".to_owned()], vec!["c".to_owned(), "d".to_owned(), "e".to_owned()])
    );
    assert_eq!(server.ledger().cancels.len(), 2);
}
