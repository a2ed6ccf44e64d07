//! Outcomes observed, not guessed: every stage at which a call can fail, for every operation, through every client,
//! each reported outcome checked against the emulator's own record of how far the request got (read, acted on,
//! answered). With `SENDKIT_OBSERVED_TABLE=path`, the table in RELIABILITY.md is written there.
//!
//! What must hold in every cell:
//! - a call reported "never sent" was never read by the emulator;
//! - a call the emulator acted on is reported done, or "may have taken effect", never "did not take effect";
//! - an enrich is never sent again once the emulator read it;
//! - a cancel reported done left the job cancelled;
//! - ureq and hyper print the same message (ports and times aside).

use std::sync::Mutex;
use std::time::Duration;

use sendkit_mock::pki_types::CertificateDer;
use sendkit_mock::{Fault, MockServer, Route};
use sendkit_model::{EnrichRequest, EnrichmentType, Job, JobStatus, JobType};
use sendkit_proto::{Config, Error, Proxy};
use sendkit_tests::{quick_retries, Adapter, BlackHole};

const KEY: &str = "sk_live_observed_0123";
const JOB: &str = "job_1";
const BODY_LIMIT: u64 = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Refused,
    ConnectHang,
    HandshakeStall,
    TlsAlertAfterRequest,
    ResetBeforeRead,
    ResetAfterRead,
    CloseAfterHead,
    BodyCutShort,
    UnreadableSuccess,
    NoContent,
    OversizedSuccess,
    ServerErrorAfterEffect,
}

const STAGES: [Stage; 12] = [
    Stage::Refused,
    Stage::ConnectHang,
    Stage::HandshakeStall,
    Stage::TlsAlertAfterRequest,
    Stage::ResetBeforeRead,
    Stage::ResetAfterRead,
    Stage::CloseAfterHead,
    Stage::BodyCutShort,
    Stage::UnreadableSuccess,
    Stage::NoContent,
    Stage::OversizedSuccess,
    Stage::ServerErrorAfterEffect,
];

impl Stage {
    fn describe(self) -> &'static str {
        match self {
            Stage::Refused => "connection refused",
            Stage::ConnectHang => "connect never completes",
            Stage::HandshakeStall => "TLS handshake stalls",
            Stage::TlsAlertAfterRequest => "TLS fails after the request",
            Stage::ResetBeforeRead => "reset before the request is read",
            Stage::ResetAfterRead => "reset after the request is read",
            Stage::CloseAfterHead => "closed after the answer's head",
            Stage::BodyCutShort => "answer's body cut short",
            Stage::UnreadableSuccess => "unreadable 2xx",
            Stage::NoContent => "204, no body",
            Stage::OversizedSuccess => "2xx over the body limit",
            Stage::ServerErrorAfterEffect => "500 after the effect",
        }
    }

    fn tls(self) -> bool {
        matches!(self, Stage::HandshakeStall | Stage::TlsAlertAfterRequest)
    }

    /// The fault the emulator plays for a call on `route`, if the stage is one the emulator plays.
    fn fault(self, route: Route) -> Option<Fault> {
        let done = r#"{"success":true,"data":{"id":"job_1","type":"email_verification","status":"cancelled"}}"#;
        let once = |fault: Fault| Some(fault.on(route).times(1));
        match self {
            Stage::Refused | Stage::ConnectHang => None,
            Stage::HandshakeStall => Some(Fault::stall_handshake()),
            Stage::TlsAlertAfterRequest => once(Fault::tls_alert()),
            Stage::ResetBeforeRead => Some(Fault::reset_on_accept().times(1)),
            Stage::ResetAfterRead => once(Fault::reset()),
            Stage::CloseAfterHead => once(Fault::status(200).body(done).truncate_body(0).after_acting()),
            Stage::BodyCutShort => once(Fault::status(200).body(done).truncate_body(12).after_acting()),
            Stage::UnreadableSuccess => {
                once(Fault::status(200).body(r#"{"success":true,"data":{"id":7}}"#).after_acting())
            }
            Stage::NoContent => once(Fault::status(204).after_acting()),
            Stage::OversizedSuccess => once(Fault::status(200).body(done).endless_body().after_acting()),
            Stage::ServerErrorAfterEffect => once(
                Fault::status(500)
                    .header("content-type", "application/json")
                    .body(r#"{"success":false,"error":{"code":"INTERNAL_ERROR","message":"failed after acting"}}"#)
                    .after_acting(),
            ),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Get,
    Cancel,
    Enrich,
}

const OPS: [Op; 3] = [Op::Get, Op::Cancel, Op::Enrich];

impl Op {
    fn route(self) -> Route {
        match self {
            Op::Get => Route::Get,
            Op::Cancel => Route::Cancel,
            Op::Enrich => Route::Enrich,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Op::Get => "get",
            Op::Cancel => "cancel",
            Op::Enrich => "enrich",
        }
    }

    fn run(self, client: &dyn Adapter) -> Result<(), Error> {
        match self {
            Op::Get => client.get_job(JOB).map(|_| ()),
            Op::Cancel => client.cancel_job(JOB).map(|_| ()),
            Op::Enrich => {
                client.enrich(EnrichRequest::new(["507f1f77bcf86cd799439011"], [EnrichmentType::Email])).map(|_| ())
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Client {
    Ureq,
    Hyper,
    InMemory,
    BlockingInMemory,
}

const CLIENTS: [Client; 4] = [Client::Ureq, Client::Hyper, Client::InMemory, Client::BlockingInMemory];

impl Client {
    /// Whether the client can meet the stage: the in-memory transport has no sockets, so no TLS, no accept queue.
    fn meets(self, stage: Stage) -> bool {
        self != Client::InMemory || !(stage.tls() || matches!(stage, Stage::ConnectHang | Stage::ResetBeforeRead))
    }

    fn connect(self, config: Config, root: Option<&CertificateDer<'static>>) -> Box<dyn Adapter> {
        match (self, root) {
            (Client::Ureq, Some(root)) => sendkit_tests::ureq_trusting(config, root),
            (Client::Hyper, Some(root)) => sendkit_tests::hyper_trusting(config, root),
            (Client::Ureq, None) => sendkit_tests::ureq(config),
            (Client::Hyper, None) => sendkit_tests::hyper(config),
            (Client::InMemory, _) => sendkit_tests::in_memory(config),
            (Client::BlockingInMemory, _) => sendkit_tests::blocking_in_memory(config),
        }
    }
}

/// What one cell saw: the client's report and the emulator's record.
struct Cell {
    /// `done`, `may have taken effect`, `not done, never sent`, or `not done`.
    outcome: &'static str,
    message: String,
    read: usize,
    acted: usize,
}

/// Runs `op` through `client` against a fresh server playing `stage`, and checks the report against the record.
fn cell(stage: Stage, op: Op, client: Client, problems: &mut Vec<String>) -> Cell {
    let mut _hole = None;
    let mut root = None;
    let server = match stage {
        Stage::Refused => None,
        Stage::ConnectHang => None,
        _ if stage.tls() => {
            let (server, cert) = sendkit_tests::tls_emulator(KEY);
            root = Some(cert);
            Some(server)
        }
        _ => Some(MockServer::builder().api_key(KEY).start().unwrap()),
    };
    let base_url = match (&server, stage) {
        (Some(server), _) => server.base_url(),
        (None, Stage::ConnectHang) => _hole.insert(BlackHole::start()).base_url(),
        (None, _) => {
            let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            format!("http://127.0.0.1:{port}")
        }
    };
    if let Some(server) = &server {
        server.insert_job(Job::new(JOB, JobType::EmailVerification, JobStatus::Processing));
        if let Some(fault) = stage.fault(op.route()) {
            server.inject(fault);
        }
    }
    let config = Config::builder(KEY)
        .base_url(base_url)
        .retry(quick_retries())
        .proxy(Proxy::Off)
        .attempt_timeout(Duration::from_millis(400))
        .body_limit(BODY_LIMIT)
        .build()
        .unwrap();
    let result = op.run(&*client.connect(config, root.as_ref()));
    let records: Vec<_> = server
        .as_ref()
        .map(|server| server.ledger().requests_seen.into_iter().filter(|r| r.route == op.route()).collect())
        .unwrap_or_default();
    let (read, acted) = (records.len(), records.iter().filter(|r| r.acted).count());
    let here = format!("{} / {} / {client:?}", stage.describe(), op.name());
    let (outcome, message) = match &result {
        Ok(()) => ("done", String::from("ok")),
        Err(error) if error.may_have_taken_effect() => ("may have taken effect", error.to_string()),
        Err(error) if error.to_string().contains("never sent") => ("not done, never sent", error.to_string()),
        Err(error) => ("not done", error.to_string()),
    };
    if outcome == "not done, never sent" && read > 0 {
        problems.push(format!("{here}: reported never sent, but the emulator read {read}: {message}"));
    }
    if acted > 0 && outcome.starts_with("not done") && op != Op::Get {
        problems.push(format!("{here}: the emulator acted, but the report says not done: {message}"));
    }
    if op == Op::Enrich && read > 1 {
        problems.push(format!("{here}: enrich sent {read} times"));
    }
    if op == Op::Cancel && result.is_ok() {
        let status = server.as_ref().and_then(|server| server.job(JOB)).map(|job| job.status);
        if status != Some(JobStatus::Cancelled) {
            problems.push(format!("{here}: reported cancelled, the emulator has it {status:?}"));
        }
    }
    Cell { outcome, message, read, acted }
}

/// Ports and durations vary from run to run; the rest of a message must not.
fn normalized(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            while chars.peek().is_some_and(|c| c.is_ascii_digit() || *c == '.') {
                chars.next();
            }
            out.push('N');
        } else {
            out.push(c);
        }
    }
    out
}

static TABLE: Mutex<Vec<String>> = Mutex::new(Vec::new());

#[test]
fn every_reported_outcome_agrees_with_the_emulators_record() {
    let mut problems = Vec::new();
    let mut cells = 0;
    let mut rows = Vec::new();
    for stage in STAGES {
        let mut columns = Vec::new();
        for op in OPS {
            let mut said = Vec::new();
            for client in CLIENTS.into_iter().filter(|client| client.meets(stage)) {
                let seen = cell(stage, op, client, &mut problems);
                cells += 1;
                said.push((client, seen));
            }
            let [(_, ureq), (_, hyper), ..] = &said[..] else { unreachable!("ureq and hyper meet every stage") };
            if normalized(&ureq.message) != normalized(&hyper.message) {
                problems.push(format!(
                    "{} / {}: the clients differ:\n   ureq:  {}\n   hyper: {}",
                    stage.describe(),
                    op.name(),
                    ureq.message,
                    hyper.message
                ));
            }
            let outcomes: Vec<&str> = said.iter().map(|(_, cell)| cell.outcome).collect();
            let agreed =
                if outcomes.iter().all(|o| *o == outcomes[0]) { outcomes[0].to_owned() } else { outcomes.join(" / ") };
            columns.push(format!("{agreed} (read {}, acted {})", ureq.read, ureq.acted));
        }
        rows.push(format!("| {} | {} |", stage.describe(), columns.join(" | ")));
    }
    let mut table = TABLE.lock().unwrap();
    table.push(format!("{cells} cells (stage x operation x client), {} problems\n", problems.len()));
    table.push("| failure | get | cancel | enrich |\n| --- | --- | --- | --- |".to_owned());
    table.extend(rows);
    if let Ok(path) = std::env::var("SENDKIT_OBSERVED_TABLE") {
        std::fs::write(path, table.join("\n") + "\n").unwrap();
    }
    assert!(
        problems.is_empty(),
        "{} of {cells} cells disagree with the emulator:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// A cancel whose first attempts may have gone through, and whose later ones are refused or rate limited: the
/// client reads the job instead of reporting the refusal, through every client.
#[test]
fn a_refusal_after_an_attempt_that_may_have_cancelled_leads_to_the_read() {
    let cases: [(&str, Vec<Fault>); 2] = [
        // Reset after acting, twice; the third attempt meets the API's own refusal of a cancelled job.
        ("reset, reset, then 400 in status cancelled", vec![Fault::reset().after_acting().on(Route::Cancel).times(2)]),
        // Reset after acting, then a rate limit asking for a day.
        (
            "reset, then 429 Retry-After: 86400",
            vec![
                Fault::reset().after_acting().on(Route::Cancel).times(1),
                Fault::status(429).header("retry-after", "86400").on(Route::Cancel),
            ],
        ),
    ];
    for (case, faults) in cases {
        for client in CLIENTS {
            let server = MockServer::builder().api_key(KEY).start().unwrap();
            server.insert_job(Job::new(JOB, JobType::EmailVerification, JobStatus::Processing));
            for fault in &faults {
                server.inject(fault.clone());
            }
            let config = Config::builder(KEY)
                .base_url(server.base_url())
                .retry(quick_retries())
                .proxy(Proxy::Off)
                .build()
                .unwrap();
            let job = client.connect(config, None).cancel_job(JOB);
            let job = job.unwrap_or_else(|error| panic!("{case} / {client:?}: {error}"));
            assert_eq!(job.status, JobStatus::Cancelled, "{case} / {client:?}");
            assert_eq!(server.job(JOB).unwrap().status, JobStatus::Cancelled);
            let reads = server.ledger().requests_seen.iter().filter(|r| r.route == Route::Get).count();
            assert_eq!(reads, 1, "{case} / {client:?}: settled by one read");
        }
    }
}

/// Without a read that settles it (the read fails too), the refusal still says the cancel may have taken effect.
#[test]
fn an_unsettled_cancel_still_says_it_may_have_taken_effect() {
    for client in CLIENTS {
        let server = MockServer::builder().api_key(KEY).start().unwrap();
        server.insert_job(Job::new(JOB, JobType::EmailVerification, JobStatus::Processing));
        server.inject(Fault::reset().after_acting().on(Route::Cancel).times(1));
        server.inject(Fault::status(503).on(Route::Get));
        let config =
            Config::builder(KEY).base_url(server.base_url()).retry(quick_retries()).proxy(Proxy::Off).build().unwrap();
        let error = client.connect(config, None).cancel_job(JOB).unwrap_err();
        assert!(matches!(error, Error::NotCancellable { .. }), "{client:?}: {error}");
        assert!(error.may_have_taken_effect(), "{client:?}: {error}");
        assert!(error.to_string().contains("an earlier attempt may have reached the server"), "{error}");
    }
}
