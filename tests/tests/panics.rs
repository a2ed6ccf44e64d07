//! A panic in a transport or in a caller's callback reaches the caller of `cancel_jobs` / `cancel_jobs_each`, at
//! any concurrency, through both clients: never a hang, never a result that hides it.

use std::ops::ControlFlow;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc;
use std::time::Duration;

use sendkit_proto::http;
use sendkit_proto::{AsyncTransport, Attempt, Config, Transport, TransportError};

/// A transport whose every send panics: a bug in a caller's transport.
struct Panics;

impl Transport for Panics {
    fn send(&self, _: Attempt) -> Result<http::Response<Vec<u8>>, TransportError> {
        panic!("the transport panicked")
    }
}

#[async_trait::async_trait]
impl AsyncTransport for Panics {
    async fn send(&self, _: Attempt) -> Result<http::Response<Vec<u8>>, TransportError> {
        panic!("the transport panicked")
    }

    async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration).await
    }
}

/// A transport that answers every cancel: for panics in the caller's callback.
struct Cancels;

impl Transport for Cancels {
    fn send(&self, attempt: Attempt) -> Result<http::Response<Vec<u8>>, TransportError> {
        let id = attempt.request.uri().path().split('/').nth(4).unwrap_or_default().to_owned();
        let body =
            format!(r#"{{"success":true,"data":{{"id":"{id}","type":"email_verification","status":"cancelled"}}}}"#);
        Ok(http::Response::new(body.into_bytes()))
    }
}

fn config() -> Config {
    Config::builder("sk_live_panics_0123").build().unwrap()
}

/// Runs `work` on a thread and returns the panic's message, failing the test if it hangs or does not panic.
fn panics_within_seconds(work: impl FnOnce() + Send + 'static) -> String {
    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || {
        let outcome = catch_unwind(AssertUnwindSafe(work));
        let _ = done.send(outcome.err().map(|panic| {
            panic.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| panic.downcast_ref::<String>().cloned())
        }));
    });
    match finished.recv_timeout(Duration::from_secs(20)) {
        Ok(Some(message)) => message.unwrap_or_default(),
        Ok(None) => panic!("the panic was swallowed"),
        Err(_) => panic!("the call hung instead of panicking"),
    }
}

const IDS: [&str; 20] = [
    "j0", "j1", "j2", "j3", "j4", "j5", "j6", "j7", "j8", "j9", "j10", "j11", "j12", "j13", "j14", "j15", "j16", "j17",
    "j18", "j19",
];

#[test]
fn ureq_cancel_jobs_raises_a_transports_panic_at_any_concurrency() {
    for concurrency in [1, 2, 8] {
        let said = panics_within_seconds(move || {
            let client = sendkit_ureq::Client::with_transport(config(), Panics);
            let _ = client.cancel_jobs(IDS, concurrency);
        });
        assert_eq!(said, "the transport panicked", "at concurrency {concurrency}");
    }
}

#[test]
fn ureq_cancel_jobs_each_raises_a_callbacks_panic_at_any_concurrency() {
    for concurrency in [1, 2, 8] {
        let said = panics_within_seconds(move || {
            let client = sendkit_ureq::Client::with_transport(config(), Cancels);
            client.cancel_jobs_each(IDS, concurrency, |index, _, _| {
                if index == 3 {
                    panic!("the callback panicked");
                }
                ControlFlow::Continue(())
            });
        });
        assert_eq!(said, "the callback panicked", "at concurrency {concurrency}");
    }
}

#[test]
fn hyper_cancel_jobs_raises_a_transports_panic_at_any_concurrency() {
    for concurrency in [1, 2, 8] {
        let said = panics_within_seconds(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
            let client = sendkit_hyper::Client::with_transport(config(), Panics);
            runtime.block_on(client.cancel_jobs(IDS, concurrency));
        });
        assert_eq!(said, "the transport panicked", "at concurrency {concurrency}");
    }
}
