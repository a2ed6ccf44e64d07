//! Tracing spans of a call, with the `tracing` feature: a span per call (operation, job ID) and a child per
//! attempt (attempt number, status or error, wait before the next). Fields only, never a
//! header or a body. Without the feature every method here is empty and compiles away.

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
        Self { call: Some(tracing::info_span!("sendkit.call", operation, job_id)), attempt: None }
    }

    pub(crate) fn attempt(&mut self, attempt: u32) {
        let parent = self.call.as_ref().and_then(tracing::Span::id);
        self.attempt = Some(tracing::info_span!(
            parent: parent,
            "sendkit.attempt",
            attempt,
            status = tracing::field::Empty,
            error = tracing::field::Empty,
            next_wait_ms = tracing::field::Empty,
        ));
    }

    pub(crate) fn outcome(&self, status: Option<u16>, error: Option<&Error>) {
        if let Some(span) = &self.attempt {
            if let Some(status) = status {
                span.record("status", status);
            }
            if let Some(error) = error.filter(|_| status.is_none()) {
                span.record("error", tracing::field::display(error_kind(error)));
            }
        }
    }

    pub(crate) fn retry_after(&self, wait: Duration) {
        if let Some(span) = &self.attempt {
            span.record("next_wait_ms", u64::try_from(wait.as_millis()).unwrap_or(u64::MAX));
        }
    }
}

#[cfg(feature = "tracing")]
fn error_kind(error: &Error) -> String {
    match error {
        Error::Transport { source, .. } => source.kind().to_string(),
        _ => "other".to_owned(),
    }
}

#[cfg(not(feature = "tracing"))]
impl Trace {
    pub(crate) fn call(_operation: &'static str, _job_id: Option<&str>) -> Self {
        Self {}
    }

    pub(crate) fn attempt(&mut self, _attempt: u32) {}

    pub(crate) fn outcome(&self, _status: Option<u16>, _error: Option<&Error>) {}

    pub(crate) fn retry_after(&self, _wait: Duration) {}
}
