//! Waiting for many jobs with a bounded number of workers: one engine for each kind of transport.
//!
//! Every job's wait starts when the call starts, so the policy's timeout bounds the whole call, however many jobs
//! there are and however few workers poll them.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::Poll;
use std::time::Instant;

use crate::config::Config;
use crate::flow::{Flow, Step};
use crate::schedule::{FlowSchedule, Turn, WaitEvent};
use crate::transport::{AsyncTransport, Transport};
use crate::wait::{WaitForJob, WaitPolicy};

/// One [`WaitForJob`] per ID, all started at `start`, in a schedule.
fn schedule<'c>(
    job_ids: Vec<String>,
    policy: &WaitPolicy,
    config: &'c Config,
    start: Instant,
    workers: usize,
) -> FlowSchedule<WaitForJob<'c>> {
    let waits = job_ids.into_iter().map(|id| {
        let wait = WaitForJob::new(id.clone(), policy.clone(), config).since(start);
        (id, wait)
    });
    FlowSchedule::starting(waits, start).workers(workers)
}

/// Waits for every job of `job_ids` over a blocking transport with `concurrency` threads at most: each job is
/// polled as [`WaitForJob`] says, by whichever thread is free when its poll is due, and the policy's timeout
/// counts from this call for every job. `each` is called on the calling thread as things happen; a panic in it or
/// in the transport reaches the caller once the other threads have stopped.
pub fn wait_for_jobs<T: Transport + Sync + ?Sized>(
    transport: &T,
    config: &Config,
    job_ids: Vec<String>,
    policy: &WaitPolicy,
    concurrency: usize,
    mut each: impl FnMut(WaitEvent),
) {
    let schedule = schedule(job_ids, policy, config, transport.now().monotonic, concurrency.max(1));
    let (sender, events) = std::sync::mpsc::channel();
    std::thread::scope(|scope| {
        // Stops the workers when this thread leaves the scope, by a panic in `each` included.
        let _stop = StopOnDrop(&schedule);
        for _ in 0..concurrency.max(1) {
            let (sender, schedule) = (sender.clone(), &schedule);
            scope.spawn(move || {
                let worked =
                    std::panic::catch_unwind(AssertUnwindSafe(|| wait_worker_blocking(transport, schedule, &sender)));
                if let Err(panic) = worked {
                    let _ = sender.send(Err(panic));
                }
            });
        }
        drop(sender);
        for event in events {
            match event {
                Ok(event) => each(event),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
    });
}

/// Waits for every job of `job_ids` over an async transport with `concurrency` polls under way at most, as
/// [`wait_for_jobs`] does. The workers run inside this future (nothing is spawned); dropping it stops them.
pub async fn wait_for_jobs_async<T: AsyncTransport + ?Sized>(
    transport: &T,
    config: &Config,
    job_ids: Vec<String>,
    policy: &WaitPolicy,
    concurrency: usize,
    mut each: impl FnMut(WaitEvent),
) {
    let schedule = schedule(job_ids, policy, config, transport.now().monotonic, concurrency.max(1));
    let events = Mutex::new(Vec::new());
    let mut workers: Vec<Pin<Box<dyn Future<Output = ()> + Send + '_>>> =
        (0..concurrency.max(1)).map(|_| Box::pin(wait_worker(transport, &schedule, &events)) as _).collect();
    std::future::poll_fn(|cx| {
        workers.retain_mut(|worker| worker.as_mut().poll(cx).is_pending());
        let ready = std::mem::take(&mut *events.lock().unwrap_or_else(|poisoned| poisoned.into_inner()));
        ready.into_iter().for_each(&mut each);
        // Done when every wait has ended: a worker idling for a flow that will never come is not waited for.
        if workers.is_empty() || schedule.is_done() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await
}

/// What the workers of [`wait_for_jobs`] send the calling thread: an event, or a panic to raise there.
type WaitEvents = std::sync::mpsc::Sender<Result<WaitEvent, Box<dyn std::any::Any + Send>>>;

/// One worker of [`wait_for_jobs`]: runs whichever wait is due until it sleeps or ends. Returns when every wait
/// has ended, or when the calling thread no longer listens.
fn wait_worker_blocking<T: Transport + ?Sized>(
    transport: &T,
    schedule: &FlowSchedule<WaitForJob<'_>>,
    events: &WaitEvents,
) {
    loop {
        let (index, name, mut flow) = match schedule.take(transport.now().monotonic) {
            Turn::Done => return,
            Turn::Idle(pause) => {
                transport.sleep(pause);
                continue;
            }
            Turn::Run { index, name, flow } => (index, name, flow),
        };
        let mut step = flow.next(transport.now());
        loop {
            while let Some(job) = flow.take_progress() {
                if events.send(Ok(WaitEvent::Progress(job))).is_err() {
                    return;
                }
            }
            step = match step {
                Step::Send(attempt) => {
                    let outcome = transport.send(attempt);
                    flow.receive(outcome, transport.now())
                }
                other => {
                    let ended = end_turn(schedule, index, name, flow, other, transport.now().monotonic);
                    if ended.is_some_and(|event| events.send(Ok(event)).is_err()) {
                        return;
                    }
                    break;
                }
            };
        }
    }
}

/// One worker of [`wait_for_jobs_async`]: runs whichever wait is due until it sleeps or ends.
async fn wait_worker<T: AsyncTransport + ?Sized>(
    transport: &T,
    schedule: &FlowSchedule<WaitForJob<'_>>,
    events: &Mutex<Vec<WaitEvent>>,
) {
    loop {
        let (index, name, mut flow) = match schedule.take(transport.now().monotonic) {
            Turn::Done => return,
            Turn::Idle(pause) => {
                transport.sleep(pause).await;
                continue;
            }
            Turn::Run { index, name, flow } => (index, name, flow),
        };
        let mut step = flow.next(transport.now());
        loop {
            // Each event is handed out as it comes, not at the end of the turn.
            while let Some(job) = flow.take_progress() {
                push(events, WaitEvent::Progress(job));
            }
            step = match step {
                Step::Send(attempt) => {
                    let outcome = transport.send(attempt).await;
                    flow.receive(outcome, transport.now())
                }
                other => {
                    if let Some(event) = end_turn(schedule, index, name, flow, other, transport.now().monotonic) {
                        push(events, event);
                    }
                    break;
                }
            };
        }
    }
}

/// Queues an event for the caller of [`wait_for_jobs_async`].
fn push(events: &Mutex<Vec<WaitEvent>>, event: WaitEvent) {
    events.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push(event);
}

/// What a turn ends with: the flow parked until its pause is over, or finished and reported.
fn end_turn<'c>(
    schedule: &FlowSchedule<WaitForJob<'c>>,
    index: usize,
    name: String,
    flow: WaitForJob<'c>,
    step: Step<sendkit_model::Job>,
    now: Instant,
) -> Option<WaitEvent> {
    match step {
        Step::Sleep(pause) => {
            schedule.park(index, name, flow, now + pause);
            None
        }
        Step::Done(result) => {
            schedule.finish();
            Some(WaitEvent::Finished { index, job_id: name, result })
        }
        // The caller carried out every send.
        Step::Send(_) => {
            schedule.finish();
            Some(WaitEvent::Finished {
                index,
                job_id: name,
                result: Err(crate::Error::Internal { message: "a wait's turn ended on a send" }),
            })
        }
    }
}

/// Stops a schedule when dropped: its workers end after their current turn.
struct StopOnDrop<'a, F: Flow>(&'a FlowSchedule<F>);

impl<F: Flow> Drop for StopOnDrop<'_, F> {
    fn drop(&mut self) {
        self.0.stop();
    }
}
