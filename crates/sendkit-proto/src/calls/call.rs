//! One operation carried out to the end: attempts, retries and the call's deadline.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::{Duration, Instant};

use http::header::{DATE, RETRY_AFTER};
use http::{HeaderValue, Response, StatusCode};
use sendkit_model::ErrorCode;

use crate::config::Config;
use crate::error::{is_gateway_failure, CallInfo, Error};
use crate::flow::{Flow, Now, Step};
use crate::observe::AttemptRecord;
use crate::operation::{Idempotency, Operation};
use crate::pace::Slot;
use crate::rate_limit::RateLimitStatus;
use crate::retry_after::retry_after;
use crate::trace::Trace;
use crate::transport::{Attempt, Delivery, TransportError, TransportErrorKind};

/// An operation being carried out: the sans-IO loop every driver runs, as a [`Flow`].
///
/// It hands out requests, takes their outcomes and decides what comes next: the result, or another attempt after
/// a wait. Time comes in as an argument, so the decisions are deterministic under test.
///
/// - **Retries.** A 429, for any operation, after its `Retry-After` (any of the three HTTP forms) or the backoff;
///   a request that was never sent (the host did not resolve, the connection was refused), for any operation; a
///   502, 503 or 504, a timeout, or a connection lost mid-call, only for operations that may be sent twice: an
///   enrich that may have reached the server is never sent again. A TLS failure, or a proxy refusing its
///   credentials (407), is never retried.
/// - **The deadline.** [`Config::deadline`] bounds the whole call: each attempt's timeout and each wait is clamped
///   to what is left, and a retry that would start past it is not made. [`RetryPolicy`](crate::RetryPolicy)'s
///   `max_attempts` counts every request sent.
/// - **Memory.** Once an attempt may have taken effect, every later error of the call says so
///   ([`Error::may_have_taken_effect`]), whatever the later attempts met. Settling a cancel by reading the job is
///   a flow of its own, [`CancelJobFlow`](crate::CancelJobFlow), which runs this call and then a read.
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
    attempts: u32,
    started: Option<Instant>,
    deadline: Option<Instant>,
    /// A deadline from outside (a wait's), which the call's own may not pass.
    outer_deadline: Option<Instant>,
    /// The timeouts the last attempt ran under (connect, whole attempt), to say the one that ran out.
    last_timeouts: (Duration, Duration),
    /// How long the last answer asked to wait, from its `Retry-After` (on a 429, or a 503 as RFC 9110 allows).
    server_wait: Option<Duration>,
    /// The error that the pending retry follows, returned if the deadline leaves no time for the retry.
    last_error: Option<Error>,
    /// How many answers were 429s: they spend no attempt the call needs (the deadline bounds them).
    rate_limited: u32,
    /// The pacer's slot for the next attempt was reserved and waited for.
    paced: bool,
    /// What a rate limiter reported on the last answer.
    budget: Option<RateLimitStatus>,
    /// The attempt under way, for the observer, when the config has one.
    sent: Option<Sent>,
    done: bool,
    /// The jitter's xorshift state; 0 until the first retry seeds it.
    random: u64,
    trace: Trace,
}

impl<'c, O: Operation> Call<'c, O> {
    /// The most 429s a call waits out before it gives up, deadline or not.
    pub const MAX_RATE_LIMITED: u32 = 50;

    /// Carry out `operation` with `config`'s settings.
    pub fn new(operation: O, config: &'c Config) -> Self {
        let trace = Trace::call(operation.name(), operation.job_id());
        Self {
            operation,
            config,
            info: None,
            attempts: 0,
            started: None,
            deadline: None,
            outer_deadline: None,
            last_timeouts: (Duration::ZERO, Duration::ZERO),
            server_wait: None,
            last_error: None,
            rate_limited: 0,
            paced: false,
            budget: None,
            sent: None,
            done: false,
            random: 0,
            trace,
        }
    }

    /// The same call, ending no later than `deadline` whatever the config's own deadline.
    pub(crate) fn within(mut self, deadline: Option<Instant>) -> Self {
        self.outer_deadline = deadline;
        self
    }

    /// When the call must end by, once it has started.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// The call as errors describe it.
    fn info(&mut self) -> CallInfo {
        self.info_mut().clone()
    }

    fn info_mut(&mut self) -> &mut CallInfo {
        let (operation, config) = (&self.operation, self.config);
        self.info.get_or_insert_with(|| {
            let has_effect = operation.idempotency() != Idempotency::Safe;
            let proxy = config.proxy().map(|proxy| format!("{}:{}", proxy.host(), proxy.port()));
            CallInfo::new(operation.name(), operation.job_id(), config.origin(), proxy, has_effect)
        })
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

    /// The outcome as this call's result or error.
    fn read(&mut self, outcome: Result<Response<Vec<u8>>, TransportError>, now: Now) -> Result<O::Output, Error> {
        let response = match outcome {
            Ok(response) => response,
            Err(transport) => return Err(self.transport_error(transport, now)),
        };
        self.trace.outcome(Some(response.status().as_u16()), None);
        let mut response = response;
        // A Retry-After date is measured against the answer's own clock; lacking one, the driver's. Only an answer
        // that asks to wait needs it.
        if response.headers().contains_key(RETRY_AFTER) && !response.headers().contains_key(DATE) {
            if let Ok(date) = HeaderValue::from_str(&httpdate::fmt_http_date(now.wall)) {
                response.headers_mut().insert(DATE, date);
            }
        }
        // What a limiter says of the budget, on every answer: for the pacer, and for the observer.
        if self.config.pacer().is_some() || self.config.observer().is_some() {
            let headers = response.headers();
            // The answer's own clock, read only for a reset given as a Unix time.
            let wall = || {
                let date = headers.get(DATE).and_then(|date| date.to_str().ok());
                date.and_then(|date| httpdate::parse_http_date(date).ok()).unwrap_or(now.wall)
            };
            self.budget = RateLimitStatus::read_at(headers, &wall);
            if let (Some(pacer), Some(budget)) = (self.config.pacer(), &self.budget) {
                pacer.budget(now.monotonic, budget, self.config.retry().longest_retry_after());
            }
        }
        let error = match self.operation.parse_response(&response) {
            Ok(output) => {
                self.pace(response.status(), None, now);
                return Ok(output);
            }
            Err(error) => error.for_call(&self.info()).without_secrets(self.config.secrets()),
        };
        // Read once: a 429's wait is the error's own; any other answer's (a 503's) is read here.
        self.server_wait = match &error {
            Error::RateLimited { retry_after, .. } => *retry_after,
            _ => retry_after(response.headers()),
        };
        self.pace(response.status(), self.server_wait, now);
        Err(error)
    }

    /// Tells the config's pacer what the answer said: a 429 (and how long it asked to wait), a 503 that asked every
    /// caller to wait, or anything else.
    /// A wait longer than the policy accepts is not held for every call: this call fails saying so, and no other
    /// call of the config would wait that long either, so holding them would only stall them in silence.
    fn pace(&self, status: StatusCode, server_wait: Option<Duration>, now: Now) {
        let server_wait = server_wait.filter(|wait| self.config.retry().accept_retry_after(*wait).is_some());
        if let Some(pacer) = self.config.pacer() {
            match (status, server_wait) {
                (StatusCode::TOO_MANY_REQUESTS, _) => pacer.rate_limited(now.monotonic, server_wait),
                (StatusCode::SERVICE_UNAVAILABLE, Some(wait)) => {
                    pacer.unavailable(now.monotonic, wait);
                    pacer.answered_at(now.monotonic);
                }
                _ => pacer.answered_at(now.monotonic),
            }
        }
    }

    fn transport_error(&mut self, transport: TransportError, now: Now) -> Error {
        let error = self.transport_error_of(transport, now);
        self.trace.outcome(error.status().map(|status| status.as_u16()), Some(&error));
        error
    }

    fn transport_error_of(&mut self, transport: TransportError, now: Now) -> Error {
        self.server_wait = None;
        self.budget = None;
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
                    let (connect, attempt) = self.last_timeouts;
                    let limit = if transport.delivery() == Delivery::NotSent { connect } else { attempt };
                    transport.with_limit(limit)
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
        if matches!(error, Error::RateLimited { .. }) {
            self.rate_limited += 1;
        }
        // A 429 refused the request without acting on it: it spends none of the attempts the call needs, so a
        // batch behind a rate limiter finishes; the deadline, and a cap for calls without one, bound them.
        let spent = self.attempts - self.rate_limited.min(self.attempts.saturating_sub(1));
        if spent >= policy.max_attempts || self.rate_limited > Self::MAX_RATE_LIMITED {
            return None;
        }
        let repeatable = self.operation.idempotency() != Idempotency::NonIdempotent;
        let retryable = match error {
            Error::RateLimited { .. } => true,
            Error::Transport { source, .. } => {
                !matches!(source.kind(), TransportErrorKind::Tls | TransportErrorKind::ProxyAuth)
                    && (repeatable || !source.may_have_taken_effect())
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

    /// Tells the config's observer how the attempt just made ended.
    fn observe(
        &mut self,
        answered: Option<(StatusCode, Option<String>)>,
        error: Option<&Error>,
        retry_in: Option<Duration>,
        now: Now,
    ) {
        let (Some(observer), Some(sent)) = (self.config.observer(), self.sent.take()) else { return };
        let (status, request_id) = answered.map_or((None, None), |(status, id)| (Some(status), id));
        observer.attempt(&AttemptRecord {
            operation: self.operation.name(),
            job_id: self.operation.job_id(),
            method: &sent.method,
            url: &sent.url,
            attempt: self.attempts,
            status,
            request_id: request_id.as_deref(),
            error,
            took: now.monotonic.saturating_duration_since(sent.at),
            retry_in,
            rate_limit: self.budget,
        });
    }

    /// xorshift64*: plenty for spreading retries apart. Seeded at the first retry, so that a call that needs none
    /// (nearly every one) spends nothing on it: jitter needs randomness, not security, and std's per-process random
    /// hash keys give it without a clock.
    fn next_random(&mut self) -> u64 {
        if self.random == 0 {
            self.random = RandomState::new().build_hasher().finish() | 1;
        }
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
        // The shared pacer's slot for this attempt; waiting for it is part of the call's time.
        if let (Some(pacer), false) = (self.config.pacer(), self.paced) {
            let (wait, held) = match pacer.slot(now.monotonic) {
                Slot::Send(wait) => (wait, true),
                Slot::AskAgain(wait) => (wait, false),
            };
            if !wait.is_zero() {
                let fits = self.fits(now.monotonic, wait);
                if fits && self.config.retry().accept_retry_after(wait).is_some() {
                    // A slot held is sent at once after the wait; otherwise the pacer is asked again then.
                    self.paced = held;
                    return Step::Sleep(wait);
                }
                // A wait that does not fit the deadline, or is longer than the policy waits for a Retry-After,
                // ends the call: sending anyway would defy the server that asked every call to wait (and burst
                // near the deadline), and sleeping would stall the call past what its settings allow.
                if self.last_error.is_some() {
                    return self.give_up();
                }
                let message = match pacer.ceiling_alone() {
                    Some(rate) => {
                        let within =
                            if fits { "the longest wait its retry policy accepts" } else { "the call's deadline" };
                        format!("not sent: max_rate ({rate} a second) leaves it no slot within {within}")
                    }
                    None => "not sent: the server asked this client's calls to wait".to_owned(),
                };
                let error = Error::RateLimited {
                    call: self.info().ended_unsent(),
                    status: StatusCode::TOO_MANY_REQUESTS,
                    code: None,
                    message: Some(message),
                    request_id: None,
                    retry_after: Some(wait),
                };
                return self.finish(Err(error));
            }
        }
        self.paced = false;
        let request = match self.operation.build_request(self.config) {
            Ok(request) => request,
            Err(error) => {
                let info = self.info();
                return self.finish(Err(error.for_call(&info)));
            }
        };
        self.attempts += 1;
        self.last_error = None;
        self.trace.attempt(self.attempts, &request);
        let timeout = left.map_or(self.config.attempt_timeout(), |left| left.min(self.config.attempt_timeout()));
        let connect_timeout = connect_timeout_within(self.config.connect_timeout(), timeout);
        self.last_timeouts = (connect_timeout, timeout);
        if self.config.observer().is_some() {
            self.sent =
                Some(Sent { method: request.method().clone(), url: request.uri().to_string(), at: now.monotonic });
        }
        Step::Send(Attempt { request, timeout, connect_timeout, body_limit: self.config.body_limit() })
    }

    fn receive(&mut self, outcome: Result<Response<Vec<u8>>, TransportError>, now: Now) -> Step<O::Output> {
        if self.done {
            return Step::Done(Err(Error::Internal { message: "a call was driven past its end" }));
        }
        // The request ID is read for telemetry only, so a call nobody watches reads no more than it needs.
        let watched = self.config.observer().is_some() || cfg!(feature = "tracing");
        let answered = match &outcome {
            Ok(response) => {
                let mut request_id = watched.then(|| crate::response::request_id(response)).flatten();
                if let Some(id) = request_id.as_mut() {
                    crate::error::scrub(id, self.config.secrets());
                }
                Some((response.status(), request_id))
            }
            Err(transport) => transport.status().map(|status| (status, None)),
        };
        if let Some((_, Some(request_id))) = &answered {
            self.trace.request_id(request_id);
        }
        let error = match self.read(outcome, now) {
            Ok(output) => {
                self.observe(answered, None, None, now);
                return self.finish(Ok(output));
            }
            Err(error) => error,
        };
        // Later errors of this call say what this attempt showed: once it may have acted, so may the call.
        let reached = error.reached_server();
        self.info_mut().note_attempt(reached);
        if let Some(wait) = self.retry_wait(&error) {
            if self.fits(now.monotonic, wait) {
                self.trace.retry_after(wait);
                self.observe(answered, Some(&error), Some(wait), now);
                self.last_error = Some(error);
                return if wait.is_zero() { self.next(now) } else { Step::Sleep(wait) };
            }
        }
        self.observe(answered, Some(&error), None, now);
        self.finish(Err(error))
    }
}

/// What an observer is told of the attempt under way.
#[derive(Debug)]
struct Sent {
    method: http::Method,
    url: String,
    at: Instant,
}

/// The connect timeout of an attempt: strictly under the attempt's own, so that a connection that never completes
/// (a silent host, a stalled TLS handshake) ends as a connect failure, known never sent, rather than as the
/// attempt's timeout, which cannot say whether the request went out.
fn connect_timeout_within(connect: Duration, attempt: Duration) -> Duration {
    let margin = (attempt / 10).max(Duration::from_millis(1));
    connect.min(attempt.saturating_sub(margin)).max(Duration::from_millis(1))
}
