use std::time::Duration;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, StatusCode};
use serde::Deserialize;

/// Which calls a [`Fault`] applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
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

/// A scripted misbehaviour: instead of answering a matching request normally, the emulator does what the fault
/// says. Faults fire in the order they were armed; the first that matches a request takes it.
///
/// ```
/// use std::time::Duration;
/// use sendkit_mock::{Fault, Route};
///
/// // The next cancel gets a 429 asking to wait one second; the one after is served normally.
/// let throttled = Fault::status(429).header("retry-after", "1").on(Route::Cancel).times(1);
/// // One get in a hundred, chosen by the emulator's seeded random numbers, is a 503 page.
/// let flaky = Fault::status(503).body("<html>busy</html>").on(Route::Get).fraction(0.01);
/// // A cancel that takes effect but whose answer never arrives.
/// let lost = Fault::lose_answer().on(Route::Cancel).times(1);
/// # let _ = (throttled, flaky, lost);
/// ```
#[derive(Debug, Clone)]
pub struct Fault {
    pub(crate) route: Route,
    pub(crate) job_id: Option<String>,
    pub(crate) remaining: Option<u64>,
    pub(crate) fraction: Option<f64>,
    pub(crate) delay: Duration,
    pub(crate) action: Action,
    pub(crate) after_acting: bool,
}

#[derive(Debug, Clone)]
pub(crate) enum Action {
    Respond {
        status: StatusCode,
        headers: Vec<(HeaderName, HeaderValue)>,
        body: Bytes,
        shape: BodyShape,
    },
    /// Reset the connection (RST) without answering or acting.
    Reset,
    /// Act on the request as usual, then close the connection without answering.
    LoseAnswer,
    /// Read the request, then break the TLS session (a record the client cannot take) instead of answering.
    TlsAlert,
    /// A new connection: never answer the TLS handshake.
    StallHandshake,
    /// A new connection: reset it before reading anything.
    ResetOnAccept,
    /// A token bucket in front of the API, as a gateway's rate limiter: requests over the rate get a bare 429.
    RateLimit {
        per_second: f64,
        burst: f64,
        tokens: f64,
        refilled: Option<std::time::Instant>,
        /// Say the budget on every answer: the IETF `RateLimit-Policy` and `RateLimit` fields.
        advertise: bool,
    },
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum BodyShape {
    Whole,
    /// Send the first `after` bytes, pause, then the rest.
    Stall {
        after: usize,
        pause: Duration,
    },
    /// Declare the whole body's length, send `sent` bytes of it, then close.
    Truncate {
        sent: usize,
    },
    /// Repeat the body, chunked, until `limit` bytes were sent or the client hangs up.
    Endless {
        limit: u64,
    },
}

/// The most an endless body sends: it stops by itself.
pub const ENDLESS_LIMIT: u64 = 1 << 30;

impl Fault {
    fn new(action: Action) -> Self {
        let (route, job_id, remaining, fraction, delay) = (Route::Any, None, None, None, Duration::ZERO);
        Self { route, job_id, remaining, fraction, delay, action, after_acting: false }
    }

    /// Answer with `status` and an empty body. A number that is not a valid HTTP status becomes 500.
    pub fn status(status: u16) -> Self {
        Self::new(Action::Respond {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            headers: Vec::new(),
            body: Bytes::new(),
            shape: BodyShape::Whole,
        })
    }

    /// Answer `307 Temporary Redirect` to `location`.
    pub fn redirect(location: &str) -> Self {
        Self::status(307).header("location", location)
    }

    /// Reset the connection (TCP RST) before any answer, without acting on the request.
    pub fn reset() -> Self {
        Self::new(Action::Reset)
    }

    /// Act on the request as usual (the job is cancelled, the credits charged), then close the connection
    /// without answering: the client cannot know the outcome.
    pub fn lose_answer() -> Self {
        Self::new(Action::LoseAnswer)
    }

    /// A rate limiter in front of the API, as nginx's `limit_req` or most gateways answer: `per_second` requests a
    /// second on average, `burst` at once; a request over the limit gets `429` with an HTML body and no
    /// `Retry-After`, and is not acted on. It stays armed (`times` and `fraction` do not apply); requests it lets
    /// through go on to the next fault, or to the API.
    pub fn rate_limit(per_second: f64, burst: u32) -> Self {
        let (per_second, burst) = (per_second.max(0.001), f64::from(burst.max(1)));
        Self::new(Action::RateLimit { per_second, burst, tokens: burst, refilled: None, advertise: false })
    }

    /// With [`Fault::rate_limit`]: the limiter says its budget on every answer, passed or refused, as the IETF
    /// RateLimit header fields do (`RateLimit-Policy: "limiter";q=PER_SECOND;w=1` and
    /// `RateLimit: "limiter";r=LEFT;t=SECONDS`), so that a client can pace before it meets a 429.
    pub fn with_rate_limit_headers(mut self) -> Self {
        if let Action::RateLimit { advertise, .. } = &mut self.action {
            *advertise = true;
        }
        self
    }

    /// Over TLS: read the request, then, instead of answering, send the client a TLS record it cannot accept, as a
    /// gateway that fails mid-session does. The request is not acted on unless [`Fault::after_acting`].
    pub fn tls_alert() -> Self {
        Self::new(Action::TlsAlert)
    }

    /// Over TLS, for the next new connection(s): accept it and never answer the handshake. A connection-level fault:
    /// it takes connections, not requests, so its route and job are not looked at.
    pub fn stall_handshake() -> Self {
        Self::new(Action::StallHandshake)
    }

    /// For the next new connection(s): accept it and reset it (TCP RST) before reading anything. A
    /// connection-level fault, as [`Fault::stall_handshake`].
    pub fn reset_on_accept() -> Self {
        Self::new(Action::ResetOnAccept)
    }

    /// Act on the request as usual first (the job is cancelled, the credits charged), then misbehave as the fault
    /// says: a 5xx, an unreadable 2xx, a body cut short, all after the effect.
    pub fn after_acting(mut self) -> Self {
        self.after_acting = true;
        self
    }

    /// Whether the fault takes new connections rather than requests.
    pub(crate) fn on_connections(&self) -> bool {
        matches!(self.action, Action::StallHandshake | Action::ResetOnAccept)
    }

    /// Add a response header. A name or value that is not valid HTTP is skipped.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        if let (Action::Respond { headers, .. }, Ok(name), Ok(value)) =
            (&mut self.action, HeaderName::try_from(name), HeaderValue::try_from(value))
        {
            headers.push((name, value));
        }
        self
    }

    /// Answer with this body.
    pub fn body(mut self, bytes: impl Into<Bytes>) -> Self {
        if let Action::Respond { body, .. } = &mut self.action {
            *body = bytes.into();
        }
        self
    }

    /// Send the first `after` bytes of the body, then pause for `pause` before the rest.
    pub fn stall_body(self, after: usize, pause: Duration) -> Self {
        self.shape(BodyShape::Stall { after, pause })
    }

    /// Declare the whole body's `Content-Length`, send only its first `sent` bytes, then close the connection.
    pub fn truncate_body(self, sent: usize) -> Self {
        self.shape(BodyShape::Truncate { sent })
    }

    /// Send the body over and over, chunked with no length, until the client hangs up (or 1 GiB was sent).
    pub fn endless_body(self) -> Self {
        self.shape(BodyShape::Endless { limit: ENDLESS_LIMIT })
    }

    fn shape(mut self, new: BodyShape) -> Self {
        if let Action::Respond { shape, .. } = &mut self.action {
            *shape = new;
        }
        self
    }

    /// Wait this long before answering at all.
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

    /// Apply to this fraction (0 to 1) of matching requests, drawn from the emulator's seeded random numbers
    /// ([`MockBuilder::fault_seed`](crate::MockBuilder::fault_seed)).
    pub fn fraction(mut self, fraction: f64) -> Self {
        self.fraction = Some(fraction.clamp(0.0, 1.0));
        self
    }

    pub(crate) fn matches(&self, route: Route, job_id: Option<&str>) -> bool {
        !self.on_connections()
            && (self.route == Route::Any || self.route == route)
            && self.job_id.as_deref().is_none_or(|wanted| Some(wanted) == job_id)
            && self.remaining != Some(0)
    }
}

/// A fault as the admin route takes it, in JSON:
/// `{"route": "cancel", "status": 503, "headers": {"retry-after": "1"}, "body": "...", "times": 2}`, or with
/// `"kind": "reset"` / `"lose_answer"` / `"tls_alert"` / `"stall_handshake"` / `"reset_on_accept"`, and optionally
/// `delayMs`, `stallAfter` + `stallMs`, `truncateTo`, `endless`, `jobId`, `fraction`, `afterActing`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct FaultSpec {
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    route: Option<Route>,
    #[serde(default)]
    job_id: Option<String>,
    #[serde(default)]
    status: Option<u16>,
    #[serde(default)]
    headers: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    delay_ms: Option<u64>,
    #[serde(default)]
    stall_after: Option<usize>,
    #[serde(default)]
    stall_ms: Option<u64>,
    #[serde(default)]
    truncate_to: Option<usize>,
    #[serde(default)]
    endless: bool,
    #[serde(default)]
    times: Option<u64>,
    #[serde(default)]
    fraction: Option<f64>,
    #[serde(default)]
    after_acting: bool,
    #[serde(default)]
    per_second: Option<f64>,
    #[serde(default)]
    burst: Option<u32>,
    /// With `rate_limit`: say the budget in the IETF RateLimit fields on every answer.
    #[serde(default)]
    rate_limit_headers: bool,
}

impl FaultSpec {
    pub(crate) fn into_fault(self) -> Result<Fault, String> {
        let mut fault = match self.kind.as_deref() {
            None | Some("respond") => {
                let mut fault = Fault::status(self.status.ok_or("a fault that responds needs a status")?);
                for (name, value) in &self.headers {
                    fault = fault.header(name, value);
                }
                if let Some(body) = self.body {
                    fault = fault.body(body);
                }
                if let Some(after) = self.stall_after {
                    fault = fault.stall_body(after, Duration::from_millis(self.stall_ms.unwrap_or(1000)));
                }
                if let Some(sent) = self.truncate_to {
                    fault = fault.truncate_body(sent);
                }
                if self.endless {
                    fault = fault.endless_body();
                }
                fault
            }
            Some("reset") => Fault::reset(),
            Some("lose_answer") => Fault::lose_answer(),
            Some("tls_alert") => Fault::tls_alert(),
            Some("stall_handshake") => Fault::stall_handshake(),
            Some("reset_on_accept") => Fault::reset_on_accept(),
            Some("rate_limit") => {
                let limiter =
                    Fault::rate_limit(self.per_second.ok_or("a rate limit needs perSecond")?, self.burst.unwrap_or(1));
                if self.rate_limit_headers {
                    limiter.with_rate_limit_headers()
                } else {
                    limiter
                }
            }
            Some(other) => return Err(format!("unknown fault kind {other:?}")),
        };
        if let Some(route) = self.route {
            fault = fault.on(route);
        }
        if let Some(job_id) = self.job_id {
            fault = fault.for_job(job_id);
        }
        if let Some(ms) = self.delay_ms {
            fault = fault.delay(Duration::from_millis(ms));
        }
        if let Some(times) = self.times {
            fault = fault.times(times);
        }
        if let Some(fraction) = self.fraction {
            fault = fault.fraction(fraction);
        }
        if self.after_acting {
            fault = fault.after_acting();
        }
        Ok(fault)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_example_in_the_fault_reference_arms_a_fault() {
        let examples: Vec<&str> =
            crate::FAULTS_HELP.lines().map(str::trim).filter(|line| line.starts_with('{')).collect();
        assert_eq!(examples.len(), 14);
        for example in examples {
            let spec: FaultSpec = serde_json::from_str(example).unwrap_or_else(|e| panic!("{example}: {e}"));
            spec.into_fault().unwrap_or_else(|e| panic!("{example}: {e}"));
        }
    }
}
