//! Tracing spans of a call, with the `tracing` feature: a span per call (operation, job ID) and a child per
//! attempt, its fields named as the OpenTelemetry HTTP client conventions name them (`http.request.method`,
//! `url.full`, `server.address`, `server.port`, `http.request.resend_count`, `http.response.status_code`,
//! `error.type`) plus the server's request ID and the wait before the next attempt; and an event as each attempt
//! ends (DEBUG for a success, INFO for any other answer, a failure or a retry), so that a plain `fmt()` subscriber shows them. Fields
//! and our own messages only, never the key, a header or a body. Without the feature every method here is empty and
//! compiles away.

use std::time::Duration;

use crate::error::Error;

/// The call's span and its current attempt's.
#[derive(Debug, Default)]
pub(crate) struct Trace {
    #[cfg(feature = "tracing")]
    call: Option<tracing::Span>,
    #[cfg(feature = "tracing")]
    attempt: Option<tracing::Span>,
}

#[cfg(feature = "tracing")]
impl Trace {
    pub(crate) fn call(operation: &'static str, job_id: Option<&str>) -> Self {
        let call = tracing::info_span!("sendkit.call", sendkit.operation = operation, sendkit.job_id = job_id);
        Self { call: Some(call), attempt: None }
    }

    pub(crate) fn attempt(&mut self, attempt: u32, request: &http::Request<Vec<u8>>) {
        let parent = self.call.as_ref().and_then(tracing::Span::id);
        let uri = request.uri();
        let port = uri.port_u16().unwrap_or(if uri.scheme_str() == Some("http") { 80 } else { 443 });
        self.attempt = Some(tracing::info_span!(
            parent: parent,
            "sendkit.attempt",
            http.request.method = %request.method(),
            url.full = %uri,
            server.address = uri.host().unwrap_or_default(),
            server.port = port,
            http.request.resend_count = attempt.saturating_sub(1),
            http.response.status_code = tracing::field::Empty,
            error.type = tracing::field::Empty,
            sendkit.request_id = tracing::field::Empty,
            sendkit.next_wait_ms = tracing::field::Empty,
        ));
    }

    pub(crate) fn outcome(&self, status: Option<u16>, error: Option<&Error>) {
        if let Some(span) = &self.attempt {
            if let Some(status) = status {
                span.record("http.response.status_code", status);
            }
            if let Some(error) = error.filter(|_| status.is_none()) {
                span.record("error.type", tracing::field::display(error_kind(error)));
            }
            // An event as well as the span's fields, so that a plain `tracing_subscriber::fmt()` shows each
            // attempt without span events switched on: DEBUG for a success, INFO for anything else.
            match error {
                None if status.is_some_and(|status| (200..300).contains(&status)) => {
                    tracing::debug!(parent: span, http.response.status_code = status, "sendkit: attempt answered")
                }
                None => tracing::info!(parent: span, http.response.status_code = status, "sendkit: attempt answered"),
                // The kind, not the message: a message can quote a body.
                Some(error) => tracing::info!(
                    parent: span,
                    http.response.status_code = status,
                    error.type = %error_kind(error),
                    "sendkit: attempt failed"
                ),
            }
        }
    }

    pub(crate) fn request_id(&self, request_id: &str) {
        if let Some(span) = &self.attempt {
            span.record("sendkit.request_id", request_id);
        }
    }

    pub(crate) fn retry_after(&self, wait: Duration) {
        if let Some(span) = &self.attempt {
            let wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
            span.record("sendkit.next_wait_ms", wait_ms);
            tracing::info!(parent: span, sendkit.next_wait_ms = wait_ms, "sendkit: retrying in {wait:?}");
        }
    }
}

#[cfg(feature = "tracing")]
fn error_kind(error: &Error) -> String {
    match error {
        Error::Transport { source, .. } => format!("{:?}", source.kind()),
        _ => "other".to_owned(),
    }
}

#[cfg(not(feature = "tracing"))]
impl Trace {
    pub(crate) fn call(_operation: &'static str, _job_id: Option<&str>) -> Self {
        Self {}
    }

    pub(crate) fn attempt(&mut self, _attempt: u32, _request: &http::Request<Vec<u8>>) {}

    pub(crate) fn request_id(&self, _request_id: &str) {}

    pub(crate) fn outcome(&self, _status: Option<u16>, _error: Option<&Error>) {}

    pub(crate) fn retry_after(&self, _wait: Duration) {}
}
