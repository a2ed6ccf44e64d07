//! Async client for the SendKit enrichment jobs API, on [hyper](https://docs.rs/hyper) 1, hyper-util's pooled
//! client and rustls (ring provider, webpki roots).
//!
//! ## Which crate
//! `sendkit-model` (types only) → `sendkit-proto` (sans-IO: requests, responses, retries, waits) →
//! `sendkit-ureq` (blocking) or `sendkit-hyper` (async), the only crates that do I/O; `sendkit-mock` is the
//! emulator for tests. Pick one adapter; use proto alone to bring your own HTTP client.
//!
//! A thin loop over [`sendkit_proto::Call`]: proto builds each request and decides each retry; this crate sends,
//! sleeps and reads. Redirects are never followed (the key never leaves the base URL's origin), each attempt is
//! bounded by the configured timeouts, and no body is read past the configured limit. Futures are `Send`;
//! dropping one stops the call.
//!
//! ```no_run
//! use sendkit_hyper::Client;
//!
//! # async fn cancel() -> Result<(), sendkit_hyper::Error> {
//! let client = Client::from_env()?; // SENDKIT_API_KEY, and optionally SENDKIT_BASE_URL, SENDKIT_WORKSPACE_ID
//! let job = client.cancel_job("bulk_email_verification_1710000000000_abc1234").await?;
//! println!("{} is {}", job.id, job.status);
//! # Ok(())
//! # }
//! ```

use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::{Connect, HttpConnector};
use hyper_util::rt::TokioExecutor;
use sendkit_proto::http::{header::CONTENT_LENGTH, Request, Response};
use sendkit_proto::model::{EnrichRequest, EnrichResponse, Job};
use sendkit_proto::{
    causes, Call, CancelJob, Enrich, GetJob, Operation, Step, TransportError, TransportErrorKind, WaitForJob, WaitStep,
};

pub use sendkit_proto::{model, AuthStyle, Config, ConfigBuilder, Error, RetryPolicy, WaitPolicy};
pub use {hyper, hyper_util, rustls};

/// The HTTP client this crate builds by default: pooled, HTTPS through rustls, plain HTTP allowed where the
/// config allows it.
pub type HyperClient<C = HttpsConnector<HttpConnector>> = hyper_util::client::legacy::Client<C, Full<Bytes>>;

/// An async SendKit client. Cheap to clone; clones share the connection pool.
#[derive(Debug, Clone)]
pub struct Client<C = HttpsConnector<HttpConnector>> {
    http: HyperClient<C>,
    config: Arc<Config>,
}

impl Client {
    /// A client with its own pooled hyper client: rustls with the ring provider, and `config`'s connect timeout.
    /// It trusts the webpki roots (feature `webpki-roots`, the default) or the operating system's store (feature
    /// `platform-roots`, which wins when both are on); with neither, pass roots to [`Client::with_roots`].
    pub fn new(config: Config) -> Self {
        Self::with_roots(config, default_roots())
    }

    /// Like [`Client::new`], trusting `roots` instead of the webpki roots (a private CA, a test certificate).
    pub fn with_roots(config: Config, roots: rustls::RootCertStore) -> Self {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("the ring provider supports rustls' default protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        let mut connector = HttpConnector::new();
        connector.enforce_http(false);
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(config.connect_timeout()));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(connector);
        let http = hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build(https);
        Self { http, config: Arc::new(config) }
    }

    /// A client configured from `SENDKIT_API_KEY`, `SENDKIT_BASE_URL` and `SENDKIT_WORKSPACE_ID`.
    pub fn from_env() -> Result<Self, Error> {
        Ok(Self::new(Config::from_env()?.build()?))
    }
}

impl<C> Client<C>
where
    C: Connect + Clone + Send + Sync + 'static,
{
    /// A client over a hyper client you built (for its connector, proxy or pool settings). The connect timeout
    /// is then yours to set on the connector; each attempt is still bounded by `config`'s attempt timeout, and
    /// redirects are never followed.
    pub fn with_client(config: Config, http: HyperClient<C>) -> Self {
        Self { http, config: Arc::new(config) }
    }

    /// The settings this client runs with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Cancels a `pending` or `processing` job and returns it, now `cancelled`.
    pub async fn cancel_job(&self, job_id: &str) -> Result<Job, Error> {
        self.run(CancelJob::new(job_id)).await
    }

    /// Gets a job's current status and progress.
    pub async fn get_job(&self, job_id: &str) -> Result<Job, Error> {
        self.run(GetJob::new(job_id)).await
    }

    /// Runs enrichments over leads, creating one job per enrichment type. Never sent twice once it may have
    /// reached the server.
    pub async fn enrich(&self, request: EnrichRequest) -> Result<EnrichResponse, Error> {
        self.run(Enrich::new(request)).await
    }

    /// Waits until the job reaches a terminal status (`completed`, `failed`, `cancelled`) and returns it, polling as
    /// `policy` says and calling `on_progress` with each job a poll returns. Past the policy's timeout, the error is
    /// [`Error::WaitTimedOut`] with the last job seen. Dropping the future stops the polling.
    pub async fn wait_for_job(
        &self,
        job_id: &str,
        policy: WaitPolicy,
        mut on_progress: impl FnMut(&Job) + Send,
    ) -> Result<Job, Error> {
        let mut wait = WaitForJob::new(job_id, policy);
        let mut step = wait.start(SystemTime::now());
        loop {
            match step {
                WaitStep::Poll { get, wait: pause } => {
                    if !pause.is_zero() {
                        tokio::time::sleep(pause).await;
                    }
                    let polled = self.run(get).await;
                    if let Ok(job) = &polled {
                        on_progress(job);
                    }
                    step = wait.observe(polled, SystemTime::now());
                }
                WaitStep::Done(result) => return result,
            }
        }
    }

    /// Cancels every job, at most `concurrency` at a time, and returns each one's result in the order given: one
    /// failure does not stop the rest.
    ///
    /// ```no_run
    /// # async fn run(client: sendkit_hyper::Client) {
    /// let results = client.cancel_jobs(["job_1", "job_2", "job_3"], 8).await;
    /// for (job_id, result) in results {
    ///     match result {
    ///         Ok(job) => println!("{job_id}: {}", job.status),
    ///         Err(error) => println!("{job_id}: {error}"),
    ///     }
    /// }
    /// # }
    /// ```
    pub async fn cancel_jobs<I>(&self, job_ids: I, concurrency: usize) -> Vec<(String, Result<Job, Error>)>
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        let ids: Vec<String> = job_ids.into_iter().map(Into::into).collect();
        let mut results: Vec<Option<Result<Job, Error>>> = (0..ids.len()).map(|_| None).collect();
        let mut running = tokio::task::JoinSet::new();
        for (index, id) in ids.iter().enumerate() {
            if running.len() >= concurrency.max(1) {
                if let Some(Ok((index, result))) = running.join_next().await {
                    results[index] = Some(result);
                }
            }
            let (client, id) = (self.clone(), id.clone());
            running.spawn(async move { (index, client.cancel_job(&id).await) });
        }
        while let Some(joined) = running.join_next().await {
            if let Ok((index, result)) = joined {
                results[index] = Some(result);
            }
        }
        ids.into_iter()
            .zip(results)
            .map(|(id, result)| {
                // A task can only be missing if it panicked, which the SDK's code does not do; say so rather than
                // drop the job from the answer.
                let result = result.unwrap_or_else(|| {
                    Err(Error::Transport(TransportError::new(TransportErrorKind::Io, true, "the cancel task panicked")))
                });
                (id, result)
            })
            .collect()
    }

    /// Carries out any operation, with retries as proto decides.
    pub async fn run<O>(&self, operation: O) -> Result<O::Output, Error>
    where
        O: Operation + Send,
        O::Output: Send,
    {
        let mut call = Call::new(operation, &self.config);
        let mut step = call.start();
        loop {
            match step {
                Step::Send { request, wait } => {
                    if !wait.is_zero() {
                        tokio::time::sleep(wait).await;
                    }
                    let outcome = match tokio::time::timeout(self.config.attempt_timeout(), self.send(request)).await {
                        Ok(outcome) => outcome,
                        Err(_) => Err(Error::Transport(TransportError::new(
                            TransportErrorKind::Timeout,
                            true,
                            format!("no complete answer within {:?}", self.config.attempt_timeout()),
                        ))),
                    };
                    step = call.receive(outcome, SystemTime::now());
                }
                Step::Done(result) => return result,
            }
        }
    }

    /// One attempt: the response with its body read up to the limit, or what went wrong.
    async fn send(&self, request: Request<Vec<u8>>) -> Result<Response<Vec<u8>>, Error> {
        let request = request.map(|body| Full::new(Bytes::from(body)));
        let response = self.http.request(request).await.map_err(|err| request_error(&err))?;
        let (parts, body) = response.into_parts();
        let limit = self.config.body_limit();
        let too_large = || Error::BodyTooLarge { status: parts.status, limit };
        let declared = parts.headers.get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        if declared.is_some_and(|length| length > limit) {
            return Err(too_large());
        }
        let cap = usize::try_from(limit).unwrap_or(usize::MAX);
        let bytes = match Limited::new(body, cap).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(err) if err.is::<LengthLimitError>() => return Err(too_large()),
            Err(err) => return Err(io_error(err.as_ref())),
        };
        // Without a copy when the collected body is one unshared buffer, as it is for a whole small answer.
        Ok(Response::from_parts(parts, Vec::from(bytes)))
    }
}

#[cfg(feature = "platform-roots")]
fn default_roots() -> rustls::RootCertStore {
    let mut roots = rustls::RootCertStore::empty();
    // Certificates the platform lists but rustls cannot parse are skipped, as browsers do.
    let (_added, _skipped) = roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    roots
}

#[cfg(all(feature = "webpki-roots", not(feature = "platform-roots")))]
fn default_roots() -> rustls::RootCertStore {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    roots
}

#[cfg(not(any(feature = "webpki-roots", feature = "platform-roots")))]
fn default_roots() -> rustls::RootCertStore {
    rustls::RootCertStore::empty()
}

/// Maps a failed request onto proto's errors, saying whether it may have reached the server.
fn request_error(err: &hyper_util::client::legacy::Error) -> Error {
    let tls = causes(err).any(|cause| cause.is::<rustls::Error>());
    let (kind, reached_server) = if tls {
        (TransportErrorKind::Tls, false)
    } else if err.is_connect() {
        (TransportErrorKind::Connect, false)
    } else {
        return io_error(err);
    };
    Error::Transport(TransportError::from_source(kind, reached_server, err))
}

/// A failure after the connection was made: the request may have been acted on.
fn io_error(err: &(dyn std::error::Error + 'static)) -> Error {
    let parse = causes(err).any(|cause| cause.downcast_ref::<hyper::Error>().is_some_and(hyper::Error::is_parse));
    let kind = if parse { TransportErrorKind::Protocol } else { TransportErrorKind::Io };
    Error::Transport(TransportError::from_source(kind, true, err))
}
