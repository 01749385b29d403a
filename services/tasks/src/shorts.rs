//! The topic short in tasks (seeds 002, 003): vision writes its script and
//! makes its scenes' pictures; here each reported picture becomes an image
//! of the task (so the script points at it like at any upload, the media
//! list shows it and the script editor can move it), the pictures of an
//! earlier script are let go, and the compose job gets its music: the
//! task's backing track when one was uploaded, else render's own bed.
//!
//! Its media library is every analysed clip the owner uploaded to any of
//! their tasks: vision is shown it with the task's context and ranks it
//! with the task's own clips; a library clip a scene shows is copied into
//! the task (file, thumbnail and analysis), so the short keeps it when the
//! task it came from is deleted.

use scout_proto::scout::jobs::v1::BackgroundMusic;
use scout_proto::scout::render::v1::MediaRef;
use scout_proto::scout::render::v1::media_ref::Location;
use scout_proto::scout::tasks::v1::{LibraryClip, Paragraph, ScenePicture};

use crate::State;
use crate::error::TasksError;
use crate::machine::Status;
use crate::recipes::Kind;
use crate::store::{self, NewVideo, TaskRow, VideoRow};

/// Most clips of the owner's library a topic short's writer is shown.
pub const LIBRARY_SIZE: usize = 200;

/// Whether a worker's report is for the job the task waits on.
fn waits_for(task: &TaskRow, job_id: &str) -> bool {
    task.status() == Status::Analyzing && task.current_job_id.as_deref() == Some(job_id)
}

/// A topic short's media library: the owner's analysed clips in their
/// other tasks, newest first (empty for any other recipe).
pub async fn library(state: &State, task: &TaskRow) -> Result<Vec<VideoRow>, TasksError> {
    if !crate::recipes::recipe_of(state, task.id).await?.is_topic() {
        return Ok(Vec::new());
    }
    let (user_id, task_id) = (task.user_id, task.id);
    Ok(state
        .db
        .run(move |c| store::library_of(c, user_id, task_id, LIBRARY_SIZE))
        .await?)
}

/// Where a library clip's copy is kept in a task: with the task's uploads,
/// named by the upload it comes from (so the same clip is copied once).
pub fn borrowed_key(task: &TaskRow, source: &VideoRow) -> String {
    format!(
        "videos/{}/{}/lib{}.{}",
        task.user_id,
        task.id,
        source.root(),
        ext_of(&source.oss_key)
    )
}

/// The paragraphs with each one that shows a library clip pointing at the
/// clip's copy in the task: the file and its thumbnail copied inside the
/// object store, the row analysed as its source was. A clip that is not an
/// analysed clip of the owner's is refused by name; one deleted meanwhile
/// fails the report (the task's retry writes the script anew). Copies an
/// earlier script used that this one does not are let go. Nothing changes
/// unless the task waits for `job_id`.
pub async fn adopt_library(
    state: &State,
    task: &TaskRow,
    job_id: &str,
    paragraphs: Vec<Paragraph>,
    clips: &[LibraryClip],
) -> Result<Vec<Paragraph>, TasksError> {
    let mut out = paragraphs;
    if !waits_for(task, job_id) {
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
    let blobs = &state.ctx.adapters.blobs;
    let mut rows: Vec<(String, VideoRow)> = Vec::with_capacity(sources.len());
    for (paragraph, source) in sources {
        if source.task_id == task_id {
            rows.push((paragraph, source));
            continue;
        }
        let key = borrowed_key(task, &source);
        let k = key.clone();
        let held = state
            .db
            .run(move |c| store::video_by_key(c, task_id, &k))
            .await?;
        if let Some(row) = held {
            rows.push((paragraph, row));
            continue;
        }
        blobs
            .copy(&source.oss_key, &key)
            .await
            .map_err(|e| match e {
                scout_common::adapters::blob::BlobError::NotFound(_) => TasksError::NotReady(format!(
                    "the library clip {} was deleted meanwhile; retry the task to write its script again",
                    source.original_filename
                )),
                e => {
                    tracing::warn!(task_id, error = %e, "cannot copy a library clip");
                    TasksError::Storage("object storage is unavailable; try again".into())
                }
            })?;
        // Without its thumbnail the clip still plays: the list shows none.
        let thumbnail = match &source.thumbnail_oss_key {
            Some(from) => {
                let to = crate::uploads::thumb_key(&key);
                match blobs.copy(from, &to).await {
                    Ok(()) => Some(to),
                    Err(e) => {
                        tracing::warn!(task_id, error = %e, "cannot copy a library clip's thumbnail");
                        None
                    }
                }
            }
            None => None,
        };
        let src = source.clone();
        let row = state
            .db
            .run(move |c| store::insert_borrowed(c, task_id, &src, &key, thumbnail.as_deref()))
            .await?;
        tracing::info!(
            task_id,
            source = source.id,
            copy = row.id,
            "library clip copied into the task"
        );
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
    show(&mut out, &rows);
    Ok(out)
}

/// Where a task's generated pictures are stored.
pub fn picture_prefix(task_id: i64) -> String {
    format!("frames/{task_id}/topic-")
}

/// The paragraphs with each pictured one pointing at its picture, stored
/// as an image of the task (once: a redelivered report finds it). Images
/// of an earlier script's pictures that this one does not use are
/// removed. Nothing changes unless the task waits for `job_id`.
pub async fn adopt_pictures(
    state: &State,
    task: &TaskRow,
    job_id: &str,
    paragraphs: &[Paragraph],
    pictures: &[ScenePicture],
) -> Result<Vec<Paragraph>, TasksError> {
    let mut out = paragraphs.to_vec();
    if pictures.is_empty() || !waits_for(task, job_id) {
        return Ok(out);
    }
    let task_id = task.id;
    let prefix = picture_prefix(task_id);
    for (i, p) in pictures.iter().enumerate() {
        if !p.key.starts_with(&prefix) || p.key.contains("..") {
            return Err(TasksError::invalid(
                format!("pictures[{i}].key"),
                format!("must be under {prefix}"),
            ));
        }
        if !out.iter().any(|x| x.id == p.paragraph_id) {
            return Err(TasksError::invalid(
                format!("pictures[{i}].paragraph_id"),
                format!("no paragraph {}", p.paragraph_id),
            ));
        }
    }
    let pictures = pictures.to_vec();
    let rows: Vec<(String, VideoRow)> = state
        .db
        .transaction(move |c| {
            let mut rows = Vec::with_capacity(pictures.len());
            for (n, p) in pictures.iter().enumerate() {
                let row = match store::video_by_key(c, task_id, &p.key)? {
                    Some(row) => row,
                    None => store::insert_video(
                        c,
                        &NewVideo {
                            task_id,
                            original_filename: &format!("场景{}（生成）.{}", n + 1, ext_of(&p.key)),
                            oss_key: &p.key,
                            thumbnail_oss_key: Some(&p.key),
                            duration_seconds: 0.0,
                            file_size: 0,
                            width: p.width,
                            height: p.height,
                            kind: Kind::Image.as_str(),
                        },
                    )?,
                };
                rows.push((p.paragraph_id.clone(), row));
            }
            for old in store::videos_of(c, task_id)? {
                if old.oss_key.starts_with(&picture_prefix(task_id))
                    && !rows.iter().any(|(_, r)| r.id == old.id)
                {
                    store::delete_video_row(c, task_id, old.id)?;
                }
            }
            Ok(rows)
        })
        .await?;
    show(&mut out, &rows);
    Ok(out)
}

/// Points each named paragraph at its row (a picture or clip of the
/// task), in place of any slide.
fn show(paragraphs: &mut [Paragraph], rows: &[(String, VideoRow)]) {
    for (paragraph, row) in rows {
        if let Some(p) = paragraphs.iter_mut().find(|p| &p.id == paragraph) {
            p.shot_id = row.id;
            p.scene = None;
        }
    }
}

fn ext_of(key: &str) -> &str {
    key.rsplit_once('.').map(|(_, e)| e).unwrap_or("png")
}

/// The music under a topic short: the task's (last) backing track, else
/// render's own.
pub fn music(uploads: &[VideoRow]) -> BackgroundMusic {
    BackgroundMusic {
        track: uploads
            .iter()
            .rev()
            .find(|u| Kind::parse(&u.kind) == Kind::Audio && u.status == "uploaded")
            .map(|u| MediaRef {
                location: Some(Location::BlobKey(u.oss_key.clone())),
            }),
    }
}
