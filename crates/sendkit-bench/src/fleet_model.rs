//! The fleet in simulated time: N processes, each with sendkit-proto's own `Pacer` and a few workers, against one
//! token bucket that answers a bare 429 when empty (nginx's `limit_req`). Deterministic and fast, so that pacing
//! can be compared over many seeds and fleet sizes in seconds; `--fleet` checks the same against real processes.
//!
//! Each worker takes a job, asks the pacer when it may send, sends, and has its answer a millisecond later: a job
//! refused is retried after the call's backoff (full jitter, 250 ms doubling to 8 s), through the pacer again.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

use sendkit_proto::{Pacer, RateLimitStatus, Slot};

/// One fleet: processes, workers each, jobs each, and the limiter's rate and burst.
#[derive(Debug, Clone, Copy)]
pub struct Fleet {
    pub processes: usize,
    pub concurrency: usize,
    pub jobs_each: usize,
    pub per_second: f64,
    pub burst: f64,
    /// The limiter says its budget on every answer, as the emulator's does with `with_rate_limit_headers()`.
    pub headers: bool,
}

impl Fleet {
    /// `PROCESSES,CONCURRENCY,JOBS_EACH,PER_SECOND`, with `,headers` for a limiter that says its budget; a burst of
    /// 5, as the tables have.
    pub fn parse(shape: &str) -> Result<Self, String> {
        let bad = || format!("{shape:?} is not a fleet: write PROCESSES,CONCURRENCY,JOBS_EACH,PER_SECOND[,headers]");
        let parts: Vec<&str> = shape.split(',').map(str::trim).collect();
        let headers = match parts.get(4) {
            None => false,
            Some(&"headers") if parts.len() == 5 => true,
            Some(_) => return Err(bad()),
        };
        let whole =
            |i: usize| parts.get(i).and_then(|part| part.parse::<usize>().ok()).filter(|n| *n > 0).ok_or_else(bad);
        let per_second = parts.get(3).and_then(|part| part.parse::<f64>().ok()).filter(|r| r.is_finite() && *r > 0.0);
        Ok(Self {
            processes: whole(0)?,
            concurrency: whole(1)?,
            jobs_each: whole(2)?,
            per_second: per_second.ok_or_else(bad)?,
            burst: 5.0,
            headers,
        })
    }
}

/// What a fleet did.
#[derive(Debug, Clone, Copy)]
pub struct Outcome {
    pub share: f64,
    pub fairness: f64,
    pub refusals_per_accepted: f64,
}

/// What happens next in the simulated fleet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    /// A worker of `process` is free to take a job (or to retry `retry`, a job's attempts so far).
    Free { process: usize, retry: Option<u32> },
    /// The time the pacer gave has come: the request reaches the limiter.
    Send { process: usize, attempts: u32 },
    /// The answer to a request sent by `process`, accepted or not, for a job after `attempts` attempts, with the
    /// bucket's whole tokens left and the seconds until the next (the limiter's headers).
    Answer { process: usize, accepted: bool, attempts: u32, left: u64, reset: u64 },
}

/// A small deterministic generator (xorshift64*), for the backoff's jitter.
struct Random(u64);

impl Random {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Runs `fleet` with `seed` for the jitter, in simulated time.
pub fn run(fleet: Fleet, seed: u64) -> Outcome {
    simulate(fleet, seed, false)
}

/// A line of the trace on stdout; a reader that has stopped reading (`| head`) ends the run quietly.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write;
        if writeln!(std::io::stdout(), $($arg)*).is_err() {
            std::process::exit(0);
        }
    }};
}

/// Runs one fleet with one seed and prints what each pacer did: every 429 with the rate before and after it, and
/// when each process finished, then the outcome. The trace a change to the pacer is read against (`--fleet-trace`).
pub fn trace(fleet: Fleet, seed: u64) {
    say!(
        "{} x {} processes, {} jobs each, behind {}/s{} (burst {}), seed {seed}; times in seconds",
        fleet.processes,
        fleet.concurrency,
        fleet.jobs_each,
        fleet.per_second,
        if fleet.headers { " with RateLimit headers" } else { "" },
        fleet.burst
    );
    let outcome = simulate(fleet, seed, true);
    say!(
        "share of the limiter's rate {:.2}, refusals per accepted {:.3}, fairness {:.2}",
        outcome.share,
        outcome.refusals_per_accepted,
        outcome.fairness
    );
}

/// A pacer's rate as the trace prints it.
fn rate_text(rate: Option<f64>) -> String {
    rate.map_or("free".to_owned(), |rate| format!("{rate:.1}/s"))
}

fn simulate(fleet: Fleet, seed: u64, traced: bool) -> Outcome {
    let start = Instant::now();
    let at = |seconds: f64| start + Duration::from_secs_f64(seconds);
    let latency = 0.001;
    let pacers: Vec<Pacer> = (0..fleet.processes).map(|_| Pacer::default()).collect();
    let mut random = Random(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let mut left = vec![fleet.jobs_each; fleet.processes];
    let mut done = vec![0usize; fleet.processes];
    let mut finished = vec![0.0f64; fleet.processes];
    let (mut tokens, mut filled_at) = (fleet.burst, 0.0f64);
    let (mut accepted, mut refused) = (0u64, 0u64);
    // Events by time (in nanoseconds, so that they order exactly), then by the order they were made.
    let mut events: BinaryHeap<Reverse<(u64, u64, Event)>> = BinaryHeap::new();
    let mut made = 0u64;
    let mut push = |events: &mut BinaryHeap<Reverse<(u64, u64, Event)>>, time: f64, event: Event| {
        made += 1;
        events.push(Reverse(((time * 1e9).ceil() as u64, made, event)));
    };
    for process in 0..fleet.processes {
        // The processes start a few milliseconds apart, as a shell starts them.
        let begin = process as f64 * 0.003;
        for _ in 0..fleet.concurrency {
            push(&mut events, begin, Event::Free { process, retry: None });
        }
    }
    while let Some(Reverse((nanos, _, event))) = events.pop() {
        let now = nanos as f64 / 1e9;
        if let (true, Event::Answer { process, left, reset, .. }) = (fleet.headers, event) {
            // As the emulator says it: `RateLimit-Policy: q=PER_SECOND;w=1`, `RateLimit: r=LEFT;t=RESET`.
            let mut status = RateLimitStatus::default();
            status.limit = Some(fleet.per_second.ceil() as u64);
            status.window = Some(Duration::from_secs(1));
            status.remaining = Some(left);
            status.reset = Some(Duration::from_secs(reset));
            pacers[process].budget(at(now), &status, Duration::from_secs(60));
        }
        match event {
            Event::Free { process, retry } => {
                let attempts = match retry {
                    Some(attempts) => attempts,
                    None if left[process] > 0 => {
                        left[process] -= 1;
                        0
                    }
                    None => continue,
                };
                // As Call asks: a slot held is sent after its wait; otherwise the pacer is asked again then.
                match pacers[process].slot(at(now)) {
                    Slot::Send(wait) => {
                        push(&mut events, now + wait.as_secs_f64(), Event::Send { process, attempts: attempts + 1 })
                    }
                    Slot::AskAgain(wait) => {
                        push(&mut events, now + wait.as_secs_f64(), Event::Free { process, retry: Some(attempts) })
                    }
                }
            }
            Event::Send { process, attempts } => {
                tokens = (tokens + (now - filled_at) * fleet.per_second).min(fleet.burst);
                filled_at = now;
                let ok = tokens >= 1.0;
                if ok {
                    tokens -= 1.0;
                }
                let reset = if tokens >= 1.0 { 0.0 } else { ((1.0 - tokens) / fleet.per_second).ceil() };
                let (left, reset) = (tokens.floor() as u64, reset as u64);
                // Answers take 0.5 to 3 ms, as on a loaded loopback: they do not come back in the order sent.
                let took = latency * (0.5 + 2.5 * random.next());
                push(&mut events, now + took, Event::Answer { process, accepted: ok, attempts, left, reset });
            }
            Event::Answer { process, accepted: true, .. } => {
                accepted += 1;
                pacers[process].answered_at(at(now));
                done[process] += 1;
                if done[process] == fleet.jobs_each {
                    finished[process] = now;
                    if traced {
                        say!("{now:.3} p{process} finished, at {}", rate_text(pacers[process].rate()));
                    }
                }
                push(&mut events, now, Event::Free { process, retry: None });
            }
            Event::Answer { process, accepted: false, attempts, .. } => {
                refused += 1;
                let before = pacers[process].rate();
                pacers[process].rate_limited(at(now), None);
                if traced {
                    let after = pacers[process].rate();
                    say!(
                        "{now:.3} p{process} 429 (attempt {attempts}): {} -> {}, {accepted} accepted in all",
                        rate_text(before),
                        rate_text(after)
                    );
                }
                let ceiling = (0.25 * 2f64.powi(attempts.saturating_sub(1).min(10) as i32)).min(8.0);
                let backoff = ceiling * random.next();
                push(&mut events, now + backoff, Event::Free { process, retry: Some(attempts) });
            }
        }
    }
    let seconds = finished.iter().copied().fold(0.0, f64::max);
    let rates: Vec<f64> = finished.iter().map(|end| fleet.jobs_each as f64 / end.max(1e-9)).collect();
    let sum: f64 = rates.iter().sum();
    Outcome {
        share: (accepted as f64 - fleet.burst).max(0.0) / (seconds * fleet.per_second),
        fairness: sum * sum / (rates.len() as f64 * rates.iter().map(|r| r * r).sum::<f64>()),
        refusals_per_accepted: refused as f64 / accepted.max(1) as f64,
    }
}

/// The fleets both fleet benches run, as (processes, concurrency, jobs each, limiter's rate a second), behind a
/// burst of 5: N = 1, 2, 4, 8 processes at concurrency 8 with 200 jobs each behind 50 a second; and the shorter
/// fleets the issue measured (1 x 16 with 200 jobs and 4 x 8 with 400 behind 50 a second, 8 x 8 with 800 behind
/// 100), where how fast the processes find their shares weighs more.
pub const LONG_FLEETS: [(usize, usize, usize, f64); 4] =
    [(1, 8, 200, 50.0), (2, 8, 200, 50.0), (4, 8, 200, 50.0), (8, 8, 200, 50.0)];
/// See [`LONG_FLEETS`].
pub const SHORT_FLEETS: [(usize, usize, usize, f64); 3] = [(1, 16, 200, 50.0), (4, 8, 100, 50.0), (8, 8, 100, 100.0)];
/// Limiters faster and slower than the issue's, without headers: one process and four behind 200 a second, one
/// behind 1,000, one and four behind 10. The pacer's times are in seconds, whatever the limit: how far it is from
/// the figures at other scales is here.
pub const OTHER_LIMITS: [(usize, usize, usize, f64); 5] =
    [(1, 16, 800, 200.0), (4, 16, 500, 200.0), (1, 16, 4000, 1000.0), (1, 8, 100, 10.0), (4, 8, 50, 10.0)];

/// The tables: [`LONG_FLEETS`], then [`SHORT_FLEETS`], each without and with rate-limit headers, then
/// [`OTHER_LIMITS`] without. Medians over `seeds` seeds (and the worst of them).
pub fn table(seeds: u64) {
    println!("Simulated time, sendkit-proto's Pacer, medians of {seeds} seeds (worst in brackets):");
    println!("| processes x concurrency | jobs | limiter | share of the limiter's rate | refusals per accepted | fairness (Jain) |");
    println!("|---|---|---|---|---|---|");
    let fleets = |shapes: &[(usize, usize, usize, f64)]| -> Vec<Fleet> {
        shapes
            .iter()
            .map(|&(processes, concurrency, jobs_each, per_second)| Fleet {
                processes,
                concurrency,
                jobs_each,
                per_second,
                burst: 5.0,
                headers: false,
            })
            .collect()
    };
    let (long, short, other) = (fleets(&LONG_FLEETS), fleets(&SHORT_FLEETS), fleets(&OTHER_LIMITS));
    for (fleets, header_kinds) in [(&long[..], &[false, true][..]), (&short, &[false, true]), (&other, &[false])] {
        for &headers in header_kinds {
            for &fleet in fleets {
                let fleet = Fleet { headers, ..fleet };
                let outcomes: Vec<Outcome> = (0..seeds).map(|seed| run(fleet, seed)).collect();
                let median = |value: fn(&Outcome) -> f64| {
                    let mut values: Vec<f64> = outcomes.iter().map(value).collect();
                    values.sort_by(f64::total_cmp);
                    (values[values.len() / 2], values[0], values[values.len() - 1])
                };
                let (share, share_low, _) = median(|o| o.share);
                let (refusals, _, refusals_high) = median(|o| o.refusals_per_accepted);
                let (fairness, fairness_low, _) = median(|o| o.fairness);
                println!(
                    "| {} x {} | {} | {}/s{} | {share:.2} ({share_low:.2}) | {refusals:.2} ({refusals_high:.2}) | {fairness:.2} ({fairness_low:.2}) |",
                    fleet.processes,
                    fleet.concurrency,
                    fleet.processes * fleet.jobs_each,
                    fleet.per_second,
                    if headers { ", RateLimit headers" } else { "" }
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fleet_is_written_as_its_four_numbers_and_maybe_headers() {
        let fleet = Fleet::parse("8,8,100,100").unwrap();
        assert_eq!((fleet.processes, fleet.concurrency, fleet.jobs_each, fleet.headers), (8, 8, 100, false));
        assert_eq!((fleet.per_second, fleet.burst), (100.0, 5.0));
        assert!(Fleet::parse("2, 8, 50, 12.5, headers").unwrap().headers);
        for bad in
            ["", "8,8,100", "8,8,100,x", "0,8,100,100", "8,8,100,-1", "8,8,100,100,nope", "8,8,100,100,headers,1"]
        {
            assert!(Fleet::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_seed_gives_the_same_fleet_every_time() {
        let fleet = Fleet::parse("4,8,50,10").unwrap();
        let (a, b) = (run(fleet, 7), run(fleet, 7));
        assert_eq!((a.share, a.fairness, a.refusals_per_accepted), (b.share, b.fairness, b.refusals_per_accepted));
        assert!(a.share > 0.5 && a.refusals_per_accepted > 0.0, "{a:?}");
    }
}
