//! Cancel many jobs at once, at most 8 in flight, and report each: one failure does not stop the rest.
//!
//! ```text
//! cargo run -p sendkit-hyper --example cancel_many
//! ```
//! Runs against the emulator: a few jobs in each status, and one that does not exist.

use sendkit_hyper::model::{Job, JobStatus, JobType};
use sendkit_hyper::{CancelOutcome, Client, Config, Error};
use sendkit_mock::MockServer;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let server = MockServer::start();
    let statuses = [JobStatus::Pending, JobStatus::Processing, JobStatus::Completed, JobStatus::Failed];
    let mut ids: Vec<String> = (0..12).map(|n| format!("job_{n}")).collect();
    for (n, id) in ids.iter().enumerate() {
        server.insert_job(Job::new(id.clone(), JobType::EmailVerification, statuses[n % statuses.len()].clone()));
    }
    ids.push("job_missing".into());

    let client = Client::new(Config::builder(server.api_key()).base_url(server.base_url()).build()?);
    let results = client.cancel_jobs(ids, 8).await;
    let cancelled = results.iter().filter(|(_, result)| result.is_ok()).count();
    for (id, result) in &results {
        match result {
            Ok(CancelOutcome::Cancelled(job)) => println!("{id:12} {}", job.status),
            Ok(_already) => println!("{id:12} cancelled already"),
            // The error names the job itself.
            Err(error) => println!("{error}"),
        }
    }
    println!("{cancelled} of {} cancelled", results.len());
    Ok(())
}
