//! Voice and subtitle settings, compose jobs, and the finished output.
//!
//! `StartCompose` turns the script into a `ComposeJob` (one narration per
//! paragraph, over the paragraph's clip) and puts it on the bus; the render
//! node's compose worker speaks it, renders it under `output/{task}/`
//! (fixed keys, so a re-run overwrites and never duplicates) and reports
//! back. Download and assets URLs are presigned GETs valid one hour.

use std::time::Duration;

use prost::Message as _;
use scout_common::adapters::blob::PresignOptions;
use scout_common::auth::AuthUser;
use scout_common::config::{AigcConfig, MarkCorner};
use scout_common::jobs;
use scout_common::proto_json::short_name;
use scout_proto::scout::common::v1::{FocusPoint, SubtitleStyle};
use scout_proto::scout::jobs::v1::{ComposeJob, Narration};
use scout_proto::scout::render::v1::{AigcLabel, AigcMark, Corner};
use scout_proto::scout::tasks::v1::{
    ComposeOutput, GetOutputResponse, OutputVideo, ShotUsed, SubtitleSettings, TaskOutputFiles,
    VoiceSettings,
};
use serde::{Deserialize, Serialize};

use crate::State;
use crate::error::TasksError;
use crate::machine::{self, Event, Status};
use crate::quotas;
use crate::recipes::{self, Recipe};
use crate::scripts;
use crate::speech;
use crate::store::{self, TaskRow};
use crate::tasks;
use crate::uploads;

/// How long download links work.
pub const DOWNLOAD_TTL: Duration = Duration::from_secs(3600);

/// The voice and speed to store: what `v` names, the task's own choice
/// where `v` leaves one out.
fn check_voice(v: &VoiceSettings, task: &TaskRow) -> Result<(String, f64), TasksError> {
    let name = if !v.voice_type.is_empty() {
        v.voice_type.clone()
    } else if !task.voice_type.is_empty() {
        task.voice_type.clone()
    } else {
        speech::DEFAULT_VOICE.to_string()
    };
    if name.len() > 50
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(TasksError::invalid(
            "voice.voice_type",
            "a voice name: letters, digits, '_' or '-', at most 50",
        ));
    }
    let speed = match (v.speed, task.voice_speed) {
        (s, _) if s != 0.0 => s,
        (_, kept) if kept != 0.0 => kept,
        _ => 1.0,
    };
    if !(0.5..=2.0).contains(&speed) {
        return Err(TasksError::invalid("voice.speed", "0.5 to 2.0"));
    }
    Ok((name, speed))
}

/// The style's name; unset means the default, simple white.
fn style_name(style: i32) -> Result<String, TasksError> {
    let style = match SubtitleStyle::try_from(style) {
        Ok(SubtitleStyle::Unspecified) => SubtitleStyle::SimpleWhite,
        Ok(s) => s,
        Err(_) => {
            return Err(TasksError::invalid(
                "subtitle.style",
                "not a subtitle style",
            ));
        }
    };
    short_name(style).ok_or_else(|| TasksError::invalid("subtitle.style", "not a subtitle style"))
}

/// Applies voice and/or subtitle settings to a task that allows them
/// (moving it to VOICE_SET unless `keep_status`).
async fn apply(
    state: &State,
    task: &TaskRow,
    voice: Option<&VoiceSettings>,
    subtitle: Option<&SubtitleSettings>,
    keep_status: bool,
) -> Result<(), TasksError> {
    let from = task.status();
    let to = machine::next(from, Event::SetVoice)?;
    let task_id = task.id;
    if let Some(v) = voice {
        let (name, speed) = check_voice(v, task)?;
        let sample = (v.voice_sample_id > 0).then_some(v.voice_sample_id);
        if let Some(id) = sample {
            speech::cloned_voice(state, task.user_id, id).await?;
        }
        state
            .db
            .run(move |c| store::set_voice(c, task_id, &name, sample, speed))
            .await?;
    }
    if let Some(s) = subtitle {
        let style = style_name(s.style)?;
        let enabled = s.enabled;
        state
            .db
            .run(move |c| store::set_subtitles(c, task_id, enabled, &style))
            .await?;
    }
    if !keep_status {
        state
            .db
            .run(move |c| store::set_status(c, task_id, from, to))
            .await?;
    }
    Ok(())
}

/// `SetVoice` / `SetSubtitleSettings`.
pub async fn settings(
    state: &State,
    user_id: i64,
    task_id: i64,
    voice: Option<&VoiceSettings>,
    subtitle: Option<&SubtitleSettings>,
) -> Result<(), TasksError> {
    let task = tasks::load(state, user_id, task_id).await?;
    apply(state, &task, voice, subtitle, false).await
}

/// `StartCompose`: queues one compose job. Returns the estimated seconds.
/// A new video: it takes one of the caller's daily quota (given back if
/// the job cannot be queued).
pub async fn start(
    state: &State,
    caller: &AuthUser,
    task_id: i64,
    voice: Option<&VoiceSettings>,
    subtitle: Option<&SubtitleSettings>,
) -> Result<i32, TasksError> {
    let user_id = caller.user_id;
    let task = tasks::load(state, user_id, task_id).await?;
    let montage = recipes::recipe_of(state, task_id).await?.is_montage();
    let event = if montage {
        Event::ComposeMedia
    } else {
        Event::StartCompose
    };
    machine::next(task.status(), event)?;
    if montage {
        // No narration: only the tagline's look is the user's to choose.
        if let Some(s) = subtitle {
            let (style, enabled) = (style_name(s.style)?, s.enabled);
            state
                .db
                .run(move |c| store::set_subtitles(c, task_id, enabled, &style))
                .await?;
        }
    } else if voice.is_some() || subtitle.is_some() {
        apply(state, &task, voice, subtitle, true).await?;
    }
    let task = tasks::load(state, user_id, task_id).await?;
    // A batch task's first video was paid for when the batch was made.
    let prepaid = state
        .db
        .run(move |c| store::use_prepaid_video(c, task_id))
        .await?;
    let taken = match prepaid {
        Some(_) => None,
        None => quotas::take_videos(state, user_id, &caller.membership, 1).await?,
    };
    let queued = dispatch(state, &task, event).await;
    if queued.is_err() {
        if let Some(day) = taken {
            quotas::give_back_videos(state, user_id, day, 1).await;
        }
        if let Some(day) = prepaid {
            let _ = state
                .db
                .run(move |c| store::restore_prepaid_video(c, task_id, &day))
                .await;
        }
    }
    queued
}

/// Moves the task to COMPOSING (by `event`) and queues the job built from
/// its current script and settings.
pub async fn dispatch(state: &State, task: &TaskRow, event: Event) -> Result<i32, TasksError> {
    let from = task.status();
    let to = machine::next(from, event)?;
    let task_id = task.id;
    let job_id = uuid::Uuid::new_v4().to_string();
    let payload = build_job(state, task, &job_id).await?;
    let job = job_id.clone();
    let aigc = StoredAigc::of(payload.aigc.as_ref()).to_json();
    if !state
        .db
        .transaction(move |c| {
            let moved = store::start_job(c, task_id, from, to, &job)?;
            if moved {
                store::set_output_aigc(c, task_id, &aigc)?;
            }
            Ok(moved)
        })
        .await?
    {
        return Err(TasksError::Changed(
            "the task changed meanwhile; reload it and try again",
        ));
    }
    enqueue(state, task_id, &payload, from, to).await?;
    tracing::info!(task_id, job_id, "compose job queued");
    Ok(match &payload.montage {
        Some(m) => 30 + 5 * m.images.len() as i32,
        None => 60 + 20 * payload.narration.len() as i32,
    })
}

/// Puts the job a COMPOSING task waits for on the bus again (after a
/// restart of an in-process bus lost it).
pub async fn requeue(state: &State, task: &TaskRow) -> Result<(), TasksError> {
    let Some(job_id) = task.current_job_id.clone() else {
        return Ok(());
    };
    let payload = build_job(state, task, &job_id).await?;
    jobs::enqueue(
        state.ctx.adapters.bus.as_ref(),
        &state.compose_jobs,
        &task.id.to_string(),
        payload.encode_to_vec().into(),
    )
    .await
    .map_err(|e| TasksError::Unavailable(e.to_string()))
}

/// The compose job of a task: its script's paragraphs over their clips,
/// its voice and subtitle choice.
async fn build_job(state: &State, task: &TaskRow, job_id: &str) -> Result<ComposeJob, TasksError> {
    let task_id = task.id;
    let recipe = recipes::of(state, task_id).await?;
    let kind = Recipe::of(recipe.as_ref());
    if let Some(recipe) = recipe.filter(|_| kind.is_montage()) {
        return montage_job(state, task, &recipe, job_id).await;
    }
    let (script, videos) = state
        .db
        .run(move |c| Ok((store::script_of(c, task_id)?, store::videos_of(c, task_id)?)))
        .await?;
    let script =
        script.ok_or_else(|| TasksError::NotReady("the task has no script to compose".into()))?;
    let paragraphs = scripts::parse(&script);
    let document = paragraphs.iter().any(|p| p.scene.is_some());
    scripts::check(&paragraphs, &videos, scripts::max_paragraphs(document))?;
    let voice = speech::voice_spec(state, task).await?;
    let narration = paragraphs
        .iter()
        .filter_map(|p| {
            let scene = p.scene.as_ref().map(scripts::StoredScene::to_proto);
            let Some(v) = videos.iter().find(|v| v.id == p.shot_id) else {
                // A slide with no footage under it.
                return scene.map(|scene| Narration {
                    paragraph_id: p.id.clone(),
                    text: p.text.clone(),
                    scene: Some(scene),
                    ..Narration::default()
                });
            };
            Some(Narration {
                paragraph_id: p.id.clone(),
                text: p.text.clone(),
                shot_id: v.id,
                shot_key: v.oss_key.clone(),
                shot_duration_seconds: v.duration_seconds.unwrap_or_default(),
                shot_category: uploads::category(v.category.as_deref()) as i32,
                focus: focus_from_json(&v.focus),
                scene,
                still: recipes::Kind::parse(&v.kind) == recipes::Kind::Image,
            })
        })
        .collect::<Vec<_>>();
    let (branding, transition) = crate::brand::for_compose(state, task.user_id).await?;
    Ok(ComposeJob {
        job_id: job_id.to_string(),
        task_id,
        user_id: task.user_id,
        narration,
        voice: Some(voice),
        subtitles_enabled: task.subtitle_enabled,
        subtitle_style: subtitle_style_of(task),
        output: None,
        requested_at: Some(tasks::timestamp(chrono::Utc::now().naive_utc())),
        aigc: aigc_label(
            &state.ctx.config.aigc,
            task,
            &script.provider,
            job_id,
            // A topic short's generated pictures are machine-made too.
            videos.iter().any(|v| {
                v.oss_key
                    .starts_with(&crate::shorts::picture_prefix(task_id))
                    && paragraphs.iter().any(|p| p.shot_id == v.id)
            }),
        ),
        title: task.shop_name.clone(),
        branding,
        transition,
        montage: None,
        music: kind.is_topic().then(|| crate::shorts::music(&videos)),
    })
}

/// The compose job of a music video or ad creative: its images and track,
/// the tagline in the task's subtitle style, the owner's brand. Nothing in
/// it is machine-made (the user's images and music, cut by rule), so it
/// carries no AI label.
async fn montage_job(
    state: &State,
    task: &TaskRow,
    recipe: &store::RecipeRow,
    job_id: &str,
) -> Result<ComposeJob, TasksError> {
    let task_id = task.id;
    let uploads = state.db.run(move |c| store::videos_of(c, task_id)).await?;
    let montage = recipes::montage(recipe, &uploads)?;
    let (branding, transition) = crate::brand::for_compose(state, task.user_id).await?;
    Ok(ComposeJob {
        job_id: job_id.to_string(),
        task_id,
        user_id: task.user_id,
        subtitles_enabled: task.subtitle_enabled,
        subtitle_style: subtitle_style_of(task),
        requested_at: Some(tasks::timestamp(chrono::Utc::now().naive_utc())),
        title: task.shop_name.clone(),
        branding,
        transition,
        montage: Some(montage),
        ..ComposeJob::default()
    })
}

fn subtitle_style_of(task: &TaskRow) -> i32 {
    SubtitleStyle::from_str_name(&format!(
        "SUBTITLE_STYLE_{}",
        task.subtitle_style.to_ascii_uppercase()
    ))
    .unwrap_or(SubtitleStyle::SimpleWhite) as i32
}

/// The AI-generated-content labels of a task's next output: what in it is
/// machine-made (the script when a writer wrote it, the voice always, a
/// cloned voice when used), the metadata label with this output's id, and
/// the visible mark as configured. None when nothing is machine-made.
fn aigc_label(
    config: &AigcConfig,
    task: &TaskRow,
    script_provider: &str,
    job_id: &str,
    pictures: bool,
) -> Option<AigcLabel> {
    let mut generated = Vec::new();
    if !script_provider.is_empty() {
        generated.push("script".to_string());
    }
    generated.push("voice".to_string());
    if task.voice_sample_id.is_some() {
        generated.push("cloned_voice".to_string());
    }
    if pictures {
        generated.push("images".to_string());
    }
    let corner = match config.mark_corner {
        MarkCorner::TopLeft => Corner::TopLeft,
        MarkCorner::TopRight => Corner::TopRight,
        MarkCorner::BottomLeft => Corner::BottomLeft,
        MarkCorner::BottomRight => Corner::BottomRight,
    };
    Some(AigcLabel {
        mark: config.mark.then(|| AigcMark {
            text: config.mark_text.clone(),
            corner: corner as i32,
            seconds: config.mark_seconds,
        }),
        producer: config.producer.clone(),
        content_id: format!("scout-task-{}-{job_id}", task.id),
        generated,
    })
}

/// A clip's focus points as stored (`videos.focus`).
#[derive(Serialize, Deserialize)]
struct StoredFocus {
    t: f64,
    x: f64,
    y: f64,
    face: bool,
}

/// Focus points to their stored JSON.
pub fn focus_to_json(points: &[FocusPoint]) -> String {
    let stored: Vec<StoredFocus> = points
        .iter()
        .map(|p| StoredFocus {
            t: p.time_seconds,
            x: p.x,
            y: p.y,
            face: p.face,
        })
        .collect();
    serde_json::to_string(&stored).unwrap_or_else(|_| "[]".into())
}

/// Stored JSON to focus points (none when unreadable).
fn focus_from_json(json: &str) -> Vec<FocusPoint> {
    serde_json::from_str::<Vec<StoredFocus>>(json)
        .unwrap_or_default()
        .into_iter()
        .map(|p| FocusPoint {
            time_seconds: p.t,
            x: p.x,
            y: p.y,
            face: p.face,
        })
        .collect()
}

/// What a task's output says was machine-made, as stored on the task.
#[derive(Debug, Default, Serialize, Deserialize)]
struct StoredAigc {
    generated: Vec<String>,
    mark: bool,
}

impl StoredAigc {
    fn of(label: Option<&AigcLabel>) -> Self {
        match label {
            Some(l) => Self {
                generated: l.generated.clone(),
                mark: l.mark.is_some(),
            },
            None => Self::default(),
        }
    }

    fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

async fn enqueue(
    state: &State,
    task_id: i64,
    payload: &ComposeJob,
    from: Status,
    to: Status,
) -> Result<(), TasksError> {
    if let Err(e) = jobs::enqueue(
        state.ctx.adapters.bus.as_ref(),
        &state.compose_jobs,
        &task_id.to_string(),
        payload.encode_to_vec().into(),
    )
    .await
    {
        tracing::warn!(task_id, error = %e, "cannot queue a compose job");
        let _ = state
            .db
            .run(move |c| store::finish_job(c, task_id, to, from, None))
            .await;
        return Err(TasksError::Unavailable(
            "the video could not be queued (job bus unavailable); try again shortly".into(),
        ));
    }
    Ok(())
}

/// A clip used in the output, as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredShot {
    id: i64,
    duration_seconds: f64,
}

/// `ReportComposeResult`: records the output, COMPOSING → COMPLETED.
pub async fn report_result(
    state: &State,
    job_id: &str,
    task_id: i64,
    o: &ComposeOutput,
) -> Result<bool, TasksError> {
    if o.video_key.is_empty() || o.cover_key.is_empty() {
        return Err(TasksError::invalid(
            "output",
            "video_key and cover_key are required",
        ));
    }
    let shots: Vec<StoredShot> = o
        .shots_used
        .iter()
        .map(|s| StoredShot {
            id: s.id,
            duration_seconds: s.duration_seconds,
        })
        .collect();
    let shots = serde_json::to_string(&shots).unwrap_or_else(|_| "[]".into());
    // For the phase durations once applied.
    let task = state
        .db
        .run(move |c| store::task_by_id(c, task_id))
        .await
        .ok()
        .flatten();
    let (job, o) = (job_id.to_string(), o.clone());
    let used = o.usage.as_ref().map(|u| crate::usage::row(task_id, u));
    let applied = state
        .db
        .transaction(move |c| {
            let done = store::complete(
                c,
                task_id,
                &job,
                &store::Output {
                    video_key: &o.video_key,
                    subtitle_key: (!o.subtitle_key.is_empty()).then_some(o.subtitle_key.as_str()),
                    cover_key: &o.cover_key,
                    assets_key: &o.assets_key,
                    duration: o.duration_seconds,
                    size: o.file_size,
                    width: o.width,
                    height: o.height,
                    shots: &shots,
                },
            )?;
            if done && let Some(u) = &used {
                store::add_usage(c, u)?;
            }
            Ok(done)
        })
        .await?;
    if applied {
        tracing::info!(task_id, job_id, "video completed");
        scout_common::telemetry::record_task_finished("completed");
        if let Some(task) = task {
            let now = chrono::Utc::now().naive_utc();
            if let Some(at) = task.job_started_at {
                scout_common::telemetry::record_task_phase("compose", (now - at).as_seconds_f64());
            }
            scout_common::telemetry::record_task_phase(
                "total",
                (now - task.created_at).as_seconds_f64(),
            );
        }
    }
    Ok(applied)
}

pub async fn presign(state: &State, key: &str) -> Result<String, TasksError> {
    state
        .ctx
        .adapters
        .blobs
        .presign_get(key, PresignOptions::expires_in(DOWNLOAD_TTL))
        .await
        .map(|u| u.url)
        .map_err(|e| {
            tracing::warn!(error = %e, "cannot presign a download");
            TasksError::Storage("object storage is unavailable".into())
        })
}

/// The editable draft render writes beside the video.
const EDITOR_DRAFT: &str = "jianying-draft.zip";

/// `GetEditableDraft`: a presigned GET of the output's editable draft;
/// with `drafts_root`, a copy whose media paths are absolute under that
/// folder (kept beside the draft, one per folder asked for).
pub async fn editable_draft(
    state: &State,
    user_id: i64,
    task_id: i64,
    drafts_root: &str,
) -> Result<String, TasksError> {
    let root = if drafts_root.trim().is_empty() {
        None
    } else {
        Some(crate::drafts::drafts_root(drafts_root)?)
    };
    let task = tasks::load(state, user_id, task_id).await?;
    if task.status() != Status::Completed {
        return Err(not_ready(&task));
    }
    let video = task
        .output_oss_key
        .clone()
        .ok_or_else(|| not_ready(&task))?;
    let key = match video.rsplit_once('/') {
        Some((dir, _)) => format!("{dir}/{EDITOR_DRAFT}"),
        None => EDITOR_DRAFT.to_string(),
    };
    let kept = state.ctx.adapters.blobs.head(&key).await.map_err(|e| {
        tracing::warn!(error = %e, "cannot look up the editable draft");
        TasksError::Storage("object storage is unavailable".into())
    })?;
    if kept.is_none() {
        return Err(TasksError::not_found(format!(
            "an editable draft of task {task_id}'s video (made before drafts existed, or it could not be made: compose again)"
        )));
    }
    let Some(root) = root else {
        return presign(state, &key).await;
    };
    let blobs = &state.ctx.adapters.blobs;
    let unavailable = |e: scout_common::adapters::blob::BlobError| {
        tracing::warn!(error = %e, "cannot make the editable draft for a folder");
        TasksError::Storage("object storage is unavailable".into())
    };
    let made = blobs.get(&key).await.map_err(unavailable)?;
    // One copy per folder as normalised (`D:\x\` and `D:/x` are one),
    // named by a stable FNV-1a hash of it.
    let hash = root.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    let rooted = tokio::task::spawn_blocking(move || crate::drafts::for_folder(&made, &root))
        .await
        .map_err(|e| TasksError::Api(scout_common::ApiError::internal(e.to_string())))??;
    let copy = key.replace(EDITOR_DRAFT, &format!("jianying-draft-{hash:016x}.zip"));
    blobs
        .put(&copy, rooted.into(), Some("application/zip"))
        .await
        .map_err(unavailable)?;
    presign(state, &copy).await
}

fn not_ready(task: &TaskRow) -> TasksError {
    TasksError::VideoNotReady {
        current: task.status().upper(),
    }
}

/// Where a completed task's outputs are stored, for a service that reads
/// them (publish); `None` unless the task is COMPLETED.
pub async fn output_files(
    state: &State,
    task: &TaskRow,
) -> Result<Option<TaskOutputFiles>, TasksError> {
    let (Some(video_key), Some(cover_key)) =
        (task.output_oss_key.clone(), task.output_cover_key.clone())
    else {
        return Ok(None);
    };
    if task.status() != Status::Completed {
        return Ok(None);
    }
    let task_id = task.id;
    let aigc = state
        .db
        .run(move |c| store::output_aigc(c, task_id))
        .await?;
    let aigc: StoredAigc = serde_json::from_str(&aigc).unwrap_or_default();
    Ok(Some(TaskOutputFiles {
        video_key,
        cover_key,
        duration_seconds: task.output_duration_seconds.unwrap_or_default(),
        width: task.output_width.unwrap_or_default(),
        height: task.output_height.unwrap_or_default(),
        file_size: task.output_file_size.unwrap_or_default(),
        ai_generated: aigc.generated,
    }))
}

/// `GetOutput` (seed 000 `GET /tasks/{id}/output`).
pub async fn output(
    state: &State,
    user_id: i64,
    task_id: i64,
) -> Result<GetOutputResponse, TasksError> {
    let task = tasks::load(state, user_id, task_id).await?;
    let status = task.status().api() as i32;
    let Some(video_key) = task
        .output_oss_key
        .clone()
        .filter(|_| task.status() == Status::Completed)
    else {
        return Ok(GetOutputResponse {
            status,
            ..GetOutputResponse::default()
        });
    };
    let (videos, aigc) = state
        .db
        .run(move |c| {
            Ok((
                store::videos_of(c, task_id)?,
                store::output_aigc(c, task_id)?,
            ))
        })
        .await?;
    let stored: Vec<StoredShot> = serde_json::from_str(&task.output_shots).unwrap_or_default();
    let aigc: StoredAigc = serde_json::from_str(&aigc).unwrap_or_default();
    let mut shots_used = Vec::with_capacity(stored.len());
    for s in stored {
        let v = videos.iter().find(|v| v.id == s.id);
        let thumbnail_url =
            uploads::thumbnail_url(state, v.and_then(|v| v.thumbnail_oss_key.as_deref())).await;
        shots_used.push(ShotUsed {
            id: s.id,
            thumbnail_url,
            category: uploads::category(v.and_then(|v| v.category.as_deref())) as i32,
            duration_seconds: s.duration_seconds,
        });
    }
    Ok(GetOutputResponse {
        status,
        video: Some(OutputVideo {
            url: presign(state, &video_key).await?,
            duration_seconds: task.output_duration_seconds.unwrap_or_default(),
            file_size: task.output_file_size.unwrap_or_default(),
            width: task.output_width.unwrap_or_default(),
            height: task.output_height.unwrap_or_default(),
            format: "mp4".into(),
            ai_generated: aigc.generated,
            ai_mark: aigc.mark,
        }),
        shots_used,
        cover_url: match &task.output_cover_key {
            Some(k) => presign(state, k).await?,
            None => String::new(),
        },
        subtitle_url: match &task.output_subtitle_key {
            Some(k) => presign(state, k).await?,
            None => String::new(),
        },
    })
}

/// `GetDownloadUrl` / `GetAssetsPack`: a presigned GET of the video or the pack.
pub async fn download(
    state: &State,
    user_id: i64,
    task_id: i64,
    assets: bool,
) -> Result<String, TasksError> {
    let task = tasks::load(state, user_id, task_id).await?;
    if task.status() != Status::Completed {
        return Err(not_ready(&task));
    }
    let key = if assets {
        task.output_assets_key.clone()
    } else {
        task.output_oss_key.clone()
    }
    .ok_or_else(|| not_ready(&task))?;
    presign(state, &key).await
}
