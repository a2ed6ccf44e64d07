//! The seam between proto and an HTTP client: what to send within which limits, and the facts of a failure.
//!
//! A transport sends one request and reports what happened; it decides nothing. Whether to retry, whether a
//! failure may have taken effect and how to say so are proto's decisions, made once for every transport.

use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

use http::{Request, Response, StatusCode};

use crate::flow::Now;

/// One request to send, and the limits to send it within.
#[derive(Debug)]
#[non_exhaustive]
pub struct Attempt {
    /// The request, with every header the API needs.
    pub request: Request<Vec<u8>>,
    /// The most the whole attempt may take: connecting, sending, and reading the whole answer. Already clamped to
    /// what is left of the call's deadline.
    pub timeout: Duration,
    /// The most connecting may take: resolving, TCP, a proxy's tunnel and the TLS handshake. Strictly under
    /// `timeout` (but for a timeout of a millisecond), so that a connection that never completes is reported as a
    /// connect failure, [`Delivery::NotSent`], rather than as the attempt's timeout.
    pub connect_timeout: Duration,
    /// The most body bytes to read; past it, report [`TransportErrorKind::BodyTooLarge`] and read no further.
    pub body_limit: u64,
}

/// A blocking HTTP client that proto's calls can run on, with the clock it runs by. `sendkit-ureq`'s client is
/// the built-in one; any other plugs in with [`Transport::send`] and gets retries, settling, deadlines, waiting
/// and cancel-many from the [`engine`](crate::engine).
///
/// The seam owns time as well as bytes: the engine reads [`Transport::now`] and waits with [`Transport::sleep`],
/// never the system's clock directly, so a simulated transport runs every flow in simulated time. Both default
/// to the system's clocks.
pub trait Transport {
    /// Sends `attempt.request` within `attempt`'s limits, without following redirects, and returns the answer with
    /// its whole body, or the facts of the failure.
    fn send(&self, attempt: Attempt) -> Result<Response<Vec<u8>>, TransportError>;

    /// The clocks now: by default the system's monotonic and wall clocks.
    fn now(&self) -> Now {
        Now::system()
    }

    /// Waits `duration` (between retries, between polls): by default the calling thread sleeps.
    fn sleep(&self, duration: Duration) {
        std::thread::sleep(duration)
    }
}

impl<T: Transport + ?Sized> Transport for &T {
    fn send(&self, attempt: Attempt) -> Result<Response<Vec<u8>>, TransportError> {
        (**self).send(attempt)
    }

    fn now(&self) -> Now {
        (**self).now()
    }

    fn sleep(&self, duration: Duration) {
        (**self).sleep(duration)
    }
}

impl<T: Transport + ?Sized> Transport for std::sync::Arc<T> {
    fn send(&self, attempt: Attempt) -> Result<Response<Vec<u8>>, TransportError> {
        (**self).send(attempt)
    }

    fn now(&self) -> Now {
        (**self).now()
    }

    fn sleep(&self, duration: Duration) {
        (**self).sleep(duration)
    }
}

/// An async HTTP client that proto's calls can run on, and how to sleep on its runtime. Object safe:
/// `Arc<dyn AsyncTransport>` works. `sendkit-hyper`'s client is the built-in one.
#[async_trait::async_trait]
pub trait AsyncTransport: Send + Sync {
    /// Sends `attempt.request` within `attempt`'s limits, without following redirects, and returns the answer with
    /// its whole body, or the facts of the failure.
    async fn send(&self, attempt: Attempt) -> Result<Response<Vec<u8>>, TransportError>;

    /// Waits `duration` without blocking the runtime (between retries, between polls).
    async fn sleep(&self, duration: Duration);

    /// The clocks now: by default the system's monotonic and wall clocks. A simulated transport gives its own.
    fn now(&self) -> Now {
        Now::system()
    }
}

#[async_trait::async_trait]
impl<T: AsyncTransport + ?Sized> AsyncTransport for std::sync::Arc<T> {
    async fn send(&self, attempt: Attempt) -> Result<Response<Vec<u8>>, TransportError> {
        (**self).send(attempt).await
    }

    async fn sleep(&self, duration: Duration) {
        (**self).sleep(duration).await
    }

    fn now(&self) -> Now {
        (**self).now()
    }
}

/// How far a failed request got: the fact that decides whether it may have taken effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Delivery {
    /// No byte of the request was written: the host did not resolve, the connection was refused or unreachable,
    /// the TLS handshake failed. The server cannot have acted on it.
    NotSent,
    /// Some or all of the request may have been written: the server may have acted on it.
    MaybeSent,
}

/// What kind of failure a transport reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransportErrorKind {
    /// The host name did not resolve (a typo in the base URL, no network, no DNS).
    Resolve,
    /// No connection could be made (refused, unreachable), directly or through the proxy.
    Connect,
    /// The TLS handshake failed (for example an untrusted certificate).
    Tls,
    /// The attempt took longer than its timeout.
    Timeout,
    /// The connection failed while the request or answer was under way (reset, closed early, truncated body).
    ConnectionLost,
    /// The server's answer was not valid HTTP.
    Protocol,
    /// The body was longer than [`Attempt::body_limit`]; reading stopped there.
    BodyTooLarge,
    /// The proxy refused its credentials (a `CONNECT` answered 407): nothing reached the API, and asking again
    /// with the same credentials cannot help.
    ProxyAuth,
}

impl TransportErrorKind {
    fn describe(self) -> &'static str {
        match self {
            Self::Resolve => "could not resolve the host",
            Self::Connect => "could not connect",
            Self::Tls => "TLS handshake failed",
            Self::Timeout => "timed out",
            Self::ConnectionLost => "connection lost before the answer was complete",
            Self::Protocol => "the answer was not valid HTTP",
            Self::BodyTooLarge => "the body was larger than the limit",
            Self::ProxyAuth => "the proxy refused the credentials (HTTP 407 Proxy Authentication Required)",
        }
    }
}

impl fmt::Display for TransportErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// What a transport reports when an attempt got no usable answer: the kind of failure, how far the request got,
/// the status if one arrived, and the transport's own error, kept as this error's `source()`.
///
/// ```
/// use sendkit_proto::{Delivery, TransportError, TransportErrorKind};
///
/// let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
/// let error = TransportError::new(TransportErrorKind::Connect, Delivery::NotSent).with_source(refused);
/// assert!(!error.may_have_taken_effect());
/// assert!(std::error::Error::source(&error).unwrap().downcast_ref::<std::io::Error>().is_some());
/// ```
#[derive(Debug)]
pub struct TransportError {
    kind: TransportErrorKind,
    delivery: Delivery,
    status: Option<StatusCode>,
    limit: Option<Duration>,
    source: Option<Box<dyn StdError + Send + Sync + 'static>>,
}

impl TransportError {
    /// A failure of `kind`, after the request got as far as `delivery` says. Report [`Delivery::NotSent`] only when
    /// no byte of the request was handed to the connection (resolving, connecting, the TLS handshake, a proxy's
    /// tunnel), and [`Delivery::MaybeSent`] as soon as one may have been: from what the transport saw, not from
    /// the wording of an error.
    pub fn new(kind: TransportErrorKind, delivery: Delivery) -> Self {
        Self { kind, delivery, status: None, limit: None, source: None }
    }

    /// The config's client identity cannot be used (a key that does not match its certificate, a certificate or
    /// key the TLS library refuses): a TLS failure before anything was sent, said in words that name the setting.
    /// What a transport reports for every request rather than panicking or dropping the identity in silence.
    pub fn unusable_identity(reason: impl fmt::Display) -> Self {
        let reason = format!("the client identity (client_identity_pem) cannot be used: {reason}");
        Self::new(TransportErrorKind::Tls, Delivery::NotSent).with_source(Unusable(reason))
    }

    /// The config's proxy cannot be used by the transport (`reason` says why, naming the proxy, never its
    /// credentials): a connect failure before anything was sent. What a transport reports for every request
    /// rather than connecting directly where a proxy was asked for, which could carry the key around it.
    pub fn unusable_proxy(reason: impl fmt::Display) -> Self {
        Self::new(TransportErrorKind::Connect, Delivery::NotSent).with_source(Unusable(reason.to_string()))
    }

    /// The transport's own error, kept as `source()` (and so downcastable to, say, `ureq::Error`).
    pub fn with_source(mut self, source: impl Into<Box<dyn StdError + Send + Sync + 'static>>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// The status line arrived before the failure (the body broke off, or was too large).
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = Some(status);
        self
    }

    /// The timeout the attempt ran under, said in the message of a [`TransportErrorKind::Timeout`].
    pub(crate) fn with_limit(mut self, limit: Duration) -> Self {
        self.limit = Some(limit);
        self
    }

    /// What kind of failure it was.
    pub fn kind(&self) -> TransportErrorKind {
        self.kind
    }

    /// How far the request got.
    pub fn delivery(&self) -> Delivery {
        self.delivery
    }

    /// The HTTP status, if the status line arrived before the failure.
    pub fn status(&self) -> Option<StatusCode> {
        self.status
    }

    /// Whether the server may have acted on the request: it may have been sent, and no status that says it was
    /// refused (4xx) arrived. The same idea as [`Error::may_have_taken_effect`](crate::Error::may_have_taken_effect),
    /// for one attempt.
    pub fn may_have_taken_effect(&self) -> bool {
        self.delivery == Delivery::MaybeSent && !self.status.is_some_and(|status| status.is_client_error())
    }
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let (TransportErrorKind::Timeout, Some(limit)) = (self.kind, self.limit) {
            // Said in our words alone: each transport words its own timer differently.
            let limit = crate::text::HumanDuration(limit);
            return match self.delivery {
                Delivery::NotSent => write!(f, "timed out connecting: no connection within {limit}"),
                Delivery::MaybeSent => write!(f, "timed out: no complete answer within {limit}"),
            };
        }
        f.write_str(self.kind.describe())?;
        if let Some(status) = self.status {
            write!(f, ", after HTTP {status}")?;
        }
        // While connecting, the deepest cause is the most specific word: the operating system's ("Connection
        // refused", "Name or service not known") or rustls' ("UnknownIssuer"), the same through any transport.
        let innermost = self.source.as_deref().and_then(|source| causes(source).last());
        // Past the handshake the operating system's words depend on timing too (a reset, or a broken pipe when
        // the client was still writing): the kind says what happened, and the words stay in source().
        let shared_words =
            matches!(self.kind, TransportErrorKind::Resolve | TransportErrorKind::Connect | TransportErrorKind::Tls);
        if let Some(innermost) = innermost.filter(|_| shared_words) {
            let text = innermost.to_string();
            if !text.is_empty() {
                write!(f, ": {}", crate::text::Escaped(&text))?;
            }
        }
        Ok(())
    }
}

/// Why a setting of the config (the client identity, the proxy) cannot be used, as the deepest cause of the
/// failure every request then reports.
#[derive(Debug)]
struct Unusable(String);

impl fmt::Display for Unusable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl StdError for Unusable {}

impl StdError for TransportError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source.as_deref().map(|source| source as &(dyn StdError + 'static))
    }
}

/// `error` and the chain of its causes, including the error an `io::Error` wraps (which `source()` skips): what a
/// transport searches to tell, say, a TLS failure inside an I/O error, as both built-in transports do.
///
/// ```
/// use sendkit_proto::causes;
///
/// #[derive(Debug)]
/// struct Handshake;
/// impl std::fmt::Display for Handshake {
///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str("bad certificate") }
/// }
/// impl std::error::Error for Handshake {}
///
/// let io = std::io::Error::new(std::io::ErrorKind::InvalidData, Handshake);
/// assert!(causes(&io).any(|cause| cause.is::<Handshake>()));
/// ```
pub fn causes<'a>(error: &'a (dyn StdError + 'static)) -> impl Iterator<Item = &'a (dyn StdError + 'static)> {
    std::iter::successors(Some(error), |error: &&'a (dyn StdError + 'static)| {
        let wrapped = error.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref());
        match wrapped {
            Some(inner) => Some(inner as &(dyn StdError + 'static)),
            None => (*error).source(),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("invalid peer certificate: UnknownIssuer")]
    struct Handshake;

    #[derive(Debug, thiserror::Error)]
    #[error("client error (Connect)")]
    struct Wrapper(#[source] std::io::Error);

    #[test]
    fn messages_use_our_words_and_the_deepest_cause() {
        let error = Wrapper(std::io::Error::new(std::io::ErrorKind::InvalidData, Handshake));
        assert!(causes(&error).any(|cause| cause.is::<Handshake>()), "the wrapped cause is found");
        let transport = TransportError::new(TransportErrorKind::Tls, Delivery::NotSent).with_source(error);
        assert_eq!(transport.to_string(), "TLS handshake failed: invalid peer certificate: UnknownIssuer");
        assert!(transport.source().unwrap().is::<Wrapper>(), "the transport's own error stays reachable");
    }

    /// A setting that cannot be used fails before anything is sent, saying which setting and why.
    #[test]
    fn unusable_settings_are_failures_before_sending() {
        let identity = TransportError::unusable_identity("the key does not match the certificate");
        assert_eq!((identity.kind(), identity.delivery()), (TransportErrorKind::Tls, Delivery::NotSent));
        assert!(identity.to_string().ends_with(
            "the client identity (client_identity_pem) cannot be used: the key does not match the certificate"
        ));
        let proxy = TransportError::unusable_proxy("the proxy at bad host:8080 cannot be used: invalid host");
        assert_eq!((proxy.kind(), proxy.delivery()), (TransportErrorKind::Connect, Delivery::NotSent));
        assert!(proxy.to_string().ends_with("the proxy at bad host:8080 cannot be used: invalid host"), "{proxy}");
    }

    #[test]
    fn a_refusal_status_means_nothing_was_processed() {
        let lost = TransportError::new(TransportErrorKind::ConnectionLost, Delivery::MaybeSent);
        assert!(lost.may_have_taken_effect());
        assert!(!TransportError::new(TransportErrorKind::ConnectionLost, Delivery::MaybeSent)
            .with_status(StatusCode::TOO_MANY_REQUESTS)
            .may_have_taken_effect());
        assert!(!TransportError::new(TransportErrorKind::Connect, Delivery::NotSent).may_have_taken_effect());
    }
}
