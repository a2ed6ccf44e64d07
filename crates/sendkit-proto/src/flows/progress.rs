//! Where each job of a batch stands while the batch runs: what a tool stopping on Ctrl-C reports.

use std::sync::Mutex;

/// Where one job of a batch stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum JobStage {
    /// Not handed to a worker: nothing was sent for it.
    NotStarted,
    /// Handed to a worker, no result yet: its request may have been sent, so it may have taken effect.
    InFlight,
    /// Its result was handed to the caller.
    Done,
}

/// Each job's [`JobStage`] in a batch the engine runs (`cancel_jobs_tracked` on both clients), readable from any
/// thread while it runs: after Ctrl-C, which jobs may have been cancelled (in flight) and which were never
/// attempted, from the engine's own record rather than a guess at its hand-out order.
///
/// ```
/// use sendkit_proto::{BatchProgress, JobStage};
///
/// let progress = BatchProgress::new(3);
/// assert_eq!(progress.stage(0), Some(JobStage::NotStarted));
/// assert_eq!(progress.not_started(), [0, 1, 2]);
/// ```
#[derive(Debug)]
pub struct BatchProgress {
    stages: Mutex<Vec<JobStage>>,
}

impl BatchProgress {
    /// A batch of `jobs` jobs, none started.
    pub fn new(jobs: usize) -> Self {
        Self { stages: Mutex::new(vec![JobStage::NotStarted; jobs]) }
    }

    /// The stage of the job at `index`.
    pub fn stage(&self, index: usize) -> Option<JobStage> {
        self.lock().get(index).copied()
    }

    /// The jobs (by index) handed to a worker with no result yet.
    pub fn in_flight(&self) -> Vec<usize> {
        self.indices(JobStage::InFlight)
    }

    /// The jobs (by index) never handed to a worker.
    pub fn not_started(&self) -> Vec<usize> {
        self.indices(JobStage::NotStarted)
    }

    /// How many jobs have a result.
    pub fn done(&self) -> usize {
        self.indices(JobStage::Done).len()
    }

    pub(crate) fn set(&self, index: usize, stage: JobStage) {
        if let Some(slot) = self.lock().get_mut(index) {
            *slot = stage;
        }
    }

    fn indices(&self, stage: JobStage) -> Vec<usize> {
        self.lock().iter().enumerate().filter(|(_, s)| **s == stage).map(|(index, _)| index).collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<JobStage>> {
        // Plain data, valid after any panic.
        self.stages.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
