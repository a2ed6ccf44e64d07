//! The emulator's memory: jobs, the clock they move on, faults waiting to fire, and the ledger.

use std::collections::HashMap;
use std::time::Duration;

use sendkit_model::{Job, JobMetadata, JobStatus, Timestamp};

use std::time::Instant;

use crate::fault::{Action, Fault, Route};

/// Jobs expire this long after they were created.
pub(crate) const JOB_LIFETIME: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// What the emulator did, for tests to compare with what the client saw.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Ledger {
    /// TCP connections accepted: with keep-alive, far fewer than requests.
    pub connections: u64,
    /// Requests received, faulted or not.
    pub requests: u64,
    /// Of those, requests that came over HTTP/2 (only over TLS, when the client's ALPN asked for it).
    pub http2_requests: u64,
    /// Requests answered by an injected fault.
    pub faults_served: u64,
    /// Requests a rate-limit fault refused (also counted in `faults_served`).
    pub rate_limited: u64,
    /// Successful cancels per job ID: a job cancelled twice would show 2.
    pub cancels: HashMap<String, u64>,
    /// Enrich requests that created jobs.
    pub enrich_calls: u64,
    /// Credits charged by all enrich requests.
    pub credits_charged: u64,
    /// Every API request read, in order, and how far the emulator got with it: the ground truth a client's
    /// reported outcome is checked against. The first [`Ledger::MAX_RECORDS`] only, so that a long-running
    /// emulator's memory stays bounded.
    pub requests_seen: Vec<RequestRecord>,
}

/// One API request the emulator read, and what came of it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct RequestRecord {
    /// Which call it was (`Route::Any` for a path the API does not have).
    pub route: Route,
    /// The job it named, if any.
    pub job_id: Option<String>,
    /// Whether it changed anything: a job cancelled, jobs created and credits charged.
    pub acted: bool,
    /// Whether the whole answer was handed to the connection.
    pub answered: bool,
}

impl Ledger {
    /// How many requests [`Ledger::requests_seen`] keeps.
    pub const MAX_RECORDS: usize = 1_000_000;
}

/// How the emulator's jobs move.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Progress {
    /// How long a new job stays `pending`.
    pub pending_for: Duration,
    /// How many items a `processing` job gets through each second.
    pub items_per_second: u64,
}

impl Progress {
    /// Jobs stay `pending` for `pending_for`, then process `items_per_second`.
    pub fn new(pending_for: Duration, items_per_second: u64) -> Self {
        Self { pending_for, items_per_second }
    }
}

impl Default for Progress {
    /// Pending for 2 s, then 10 items a second.
    fn default() -> Self {
        Self { pending_for: Duration::from_secs(2), items_per_second: 10 }
    }
}

pub(crate) struct StoredJob {
    pub(crate) job: Job,
    /// Created by a test in a given status: it stays there.
    pub(crate) pinned: bool,
    pub(crate) created: Timestamp,
}

pub(crate) struct State {
    pub(crate) jobs: HashMap<String, StoredJob>,
    pub(crate) faults: Vec<Fault>,
    pub(crate) ledger: Ledger,
    pub(crate) progress: Progress,
    /// `None`: the system clock; otherwise the emulator's own time, which moves only when told.
    frozen_at: Option<Timestamp>,
    offset: Duration,
    next_serial: u64,
    random: u64,
    /// The budget a rate limiter said for the request just taken, to put on its answer.
    advertised: Vec<(&'static str, String)>,
}

impl State {
    pub(crate) fn new(progress: Progress, manual_clock: bool, seed: u64) -> Self {
        Self {
            jobs: HashMap::new(),
            faults: Vec::new(),
            ledger: Ledger::default(),
            progress,
            frozen_at: manual_clock.then(Timestamp::now),
            offset: Duration::ZERO,
            next_serial: 0,
            random: seed,
            advertised: Vec::new(),
        }
    }

    /// The emulator's time, to the millisecond as the API writes it.
    pub(crate) fn now(&self) -> Timestamp {
        let base = self.frozen_at.unwrap_or_else(Timestamp::now);
        let now = base.checked_add(self.offset).unwrap_or(Timestamp::MAX);
        Timestamp::from_millisecond(now.as_millisecond()).unwrap_or(now)
    }

    pub(crate) fn advance(&mut self, by: Duration) {
        self.offset = self.offset.saturating_add(by);
    }

    /// The first fault that applies to this request, used up by one.
    /// The first armed fault that takes new connections, if any, counted as served.
    pub(crate) fn take_connection_fault(&mut self) -> Option<Fault> {
        let index = self.faults.iter().position(|fault| fault.on_connections() && fault.remaining != Some(0))?;
        Some(self.serve_fault(index))
    }

    /// The armed fault at `index`, served once: one use spent (disarmed when none is left), counted.
    fn serve_fault(&mut self, index: usize) -> Fault {
        let fault = &mut self.faults[index];
        if let Some(remaining) = &mut fault.remaining {
            *remaining -= 1;
        }
        let fault = fault.clone();
        self.faults.retain(|fault| fault.remaining != Some(0));
        self.ledger.faults_served += 1;
        fault
    }

    /// What a rate limiter said of its budget for the request just taken: headers for its answer.
    pub(crate) fn take_advertised(&mut self) -> Vec<(&'static str, String)> {
        std::mem::take(&mut self.advertised)
    }

    pub(crate) fn take_fault(&mut self, route: Route, job_id: Option<&str>) -> Option<Fault> {
        self.advertised.clear();
        let mut chosen = None;
        for index in 0..self.faults.len() {
            if !self.faults[index].matches(route, job_id) {
                continue;
            }
            // A rate limiter takes only the requests over its rate; the rest go on.
            if let Action::RateLimit { per_second, burst, tokens, refilled, advertise } = &mut self.faults[index].action
            {
                let now = Instant::now();
                let elapsed = refilled.map_or(0.0, |at| now.saturating_duration_since(at).as_secs_f64());
                *tokens = (*tokens + elapsed * *per_second).min(*burst);
                *refilled = Some(now);
                let passes = *tokens >= 1.0;
                if passes {
                    *tokens -= 1.0;
                }
                if *advertise {
                    // Whole seconds, as the fields carry them: the window to refill the bucket, and the time until
                    // the next request will pass (0 while some are left).
                    // The policy as a quota a second; what is left is the bucket's whole tokens.
                    let reset = if *tokens >= 1.0 { 0.0 } else { ((1.0 - *tokens) / *per_second).ceil() };
                    self.advertised = vec![
                        ("ratelimit-policy", format!("\"limiter\";q={};w=1", per_second.ceil() as u64)),
                        ("ratelimit", format!("\"limiter\";r={};t={reset}", tokens.floor() as u64)),
                    ];
                }
                if passes {
                    continue;
                }
                self.ledger.rate_limited += 1;
                return Some(self.serve_fault(index));
            }
            if let Some(fraction) = self.faults[index].fraction {
                if self.next_unit() >= fraction {
                    continue;
                }
            }
            chosen = Some(index);
            break;
        }
        Some(self.serve_fault(chosen?))
    }

    /// A number in [0, 1) from the seeded generator (splitmix64): the same seed, the same faults.
    fn next_unit(&mut self) -> f64 {
        self.random = self.random.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.random;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A fresh job ID in the API's style: `bulk_<type>_<millis>_<7 hex digits>`.
    pub(crate) fn new_job_id(&mut self, job_type: &str) -> String {
        self.next_serial += 1;
        // Spread serials over the suffix so IDs look random yet never collide within 2^28 jobs.
        let suffix = self.next_serial.wrapping_mul(0x9E37_79B9) & 0x0FFF_FFFF;
        format!("bulk_{job_type}_{}_{suffix:07x}", self.now().as_millisecond())
    }

    /// The job as it is now, or `None` if there is none or it expired (expired jobs are dropped).
    pub(crate) fn job_mut(&mut self, id: &str) -> Option<&mut StoredJob> {
        let now = self.now();
        let expired = self.jobs.get(id).is_some_and(|stored| age(stored.created, now) >= JOB_LIFETIME);
        if expired {
            self.jobs.remove(id);
            return None;
        }
        let progress = self.progress;
        let stored = self.jobs.get_mut(id)?;
        if !stored.pinned {
            advance_job(stored, progress, now);
        }
        Some(stored)
    }
}

fn age(created: Timestamp, now: Timestamp) -> Duration {
    Duration::try_from(created.duration_until(now)).unwrap_or(Duration::ZERO)
}

fn plus(at: Timestamp, by: Duration) -> Timestamp {
    at.checked_add(by).unwrap_or(Timestamp::MAX)
}

/// Moves a job along pending → processing → completed to where `now` puts it. Terminal jobs stay put.
fn advance_job(stored: &mut StoredJob, progress: Progress, now: Timestamp) {
    if stored.job.status.is_terminal() {
        return;
    }
    let elapsed = age(stored.created, now);
    if elapsed < progress.pending_for {
        return;
    }
    let started = plus(stored.created, progress.pending_for);
    let metadata = stored.job.metadata.get_or_insert_with(JobMetadata::default);
    let total = metadata.total_items;
    let rate = progress.items_per_second.max(1);
    let running = elapsed - progress.pending_for;
    let processed =
        u64::try_from(running.as_millis().saturating_mul(u128::from(rate)) / 1000).unwrap_or(u64::MAX).min(total);
    metadata.processed_items = processed;
    metadata.success_count = processed;
    stored.job.started_at = Some(started);
    if processed == total {
        let finished = plus(started, Duration::from_millis(total.saturating_mul(1000) / rate));
        stored.job.status = JobStatus::Completed;
        stored.job.completed_at = Some(finished);
        stored.job.updated_at = Some(finished);
    } else {
        stored.job.status = JobStatus::Processing;
        stored.job.updated_at = Some(now);
    }
}

/// The job type a new job of this enrichment type gets. The API documents only `email_verification`; the others
/// follow its naming.
pub(crate) fn job_type_name(enrichment: &sendkit_model::EnrichmentType) -> &'static str {
    use sendkit_model::EnrichmentType as E;
    match enrichment {
        E::Email => "email_verification",
        E::PhoneEnrichment => "phone_enrichment",
        E::SegGateway => "seg_gateway",
        E::EspDetection => "esp_detection",
        _ => "unknown",
    }
}
