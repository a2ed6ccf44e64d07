//! Bulk cancels against a server that answers each request 20 ms later: how close each way of cancelling many jobs
//! comes to the physical limit, `calls × 20 ms / concurrency`.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sendkit_mock::{Fault, MockServer, Route};
use sendkit_model::{Job, JobStatus, JobType};
use sendkit_proto::{Config, Proxy};

const KEY: &str = "sk_test_bulk_bench";
/// How long the server takes over each answer.
const LATENCY: Duration = Duration::from_millis(20);

/// One way of cancelling many jobs, and the concurrency it runs at.
struct Way {
    name: &'static str,
    concurrency: usize,
    run: fn(&MockServer, &[String], usize),
}

fn config(server: &MockServer) -> Config {
    Config::builder(KEY).base_url(server.base_url()).proxy(Proxy::Off).build().expect("bench settings")
}

fn ureq_cancel_jobs(server: &MockServer, ids: &[String], concurrency: usize) {
    let client = sendkit_ureq::Client::new(config(server));
    let failed = client.cancel_jobs(ids.iter().cloned(), concurrency).iter().filter(|(_, r)| r.is_err()).count();
    assert_eq!(failed, 0, "every cancel succeeds");
}

fn hyper_cancel_jobs(server: &MockServer, ids: &[String], concurrency: usize) {
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("a runtime");
    let client = sendkit_hyper::Client::new(config(server));
    let results = runtime.block_on(client.cancel_jobs(ids.to_vec(), concurrency));
    assert_eq!(results.iter().filter(|(_, r)| r.is_err()).count(), 0, "every cancel succeeds");
}

fn sendkit_cancel(server: &MockServer, ids: &[String], concurrency: usize) {
    use std::io::Write;
    let mut child = Command::new(cli_path().expect("the sendkit binary beside this one"))
        .args(["cancel", "-", "--concurrency", &concurrency.to_string()])
        .env_clear()
        .env("SENDKIT_API_KEY", KEY)
        .env("SENDKIT_BASE_URL", server.base_url())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sendkit runs");
    child.stdin.take().expect("stdin").write_all(ids.join("\n").as_bytes()).expect("the IDs");
    let output = child.wait_with_output().expect("sendkit ends");
    assert!(output.status.success(), "sendkit cancel failed: {}", String::from_utf8_lossy(&output.stderr));
}

/// The seed's loop: one `requests.post` after the other.
fn python_loop(server: &MockServer, ids: &[String], _: usize) {
    use std::io::Write;
    const LOOP: &str = r#"
import sys, requests
base, key = sys.argv[1], sys.argv[2]
headers = {"Content-Type": "application/json", "X-Api-Key": key}
for job_id in sys.stdin.read().split():
    requests.post(base + "/v1/enrichment/jobs/" + job_id + "/cancel", headers=headers).raise_for_status()
"#;
    let mut child = Command::new("python3")
        .args(["-c", LOOP, &server.base_url(), KEY])
        .stdin(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    child.stdin.take().expect("stdin").write_all(ids.join("\n").as_bytes()).expect("the IDs");
    assert!(child.wait().expect("python3 ends").success(), "the python loop failed");
}

/// `sendkit`, built beside this binary (`cargo build --release -p sendkit-cli`).
fn cli_path() -> Option<std::path::PathBuf> {
    let path = std::env::current_exe().ok()?.with_file_name("sendkit");
    path.exists().then_some(path)
}

/// Runs every way `rounds` times, each on fresh jobs, and prints the table with medians.
pub fn run(rounds: usize, calls: usize, python_calls: usize) {
    let server = MockServer::builder().api_key(KEY).worker_threads(2).start().expect("the emulator listens");
    let cancelled = r#"{"success":true,"data":{"id":"bulk","type":"email_verification","status":"cancelled"}}"#;
    server.inject(Fault::status(200).body(cancelled).delay(LATENCY).after_acting().on(Route::Cancel));
    let python = Command::new("python3").args(["-c", "import requests"]).output().is_ok_and(|o| o.status.success());
    let mut ways = vec![
        Way { name: "sendkit-ureq cancel_jobs", concurrency: 64, run: ureq_cancel_jobs },
        Way { name: "sendkit-hyper cancel_jobs", concurrency: 64, run: hyper_cancel_jobs },
    ];
    match cli_path() {
        Some(_) => ways.push(Way { name: "sendkit cancel -", concurrency: 64, run: sendkit_cancel }),
        None => println!("note: no sendkit binary beside this one (cargo build --release -p sendkit-cli): row skipped"),
    }
    if python {
        ways.push(Way { name: "python requests loop (the seed's)", concurrency: 1, run: python_loop });
    } else {
        println!("note: python3 with requests is missing: its row is skipped");
    }
    println!("| way | calls | concurrency | median seconds | physical limit | of the limit |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    let mut serial = 0;
    for way in ways {
        let n = if way.concurrency == 1 { python_calls } else { calls };
        let mut seconds = Vec::new();
        for _ in 0..rounds {
            let ids: Vec<String> = (0..n).map(|_| format!("bulk_{}", next(&mut serial))).collect();
            for id in &ids {
                server.insert_job(Job::new(id.as_str(), JobType::EmailVerification, JobStatus::Processing));
            }
            let started = Instant::now();
            (way.run)(&server, &ids, way.concurrency);
            seconds.push(started.elapsed().as_secs_f64());
        }
        seconds.sort_by(f64::total_cmp);
        let median = seconds[seconds.len() / 2];
        let limit = n as f64 * LATENCY.as_secs_f64() / way.concurrency as f64;
        println!("| {} | {n} | {} | {median:.3} | {limit:.3} | {:.2} |", way.name, way.concurrency, limit / median);
    }
}

fn next(serial: &mut usize) -> usize {
    *serial += 1;
    *serial
}
