//! HTTP/2 on the async client: over TLS, when the server offers `h2`, many calls in flight share one connection;
//! the blocking client stays on HTTP/1.1. Against the emulator serving both protocols.

use sendkit_model::{Job, JobStatus, JobType};
use sendkit_proto::Config;

const KEY: &str = "sk_live_http2_0042";

#[test]
fn many_calls_in_flight_share_one_http2_connection() {
    let (server, root) = sendkit_tests::tls_emulator(KEY);
    let ids: Vec<String> = (0..32).map(|n| format!("job_{n}")).collect();
    for id in &ids {
        server.insert_job(Job::new(id.as_str(), JobType::EmailVerification, JobStatus::Pending));
    }
    let config = Config::builder(KEY).base_url(server.base_url()).proxy(sendkit_proto::Proxy::Off).build().unwrap();
    let mut roots = sendkit_hyper::rustls::RootCertStore::empty();
    roots.add(root).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let client = sendkit_hyper::Client::with_roots(config, roots);
    // The protocol is known once the first handshake is done: until then, a burst opens a connection per call
    // (hyper-util's pool cannot tell it will be HTTP/2). One call first, as a service's first call would be.
    runtime.block_on(client.get_job("job_0")).unwrap();
    let results = runtime.block_on(client.cancel_jobs(ids.clone(), 16));
    assert!(results.iter().all(|(_, result)| result.is_ok()), "{results:?}");
    let ledger = server.ledger();
    assert_eq!((ledger.requests, ledger.http2_requests), (33, 33), "every request over HTTP/2");
    assert_eq!(ledger.connections, 1, "16 in flight at once, one connection");
}
