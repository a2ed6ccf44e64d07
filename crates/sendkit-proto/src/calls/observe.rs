//! Telemetry without a dependency: each attempt of each call, as it ended, handed to an observer of the caller's.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::{Method, StatusCode};

use crate::error::Error;

/// One attempt of a call, as it ended: what a log line or a metric is made of. Named after the OpenTelemetry
/// HTTP client conventions where they have a name (`http.request.method`, `url.full`,
/// `http.response.status_code`, `http.request.resend_count`, `error.type`), plus the operation, the job and the
/// server's request ID. It never holds the key, a header or a body.
#[derive(Debug)]
#[non_exhaustive]
pub struct AttemptRecord<'a> {
    /// The SDK method: `cancel_job`, `get_job`, `enrich`.
    pub operation: &'static str,
    /// The job the call is about, if any.
    pub job_id: Option<&'a str>,
    /// `http.request.method`.
    pub method: &'a Method,
    /// `url.full`: the base URL and path (the base URL can hold no credentials: they are refused).
    pub url: &'a str,
    /// Which attempt of the call this was, from 1; `http.request.resend_count` is `attempt - 1`.
    pub attempt: u32,
    /// `http.response.status_code`, when an answer's status line arrived.
    pub status: Option<StatusCode>,
    /// The server's request ID (`X-Request-Id` or `Request-Id`), when it sent one.
    pub request_id: Option<&'a str>,
    /// The attempt's error, when it failed; [`AttemptRecord::error_type`] names its kind.
    pub error: Option<&'a Error>,
    /// How long the attempt took, connecting to the last byte of the answer.
    pub took: Duration,
    /// What comes next: another attempt after this wait, or nothing (the call is over).
    pub retry_in: Option<Duration>,
    /// The budget a rate limiter reported on the answer (IETF `RateLimit`, `X-RateLimit-*`), success included.
    pub rate_limit: Option<crate::RateLimitStatus>,
}

impl AttemptRecord<'_> {
    /// `error.type`: the status code as text for a failed answer, the transport's kind of failure otherwise
    /// (`Timeout`, `ConnectionLost`...), `None` for a success.
    pub fn error_type(&self) -> Option<String> {
        let error = self.error?;
        Some(match (error, self.status) {
            (Error::Transport { source, .. }, None) => format!("{:?}", source.kind()),
            (_, Some(status)) => status.as_u16().to_string(),
            (_, None) => "other".to_owned(),
        })
    }
}

/// Sees every attempt of every call made with a config: for logs, metrics or traces of the caller's own
/// (`sendkit -v` is one). Called on the thread or task that made the attempt; keep it quick.
///
/// ```
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use sendkit_proto::{AttemptRecord, Config, Observer};
///
/// /// Counts rate limits, as a metrics layer would.
/// #[derive(Default)]
/// struct RateLimits(AtomicU32);
///
/// impl Observer for RateLimits {
///     fn attempt(&self, record: &AttemptRecord<'_>) {
///         if record.status.is_some_and(|status| status == 429) {
///             self.0.fetch_add(1, Ordering::Relaxed);
///         }
///     }
/// }
///
/// let config = Config::builder("sk_live_0123456789").observer(RateLimits::default()).build().unwrap();
/// # let _ = config;
/// ```
pub trait Observer: Send + Sync {
    /// One attempt ended.
    fn attempt(&self, record: &AttemptRecord<'_>);
}

/// The config's observer, shared by its clones.
#[derive(Clone)]
pub(crate) struct Observing(pub(crate) Arc<dyn Observer>);

impl fmt::Debug for Observing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Observer")
    }
}
