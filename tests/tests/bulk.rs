//! Bulk work behind a real-world rate limiter: 1,000 cancels through each client against the emulator behind a
//! token bucket that answers `429` with an HTML page and no `Retry-After`, as nginx's `limit_req` and most
//! gateways do. Every job ends cancelled and every result says so; the calls pace themselves (the config's shared
//! `Pacer`), and a 429 spends no attempt a call needs.

use std::time::{Duration, Instant};

use sendkit_mock::{Fault, MockServer};
use sendkit_model::{Job, JobStatus, JobType};
use sendkit_proto::{Config, Proxy};
use sendkit_tests::Connect;

const KEY: &str = "sk_live_bulk_0123";
const JOBS: usize = 1_000;
/// What the limiter allows: the test's floor on time is JOBS / RATE seconds.
const RATE: f64 = 250.0;
const BURST: u32 = 10;

fn limited_emulator() -> (MockServer, Vec<String>) {
    let server = MockServer::builder().api_key(KEY).worker_threads(2).start().unwrap();
    let ids: Vec<String> = (0..JOBS).map(|i| format!("bulk_{i:04}")).collect();
    for id in &ids {
        server.insert_job(Job::new(id.as_str(), JobType::EmailVerification, JobStatus::Processing));
    }
    server.inject(Fault::rate_limit(RATE, BURST));
    (server, ids)
}

fn through(connect: Connect) {
    let (server, ids) = limited_emulator();
    // SENDKIT_BULK_PACING=off shows the same batch without the shared pacer, for BENCHMARKS.md.
    let pacing = std::env::var("SENDKIT_BULK_PACING").map_or(true, |value| value != "off");
    let config = Config::builder(KEY).base_url(server.base_url()).proxy(Proxy::Off).pacing(pacing).build().unwrap();
    let client = connect(config);
    let started = Instant::now();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let results = client.cancel_jobs(&refs, 8);
    let took = started.elapsed();
    let failed: Vec<String> =
        results.iter().filter_map(|(id, result)| result.as_ref().err().map(|error| format!("{id}: {error}"))).collect();
    assert!(failed.is_empty(), "{} of {JOBS} cancels failed, first: {:?}", failed.len(), failed.first());
    for id in &ids {
        assert_eq!(server.job(id).unwrap().status, JobStatus::Cancelled, "{id}");
    }
    let ledger = server.ledger();
    let floor = Duration::from_secs_f64(JOBS as f64 / RATE);
    eprintln!(
        "{JOBS} cancels in {took:?} (the limiter allows {floor:?}: {:.2} of the limit), {} requests refused with 429",
        floor.as_secs_f64() / took.as_secs_f64(),
        ledger.rate_limited
    );
    assert_eq!(ledger.cancels.values().sum::<u64>(), JOBS as u64, "each job cancelled once");
}

fn ureq_batch() {
    through(sendkit_tests::ureq);
}

#[test]
fn a_thousand_cancels_behind_a_rate_limiter_through_ureq() {
    ureq_batch();
}

#[test]
fn a_thousand_cancels_behind_a_rate_limiter_through_hyper() {
    through(sendkit_tests::hyper);
}

#[test]
fn a_thousand_cancels_behind_a_rate_limiter_through_the_in_memory_transport() {
    through(sendkit_tests::in_memory);
}

/// The batch from the report: 30 cancels at concurrency 8 behind 10 requests a second, burst 3, 429 without
/// Retry-After. It used to cancel 15 and give up on the rest within a second.
#[test]
fn thirty_cancels_behind_ten_a_second_all_succeed() {
    let server = MockServer::builder().api_key(KEY).start().unwrap();
    let ids: Vec<String> = (0..30).map(|i| format!("slow_{i}")).collect();
    for id in &ids {
        server.insert_job(Job::new(id.as_str(), JobType::EmailVerification, JobStatus::Processing));
    }
    server.inject(Fault::rate_limit(10.0, 3));
    let config = Config::builder(KEY).base_url(server.base_url()).proxy(Proxy::Off).build().unwrap();
    let started = Instant::now();
    let results = sendkit_ureq::Client::new(config).cancel_jobs(ids.iter().cloned(), 8);
    let took = started.elapsed();
    assert!(results.iter().all(|(_, result)| result.is_ok()), "{:?}", results.iter().find(|(_, r)| r.is_err()));
    for id in &ids {
        assert_eq!(server.job(id).unwrap().status, JobStatus::Cancelled);
    }
    eprintln!("30 cancels behind 10/s in {took:?}, {} refused", server.ledger().rate_limited);
}
