//! A fleet sharing one key: N `sendkit cancel -` processes behind the emulator's rate limiter (a token bucket that
//! answers a bare 429, as nginx's `limit_req` does), each with its own share of the jobs, none knowing of the
//! others. What the key's budget came to: the share of the limiter's rate the fleet reached, how fairly the
//! processes shared it (Jain's index over their rates), and how many requests were refused for each accepted.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Instant;

use sendkit_mock::{Fault, MockServer};
use sendkit_model::{Job, JobStatus, JobType};

const KEY: &str = "sk_test_fleet_bench";

/// One fleet: how many processes, each at what concurrency, how many jobs each, behind what limiter.
struct Fleet {
    processes: usize,
    concurrency: usize,
    jobs_each: usize,
    per_second: f64,
    burst: u32,
    /// The limiter says its budget on every answer (the IETF RateLimit fields).
    headers: bool,
}

/// What one fleet did.
struct Outcome {
    seconds: f64,
    share: f64,
    fairness: f64,
    refusals_per_accepted: f64,
    all_cancelled: bool,
}

fn run_fleet(cli: &std::path::Path, fleet: &Fleet) -> Outcome {
    let server = MockServer::builder().api_key(KEY).start().expect("the emulator");
    let total = fleet.processes * fleet.jobs_each;
    let ids: Vec<String> = (0..total).map(|i| format!("fleet_{i}")).collect();
    for id in &ids {
        server.insert_job(Job::new(id.as_str(), JobType::EmailVerification, JobStatus::Pending));
    }
    let limiter = Fault::rate_limit(fleet.per_second, fleet.burst);
    server.inject(if fleet.headers { limiter.with_rate_limit_headers() } else { limiter });
    let started = Instant::now();
    let children: Vec<_> = ids
        .chunks(fleet.jobs_each)
        .map(|share| {
            let mut child = Command::new(cli)
                .args(["cancel", "-", "--concurrency", &fleet.concurrency.to_string(), "--deadline", "0"])
                .env_clear()
                .env("SENDKIT_API_KEY", KEY)
                .env("SENDKIT_BASE_URL", server.base_url())
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("sendkit runs");
            child.stdin.take().expect("stdin").write_all(share.join("\n").as_bytes()).expect("the IDs");
            child
        })
        .collect();
    // Each process's rate: its jobs over the time it took, each process waited for on a thread of its own.
    let waits: Vec<_> = children
        .into_iter()
        .map(|child| {
            std::thread::spawn(move || {
                let output = child.wait_with_output().expect("sendkit ends");
                assert!(output.status.success(), "a fleet process failed");
                started.elapsed().as_secs_f64()
            })
        })
        .collect();
    let rates: Vec<f64> =
        waits.into_iter().map(|wait| fleet.jobs_each as f64 / wait.join().expect("a waiting thread")).collect();
    let seconds = started.elapsed().as_secs_f64();
    let ledger = server.ledger();
    let accepted = ledger.cancels.values().sum::<u64>() as f64;
    // The bucket starts full: the burst is free, the rest comes at the limiter's rate.
    let share = (accepted - f64::from(fleet.burst)).max(0.0) / (seconds * fleet.per_second);
    let sum: f64 = rates.iter().sum();
    let fairness = sum * sum / (rates.len() as f64 * rates.iter().map(|r| r * r).sum::<f64>());
    let all_cancelled = ids.iter().all(|id| server.job(id).is_some_and(|job| job.status == JobStatus::Cancelled));
    Outcome {
        seconds,
        share,
        fairness,
        refusals_per_accepted: ledger.rate_limited as f64 / accepted.max(1.0),
        all_cancelled,
    }
}

/// The fleet table: N = 1, 2, 4, 8 processes at concurrency 8, 200 jobs each, behind 50 requests a second (burst 5),
/// without rate-limit headers (as nginx's `limit_req`) and with them, run side by side in each of `rounds` rounds
/// (paired, so that the machine's noise falls on both alike): medians, and the worst round in brackets.
pub fn run(cli: &std::path::Path, rounds: usize) {
    let fleets: Vec<Fleet> = [1, 2, 4, 8]
        .into_iter()
        .flat_map(|processes| {
            [false, true].map(|headers| Fleet {
                processes,
                concurrency: 8,
                jobs_each: 200,
                per_second: 50.0,
                burst: 5,
                headers,
            })
        })
        .collect();
    let mut outcomes: Vec<Vec<Outcome>> = fleets.iter().map(|_| Vec::new()).collect();
    for _ in 0..rounds.max(1) {
        for (fleet, seen) in fleets.iter().zip(&mut outcomes) {
            seen.push(run_fleet(cli, fleet));
        }
    }
    println!(
        "Real processes (`sendkit cancel -`) behind the emulator's limiter, medians of {} rounds (worst in brackets):",
        rounds.max(1)
    );
    println!("| processes x concurrency | jobs | limiter | all done | share of the limiter's rate | refusals (429) per accepted | fairness (Jain) |");
    println!("|---|---|---|---|---|---|---|");
    for headers in [false, true] {
        for (fleet, seen) in fleets.iter().zip(&outcomes).filter(|(fleet, _)| fleet.headers == headers) {
            let stat = |value: fn(&Outcome) -> f64, worst_high: bool| {
                let mut values: Vec<f64> = seen.iter().map(value).collect();
                values.sort_by(f64::total_cmp);
                let worst = if worst_high { values[values.len() - 1] } else { values[0] };
                (values[values.len() / 2], worst)
            };
            let (seconds, _) = stat(|o| o.seconds, true);
            let (share, share_worst) = stat(|o| o.share, false);
            let (refusals, refusals_worst) = stat(|o| o.refusals_per_accepted, true);
            let (fairness, fairness_worst) = stat(|o| o.fairness, false);
            let all_cancelled = seen.iter().all(|o| o.all_cancelled);
            println!(
                "| {} x {} | {} | {}/s{} | {seconds:.1} s{} | {share:.2} ({share_worst:.2}) | {refusals:.2} ({refusals_worst:.2}) | {fairness:.2} ({fairness_worst:.2}) |",
                fleet.processes,
                fleet.concurrency,
                fleet.processes * fleet.jobs_each,
                fleet.per_second,
                if headers { ", RateLimit headers" } else { "" },
                if all_cancelled { "" } else { " (not all cancelled)" },
            );
        }
    }
}
