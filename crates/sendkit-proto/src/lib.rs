//! The sans-IO core of the SendKit enrichment jobs SDK.
//!
//! Everything that decides lives here, and nothing that waits: no sockets, no clock, no sleeping, no runtime.
//!
//! - An [`Operation`] is one API call as a value — [`CancelJob`], [`GetJob`], [`Enrich`] — that builds an
//!   [`http::Request`] and parses an [`http::Response`] into a typed result or an [`Error`].
//! - A [`Flow`] is a state machine a driver runs to the end, step by [`Step`]: a [`Call`] carries out one
//!   operation (retries, `Retry-After`, the call's deadline); a [`CancelJobFlow`] runs a cancel's call and, when
//!   its outcome is unknown, a read of the job; a [`WaitForJob`] polls a job until it finishes, each poll a call
//!   of its own.
//! - A [`Transport`] (blocking) or [`AsyncTransport`] sends one request within its limits and reports the facts of
//!   a failure ([`TransportError`]); `sendkit-ureq` and `sendkit-hyper` provide one each and drive the flows over
//!   any transport.
//! - [`Config`] holds the base URL, the [`ApiKey`] (redacted in `Debug`), auth style, timeouts, deadline, body
//!   limit, user agent and [`Proxy`].
//!
//! The layers: `sendkit-model` (serde types) → `sendkit-proto` (this crate) → `sendkit-ureq` (blocking) and
//! `sendkit-hyper` (async), the only crates that do I/O. `http` is re-exported so you compile against the same
//! version.

// The folders say the architecture (ARCHITECTURE.md, "where each decision lives"); each module is also reachable
// at the crate's root, as `crate::call`, so that a file names what it uses, not where it sits.

/// The API's operations, one file each; the one check of the response envelope; paths.
mod api {
    pub(crate) mod cancel_job;
    pub(crate) mod cancel_outcome;
    pub(crate) mod enrich;
    pub(crate) mod get_job;
    pub(crate) mod operation;
    pub(crate) mod path;
    pub(crate) mod response;
}

/// One call: its attempts, retry classification, backoff, Retry-After, pacing, and what telemetry sees of it.
mod calls {
    pub(crate) mod call;
    pub(crate) mod observe;
    pub(crate) mod pace;
    pub(crate) mod rate_limit;
    pub(crate) mod retry;
    pub(crate) mod retry_after;
    pub(crate) mod trace;
}

/// Flows made of calls: the state-machine vocabulary, a cancel with its settling, a wait, many flows at once.
mod flows {
    pub(crate) mod batch;
    pub(crate) mod flow;
    pub(crate) mod progress;
    pub(crate) mod schedule;
    pub(crate) mod settle;
    pub(crate) mod wait;
}

/// Configuration: values and builder, the environment, proxies, secrets, trust, and how a setting is checked.
mod settings {
    pub(crate) mod check;
    pub(crate) mod config;
    pub(crate) mod proxy;
    pub(crate) mod secret;
    pub(crate) mod trust;
}

/// The one error type and how its messages are written.
mod errors {
    pub(crate) mod error;
    pub(crate) mod text;
}

// The seam (transport, clock, sleep) and the loops that run every flow over it.
pub mod engine;

pub(crate) use api::{cancel_job, cancel_outcome, enrich, get_job, operation, path, response};
pub(crate) use calls::{call, observe, pace, rate_limit, retry, retry_after, trace};
pub(crate) use engine::transport;
pub(crate) use errors::{error, text};
pub(crate) use flows::{batch, flow, progress, schedule, settle, wait};
pub(crate) use settings::{check, config, proxy, secret, trust};

pub use batch::ResultsInOrder;
pub use call::Call;
pub use cancel_job::CancelJob;
pub use cancel_outcome::CancelOutcome;
pub use config::{AuthStyle, CallSettings, Config, ConfigBuilder};
pub use enrich::Enrich;
pub use error::{ApiAnswer, CallInfo, Error, ErrorKind, InvalidInput};
pub use flow::{Flow, Now, Step};
pub use get_job::GetJob;
pub use observe::{AttemptRecord, Observer};
pub use operation::{Idempotency, Operation};
pub use pace::{Pacer, Slot};
pub use progress::{BatchProgress, JobStage};
pub use proxy::{Proxy, ProxyKind, ProxyServer};
pub use rate_limit::RateLimitStatus;
pub use response::parse_response;
pub use retry::RetryPolicy;
pub use schedule::{FlowSchedule, Turn, WaitEvent};
pub use secret::{ApiKey, KeyKind};
pub use settle::CancelJobFlow;
pub use transport::causes;
pub use transport::{AsyncTransport, Attempt, Delivery, Transport, TransportError, TransportErrorKind};
pub use trust::{ClientIdentity, KeyFormat};
pub use wait::{WaitForJob, WaitPolicy};

pub use http;
pub use sendkit_model as model;
