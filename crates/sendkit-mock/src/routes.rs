//! What the emulator answers: the three enrichment calls, with the API's auth rules and error envelopes.

use std::io;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use http::{header, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use sendkit_model::{
    CreatedJob, EnrichRequest, EnrichResponse, EnrichmentType, ErrorCode, ErrorEnvelope, Job, JobMetadata, JobStatus,
    JobType, SuccessEnvelope,
};
use serde::Serialize;

use crate::body::AnswerBody;
use crate::connection::Ending;
use crate::fault::{Action, BodyShape, FaultSpec, Route};
use crate::state::{job_type_name, Ledger, RequestRecord, State, StoredJob};

/// The largest request body the emulator reads.
const REQUEST_LIMIT: usize = 1024 * 1024;

pub(crate) struct Shared {
    pub(crate) state: Mutex<State>,
    pub(crate) api_key: String,
    pub(crate) workspace_id: Option<String>,
}

impl Shared {
    /// The state, even if a handler panicked while holding it: the emulator keeps serving.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// An answer whose body is whole; faults shape theirs with `AnswerBody`.
type Answer = Response<Bytes>;

/// A request refused before it reaches a job: becomes an error envelope.
struct Refusal {
    status: StatusCode,
    code: ErrorCode,
    message: &'static str,
}

impl Refusal {
    fn new(status: StatusCode, code: ErrorCode, message: &'static str) -> Self {
        Self { status, code, message }
    }

    fn answer(self) -> Answer {
        error(self.status, self.code, self.message)
    }
}

pub(crate) async fn handle(
    shared: Arc<Shared>,
    ending: Ending,
    request: Request<Incoming>,
) -> Result<Response<AnswerBody>, io::Error> {
    if request.uri().path().starts_with(ADMIN_PREFIX) {
        return Ok(admin(&shared, request).await.map(AnswerBody::whole));
    }
    let (parts, body) = request.into_parts();
    let (number, call) = {
        let mut state = shared.lock();
        state.ledger.requests += 1;
        if parts.version == http::Version::HTTP_2 {
            state.ledger.http2_requests += 1;
        }
        (state.ledger.requests, route(&parts.method, parts.uri.path()))
    };
    // Every answer names its request, as the API's gateway does, so that errors can quote it.
    let request_id = http::HeaderValue::from_str(&format!("req_{number}")).ok();
    let with_id = |mut answer: Response<AnswerBody>| {
        if let Some(id) = &request_id {
            answer.headers_mut().entry(X_REQUEST_ID).or_insert_with(|| id.clone());
        }
        answer
    };
    let call = match call {
        Ok(call) => call,
        Err(refusal) => return Ok(with_id(refusal.answer().map(AnswerBody::whole))),
    };
    let (route, job_id) = (call.route(), call.job_id().map(str::to_owned));
    let advertised;
    let (fault, seen) = {
        let mut state = shared.lock();
        let fault = state.take_fault(route, job_id.as_deref());
        advertised = state.take_advertised();
        let seen = state.ledger.requests_seen.len();
        if seen < Ledger::MAX_RECORDS {
            state.ledger.requests_seen.push(RequestRecord { route, job_id, acted: false, answered: false });
        }
        (fault, seen)
    };
    // What the emulator did with the request, for the ledger: the ground truth of a test.
    let acted = |answer: &Answer| {
        let acted = answer.status().is_success() && matches!(route, Route::Cancel | Route::Enrich);
        if let Some(record) = shared.lock().ledger.requests_seen.get_mut(seen) {
            record.acted = acted;
        }
    };
    let answered = {
        let shared = Arc::clone(&shared);
        move || {
            if let Some(record) = shared.lock().ledger.requests_seen.get_mut(seen) {
                record.answered = true;
            }
        }
    };
    let advertise = |headers: &mut http::HeaderMap| {
        for (name, value) in &advertised {
            if let Ok(value) = http::HeaderValue::from_str(value) {
                headers.insert(*name, value);
            }
        }
    };
    let Some(fault) = fault else {
        let mut answer = serve(&shared, &parts.headers, call, body).await;
        acted(&answer);
        advertise(answer.headers_mut());
        return Ok(with_id(answer.map(AnswerBody::whole).map(|body| body.on_end(answered, true))));
    };
    if fault.after_acting || matches!(fault.action, Action::LoseAnswer) {
        let answer = serve(&shared, &parts.headers, call, body).await;
        acted(&answer);
    }
    if !fault.delay.is_zero() {
        tokio::time::sleep(fault.delay).await;
    }
    match fault.action {
        Action::Respond { status, headers, body, shape } => {
            let declared = body.len();
            let whole = !matches!(shape, BodyShape::Truncate { .. });
            let mut answer = Response::new(AnswerBody::shaped(body, shape).on_end(answered, whole));
            *answer.status_mut() = status;
            for (name, value) in headers {
                answer.headers_mut().append(name, value);
            }
            if let BodyShape::Truncate { .. } = shape {
                answer.headers_mut().insert(header::CONTENT_LENGTH, declared.into());
            }
            Ok(with_id(answer))
        }
        Action::RateLimit { .. } => {
            let page =
                "<html>\r\n<head><title>429 Too Many Requests</title></head>\r\n<body>\r\n<center><h1>429 Too Many \
                        Requests</h1></center>\r\n</body>\r\n</html>\r\n";
            let mut answer =
                Response::new(AnswerBody::whole(Bytes::from_static(page.as_bytes())).on_end(answered, true));
            *answer.status_mut() = StatusCode::TOO_MANY_REQUESTS;
            answer.headers_mut().insert(header::CONTENT_TYPE, http::HeaderValue::from_static("text/html"));
            advertise(answer.headers_mut());
            Ok(with_id(answer))
        }
        Action::Reset | Action::StallHandshake | Action::ResetOnAccept => {
            ending.reset();
            Err(io::Error::new(io::ErrorKind::ConnectionReset, "fault: reset"))
        }
        Action::LoseAnswer => Err(io::Error::new(io::ErrorKind::ConnectionAborted, "fault: answer lost")),
        Action::TlsAlert => {
            ending.tls_alert();
            Err(io::Error::new(io::ErrorKind::ConnectionAborted, "fault: TLS alert"))
        }
    }
}

/// The API's own behaviour: authenticate, then act.
async fn serve(shared: &Shared, headers: &http::HeaderMap, call: Call, body: Incoming) -> Answer {
    if let Err(refusal) = authenticate(shared, headers) {
        return refusal.answer();
    }
    match call {
        Call::Get(id) => get(shared, &id),
        Call::Cancel(id) => cancel(shared, &id),
        Call::Enrich => match Limited::new(body, REQUEST_LIMIT).collect().await {
            Ok(collected) => enrich(shared, &collected.to_bytes()),
            Err(_) => error(StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::ValidationError, "Request body too large"),
        },
    }
}

const X_REQUEST_ID: http::HeaderName = http::HeaderName::from_static("x-request-id");

/// Where the emulator's own controls live: a path the real API does not use.
pub(crate) const ADMIN_PREFIX: &str = "/__sendkit_mock/";

/// `POST /__sendkit_mock/faults` arms a fault (JSON, see `FaultSpec`), `DELETE` disarms them all,
/// `GET /__sendkit_mock/ledger` reads the ledger, `POST /__sendkit_mock/advance?ms=N` moves the clock.
async fn admin(shared: &Shared, request: Request<Incoming>) -> Answer {
    let (parts, body) = request.into_parts();
    let path = &parts.uri.path()[ADMIN_PREFIX.len()..];
    let bad = |message: &str| error(StatusCode::BAD_REQUEST, ErrorCode::ValidationError, message);
    match (&parts.method, path) {
        (&Method::POST, "faults") => {
            let Ok(collected) = Limited::new(body, REQUEST_LIMIT).collect().await else {
                return bad("fault body too large");
            };
            let spec = match serde_json::from_slice::<FaultSpec>(&collected.to_bytes()) {
                Ok(spec) => spec,
                Err(err) => return bad(&format!("fault: {err}")),
            };
            match spec.into_fault() {
                Ok(fault) => {
                    shared.lock().faults.push(fault);
                    success(&"armed")
                }
                Err(message) => bad(&message),
            }
        }
        (&Method::DELETE, "faults") => {
            shared.lock().faults.clear();
            success(&"cleared")
        }
        (&Method::GET, "ledger") => success(&shared.lock().ledger),
        (&Method::POST, "advance") => {
            let ms = parts.uri.query().and_then(|q| q.strip_prefix("ms=")).and_then(|ms| ms.parse::<u64>().ok());
            let Some(ms) = ms else { return bad("advance needs ?ms=N") };
            shared.lock().advance(std::time::Duration::from_millis(ms));
            success(&"advanced")
        }
        _ => error(StatusCode::NOT_FOUND, ErrorCode::NotFound, "Route not found"),
    }
}

enum Call {
    Get(String),
    Cancel(String),
    Enrich,
}

impl Call {
    fn route(&self) -> Route {
        match self {
            Self::Get(_) => Route::Get,
            Self::Cancel(_) => Route::Cancel,
            Self::Enrich => Route::Enrich,
        }
    }

    fn job_id(&self) -> Option<&str> {
        match self {
            Self::Get(id) | Self::Cancel(id) => Some(id),
            Self::Enrich => None,
        }
    }
}

fn route(method: &Method, path: &str) -> Result<Call, Refusal> {
    let not_found = || Refusal::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, "Route not found");
    let rest = path.strip_prefix("/v1/enrichment/").ok_or_else(not_found)?;
    let segments: Vec<&str> = rest.split('/').collect();
    let (call, allowed) = match segments.as_slice() {
        ["enrich"] => (Call::Enrich, Method::POST),
        ["jobs", id] => (Call::Get(decode(id)?), Method::GET),
        ["jobs", id, "cancel"] => (Call::Cancel(decode(id)?), Method::POST),
        _ => return Err(not_found()),
    };
    if *method != allowed {
        return Err(Refusal::new(
            StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::Unknown("METHOD_NOT_ALLOWED".into()),
            "Method not allowed",
        ));
    }
    Ok(call)
}

/// Percent-decodes one path segment into the job ID the client meant.
fn decode(segment: &str) -> Result<String, Refusal> {
    let invalid = || Refusal::new(StatusCode::BAD_REQUEST, ErrorCode::ValidationError, "Invalid job ID encoding");
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok()).ok_or_else(invalid)?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| invalid())?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    let id = String::from_utf8(out).map_err(|_| invalid())?;
    if id.is_empty() {
        return Err(invalid());
    }
    Ok(id)
}

/// Either header authenticates; every one present must hold the key. Platform keys must name a workspace.
fn authenticate(shared: &Shared, headers: &http::HeaderMap) -> Result<(), Refusal> {
    let unauthorized = |message| Refusal::new(StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized, message);
    let api_key = headers.get("x-api-key").map(|v| v.as_bytes());
    let bearer = headers.get(header::AUTHORIZATION).map(|v| v.as_bytes().strip_prefix(b"Bearer ").unwrap_or(b""));
    if api_key.is_none() && bearer.is_none() {
        return Err(unauthorized("Missing API key"));
    }
    let key = shared.api_key.as_bytes();
    if api_key.is_some_and(|given| given != key) || bearer.is_some_and(|given| given != key) {
        return Err(unauthorized("Invalid API key"));
    }
    if shared.api_key.starts_with("sk_user_") {
        let workspace = headers.get("x-workspace-id").map(|v| v.as_bytes()).filter(|v| !v.is_empty());
        let Some(workspace) = workspace else {
            return Err(Refusal::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::ValidationError,
                "X-Workspace-Id header is required when using a platform API key",
            ));
        };
        if shared.workspace_id.as_ref().is_some_and(|wanted| wanted.as_bytes() != workspace) {
            return Err(Refusal::new(StatusCode::FORBIDDEN, ErrorCode::Forbidden, "No access to this workspace"));
        }
    }
    Ok(())
}

fn job_not_found() -> Answer {
    error(StatusCode::NOT_FOUND, ErrorCode::NotFound, "Job not found or expired")
}

fn get(shared: &Shared, id: &str) -> Answer {
    match shared.lock().job_mut(id) {
        Some(stored) => success(&stored.job),
        None => job_not_found(),
    }
}

fn cancel(shared: &Shared, id: &str) -> Answer {
    let mut state = shared.lock();
    let now = state.now();
    let Some(stored) = state.job_mut(id) else {
        return job_not_found();
    };
    if !stored.job.status.is_cancellable() {
        let message = format!("Job cannot be cancelled in status \"{}\"", stored.job.status);
        return error(StatusCode::BAD_REQUEST, ErrorCode::ValidationError, &message);
    }
    stored.job.status = JobStatus::Cancelled;
    stored.job.updated_at = Some(now);
    stored.job.completed_at = Some(now);
    // A cancelled job never moves again.
    stored.pinned = true;
    let answer = success(&stored.job);
    *state.ledger.cancels.entry(id.to_owned()).or_default() += 1;
    answer
}

fn enrich(shared: &Shared, body: &[u8]) -> Answer {
    let invalid = |message: &str| error(StatusCode::BAD_REQUEST, ErrorCode::ValidationError, message);
    let Ok(request) = serde_json::from_slice::<EnrichRequest>(body) else {
        return invalid("Body must be {\"leadIds\": [...], \"enrichmentTypes\": [...]}");
    };
    if request.lead_ids.is_empty() {
        return invalid("leadIds is required");
    }
    if request.lead_ids.iter().any(|id| id.len() != 24 || !id.bytes().all(|b| b.is_ascii_hexdigit())) {
        return invalid("leadIds must be 24-character hexadecimal IDs");
    }
    if request.enrichment_types.is_empty() {
        return invalid("enrichmentTypes is required");
    }
    if let Some(unknown) = request.enrichment_types.iter().find(|t| matches!(t, EnrichmentType::Unknown(_))) {
        return invalid(&format!("Unknown enrichment type \"{unknown}\""));
    }
    let leads = request.lead_ids.len() as u64;
    let mut state = shared.lock();
    let now = state.now();
    let mut created = Vec::with_capacity(request.enrichment_types.len());
    let mut charged = 0;
    for enrichment in &request.enrichment_types {
        let type_name = job_type_name(enrichment);
        let credits = leads.saturating_mul(enrichment.credits_per_lead().unwrap_or(0));
        charged += credits;
        let id = state.new_job_id(type_name);
        let mut job = Job::new(id.clone(), JobType::from(type_name), JobStatus::Pending);
        job.metadata = Some(JobMetadata::new(leads, credits));
        job.total_leads = Some(leads);
        job.created_at = Some(now);
        job.updated_at = Some(now);
        created.push(CreatedJob::new(id.clone(), job.job_type.clone(), JobStatus::Pending, leads, credits));
        state.jobs.insert(id, StoredJob { job, pinned: false, created: now });
    }
    state.ledger.enrich_calls += 1;
    state.ledger.credits_charged += charged;
    success(&EnrichResponse::new(created, leads, charged))
}

fn success<T: Serialize>(data: &T) -> Answer {
    json(StatusCode::OK, &SuccessEnvelope::new(data))
}

pub(crate) fn error(status: StatusCode, code: ErrorCode, message: &str) -> Answer {
    json(status, &ErrorEnvelope::new(code, message))
}

fn json<T: Serialize>(status: StatusCode, body: &T) -> Answer {
    // These model types always serialize; an empty body would be the emulator's bug, visible to the client.
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut answer = Response::new(Bytes::from(bytes));
    *answer.status_mut() = status;
    answer.headers_mut().insert(header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    answer
}
