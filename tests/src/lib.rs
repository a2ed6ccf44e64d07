//! Test support: one interface over both adapters, so each scenario is written once and run through each.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use sendkit_mock::MockServer;
use sendkit_model::{EnrichRequest, EnrichResponse, Job};
use sendkit_proto::{Config, ConfigBuilder, Error, Proxy, RetryPolicy, WaitPolicy};

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
}

/// Turns each named scenario, a `fn(Connect)`, into two tests: one through ureq, one through hyper.
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

impl Adapter for sendkit_ureq::Client {
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
}

struct Hyper {
    client: sendkit_hyper::Client,
    runtime: tokio::runtime::Runtime,
}

impl Hyper {
    /// Runs the call on a spawned task, which also proves the adapter's futures are `Send`.
    fn block_on<T: Send + 'static>(&self, call: impl std::future::Future<Output = T> + Send + 'static) -> T {
        self.runtime.block_on(async move { tokio::spawn(call).await.expect("the call's task panicked") })
    }
}

impl Adapter for Hyper {
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
