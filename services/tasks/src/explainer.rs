//! The doc_explainer's analysis (seed 001): the task's document read into
//! its scenes and their narration (`documents`), the document's pictures
//! stored for the slides that show them, and the result stored as the
//! task's script exactly as a writer's report is (ANALYZING, then
//! SCRIPT_READY). No analyze job: reading a document takes milliseconds;
//! unless a text model writes scripts (`ai.writer = "remote"`), when the
//! scenes go to vision in an analyze job for the model to say each slide
//! (the templates' words kept as its fallback), and its report lands the
//! same way.
//! From there the task goes on as any other: the script edited, a voice
//! chosen, composed (render speaks each scene first, then times each slide
//! to its measured speech: seed 001's audio-first rule).

use scout_common::jobs;
use scout_proto::scout::jobs::v1::{AnalyzeJob, DocumentScene};
use scout_proto::scout::render::v1::MediaRef;
use scout_proto::scout::render::v1::media_ref::Location;
use scout_proto::scout::tasks::v1::Paragraph;

use crate::State;
use crate::documents;
use crate::error::TasksError;
use crate::machine::{self, Event};
use crate::recipes::{self, Kind};
use crate::store::{self, TaskRow};

/// The section label of a scene's paragraph (what the script editor shows).
fn section_of(kind: i32) -> String {
    use scout_proto::scout::render::v1::SceneKind;
    SceneKind::try_from(kind)
        .ok()
        .map(|k| {
            k.as_str_name()
                .trim_start_matches("SCENE_KIND_")
                .to_ascii_lowercase()
        })
        .unwrap_or_else(|| "scene".into())
}

/// The script's paragraphs from the task's document: one per scene, over
/// the document (its "shot"), each carrying its slide.
async fn paragraphs(state: &State, task: &TaskRow) -> Result<Vec<Paragraph>, TasksError> {
    let task_id = task.id;
    let (videos, recipe) = state
        .db
        .run(move |c| Ok((store::videos_of(c, task_id)?, store::recipe_of(c, task_id)?)))
        .await?;
    let doc = videos
        .iter()
        .rev()
        .find(|v| Kind::parse(&v.kind) == Kind::Document)
        .ok_or_else(|| {
            TasksError::NotReady(format!(
                "task {task_id} has no document to explain; upload one (Markdown, plain text, PDF or DOCX)"
            ))
        })?;
    let format = documents::format_of_key(&doc.oss_key).ok_or(TasksError::UnknownUpload)?;
    let blobs = &state.ctx.adapters.blobs;
    let bytes = blobs.get(&doc.oss_key).await.map_err(|e| {
        TasksError::Storage(format!("the document cannot be read now ({e}); try again"))
    })?;
    let accent = recipe.map(|r| r.accent).unwrap_or_default();
    let planned = tokio::task::spawn_blocking(move || {
        documents::parse(format, &bytes).and_then(|b| documents::scenes(&b, &accent))
    })
    .await
    .map_err(|e| TasksError::Unavailable(format!("the document could not be read now: {e}")))?
    .map_err(TasksError::BadMedia)?;
    let mut out = Vec::with_capacity(planned.len());
    for (i, mut p) in planned.into_iter().enumerate() {
        if let Some(picture) = p.picture.take() {
            let key = format!("frames/{task_id}/doc-{:03}.{}", i + 1, picture.ext);
            let content_type = if picture.ext == "png" {
                "image/png"
            } else {
                "image/jpeg"
            };
            blobs
                .put(&key, picture.bytes.into(), Some(content_type))
                .await
                .map_err(|e| {
                    TasksError::Storage(format!(
                        "the document's pictures cannot be stored now ({e}); try again"
                    ))
                })?;
            p.scene.image = Some(MediaRef {
                location: Some(Location::BlobKey(key)),
            });
        }
        out.push(Paragraph {
            id: format!("para_{}", i + 1),
            section: section_of(p.scene.kind),
            shot_id: doc.id,
            text: p.narration,
            scene: Some(p.scene),
            ..Paragraph::default()
        });
    }
    Ok(out)
}

/// Moves a doc_explainer task to ANALYZING (by `event`) and writes its
/// script from the document, which moves it on to SCRIPT_READY.
pub async fn dispatch(state: &State, task: &TaskRow, event: Event) -> Result<i32, TasksError> {
    let from = task.status();
    let to = machine::next(from, event)?;
    let task_id = task.id;
    let script = paragraphs(state, task).await?;
    // An untitled explainer takes its document's title.
    let title = script
        .first()
        .and_then(|p| p.scene.as_ref())
        .map(|s| {
            s.title
                .chars()
                .take(crate::tasks::MAX_SHOP_NAME)
                .collect::<String>()
        })
        .filter(|t| !t.trim().is_empty());
    if task.shop_name == recipes::UNTITLED_DOCUMENT
        && let Some(title) = title
    {
        state
            .db
            .run(move |c| store::rename_task(c, task_id, &title))
            .await?;
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
    if state.ctx.config.narrate_with_model {
        // The text model says each slide: vision's writer reports it.
        if let Err(e) = enqueue(state, task, &job_id, &script).await {
            let _ = state
                .db
                .run(move |c| store::finish_job(c, task_id, to, from, None))
                .await;
            return Err(e);
        }
        tracing::info!(
            task_id,
            job_id,
            scenes = script.len(),
            "document read; narration queued"
        );
        return Ok(10 + script.len() as i32);
    }
    write(state, task_id, &job_id, &script).await?;
    tracing::info!(task_id, job_id, scenes = script.len(), "document explained");
    Ok(0)
}

/// Queues the analyze job that has the text model narrate `script`'s
/// scenes (their template narration kept as the fallback).
async fn enqueue(
    state: &State,
    task: &TaskRow,
    job_id: &str,
    script: &[Paragraph],
) -> Result<(), TasksError> {
    use prost::Message as _;
    let job = AnalyzeJob {
        job_id: job_id.to_string(),
        task_id: task.id,
        user_id: task.user_id,
        requested_at: Some(crate::tasks::timestamp(chrono::Utc::now().naive_utc())),
        document: script
            .iter()
            .map(|p| DocumentScene {
                paragraph_id: p.id.clone(),
                section: p.section.clone(),
                shot_id: p.shot_id,
                scene: p.scene.clone(),
                narration: p.text.clone(),
            })
            .collect(),
        ..AnalyzeJob::default()
    };
    jobs::enqueue(
        state.ctx.adapters.bus.as_ref(),
        &state.analyze_jobs,
        &task.id.to_string(),
        job.encode_to_vec().into(),
    )
    .await
    .map_err(|e| {
        tracing::warn!(task_id = task.id, error = %e, "cannot queue a narration job");
        TasksError::Unavailable(
            "the narration could not be queued (job bus unavailable); try again shortly".into(),
        )
    })
}

/// Writes the script of a task left ANALYZING (a restart between the two
/// steps of [`dispatch`]).
pub async fn requeue(state: &State, task: &TaskRow) -> Result<(), TasksError> {
    let Some(job_id) = task.current_job_id.clone() else {
        return Ok(());
    };
    let script = paragraphs(state, task).await?;
    if state.ctx.config.narrate_with_model {
        return enqueue(state, task, &job_id, &script).await;
    }
    write(state, task.id, &job_id, &script).await
}

async fn write(
    state: &State,
    task_id: i64,
    job_id: &str,
    script: &[Paragraph],
) -> Result<(), TasksError> {
    let task = state
        .db
        .run(move |c| store::task_by_id(c, task_id))
        .await?
        .ok_or_else(|| TasksError::not_found(format!("task {task_id}")))?;
    crate::scripts::store_generated(
        state,
        &task,
        job_id,
        script,
        "document",
        "writer=document-template",
        None,
    )
    .await?;
    Ok(())
}

/// Whether the task is a doc_explainer.
pub async fn is_document(state: &State, task_id: i64) -> Result<bool, TasksError> {
    Ok(recipes::recipe_of(state, task_id).await?.is_document())
}
