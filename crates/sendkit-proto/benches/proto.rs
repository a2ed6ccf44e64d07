//! Micro benchmarks of the sans-IO core: what the SDK costs per call before and after the network.
//!
//! `cargo bench -p sendkit-proto --bench proto`. divan's allocation profiler counts allocations per call.

use sendkit_proto::http::Response;
use sendkit_proto::{CancelJob, Config, GetJob, Operation};

#[global_allocator]
static ALLOC: divan::AllocProfiler = divan::AllocProfiler::system();

fn main() {
    divan::main();
}

const JOB_ID: &str = "bulk_email_verification_1710000000000_abc1234";

const SEED_SUCCESS: &[u8] = br#"{"success":true,"data":{"id":"bulk_email_verification_1710000000000_abc1234","type":"email_verification","status":"cancelled","metadata":{"totalItems":100,"processedItems":0,"successCount":0,"failedCount":0,"creditsUsed":100},"updatedAt":"2025-03-19T10:01:00.000Z","completedAt":"2025-03-19T10:01:00.000Z"}}"#;
const NOT_CANCELLABLE: &[u8] =
    br#"{"success":false,"error":{"code":"VALIDATION_ERROR","message":"Job cannot be cancelled in status \"completed\""}}"#;
const NOT_FOUND: &[u8] = br#"{"success":false,"error":{"code":"NOT_FOUND","message":"Job not found or expired"}}"#;
const OTHER_SHAPE: &[u8] = br#"{"error":"Not Found","message":"The requested resource was not found","code":404}"#;
const HTML_502: &[u8] =
    b"<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>";

fn config() -> Config {
    Config::builder("sk_live_0123456789abcdef").build().unwrap()
}

fn response(status: u16, body: &'static [u8]) -> Response<&'static [u8]> {
    Response::builder().status(status).header("content-type", "application/json").body(body).unwrap()
}

#[divan::bench]
fn build_cancel_request(bencher: divan::Bencher) {
    let config = config();
    bencher.bench_local(|| CancelJob::new(divan::black_box(JOB_ID)).build_request(&config).unwrap());
}

#[divan::bench]
fn parse_seed_success(bencher: divan::Bencher) {
    let response = response(200, SEED_SUCCESS);
    let cancel = CancelJob::new(JOB_ID);
    bencher.bench_local(|| cancel.parse_response(divan::black_box(&response)).unwrap());
}

#[divan::bench(args = [("not_cancellable", 400), ("not_found", 404), ("other_shape", 404), ("html_502", 502)])]
fn parse_error(bencher: divan::Bencher, (shape, status): (&str, u16)) {
    let body = match shape {
        "not_cancellable" => NOT_CANCELLABLE,
        "not_found" => NOT_FOUND,
        "other_shape" => OTHER_SHAPE,
        _ => HTML_502,
    };
    let response = response(status, body);
    let cancel = CancelJob::new(JOB_ID);
    bencher.bench_local(|| cancel.parse_response(divan::black_box(&response)).unwrap_err());
}

/// One whole cancel as proto sees it: build the request, parse the seed's answer.
#[divan::bench]
fn build_and_parse_cancel(bencher: divan::Bencher) {
    let config = config();
    let response = response(200, SEED_SUCCESS);
    bencher.bench_local(|| {
        let cancel = CancelJob::new(divan::black_box(JOB_ID));
        let request = cancel.build_request(&config).unwrap();
        divan::black_box(request);
        cancel.parse_response(divan::black_box(&response)).unwrap()
    });
}

#[divan::bench]
fn build_get_request(bencher: divan::Bencher) {
    let config = config();
    bencher.bench_local(|| GetJob::new(divan::black_box(JOB_ID)).build_request(&config).unwrap());
}
