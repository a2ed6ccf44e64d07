//! Async client for the SendKit enrichment jobs API, on [hyper](https://docs.rs/hyper) 1, hyper-util's pooled
//! client and rustls (ring provider), on a tokio runtime.
//!
//! ## Which crate
//! `sendkit-model` (types only) → `sendkit-proto` (sans-IO: requests, responses, retries, waits) →
//! `sendkit-ureq` (blocking) or `sendkit-hyper` (async), the only crates that do I/O; `sendkit-mock` is the
//! emulator for tests. Pick one client; to bring your own async HTTP client (reqwest with middleware, a test
//! double), implement [`AsyncTransport`] and use [`Client::with_transport`].
//!
//! [`Client`] is one driver over proto's flows: proto builds each request and decides each retry, wait and
//! deadline; the client sends, sleeps and reads through its [`AsyncTransport`] — hyper by default
//! ([`HyperTransport`]). Redirects are never followed (the key never leaves the base URL's origin), each attempt is
//! bounded by its timeout and the call by its deadline, no body is read past the configured limit, and proxies come
//! from [`Config`] alone (`HTTPS_PROXY` / `ALL_PROXY` / `NO_PROXY` for https, as a `CONNECT` tunnel; never for a
//! plain-http base URL).
//!
//! ## The runtime
//! It needs a tokio runtime with the time and I/O drivers (`#[tokio::main]`, or a runtime built with
//! `enable_all()`); multi-threaded or current-thread. Futures are `Send` (spawn them freely) as long as the
//! progress callback you pass to [`Client::wait_for_job`] is; dropping a future stops the call.
//!
//! ```no_run
//! use std::time::Duration;
//! use sendkit_hyper::{Client, Error, WaitPolicy};
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Error> {
//!     let client = Client::from_env()?; // SENDKIT_API_KEY, and optionally SENDKIT_BASE_URL, SENDKIT_WORKSPACE_ID
//!     let job_id = "bulk_email_verification_1710000000000_abc1234";
//!     let policy = WaitPolicy::default().timeout(Duration::from_secs(300));
//!     match client.wait_for_job(job_id, policy, |job| println!("{} ...", job.status)).await {
//!         Ok(job) => println!("{} finished: {}", job.id, job.status),
//!         Err(Error::NotFound { .. }) => println!("no such job, or it expired"),
//!         Err(Error::WaitTimedOut { last_job, .. }) => println!("still running: {:?}", last_job.map(|j| j.status)),
//!         Err(other) => return Err(other),
//!     }
//!     match client.cancel_job(job_id).await {
//!         Ok(job) => println!("cancelled {}", job.id),
//!         Err(Error::NotCancellable { job_status: Some(status), .. }) => println!("already {status}"),
//!         Err(other) if other.may_have_taken_effect() => println!("unknown, read the job: {other}"),
//!         Err(other) => return Err(other),
//!     }
//!     Ok(())
//! }
//! ```
//!
//! Feature flags: `webpki-roots` (default) trusts the Mozilla roots bundled; `platform-roots` the operating
//! system's verifier (rustls-platform-verifier, as in sendkit-ureq); `ring` (default) or `aws-lc-rs` is rustls' crypto (a provider the application installed as the
//! process default wins over either); `http2` speaks HTTP/2 over TLS when the server offers it, so that many calls in flight
//! share one connection (off by default: HTTP/1.1 with a pool was faster in every measurement, see BENCHMARKS.md); `tracing` adds a span per call and per attempt.

#![cfg_attr(docsrs, feature(doc_cfg))]

use std::future::Future;
use std::ops::ControlFlow;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::proxy::{SocksV5, Tunnel};
use hyper_util::client::legacy::connect::{Connect, HttpConnector};
use hyper_util::client::legacy::ResponseFuture;
use hyper_util::rt::{TokioExecutor, TokioIo};
use sendkit_proto::http::header::CONTENT_LENGTH;
use sendkit_proto::http::{Request, Response, Uri};
use sendkit_proto::model::{EnrichRequest, EnrichResponse, Job};
use sendkit_proto::{causes, engine, Call, CancelJobFlow, Enrich, Flow, GetJob, Operation, ResultsInOrder, WaitForJob};

pub use sendkit_proto::{
    model, AsyncTransport, Attempt, AuthStyle, BatchProgress, CallSettings, CancelOutcome, Config, ConfigBuilder,
    Delivery, Error, ErrorKind, JobStage, Proxy, RetryPolicy, TransportError, TransportErrorKind, WaitEvent,
    WaitPolicy,
};
/// The crates whose types this crate's constructors take, so that you build them against the same versions:
/// rustls 0.23 (`RootCertStore`, [`Client::with_roots`]), and hyper-util 0.1 with http-body-util 0.1 and bytes 1
/// (a `hyper_util::client::legacy::Client<C, Full<Bytes>>`, [`Client::with_client`]). These versions are part of
/// this crate's API.
pub use {bytes, http_body_util, hyper_util, rustls};

/// sendkit's `proto` crate, for [`AsyncTransport`] implementations and operations of your own.
pub use sendkit_proto as proto;

/// An async SendKit client over an [`AsyncTransport`] (hyper by default). Cheap to clone; clones share the
/// connection pool.
#[derive(Debug)]
pub struct Client<T: ?Sized = HyperTransport> {
    config: Arc<Config>,
    transport: Arc<T>,
}

impl<T: ?Sized> Clone for Client<T> {
    fn clone(&self) -> Self {
        Self { config: Arc::clone(&self.config), transport: Arc::clone(&self.transport) }
    }
}

impl Client {
    /// A client with its own pooled hyper client, built from `config`: its connect timeout and proxy, rustls with
    /// the process's default crypto provider if one was installed, else the feature's (ring by default). It
    /// trusts the webpki roots (feature `webpki-roots`, the default) or the operating system's verifier (feature
    /// `platform-roots`, rustls-platform-verifier as in sendkit-ureq; it wins when both are on); with neither,
    /// pass roots to [`Client::with_roots`].
    pub fn new(config: Config) -> Self {
        let trust = match config.trust() {
            // The config's roots, the same setting as on sendkit-ureq; a certificate rustls cannot read is skipped
            // (the handshake then fails, naming the untrusted issuer).
            Some(trusted) => {
                let mut roots = rustls::RootCertStore::empty();
                let (_added, _skipped) = roots.add_parsable_certificates(
                    trusted.iter().map(|der| rustls::pki_types::CertificateDer::from(der.clone())),
                );
                Trust::Roots(roots)
            }
            None => default_trust(),
        };
        let transport = HyperTransport::new(&config, trust);
        Self { config: Arc::new(config), transport: Arc::new(transport) }
    }

    /// Like [`Client::new`], trusting `roots` instead (a private CA, a test certificate).
    pub fn with_roots(config: Config, roots: rustls::RootCertStore) -> Self {
        let transport = HyperTransport::new(&config, Trust::Roots(roots));
        Self { config: Arc::new(config), transport: Arc::new(transport) }
    }

    /// A client over a hyper-util client you built (for its connector or pool settings). The connect timeout and
    /// any proxy are then yours to set on the connector; each attempt is still bounded by its timeout, and
    /// redirects are never followed.
    pub fn with_client<C>(config: Config, http: hyper_util::client::legacy::Client<C, Full<Bytes>>) -> Self
    where
        C: Connect + Clone + Send + Sync + 'static,
    {
        let transport = HyperTransport {
            request: Arc::new(move |request| http.request(request)),
            unusable_identity: None,
            connect_timeout: None,
        };
        Self { config: Arc::new(config), transport: Arc::new(transport) }
    }

    /// A client configured from `SENDKIT_API_KEY`, `SENDKIT_BASE_URL` and `SENDKIT_WORKSPACE_ID`.
    pub fn from_env() -> Result<Self, Error> {
        Ok(Self::new(Config::from_env()?.build()?))
    }
}

impl<T: AsyncTransport + ?Sized + 'static> Client<T> {
    /// A client over any async HTTP client: implement [`AsyncTransport`] (send one request, sleep) and get
    /// retries, settling, deadlines, waiting and cancel-many. `Arc<dyn AsyncTransport>` works too.
    ///
    /// ```
    /// use std::time::Duration;
    /// use sendkit_hyper::{AsyncTransport, Client, Config, TransportError};
    /// use sendkit_hyper::proto::{http, Attempt};
    ///
    /// /// A transport that answers every request itself: a test double, or a client of your own.
    /// struct Canned;
    ///
    /// #[async_trait::async_trait]
    /// impl AsyncTransport for Canned {
    ///     async fn send(&self, attempt: Attempt) -> Result<http::Response<Vec<u8>>, TransportError> {
    ///         let body = br#"{"success":true,"data":{"id":"job_1","type":"email_verification","status":"cancelled"}}"#;
    ///         Ok(http::Response::new(body.to_vec()))
    ///     }
    ///     async fn sleep(&self, duration: Duration) {
    ///         tokio::time::sleep(duration).await
    ///     }
    /// }
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let client = Client::with_transport(Config::builder("sk_live_0123456789").build()?, Canned);
    /// assert_eq!(client.cancel_job("job_1").await?.status.to_string(), "cancelled");
    /// # Ok::<(), sendkit_hyper::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn with_transport(config: Config, transport: impl Into<Arc<T>>) -> Self {
        Self { config: Arc::new(config), transport: transport.into() }
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
    /// # async fn run(client: sendkit_hyper::Client) -> Result<(), sendkit_hyper::Error> {
    /// use std::time::Duration;
    /// use sendkit_hyper::{CallSettings, RetryPolicy};
    ///
    /// let urgent = client.with_settings(CallSettings::new().deadline(Some(Duration::from_secs(2))).retry(RetryPolicy::none()))?;
    /// let job = urgent.get_job("job_1").await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn with_settings(&self, settings: CallSettings) -> Result<Self, Error> {
        Ok(Self { config: Arc::new(self.config.with_settings(&settings)?), transport: Arc::clone(&self.transport) })
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
    /// # async fn run(client: sendkit_hyper::Client) -> Result<(), sendkit_hyper::Error> {
    /// let job = client.cancel_job("bulk_email_verification_1710000000000_abc1234").await?;
    /// assert_eq!(job.status, sendkit_hyper::model::JobStatus::Cancelled);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn cancel_job(&self, job_id: &str) -> Result<Job, Error> {
        self.drive(CancelJobFlow::new(job_id, &self.config), |_| {}).await
    }

    /// Gets a job's current status and progress.
    ///
    /// ```no_run
    /// # async fn run(client: sendkit_hyper::Client) -> Result<(), sendkit_hyper::Error> {
    /// let job = client.get_job("bulk_email_verification_1710000000000_abc1234").await?;
    /// let progress = job.metadata.clone().unwrap_or_default();
    /// println!("{}: {} of {} items", job.status, progress.processed_items, progress.total_items);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn get_job(&self, job_id: &str) -> Result<Job, Error> {
        self.run(GetJob::new(job_id)).await
    }

    /// Runs enrichments over leads, creating one job per enrichment type. Never sent twice once it may have
    /// reached the server.
    ///
    /// ```no_run
    /// # async fn run(client: sendkit_hyper::Client) -> Result<(), sendkit_hyper::Error> {
    /// use sendkit_hyper::model::{EnrichRequest, EnrichmentType};
    ///
    /// let created = client.enrich(EnrichRequest::new(["507f1f77bcf86cd799439011"], [EnrichmentType::Email])).await?;
    /// println!("{} credits for {} jobs", created.total_credits_charged, created.jobs.len());
    /// # Ok(())
    /// # }
    /// ```
    pub async fn enrich(&self, request: EnrichRequest) -> Result<EnrichResponse, Error> {
        self.run(Enrich::new(request)).await
    }

    /// Waits until the job reaches a terminal status (`completed`, `failed`, `cancelled`) and returns it, polling as
    /// `policy` says and calling `on_progress` with each job a poll returns. Failures that polling cannot fix end
    /// the wait at once; past the policy's timeout, the error is [`Error::WaitTimedOut`] with the last job seen.
    /// Dropping the future stops the polling.
    ///
    /// The future is `Send` when `on_progress` is, so that it can be spawned on a multi-threaded runtime. A callback
    /// that holds an `Rc` or a `RefCell` works too: await the wait where you are (on a current-thread runtime, or
    /// inside a `tokio::task::LocalSet`), without spawning it.
    ///
    /// ```no_run
    /// # async fn run(client: sendkit_hyper::Client) -> Result<(), sendkit_hyper::Error> {
    /// use sendkit_hyper::WaitPolicy;
    ///
    /// let job = client
    ///     .wait_for_job("job_1", WaitPolicy::default(), |job| {
    ///         if let Some(m) = &job.metadata {
    ///             println!("{}: {}/{}", job.status, m.processed_items, m.total_items);
    ///         }
    ///     })
    ///     .await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn wait_for_job(
        &self,
        job_id: &str,
        policy: WaitPolicy,
        on_progress: impl FnMut(&Job),
    ) -> Result<Job, Error> {
        self.drive(WaitForJob::new(job_id, policy, &self.config), on_progress).await
    }

    /// Waits for many jobs at once with `concurrency` polls under way at most, however many jobs there are: each
    /// job is polled as [`Client::wait_for_job`] would, by whichever of `concurrency` workers is free when its poll
    /// is due, so 10,000 jobs take `concurrency` connections and no task each. `each` is called as things happen: a
    /// [`WaitEvent::Progress`] for each job that changed, a [`WaitEvent::Finished`] when a job's wait ends. The
    /// workers run inside this future (nothing is spawned); dropping it stops them.
    ///
    /// ```no_run
    /// # async fn run(client: sendkit_hyper::Client) {
    /// use sendkit_hyper::{WaitEvent, WaitPolicy};
    ///
    /// client
    ///     .wait_for_jobs(["job_1", "job_2"], WaitPolicy::default(), 16, |event| match event {
    ///         WaitEvent::Progress(job) => println!("{} is {}", job.id, job.status),
    ///         WaitEvent::Finished { job_id, result, .. } => match result {
    ///             Ok(job) => println!("{job_id} finished: {}", job.status),
    ///             Err(error) => println!("{error}"),
    ///         },
    ///         _ => {}
    ///     })
    ///     .await;
    /// # }
    /// ```
    pub async fn wait_for_jobs<I>(
        &self,
        job_ids: I,
        policy: WaitPolicy,
        concurrency: usize,
        each: impl FnMut(WaitEvent),
    ) where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        let ids = job_ids.into_iter().map(Into::into).collect();
        engine::wait_for_jobs_async(&*self.transport, &self.config, ids, &policy, concurrency, each).await
    }

    /// Cancels every job, at most `concurrency` at a time (inside this future, nothing spawned; a job already
    /// cancelled is a success of its own, [`CancelOutcome::AlreadyCancelled`]), and returns each one's result
    /// in the order given: one failure does not stop the rest. Dropping the future stops the cancels not yet sent.
    ///
    /// ```no_run
    /// # async fn run(client: sendkit_hyper::Client) {
    /// use sendkit_hyper::CancelOutcome;
    ///
    /// for (job_id, result) in client.cancel_jobs(["job_1", "job_2", "job_3"], 8).await {
    ///     match result {
    ///         Ok(CancelOutcome::Cancelled(_)) => println!("{job_id}: cancelled"),
    ///         Ok(CancelOutcome::AlreadyCancelled(_)) => println!("{job_id}: cancelled already"),
    ///         Ok(_) => {}
    ///         Err(error) => println!("{job_id}: {error}"),
    ///     }
    /// }
    /// # }
    /// ```
    pub async fn cancel_jobs<I>(&self, job_ids: I, concurrency: usize) -> Vec<(String, Result<CancelOutcome, Error>)>
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        let mut results = ResultsInOrder::new(job_ids.into_iter().map(Into::into).collect());
        let ids = results.ids().to_vec();
        self.cancel_jobs_each(ids, concurrency, |index, _, result| {
            results.record(index, result);
            ControlFlow::Continue(())
        })
        .await;
        results.finish()
    }

    /// Cancels every job, at most `concurrency` at a time, handing each result to `each` as soon as it is known,
    /// with the job's index in `job_ids`. When `each` returns `ControlFlow::Break`, no further cancel starts; those
    /// under way finish and are reported. Returns the IDs never started.
    ///
    /// ```no_run
    /// # async fn run(client: sendkit_hyper::Client) {
    /// use std::ops::ControlFlow;
    ///
    /// let not_started = client
    ///     .cancel_jobs_each(["job_1", "job_2"], 4, |_, job_id, result| {
    ///         println!("{job_id}: {}", if result.is_ok() { "cancelled" } else { "not cancelled" });
    ///         ControlFlow::Continue(())
    ///     })
    ///     .await;
    /// assert!(not_started.is_empty());
    /// # }
    /// ```
    pub async fn cancel_jobs_each<I>(
        &self,
        job_ids: I,
        concurrency: usize,
        each: impl FnMut(usize, &str, Result<CancelOutcome, Error>) -> ControlFlow<()>,
    ) -> Vec<String>
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        let ids: Vec<String> = job_ids.into_iter().map(Into::into).collect();
        let progress = BatchProgress::new(ids.len());
        self.cancel_jobs_tracked(ids, concurrency, &progress, each).await
    }

    /// [`Client::cancel_jobs_each`], keeping each job's stage in `progress` as the batch runs (not started, in
    /// flight, done), for another task to read: after Ctrl-C, which jobs may have been cancelled and which were
    /// never attempted. `progress` must have room for every job ([`BatchProgress::new`] with their number).
    pub async fn cancel_jobs_tracked(
        &self,
        job_ids: Vec<String>,
        concurrency: usize,
        progress: &BatchProgress,
        each: impl FnMut(usize, &str, Result<CancelOutcome, Error>) -> ControlFlow<()>,
    ) -> Vec<String> {
        engine::cancel_jobs_each_async(&*self.transport, &self.config, job_ids, concurrency, progress, each).await
    }

    /// Carries out any operation, with retries, deadline and settling as proto decides.
    pub async fn run<O>(&self, operation: O) -> Result<O::Output, Error>
    where
        O: Operation + Send,
        O::Output: Send,
    {
        self.drive(Call::new(operation, &self.config), |_| {}).await
    }

    /// Runs a flow to the end on the engine's async driver. `T`'s own methods, not the `Arc`'s forwarding impl:
    /// one boxed future per step rather than two. The driver's future itself, not one around it, which would hold
    /// the flow a second time (a call's future would be twice the size, and moved at that size).
    fn drive<'a, F: Flow + 'a>(
        &'a self,
        flow: F,
        on_progress: impl FnMut(&Job) + 'a,
    ) -> impl Future<Output = Result<F::Output, Error>> + 'a {
        engine::run_async(&*self.transport, flow, on_progress)
    }
}

/// The built-in [`AsyncTransport`]: a pooled hyper-util client, on tokio.
#[derive(Clone)]
pub struct HyperTransport {
    request: Arc<dyn Fn(Request<Full<Bytes>>) -> ResponseFuture + Send + Sync>,
    /// Why the config's client identity cannot be used, reported by every request (nothing is sent).
    unusable_identity: Option<Arc<str>>,
    /// The connect timeout the transport's own connector applies when an attempt names none; `None` when the
    /// connector is the user's, which reads no attempt's.
    connect_timeout: Option<Duration>,
}

impl std::fmt::Debug for HyperTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HyperTransport").finish_non_exhaustive()
    }
}

impl HyperTransport {
    fn new(config: &Config, trust: Trust) -> Self {
        let provider = crypto_provider();
        let mut unusable_identity = None;
        // The ring and aws-lc-rs providers support rustls' default protocol versions; should that ever change, the
        // builder's error is reported by every request rather than a panic here.
        let tls = match rustls::ClientConfig::builder_with_provider(provider).with_safe_default_protocol_versions() {
            Ok(builder) => {
                let builder = match trust {
                    Trust::Roots(roots) => builder.with_root_certificates(roots),
                    #[cfg(feature = "platform-roots")]
                    Trust::Platform => {
                        use rustls_platform_verifier::BuilderVerifierExt;
                        let fallback = builder.clone();
                        // A platform whose verifier cannot start is reported by every request, as a bad identity is.
                        builder.with_platform_verifier().unwrap_or_else(|error| {
                            unusable_identity = Some(format!("the platform's certificate verifier: {error}"));
                            fallback.with_root_certificates(rustls::RootCertStore::empty())
                        })
                    }
                };
                match config.client_identity().map(identity) {
                    // An identity rustls refuses is reported by every request, naming the setting: never dropped
                    // in silence, and never at the cost of the roots the config trusts.
                    Some((chain, key)) => match builder.clone().with_client_auth_cert(chain, key) {
                        Ok(tls) => tls,
                        Err(error) => {
                            unusable_identity = Some(error.to_string());
                            builder.with_no_client_auth()
                        }
                    },
                    None => builder.with_no_client_auth(),
                }
            }
            Err(error) => {
                unusable_identity = Some(format!("TLS settings: {error}"));
                rustls::ClientConfig::builder()
                    .with_root_certificates(rustls::RootCertStore::empty())
                    .with_no_client_auth()
            }
        };
        let mut tcp = HttpConnector::new();
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        tcp.set_connect_timeout(Some(config.connect_timeout()));
        let connector = match config.proxy() {
            None => Connector::Direct(tcp),
            Some(proxy) => {
                // The proxy's address was checked when the config was built.
                let proxy_uri: Uri = proxy.uri().parse().unwrap_or_default();
                match proxy.kind() {
                    sendkit_proto::ProxyKind::Socks5 | sendkit_proto::ProxyKind::Socks5h => {
                        // socks5: the client resolves the API's host; socks5h: the proxy does.
                        let local_dns = proxy.kind() == sendkit_proto::ProxyKind::Socks5;
                        let mut socks = SocksV5::new(proxy_uri, tcp).local_dns(local_dns);
                        if let Some((user, password)) = proxy.credentials() {
                            socks = socks.with_auth(user.to_owned(), password.to_owned());
                        }
                        Connector::Socks(socks)
                    }
                    _ => {
                        let mut tunnel = Tunnel::new(proxy_uri, tcp);
                        if let Some(authorization) = proxy.authorization() {
                            tunnel = tunnel.with_auth(authorization.clone());
                        }
                        Connector::Tunnel(tunnel)
                    }
                }
            }
        };
        let https = hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(tls).https_or_http();
        #[cfg(feature = "http2")]
        let https: HttpsConnector<Connector> = https.enable_all_versions().wrap_connector(connector);
        #[cfg(not(feature = "http2"))]
        let https: HttpsConnector<Connector> = https.enable_http1().wrap_connector(connector);
        let timed = Timed { inner: Arc::new(https), default: config.connect_timeout() };
        let http = hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build(timed);
        Self {
            request: Arc::new(move |request| http.request(request)),
            unusable_identity: unusable_identity.map(Into::into),
            connect_timeout: Some(config.connect_timeout()),
        }
    }

    /// One attempt, without its timeout. The request goes to hyper-util at once (it does nothing until polled), so
    /// that the future holds hyper-util's, not the request as well.
    fn attempt(
        &self,
        request: Request<Vec<u8>>,
        body_limit: u64,
    ) -> impl Future<Output = Result<Response<Vec<u8>>, TransportError>> + Send + 'static {
        let responding = (self.request)(request.map(|body| Full::new(Bytes::from(body))));
        Self::answer(responding, body_limit)
    }

    /// The answer to one request, its body read up to `body_limit`.
    async fn answer(responding: ResponseFuture, body_limit: u64) -> Result<Response<Vec<u8>>, TransportError> {
        let response = responding.await.map_err(request_error)?;
        let (parts, body) = response.into_parts();
        let too_large =
            || TransportError::new(TransportErrorKind::BodyTooLarge, Delivery::MaybeSent).with_status(parts.status);
        let declared = parts.headers.get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        if declared.is_some_and(|length| length > body_limit) {
            return Err(too_large());
        }
        let cap = usize::try_from(body_limit).unwrap_or(usize::MAX);
        let bytes = match Limited::new(body, cap).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(err) if err.is::<LengthLimitError>() => return Err(too_large()),
            Err(err) => return Err(after_connect(err).with_status(parts.status)),
        };
        // Without a copy when the collected body is one unshared buffer, as it is for a whole small answer.
        Ok(Response::from_parts(parts, Vec::from(bytes)))
    }
}

#[async_trait::async_trait]
impl AsyncTransport for HyperTransport {
    // Written out rather than as an `async fn`, whose boxed future would keep the attempt (the request, 288 bytes)
    // beside the futures made from it for as long as the attempt runs, and be allocated and moved at that size
    // for every attempt: this one holds only what is polled.
    fn send<'life0, 'async_trait>(
        &'life0 self,
        attempt: Attempt,
    ) -> Pin<Box<dyn Future<Output = Result<Response<Vec<u8>>, TransportError>> + Send + 'async_trait>>
    where
        'life0: 'async_trait,
        Self: 'async_trait,
    {
        if let Some(reason) = &self.unusable_identity {
            return Box::pin(std::future::ready(Err(TransportError::unusable_identity(reason))));
        }
        let Attempt { request, timeout, connect_timeout, body_limit, .. } = attempt;
        let attempt_now = self.attempt(request, body_limit);
        // The connect timeout is strictly under this one (proto sees to it): a connection that never completes
        // ends as a connect failure, never sent, before this timer can fire. The connector learns an attempt's
        // own connect timeout from the task; its default it knows (the task-local costs every poll).
        match self.connect_timeout {
            Some(default) if default != connect_timeout => {
                Box::pin(Within::new(timeout, CONNECT_TIMEOUT.scope(connect_timeout, attempt_now)))
            }
            _ => Box::pin(Within::new(timeout, attempt_now)),
        }
    }

    async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration).await
    }
}

pin_project_lite::pin_project! {
    /// An attempt within its timeout, whose running out is a [`TransportErrorKind::Timeout`]. (Not an `async` block,
    /// which would keep the attempt twice: as it was moved in, and as it is polled.)
    struct Within<F> {
        #[pin]
        attempt: F,
        // `None` for a timeout too long to have a deadline: never reached.
        timer: Option<KeptTimer>,
    }

    impl<F> PinnedDrop for Within<F> {
        fn drop(this: Pin<&mut Self>) {
            // Finished or dropped, the attempt gives its timer back for the next one.
            if let Some(timer) = this.project().timer.take() {
                timer.keep();
            }
        }
    }
}

impl<F> Within<F> {
    fn new(timeout: Duration, attempt: F) -> Self {
        let deadline = tokio::time::Instant::now().checked_add(timeout);
        Self { attempt, timer: deadline.map(KeptTimer::take) }
    }
}

impl<F: Future<Output = Result<Response<Vec<u8>>, TransportError>>> Future for Within<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        // The attempt first, as `tokio::time::timeout` does: an answer that came with the deadline is the answer.
        if let Poll::Ready(outcome) = this.attempt.poll(cx) {
            return Poll::Ready(outcome);
        }
        match this.timer {
            Some(timer) => timer
                .sleep
                .as_mut()
                .poll(cx)
                .map(|()| Err(TransportError::new(TransportErrorKind::Timeout, Delivery::MaybeSent))),
            None => Poll::Pending,
        }
    }
}

/// An attempt's timer, kept from one attempt to the next on the thread where the last ended. A fresh timer (what
/// `tokio::time::timeout` makes) goes into the runtime's timer wheel under the time driver's lock when the attempt
/// first waits, and out of it under the lock again when the answer comes, often from the other worker thread; a
/// kept timer moved to a later deadline stays where it is in the wheel (tokio notes the new deadline with one
/// compare-and-swap, and files the timer again only when its old deadline comes), so most attempts touch no lock
/// and no other thread's memory for their timeout. Measured in BENCHMARKS.md ("A timer kept on each thread").
struct KeptTimer {
    /// The runtime whose time driver the timer belongs to: a timer is only ever polled on its own runtime, where it
    /// fires (another runtime's might not be running, and its timer would never fire).
    runtime: tokio::runtime::Id,
    sleep: Pin<Box<tokio::time::Sleep>>,
}

thread_local! {
    /// The timers kept on this thread, the last kept last.
    static KEPT_TIMERS: std::cell::RefCell<Vec<KeptTimer>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl KeptTimer {
    /// The most timers kept on one thread: as many as attempts end on it at once, for a client's concurrency.
    const MOST_KEPT: usize = 256;

    /// A timer of the current runtime that fires at `deadline`: one kept on this thread, or a new one.
    fn take(deadline: tokio::time::Instant) -> Self {
        let runtime = tokio::runtime::Handle::current().id();
        let kept = KEPT_TIMERS
            .try_with(|kept| {
                let mut kept = kept.try_borrow_mut().ok()?;
                // Another runtime's timers above this runtime's last are dropped on the way: a thread that
                // alternates runtimes starts its kept timers afresh at each switch, which is slower, never wrong.
                while let Some(timer) = kept.pop() {
                    if timer.runtime == runtime {
                        return Some(timer);
                    }
                }
                None
            })
            .ok()
            .flatten();
        match kept {
            Some(mut timer) => {
                timer.sleep.as_mut().reset(deadline);
                timer
            }
            None => Self { runtime, sleep: Box::pin(tokio::time::sleep_until(deadline)) },
        }
    }

    /// Keeps the timer on this thread for the next attempt (or drops it, when the thread keeps enough or is ending).
    fn keep(self) {
        let _ = KEPT_TIMERS.try_with(|kept| {
            if let Ok(mut kept) = kept.try_borrow_mut() {
                if kept.len() < Self::MOST_KEPT {
                    kept.push(self);
                }
            }
        });
    }
}

tokio::task_local! {
    /// The connect timeout of the attempt being sent on this task, for the connector that makes its connection.
    static CONNECT_TIMEOUT: Duration;
}

/// The whole of connecting (TCP, the proxy's tunnel, the TLS handshake) under one timeout: the attempt's, when
/// the connection is made on the attempt's task, else the client's. A connection that does not complete in time
/// is a connect failure, so the request is known never sent.
#[derive(Clone)]
struct Timed {
    /// Shared: hyper-util clones the connector for every request, and connects for few of them (the pool has a
    /// connection); a clone of the whole connector (its proxy's URI and headers, the TLS config) cost ~150
    /// instructions a call.
    inner: Arc<HttpsConnector<Connector>>,
    default: Duration,
}

type TimedConnecting = Pin<
    Box<dyn Future<Output = Result<hyper_rustls::MaybeHttpsStream<TokioIo<tokio::net::TcpStream>>, BoxError>> + Send>,
>;

impl tower_service::Service<Uri> for Timed {
    type Response = hyper_rustls::MaybeHttpsStream<TokioIo<tokio::net::TcpStream>>;
    type Error = BoxError;
    type Future = TimedConnecting;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Every connector under it (hyper-util's HTTP connector, its tunnel and SOCKS wrappers, hyper-rustls) is
        // always ready: each call connects on its own.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        let timeout = CONNECT_TIMEOUT.try_with(|timeout| *timeout).unwrap_or(self.default);
        let connecting = HttpsConnector::clone(&self.inner).call(dst);
        Box::pin(async move {
            match tokio::time::timeout(timeout, connecting).await {
                Ok(connected) => connected,
                Err(_) => Err(Box::new(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("connecting took longer than the connect timeout of {timeout:?}"),
                )) as BoxError),
            }
        })
    }
}

/// A direct connection, a `CONNECT` tunnel, or a SOCKS5 connection through the configured proxy.
#[derive(Clone)]
enum Connector {
    Direct(HttpConnector),
    Tunnel(Tunnel<HttpConnector>),
    Socks(SocksV5<HttpConnector>),
}

type Connecting = Pin<Box<dyn Future<Output = Result<TokioIo<tokio::net::TcpStream>, BoxError>> + Send>>;
type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl tower_service::Service<Uri> for Connector {
    type Response = TokioIo<tokio::net::TcpStream>;
    type Error = BoxError;
    type Future = Connecting;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        match self {
            Self::Direct(tcp) => tcp.poll_ready(cx).map_err(Into::into),
            Self::Tunnel(tunnel) => tunnel.poll_ready(cx).map_err(Into::into),
            Self::Socks(socks) => socks.poll_ready(cx).map_err(Into::into),
        }
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        match self {
            Self::Direct(tcp) => {
                let connecting = tcp.call(dst);
                Box::pin(async move { connecting.await.map_err(Into::into) })
            }
            Self::Tunnel(tunnel) => {
                let connecting = tunnel.call(dst);
                Box::pin(async move { connecting.await.map_err(Into::into) })
            }
            Self::Socks(socks) => {
                let connecting = socks.call(dst);
                Box::pin(async move { connecting.await.map_err(Into::into) })
            }
        }
    }
}

#[cfg(not(any(feature = "ring", feature = "aws-lc-rs")))]
compile_error!("sendkit-hyper needs a crypto provider for rustls: enable the `ring` (default) or `aws-lc-rs` feature");

/// The process-wide default provider if the application installed one, else the feature's: ring, or aws-lc-rs.
/// Named outright, so that rustls never has to choose between two compiled-in providers (it panics when asked to).
fn crypto_provider() -> Arc<rustls::crypto::CryptoProvider> {
    if let Some(installed) = rustls::crypto::CryptoProvider::get_default() {
        return Arc::clone(installed);
    }
    #[cfg(feature = "ring")]
    return Arc::new(rustls::crypto::ring::default_provider());
    #[cfg(all(feature = "aws-lc-rs", not(feature = "ring")))]
    return Arc::new(rustls::crypto::aws_lc_rs::default_provider());
}

/// The config's client identity as rustls takes it.
fn identity(
    identity: &sendkit_proto::ClientIdentity,
) -> (Vec<rustls::pki_types::CertificateDer<'static>>, rustls::pki_types::PrivateKeyDer<'static>) {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs1KeyDer, PrivatePkcs8KeyDer, PrivateSec1KeyDer};
    let chain = identity.chain().iter().map(|der| CertificateDer::from(der.clone())).collect();
    let (key, format) = identity.key();
    let key = match format {
        sendkit_proto::KeyFormat::Pkcs1 => PrivateKeyDer::Pkcs1(PrivatePkcs1KeyDer::from(key.to_vec())),
        sendkit_proto::KeyFormat::Sec1 => PrivateKeyDer::Sec1(PrivateSec1KeyDer::from(key.to_vec())),
        _ => PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.to_vec())),
    };
    (chain, key)
}

/// Whom the client trusts: roots of its own, or the operating system's verifier (`platform-roots`).
enum Trust {
    Roots(rustls::RootCertStore),
    #[cfg(feature = "platform-roots")]
    Platform,
}

/// What the features say to trust: the platform's verifier (`platform-roots`, which wins, as sendkit-ureq's does),
/// else the bundled roots.
#[cfg(feature = "platform-roots")]
fn default_trust() -> Trust {
    Trust::Platform
}

#[cfg(all(feature = "webpki-roots", not(feature = "platform-roots")))]
fn default_trust() -> Trust {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    Trust::Roots(roots)
}

#[cfg(not(any(feature = "webpki-roots", feature = "platform-roots")))]
fn default_trust() -> Trust {
    Trust::Roots(rustls::RootCertStore::empty())
}

/// Maps a failed request onto the facts proto decides with.
fn request_error(err: hyper_util::client::legacy::Error) -> TransportError {
    if !err.is_connect() {
        return after_connect(err);
    }
    let kind = if causes(&err).any(|cause| cause.is::<rustls::Error>()) {
        TransportErrorKind::Tls
    } else if causes(&err).any(|cause| cause.to_string() == "tunnel error: proxy authorization required") {
        // hyper-util's tunnel says a 407 in words only, its error type being private.
        TransportErrorKind::ProxyAuth
    } else if causes(&err).any(|cause| cause.to_string() == "dns error") {
        // hyper-util's connector says so in words only: "dns error", over the resolver's own error.
        TransportErrorKind::Resolve
    } else if causes(&err)
        .any(|cause| cause.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut))
    {
        TransportErrorKind::Timeout
    } else {
        TransportErrorKind::Connect
    };
    TransportError::new(kind, Delivery::NotSent).with_source(err)
}

/// A failure after the connection was made: the request may have been acted on.
fn after_connect(err: impl Into<BoxError>) -> TransportError {
    let err: BoxError = err.into();
    let parse = causes(&*err).any(|cause| cause.downcast_ref::<hyper::Error>().is_some_and(hyper::Error::is_parse));
    let kind = if parse { TransportErrorKind::Protocol } else { TransportErrorKind::ConnectionLost };
    TransportError::new(kind, Delivery::MaybeSent).with_source(err)
}
