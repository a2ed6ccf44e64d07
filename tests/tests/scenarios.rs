//! Every scenario, written once, run through both adapters against the emulator over loopback.

use std::time::Duration;

use sendkit_mock::{Fault, MockServer, Route};
use sendkit_model::{EnrichRequest, EnrichmentType, ErrorCode, Job, JobStatus, JobType, Timestamp};
use sendkit_proto::{AuthStyle, Config, Delivery, Error, InvalidInput, RetryPolicy, TransportErrorKind};
use sendkit_tests::{client, settings, Capture, Connect};

const LEAD: &str = "507f1f77bcf86cd799439011";

fn email_job(server: &MockServer, connect: Connect) -> String {
    let created = client(connect, server).enrich(EnrichRequest::new([LEAD], [EnrichmentType::Email])).unwrap();
    created.jobs[0].job_id.clone()
}

fn insert(server: &MockServer, id: &str, status: JobStatus) {
    server.insert_job(Job::new(id, JobType::EmailVerification, status));
}

fn cancel_pending(connect: Connect) {
    let server = MockServer::start();
    let id = email_job(&server, connect);
    let job = client(connect, &server).cancel_job(&id).unwrap();
    assert_eq!((job.id.as_str(), &job.status), (id.as_str(), &JobStatus::Cancelled));
    assert_eq!(job.completed_at, Some(server.now()));
    assert_eq!(server.job(&id).unwrap().status, JobStatus::Cancelled);
    assert_eq!(server.ledger().cancels[&id], 1);
}

fn cancel_processing(connect: Connect) {
    let server = MockServer::start();
    insert(&server, "job_processing", JobStatus::Processing);
    let job = client(connect, &server).cancel_job("job_processing").unwrap();
    assert_eq!(job.status, JobStatus::Cancelled);
}

fn cancel_finished_jobs_names_their_status(connect: Connect) {
    let server = MockServer::start();
    for status in [JobStatus::Completed, JobStatus::Failed, JobStatus::Cancelled] {
        let id = format!("job_{status}");
        insert(&server, &id, status.clone());
        let error = client(connect, &server).cancel_job(&id).unwrap_err();
        let Error::NotCancellable { answer, job_status, .. } = &error else { panic!("{error:?}") };
        let (http, message) = (&answer.status, &answer.message);
        assert_eq!(http.as_u16(), 400);
        assert_eq!(job_status.as_ref(), Some(&status));
        assert_eq!(message, &format!("Job cannot be cancelled in status \"{status}\""));
        assert_eq!(server.job(&id).unwrap().status, status, "a refused cancel changes nothing");
    }
}

fn unknown_job_is_not_found(connect: Connect) {
    let server = MockServer::start();
    let error = client(connect, &server).cancel_job("no_such_job").unwrap_err();
    assert!(
        matches!(&error, Error::NotFound { answer, .. } if answer.message == "Job not found or expired"),
        "{error:?}"
    );
    assert_eq!(error.status().map(|s| s.as_u16()), Some(404));
    // One context plus a kind: the kind alone to branch on, the call it failed in beside it.
    assert_eq!(error.kind(), sendkit_proto::ErrorKind::NotFound);
    assert_eq!(error.call().and_then(|call| call.job_id()), Some("no_such_job"));
}

fn expired_job_is_not_found(connect: Connect) {
    let server = MockServer::start();
    let id = email_job(&server, connect);
    server.advance(Duration::from_secs(7 * 24 * 3600 - 1));
    assert!(client(connect, &server).get_job(&id).is_ok());
    server.advance(Duration::from_secs(1));
    assert!(matches!(client(connect, &server).get_job(&id), Err(Error::NotFound { .. })));
    assert!(matches!(client(connect, &server).cancel_job(&id), Err(Error::NotFound { .. })));
}

fn wrong_key_is_unauthorized(connect: Connect) {
    let server = MockServer::start();
    insert(&server, "job_1", JobStatus::Pending);
    let config = Config::builder("sk_live_wrong").base_url(server.base_url()).build().unwrap();
    let error = connect(config).cancel_job("job_1").unwrap_err();
    assert!(matches!(&error, Error::Unauthorized { answer, .. } if answer.status.as_u16() == 401), "{error:?}");
    assert_eq!(server.job("job_1").unwrap().status, JobStatus::Pending);
}

fn either_auth_header_alone_authenticates(connect: Connect) {
    let server = MockServer::start();
    for style in [AuthStyle::ApiKeyHeader, AuthStyle::Bearer, AuthStyle::Both] {
        let id = format!("job_{style:?}");
        insert(&server, &id, JobStatus::Pending);
        let client = connect(settings(&server).auth_style(style).build().unwrap());
        assert_eq!(client.cancel_job(&id).unwrap().status, JobStatus::Cancelled, "{style:?}");
    }
}

fn platform_key_needs_a_workspace(connect: Connect) {
    let server = MockServer::builder().api_key("sk_user_platform_1").workspace_id("ws_1").start().unwrap();
    insert(&server, "job_1", JobStatus::Pending);
    // The client says it first: a platform key with no workspace is refused before any request.
    let refused = settings(&server).build().unwrap_err();
    assert!(matches!(refused, InvalidInput::WorkspaceId { .. }), "{refused:?}");
    // The emulator agrees, for clients that do not check: a bare request without X-Workspace-Id is a 400.
    let bare = Capture::send_raw(
        server.addr(),
        "POST /v1/enrichment/jobs/job_1/cancel HTTP/1.1\r\nhost: x\r\nx-api-key: sk_user_platform_1\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
    );
    assert!(bare.starts_with("HTTP/1.1 400") && bare.contains("X-Workspace-Id"), "{bare}");
    let error = connect(settings(&server).workspace_id("ws_2").build().unwrap()).cancel_job("job_1").unwrap_err();
    assert!(matches!(&error, Error::Api { answer, .. } if answer.code == ErrorCode::Forbidden), "{error:?}");
    let job = connect(settings(&server).workspace_id("ws_1").build().unwrap()).cancel_job("job_1").unwrap();
    assert_eq!(job.status, JobStatus::Cancelled);
}

fn get_follows_a_job_through_its_life(connect: Connect) {
    let server = MockServer::start();
    let created = client(connect, &server)
        .enrich(EnrichRequest::new(vec![LEAD.to_owned(); 30], [EnrichmentType::Email]))
        .unwrap();
    let id = &created.jobs[0].job_id;
    let client = client(connect, &server);
    let job = client.get_job(id).unwrap();
    assert_eq!(job.status, JobStatus::Pending);
    assert_eq!(job.total_leads, Some(30));
    assert_eq!(job.started_at, None);
    server.advance(Duration::from_secs(3)); // 2 s pending, then 10 items a second
    let job = client.get_job(id).unwrap();
    assert_eq!(job.status, JobStatus::Processing);
    assert_eq!(job.metadata.as_ref().unwrap().processed_items, 10);
    assert!(job.started_at.is_some());
    server.advance(Duration::from_secs(10));
    let job = client.get_job(id).unwrap();
    assert_eq!(job.status, JobStatus::Completed);
    assert_eq!(job.metadata.as_ref().unwrap().processed_items, 30);
    let error = client.cancel_job(id).unwrap_err();
    assert!(matches!(error, Error::NotCancellable { job_status: Some(JobStatus::Completed), .. }), "{error:?}");
}

fn enrich_creates_a_job_per_type_and_charges_credits(connect: Connect) {
    let server = MockServer::start();
    let leads = ["507f1f77bcf86cd799439011", "507f1f77bcf86cd799439012"];
    let types = [EnrichmentType::Email, EnrichmentType::PhoneEnrichment, EnrichmentType::SegGateway];
    let created = client(connect, &server).enrich(EnrichRequest::new(leads, types)).unwrap();
    assert_eq!(created.jobs.len(), 3);
    assert_eq!(created.total_leads, 2);
    assert_eq!(created.total_credits_charged, 2 + 40);
    let credits: Vec<u64> = created.jobs.iter().map(|job| job.credits_used).collect();
    assert_eq!(credits, [2, 40, 0]);
    assert_eq!(created.jobs[0].job_type, JobType::EmailVerification);
    for job in &created.jobs {
        assert_eq!(job.status, JobStatus::Pending);
        assert_eq!(server.job(&job.job_id).unwrap().status, JobStatus::Pending);
    }
    assert_eq!(server.ledger().credits_charged, 42);
}

fn rate_limited_then_success(connect: Connect) {
    let server = MockServer::start();
    insert(&server, "job_1", JobStatus::Pending);
    server.inject(
        Fault::status(429)
            .header("retry-after", "1")
            .header("content-type", "application/json")
            .body(r#"{"success":false,"error":{"code":"RATE_LIMITED","message":"Too many requests"}}"#)
            .on(Route::Cancel)
            .times(1),
    );
    let job = client(connect, &server).cancel_job("job_1").unwrap();
    assert_eq!(job.status, JobStatus::Cancelled);
    let ledger = server.ledger();
    assert_eq!((ledger.requests, ledger.faults_served, ledger.cancels["job_1"]), (2, 1, 1));
}

fn rate_limit_beyond_the_allowed_wait_is_returned(connect: Connect) {
    let server = MockServer::start();
    insert(&server, "job_1", JobStatus::Pending);
    server.inject(Fault::status(429).header("retry-after", "3600").on(Route::Cancel));
    let error = client(connect, &server).cancel_job("job_1").unwrap_err();
    assert!(
        matches!(error, Error::RateLimited { retry_after: Some(wait), .. } if wait == Duration::from_secs(3600)),
        "{error:?}"
    );
    assert_eq!(server.ledger().requests, 1);
}

fn unavailable_then_success(connect: Connect) {
    let server = MockServer::start();
    insert(&server, "job_1", JobStatus::Processing);
    server.inject(Fault::status(503).body("<html><h1>503 Service Unavailable</h1></html>").on(Route::Cancel).times(2));
    let job = client(connect, &server).cancel_job("job_1").unwrap();
    assert_eq!(job.status, JobStatus::Cancelled);
    assert_eq!(server.ledger().requests, 3);
}

fn enrich_is_not_repeated_after_a_503(connect: Connect) {
    let server = MockServer::start();
    server.inject(
        Fault::status(503).header("content-type", "text/html").body("<html>down</html>").on(Route::Enrich).times(1),
    );
    let error = client(connect, &server).enrich(EnrichRequest::new([LEAD], [EnrichmentType::Email])).unwrap_err();
    let Error::UnexpectedResponse { status, content_type, snippet, .. } = &error else { panic!("{error:?}") };
    assert_eq!(
        (status.as_u16(), content_type.as_deref(), snippet.as_str()),
        (503, Some("text/html"), "<html>down</html>")
    );
    let ledger = server.ledger();
    assert_eq!((ledger.requests, ledger.enrich_calls, ledger.credits_charged), (1, 0, 0));
}

/// A 503 whose `Retry-After` says when the server expects to serve again holds every call of the client, not only
/// the one that met it: the read that met it fails (no retries here), and a cancel of another job right after is
/// sent only once the wait has passed.
fn a_503_asking_to_wait_holds_the_clients_other_calls(connect: Connect) {
    let server = MockServer::start();
    insert(&server, "job_1", JobStatus::Pending);
    insert(&server, "job_2", JobStatus::Pending);
    server.inject(Fault::status(503).header("retry-after", "1").on(Route::Get).for_job("job_1").times(1));
    let client = connect(settings(&server).retry(RetryPolicy::none()).build().unwrap());
    let error = client.get_job("job_1").unwrap_err();
    assert_eq!(error.status().map(|status| status.as_u16()), Some(503), "{error:?}");
    let held = std::time::Instant::now();
    assert_eq!(client.cancel_job("job_2").unwrap().status, JobStatus::Cancelled);
    // Retry-After counts whole seconds from the answer, which came just before.
    let waited = held.elapsed();
    assert!(waited >= Duration::from_millis(900), "the cancel went after {waited:?}, during the server's wait");
    let ledger = server.ledger();
    assert_eq!((ledger.requests, ledger.cancels["job_2"]), (2, 1));
}

fn job_ids_are_sent_as_one_segment(connect: Connect) {
    let server = MockServer::start();
    let id = "a/b?c#d %2F é..";
    insert(&server, id, JobStatus::Pending);
    let client = client(connect, &server);
    assert_eq!(client.get_job(id).unwrap().id, id);
    assert_eq!(client.cancel_job(id).unwrap().id, id);
    assert_eq!(server.ledger().cancels[id], 1);
    assert!(matches!(client.get_job(".."), Err(Error::InvalidInput(InvalidInput::JobId { .. }))));
    assert!(matches!(client.cancel_job("."), Err(Error::InvalidInput(InvalidInput::JobId { .. }))));
}

fn empty_and_dot_job_ids_fail_before_any_request(connect: Connect) {
    let server = MockServer::start();
    for id in ["", ".", ".."] {
        let error = client(connect, &server).cancel_job(id).unwrap_err();
        assert!(matches!(error, Error::InvalidInput(InvalidInput::JobId { .. })), "{error:?}");
    }
    assert_eq!(server.ledger().requests, 0);
}

fn oversized_body_is_cut_at_the_limit(connect: Connect) {
    let server = MockServer::start();
    server.inject(Fault::status(200).body(vec![b' '; 64 * 1024]).on(Route::Get));
    let client = connect(settings(&server).body_limit(1024).build().unwrap());
    let error = client.get_job("job_1").unwrap_err();
    assert!(matches!(error, Error::BodyTooLarge { limit: 1024, status, .. } if status.as_u16() == 200), "{error:?}");
}

fn redirects_are_not_followed(connect: Connect) {
    let elsewhere = MockServer::start();
    let server = MockServer::start();
    let location = format!("{}/v1/enrichment/jobs/job_1/cancel", elsewhere.base_url());
    server.inject(Fault::status(307).header("location", &location));
    let error = client(connect, &server).cancel_job("job_1").unwrap_err();
    assert!(matches!(&error, Error::Redirect { location: Some(l), .. } if *l == location), "{error:?}");
    assert_eq!(elsewhere.ledger().requests, 0, "nothing, and so no key, went to the other origin");
}

fn slow_server_is_cut_off_at_the_timeout(connect: Connect) {
    let server = MockServer::start();
    insert(&server, "job_1", JobStatus::Pending);
    server.inject(Fault::status(200).delay(Duration::from_secs(5)).on(Route::Get));
    let config =
        settings(&server).attempt_timeout(Duration::from_millis(200)).retry(RetryPolicy::none()).build().unwrap();
    let error = connect(config).get_job("job_1").unwrap_err();
    assert!(
        matches!(&error, Error::Transport { source, .. } if source.kind() == TransportErrorKind::Timeout),
        "{error:?}"
    );
    assert!(
        error.to_string().starts_with("get_job job_1: timed out: no complete answer within 200ms (127.0.0.1:"),
        "{error}"
    );
    assert!(!error.may_have_taken_effect(), "a get has no effect: {error}");
}

fn refused_connection_is_a_connect_error(connect: Connect) {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let config = Config::builder("sk_live_x")
        .base_url(format!("http://127.0.0.1:{port}"))
        .retry(sendkit_tests::quick_retries())
        .build()
        .unwrap();
    let error = connect(config).enrich(EnrichRequest::new([LEAD], [EnrichmentType::Email])).unwrap_err();
    let Error::Transport { source, attempts, .. } = &error else { panic!("{error:?}") };
    assert_eq!(source.kind(), TransportErrorKind::Connect);
    assert_eq!(source.delivery(), Delivery::NotSent);
    assert_eq!(*attempts, 3, "never sent, so retried even for enrich");
    assert!(!error.may_have_taken_effect());
    let text = error.to_string();
    assert!(text.starts_with("enrich: could not connect: "), "{text}");
    assert!(text.contains(&format!("(127.0.0.1:{port}, 3 attempts in ")), "{text}");
    assert!(text.ends_with("; the request was never sent)"), "{text}");
}

fn html_502_keeps_its_status(connect: Connect) {
    let server = MockServer::start();
    server.inject(Fault::status(502).header("content-type", "text/html").body("<html>Bad Gateway</html>"));
    let client = connect(settings(&server).retry(RetryPolicy::none()).build().unwrap());
    let error = client.get_job("job_1").unwrap_err();
    assert_eq!(error.status().map(|s| s.as_u16()), Some(502));
    assert!(error.to_string().contains("<html>Bad Gateway</html>"), "{error}");
}

/// What the adapter puts on the wire, byte for byte in the parts that are ours.
fn cancel_on_the_wire(connect: Connect) {
    let capture = Capture::start();
    let config = Config::builder("sk_live_wire").base_url(capture.base_url()).build().unwrap();
    let body = r#"{"success":true,"data":{"id":"job_1","type":"email_verification","status":"cancelled"}}"#;
    let answer = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let server = capture.serve_once(answer);
    let job = connect(config).cancel_job("job_1").unwrap();
    assert_eq!(job.status, JobStatus::Cancelled);
    let request = server.join().unwrap();
    let (head, body) = request.split_once("\r\n\r\n").unwrap();
    let mut lines = head.lines();
    assert_eq!(lines.next(), Some("POST /v1/enrichment/jobs/job_1/cancel HTTP/1.1"));
    let mut headers: Vec<String> = lines.map(|line| line.to_ascii_lowercase()).collect();
    headers.sort();
    let expected = [
        "accept: application/json".to_owned(),
        "authorization: bearer sk_live_wire".to_owned(),
        "content-type: application/json".to_owned(),
        format!("user-agent: {}", sendkit_proto::Config::USER_AGENT.to_ascii_lowercase()),
        "x-api-key: sk_live_wire".to_owned(),
    ];
    for header in &expected {
        assert!(headers.contains(header), "missing {header:?} in {headers:?}");
    }
    let host = headers.iter().any(|h| h.starts_with("host: 127.0.0.1:"));
    assert!(host, "{headers:?}");
    let length_zero = headers.iter().all(|h| !h.starts_with("content-length:") || h == "content-length: 0");
    assert!(length_zero, "{headers:?}");
    assert_eq!(body, "");
    let ours_or_transport = headers.iter().all(|h| {
        expected.contains(h) || ["host:", "content-length:", "accept-encoding:"].iter().any(|p| h.starts_with(p))
    });
    assert!(ours_or_transport, "unexpected header in {headers:?}");
}

fn emulator_created_timestamps_are_now(connect: Connect) {
    let server = MockServer::start();
    let id = email_job(&server, connect);
    let job = client(connect, &server).get_job(&id).unwrap();
    let now: Timestamp = server.now();
    assert_eq!(job.created_at, Some(now));
    assert_eq!(job.updated_at, Some(now));
}

fn sequential_calls_reuse_one_connection(connect: Connect) {
    let server = MockServer::start();
    for n in 0..20 {
        insert(&server, &format!("job_{n}"), JobStatus::Pending);
    }
    let client = client(connect, &server);
    for n in 0..20 {
        client.get_job(&format!("job_{n}")).unwrap();
        client.cancel_job(&format!("job_{n}")).unwrap();
    }
    let ledger = server.ledger();
    assert_eq!((ledger.requests, ledger.connections), (40, 1), "40 calls, one TCP connection");
}

sendkit_tests::through_every_transport!(
    cancel_pending,
    cancel_processing,
    cancel_finished_jobs_names_their_status,
    unknown_job_is_not_found,
    expired_job_is_not_found,
    wrong_key_is_unauthorized,
    either_auth_header_alone_authenticates,
    platform_key_needs_a_workspace,
    get_follows_a_job_through_its_life,
    enrich_creates_a_job_per_type_and_charges_credits,
    rate_limited_then_success,
    rate_limit_beyond_the_allowed_wait_is_returned,
    unavailable_then_success,
    enrich_is_not_repeated_after_a_503,
    a_503_asking_to_wait_holds_the_clients_other_calls,
    job_ids_are_sent_as_one_segment,
    empty_and_dot_job_ids_fail_before_any_request,
    oversized_body_is_cut_at_the_limit,
    redirects_are_not_followed,
    slow_server_is_cut_off_at_the_timeout,
    html_502_keeps_its_status,
    emulator_created_timestamps_are_now,
    sequential_calls_reuse_one_connection,
);

/// Scenarios about the socket itself: a closed port, the bytes on the wire.
mod sockets {
    use super::*;

    sendkit_tests::through_both_adapters!(refused_connection_is_a_connect_error, cancel_on_the_wire);
}

/// The emulator binary's way to take faults: JSON on its admin route, on the same listener.
#[test]
fn admin_route_arms_and_clears_faults() {
    let server = MockServer::start();
    insert(&server, "job_1", JobStatus::Pending);
    let agent = sendkit_ureq::ureq::Agent::config_builder().http_status_as_error(false).build().new_agent();
    let admin = format!("{}/__sendkit_mock/faults", server.base_url());
    let armed = agent
        .post(&admin)
        .content_type("application/json")
        .send(r#"{"route": "get", "status": 503, "body": "<html>down</html>", "times": 1}"#)
        .unwrap();
    assert_eq!(armed.status(), 200);
    let bad = agent.post(&admin).send(r#"{"kind": "explode"}"#).unwrap();
    assert_eq!(bad.status(), 400);
    let client = client(sendkit_tests::ureq, &server);
    let config = settings(&server).retry(RetryPolicy::none()).build().unwrap();
    // A get, which a 503 cannot settle by reading and cancelling again, as a cancel would.
    let error = sendkit_tests::ureq(config).get_job("job_1").unwrap_err();
    assert_eq!(error.status().map(|s| s.as_u16()), Some(503));
    agent.post(&admin).send(r#"{"kind": "reset", "route": "get"}"#).unwrap();
    assert!(matches!(client.get_job("job_1"), Err(Error::Transport { .. })));
    assert_eq!(agent.delete(&admin).call().unwrap().status(), 200);
    assert_eq!(client.get_job("job_1").unwrap().status, JobStatus::Pending);
    let mut ledger = agent.get(format!("{}/__sendkit_mock/ledger", server.base_url())).call().unwrap();
    let ledger = ledger.body_mut().read_to_string().unwrap();
    assert!(ledger.contains(r#""faultsServed":"#), "{ledger}");
}

/// A `User-Agent` the caller set on their own ureq agent is kept, before sendkit's part; an application named in
/// the config comes first otherwise.
#[test]
fn the_callers_user_agent_is_kept() {
    let user_agent_sent = |client: sendkit_ureq::Client| {
        let capture = Capture::start();
        let body = r#"{"success":true,"data":{"id":"job_1","type":"email_verification","status":"pending"}}"#;
        let answer = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len());
        let base = capture.base_url();
        let server = capture.serve_once(answer);
        let config = Config::builder("sk_live_ua").base_url(base).build().unwrap();
        let client = sendkit_ureq::Client::with_transport(config, client.transport().clone());
        client.get_job("job_1").unwrap();
        let request = server.join().unwrap();
        request.lines().find_map(|line| line.strip_prefix("user-agent: ").map(str::to_owned)).unwrap()
    };
    let placeholder = Config::builder("sk_live_ua").build().unwrap();
    let agent = sendkit_ureq::ureq::Agent::config_builder().user_agent("my-service/1.0").build().new_agent();
    let theirs = user_agent_sent(sendkit_ureq::Client::with_agent(placeholder.clone(), agent));
    assert_eq!(theirs, format!("my-service/1.0 {}", Config::USER_AGENT));
    let ours = user_agent_sent(sendkit_ureq::Client::new(placeholder));
    assert_eq!(ours, Config::USER_AGENT);
}
