//! Use a `ureq::Agent` you configured yourself (proxy, TLS roots, pool size): the SDK still sends every request
//! with status codes as answers, no redirects, and its own timeouts.
//!
//! ```text
//! cargo run -p sendkit-ureq --example bring_your_own_agent
//! ```

use std::time::Duration;

use sendkit_mock::MockServer;
use sendkit_ureq::model::{Job, JobStatus, JobType};
use sendkit_ureq::{ureq, Client, Config, Error};

fn main() -> Result<(), Error> {
    let server = MockServer::start();
    server.insert_job(Job::new("job_1", JobType::EmailVerification, JobStatus::Processing));
    let agent = ureq::Agent::config_builder()
        .max_idle_connections_per_host(4)
        .timeout_connect(Some(Duration::from_secs(2)))
        .user_agent("my-service/1.0")
        .build()
        .new_agent();
    let config = Config::builder(server.api_key()).base_url(server.base_url()).build()?;
    let client = Client::with_agent(config, agent);
    let job = client.cancel_job("job_1")?;
    println!("{} is {}", job.id, job.status);
    Ok(())
}
