//! The compose worker: consumes compose jobs from the bus, speaks each
//! paragraph, renders the narrated timeline under `output/{task}/` and
//! reports the result to tasks. At least once: the job is committed only
//! after tasks has the result; a redelivered job renders again to the same
//! keys (exactly one `final.mp4` per task) and its repeated report changes
//! nothing. Progress goes to tasks as it happens.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures::StreamExt as _;
use prost::Message as _;
use scout_common::ErrorCode;
use scout_common::adapters::blob::BlobStore;
use scout_common::auth::{InternalChannel, MeshAuth};
use scout_common::jobs::{Job, JobError, JobHandler};
use scout_proto::scout::common::v1::SubtitleStyle;
use scout_proto::scout::jobs::v1::ComposeJob;
use scout_proto::scout::render::v1::compose_response::Event;
use scout_proto::scout::render::v1::media_ref::Location;
use scout_proto::scout::render::v1::{ComposeRequest, MediaRef};
use scout_proto::scout::tasks::v1::tasks_internal_service_client::TasksInternalServiceClient;
use scout_proto::scout::tasks::v1::{
    ComposeOutput, Progress, ProgressDetails, ProgressStep, ReportComposeResultRequest,
    ReportJobFailureRequest, ReportProgressRequest, ShotUsed, StepState, TaskStatus, TaskStep,
};

use crate::compose::Composer;
use crate::compose::narration::{self, PARAGRAPH_GAP};
use crate::store::Scratch;
use crate::voice::VoiceProvider;

const STEPS: [&str; 4] = ["语音合成", "字幕生成", "视频合成", "上传成片"];

/// Handles compose jobs.
pub struct ComposeWorker {
    voice: Arc<dyn VoiceProvider>,
    composer: Composer,
    store: Arc<dyn BlobStore>,
    work_dir: std::path::PathBuf,
    tasks: TasksInternalServiceClient<InternalChannel>,
    auth: MeshAuth,
}

impl ComposeWorker {
    /// A worker reporting to the tasks service at `tasks_url`.
    pub fn new(
        voice: Arc<dyn VoiceProvider>,
        composer: Composer,
        store: Arc<dyn BlobStore>,
        work_dir: std::path::PathBuf,
        auth: MeshAuth,
        tasks_url: &str,
    ) -> anyhow::Result<Self> {
        let tasks = TasksInternalServiceClient::new(
            auth.internal_channel(scout_common::grpc::channel(tasks_url)?),
        );
        Ok(Self {
            voice,
            composer,
            store,
            work_dir,
            tasks,
            auth,
        })
    }

    async fn progress(&self, job: &ComposeJob, step: usize, percent: i32) {
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
                status: TaskStatus::Composing as i32,
                phase: "compose".into(),
                progress: 70 + percent.clamp(0, 100) * 29 / 100,
                details: Some(ProgressDetails {
                    current_step: STEPS[step.min(STEPS.len() - 1)].into(),
                    steps,
                    ..ProgressDetails::default()
                }),
                ..Progress::default()
            }),
        });
        req.set_timeout(Duration::from_secs(2));
        // Progress is advisory: a lost report is not worth failing a render for.
        if let Err(s) = self.tasks.clone().report_progress(req).await {
            tracing::debug!(task_id = job.task_id, status = %s, "progress report lost");
        }
    }

    async fn fail(&self, job: &Job, error: &str, last: bool) -> Result<(), JobError> {
        let task_id = ComposeJob::decode(job.payload.clone())
            .map(|j| (j.job_id, j.task_id))
            .ok();
        let Some((job_id, task_id)) = task_id else {
            return Ok(());
        };
        let mut req = self.auth.internal(ReportJobFailureRequest {
            job_id,
            task_id,
            step: TaskStep::Compose as i32,
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

fn blob(key: &str) -> MediaRef {
    MediaRef {
        location: Some(Location::BlobKey(key.to_string())),
    }
}

fn from_status(s: &tonic::Status) -> JobError {
    match s.code() {
        tonic::Code::InvalidArgument | tonic::Code::FailedPrecondition => {
            JobError::Permanent(s.message().to_string())
        }
        _ => JobError::Retryable(s.message().to_string()),
    }
}

#[async_trait]
impl JobHandler for ComposeWorker {
    async fn handle(&self, job: &Job) -> Result<(), JobError> {
        let cj = ComposeJob::decode(job.payload.clone())
            .map_err(|e| JobError::Permanent(format!("undecodable compose job: {e}")))?;
        if cj.narration.is_empty() {
            return Err(JobError::Permanent("the script has no paragraphs".into()));
        }
        let started = Instant::now();
        tracing::info!(task_id = cj.task_id, job_id = %cj.job_id, attempt = job.attempt, paragraphs = cj.narration.len(), "compose job started");
        self.progress(&cj, 0, 0).await;

        // 1. Speech, one file per paragraph under audio/{task}/.
        let voice = cj.voice.clone().unwrap_or_default();
        let scratch =
            Scratch::new(&self.work_dir).map_err(|e| JobError::Retryable(e.to_string()))?;
        let mut paragraphs = Vec::with_capacity(cj.narration.len());
        for (i, n) in cj.narration.iter().enumerate() {
            let speech = self.voice.synthesize(&n.text, &voice).await.map_err(|e| {
                if e.is_transient() {
                    JobError::Retryable(format!("speech for {}: {e}", n.paragraph_id))
                } else {
                    JobError::Permanent(format!("speech for {}: {e}", n.paragraph_id))
                }
            })?;
            let wav = scratch.path().join(format!("tts_{i}.wav"));
            let (samples, path) = (speech.samples, wav.clone());
            crate::service::blocking(move || crate::media::audio::write_wav(&path, &samples))
                .await
                .map_err(|e| JobError::Retryable(e.to_string()))?;
            let key = format!("audio/{}/tts_{}.wav", cj.task_id, n.paragraph_id);
            self.store
                .put_file(&key, &wav, Some("audio/wav"))
                .await
                .map_err(|e| JobError::Retryable(format!("cannot store speech: {e}")))?;
            paragraphs.push(narration::Paragraph {
                id: n.paragraph_id.clone(),
                clip: blob(&n.shot_key),
                voice: blob(&key),
                voice_seconds: speech.duration,
                text: n.text.clone(),
            });
            let pct = (20 * (i + 1) / cj.narration.len()) as i32;
            self.progress(&cj, 0, pct).await;
        }
        drop(scratch);

        // 2. The narrated timeline, rendered in one pass.
        let style = cj.subtitles_enabled.then(|| {
            SubtitleStyle::try_from(cj.subtitle_style).unwrap_or(SubtitleStyle::SimpleWhite)
        });
        let timeline = narration::timeline(&paragraphs, style, None, cj.output.clone());
        self.progress(&cj, 1, 25).await;
        let mut stream = self
            .composer
            .start(ComposeRequest {
                job_id: cj.job_id.clone(),
                timeline: Some(timeline),
                output_prefix: format!("output/{}/", cj.task_id),
            })
            .map_err(|e| from_status(&tonic::Status::from(e)))?;
        let mut result = None;
        let mut last_reported = -10;
        while let Some(msg) = stream.next().await {
            match msg.map_err(|s| from_status(&s))?.event {
                Some(Event::Progress(p)) => {
                    let pct = 25 + p.percent * 70 / 100;
                    if pct - last_reported >= 5 {
                        last_reported = pct;
                        self.progress(&cj, if p.phase == "package" { 3 } else { 2 }, pct)
                            .await;
                    }
                }
                Some(Event::Result(r)) => result = Some(r),
                None => {}
            }
        }
        let r =
            result.ok_or_else(|| JobError::Retryable("compose ended without a result".into()))?;

        // 3. Report; only then is the job done.
        let shots_used = paragraphs
            .iter()
            .zip(&cj.narration)
            .map(|(p, n)| ShotUsed {
                id: n.shot_id,
                duration_seconds: p.voice_seconds + PARAGRAPH_GAP,
                ..ShotUsed::default()
            })
            .collect();
        let mut req = self.auth.internal(ReportComposeResultRequest {
            job_id: cj.job_id.clone(),
            task_id: cj.task_id,
            output: Some(ComposeOutput {
                video_key: r.video_key,
                subtitle_key: r.subtitle_key,
                cover_key: r.cover_key,
                assets_key: r.assets_key,
                duration_seconds: r.duration_seconds,
                file_size: r.file_size,
                width: r.width,
                height: r.height,
                shots_used,
            }),
        });
        req.set_timeout(Duration::from_secs(10));
        match self.tasks.clone().report_compose_result(req).await {
            Ok(resp) => {
                tracing::info!(
                    task_id = cj.task_id,
                    job_id = %cj.job_id,
                    applied = resp.into_inner().applied,
                    seconds = started.elapsed().as_secs_f64(),
                    "compose job done"
                );
                Ok(())
            }
            // The task was deleted meanwhile: nothing to report to.
            Err(s) if s.code() == tonic::Code::NotFound => Ok(()),
            Err(s) => Err(JobError::Retryable(format!(
                "cannot report the result to tasks: {}",
                s.message()
            ))),
        }
    }

    async fn on_retry(&self, job: &Job, error: &str, delay: Duration) {
        tracing::warn!(
            attempt = job.attempt,
            error,
            retry_in_s = delay.as_secs(),
            "compose attempt failed"
        );
        let _ = self.fail(job, error, false).await;
    }

    async fn on_dead_letter(&self, job: &Job, error: &str) -> Result<(), JobError> {
        self.fail(job, error, true).await
    }
}
