//! `sendkit-sim --seeds N [--from S]` runs N seeded schedules (seeds S, S+1, ...) and prints what they drew and
//! found; `sendkit-sim --seed S` runs one and prints its schedule. Exits 1 on any violation, with a one-line
//! reproduction for each failing seed.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use sendkit_sim::{late_effect, run, Driver};

fn main() -> ExitCode {
    // A panic in a schedule is caught and reported as a violation with its seed: no backtrace in between.
    std::panic::set_hook(Box::new(|_| {}));
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value =
        |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).map(|v| v.parse::<u64>());
    match (value("--seed"), value("--seeds"), value("--from")) {
        (Some(Ok(seed)), _, _) => one(seed),
        (None, seeds, from) => {
            let seeds = seeds.unwrap_or(Ok(100_000));
            let from = from.unwrap_or(Ok(0));
            match (seeds, from) {
                (Ok(seeds), Ok(from)) => many(from, seeds),
                _ => usage(),
            }
        }
        _ => usage(),
    }
}

fn usage() -> ExitCode {
    eprintln!("usage: sendkit-sim [--seeds N] [--from S] | --seed S");
    ExitCode::from(2)
}

fn one(seed: u64) -> ExitCode {
    let report = run(seed);
    println!("seed {seed}: {}", report.what);
    println!("requests, in order:");
    for request in &report.requests {
        println!("  {request}");
    }
    println!("outcomes: {:?}", report.outcomes);
    println!("simulated time: {:?}", report.simulated);
    for violation in &report.violations {
        println!("VIOLATION: {violation}");
    }
    if report.violations.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn many(from: u64, seeds: u64) -> ExitCode {
    let started = Instant::now();
    let mut faults: BTreeMap<String, u64> = BTreeMap::new();
    let mut outcomes: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut failing = Vec::new();
    let mut simulated = Duration::ZERO;
    // The named case first: the late effect an outside fault run found.
    for driver in [Driver::Blocking, Driver::Async] {
        let report = late_effect(driver);
        if !report.violations.is_empty() {
            eprintln!("late effect ({driver:?} driver): {}", report.violations.join("; "));
            failing.push(format!("late_effect({driver:?})"));
        }
    }
    for seed in from..from.saturating_add(seeds) {
        let report = run(seed);
        simulated += report.simulated;
        for request in &report.requests {
            *faults.entry(format!("{:?}", request.fault)).or_default() += 1;
        }
        for outcome in &report.outcomes {
            *outcomes.entry(outcome).or_default() += 1;
        }
        if !report.violations.is_empty() {
            if failing.len() < 10 {
                eprintln!("seed {seed} ({}): {}", report.what, report.violations.join("; "));
                eprintln!("  reproduce: cargo xtask sim --seed {seed}");
            }
            failing.push(seed.to_string());
        }
    }
    let took = started.elapsed();
    let requests: u64 = faults.values().sum();
    println!(
        "{seeds} schedules in {:.1} s ({:.0} schedules/s), {requests} requests, {:.0} s of simulated time",
        took.as_secs_f64(),
        seeds as f64 / took.as_secs_f64().max(1e-9),
        simulated.as_secs_f64()
    );
    println!("faults drawn, by kind:");
    for (fault, count) in &faults {
        println!("  {fault:<24} {count:>9}");
    }
    println!("outcomes, by kind:");
    for (outcome, count) in &outcomes {
        println!("  {outcome:<24} {count:>9}");
    }
    println!("{} passed, {} failed", seeds + 2 - failing.len() as u64, failing.len());
    if failing.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
