use std::fmt;
use std::time::Duration;

use http::StatusCode;
use sendkit_model::{ErrorCode, Job, JobStatus};

/// Everything that can go wrong in a call. One type, for every operation and both adapters.
///
/// Whenever the server answered, the variant keeps the HTTP status ([`Error::status`]). `Display` reads well in a
/// terminal: status, code, message. Nothing here ever holds the API key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The API answered with an error envelope that no more specific variant covers.
    #[error("HTTP {status}: {code}: {message}")]
    Api {
        /// The HTTP status.
        status: StatusCode,
        /// The envelope's code; unknown codes are kept as their string.
        code: ErrorCode,
        /// The envelope's message.
        message: String,
    },
    /// The job is not in a status that can be cancelled (`completed`, `failed` or `cancelled`).
    #[error("HTTP {status}: job cannot be cancelled: {message}")]
    NotCancellable {
        /// The HTTP status (400 from the API).
        status: StatusCode,
        /// The job's current status, when the server's message names it.
        job_status: Option<JobStatus>,
        /// The server's message.
        message: String,
    },
    /// No such job, or it expired (jobs expire after 7 days).
    #[error("HTTP {status}: not found: {message}")]
    NotFound {
        /// The HTTP status (404).
        status: StatusCode,
        /// The server's message.
        message: String,
    },
    /// The API key was refused.
    #[error("HTTP {status}: unauthorized: {message}")]
    Unauthorized {
        /// The HTTP status (401).
        status: StatusCode,
        /// The server's message.
        message: String,
    },
    /// Too many requests; retries, if any, did not get through.
    #[error("HTTP {status}: rate limited{}: {message}", retry_after_text(.retry_after))]
    RateLimited {
        /// The HTTP status (429).
        status: StatusCode,
        /// How long the server asked to wait, from `Retry-After`.
        retry_after: Option<Duration>,
        /// The server's message, if its body had one.
        message: String,
    },
    /// The server answered a status that is not success with a body that is not an API error (an HTML page from
    /// a proxy, an empty body).
    #[error("HTTP {status}: unexpected answer{}: {snippet:?}", content_type_text(.content_type))]
    UnexpectedResponse {
        /// The HTTP status.
        status: StatusCode,
        /// The `Content-Type` the server sent, if any.
        content_type: Option<String>,
        /// The start of the body, lossily decoded, at most [`SNIPPET_LEN`] bytes.
        snippet: String,
    },
    /// The server answered a redirect. Redirects are never followed, so the key never leaves the base URL's origin.
    #[error("HTTP {status}: redirect to {location:?} not followed")]
    Redirect {
        /// The HTTP status (3xx).
        status: StatusCode,
        /// The `Location` the server named, if any.
        location: Option<String>,
    },
    /// A success status whose body is not the JSON expected.
    #[error("HTTP {status}: malformed body at `{path}`: {message}; body starts {snippet:?}")]
    Decode {
        /// The HTTP status.
        status: StatusCode,
        /// Where in the JSON parsing failed, e.g. `data.metadata.totalItems` (`.` for the top level).
        path: String,
        /// What was wrong there.
        message: String,
        /// The start of the body, lossily decoded, at most [`SNIPPET_LEN`] bytes.
        snippet: String,
    },
    /// The body was larger than the client's limit; reading stopped there.
    #[error("HTTP {status}: body larger than the limit of {limit} bytes")]
    BodyTooLarge {
        /// The HTTP status.
        status: StatusCode,
        /// The limit, in bytes.
        limit: u64,
    },
    /// A wait for a job ended at its timeout before the job reached a terminal status.
    #[error("job {job_id:?} did not finish within {waited:?}{}", last_status_text(.last_job))]
    WaitTimedOut {
        /// The job waited for.
        job_id: String,
        /// How long the wait lasted.
        waited: Duration,
        /// The last job a poll returned, if any did.
        last_job: Option<Box<Job>>,
    },
    /// The call was refused before any I/O: a bad job ID, key, base URL or request.
    #[error("invalid input: {0}")]
    InvalidInput(#[from] InvalidInput),
    /// No answer came: connect, TLS, timeout or I/O failure.
    #[error(transparent)]
    Transport(#[from] TransportError),
}

/// How many bytes of a body an error keeps.
pub const SNIPPET_LEN: usize = 256;

fn retry_after_text(retry_after: &Option<Duration>) -> String {
    retry_after.map(|d| format!(" (retry after {}s)", d.as_secs_f64())).unwrap_or_default()
}

fn last_status_text(job: &Option<Box<Job>>) -> String {
    job.as_ref().map(|job| format!(" (last seen {})", job.status)).unwrap_or_default()
}

fn content_type_text(content_type: &Option<String>) -> String {
    content_type.as_ref().map(|c| format!(" ({c})")).unwrap_or_default()
}

impl Error {
    /// The HTTP status of the answer this error came from, or `None` when there was no answer.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Self::Api { status, .. }
            | Self::NotCancellable { status, .. }
            | Self::NotFound { status, .. }
            | Self::Unauthorized { status, .. }
            | Self::RateLimited { status, .. }
            | Self::UnexpectedResponse { status, .. }
            | Self::Redirect { status, .. }
            | Self::Decode { status, .. }
            | Self::BodyTooLarge { status, .. } => Some(*status),
            Self::InvalidInput(_) | Self::Transport(_) | Self::WaitTimedOut { .. } => None,
        }
    }

    /// The start of `body` as an error keeps it: lossy UTF-8, at most [`SNIPPET_LEN`] bytes, trimmed.
    pub(crate) fn snippet(body: &[u8]) -> String {
        let cut = &body[..body.len().min(SNIPPET_LEN)];
        String::from_utf8_lossy(cut).trim().to_owned()
    }
}

/// Why a call was refused before any I/O. Match on it; errors are not compared for equality.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidInput {
    /// The job ID is empty.
    #[error("job ID is empty")]
    EmptyJobId,
    /// The API key is empty or holds a character that cannot be sent in an HTTP header.
    #[error("API key is not a valid header value: {0}")]
    ApiKey(&'static str),
    /// The workspace ID is empty or cannot be sent in an HTTP header.
    #[error("workspace ID is not a valid header value")]
    WorkspaceId,
    /// The base URL cannot be used.
    #[error("base URL {url:?}: {reason}")]
    BaseUrl {
        /// The URL as given.
        url: String,
        /// Why it cannot be used.
        reason: &'static str,
    },
    /// An enrich request that the API would reject.
    #[error("enrich request: {0}")]
    EnrichRequest(String),
    /// An environment variable the configuration needs is missing or not Unicode.
    #[error("environment variable {0} is not set")]
    MissingEnv(&'static str),
}

/// What kind of transport failure happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransportErrorKind {
    /// No connection could be made (refused, unreachable, DNS). The request never reached the server.
    Connect,
    /// The TLS handshake failed (for example an untrusted certificate).
    Tls,
    /// The attempt took longer than the configured timeout.
    Timeout,
    /// The connection failed while the request or response was under way (reset, closed early, truncated body).
    Io,
    /// The server's answer was not valid HTTP.
    Protocol,
}

impl fmt::Display for TransportErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Connect => "connect",
            Self::Tls => "TLS",
            Self::Timeout => "timeout",
            Self::Io => "I/O",
            Self::Protocol => "protocol",
        })
    }
}

/// No answer came. Adapters build these from their HTTP library's errors.
#[derive(Debug, Clone)]
pub struct TransportError {
    kind: TransportErrorKind,
    reached_server: bool,
    message: String,
}

impl TransportError {
    /// A failure of `kind`. `reached_server` says whether the request may have reached the server (and so may have
    /// been acted on): `false` only when the adapter knows it was never sent, as for a refused connection.
    pub fn new(kind: TransportErrorKind, reached_server: bool, message: impl Into<String>) -> Self {
        Self { kind, reached_server, message: message.into() }
    }

    /// Like [`TransportError::new`], the message being `source` and its [`causes`], each said once.
    pub fn from_source(
        kind: TransportErrorKind,
        reached_server: bool,
        source: &(dyn std::error::Error + 'static),
    ) -> Self {
        let mut message = String::new();
        for cause in causes(source) {
            let text = cause.to_string();
            // Wrappers often repeat their cause's text; say each thing once.
            if !message.ends_with(&text) {
                if !message.is_empty() {
                    message.push_str(": ");
                }
                message.push_str(&text);
            }
        }
        Self::new(kind, reached_server, message)
    }

    /// What kind of failure it was.
    pub fn kind(&self) -> TransportErrorKind {
        self.kind
    }

    /// Whether the request may have reached the server, so that its outcome is unknown.
    pub fn may_have_reached_server(&self) -> bool {
        self.reached_server
    }

    /// The transport's description of the failure.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} error: {}", self.kind, self.message)?;
        if self.reached_server {
            f.write_str(" (the request may have reached the server: its outcome is unknown)")?;
        }
        Ok(())
    }
}

impl std::error::Error for TransportError {}

/// `error` and the chain of its causes, including the error an `io::Error` wraps (which `source()` skips): what an
/// adapter searches to tell, say, a TLS failure inside an I/O error.
pub fn causes<'a>(
    error: &'a (dyn std::error::Error + 'static),
) -> impl Iterator<Item = &'a (dyn std::error::Error + 'static)> {
    std::iter::successors(Some(error), |error: &&'a (dyn std::error::Error + 'static)| {
        let wrapped = error.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref());
        match wrapped {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => error.source(),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("invalid peer certificate")]
    struct Handshake;

    #[derive(Debug, thiserror::Error)]
    #[error("client error (Connect)")]
    struct Wrapper(#[source] std::io::Error);

    #[test]
    fn causes_look_inside_io_errors_and_messages_say_each_thing_once() {
        let error = Wrapper(std::io::Error::new(std::io::ErrorKind::InvalidData, Handshake));
        assert!(causes(&error).any(|cause| cause.is::<Handshake>()), "the wrapped cause is found");
        assert!(
            std::error::Error::source(&error).and_then(std::error::Error::source).is_none(),
            "source() alone skips it"
        );
        let transport = TransportError::from_source(TransportErrorKind::Tls, false, &error);
        assert_eq!(transport.message(), "client error (Connect): invalid peer certificate");
        assert_eq!(transport.to_string(), "TLS error: client error (Connect): invalid peer certificate");
        let lost = TransportError::new(TransportErrorKind::Io, true, "connection reset");
        assert!(lost.to_string().ends_with("its outcome is unknown)"));
    }
}
