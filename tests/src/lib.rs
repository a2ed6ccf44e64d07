//! Test support: one interface over both adapters, so each scenario is written once and run through each.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use sendkit_mock::MockServer;
use sendkit_model::{EnrichRequest, EnrichResponse, Job};
use std::sync::Arc;

use sendkit_proto::http;
use sendkit_proto::{
    AsyncTransport, Attempt, Config, ConfigBuilder, Delivery, Error, Proxy, RetryPolicy, TransportError,
    TransportErrorKind, WaitEvent, WaitPolicy,
};

/// What a scenario needs of a client; implemented by both adapters.
pub trait Adapter {
    /// Cancels a job.
    fn cancel_job(&self, job_id: &str) -> Result<Job, Error>;
    /// Gets a job.
    fn get_job(&self, job_id: &str) -> Result<Job, Error>;
    /// Enriches leads.
    fn enrich(&self, request: EnrichRequest) -> Result<EnrichResponse, Error>;
    /// Waits for a job to finish; also returns every job the polls showed, in order.
    fn wait_for_job(&self, job_id: &str, policy: WaitPolicy) -> (Result<Job, Error>, Vec<Job>);
    /// Cancels many jobs.
    fn cancel_jobs(&self, job_ids: &[&str], concurrency: usize) -> Vec<(String, Result<Job, Error>)>;
    /// Waits for many jobs: every event, in the order the caller saw them.
    fn wait_for_jobs(&self, job_ids: &[String], policy: WaitPolicy, concurrency: usize) -> Vec<WaitEvent>;
}

/// Turns each named scenario, a `fn(Connect)`, into two tests: one through ureq, one through hyper. For
/// scenarios that need a real socket (a server that is not the emulator, TLS, connection counts).
#[macro_export]
macro_rules! through_both_adapters {
    ($($scenario:ident),* $(,)?) => {
        mod ureq {
            $(#[test] fn $scenario() { super::$scenario($crate::ureq) })*
        }
        mod hyper {
            $(#[test] fn $scenario() { super::$scenario($crate::hyper) })*
        }
    };
}

/// Turns each named scenario into four tests: through ureq, through hyper, and through the in-memory transport
/// plugged into each client's seam (the async one, and the blocking one), which proves both seams with the same
/// tests.
#[macro_export]
macro_rules! through_every_transport {
    ($($scenario:ident),* $(,)?) => {
        $crate::through_both_adapters!($($scenario),*);
        mod in_memory {
            $(#[test] fn $scenario() { super::$scenario($crate::in_memory) })*
        }
        mod blocking_in_memory {
            $(#[test] fn $scenario() { super::$scenario($crate::blocking_in_memory) })*
        }
    };
}

/// Builds a client of one adapter from a config.
pub type Connect = fn(Config) -> Box<dyn Adapter>;

/// The blocking adapter.
pub fn ureq(config: Config) -> Box<dyn Adapter> {
    Box::new(sendkit_ureq::Client::new(config))
}

/// The async adapter, driven on a runtime of its own.
pub fn hyper(config: Config) -> Box<dyn Adapter> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a test runtime");
    Box::new(Hyper { client: sendkit_hyper::Client::new(config), runtime })
}

/// The blocking adapter, trusting only `root` (an emulator's certificate made in the test).
pub fn ureq_trusting(config: Config, root: &sendkit_mock::pki_types::CertificateDer<'static>) -> Box<dyn Adapter> {
    let root = sendkit_ureq::ureq::tls::Certificate::from_der(root.as_ref()).to_owned();
    Box::new(sendkit_ureq::Client::with_roots(config, [root]))
}

/// The async adapter, trusting only `root`.
pub fn hyper_trusting(config: Config, root: &sendkit_mock::pki_types::CertificateDer<'static>) -> Box<dyn Adapter> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a test runtime");
    let mut roots = sendkit_hyper::rustls::RootCertStore::empty();
    roots.add(root.clone()).expect("a certificate made in the test");
    Box::new(Hyper { client: sendkit_hyper::Client::with_roots(config, roots), runtime })
}

/// A loopback address whose connections never complete: a listener whose accept queue is full, so that the
/// kernel drops every further SYN, as a firewall that drops packets does. Kept open while this lives.
pub struct BlackHole {
    addr: std::net::SocketAddr,
    _listener: socket2::Socket,
    _queued: Vec<std::net::TcpStream>,
}

impl BlackHole {
    /// Listens with the smallest accept queue and fills it.
    pub fn start() -> Self {
        use socket2::{Domain, Socket, Type};
        let listener = Socket::new(Domain::IPV4, Type::STREAM, None).expect("a socket");
        listener.bind(&std::net::SocketAddr::from(([127, 0, 0, 1], 0)).into()).expect("a loopback port");
        listener.listen(0).expect("listening");
        let addr = listener.local_addr().expect("a bound socket").as_socket().expect("an IP address");
        let mut queued = Vec::new();
        // The queue takes one or two connections; the first that does not complete shows it is full.
        for _ in 0..16 {
            match std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
                Ok(stream) => queued.push(stream),
                Err(_) => break,
            }
        }
        Self { addr, _listener: listener, _queued: queued }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// The async client over [`InMemory`], a transport of the kind a user would write.
pub fn in_memory(config: Config) -> Box<dyn Adapter> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a test runtime");
    let transport: Arc<dyn AsyncTransport> = Arc::new(InMemory::default());
    Box::new(Hyper { client: sendkit_hyper::Client::<dyn AsyncTransport>::with_transport(config, transport), runtime })
}

/// The blocking client over [`InMemory`], bridged as a user with an async client would: each send runs on a
/// runtime of the transport's own. Proves the blocking seam ([`Transport`](sendkit_proto::Transport)) with a
/// transport other than ureq.
pub fn blocking_in_memory(config: Config) -> Box<dyn Adapter> {
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("a test runtime");
    Box::new(sendkit_ureq::Client::with_transport(config, Blocking { transport: InMemory::default(), runtime }))
}

/// An async transport made blocking.
pub struct Blocking {
    transport: InMemory,
    runtime: tokio::runtime::Runtime,
}

impl sendkit_proto::Transport for Blocking {
    fn send(&self, attempt: Attempt) -> Result<http::Response<Vec<u8>>, TransportError> {
        self.runtime.block_on(AsyncTransport::send(&self.transport, attempt))
    }
}

/// A transport with no socket: HTTP/1.1 over an in-memory pipe to the emulator ([`sendkit_mock::connect_in_memory`]),
/// on hyper's bare connection API, keeping one connection open between requests. About what a user plugging in
/// a client of their own writes: send within the limits, report the facts of a failure.
#[derive(Default)]
pub struct InMemory {
    idle: std::sync::Mutex<Option<hyper::client::conn::http1::SendRequest<http_body_util::Full<bytes::Bytes>>>>,
}

impl InMemory {
    async fn exchange(
        &self,
        request: http::Request<Vec<u8>>,
        limit: u64,
    ) -> Result<http::Response<Vec<u8>>, TransportError> {
        use http_body_util::BodyExt;
        let not_sent = |kind| TransportError::new(kind, Delivery::NotSent);
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).take();
        let reusable = match idle {
            Some(mut sender) => sender.ready().await.is_ok().then_some(sender),
            None => None,
        };
        let mut sender = match reusable {
            Some(sender) => sender,
            None => {
                let addr = request
                    .uri()
                    .authority()
                    .and_then(|a| a.as_str().parse().ok())
                    .ok_or_else(|| not_sent(TransportErrorKind::Resolve))?;
                let pipe =
                    sendkit_mock::connect_in_memory(addr).ok_or_else(|| not_sent(TransportErrorKind::Connect))?;
                let (sender, connection) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(pipe))
                    .await
                    .map_err(|err| not_sent(TransportErrorKind::Connect).with_source(err))?;
                tokio::spawn(connection);
                sender
            }
        };
        let lost = |err: hyper::Error| {
            let kind = if err.is_parse() { TransportErrorKind::Protocol } else { TransportErrorKind::ConnectionLost };
            TransportError::new(kind, Delivery::MaybeSent).with_source(err)
        };
        let response = sender
            .send_request(request.map(|body| http_body_util::Full::new(bytes::Bytes::from(body))))
            .await
            .map_err(lost)?;
        let (parts, body) = response.into_parts();
        let cap = usize::try_from(limit).unwrap_or(usize::MAX);
        let bytes = match http_body_util::Limited::new(body, cap).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(err) if err.is::<http_body_util::LengthLimitError>() => {
                return Err(TransportError::new(TransportErrorKind::BodyTooLarge, Delivery::MaybeSent)
                    .with_status(parts.status));
            }
            Err(err) => {
                let kind = TransportErrorKind::ConnectionLost;
                return Err(TransportError::new(kind, Delivery::MaybeSent).with_status(parts.status).with_source(err));
            }
        };
        *self.idle.lock().unwrap_or_else(|p| p.into_inner()) = Some(sender);
        Ok(http::Response::from_parts(parts, bytes.to_vec()))
    }
}

#[async_trait::async_trait]
impl AsyncTransport for InMemory {
    async fn send(&self, attempt: Attempt) -> Result<http::Response<Vec<u8>>, TransportError> {
        match tokio::time::timeout(attempt.timeout, self.exchange(attempt.request, attempt.body_limit)).await {
            Ok(outcome) => outcome,
            Err(elapsed) => {
                Err(TransportError::new(TransportErrorKind::Timeout, Delivery::MaybeSent).with_source(elapsed))
            }
        }
    }

    async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration).await
    }
}

impl<T: sendkit_proto::Transport + Sync> Adapter for sendkit_ureq::Client<T> {
    fn cancel_job(&self, job_id: &str) -> Result<Job, Error> {
        sendkit_ureq::Client::cancel_job(self, job_id)
    }

    fn get_job(&self, job_id: &str) -> Result<Job, Error> {
        sendkit_ureq::Client::get_job(self, job_id)
    }

    fn enrich(&self, request: EnrichRequest) -> Result<EnrichResponse, Error> {
        sendkit_ureq::Client::enrich(self, request)
    }

    fn wait_for_job(&self, job_id: &str, policy: WaitPolicy) -> (Result<Job, Error>, Vec<Job>) {
        let mut seen = Vec::new();
        let result = sendkit_ureq::Client::wait_for_job(self, job_id, policy, |job| seen.push(job.clone()));
        (result, seen)
    }

    fn cancel_jobs(&self, job_ids: &[&str], concurrency: usize) -> Vec<(String, Result<Job, Error>)> {
        sendkit_ureq::Client::cancel_jobs(self, job_ids.iter().copied(), concurrency)
    }

    fn wait_for_jobs(&self, job_ids: &[String], policy: WaitPolicy, concurrency: usize) -> Vec<WaitEvent> {
        let mut events = Vec::new();
        sendkit_ureq::Client::wait_for_jobs(self, job_ids.to_vec(), policy, concurrency, |event| events.push(event));
        events
    }
}

struct Hyper<T: AsyncTransport + ?Sized + 'static> {
    client: sendkit_hyper::Client<T>,
    runtime: tokio::runtime::Runtime,
}

impl<T: AsyncTransport + ?Sized + 'static> Hyper<T> {
    /// Runs the call on a spawned task, which also proves the adapter's futures are `Send`.
    fn block_on<R: Send + 'static>(&self, call: impl std::future::Future<Output = R> + Send + 'static) -> R {
        self.runtime.block_on(async move { tokio::spawn(call).await.expect("the call's task panicked") })
    }
}

impl<T: AsyncTransport + ?Sized + 'static> Adapter for Hyper<T> {
    fn cancel_job(&self, job_id: &str) -> Result<Job, Error> {
        let (client, job_id) = (self.client.clone(), job_id.to_owned());
        self.block_on(async move { client.cancel_job(&job_id).await })
    }

    fn get_job(&self, job_id: &str) -> Result<Job, Error> {
        let (client, job_id) = (self.client.clone(), job_id.to_owned());
        self.block_on(async move { client.get_job(&job_id).await })
    }

    fn enrich(&self, request: EnrichRequest) -> Result<EnrichResponse, Error> {
        let client = self.client.clone();
        self.block_on(async move { client.enrich(request).await })
    }

    fn wait_for_job(&self, job_id: &str, policy: WaitPolicy) -> (Result<Job, Error>, Vec<Job>) {
        let (client, job_id) = (self.client.clone(), job_id.to_owned());
        self.block_on(async move {
            let mut seen = Vec::new();
            let result = client.wait_for_job(&job_id, policy, |job| seen.push(job.clone())).await;
            (result, seen)
        })
    }

    fn cancel_jobs(&self, job_ids: &[&str], concurrency: usize) -> Vec<(String, Result<Job, Error>)> {
        let client = self.client.clone();
        let ids: Vec<String> = job_ids.iter().map(|id| id.to_string()).collect();
        self.block_on(async move { client.cancel_jobs(ids, concurrency).await })
    }

    fn wait_for_jobs(&self, job_ids: &[String], policy: WaitPolicy, concurrency: usize) -> Vec<WaitEvent> {
        let (client, ids) = (self.client.clone(), job_ids.to_vec());
        self.block_on(async move {
            let mut events = Vec::new();
            client.wait_for_jobs(ids, policy, concurrency, |event| events.push(event)).await;
            events
        })
    }
}

/// Settings for a client of `server`, with retries quick and exact so tests do not wait on backoff, and no
/// proxy whatever the environment says.
pub fn settings(server: &MockServer) -> ConfigBuilder {
    Config::builder(server.api_key()).base_url(server.base_url()).retry(quick_retries()).proxy(Proxy::Off)
}

/// 3 attempts, 1 ms then 2 ms apart, no jitter.
pub fn quick_retries() -> RetryPolicy {
    RetryPolicy::default().backoff(Duration::from_millis(1), Duration::from_millis(10)).without_jitter()
}

/// A client of `server` with [`settings`].
pub fn client(connect: Connect, server: &MockServer) -> Box<dyn Adapter> {
    connect(settings(server).build().expect("test settings are valid"))
}

/// A one-shot server that records the first request's bytes (head and body) and answers `answer`.
pub struct Capture {
    listener: TcpListener,
}

impl Capture {
    /// Listens on a free loopback port.
    pub fn start() -> Self {
        Self { listener: TcpListener::bind("127.0.0.1:0").expect("a loopback port") }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.listener.local_addr().expect("a bound listener"))
    }

    /// Serves one request on a thread; join it for the bytes the client sent.
    pub fn serve_once(self, answer: String) -> std::thread::JoinHandle<String> {
        std::thread::spawn(move || {
            let (mut stream, _) = self.listener.accept().expect("the client connects");
            stream.set_read_timeout(Some(Duration::from_secs(10))).expect("a socket option");
            let mut received = Vec::new();
            let mut buffer = [0u8; 4096];
            loop {
                let n = stream.read(&mut buffer).expect("the client sends");
                received.extend_from_slice(&buffer[..n]);
                if n == 0 || request_complete(&received) {
                    break;
                }
            }
            stream.write_all(answer.as_bytes()).expect("the client reads");
            String::from_utf8_lossy(&received).into_owned()
        })
    }
}

impl Capture {
    /// Sends `raw` bytes to `addr` and returns everything the server answered before closing: for requests the
    /// SDK would never send.
    pub fn send_raw(addr: std::net::SocketAddr, raw: &str) -> String {
        let mut stream = std::net::TcpStream::connect(addr).expect("the server listens");
        stream.set_read_timeout(Some(Duration::from_secs(10))).expect("a socket option");
        stream.write_all(raw.as_bytes()).expect("the server reads");
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        String::from_utf8_lossy(&answer).into_owned()
    }
}

/// Whether `received` holds a whole request: the head and as many body bytes as `content-length` says.
fn request_complete(received: &[u8]) -> bool {
    let text = String::from_utf8_lossy(received);
    let Some(head_end) = text.find("\r\n\r\n") else { return false };
    let length = text[..head_end]
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length").then(|| value.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    received.len() >= head_end + 4 + length
}

/// The README's code, compiled and run as doctests so that it cannot drift from the API.
#[doc = include_str!("../../README.md")]
mod readme {}

/// An HTTP `CONNECT` proxy on loopback: it records each tunnel request's head and every byte it relays, so a test
/// can show what a proxy sees.
pub struct ConnectProxy {
    addr: std::net::SocketAddr,
    seen: std::sync::Arc<std::sync::Mutex<ProxySeen>>,
}

/// What a [`ConnectProxy`] saw.
#[derive(Debug, Default, Clone)]
pub struct ProxySeen {
    /// The head of each request made to the proxy (`CONNECT host:port HTTP/1.1` and its headers).
    pub heads: Vec<String>,
    /// Every byte relayed, both ways.
    pub relayed: Vec<u8>,
}

impl ConnectProxy {
    /// Listens on a free loopback port; serves tunnels on threads until the test process ends.
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let addr = listener.local_addr().expect("a bound listener");
        let seen = std::sync::Arc::new(std::sync::Mutex::new(ProxySeen::default()));
        let recording = std::sync::Arc::clone(&seen);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let seen = std::sync::Arc::clone(&recording);
                std::thread::spawn(move || tunnel(stream, &seen));
            }
        });
        Self { addr, seen }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// What the proxy saw so far.
    pub fn seen(&self) -> ProxySeen {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

fn tunnel(mut client: std::net::TcpStream, seen: &std::sync::Mutex<ProxySeen>) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match client.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let target = head.strip_prefix("CONNECT ").and_then(|rest| rest.split_whitespace().next()).map(str::to_owned);
    seen.lock().unwrap_or_else(|p| p.into_inner()).heads.push(head);
    let Some(upstream) = target.and_then(|target| std::net::TcpStream::connect(target).ok()) else {
        let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n");
        return;
    };
    if client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n").is_err() {
        return;
    }
    let pipe = |mut from: std::net::TcpStream, mut to: std::net::TcpStream, seen: &std::sync::Mutex<ProxySeen>| {
        let mut buffer = [0u8; 8192];
        while let Ok(n) = from.read(&mut buffer) {
            if n == 0 || to.write_all(&buffer[..n]).is_err() {
                break;
            }
            seen.lock().unwrap_or_else(|p| p.into_inner()).relayed.extend_from_slice(&buffer[..n]);
        }
        let _ = to.shutdown(std::net::Shutdown::Write);
    };
    let (client_read, upstream_read) = match (client.try_clone(), upstream.try_clone()) {
        (Ok(c), Ok(u)) => (c, u),
        _ => return,
    };
    std::thread::scope(|scope| {
        scope.spawn(|| pipe(client_read, upstream, seen));
        pipe(upstream_read, client, seen);
    });
}

/// An HTTPS emulator accepting `key`, whose certificate, for `localhost`, is made here and trusted by nothing but
/// the certificate returned.
pub fn tls_emulator(key: &str) -> (MockServer, sendkit_mock::pki_types::CertificateDer<'static>) {
    use sendkit_mock::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("a certificate");
    let cert = certified.cert.der().clone();
    let private = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(certified.signing_key.serialize_der()));
    let server = MockServer::builder()
        .api_key(key)
        .tls(vec![cert.clone()], private)
        .expect("a valid certificate")
        .start()
        .expect("the emulator listens");
    (server, cert)
}
