//! The soak: many operations, mixed, through both adapters, against an emulator binary that injects random faults;
//! then the client's tally is checked against the emulator's ledger. Run it with `cargo xtask soak`.
//!
//! ```text
//! soak --base-url http://127.0.0.1:PORT --api-key KEY [--ops 100000] [--concurrency 64] [--threads 8]
//! ```
//!
//! Exit 0 when nothing was lost, nothing was done twice, every failure is accounted for by an injected fault and
//! memory stayed flat; 1 otherwise.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sendkit_model::{EnrichRequest, EnrichmentType, JobStatus};
use sendkit_proto::{Config, Error, RetryPolicy};

/// What one operation's outcome says of a job, recorded in that operation's slot.
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Event {
    Created = 1,
    Cancelled = 2,
    /// The cancel failed: the job may or may not be cancelled.
    CancelFailed = 3,
}

/// The client's record. Job IDs are kept as 64-bit fingerprints in slots allocated and written before the run
/// starts, so that what the soak itself remembers does not show as growth in the memory figure.
struct Tally {
    started: AtomicU64,
    ops: AtomicU64,
    enrich_ok: AtomicU64,
    /// Enrich failures whose request may have reached the server: charged or not, only the ledger knows.
    enrich_unknown: AtomicU64,
    failures: Mutex<BTreeMap<String, u64>>,
    jobs: Vec<AtomicU64>,
    /// Per slot, the `Event` recorded there as its number, or 0 for none.
    events: Vec<std::sync::atomic::AtomicU8>,
    rss_at_tenth: AtomicU64,
}

impl Tally {
    fn new(budget: u64) -> Self {
        let slots = usize::try_from(budget).expect("a budget that fits in memory");
        Self {
            started: AtomicU64::new(0),
            ops: AtomicU64::new(0),
            enrich_ok: AtomicU64::new(0),
            enrich_unknown: AtomicU64::new(0),
            failures: Mutex::new(BTreeMap::new()),
            jobs: (0..slots).map(|_| AtomicU64::new(u64::MAX)).collect(),
            events: (0..slots).map(|_| std::sync::atomic::AtomicU8::new(0)).collect(),
            rss_at_tenth: AtomicU64::new(0),
        }
    }

    /// Claims the next operation's slot, or `None` once the budget is spent.
    fn claim(&self, budget: u64) -> Option<usize> {
        let n = self.started.fetch_add(1, Ordering::Relaxed);
        if n == budget / 10 {
            self.rss_at_tenth.store(peak_rss_kib(), Ordering::Relaxed);
        }
        (n < budget).then_some(n as usize)
    }

    fn record(&self, slot: usize, id: &str, event: Event) {
        self.jobs[slot].store(fingerprint(id), Ordering::Relaxed);
        self.events[slot].store(event as u8, Ordering::Relaxed);
    }

    fn jobs_with(&self, event: Event) -> HashSet<u64> {
        (0..self.jobs.len())
            .filter(|&slot| self.events[slot].load(Ordering::Relaxed) == event as u8)
            .map(|slot| self.jobs[slot].load(Ordering::Relaxed))
            .collect()
    }

    fn failed(&self, error: &Error) {
        let kind = format!("{error:?}");
        let kind = kind.split([' ', '(', '{']).next().unwrap_or("?").to_owned();
        let detail = match error {
            Error::Transport { source, .. } => format!("{kind}/{}", source.kind()),
            other => format!("{kind}/{}", other.status().map(|s| s.as_u16().to_string()).unwrap_or_default()),
        };
        *self.failures.lock().unwrap().entry(detail).or_default() += 1;
    }
}

/// One cycle of work for either adapter: enrich, get, cancel, and every fourth time get it again.
macro_rules! cycle {
    ($tally:expr, $budget:expr, $n:expr, enrich = $enrich:expr, get($gid:ident) = $get:expr, cancel($cid:ident) = $cancel:expr) => {{
        let tally: &Tally = $tally;
        let Some(slot) = tally.claim($budget) else { break };
        tally.ops.fetch_add(1, Ordering::Relaxed);
        let id = match $enrich {
            Ok(created) => {
                tally.enrich_ok.fetch_add(1, Ordering::Relaxed);
                let id = created.jobs[0].job_id.clone();
                tally.record(slot, &id, Event::Created);
                id
            }
            Err(error) => {
                if matches!(&error, Error::Transport { .. }) && error.may_have_taken_effect() {
                    tally.enrich_unknown.fetch_add(1, Ordering::Relaxed);
                }
                tally.failed(&error);
                continue;
            }
        };
        if tally.claim($budget).is_none() {
            break;
        }
        tally.ops.fetch_add(1, Ordering::Relaxed);
        if let Err(error) = {
            let $gid: &str = &id;
            $get
        } {
            tally.failed(&error);
        }
        let Some(slot) = tally.claim($budget) else { break };
        tally.ops.fetch_add(1, Ordering::Relaxed);
        match {
            let $cid: &str = &id;
            $cancel
        } {
            Ok(job) if job.status == JobStatus::Cancelled => tally.record(slot, &id, Event::Cancelled),
            Ok(job) => panic!("cancel answered {} for {id}", job.status),
            Err(error) => {
                tally.record(slot, &id, Event::CancelFailed);
                tally.failed(&error);
            }
        }
        if $n % 4 == 0 {
            if tally.claim($budget).is_none() {
                break;
            }
            tally.ops.fetch_add(1, Ordering::Relaxed);
            if let Err(error) = {
                let $gid: &str = &id;
                $get
            } {
                tally.failed(&error);
            }
        }
    }};
}

fn lead() -> EnrichRequest {
    EnrichRequest::new(["507f1f77bcf86cd799439011"], [EnrichmentType::Email])
}

fn run_hyper(config: Config, tally: Arc<Tally>, budget: u64, concurrency: usize) {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async move {
        let client = sendkit_hyper::Client::new(config);
        let tasks: Vec<_> = (0..concurrency)
            .map(|_| {
                let (client, tally) = (client.clone(), Arc::clone(&tally));
                tokio::spawn(async move {
                    for n in 0u64.. {
                        cycle!(
                            &tally,
                            budget,
                            n,
                            enrich = client.enrich(lead()).await,
                            get(id) = client.get_job(id).await,
                            cancel(id) = client.cancel_job(id).await
                        );
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
    });
}

fn run_ureq(config: Config, tally: Arc<Tally>, budget: u64, threads: usize) {
    let client = sendkit_ureq::Client::new(config);
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let (client, tally) = (client.clone(), Arc::clone(&tally));
            std::thread::spawn(move || {
                for n in 0u64.. {
                    cycle!(
                        &tally,
                        budget,
                        n,
                        enrich = client.enrich(lead()),
                        get(id) = client.get_job(id),
                        cancel(id) = client.cancel_job(id)
                    );
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
}

/// A job ID's fingerprint: SipHash with fixed keys, the same for the client's record and the ledger.
fn fingerprint(id: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    #[allow(deprecated)] // SipHasher's fixed keys are the point here: the same fingerprint on both sides.
    let mut hasher = std::hash::SipHasher::new();
    id.hash(&mut hasher);
    hasher.finish()
}

/// Peak resident memory of this process so far, in KiB (Linux `VmHWM`); 0 where it cannot be read.
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
            line.split_whitespace().nth(1)?.parse().ok()
        })
        .unwrap_or(0)
}

struct Args {
    base_url: String,
    api_key: String,
    ops: u64,
    concurrency: usize,
    threads: usize,
}

fn args() -> Result<Args, String> {
    let mut parsed =
        Args { base_url: String::new(), api_key: String::new(), ops: 100_000, concurrency: 64, threads: 8 };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = || value.parse::<u64>().map_err(|e| format!("{flag} {value}: {e}"));
        match flag.as_str() {
            "--base-url" => parsed.base_url = value.clone(),
            "--api-key" => parsed.api_key = value.clone(),
            "--ops" => parsed.ops = number()?,
            "--concurrency" => parsed.concurrency = number()? as usize,
            "--threads" => parsed.threads = number()? as usize,
            other => return Err(format!("unknown flag {other}")),
        }
    }
    if parsed.base_url.is_empty() || parsed.api_key.is_empty() {
        return Err("--base-url and --api-key are required".into());
    }
    Ok(parsed)
}

/// The emulator's ledger, read over its admin route.
fn ledger(base_url: &str) -> serde_json::Value {
    let agent = sendkit_ureq::ureq::Agent::new_with_defaults();
    let mut response = agent.get(format!("{base_url}/__sendkit_mock/ledger")).call().expect("the emulator answers");
    let body = response.body_mut().with_config().limit(256 << 20).read_to_vec().expect("the ledger reads");
    let envelope: serde_json::Value = serde_json::from_slice(&body).expect("the ledger is JSON");
    envelope["data"].clone()
}

fn main() -> ExitCode {
    let args = match args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("soak: {message}");
            return ExitCode::from(2);
        }
    };
    let config = Config::builder(&args.api_key)
        .base_url(&args.base_url)
        .retry(RetryPolicy::default().backoff(Duration::from_millis(1), Duration::from_millis(20)))
        .attempt_timeout(Duration::from_secs(10))
        .build()
        .expect("valid soak settings");
    let before = ledger(&args.base_url);
    let half = args.ops / 2;
    let hyper_tally = Arc::new(Tally::new(half));
    let ureq_tally = Arc::new(Tally::new(args.ops - half));
    // Both adapters at once: more load on the emulator, and the 10% memory mark sees both clients running.
    let ureq_run = {
        let (config, tally, threads) = (config.clone(), Arc::clone(&ureq_tally), args.threads);
        std::thread::spawn(move || {
            let started = Instant::now();
            run_ureq(config, tally, args.ops - half, threads);
            started.elapsed()
        })
    };
    let started = Instant::now();
    run_hyper(config, Arc::clone(&hyper_tally), half, args.concurrency);
    let hyper_time = started.elapsed();
    let ureq_time = ureq_run.join().expect("the ureq workers finish");
    // The later of the two 10% marks: by then both clients are at full speed.
    let rss_tenth =
        hyper_tally.rss_at_tenth.load(Ordering::Relaxed).max(ureq_tally.rss_at_tenth.load(Ordering::Relaxed));
    let rss_end = peak_rss_kib();
    let after = ledger(&args.base_url);
    let report = check(&[&*hyper_tally, &*ureq_tally], &before, &after);

    println!("soak: {} operations against {} with random faults", args.ops, args.base_url);
    for (name, tally, time, width) in [
        ("hyper", &hyper_tally, hyper_time, format!("concurrency {}", args.concurrency)),
        ("ureq", &ureq_tally, ureq_time, format!("{} threads", args.threads)),
    ] {
        let ops = tally.ops.load(Ordering::Relaxed);
        println!(
            "  {name:5} {width:>15}: {ops:>7} ops in {:>6.2} s ({:>6.0} ops/s), failures {:?}",
            time.as_secs_f64(),
            ops as f64 / time.as_secs_f64(),
            tally.failures.lock().unwrap()
        );
    }
    for line in &report.lines {
        println!("  {line}");
    }
    let growth = if rss_tenth == 0 { 0.0 } else { (rss_end as f64 / rss_tenth as f64 - 1.0) * 100.0 };
    println!("  peak RSS: {rss_tenth} KiB at 10% of the run, {rss_end} KiB at the end ({growth:+.1}%)");
    let memory_flat = growth <= 20.0;
    if report.ok && memory_flat {
        println!("soak: PASS");
        ExitCode::SUCCESS
    } else {
        println!("soak: FAIL{}", if memory_flat { "" } else { " (memory grew more than 20%)" });
        ExitCode::FAILURE
    }
}

struct Report {
    ok: bool,
    lines: Vec<String>,
}

fn count(value: &serde_json::Value, key: &str) -> u64 {
    value[key].as_u64().unwrap_or(0)
}

/// Compares what the clients saw with what the emulator did.
fn check(tallies: &[&Tally], before: &serde_json::Value, after: &serde_json::Value) -> Report {
    let mut lines = Vec::new();
    let mut ok = true;
    let mut fail = |ok_now: bool, line: String, lines: &mut Vec<String>| {
        ok &= ok_now;
        lines.push(format!("{} {line}", if ok_now { "ok  " } else { "FAIL" }));
    };
    let sum = |f: &dyn Fn(&Tally) -> u64| tallies.iter().map(|t| f(t)).sum::<u64>();
    let enrich_ok = sum(&|t| t.enrich_ok.load(Ordering::Relaxed));
    let enrich_unknown = sum(&|t| t.enrich_unknown.load(Ordering::Relaxed));
    let failures = sum(&|t| t.failures.lock().unwrap().values().sum());
    let jobs = |event| tallies.iter().flat_map(|t| t.jobs_with(event)).collect::<HashSet<u64>>();
    let (created, cancelled, cancel_failed) = (jobs(Event::Created), jobs(Event::Cancelled), jobs(Event::CancelFailed));

    let charged = count(after, "enrichCalls") - count(before, "enrichCalls");
    let faults = count(after, "faultsServed") - count(before, "faultsServed");
    let by_fingerprint = |ledger: &serde_json::Value| -> HashMap<u64, u64> {
        let cancels: HashMap<String, u64> = serde_json::from_value(ledger["cancels"].clone()).unwrap_or_default();
        cancels.into_iter().map(|(id, n)| (fingerprint(&id), n)).collect()
    };
    let (cancels, before_cancels) = (by_fingerprint(after), by_fingerprint(before));

    fail(
        enrich_ok <= charged && charged <= enrich_ok + enrich_unknown,
        format!(
            "enrich: {enrich_ok} succeeded, {enrich_unknown} ended with an unknown outcome; the emulator charged {charged} \
             (must lie between the two bounds: nothing charged twice)"
        ),
        &mut lines,
    );
    let doubled = cancels.iter().filter(|(id, n)| **n > 1 && !before_cancels.contains_key(*id)).count();
    fail(
        doubled == 0,
        format!(
            "cancels: {} reported cancelled, {} failed; cancelled twice: {doubled}",
            cancelled.len(),
            cancel_failed.len()
        ),
        &mut lines,
    );
    let not_cancelled = cancelled.iter().filter(|id| !cancels.contains_key(*id)).count();
    fail(
        not_cancelled == 0,
        format!("reported cancelled but not cancelled in the emulator: {not_cancelled}"),
        &mut lines,
    );
    let lost = cancels
        .keys()
        .filter(|id| created.contains(*id) && !cancelled.contains(*id) && !cancel_failed.contains(*id))
        .count();
    fail(lost == 0, format!("cancelled in the emulator but never reported, nor failed: {lost} (lost)"), &mut lines);
    fail(
        failures <= faults,
        format!("failures seen by the clients: {failures}; faults the emulator injected: {faults}"),
        &mut lines,
    );
    Report { ok, lines }
}
