//! A local emulator of the SendKit enrichment jobs API, for tests: a real HTTP server on loopback that keeps jobs
//! in memory, moves them on a clock the test controls, checks the key like the API, and misbehaves on demand.
//!
//! ## Which crate
//! `sendkit-model` (types only) → `sendkit-proto` (sans-IO: requests, responses, retries, waits) →
//! `sendkit-ureq` (blocking) or `sendkit-hyper` (async), the only crates that do I/O; `sendkit-mock` is the
//! emulator for tests. Pick one adapter; use proto alone to bring your own HTTP client.
//!
//! ```
//! use sendkit_mock::MockServer;
//! use sendkit_mock::model::{Job, JobStatus, JobType};
//!
//! let server = MockServer::start();
//! server.insert_job(Job::new("job_1", JobType::EmailVerification, JobStatus::Processing));
//! // Point a client at `server.base_url()` with `server.api_key()`.
//! assert!(server.base_url().starts_with("http://127.0.0.1:"));
//! assert_eq!(server.job("job_1").unwrap().status, JobStatus::Processing);
//! ```
//!
//! Behaviour, following the API's documentation:
//! - `POST /v1/enrichment/enrich` creates one `pending` job per enrichment type and charges `email` 1 credit per
//!   lead, `phoneEnrichment` 20, `segGateway` and `espDetection` nothing.
//! - Jobs stay `pending` for [`Progress::pending_for`], then process [`Progress::items_per_second`] until
//!   `completed`. Jobs a test inserts stay in the status it gave them.
//! - `POST .../cancel` cancels a `pending` or `processing` job; any other status answers 400 `VALIDATION_ERROR`
//!   `Job cannot be cancelled in status "<status>"`. Unknown jobs, and jobs older than 7 days, answer 404
//!   `NOT_FOUND` `Job not found or expired`.
//! - Either `X-Api-Key` or `Authorization: Bearer` authenticates; a wrong or missing key answers 401. A platform
//!   key (`sk_user_...`) must send `X-Workspace-Id`, or gets 400.
//! - By default the clock stands still until [`MockServer::advance`] moves it; [`MockBuilder::system_clock`]
//!   runs it on real time.
//! - Every answer carries `X-Request-Id: req_<n>`, as a gateway would, so that errors can quote it.
//! - Job types: the API documents `email_verification` only. The emulator names the jobs of the other enrichment
//!   types `phone_enrichment`, `seg_gateway` and `esp_detection`, following that naming; the model reads them as
//!   `JobType::Unknown` with that string, as it would any type the docs do not name.
//!
//! ## Faults
//! In a test, arm a [`Fault`] with [`MockServer::inject`]. From outside (the `sendkit-mock` binary, `sendkit mock`,
//! another language), arm them over HTTP:
//!
//! ```text
#![doc = include_str!("../FAULTS.md")]
//! ```

mod body;
mod connection;
mod fault;
mod routes;
mod state;

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sendkit_model::{Job, Timestamp};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio_rustls::TlsAcceptor;

pub use fault::{Fault, Route, ENDLESS_LIMIT};
/// The model crate whose types the emulator stores and serves, so a test needs no second dependency for them.
pub use sendkit_model as model;

/// The reference for arming faults over HTTP, as the binaries' `--help` prints it.
pub const FAULTS_HELP: &str = include_str!("../FAULTS.md");
pub use rustls::pki_types;
pub use state::{Ledger, Progress, RequestRecord};

use connection::Connection;
use routes::Shared;
use state::StoredJob;

/// The key the emulator accepts unless told otherwise.
pub const DEFAULT_API_KEY: &str = "sk_test_sendkit_mock";

/// A running emulator. It stops when dropped.
pub struct MockServer {
    addr: SocketAddr,
    scheme: &'static str,
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for MockServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockServer").field("addr", &self.addr).finish_non_exhaustive()
    }
}

/// Settings for a [`MockServer`].
#[derive(Debug, Clone)]
#[must_use]
pub struct MockBuilder {
    addr: SocketAddr,
    api_key: String,
    workspace_id: Option<String>,
    progress: Progress,
    system_clock: bool,
    worker_threads: usize,
    fault_seed: u64,
    tls: Option<Arc<rustls::ServerConfig>>,
}

impl Default for MockBuilder {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            api_key: DEFAULT_API_KEY.to_owned(),
            workspace_id: None,
            progress: Progress::default(),
            system_clock: false,
            worker_threads: 1,
            fault_seed: 0x5EED,
            tls: None,
        }
    }
}

impl MockBuilder {
    /// Listen here (default `127.0.0.1:0`, a free port).
    pub fn addr(mut self, addr: SocketAddr) -> Self {
        self.addr = addr;
        self
    }

    /// Accept this key (default [`DEFAULT_API_KEY`]). A key starting `sk_user_` is a platform key.
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = key.into();
        self
    }

    /// With a platform key, accept only this workspace ID (default: any).
    pub fn workspace_id(mut self, id: impl Into<String>) -> Self {
        self.workspace_id = Some(id.into());
        self
    }

    /// How jobs move.
    pub fn progress(mut self, progress: Progress) -> Self {
        self.progress = progress;
        self
    }

    /// Run the clock on real time rather than only when [`MockServer::advance`] moves it.
    pub fn system_clock(mut self) -> Self {
        self.system_clock = true;
        self
    }

    /// Serve on this many threads (default 1).
    pub fn worker_threads(mut self, threads: usize) -> Self {
        self.worker_threads = threads.max(1);
        self
    }

    /// Seeds the random numbers that [`Fault::fraction`] draws from (default fixed): the same seed and the same
    /// requests give the same faults.
    pub fn fault_seed(mut self, seed: u64) -> Self {
        self.fault_seed = seed;
        self
    }

    /// Serves HTTPS with this certificate chain and key (for example one made in the test with rcgen). The base URL
    /// then names `localhost`, which the certificate should cover.
    pub fn tls(self, chain: Vec<CertificateDer<'static>>, key: PrivateKeyDer<'static>) -> std::io::Result<Self> {
        self.serve_tls(chain, key, None)
    }

    /// Like [`MockBuilder::tls`], and asks every client for a certificate issued by `client_ca`, refusing the
    /// handshake without one (mutual TLS, as a gateway that checks client identities does).
    pub fn tls_with_client_auth(
        self,
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
        client_ca: CertificateDer<'static>,
    ) -> std::io::Result<Self> {
        self.serve_tls(chain, key, Some(client_ca))
    }

    fn serve_tls(
        mut self,
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
        client_ca: Option<CertificateDer<'static>>,
    ) -> std::io::Result<Self> {
        let invalid =
            |err: &dyn std::fmt::Display| std::io::Error::new(std::io::ErrorKind::InvalidInput, err.to_string());
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|err| invalid(&err))?;
        let builder = match client_ca {
            None => builder.with_no_client_auth(),
            Some(ca) => {
                let mut roots = rustls::RootCertStore::empty();
                roots.add(ca).map_err(|err| invalid(&err))?;
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                    .build()
                    .map_err(|err| invalid(&err))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config = builder.with_single_cert(chain, key).map_err(|err| invalid(&err))?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        self.tls = Some(Arc::new(config));
        Ok(self)
    }

    /// Starts the server on a thread of its own, returning once it listens.
    pub fn start(self) -> std::io::Result<MockServer> {
        let shared = Arc::new(Shared {
            state: Mutex::new(state::State::new(self.progress, !self.system_clock, self.fault_seed)),
            api_key: self.api_key,
            workspace_id: self.workspace_id,
        });
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(self.worker_threads)
            .thread_name("sendkit-mock")
            .enable_all()
            .build()?;
        // Bound with std, so that starting works from inside a caller's async runtime as well as outside one.
        let listener = std::net::TcpListener::bind(self.addr)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let (shutdown, stop) = oneshot::channel();
        let serving = Arc::clone(&shared);
        let tls = self.tls.map(TlsAcceptor::from);
        let scheme = if tls.is_some() { "https" } else { "http" };
        if tls.is_none() {
            in_memory_servers().push((addr, Arc::downgrade(&shared), runtime.handle().clone()));
        }
        let thread = std::thread::Builder::new().name("sendkit-mock".into()).spawn(move || {
            runtime.block_on(async move {
                // Registering an already-listening socket with this runtime cannot fail but for lack of resources,
                // and then there is nothing to serve with.
                if let Ok(listener) = TcpListener::from_std(listener) {
                    serve(listener, serving, tls, stop).await;
                }
            })
        })?;
        Ok(MockServer { addr, scheme, shared, shutdown: Some(shutdown), thread: Some(thread) })
    }
}

async fn serve(listener: TcpListener, shared: Arc<Shared>, tls: Option<TlsAcceptor>, mut stop: oneshot::Receiver<()>) {
    loop {
        let accepted = tokio::select! {
            _ = &mut stop => return,
            accepted = listener.accept() => accepted,
        };
        // A failed accept (out of file descriptors, say) drops that connection; the server goes on.
        let Ok((stream, _)) = accepted else { continue };
        shared.lock().ledger.connections += 1;
        let shared = Arc::clone(&shared);
        let tls = tls.clone();
        let _ = stream.set_nodelay(true);
        let connection_fault = shared.lock().take_connection_fault();
        tokio::spawn(async move {
            let (connection, ending) = Connection::new(stream);
            match connection_fault.map(|fault| fault.action) {
                Some(fault::Action::ResetOnAccept) => {
                    ending.reset();
                    return;
                }
                // Held open, unanswered, until the client gives up or the emulator stops.
                Some(fault::Action::StallHandshake) => {
                    let _held = connection;
                    tokio::time::sleep(Duration::from_secs(600)).await;
                    return;
                }
                _ => {}
            }
            let service = service_fn(move |request| routes::handle(Arc::clone(&shared), ending.clone(), request));
            // A client that hangs up mid-request or fails the handshake, or a fault that ends the connection,
            // ends this task; the server goes on.
            match tls {
                None => {
                    let _ = http1::Builder::new().serve_connection(TokioIo::new(connection), service).await;
                }
                Some(acceptor) => {
                    // Over TLS, HTTP/2 or HTTP/1.1 as the client's ALPN asks, as the API's edge would.
                    if let Ok(stream) = acceptor.accept(connection).await {
                        let serving =
                            hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
                        let _ = serving.serve_connection(TokioIo::new(stream), service).await;
                    }
                }
            }
        });
    }
}

impl MockServer {
    /// Starts an emulator on a free loopback port with the default settings.
    ///
    /// # Panics
    /// If no loopback port can be bound: a test cannot go on without its server.
    pub fn start() -> Self {
        Self::builder().start().expect("the emulator could not listen on loopback")
    }

    /// Settings for an emulator.
    pub fn builder() -> MockBuilder {
        MockBuilder::default()
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL to give a client: `http://127.0.0.1:<port>`, or `https://localhost:<port>` when serving TLS.
    /// Listening on every address (`0.0.0.0`, `[::]`), it names loopback: a host a client can connect to.
    pub fn base_url(&self) -> String {
        let mut addr = self.addr;
        if addr.ip().is_unspecified() {
            addr.set_ip(if addr.is_ipv4() { Ipv4Addr::LOCALHOST.into() } else { Ipv6Addr::LOCALHOST.into() });
        }
        match self.scheme {
            "https" => format!("https://localhost:{}", addr.port()),
            _ => format!("http://{addr}"),
        }
    }

    /// The key it accepts.
    pub fn api_key(&self) -> &str {
        &self.shared.api_key
    }

    /// Stores `job` as it is; it stays in its status until cancelled. Its `createdAt`, if set, counts for expiry;
    /// if unset, it is created now.
    pub fn insert_job(&self, mut job: Job) {
        let mut state = self.shared.lock();
        let created = *job.created_at.get_or_insert(state.now());
        state.jobs.insert(job.id.clone(), StoredJob { job, pinned: true, created });
    }

    /// The job as a `GET` would show it now, or `None` if there is none or it expired.
    pub fn job(&self, id: &str) -> Option<Job> {
        self.shared.lock().job_mut(id).map(|stored| stored.job.clone())
    }

    /// The emulator's current time.
    pub fn now(&self) -> Timestamp {
        self.shared.lock().now()
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        self.shared.lock().advance(by);
    }

    /// Arms `fault`; faults fire in the order armed, the first that matches a request.
    pub fn inject(&self, fault: Fault) {
        self.shared.lock().faults.push(fault);
    }

    /// Disarms every fault.
    pub fn clear_faults(&self) {
        self.shared.lock().faults.clear();
    }

    /// What the emulator has done so far.
    pub fn ledger(&self) -> Ledger {
        self.shared.lock().ledger.clone()
    }

    /// Serves until the process ends: for the binary.
    pub fn wait(mut self) {
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Plain-http emulators of this process, by address, for [`connect_in_memory`].
type InMemoryServers = Vec<(SocketAddr, std::sync::Weak<Shared>, tokio::runtime::Handle)>;

fn in_memory_servers() -> std::sync::MutexGuard<'static, InMemoryServers> {
    static SERVERS: Mutex<InMemoryServers> = Mutex::new(Vec::new());
    SERVERS.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A connection to the plain-http emulator of this process listening at `addr`, as an in-memory pipe: HTTP/1.1
/// with no socket, served by the same routes, state and faults as its TCP connections (a reset fault ends the
/// pipe). `None` when no such emulator is running. For testing a transport that is not a TCP client.
pub fn connect_in_memory(addr: SocketAddr) -> Option<tokio::io::DuplexStream> {
    let (shared, runtime) = in_memory_servers()
        .iter()
        .find(|(at, _, _)| *at == addr)
        .and_then(|(_, shared, runtime)| Some((shared.upgrade()?, runtime.clone())))?;
    let (client, server) = tokio::io::duplex(64 * 1024);
    shared.lock().ledger.connections += 1;
    runtime.spawn(async move {
        let ending = connection::Ending::default();
        let service = service_fn(move |request| routes::handle(Arc::clone(&shared), ending.clone(), request));
        let _ = http1::Builder::new().serve_connection(TokioIo::new(server), service).await;
    });
    Some(client)
}

impl Drop for MockServer {
    fn drop(&mut self) {
        in_memory_servers().retain(|(at, _, _)| *at != self.addr);
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
