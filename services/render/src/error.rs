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
    Voice(#[from] VoiceError),
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

/// Why speech failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum VoiceError {
    /// The text cannot be spoken (empty, too long, rejected by the provider).
    #[error("text rejected: {0}")]
    InvalidText(String),
    /// The voice does not exist for this provider.
    #[error("unknown voice: {0}")]
    UnknownVoice(String),
    /// The provider is throttling us.
    #[error("speech provider is rate-limiting: {0}")]
    RateLimited(String),
    /// The provider failed or could not be reached.
    #[error("speech provider failed: {0}")]
    Provider(String),
    /// The audio the provider returned could not be read.
    #[error("speech audio unreadable: {0}")]
    Audio(String),
}

impl VoiceError {
    /// Worth retrying later (or falling back to another provider).
    pub fn is_transient(&self) -> bool {
        matches!(self, VoiceError::RateLimited(_) | VoiceError::Provider(_))
    }
}

/// Why a voice could not be cloned.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CloneError {
    /// The vendor refused the recording or its training failed (its
    /// reason); the same audio would fail again.
    #[error("{0}")]
    Rejected(String),
    /// This node cannot clone voices (no clone provider configured).
    #[error("{0}")]
    Unsupported(String),
    /// The vendor is throttling us, after our own backoff.
    #[error("voice-clone provider is rate-limiting: {0}")]
    RateLimited(String),
    /// The vendor failed, could not be reached, or training did not finish
    /// in time.
    #[error("voice-clone provider failed: {0}")]
    Provider(String),
}

impl CloneError {
    /// Worth retrying later.
    pub fn is_transient(&self) -> bool {
        matches!(self, CloneError::RateLimited(_) | CloneError::Provider(_))
    }

    /// The shared error code.
    pub fn code(&self) -> ErrorCode {
        match self {
            CloneError::Rejected(_) => ErrorCode::InvalidMedia,
            CloneError::Unsupported(_) => ErrorCode::FailedPrecondition,
            CloneError::RateLimited(_) => ErrorCode::ProviderRateLimited,
            CloneError::Provider(_) => ErrorCode::ProviderFailed,
        }
    }
}

impl From<VoiceError> for ApiError {
    fn from(e: VoiceError) -> Self {
        let code = match e {
            VoiceError::InvalidText(_) | VoiceError::UnknownVoice(_) => ErrorCode::InvalidArgument,
            VoiceError::RateLimited(_) => ErrorCode::ProviderRateLimited,
            VoiceError::Provider(_) => ErrorCode::ProviderFailed,
            VoiceError::Audio(_) => ErrorCode::Internal,
        };
        ApiError::new(code, e.to_string())
    }
}
