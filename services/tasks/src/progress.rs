//! Live progress in the seed 000 §6.2 shape: status, phase, percent, the
//! phase's steps with their states, clips analysed of total, seconds left.
//!
//! Derived from what the database knows (status, clips analysed by the
//! current job, when the job started) and refined by what a running worker
//! reports (`ReportProgress`, kept in the cache under `task:progress:{id}`
//! for an hour). `WatchProgress` sends it again whenever it changes and
//! ends when the task completes or fails.

use std::pin::Pin;
use std::time::Duration;

use futures::Stream;
use prost::Message as _;
use scout_common::ApiError;
use scout_proto::scout::tasks::v1::{
    Failure, Progress, ProgressDetails, ProgressStep, StepState, TaskStatus,
};

use crate::State;
use crate::machine::Status;
use crate::store::{self, TaskRow};
use crate::tasks;

/// How long a reported progress is kept.
pub const REPORTED_TTL: Duration = Duration::from_secs(3600);
/// How often a watcher looks for a change.
pub const WATCH_INTERVAL: Duration = Duration::from_millis(250);

const ANALYSIS_STEPS: [&str; 4] = ["帧提取", "镜头内容识别", "质量评估", "脚本生成"];
const COMPOSE_STEPS: [&str; 4] = ["语音合成", "字幕生成", "视频合成", "上传成片"];

fn key(task_id: i64) -> String {
    format!("task:progress:{task_id}")
}

/// Stores a worker's progress report (fails soft: progress is advisory).
pub async fn report(state: &State, task_id: i64, progress: &Progress) {
    if let Err(e) = state
        .ctx
        .adapters
        .cache
        .set(&key(task_id), &progress.encode_to_vec(), Some(REPORTED_TTL))
        .await
    {
        tracing::debug!(task_id, error = %e, "progress report not stored");
    }
}

fn steps(names: &[&str], done: usize, running: Option<usize>, failed: bool) -> Vec<ProgressStep> {
    names
        .iter()
        .enumerate()
        .map(|(i, n)| ProgressStep {
            name: (*n).into(),
            status: if i < done {
                StepState::Completed
            } else if Some(i) == running {
                if failed {
                    StepState::Failed
                } else {
                    StepState::InProgress
                }
            } else {
                StepState::Pending
            } as i32,
        })
        .collect()
}

/// The task's progress now.
pub async fn get(state: &State, user_id: i64, task_id: i64) -> Result<Progress, ApiError> {
    let task = tasks::load(state, user_id, task_id).await?;
    compute(state, &task).await
}

async fn compute(state: &State, task: &TaskRow) -> Result<Progress, ApiError> {
    let task_id = task.id;
    let job = task.current_job_id.clone();
    let (videos, analysed) = state
        .db
        .run(move |c| {
            let videos = store::videos_of(c, task_id)?;
            let analysed = videos
                .iter()
                .filter(|v| job.is_some() && v.analysis_job_id == job)
                .count();
            Ok((videos.len(), analysed))
        })
        .await?;
    let reported = match state.ctx.adapters.cache.get(&key(task_id)).await {
        Ok(Some(bytes)) => Progress::decode(bytes.as_slice()).ok(),
        _ => None,
    };
    let status = task.status();
    let elapsed = task
        .job_started_at
        .map(|t| (chrono::Utc::now().naive_utc() - t).num_seconds().max(0))
        .unwrap_or(0) as i32;
    let mut p = Progress {
        status: status.api() as i32,
        ..Progress::default()
    };
    let details = |current: &str, steps: Vec<ProgressStep>| ProgressDetails {
        videos_total: videos as i32,
        videos_analyzed: analysed as i32,
        current_step: current.to_string(),
        steps,
    };
    match status {
        Status::Created | Status::Uploading => {
            p.phase = "upload".into();
            p.progress = if videos > 0 { 10 } else { 0 };
            p.details = Some(details("上传视频", steps(&["上传视频"], 0, Some(0), false)));
        }
        Status::Analyzing => {
            p.phase = if analysed < videos {
                "frame_analysis"
            } else {
                "script"
            }
            .into();
            let (done, running) = if analysed < videos {
                (
                    if analysed > 0 { 2 } else { 1 },
                    if analysed > 0 { 2 } else { 1 },
                )
            } else {
                (3, 3)
            };
            p.progress = 10 + (50 * analysed / videos.max(1)) as i32;
            if analysed == videos {
                p.progress = 60;
            }
            p.details = Some(details(
                ANALYSIS_STEPS[running],
                steps(&ANALYSIS_STEPS, done, Some(running), false),
            ));
            let estimate = 20 + 10 * videos as i32;
            p.estimated_remaining_seconds = (estimate - elapsed).max(1);
        }
        Status::ScriptReady | Status::ScriptEdited | Status::VoiceSet => {
            p.phase = "script".into();
            p.progress = 65;
            p.details = Some(details("", steps(&ANALYSIS_STEPS, 4, None, false)));
        }
        Status::Composing => {
            p.phase = "compose".into();
            p.progress = 70;
            p.details = Some(details(
                COMPOSE_STEPS[0],
                steps(&COMPOSE_STEPS, 0, Some(0), false),
            ));
            p.estimated_remaining_seconds = (60 + 30 * videos as i32 - elapsed).max(1);
        }
        Status::Completed => {
            p.phase = "done".into();
            p.progress = 100;
            p.details = Some(details("", steps(&COMPOSE_STEPS, 4, None, false)));
        }
        Status::Failed => {
            let t = tasks::to_proto(task, videos as i64);
            p.phase = match task.failure_step.as_deref() {
                Some("compose") => "compose",
                Some("upload") => "upload",
                Some("script") => "script",
                _ => "frame_analysis",
            }
            .into();
            p.failure = t.failure.or_else(|| {
                Some(Failure {
                    message: task.error_message.clone().unwrap_or_default(),
                    ..Failure::default()
                })
            });
            p.details = Some(details("", Vec::new()));
        }
    }
    // A running worker knows better what it is doing now.
    if let Some(r) = reported
        && status.is_busy()
        && r.status == p.status
    {
        p.phase = if r.phase.is_empty() { p.phase } else { r.phase };
        p.progress = r.progress.clamp(p.progress, 99);
        if let Some(mut d) = r.details {
            d.videos_total = videos as i32;
            d.videos_analyzed = d.videos_analyzed.max(analysed as i32);
            p.details = Some(d);
        }
        if r.estimated_remaining_seconds > 0 {
            p.estimated_remaining_seconds = r.estimated_remaining_seconds;
        }
    }
    Ok(p)
}

/// A stream of progress: the current one, then every change, ending after
/// COMPLETED or FAILED.
pub type ProgressStream =
    Pin<Box<dyn Stream<Item = Result<Progress, tonic::Status>> + Send + 'static>>;

fn terminal(p: &Progress) -> bool {
    matches!(
        TaskStatus::try_from(p.status),
        Ok(TaskStatus::Completed | TaskStatus::Failed)
    )
}

enum Watch {
    /// Send this next.
    Pending(Progress),
    /// Sent this; poll for a change.
    Polling(Progress),
    /// Sent a final state.
    Done,
}

/// `WatchProgress`.
pub async fn watch(
    state: std::sync::Arc<State>,
    user_id: i64,
    task_id: i64,
) -> Result<ProgressStream, ApiError> {
    let first = get(&state, user_id, task_id).await?;
    let after = |p: &Progress| {
        if terminal(p) {
            Watch::Done
        } else {
            Watch::Polling(p.clone())
        }
    };
    let stream = futures::stream::unfold(
        (state, Watch::Pending(first)),
        move |(state, w)| async move {
            match w {
                Watch::Done => None,
                Watch::Pending(p) => {
                    let next = after(&p);
                    Some((Ok(p), (state, next)))
                }
                Watch::Polling(previous) => loop {
                    tokio::time::sleep(WATCH_INTERVAL).await;
                    match get(&state, user_id, task_id).await {
                        Ok(p) if p != previous => {
                            let next = after(&p);
                            return Some((Ok(p), (state, next)));
                        }
                        Ok(_) => {}
                        Err(e) => return Some((Err(e.to_status()), (state, Watch::Done))),
                    }
                },
            }
        },
    );
    Ok(Box::pin(stream))
}
