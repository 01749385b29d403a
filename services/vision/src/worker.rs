//! The analyze worker: consumes analyze jobs, asks render for frames (one
//! every 2 s), analyses each clip with the configured analyzer (see
//! [`crate::engine`]), marks the two best clips of each category, reports
//! the results, writes the script with the configured writer and reports
//! it with a provider note saying which providers ran. Committed only after tasks has the
//! script; a redelivered job repeats the work and its reports change
//! nothing. A regeneration (clips already analysed) goes straight to the
//! writer with a new variation seed.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use prost::Message as _;
use scout_common::ErrorCode;
use scout_common::auth::{InternalChannel, MeshAuth};
use scout_common::jobs::{Job, JobError, JobHandler};
use scout_proto::scout::jobs::v1::AnalyzeJob;
use scout_proto::scout::tasks::v1::tasks_internal_service_client::TasksInternalServiceClient;
use scout_proto::scout::tasks::v1::{
    ClipAnalysis, GetTaskContextRequest, Paragraph, Progress, ProgressDetails, ProgressStep,
    ReportClipAnalysisRequest, ReportJobFailureRequest, ReportProgressRequest, ReportScriptRequest,
    StepState, TaskStatus, TaskStep, VideoStatus,
};
use scout_proto::scout::vision::v1::ShotSummary;

use crate::analyzer::{self, ClipResult};
use crate::engine::{Analysis, Engine, classify};
use crate::writer::Brief;

const STEPS: [&str; 4] = ["帧提取", "镜头内容识别", "质量评估", "脚本生成"];

/// Handles analyze jobs.
pub struct AnalyzeWorker {
    tasks: TasksInternalServiceClient<InternalChannel>,
    engine: Arc<Engine>,
    auth: MeshAuth,
}

impl AnalyzeWorker {
    /// A worker reporting to tasks at `tasks_url`, analysing with `engine`.
    pub fn new(auth: MeshAuth, engine: Arc<Engine>, tasks_url: &str) -> anyhow::Result<Self> {
        Ok(Self {
            tasks: TasksInternalServiceClient::new(
                auth.internal_channel(scout_common::grpc::channel(tasks_url)?),
            ),
            engine,
            auth,
        })
    }

    async fn progress(&self, job: &AnalyzeJob, step: usize, total: usize, done: usize) {
        let steps = STEPS
            .iter()
            .enumerate()
            .map(|(i, n)| ProgressStep {
                name: (*n).into(),
                status: if i < step {
                    StepState::Completed
                } else if i == step {
                    StepState::InProgress
                } else {
                    StepState::Pending
                } as i32,
            })
            .collect();
        let mut req = self.auth.internal(ReportProgressRequest {
            job_id: job.job_id.clone(),
            task_id: job.task_id,
            progress: Some(Progress {
                status: TaskStatus::Analyzing as i32,
                phase: if step < 3 { "frame_analysis" } else { "script" }.into(),
                progress: 10 + (50 * done / total.max(1)) as i32,
                details: Some(ProgressDetails {
                    videos_total: total as i32,
                    videos_analyzed: done as i32,
                    current_step: STEPS[step.min(3)].into(),
                    steps,
                }),
                ..Progress::default()
            }),
        });
        req.set_timeout(Duration::from_secs(2));
        if let Err(s) = self.tasks.clone().report_progress(req).await {
            tracing::debug!(task_id = job.task_id, status = %s, "progress report lost");
        }
    }

    async fn report_failure(&self, job: &Job, error: &str, last: bool) -> Result<(), JobError> {
        let Ok(aj) = AnalyzeJob::decode(job.payload.clone()) else {
            return Ok(());
        };
        let mut req = self.auth.internal(ReportJobFailureRequest {
            job_id: aj.job_id,
            task_id: aj.task_id,
            step: TaskStep::Analyze as i32,
            message: error.chars().take(500).collect(),
            code: ErrorCode::ProviderFailed as i32,
            attempt: job.attempt as i32,
            r#final: last,
        });
        req.set_timeout(Duration::from_secs(5));
        match self.tasks.clone().report_job_failure(req).await {
            Ok(_) => Ok(()),
            Err(s) if s.code() == tonic::Code::NotFound => Ok(()),
            Err(s) => Err(JobError::Retryable(format!(
                "cannot report the failure to tasks: {}",
                s.message()
            ))),
        }
    }
}

fn seed_of(job_id: &str) -> u64 {
    job_id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

#[async_trait]
impl JobHandler for AnalyzeWorker {
    async fn handle(&self, job: &Job) -> Result<(), JobError> {
        let aj = AnalyzeJob::decode(job.payload.clone())
            .map_err(|e| JobError::Permanent(format!("undecodable analyze job: {e}")))?;
        let mut req = self.auth.internal(GetTaskContextRequest {
            task_id: aj.task_id,
        });
        req.set_timeout(Duration::from_secs(10));
        let ctx = match self.tasks.clone().get_task_context(req).await {
            Ok(r) => r.into_inner(),
            // Deleted meanwhile: nothing to do.
            Err(s) if s.code() == tonic::Code::NotFound => return Ok(()),
            Err(s) => return Err(classify(&s, "task context")),
        };
        let videos: Vec<_> = ctx
            .videos
            .iter()
            .filter(|v| aj.video_ids.is_empty() || aj.video_ids.contains(&v.id))
            .cloned()
            .collect();
        if videos.is_empty() {
            return Err(JobError::Permanent("the task has no clips".into()));
        }
        let total = videos.len();
        tracing::info!(task_id = aj.task_id, job_id = %aj.job_id, clips = total, "analyze job started");
        let reanalyse = videos
            .iter()
            .any(|v| v.status != VideoStatus::Analyzed as i32 || v.quality_factors.is_none());
        let mut summaries = Vec::with_capacity(total);
        let mut analyses: Vec<(i64, Analysis, f64)> = Vec::with_capacity(total);
        if reanalyse {
            self.progress(&aj, 0, total, 0).await;
            for (i, v) in videos.iter().enumerate() {
                let a = self
                    .engine
                    .analyze_clip(aj.task_id, v.id, &v.oss_key)
                    .await?;
                analyses.push((v.id, a, v.duration_seconds));
                self.progress(&aj, 1 + usize::from(i + 1 == total), total, i + 1)
                    .await;
            }
            let scored: Vec<(i64, ClipResult)> = analyses
                .iter()
                .map(|(id, a, _)| (*id, a.result.clone()))
                .collect();
            let recommended = analyzer::recommend(&scored);
            for (id, a, duration) in &analyses {
                let (id, r, duration) = (*id, a.result.clone(), *duration);
                let is_recommended = recommended.contains(&id);
                let mut req = self.auth.internal(ReportClipAnalysisRequest {
                    job_id: aj.job_id.clone(),
                    task_id: aj.task_id,
                    video_id: id,
                    analysis: Some(ClipAnalysis {
                        category: r.category as i32,
                        tags: r.tags.clone(),
                        description: r.description.clone(),
                        quality_score: r.quality,
                        quality_factors: Some(r.factors),
                        is_recommended,
                        frame_keys: a.frame_keys.clone(),
                        provider: a.provider.clone(),
                    }),
                });
                req.set_timeout(Duration::from_secs(10));
                self.tasks
                    .clone()
                    .report_clip_analysis(req)
                    .await
                    .map_err(|s| classify(&s, "clip report"))?;
                summaries.push(ShotSummary {
                    id,
                    category: r.category as i32,
                    tags: r.tags,
                    description: r.description,
                    quality_score: r.quality,
                    is_recommended,
                    duration_seconds: duration,
                });
            }
        } else {
            summaries = videos
                .iter()
                .map(|v| ShotSummary {
                    id: v.id,
                    category: v.category,
                    tags: v.tags.clone(),
                    description: v.description.clone(),
                    quality_score: v.quality_score,
                    is_recommended: v.is_recommended,
                    duration_seconds: v.duration_seconds,
                })
                .collect();
        }

        self.progress(&aj, 3, total, total).await;
        let shop = aj.shop.clone().unwrap_or_default();
        let written = self
            .engine
            .write(&Brief::for_shop(
                &shop,
                &summaries,
                0.0,
                seed_of(&aj.job_id),
            ))
            .await?;
        let note = self.engine.note(
            &analyses.iter().map(|(_, a, _)| a).collect::<Vec<_>>(),
            &written,
        );
        let paragraphs = written
            .paragraphs
            .into_iter()
            .enumerate()
            .map(|(i, d)| Paragraph {
                id: format!("para_{}", i + 1),
                section: d.section,
                shot_id: d.shot_id,
                shot: None,
                text: d.text,
                estimated_duration: d.estimated_duration,
            })
            .collect();
        let mut req = self.auth.internal(ReportScriptRequest {
            job_id: aj.job_id.clone(),
            task_id: aj.task_id,
            paragraphs,
            provider: written.provider,
            provider_note: note,
        });
        req.set_timeout(Duration::from_secs(10));
        match self.tasks.clone().report_script(req).await {
            Ok(r) => {
                tracing::info!(task_id = aj.task_id, job_id = %aj.job_id, applied = r.into_inner().applied, "analyze job done");
                Ok(())
            }
            Err(s) if s.code() == tonic::Code::NotFound => Ok(()),
            Err(s) => Err(classify(&s, "script report")),
        }
    }

    async fn on_retry(&self, job: &Job, error: &str, delay: Duration) {
        tracing::warn!(
            attempt = job.attempt,
            error,
            retry_in_s = delay.as_secs(),
            "analyze attempt failed"
        );
        let _ = self.report_failure(job, error, false).await;
    }

    async fn on_dead_letter(&self, job: &Job, error: &str) -> Result<(), JobError> {
        self.report_failure(job, error, true).await
    }
}
