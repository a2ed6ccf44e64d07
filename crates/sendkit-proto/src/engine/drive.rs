//! One flow, run to its end: the blocking driver and the async driver.

use sendkit_model::Job;

use crate::error::Error;
use crate::flow::{Flow, Step};
use crate::transport::{AsyncTransport, Transport};

/// Runs `flow` to its end over a blocking transport, calling `on_progress` with each job the flow saw change:
/// the one blocking driver.
///
/// ```
/// use sendkit_proto::{engine, Attempt, Call, Config, GetJob, Transport, TransportError};
///
/// struct Answer;
/// impl Transport for Answer {
///     fn send(&self, _: Attempt) -> Result<http::Response<Vec<u8>>, TransportError> {
///         let body = br#"{"success":true,"data":{"id":"job_1","type":"email_verification","status":"pending"}}"#;
///         Ok(http::Response::builder().status(200).body(body.to_vec()).unwrap())
///     }
/// }
///
/// let config = Config::builder("sk_live_0123456789").build().unwrap();
/// let job = engine::run(&Answer, Call::new(GetJob::new("job_1"), &config), |_| {}).unwrap();
/// assert_eq!(job.id, "job_1");
/// ```
pub fn run<T: Transport + ?Sized, F: Flow>(
    transport: &T,
    mut flow: F,
    mut on_progress: impl FnMut(&Job),
) -> Result<F::Output, Error> {
    let mut step = flow.next(transport.now());
    loop {
        while let Some(job) = flow.take_progress() {
            on_progress(&job);
        }
        step = match step {
            Step::Send(attempt) => {
                let outcome = transport.send(attempt);
                flow.receive(outcome, transport.now())
            }
            Step::Sleep(pause) => {
                transport.sleep(pause);
                flow.next(transport.now())
            }
            Step::Done(result) => return result,
        };
    }
}

/// Runs `flow` to its end over an async transport, calling `on_progress` with each job the flow saw change: the
/// one async driver. The future is `Send` when the flow and `on_progress` are.
pub async fn run_async<T: AsyncTransport + ?Sized, F: Flow>(
    transport: &T,
    mut flow: F,
    mut on_progress: impl FnMut(&Job),
) -> Result<F::Output, Error> {
    let mut step = flow.next(transport.now());
    loop {
        while let Some(job) = flow.take_progress() {
            on_progress(&job);
        }
        step = match step {
            Step::Send(attempt) => {
                let outcome = transport.send(attempt).await;
                flow.receive(outcome, transport.now())
            }
            Step::Sleep(pause) => {
                transport.sleep(pause).await;
                flow.next(transport.now())
            }
            Step::Done(result) => return result,
        };
    }
}
