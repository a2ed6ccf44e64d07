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
use sendkit_ureq::proto::ApiKey;
use sendkit_ureq::{Client, Config, Error};

use args::{ApiCommand, Cli, Command, Global};
use outcome::Outcome;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let printer = show::Printer::new(cli.global.json);
    let outcome = match cli.command {
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "sendkit", &mut std::io::stdout());
            Outcome::Success
        }
        Command::Mock { addr, api_key, workspace_id, manual_clock, fault_seed } => {
            mock(addr, api_key, workspace_id, manual_clock, fault_seed)
        }
        Command::Api(command) => match client(&cli.global) {
            Ok(client) => run(command, &client, &printer),
            Err(error) => {
                printer.error(&error);
                Outcome::Usage
            }
        },
    };
    outcome.into()
}

fn run(command: ApiCommand, client: &Client, printer: &show::Printer) -> Outcome {
    match command {
        ApiCommand::Cancel { job_ids, concurrency } => match read_ids(job_ids) {
            Ok(ids) => cancel(client, printer, ids, usize::from(concurrency)),
            Err(message) => usage(&message),
        },
        ApiCommand::Get { job_id } => match client.get_job(&job_id) {
            Ok(job) => {
                printer.job(&job);
                Outcome::Success
            }
            Err(error) => {
                printer.error(&error);
                Outcome::of(&error)
            }
        },
        ApiCommand::Enrich { leads, types, wait, wait_options } => {
            let request = EnrichRequest::new(leads, types.into_iter().map(Into::into));
            match client.enrich(request) {
                Ok(created) => {
                    printer.created(&created);
                    if wait {
                        let ids = created.jobs.iter().map(|job| job.job_id.clone()).collect();
                        wait::wait(client, printer, ids, wait_options)
                    } else {
                        Outcome::Success
                    }
                }
                Err(error) => {
                    printer.error(&error);
                    Outcome::of(&error)
                }
            }
        }
        ApiCommand::Wait { job_ids, wait_options } => match read_ids(job_ids) {
            Ok(ids) => wait::wait(client, printer, ids, wait_options),
            Err(message) => usage(&message),
        },
    }
}

fn usage(message: &str) -> Outcome {
    eprintln!("sendkit: {message}");
    Outcome::Usage
}

/// The client, from the environment and the flags that override it.
fn client(global: &Global) -> Result<Client, Error> {
    let mut builder = match &global.api_key_file {
        None => Config::from_env()?,
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|err| {
                Error::from(sendkit_ureq::proto::InvalidInput::Setting {
                    setting: "--api-key-file",
                    reason: format!("cannot read {}: {err}", path.display()),
                })
            })?;
            let key = text.trim().to_owned();
            // Checked here so that the message names the file rather than the variable.
            ApiKey::new(key.clone()).map_err(|error| {
                Error::from(sendkit_ureq::proto::InvalidInput::Setting {
                    setting: "--api-key-file",
                    reason: format!("the key in {}: {error}", path.display()),
                })
            })?;
            Config::from_lookup(|name| match name {
                Config::ENV_API_KEY => Some(key.clone()),
                other => std::env::var(other).ok(),
            })?
        }
    };
    if let Some(url) = &global.base_url {
        builder = builder.base_url(url);
    }
    if let Some(workspace) = &global.workspace {
        builder = builder.workspace_id(workspace);
    }
    if let Some(seconds) = global.attempt_timeout {
        builder = builder.attempt_timeout(seconds_setting("--attempt-timeout", seconds)?);
    }
    if let Some(seconds) = global.deadline {
        let deadline = if seconds == 0.0 { None } else { Some(seconds_setting("--deadline", seconds)?) };
        builder = builder.deadline(deadline);
    }
    let config = builder.application(concat!("sendkit-cli/", env!("CARGO_PKG_VERSION"))).build()?;
    if global.verbose {
        show::settings(&config);
    }
    Ok(Client::new(config))
}

pub(crate) fn seconds_setting(setting: &'static str, seconds: f64) -> Result<Duration, Error> {
    Duration::try_from_secs_f64(seconds).map_err(|_| {
        Error::from(sendkit_ureq::proto::InvalidInput::Setting {
            setting,
            reason: format!("{seconds} is not a number of seconds"),
        })
    })
}

/// The IDs as given, `-` standing for standard input's lines.
fn read_ids(args: Vec<String>) -> Result<Vec<String>, String> {
    let mut ids = Vec::new();
    for arg in args {
        if arg == "-" {
            for line in std::io::stdin().lock().lines() {
                let line = line.map_err(|err| format!("reading job IDs from standard input: {err}"))?;
                let id = line.trim();
                if !id.is_empty() {
                    ids.push(id.to_owned());
                }
            }
        } else {
            ids.push(arg);
        }
    }
    if ids.is_empty() {
        return Err("no job IDs given".to_owned());
    }
    Ok(ids)
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
        eprintln!("sendkit: interrupted; finishing the calls under way (Ctrl-C again to quit at once)");
    });
    flag
}

fn cancel(client: &Client, printer: &show::Printer, ids: Vec<String>, concurrency: usize) -> Outcome {
    let stop = interrupted();
    let total = ids.len();
    let mut outcome = Outcome::Success;
    let mut tally = show::Tally::default();
    let not_started = client.cancel_jobs_each(ids, concurrency, |_, _, result| {
        match &result {
            Ok(job) => printer.cancelled(job),
            Err(error) => printer.error(error),
        }
        outcome = outcome.max(result.as_ref().map_or_else(Outcome::of, |_| Outcome::Success));
        tally.count(&result);
        if stop.load(Ordering::SeqCst) {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    });
    eprintln!("{}", tally.summary(total));
    if !not_started.is_empty() {
        eprintln!("interrupted: {} not attempted: {}", not_started.len(), not_started.join(" "));
        return Outcome::Interrupted;
    }
    if stop.load(Ordering::SeqCst) {
        return Outcome::Interrupted;
    }
    outcome
}

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
