//! Blocking client for the SendKit enrichment jobs API, on [ureq](https://docs.rs/ureq) 3.
//!
//! ## Which crate
//! `sendkit-model` (types only) → `sendkit-proto` (sans-IO: requests, responses, retries, waits) →
//! `sendkit-ureq` (blocking) or `sendkit-hyper` (async), the only crates that do I/O; `sendkit-mock` is the
//! emulator for tests. Pick one adapter; use proto alone to bring your own HTTP client.
//!
//! A thin loop over [`sendkit_proto::Call`]: proto builds each request and decides each retry; this crate sends,
//! sleeps and reads. Redirects are never followed (the key never leaves the base URL's origin), status codes are
//! answers rather than ureq errors, each attempt is bounded by the configured timeouts, and no body is read past
//! the configured limit.
//!
//! ```no_run
//! use sendkit_ureq::Client;
//!
//! # fn main() -> Result<(), sendkit_ureq::Error> {
//! let client = Client::from_env()?; // SENDKIT_API_KEY, and optionally SENDKIT_BASE_URL, SENDKIT_WORKSPACE_ID
//! let job = client.cancel_job("bulk_email_verification_1710000000000_abc1234")?;
//! println!("{} is {}", job.id, job.status);
//! # Ok(())
//! # }
//! ```
//!
//! Matching on the error:
//!
//! ```no_run
//! # let client = sendkit_ureq::Client::new(sendkit_ureq::Config::builder("sk_x").build().unwrap());
//! use sendkit_ureq::Error;
//!
//! match client.cancel_job("job_1") {
//!     Ok(job) => println!("cancelled {}", job.id),
//!     Err(Error::NotCancellable { job_status, .. }) => println!("already finished: {job_status:?}"),
//!     Err(Error::NotFound { .. }) => println!("no such job, or it expired"),
//!     Err(other) => eprintln!("{other}"),
//! }
//! ```

use std::io;
use std::time::SystemTime;

use sendkit_proto::http::{Request, Response};
use sendkit_proto::model::{EnrichRequest, EnrichResponse, Job};
use sendkit_proto::{
    Call, CancelJob, Enrich, GetJob, Operation, Step, TransportError, TransportErrorKind, WaitForJob, WaitStep,
};

pub use sendkit_proto::{model, AuthStyle, Config, ConfigBuilder, Error, RetryPolicy, WaitPolicy};
pub use ureq;

/// A blocking SendKit client. Cheap to clone; clones share the connection pool.
#[derive(Debug, Clone)]
pub struct Client {
    agent: ureq::Agent,
    config: Config,
    /// Whether the agent is the caller's, whose settings must be overridden on every request.
    borrowed_agent: bool,
}

impl Client {
    /// A client with its own `ureq::Agent`, whose connect and per-attempt timeouts come from `config`.
    pub fn new(config: Config) -> Self {
        let builder = ureq::Agent::config_builder();
        // With the `platform-roots` feature, trust the operating system's store rather than the bundled roots.
        #[cfg(feature = "platform-roots")]
        let builder = builder
            .tls_config(ureq::tls::TlsConfig::builder().root_certs(ureq::tls::RootCerts::PlatformVerifier).build());
        let agent_config = builder
            .timeout_connect(Some(config.connect_timeout()))
            .timeout_global(Some(config.attempt_timeout()))
            .http_status_as_error(false)
            .max_redirects(0)
            .build();
        let agent = ureq::Agent::with_parts(
            agent_config,
            ureq::unversioned::transport::DefaultConnector::new(),
            LiteralFirst::default(),
        );
        Self { agent, config, borrowed_agent: false }
    }

    /// A client over an agent you built (for its proxy, TLS or pool settings). Whatever the agent says, every
    /// request is sent with status codes as answers, no redirects followed, and `config`'s timeouts.
    pub fn with_agent(config: Config, agent: ureq::Agent) -> Self {
        Self { agent, config, borrowed_agent: true }
    }

    /// A client configured from `SENDKIT_API_KEY`, `SENDKIT_BASE_URL` and `SENDKIT_WORKSPACE_ID`.
    pub fn from_env() -> Result<Self, Error> {
        Ok(Self::new(Config::from_env()?.build()?))
    }

    /// The settings this client runs with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Cancels a `pending` or `processing` job and returns it, now `cancelled`.
    pub fn cancel_job(&self, job_id: &str) -> Result<Job, Error> {
        self.run(CancelJob::new(job_id))
    }

    /// Gets a job's current status and progress.
    pub fn get_job(&self, job_id: &str) -> Result<Job, Error> {
        self.run(GetJob::new(job_id))
    }

    /// Runs enrichments over leads, creating one job per enrichment type. Never sent twice once it may have
    /// reached the server.
    pub fn enrich(&self, request: EnrichRequest) -> Result<EnrichResponse, Error> {
        self.run(Enrich::new(request))
    }

    /// Waits until the job reaches a terminal status (`completed`, `failed`, `cancelled`) and returns it, polling as
    /// `policy` says and calling `on_progress` with each job a poll returns. Past the policy's timeout, the error is
    /// [`Error::WaitTimedOut`] with the last job seen.
    ///
    /// ```no_run
    /// # let client = sendkit_ureq::Client::new(sendkit_ureq::Config::builder("sk_x").build().unwrap());
    /// use sendkit_ureq::WaitPolicy;
    ///
    /// let job = client.wait_for_job("job_1", WaitPolicy::default(), |job| {
    ///     if let Some(m) = &job.metadata {
    ///         println!("{}: {}/{}", job.status, m.processed_items, m.total_items);
    ///     }
    /// })?;
    /// # Ok::<(), sendkit_ureq::Error>(())
    /// ```
    pub fn wait_for_job(
        &self,
        job_id: &str,
        policy: WaitPolicy,
        mut on_progress: impl FnMut(&Job),
    ) -> Result<Job, Error> {
        let mut wait = WaitForJob::new(job_id, policy);
        let mut step = wait.start(SystemTime::now());
        loop {
            match step {
                WaitStep::Poll { get, wait: pause } => {
                    if !pause.is_zero() {
                        std::thread::sleep(pause);
                    }
                    let polled = self.run(get);
                    if let Ok(job) = &polled {
                        on_progress(job);
                    }
                    step = wait.observe(polled, SystemTime::now());
                }
                WaitStep::Done(result) => return result,
            }
        }
    }

    /// Cancels each job in turn, and returns each one's result in the order given: one failure does not stop the
    /// rest.
    pub fn cancel_jobs<I>(&self, job_ids: I) -> Vec<(String, Result<Job, Error>)>
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        job_ids
            .into_iter()
            .map(|id| {
                let id = id.into();
                let result = self.cancel_job(&id);
                (id, result)
            })
            .collect()
    }

    /// Carries out any operation, with retries as proto decides.
    pub fn run<O: Operation>(&self, operation: O) -> Result<O::Output, Error> {
        let mut call = Call::new(operation, &self.config);
        let mut step = call.start();
        loop {
            match step {
                Step::Send { request, wait } => {
                    // Even a zero sleep is a syscall that waits out the timer slack (~50 µs on Linux).
                    if !wait.is_zero() {
                        std::thread::sleep(wait);
                    }
                    let outcome = self.send(request);
                    step = call.receive(outcome, SystemTime::now());
                }
                Step::Done(result) => return result,
            }
        }
    }

    /// One attempt: the response with its body read up to the limit, or what went wrong.
    fn send(&self, request: Request<Vec<u8>>) -> Result<Response<Vec<u8>>, Error> {
        // The client's own agent was built with these settings; a caller's agent gets them per request (which
        // copies the agent's config, so it is not done when there is no need).
        let request = if self.borrowed_agent {
            self.agent
                .configure_request(request)
                .http_status_as_error(false)
                .max_redirects(0)
                .timeout_connect(Some(self.config.connect_timeout()))
                .timeout_global(Some(self.config.attempt_timeout()))
                .build()
        } else {
            request
        };
        let response = self.agent.run(request).map_err(transport_error)?;
        let (parts, mut body) = response.into_parts();
        let limit = self.config.body_limit();
        let bytes = body.with_config().limit(limit).read_to_vec().map_err(|err| match err {
            ureq::Error::BodyExceedsLimit(_) => Error::BodyTooLarge { status: parts.status, limit },
            other => transport_error(other),
        })?;
        Ok(Response::from_parts(parts, bytes))
    }
}

/// Resolves IP-literal hosts in place and leaves names to ureq's resolver.
///
/// With a timeout set, ureq's resolver runs every lookup on a new thread so that it can give up on a slow DNS
/// server, even for `127.0.0.1`, and it resolves on every request, pooled connection or not. For a literal there is
/// nothing to look up: answering in place saves a thread per call (about 70 µs on the benchmark machine).
#[derive(Debug, Default)]
struct LiteralFirst(ureq::unversioned::resolver::DefaultResolver);

impl ureq::unversioned::resolver::Resolver for LiteralFirst {
    fn resolve(
        &self,
        uri: &sendkit_proto::http::Uri,
        config: &ureq::config::Config,
        timeout: ureq::unversioned::transport::NextTimeout,
    ) -> Result<ureq::unversioned::resolver::ResolvedSocketAddrs, ureq::Error> {
        let literal = uri.host().and_then(|host| host.trim_start_matches('[').trim_end_matches(']').parse().ok());
        let port = uri.port_u16().or(match uri.scheme_str() {
            Some("https") => Some(443),
            Some("http") => Some(80),
            _ => None,
        });
        match (literal, port) {
            (Some(ip), Some(port)) => {
                let mut addresses = self.empty();
                addresses.push(std::net::SocketAddr::new(ip, port));
                Ok(addresses)
            }
            _ => self.0.resolve(uri, config, timeout),
        }
    }
}

/// Maps ureq's failures onto proto's, saying whether the request may have reached the server.
fn transport_error(err: ureq::Error) -> Error {
    use ureq::Timeout;
    let (kind, reached_server) = match &err {
        _ if is_tls(&err) => (TransportErrorKind::Tls, false),
        ureq::Error::HostNotFound | ureq::Error::ConnectionFailed => (TransportErrorKind::Connect, false),
        ureq::Error::Timeout(Timeout::Resolve | Timeout::Connect) => (TransportErrorKind::Timeout, false),
        ureq::Error::Timeout(_) => (TransportErrorKind::Timeout, true),
        ureq::Error::Io(io_err) => io_kind(io_err),
        ureq::Error::Tls(_) | ureq::Error::TlsRequired => (TransportErrorKind::Tls, false),
        ureq::Error::Protocol(_) | ureq::Error::LargeResponseHeader(..) => (TransportErrorKind::Protocol, true),
        ureq::Error::BadUri(_) | ureq::Error::Http(_) => (TransportErrorKind::Protocol, false),
        _ => (TransportErrorKind::Io, true),
    };
    Error::Transport(TransportError::from_source(kind, reached_server, &err))
}

/// Whether the handshake failed. ureq reports most TLS failures as I/O errors wrapping rustls' error (and its own
/// error has no `source`), the rest as its own TLS variants.
#[cfg(any(feature = "webpki-roots", feature = "platform-roots"))]
fn is_tls(err: &ureq::Error) -> bool {
    match err {
        ureq::Error::Rustls(_) | ureq::Error::Pem(_) => true,
        ureq::Error::Io(io) => sendkit_proto::causes(io).any(|cause| cause.is::<rustls::Error>()),
        _ => false,
    }
}

/// Without a TLS feature there is no handshake to fail: `https` base URLs end in `TlsRequired`.
#[cfg(not(any(feature = "webpki-roots", feature = "platform-roots")))]
fn is_tls(_: &ureq::Error) -> bool {
    false
}

fn io_kind(err: &io::Error) -> (TransportErrorKind, bool) {
    match err.kind() {
        io::ErrorKind::ConnectionRefused
        | io::ErrorKind::AddrNotAvailable
        | io::ErrorKind::NetworkUnreachable
        | io::ErrorKind::HostUnreachable => (TransportErrorKind::Connect, false),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => (TransportErrorKind::Timeout, true),
        _ => (TransportErrorKind::Io, true),
    }
}
