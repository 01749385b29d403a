//! The analyze worker: consumes analyze jobs, asks render for frames (one
//! every 2 s), measures each frame with the local analyzer, aggregates per
//! clip, marks the two best clips of each category, reports the results,
//! writes the script and reports it. Committed only after tasks has the
//! script; a redelivered job repeats the work and its reports change
//! nothing. A regeneration (clips already analysed) goes straight to the
//! writer with a new variation seed.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use prost::Message as _;
use scout_common::ErrorCode;
use scout_common::adapters::blob::BlobStore;
use scout_common::auth::{InternalChannel, MeshAuth};
use scout_common::jobs::{Job, JobError, JobHandler};
use scout_proto::scout::common::v1::{ShopType, VideoStyle};
use scout_proto::scout::jobs::v1::AnalyzeJob;
use scout_proto::scout::render::v1::media_ref::Location;
use scout_proto::scout::render::v1::render_service_client::RenderServiceClient;
use scout_proto::scout::render::v1::{ExtractFramesRequest, MediaRef};
use scout_proto::scout::tasks::v1::tasks_internal_service_client::TasksInternalServiceClient;
use scout_proto::scout::tasks::v1::{
    ClipAnalysis, GetTaskContextRequest, Paragraph, Progress, ProgressDetails, ProgressStep,
    ReportClipAnalysisRequest, ReportJobFailureRequest, ReportProgressRequest, ReportScriptRequest,
    StepState, TaskStatus, TaskStep, VideoStatus,
};
use scout_proto::scout::vision::v1::ShotSummary;

use crate::analyzer::{self, ClipResult, Frame};
use crate::writer::{self, Brief};

const STEPS: [&str; 4] = ["帧提取", "镜头内容识别", "质量评估", "脚本生成"];
/// Seconds between analysed frames (seed 000).
pub const FRAME_EVERY: f64 = 2.0;
/// Longest side of the frames analysed.
pub const FRAME_SIZE: i32 = 360;

/// Handles analyze jobs.
pub struct AnalyzeWorker {
    tasks: TasksInternalServiceClient<InternalChannel>,
    render: RenderServiceClient<InternalChannel>,
    blobs: Arc<dyn BlobStore>,
    auth: MeshAuth,
}

impl AnalyzeWorker {
    /// A worker talking to tasks and render at these URLs.
    pub fn new(
        auth: MeshAuth,
        blobs: Arc<dyn BlobStore>,
        tasks_url: &str,
        render_url: &str,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            tasks: TasksInternalServiceClient::new(
                auth.internal_channel(scout_common::grpc::channel(tasks_url)?),
            ),
            render: RenderServiceClient::new(
                auth.internal_channel(scout_common::grpc::channel(render_url)?),
            ),
            blobs,
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

    /// Extracts and measures one clip's frames.
    async fn analyze_clip(
        &self,
        task_id: i64,
        video_id: i64,
        key: &str,
    ) -> Result<(ClipResult, Vec<String>), JobError> {
        let mut req = self.auth.internal(ExtractFramesRequest {
            media: Some(MediaRef {
                location: Some(Location::BlobKey(key.to_string())),
            }),
            every_seconds: FRAME_EVERY,
            output_prefix: format!("frames/{task_id}/{video_id}/"),
            thumbnail_key: String::new(),
            max_dimension: FRAME_SIZE,
        });
        req.set_timeout(Duration::from_secs(120));
        let frames = self
            .render
            .clone()
            .extract_frames(req)
            .await
            .map_err(|s| classify(&s, &format!("frames of clip {video_id}")))?
            .into_inner()
            .frames;
        let mut metrics = Vec::with_capacity(frames.len());
        let mut keys = Vec::with_capacity(frames.len());
        for f in &frames {
            let bytes = self
                .blobs
                .get(&f.key)
                .await
                .map_err(|e| JobError::Retryable(format!("frame {}: {e}", f.key)))?;
            let m = tokio::task::spawn_blocking(move || {
                Frame::from_jpeg(&bytes).map(|fr| analyzer::measure(&fr))
            })
            .await
            .map_err(|e| JobError::Retryable(format!("analysis task failed: {e}")))?
            .map_err(|e| JobError::Permanent(format!("frame {}: {e}", f.key)))?;
            metrics.push(m);
            keys.push(f.key.clone());
        }
        if metrics.is_empty() {
            return Err(JobError::Permanent(format!(
                "clip {video_id} gave no frames"
            )));
        }
        Ok((analyzer::analyze_clip(&metrics), keys))
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

fn classify(s: &tonic::Status, what: &str) -> JobError {
    match s.code() {
        tonic::Code::InvalidArgument | tonic::Code::FailedPrecondition => {
            JobError::Permanent(format!("{what}: {}", s.message()))
        }
        _ => JobError::Retryable(format!("{what}: {}", s.message())),
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
        if reanalyse {
            self.progress(&aj, 0, total, 0).await;
            let mut results = Vec::with_capacity(total);
            for (i, v) in videos.iter().enumerate() {
                let (r, keys) = self.analyze_clip(aj.task_id, v.id, &v.oss_key).await?;
                results.push((v.id, r, keys, v.duration_seconds));
                self.progress(&aj, 1 + usize::from(i + 1 == total), total, i + 1)
                    .await;
            }
            let scored: Vec<(i64, ClipResult)> = results
                .iter()
                .map(|(id, r, _, _)| (*id, r.clone()))
                .collect();
            let recommended = analyzer::recommend(&scored);
            for (id, r, keys, duration) in results {
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
                        frame_keys: keys,
                        provider: "local".into(),
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
        let drafts = writer::write(&Brief {
            name: &shop.name,
            shop_type: ShopType::try_from(shop.r#type).unwrap_or(ShopType::Other),
            promotion: &shop.promotion_text,
            style: VideoStyle::try_from(shop.style).unwrap_or(VideoStyle::Recommend),
            shots: &summaries,
            chars_per_second: 0.0,
            seed: seed_of(&aj.job_id),
        });
        let paragraphs = drafts
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
            provider: "template".into(),
            provider_note: "vision=local writer=template".into(),
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
