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

// The API's calls, one file each.
mod cancel_job;
mod cancel_outcome;
mod enrich;
mod get_job;
mod operation;
mod settle;

// Requests and answers.
mod check;
mod config;
mod path;
mod proxy;
mod response;
mod secret;
mod text;
mod trust;

// Errors.
mod error;
mod transport;

// The state machines and what they decide.
mod batch;
mod call;
pub mod engine;
mod flow;
mod observe;
mod pace;
mod retry;
mod retry_after;
mod schedule;
mod trace;
mod wait;

pub use batch::ResultsInOrder;
pub use call::Call;
pub use cancel_job::CancelJob;
pub use cancel_outcome::CancelOutcome;
pub use config::{AuthStyle, CallSettings, Config, ConfigBuilder};
pub use enrich::Enrich;
pub use error::{ApiAnswer, CallInfo, Error, InvalidInput};
pub use flow::{Flow, Now, Step};
pub use get_job::GetJob;
pub use observe::{AttemptRecord, Observer};
pub use operation::{Idempotency, Operation};
pub use pace::Pacer;
pub use proxy::{Proxy, ProxyKind, ProxyServer};
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
