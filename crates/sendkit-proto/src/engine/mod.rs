//! The engine: every flow run to its end over a seam that owns bytes, sleep and the clock, written once.
//!
//! | what | blocking ([`Transport`](crate::Transport)) | async ([`AsyncTransport`](crate::AsyncTransport)) |
//! | --- | --- | --- |
//! | one flow | [`run`] | [`run_async`] |
//! | cancel many jobs, bounded | [`cancel_jobs_each`] (scoped threads) | [`cancel_jobs_each_async`] (one future) |
//! | wait for many jobs, bounded | [`wait_for_jobs`] (scoped threads) | [`wait_for_jobs_async`] (one future) |
//!
//! These are the only loops of the SDK: `sendkit-ureq` and `sendkit-hyper` call them with their transports, and
//! the simulation calls them with a simulated one. The engine reads time only through the transport's `now()`
//! and waits only through its `sleep()`, so a simulated transport runs every flow in simulated time. Nothing here
//! opens a socket or needs a runtime: the async engine polls the futures it is given, on whatever executor polls
//! it.

mod cancel_many;
mod drive;
pub(crate) mod transport;
mod wait_many;

pub use cancel_many::{cancel_jobs_each, cancel_jobs_each_async};
pub use drive::{run, run_async};
pub use wait_many::{wait_for_jobs, wait_for_jobs_async};
