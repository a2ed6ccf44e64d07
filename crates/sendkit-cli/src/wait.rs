//! `wait`: every job waited for at once, a live bar each on a terminal, plain progress lines elsewhere.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use sendkit_ureq::model::Job;
use sendkit_ureq::{Client, Error, WaitPolicy};

use crate::args::WaitOptions;
use crate::outcome::Outcome;
use crate::show::Printer;

/// How a person watches the jobs: bars on a terminal, lines otherwise.
enum Watch {
    Bars(MultiProgress),
    Lines,
}

impl Watch {
    fn new() -> Self {
        if std::io::stderr().is_terminal() {
            Self::Bars(MultiProgress::with_draw_target(ProgressDrawTarget::stderr()))
        } else {
            Self::Lines
        }
    }

    fn bar(&self, job_id: &str) -> Option<ProgressBar> {
        let Self::Bars(bars) = self else { return None };
        let style = ProgressStyle::with_template("{prefix} {bar:30} {pos}/{len} {msg} {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar());
        let bar = bars.add(ProgressBar::new(0).with_style(style).with_prefix(job_id.to_owned()));
        bar.set_message("waiting");
        Some(bar)
    }
}

/// Waits for every job, each on a thread of its own (a wait mostly sleeps), and prints each one's end.
pub fn wait(client: &Client, printer: &Printer, ids: Vec<String>, options: WaitOptions) -> Outcome {
    let policy = match policy(options) {
        Ok(policy) => policy,
        Err(error) => {
            printer.error(&error);
            return Outcome::Usage;
        }
    };
    let stop = crate::interrupted();
    let watch = Arc::new(Watch::new());
    let last_seen: Arc<Mutex<BTreeMap<String, Job>>> = Arc::default();
    let started = Instant::now();
    let (sender, finished) = mpsc::channel();
    for id in &ids {
        let (client, policy, id, sender) = (client.clone(), policy.clone(), id.clone(), sender.clone());
        let (watch, last_seen) = (Arc::clone(&watch), Arc::clone(&last_seen));
        std::thread::spawn(move || {
            let bar = watch.bar(&id);
            let mut shown = String::new();
            let result = client.wait_for_job(&id, policy, |job| {
                let metadata = job.metadata.unwrap_or_default();
                match &bar {
                    Some(bar) => {
                        bar.set_length(metadata.total_items);
                        bar.set_position(metadata.processed_items);
                        bar.set_message(job.status.to_string());
                    }
                    None => {
                        let line =
                            format!("{} {} {}/{}", job.id, job.status, metadata.processed_items, metadata.total_items);
                        if line != shown {
                            eprintln!("{line} ({}s)", started.elapsed().as_secs());
                            shown = line;
                        }
                    }
                }
                if let Ok(mut seen) = last_seen.lock() {
                    seen.insert(job.id.clone(), job.clone());
                }
            });
            if let Some(bar) = bar {
                bar.finish();
            }
            let _ = sender.send((id, result));
        });
    }
    drop(sender);
    let mut outcome = Outcome::Success;
    let mut remaining = ids.len();
    while remaining > 0 {
        match finished.recv_timeout(Duration::from_millis(100)) {
            Ok((_, result)) => {
                remaining -= 1;
                outcome = outcome.max(report(printer, result));
            }
            Err(mpsc::RecvTimeoutError::Timeout) if stop.load(Ordering::SeqCst) => {
                // A wait only reads: leaving the polls behind changes nothing on the server.
                let seen = last_seen.lock().map(|seen| seen.clone()).unwrap_or_default();
                for id in &ids {
                    match seen.get(id) {
                        Some(job) if job.status.is_terminal() => {}
                        Some(job) => eprintln!("interrupted: {id} last seen {}", job.status),
                        None => eprintln!("interrupted: {id} not seen yet"),
                    }
                }
                return Outcome::Interrupted;
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    outcome
}

/// Prints how one wait ended, and says what it means for the exit code.
fn report(printer: &Printer, result: Result<Job, Error>) -> Outcome {
    match result {
        Ok(job) => {
            printer.finished(&job);
            if job.status == sendkit_ureq::model::JobStatus::Completed {
                Outcome::Success
            } else {
                Outcome::Failure
            }
        }
        Err(error) => {
            printer.error(&error);
            Outcome::of(&error)
        }
    }
}

fn policy(options: WaitOptions) -> Result<WaitPolicy, Error> {
    let (timeout, poll) = (options.timeout, options.poll);
    Ok(WaitPolicy::default().timeout(timeout).poll_interval(poll, Duration::from_secs(15).max(poll)))
}
