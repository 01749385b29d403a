//! Publish errors and their one mapping to the API error table.

use scout_common::adapters::db::DbError;
use scout_common::chat::ChatError;
use scout_common::{ApiError, ErrorCode};

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
    /// Publishing to the platforms is not built yet; names the RPC.
    #[error(
        "{0} (publishing to Douyin and Xiaohongshu needs their open-platform accounts and is not built yet; topics and titles are served by GetPublishAssist)"
    )]
    NotBuilt(&'static str),
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
            PublishError::NotBuilt(_) => ApiError::not_implemented(message),
        }
    }
}

impl From<PublishError> for tonic::Status {
    fn from(e: PublishError) -> Self {
        ApiError::from(e).to_status()
    }
}
