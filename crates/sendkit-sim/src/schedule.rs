//! One schedule: a config, jobs, an operation and a driver drawn from a seed; run in simulated time; every
//! outcome checked against the world's ledger.

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::panic::AssertUnwindSafe;
use std::time::Duration;

use sendkit_model::{EnrichRequest, EnrichmentType, Job, JobStatus};
use sendkit_proto::{
    engine, BatchProgress, Call, CancelJobFlow, CancelOutcome, Config, Enrich, Error, GetJob, Proxy, RetryPolicy,
    WaitEvent, WaitPolicy,
};

use crate::rng::Rng;
use crate::transport::Sim;
use crate::world::{Fault, ModelJob, Sent, World};

/// Which of the engine's drivers runs the schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Driver {
    /// The blocking driver (`engine::run`, and the threaded engines at concurrency 1, which is deterministic).
    Blocking,
    /// The async driver, on the simulation's one-thread executor, at any concurrency.
    Async,
}

/// What a schedule asks of the SDK.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// `cancel_job` on one job.
    Cancel,
    /// `cancel_jobs` on every job.
    CancelMany,
    /// `enrich` of one lead.
    Enrich,
    /// `get_job` on one job.
    Get,
    /// `wait_for_jobs` on every job.
    WaitMany,
}

/// What a schedule did and found.
#[derive(Debug, Default)]
pub struct Report {
    /// Each request as the ledger has it: when, what, its timeout, the fault it met.
    pub requests: Vec<Sent>,
    /// Each outcome's kind, one per call or per job of a batch.
    pub outcomes: Vec<&'static str>,
    /// What broke a promise, each a sentence.
    pub violations: Vec<String>,
    /// Simulated time the schedule took.
    pub simulated: Duration,
    /// The operation and the driver, for the reproduction line.
    pub what: String,
}

/// A schedule as drawn from its seed.
struct Plan {
    driver: Driver,
    operation: Operation,
    config: Config,
    wait: WaitPolicy,
    wait_timeout: Duration,
    concurrency: usize,
    ids: Vec<String>,
}

const KEY: &str = "sk_test_simulation_0123456789";

fn draw(rng: &mut Rng, world: &mut World) -> Plan {
    let driver = if rng.chance(50) { Driver::Blocking } else { Driver::Async };
    let operation = rng.weighted(&[
        (Operation::Cancel, 40),
        (Operation::CancelMany, 20),
        (Operation::Enrich, 15),
        (Operation::Get, 10),
        (Operation::WaitMany, 15),
    ]);
    let millis = |ms: u64| Duration::from_millis(ms);
    let retry = RetryPolicy::default()
        .max_attempts(rng.between(1, 4) as u32)
        .backoff(millis(rng.between(1, 200)), millis(rng.between(200, 2_000)))
        .without_jitter();
    let deadline = millis(rng.between(50, 10_000));
    let config = Config::builder(KEY)
        .proxy(Proxy::Off)
        .retry(retry)
        .attempt_timeout(millis(rng.between(20, 2_000)))
        .deadline(Some(deadline))
        .pacing(rng.chance(70))
        .build()
        .expect("the simulation's settings are valid");
    let wait_timeout = millis(rng.between(200, 20_000));
    let first = millis(rng.between(20, 500));
    let wait = WaitPolicy::default().timeout(wait_timeout).poll_interval(first, first + millis(rng.between(0, 2_000)));
    let count = if matches!(operation, Operation::CancelMany | Operation::WaitMany) { rng.between(1, 8) } else { 1 };
    let mut ids = Vec::new();
    for index in 0..count {
        let id = format!("job_{index}");
        let statuses =
            [JobStatus::Pending, JobStatus::Processing, JobStatus::Completed, JobStatus::Failed, JobStatus::Cancelled];
        // The index of the status, or none: a job that does not exist.
        let drawn = rng.weighted(&[(0, 40), (1, 30), (2, 8), (3, 4), (4, 10), (5, 4)]);
        let status = statuses.get(drawn).cloned();
        if let Some(status) = status {
            let running = !status.is_terminal();
            world.jobs.insert(id.clone(), ModelJob { status, cancelled_by: Vec::new() });
            // Jobs that finish on their own, sooner when waited for.
            let finishes = if operation == Operation::WaitMany { 80 } else { 30 };
            if running && rng.chance(finishes) {
                let ends = if rng.chance(80) { JobStatus::Completed } else { JobStatus::Failed };
                world.finish_later(&id, millis(rng.between(0, wait_timeout.as_millis() as u64 * 3 / 2)), ends);
            }
        }
        ids.push(id);
    }
    Plan { driver, operation, config, wait, wait_timeout, concurrency: rng.between(1, 4) as usize, ids }
}

/// Runs the schedule of `seed`, faults drawn with the world's randomness.
pub fn run(seed: u64) -> Report {
    run_in(World::new(seed), seed)
}

/// Runs a schedule in a world prepared by the caller (a named case's script).
pub fn run_in(mut world: World, seed: u64) -> Report {
    let mut rng = Rng::new(seed ^ 0x5eed_5eed);
    let plan = draw(&mut rng, &mut world);
    run_plan(world, plan)
}

/// The late effect the outside fault run found: attempt 1 reaches a slow server and times out at the client;
/// attempts 2 and 3 are reset before the server reads them; the settling read sees the job `pending`; then the
/// server carries out attempt 1. No outcome may say the cancel did not take effect.
pub fn late_effect(driver: Driver) -> Report {
    let mut world = World::new(1);
    world.jobs.insert("job_0".into(), ModelJob { status: JobStatus::Pending, cancelled_by: Vec::new() });
    world.script = vec![Fault::LateEffect, Fault::ResetBeforeRead, Fault::ResetBeforeRead];
    world.fault_percent = 0;
    let millis = Duration::from_millis;
    let retry = RetryPolicy::default().max_attempts(3).backoff(millis(10), millis(100)).without_jitter();
    let config = Config::builder(KEY)
        .proxy(Proxy::Off)
        .retry(retry)
        .attempt_timeout(millis(1_000))
        .deadline(Some(millis(10_000)))
        .pacing(false)
        .build()
        .expect("valid settings");
    let wait = WaitPolicy::default();
    let ids = vec!["job_0".to_owned()];
    let plan =
        Plan { driver, operation: Operation::Cancel, config, wait, wait_timeout: millis(600_000), concurrency: 1, ids };
    run_plan(world, plan)
}

fn run_plan(world: World, plan: Plan) -> Report {
    let sim = Sim::new(world);
    let mut report =
        Report { what: format!("{:?} through the {:?} driver", plan.operation, plan.driver), ..Report::default() };
    let mut checks = Vec::new();
    let ran = std::panic::catch_unwind(AssertUnwindSafe(|| carry_out(&sim, &plan, &mut report, &mut checks)));
    if let Err(panic) = ran {
        let text =
            panic.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| panic.downcast_ref::<String>().cloned());
        report.violations.push(format!("panic: {}", text.unwrap_or_default()));
    }
    let mut world = sim.world();
    report.simulated = world.elapsed();
    // Every effect still due is carried out before the truth is read: a late effect counts.
    world.drain();
    report.requests = std::mem::take(&mut world.sent);
    for check in checks {
        report.violations.extend(check(&world));
    }
    report
}

/// A check that reads the truth once every late effect has been carried out.
type Check = Box<dyn FnOnce(&World) -> Option<String>>;

/// Notes a check to make once every late effect is in.
fn later(checks: &mut Vec<Check>, check: impl FnOnce(&World) -> Option<String> + 'static) {
    checks.push(Box::new(check));
}

/// Runs the plan's operation and notes each outcome and the checks it calls for.
fn carry_out(sim: &Sim, plan: &Plan, report: &mut Report, checks: &mut Vec<Check>) {
    let config = &plan.config;
    let deadline = config.deadline().unwrap_or(Duration::MAX);
    let started = sim.world().elapsed();
    let took = |sim: &Sim| sim.world().elapsed().saturating_sub(started);
    match plan.operation {
        Operation::Cancel => {
            let id = plan.ids[0].clone();
            let flow = CancelJobFlow::new(id.clone(), config);
            let result = match plan.driver {
                Driver::Blocking => engine::run(sim, flow, |_| {}),
                Driver::Async => sim.block_on(engine::run_async(sim, flow, |_| {})),
            };
            within(report, "cancel_job", took(sim), deadline);
            check_cancel(report, checks, id, result);
        }
        Operation::CancelMany => {
            let mut results: BTreeMap<usize, Result<CancelOutcome, Error>> = BTreeMap::new();
            let mut twice = false;
            let each = |index: usize, _: &str, result: Result<CancelOutcome, Error>| {
                twice |= results.insert(index, result).is_some();
                ControlFlow::Continue(())
            };
            let progress = BatchProgress::new(plan.ids.len());
            let not_started = match plan.driver {
                Driver::Blocking => engine::cancel_jobs_each(sim, config, plan.ids.clone(), 1, &progress, each),
                Driver::Async => sim.block_on(engine::cancel_jobs_each_async(
                    sim,
                    config,
                    plan.ids.clone(),
                    plan.concurrency,
                    &progress,
                    each,
                )),
            };
            if progress.done() != plan.ids.len() {
                report.violations.push(format!(
                    "cancel_jobs: the progress says {} of {} done",
                    progress.done(),
                    plan.ids.len()
                ));
            }
            if twice || !not_started.is_empty() || results.len() != plan.ids.len() {
                report.violations.push(format!(
                    "cancel_jobs: {} outcomes for {} jobs, {} not started, one twice: {twice}",
                    results.len(),
                    plan.ids.len(),
                    not_started.len()
                ));
            }
            let bound = deadline.saturating_mul(plan.ids.len() as u32);
            within(report, "cancel_jobs", took(sim), bound);
            for (index, result) in results {
                let id = plan.ids[index].clone();
                match result {
                    Ok(CancelOutcome::AlreadyCancelled(_)) => {
                        report.outcomes.push("already cancelled");
                        // "Already" says the job was cancelled, and by nothing of this call.
                        later(checks, move |world| {
                            let job = world.jobs.get(&id);
                            let status = job.map(|job| job.status.clone());
                            let by = job.map(|job| job.cancelled_by.clone()).unwrap_or_default();
                            (status != Some(JobStatus::Cancelled) || !by.is_empty()).then(|| {
                                format!("cancel {id} reported already cancelled; the truth is {status:?}, by {by:?}")
                            })
                        });
                    }
                    Ok(CancelOutcome::Cancelled(job)) => check_cancel(report, checks, id, Ok(job)),
                    Ok(other) => report
                        .violations
                        .push(format!("cancel {id}: an outcome the simulation does not know: {other:?}")),
                    Err(error) => check_cancel(report, checks, id, Err(error)),
                }
            }
        }
        Operation::Enrich => {
            let request = EnrichRequest::new(["507f1f77bcf86cd799439011"], [EnrichmentType::Email]);
            let body = sendkit_proto::Operation::build_request(&Enrich::new(request.clone()), config)
                .map(|request| request.into_body())
                .unwrap_or_default();
            let call = Call::new(Enrich::new(request), config);
            let result = match plan.driver {
                Driver::Blocking => engine::run(sim, call, |_| {}),
                Driver::Async => sim.block_on(engine::run_async(sim, call, |_| {})),
            };
            within(report, "enrich", took(sim), deadline);
            report.outcomes.push(kind_of(&result.as_ref().map(|_| ()), false));
            let (ok, may) = (result.is_ok(), result.as_ref().err().is_some_and(Error::may_have_taken_effect));
            later(checks, move |world| {
                let applied = world.enriched.get(&body).copied().unwrap_or(0);
                match () {
                    () if applied > 1 => Some(format!("enrich applied {applied} times")),
                    () if ok && applied != 1 => Some(format!("enrich reported created, applied {applied} times")),
                    () if !ok && !may && applied > 0 => {
                        Some("enrich said it did not take effect, and the server applied it".to_owned())
                    }
                    () => None,
                }
            });
        }
        Operation::Get => {
            let id = plan.ids[0].clone();
            let call = Call::new(GetJob::new(id.clone()), config);
            let result = match plan.driver {
                Driver::Blocking => engine::run(sim, call, |_| {}),
                Driver::Async => sim.block_on(engine::run_async(sim, call, |_| {})),
            };
            within(report, "get_job", took(sim), deadline);
            if let Ok(job) = &result {
                if job.id != id {
                    report.violations.push(format!("get_job {id} returned job {}", job.id));
                }
            }
            report.outcomes.push(kind_of(&result.as_ref().map(|_| ()), false));
        }
        Operation::WaitMany => {
            let mut finished: BTreeMap<usize, Result<Job, Error>> = BTreeMap::new();
            let mut twice = false;
            let mut last_end = Duration::ZERO;
            let each = |event: WaitEvent| {
                if let WaitEvent::Finished { index, result, .. } = event {
                    twice |= finished.insert(index, result).is_some();
                    last_end = took(sim);
                }
            };
            match plan.driver {
                Driver::Blocking => engine::wait_for_jobs(sim, config, plan.ids.clone(), &plan.wait, 1, each),
                Driver::Async => sim.block_on(engine::wait_for_jobs_async(
                    sim,
                    config,
                    plan.ids.clone(),
                    &plan.wait,
                    plan.concurrency,
                    each,
                )),
            }
            // Every job's wait ends within the timeout counted from the call, and the call returns as the last
            // one ends.
            within(report, "wait_for_jobs", last_end, plan.wait_timeout);
            let returned = took(sim);
            if returned > last_end.saturating_add(Duration::from_millis(1)) {
                report
                    .violations
                    .push(format!("wait_for_jobs returned at {returned:?}, its last job ended at {last_end:?}"));
            }
            if twice || finished.len() != plan.ids.len() {
                report.violations.push(format!(
                    "wait_for_jobs: {} outcomes for {} jobs",
                    finished.len(),
                    plan.ids.len()
                ));
            }
            for (index, result) in finished {
                let id = plan.ids[index].clone();
                report.outcomes.push(match &result {
                    Ok(_) => "finished",
                    Err(Error::WaitTimedOut { .. }) => "wait timed out",
                    Err(_) => "wait failed",
                });
                if let Ok(job) = result {
                    let status = job.status.clone();
                    if job.id != id || !status.is_terminal() {
                        report.violations.push(format!("wait for {id} ended with {} {}", job.id, status));
                    }
                    later(checks, move |world| {
                        let truth = world.jobs.get(&id).map(|job| job.status.clone());
                        (truth.as_ref() != Some(&status))
                            .then(|| format!("wait for {id} reported {status}, the truth is {truth:?}"))
                    });
                }
            }
        }
    }
}

/// The call ended within its bound in simulated time (a millisecond's grace: transports keep no finer time).
fn within(report: &mut Report, what: &str, took: Duration, bound: Duration) {
    if took > bound.saturating_add(Duration::from_millis(1)) {
        report.violations.push(format!("{what} took {took:?}, past its deadline of {bound:?}"));
    }
}

/// A cancel's outcome: noted, and checked against the truth once every late effect is in.
fn check_cancel(report: &mut Report, checks: &mut Vec<Check>, id: String, result: Result<Job, Error>) {
    report.outcomes.push(kind_of(&result.as_ref().map(|_| ()), true));
    match result {
        Ok(job) => {
            if job.id != id || job.status != JobStatus::Cancelled {
                report.violations.push(format!("cancel {id} reported job {} as {}", job.id, job.status));
            }
            later(checks, move |world| {
                let truth = world.jobs.get(&id).map(|job| job.status.clone());
                (truth != Some(JobStatus::Cancelled))
                    .then(|| format!("cancel {id} reported cancelled, the truth is {truth:?}"))
            });
        }
        Err(error) if !error.may_have_taken_effect() => {
            let said = error.to_string();
            later(checks, move |world| {
                let by = world.jobs.get(&id).map(|job| job.cancelled_by.clone()).unwrap_or_default();
                (!by.is_empty()).then(|| {
                    format!("cancel {id} said it did not take effect, yet request(s) {by:?} cancelled it: {said}")
                })
            });
        }
        Err(_) => {}
    }
}

/// An outcome's kind, as the simulation counts them.
fn kind_of(result: &Result<(), &Error>, cancel: bool) -> &'static str {
    match result {
        Ok(()) if cancel => "cancelled",
        Ok(()) => "ok",
        Err(Error::NotCancellable { job_status: Some(JobStatus::Cancelled), .. }) => "already cancelled",
        Err(Error::NotCancellable { .. }) => "not cancellable",
        Err(Error::NotFound { .. }) => "not found",
        Err(error) if error.may_have_taken_effect() => "may have taken effect",
        Err(Error::RateLimited { .. }) => "rate limited",
        Err(_) if cancel => "did not take effect",
        Err(_) => "failed",
    }
}
