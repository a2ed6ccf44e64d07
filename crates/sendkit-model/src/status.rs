use crate::string_enum::string_enum;

string_enum! {
    /// Where a job is in its life: `pending` → `processing` → one of `completed`, `failed`, `cancelled`.
    ///
    /// ```
    /// use sendkit_model::JobStatus;
    ///
    /// let status: JobStatus = serde_json::from_str(r#""processing""#).unwrap();
    /// assert!(status.is_cancellable());
    /// assert!(!status.is_terminal());
    ///
    /// // A status this SDK does not know yet still parses, and is written back as it came.
    /// let status: JobStatus = serde_json::from_str(r#""paused""#).unwrap();
    /// assert_eq!(status, JobStatus::Unknown("paused".into()));
    /// assert_eq!(serde_json::to_string(&status).unwrap(), r#""paused""#);
    /// ```
    pub enum JobStatus {
        /// Queued, not started.
        Pending = "pending",
        /// Running.
        Processing = "processing",
        /// Finished; every item was processed.
        Completed = "completed",
        /// Finished with an error.
        Failed = "failed",
        /// Stopped by a cancel request.
        Cancelled = "cancelled",
    }
}

impl JobStatus {
    /// Whether the job can no longer change: `completed`, `failed` or `cancelled`.
    ///
    /// An unknown status is not terminal: a client waiting on a job keeps watching rather than stopping on a
    /// state it cannot interpret.
    pub fn is_terminal(&self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Cancelled)
    }

    /// Whether the API accepts a cancel for a job in this status: `pending` or `processing`.
    ///
    /// An unknown status is not cancellable as far as the SDK knows; the server has the last word either way.
    pub fn is_cancellable(&self) -> bool {
        matches!(self, Self::Pending | Self::Processing)
    }
}
