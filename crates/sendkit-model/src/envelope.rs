use serde::{Deserialize, Serialize};

use crate::ErrorCode;

/// A successful answer: `{"success": true, "data": ...}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SuccessEnvelope<T> {
    /// Always `true` on a success.
    pub success: bool,
    /// The call's result.
    pub data: T,
}

impl<T> SuccessEnvelope<T> {
    /// Wraps `data` as a success.
    pub fn new(data: T) -> Self {
        Self { success: true, data }
    }
}

/// The API's error answer, as the cancel page shows it:
/// `{"success": false, "error": {"code": "NOT_FOUND", "message": "Job not found or expired"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ErrorEnvelope {
    /// Always `false` on an error.
    pub success: bool,
    /// What went wrong.
    pub error: ApiErrorBody,
}

impl ErrorEnvelope {
    /// An error answer with this code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { success: false, error: ApiErrorBody { code, message: message.into(), unknown: crate::Unknown::new() } }
    }
}

/// The `error` object of an [`ErrorEnvelope`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(remote = "Self")]
#[non_exhaustive]
pub struct ApiErrorBody {
    /// Machine-readable code; unknown codes are kept as their string.
    pub code: ErrorCode,
    /// Human-readable message.
    #[serde(default)]
    pub message: String,
    /// Fields the SDK does not know (details, a documentation link), kept as they came.
    #[serde(flatten, skip_deserializing)]
    pub unknown: crate::Unknown,
}

crate::unknown::keeps_unknown!(ApiErrorBody);

/// The second error shape other pages of the API show:
/// `{"error": "Not Found", "message": "The requested resource was not found", "code": 404}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StatusErrorBody {
    /// The HTTP reason phrase, as a string.
    pub error: String,
    /// Human-readable message.
    #[serde(default)]
    pub message: String,
    /// The HTTP status, as a number.
    #[serde(default)]
    pub code: Option<u16>,
}
