//! What the tool prints: results on standard output (human lines, or the API's objects as JSON), errors and
//! summaries on standard error.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

use sendkit_ureq::model::{EnrichResponse, Job, JobMetadata};
use sendkit_ureq::proto::{AttemptRecord, Observer};
use sendkit_ureq::{CancelOutcome, Config, Error, TransportErrorKind};

use crate::outcome::Outcome;

static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// Whether standard output was closed by whatever reads it (`| head -n1`): the command then starts no more work,
/// and ends quietly with the exit code of what it did.
pub fn stdout_closed() -> bool {
    STDOUT_CLOSED.load(Ordering::Relaxed)
}

/// One line on standard output; a closed pipe is noted, never a panic.
fn line(args: std::fmt::Arguments<'_>) {
    if stdout_closed() {
        return;
    }
    let mut stdout = std::io::stdout().lock();
    if writeln!(stdout, "{args}").and_then(|()| stdout.flush()).is_err() {
        STDOUT_CLOSED.store(true, Ordering::Relaxed);
    }
}

macro_rules! out {
    ($($arg:tt)*) => { line(format_args!($($arg)*)) };
}

/// Where the settings a hint names came from.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// `SENDKIT_API_KEY`, or `--api-key-file PATH`.
    pub key: String,
    /// `--base-url`, `SENDKIT_BASE_URL`, or the default.
    pub base_url: String,
}

/// Prints results as a person or a script wants them.
#[derive(Debug, Clone)]
pub struct Printer {
    json: bool,
    sources: Sources,
    /// The hints already given: each is said once per command, however many jobs meet it.
    hinted: std::cell::RefCell<Vec<String>>,
}

impl Printer {
    pub fn new(json: bool) -> Self {
        Self { json, sources: Sources::default(), hinted: std::cell::RefCell::default() }
    }

    /// Whether the command prints JSON lines (`--json`).
    pub fn json(&self) -> bool {
        self.json
    }

    /// The same printer, naming where the key and the base URL came from in its hints.
    pub fn with_sources(mut self, sources: Sources) -> Self {
        self.sources = sources;
        self
    }

    /// One job, as `get` shows it.
    pub fn job(&self, job: &Job) {
        if self.json {
            return json_line(job);
        }
        let no_metadata = JobMetadata::default();
        let metadata = job.metadata.as_ref().unwrap_or(&no_metadata);
        out!("id:        {}", job.id);
        out!("type:      {}", job.job_type);
        out!("status:    {}", job.status);
        if job.metadata.is_some() {
            out!(
                "progress:  {} of {} items ({} succeeded, {} failed)",
                metadata.processed_items,
                metadata.total_items,
                metadata.success_count,
                metadata.failed_count
            );
            out!("credits:   {}", metadata.credits_used);
        }
        for (label, value) in [
            ("created:", job.created_at),
            ("started:", job.started_at),
            ("updated:", job.updated_at),
            ("completed:", job.completed_at),
        ] {
            if let Some(at) = value {
                // As the API writes them: UTC, milliseconds.
                out!("{label:<10} {}", at.strftime("%Y-%m-%dT%H:%M:%S%.3fZ"));
            }
        }
    }

    /// A job a cancel returned.
    pub fn cancelled(&self, job: &Job) {
        if self.json {
            return json_line(job);
        }
        out!("{} {}", job.id, job.status);
    }

    /// A job that was cancelled before this cancel: the state asked for.
    pub fn already_cancelled(&self, job_id: &str, error: &Error) {
        if self.json {
            return self.error_line(job_id, "already_cancelled", error);
        }
        out!("{job_id} cancelled (already)");
    }

    /// A job a wait ended with: its final status and counts.
    pub fn finished(&self, job: &Job) {
        if self.json {
            return json_line(job);
        }
        let no_metadata = JobMetadata::default();
        let metadata = job.metadata.as_ref().unwrap_or(&no_metadata);
        out!(
            "{} {} ({} of {} items, {} succeeded, {} failed)",
            job.id,
            job.status,
            metadata.processed_items,
            metadata.total_items,
            metadata.success_count,
            metadata.failed_count
        );
    }

    /// Job IDs alone, one per line: for a pipe into another command.
    pub fn job_ids<'a>(&self, ids: impl IntoIterator<Item = &'a str>) {
        for id in ids {
            out!("{id}");
        }
    }

    /// The jobs an enrich created.
    pub fn created(&self, created: &EnrichResponse) {
        if self.json {
            json_line(created);
        }
        for job in created.jobs.iter().filter(|_| !self.json) {
            let items = plural(job.total_items, "item");
            out!("{} {} ({items}, {})", job.job_id, job.status, credits(job.credits_used));
        }
        eprintln!(
            "created {} for {}, {} charged",
            plural(created.jobs.len() as u64, "job"),
            plural(created.total_leads, "lead"),
            credits(created.total_credits_charged)
        );
    }

    /// An error, on standard error: its message names the call and the job. A wait that timed out also says
    /// why its last poll failed, which the error keeps as its cause. With `--json`, also one line on standard
    /// output, so that a script sees every job's outcome.
    pub fn error(&self, error: &Error) {
        match error {
            Error::WaitTimedOut { last_error: Some(last), .. } => eprintln!("{error}; the last poll failed: {last}"),
            _ => eprintln!("{error}"),
        }
        if let Some(hint) = self.hint(error) {
            let mut hinted = self.hinted.borrow_mut();
            if !hinted.contains(&hint) {
                eprintln!("hint: {hint}");
                hinted.push(hint);
            }
        }
        if self.json {
            let job_id = match error {
                Error::WaitTimedOut { job_id, .. } => Some(job_id.as_str()),
                other => other.call().and_then(|call| call.job_id()),
            };
            self.error_line(job_id.unwrap_or_default(), Outcome::of(error).name(), error);
        }
    }

    fn error_line(&self, job_id: &str, outcome: &str, error: &Error) {
        let message = match error {
            Error::Api { answer, .. }
            | Error::NotCancellable { answer, .. }
            | Error::NotFound { answer, .. }
            | Error::Unauthorized { answer, .. } => Some(answer.message.clone()),
            Error::RateLimited { message, .. } => message.clone(),
            _ => None,
        };
        let line = serde_json::json!({
            "jobId": (!job_id.is_empty()).then_some(job_id),
            "outcome": outcome,
            "httpStatus": error.status().map(|status| status.as_u16()),
            "code": error.code().map(ToString::to_string),
            "message": message,
            "requestId": error.request_id(),
            "mayHaveTakenEffect": error.may_have_taken_effect(),
            "error": error.to_string(),
        });
        json_line(&line);
    }

    /// What a person can do about an error the settings may have caused: the setting, and where it came from.
    fn hint(&self, error: &Error) -> Option<String> {
        let Sources { key, base_url } = &self.sources;
        match error {
            Error::Unauthorized { .. } if !key.is_empty() => {
                Some(format!("the API key came from {key}: check that it is the key of this account"))
            }
            Error::Transport { source, .. } if source.kind() == TransportErrorKind::Resolve && !base_url.is_empty() => {
                Some(format!("the base URL came from {base_url}: check its host name"))
            }
            Error::Transport { source, .. } if source.kind() == TransportErrorKind::Connect && !base_url.is_empty() => {
                Some(format!("the base URL came from {base_url}: check its host and port, and that the server is up"))
            }
            _ => None,
        }
    }
}

/// Jobs whose cancel was under way when the command stopped: they may have been cancelled. On stderr in words; with
/// `--json`, a line each on stdout too, in the shape of a failure's line.
pub fn in_flight(job_ids: &[String], json: bool) {
    if job_ids.is_empty() {
        return;
    }
    eprintln!(
        "interrupted: {} may have been cancelled (no answer yet; get them to see): {}",
        job_ids.len(),
        job_ids.join(" ")
    );
    stopped_lines(job_ids, json, "in_flight", true, "interrupted with the cancel under way: it may have taken effect");
}

/// Jobs the command never started on before it stopped (`why`: interrupted, the key refused): nothing was sent for
/// them.
pub fn not_attempted(job_ids: &[String], json: bool, why: &str) {
    if job_ids.is_empty() {
        return;
    }
    eprintln!("{why}: {} not attempted: {}", job_ids.len(), job_ids.join(" "));
    stopped_lines(job_ids, json, "not_attempted", false, &format!("{why} before the cancel was sent"));
}

fn stopped_lines(job_ids: &[String], json: bool, outcome: &str, may_have_taken_effect: bool, message: &str) {
    if !json {
        return;
    }
    for job_id in job_ids {
        json_line(&serde_json::json!({
            "jobId": job_id,
            "outcome": outcome,
            "httpStatus": null,
            "code": null,
            "message": message,
            "requestId": null,
            "mayHaveTakenEffect": may_have_taken_effect,
            "error": format!("cancel_job {job_id}: {message}"),
        }));
    }
}

fn json_line<T: serde::Serialize>(value: &T) {
    match serde_json::to_string(value) {
        Ok(text) => out!("{text}"),
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
    already_cancelled: usize,
    finished_already: usize,
    not_found: usize,
    unknown: usize,
    other: usize,
}

impl Tally {
    pub fn count(&mut self, result: &Result<CancelOutcome, Error>) {
        match result {
            Ok(CancelOutcome::AlreadyCancelled(_)) => self.already_cancelled += 1,
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
            (self.already_cancelled, "already cancelled"),
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

/// `--verbose`: a line on standard error for each request, as it ends: method, URL, status or failure, attempt,
/// time, request ID, and the wait before the next attempt. Never the key.
pub struct RequestLog;

impl Observer for RequestLog {
    fn attempt(&self, record: &AttemptRecord<'_>) {
        let ended = match (record.status, record.error) {
            (Some(status), _) => status.to_string(),
            (None, Some(Error::Transport { source, .. })) => source.to_string(),
            (None, Some(error)) => error.to_string(),
            (None, None) => "no answer".to_owned(),
        };
        let request_id = record.request_id.map(|id| format!(", request {id}")).unwrap_or_default();
        let next = record.retry_in.map(|wait| format!("; next attempt in {wait:.1?}")).unwrap_or_default();
        // What the limiter said is left, when it said: `7 of 50 left, resets in 1s`.
        let budget = record.rate_limit.and_then(|budget| {
            let remaining = budget.remaining?;
            let limit = budget.limit.map(|limit| format!(" of {limit}")).unwrap_or_default();
            let reset = budget.reset.map(|reset| format!(", resets in {reset:?}")).unwrap_or_default();
            Some(format!("; rate limit: {remaining}{limit} left{reset}"))
        });
        eprintln!(
            "sendkit: {} {} -> {ended} (attempt {}, {:.1?}{request_id}){next}{}",
            record.method,
            record.url,
            record.attempt,
            record.took,
            budget.unwrap_or_default()
        );
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
