//! Proxy variables as users have them set: a test binary of its own, with one test, because the environment is
//! shared by every thread of a process.

use sendkit_mock::MockServer;
use sendkit_model::{Job, JobStatus, JobType};
use sendkit_proto::Config;
use sendkit_tests::ConnectProxy;

const KEY: &str = "sk_live_proxy_env_4242";

#[test]
fn proxy_variables_apply_to_https_only_and_no_proxy_is_honoured() {
    let proxy = ConnectProxy::start();
    for name in ["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"] {
        std::env::set_var(name, proxy.url());
    }
    std::env::remove_var("NO_PROXY");
    std::env::remove_var("no_proxy");

    // A plain-http loopback base URL is reached directly by both clients, although every variable names the
    // proxy (ureq on its own would have read them).
    let server = MockServer::builder().api_key(KEY).start().unwrap();
    server.insert_job(Job::new("job_1", JobType::EmailVerification, JobStatus::Pending));
    let config = Config::builder(KEY).base_url(server.base_url()).build().unwrap();
    assert!(config.proxy().is_none());
    assert_eq!(sendkit_ureq::Client::new(config.clone()).get_job("job_1").unwrap().id, "job_1");
    let agent = sendkit_ureq::ureq::Agent::new_with_defaults();
    assert_eq!(sendkit_ureq::Client::with_agent(config.clone(), agent).get_job("job_1").unwrap().id, "job_1");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    assert_eq!(runtime.block_on(sendkit_hyper::Client::new(config).get_job("job_1")).unwrap().id, "job_1");
    assert!(proxy.seen().heads.is_empty(), "{:?}", proxy.seen().heads);

    // An https base URL takes the proxy from the environment...
    let https = Config::builder(KEY).base_url("https://api.sendkit.ai").build().unwrap();
    assert_eq!(https.proxy().map(|p| p.uri()), Some(proxy.url()));
    // ...unless NO_PROXY names its host.
    std::env::set_var("NO_PROXY", "localhost,.sendkit.ai");
    let direct = Config::builder(KEY).base_url("https://api.sendkit.ai").build().unwrap();
    assert!(direct.proxy().is_none());
    // And a config can turn proxies off whatever the environment says.
    std::env::remove_var("NO_PROXY");
    let off = Config::builder(KEY).proxy(sendkit_proto::Proxy::Off).build().unwrap();
    assert!(off.proxy().is_none());
}
