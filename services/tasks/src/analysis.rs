//! Analysis jobs and what workers report back.
//!
//! `StartAnalysis` (and `RegenerateScript`, and retrying a failed analysis)
//! moves the task to ANALYZING, records the job it now waits for, and puts
//! one `AnalyzeJob` on the bus. Workers report through the internal
//! service; a report from any job but the one the task waits for — a
//! redelivered job whose result was already stored, an old attempt racing
//! a retry — is acknowledged and changes nothing (`applied: false`).

use prost::Message as _;
use scout_common::jobs;
use scout_proto::scout::common::v1::SpeechRate;
use scout_proto::scout::jobs::v1::AnalyzeJob;
use scout_proto::scout::tasks::v1::{
    ClipAnalysis, GetTaskContextResponse, ReportJobFailureRequest, ReportScriptRequest, TaskStep,
};

use crate::State;
use crate::error::TasksError;
use crate::machine::{self, Event, Status, Step};
use crate::scripts;
use crate::store::{self, Analysis, TaskRow};
use crate::tasks;
use crate::uploads;

/// Most focus points one clip's analysis may report (a frame every 2 s of
/// a 10-minute clip, the longest allowed, with room).
const MAX_FOCUS_POINTS: usize = 600;

/// Rough analysis time: frame extraction and analysis per clip, then the script.
fn estimate_seconds(clips: usize) -> i32 {
    20 + 10 * clips as i32
}

/// Moves the task to ANALYZING (from `from`, by `event`) and queues one job.
/// Returns the estimated duration.
async fn dispatch(state: &State, task: &TaskRow, event: Event) -> Result<i32, TasksError> {
    if crate::explainer::is_document(state, task.id).await? {
        return crate::explainer::dispatch(state, task, event).await;
    }
    let from = task.status();
    let to = machine::next(from, event)?;
    let task_id = task.id;
    let videos = state.db.run(move |c| store::videos_of(c, task_id)).await?;
    // A topic short needs none: its clips, if any, are its library.
    let topic = crate::recipes::recipe_of(state, task_id).await?.is_topic();
    if videos.is_empty() && !topic {
        return Err(TasksError::NotReady(format!(
            "task {task_id} has no clips to analyse; upload at least one"
        )));
    }
    let job_id = uuid::Uuid::new_v4().to_string();
    let job = job_id.clone();
    let moved = state
        .db
        .run(move |c| store::start_job(c, task_id, from, to, &job))
        .await?;
    if !moved {
        return Err(TasksError::Changed(
            "the task changed meanwhile; reload it and try again",
        ));
    }
    let rate = crate::speech::rate(state, task).await;
    let payload = job_payload(task, &videos, &job_id, rate);
    if let Err(e) = jobs::enqueue(
        state.ctx.adapters.bus.as_ref(),
        &state.analyze_jobs,
        &task_id.to_string(),
        payload.into(),
    )
    .await
    {
        tracing::warn!(task_id, error = %e, "cannot queue an analyze job");
        // Undo, so the user can simply try again.
        let _ = state
            .db
            .run(move |c| store::finish_job(c, task_id, to, from, None))
            .await;
        return Err(TasksError::Unavailable(
            "the analysis could not be queued (job bus unavailable); try again shortly".into(),
        ));
    }
    tracing::info!(task_id, job_id, clips = videos.len(), "analyze job queued");
    Ok(estimate_seconds(videos.len()))
}

fn job_payload(
    task: &TaskRow,
    videos: &[store::VideoRow],
    job_id: &str,
    speech_rate: SpeechRate,
) -> Vec<u8> {
    AnalyzeJob {
        job_id: job_id.to_string(),
        task_id: task.id,
        user_id: task.user_id,
        video_ids: videos.iter().map(|v| v.id).collect(),
        shop: tasks::to_proto(task, videos.len() as i64).shop,
        requested_at: Some(tasks::timestamp(chrono::Utc::now().naive_utc())),
        speech_rate: Some(speech_rate),
        document: Vec::new(),
    }
    .encode_to_vec()
}

/// Puts the job an ANALYZING task waits for on the bus again (after a
/// restart of an in-process bus lost it).
pub async fn requeue(state: &State, task: &TaskRow) -> Result<(), TasksError> {
    if crate::explainer::is_document(state, task.id).await? {
        return crate::explainer::requeue(state, task).await;
    }
    let Some(job_id) = task.current_job_id.clone() else {
        return Ok(());
    };
    let task_id = task.id;
    let videos = state.db.run(move |c| store::videos_of(c, task_id)).await?;
    let rate = crate::speech::rate(state, task).await;
    jobs::enqueue(
        state.ctx.adapters.bus.as_ref(),
        &state.analyze_jobs,
        &task_id.to_string(),
        job_payload(task, &videos, &job_id, rate).into(),
    )
    .await
    .map_err(|e| TasksError::Unavailable(e.to_string()))
}

/// `StartAnalysis`.
pub async fn start(state: &State, user_id: i64, task_id: i64) -> Result<i32, TasksError> {
    let task = tasks::load(state, user_id, task_id).await?;
    let recipe = crate::recipes::recipe_of(state, task_id).await?;
    if recipe.is_montage() {
        return Err(TasksError::NotReady(format!(
            "a {} has no analysis or script: start composing once its images and backing track are uploaded",
            recipe.as_str()
        )));
    }
    let event = if recipe.is_topic() {
        Event::WriteTopic
    } else {
        Event::StartAnalysis
    };
    dispatch(state, &task, event).await
}

/// `RegenerateScript`: at most `max` per task (the caller's tier; seed 000: 5); the new script arrives like
/// the first (ANALYZING, then SCRIPT_READY). Returns the regenerations left.
pub async fn regenerate(
    state: &State,
    user_id: i64,
    max: i32,
    task_id: i64,
) -> Result<i32, TasksError> {
    let task = tasks::load(state, user_id, task_id).await?;
    machine::next(task.status(), Event::RegenerateScript)?;
    let counted = state
        .db
        .run(move |c| store::use_regeneration(c, task_id, max))
        .await?;
    if !counted {
        return Err(TasksError::NoRegenerationsLeft { max });
    }
    if let Err(e) = dispatch(state, &task, Event::RegenerateScript).await {
        // Not spent after all.
        let _ = state
            .db
            .run(move |c| store::refund_regeneration(c, task_id))
            .await;
        return Err(e);
    }
    Ok(max - task.script_regenerate_count - 1)
}

/// `RetryTask`: re-runs the failed step.
pub async fn retry(state: &State, user_id: i64, task_id: i64) -> Result<(), TasksError> {
    let task = tasks::load(state, user_id, task_id).await?;
    let step = task
        .failure_step
        .as_deref()
        .and_then(Step::parse)
        .unwrap_or(Step::Analyze);
    match step {
        Step::Analyze | Step::Script => {
            dispatch(state, &task, Event::Retry(step)).await?;
            Ok(())
        }
        Step::Upload => {
            let to = machine::next(task.status(), Event::Retry(step))?;
            state
                .db
                .run(move |c| store::finish_job(c, task_id, Status::Failed, to, None))
                .await?;
            Ok(())
        }
        Step::Compose => {
            crate::compose::dispatch(state, &task, Event::Retry(step)).await?;
            Ok(())
        }
    }
}

async fn task_for_worker(state: &State, task_id: i64) -> Result<TaskRow, TasksError> {
    state
        .db
        .run(move |c| store::task_by_id(c, task_id))
        .await?
        .ok_or_else(|| TasksError::not_found(format!("task {task_id}")))
}

fn waits_for(task: &TaskRow, job_id: &str, status: Status) -> bool {
    task.status() == status && task.current_job_id.as_deref() == Some(job_id)
}

/// `GetTaskContext`.
pub async fn context(
    state: &State,
    task_id: i64,
    with_library: bool,
) -> Result<GetTaskContextResponse, TasksError> {
    let task = task_for_worker(state, task_id).await?;
    let (videos, script) = state
        .db
        .run(move |c| Ok((store::videos_of(c, task_id)?, store::script_of(c, task_id)?)))
        .await?;
    let mut out = Vec::with_capacity(videos.len());
    for v in &videos {
        out.push(uploads::to_proto(state, v).await);
    }
    let script = match &script {
        Some(row) => Some(scripts::to_proto(state, row, &videos, &task).await),
        None => None,
    };
    let recipe = crate::recipes::of(state, task_id).await?;
    let mut library = Vec::new();
    if with_library {
        for v in &crate::library::for_writer(state, &task).await? {
            library.push(uploads::to_proto(state, v).await);
        }
    }
    Ok(GetTaskContextResponse {
        task: Some(crate::recipes::with_recipe(
            tasks::to_proto(&task, videos.len() as i64),
            recipe.as_ref(),
        )),
        user_id: task.user_id,
        videos: out,
        script,
        output: crate::compose::output_files(state, &task).await?,
        library,
    })
}

fn category_name(c: i32) -> Result<String, TasksError> {
    scout_proto::scout::common::v1::ShotCategory::try_from(c)
        .ok()
        .and_then(scout_common::proto_json::short_name)
        .ok_or_else(|| {
            TasksError::invalid("analysis.category", "food, person, environment or other")
        })
}

/// `ReportClipAnalysis`.
pub async fn report_clip(
    state: &State,
    job_id: &str,
    task_id: i64,
    video_id: i64,
    a: &ClipAnalysis,
) -> Result<bool, TasksError> {
    let task = task_for_worker(state, task_id).await?;
    if !waits_for(&task, job_id, Status::Analyzing) {
        return Ok(false);
    }
    let category = category_name(a.category)?;
    let f = a.quality_factors.unwrap_or_default();
    for (name, v) in [
        ("quality_score", a.quality_score),
        ("clarity", f.clarity),
        ("composition", f.composition),
        ("lighting", f.lighting),
        ("stability", f.stability),
    ] {
        if !(0..=100).contains(&v) {
            return Err(TasksError::invalid(format!("analysis.{name}"), "0-100"));
        }
    }
    if a.tags.len() > 5 {
        return Err(TasksError::invalid("analysis.tags", "at most 5"));
    }
    let tags = serde_json::to_string(&a.tags).unwrap_or_else(|_| "[]".into());
    let frames = serde_json::to_string(&a.frame_keys).unwrap_or_else(|_| "[]".into());
    if a.focus.len() > MAX_FOCUS_POINTS
        || a.focus.iter().any(|p| {
            !(p.time_seconds.is_finite()
                && p.time_seconds >= 0.0
                && (0.0..=1.0).contains(&p.x)
                && (0.0..=1.0).contains(&p.y))
        })
    {
        return Err(TasksError::invalid(
            "analysis.focus",
            format!("at most {MAX_FOCUS_POINTS} points, each at a time >= 0 with x and y in 0-1"),
        ));
    }
    let focus = crate::compose::focus_to_json(&a.focus);
    let (job, description, provider) = (
        job_id.to_string(),
        a.description.chars().take(500).collect::<String>(),
        a.provider.clone(),
    );
    let (score, recommended) = (a.quality_score, a.is_recommended);
    Ok(state
        .db
        .run(move |c| {
            store::store_analysis(
                c,
                task_id,
                video_id,
                &job,
                &Analysis {
                    category: &category,
                    tags: &tags,
                    description: &description,
                    quality_score: score,
                    factors: [f.clarity, f.composition, f.lighting, f.stability],
                    is_recommended: recommended,
                    frame_keys: &frames,
                    provider: &provider,
                    focus: &focus,
                },
            )
        })
        .await?)
}

/// `ReportScript`: stores the script and moves the task to SCRIPT_READY.
pub async fn report_script(state: &State, r: &ReportScriptRequest) -> Result<bool, TasksError> {
    let task = task_for_worker(state, r.task_id).await?;
    // A topic short's pictures become images of the task first, then the
    // library clips its scenes show are copied into it.
    let paragraphs =
        crate::shorts::adopt_pictures(state, &task, &r.job_id, &r.paragraphs, &r.pictures).await?;
    let paragraphs =
        crate::library::adopt(state, &task, &r.job_id, paragraphs, &r.library_clips).await?;
    scripts::store_generated(
        state,
        &task,
        &r.job_id,
        &paragraphs,
        &r.provider,
        &r.provider_note,
        r.usage.as_ref(),
    )
    .await
}

/// `ReportJobFailure`: a final failure moves the task to FAILED with the
/// step, message, code and attempts; earlier attempts are only logged.
pub async fn report_failure(
    state: &State,
    r: &ReportJobFailureRequest,
) -> Result<bool, TasksError> {
    let task = task_for_worker(state, r.task_id).await?;
    let status = task.status();
    if task.current_job_id.as_deref() != Some(r.job_id.as_str()) || !status.is_busy() {
        return Ok(false);
    }
    if !r.r#final {
        tracing::warn!(task_id = r.task_id, job_id = %r.job_id, attempt = r.attempt, error = %r.message, "job attempt failed; it will be retried");
        return Ok(true);
    }
    let step = match TaskStep::try_from(r.step) {
        Ok(TaskStep::Upload) => Step::Upload,
        Ok(TaskStep::Script) => Step::Script,
        Ok(TaskStep::Compose) => Step::Compose,
        _ => Step::Analyze,
    };
    machine::next(status, Event::Fail(step))?;
    let (task_id, message, code, attempts) = (
        r.task_id,
        r.message.chars().take(500).collect::<String>(),
        r.code,
        r.attempt,
    );
    tracing::warn!(task_id, step = step.as_str(), error = %message, attempts, "task failed");
    let failed = state
        .db
        .run(move |c| store::fail_task(c, task_id, status, step.as_str(), &message, code, attempts))
        .await?;
    if failed {
        scout_common::telemetry::record_task_finished("failed");
    }
    Ok(failed)
}
