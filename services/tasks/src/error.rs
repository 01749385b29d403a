//! Tasks errors and their one mapping to the API error table: each way a
//! task, clip, script or job request can fail as a variant, its message
//! written once here, its business code (seed 000 §6.3) given once below.

use scout_common::adapters::db::DbError;
use scout_common::{ApiError, ErrorCode};

/// What can go wrong in tasks.
#[derive(Debug, thiserror::Error)]
pub enum TasksError {
    /// A request field is wrong (missing, out of range, not one of the choices).
    #[error("{field}: {reason}")]
    Invalid {
        /// The field.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// No such thing for this user (another user's task does not exist for
    /// this one).
    #[error("{0} not found")]
    NotFound(String),
    /// The state machine refuses the step from where the task is.
    #[error("cannot {action} while the task is {current}; from {current} it may go to {allowed}")]
    Transition {
        /// What was asked, e.g. "start the analysis".
        action: &'static str,
        /// Where the task is (upper case, as the API names statuses).
        current: String,
        /// Where it may go, comma-separated, or "nothing".
        allowed: String,
    },
    /// The task changed between reading and writing it (another request
    /// won); says what to do.
    #[error("{0}")]
    Changed(&'static str),
    /// The step needs something the task does not have yet; says what.
    #[error("{0}")]
    NotReady(String),
    /// The output is asked for before the task completed.
    #[error("the video is not ready: the task is {current}")]
    VideoNotReady {
        /// Where the task is.
        current: String,
    },
    /// A clip key this task was never given (answered as if it did not exist).
    #[error("oss_key: uploaded clip not found")]
    UnknownUpload,
    /// Confirmed before anything was uploaded.
    #[error("oss_key: nothing was uploaded to this key yet; PUT the clip to the upload URL first")]
    NotUploaded,
    /// The chosen voice sample does not exist for this user.
    #[error("voice sample {0} not found")]
    UnknownVoiceSample(i64),
    /// The chosen cloned voice is not ready.
    #[error("voice sample {0} is not cloned yet; choose a standard voice or wait")]
    VoiceNotCloned(i64),
    /// The task's script regenerations are used up.
    #[error("no script regenerations left: {max} per task")]
    NoRegenerationsLeft {
        /// Regenerations a task gets.
        max: i32,
    },
    /// A quota of the user's membership tier is used up until `resets_in`.
    #[error(
        "quota {quota} used up: the {tier} tier makes {limit} video(s) a day; the next day starts in {} (midnight UTC{offset_hours:+})",
        human(*resets_in)
    )]
    QuotaExceeded {
        /// Which quota (the config key).
        quota: &'static str,
        /// The caller's tier.
        tier: String,
        /// The tier's limit.
        limit: u32,
        /// Until the next quota day.
        resets_in: std::time::Duration,
        /// Where quota days start.
        offset_hours: i32,
    },
    /// A per-task quota of the user's tier is used up (clips per task).
    #[error("{message} (quota {quota} of the {tier} tier)")]
    TierLimit {
        /// Which quota (the config key).
        quota: &'static str,
        /// The caller's tier.
        tier: String,
        /// What is at its limit.
        message: String,
    },
    /// An upload of a type the task does not take.
    #[error("content_type: {what} ({allowed})")]
    NotVideo {
        /// What the task takes.
        what: &'static str,
        /// The accepted types.
        allowed: String,
    },
    /// The upload holds no video (deleted).
    #[error("the upload has no video stream (deleted)")]
    NoVideoStream,
    /// The upload cannot be read as video (deleted).
    #[error("the upload is not a readable video: {0} (deleted)")]
    UnreadableClip(String),
    /// An image or backing track that cannot be used (deleted); says why.
    #[error("{0} (deleted)")]
    BadMedia(String),
    /// A dependency (job bus, render, identity) cannot serve now; says what
    /// and when to try again.
    #[error("{0}")]
    Unavailable(String),
    /// The object store cannot serve now; says what.
    #[error("{0}")]
    Storage(String),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] DbError),
    /// A failure already in the table (another service's answer).
    #[error(transparent)]
    Api(#[from] ApiError),
}

/// "5 h 12 min", "40 s".
fn human(d: std::time::Duration) -> String {
    let s = d.as_secs();
    match (s / 3600, s % 3600 / 60) {
        (0, 0) => format!("{s} s"),
        (0, m) => format!("{m} min"),
        (h, m) => format!("{h} h {m} min"),
    }
}

impl TasksError {
    /// An invalid request field.
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// No such thing (`what`: "task 7", "clip 3 of task 7").
    pub fn not_found(what: impl Into<String>) -> Self {
        Self::NotFound(what.into())
    }

    /// The request field the error is about, for clients to mark.
    fn field(&self) -> Option<&'static str> {
        Some(match self {
            Self::UnknownUpload | Self::NotUploaded => "oss_key",
            Self::VoiceNotCloned(_) | Self::UnknownVoiceSample(_) => "voice.voice_sample_id",
            Self::NotVideo { .. } => "content_type",
            _ => return None,
        })
    }

    fn code(&self) -> ErrorCode {
        match self {
            Self::Invalid { .. } => ErrorCode::InvalidArgument,
            Self::NotFound(_) | Self::UnknownUpload | Self::UnknownVoiceSample(_) => {
                ErrorCode::NotFound
            }
            Self::Transition { .. }
            | Self::Changed(_)
            | Self::NotReady(_)
            | Self::VideoNotReady { .. }
            | Self::NotUploaded
            | Self::VoiceNotCloned(_) => ErrorCode::FailedPrecondition,
            Self::NoRegenerationsLeft { .. }
            | Self::QuotaExceeded { .. }
            | Self::TierLimit { .. } => ErrorCode::QuotaExceeded,
            Self::NotVideo { .. } => ErrorCode::UnsupportedMediaType,
            Self::NoVideoStream | Self::UnreadableClip(_) | Self::BadMedia(_) => {
                ErrorCode::InvalidMedia
            }
            Self::Unavailable(_) => ErrorCode::ServiceUnavailable,
            Self::Storage(_) => ErrorCode::StorageUnavailable,
            Self::Store(_) | Self::Api(_) => ErrorCode::Internal,
        }
    }
}

impl From<TasksError> for ApiError {
    fn from(e: TasksError) -> Self {
        let (code, field, message) = (e.code(), e.field(), e.to_string());
        let mut api = match e {
            TasksError::Store(db) => return db.into(),
            TasksError::Api(api) => return api,
            TasksError::Invalid { field, reason } => {
                return ApiError::invalid_field(&field, reason);
            }
            TasksError::NotFound(what) => ApiError::not_found(what),
            TasksError::Transition {
                current, allowed, ..
            } => ApiError::new(code, message)
                .with_meta("current_state", current)
                .with_meta("allowed_next", allowed),
            TasksError::VideoNotReady { current } => {
                ApiError::new(code, message).with_meta("current_state", current)
            }
            TasksError::QuotaExceeded {
                quota,
                tier,
                limit,
                resets_in,
                ..
            } => ApiError::new(code, message)
                .with_meta("quota", quota)
                .with_meta("tier", tier)
                .with_meta("limit", limit.to_string())
                .with_meta("resets_in_seconds", resets_in.as_secs().to_string())
                .with_retry_after(resets_in),
            TasksError::TierLimit { quota, tier, .. } => ApiError::new(code, message)
                .with_meta("quota", quota)
                .with_meta("tier", tier),
            TasksError::NoRegenerationsLeft { .. } => {
                ApiError::new(code, message).with_meta("regenerate_remaining", "0")
            }
            _ => ApiError::new(code, message),
        };
        if let Some(f) = field {
            api = api.with_meta("field", f);
        }
        api
    }
}

impl From<TasksError> for tonic::Status {
    fn from(e: TasksError) -> Self {
        ApiError::from(e).to_status()
    }
}
