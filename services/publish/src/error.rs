//! Publish errors and their one mapping to the API error table.

use scout_common::adapters::db::DbError;
use scout_common::chat::ChatError;
use scout_common::{ApiError, ErrorCode};
use scout_proto::scout::publish::v1::Platform;

use crate::platforms::{self, PlatformError};

/// What can go wrong in publish.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// No such task for this user (another user's task does not exist for
    /// this one).
    #[error("task {0} not found")]
    TaskNotFound(i64),
    /// Topics and titles are written from the script, and there is none.
    #[error(
        "task {0} has no script yet: topics and titles are written from it (StartAnalysis first)"
    )]
    NoScript(i64),
    /// The task's regenerations are used up.
    #[error("no publish assist regenerations left: {max} per task")]
    NoRegenerationsLeft {
        /// Regenerations a task gets.
        max: i32,
    },
    /// Two regenerations raced and the other won.
    #[error("another regeneration of this task finished first; GetPublishAssist returns it")]
    Raced,
    /// The remote writer failed (after its retries and repair).
    #[error("topics and titles could not be written: {0}")]
    Writer(ChatError),
    /// Tasks answered with an error.
    #[error("{}", .0.message)]
    Tasks(ApiError),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] DbError),
    /// A row that was just written is gone.
    #[error("publish assist vanished")]
    Vanished,
    /// A field of the request is wrong; names it and what it takes.
    #[error("`{field}` must be {want}")]
    Invalid {
        /// The field.
        field: String,
        /// What it takes.
        want: String,
    },
    /// The task is not finished: there is no video to post yet.
    #[error("task {0} has no finished video yet: publish once it is COMPLETED")]
    NotCompleted(i64),
    /// The task already has a live or pending post on the platform.
    #[error("task {0} is already published or being published on {1}; cancel that one first")]
    AlreadyPublishing(i64, &'static str),
    /// No such publication for this user.
    #[error("publication {0} not found")]
    PublicationNotFound(i64),
    /// Too late to cancel.
    #[error("publication {0} is {1}: only a scheduled publication can be cancelled")]
    NotCancellable(i64, String),
    /// The deployment has no app on this platform.
    #[error(
        "publishing to {} is not set up on this deployment (`{}` is empty)",
        platforms::name(*.0),
        platforms::config_key(*.0)
    )]
    NotConfigured(Platform),
    /// The platform has no open posting API: the assist path instead.
    #[error(
        "{} has no open posting API: publish to it to get a package to post by hand",
        platforms::name(*.0)
    )]
    NoPostingApi(Platform),
    /// The user has no account linked on the platform.
    #[error(
        "no {} account is linked: link one (StartAccountLink) and publish again",
        platforms::name(*.0)
    )]
    NoAccount(Platform),
    /// The link's state is unknown, used or expired.
    #[error("this account link expired or was already used (10 minutes, once): start it again")]
    LinkExpired,
    /// The user declined on the platform's page.
    #[error("the platform did not authorise the link: {0}")]
    LinkDeclined(String),
    /// The account's tokens no longer work; the user links again.
    #[error("{}: {}", platforms::name(*.0), .1)]
    Relink(Platform, String),
    /// A stored token does not open (a key was removed from the vault).
    #[error(
        "the {} account's stored token cannot be opened ({}): link the account again",
        platforms::name(*.0),
        .1
    )]
    Sealed(Platform, String),
    /// The platform refused or failed.
    #[error("{}: {}", platforms::name(*.0), .1)]
    Platform(Platform, PlatformError),
    /// An adapter (cache, blobs) failed.
    #[error("{0}")]
    Unavailable(String),
    /// A bug or a broken invariant.
    #[error("{0}")]
    Internal(String),
}

impl From<PublishError> for ApiError {
    fn from(e: PublishError) -> Self {
        let message = e.to_string();
        match e {
            PublishError::TaskNotFound(id) => ApiError::not_found(format!("task {id}")),
            PublishError::NoScript(_) | PublishError::Raced => {
                ApiError::new(ErrorCode::FailedPrecondition, message)
            }
            PublishError::NoRegenerationsLeft { .. } => {
                ApiError::new(ErrorCode::QuotaExceeded, message)
                    .with_meta("regenerate_remaining", "0")
            }
            PublishError::Writer(ChatError::RateLimited { .. }) => {
                ApiError::new(ErrorCode::ProviderRateLimited, message)
            }
            PublishError::Writer(_) => ApiError::new(ErrorCode::ProviderFailed, message),
            PublishError::Tasks(api) => api,
            PublishError::Store(db) => db.into(),
            PublishError::Vanished => ApiError::internal(message),
            PublishError::Invalid { field, want } => {
                ApiError::invalid_field(&field, format!("must be {want}"))
            }
            PublishError::NotCompleted(_)
            | PublishError::AlreadyPublishing(..)
            | PublishError::NotCancellable(..)
            | PublishError::NotConfigured(_)
            | PublishError::NoPostingApi(_)
            | PublishError::NoAccount(_)
            | PublishError::LinkExpired
            | PublishError::LinkDeclined(_)
            | PublishError::Relink(..)
            | PublishError::Sealed(..) => ApiError::new(ErrorCode::FailedPrecondition, message),
            PublishError::PublicationNotFound(id) => {
                ApiError::not_found(format!("publication {id}"))
            }
            PublishError::Platform(_, PlatformError::RateLimited { retry_after, .. }) => {
                let e = ApiError::new(ErrorCode::ProviderRateLimited, message);
                match retry_after {
                    Some(after) => e.with_retry_after(after),
                    None => e,
                }
            }
            PublishError::Platform(
                _,
                PlatformError::Rejected(_) | PlatformError::InvalidGrant(_),
            ) => ApiError::new(ErrorCode::FailedPrecondition, message),
            PublishError::Platform(..) => ApiError::new(ErrorCode::ProviderFailed, message),
            PublishError::Unavailable(_) => ApiError::new(ErrorCode::ServiceUnavailable, message),
            PublishError::Internal(_) => ApiError::internal(message),
        }
    }
}

impl From<PublishError> for tonic::Status {
    fn from(e: PublishError) -> Self {
        ApiError::from(e).to_status()
    }
}

impl PublishError {
    /// A wrong field.
    pub fn invalid(field: &str, want: &str) -> Self {
        Self::Invalid {
            field: field.into(),
            want: want.into(),
        }
    }
}
