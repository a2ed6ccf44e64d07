//! Enrich leads, wait for the job with progress, and report: against the emulator when `SENDKIT_API_KEY` is
//! unset, against the API otherwise.
//!
//! ```text
//! cargo run -p sendkit-ureq --example enrich_wait_report
//! ```

use std::time::Duration;

use sendkit_mock::{MockServer, Progress};
use sendkit_ureq::model::{EnrichRequest, EnrichmentType};
use sendkit_ureq::{Client, Config, Error, WaitPolicy};

fn main() -> Result<(), Error> {
    // Keep the emulator alive for the whole run when there is no key.
    let (client, _emulator) = match Config::from_env() {
        Ok(settings) => (Client::new(settings.build()?), None),
        Err(_) => {
            let server = MockServer::builder()
                .system_clock()
                .progress(Progress::new(Duration::from_millis(300), 40))
                .start()
                .expect("the emulator starts on loopback");
            eprintln!("SENDKIT_API_KEY is not set: using the emulator at {}", server.base_url());
            let config = Config::builder(server.api_key()).base_url(server.base_url()).build()?;
            (Client::new(config), Some(server))
        }
    };
    let leads: Vec<String> = (0..60).map(|n| format!("507f1f77bcf86cd7994390{n:02x}")).collect();
    let created = client.enrich(EnrichRequest::new(leads, [EnrichmentType::Email, EnrichmentType::EspDetection]))?;
    println!(
        "created {} jobs for {} leads, {}",
        created.jobs.len(),
        created.total_leads,
        credits(created.total_credits_charged)
    );
    let policy = WaitPolicy::default()
        .timeout(Duration::from_secs(60))
        .poll_interval(Duration::from_millis(200), Duration::from_secs(2));
    for created_job in &created.jobs {
        let job = client.wait_for_job(&created_job.job_id, policy.clone(), |job| {
            if let Some(progress) = &job.metadata {
                println!("  {} {:>10} {:>3}/{}", job.id, job.status, progress.processed_items, progress.total_items);
            }
        })?;
        let metadata = job.metadata.clone().unwrap_or_default();
        println!(
            "{}: {} — {} succeeded, {} failed, {}",
            job.id,
            job.status,
            metadata.success_count,
            metadata.failed_count,
            credits(metadata.credits_used)
        );
    }
    Ok(())
}

/// `1 credit`, `60 credits`.
fn credits(n: u64) -> String {
    format!("{n} credit{}", if n == 1 { "" } else { "s" })
}
