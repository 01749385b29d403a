//! What a worker tells tasks about the job it runs: where it is, and how an
//! attempt failed. One reporter for every worker (vision's analyze worker,
//! render's compose worker), so they report the same way.
//!
//! Progress is a step and a fraction: tasks owns the step names, phases and
//! percentages users see. It is advisory: a lost progress report is not
//! worth failing a job for. A failure report is not: until tasks has it,
//! the job stays uncommitted (the reporter's error is retryable).

use std::time::Duration;

use scout_proto::scout::jobs::v1::{AnalyzeJob, ComposeJob};
use scout_proto::scout::tasks::v1::tasks_internal_service_client::TasksInternalServiceClient;
use scout_proto::scout::tasks::v1::{
    ReportJobFailureRequest, ReportProgressRequest, SceneCounts, TaskStep, WorkStep,
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

/// A job of a task, as it travels on the bus.
pub trait TaskJob: prost::Message + Default {
    /// The step of the task a failure of this job is recorded against.
    const STEP: TaskStep;
    /// The job's id (reports of a stale job change nothing).
    fn job_id(&self) -> &str;
    /// The task.
    fn task_id(&self) -> i64;
}

impl TaskJob for AnalyzeJob {
    const STEP: TaskStep = TaskStep::Analyze;
    fn job_id(&self) -> &str {
        &self.job_id
    }
    fn task_id(&self) -> i64 {
        self.task_id
    }
}

impl TaskJob for ComposeJob {
    const STEP: TaskStep = TaskStep::Compose;
    fn job_id(&self) -> &str {
        &self.job_id
    }
    fn task_id(&self) -> i64 {
        self.task_id
    }
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
        job: &impl TaskJob,
        step: WorkStep,
        fraction: f64,
        clips_done: usize,
    ) {
        self.report_progress(
            job,
            ReportProgressRequest {
                step: step as i32,
                fraction,
                clips_done: i32::try_from(clips_done).unwrap_or(i32::MAX),
                ..ReportProgressRequest::default()
            },
        )
        .await;
    }

    /// Reports how `job`'s scenes stand in `step` (seed 004's scene model):
    /// the step's fraction is the share finished, done or failed, scaled
    /// into `from..to` of the step.
    pub async fn scenes(
        &self,
        job: &impl TaskJob,
        step: WorkStep,
        (from, to): (f64, f64),
        counts: SceneCounts,
    ) {
        let finished = f64::from(counts.done + counts.failed) / f64::from(counts.total.max(1));
        self.report_progress(
            job,
            ReportProgressRequest {
                step: step as i32,
                fraction: from + (to - from) * finished,
                scenes: Some(counts),
                ..ReportProgressRequest::default()
            },
        )
        .await;
    }

    /// Reports `report` (its step, fraction, clips and preview) for `job`.
    pub async fn report_progress(&self, job: &impl TaskJob, report: ReportProgressRequest) {
        let req = self.request(
            ReportProgressRequest {
                job_id: job.job_id().to_string(),
                task_id: job.task_id(),
                fraction: report.fraction.clamp(0.0, 1.0),
                ..report
            },
            Duration::from_secs(2),
        );
        if let Err(s) = self.tasks.clone().report_progress(req).await {
            tracing::debug!(task_id = job.task_id(), status = %s, "progress report lost");
        }
    }

    /// An attempt of a `J` job failed; `last` when no retry follows (the
    /// task becomes FAILED with the error's code and message). An
    /// undecodable job, or a task deleted meanwhile, is nothing to report to.
    pub async fn failure<J: TaskJob>(
        &self,
        attempt: &Job,
        error: &JobError,
        last: bool,
    ) -> Result<(), JobError> {
        let Ok(job) = J::decode(attempt.payload.clone()) else {
            return Ok(());
        };
        let req = self.request(
            ReportJobFailureRequest {
                job_id: job.job_id().to_string(),
                task_id: job.task_id(),
                step: J::STEP as i32,
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
