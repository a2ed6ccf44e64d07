//! What the caller sees: each failure a call can meet, through both clients, with the error's message asserted in
//! full. The same failure must read the same through both (ports and times aside). With
//! `SENDKIT_OUTCOMES_TABLE=path`, the rows are also written as the Markdown table in RELIABILITY.md.

use std::net::TcpListener;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sendkit_mock::{Fault, MockServer, Route};
use sendkit_model::{EnrichRequest, EnrichmentType, Job, JobStatus, JobType};
use sendkit_proto::{Config, ConfigBuilder, Error, Proxy, RetryPolicy};
use sendkit_tests::{quick_retries, Adapter, Connect};

const KEY: &str = "sk_live_outcomes_0123";
const LEAD: &str = "507f1f77bcf86cd799439011";

/// One row: what failed, the call, and what both clients said.
struct Row {
    failure: &'static str,
    outcome: String,
}

static ROWS: Mutex<Vec<Row>> = Mutex::new(Vec::new());

/// Every row that did not read as expected: the test reports them all at once, not only the first.
static MISMATCHES: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// `assert_eq!`, recorded rather than panicking.
macro_rules! expect_eq {
    ($said:expr, $expected:expr $(, $($context:tt)*)?) => {{
        let (said, expected): (&str, &str) = (&$said, &$expected);
        if said != expected {
            MISMATCHES.lock().unwrap().push(format!("line {}:\n   said {said:?}\n   want {expected:?}", line!()));
        }
    }};
}

/// `assert!`, recorded rather than panicking.
macro_rules! expect {
    ($condition:expr, $($message:tt)+) => {{
        if !$condition {
            MISMATCHES.lock().unwrap().push(format!("line {}: {}", line!(), format!($($message)+)));
        }
    }};
}

fn base(url: &str) -> ConfigBuilder {
    Config::builder(KEY).base_url(url).retry(quick_retries()).proxy(Proxy::Off)
}

/// Ports and durations vary from run to run; the rest of a message must not.
fn normalized(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find(|c: char| c.is_ascii_digit()) {
        let (before, digits) = rest.split_at(at);
        let end = digits.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(digits.len());
        let (number, after) = digits.split_at(end);
        out.push_str(before);
        let port = out.ends_with("127.0.0.1:") || out.ends_with("localhost:");
        let elapsed = before.ends_with(" in ") && (after.starts_with("ms") || after.starts_with('s'));
        out.push_str(if port {
            "PORT"
        } else if elapsed {
            "T"
        } else {
            number
        });
        rest = if elapsed { after.trim_start_matches("ms").trim_start_matches('s') } else { after };
    }
    out.push_str(rest);
    out
}

/// Runs `call` through both clients, each against a fresh `setup`, checks both say the same, and records the row.
fn row<S>(failure: &'static str, setup: impl Fn() -> (S, Config), call: impl Fn(&dyn Adapter) -> String) -> String {
    let said: Vec<String> = [sendkit_tests::ureq as Connect, sendkit_tests::hyper]
        .into_iter()
        .map(|connect| {
            let (_keep, config) = setup();
            normalized(&call(&*connect(config)))
        })
        .collect();
    if said[0] != said[1] {
        let mismatch = format!("{failure}: ureq and hyper must say the same:\n   {}\n   {}", said[0], said[1]);
        MISMATCHES.lock().unwrap().push(mismatch);
    }
    ROWS.lock().unwrap().push(Row { failure, outcome: said[0].clone() });
    said[0].clone()
}

fn error_text<T: std::fmt::Debug>(result: Result<T, Error>) -> String {
    let error = result.expect_err("the call should fail");
    format!("{}{}", if error.may_have_taken_effect() { "[may have taken effect] " } else { "" }, error)
}

fn emulator() -> MockServer {
    let server = MockServer::builder().api_key(KEY).start().unwrap();
    server.insert_job(Job::new("job_1", JobType::EmailVerification, JobStatus::Processing));
    server.insert_job(Job::new("done", JobType::EmailVerification, JobStatus::Completed));
    server
}

fn with_fault(fault: Fault) -> impl Fn() -> (MockServer, Config) {
    move || {
        let server = emulator();
        server.inject(fault.clone());
        let config = base(&server.base_url()).attempt_timeout(Duration::from_millis(500)).build().unwrap();
        (server, config)
    }
}

fn enrich(client: &dyn Adapter) -> Result<(), Error> {
    client.enrich(EnrichRequest::new([LEAD], [EnrichmentType::Email])).map(|_| ())
}

#[test]
fn what_the_caller_sees() {
    let said = row(
        "unresolvable host (a typo in SENDKIT_BASE_URL)",
        || ((), base("https://sendkit-test.invalid").build().unwrap()),
        |c| error_text(c.get_job("job_1")),
    );
    expect!(said.starts_with("get_job job_1: could not resolve the host: "), "{said}");
    expect!(said.ends_with("(sendkit-test.invalid:443, 3 attempts in T; the request was never sent)"), "{said}");

    let said = row(
        "connection refused",
        || {
            let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            ((), base(&format!("http://127.0.0.1:{port}")).build().unwrap())
        },
        |c| error_text(enrich(c)),
    );
    expect!(said.starts_with("enrich: could not connect: Connection refused"), "{said}");
    expect!(said.ends_with("(127.0.0.1:PORT, 3 attempts in T; the request was never sent)"), "{said}");

    let said = row(
        "TLS: a certificate nothing trusts",
        || {
            let (server, _) = sendkit_tests::tls_emulator(KEY);
            let config = base(&server.base_url()).build().unwrap();
            (server, config)
        },
        |c| error_text(c.cancel_job("job_1")),
    );
    expect_eq!(
        said,
        "cancel_job job_1: TLS handshake failed: invalid peer certificate: UnknownIssuer (localhost:PORT, 1 attempt in \
         T; the request was never sent)"
    );

    let started = Instant::now();
    let said = row(
        "silent server (accepts, never answers); attempt timeout 300 ms, 2 attempts, deadline 1 s",
        || {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let config = base(&format!("http://{}", listener.local_addr().unwrap()))
                .attempt_timeout(Duration::from_millis(300))
                .deadline(Some(Duration::from_secs(1)))
                .retry(quick_retries().max_attempts(2))
                .build()
                .unwrap();
            (listener, config)
        },
        |c| error_text(c.cancel_job("job_1")),
    );
    expect!(started.elapsed() < Duration::from_secs(4), "two calls, each within its 1 s deadline");
    expect!(
        said.starts_with("[may have taken effect] cancel_job job_1: timed out: no complete answer within "),
        "{said}"
    );
    expect!(said.contains("within 300ms (127.0.0.1:PORT, 2 attempts in T; "), "{said}");
    expect!(said.ends_with("get job job_1 to see)"), "{said}");

    let said = row(
        "connection reset after the request was written (enrich)",
        with_fault(Fault::reset().on(Route::Enrich).times(1)),
        |c| error_text(enrich(c)),
    );
    expect!(
        said.starts_with("[may have taken effect] enrich: connection lost before the answer was complete"),
        "{said}"
    );

    let said = row(
        "answer lost after the cancel took effect",
        with_fault(Fault::lose_answer().on(Route::Cancel).times(1)),
        |c| format!("Ok: job {}", c.cancel_job("job_1").unwrap().status),
    );
    expect_eq!(said, "Ok: job cancelled");

    let said = row(
        "truncated body (enrich)",
        with_fault(
            Fault::status(200)
                .body(r#"{"success":true,"data":{"jobs":[]}}"#)
                .truncate_body(10)
                .on(Route::Enrich)
                .times(1),
        ),
        |c| error_text(enrich(c)),
    );
    expect!(said.starts_with("[may have taken effect] enrich: connection lost before the answer was complete, after HTTP 200 OK (127.0.0.1:PORT"), "{said}");

    let said = row(
        "429 with a truncated body (enrich), then success",
        with_fault(Fault::status(429).body(r#"{"success":false}"#).truncate_body(5).on(Route::Enrich).times(1)),
        |c| format!("Ok: {}", enrich(c).is_ok()),
    );
    expect_eq!(said, "Ok: true", "a 429 is a refusal even when its body breaks");

    let said = row("400, a job that cannot be cancelled", with_fault(Fault::status(200).times(0)), |c| {
        error_text(c.cancel_job("done"))
    });
    expect_eq!(
        said,
        "cancel_job done: HTTP 400 VALIDATION_ERROR: Job cannot be cancelled in status \"completed\" (request req_1)"
    );

    let said = row("404, no such job", with_fault(Fault::status(200).times(0)), |c| error_text(c.get_job("missing")));
    expect_eq!(said, "get_job missing: HTTP 404 NOT_FOUND: Job not found or expired (request req_1)");

    let said = row(
        "401, a wrong key",
        || {
            let server = emulator();
            let config = Config::builder("sk_live_wrong").base_url(server.base_url()).build().unwrap();
            (server, config)
        },
        |c| error_text(c.get_job("job_1")),
    );
    expect!(said.starts_with("get_job job_1: HTTP 401 UNAUTHORIZED: "), "{said}");
    expect!(said.ends_with("(request req_1)"), "{said}");

    let said = row(
        "500 with the API's envelope and a request ID",
        with_fault(
            Fault::status(500)
                .header("x-request-id", "req_abc")
                .body(r#"{"success":false,"error":{"code":"INTERNAL_ERROR","message":"boom\n\u001b[31mred"}}"#)
                .on(Route::Get)
                .times(1),
        ),
        |c| error_text(c.get_job("job_1")),
    );
    expect_eq!(said, "get_job job_1: HTTP 500 INTERNAL_ERROR: boom\\n\\u{1b}[31mred (request req_abc)");

    let said = row(
        "502 HTML page from a proxy, three times",
        with_fault(
            Fault::status(502)
                .header("content-type", "text/html")
                .body("<html>bad gateway</html>")
                .on(Route::Get)
                .times(3),
        ),
        |c| error_text(c.get_job("job_1")),
    );
    expect_eq!(
        said,
        "get_job job_1: HTTP 502 Bad Gateway: not an API answer (text/html), body starts \"<html>bad gateway</html>\" \
         (request req_3)"
    );

    let said = row(
        "503 with an empty body (enrich: not sent again)",
        with_fault(Fault::status(503).on(Route::Enrich).times(1)),
        |c| error_text(enrich(c)),
    );
    expect_eq!(
        said,
        "[may have taken effect] enrich: HTTP 503 Service Unavailable: not an API answer, empty body (request req_1); \
         the server may have acted before it failed, so it may have taken effect: look for the jobs it would have \
         created before sending it again"
    );

    for (failure, value) in [
        ("429, Retry-After: 3600 (past the 60 s the policy waits)", "3600".to_owned()),
        (
            "429, Retry-After as an IMF-fixdate an hour ahead",
            httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(3600)),
        ),
    ] {
        let said =
            row(failure, with_fault(Fault::status(429).header("retry-after", &value).on(Route::Get).times(1)), |c| {
                error_text(c.get_job("job_1"))
            });
        expect!(said.starts_with("get_job job_1: HTTP 429 rate limited (retry after 3"), "{said}");
    }
    for (failure, form) in [
        ("429, Retry-After as an RFC 850 date 1 s ahead, then success", "%A, %d-%b-%y %H:%M:%S GMT"),
        ("429, Retry-After as an asctime date 1 s ahead, then success", "%a %b %e %H:%M:%S %Y"),
    ] {
        let date = sendkit_model::Timestamp::now() + sendkit_model::jiff::SignedDuration::from_secs(1);
        let value = date.strftime(form).to_string();
        let said =
            row(failure, with_fault(Fault::status(429).header("retry-after", &value).on(Route::Get).times(1)), |c| {
                format!("Ok: {}", c.get_job("job_1").unwrap().id)
            });
        expect_eq!(said, "Ok: job_1", "{value}");
    }

    let said = row("job ID `..`", with_fault(Fault::status(200).times(0)), |c| error_text(c.cancel_job("..")));
    expect_eq!(
        said,
        "invalid input: job ID .. is a dot segment, which proxies and URL libraries may read as a path step"
    );

    for (failure, built) in [
        ("attempt timeout Duration::MAX", Config::builder(KEY).attempt_timeout(Duration::MAX).build()),
        ("zero attempts", Config::builder(KEY).retry(RetryPolicy::default().max_attempts(0)).build()),
        ("base URL ending in /v1", Config::builder(KEY).base_url("https://api.sendkit.ai/v1").build()),
        ("platform key with no workspace", Config::builder("sk_user_1").build()),
    ] {
        let said = Error::from(built.expect_err(failure)).to_string();
        ROWS.lock().unwrap().push(Row { failure, outcome: format!("refused by build(): {said}") });
    }

    if let Ok(path) = std::env::var("SENDKIT_OUTCOMES_TABLE") {
        let mut table = String::from("| failure | what both clients say |\n| --- | --- |\n");
        for row in ROWS.lock().unwrap().iter() {
            table.push_str(&format!("| {} | `{}` |\n", row.failure, row.outcome.replace('|', "\\|")));
        }
        std::fs::write(path, table).unwrap();
    }
    let mismatches = MISMATCHES.lock().unwrap();
    assert!(mismatches.is_empty(), "{} rows read wrong:\n{}", mismatches.len(), mismatches.join("\n"));
}
