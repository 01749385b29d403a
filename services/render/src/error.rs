//! Render errors and their one mapping to the API error table.

use scout_common::{ApiError, ErrorCode};

/// What can go wrong in render.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// FFmpeg could not be initialised.
    #[error("ffmpeg init failed: {0}")]
    Init(String),
    /// A capability of a later milestone.
    #[error("{0}")]
    NotImplemented(&'static str),
}

impl From<RenderError> for ApiError {
    fn from(e: RenderError) -> Self {
        match e {
            RenderError::Init(m) => ApiError::new(ErrorCode::Internal, m),
            RenderError::NotImplemented(what) => ApiError::not_implemented(what),
        }
    }
}

impl From<RenderError> for tonic::Status {
    fn from(e: RenderError) -> Self {
        ApiError::from(e).to_status()
    }
}
