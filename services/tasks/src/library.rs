//! A user's media library (seeds 002, 003): every analysed clip of their
//! tasks, each upload once however often it was copied between tasks.
//!
//! A topic short's writer is shown it with the task's context and ranks it
//! with the task's own clips (`for_writer`); the user can browse it
//! (`ListLibrary`) and copy a clip into a topic short by hand
//! (`AddLibraryClip`); a library clip a scene shows is copied in when the
//! script is stored (`adopt`). A copy is the clip's file and thumbnail
//! copied inside the object store and its row analysed as its source was
//! (`videos.source_video_id` names the upload it comes from), so the short
//! keeps it when the task it came from is deleted; from then on it is a
//! clip of the short like an upload (a rewrite ranks it with them, the
//! user deletes it on the media panel).

use scout_common::adapters::blob::BlobError;
use scout_proto::scout::tasks::v1::{LibraryClip, Paragraph};

use crate::State;
use crate::error::TasksError;
use crate::machine::{self, Event};
use crate::store::{self, TaskRow, VideoRow};
use crate::tasks;
use crate::uploads::{self, Limits};

/// Most clips listed, and shown to a topic short's writer.
pub const SIZE: usize = 200;

/// A topic short's library for its writer: the owner's analysed clips in
/// their other tasks but those it holds copies of, newest first (empty for
/// any other recipe).
pub async fn for_writer(state: &State, task: &TaskRow) -> Result<Vec<VideoRow>, TasksError> {
    if !crate::recipes::recipe_of(state, task.id).await?.is_topic() {
        return Ok(Vec::new());
    }
    let (user_id, task_id) = (task.user_id, task.id);
    Ok(state
        .db
        .run(move |c| store::library_of(c, user_id, task_id, SIZE))
        .await?)
}

/// `ListLibrary`: the user's library, without the clips `task_id` (when
/// not 0, one of theirs) holds.
pub async fn list(state: &State, user_id: i64, task_id: i64) -> Result<Vec<VideoRow>, TasksError> {
    if task_id != 0 {
        tasks::load(state, user_id, task_id).await?;
    }
    Ok(state
        .db
        .run(move |c| store::library_of(c, user_id, task_id, SIZE))
        .await?)
}

/// `AddLibraryClip`: copies one of the user's library clips into their
/// topic short while clips may be added to it, within the tier's clips per
/// task. The copy the task already holds, if any.
pub async fn add(
    state: &State,
    limits: &Limits,
    user_id: i64,
    task_id: i64,
    video_id: i64,
) -> Result<VideoRow, TasksError> {
    let task = tasks::load(state, user_id, task_id).await?;
    if !crate::recipes::recipe_of(state, task_id).await?.is_topic() {
        return Err(TasksError::invalid(
            "task_id",
            "only a topic short takes clips from the library",
        ));
    }
    machine::next(task.status(), Event::ClipConfirmed)?;
    let source = state
        .db
        .run(move |c| store::library_clip(c, user_id, video_id))
        .await?
        .ok_or_else(|| TasksError::not_found(format!("library clip {video_id}")))?;
    if source.task_id == task_id {
        return Ok(source);
    }
    let key = copy_key(&task, &source);
    let k = key.clone();
    if let Some(held) = state
        .db
        .run(move |c| store::video_by_key(c, task_id, &k))
        .await?
    {
        return Ok(held);
    }
    let thumbnail = copy_files(state, &task, &source, &key).await.map_err(|e| {
        copy_failed(task_id, &source, e, |name| {
            TasksError::not_found(format!("library clip {name} (deleted meanwhile)"))
        })
    })?;
    let copied: Vec<String> = [Some(key.clone()), thumbnail.clone()]
        .into_iter()
        .flatten()
        .collect();
    let (max, too_many) = (limits.clips(), limits.too_many());
    let added = state
        .db
        .transaction(move |c| {
            let (task, to) = match uploads::adding(c, user_id, task_id)? {
                Ok(found) => found,
                Err(e) => return Ok(Err(e)),
            };
            if store::video_count(c, task_id)? >= max {
                return Ok(Err(too_many));
            }
            let row = store::insert_borrowed(c, task_id, &source, &key, thumbnail.as_deref())?;
            if !store::set_status(c, task_id, task.status(), to)? {
                return Err(scout_common::adapters::db::DbError::Conflict(
                    "the task changed while the clip was added; add it again".into(),
                ));
            }
            Ok(Ok(row))
        })
        .await
        .map_err(TasksError::from)
        .and_then(|r| r);
    let added = match added {
        Ok(row) => row,
        Err(e) => {
            // Refused (or the task moved): the copied files go again,
            // unless a request beside this one recorded the same copy.
            let k = copied[0].clone();
            if state
                .db
                .run(move |c| store::video_by_key(c, task_id, &k))
                .await?
                .is_some()
            {
                return Err(e);
            }
            for key in &copied {
                if let Err(e) = state.ctx.adapters.blobs.delete(key).await {
                    tracing::warn!(task_id, key, error = %e, "cannot delete a refused library copy");
                }
            }
            return Err(e);
        }
    };
    tracing::info!(
        task_id,
        source = video_id,
        copy = added.id,
        "library clip added to the task"
    );
    Ok(added)
}

/// The paragraphs with each one that shows a library clip (as vision
/// reported it) pointing at the clip's copy in the task. A clip of another
/// user's, or not an analysed clip, is refused by name; one deleted
/// meanwhile (its task deleted since vision was shown the library) is
/// unavailable, so the job's retry writes the script again without it.
/// Copies stay clips of the task, as uploads do, whether or not a later
/// script shows them (the user deletes them on the media panel). Nothing
/// changes unless the task waits for `job_id`.
pub async fn adopt(
    state: &State,
    task: &TaskRow,
    job_id: &str,
    paragraphs: Vec<Paragraph>,
    clips: &[LibraryClip],
) -> Result<Vec<Paragraph>, TasksError> {
    let mut out = paragraphs;
    if !crate::shorts::waits_for(task, job_id) {
        return Ok(out);
    }
    let (user_id, task_id) = (task.user_id, task.id);
    let mut sources = Vec::with_capacity(clips.len());
    for (i, clip) in clips.iter().enumerate() {
        if !out.iter().any(|p| p.id == clip.paragraph_id) {
            return Err(TasksError::invalid(
                format!("library_clips[{i}].paragraph_id"),
                format!("no paragraph {}", clip.paragraph_id),
            ));
        }
        let id = clip.video_id;
        let (source, exists) = state
            .db
            .run(move |c| {
                Ok((
                    store::library_clip(c, user_id, id)?,
                    store::video_exists(c, id)?,
                ))
            })
            .await?;
        let source = match (source, exists) {
            (Some(source), _) => source,
            (None, false) => {
                return Err(TasksError::Unavailable(format!(
                    "library clip {id} was deleted meanwhile; the script is written again"
                )));
            }
            (None, true) => {
                return Err(TasksError::invalid(
                    format!("library_clips[{i}].video_id"),
                    format!("{id} is not an analysed clip of the task's owner"),
                ));
            }
        };
        sources.push((clip.paragraph_id.clone(), source));
    }
    let mut rows: Vec<(String, VideoRow)> = Vec::with_capacity(sources.len());
    for (paragraph, source) in sources {
        if source.task_id == task_id {
            rows.push((paragraph, source));
            continue;
        }
        let key = copy_key(task, &source);
        let k = key.clone();
        let held = state
            .db
            .run(move |c| store::video_by_key(c, task_id, &k))
            .await?;
        let row = match held {
            Some(row) => row,
            None => {
                let thumbnail = copy_files(state, task, &source, &key).await.map_err(|e| {
                    copy_failed(task.id, &source, e, |name| {
                        TasksError::Unavailable(format!(
                            "the library clip {name} was deleted meanwhile; the script is written again"
                        ))
                    })
                })?;
                let src = source.clone();
                let row = state
                    .db
                    .run(move |c| {
                        store::insert_borrowed(c, task_id, &src, &key, thumbnail.as_deref())
                    })
                    .await?;
                tracing::info!(
                    task_id,
                    source = source.id,
                    copy = row.id,
                    "library clip copied into the task"
                );
                row
            }
        };
        rows.push((paragraph, row));
    }
    crate::shorts::show(&mut out, &rows);
    Ok(out)
}

/// Where a library clip's copy is kept in a task: with the task's uploads,
/// named by the upload it comes from (so the same clip is copied once).
pub fn copy_key(task: &TaskRow, source: &VideoRow) -> String {
    let ext = source
        .oss_key
        .rsplit_once('.')
        .map(|(_, e)| e)
        .unwrap_or("mp4");
    format!(
        "videos/{}/{}/lib{}.{ext}",
        task.user_id,
        task.id,
        source.root()
    )
}

/// Copies the clip's file to `key` and its thumbnail beside it, inside the
/// object store: the thumbnail's key (`None` without one, or when it could
/// not be copied: the clip still plays, the list shows no picture).
async fn copy_files(
    state: &State,
    task: &TaskRow,
    source: &VideoRow,
    key: &str,
) -> Result<Option<String>, BlobError> {
    let blobs = &state.ctx.adapters.blobs;
    blobs.copy(&source.oss_key, key).await?;
    let Some(from) = &source.thumbnail_oss_key else {
        return Ok(None);
    };
    let to = uploads::thumb_key(key);
    match blobs.copy(from, &to).await {
        Ok(()) => Ok(Some(to)),
        Err(e) => {
            tracing::warn!(task_id = task.id, error = %e, "cannot copy a library clip's thumbnail");
            Ok(None)
        }
    }
}

/// A failed copy as the caller's error: `gone` (given the clip's name) when
/// its file is no longer there, storage unavailable otherwise.
fn copy_failed(
    task_id: i64,
    source: &VideoRow,
    e: BlobError,
    gone: impl FnOnce(&str) -> TasksError,
) -> TasksError {
    match e {
        BlobError::NotFound(_) => gone(&source.original_filename),
        e => {
            tracing::warn!(task_id, error = %e, "cannot copy a library clip");
            TasksError::Storage("object storage is unavailable; try again".into())
        }
    }
}
