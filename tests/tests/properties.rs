//! Any job ID goes over the wire and comes back unchanged, through both adapters and the emulator.

use proptest::prelude::*;
use sendkit_mock::MockServer;
use std::time::Duration;

use sendkit_model::{Job, JobStatus, JobType};
use sendkit_proto::{Error, RetryPolicy, TransportErrorKind, WaitPolicy};
use sendkit_tests::{client, Connect};

fn round_trip(connect: Connect) {
    let server = MockServer::start();
    let client = client(connect, &server);
    proptest!(ProptestConfig::with_cases(128), |(id in "\\PC{1,40}")| {
        // `.` and `..` are refused before any I/O, by design (tests/tests/scenarios.rs).
        prop_assume!(id != "." && id != "..");
        // The same ID may come up twice; count this case's cancel only.
        let before = server.ledger().cancels.get(&id).copied().unwrap_or(0);
        server.insert_job(Job::new(id.clone(), JobType::EmailVerification, JobStatus::Pending));
        let job = client.get_job(&id).unwrap();
        prop_assert_eq!(&job.id, &id);
        let cancelled = client.cancel_job(&id).unwrap();
        prop_assert_eq!(&cancelled.id, &id);
        prop_assert_eq!(server.ledger().cancels.get(&id).copied(), Some(before + 1));
    });
}

#[test]
fn any_job_id_round_trips_ureq() {
    round_trip(sendkit_tests::ureq);
}

#[test]
fn any_job_id_round_trips_hyper() {
    round_trip(sendkit_tests::hyper);
}

/// Any duration, count or interval is honoured or refused with an error, never a panic: the config's own
/// settings when built, and a wait's when it starts, through every client.
fn extreme_settings(connect: Connect) {
    let server = MockServer::start();
    server.insert_job(Job::new("done", JobType::EmailVerification, JobStatus::Completed));
    let durations = prop_oneof![
        12 => (1u64..=2_000).prop_map(Duration::from_millis),
        1 => Just(Duration::ZERO),
        1 => Just(Duration::MAX),
        1 => Just(Duration::from_nanos(1)),
        1 => Just(Duration::from_secs(86_400)),
        1 => Just(Duration::from_secs(86_401)),
        1 => (0u64..=u64::MAX).prop_map(Duration::from_nanos),
        1 => (0u64..=u64::MAX).prop_map(Duration::from_secs),
    ];
    let settings = (
        durations.clone(),
        durations.clone(),
        proptest::option::of(durations.clone()),
        durations.clone(),
        durations.clone(),
        0u32..=u32::MAX,
    );
    // The wait's timeout is short or refused too: with a nanosecond attempt timeout every poll fails, and a valid
    // wait then polls until its timeout.
    let wait_timeouts = prop_oneof![
        4 => (1u64..=1_500).prop_map(Duration::from_millis),
        1 => Just(Duration::ZERO),
        1 => Just(Duration::MAX),
    ];
    let polls = (wait_timeouts, durations.clone(), durations);
    let built_some = std::cell::Cell::new(0);
    // Bounded shrinking: a failing case is reported within a minute rather than shrunk for ever.
    let bounded = ProptestConfig { cases: 48, max_shrink_time: 60_000, ..ProptestConfig::default() };
    proptest!(bounded, |(settings in settings, polls in polls)| {
        let (connect_timeout, attempt_timeout, deadline, first_backoff, max_backoff, attempts) = settings;
        let built = sendkit_tests::settings(&server)
            .connect_timeout(connect_timeout)
            .attempt_timeout(attempt_timeout)
            .deadline(deadline)
            .retry(RetryPolicy::default().backoff(first_backoff, max_backoff).max_attempts(attempts % 5))
            .build();
        let Ok(config) = built else { return Ok(()) };
        built_some.set(built_some.get() + 1);
        let client = connect(config);
        // A tiny timeout may well fail the call, but only as a timeout: it ends, with the job or with that.
        match client.get_job("done") {
            Ok(job) => prop_assert_eq!(job.id, "done"),
            Err(Error::Transport { source, .. }) => {
                prop_assert_eq!(source.kind(), TransportErrorKind::Timeout, "{}", source)
            }
            Err(other) => prop_assert!(false, "a get under extreme settings failed otherwise: {other}"),
        }
        let (timeout, first, max) = polls;
        let policy = WaitPolicy::default().timeout(timeout).poll_interval(first, max);
        let (result, _) = client.wait_for_job("done", policy);
        match result {
            Ok(job) => prop_assert_eq!(job.status, JobStatus::Completed),
            Err(Error::WaitTimedOut { .. } | Error::InvalidInput(_)) => {}
            Err(Error::Transport { source, .. }) => {
                prop_assert_eq!(source.kind(), TransportErrorKind::Timeout, "{}", source)
            }
            Err(other) => prop_assert!(false, "a wait under extreme settings failed otherwise: {other}"),
        }
    });
    assert!(built_some.get() > 0, "some settings were valid, and their calls ran");
}

sendkit_tests::through_every_transport!(extreme_settings);
