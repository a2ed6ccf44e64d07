//! What the tool prints: results on standard output (human lines, or the API's objects as JSON), errors and
//! summaries on standard error.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

use sendkit_ureq::model::{EnrichResponse, Job, JobMetadata, JobStatus};
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
            return Record::success(&job.id, "found", true, Some(job)).print();
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
    pub fn cancelled(&self, job_id: &str, job: &Job) {
        if self.json {
            return Record::success(job_id, "cancelled", true, Some(job)).print();
        }
        out!("{} {}", job.id, job.status);
    }

    /// A job that was cancelled before this cancel: the state asked for. The line keeps what the server answered.
    pub fn already_cancelled(&self, job_id: &str, refusal: &Error) {
        if self.json {
            let mut record = Record::<Job>::failure(job_id, "already_cancelled", refusal, None);
            (record.ok, record.error) = (true, None);
            return record.print();
        }
        out!("{job_id} cancelled (already)");
    }

    /// A job a wait ended with: its final status and counts.
    pub fn finished(&self, job: &Job) {
        if self.json {
            return Record::success(&job.id, "finished", job.status == JobStatus::Completed, Some(job)).print();
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

    /// The jobs an enrich created; `waiting`: their ends follow, and with `--json` each job's line is its end
    /// alone, so that a script reads one line per job in one shape.
    pub fn created(&self, created: &EnrichResponse, waiting: bool) {
        for job in &created.jobs {
            if self.json && !waiting {
                Record::success(&job.job_id, "created", true, Some(job)).print();
            } else if !self.json {
                let items = plural(job.total_items, "item");
                out!("{} {} ({items}, {})", job.job_id, job.status, credits(job.credits_used));
            }
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
    /// output, so that a script sees every job's outcome; `job_id` is the ID as given.
    pub fn error(&self, job_id: &str, error: &Error) {
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
            let last_job = match error {
                Error::WaitTimedOut { last_job, .. } => last_job.as_deref(),
                _ => None,
            };
            Record::failure(job_id, Outcome::of(error).name(), error, last_job).print();
        }
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
/// `--json`, a line each on stdout too.
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
    stopped_lines(job_ids, json, "not_attempted", false, &format!("{why} before the request was sent"));
}

fn stopped_lines(job_ids: &[String], json: bool, outcome: &str, may_have_taken_effect: bool, message: &str) {
    if !json {
        return;
    }
    for job_id in job_ids {
        let mut record = Record::<Job>::unanswered(job_id, outcome, None, message.to_owned(), job_id);
        record.may_have_taken_effect = may_have_taken_effect;
        record.print();
    }
}

/// A job a wait stopped watching on Ctrl-C, and where it was last seen (nothing waits on the server: a wait only
/// reads).
pub fn wait_interrupted(job_id: &str, last: Option<&Job>, json: bool) {
    let seen = last.map_or("not seen yet".to_owned(), |job| format!("last seen {}", job.status));
    eprintln!("interrupted: {job_id} {seen}");
    if json {
        let message = format!("interrupted before the job finished: {seen}");
        Record::unanswered(job_id, "interrupted", last, message, job_id).print();
    }
}

/// A job ID refused before any request, with where it was given and why: nothing was sent for it.
pub fn refused_id(given: &str, place: &str, reason: &str, json: bool) {
    let message = format!("{given:?} is not a job ID ({reason}); nothing was sent for it");
    eprintln!("sendkit: {place}: {message}");
    if json {
        Record::<Job>::unanswered(given, "invalid_input", None, message, place).print();
    }
}

/// One line of `--json`: the same keys for every outcome of every command that takes job IDs (cancelled, already
/// cancelled, found, finished, not found, may have taken effect, in flight, not attempted, refused...), naming the
/// ID as given and holding the API's job object when there is one; so a script reads every line with one parser.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Record<'a, J> {
    /// The job ID as given (the input it answers), even when it is no job ID at all.
    job_id: &'a str,
    /// What happened, one word: `cancelled`, `already_cancelled`, `found`, `finished`, `created`, or a failure's
    /// name (`not_found`, `not_cancellable`, `may_have_taken_effect`, `in_flight`, `not_attempted`, ...).
    outcome: &'a str,
    /// Whether the job counts as done (exit code 0 for it).
    ok: bool,
    /// Whether a cancel or enrich may have been carried out although it was not confirmed.
    may_have_taken_effect: bool,
    /// The API's object for the job (exactly as it sent it, unknown fields included), when there is one.
    job: Option<&'a J>,
    /// What the server answered, when a failure (or an already-cancelled job) came from an answer.
    http_status: Option<u16>,
    code: Option<String>,
    message: Option<String>,
    request_id: Option<&'a str>,
    /// The whole message, as stderr says it, when the job did not end as asked.
    error: Option<String>,
}

impl<'a, J: serde::Serialize> Record<'a, J> {
    fn success(job_id: &'a str, outcome: &'a str, ok: bool, job: Option<&'a J>) -> Self {
        Self {
            job_id,
            outcome,
            ok,
            may_have_taken_effect: false,
            job,
            http_status: None,
            code: None,
            message: None,
            request_id: None,
            error: None,
        }
    }

    /// A job that did not end as asked, with no answer from the server to say why: `message` says it, and the
    /// error is `message` after `context` (the job ID, or where the ID was given).
    fn unanswered(job_id: &'a str, outcome: &'a str, job: Option<&'a J>, message: String, context: &str) -> Self {
        let error = Some(format!("{context}: {message}"));
        Self { message: Some(message), error, ..Self::success(job_id, outcome, false, job) }
    }

    fn failure(job_id: &'a str, outcome: &'a str, error: &'a Error, job: Option<&'a J>) -> Self {
        let message = match error {
            Error::Api { answer, .. }
            | Error::NotCancellable { answer, .. }
            | Error::NotFound { answer, .. }
            | Error::Unauthorized { answer, .. } => Some(answer.message.clone()),
            // The server's message only: a call the pacer ended unsent has no answer, and its reason is in `error`.
            Error::RateLimited { message, .. } if error.status().is_some() => message.clone(),
            _ => None,
        };
        Self {
            job_id,
            outcome,
            ok: false,
            may_have_taken_effect: error.may_have_taken_effect(),
            job,
            http_status: error.status().map(|status| status.as_u16()),
            code: error.code().map(ToString::to_string),
            message,
            request_id: error.request_id(),
            error: Some(error.to_string()),
        }
    }

    fn print(&self) {
        json_line(self);
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
    if let Some(rate) = config.max_rate() {
        eprintln!("sendkit: at most {rate} requests a second");
    }
    match config.proxy() {
        Some(proxy) => eprintln!("sendkit: proxy {}", proxy.uri()),
        None => eprintln!("sendkit: no proxy"),
    }
}
