//! The one state-machine vocabulary: [`Flow`], [`Step`] and [`Now`].

use std::time::{Duration, Instant, SystemTime};

use http::Response;
use sendkit_model::Job;

use crate::error::Error;
use crate::transport::{Attempt, TransportError};

/// What a driver must do next: the whole list, so that a driver handles every step and nothing else. What a flow
/// has seen along the way (a wait's progress) is not a step: the driver drains it with [`Flow::take_progress`].
#[derive(Debug)]
#[must_use]
pub enum Step<T> {
    /// Send this request within its limits, then hand the outcome to [`Flow::receive`].
    Send(Attempt),
    /// Sleep this long, then call [`Flow::next`].
    Sleep(Duration),
    /// The flow is over.
    Done(Result<T, Error>),
}

/// The clocks, as the driver read them: monotonic time for deadlines, wall time for `Retry-After` dates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    /// Monotonic time: deadlines and elapsed time are measured on it, so a clock step changes nothing.
    pub monotonic: Instant,
    /// Wall-clock time, only for a `Retry-After` date when the answer had no `Date` header to compare it with.
    pub wall: SystemTime,
}

impl Now {
    /// Both clocks as read by the caller.
    pub fn new(monotonic: Instant, wall: SystemTime) -> Self {
        Self { monotonic, wall }
    }

    /// The system's clocks, read now: what a transport's `now()` gives unless it keeps time of its own.
    pub fn system() -> Self {
        Self { monotonic: Instant::now(), wall: SystemTime::now() }
    }
}

/// A state machine that a driver runs to completion. Every flow in proto (a [`Call`](crate::Call), a
/// [`WaitForJob`](crate::WaitForJob)) is driven the same way and yields the same [`Step`]s.
///
/// A driver calls [`Flow::next`] first, and then after every [`Step::Sleep`]; after a [`Step::Send`] it hands
/// the outcome to [`Flow::receive`]. It stops at [`Step::Done`]. After each step it may report what
/// [`Flow::take_progress`] hands out:
///
/// ```text
///            next(now)                      receive(outcome, now)
///   start ─────────────▶ Step ◀──────────────────────────────┐
///                         │ Send(attempt) ── send it ─────────┘
///                         │ Sleep(d) ─────── sleep d ─────▶ next(now)
///                         └ Done(result)
///   after each step: while let Some(job) = flow.take_progress() { report(job) }
/// ```
///
/// The clocks are read by the driver and passed in as [`Now`]; proto never reads a clock, sleeps or does I/O.
pub trait Flow {
    /// What the flow returns when it succeeds.
    type Output;

    /// The next step: call it first, and after every [`Step::Sleep`].
    fn next(&mut self, now: Now) -> Step<Self::Output>;

    /// Takes the outcome of the last [`Step::Send`] and says what comes next.
    fn receive(&mut self, outcome: Result<Response<Vec<u8>>, TransportError>, now: Now) -> Step<Self::Output>;

    /// A job the flow has seen change since the last call (a wait's polls), for the driver to report; `None` when
    /// there is nothing new. Flows that watch nothing have nothing to hand out.
    fn take_progress(&mut self) -> Option<Job> {
        None
    }
}
