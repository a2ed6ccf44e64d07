//! Serde types of the SendKit enrichment jobs API (`https://api.sendkit.ai/v1/enrichment/...`).
//!
//! ## Which crate
//! `sendkit-model` (types only) → `sendkit-proto` (sans-IO: requests, responses, retries, waits) →
//! `sendkit-ureq` (blocking) or `sendkit-hyper` (async), the only crates that do I/O; `sendkit-mock` is the
//! emulator for tests. Pick one adapter; use proto alone to bring your own HTTP client.
//!
//! This crate has no HTTP in it: it is the vocabulary that [`sendkit-proto`](https://docs.rs/sendkit-proto)
//! builds requests from and parses responses into, and that other crates can share without pulling in a
//! transport.
//!
//! - [`Job`], [`JobStatus`], [`JobType`], [`JobMetadata`]: a job as `GET` and cancel answer it.
//! - [`EnrichRequest`], [`EnrichResponse`], [`CreatedJob`], [`EnrichmentType`]: the enrich call.
//! - [`SuccessEnvelope`], [`ErrorEnvelope`], [`StatusErrorBody`], [`ErrorCode`]: the envelopes around them.
//!
//! Enums the server controls ([`JobStatus`], [`JobType`], [`EnrichmentType`], [`ErrorCode`]) keep values they do
//! not know as `Unknown(String)`, and structs ignore unknown fields: a new value on the server never breaks a
//! client. Timestamps are [`jiff::Timestamp`]s, written back as the API writes them (`2025-03-19T10:00:00.000Z`).

mod enrich;
mod envelope;
mod error_code;
mod job;
mod job_type;
mod status;
mod string_enum;
mod timestamp;
mod unknown;
mod wire;

pub use enrich::{CreatedJob, EnrichRequest, EnrichResponse};
pub use envelope::{ApiErrorBody, ErrorEnvelope, StatusErrorBody, SuccessEnvelope};
pub use error_code::ErrorCode;
pub use jiff;
pub use jiff::Timestamp;

pub use job::{Job, JobMetadata};
pub use job_type::{EnrichmentType, JobType};
pub use status::JobStatus;
pub use unknown::Unknown;
