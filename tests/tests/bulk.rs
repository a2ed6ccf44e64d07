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

/// `count` jobs in processing on `server`, named `prefix` and their number.
fn processing_jobs(server: &MockServer, prefix: &str, count: usize) -> Vec<String> {
    let ids: Vec<String> = (0..count).map(|i| format!("{prefix}_{i:04}")).collect();
    for id in &ids {
        server.insert_job(Job::new(id.as_str(), JobType::EmailVerification, JobStatus::Processing));
    }
    ids
}

/// Every cancel in `results` succeeded, and every job of `ids` is cancelled on `server`.
fn all_cancelled<T, E: std::fmt::Display>(server: &MockServer, ids: &[String], results: &[(String, Result<T, E>)]) {
    let failed: Vec<String> =
        results.iter().filter_map(|(id, result)| result.as_ref().err().map(|error| format!("{id}: {error}"))).collect();
    assert!(failed.is_empty(), "{} of {} cancels failed, first: {:?}", failed.len(), results.len(), failed.first());
    for id in ids {
        assert_eq!(server.job(id).unwrap().status, JobStatus::Cancelled, "{id}");
    }
}

fn limited_emulator() -> (MockServer, Vec<String>) {
    let server = MockServer::builder().api_key(KEY).worker_threads(2).start().unwrap();
    let ids = processing_jobs(&server, "bulk", JOBS);
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
    all_cancelled(&server, &ids, &results);
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
    let ids = processing_jobs(&server, "slow", 30);
    server.inject(Fault::rate_limit(10.0, 3));
    let config = Config::builder(KEY).base_url(server.base_url()).proxy(Proxy::Off).build().unwrap();
    let started = Instant::now();
    let results = sendkit_ureq::Client::new(config).cancel_jobs(ids.iter().cloned(), 8);
    let took = started.elapsed();
    all_cancelled(&server, &ids, &results);
    eprintln!("30 cancels behind 10/s in {took:?}, {} refused", server.ledger().rate_limited);
}

/// Several processes splitting a key's limit each set their share with `max_rate`: the batch of the report, behind
/// 25 requests a second, sent at 10 a second meets no refusal at all (without it, the pacer finds the limit by its
/// refusals: 4-6 of them here).
fn a_max_rate_under_the_limit_meets_no_refusal(connect: Connect) {
    let server = MockServer::builder().api_key(KEY).start().unwrap();
    let ids = processing_jobs(&server, "shared", 12);
    server.inject(Fault::rate_limit(25.0, 3));
    let config = Config::builder(KEY).base_url(server.base_url()).proxy(Proxy::Off).max_rate(10.0).build().unwrap();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let results = connect(config).cancel_jobs(&refs, 8);
    all_cancelled(&server, &ids, &results);
    assert_eq!(server.ledger().rate_limited, 0, "no request over the share, so none refused");
}

/// A share too small for a call's deadline ends the call before it is sent, and says which setting did.
fn a_share_with_no_slot_before_the_deadline_ends_the_call_unsent(connect: Connect) {
    let server = MockServer::builder().api_key(KEY).start().unwrap();
    let ids = processing_jobs(&server, "share", 2);
    let config = Config::builder(KEY)
        .base_url(server.base_url())
        .proxy(Proxy::Off)
        .max_rate(1.0)
        .deadline(Some(Duration::from_millis(500)))
        .build()
        .unwrap();
    let client = connect(config);
    client.cancel_job(&ids[0]).unwrap();
    let error = client.cancel_job(&ids[1]).unwrap_err();
    assert!(error.is_rate_limited() && !error.may_have_taken_effect(), "{error:?}");
    assert_eq!(error.status(), None, "no request went, so no server answered a status");
    let message = error.to_string();
    assert!(
        message.starts_with(&format!(
            "cancel_job {}: not sent: max_rate (1 a second) leaves it no slot within the call's deadline (retry \
             after ",
            ids[1]
        )),
        "{message}"
    );
    assert!(!message.contains("HTTP"), "{message}");
    assert_eq!(server.job(&ids[1]).unwrap().status, JobStatus::Processing, "never sent");
}

sendkit_tests::through_both_adapters!(
    a_max_rate_under_the_limit_meets_no_refusal,
    a_share_with_no_slot_before_the_deadline_ends_the_call_unsent
);
