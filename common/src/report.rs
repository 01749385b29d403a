//! What a worker tells tasks about the job it runs: where it is, and how an
//! attempt failed. One reporter for every worker (vision's analyze worker,
//! render's compose worker), so they report the same way.
//!
//! Progress is a step and a fraction: tasks owns the step names, phases and
//! percentages users see. It is advisory: a lost progress report is not
//! worth failing a job for. A failure report is not: until tasks has it,
//! the job stays uncommitted (the reporter's error is retryable).

use std::time::Duration;

use scout_proto::scout::tasks::v1::tasks_internal_service_client::TasksInternalServiceClient;
use scout_proto::scout::tasks::v1::{
    ReportJobFailureRequest, ReportProgressRequest, TaskStep, WorkStep,
};

use crate::auth::{InternalChannel, MeshAuth};
use crate::error::ErrorCode;
use crate::jobs::{Job, JobError};

/// Longest failure message tasks stores.
const MAX_MESSAGE_CHARS: usize = 500;

/// Reports one job's progress and failures to tasks.
#[derive(Clone)]
pub struct TaskReporter {
    tasks: TasksInternalServiceClient<InternalChannel>,
    auth: MeshAuth,
}

impl std::fmt::Debug for TaskReporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskReporter").finish_non_exhaustive()
    }
}

/// Which job a report is about.
#[derive(Debug, Clone, Copy)]
pub struct JobRef<'a> {
    /// The job's id (reports of a stale job change nothing).
    pub job_id: &'a str,
    /// The task.
    pub task_id: i64,
}

impl TaskReporter {
    /// A reporter calling the tasks service at `tasks_url` with the mesh's
    /// service credential.
    pub fn new(auth: &MeshAuth, tasks_url: &str) -> anyhow::Result<Self> {
        Ok(Self {
            tasks: TasksInternalServiceClient::new(
                auth.internal_channel(crate::grpc::channel(tasks_url)?),
            ),
            auth: auth.clone(),
        })
    }

    /// A client of tasks' internal API, for a worker's other reports
    /// (results, scripts).
    pub fn client(&self) -> TasksInternalServiceClient<InternalChannel> {
        self.tasks.clone()
    }

    /// An internal request carrying the service credential.
    pub fn request<T>(&self, message: T, timeout: Duration) -> tonic::Request<T> {
        let mut req = self.auth.internal(message);
        req.set_timeout(timeout);
        req
    }

    /// The job is in `step`, `fraction` (0 to 1) of the way through it,
    /// with `clips_done` clips finished (analysis).
    pub async fn progress(
        &self,
        job: JobRef<'_>,
        step: WorkStep,
        fraction: f64,
        clips_done: usize,
    ) {
        let req = self.request(
            ReportProgressRequest {
                job_id: job.job_id.to_string(),
                task_id: job.task_id,
                step: step as i32,
                fraction: fraction.clamp(0.0, 1.0),
                clips_done: i32::try_from(clips_done).unwrap_or(i32::MAX),
            },
            Duration::from_secs(2),
        );
        if let Err(s) = self.tasks.clone().report_progress(req).await {
            tracing::debug!(task_id = job.task_id, status = %s, "progress report lost");
        }
    }

    /// An attempt of the job failed in `step`; `last` when no retry follows
    /// (the task becomes FAILED with the error's code and message). A task
    /// deleted meanwhile is nothing to report to.
    pub async fn failure(
        &self,
        job: JobRef<'_>,
        step: TaskStep,
        attempt: &Job,
        error: &JobError,
        last: bool,
    ) -> Result<(), JobError> {
        let req = self.request(
            ReportJobFailureRequest {
                job_id: job.job_id.to_string(),
                task_id: job.task_id,
                step: step as i32,
                message: error.message.chars().take(MAX_MESSAGE_CHARS).collect(),
                code: error.code as i32,
                attempt: i32::try_from(attempt.attempt).unwrap_or(i32::MAX),
                r#final: last,
            },
            Duration::from_secs(5),
        );
        match self.tasks.clone().report_job_failure(req).await {
            Ok(_) => Ok(()),
            Err(s) if s.code() == tonic::Code::NotFound => Ok(()),
            Err(s) => Err(JobError::retryable(
                ErrorCode::ServiceUnavailable,
                format!("cannot report the failure to tasks: {}", s.message()),
            )),
        }
    }
}
