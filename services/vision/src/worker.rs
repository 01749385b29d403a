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
use scout_common::auth::MeshAuth;
use scout_common::chat;
use scout_common::jobs::{Job, JobError, JobHandler};
use scout_common::report::TaskReporter;
use scout_proto::scout::jobs::v1::AnalyzeJob;
use scout_proto::scout::tasks::v1::{
    ClipAnalysis, GetTaskContextRequest, JobUsage, Paragraph, ReportClipAnalysisRequest,
    ReportScriptRequest, VideoStatus, WorkStep,
};
use scout_proto::scout::vision::v1::ShotSummary;

use crate::analyzer::{self, ClipResult};
use crate::engine::{Analysis, Engine};
use crate::writer::Brief;

/// Handles analyze jobs.
pub struct AnalyzeWorker {
    reporter: TaskReporter,
    engine: Arc<Engine>,
}

impl AnalyzeWorker {
    /// A worker reporting to tasks at `tasks_url`, analysing with `engine`.
    pub fn new(auth: MeshAuth, engine: Arc<Engine>, tasks_url: &str) -> anyhow::Result<Self> {
        Ok(Self {
            reporter: TaskReporter::new(&auth, tasks_url)?,
            engine,
        })
    }

    async fn progress(&self, job: &AnalyzeJob, step: WorkStep, total: usize, done: usize) {
        let fraction = done as f64 / total.max(1) as f64;
        self.reporter.progress(job, step, fraction, done).await;
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
        let aj = AnalyzeJob::decode(job.payload.clone()).map_err(|e| {
            JobError::permanent(
                ErrorCode::InvalidArgument,
                format!("undecodable analyze job: {e}"),
            )
        })?;
        let req = self.reporter.request(
            GetTaskContextRequest {
                task_id: aj.task_id,
            },
            Duration::from_secs(10),
        );
        let ctx = match self.reporter.client().get_task_context(req).await {
            Ok(r) => r.into_inner(),
            // Deleted meanwhile: nothing to do.
            Err(s) if s.code() == tonic::Code::NotFound => return Ok(()),
            Err(s) => return Err(JobError::from_status(&s, "task context")),
        };
        let videos: Vec<_> = ctx
            .videos
            .iter()
            .filter(|v| aj.video_ids.is_empty() || aj.video_ids.contains(&v.id))
            .cloned()
            .collect();
        if videos.is_empty() {
            return Err(JobError::permanent(
                ErrorCode::FailedPrecondition,
                "the task has no clips",
            ));
        }
        let total = videos.len();
        let started = std::time::Instant::now();
        let mut model_images = 0u32;
        tracing::info!(task_id = aj.task_id, job_id = %aj.job_id, clips = total, "analyze job started");
        let reanalyse = videos
            .iter()
            .any(|v| v.status != VideoStatus::Analyzed as i32 || v.quality_factors.is_none());
        let mut summaries = Vec::with_capacity(total);
        let mut analyses: Vec<(i64, Analysis, f64)> = Vec::with_capacity(total);
        if reanalyse {
            self.progress(&aj, WorkStep::ExtractFrames, total, 0).await;
            for (i, v) in videos.iter().enumerate() {
                let (a, used) =
                    chat::metered(self.engine.analyze_clip(aj.task_id, v.id, &v.oss_key)).await;
                let a = a?;
                model_images += used.images;
                analyses.push((v.id, a, v.duration_seconds));
                let step = if i + 1 == total {
                    WorkStep::AssessQuality
                } else {
                    WorkStep::RecognizeShots
                };
                self.progress(&aj, step, total, i + 1).await;
            }
            let scored: Vec<(i64, ClipResult)> = analyses
                .iter()
                .map(|(id, a, _)| (*id, a.result.clone()))
                .collect();
            let recommended = analyzer::recommend(&scored);
            for (id, a, duration) in &analyses {
                let (id, r, duration) = (*id, a.result.clone(), *duration);
                let is_recommended = recommended.contains(&id);
                let req = self.reporter.request(
                    ReportClipAnalysisRequest {
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
                            focus: a.focus.clone(),
                        }),
                    },
                    Duration::from_secs(10),
                );
                self.reporter
                    .client()
                    .report_clip_analysis(req)
                    .await
                    .map_err(|s| JobError::from_status(&s, "clip report"))?;
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

        self.progress(&aj, WorkStep::WriteScript, total, total)
            .await;
        let shop = aj.shop.clone().unwrap_or_default();
        let rate = scout_common::speech::usable(aj.speech_rate.as_ref());
        let (written, text_calls) = chat::metered(self.engine.write(&Brief::for_shop(
            &shop,
            &summaries,
            rate,
            seed_of(&aj.job_id),
        )))
        .await;
        let written = written?;
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
                scene: None,
            })
            .collect();
        let req = self.reporter.request(
            ReportScriptRequest {
                job_id: aj.job_id.clone(),
                task_id: aj.task_id,
                paragraphs,
                provider: written.provider,
                provider_note: note,
                usage: Some(JobUsage {
                    model_calls: text_calls.calls as i32,
                    model_images: model_images as i32,
                    model_tokens: text_calls.tokens as i64,
                    work_seconds: started.elapsed().as_secs_f64(),
                    ..JobUsage::default()
                }),
            },
            Duration::from_secs(10),
        );
        match self.reporter.client().report_script(req).await {
            Ok(r) => {
                tracing::info!(task_id = aj.task_id, job_id = %aj.job_id, applied = r.into_inner().applied, "analyze job done");
                Ok(())
            }
            Err(s) if s.code() == tonic::Code::NotFound => Ok(()),
            Err(s) => Err(JobError::from_status(&s, "script report")),
        }
    }

    async fn on_retry(&self, job: &Job, error: &JobError, delay: Duration) {
        tracing::warn!(
            attempt = job.attempt,
            error = %error,
            retry_in_s = delay.as_secs(),
            "analyze attempt failed"
        );
        let _ = self.reporter.failure::<AnalyzeJob>(job, error, false).await;
    }

    async fn on_dead_letter(&self, job: &Job, error: &JobError) -> Result<(), JobError> {
        self.reporter.failure::<AnalyzeJob>(job, error, true).await
    }
}
