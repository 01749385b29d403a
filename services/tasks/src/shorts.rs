//! The topic short in tasks (seeds 002, 003): vision writes its script and
//! makes its scenes' pictures; here each reported picture becomes an image
//! of the task (so the script points at it like at any upload, the media
//! list shows it and the script editor can move it), the pictures of an
//! earlier script are let go, and the compose job gets its music: the
//! task's backing track when one was uploaded, else render's own bed.
//! Its clips may come from the user's media library (`crate::library`).

use scout_proto::scout::jobs::v1::BackgroundMusic;
use scout_proto::scout::render::v1::MediaRef;
use scout_proto::scout::render::v1::media_ref::Location;
use scout_proto::scout::tasks::v1::{Paragraph, ScenePicture};

use crate::State;
use crate::error::TasksError;
use crate::machine::Status;
use crate::recipes::Kind;
use crate::store::{self, NewVideo, TaskRow, VideoRow};

/// Whether a worker's report is for the job the task waits on.
pub(crate) fn waits_for(task: &TaskRow, job_id: &str) -> bool {
    task.status() == Status::Analyzing && task.current_job_id.as_deref() == Some(job_id)
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
pub(crate) fn show(paragraphs: &mut [Paragraph], rows: &[(String, VideoRow)]) {
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
