//! Many flows run by a few workers: what lets a client wait for thousands of jobs with a bounded number of
//! threads or tasks and connections.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sendkit_model::Job;

use crate::error::Error;
use crate::flow::Flow;

/// What happened to one of many jobs being waited for: what `wait_for_jobs` hands its caller, as it happens.
#[derive(Debug)]
#[non_exhaustive]
pub enum WaitEvent {
    /// A job changed (status or counts) since it was last seen.
    Progress(Job),
    /// A job's wait ended: with the job in a terminal status, or with the error that ended its wait.
    Finished {
        /// The job's position in the IDs given.
        index: usize,
        /// The job's ID.
        job_id: String,
        /// How the wait ended.
        result: Result<Job, Error>,
    },
}

/// Flows shared by a few workers, each flow stepped by whichever worker is free when it is due: a flow runs
/// until it asks to sleep, then waits aside, holding no worker, until its time comes. A client's
/// `wait_for_jobs` runs one [`WaitForJob`](crate::WaitForJob) per job this way, so that 10,000 jobs are waited
/// for by as many workers as it is given.
///
/// ```
/// use std::time::{Duration, Instant};
/// use sendkit_proto::{Config, FlowSchedule, Turn, WaitForJob, WaitPolicy};
///
/// let config = Config::builder("sk_live_0123456789").build().unwrap();
/// let waits = ["job_1", "job_2"].map(|id| (id.to_owned(), WaitForJob::new(id, WaitPolicy::default(), &config)));
/// let schedule = FlowSchedule::new(waits);
/// let now = Instant::now();
/// let Turn::Run { index, .. } = schedule.take(now) else { panic!() };
/// assert_eq!(index, 0, "the first due, in the order given");
/// ```
#[derive(Debug)]
pub struct FlowSchedule<F> {
    state: Mutex<State<F>>,
}

#[derive(Debug)]
struct State<F> {
    /// Each flow with its name (the job ID), while no worker holds it and it has not finished.
    flows: Vec<Option<(String, F)>>,
    /// When each parked flow is due, earliest first; ties in the order given.
    due: BinaryHeap<Reverse<(Instant, usize)>>,
    /// Flows not yet finished (parked or held by a worker).
    unfinished: usize,
    /// No flow is taken after a stop.
    stopped: bool,
    /// Workers that take turns, when the schedule was told ([`FlowSchedule::workers`]): one more than there are
    /// unfinished flows is told it is done, so that no worker sleeps idle while the last flows end.
    workers: Option<usize>,
}

/// What a worker does next.
#[derive(Debug)]
pub enum Turn<F> {
    /// Run this flow (call [`Flow::next`] first) until it sleeps or ends, then [`FlowSchedule::park`] or
    /// [`FlowSchedule::finish`] it.
    Run {
        /// The flow's position in the list given.
        index: usize,
        /// Its name: the job ID.
        name: String,
        /// The flow, held by the worker until it hands it back.
        flow: F,
    },
    /// Nothing is due yet: sleep this long, then take again (never more than [`FlowSchedule::LOOK_AGAIN`], as a
    /// flow another worker parks may be due sooner).
    Idle(Duration),
    /// Every flow has finished (or the schedule was stopped): the worker's work is over.
    Done,
}

impl<F: Flow> FlowSchedule<F> {
    /// Flows to run, each with its name, all due at once, in the order given.
    pub fn new(flows: impl IntoIterator<Item = (String, F)>) -> Self {
        Self::starting(flows, Instant::now())
    }

    /// Flows to run, each with its name, all due at `now` (as the caller's clock reads it), in the order given.
    pub fn starting(flows: impl IntoIterator<Item = (String, F)>, now: Instant) -> Self {
        let flows: Vec<Option<(String, F)>> = flows.into_iter().map(Some).collect();
        let due = (0..flows.len()).map(|index| Reverse((now, index))).collect();
        let unfinished = flows.len();
        Self { state: Mutex::new(State { flows, due, unfinished, stopped: false, workers: None }) }
    }

    /// The same schedule, told that `count` workers take its turns: a worker beyond the number of unfinished
    /// flows gets [`Turn::Done`] rather than [`Turn::Idle`], since no flow will ever need it. The last flow's end
    /// then ends every worker's work at once, instead of when an idle one wakes to look again.
    pub fn workers(self, count: usize) -> Self {
        let mut state = self.state.into_inner().unwrap_or_else(|poisoned| poisoned.into_inner());
        state.workers = Some(count);
        Self { state: Mutex::new(state) }
    }

    /// The next turn of a free worker at `now`.
    pub fn take(&self, now: Instant) -> Turn<F> {
        let mut state = self.lock();
        if state.stopped || state.unfinished == 0 {
            return Turn::Done;
        }
        match state.due.peek().copied() {
            Some(Reverse((at, index))) if at <= now => {
                state.due.pop();
                match state.flows[index].take() {
                    Some((name, flow)) => Turn::Run { index, name, flow },
                    None => Turn::Idle(Duration::ZERO),
                }
            }
            // Nothing due: a worker with no flow it could ever run (there are more workers than unfinished flows)
            // is done; the others sleep until the next is due, and look again soon, as a held flow may park.
            _ if state.workers.is_some_and(|workers| workers > state.unfinished) => {
                state.workers = state.workers.map(|workers| workers - 1);
                Turn::Done
            }
            Some(Reverse((at, _))) => Turn::Idle((at - now).min(Self::LOOK_AGAIN)),
            None => Turn::Idle(Self::LOOK_AGAIN),
        }
    }

    /// Hands a flow back that asked to sleep until `at`.
    pub fn park(&self, index: usize, name: String, flow: F, at: Instant) {
        let mut state = self.lock();
        if let Some(slot) = state.flows.get_mut(index) {
            *slot = Some((name, flow));
            state.due.push(Reverse((at, index)));
        }
    }

    /// A flow has ended: it is not taken again.
    pub fn finish(&self) {
        let mut state = self.lock();
        state.unfinished = state.unfinished.saturating_sub(1);
    }

    /// Whether every flow has finished (or the schedule was stopped): nothing more will be reported.
    pub fn is_done(&self) -> bool {
        let state = self.lock();
        state.stopped || state.unfinished == 0
    }

    /// No flow is taken any more; workers end after the turn they hold.
    pub fn stop(&self) {
        self.lock().stopped = true;
    }

    /// How long an idle worker sleeps at most before it looks again: a flow a busy worker parks may be due sooner.
    pub const LOOK_AGAIN: Duration = Duration::from_millis(50);

    fn lock(&self) -> std::sync::MutexGuard<'_, State<F>> {
        // Plain data, valid after any panic.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Config, WaitForJob, WaitPolicy};

    #[test]
    fn flows_are_taken_when_due_and_end_once() {
        let config = Config::builder("sk_live_0123456789").build().unwrap();
        let schedule = FlowSchedule::new(
            ["a", "b"].map(|id| (id.to_owned(), WaitForJob::new(id, WaitPolicy::default(), &config))),
        );
        let now = Instant::now();
        let Turn::Run { index: 0, name, flow } = schedule.take(now) else { panic!("a is due") };
        schedule.park(0, name, flow, now + Duration::from_secs(5));
        let Turn::Run { index: 1, .. } = schedule.take(now) else { panic!("b is due") };
        // b is held by a worker, a is parked for 5 s.
        assert!(matches!(schedule.take(now), Turn::Idle(wait) if wait == FlowSchedule::<WaitForJob>::LOOK_AGAIN));
        schedule.finish();
        assert!(matches!(schedule.take(now + Duration::from_secs(5)), Turn::Run { index: 0, .. }));
        schedule.finish();
        assert!(matches!(schedule.take(now), Turn::Done));
    }

    /// Told how many workers there are, the schedule ends the work of those it can never need: when the last flow
    /// ends, no worker is left asleep to look again later.
    #[test]
    fn workers_beyond_the_unfinished_flows_are_done() {
        let config = Config::builder("sk_live_0123456789").build().unwrap();
        let schedule = FlowSchedule::new(
            ["a", "b"].map(|id| (id.to_owned(), WaitForJob::new(id, WaitPolicy::default(), &config))),
        )
        .workers(3);
        let now = Instant::now();
        // Three workers, two flows: the third is done at once.
        let Turn::Run { index: 0, name, flow } = schedule.take(now) else { panic!("a is due") };
        let Turn::Run { index: 1, .. } = schedule.take(now) else { panic!("b is due") };
        assert!(matches!(schedule.take(now), Turn::Done));
        // a sleeps; b ends: its worker is done, and the one left waits for a.
        schedule.park(0, name, flow, now + Duration::from_secs(5));
        schedule.finish();
        assert!(matches!(schedule.take(now), Turn::Done), "two workers, one flow");
        assert!(matches!(schedule.take(now), Turn::Idle(_)), "the last worker waits for a");
        assert!(matches!(schedule.take(now + Duration::from_secs(5)), Turn::Run { index: 0, .. }));
        schedule.finish();
        assert!(matches!(schedule.take(now), Turn::Done));
    }
}
