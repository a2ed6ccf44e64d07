//! Cancel a job.
//!
//! ```text
//! SENDKIT_API_KEY=sk_... cargo run -p sendkit-ureq --example cancel_job -- JOB_ID
//! ```
//! prints the cancelled job as JSON and exits 0, or prints the error and exits 1. `SENDKIT_BASE_URL` and
//! `SENDKIT_WORKSPACE_ID` are honoured.
//!
//! With no `SENDKIT_API_KEY`, it runs against the emulator instead: creates a job through enrich, cancels it,
//! prints it, then cancels it again and prints the error that answers.

use std::process::ExitCode;

use sendkit_mock::MockServer;
use sendkit_ureq::model::{EnrichRequest, EnrichmentType};
use sendkit_ureq::{Client, Config, Error};

fn main() -> ExitCode {
    // The only way reading the environment fails is a missing key.
    let Ok(settings) = Config::from_env() else {
        return demo();
    };
    let Some(job_id) = std::env::args().nth(1) else {
        eprintln!("usage: cancel_job JOB_ID");
        return ExitCode::from(2);
    };
    let cancelled = settings.build().map_err(Error::from).and_then(|config| Client::new(config).cancel_job(&job_id));
    match cancelled {
        Ok(job) => {
            println!("{}", serde_json::to_string_pretty(&job).expect("a job always serializes"));
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("{error}");
            ExitCode::FAILURE
        }
    }
}

fn demo() -> ExitCode {
    let server = MockServer::start();
    eprintln!("SENDKIT_API_KEY is not set: running against the emulator at {}", server.base_url());
    let config =
        Config::builder(server.api_key()).base_url(server.base_url()).build().expect("emulator settings are valid");
    let client = Client::new(config);
    let result = (|| -> Result<(), Error> {
        let created = client.enrich(EnrichRequest::new(["507f1f77bcf86cd799439011"], [EnrichmentType::Email]))?;
        let job_id = &created.jobs[0].job_id;
        eprintln!("created job {job_id} ({})", credits(created.total_credits_charged));
        let job = client.cancel_job(job_id)?;
        println!("cancelled job: {}", serde_json::to_string_pretty(&job).expect("a job always serializes"));
        match client.cancel_job(job_id) {
            Ok(job) => println!("second cancel unexpectedly succeeded: {}", job.status),
            Err(error) => println!("second cancel, refused as it should be: {error}"),
        }
        Ok(())
    })();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{error}");
            ExitCode::FAILURE
        }
    }
}

/// `1 credit`, `2 credits`.
fn credits(n: u64) -> String {
    format!("{n} credit{}", if n == 1 { "" } else { "s" })
}
