use serde::{Deserialize, Serialize};

use crate::{EnrichmentType, JobStatus, JobType};

/// The body of `POST /v1/enrichment/enrich`: run each enrichment type over each lead.
///
/// ```
/// use sendkit_model::{EnrichRequest, EnrichmentType};
///
/// let body = EnrichRequest::new(["507f1f77bcf86cd799439011"], [EnrichmentType::Email]);
/// assert_eq!(
///     serde_json::to_string(&body).unwrap(),
///     r#"{"leadIds":["507f1f77bcf86cd799439011"],"enrichmentTypes":["email"]}"#,
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct EnrichRequest {
    /// The leads, as 24-hex-digit IDs.
    pub lead_ids: Vec<String>,
    /// The enrichments to run; the API creates one job per type.
    pub enrichment_types: Vec<EnrichmentType>,
}

impl EnrichRequest {
    /// A request to run `enrichment_types` over `lead_ids`.
    pub fn new<L, T>(lead_ids: L, enrichment_types: T) -> Self
    where
        L: IntoIterator,
        L::Item: Into<String>,
        T: IntoIterator<Item = EnrichmentType>,
    {
        Self {
            lead_ids: lead_ids.into_iter().map(Into::into).collect(),
            enrichment_types: enrichment_types.into_iter().collect(),
        }
    }
}

/// The `data` of a successful enrich: the jobs it created and what it charged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", remote = "Self")]
#[non_exhaustive]
pub struct EnrichResponse {
    /// One job per enrichment type, queued as `pending`.
    pub jobs: Vec<CreatedJob>,
    /// How many leads the request named.
    #[serde(default)]
    pub total_leads: u64,
    /// Credits deducted for the whole request.
    #[serde(default)]
    pub total_credits_charged: u64,
    /// Fields the SDK does not know, kept and written back as they came.
    #[serde(flatten, skip_deserializing)]
    pub unknown: crate::Unknown,
}

crate::unknown::keeps_unknown!(EnrichResponse);

impl EnrichResponse {
    /// A response listing `jobs`, for `total_leads` leads, charged `total_credits_charged` credits.
    pub fn new(jobs: Vec<CreatedJob>, total_leads: u64, total_credits_charged: u64) -> Self {
        Self { jobs, total_leads, total_credits_charged, unknown: crate::Unknown::new() }
    }
}

/// A job as the enrich answer lists it: note `jobId` (not `id`) and the counts at top level.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", remote = "Self")]
#[non_exhaustive]
pub struct CreatedJob {
    /// The new job's ID, the one to get or cancel it by.
    pub job_id: String,
    /// What the job does.
    #[serde(rename = "type")]
    pub job_type: JobType,
    /// Its status when created (`pending`).
    pub status: JobStatus,
    /// Items the job will process.
    #[serde(default)]
    pub total_items: u64,
    /// Credits charged for this job.
    #[serde(default)]
    pub credits_used: u64,
    /// Fields the SDK does not know, kept and written back as they came.
    #[serde(flatten, skip_deserializing)]
    pub unknown: crate::Unknown,
}

crate::unknown::keeps_unknown!(CreatedJob);

impl CreatedJob {
    /// A created job as the enrich answer lists it.
    pub fn new(
        job_id: impl Into<String>,
        job_type: JobType,
        status: JobStatus,
        total_items: u64,
        credits_used: u64,
    ) -> Self {
        Self { job_id: job_id.into(), job_type, status, total_items, credits_used, unknown: crate::Unknown::new() }
    }
}
