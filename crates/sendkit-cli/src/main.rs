//! `sendkit`: a command line for the SendKit enrichment jobs API, built on `sendkit-ureq`.
//!
//! ```text
//! sendkit mock                                  # an emulator on 127.0.0.1:8080, in one terminal
//! export SENDKIT_BASE_URL=http://127.0.0.1:8080 SENDKIT_API_KEY=sk_test_sendkit_mock
//! sendkit enrich --lead 507f1f77bcf86cd799439011 --type email --wait
//! sendkit cancel JOB_ID
//! ```
//!
//! `sendkit --help` lists the commands, the exit codes and the configuration; each command's `--help` has an
//! example.

// The argument docs are clap's help text, read in a terminal, where a URL is plain text.
#![allow(rustdoc::bare_urls)]

mod args;
mod outcome;
mod profile;
mod show;
mod wait;

use std::io::BufRead;
use std::ops::ControlFlow;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clap::{CommandFactory, Parser};
use sendkit_ureq::model::EnrichRequest;
use sendkit_ureq::proto::{ApiKey, InvalidInput};
use sendkit_ureq::{BatchProgress, CancelOutcome, Client, Config};

use args::{ApiCommand, Cli, Command, Global};
use outcome::Outcome;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The client options, given before the command or after it; the commands that make no call take none.
    let global = match &cli.command {
        Command::Api(command) => cli.global.with(command.client()),
        Command::Config { client } => cli.global.with(client),
        _ => cli.global.clone(),
    };
    // Only the commands that use settings read the profiles file: a broken one does not stop `mock`.
    let chosen = match &cli.command {
        Command::Api(_) | Command::Config { .. } => match profile::choose(global.profile.as_deref()) {
            Ok(chosen) => chosen,
            Err(message) => return usage(&message).into(),
        },
        _ => profile::Chosen::default(),
    };
    let env = Environment::read();
    let settings = match Settings::of(&global, &chosen, &env) {
        Ok(settings) => settings,
        Err(message) => return usage(&message).into(),
    };
    let printer = show::Printer::new(global.json).with_sources(settings.sources(&chosen));
    let outcome = match cli.command {
        Command::Config { .. } => show_config(&settings, &chosen, global.json),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "sendkit", &mut std::io::stdout());
            Outcome::Success
        }
        #[cfg(feature = "mock")]
        Command::Mock { addr, api_key, workspace_id, manual_clock, fault_seed } => {
            mock(addr, api_key, workspace_id, manual_clock, fault_seed)
        }
        // Two output formats at once cannot both be honoured: said before any request, not dropped in silence.
        Command::Api(ApiCommand::Enrich { output: Some(_), .. }) if global.json => {
            usage("--output ids prints plain IDs, one per line: leave out --json (or --output, for the API's objects)")
        }
        Command::Api(command) => match client(&global, &chosen, &settings, &env) {
            Ok(client) => run(command, &client, &printer, &settings),
            Err(message) => usage(&message),
        },
    };
    outcome.into()
}

fn run(command: ApiCommand, client: &Client, printer: &show::Printer, settings: &Settings) -> Outcome {
    match command {
        ApiCommand::Cancel { ids, concurrency, .. } => with_ids(ids, printer, |ids| {
            let concurrency = concurrency.unwrap_or(settings.concurrency.0);
            cancel(client, printer, ids, usize::from(concurrency))
        }),
        ApiCommand::Get { ids, .. } => with_ids(ids, printer, |ids| get(client, printer, &ids)),
        ApiCommand::Enrich { leads, types, wait, output, wait_options, .. } => {
            let request = EnrichRequest::new(leads, types.into_iter().map(Into::into));
            match client.enrich(request) {
                Ok(created) => {
                    match output {
                        Some(args::Output::Ids) => printer.job_ids(created.jobs.iter().map(|job| job.job_id.as_str())),
                        None => printer.created(&created, wait),
                    }
                    if wait {
                        let ids = created.jobs.iter().map(|job| job.job_id.clone()).collect();
                        wait::wait(client, printer, ids, wait_options)
                    } else {
                        Outcome::Success
                    }
                }
                Err(error) => {
                    printer.error("", &error);
                    Outcome::of(&error)
                }
            }
        }
        ApiCommand::Wait { ids, wait_options, .. } => {
            with_ids(ids, printer, |ids| wait::wait(client, printer, ids, wait_options))
        }
    }
}

/// Runs `command` on the job IDs given, after saying which lines were refused (exit 2 for them, the rest done).
fn with_ids(given: args::JobIds, printer: &show::Printer, command: impl FnOnce(Vec<String>) -> Outcome) -> Outcome {
    let ids = match read_ids(given) {
        Ok(ids) => ids,
        Err(message) => return usage(&message),
    };
    for refused in &ids.refused {
        show::refused_id(&refused.given, &refused.place, refused.reason, printer.json());
    }
    let refused = if ids.refused.is_empty() { Outcome::Success } else { Outcome::Usage };
    if ids.valid.is_empty() {
        if ids.refused.is_empty() {
            eprintln!("sendkit: no job IDs in the input: nothing to do");
        }
        return refused;
    }
    command(ids.valid).max(refused)
}

fn usage(message: &str) -> Outcome {
    eprintln!("sendkit: {message}");
    Outcome::Usage
}

/// Where the key and the base URL come from, for the hints that name them.
/// Where a setting in force came from, by the precedence flags > environment > profile > default.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Source {
    Flag(String),
    Env(&'static str),
    Profile,
    Default,
}

impl Source {
    fn describe(&self, chosen: &profile::Chosen) -> String {
        match self {
            Self::Flag(flag) => flag.clone(),
            Self::Env(name) => (*name).to_owned(),
            Self::Profile => chosen.source.clone().unwrap_or_default(),
            Self::Default => "the default".to_owned(),
        }
    }

    /// Whether the config must be told: values from the environment it reads itself (and names as such).
    fn set_in_code(&self) -> bool {
        matches!(self, Self::Flag(_) | Self::Profile)
    }
}

/// Each setting in force and where it comes from: the one place that applies the precedence, for the client,
/// `sendkit config` and the hints alike.
struct Settings {
    /// Whether a key is set (never the key itself).
    key: Option<Source>,
    base_url: (String, Source),
    workspace: (Option<String>, Source),
    attempt_timeout: (Duration, Source),
    deadline: (Option<Duration>, Source),
    max_rate: (Option<f64>, Source),
    /// Cancel's concurrency when no flag gives it.
    concurrency: (u16, Source),
}

/// The process environment, read once: every setting, its source and the SDK's config come from this one reading.
struct Environment(std::collections::HashMap<String, String>);

impl Environment {
    fn read() -> Self {
        // A variable that is not UTF-8 is no setting of ours: left out rather than a panic.
        let vars =
            std::env::vars_os().filter_map(|(name, value)| Some((name.into_string().ok()?, value.into_string().ok()?)));
        Self(vars.collect())
    }

    /// A variable's value; an empty or blank one counts as unset.
    fn get(&self, name: &str) -> Option<String> {
        self.0.get(name).filter(|value| !value.trim().is_empty()).cloned()
    }
}

impl Settings {
    fn of(global: &Global, chosen: &profile::Chosen, environment: &Environment) -> Result<Self, String> {
        let profile = &chosen.profile;
        let in_profile = |message: String| match &chosen.source {
            Some(source) => format!("{source}: {message}"),
            None => message,
        };
        let env = |name: &'static str| environment.get(name).map(|value| (value, Source::Env(name)));
        let key = match (&global.api_key_file, env(Config::ENV_API_KEY)) {
            (Some(path), _) => Some(Source::Flag(format!("--api-key-file {}", path.display()))),
            (None, Some((_, source))) => Some(source),
            (None, None) if profile.api_key.is_some() || profile.api_key_file.is_some() => Some(Source::Profile),
            (None, None) => None,
        };
        let flag = |value: &Option<String>, name: &str| value.clone().map(|value| (value, Source::Flag(name.into())));
        let from_profile = |value: &Option<String>| value.clone().map(|value| (value, Source::Profile));
        let base_url = flag(&global.base_url, "--base-url")
            .or_else(|| env(Config::ENV_BASE_URL))
            .or_else(|| from_profile(&profile.base_url))
            .unwrap_or_else(|| (Config::DEFAULT_BASE_URL.to_owned(), Source::Default));
        let workspace = match flag(&global.workspace, "--workspace")
            .or_else(|| env(Config::ENV_WORKSPACE_ID))
            .or_else(|| from_profile(&profile.workspace))
        {
            Some((id, source)) => (Some(id), source),
            None => (None, Source::Default),
        };
        let profile_attempt =
            profile.duration("attempt_timeout", profile.attempt_timeout.as_ref()).map_err(in_profile)?;
        let attempt_timeout = match (global.attempt_timeout, profile_attempt) {
            (Some(timeout), _) => (timeout, Source::Flag("--attempt-timeout".into())),
            (None, Some(timeout)) => (timeout, Source::Profile),
            (None, None) => (Config::DEFAULT_ATTEMPT_TIMEOUT, Source::Default),
        };
        let profile_deadline = profile.duration("deadline", profile.deadline.as_ref()).map_err(in_profile)?;
        // Zero, from a flag or a profile, is no deadline.
        let (deadline, source) = match (global.deadline, profile_deadline) {
            (Some(deadline), _) => (deadline, Source::Flag("--deadline".into())),
            (None, Some(deadline)) => (deadline, Source::Profile),
            (None, None) => (Config::DEFAULT_DEADLINE, Source::Default),
        };
        let deadline = ((!deadline.is_zero()).then_some(deadline), source);
        let concurrency = profile.concurrency.map_or((8, Source::Default), |n| (n, Source::Profile));
        // Zero, from a flag or a profile, is no limit, as for the deadline: the flag's lifts a profile's.
        let (max_rate, source) = match (global.max_rate, profile.max_rate().map_err(in_profile)?) {
            (Some(rate), _) => (Some(rate), Source::Flag("--max-rate".into())),
            (None, Some(rate)) => (Some(rate), Source::Profile),
            (None, None) => (None, Source::Default),
        };
        let max_rate = (max_rate.filter(|rate| *rate > 0.0), source);
        Ok(Self { key, base_url, workspace, attempt_timeout, deadline, max_rate, concurrency })
    }

    /// Where the key and the base URL came from, for the hints that name them.
    fn sources(&self, chosen: &profile::Chosen) -> show::Sources {
        let key = match &self.key {
            Some(source) => source.describe(chosen),
            None => format!("nowhere: set {} or --api-key-file", Config::ENV_API_KEY),
        };
        show::Sources { key, base_url: self.base_url.1.describe(chosen) }
    }
}

/// `sendkit config`: each setting in force and where it comes from; the key only as set or not.
fn show_config(settings: &Settings, chosen: &profile::Chosen, json: bool) -> Outcome {
    let from = |source: &Source| source.describe(chosen);
    let (base_url, workspace) = (&settings.base_url, &settings.workspace);
    // With no profile in force, say where the file would have been, so that a missing file is seen as one.
    let profile = match (&chosen.source, profile::path()) {
        (Some(source), _) => source.clone(),
        (None, Some(path)) if !path.exists() => format!("none (no profiles file at {})", path.display()),
        (None, Some(path)) => format!("none (no profile chosen in {})", path.display()),
        (None, None) => "none (no config directory to look in)".to_owned(),
    };
    let deadline = settings.deadline.0.map_or("none".to_owned(), |d| format!("{d:?}"));
    let key = match &settings.key {
        Some(source) => ("set, not shown".to_owned(), from(source)),
        None => ("not set".to_owned(), format!("nowhere: set {} or --api-key-file", Config::ENV_API_KEY)),
    };
    let rows = [
        ("profile", "profile", profile, None),
        ("baseUrl", "base URL", base_url.0.clone(), Some(from(&base_url.1))),
        ("workspace", "workspace", workspace.0.clone().unwrap_or_else(|| "none".to_owned()), Some(from(&workspace.1))),
        ("apiKey", "API key", key.0, Some(key.1)),
        (
            "attemptTimeout",
            "attempt timeout",
            format!("{:?}", settings.attempt_timeout.0),
            Some(from(&settings.attempt_timeout.1)),
        ),
        ("deadline", "deadline", deadline, Some(from(&settings.deadline.1))),
        ("concurrency", "concurrency", settings.concurrency.0.to_string(), Some(from(&settings.concurrency.1))),
        (
            "maxRate",
            "max rate",
            settings.max_rate.0.map_or("none".to_owned(), |rate| format!("{rate}/s")),
            Some(from(&settings.max_rate.1)),
        ),
    ];
    if json {
        let mut object = serde_json::Map::new();
        for (name, _, value, source) in rows {
            object.insert(name.to_owned(), serde_json::json!({ "value": value, "from": source }));
        }
        println!("{}", serde_json::Value::Object(object));
    } else {
        for (_, label, value, source) in rows {
            let label = format!("{label}:");
            match source {
                Some(source) => println!("{label:<17}{value} (from {source})"),
                None => println!("{label:<17}{value}"),
            }
        }
    }
    if settings.key.is_some() {
        Outcome::Success
    } else {
        Outcome::Usage
    }
}

/// The client, from `settings` (flags, the environment and the profile, in that order); a setting that cannot be
/// used is a message that names the flag, the variable or the profile.
fn client(global: &Global, chosen: &profile::Chosen, settings: &Settings, env: &Environment) -> Result<Client, String> {
    if settings.key.is_none() {
        return Err(format!(
            "environment variable {} is not set: set it to your API key, or pass --api-key-file PATH",
            Config::ENV_API_KEY
        ));
    }
    let in_profile = |message: String| match &chosen.source {
        Some(source) => format!("{source}: {message}"),
        None => message,
    };
    // The profile's key is read only when it is the one in force: a flag or the environment above it wins, even
    // over a profile whose key file cannot be read.
    let profile_key = match settings.key {
        Some(Source::Profile) => chosen.profile.key().map_err(in_profile)?,
        _ => None,
    };
    let key = match &global.api_key_file {
        None => None,
        Some(path) => {
            let flag = format!("--api-key-file {}", path.display());
            let text = std::fs::read_to_string(path).map_err(|err| format!("{flag}: cannot read it: {err}"))?;
            if profile::readable_by_others(path) {
                return Err(format!("{flag}: other users can read it: run `chmod 600 {}`", path.display()));
            }
            let key = text.trim().to_owned();
            // Checked here so that the message names the file rather than the variable.
            ApiKey::new(key.clone()).map_err(|error| format!("{flag}: the key in it {}", key_problem(&error)))?;
            Some(key)
        }
    };
    // The SDK reads its variables (the proxy's too) from the same reading of the environment; the key from the
    // file, the variable or the profile, as the settings decided.
    let mut builder = Config::from_lookup(|name| match name {
        Config::ENV_API_KEY => key.clone().or_else(|| env.get(name)).or_else(|| profile_key.clone()),
        other => env.get(other),
    })
    .map_err(|error| error.to_string())?;
    if settings.base_url.1.set_in_code() {
        builder = builder.base_url(&settings.base_url.0);
    }
    if let (Some(workspace), true) = (&settings.workspace.0, settings.workspace.1.set_in_code()) {
        builder = builder.workspace_id(workspace);
    }
    if settings.attempt_timeout.1.set_in_code() {
        builder = builder.attempt_timeout(settings.attempt_timeout.0);
    }
    if settings.deadline.1.set_in_code() {
        builder = builder.deadline(settings.deadline.0);
    }
    if let Some(rate) = settings.max_rate.0 {
        builder = builder.max_rate(rate);
    }
    if global.verbose {
        builder = builder.observer(show::RequestLog);
    }
    let config = builder.application(concat!("sendkit-cli/", env!("CARGO_PKG_VERSION"))).build().map_err(|error| {
        // A timing setting is named where it was given: the flag, or the profile and its file.
        let named = |setting: &str, source: &Source, flag: &str| match source {
            Source::Profile => format!("{}: {setting}", chosen.source.as_deref().unwrap_or("profile")),
            _ => flag.to_owned(),
        };
        match &error {
            InvalidInput::Setting { setting: "attempt_timeout", reason } => {
                format!("{}: {reason}", named("attempt_timeout", &settings.attempt_timeout.1, "--attempt-timeout"))
            }
            InvalidInput::Setting { setting: "deadline", reason } => {
                format!("{}: {reason}", named("deadline", &settings.deadline.1, "--deadline"))
            }
            InvalidInput::Setting { setting: "max_rate", reason } => {
                format!("{}: {reason}", named("max_rate", &settings.max_rate.1, "--max-rate"))
            }
            other => other.to_string(),
        }
    })?;
    if global.verbose {
        show::settings(&config);
    }
    Ok(Client::new(config))
}

/// What is wrong with a key, without the SDK's own framing.
fn key_problem(error: &sendkit_ureq::proto::InvalidInput) -> String {
    match error {
        sendkit_ureq::proto::InvalidInput::ApiKey { reason, .. } => reason.clone(),
        other => other.to_string(),
    }
}

/// A line of input that cannot be a job ID: refused before any request.
struct Refused {
    given: String,
    /// Where it was given: `the arguments`, `standard input, line 3`, `ids.txt, line 3`.
    place: String,
    reason: &'static str,
}

/// The job IDs to act on, each once in the order first given, and the lines refused.
struct Ids {
    valid: Vec<String>,
    refused: Vec<Refused>,
}

/// Longer than any job ID the API makes (theirs are under 64 characters), and short enough to quote in a message.
const MAX_JOB_ID: usize = 256;

/// Why `id` cannot be a job ID, if it cannot: the server would only answer "not found", while the job it was
/// meant for goes on.
fn not_a_job_id(id: &str) -> Option<&'static str> {
    if id.chars().any(char::is_control) {
        Some("job IDs hold no control characters")
    } else if id.contains(char::is_whitespace) {
        Some("job IDs hold no spaces")
    } else if id.contains('/') {
        Some("job IDs hold no '/'")
    } else if id == "." || id == ".." {
        Some("a dot is no job ID")
    } else if id.chars().count() > MAX_JOB_ID {
        Some("longer than any job ID")
    } else {
        None
    }
}

/// The IDs as given: `-` stands for standard input's lines, `@PATH` and `--file PATH` for a file's (blank lines,
/// and `#` and what follows it, skipped). An input that cannot be read is an error, before any request.
fn read_ids(given: args::JobIds) -> Result<Ids, String> {
    // An ID, where it was given, and why it was refused already (a line that is not text).
    type Entry = (String, String, Option<&'static str>);
    let mut entries: Vec<Entry> = Vec::new();
    let mut from_lines = false;
    // Each line is read as bytes: one that is not UTF-8 is refused on its own, not the whole input.
    let lines_of = |reader: &mut dyn BufRead, name: &str, entries: &mut Vec<Entry>| {
        for (number, line) in reader.split(b'\n').enumerate() {
            let mut line = line.map_err(|err| format!("reading job IDs from {name}: {err}"))?;
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            let (line, unreadable) = match String::from_utf8(line) {
                Ok(line) => (line, None),
                Err(err) => (String::from_utf8_lossy(err.as_bytes()).into_owned(), Some("not UTF-8 text")),
            };
            // A byte-order mark (an editor's, on the first line) is no part of an ID; nor is a `# note` after one.
            let line = line.trim_start_matches('\u{feff}');
            let id = line.split_once('#').map_or(line, |(id, _)| id).trim();
            if !id.is_empty() {
                entries.push((id.to_owned(), format!("{name}, line {}", number + 1), unreadable));
            }
        }
        Ok::<(), String>(())
    };
    let open = |path: &std::path::Path| {
        std::fs::File::open(path)
            .map(std::io::BufReader::new)
            .map_err(|err| format!("cannot read job IDs from {}: {err}", path.display()))
    };
    let files: Vec<std::path::PathBuf> = given.files;
    for arg in given.job_ids {
        if arg == "-" {
            from_lines = true;
            lines_of(&mut std::io::stdin().lock(), "standard input", &mut entries)?;
        } else if let Some(path) = arg.strip_prefix('@') {
            from_lines = true;
            let path = std::path::Path::new(path);
            lines_of(&mut open(path)?, &path.display().to_string(), &mut entries)?;
        } else {
            entries.push((arg, "the arguments".to_owned(), None));
        }
    }
    for path in &files {
        from_lines = true;
        lines_of(&mut open(path)?, &path.display().to_string(), &mut entries)?;
    }
    let mut ids = Ids { valid: Vec::new(), refused: Vec::new() };
    let mut seen = std::collections::HashSet::new();
    for (id, place, unreadable) in entries {
        match unreadable.or_else(|| not_a_job_id(&id)) {
            Some(reason) => ids.refused.push(Refused { given: id, place, reason }),
            None if seen.insert(id.clone()) => ids.valid.push(id),
            None => {}
        }
    }
    // Nothing in a file or on standard input is nothing to do (`grep ... | sendkit cancel -` when nothing matched),
    // not a usage error.
    if ids.valid.is_empty() && ids.refused.is_empty() && !from_lines {
        return Err("no job IDs given".to_owned());
    }
    Ok(ids)
}

/// Shows each job, one after the other.
fn get(client: &Client, printer: &show::Printer, ids: &[String]) -> Outcome {
    let stop = interrupted();
    let mut outcome = Outcome::Success;
    for (at, id) in ids.iter().enumerate() {
        if stop.load(Ordering::SeqCst) {
            // Every ID gets its line: the ones not looked at say so.
            show::not_attempted(&ids[at..], printer.json(), "interrupted");
            return Outcome::Interrupted;
        }
        if show::stdout_closed() {
            return outcome;
        }
        match client.get_job(id) {
            Ok(job) => printer.job(&job),
            Err(error) => {
                printer.error(id, &error);
                outcome = outcome.max(Outcome::of(&error));
            }
        }
    }
    outcome
}

/// Stops a command cleanly on the first Ctrl-C; a second one ends the process at once.
pub(crate) fn interrupted() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let set = Arc::clone(&flag);
    // Without a handler (one is already installed), Ctrl-C keeps its default: the process ends.
    let _ = ctrlc::set_handler(move || {
        if set.swap(true, Ordering::SeqCst) {
            std::process::exit(i32::from(Outcome::Interrupted.code()));
        }
        eprintln!("sendkit: interrupted; starting nothing more, finishing the calls under way for up to 2s (Ctrl-C again to quit at once)");
    });
    flag
}

fn cancel(client: &Client, printer: &show::Printer, ids: Vec<String>, concurrency: usize) -> Outcome {
    let stop = interrupted();
    let total = ids.len();
    // Where each job stands, kept by the SDK as the batch runs: what an interrupt reports if the calls under way
    // do not end within the grace.
    let progress = Arc::new(BatchProgress::new(total));
    grace_after_interrupt(Arc::clone(&stop), Arc::clone(&progress), ids.clone(), printer.json());
    let mut outcome = Outcome::Success;
    let mut tally = show::Tally::default();
    let mut refused = false;
    let not_started = client.cancel_jobs_tracked(ids, concurrency, &progress, |_, job_id, result| {
        // What each outcome means is the SDK's: a job already cancelled is a success of its own.
        match &result {
            Ok(CancelOutcome::Cancelled(job)) => printer.cancelled(job_id, job),
            Ok(CancelOutcome::AlreadyCancelled(refusal)) => printer.already_cancelled(job_id, refusal),
            Ok(_) => {}
            Err(error) => printer.error(job_id, error),
        }
        let this = match &result {
            Err(error) => Outcome::of(error),
            Ok(_) => Outcome::Success,
        };
        outcome = outcome.max(this);
        tally.count(&result);
        // A refused key refuses every job: nothing more is started, and the summary says why.
        let key_refused = matches!(&result, Err(error) if error.is_authentication());
        refused |= key_refused;
        if key_refused || stop.load(Ordering::SeqCst) || show::stdout_closed() {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    });
    eprintln!("{}", tally.summary(total));
    if refused {
        show::not_attempted(&not_started, printer.json(), "stopped, the API key was refused");
    } else if stop.load(Ordering::SeqCst) {
        show::not_attempted(&not_started, printer.json(), "interrupted");
    }
    if stop.load(Ordering::SeqCst) {
        return Outcome::Interrupted;
    }
    outcome
}

/// How long the calls under way may take to end after Ctrl-C before the command exits without them.
const GRACE: Duration = Duration::from_secs(2);

/// After Ctrl-C, gives the cancels under way [`GRACE`] to end; past it, says which jobs may have been cancelled
/// (in flight: sent, no answer yet) and which were not attempted, as the SDK's record of the batch has them, and
/// exits 130.
fn grace_after_interrupt(stop: Arc<AtomicBool>, progress: Arc<BatchProgress>, ids: Vec<String>, json: bool) {
    exit_after_interrupt(stop, GRACE, move || {
        let named = |indices: Vec<usize>| indices.into_iter().map(|i| ids[i].clone()).collect::<Vec<String>>();
        show::in_flight(&named(progress.in_flight()), json);
        show::not_attempted(&named(progress.not_started()), json, "interrupted");
    });
}

/// Once Ctrl-C has set `stop` and `grace` has passed, says with `report` what was and was not done and exits 130,
/// leaving behind whatever is still under way: the one way every command ends on an interrupt it cannot wait out.
pub(crate) fn exit_after_interrupt(stop: Arc<AtomicBool>, grace: Duration, report: impl FnOnce() + Send + 'static) {
    std::thread::spawn(move || {
        while !stop.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(grace);
        report();
        std::process::exit(i32::from(Outcome::Interrupted.code()));
    });
}

#[cfg(feature = "mock")]
fn mock(
    addr: std::net::SocketAddr,
    api_key: String,
    workspace_id: Option<String>,
    manual_clock: bool,
    fault_seed: Option<u64>,
) -> Outcome {
    let mut builder = sendkit_mock::MockServer::builder().addr(addr).api_key(api_key).worker_threads(2);
    if let Some(workspace_id) = &workspace_id {
        builder = builder.workspace_id(workspace_id);
    }
    if !manual_clock {
        builder = builder.system_clock();
    }
    if let Some(seed) = fault_seed {
        builder = builder.fault_seed(seed);
    }
    match builder.start() {
        Ok(server) => {
            // The key is the emulator's own, not a user's secret; printing it tells a client what to send.
            println!("sendkit mock listening on {} (api key {})", server.base_url(), server.api_key());
            let workspace = workspace_id.map(|id| format!(" SENDKIT_WORKSPACE_ID={id}")).unwrap_or_default();
            println!("export SENDKIT_BASE_URL={} SENDKIT_API_KEY={}{workspace}", server.base_url(), server.api_key());
            server.wait();
            Outcome::Success
        }
        Err(err) => {
            eprintln!("sendkit: cannot listen on {addr}: {err}");
            Outcome::Failure
        }
    }
}
