//! What the tool prints: results on standard output (human lines, or the API's objects as JSON), errors and
//! summaries on standard error.

use sendkit_ureq::model::{EnrichResponse, Job};
use sendkit_ureq::{Config, Error};

/// Prints results as a person or a script wants them.
#[derive(Debug, Clone, Copy)]
pub struct Printer {
    json: bool,
}

impl Printer {
    pub fn new(json: bool) -> Self {
        Self { json }
    }

    /// One job, as `get` shows it.
    pub fn job(&self, job: &Job) {
        if self.json {
            return json_line(job);
        }
        let metadata = job.metadata.unwrap_or_default();
        println!("id:        {}", job.id);
        println!("type:      {}", job.job_type);
        println!("status:    {}", job.status);
        if job.metadata.is_some() {
            println!(
                "progress:  {} of {} items ({} succeeded, {} failed)",
                metadata.processed_items, metadata.total_items, metadata.success_count, metadata.failed_count
            );
            println!("credits:   {}", metadata.credits_used);
        }
        for (label, value) in [
            ("created:", job.created_at),
            ("started:", job.started_at),
            ("updated:", job.updated_at),
            ("completed:", job.completed_at),
        ] {
            if let Some(at) = value {
                // As the API writes them: UTC, milliseconds.
                println!("{label:<10} {}", at.strftime("%Y-%m-%dT%H:%M:%S%.3fZ"));
            }
        }
    }

    /// A job a cancel returned.
    pub fn cancelled(&self, job: &Job) {
        if self.json {
            return json_line(job);
        }
        println!("{} {}", job.id, job.status);
    }

    /// A job a wait ended with: its final status and counts.
    pub fn finished(&self, job: &Job) {
        if self.json {
            return json_line(job);
        }
        let metadata = job.metadata.unwrap_or_default();
        println!(
            "{} {} ({} of {} items, {} succeeded, {} failed)",
            job.id,
            job.status,
            metadata.processed_items,
            metadata.total_items,
            metadata.success_count,
            metadata.failed_count
        );
    }

    /// The jobs an enrich created.
    pub fn created(&self, created: &EnrichResponse) {
        if self.json {
            json_line(created);
        }
        for job in created.jobs.iter().filter(|_| !self.json) {
            let items = plural(job.total_items, "item");
            println!("{} {} ({items}, {})", job.job_id, job.status, credits(job.credits_used));
        }
        eprintln!(
            "created {} for {}, {} charged",
            plural(created.jobs.len() as u64, "job"),
            plural(created.total_leads, "lead"),
            credits(created.total_credits_charged)
        );
    }

    /// An error, on standard error: its message names the call and the job. A wait that timed out also says
    /// why its last poll failed, which the error keeps as its cause.
    pub fn error(&self, error: &Error) {
        match error {
            Error::WaitTimedOut { last_error: Some(last), .. } => eprintln!("{error}; the last poll failed: {last}"),
            _ => eprintln!("{error}"),
        }
    }
}

fn json_line<T: serde::Serialize>(value: &T) {
    match serde_json::to_string(value) {
        Ok(text) => println!("{text}"),
        Err(err) => eprintln!("sendkit: cannot write JSON: {err}"),
    }
}

fn plural(n: u64, noun: &str) -> String {
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}

fn credits(n: u64) -> String {
    plural(n, "credit")
}

/// How a batch of cancels went, for the summary line.
#[derive(Debug, Default)]
pub struct Tally {
    cancelled: usize,
    finished_already: usize,
    not_found: usize,
    unknown: usize,
    other: usize,
}

impl Tally {
    pub fn count(&mut self, result: &Result<Job, Error>) {
        match result {
            Ok(_) => self.cancelled += 1,
            Err(error) if error.may_have_taken_effect() => self.unknown += 1,
            Err(Error::NotCancellable { .. }) => self.finished_already += 1,
            Err(Error::NotFound { .. }) => self.not_found += 1,
            Err(_) => self.other += 1,
        }
    }

    pub fn summary(&self, total: usize) -> String {
        let mut parts = vec![format!("cancelled {} of {}", self.cancelled, plural(total as u64, "job"))];
        for (count, what) in [
            (self.finished_already, "already finished"),
            (self.not_found, "not found"),
            (self.unknown, "may have been cancelled (get them to see)"),
            (self.other, "failed"),
        ] {
            if count > 0 {
                parts.push(format!("{count} {what}"));
            }
        }
        parts.join("; ")
    }
}

/// The settings in use, for `--verbose`: never the key itself.
pub fn settings(config: &Config) {
    let kind = match config.api_key().kind() {
        sendkit_ureq::proto::KeyKind::Platform => "a platform key",
        _ => "a workspace key",
    };
    eprintln!("sendkit: base URL {} ({})", config.base_url(), config.origin());
    eprintln!("sendkit: key: {kind}, {} characters (not shown)", config.api_key().expose_secret().len());
    if let Some(workspace) = config.workspace_id() {
        eprintln!("sendkit: workspace {workspace}");
    }
    let deadline = config.deadline().map_or("none".to_owned(), |d| format!("{d:?}"));
    eprintln!("sendkit: attempt timeout {:?}, call deadline {deadline}", config.attempt_timeout());
    match config.proxy() {
        Some(proxy) => eprintln!("sendkit: proxy {}", proxy.uri()),
        None => eprintln!("sendkit: no proxy"),
    }
}
