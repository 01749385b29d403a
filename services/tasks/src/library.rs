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
//! keeps it when the task it came from is deleted.

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
    let thumbnail = copy_files(state, &task, &source, &key).await?;
    let copied: Vec<String> = [Some(key.clone()), thumbnail.clone()]
        .into_iter()
        .flatten()
        .collect();
    let (max, too_many) = (limits.clips(), limits.too_many());
    let added = state
        .db
        .transaction(move |c| {
            let Some(task) = store::task_of(c, user_id, task_id)? else {
                return Ok(Err(TasksError::not_found(format!("task {task_id}"))));
            };
            let to = match machine::next(task.status(), Event::ClipConfirmed) {
                Ok(to) => to,
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
            // Refused (or the task moved): the copied files go again.
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
/// reported it) pointing at the clip's copy in the task. A clip that is not
/// an analysed clip of the owner's is refused by name; one deleted
/// meanwhile fails the report (the task's retry writes the script anew).
/// Copies an earlier script used that this one shows nowhere are let go.
/// Nothing changes unless the task waits for `job_id`.
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
        let source = state
            .db
            .run(move |c| store::library_clip(c, user_id, id))
            .await?
            .ok_or_else(|| {
                TasksError::invalid(
                    format!("library_clips[{i}].video_id"),
                    format!("{id} is not an analysed clip of the task's owner"),
                )
            })?;
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
                let thumbnail = copy_files(state, task, &source, &key).await?;
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
    // A copy stays while a paragraph shows it: one named here, or one a
    // rewrite chose among the task's own clips.
    let used: Vec<i64> = rows
        .iter()
        .map(|(_, r)| r.id)
        .chain(out.iter().map(|p| p.shot_id))
        .collect();
    state
        .db
        .transaction(move |c| {
            for old in store::videos_of(c, task_id)? {
                if old.source_video_id.is_some() && !used.contains(&old.id) {
                    store::delete_video_row(c, task_id, old.id)?;
                }
            }
            Ok(())
        })
        .await?;
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
) -> Result<Option<String>, TasksError> {
    let blobs = &state.ctx.adapters.blobs;
    blobs
        .copy(&source.oss_key, key)
        .await
        .map_err(|e| match e {
            BlobError::NotFound(_) => TasksError::NotReady(format!(
                "the library clip {} was deleted meanwhile",
                source.original_filename
            )),
            e => {
                tracing::warn!(task_id = task.id, error = %e, "cannot copy a library clip");
                TasksError::Storage("object storage is unavailable; try again".into())
            }
        })?;
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
