//! Cancelling many jobs at bounded concurrency: one engine for each kind of transport, with the same promises.
//!
//! - At most `concurrency` cancels are under way at once; results reach `each` as they come, with the job's index.
//! - When `each` returns `ControlFlow::Break`, no further cancel starts; those under way finish and are reported.
//! - The IDs never started are returned, so that a tool can say which jobs it did not attempt.

use std::future::Future;
use std::ops::ControlFlow;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::Poll;

use crate::cancel_outcome::CancelOutcome;
use crate::config::Config;
use crate::error::Error;
use crate::progress::{BatchProgress, JobStage};
use crate::settle::CancelJobFlow;
use crate::transport::{AsyncTransport, Transport};

/// Cancels every job of `job_ids` over a blocking transport, at most `concurrency` at a time on scoped threads,
/// each as [`CancelJobFlow`] settles it, each reported as a [`CancelOutcome`] (a job already cancelled is a
/// success), each job's stage kept in `progress` as the batch runs. `each` runs on the calling thread; a panic in it or in the transport
/// reaches the caller once the other threads have stopped. Returns the IDs never started.
pub fn cancel_jobs_each<T: Transport + Sync + ?Sized>(
    transport: &T,
    config: &Config,
    job_ids: Vec<String>,
    concurrency: usize,
    progress: &BatchProgress,
    mut each: impl FnMut(usize, &str, Result<CancelOutcome, Error>) -> ControlFlow<()>,
) -> Vec<String> {
    let ids = job_ids;
    let workers = concurrency.clamp(1, ids.len().max(1));
    // This thread hands out every job, one more as each result comes in, so that a Break is exact: nothing starts
    // after it.
    let mut started = 0;
    let (work, jobs) = std::sync::mpsc::channel::<usize>();
    let jobs = std::sync::Mutex::new(jobs);
    let (sender, results) = std::sync::mpsc::channel();
    std::thread::scope(|scope| {
        for _ in 0..workers {
            let (sender, jobs, ids) = (sender.clone(), &jobs, &ids);
            scope.spawn(move || loop {
                let next = jobs.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).recv();
                let Ok(index) = next else { return };
                // A panic (in a transport of the caller's, say) is carried to the calling thread, which raises it
                // there once the other workers are released.
                let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
                    super::run(transport, CancelJobFlow::new(ids[index].clone(), config), |_| {})
                }));
                if sender.send((index, outcome)).is_err() {
                    return;
                }
            });
        }
        drop(sender);
        let mut in_flight = 0;
        while started < workers.min(ids.len()) && work.send(started).is_ok() {
            progress.set(started, JobStage::InFlight);
            started += 1;
            in_flight += 1;
        }
        let mut stopped = false;
        while in_flight > 0 {
            let Ok((index, outcome)) = results.recv() else { break };
            let result = match outcome {
                Ok(result) => result,
                Err(panic) => {
                    // Idle workers wait on `work`: closing it lets them end, so the scope can finish unwinding.
                    drop(work);
                    std::panic::resume_unwind(panic);
                }
            };
            in_flight -= 1;
            progress.set(index, JobStage::Done);
            stopped |= each(index, &ids[index], CancelOutcome::of(result)).is_break();
            if !stopped && started < ids.len() && work.send(started).is_ok() {
                progress.set(started, JobStage::InFlight);
                started += 1;
                in_flight += 1;
            }
        }
        drop(work);
    });
    ids.into_iter().skip(started).collect()
}

/// A cancel under way, with its job's index.
type Running<'a> = (usize, Pin<Box<dyn Future<Output = Result<sendkit_model::Job, Error>> + Send + 'a>>);

/// Cancels every job of `job_ids` over an async transport, at most `concurrency` at a time, each as
/// [`CancelJobFlow`] settles it. The cancels run inside this future (nothing is spawned, so any executor drives
/// it, a simulated one included); dropping it stops them. Returns the IDs never started.
pub async fn cancel_jobs_each_async<T: AsyncTransport + ?Sized>(
    transport: &T,
    config: &Config,
    job_ids: Vec<String>,
    concurrency: usize,
    progress: &BatchProgress,
    mut each: impl FnMut(usize, &str, Result<CancelOutcome, Error>) -> ControlFlow<()>,
) -> Vec<String> {
    let ids = job_ids;
    let slots = concurrency.max(1);
    let mut running: Vec<Running<'_>> = Vec::with_capacity(slots.min(ids.len()));
    let mut started = 0;
    let mut stopped = false;
    std::future::poll_fn(|cx| loop {
        while !stopped && started < ids.len() && running.len() < slots {
            let flow = CancelJobFlow::new(ids[started].clone(), config);
            running.push((started, Box::pin(super::run_async(transport, flow, |_| {}))));
            progress.set(started, JobStage::InFlight);
            started += 1;
        }
        let mut finished = false;
        let mut slot = 0;
        while slot < running.len() {
            match running[slot].1.as_mut().poll(cx) {
                Poll::Ready(result) => {
                    let (index, _) = running.remove(slot);
                    progress.set(index, JobStage::Done);
                    stopped |= each(index, &ids[index], CancelOutcome::of(result)).is_break();
                    finished = true;
                }
                Poll::Pending => slot += 1,
            }
        }
        if running.is_empty() && (stopped || started >= ids.len()) {
            return Poll::Ready(());
        }
        if !finished {
            return Poll::Pending;
        }
    })
    .await;
    ids.into_iter().skip(started).collect()
}
