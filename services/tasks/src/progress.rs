//! Live progress in the seed 000 §6.2 shape: status, phase, percent, the
//! phase's steps with their states, clips analysed of total, seconds left.
//!
//! Derived from what the database knows (status, clips analysed by the
//! current job, when the job started) and refined by what a running worker
//! reports (`ReportProgress`: the step it is in and how far, kept in the
//! cache under `task:progress:{id}` for an hour). This module alone names
//! the steps and decides the percentages: workers only say where they are.
//! `WatchProgress` sends it again whenever it changes and ends when the
//! task completes or fails.

use std::pin::Pin;
use std::time::Duration;

use futures::Stream;
use prost::Message as _;

use scout_proto::scout::tasks::v1::{
    Failure, Progress, ProgressDetails, ProgressStep, ReportProgressRequest, StepState, TaskStatus,
    WorkStep,
};

use crate::State;
use crate::error::TasksError;
use crate::machine::Status;
use crate::store::{self, TaskRow};
use crate::tasks;

/// How long a reported progress is kept.
pub const REPORTED_TTL: Duration = Duration::from_secs(3600);
/// How often a watcher looks for a change.
pub const WATCH_INTERVAL: Duration = Duration::from_millis(250);

/// One step of a job as users see it: its name, its phase and the part of
/// the overall percentage it covers.
struct StepView {
    step: WorkStep,
    name: &'static str,
    phase: &'static str,
    from: i32,
    to: i32,
}

const fn view(
    step: WorkStep,
    name: &'static str,
    phase: &'static str,
    from: i32,
    to: i32,
) -> StepView {
    StepView {
        step,
        name,
        phase,
        from,
        to,
    }
}

/// The analysis (10-65 %): the clip steps advance with the clips analysed,
/// then the script.
const ANALYSIS: [StepView; 4] = [
    view(WorkStep::ExtractFrames, "帧提取", "frame_analysis", 10, 60),
    view(
        WorkStep::RecognizeShots,
        "镜头内容识别",
        "frame_analysis",
        10,
        60,
    ),
    view(
        WorkStep::AssessQuality,
        "质量评估",
        "frame_analysis",
        10,
        60,
    ),
    view(WorkStep::WriteScript, "脚本生成", "script", 60, 64),
];
/// The compose (70-99 %): speech, subtitles, the render, storing.
const COMPOSE: [StepView; 4] = [
    view(WorkStep::SynthesizeSpeech, "语音合成", "compose", 70, 76),
    view(WorkStep::WriteSubtitles, "字幕生成", "compose", 76, 77),
    view(WorkStep::RenderVideo, "视频合成", "compose", 77, 97),
    view(WorkStep::StoreOutputs, "上传成片", "compose", 97, 99),
];

/// A music video's or ad creative's compose (10-99 %): the beats, the
/// render, storing.
const MONTAGE: [StepView; 3] = [
    view(WorkStep::DetectBeats, "节拍检测", "compose", 10, 20),
    view(WorkStep::RenderVideo, "视频合成", "compose", 20, 95),
    view(WorkStep::StoreOutputs, "上传成片", "compose", 95, 99),
];

/// A montage whose images are made to move (10-99 %): the beats, each
/// scene's clip (and its lip sync), the render, storing.
const ANIMATED: [StepView; 4] = [
    view(WorkStep::DetectBeats, "节拍检测", "compose", 10, 15),
    view(WorkStep::GenerateVisuals, "画面生成", "compose", 15, 60),
    view(WorkStep::RenderVideo, "视频合成", "compose", 60, 95),
    view(WorkStep::StoreOutputs, "上传成片", "compose", 95, 99),
];

/// A topic short's writing (10-65 %): its library clips recognised (when
/// it has any), the script, each scene's picture.
const TOPIC: [StepView; 3] = [
    view(
        WorkStep::RecognizeShots,
        "素材识别",
        "frame_analysis",
        10,
        30,
    ),
    view(WorkStep::WriteScript, "脚本生成", "script", 30, 40),
    view(WorkStep::GenerateVisuals, "画面生成", "script", 40, 64),
];

/// What a task's steps look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// Clips analysed, a script, a narrated compose.
    Narrated,
    /// A topic short: a script and pictures, a narrated compose.
    Topic,
    /// A music video or ad creative: no script, a montage compose.
    Montage,
    /// A montage whose images are made to move before it is composed.
    Animated,
}

impl Shape {
    fn of(row: Option<&store::RecipeRow>) -> Shape {
        let recipe = crate::recipes::Recipe::of(row);
        if recipe.is_montage() && row.is_some_and(|r| r.animate) {
            Shape::Animated
        } else if recipe.is_montage() {
            Shape::Montage
        } else if recipe.is_topic() {
            Shape::Topic
        } else {
            Shape::Narrated
        }
    }
}

/// The compose steps of a task.
fn compose_views(shape: Shape) -> &'static [StepView] {
    match shape {
        Shape::Montage => &MONTAGE,
        Shape::Animated => &ANIMATED,
        Shape::Narrated | Shape::Topic => &COMPOSE,
    }
}

/// The analysis steps of a task.
fn analysis_views(shape: Shape) -> &'static [StepView] {
    if shape == Shape::Topic {
        &TOPIC
    } else {
        &ANALYSIS
    }
}

fn names(views: &[StepView]) -> Vec<&'static str> {
    views.iter().map(|v| v.name).collect()
}

fn key(task_id: i64) -> String {
    format!("task:progress:{task_id}")
}

/// Stores a worker's progress report (fails soft: progress is advisory).
pub async fn report(state: &State, r: &ReportProgressRequest) {
    if let Err(e) = state
        .ctx
        .adapters
        .cache
        .set(&key(r.task_id), &r.encode_to_vec(), Some(REPORTED_TTL))
        .await
    {
        tracing::debug!(task_id = r.task_id, error = %e, "progress report not stored");
    }
}

/// What a worker's report means for a task in `status` with `videos`
/// clips: the steps of its phase with the reported one running, and the
/// overall percentage. `None` when the report is of another phase.
fn from_report(
    status: Status,
    r: &ReportProgressRequest,
    videos: usize,
    shape: Shape,
) -> Option<(usize, &'static StepView, i32)> {
    let views: &'static [StepView] = match status {
        Status::Analyzing => analysis_views(shape),
        Status::Composing => compose_views(shape),
        _ => return None,
    };
    let step = match WorkStep::try_from(r.step).ok()? {
        // A topic short's library: one step for the clip work.
        WorkStep::ExtractFrames | WorkStep::AssessQuality if shape == Shape::Topic => {
            WorkStep::RecognizeShots
        }
        s => s,
    };
    let (index, v) = views.iter().enumerate().find(|(_, v)| v.step == step)?;
    let fraction = if status == Status::Analyzing
        && !matches!(step, WorkStep::WriteScript | WorkStep::GenerateVisuals)
    {
        f64::from(r.clips_done.max(0)) / videos.max(1) as f64
    } else {
        r.fraction
    };
    let percent = v.from + (f64::from(v.to - v.from) * fraction.clamp(0.0, 1.0)) as i32;
    Some((index, v, percent))
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
pub async fn get(state: &State, user_id: i64, task_id: i64) -> Result<Progress, TasksError> {
    let task = tasks::load(state, user_id, task_id).await?;
    compute(state, &task).await
}

async fn compute(state: &State, task: &TaskRow) -> Result<Progress, TasksError> {
    let task_id = task.id;
    let job = task.current_job_id.clone();
    let analysing = task.status() == Status::Analyzing;
    let (videos, analysed, shape) = state
        .db
        .run(move |c| {
            let shape = Shape::of(store::recipe_of(c, task_id)?.as_ref());
            let videos = store::videos_of(c, task_id)?;
            // While analysing: the clips this job has analysed; after: every
            // clip with an analysis.
            let analysed = videos
                .iter()
                .filter(|v| {
                    if analysing && job.is_some() {
                        v.analysis_job_id == job
                    } else {
                        v.analysis_job_id.is_some()
                    }
                })
                .count();
            Ok((videos.len(), analysed, shape))
        })
        .await?;
    let compose = compose_views(shape);
    let analysis = analysis_views(shape);
    let reported = match state.ctx.adapters.cache.get(&key(task_id)).await {
        Ok(Some(bytes)) => ReportProgressRequest::decode(bytes.as_slice())
            .ok()
            // A report of an earlier job (a retry started since) is stale.
            .filter(|r| task.current_job_id.as_deref() == Some(r.job_id.as_str())),
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
        scenes: None,
    };
    match status {
        Status::Created | Status::Uploading => {
            p.phase = "upload".into();
            p.progress = if videos > 0 { 10 } else { 0 };
            let name = if shape != Shape::Narrated {
                "上传素材"
            } else {
                "上传视频"
            };
            p.details = Some(details(name, steps(&[name], 0, Some(0), false)));
        }
        Status::Analyzing if shape == Shape::Topic => {
            let running = usize::from(analysed >= videos);
            p.phase = analysis[running].phase.into();
            p.progress = analysis[running].from;
            p.details = Some(details(
                analysis[running].name,
                steps(&names(analysis), running, Some(running), false),
            ));
            let estimate = 40 + 10 * videos as i32;
            p.estimated_remaining_seconds = (estimate - elapsed).max(1);
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
                ANALYSIS[running].name,
                steps(&names(&ANALYSIS), done, Some(running), false),
            ));
            let estimate = 20 + 10 * videos as i32;
            p.estimated_remaining_seconds = (estimate - elapsed).max(1);
        }
        Status::ScriptReady | Status::ScriptEdited | Status::VoiceSet => {
            p.phase = "script".into();
            p.progress = 65;
            p.details = Some(details(
                "",
                steps(&names(analysis), analysis.len(), None, false),
            ));
        }
        Status::Composing => {
            p.phase = "compose".into();
            p.progress = compose[0].from;
            p.details = Some(details(
                compose[0].name,
                steps(&names(compose), 0, Some(0), false),
            ));
            p.estimated_remaining_seconds = (60 + 30 * videos as i32 - elapsed).max(1);
        }
        Status::Completed => {
            p.phase = "done".into();
            p.progress = 100;
            p.details = Some(details(
                "",
                steps(&names(compose), compose.len(), None, false),
            ));
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
    // A running worker knows better where it is now.
    if let Some(r) = reported
        && let Some((index, view, percent)) = from_report(status, &r, videos, shape)
    {
        let all: &[StepView] = if status == Status::Analyzing {
            analysis
        } else {
            compose
        };
        p.phase = view.phase.into();
        p.progress = percent.clamp(p.progress, 99);
        let mut d = details(view.name, steps(&names(all), index, Some(index), false));
        d.videos_analyzed = d.videos_analyzed.max(r.clips_done);
        // Seed 004's scene counters, while the job makes its scenes.
        d.scenes = r.scenes.filter(|_| view.step == WorkStep::GenerateVisuals);
        p.details = Some(d);
        // The compose's preview, watchable while the full render goes on.
        if status == Status::Composing && !r.preview_key.is_empty() {
            match crate::compose::presign(state, &r.preview_key).await {
                Ok(url) => p.preview_url = url,
                Err(e) => tracing::debug!(task_id, error = %e, "preview not signed"),
            }
        }
    }
    Ok(p)
}

/// Whether a watcher has news in `now` after `before`: a change besides the
/// preview URL's signature, which is fresh on every read.
fn changed(before: &Progress, now: &Progress) -> bool {
    let bare = |p: &Progress| Progress {
        preview_url: if p.preview_url.is_empty() {
            String::new()
        } else {
            "signed".into()
        },
        ..p.clone()
    };
    bare(before) != bare(now)
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
) -> Result<ProgressStream, TasksError> {
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
                        Ok(p) if changed(&previous, &p) => {
                            let next = after(&p);
                            return Some((Ok(p), (state, next)));
                        }
                        Ok(_) => {}
                        Err(e) => return Some((Err(e.into()), (state, Watch::Done))),
                    }
                },
            }
        },
    );
    Ok(Box::pin(stream))
}
