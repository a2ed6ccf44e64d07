//! `wait`: every job waited for at once by a few threads, a live bar each on a terminal, progress lines elsewhere.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use sendkit_ureq::model::{Job, JobMetadata};
use sendkit_ureq::{Client, Error, WaitEvent, WaitPolicy};

use crate::args::WaitOptions;
use crate::outcome::Outcome;
use crate::show::Printer;

/// How a person watches the jobs: a bar each on a terminal (one bar for them all past a screenful), lines
/// otherwise.
enum Watch {
    Bars { bars: MultiProgress, each: HashMap<String, ProgressBar>, all: Option<ProgressBar> },
    Lines { started: Instant },
}

/// Past this many jobs, one bar counts them all.
const BARS_EACH: usize = 20;

impl Watch {
    fn new(ids: &[String]) -> Self {
        if !std::io::stderr().is_terminal() {
            return Self::Lines { started: Instant::now() };
        }
        let bars = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template("{prefix} {bar:30} {pos}/{len} {msg} {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar());
        let new_bar = |prefix: &str, length: u64| {
            // Starts empty, and its clock ticks between polls.
            let bar = bars.add(ProgressBar::new(length).with_style(style.clone()).with_prefix(prefix.to_owned()));
            bar.set_message("waiting");
            bar.enable_steady_tick(Duration::from_millis(500));
            bar
        };
        if ids.len() > BARS_EACH {
            let all = new_bar("jobs finished", ids.len() as u64);
            return Self::Bars { each: HashMap::new(), all: Some(all), bars };
        }
        let each = ids.iter().map(|id| (id.clone(), new_bar(id, 1))).collect();
        Self::Bars { bars, each, all: None }
    }

    fn progress(&mut self, job: &Job) {
        let no_metadata = JobMetadata::default();
        let metadata = job.metadata.as_ref().unwrap_or(&no_metadata);
        match self {
            Self::Bars { each, .. } => {
                if let Some(bar) = each.get(&job.id) {
                    bar.set_length(metadata.total_items.max(1));
                    bar.set_position(metadata.processed_items);
                    bar.set_message(job.status.to_string());
                }
            }
            Self::Lines { started } => {
                let (done, total) = (metadata.processed_items, metadata.total_items);
                eprintln!("{} {} {done}/{total} ({}s)", job.id, job.status, started.elapsed().as_secs());
            }
        }
    }

    fn finished(&mut self, job_id: &str) {
        if let Self::Bars { each, all, .. } = self {
            if let Some(bar) = each.get(job_id) {
                bar.finish();
            }
            if let Some(all) = all {
                all.inc(1);
            }
        }
    }

    fn clear(&self) {
        if let Self::Bars { bars, .. } = self {
            let _ = bars.clear();
        }
    }
}

/// Waits for every job, polling at most `--poll-concurrency` at once however many there are, and prints each one's
/// end as it comes.
pub fn wait(client: &Client, printer: &Printer, ids: Vec<String>, options: WaitOptions) -> Outcome {
    let policy = policy(options);
    let stop = crate::interrupted();
    let mut watch = Watch::new(&ids);
    let seen: Arc<Mutex<Seen>> = Arc::default();
    report_on_interrupt(Arc::clone(&stop), Arc::clone(&seen), ids.clone(), printer.json());
    let mut outcome = Outcome::Success;
    client.wait_for_jobs(ids, policy, usize::from(options.poll_concurrency), |event| match event {
        WaitEvent::Progress(job) => {
            watch.progress(&job);
            if let Ok(mut seen) = seen.lock() {
                seen.last.insert(job.id.clone(), job);
            }
        }
        WaitEvent::Finished { job_id, result, .. } => {
            watch.finished(&job_id);
            if let Ok(mut seen) = seen.lock() {
                seen.finished.insert(job_id.clone());
            }
            outcome = outcome.max(report(printer, &job_id, result));
        }
        _ => {}
    });
    watch.clear();
    outcome
}

/// What the waits have seen: the last state of each job, and which have finished.
#[derive(Debug, Default)]
struct Seen {
    last: BTreeMap<String, Job>,
    finished: HashSet<String>,
}

/// On Ctrl-C, says where each unfinished job was last seen and exits 130 at once: a wait only reads, so leaving
/// the polls behind changes nothing on the server.
fn report_on_interrupt(stop: Arc<std::sync::atomic::AtomicBool>, seen: Arc<Mutex<Seen>>, ids: Vec<String>, json: bool) {
    crate::exit_after_interrupt(stop, Duration::ZERO, move || {
        let seen = seen.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        for id in ids.iter().filter(|id| !seen.finished.contains(*id)) {
            crate::show::wait_interrupted(id, seen.last.get(id), json);
        }
    });
}

/// Prints how one wait ended, and says what it means for the exit code.
fn report(printer: &Printer, job_id: &str, result: Result<Job, Error>) -> Outcome {
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
            printer.error(job_id, &error);
            Outcome::of(&error)
        }
    }
}

fn policy(options: WaitOptions) -> WaitPolicy {
    let (timeout, poll) = (options.timeout, options.poll);
    WaitPolicy::default().timeout(timeout).poll_interval(poll, Duration::from_secs(15).max(poll))
}
