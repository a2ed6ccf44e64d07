use std::time::Duration;

use http::{HeaderName, HeaderValue, StatusCode};

/// Which calls a [`Fault`] applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Route {
    /// Every request.
    Any,
    /// `POST /v1/enrichment/jobs/{jobId}/cancel`.
    Cancel,
    /// `GET /v1/enrichment/jobs/{jobId}`.
    Get,
    /// `POST /v1/enrichment/enrich`.
    Enrich,
}

/// A scripted misbehaviour: instead of acting on a matching request, the emulator answers as the fault says.
///
/// ```
/// use sendkit_mock::{Fault, Route};
///
/// // The next cancel gets a 429 asking to wait one second; the one after is served normally.
/// let fault = Fault::status(429).header("retry-after", "1").on(Route::Cancel).times(1);
/// # let _ = fault;
/// ```
#[derive(Debug, Clone)]
pub struct Fault {
    pub(crate) route: Route,
    pub(crate) job_id: Option<String>,
    pub(crate) remaining: Option<u64>,
    pub(crate) status: StatusCode,
    pub(crate) headers: Vec<(HeaderName, HeaderValue)>,
    pub(crate) body: Vec<u8>,
    pub(crate) delay: Duration,
}

impl Fault {
    /// Answer with `status` and an empty body. A status that is not a valid HTTP status becomes 500.
    pub fn status(status: u16) -> Self {
        Self {
            route: Route::Any,
            job_id: None,
            remaining: None,
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            headers: Vec::new(),
            body: Vec::new(),
            delay: Duration::ZERO,
        }
    }

    /// Add a response header. A name or value that is not valid HTTP is skipped.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            self.headers.push((name, value));
        }
        self
    }

    /// Answer with this body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// Wait this long before sending the response headers.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Apply to this route only (default: every route).
    pub fn on(mut self, route: Route) -> Self {
        self.route = route;
        self
    }

    /// Apply to requests for this job only.
    pub fn for_job(mut self, job_id: impl Into<String>) -> Self {
        self.job_id = Some(job_id.into());
        self
    }

    /// Apply to the next `count` matching requests only (default: every one).
    pub fn times(mut self, count: u64) -> Self {
        self.remaining = Some(count);
        self
    }

    pub(crate) fn matches(&self, route: Route, job_id: Option<&str>) -> bool {
        (self.route == Route::Any || self.route == route)
            && self.job_id.as_deref().is_none_or(|wanted| Some(wanted) == job_id)
            && self.remaining != Some(0)
    }
}
