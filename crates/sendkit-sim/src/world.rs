//! The simulated world: a clock, the events due on it, the API as an in-memory model, and its ledger, which is
//! the truth every outcome is checked against.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::sync::{Arc, Mutex};
use std::task::Waker;
use std::time::{Duration, Instant, SystemTime};

use sendkit_model::JobStatus;
use sendkit_proto::http::{Method, Request, Response};
use sendkit_proto::{Attempt, Delivery, Now, TransportError, TransportErrorKind};

use crate::rng::Rng;

/// What a fault schedule can do to one request. Every kind is drawn at every stage of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Fault {
    /// Answered as the API would, after a latency that may pass the attempt's timeout.
    None,
    /// The connection was refused: nothing was sent.
    Refused,
    /// Reset after the request was written, before the server read it.
    ResetBeforeRead,
    /// Reset after the server acted on it, before the answer.
    ResetAfterActing,
    /// The server acts only after the client's timeout: an effect applied late, after the client gave up.
    LateEffect,
    /// A 502, 503 or 504 before the server acted, with or without a Retry-After.
    GatewayBeforeActing,
    /// A 500 or 503 after the server acted.
    ServerErrorAfterActing,
    /// A 429 with Retry-After in seconds.
    RateLimitedSeconds,
    /// A 429 with Retry-After as an HTTP date.
    RateLimitedDate,
    /// A 429 without Retry-After.
    RateLimitedBare,
    /// A 2xx whose body is not JSON, after acting.
    UnreadableSuccess,
    /// A 204 with no body, after acting.
    NoContent,
    /// A 200 whose body is cut short, after acting.
    CutShort,
    /// The answer comes after the attempt's timeout (the server acted in time).
    SlowAnswer,
}

impl Fault {
    /// Every kind, with how often a schedule draws it.
    pub const WEIGHTS: [(Fault, u64); 14] = [
        (Fault::None, 40),
        (Fault::Refused, 4),
        (Fault::ResetBeforeRead, 5),
        (Fault::ResetAfterActing, 5),
        (Fault::LateEffect, 6),
        (Fault::GatewayBeforeActing, 6),
        (Fault::ServerErrorAfterActing, 4),
        (Fault::RateLimitedSeconds, 4),
        (Fault::RateLimitedDate, 3),
        (Fault::RateLimitedBare, 4),
        (Fault::UnreadableSuccess, 3),
        (Fault::NoContent, 2),
        (Fault::CutShort, 3),
        (Fault::SlowAnswer, 5),
    ];

    /// Whether the server acts on a request that meets this fault.
    fn acts(self) -> bool {
        !matches!(
            self,
            Fault::Refused
                | Fault::ResetBeforeRead
                | Fault::GatewayBeforeActing
                | Fault::RateLimitedSeconds
                | Fault::RateLimitedDate
                | Fault::RateLimitedBare
        )
    }
}

/// A job in the model, with what the truth knows of it.
#[derive(Debug, Clone)]
pub struct ModelJob {
    /// Its status now.
    pub status: JobStatus,
    /// The requests (by number) whose cancel moved it to `cancelled`.
    pub cancelled_by: Vec<u64>,
}

/// What one request was, and when it was sent: the ledger's line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// The request's number, in the order sent.
    pub number: u64,
    /// `POST cancel`, `GET`, `POST enrich`.
    pub method: Method,
    /// The path.
    pub path: String,
    /// The fault it met.
    pub fault: Fault,
    /// When it was sent, in simulated time.
    pub at: Duration,
    /// The attempt's timeout.
    pub timeout: Duration,
}

impl std::fmt::Display for Sent {
    /// `   1.234s GET /v1/enrichment/jobs/job_0 (timeout 500ms): LateEffect`
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:>10?} {} {} (timeout {:?}): {:?}", self.at, self.method, self.path, self.timeout, self.fault)
    }
}

/// What is due on the clock.
enum Event {
    /// The server acts on a request: the answer goes into the slot.
    Act { number: u64, request: Box<Request<Vec<u8>>>, fault: Fault, slot: Slot },
    /// A sleeping future is due (the executor polls everything after each event anyway).
    Wake(Option<Waker>),
    /// A job finishes on its own.
    Finish { job_id: String, status: JobStatus },
}

type Outcome = Result<Response<Vec<u8>>, TransportError>;
type Slot = Arc<Mutex<Option<Outcome>>>;

/// The world one schedule runs in.
pub struct World {
    base: Instant,
    wall_base: SystemTime,
    now: Duration,
    sequence: u64,
    due: BinaryHeap<Reverse<(Duration, u64)>>,
    events: HashMap<u64, Event>,
    /// The schedule's randomness: faults and latencies.
    pub rng: Rng,
    /// Faults to meet in order before any are drawn (a named case's script).
    pub script: Vec<Fault>,
    /// The jobs, by ID.
    pub jobs: BTreeMap<String, ModelJob>,
    /// How many times each enrich body was applied.
    pub enriched: HashMap<Vec<u8>, u32>,
    /// Every request sent, in order.
    pub sent: Vec<Sent>,
    /// Percent of requests that meet a fault other than [`Fault::None`].
    pub fault_percent: u64,
    /// How many times the engine asked the world for anything: a schedule that never ends is a finding.
    asked: u64,
}

/// More requests for time or bytes than any schedule needs: the engine is spinning.
const RUNAWAY: u64 = 100_000;

impl World {
    /// A world for `seed`, its clocks at zero.
    pub fn new(seed: u64) -> Self {
        Self {
            base: Instant::now(),
            // 2026-01-01: a fixed wall clock, so dates replay exactly.
            wall_base: SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600),
            now: Duration::ZERO,
            sequence: 0,
            due: BinaryHeap::new(),
            events: HashMap::new(),
            rng: Rng::new(seed),
            script: Vec::new(),
            jobs: BTreeMap::new(),
            enriched: HashMap::new(),
            sent: Vec::new(),
            fault_percent: 30,
            asked: 0,
        }
    }

    /// The simulated time since the world began.
    pub fn elapsed(&self) -> Duration {
        self.now
    }

    /// Both clocks, as a driver reads them.
    pub fn now(&self) -> Now {
        Now::new(self.base + self.now, self.wall_base + self.now)
    }

    /// The monotonic clock's reading at simulated time `at`.
    pub fn instant(&self, at: Duration) -> Instant {
        self.base + at
    }

    fn schedule(&mut self, at: Duration, event: Event) {
        self.sequence += 1;
        self.due.push(Reverse((at, self.sequence)));
        self.events.insert(self.sequence, event);
    }

    /// Schedules a job to finish on its own at `at`, if it is still running then.
    pub fn finish_later(&mut self, job_id: &str, at: Duration, status: JobStatus) {
        self.schedule(at, Event::Finish { job_id: job_id.to_owned(), status });
    }

    /// Registers a sleeper due at `at`.
    pub fn wake_at(&mut self, at: Duration, waker: Option<Waker>) {
        self.schedule(at, Event::Wake(waker));
    }

    /// Carries out the next event due, moving the clock to it; `false` when none is left.
    pub fn step(&mut self) -> bool {
        let Some(Reverse((at, id))) = self.due.pop() else { return false };
        self.now = self.now.max(at);
        match self.events.remove(&id) {
            Some(Event::Act { number, request, fault, slot }) => {
                let outcome = self.act(number, &request, fault);
                *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(outcome);
            }
            Some(Event::Wake(waker)) => waker.into_iter().for_each(Waker::wake),
            Some(Event::Finish { job_id, status }) => {
                if let Some(job) = self.jobs.get_mut(&job_id) {
                    if !job.status.is_terminal() {
                        job.status = status;
                    }
                }
            }
            None => {}
        }
        true
    }

    /// Counts one request of the engine's, and stops a schedule that spins (caught as a violation).
    pub fn ask(&mut self) {
        self.asked += 1;
        assert!(self.asked <= RUNAWAY, "runaway: the engine asked for time or bytes {RUNAWAY} times");
    }

    /// Moves the clock to `at`, carrying out every event due by then, in order.
    pub fn advance_to(&mut self, at: Duration) {
        while self.due.peek().is_some_and(|Reverse((due, _))| *due <= at) {
            self.step();
        }
        self.now = self.now.max(at);
    }

    /// Carries out everything still due: the effects applied after every client gave up.
    pub fn drain(&mut self) {
        while self.step() {}
    }

    /// Sends `attempt`: draws its fault and latencies, schedules the server's act, and says when the client has
    /// its outcome and how to read it then.
    pub fn send(&mut self, attempt: Attempt) -> (Duration, Pending) {
        let fault = if self.script.is_empty() {
            if self.rng.chance(self.fault_percent) {
                self.rng.weighted(&Fault::WEIGHTS[1..])
            } else {
                Fault::None
            }
        } else {
            self.script.remove(0)
        };
        let number = self.sent.len() as u64 + 1;
        let method = attempt.request.method().clone();
        let path = attempt.request.uri().path().to_owned();
        let (at, timeout) = (self.now, attempt.timeout);
        self.sent.push(Sent { number, method, path, fault, at, timeout });
        let timeout = attempt.timeout;
        let start = self.now;
        let gives_up = start + timeout;
        let millis = |ms: u64| Duration::from_millis(ms);
        let network = millis(self.rng.between(1, 20));
        let limit_ms = timeout.as_millis().min(u128::from(u64::MAX)) as u64;
        // How long the server works before it acts, by the fault's kind.
        let work = match fault {
            Fault::LateEffect => timeout + millis(self.rng.between(1, 2_000)),
            Fault::SlowAnswer => millis(self.rng.below(limit_ms / 2 + 1)),
            _ => millis(self.rng.below((limit_ms / 4).clamp(1, 500))),
        };
        let acted_at = start + network + work;
        let answered_at = match fault {
            Fault::SlowAnswer => gives_up + millis(self.rng.between(1, 1_000)),
            _ => acted_at + network,
        };
        let lost = |delivery| TransportError::new(TransportErrorKind::ConnectionLost, delivery);
        let fixed = |outcome: Outcome| Pending::Fixed(Some(outcome));
        let (at, pending) = match fault {
            Fault::Refused => {
                (start + millis(1), fixed(Err(TransportError::new(TransportErrorKind::Connect, Delivery::NotSent))))
            }
            Fault::ResetBeforeRead => (start + network, fixed(Err(lost(Delivery::MaybeSent)))),
            Fault::GatewayBeforeActing => {
                let status = [502, 503, 504][self.rng.below(3) as usize];
                let retry = self.rng.chance(50).then(|| self.rng.between(0, 3).to_string());
                (answered_at, fixed(Ok(self.bare(status, retry.as_deref(), b""))))
            }
            Fault::RateLimitedSeconds => {
                let retry = self.rng.between(0, 5).to_string();
                (answered_at, fixed(Ok(self.bare(429, Some(&retry), b""))))
            }
            Fault::RateLimitedDate => {
                let when = self.wall_base + self.now + Duration::from_secs(self.rng.between(0, 5));
                let retry = httpdate::fmt_http_date(when);
                (answered_at, fixed(Ok(self.bare(429, Some(&retry), b""))))
            }
            Fault::RateLimitedBare => (answered_at, fixed(Ok(self.bare(429, None, b"")))),
            _ => {
                let slot: Slot = Arc::default();
                let request = Box::new(attempt.request);
                self.schedule(acted_at, Event::Act { number, request, fault, slot: Arc::clone(&slot) });
                (answered_at, Pending::Answer(slot))
            }
        };
        debug_assert!(fault.acts() == matches!(pending, Pending::Answer(_)));
        // The client has its outcome when the answer arrives, or at its timeout, whichever is first.
        if at > gives_up {
            let timed_out = TransportError::new(TransportErrorKind::Timeout, Delivery::MaybeSent);
            (gives_up, Pending::Fixed(Some(Err(timed_out))))
        } else {
            (at, pending)
        }
    }

    /// A response with a status, an optional Retry-After, the world's date, and a body.
    fn bare(&self, status: u16, retry_after: Option<&str>, body: &[u8]) -> Response<Vec<u8>> {
        let mut builder = Response::builder()
            .status(status)
            .header("date", httpdate::fmt_http_date(self.wall_base + self.now))
            .header("content-type", "application/json");
        if let Some(retry_after) = retry_after {
            builder = builder.header("retry-after", retry_after);
        }
        builder.body(body.to_vec()).unwrap_or_default()
    }

    /// The server acts on request `number`, as the API would, then answers as `fault` says.
    fn act(&mut self, number: u64, request: &Request<Vec<u8>>, fault: Fault) -> Outcome {
        let (status, body) = self.handle(number, request);
        match fault {
            Fault::ResetAfterActing => {
                Err(TransportError::new(TransportErrorKind::ConnectionLost, Delivery::MaybeSent))
            }
            Fault::ServerErrorAfterActing => {
                let status = [500, 503][self.rng.below(2) as usize];
                Ok(self.bare(status, None, b"{\"success\":false}"))
            }
            Fault::UnreadableSuccess if status == 200 => Ok(self.bare(200, None, b"<html>ok</html>")),
            Fault::NoContent if status == 200 => Ok(self.bare(204, None, b"")),
            Fault::CutShort if status == 200 => {
                Err(TransportError::new(TransportErrorKind::ConnectionLost, Delivery::MaybeSent)
                    .with_status(sendkit_proto::http::StatusCode::OK))
            }
            _ => Ok(self.bare(status, None, body.as_bytes())),
        }
    }

    /// The API itself: cancel, get, enrich, over the model; what it did goes to the ledger.
    fn handle(&mut self, number: u64, request: &Request<Vec<u8>>) -> (u16, String) {
        let path = request.uri().path();
        if request.method() == Method::POST && path == "/v1/enrichment/enrich" {
            return self.enrich(request.body());
        }
        let Some(rest) = path.strip_prefix("/v1/enrichment/jobs/") else {
            return (404, error("NOT_FOUND", "No such route"));
        };
        let (job_id, cancel) = match rest.strip_suffix("/cancel") {
            Some(job_id) => (job_id, true),
            None => (rest, false),
        };
        let Some(job) = self.jobs.get_mut(job_id) else {
            return (404, error("NOT_FOUND", "Job not found or expired"));
        };
        if cancel {
            if matches!(job.status, JobStatus::Pending | JobStatus::Processing) {
                job.status = JobStatus::Cancelled;
                job.cancelled_by.push(number);
            } else {
                let message = format!("Job cannot be cancelled in status \\\"{}\\\"", job.status);
                return (400, error("VALIDATION_ERROR", &message));
            }
        }
        (200, format!(r#"{{"success":true,"data":{}}}"#, job_json(job_id, &job.status)))
    }

    fn enrich(&mut self, body: &[u8]) -> (u16, String) {
        let count = self.enriched.entry(body.to_vec()).or_default();
        *count += 1;
        let job_id = format!("enriched_{}", self.jobs.len() + 1);
        self.jobs.insert(job_id.clone(), ModelJob { status: JobStatus::Pending, cancelled_by: Vec::new() });
        let job = format!(
            r#"{{"jobId":"{job_id}","type":"email_verification","status":"pending","totalItems":1,"creditsUsed":1}}"#
        );
        (200, format!(r#"{{"success":true,"data":{{"jobs":[{job}],"totalLeads":1,"totalCreditsCharged":1}}}}"#))
    }
}

fn job_json(job_id: &str, status: &JobStatus) -> String {
    format!(r#"{{"id":"{job_id}","type":"email_verification","status":"{status}"}}"#)
}

fn error(code: &str, message: &str) -> String {
    format!(r#"{{"success":false,"error":{{"code":"{code}","message":"{message}"}}}}"#)
}

/// How a client reads its outcome when it is due.
pub enum Pending {
    /// Known when sent: a refusal, a reset, a gateway's answer, a timeout.
    Fixed(Option<Outcome>),
    /// The server's answer, put there when it acted.
    Answer(Slot),
}

impl Pending {
    /// The outcome, now that it is due.
    pub fn take(self) -> Outcome {
        match self {
            Pending::Fixed(outcome) => outcome.unwrap_or_else(|| Err(lost())),
            Pending::Answer(slot) => {
                slot.lock().unwrap_or_else(|p| p.into_inner()).take().unwrap_or_else(|| Err(lost()))
            }
        }
    }
}

fn lost() -> TransportError {
    TransportError::new(TransportErrorKind::ConnectionLost, Delivery::MaybeSent)
}
