//! Any job ID goes over the wire and comes back unchanged, through both adapters and the emulator.

use proptest::prelude::*;
use sendkit_mock::MockServer;
use sendkit_model::{Job, JobStatus, JobType};
use sendkit_tests::{client, Connect};

fn round_trip(connect: Connect) {
    let server = MockServer::start();
    let client = client(connect, &server);
    proptest!(ProptestConfig::with_cases(128), |(id in "\\PC{1,40}")| {
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
