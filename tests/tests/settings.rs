//! Settings for one call or one batch, over the client's own transport and pool, with the same shape on both
//! clients: `client.with_settings(CallSettings)`.

use std::time::{Duration, Instant};

use sendkit_mock::{Fault, MockServer, Route};
use sendkit_model::{Job, JobStatus, JobType};
use sendkit_proto::{CallSettings, Error, RetryPolicy, TransportErrorKind};
use sendkit_tests::settings;

fn emulator() -> MockServer {
    let server = MockServer::start();
    server.insert_job(Job::new("job_1", JobType::EmailVerification, JobStatus::Processing));
    server
}

fn urgent() -> CallSettings {
    CallSettings::new().attempt_timeout(Duration::from_millis(200)).retry(RetryPolicy::none())
}

/// The copy's calls run under its settings; the client's own calls keep theirs; both share one connection.
fn check(get: impl Fn(bool) -> Result<Job, Error>, server: &MockServer) {
    assert_eq!(get(false).unwrap().id, "job_1");
    assert_eq!(get(true).unwrap().id, "job_1");
    assert_eq!(server.ledger().connections, 1, "the copy shares the client's pool");
    // A slow answer: the copy gives up at its 200 ms, after one attempt; the client would have waited.
    server.inject(Fault::status(200).delay(Duration::from_secs(2)).on(Route::Get).times(1));
    let started = Instant::now();
    let error = get(true).unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
    let Error::Transport { source, attempts, .. } = &error else { panic!("{error}") };
    assert_eq!((source.kind(), *attempts), (TransportErrorKind::Timeout, 1), "{error}");
    assert!(error.to_string().contains("within 200ms"), "{error}");
}

#[test]
fn ureq_calls_with_settings_of_their_own_share_the_pool() {
    let server = emulator();
    let client = sendkit_ureq::Client::new(settings(&server).build().unwrap());
    let urgent_client = client.with_settings(urgent()).unwrap();
    check(|urgent| if urgent { urgent_client.get_job("job_1") } else { client.get_job("job_1") }, &server);
}

#[test]
fn hyper_calls_with_settings_of_their_own_share_the_pool() {
    let server = emulator();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let client = sendkit_hyper::Client::new(settings(&server).build().unwrap());
    let urgent_client = client.with_settings(urgent()).unwrap();
    check(
        |urgent| runtime.block_on(if urgent { urgent_client.get_job("job_1") } else { client.get_job("job_1") }),
        &server,
    );
}

#[test]
fn a_setting_that_cannot_be_honoured_is_refused_before_any_call() {
    let server = emulator();
    let client = sendkit_ureq::Client::new(settings(&server).build().unwrap());
    let refused = client.with_settings(CallSettings::new().deadline(Some(Duration::ZERO))).unwrap_err();
    assert!(matches!(refused, Error::InvalidInput(_)), "{refused}");
    assert!(refused.to_string().contains("deadline"), "{refused}");
    assert_eq!(server.ledger().requests, 0);
}
