//! Edge errors and their one mapping to the API error table.
//!
//! The edge's own failures are about routing and transport: a method it
//! does not expose, a request it cannot read, an owner that is down or
//! slow. What an owning service answers passes through unchanged (it is
//! already a status from the table).

use scout_common::{ApiError, ErrorCode, ServiceName};

/// What can go wrong at the edge itself.
#[derive(Debug, thiserror::Error)]
pub enum EdgeError {
    /// A method the public API does not have, of a public service.
    #[error("unknown method: {0}")]
    UnknownMethod(String),
    /// A path of a service that is internal or does not exist.
    #[error("unknown or non-public service: {0}")]
    NotPublic(String),
    /// The request body is larger than the message limit.
    #[error("request exceeds the {limit}-byte message limit")]
    TooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// The request body could not be read (the client went away, say).
    #[error("request body could not be read: {0}")]
    Unreadable(String),
    /// The owning service did not answer within the call's deadline.
    #[error("the {service} service did not answer within {ms} ms")]
    Deadline {
        /// The owner.
        service: ServiceName,
        /// The deadline, in milliseconds.
        ms: u128,
    },
    /// The owning service cannot be reached.
    #[error("the {service} service is unavailable: {cause}")]
    Unavailable {
        /// The owner.
        service: ServiceName,
        /// What failed, e.g. "Connection refused".
        cause: String,
    },
    /// A failure already in the table (framing, rate limits, tokens).
    #[error(transparent)]
    Api(#[from] ApiError),
}

impl From<EdgeError> for ApiError {
    fn from(e: EdgeError) -> Self {
        let message = e.to_string();
        match e {
            EdgeError::UnknownMethod(_) | EdgeError::NotPublic(_) => {
                ApiError::new(ErrorCode::UnknownRoute, message)
            }
            EdgeError::TooLarge { .. } => ApiError::new(ErrorCode::PayloadTooLarge, message),
            EdgeError::Unreadable(_) => ApiError::new(ErrorCode::MalformedRequest, message),
            EdgeError::Deadline { .. } => ApiError::new(ErrorCode::DeadlineExceeded, message),
            EdgeError::Unavailable { .. } => ApiError::new(ErrorCode::ServiceUnavailable, message),
            EdgeError::Api(api) => api,
        }
    }
}
