//! Vision errors and their one mapping to the API error table.

use scout_common::jobs::JobError;
use scout_common::{ApiError, ErrorCode};

/// A job-shaped failure as an RPC error: causes that will not go away
/// (a clip render cannot read, a model that refuses or answers nonsense)
/// are FAILED_PRECONDITION; outages and rate limits are UNAVAILABLE.
pub fn job_status(e: JobError) -> tonic::Status {
    match e {
        JobError::Permanent(m) => ApiError::new(ErrorCode::FailedPrecondition, m).to_status(),
        JobError::Retryable(m) => ApiError::new(ErrorCode::ProviderFailed, m).to_status(),
    }
}
