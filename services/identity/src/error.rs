//! Identity errors and their one mapping to the API error table: each
//! failure of login, sessions and voice samples as a variant, its message
//! written once here, its business code (seed 000 §6.3) given once below.

use std::time::Duration;

use scout_common::adapters::db::DbError;
use scout_common::{ApiError, ErrorCode};

/// What can go wrong in identity.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// Not a mainland mobile number.
    #[error(
        "phone: must be a mainland mobile number, 11 digits starting with 13-19 (e.g. 13800138000)"
    )]
    InvalidPhone,
    /// A code that is not six digits.
    #[error("code: must be the 6 digits sent by SMS")]
    MalformedCode,
    /// Too many wrong codes: the phone waits.
    #[error(
        "too many wrong codes: this phone is locked for {} more minute(s)",
        .retry.as_secs().div_ceil(60)
    )]
    PhoneLocked {
        /// Until the lock lifts.
        retry: Duration,
    },
    /// A code was sent a moment ago.
    #[error(
        "a code was sent to this phone less than {} s ago; retry in {} s",
        .interval.as_secs(),
        .retry.as_secs().max(1)
    )]
    CodeTooSoon {
        /// The resend interval.
        interval: Duration,
        /// Until a new code may be sent.
        retry: Duration,
    },
    /// No code is waiting for this phone.
    #[error("no valid code for this phone (expired or already used): request a new one")]
    NoCode,
    /// Another login spent the code first.
    #[error("this code was just used: request a new one")]
    CodeUsed,
    /// The code is wrong.
    #[error("code: wrong code; {left} attempt(s) left before this phone is locked")]
    WrongCode {
        /// Attempts left before the lock.
        left: i64,
    },
    /// The cache holding codes cannot be reached.
    #[error(
        "login is temporarily unavailable: the code store (cache) cannot be reached; try again shortly"
    )]
    CodeStoreDown,
    /// No refresh token was sent.
    #[error("refresh_token: required")]
    RefreshMissing,
    /// Something that cannot be a refresh token.
    #[error("refresh_token: not a refresh token")]
    RefreshMalformed,
    /// A refresh token this service never issued.
    #[error("refresh token is not recognised: log in again")]
    RefreshUnknown,
    /// The refresh token's family was revoked (logout, reuse, a disabled user).
    #[error("refresh token has been revoked: log in again")]
    RefreshRevoked,
    /// A spent refresh token came back: the family is now revoked.
    #[error(
        "refresh token was already used: every session of this login is now revoked; log in again"
    )]
    RefreshReused,
    /// The refresh token outlived its lifetime.
    #[error("refresh token has expired: log in again")]
    RefreshExpired,
    /// The logout could not be recorded.
    #[error("logout could not be recorded (cache unreachable); try again")]
    LogoutNotRecorded,
    /// A request field is wrong.
    #[error("{field}: {reason}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// No such thing for this user.
    #[error("{0} not found")]
    NotFound(String),
    /// An admin disabled the account.
    #[error("this account is disabled; contact support")]
    Disabled,
    /// A key this user was never given (answered as if it did not exist).
    #[error("oss_key: uploaded voice sample not found")]
    UnknownUpload,
    /// A voice sample that is not audio.
    #[error("content_type: voice samples must be audio ({allowed})")]
    NotAudio {
        /// The accepted types.
        allowed: String,
    },
    /// A declared sample larger than allowed.
    #[error("file_size: a voice sample may be at most {max_mb} MB")]
    SampleTooLarge {
        /// The limit in MB.
        max_mb: i64,
    },
    /// An uploaded sample larger than allowed (deleted).
    #[error("the upload is {size} bytes; a voice sample may be at most {max_mb} MB (deleted)")]
    UploadTooLarge {
        /// Its size.
        size: u64,
        /// The limit in MB.
        max_mb: i64,
    },
    /// Confirmed before anything was uploaded.
    #[error("oss_key: nothing was uploaded to this key yet; PUT the audio to the upload URL first")]
    NotUploaded,
    /// A recording too short or too long (deleted).
    #[error(
        "the recording is {seconds:.1} s; a voice sample must be {min:.0}-{max:.0} s (deleted)"
    )]
    BadDuration {
        /// Its length.
        seconds: f64,
        /// Shortest allowed.
        min: f64,
        /// Longest allowed.
        max: f64,
    },
    /// The upload has no audio (deleted).
    #[error("the upload has no audio stream (deleted)")]
    NoAudio,
    /// The recording is not someone talking (deleted).
    #[error(
        "the recording has too little speech to clone a voice from: {speech:.1} s of voice in \
         {seconds:.1} s, in {bursts} bursts (needs {min_speech:.0} s, spoken, not a tone or \
         noise); record yourself talking in a quiet room (deleted)"
    )]
    NotSpeech {
        /// Seconds of voiced speech found.
        speech: f64,
        /// The recording's length.
        seconds: f64,
        /// Voiced stretches found.
        bursts: i32,
        /// Least speech accepted.
        min_speech: f64,
    },
    /// Cloning was asked for without the owner's consent.
    #[error(
        "consent is required: confirm that the recording is your own voice and that you agree to it being cloned for your videos"
    )]
    NoConsent,
    /// The upload cannot be read as audio (deleted).
    #[error("the upload is not readable audio: {0} (deleted)")]
    UnreadableAudio(String),
    /// Render could not check the upload now.
    #[error("the audio could not be checked now ({0}); confirm again shortly")]
    ProbeUnavailable(String),
    /// The object store is down.
    #[error("object storage is unavailable")]
    StorageDown,
    /// The job bus is down.
    #[error("the clone job could not be queued (job bus unavailable); confirm again shortly")]
    QueueDown,
    /// The database failed.
    #[error(transparent)]
    Store(#[from] DbError),
    /// A failure already in the table (token issuing, the SMS provider).
    #[error(transparent)]
    Api(#[from] ApiError),
}

impl IdentityError {
    /// An invalid request field.
    pub fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Self::Invalid {
            field,
            reason: reason.into(),
        }
    }

    /// The request field the error is about, for clients to mark.
    fn field(&self) -> Option<&'static str> {
        Some(match self {
            Self::InvalidPhone => "phone",
            Self::MalformedCode | Self::NoCode | Self::CodeUsed | Self::WrongCode { .. } => "code",
            Self::RefreshMissing | Self::RefreshMalformed => "refresh_token",
            Self::NotAudio { .. } => "content_type",
            Self::SampleTooLarge { .. } => "file_size",
            Self::NotUploaded | Self::UnknownUpload => "oss_key",
            Self::BadDuration { .. } => "duration_seconds",
            Self::NotSpeech { .. } => "oss_key",
            Self::NoConsent => "consent",
            _ => return None,
        })
    }

    fn code(&self) -> ErrorCode {
        match self {
            Self::InvalidPhone => ErrorCode::InvalidPhone,
            Self::MalformedCode | Self::WrongCode { .. } => ErrorCode::InvalidSmsCode,
            Self::PhoneLocked { .. } => ErrorCode::PhoneLocked,
            Self::CodeTooSoon { .. } => ErrorCode::RateLimited,
            Self::NoCode | Self::CodeUsed => ErrorCode::SmsCodeExpired,
            Self::CodeStoreDown
            | Self::LogoutNotRecorded
            | Self::ProbeUnavailable(_)
            | Self::QueueDown => ErrorCode::ServiceUnavailable,
            Self::RefreshMissing => ErrorCode::TokenMissing,
            Self::RefreshMalformed | Self::RefreshUnknown => ErrorCode::TokenInvalid,
            Self::RefreshRevoked | Self::RefreshReused => ErrorCode::TokenRevoked,
            Self::RefreshExpired => ErrorCode::TokenExpired,
            Self::Invalid { .. } => ErrorCode::InvalidArgument,
            Self::NotFound(_) | Self::UnknownUpload => ErrorCode::NotFound,
            Self::Disabled => ErrorCode::PermissionDenied,
            Self::NotAudio { .. } => ErrorCode::UnsupportedMediaType,
            Self::SampleTooLarge { .. } | Self::UploadTooLarge { .. } => ErrorCode::PayloadTooLarge,
            Self::NotUploaded => ErrorCode::FailedPrecondition,
            Self::BadDuration { .. }
            | Self::NoAudio
            | Self::UnreadableAudio(_)
            | Self::NotSpeech { .. } => ErrorCode::InvalidMedia,
            Self::NoConsent => ErrorCode::InvalidArgument,
            Self::StorageDown => ErrorCode::StorageUnavailable,
            Self::Store(_) | Self::Api(_) => ErrorCode::Internal,
        }
    }
}

impl From<IdentityError> for ApiError {
    fn from(e: IdentityError) -> Self {
        let retry = match &e {
            IdentityError::PhoneLocked { retry } | IdentityError::CodeTooSoon { retry, .. } => {
                Some(*retry)
            }
            _ => None,
        };
        let (code, field, message) = (e.code(), e.field(), e.to_string());
        let mut api = match e {
            IdentityError::Store(db) => return db.into(),
            IdentityError::Api(api) => return api,
            IdentityError::Invalid { field, reason } => {
                return ApiError::invalid_field(field, reason);
            }
            IdentityError::NotFound(what) => ApiError::not_found(what),
            _ => ApiError::new(code, message),
        };
        if let Some(f) = field {
            api = api.with_meta("field", f);
        }
        if let Some(r) = retry {
            api = api.with_retry_after(r);
        }
        api
    }
}

impl From<IdentityError> for tonic::Status {
    fn from(e: IdentityError) -> Self {
        ApiError::from(e).to_status()
    }
}
