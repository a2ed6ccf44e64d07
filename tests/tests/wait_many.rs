//! Waiting for many jobs at once: results as they come, progress only on change, polling bounded by the
//! concurrency given (threads or tasks, and connections), through every transport.

use std::collections::HashMap;
use std::time::Duration;

use sendkit_mock::{MockServer, Progress};
use sendkit_model::{EnrichRequest, EnrichmentType, Job, JobStatus, JobType};
use sendkit_proto::{WaitEvent, WaitPolicy};
use sendkit_tests::{client, Connect};

fn quick() -> WaitPolicy {
    WaitPolicy::default()
        .timeout(Duration::from_secs(30))
        .poll_interval(Duration::from_millis(20), Duration::from_millis(100))
}

fn many_jobs_finish_with_bounded_polling(connect: Connect) {
    // Jobs pending 50 ms, then 10 items at 100 a second: each moves a few times before it completes.
    let server =
        MockServer::builder().system_clock().progress(Progress::new(Duration::from_millis(50), 100)).start().unwrap();
    let client = client(connect, &server);
    let mut client_ids = Vec::new();
    for lead in 0..10 {
        let lead = format!("507f1f77bcf86cd7994390{lead:02}");
        let created = client
            .enrich(EnrichRequest::new(
                [lead],
                [
                    EnrichmentType::Email,
                    EnrichmentType::PhoneEnrichment,
                    EnrichmentType::SegGateway,
                    EnrichmentType::EspDetection,
                ],
            ))
            .unwrap();
        client_ids.extend(created.jobs.into_iter().map(|job| job.job_id));
    }
    assert_eq!(client_ids.len(), 40);
    // A finished one and a missing one among them.
    server.insert_job(Job::new("done_already", JobType::EmailVerification, JobStatus::Completed));
    let mut ids = client_ids.clone();
    ids.extend(["done_already".to_owned(), "missing".to_owned()]);
    let events = client.wait_for_jobs(&ids, quick(), 4);
    let mut finished = HashMap::new();
    let mut last_seen: HashMap<String, Job> = HashMap::new();
    for event in events {
        match event {
            WaitEvent::Progress(job) => {
                assert_ne!(last_seen.get(&job.id), Some(&job), "progress is a change, never a repeat");
                last_seen.insert(job.id.clone(), job);
            }
            WaitEvent::Finished { index, job_id, result } => {
                assert_eq!(ids[index], job_id);
                assert!(finished.insert(job_id, result).is_none(), "each job finishes once");
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(finished.len(), ids.len());
    assert!(matches!(&finished["missing"], Err(sendkit_proto::Error::NotFound { .. })));
    assert_eq!(finished["done_already"].as_ref().unwrap().status, JobStatus::Completed);
    for id in &client_ids {
        assert_eq!(finished[id].as_ref().map(|job| job.status.clone()).ok(), Some(JobStatus::Completed), "{id}");
    }
}

/// The built-in clients keep their pools: a wait for 200 jobs with 4 workers opens at most 4 connections, and a
/// second wait opens none. (ureq keeps 3 idle connections per host unless told otherwise: the client tells it, or 4
/// workers churn through a dozen.) hyper-util races a new connection against the pool for each request that finds
/// every connection busy, and keeps the new one when a busy one frees first; while the pacer's opening lets the
/// first requests go as answers come, that leaves it a few more than the workers in the first wait (never one per
/// request), and none more after.
fn connections_stay_within_the_concurrency(connect: Connect) {
    let server = MockServer::start();
    let ids: Vec<String> = (0..400).map(|i| format!("finished_{i}")).collect();
    for (i, id) in ids.iter().enumerate() {
        let status = if i % 2 == 0 { JobStatus::Completed } else { JobStatus::Failed };
        server.insert_job(Job::new(id.as_str(), JobType::EmailVerification, status));
    }
    let client = client(connect, &server);
    let racing = std::ptr::fn_addr_eq(connect, sendkit_tests::hyper as Connect);
    let (first, second) = ids.split_at(200);
    let events = client.wait_for_jobs(first, quick(), 4);
    let finished = events.iter().filter(|event| matches!(event, WaitEvent::Finished { result: Ok(_), .. })).count();
    assert_eq!(finished, 200);
    let ledger = server.ledger();
    assert_eq!(ledger.requests, 200, "one poll each: they had finished");
    let most = if racing { 8 } else { 4 };
    assert!(ledger.connections <= most, "{} connections for 4 workers", ledger.connections);
    let opened = ledger.connections;
    let events = client.wait_for_jobs(second, quick(), 4);
    assert_eq!(events.iter().filter(|event| matches!(event, WaitEvent::Finished { result: Ok(_), .. })).count(), 200);
    assert_eq!(server.ledger().connections, opened, "the second wait reuses the pool");
}

mod every_transport {
    use super::*;
    sendkit_tests::through_every_transport!(many_jobs_finish_with_bounded_polling);
}

mod built_in_clients {
    use super::*;
    sendkit_tests::through_both_adapters!(connections_stay_within_the_concurrency);
}

/// The policy's timeout bounds the whole call: a hung server and more jobs than workers must not make each job's
/// wait start only when a worker first picks it up (8 jobs, 2 workers, 1 s: 4 s before, about 1 s now).
fn the_timeout_bounds_the_whole_call(connect: Connect) {
    let server = MockServer::start();
    let ids: Vec<String> = (0..8).map(|i| format!("hung_{i}")).collect();
    for id in &ids {
        server.insert_job(Job::new(id.as_str(), JobType::EmailVerification, JobStatus::Processing));
    }
    server.inject(sendkit_mock::Fault::status(200).delay(Duration::from_secs(10)).on(sendkit_mock::Route::Get));
    let policy = WaitPolicy::default()
        .timeout(Duration::from_secs(1))
        .poll_interval(Duration::from_millis(20), Duration::from_millis(20));
    let started = std::time::Instant::now();
    let events = client(connect, &server).wait_for_jobs(&ids, policy, 2);
    let took = started.elapsed();
    let timed_out = events
        .iter()
        .filter(|event| {
            matches!(event, WaitEvent::Finished { result: Err(sendkit_proto::Error::WaitTimedOut { .. }), .. })
        })
        .count();
    assert_eq!(timed_out, 8, "{events:?}");
    // Two waves or more would take 2 s at least.
    assert!(took < Duration::from_millis(1900), "8 waits of 1 s in all took {took:?}");
}

mod deadline {
    use super::*;
    sendkit_tests::through_both_adapters!(the_timeout_bounds_the_whole_call);
}
