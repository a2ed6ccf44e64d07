//! Every answer shape the API and the proxies in front of it give, parsed through the operations.

use std::time::Duration;

use sendkit_model::{ErrorCode, JobStatus};
use sendkit_proto::{CancelJob, Error, GetJob, Operation};

fn response(status: u16, content_type: Option<&str>, body: &str) -> http::Response<Vec<u8>> {
    let mut builder = http::Response::builder().status(status);
    if let Some(content_type) = content_type {
        builder = builder.header("content-type", content_type);
    }
    builder.body(body.as_bytes().to_vec()).unwrap()
}

fn json(status: u16, body: &str) -> http::Response<Vec<u8>> {
    response(status, Some("application/json"), body)
}

const SEED_SUCCESS: &str = r#"{"success": true, "data": {"id": "bulk_email_verification_1710000000000_abc1234",
 "type": "email_verification", "status": "cancelled", "metadata": {"totalItems": 100, "processedItems": 0,
 "successCount": 0, "failedCount": 0, "creditsUsed": 100}, "updatedAt": "2025-03-19T10:01:00.000Z",
 "completedAt": "2025-03-19T10:01:00.000Z"}}"#;

fn cancel(response: http::Response<Vec<u8>>) -> Result<sendkit_model::Job, Error> {
    CancelJob::new("bulk_email_verification_1710000000000_abc1234").parse_response(&response)
}

#[test]
fn seed_success() {
    let job = cancel(json(200, SEED_SUCCESS)).unwrap();
    assert_eq!(job.status, JobStatus::Cancelled);
    assert_eq!(job.metadata.as_ref().unwrap().credits_used, 100);
    assert_eq!(job.completed_at, job.updated_at);
}

#[test]
fn seed_not_cancellable() {
    let body = r#"{"success":false,"error":{"code":"VALIDATION_ERROR","message":"Job cannot be cancelled in status \"completed\""}}"#;
    let error = cancel(json(400, body)).unwrap_err();
    let Error::NotCancellable { answer, job_status, .. } = &error else { panic!("{error:?}") };
    assert_eq!((answer.status.as_u16(), job_status), (400, &Some(JobStatus::Completed)));
    assert_eq!(answer.message, r#"Job cannot be cancelled in status "completed""#);
    assert_eq!(error.to_string(), r#"HTTP 400 VALIDATION_ERROR: Job cannot be cancelled in status "completed""#);
}

#[test]
fn a_validation_error_on_get_stays_an_api_error() {
    let body = r#"{"success":false,"error":{"code":"VALIDATION_ERROR","message":"Job cannot be cancelled in status \"completed\""}}"#;
    let error = GetJob::new("j").parse_response(&json(400, body)).unwrap_err();
    assert!(matches!(&error, Error::Api { answer, .. } if answer.code == ErrorCode::ValidationError), "{error:?}");
}

#[test]
fn seed_not_found() {
    let body = r#"{"success":false,"error":{"code":"NOT_FOUND","message":"Job not found or expired"}}"#;
    let error = cancel(json(404, body)).unwrap_err();
    assert!(
        matches!(&error, Error::NotFound { answer, .. } if answer.message == "Job not found or expired"),
        "{error:?}"
    );
    assert_eq!(error.status().map(|s| s.as_u16()), Some(404));
}

#[test]
fn second_error_shape() {
    let body = r#"{"error": "Not Found", "message": "The requested resource was not found", "code": 404}"#;
    assert!(matches!(cancel(json(404, body)).unwrap_err(), Error::NotFound { .. }));
    let body = r#"{"error": "Forbidden", "message": "No access", "code": 403}"#;
    let error = cancel(json(403, body)).unwrap_err();
    let Error::Api { answer, .. } = &error else { panic!("{error:?}") };
    let expected = (403, &ErrorCode::Unknown("Forbidden".into()), "No access");
    assert_eq!((answer.status.as_u16(), &answer.code, answer.message.as_str()), expected);
}

#[test]
fn unauthorized_and_unknown_codes() {
    let body = r#"{"success":false,"error":{"code":"UNAUTHORIZED","message":"Invalid API key"}}"#;
    assert!(matches!(cancel(json(401, body)).unwrap_err(), Error::Unauthorized { .. }));
    let body = r#"{"success":false,"error":{"code":"QUOTA_EXHAUSTED","message":"No credits left"}}"#;
    let error = cancel(json(402, body)).unwrap_err();
    assert!(
        matches!(&error, Error::Api { answer, .. } if answer.code == ErrorCode::Unknown("QUOTA_EXHAUSTED".into())),
        "{error:?}"
    );
    assert_eq!(error.to_string(), "HTTP 402 QUOTA_EXHAUSTED: No credits left");
}

#[test]
fn rate_limited_with_and_without_a_json_body() {
    let body = r#"{"success":false,"error":{"code":"RATE_LIMITED","message":"Slow down"}}"#;
    let mut limited = json(429, body);
    limited.headers_mut().insert("retry-after", "3".parse().unwrap());
    let error = cancel(limited).unwrap_err();
    assert!(
        matches!(&error, Error::RateLimited { retry_after: Some(d), message: Some(message), .. } if *d == Duration::from_secs(3) && message == "Slow down")
    );
    let error = cancel(response(429, Some("text/html"), "<html>busy</html>")).unwrap_err();
    assert!(matches!(error, Error::RateLimited { retry_after: None, .. }), "{error:?}");
}

#[test]
fn html_502_keeps_status_and_snippet() {
    let page = format!("<html><body><h1>502 Bad Gateway</h1>{}</body></html>", "x".repeat(1000));
    let error = cancel(response(502, Some("text/html"), &page)).unwrap_err();
    let Error::UnexpectedResponse { status, content_type, snippet, .. } = &error else { panic!("{error:?}") };
    assert_eq!(status.as_u16(), 502);
    assert_eq!(content_type.as_deref(), Some("text/html"));
    assert!(snippet.starts_with("<html><body><h1>502 Bad Gateway</h1>"));
    assert!(snippet.len() <= Error::SNIPPET_LEN);
    assert!(
        error.to_string().starts_with("HTTP 502 Bad Gateway: not an API answer (text/html), body starts \"<html>"),
        "{error}"
    );
}

#[test]
fn empty_bodies() {
    let error = cancel(response(503, None, "")).unwrap_err();
    assert!(matches!(&error, Error::UnexpectedResponse { snippet, content_type: None, .. } if snippet.is_empty()));
    let error = cancel(json(200, "")).unwrap_err();
    assert!(matches!(&error, Error::UnexpectedResponse { status, .. } if status.as_u16() == 200), "{error:?}");
}

#[test]
fn bad_json_says_where() {
    let body = r#"{"success":true,"data":{"id":"j","type":"email_verification","status":"pending","metadata":{"totalItems":"many"}}}"#;
    let error = cancel(json(200, body)).unwrap_err();
    let Error::Decode { path, snippet, .. } = &error else { panic!("{error:?}") };
    assert_eq!(path, "data.metadata.totalItems");
    assert!(snippet.starts_with(r#"{"success":true"#));
    let error = cancel(json(200, r#"{"success":true,"data":{"id":"j","status":"pending"}}"#)).unwrap_err();
    assert!(matches!(&error, Error::Decode { message, .. } if message.contains("type")), "{error:?}");
}

#[test]
fn truncated_and_trailing_json() {
    let truncated = &SEED_SUCCESS[..SEED_SUCCESS.len() - 10];
    assert!(matches!(cancel(json(200, truncated)).unwrap_err(), Error::UnexpectedResponse { .. }));
    let trailing = format!("{SEED_SUCCESS} garbage");
    assert!(matches!(cancel(json(200, &trailing)).unwrap_err(), Error::UnexpectedResponse { .. }));
}

#[test]
fn success_status_with_an_error_envelope() {
    let body = r#"{"success":false,"error":{"code":"INTERNAL_ERROR","message":"oops"}}"#;
    let error = cancel(json(200, body)).unwrap_err();
    assert!(matches!(&error, Error::Api { answer, .. } if answer.code == ErrorCode::InternalError), "{error:?}");
}

#[test]
fn redirects_are_errors() {
    let mut redirect = response(307, None, "");
    redirect.headers_mut().insert("location", "https://elsewhere.example/steal".parse().unwrap());
    let error = cancel(redirect).unwrap_err();
    assert!(matches!(&error, Error::Redirect { location: Some(l), .. } if l == "https://elsewhere.example/steal"));
    assert_eq!(
        error.to_string(),
        "HTTP 307 Temporary Redirect: redirect to \"https://elsewhere.example/steal\" not followed"
    );
}

#[test]
fn the_request_id_and_the_servers_text_are_shown_once_and_escaped() {
    let body = r#"{"success":false,"error":{"code":"VALIDATION_ERROR","message":"bad\n\u001b[2Jthing"}}"#;
    let response =
        http::Response::builder().status(400).header("x-request-id", "req_123").body(body.as_bytes().to_vec()).unwrap();
    let error = GetJob::new("job_1").parse_response(&response).unwrap_err();
    assert_eq!(error.request_id(), Some("req_123"));
    assert_eq!(error.to_string(), "HTTP 400 VALIDATION_ERROR: bad\\n\\u{1b}[2Jthing (request req_123)");
    let response = http::Response::builder().status(429).header("request-id", "r-9").body(Vec::new()).unwrap();
    let error = GetJob::new("job_1").parse_response(&response).unwrap_err();
    assert_eq!(error.to_string(), "HTTP 429 rate limited (request r-9)");
}

#[test]
fn debug_is_the_one_line_message_that_main_prints() {
    let response = http::Response::builder()
        .status(404)
        .header("x-request-id", "req_9")
        .body(br#"{"success":false,"error":{"code":"NOT_FOUND","message":"Job not found or expired"}}"#.to_vec())
        .unwrap();
    let error = sendkit_proto::GetJob::new("job_1").parse_response(&response).unwrap_err();
    // What `fn main() -> Result<(), Error>` prints for an error returned from main.
    assert_eq!(format!("{error:?}"), "HTTP 404 NOT_FOUND: Job not found or expired (request req_9)");
    assert_eq!(format!("{error:?}"), error.to_string());
}
