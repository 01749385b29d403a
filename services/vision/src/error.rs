//! Vision errors and their one mapping to the API error table.

use scout_common::jobs::JobError;
use scout_common::{ApiError, ErrorCode};

/// What can go wrong in vision's RPCs.
#[derive(Debug, thiserror::Error)]
pub enum VisionError {
    /// A request field is missing or out of range.
    #[error("{field}: {reason}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The analysis or the writing failed; the job error says whether it
    /// is worth retrying and why.
    #[error(transparent)]
    Job(#[from] JobError),
}

impl VisionError {
    /// An invalid request field.
    pub fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Self::Invalid {
            field,
            reason: reason.into(),
        }
    }
}

impl From<VisionError> for ApiError {
    fn from(e: VisionError) -> Self {
        match e {
            VisionError::Invalid { field, reason } => ApiError::invalid_field(field, reason),
            // Causes that will not go away (a clip render cannot read, a
            // model that refuses or answers nonsense) are FAILED_PRECONDITION;
            // outages and rate limits are UNAVAILABLE. The cause's own code
            // goes along as `cause`.
            VisionError::Job(j) => {
                let code = if j.retryable {
                    ErrorCode::ProviderFailed
                } else {
                    ErrorCode::FailedPrecondition
                };
                ApiError::new(code, j.message).with_meta("cause", (j.code as i32).to_string())
            }
        }
    }
}

impl From<VisionError> for tonic::Status {
    fn from(e: VisionError) -> Self {
        ApiError::from(e).to_status()
    }
}
