//! One operation carried out to the end: attempts, retries, the call's deadline, and the settling read.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::{Duration, Instant};

use http::header::{DATE, RETRY_AFTER};
use http::{Response, StatusCode};
use sendkit_model::ErrorCode;

use crate::config::Config;
use crate::error::{is_gateway_failure, CallInfo, Error};
use crate::flow::{Flow, Now, Step};
use crate::get_job::GetJob;
use crate::operation::{sealed::Sealed, Idempotency, Operation};
use crate::retry_after::parse_retry_after;
use crate::trace::Trace;
use crate::transport::{Attempt, TransportError, TransportErrorKind};

/// An operation being carried out: the sans-IO loop every driver runs, as a [`Flow`].
///
/// It hands out requests, takes their outcomes and decides what comes next: the result, or another attempt after
/// a wait. Time comes in as an argument, so the decisions are deterministic under test.
///
/// - **Retries.** A 429, for any operation, after its `Retry-After` (any of the three HTTP forms) or the backoff;
///   a request that was never sent (the host did not resolve, the connection was refused), for any operation; a
///   502, 503 or 504, a timeout, or a connection lost mid-call, only for operations that may be sent twice: an
///   enrich that may have reached the server is never sent again. A TLS failure is never retried.
/// - **The deadline.** [`Config::deadline`] bounds the whole call: each attempt's timeout and each wait is clamped
///   to what is left, and a retry that would start past it is not made. [`RetryPolicy`](crate::RetryPolicy)'s
///   `max_attempts` counts every request sent, the settling read included.
/// - **Settling.** When a cancel's answer was lost and its retry is refused in a way that can mean "already
///   cancelled", the job is read: the call succeeds if it is that job, now `cancelled`.
///
/// ```
/// use std::time::{Instant, SystemTime};
/// use sendkit_proto::{Call, CancelJob, Config, Flow, Now, Step};
///
/// let config = Config::builder("sk_live_0123456789").build().unwrap();
/// let mut call = Call::new(CancelJob::new("job_1"), &config);
/// let now = || Now::new(Instant::now(), SystemTime::now());
/// let mut step = call.next(now());
/// let result = loop {
///     step = match step {
///         Step::Send(attempt) => {
///             // send `attempt.request` with any HTTP client; here the server is busy, then answers.
///             let status = if call.attempts() == 1 { 503 } else { 200 };
///             let body = br#"{"success":true,"data":{"id":"job_1","type":"email_verification","status":"cancelled"}}"#;
///             let response = http::Response::builder().status(status).body(body.to_vec()).unwrap();
///             call.receive(Ok(response), now())
///         }
///         Step::Sleep(wait) => { /* sleep `wait` */ call.next(now()) }
///         Step::Done(result) => break result,
///         _ => call.next(now()),
///     };
/// };
/// assert_eq!(result.unwrap().id, "job_1");
/// assert_eq!(call.attempts(), 2);
/// ```
#[derive(Debug)]
pub struct Call<'c, O: Operation> {
    operation: O,
    config: &'c Config,
    /// What errors say of the call; made on the first error, so that a call that succeeds allocates none of it.
    info: Option<CallInfo>,
    phase: Phase,
    attempts: u32,
    started: Option<Instant>,
    deadline: Option<Instant>,
    /// A deadline from outside (a wait's), which the call's own may not pass.
    outer_deadline: Option<Instant>,
    /// The timeout the last attempt ran under, to say it when it ran out.
    last_timeout: Duration,
    /// How long the last answer asked to wait, from its `Retry-After` (on a 429, or a 503 as RFC 9110 allows).
    server_wait: Option<Duration>,
    /// The error that the pending retry follows, returned if the deadline leaves no time for the retry.
    last_error: Option<Error>,
    maybe_applied: bool,
    done: bool,
    random: u64,
    trace: Trace,
}

/// What an answer was read as.
enum Read<T> {
    Output(T),
    Job(Box<sendkit_model::Job>),
}

#[derive(Debug)]
enum Phase {
    Primary,
    /// The operation was refused in a way that may mean an earlier lost attempt succeeded: reading the job.
    Settling {
        original: Error,
    },
}

impl<'c, O: Operation> Call<'c, O> {
    /// Carry out `operation` with `config`'s settings.
    pub fn new(operation: O, config: &'c Config) -> Self {
        // Jitter needs randomness, not security; std's per-process random hash keys give it without a clock.
        let random = RandomState::new().build_hasher().finish() | 1;
        let trace = Trace::call(operation.name(), operation.job_id());
        Self {
            operation,
            config,
            info: None,
            phase: Phase::Primary,
            attempts: 0,
            started: None,
            deadline: None,
            outer_deadline: None,
            last_timeout: Duration::ZERO,
            server_wait: None,
            last_error: None,
            maybe_applied: false,
            done: false,
            random,
            trace,
        }
    }

    /// The same call, ending no later than `deadline` whatever the config's own deadline.
    pub(crate) fn within(mut self, deadline: Option<Instant>) -> Self {
        self.outer_deadline = deadline;
        self
    }

    /// The call as errors describe it.
    fn info(&mut self) -> CallInfo {
        let (operation, config) = (&self.operation, self.config);
        self.info
            .get_or_insert_with(|| {
                let has_effect = operation.idempotency() != Idempotency::Safe;
                CallInfo::new(operation.name(), operation.job_id(), config.origin(), has_effect)
            })
            .clone()
    }

    /// The operation being carried out.
    pub fn operation(&self) -> &O {
        &self.operation
    }

    /// How many requests have been handed out so far, the current one included.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    fn finish(&mut self, result: Result<O::Output, Error>) -> Step<O::Output> {
        self.done = true;
        Step::Done(result)
    }

    /// The error to end with when time or attempts ran out before a pending retry.
    fn give_up(&mut self) -> Step<O::Output> {
        let error = self.last_error.take().unwrap_or(Error::Internal { message: "a retry with no error before it" });
        self.finish(Err(error))
    }

    /// The outcome as this call's result (or, while settling, the job read back) or error.
    fn read(&mut self, outcome: Result<Response<Vec<u8>>, TransportError>, now: Now) -> Result<Read<O::Output>, Error> {
        let response = match outcome {
            Ok(response) => response,
            Err(transport) => return Err(self.transport_error(transport, now)),
        };
        self.trace.outcome(Some(response.status().as_u16()), None);
        self.server_wait = server_wait(&response, now);
        let parsed = match &self.phase {
            Phase::Primary => self.operation.parse_response(&response).map(Read::Output),
            Phase::Settling { .. } => self.settle_read().parse_response(&response).map(|job| Read::Job(Box::new(job))),
        };
        let error = match parsed {
            Ok(read) => return Ok(read),
            Err(error) => error,
        };
        let info = self.info();
        Err(match error.for_call(&info) {
            Error::RateLimited { call, status, code, message, request_id, retry_after } => {
                let retry_after = self.server_wait.or(retry_after);
                Error::RateLimited { call, status, code, message, request_id, retry_after }
            }
            other => other,
        })
    }

    fn settle_read(&self) -> GetJob {
        GetJob::new(self.operation.job_id().unwrap_or_default())
    }

    /// Ends a settling read: the job read back shows the call took effect, or the refusal stands.
    fn settled(&mut self, job: Option<sendkit_model::Job>) -> Step<O::Output> {
        if let Some(output) = job.and_then(|job| self.operation.settle(job, Sealed)) {
            return self.finish(Ok(output));
        }
        match std::mem::replace(&mut self.phase, Phase::Primary) {
            Phase::Settling { original } => self.finish(Err(original)),
            Phase::Primary => self.finish(Err(Error::Internal { message: "settled a call that was not settling" })),
        }
    }

    fn transport_error(&mut self, transport: TransportError, now: Now) -> Error {
        let error = self.transport_error_of(transport, now);
        self.trace.outcome(error.status().map(|status| status.as_u16()), Some(&error));
        error
    }

    fn transport_error_of(&mut self, transport: TransportError, now: Now) -> Error {
        self.server_wait = None;
        let status = transport.status();
        match (transport.kind(), status) {
            (TransportErrorKind::BodyTooLarge, Some(status)) => {
                Error::BodyTooLarge { call: self.info(), status, limit: self.config.body_limit(), request_id: None }
            }
            // The head said 429 before the body broke: the server refused, and said so.
            (_, Some(StatusCode::TOO_MANY_REQUESTS)) => Error::RateLimited {
                call: self.info(),
                status: StatusCode::TOO_MANY_REQUESTS,
                code: Some(ErrorCode::RateLimited),
                message: None,
                request_id: None,
                retry_after: None,
            },
            (kind, _) => {
                let source = if kind == TransportErrorKind::Timeout {
                    transport.with_limit(self.last_timeout)
                } else {
                    transport
                };
                let elapsed = now.monotonic.saturating_duration_since(self.started.unwrap_or(now.monotonic));
                Error::Transport { call: self.info(), attempts: self.attempts, elapsed, source }
            }
        }
    }

    /// How long to wait before the next attempt, or `None` to stop.
    fn retry_wait(&mut self, error: &Error) -> Option<Duration> {
        let policy = self.config.retry();
        if self.attempts >= policy.max_attempts {
            return None;
        }
        let repeatable = match self.phase {
            Phase::Primary => self.operation.idempotency() != Idempotency::NonIdempotent,
            Phase::Settling { .. } => true,
        };
        let retryable = match error {
            Error::RateLimited { .. } => true,
            Error::Transport { source, .. } => {
                !matches!(source.kind(), TransportErrorKind::Tls) && (repeatable || !source.may_have_been_processed())
            }
            other => repeatable && other.status().is_some_and(is_gateway_failure),
        };
        if !retryable {
            return None;
        }
        let asked = match error {
            Error::RateLimited { retry_after, .. } => *retry_after,
            _ => self.server_wait,
        };
        match asked {
            Some(wait) => policy.accept_retry_after(wait),
            None => Some(policy.backoff_for(self.attempts, self.next_random())),
        }
    }

    /// Whether the call has time left at `now` for a wait of `wait` and a bit of an attempt after it.
    fn fits(&self, now: Instant, wait: Duration) -> bool {
        self.deadline.is_none_or(|deadline| now.checked_add(wait).is_some_and(|at| at < deadline))
    }

    /// xorshift64*: plenty for spreading retries apart.
    fn next_random(&mut self) -> u64 {
        self.random ^= self.random >> 12;
        self.random ^= self.random << 25;
        self.random ^= self.random >> 27;
        self.random.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

impl<O: Operation> Flow for Call<'_, O> {
    type Output = O::Output;

    fn next(&mut self, now: Now) -> Step<O::Output> {
        if self.done {
            return Step::Done(Err(Error::Internal { message: "a call was driven past its end" }));
        }
        let started = *self.started.get_or_insert(now.monotonic);
        if self.deadline.is_none() {
            let own = self.config.deadline().and_then(|limit| started.checked_add(limit));
            self.deadline = match (own, self.outer_deadline) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        let left = match self.deadline {
            None => None,
            // Less than a millisecond is no time for an attempt: no transport's timer keeps finer time.
            Some(deadline) => {
                match deadline.checked_duration_since(now.monotonic).filter(|left| *left >= Duration::from_millis(1)) {
                    Some(left) => Some(left),
                    None if self.last_error.is_some() => return self.give_up(),
                    None => Some(Duration::from_millis(1)),
                }
            }
        };
        let request = match &self.phase {
            Phase::Primary => self.operation.build_request(self.config),
            Phase::Settling { .. } => self.settle_read().build_request(self.config),
        };
        let request = match request {
            Ok(request) => request,
            Err(error) => {
                let info = self.info();
                return self.finish(Err(error.for_call(&info)));
            }
        };
        self.attempts += 1;
        self.last_error = None;
        self.trace.attempt(self.attempts, matches!(self.phase, Phase::Settling { .. }));
        let timeout = left.map_or(self.config.attempt_timeout(), |left| left.min(self.config.attempt_timeout()));
        self.last_timeout = timeout;
        Step::Send(Attempt {
            request,
            timeout,
            connect_timeout: self.config.connect_timeout().min(timeout),
            body_limit: self.config.body_limit(),
        })
    }

    fn receive(&mut self, outcome: Result<Response<Vec<u8>>, TransportError>, now: Now) -> Step<O::Output> {
        if self.done {
            return Step::Done(Err(Error::Internal { message: "a call was driven past its end" }));
        }
        let error = match self.read(outcome, now) {
            Ok(Read::Output(output)) => return self.finish(Ok(output)),
            Ok(Read::Job(job)) => return self.settled(Some(*job)),
            Err(error) => error,
        };
        if matches!(self.phase, Phase::Primary) && error.may_have_taken_effect() {
            self.maybe_applied = true;
        }
        if let Some(wait) = self.retry_wait(&error) {
            if self.fits(now.monotonic, wait) {
                self.trace.retry_after(wait);
                self.last_error = Some(error);
                return if wait.is_zero() { self.next(now) } else { Step::Sleep(wait) };
            }
        }
        if let Phase::Primary = self.phase {
            let settle = self.maybe_applied
                && self.operation.settles_after(&error, Sealed)
                && self.operation.job_id().is_some()
                && self.attempts < self.config.retry().max_attempts
                && self.fits(now.monotonic, Duration::ZERO);
            if settle {
                self.phase = Phase::Settling { original: error };
                return self.next(now);
            }
            return self.finish(Err(error));
        }
        // The settling read failed: the operation's own answer is the most accurate one there is.
        self.settled(None)
    }
}

/// How long the answer asks to wait, from `Retry-After` in any form; a date is read against the answer's own
/// `Date` when it has one, so a wrong local clock does not matter.
fn server_wait(response: &Response<Vec<u8>>, now: Now) -> Option<Duration> {
    let headers = response.headers();
    let value = headers.get(RETRY_AFTER)?;
    let server_now =
        headers.get(DATE).and_then(|date| httpdate::parse_http_date(date.to_str().ok()?).ok()).unwrap_or(now.wall);
    parse_retry_after(value, server_now)
}
