//! Many calls at once: their results, in the order the caller gave the IDs.

use crate::error::Error;

/// The results of calls about many jobs, kept in the order the IDs were given however they finish: the one
/// collector behind both clients' `cancel_jobs`, and for a cancel-many of your own over `cancel_jobs_each`.
///
/// ```
/// use sendkit_proto::ResultsInOrder;
///
/// let mut results = ResultsInOrder::<u32>::new(vec!["job_1".into(), "job_2".into()]);
/// results.record(1, Ok(2)); // finished first
/// results.record(0, Ok(1));
/// let ids: Vec<String> = results.finish().into_iter().map(|(id, _)| id).collect();
/// assert_eq!(ids, ["job_1", "job_2"]);
/// ```
#[derive(Debug)]
pub struct ResultsInOrder<T> {
    ids: Vec<String>,
    results: Vec<Option<Result<T, Error>>>,
}

impl<T> ResultsInOrder<T> {
    /// Room for a result per ID.
    pub fn new(ids: Vec<String>) -> Self {
        let results = ids.iter().map(|_| None).collect();
        Self { ids, results }
    }

    /// The IDs, in order.
    pub fn ids(&self) -> &[String] {
        &self.ids
    }

    /// The result of the call about the `index`-th ID.
    pub fn record(&mut self, index: usize, result: Result<T, Error>) {
        if let Some(slot) = self.results.get_mut(index) {
            *slot = Some(result);
        }
    }

    /// Each ID with its result; one never recorded reads as sendkit's own bug, not as a silent gap.
    pub fn finish(self) -> Vec<(String, Result<T, Error>)> {
        let missing = || Err(Error::Internal { message: "a call of a batch was not run" });
        self.ids.into_iter().zip(self.results).map(|(id, result)| (id, result.unwrap_or_else(missing))).collect()
    }
}
