//! One interface over every client, so that each scenario is written once and run through each: the
//! [`Adapter`] trait, the macros that multiply a scenario, and the settings tests share.

use std::sync::Arc;
use std::time::Duration;

use sendkit_mock::MockServer;
use sendkit_model::{EnrichRequest, EnrichResponse, Job};
use sendkit_proto::{
    AsyncTransport, CancelOutcome, Config, ConfigBuilder, Error, Proxy, RetryPolicy, WaitEvent, WaitPolicy,
};

use crate::in_memory::{Blocking, InMemory};

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
    fn cancel_jobs(&self, job_ids: &[&str], concurrency: usize) -> Vec<(String, Result<CancelOutcome, Error>)>;
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
    Box::new(sendkit_ureq::Client::with_transport(config, Blocking::new(InMemory::default(), runtime)))
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

    fn cancel_jobs(&self, job_ids: &[&str], concurrency: usize) -> Vec<(String, Result<CancelOutcome, Error>)> {
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

    fn cancel_jobs(&self, job_ids: &[&str], concurrency: usize) -> Vec<(String, Result<CancelOutcome, Error>)> {
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
