//! Render errors and their one mapping to the API error table.

use scout_common::adapters::blob::BlobError;
use scout_common::{ApiError, ErrorCode};

/// What can go wrong in render.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// FFmpeg could not be initialised.
    #[error("ffmpeg init failed: {0}")]
    Init(String),
    /// A media file is not usable; names the file and what is wrong.
    #[error("{file}: {reason}")]
    InvalidMedia {
        /// The file (blob key or path) as the caller named it.
        file: String,
        /// What is wrong, e.g. "file is truncated".
        reason: String,
    },
    /// The request itself is wrong (a timeline without segments, say).
    #[error("{0}")]
    InvalidArgument(String),
    /// FFmpeg failed while working on good input.
    #[error("{context}: {source}")]
    Ffmpeg {
        /// What was being done.
        context: String,
        /// FFmpeg's error.
        source: ffmpeg_next::Error,
    },
    /// A speech provider failed.
    #[error("{0}")]
    Voice(#[from] crate::voice::VoiceError),
    /// The blob store failed.
    #[error(transparent)]
    Storage(#[from] BlobError),
    /// Local file work failed.
    #[error("{0}")]
    Io(String),
    /// The caller went away or the service is stopping.
    #[error("cancelled")]
    Cancelled,
    /// The GPU failed mid-job; callers redo the work on the CPU.
    #[error("GPU failure: {0}")]
    Gpu(String),
    /// The GPU encoder failed mid-job: the whole compose pass is redone with
    /// libx264 (a decode fallback, which redoes one window, cannot help).
    #[error("GPU encoder failure: {0}")]
    GpuEncode(String),
}

impl RenderError {
    /// An invalid-media error for `file`.
    pub fn media(file: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::InvalidMedia {
            file: file.into(),
            reason: reason.into(),
        }
    }

    /// Wraps an FFmpeg error with what was being done.
    pub fn ffmpeg(context: impl Into<String>) -> impl FnOnce(ffmpeg_next::Error) -> Self {
        let context = context.into();
        move |source| Self::Ffmpeg { context, source }
    }
}

impl From<std::io::Error> for RenderError {
    fn from(e: std::io::Error) -> Self {
        Self::Io(e.to_string())
    }
}

impl From<RenderError> for ApiError {
    fn from(e: RenderError) -> Self {
        let message = e.to_string();
        match e {
            RenderError::Init(_)
            | RenderError::Ffmpeg { .. }
            | RenderError::Io(_)
            | RenderError::Gpu(_)
            | RenderError::GpuEncode(_) => ApiError::new(ErrorCode::Internal, message),
            RenderError::InvalidMedia { file, .. } => {
                ApiError::new(ErrorCode::InvalidMedia, message).with_meta("file", file)
            }
            RenderError::InvalidArgument(_) => ApiError::new(ErrorCode::InvalidArgument, message),
            RenderError::Voice(v) => v.into(),
            RenderError::Storage(b) => b.into(),
            RenderError::Cancelled => ApiError::new(ErrorCode::Cancelled, message),
        }
    }
}

impl From<RenderError> for tonic::Status {
    fn from(e: RenderError) -> Self {
        ApiError::from(e).to_status()
    }
}
