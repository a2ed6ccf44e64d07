//! The sans-IO core of the SendKit enrichment jobs SDK.
//!
//! Everything that decides lives here, and nothing that waits: no sockets, no clock, no sleeping, no runtime.
//!
//! - An [`Operation`] is one API call as a value — [`CancelJob`], [`GetJob`], [`Enrich`] — that builds an
//!   [`http::Request`] and parses an [`http::Response`] into a typed result or an [`Error`].
//! - A [`Call`] carries an operation out: it hands out requests and, given each outcome and the time, answers
//!   with the result or another attempt after a wait. Retries, `Retry-After` and the settling of a cancel whose
//!   answer was lost are decided here, once, for every adapter.
//! - [`WaitForJob`] says when to poll a job until it finishes, and reads each poll.
//! - [`Config`] holds the base URL, the [`ApiKey`] (redacted in `Debug`), auth style, timeouts and body limit.
//!
//! The layers: `sendkit-model` (serde types) → `sendkit-proto` (this crate) → `sendkit-ureq` (blocking) and
//! `sendkit-hyper` (async), the only crates that do I/O. Use an adapter unless you bring your own HTTP client; then
//! this crate alone is enough. `http` is re-exported so you compile against the same version.

mod call;
mod cancel_job;
mod config;
mod enrich;
mod error;
mod get_job;
mod operation;
mod path;
mod response;
mod retry;
mod secret;
mod wait;

pub use call::{Call, Step};
pub use cancel_job::CancelJob;
pub use config::{
    AuthStyle, Config, ConfigBuilder, DEFAULT_ATTEMPT_TIMEOUT, DEFAULT_BASE_URL, DEFAULT_BODY_LIMIT,
    DEFAULT_CONNECT_TIMEOUT, ENV_API_KEY, ENV_BASE_URL, ENV_WORKSPACE_ID, USER_AGENT_VALUE,
};
pub use enrich::Enrich;
pub use error::{causes, Error, InvalidInput, TransportError, TransportErrorKind, SNIPPET_LEN};
pub use get_job::GetJob;
pub use operation::{Idempotency, Operation, Settle};
pub use response::parse_response;
pub use retry::{parse_retry_after, RetryPolicy};
pub use secret::{ApiKey, KeyKind};
pub use wait::{WaitForJob, WaitPolicy, WaitStep};

pub use http;
pub use sendkit_model as model;
