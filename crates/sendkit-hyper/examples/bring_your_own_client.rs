//! Use a hyper-util client you built yourself (here: plain HTTP, a tuned pool): the SDK still bounds every
//! attempt by its timeout, refuses redirects and reads no body past its limit.
//!
//! ```text
//! cargo run -p sendkit-hyper --example bring_your_own_client
//! ```

use std::time::Duration;

use sendkit_hyper::hyper_util::client::legacy::connect::HttpConnector;
use sendkit_hyper::hyper_util::client::legacy::Client as HyperUtilClient;
use sendkit_hyper::hyper_util::rt::TokioExecutor;
use sendkit_hyper::model::{Job, JobStatus, JobType};
use sendkit_hyper::{Client, Config, Error};
use sendkit_mock::MockServer;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let server = MockServer::start();
    server.insert_job(Job::new("job_1", JobType::EmailVerification, JobStatus::Pending));

    let mut connector = HttpConnector::new();
    connector.set_connect_timeout(Some(Duration::from_secs(2)));
    let http = HyperUtilClient::builder(TokioExecutor::new()).pool_max_idle_per_host(16).build(connector);

    let config = Config::builder(server.api_key()).base_url(server.base_url()).build()?;
    let client = Client::with_client(config, http);
    let job = client.cancel_job("job_1").await?;
    println!("{} is {}", job.id, job.status);
    Ok(())
}
