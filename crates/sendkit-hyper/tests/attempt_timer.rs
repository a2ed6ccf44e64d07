//! Each attempt's timeout, through the timers sendkit-hyper keeps from one attempt to the next on each thread: a
//! timer kept for a later attempt must still fire at that attempt's own deadline, on its own runtime.

use std::time::Duration;

use sendkit_hyper::{CallSettings, Client, Config, Error, Proxy, RetryPolicy, TransportErrorKind};
use sendkit_mock::{Fault, MockServer, Route};

/// A client of `server` that tries once, each attempt bounded by `attempt_timeout`.
fn client(server: &MockServer, attempt_timeout: Duration) -> Client {
    let config = Config::builder(server.api_key())
        .base_url(server.base_url())
        .proxy(Proxy::Off)
        .retry(RetryPolicy::default().max_attempts(1))
        .attempt_timeout(attempt_timeout)
        .build()
        .expect("a config");
    Client::new(config)
}

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime")
}

fn multi_thread(workers: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(workers).enable_all().build().expect("a runtime")
}

/// The read of a job the server answers only after 3 s, under a 200 ms timeout.
async fn read_too_slow_an_answer(client: &Client) -> Result<(), Error> {
    client.get_job("job_slow").await.map(drop)
}

/// `reads` reads of jobs the server does not have, each spawned onto the runtime's workers, each answered (404):
/// the workers keep their attempts' timers.
async fn answered_reads_on_the_workers(client: &Client, reads: usize) {
    let reads: Vec<_> = (0..reads)
        .map(|n| {
            tokio::spawn({
                let client = client.clone();
                async move { client.get_job(&format!("job_{n}")).await }
            })
        })
        .collect();
    for read in reads {
        let read = read.await.expect("a read");
        assert!(matches!(read, Err(Error::NotFound { .. })), "{read:?}");
    }
}

fn timed_out(outcome: Result<(), Error>) -> bool {
    matches!(outcome, Err(Error::Transport { ref source, .. }) if source.kind() == TransportErrorKind::Timeout)
}

#[test]
fn an_attempt_on_a_runtime_after_another_on_the_same_thread_times_out_on_its_own_timer() {
    let server = MockServer::start();
    // An answered attempt on a first runtime leaves its timer kept on this thread, due in a minute; then that
    // runtime is gone, its time driver with it.
    let first = current_thread();
    let answered = first.block_on(client(&server, Duration::from_secs(60)).get_job("job_none"));
    assert!(matches!(answered, Err(Error::NotFound { .. })), "{answered:?}");
    drop(first);

    server.inject(Fault::status(200).delay(Duration::from_secs(3)).on(Route::Get).times(1));
    let second = current_thread();
    let outcome = second.block_on(read_too_slow_an_answer(&client(&server, Duration::from_millis(200))));
    assert!(timed_out(outcome), "the second runtime's attempt must end at its own timeout");
}

#[test]
fn a_shorter_timeout_after_a_longer_one_fires_at_the_shorter() {
    let server = MockServer::start();
    let runtime = current_thread();
    let patient = client(&server, Duration::from_secs(60));
    runtime.block_on(async {
        // Answered: the timer, due in a minute, is kept for the next attempt.
        let answered = patient.get_job("job_none").await;
        assert!(matches!(answered, Err(Error::NotFound { .. })), "{answered:?}");
        server.inject(Fault::status(200).delay(Duration::from_secs(3)).on(Route::Get).times(1));
        let hasty = patient
            .with_settings(CallSettings::new().attempt_timeout(Duration::from_millis(200)))
            .expect("a shorter timeout");
        // Had the kept timer stayed at its later deadline, the slow answer would have come first.
        assert!(timed_out(read_too_slow_an_answer(&hasty).await), "the attempt must end at its own 200 ms");
    });
}

#[test]
fn many_attempts_at_once_on_two_workers_each_end_at_their_timeout_or_their_answer() {
    let server = MockServer::start();
    let runtime = multi_thread(2);
    let client = client(&server, Duration::from_millis(300));
    runtime.block_on(async {
        // Warm: every worker keeps timers from answered attempts.
        answered_reads_on_the_workers(&client, 32).await;
        server.inject(Fault::status(200).delay(Duration::from_secs(3)).on(Route::Get).times(8));
        let reads: Vec<_> = (0..8)
            .map(|_| {
                tokio::spawn({
                    let client = client.clone();
                    async move { read_too_slow_an_answer(&client).await }
                })
            })
            .collect();
        for read in reads {
            assert!(timed_out(read.await.expect("a read")), "each slow read ends at its timeout");
        }
    });
}

/// A worker of a multi-threaded runtime keeps its attempts' timers; inside `block_in_place` the same thread may then
/// drive a current-thread runtime of its own: the attempt made there ends at its own timeout all the same.
#[test]
fn an_attempt_driven_inside_block_in_place_on_another_runtime_times_out() {
    let server = MockServer::start();
    // One worker, so that the thread inside `block_in_place` is the one that kept the warm reads' timers.
    let runtime = multi_thread(1);
    let client = client(&server, Duration::from_millis(300));
    runtime.block_on(async {
        // Answered on the worker, which keeps the attempts' timers.
        answered_reads_on_the_workers(&client, 4).await;
        server.inject(Fault::status(200).delay(Duration::from_secs(3)).on(Route::Get).times(1));
        let slow = tokio::spawn({
            let client = client.clone();
            async move { tokio::task::block_in_place(|| current_thread().block_on(read_too_slow_an_answer(&client))) }
        });
        let outcome = slow.await.expect("the slow read");
        assert!(timed_out(outcome), "the attempt on the inner runtime must end at its 300 ms");
    });
}
