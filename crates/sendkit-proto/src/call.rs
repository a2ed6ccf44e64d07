use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::{Duration, SystemTime};

use http::header::RETRY_AFTER;
use http::{Request, Response, StatusCode};

use crate::config::Config;
use crate::error::{Error, TransportErrorKind};
use crate::operation::{Idempotency, Operation, Settle};
use crate::retry::parse_retry_after;

/// What an adapter does next.
#[derive(Debug)]
#[must_use]
pub enum Step<T> {
    /// Wait `wait` (zero for a first attempt), then send `request` and hand its outcome to [`Call::receive`].
    Send {
        /// The request to send.
        request: Request<Vec<u8>>,
        /// How long to wait before sending it.
        wait: Duration,
    },
    /// The call is over.
    Done(Result<T, Error>),
}

/// An operation being carried out: the sans-IO loop that every adapter runs.
///
/// It hands out requests, takes their outcomes and decides what comes next: the result, or another attempt after
/// a wait. Time comes in as an argument, so the decisions are deterministic under test. What is retried:
///
/// - a 429, for any operation, after its `Retry-After` (either form) or the backoff;
/// - a refused connection (the request never left), for any operation;
/// - a 502, 503 or 504, a timeout, or a connection lost mid-call, only for [idempotent](Idempotency) operations:
///   an enrich that may have reached the server is never sent again.
///
/// ```
/// use std::time::SystemTime;
/// use sendkit_proto::{Call, CancelJob, Config, Step};
///
/// let config = Config::builder("sk_live_0123456789").build().unwrap();
/// let mut call = Call::new(CancelJob::new("job_1"), &config);
/// let mut step = call.start();
/// let result = loop {
///     match step {
///         Step::Send { request, wait } => {
///             // sleep `wait`, send `request` with any HTTP client; here the server is busy, then answers.
///             let status = if call.attempt() == 1 { 503 } else { 200 };
///             let body = br#"{"success":true,"data":{"id":"job_1","type":"email_verification","status":"cancelled"}}"#;
///             let response = http::Response::builder().status(status).body(body.to_vec()).unwrap();
///             step = call.receive(Ok(response), SystemTime::now());
///         }
///         Step::Done(result) => break result,
///     }
/// };
/// assert_eq!(result.unwrap().id, "job_1");
/// assert_eq!(call.attempt(), 2);
/// ```
#[derive(Debug)]
pub struct Call<'c, O: Operation> {
    operation: O,
    config: &'c Config,
    phase: Phase<O::Output>,
    attempt: u32,
    maybe_applied: bool,
    random: u64,
    #[cfg(feature = "tracing")]
    spans: Spans,
}

/// The call's span and its current attempt's: fields only, never a header or a body.
#[cfg(feature = "tracing")]
#[derive(Debug)]
struct Spans {
    call: tracing::Span,
    attempt: Option<tracing::Span>,
}

#[derive(Debug)]
enum Phase<T> {
    Primary,
    /// The operation failed in a way that may mean an earlier lost attempt succeeded: reading the job to find out.
    Settling {
        settle: Settle<T>,
        original: Error,
    },
}

impl<'c, O: Operation> Call<'c, O> {
    /// Carry out `operation` with `config`'s settings.
    pub fn new(operation: O, config: &'c Config) -> Self {
        // Jitter needs randomness, not security; std's per-process random hash keys give it without a clock.
        let random = RandomState::new().build_hasher().finish() | 1;
        #[cfg(feature = "tracing")]
        let spans = Spans {
            call: tracing::info_span!("sendkit.call", operation = operation.name(), job_id = operation.job_id()),
            attempt: None,
        };
        Self {
            operation,
            config,
            phase: Phase::Primary,
            attempt: 0,
            maybe_applied: false,
            random,
            #[cfg(feature = "tracing")]
            spans,
        }
    }

    /// The operation being carried out.
    pub fn operation(&self) -> &O {
        &self.operation
    }

    /// How many requests have been handed out so far, the current one included.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The first step: the first request, or the error that stops the call before any I/O.
    pub fn start(&mut self) -> Step<O::Output> {
        self.send_after(Duration::ZERO)
    }

    /// Takes the outcome of the last request sent (its response, or the adapter's [`Error::Transport`] or
    /// [`Error::BodyTooLarge`]) at time `now`, and says what comes next.
    pub fn receive(&mut self, outcome: Result<Response<Vec<u8>>, Error>, now: SystemTime) -> Step<O::Output> {
        #[cfg(feature = "tracing")]
        let attempt_span = self.spans.attempt.take();
        #[cfg(feature = "tracing")]
        if let Some(span) = &attempt_span {
            match &outcome {
                Ok(response) => span.record("status", response.status().as_u16()),
                Err(Error::Transport(transport)) => span.record("error", tracing::field::display(transport.kind())),
                Err(Error::BodyTooLarge { status, .. }) => {
                    span.record("status", status.as_u16()).record("error", "body too large")
                }
                Err(_) => span.record("error", "other"),
            };
        }
        let step = self.decide(outcome, now);
        #[cfg(feature = "tracing")]
        if let (Some(span), Step::Send { wait, .. }) = (&attempt_span, &step) {
            span.record("next_wait_ms", u64::try_from(wait.as_millis()).unwrap_or(u64::MAX));
        }
        step
    }

    fn decide(&mut self, outcome: Result<Response<Vec<u8>>, Error>, now: SystemTime) -> Step<O::Output> {
        let server_wait = outcome
            .as_ref()
            .ok()
            .and_then(|response| response.headers().get(RETRY_AFTER))
            .and_then(|value| parse_retry_after(value, now));
        let error = match (&self.phase, outcome) {
            (_, Err(error)) => error,
            (Phase::Primary, Ok(response)) => match self.operation.parse_response(&response) {
                Ok(output) => return Step::Done(Ok(output)),
                Err(error) => error,
            },
            (Phase::Settling { settle, .. }, Ok(response)) => match settle.get.parse_response(&response) {
                Ok(job) => return self.finish_settling((settle.accept)(job)),
                Err(error) => error,
            },
        };
        let error = match error {
            Error::RateLimited { status, retry_after, message } => {
                Error::RateLimited { status, retry_after: server_wait.or(retry_after), message }
            }
            other => other,
        };
        if matches!(self.phase, Phase::Primary) && outcome_unknown(&error) {
            self.maybe_applied = true;
        }
        if let Some(wait) = self.retry_wait(&error, server_wait) {
            return self.send_after(wait);
        }
        if let Phase::Primary = self.phase {
            if self.maybe_applied {
                if let Some(settle) = self.operation.settle(&error) {
                    self.phase = Phase::Settling { settle, original: error };
                    self.attempt = 0;
                    return self.send_after(Duration::ZERO);
                }
            }
            return Step::Done(Err(error));
        }
        // The settling read failed too: the operation's own answer is the most accurate one left.
        self.finish_settling(None)
    }

    fn send_after(&mut self, wait: Duration) -> Step<O::Output> {
        let request = match &self.phase {
            Phase::Primary => self.operation.build_request(self.config),
            Phase::Settling { settle, .. } => settle.get.build_request(self.config),
        };
        match request {
            Ok(request) => {
                self.attempt += 1;
                #[cfg(feature = "tracing")]
                {
                    let settling = matches!(self.phase, Phase::Settling { .. });
                    self.spans.attempt = Some(tracing::info_span!(
                        parent: &self.spans.call,
                        "sendkit.attempt",
                        attempt = self.attempt,
                        settling,
                        status = tracing::field::Empty,
                        error = tracing::field::Empty,
                        next_wait_ms = tracing::field::Empty,
                    ));
                }
                Step::Send { request, wait }
            }
            Err(error) => Step::Done(Err(error)),
        }
    }

    fn finish_settling(&mut self, accepted: Option<O::Output>) -> Step<O::Output> {
        if let Some(output) = accepted {
            return Step::Done(Ok(output));
        }
        match std::mem::replace(&mut self.phase, Phase::Primary) {
            Phase::Settling { original, .. } => Step::Done(Err(original)),
            Phase::Primary => unreachable_settling(),
        }
    }

    /// How long to wait before the next attempt, or `None` to stop.
    fn retry_wait(&mut self, error: &Error, server_wait: Option<Duration>) -> Option<Duration> {
        let policy = self.config.retry();
        if self.attempt >= policy.get_max_attempts() {
            return None;
        }
        let idempotent = match self.phase {
            Phase::Primary => self.operation.idempotency() == Idempotency::Idempotent,
            Phase::Settling { .. } => true,
        };
        let retryable = match error {
            Error::RateLimited { .. } => true,
            Error::Transport(transport) => {
                transport.kind() != TransportErrorKind::Tls && (idempotent || !transport.may_have_reached_server())
            }
            other => idempotent && other.status().is_some_and(is_gateway_failure),
        };
        if !retryable {
            return None;
        }
        match server_wait {
            Some(wait) => policy.accept_retry_after(wait),
            None => Some(policy.backoff_for(self.attempt, self.next_random())),
        }
    }

    /// xorshift64*: plenty for spreading retries apart.
    fn next_random(&mut self) -> u64 {
        self.random ^= self.random >> 12;
        self.random ^= self.random << 25;
        self.random ^= self.random >> 27;
        self.random.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// `finish_settling` runs only in the settling phase; reaching it otherwise would be a bug in this file, and
/// ends the call with an error rather than a panic.
#[cold]
fn unreachable_settling<T>() -> Step<T> {
    Step::Done(Err(Error::Transport(crate::error::TransportError::new(
        TransportErrorKind::Protocol,
        false,
        "internal: settled a call that was not settling",
    ))))
}

fn is_gateway_failure(status: StatusCode) -> bool {
    matches!(status, StatusCode::BAD_GATEWAY | StatusCode::SERVICE_UNAVAILABLE | StatusCode::GATEWAY_TIMEOUT)
}

/// Whether a failed attempt may nonetheless have been acted on by the API.
fn outcome_unknown(error: &Error) -> bool {
    match error {
        Error::Transport(transport) => transport.may_have_reached_server(),
        other => other.status().is_some_and(is_gateway_failure),
    }
}
