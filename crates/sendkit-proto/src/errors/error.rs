//! The one error type users match on, and the facts every message is made of.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;
use sendkit_model::{ErrorCode, Job, JobStatus};

use crate::text::{Attempts, CodeOr, Escaped, HumanDuration, JobIdText, Optional, Quoted, SnippetText};
use crate::transport::{Delivery, TransportError};

/// The kind of an [`Error`], one per variant, without the variant's fields ([`Error::kind`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// [`Error::Api`]: an error envelope no other kind covers.
    Api,
    /// [`Error::NotCancellable`]: the job has already finished (or was already cancelled).
    NotCancellable,
    /// [`Error::NotFound`]: no such job, or it expired.
    NotFound,
    /// [`Error::Unauthorized`]: the key was refused.
    Unauthorized,
    /// [`Error::RateLimited`]: a 429, or a wait the pacer could not fit.
    RateLimited,
    /// [`Error::UnexpectedResponse`]: an answer the API does not give (an HTML page, a status it never sends).
    UnexpectedResponse,
    /// [`Error::Redirect`]: a redirect, never followed.
    Redirect,
    /// [`Error::Decode`]: a body that is not what the API sends.
    Decode,
    /// [`Error::BodyTooLarge`]: a body over the limit.
    BodyTooLarge,
    /// [`Error::WaitTimedOut`]: a wait ended at its timeout.
    WaitTimedOut,
    /// [`Error::InvalidInput`]: refused before any request.
    InvalidInput,
    /// [`Error::Transport`]: no answer (connect, TLS, timeout, a lost connection).
    Transport,
    /// [`Error::Internal`]: a fault of the SDK itself.
    Internal,
}

/// Everything that can go wrong in a call. One type, for every operation and both adapters.
///
/// Whenever the server answered, the variant keeps the HTTP status ([`Error::status`]), the request ID the server
/// sent ([`Error::request_id`]) and, for the API's own errors, its code and message. `Display` says what was
/// attempted, what happened, and whether the call may have taken effect, each once:
/// `cancel_job job_1: HTTP 400 VALIDATION_ERROR: Job cannot be cancelled in status "completed" (request req_123)`.
/// Server text is shown with control characters escaped. Nothing here ever holds the API key.
///
/// ```
/// use sendkit_proto::{Error, TransportErrorKind};
///
/// fn explain(error: &Error) -> String {
///     match error {
///         Error::NotCancellable { job_status: Some(status), .. } => format!("already {status}"),
///         Error::NotFound { .. } => "no such job, or it expired".to_owned(),
///         Error::RateLimited { retry_after: Some(wait), .. } => format!("try again in {wait:?}"),
///         Error::Transport { source, .. } if source.kind() == TransportErrorKind::Resolve => {
///             "check SENDKIT_BASE_URL: its host does not resolve".to_owned()
///         }
///         other if other.may_have_taken_effect() => format!("{other} (read the job to find out)"),
///         other => other.to_string(),
///     }
/// }
/// # let _ = explain;
/// ```
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The API answered with an error envelope that no more specific variant covers (403, a 400 other than a
    /// refused cancel, a 5xx with the API's envelope).
    #[error("{call}{answer}{}", Effect(self))]
    Api {
        /// The call that failed.
        call: CallInfo,
        /// What the API answered.
        answer: ApiAnswer,
    },
    /// The job is not in a status that can be cancelled (`completed`, `failed` or `cancelled`).
    #[error("{call}{answer}{}", Effect(self))]
    NotCancellable {
        /// The call that failed.
        call: CallInfo,
        /// What the API answered (400 `VALIDATION_ERROR` from the API).
        answer: ApiAnswer,
        /// The job's current status, when the server's message names it.
        job_status: Option<JobStatus>,
    },
    /// No such job, or it expired (jobs expire after 7 days).
    #[error("{call}{answer}{}", Effect(self))]
    NotFound {
        /// The call that failed.
        call: CallInfo,
        /// What the API answered (404 `NOT_FOUND` from the API).
        answer: ApiAnswer,
    },
    /// The API key was refused.
    #[error("{call}{answer}{}", Effect(self))]
    Unauthorized {
        /// The call that failed.
        call: CallInfo,
        /// What the API answered (401 `UNAUTHORIZED` from the API).
        answer: ApiAnswer,
    },
    /// Too many requests; retries, if any, did not get through. Or a call this client's pacer ended before sending
    /// it, because no slot came within its time (a server's wait for every call, [`max_rate`]): then `message` says
    /// why, [`Error::status`] is `None`, and the text leads with `not sent:` rather than a status no server sent.
    ///
    /// [`max_rate`]: crate::ConfigBuilder::max_rate
    #[error("{call}{}{}{}{}", Refusal(self), Optional(" (retry after ", .retry_after.map(HumanDuration), ")"), Optional(" (request ", .request_id.as_deref().map(Escaped), ")"), Effect(self))]
    RateLimited {
        /// The call that failed.
        call: CallInfo,
        /// The HTTP status (429), kept as 429 for a call never sent too.
        status: StatusCode,
        /// The envelope's code, if the body was an API error (a proxy's 429 may have no body).
        code: Option<ErrorCode>,
        /// The server's message, if its body had one.
        message: Option<String>,
        /// The server's request ID, if it sent one.
        request_id: Option<String>,
        /// How long the server asked to wait, from `Retry-After`.
        retry_after: Option<Duration>,
    },
    /// The server answered a status that is not success with a body that is not an API error (an HTML page from
    /// a proxy, an empty body).
    #[error("{call}HTTP {}: not an API answer{}{}{}{}", .status, Optional(" (", .content_type.as_deref().map(Escaped), ")"), SnippetText(.snippet), Optional(" (request ", .request_id.as_deref().map(Escaped), ")"), Effect(self))]
    UnexpectedResponse {
        /// The call that failed.
        call: CallInfo,
        /// The HTTP status.
        status: StatusCode,
        /// The `Content-Type` the server sent, if any.
        content_type: Option<String>,
        /// The start of the body, lossily decoded, at most [`Error::SNIPPET_LEN`] bytes.
        snippet: String,
        /// The server's request ID, if it sent one.
        request_id: Option<String>,
    },
    /// The server answered a redirect. Redirects are never followed, so the key never leaves the base URL's origin.
    #[error("{call}HTTP {}: redirect{} not followed{}{}", .status, Optional(" to ", .location.as_deref().map(Quoted), ""), Optional(" (request ", .request_id.as_deref().map(Escaped), ")"), Effect(self))]
    Redirect {
        /// The call that failed.
        call: CallInfo,
        /// The HTTP status (3xx).
        status: StatusCode,
        /// The `Location` the server named, if any.
        location: Option<String>,
        /// The server's request ID, if it sent one.
        request_id: Option<String>,
    },
    /// A success status whose body is not the JSON expected.
    #[error("{call}HTTP {}: malformed body at `{path}`: {}{}{}{}", .status, Escaped(.message), SnippetText(.snippet), Optional(" (request ", .request_id.as_deref().map(Escaped), ")"), Effect(self))]
    Decode {
        /// The call that failed.
        call: CallInfo,
        /// The HTTP status.
        status: StatusCode,
        /// Where in the JSON parsing failed, e.g. `data.metadata.totalItems` (`.` for the top level).
        path: String,
        /// What was wrong there.
        message: String,
        /// The start of the body, lossily decoded, at most [`Error::SNIPPET_LEN`] bytes.
        snippet: String,
        /// The server's request ID, if it sent one.
        request_id: Option<String>,
    },
    /// The body was larger than the client's limit; reading stopped there.
    #[error("{call}HTTP {}: body larger than the limit of {limit} bytes{}{}", .status, Optional(" (request ", .request_id.as_deref().map(Escaped), ")"), Effect(self))]
    BodyTooLarge {
        /// The call that failed.
        call: CallInfo,
        /// The HTTP status.
        status: StatusCode,
        /// The limit, in bytes.
        limit: u64,
        /// The server's request ID, if it sent one.
        request_id: Option<String>,
    },
    /// A wait for a job ended at its timeout before the job reached a terminal status.
    #[error("wait_for_job {}: not finished within {}{}", JobIdText(.job_id), HumanDuration(*.waited), Optional(" (last seen ", .last_job.as_ref().map(|job| &job.status), ")"))]
    WaitTimedOut {
        /// The job waited for.
        job_id: String,
        /// How long the wait lasted.
        waited: Duration,
        /// The last job a poll returned, if any did.
        last_job: Option<Box<Job>>,
        /// The error of the last poll, when it failed (a passing failure that did not end the wait); also this
        /// error's `source()`.
        #[source]
        last_error: Option<Box<Error>>,
    },
    /// The call was refused before any I/O: a bad job ID, key, base URL, setting or request.
    #[error("invalid input: {0}")]
    InvalidInput(#[from] InvalidInput),
    /// No answer came: the host did not resolve, no connection, a TLS failure, a timeout, a connection lost.
    #[error("{call}{source} ({}{}, {} in {}{})", .call.origin(), Optional(" via proxy ", .call.proxy(), ""), Attempts(*.attempts), HumanDuration(*.elapsed), Effect(self))]
    Transport {
        /// The call that failed.
        call: CallInfo,
        /// How many requests were sent (or tried) in all.
        attempts: u32,
        /// How long the call lasted.
        elapsed: Duration,
        /// What the transport reported of the last attempt; its own error is that error's `source()`.
        source: TransportError,
    },
    /// A bug in sendkit itself, reported rather than panicking. Please report it.
    #[error("internal error in sendkit: {message} (please report this)")]
    Internal {
        /// What went wrong.
        message: &'static str,
    },
}

impl Error {
    /// How many bytes of a body an error keeps.
    pub const SNIPPET_LEN: usize = 256;

    /// The HTTP status of the answer this error came from, or `None` when no status line arrived (nor any request
    /// went, for a call the pacer ended unsent).
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Self::RateLimited { call, .. } if call.never_sent() => None,
            Self::Api { answer, .. }
            | Self::NotCancellable { answer, .. }
            | Self::NotFound { answer, .. }
            | Self::Unauthorized { answer, .. } => Some(answer.status),
            Self::RateLimited { status, .. }
            | Self::UnexpectedResponse { status, .. }
            | Self::Redirect { status, .. }
            | Self::Decode { status, .. }
            | Self::BodyTooLarge { status, .. } => Some(*status),
            Self::Transport { source, .. } => source.status(),
            Self::InvalidInput(_) | Self::WaitTimedOut { .. } | Self::Internal { .. } => None,
        }
    }

    /// The request ID the server sent with its answer (`X-Request-Id` or `Request-Id`), to quote to support.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Self::Api { answer, .. }
            | Self::NotCancellable { answer, .. }
            | Self::NotFound { answer, .. }
            | Self::Unauthorized { answer, .. } => answer.request_id.as_deref(),
            Self::RateLimited { request_id, .. }
            | Self::UnexpectedResponse { request_id, .. }
            | Self::Redirect { request_id, .. }
            | Self::Decode { request_id, .. }
            | Self::BodyTooLarge { request_id, .. } => request_id.as_deref(),
            Self::WaitTimedOut { last_error, .. } => last_error.as_deref().and_then(Error::request_id),
            Self::Transport { .. } | Self::InvalidInput(_) | Self::Internal { .. } => None,
        }
    }

    /// The API's error code, when the server answered with its error envelope.
    pub fn code(&self) -> Option<&ErrorCode> {
        match self {
            Self::Api { answer, .. }
            | Self::NotCancellable { answer, .. }
            | Self::NotFound { answer, .. }
            | Self::Unauthorized { answer, .. } => Some(&answer.code),
            Self::RateLimited { code, .. } => code.as_ref(),
            _ => None,
        }
    }

    /// What kind of failure this is, without its fields: with [`Error::call`] (the context: the call, its
    /// attempts, what reached the server), the error as one context plus a kind, for code that branches on the
    /// kind alone.
    ///
    /// ```
    /// use sendkit_proto::{Error, ErrorKind, InvalidInput};
    ///
    /// let error = Error::from(InvalidInput::MissingEnv("SENDKIT_API_KEY"));
    /// assert_eq!(error.kind(), ErrorKind::InvalidInput);
    /// assert!(error.call().is_none(), "no call was made");
    /// ```
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Api { .. } => ErrorKind::Api,
            Self::NotCancellable { .. } => ErrorKind::NotCancellable,
            Self::NotFound { .. } => ErrorKind::NotFound,
            Self::Unauthorized { .. } => ErrorKind::Unauthorized,
            Self::RateLimited { .. } => ErrorKind::RateLimited,
            Self::UnexpectedResponse { .. } => ErrorKind::UnexpectedResponse,
            Self::Redirect { .. } => ErrorKind::Redirect,
            Self::Decode { .. } => ErrorKind::Decode,
            Self::BodyTooLarge { .. } => ErrorKind::BodyTooLarge,
            Self::WaitTimedOut { .. } => ErrorKind::WaitTimedOut,
            Self::InvalidInput(_) => ErrorKind::InvalidInput,
            Self::Transport { .. } => ErrorKind::Transport,
            Self::Internal { .. } => ErrorKind::Internal,
        }
    }

    /// The call that failed, when the error came from one.
    pub fn call(&self) -> Option<&CallInfo> {
        match self {
            Self::Api { call, .. }
            | Self::NotCancellable { call, .. }
            | Self::NotFound { call, .. }
            | Self::Unauthorized { call, .. }
            | Self::RateLimited { call, .. }
            | Self::UnexpectedResponse { call, .. }
            | Self::Redirect { call, .. }
            | Self::Decode { call, .. }
            | Self::BodyTooLarge { call, .. }
            | Self::Transport { call, .. } => Some(call),
            Self::WaitTimedOut { .. } | Self::InvalidInput(_) | Self::Internal { .. } => None,
        }
    }

    /// Whether making the same call again later may succeed, and is safe: rate limited, a 5xx, a connection that
    /// failed or timed out. Never for an enrich that may have taken effect (it could create the jobs twice), nor
    /// for what asking again cannot mend (a refused key, no such job, a TLS failure, a host that does not
    /// resolve, bad input).
    ///
    /// ```
    /// # fn sort(error: &sendkit_proto::Error) -> &'static str {
    /// if error.is_authentication() {
    ///     "check the key"
    /// } else if error.is_not_found() {
    ///     "no such job"
    /// } else if error.is_retryable() {
    ///     "try again later"
    /// } else if error.may_have_taken_effect() {
    ///     "read the job to see"
    /// } else {
    ///     "give up"
    /// }
    /// # }
    /// ```
    pub fn is_retryable(&self) -> bool {
        use crate::transport::TransportErrorKind as Kind;
        let enrich = self.call().is_some_and(|call| call.operation() == "enrich");
        if enrich && self.may_have_taken_effect() {
            return false;
        }
        match self {
            Self::RateLimited { .. } => true,
            Self::Transport { source, .. } => {
                matches!(source.kind(), Kind::Connect | Kind::Timeout | Kind::ConnectionLost | Kind::Protocol)
            }
            other => other.status().is_some_and(|status| status.is_server_error()),
        }
    }

    /// Whether the API key was refused (401), or is not allowed this call (403).
    pub fn is_authentication(&self) -> bool {
        matches!(self, Self::Unauthorized { .. }) || self.status() == Some(StatusCode::FORBIDDEN)
    }

    /// Whether the job does not exist, or expired (404).
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::NotFound { .. })
    }

    /// Whether the server said the calls are too many (429), or the client held the call back for it.
    pub fn is_rate_limited(&self) -> bool {
        matches!(self, Self::RateLimited { .. })
    }

    /// Whether the call may have taken effect although it failed: a cancel or an enrich whose request may have
    /// reached the server (the connection broke after it went out, the server accepted it but its answer could
    /// not be read, or the server failed with a 5xx), on this attempt or an earlier one of the same call. Read the
    /// job (or list the jobs) to find out. Always `false` for a get, which has no effect, and once a read of the
    /// job showed that the call did not take effect.
    pub fn may_have_taken_effect(&self) -> bool {
        let Some(call) = self.call() else { return false };
        if !call.has_effect() || call.read_back().is_some() {
            return false;
        }
        // The server named a finished status the cancel cannot have led to: nothing of ours took effect.
        if let Self::NotCancellable { job_status: Some(status), .. } = self {
            if *status != JobStatus::Cancelled {
                return false;
            }
        }
        call.earlier().may_have_acted || self.reached_server() == Some(Reached::MayHaveActed)
    }

    /// What this error's own attempt shows of the server: whether it may have acted on the request.
    pub(crate) fn reached_server(&self) -> Option<Reached> {
        match self {
            Self::Transport { source, .. } if source.may_have_taken_effect() => Some(Reached::MayHaveActed),
            Self::Transport { source, .. } if source.delivery() == Delivery::MaybeSent => Some(Reached::Refused),
            Self::Transport { .. } => None,
            // An answer the client could not read is still an answer: a 2xx says the server did it.
            Self::Decode { status, .. }
            | Self::UnexpectedResponse { status, .. }
            | Self::BodyTooLarge { status, .. }
                if status.is_success() =>
            {
                Some(Reached::MayHaveActed)
            }
            other => match other.status() {
                Some(status) if status.is_server_error() => Some(Reached::MayHaveActed),
                Some(_) => Some(Reached::Refused),
                None => None,
            },
        }
    }

    /// The same error, after a read of the job showed `status`: the call did not take effect.
    pub(crate) fn with_read_back(mut self, status: JobStatus) -> Self {
        if let Some(call) = self.call_mut() {
            call.set_read_back(status);
        }
        self
    }

    /// The same error, after a read of the job showed `status`, which does not settle it (the job could still be
    /// cancelled by an attempt the server has yet to carry out).
    pub(crate) fn with_seen(mut self, status: JobStatus) -> Self {
        if let Some(call) = self.call_mut() {
            call.set_seen(status);
        }
        self
    }

    fn call_mut(&mut self) -> Option<&mut CallInfo> {
        match self {
            Self::Api { call, .. }
            | Self::NotCancellable { call, .. }
            | Self::NotFound { call, .. }
            | Self::Unauthorized { call, .. }
            | Self::RateLimited { call, .. }
            | Self::UnexpectedResponse { call, .. }
            | Self::Redirect { call, .. }
            | Self::Decode { call, .. }
            | Self::BodyTooLarge { call, .. }
            | Self::Transport { call, .. } => Some(call),
            Self::WaitTimedOut { .. } | Self::InvalidInput(_) | Self::Internal { .. } => None,
        }
    }

    /// The same error with every text the server sent scrubbed of `secrets` (the API key, the proxy's
    /// credentials): a server or proxy that echoes the key in a message, a page or a header must not carry it into
    /// a terminal, a log or a `--json` line.
    pub(crate) fn without_secrets<'s>(mut self, secrets: impl Iterator<Item = &'s str> + Clone) -> Self {
        let scrub_all = |texts: &mut [&mut String]| {
            for text in texts {
                scrub(text, secrets.clone());
            }
        };
        let scrub_id = |id: &mut Option<String>| {
            if let Some(id) = id {
                scrub(id, secrets.clone());
            }
        };
        match &mut self {
            Self::Api { answer, .. }
            | Self::NotCancellable { answer, .. }
            | Self::NotFound { answer, .. }
            | Self::Unauthorized { answer, .. } => {
                scrub_all(&mut [&mut answer.message]);
                scrub_id(&mut answer.request_id);
            }
            Self::RateLimited { message, request_id, .. } => {
                scrub_id(message);
                scrub_id(request_id);
            }
            Self::UnexpectedResponse { content_type, snippet, request_id, .. } => {
                scrub_all(&mut [snippet]);
                scrub_id(content_type);
                scrub_id(request_id);
            }
            Self::Redirect { location, request_id, .. } => {
                scrub_id(location);
                scrub_id(request_id);
            }
            Self::Decode { path, message, snippet, request_id, .. } => {
                scrub_all(&mut [path, message, snippet]);
                scrub_id(request_id);
            }
            Self::BodyTooLarge { request_id, .. } => scrub_id(request_id),
            Self::WaitTimedOut { .. } | Self::InvalidInput(_) | Self::Transport { .. } | Self::Internal { .. } => {}
        }
        self
    }

    /// The start of `body` as an error keeps it: lossy UTF-8, at most [`Error::SNIPPET_LEN`] bytes, trimmed.
    pub(crate) fn snippet(body: &[u8]) -> String {
        let cut = &body[..body.len().min(Self::SNIPPET_LEN)];
        String::from_utf8_lossy(cut).trim().to_owned()
    }

    /// The same error, said of `call`.
    pub(crate) fn for_call(mut self, info: &CallInfo) -> Self {
        if let Some(call) = self.call_mut() {
            call.clone_from(info);
        }
        self
    }
}

/// What the API answered when it refused a call with its error envelope: one shape for every variant that carries
/// it. Written as `HTTP 404 NOT_FOUND: Job not found or expired (request req_123)`, server text escaped.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ApiAnswer {
    /// The HTTP status.
    pub status: StatusCode,
    /// The envelope's code; unknown codes are kept as their string.
    pub code: ErrorCode,
    /// The envelope's message, as the server wrote it.
    pub message: String,
    /// The server's request ID (`X-Request-Id` or `Request-Id`), to quote to support.
    pub request_id: Option<String>,
}

impl fmt::Display for ApiAnswer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HTTP {} {}: {}", self.status.as_u16(), self.code, Escaped(&self.message))?;
        write!(f, "{}", Optional(" (request ", self.request_id.as_deref().map(Escaped), ")"))
    }
}

/// How far an attempt got with the server, as its error shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reached {
    /// An answer said the request was refused (4xx, 429), or it may have arrived and been refused.
    Refused,
    /// The server may have acted on it.
    MayHaveActed,
}

impl fmt::Debug for Error {
    /// The one-line message, so that `fn main() -> Result<(), Error>` prints what a person needs; `{:#?}` adds
    /// the chain of causes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")?;
        if f.alternate() {
            let mut cause = std::error::Error::source(self);
            while let Some(error) = cause {
                write!(f, "\n  caused by: {error}")?;
                cause = error.source();
            }
        }
        Ok(())
    }
}

/// 502, 503 and 504: a gateway that could not get an answer, so the request may or may not have been acted on.
pub(crate) fn is_gateway_failure(status: StatusCode) -> bool {
    matches!(status, StatusCode::BAD_GATEWAY | StatusCode::SERVICE_UNAVAILABLE | StatusCode::GATEWAY_TIMEOUT)
}

/// What was attempted: the SDK method, the job it was about, the origin it was sent to, and what earlier attempts
/// of the same call showed.
///
/// Errors from [`parse_response`](crate::parse_response) alone carry an empty one; a [`Call`](crate::Call) fills
/// it in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallInfo {
    /// Shared by the errors of one call, so that keeping it costs a pointer; copied on write.
    called: Option<Arc<Called>>,
}

/// What the call's earlier attempts showed of the server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Earlier {
    /// An earlier attempt reached the server (it answered, or the request may have been written).
    pub(crate) reached: bool,
    /// An earlier attempt may have been acted on.
    pub(crate) may_have_acted: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Called {
    operation: &'static str,
    job_id: Option<String>,
    origin: String,
    proxy: Option<String>,
    has_effect: bool,
    /// The call ended before its first request went: the pacer had no slot for it in time.
    never_sent: bool,
    earlier: Earlier,
    read_back: Option<JobStatus>,
    /// A status read back that settles nothing (still cancellable when no time was left to cancel again).
    seen: Option<JobStatus>,
}

impl CallInfo {
    pub(crate) fn new(
        operation: &'static str,
        job_id: Option<&str>,
        origin: &str,
        proxy: Option<String>,
        has_effect: bool,
    ) -> Self {
        let job_id = job_id.map(str::to_owned);
        let (earlier, read_back) = (Earlier::default(), None);
        let origin = origin.to_owned();
        let called =
            Called { operation, job_id, origin, proxy, has_effect, never_sent: false, earlier, read_back, seen: None };
        Self { called: Some(Arc::new(called)) }
    }

    /// The operation's name, as the client method that runs it: `cancel_job`, `get_job`, `enrich` (empty for an
    /// error that did not come from a call).
    pub fn operation(&self) -> &'static str {
        self.called.as_ref().map_or("", |called| called.operation)
    }

    /// The job the call was about, if any.
    pub fn job_id(&self) -> Option<&str> {
        self.called.as_ref().and_then(|called| called.job_id.as_deref())
    }

    /// Where the call was sent, as `host:port`.
    pub fn origin(&self) -> &str {
        self.called.as_ref().map_or("", |called| called.origin.as_str())
    }

    /// The proxy the call went through, as `host:port`, if any.
    pub fn proxy(&self) -> Option<&str> {
        self.called.as_ref().and_then(|called| called.proxy.as_deref())
    }

    /// The job's status as read back after the failure, when a read showed the call did not take effect.
    pub fn read_back(&self) -> Option<&JobStatus> {
        self.called.as_ref().and_then(|called| called.read_back.as_ref())
    }

    fn earlier(&self) -> Earlier {
        self.called.as_ref().map(|called| called.earlier).unwrap_or_default()
    }

    /// Whether the operation changes anything (a cancel, an enrich).
    fn has_effect(&self) -> bool {
        self.called.as_ref().is_some_and(|called| called.has_effect)
    }

    /// Notes what one more failed attempt showed, for the errors of the attempts after it.
    pub(crate) fn note_attempt(&mut self, reached: Option<Reached>) {
        if let Some(called) = &mut self.called {
            let earlier = &mut Arc::make_mut(called).earlier;
            earlier.reached |= reached.is_some();
            earlier.may_have_acted |= reached == Some(Reached::MayHaveActed);
        }
    }

    /// Whether the call ended before its first request went.
    pub(crate) fn never_sent(&self) -> bool {
        self.called.as_ref().is_some_and(|called| called.never_sent)
    }

    /// The same call, ended before its first request went.
    pub(crate) fn ended_unsent(mut self) -> Self {
        if let Some(called) = &mut self.called {
            Arc::make_mut(called).never_sent = true;
        }
        self
    }

    fn set_read_back(&mut self, status: JobStatus) {
        if let Some(called) = &mut self.called {
            Arc::make_mut(called).read_back = Some(status);
        }
    }

    fn set_seen(&mut self, status: JobStatus) {
        if let Some(called) = &mut self.called {
            Arc::make_mut(called).seen = Some(status);
        }
    }

    /// A status read back after the failure that settles nothing: the job was still cancellable, and an attempt
    /// the server has yet to carry out may still cancel it.
    pub fn seen(&self) -> Option<&JobStatus> {
        self.called.as_ref().and_then(|called| called.seen.as_ref())
    }
}

impl fmt::Display for CallInfo {
    /// `cancel_job job_1: ` (with the separator, so that an error without a call reads without one).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.operation().is_empty() {
            return Ok(());
        }
        f.write_str(self.operation())?;
        if let Some(job_id) = self.job_id() {
            write!(f, " {}", JobIdText(job_id))?;
        }
        f.write_str(": ")
    }
}

/// Why a call was refused before any I/O. Match on it; errors are not compared for equality.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidInput {
    /// The job ID cannot name a job: empty, or `.` / `..`, which proxies and URL libraries read as path steps.
    #[error("job ID {} {reason}", JobIdText(.job_id))]
    JobId {
        /// The job ID as given.
        job_id: String,
        /// Why it cannot be sent.
        reason: &'static str,
    },
    /// The API key is empty or holds a character that cannot be sent in an HTTP header.
    #[error("API key{} {reason}", Optional(" (from ", *.from, ")"))]
    ApiKey {
        /// Why it cannot be sent.
        reason: String,
        /// Where it came from, when from an environment variable.
        from: Option<&'static str>,
    },
    /// The workspace ID is empty or cannot be sent in an HTTP header.
    #[error("workspace ID{} {reason}", Optional(" (from ", *.from, ")"))]
    WorkspaceId {
        /// Why it cannot be sent.
        reason: String,
        /// Where it came from, when from an environment variable.
        from: Option<&'static str>,
    },
    /// The base URL cannot be used.
    #[error("base URL {url:?}{}: {reason}", Optional(" (from ", *.from, ")"))]
    BaseUrl {
        /// The URL as given.
        url: String,
        /// Why it cannot be used, and what to do.
        reason: &'static str,
        /// Where it came from, when from an environment variable.
        from: Option<&'static str>,
    },
    /// The proxy cannot be used.
    #[error("proxy {url:?}{}: {reason}", Optional(" (from ", *.from, ")"))]
    Proxy {
        /// The proxy URL as given, its credentials left out.
        url: String,
        /// Why it cannot be used.
        reason: &'static str,
        /// Where it came from, when from an environment variable.
        from: Option<&'static str>,
    },
    /// A duration, count or interval that cannot be honoured.
    #[error("{setting}: {reason}")]
    Setting {
        /// The setting, as its builder method names it.
        setting: &'static str,
        /// Why it cannot be honoured.
        reason: String,
    },
    /// An enrich request that the API would reject.
    #[error("enrich request: {0}")]
    EnrichRequest(String),
    /// A request path that is not a path on the base URL's origin.
    #[error("request path {path:?}: {reason}")]
    Path {
        /// The path as given.
        path: String,
        /// Why it cannot be used.
        reason: &'static str,
    },
    /// An environment variable the configuration needs is missing or not Unicode.
    #[error("environment variable {0} is not set")]
    MissingEnv(&'static str),
}

/// What the failure means for the call's effect, said once at the end of every message: never sent, may have
/// taken effect (and why, and what to do), or shown by a read not to have taken effect.
struct Effect<'a>(&'a Error);

/// A 429 as `HTTP 429 CODE: message`; a call the pacer ended unsent as its message alone (`not sent: ...`, which
/// the call always gives it).
struct Refusal<'a>(&'a Error);

impl fmt::Display for Refusal<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Error::RateLimited { call, status, code, message, .. } = self.0 else { return Ok(()) };
        match message.as_deref().filter(|m| !m.is_empty()).map(Escaped) {
            Some(message) if call.never_sent() => write!(f, "{message}"),
            message => {
                write!(f, "HTTP {} {}{}", status.as_u16(), CodeOr(code, "rate limited"), Optional(": ", message, ""))
            }
        }
    }
}

impl fmt::Display for Effect<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let error = self.0;
        let Some(call) = error.call() else { return Ok(()) };
        if let Some(status) = call.read_back() {
            return write!(f, "; the job read back is {status}, so the call did not take effect");
        }
        if error.may_have_taken_effect() {
            let why = match error.reached_server() {
                Some(Reached::MayHaveActed) => match error {
                    Error::Transport { source, .. } if source.status().is_none_or(|s| !s.is_success()) => {
                        "the request may have reached the server"
                    }
                    _ if error.status().is_some_and(|s| s.is_server_error()) => {
                        "the server may have acted before it failed"
                    }
                    _ => "the server accepted the request",
                },
                _ => "an earlier attempt may have reached the server",
            };
            if let Some(status) = call.seen() {
                return write!(
                    f,
                    "; {why}, so it may have taken effect: the job read back was {status}, and the server may still \
                     carry out an attempt it had not answered"
                );
            }
            return match call.job_id() {
                Some(job_id) => write!(f, "; {why}, so it may have taken effect: get job {} to see", JobIdText(job_id)),
                None => write!(
                    f,
                    "; {why}, so it may have taken effect: look for the jobs it would have created before sending it \
                     again"
                ),
            };
        }
        match error {
            Error::Transport { source, .. } if source.delivery() == Delivery::NotSent && !call.earlier().reached => {
                f.write_str("; the request was never sent")
            }
            _ => Ok(()),
        }
    }
}

/// What stands in a server's text where a secret was.
const REDACTED: &str = "[redacted]";

/// Replaces each of `secrets` in `text`, and a secret's start where the text was cut short in the middle of one
/// (a snippet ends after [`Error::SNIPPET_LEN`] bytes).
pub(crate) fn scrub<'s>(text: &mut String, secrets: impl Iterator<Item = &'s str>) {
    for secret in secrets.filter(|secret| secret.len() >= 4) {
        if text.contains(secret) {
            *text = text.replace(secret, REDACTED);
        }
        let cut = (4..secret.len()).rev().find(|&len| secret.is_char_boundary(len) && text.ends_with(&secret[..len]));
        if let Some(len) = cut {
            text.truncate(text.len() - len);
            text.push_str(REDACTED);
        }
    }
}
