//! rustls' crypto provider as a choice: with ring and aws-lc-rs both compiled in (this test binary enables both),
//! both clients work in one process, with no process default and then with one the application installed.
//! (rustls panics only when `ClientConfig::builder()` must guess between two providers; the clients never ask it
//! to guess.) A test binary of its own: the process default, once installed, stays.

use sendkit_model::{Job, JobStatus, JobType};
use sendkit_proto::Config;

const KEY: &str = "sk_live_providers_0042";

fn one_call_through_each_client() {
    let (server, root) = sendkit_tests::tls_emulator(KEY);
    server.insert_job(Job::new("job_1", JobType::EmailVerification, JobStatus::Pending));
    let config = Config::builder(KEY).base_url(server.base_url()).proxy(sendkit_proto::Proxy::Off).build().unwrap();
    let mut roots = sendkit_hyper::rustls::RootCertStore::empty();
    roots.add(root.clone()).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let hyper = runtime.block_on(sendkit_hyper::Client::with_roots(config.clone(), roots).get_job("job_1"));
    assert_eq!(hyper.unwrap().id, "job_1");
    // The built-in ureq agent trusts the bundled roots only: the handshake is refused, by rustls, not a panic.
    let refused = sendkit_ureq::Client::new(config).get_job("job_1").unwrap_err();
    assert!(refused.to_string().contains("TLS handshake failed: invalid peer certificate: UnknownIssuer"), "{refused}");
}

#[test]
fn both_providers_compiled_in_with_and_without_a_process_default() {
    assert!(rustls::crypto::CryptoProvider::get_default().is_none());
    one_call_through_each_client();
    rustls::crypto::aws_lc_rs::default_provider().install_default().unwrap();
    one_call_through_each_client();
}
