//! Blocking client for the SendKit enrichment jobs API, on [ureq](https://docs.rs/ureq) 3.
//!
//! ## Which crate
//! `sendkit-model` (types only) → `sendkit-proto` (sans-IO: requests, responses, retries, waits) →
//! `sendkit-ureq` (blocking) or `sendkit-hyper` (async), the only crates that do I/O; `sendkit-mock` is the
//! emulator for tests. Pick one client; to bring your own HTTP client, implement [`Transport`] and use
//! [`Client::with_transport`].
//!
//! [`Client`] is one driver over proto's flows: proto builds each request and decides each retry, wait and
//! deadline; the client sends, sleeps and reads through its [`Transport`] — ureq by default ([`UreqTransport`]).
//! Redirects are never followed (the key never leaves the base URL's origin), status codes are answers rather
//! than errors, each attempt is bounded by its timeout and the call by its deadline, no body is read past the
//! configured limit, and proxies come from [`Config`] alone (`HTTPS_PROXY` / `ALL_PROXY` / `NO_PROXY` for https,
//! never for a plain-http base URL).
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
//!     Err(Error::NotCancellable { job_status: Some(status), .. }) => println!("already {status}"),
//!     Err(Error::NotFound { .. }) => println!("no such job, or it expired"),
//!     Err(other) if other.may_have_taken_effect() => println!("unknown: {other}"),
//!     Err(other) => eprintln!("{other}"),
//! }
//! ```
//!
//! Feature flags: `webpki-roots` (default) trusts the Mozilla roots bundled; `platform-roots` the operating
//! system's store; `ring` (default) or `aws-lc-rs` is rustls' crypto (a provider the application installed as the
//! process default wins over either); `tracing` adds a span per call and per attempt.

#![cfg_attr(docsrs, feature(doc_cfg))]

use std::cell::Cell;
use std::io;
use std::ops::ControlFlow;

use sendkit_proto::http::header::USER_AGENT;
use sendkit_proto::http::{HeaderValue, Response};
use sendkit_proto::model::{EnrichRequest, EnrichResponse, Job};
use sendkit_proto::{engine, Call, CancelJobFlow, Enrich, Flow, GetJob, Operation, ResultsInOrder, WaitForJob};

pub use sendkit_proto::{
    model, Attempt, AuthStyle, BatchProgress, CallSettings, CancelOutcome, Config, ConfigBuilder, Delivery, Error,
    ErrorKind, JobStage, Proxy, RetryPolicy, Transport, TransportError, TransportErrorKind, WaitEvent, WaitPolicy,
};
/// ureq 3.5, whose `Agent` ([`Client::with_agent`]) and `tls::Certificate` ([`Client::with_roots`]) these
/// constructors take: that version is part of this crate's API.
pub use ureq;

/// A blocking SendKit client over a [`Transport`] (ureq by default). Cheap to clone when the transport is; clones
/// share the connection pool.
#[derive(Debug, Clone)]
pub struct Client<T = UreqTransport> {
    transport: T,
    config: Config,
}

impl Client {
    /// A client with its own `ureq::Agent`, built from `config`: its timeouts, its proxy, and TLS as the crate's
    /// features say.
    pub fn new(config: Config) -> Self {
        let transport = UreqTransport::new(&config);
        Self { transport, config }
    }

    /// Like [`Client::new`], trusting `roots` instead of the feature's roots (a private CA, a test certificate).
    ///
    /// ```no_run
    /// use sendkit_ureq::ureq::tls::{parse_pem, PemItem};
    ///
    /// let pem = std::fs::read("private-ca.pem").unwrap();
    /// let roots = parse_pem(&pem).filter_map(|item| match item {
    ///     Ok(PemItem::Certificate(cert)) => Some(cert),
    ///     _ => None,
    /// });
    /// let config = sendkit_ureq::Config::from_env().unwrap().build().unwrap();
    /// let client = sendkit_ureq::Client::with_roots(config, roots);
    /// # let _ = client;
    /// ```
    #[cfg(feature = "tls")]
    pub fn with_roots(config: Config, roots: impl IntoIterator<Item = ureq::tls::Certificate<'static>>) -> Self {
        let roots = ureq::tls::RootCerts::new_with_certs(&roots.into_iter().collect::<Vec<_>>());
        let transport = UreqTransport::build(&config, Some(roots));
        Self { transport, config }
    }

    /// A client over an agent you built (for its TLS or pool settings). Whatever the agent says, every request is
    /// sent with status codes as answers, no redirects followed, `config`'s timeouts and `config`'s proxy. A
    /// `User-Agent` set on the agent is kept, before sendkit's own part.
    pub fn with_agent(config: Config, agent: ureq::Agent) -> Self {
        Self { transport: UreqTransport::with_agent(agent, &config), config }
    }

    /// A client configured from `SENDKIT_API_KEY`, `SENDKIT_BASE_URL` and `SENDKIT_WORKSPACE_ID`.
    pub fn from_env() -> Result<Self, Error> {
        Ok(Self::new(Config::from_env()?.build()?))
    }
}

impl<T: Transport> Client<T> {
    /// A client over any blocking HTTP client: implement [`Transport`]'s one method and get retries, settling,
    /// deadlines, waiting and cancel-many.
    ///
    /// ```
    /// use sendkit_ureq::{Client, Config, Transport, TransportError};
    /// use sendkit_ureq::proto::{http, Attempt};
    ///
    /// /// A transport that answers every request itself: a test double, or a client of your own.
    /// struct Canned;
    ///
    /// impl Transport for Canned {
    ///     fn send(&self, attempt: Attempt) -> Result<http::Response<Vec<u8>>, TransportError> {
    ///         assert!(attempt.request.uri().path().ends_with("/job_1/cancel"));
    ///         let body = br#"{"success":true,"data":{"id":"job_1","type":"email_verification","status":"cancelled"}}"#;
    ///         Ok(http::Response::new(body.to_vec()))
    ///     }
    /// }
    ///
    /// let client = Client::with_transport(Config::builder("sk_live_0123456789").build()?, Canned);
    /// assert_eq!(client.cancel_job("job_1")?.status.to_string(), "cancelled");
    /// # Ok::<(), sendkit_ureq::Error>(())
    /// ```
    pub fn with_transport(config: Config, transport: T) -> Self {
        Self { transport, config }
    }

    /// The settings this client runs with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The same client with `settings` in force for the calls made through the copy: another deadline, attempt
    /// timeout or retry policy for one call or one batch, over the same transport and connection pool (and the
    /// same pacer and observer). Fails, before any I/O, on a setting that cannot be honoured.
    ///
    /// ```no_run
    /// # let client = sendkit_ureq::Client::from_env()?;
    /// use std::time::Duration;
    /// use sendkit_ureq::{CallSettings, RetryPolicy};
    ///
    /// let urgent = client.with_settings(CallSettings::new().deadline(Some(Duration::from_secs(2))).retry(RetryPolicy::none()))?;
    /// let job = urgent.get_job("job_1")?;
    /// # Ok::<(), sendkit_ureq::Error>(())
    /// ```
    pub fn with_settings(&self, settings: CallSettings) -> Result<Self, Error>
    where
        T: Clone,
    {
        Ok(Self { transport: self.transport.clone(), config: self.config.with_settings(&settings)? })
    }

    /// The transport requests go through.
    pub fn transport(&self) -> &T {
        &self.transport
    }

    /// Cancels a `pending` or `processing` job and returns it, now `cancelled`. When the outcome is unknown (the
    /// answer was lost or unreadable, or a refusal followed an attempt that may have gone through), the job is read
    /// to settle it, within the call's deadline; an error that still cannot say so reports
    /// [`Error::may_have_taken_effect`].
    ///
    /// ```no_run
    /// # let client = sendkit_ureq::Client::from_env()?;
    /// let job = client.cancel_job("bulk_email_verification_1710000000000_abc1234")?;
    /// assert_eq!(job.status, sendkit_ureq::model::JobStatus::Cancelled);
    /// # Ok::<(), sendkit_ureq::Error>(())
    /// ```
    pub fn cancel_job(&self, job_id: &str) -> Result<Job, Error> {
        self.drive(CancelJobFlow::new(job_id, &self.config), |_| {})
    }

    /// Gets a job's current status and progress.
    ///
    /// ```no_run
    /// # let client = sendkit_ureq::Client::from_env()?;
    /// let job = client.get_job("bulk_email_verification_1710000000000_abc1234")?;
    /// let progress = job.metadata.clone().unwrap_or_default();
    /// println!("{}: {} of {} items", job.status, progress.processed_items, progress.total_items);
    /// # Ok::<(), sendkit_ureq::Error>(())
    /// ```
    pub fn get_job(&self, job_id: &str) -> Result<Job, Error> {
        self.run(GetJob::new(job_id))
    }

    /// Runs enrichments over leads, creating one job per enrichment type. Never sent twice once it may have
    /// reached the server.
    ///
    /// ```no_run
    /// # let client = sendkit_ureq::Client::from_env()?;
    /// use sendkit_ureq::model::{EnrichRequest, EnrichmentType};
    ///
    /// let created = client.enrich(EnrichRequest::new(["507f1f77bcf86cd799439011"], [EnrichmentType::Email]))?;
    /// println!("{} credits for {} jobs", created.total_credits_charged, created.jobs.len());
    /// # Ok::<(), sendkit_ureq::Error>(())
    /// ```
    pub fn enrich(&self, request: EnrichRequest) -> Result<EnrichResponse, Error> {
        self.run(Enrich::new(request))
    }

    /// Waits until the job reaches a terminal status (`completed`, `failed`, `cancelled`) and returns it, polling as
    /// `policy` says and calling `on_progress` with each job a poll returns. Failures that polling cannot fix end
    /// the wait at once; past the policy's timeout, the error is [`Error::WaitTimedOut`] with the last job seen.
    ///
    /// ```no_run
    /// # let client = sendkit_ureq::Client::from_env()?;
    /// use sendkit_ureq::WaitPolicy;
    ///
    /// let job = client.wait_for_job("job_1", WaitPolicy::default(), |job| {
    ///     if let Some(m) = &job.metadata {
    ///         println!("{}: {}/{}", job.status, m.processed_items, m.total_items);
    ///     }
    /// })?;
    /// # Ok::<(), sendkit_ureq::Error>(())
    /// ```
    pub fn wait_for_job(&self, job_id: &str, policy: WaitPolicy, on_progress: impl FnMut(&Job)) -> Result<Job, Error> {
        self.drive(WaitForJob::new(job_id, policy, &self.config), on_progress)
    }

    /// Waits for many jobs at once with `concurrency` threads at most, however many jobs there are: each job is
    /// polled as [`Client::wait_for_job`] would, by whichever thread is free when its poll is due, so 10,000 jobs
    /// take `concurrency` threads and connections. `each` is called on the calling thread, as things happen: a
    /// [`WaitEvent::Progress`] for each job that changed, a [`WaitEvent::Finished`] when a job's wait ends. A panic
    /// in `each` or in the transport reaches the caller once the other threads have stopped.
    ///
    /// ```no_run
    /// # let client = sendkit_ureq::Client::from_env()?;
    /// use sendkit_ureq::{WaitEvent, WaitPolicy};
    ///
    /// client.wait_for_jobs(["job_1", "job_2"], WaitPolicy::default(), 16, |event| match event {
    ///     WaitEvent::Progress(job) => println!("{} is {}", job.id, job.status),
    ///     WaitEvent::Finished { job_id, result, .. } => match result {
    ///         Ok(job) => println!("{job_id} finished: {}", job.status),
    ///         Err(error) => println!("{error}"),
    ///     },
    ///     _ => {}
    /// });
    /// # Ok::<(), sendkit_ureq::Error>(())
    /// ```
    pub fn wait_for_jobs<I>(&self, job_ids: I, policy: WaitPolicy, concurrency: usize, each: impl FnMut(WaitEvent))
    where
        I: IntoIterator,
        I::Item: Into<String>,
        T: Sync,
    {
        let ids = job_ids.into_iter().map(Into::into).collect();
        engine::wait_for_jobs(&self.transport, &self.config, ids, &policy, concurrency, each)
    }

    /// Cancels every job, at most `concurrency` at a time (on scoped threads), and returns each one's result in the
    /// order given: one failure does not stop the rest. A job already cancelled is a success of its own,
    /// [`CancelOutcome::AlreadyCancelled`], so a batch can be run again.
    ///
    /// ```no_run
    /// # let client = sendkit_ureq::Client::from_env()?;
    /// use sendkit_ureq::CancelOutcome;
    ///
    /// for (job_id, result) in client.cancel_jobs(["job_1", "job_2", "job_3"], 8) {
    ///     match result {
    ///         Ok(CancelOutcome::Cancelled(_)) => println!("{job_id}: cancelled"),
    ///         Ok(CancelOutcome::AlreadyCancelled(_)) => println!("{job_id}: cancelled already"),
    ///         Ok(_) => {}
    ///         Err(error) => println!("{error}"),
    ///     }
    /// }
    /// # Ok::<(), sendkit_ureq::Error>(())
    /// ```
    pub fn cancel_jobs<I>(&self, job_ids: I, concurrency: usize) -> Vec<(String, Result<CancelOutcome, Error>)>
    where
        I: IntoIterator,
        I::Item: Into<String>,
        T: Sync,
    {
        let mut results = ResultsInOrder::new(job_ids.into_iter().map(Into::into).collect());
        let ids = results.ids().to_vec();
        self.cancel_jobs_each(ids, concurrency, |index, _, result| {
            results.record(index, result);
            ControlFlow::Continue(())
        });
        results.finish()
    }

    /// Cancels every job, at most `concurrency` at a time, handing each result to `each` (on the calling thread)
    /// as soon as it is known, with the job's index in `job_ids`. When `each` returns `ControlFlow::Break`, no
    /// further cancel starts; those under way finish and are reported. Returns the IDs never started: what a tool
    /// that stops on Ctrl-C reports as not done.
    ///
    /// ```no_run
    /// # let client = sendkit_ureq::Client::from_env()?;
    /// use std::ops::ControlFlow;
    ///
    /// let not_started = client.cancel_jobs_each(["job_1", "job_2"], 4, |_, job_id, result| {
    ///     println!("{job_id}: {}", if result.is_ok() { "cancelled" } else { "not cancelled" });
    ///     ControlFlow::Continue(())
    /// });
    /// assert!(not_started.is_empty());
    /// # Ok::<(), sendkit_ureq::Error>(())
    /// ```
    pub fn cancel_jobs_each<I>(
        &self,
        job_ids: I,
        concurrency: usize,
        each: impl FnMut(usize, &str, Result<CancelOutcome, Error>) -> ControlFlow<()>,
    ) -> Vec<String>
    where
        I: IntoIterator,
        I::Item: Into<String>,
        T: Sync,
    {
        let ids: Vec<String> = job_ids.into_iter().map(Into::into).collect();
        let progress = BatchProgress::new(ids.len());
        self.cancel_jobs_tracked(ids, concurrency, &progress, each)
    }

    /// [`Client::cancel_jobs_each`], keeping each job's stage in `progress` as the batch runs (not started, in
    /// flight, done), for another thread to read: after Ctrl-C, which jobs may have been cancelled and which were
    /// never attempted. `progress` must have room for every job ([`BatchProgress::new`] with their number).
    pub fn cancel_jobs_tracked(
        &self,
        job_ids: Vec<String>,
        concurrency: usize,
        progress: &BatchProgress,
        each: impl FnMut(usize, &str, Result<CancelOutcome, Error>) -> ControlFlow<()>,
    ) -> Vec<String>
    where
        T: Sync,
    {
        engine::cancel_jobs_each(&self.transport, &self.config, job_ids, concurrency, progress, each)
    }

    /// Carries out any operation, with retries, deadline and settling as proto decides.
    pub fn run<O: Operation>(&self, operation: O) -> Result<O::Output, Error> {
        self.drive(Call::new(operation, &self.config), |_| {})
    }

    /// Runs a flow to the end on the engine's blocking driver.
    fn drive<F: Flow>(&self, flow: F, on_progress: impl FnMut(&Job)) -> Result<F::Output, Error> {
        engine::run(&self.transport, flow, on_progress)
    }
}

/// sendkit's `proto` crate, for [`Transport`] implementations and operations of your own.
pub use sendkit_proto as proto;

/// The built-in [`Transport`]: a `ureq::Agent`.
#[derive(Debug, Clone)]
pub struct UreqTransport {
    agent: ureq::Agent,
    /// The agent's own timeouts: when an attempt's are the same, the request needs no settings of its own.
    agent_timeouts: Option<(std::time::Duration, std::time::Duration)>,
    /// Whether the agent is the caller's, whose settings must be overridden on every request.
    borrowed: bool,
    /// Whether the agent's connections note the request's first byte written ([`ObserveWrites`]): only the
    /// agent built here; a caller's agent is judged by ureq's error alone.
    observed: bool,
    proxy: Option<ureq::Proxy>,
    /// The caller's agent's `User-Agent`, kept before sendkit's own.
    agent_user_agent: Option<String>,
    /// Why the config's client identity cannot be used, reported by every request (nothing is sent).
    unusable_identity: Option<String>,
    /// Why the config's proxy cannot be used, reported by every request (nothing is sent).
    unusable_proxy: Option<String>,
}

impl UreqTransport {
    /// The most idle connections the agent keeps for reuse (all to the API's one host): the most concurrency that
    /// reuses every connection.
    pub const MAX_IDLE_CONNECTIONS: usize = 256;

    /// An agent for `config`: its timeouts and proxy, status codes as answers, no redirects, and TLS as the
    /// crate's features say.
    pub fn new(config: &Config) -> Self {
        Self::build(config, None)
    }

    #[cfg_attr(not(feature = "tls"), allow(unused_variables))]
    fn build(config: &Config, roots: Option<Roots>) -> Self {
        let builder = ureq::Agent::config_builder();
        #[cfg(feature = "tls")]
        let (tls, unusable_identity) = tls_config(roots, config);
        #[cfg(feature = "tls")]
        let builder = builder.tls_config(tls);
        #[cfg(not(feature = "tls"))]
        let unusable_identity = None;
        let (proxy, unusable_proxy) = ureq_proxy(config);
        let agent_config = builder
            .timeout_connect(Some(config.connect_timeout()))
            .timeout_global(Some(config.attempt_timeout()))
            .http_status_as_error(false)
            .max_redirects(0)
            .proxy(proxy.clone())
            // Every request goes to one host: ureq's default of 3 idle connections per host would close and reopen
            // connections under cancel_jobs or wait_for_jobs at any concurrency above 3.
            .max_idle_connections(Self::MAX_IDLE_CONNECTIONS)
            .max_idle_connections_per_host(Self::MAX_IDLE_CONNECTIONS)
            .build();
        let proxy_authority = config.proxy().map(|proxy| (proxy.host().to_owned(), proxy.port()));
        let connector = ureq::unversioned::transport::Connector::chain(
            ureq::unversioned::transport::DefaultConnector::new(),
            ObserveWrites { proxy: proxy_authority },
        );
        let agent = ureq::Agent::with_parts(agent_config, connector, LiteralFirst::default());
        Self {
            agent,
            agent_timeouts: Some((config.connect_timeout(), config.attempt_timeout())),
            borrowed: false,
            observed: true,
            proxy,
            agent_user_agent: None,
            unusable_identity,
            unusable_proxy,
        }
    }

    /// A caller's agent. Its proxy setting is replaced by the config's, per request: ureq's own default reads
    /// the proxy variables even for a plain-http base URL.
    fn with_agent(agent: ureq::Agent, config: &Config) -> Self {
        let agent_user_agent = match agent.config().user_agent() {
            ureq::config::AutoHeaderValue::Provided(value) => Some(value.to_string()),
            _ => None,
        };
        let (proxy, unusable_proxy) = ureq_proxy(config);
        Self {
            agent,
            agent_timeouts: None,
            borrowed: true,
            observed: false,
            proxy,
            agent_user_agent,
            // A caller's agent carries its own TLS settings.
            unusable_identity: None,
            unusable_proxy,
        }
    }
}

/// The config's proxy as ureq takes it, or why ureq cannot take it: an error every request then reports (nothing
/// sent), never a direct connection where a proxy was asked for, which could carry the key around it.
fn ureq_proxy(config: &Config) -> (Option<ureq::Proxy>, Option<String>) {
    let Some(server) = config.proxy() else { return (None, None) };
    let protocol = match server.kind() {
        sendkit_proto::ProxyKind::Socks5 => ureq::ProxyProtocol::Socks5,
        sendkit_proto::ProxyKind::Socks5h => ureq::ProxyProtocol::Socks5h,
        _ => ureq::ProxyProtocol::Http,
    };
    match proxy_of(protocol, server.host(), server.port(), server.credentials()) {
        Ok(proxy) => (Some(proxy), None),
        Err(reason) => (None, Some(reason)),
    }
}

fn proxy_of(
    protocol: ureq::ProxyProtocol,
    host: &str,
    port: u16,
    credentials: Option<(&str, &str)>,
) -> Result<ureq::Proxy, String> {
    let mut builder = ureq::Proxy::builder(protocol).host(host).port(port);
    if let Some((user, password)) = credentials {
        builder = builder.username(user).password(password);
    }
    // ureq's error names no credentials: it says what kind of problem the URL it built has.
    builder.build().map_err(|error| format!("the proxy at {host}:{port} cannot be used: {error}; nothing was sent"))
}

impl Transport for UreqTransport {
    fn send(&self, attempt: Attempt) -> Result<Response<Vec<u8>>, TransportError> {
        if let Some(reason) = &self.unusable_identity {
            return Err(TransportError::unusable_identity(reason));
        }
        if let Some(reason) = &self.unusable_proxy {
            return Err(TransportError::unusable_proxy(reason));
        }
        let Attempt { mut request, timeout, connect_timeout, body_limit, .. } = attempt;
        if let Some(theirs) = &self.agent_user_agent {
            let ours = request.headers().get(USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or_default();
            if let Ok(both) = HeaderValue::from_str(&format!("{theirs} {ours}")) {
                request.headers_mut().insert(USER_AGENT, both);
            }
        }
        // The client's own agent was built with the config's settings; a caller's agent, or an attempt shortened
        // by the deadline, gets them per request (which copies the agent's config, so only when needed).
        let request = if self.borrowed || self.agent_timeouts != Some((connect_timeout, timeout)) {
            self.agent
                .configure_request(request)
                .http_status_as_error(false)
                .max_redirects(0)
                .timeout_connect(Some(connect_timeout))
                .timeout_global(Some(timeout))
                .proxy(self.proxy.clone())
                .build()
        } else {
            request
        };
        REQUEST_WRITTEN.set(false);
        let response = self.agent.run(request).map_err(|err| {
            let written = if self.observed { Some(REQUEST_WRITTEN.get()) } else { None };
            transport_error(err, written)
        })?;
        let (parts, mut body) = response.into_parts();
        let bytes = body.with_config().limit(body_limit).read_to_vec().map_err(|err| {
            let kind = match err {
                ureq::Error::BodyExceedsLimit(_) => TransportErrorKind::BodyTooLarge,
                ref other => transport_error_kind(other, Some(true)).0,
            };
            with_ureq_source(TransportError::new(kind, Delivery::MaybeSent).with_status(parts.status), err)
        })?;
        Ok(Response::from_parts(parts, bytes))
    }
}

/// The roots a client trusts instead of the feature's; without TLS there are none to choose.
#[cfg(feature = "tls")]
type Roots = ureq::tls::RootCerts;
#[cfg(not(feature = "tls"))]
type Roots = std::convert::Infallible;

/// Resolves IP-literal hosts in place and leaves names to ureq's resolver, marking its failures as name
/// resolution failures.
///
/// With a timeout set, ureq's resolver runs every lookup on a new thread so that it can give up on a slow DNS
/// server, even for `127.0.0.1`, and it resolves on every request, pooled connection or not. For a literal there is
/// nothing to look up: answering in place saves a thread per call (about 70 µs on the benchmark machine). ureq
/// reports a failed lookup as a bare I/O error, which cannot be told from a connection lost mid-request; the
/// marker can.
#[derive(Debug, Default)]
struct LiteralFirst(ureq::unversioned::resolver::DefaultResolver);

/// A name that did not resolve.
#[derive(Debug)]
struct ResolveFailed(io::Error);

impl std::fmt::Display for ResolveFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for ResolveFailed {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

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
            _ => self.0.resolve(uri, config, timeout).map_err(|err| match err {
                ureq::Error::Io(io) => ureq::Error::Io(io::Error::new(io.kind(), ResolveFailed(io))),
                other => other,
            }),
        }
    }
}

/// Maps ureq's failures onto the facts proto decides with. The source is ureq's error, or for an I/O failure the
/// `io::Error` inside it: ureq's error does not chain to it, and messages quote the deepest cause.
fn transport_error(err: ureq::Error, written: Option<bool>) -> TransportError {
    let (kind, delivery) = transport_error_kind(&err, written);
    with_ureq_source(TransportError::new(kind, delivery), err)
}

fn with_ureq_source(error: TransportError, source: ureq::Error) -> TransportError {
    match source {
        ureq::Error::Io(io) => error.with_source(io),
        other => error.with_source(other),
    }
}

/// The kind of failure, and how far the request got: `written` is what the connection saw (whether a byte of the
/// request was handed to it), when it was watched; otherwise ureq's error is all there is to go by.
fn transport_error_kind(err: &ureq::Error, written: Option<bool>) -> (TransportErrorKind, Delivery) {
    use TransportErrorKind as Kind;
    let resolve = |io: &io::Error| sendkit_proto::causes(io).any(|cause| cause.is::<ResolveFailed>());
    let timed_out = |io: &io::Error| matches!(io.kind(), io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock);
    match written {
        // Nothing of the request went out: whatever failed, failed while connecting.
        Some(false) => {
            let kind = match err {
                _ if is_tls(err) => Kind::Tls,
                ureq::Error::HostNotFound => Kind::Resolve,
                ureq::Error::Io(io) if resolve(io) => Kind::Resolve,
                ureq::Error::Timeout(_) => Kind::Timeout,
                ureq::Error::Io(io) if timed_out(io) => Kind::Timeout,
                ureq::Error::BadUri(_) | ureq::Error::Http(_) | ureq::Error::InvalidProxyUrl => Kind::Protocol,
                ureq::Error::ConnectProxyFailed(reason) if proxy_refused_credentials(reason) => Kind::ProxyAuth,
                _ => Kind::Connect,
            };
            (kind, Delivery::NotSent)
        }
        // Some of it went out: a failure now, TLS included, may come after the server acted.
        Some(true) => {
            let kind = match err {
                ureq::Error::Timeout(_) => Kind::Timeout,
                ureq::Error::Io(io) if timed_out(io) => Kind::Timeout,
                ureq::Error::Protocol(_) | ureq::Error::LargeResponseHeader(..) => Kind::Protocol,
                _ => Kind::ConnectionLost,
            };
            (kind, Delivery::MaybeSent)
        }
        None => guessed_error_kind(err),
    }
}

/// Whether a failed `CONNECT` was the proxy refusing its credentials: ureq says the proxy's status in words only,
/// "proxy server responded 407/...".
fn proxy_refused_credentials(reason: &str) -> bool {
    reason.contains("responded 407")
}

/// For a caller's agent, whose connections are not watched: ureq's error type says what stage failed.
fn guessed_error_kind(err: &ureq::Error) -> (TransportErrorKind, Delivery) {
    use ureq::Timeout;
    use Delivery::{MaybeSent, NotSent};
    use TransportErrorKind as Kind;
    match err {
        _ if is_tls(err) => (Kind::Tls, NotSent),
        ureq::Error::HostNotFound => (Kind::Resolve, NotSent),
        ureq::Error::ConnectProxyFailed(reason) if proxy_refused_credentials(reason) => (Kind::ProxyAuth, NotSent),
        ureq::Error::ConnectionFailed | ureq::Error::ConnectProxyFailed(_) => (Kind::Connect, NotSent),
        ureq::Error::Timeout(Timeout::Resolve | Timeout::Connect) => (Kind::Timeout, NotSent),
        ureq::Error::Timeout(_) => (Kind::Timeout, MaybeSent),
        ureq::Error::Io(io) if sendkit_proto::causes(io).any(|cause| cause.is::<ResolveFailed>()) => {
            (Kind::Resolve, NotSent)
        }
        ureq::Error::Io(io) => io_kind(io),
        ureq::Error::Tls(_) | ureq::Error::TlsRequired => (Kind::Tls, NotSent),
        ureq::Error::Protocol(_) | ureq::Error::LargeResponseHeader(..) => (Kind::Protocol, MaybeSent),
        ureq::Error::BadUri(_) | ureq::Error::Http(_) | ureq::Error::InvalidProxyUrl => (Kind::Protocol, NotSent),
        _ => (Kind::ConnectionLost, MaybeSent),
    }
}

thread_local! {
    /// Whether the request under way on this thread has had a byte handed to its connection. ureq sends and
    /// reads on the calling thread, so the flag belongs to that thread's one request at a time.
    static REQUEST_WRITTEN: Cell<bool> = const { Cell::new(false) };
}

/// The last connector of the chain: wraps every connection to the API (not the one to a proxy, whose `CONNECT`
/// is part of connecting) so that it notes when request bytes are handed to it. TLS and tunnels are already
/// set up by then, so a failure before that note is a failure to connect: the request was never sent.
#[derive(Debug)]
struct ObserveWrites {
    proxy: Option<(String, u16)>,
}

type UreqConnection = Box<dyn ureq::unversioned::transport::Transport>;

impl ureq::unversioned::transport::Connector<UreqConnection> for ObserveWrites {
    type Out = ureq::unversioned::transport::Either<UreqConnection, Observed>;

    fn connect(
        &self,
        details: &ureq::unversioned::transport::ConnectionDetails,
        chained: Option<UreqConnection>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        use ureq::unversioned::transport::Either;
        let to_proxy = self.proxy.as_ref().is_some_and(|(host, port)| {
            details.uri.host().is_some_and(|h| h.eq_ignore_ascii_case(host)) && details.uri.port_u16() == Some(*port)
        });
        Ok(chained.map(|connection| if to_proxy { Either::A(connection) } else { Either::B(Observed(connection)) }))
    }
}

/// `timeout` cut to whole milliseconds (up to a millisecond sooner). ureq bounds each write and read of an attempt
/// by what is left of its timeout, and sets it on the socket (a `setsockopt` syscall) whenever it differs from the
/// one set before: to the nanosecond, it differs on every write and every read, two syscalls a call, 8,123 for
/// 4,064 cancels over loopback (`strace -c`), where raw ureq without a timeout makes none. Cut to the millisecond,
/// a call that takes less than one sets the same values as the call before it on the same connection, and none is
/// made; the attempt still ends within its timeout.
fn whole_milliseconds(
    mut timeout: ureq::unversioned::transport::NextTimeout,
) -> ureq::unversioned::transport::NextTimeout {
    use ureq::unversioned::transport::time::Duration as UreqDuration;
    if let UreqDuration::Exact(left) = timeout.after {
        let millis = u64::try_from(left.as_millis()).unwrap_or(u64::MAX);
        timeout.after = UreqDuration::Exact(std::time::Duration::from_millis(millis));
    }
    timeout
}

/// A connection that notes, on this thread, that request bytes were handed to it.
#[derive(Debug)]
struct Observed(UreqConnection);

impl ureq::unversioned::transport::Transport for Observed {
    fn buffers(&mut self) -> &mut dyn ureq::unversioned::transport::Buffers {
        self.0.buffers()
    }

    fn transmit_output(
        &mut self,
        amount: usize,
        timeout: ureq::unversioned::transport::NextTimeout,
    ) -> Result<(), ureq::Error> {
        // Noted before the write: a write that fails half-way may still have delivered the request.
        if amount > 0 {
            REQUEST_WRITTEN.set(true);
        }
        self.0.transmit_output(amount, whole_milliseconds(timeout))
    }

    fn await_input(&mut self, timeout: ureq::unversioned::transport::NextTimeout) -> Result<bool, ureq::Error> {
        self.0.await_input(whole_milliseconds(timeout))
    }

    fn is_open(&mut self) -> bool {
        self.0.is_open()
    }

    fn is_tls(&self) -> bool {
        self.0.is_tls()
    }
}

#[cfg(all(feature = "tls", not(any(feature = "ring", feature = "aws-lc-rs"))))]
compile_error!("sendkit-ureq's TLS needs a crypto provider: enable the `ring` (default) or `aws-lc-rs` feature");

/// rustls' settings: the roots the features say, and a crypto provider named outright.
#[cfg(feature = "tls")]
fn tls_config(roots: Option<ureq::tls::RootCerts>, config: &Config) -> (ureq::tls::TlsConfig, Option<String>) {
    use ureq::tls::{Certificate, ClientCert, PrivateKey};
    let mut builder = ureq::tls::TlsConfig::builder();
    let mut unusable = None;
    // The config's identity, for servers that ask who the client is. ureq panics on the first request with an
    // identity rustls refuses (a key that does not match the certificate, a v1 certificate): it is tried here,
    // and one that fails is left out and reported by every request instead.
    if let Some(identity) = config.client_identity() {
        let chain: Vec<Certificate<'static>> =
            identity.chain().iter().map(|der| Certificate::from_der(der).to_owned()).collect();
        match PrivateKey::from_pem(identity.key_pem().as_bytes()) {
            Ok(key) => match identity_fits(&chain, &key) {
                Ok(()) => builder = builder.client_cert(Some(ClientCert::new_with_certs(&chain, key))),
                Err(error) => unusable = Some(error.to_string()),
            },
            Err(error) => unusable = Some(format!("the key: {error}")),
        }
    }
    // Roots given to the constructor, else the config's, else the feature's.
    let configured = config.trust().map(|roots| {
        let roots: Vec<Certificate<'static>> = roots.iter().map(|der| Certificate::from_der(der).to_owned()).collect();
        ureq::tls::RootCerts::new_with_certs(&roots)
    });
    if let Some(roots) = roots.or(configured) {
        return (builder.root_certs(roots).unversioned_rustls_crypto_provider(crypto_provider()).build(), unusable);
    }
    // With the `platform-roots` feature, trust the operating system's store rather than the bundled roots.
    #[cfg(feature = "platform-roots")]
    let builder = builder.root_certs(ureq::tls::RootCerts::PlatformVerifier);
    (builder.unversioned_rustls_crypto_provider(crypto_provider()).build(), unusable)
}

/// Whether rustls takes this identity: the very call ureq makes, and expects to succeed, when it builds its
/// TLS configuration.
#[cfg(feature = "tls")]
fn identity_fits(
    chain: &[ureq::tls::Certificate<'static>],
    key: &ureq::tls::PrivateKey<'static>,
) -> Result<(), rustls::Error> {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    // The DER says which of PKCS#1, PKCS#8 and SEC1 it is.
    let key = PrivateKeyDer::try_from(key.der().to_vec()).map_err(|reason| rustls::Error::General(reason.into()))?;
    let chain = chain.iter().map(|cert| CertificateDer::from(cert.der().to_vec())).collect();
    rustls::ClientConfig::builder_with_provider(crypto_provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_client_auth_cert(chain, key)
        .map(drop)
}

/// The process-wide default provider if the application installed one, else the feature's: ring, or aws-lc-rs.
/// Named outright, so that rustls never has to choose between two compiled-in providers (it panics when asked to).
#[cfg(feature = "tls")]
fn crypto_provider() -> std::sync::Arc<rustls::crypto::CryptoProvider> {
    if let Some(installed) = rustls::crypto::CryptoProvider::get_default() {
        return std::sync::Arc::clone(installed);
    }
    #[cfg(feature = "ring")]
    return std::sync::Arc::new(rustls::crypto::ring::default_provider());
    #[cfg(all(feature = "aws-lc-rs", not(feature = "ring")))]
    return std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
}

/// Whether the handshake failed. ureq reports most TLS failures as I/O errors wrapping rustls' error (and its own
/// error has no `source`), the rest as its own TLS variants.
#[cfg(feature = "tls")]
fn is_tls(err: &ureq::Error) -> bool {
    match err {
        ureq::Error::Rustls(_) | ureq::Error::Pem(_) => true,
        ureq::Error::Io(io) => sendkit_proto::causes(io).any(|cause| cause.is::<rustls::Error>()),
        _ => false,
    }
}

/// Without a TLS feature there is no handshake to fail: `https` base URLs end in `TlsRequired`.
#[cfg(not(feature = "tls"))]
fn is_tls(_: &ureq::Error) -> bool {
    false
}

fn io_kind(err: &io::Error) -> (TransportErrorKind, Delivery) {
    match err.kind() {
        io::ErrorKind::ConnectionRefused
        | io::ErrorKind::AddrNotAvailable
        | io::ErrorKind::NetworkUnreachable
        | io::ErrorKind::HostUnreachable => (TransportErrorKind::Connect, Delivery::NotSent),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => (TransportErrorKind::Timeout, Delivery::MaybeSent),
        _ => (TransportErrorKind::ConnectionLost, Delivery::MaybeSent),
    }
}

#[cfg(test)]
mod proxy_tests {
    use super::*;

    /// A proxy ureq cannot build is an error that says so, never a direct connection.
    #[test]
    fn a_proxy_ureq_cannot_build_is_an_error() {
        let error = proxy_of(ureq::ProxyProtocol::Http, "bad host", 8080, Some(("user", "s3cret"))).unwrap_err();
        assert!(error.contains("bad host:8080 cannot be used") && !error.contains("s3cret"), "{error}");
        assert!(proxy_of(ureq::ProxyProtocol::Http, "proxy.example", 8080, None).is_ok());
    }
}

#[cfg(test)]
mod timeout_tests {
    use super::*;
    use std::time::Duration;
    use ureq::unversioned::transport::time::Duration as UreqDuration;
    use ureq::unversioned::transport::NextTimeout;

    fn left(after: UreqDuration) -> UreqDuration {
        whole_milliseconds(NextTimeout { after, ..NextTimeout::default() }).after
    }

    /// What is left of an attempt's timeout reaches the socket in whole milliseconds, never later than it was:
    /// the same for two calls a few microseconds apart, so that ureq sets it on the socket once.
    #[test]
    fn what_is_left_of_a_timeout_is_cut_to_whole_milliseconds() {
        let first = left(UreqDuration::Exact(Duration::from_secs(30) - Duration::from_micros(7)));
        let second = left(UreqDuration::Exact(Duration::from_secs(30) - Duration::from_micros(41)));
        assert_eq!(first, UreqDuration::Exact(Duration::from_millis(29_999)));
        assert_eq!(first, second, "the same for two calls of a few microseconds");
        assert_eq!(
            left(UreqDuration::Exact(Duration::from_millis(250))),
            UreqDuration::Exact(Duration::from_millis(250))
        );
        // Less than a millisecond left is none: the attempt ends now, as ureq ends it at zero.
        assert_eq!(left(UreqDuration::Exact(Duration::from_micros(900))), UreqDuration::Exact(Duration::ZERO));
        assert_eq!(left(UreqDuration::NotHappening), UreqDuration::NotHappening);
    }
}
