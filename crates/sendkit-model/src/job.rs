use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::{JobStatus, JobType};

/// An enrichment job, as `GET /v1/enrichment/jobs/{jobId}` and the cancel call answer it.
///
/// Fields that some answers leave out (the cancel answer has no `totalLeads`, `createdAt` or `startedAt`) are
/// `Option`. Fields the SDK does not know are kept in [`Job::unknown`], so a new field on the server never breaks
/// parsing and is never lost. Written back, a job reads as it came in: a field that was absent stays absent, one
/// that was `null` stays `null`, an unknown one is there; a job made with [`Job::new`] writes only the fields that
/// are set.
///
/// ```
/// use sendkit_model::{Job, JobStatus};
///
/// let job: Job = serde_json::from_str(r#"{
///     "id": "bulk_email_verification_1710000000000_abc1234",
///     "type": "email_verification",
///     "status": "cancelled",
///     "metadata": {"totalItems": 100, "processedItems": 0, "successCount": 0, "failedCount": 0, "creditsUsed": 100},
///     "updatedAt": "2025-03-19T10:01:00.000Z",
///     "completedAt": "2025-03-19T10:01:00.000Z"
/// }"#).unwrap();
/// assert_eq!(job.status, JobStatus::Cancelled);
/// assert_eq!(job.metadata.as_ref().unwrap().total_items, 100);
/// assert!(job.created_at.is_none());
/// ```
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "crate::wire::JobWire", into = "crate::wire::JobWire")]
#[non_exhaustive]
pub struct Job {
    /// The job's ID, opaque (for example `bulk_email_verification_1710000000000_abc1234`).
    pub id: String,
    /// What the job does.
    pub job_type: JobType,
    /// Where the job is in its life.
    pub status: JobStatus,
    /// Progress and cost.
    pub metadata: Option<JobMetadata>,
    /// How many leads the job was created for.
    pub total_leads: Option<u64>,
    /// When the job was created.
    pub created_at: Option<Timestamp>,
    /// When the job last changed.
    pub updated_at: Option<Timestamp>,
    /// When processing started; `None` while pending.
    pub started_at: Option<Timestamp>,
    /// When the job reached a terminal status (for a cancelled job, the cancel time).
    pub completed_at: Option<Timestamp>,
    /// Fields the SDK does not know (an `error` text, say), kept and written back as they came.
    pub unknown: crate::Unknown,
    /// Which of the optional fields came as an explicit `null`, so that they are written back that way.
    pub(crate) nulls: crate::wire::Nulls,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job")
            .field("id", &self.id)
            .field("job_type", &self.job_type)
            .field("status", &self.status)
            .field("metadata", &self.metadata)
            .field("total_leads", &self.total_leads)
            .field("created_at", &self.created_at)
            .field("updated_at", &self.updated_at)
            .field("started_at", &self.started_at)
            .field("completed_at", &self.completed_at)
            .field("unknown", &self.unknown)
            .finish()
    }
}

impl Job {
    /// A job with the given ID, type and status and every optional field unset.
    pub fn new(id: impl Into<String>, job_type: JobType, status: JobStatus) -> Self {
        Self {
            id: id.into(),
            job_type,
            status,
            metadata: None,
            total_leads: None,
            created_at: None,
            updated_at: None,
            started_at: None,
            completed_at: None,
            unknown: crate::Unknown::new(),
            nulls: crate::wire::Nulls::default(),
        }
    }
}

/// A job's progress and cost.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", remote = "Self")]
#[non_exhaustive]
pub struct JobMetadata {
    /// Items the job will process.
    #[serde(default)]
    pub total_items: u64,
    /// Items processed so far.
    #[serde(default)]
    pub processed_items: u64,
    /// Items processed successfully.
    #[serde(default)]
    pub success_count: u64,
    /// Items that failed.
    #[serde(default)]
    pub failed_count: u64,
    /// Credits the job was charged.
    #[serde(default)]
    pub credits_used: u64,
    /// Fields the SDK does not know (`refundedCredits`, say), kept and written back as they came.
    #[serde(flatten, skip_deserializing)]
    pub unknown: crate::Unknown,
}

crate::unknown::keeps_unknown!(JobMetadata);

impl JobMetadata {
    /// Metadata for a job of `total_items` items charged `credits_used` credits, with nothing processed yet.
    pub fn new(total_items: u64, credits_used: u64) -> Self {
        Self { total_items, credits_used, ..Self::default() }
    }
}
