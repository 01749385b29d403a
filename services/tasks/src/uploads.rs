//! Clips: a presigned PUT (a phone, or plain `curl -T`, uploads straight to
//! object storage), then a confirm that checks the object, probes it through
//! render (which also writes the thumbnail) and records it. Limits: video
//! types only, at least 1 s; the size, length and count per task come from
//! the caller's tier (`quotas`; seed 000's 500 MB, 10 min and 30 by
//! default). A clip that breaks one is deleted from storage and the answer
//! names the limit (INVALID_ARGUMENT on the field; QUOTA_EXCEEDED for the
//! count). A music video or ad creative takes product images and one
//! backing track instead, a document explainer one document (`recipes`,
//! `documents`: their types and limits; a new track or document replaces
//! the old one; a document is read whole at confirm, so one that cannot be
//! explained is refused there, saying why). A topic short takes clips (its
//! library) and one backing track.

use std::time::Duration;

use scout_common::adapters::blob::PresignOptions;
use scout_common::config::TierQuota;

use scout_proto::scout::common::v1::{QualityFactors, ShotCategory};
use scout_proto::scout::render::v1::media_ref::Location;
use scout_proto::scout::render::v1::{MediaInfo, MediaRef, ProbeRequest};
use scout_proto::scout::tasks::v1::{Video, VideoStatus};

use crate::State;
use crate::documents;
use crate::error::TasksError;
use crate::machine::{self, Event};
use crate::recipes::{self, Kind};
use crate::store::{self, NewVideo, VideoRow};
use crate::tasks;

/// Shortest clip, seconds.
pub const MIN_SECONDS: f64 = 1.0;
/// Upload URL validity.
pub const UPLOAD_URL_TTL: Duration = Duration::from_secs(15 * 60);
/// Thumbnail URL validity.
pub const THUMBNAIL_URL_TTL: Duration = Duration::from_secs(3600);

const VIDEO_TYPES: [(&str, &str); 7] = [
    ("video/mp4", "mp4"),
    ("video/quicktime", "mov"),
    ("video/x-m4v", "m4v"),
    ("video/3gpp", "3gp"),
    ("video/webm", "webm"),
    ("video/x-matroska", "mkv"),
    ("video/mpeg", "mpg"),
];

fn extension_for(content_type: &str) -> Option<&'static str> {
    let base = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    VIDEO_TYPES
        .iter()
        .find(|(t, _)| *t == base)
        .map(|(_, e)| *e)
}

fn limit(field: &str, message: String) -> TasksError {
    TasksError::invalid(field, message)
}

/// What a user's tier allows per task.
#[derive(Debug, Clone)]
pub struct Limits {
    /// The tier's name.
    pub tier: String,
    /// Its quotas.
    pub quota: TierQuota,
}

impl Limits {
    /// What a user of `membership` may do.
    pub fn of(state: &State, membership: &str) -> Self {
        Self {
            tier: crate::quotas::tier_name(membership),
            quota: crate::quotas::tier(state, membership),
        }
    }

    pub(crate) fn clips(&self) -> i64 {
        i64::from(self.quota.clips_per_task)
    }

    fn bytes(&self) -> i64 {
        self.quota.max_clip_bytes()
    }

    fn seconds(&self) -> f64 {
        f64::from(self.quota.max_clip_seconds)
    }

    pub(crate) fn too_many(&self) -> TasksError {
        TasksError::TierLimit {
            quota: "clips_per_task",
            tier: self.tier.clone(),
            message: format!("a task holds at most {} clips", self.clips()),
        }
    }

    fn too_large(&self) -> String {
        format!(
            "a clip may be at most {} MB on the {} tier",
            self.quota.max_clip_mb, self.tier
        )
    }
}

/// A presigned PUT for one clip.
pub struct UploadUrl {
    pub url: String,
    pub key: String,
    pub headers: Vec<(String, String)>,
}

/// Checks the declared clip and signs a PUT under `videos/{user}/{task}/`.
pub async fn upload_url(
    state: &State,
    limits: &Limits,
    user_id: i64,
    task_id: i64,
    content_type: &str,
    file_size: i64,
) -> Result<UploadUrl, TasksError> {
    let task = tasks::load(state, user_id, task_id).await?;
    machine::next(task.status(), Event::ClipConfirmed)?;
    let recipe = recipes::recipe_of(state, task_id).await?;
    let (ext, kind) = if recipe.is_montage() {
        recipes::montage_type(content_type).ok_or_else(|| TasksError::NotVideo {
            what: "a music video or ad creative takes images or a backing track",
            allowed: recipes::montage_types(),
        })?
    } else if recipe.is_document() {
        let ext = documents::extension_for(content_type).ok_or_else(|| TasksError::NotVideo {
            what: "a document explainer takes one document",
            allowed: documents::types(),
        })?;
        (ext, Kind::Document)
    } else if let Some((ext, Kind::Audio)) =
        recipes::montage_type(content_type).filter(|_| recipe.is_topic())
    {
        // A topic short's backing track.
        (ext, Kind::Audio)
    } else {
        let ext = extension_for(content_type).ok_or_else(|| TasksError::NotVideo {
            what: if recipe.is_topic() {
                "a topic short takes clips (its library) and one backing track (audio/mpeg, audio/wav)"
            } else {
                "clips must be video"
            },
            allowed: VIDEO_TYPES.map(|(t, _)| t).join(", "),
        })?;
        (ext, Kind::Clip)
    };
    if file_size <= 0 {
        return Err(limit(
            "file_size",
            format!("must be the {}'s size in bytes", kind.noun()),
        ));
    }
    match kind.max_bytes() {
        Some(max) if file_size > max => {
            return Err(limit(
                "file_size",
                format!(
                    "the {} may be at most {} MB (got {:.1} MB)",
                    kind.noun(),
                    max / (1024 * 1024),
                    file_size as f64 / (1024.0 * 1024.0)
                ),
            ));
        }
        None if file_size > limits.bytes() => {
            return Err(limit("file_size", limits.too_large()));
        }
        _ => {}
    }
    let count = state
        .db
        .run(move |c| store::video_count(c, task_id))
        .await?;
    if count >= limits.clips() + i64::from(kind.single()) {
        return Err(limits.too_many());
    }
    let key = format!(
        "videos/{user_id}/{task_id}/{}.{ext}",
        uuid::Uuid::new_v4().simple()
    );
    let signed = state
        .ctx
        .adapters
        .blobs
        .presign_put(&key, PresignOptions::expires_in(UPLOAD_URL_TTL))
        .await
        .map_err(storage_down)?;
    Ok(UploadUrl {
        url: signed.url,
        key,
        headers: signed.headers,
    })
}

fn storage_down(e: impl std::fmt::Display) -> TasksError {
    tracing::warn!(error = %e, "object storage unavailable");
    TasksError::Storage("object storage is unavailable; try again".into())
}

async fn discard(state: &State, keys: &[&str]) {
    for key in keys.iter().filter(|k| !k.is_empty()) {
        if let Err(e) = state.ctx.adapters.blobs.delete(key).await {
            tracing::warn!(key, error = %e, "cannot delete a rejected clip");
        }
    }
}

pub(crate) fn thumb_key(key: &str) -> String {
    match key.rsplit_once('.') {
        Some((stem, _)) => format!("{stem}_thumb.jpg"),
        None => format!("{key}_thumb.jpg"),
    }
}

/// Registers an uploaded clip. Confirming the same object twice returns
/// the same clip.
pub async fn confirm(
    state: &State,
    limits: &Limits,
    user_id: i64,
    task_id: i64,
    oss_key: &str,
    original_filename: &str,
) -> Result<VideoRow, TasksError> {
    let task = tasks::load(state, user_id, task_id).await?;
    let prefix = format!("videos/{user_id}/{task_id}/");
    let file = oss_key.strip_prefix(&prefix).unwrap_or_default();
    let well_formed = !file.is_empty()
        && file.len() <= 64
        && !file.ends_with("_thumb.jpg")
        && file.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.');
    if !well_formed {
        return Err(TasksError::UnknownUpload);
    }
    if original_filename.chars().count() > 255 {
        return Err(TasksError::invalid(
            "original_filename",
            "at most 255 characters",
        ));
    }
    let key = oss_key.to_string();
    if let Some(existing) = state
        .db
        .run(move |c| store::video_by_key(c, task_id, &key))
        .await?
    {
        return Ok(existing);
    }
    machine::next(task.status(), Event::ClipConfirmed)?;
    let recipe = recipes::recipe_of(state, task_id).await?;
    let kind = if recipe.is_montage() {
        recipes::kind_of_key(oss_key).ok_or(TasksError::UnknownUpload)?
    } else if recipe.is_document() {
        documents::format_of_key(oss_key).ok_or(TasksError::UnknownUpload)?;
        Kind::Document
    } else if recipe.is_topic() && recipes::kind_of_key(oss_key) == Some(Kind::Audio) {
        Kind::Audio
    } else if recipes::kind_of_key(oss_key).is_some() || documents::format_of_key(oss_key).is_some()
    {
        return Err(TasksError::UnknownUpload);
    } else {
        Kind::Clip
    };
    let meta = state
        .ctx
        .adapters
        .blobs
        .head(oss_key)
        .await
        .map_err(storage_down)?
        .ok_or(TasksError::NotUploaded)?;
    if let Some(max) = kind.max_bytes()
        && meta.size as i64 > max
    {
        discard(state, &[oss_key]).await;
        return Err(limit(
            "file_size",
            format!(
                "the upload is {} bytes; the {} may be at most {} MB (deleted)",
                meta.size,
                kind.noun(),
                max / (1024 * 1024)
            ),
        ));
    }
    if kind == Kind::Clip && meta.size as i64 > limits.bytes() {
        discard(state, &[oss_key]).await;
        return Err(limit(
            "file_size",
            format!(
                "the upload is {} bytes; {} (deleted)",
                meta.size,
                limits.too_large()
            ),
        ));
    }
    let count = state
        .db
        .run(move |c| store::video_count(c, task_id))
        .await?;
    if !kind.single() && count >= limits.clips() {
        discard(state, &[oss_key]).await;
        return Err(limits.too_many());
    }
    if kind == Kind::Document {
        // Read whole now, so a document that cannot be explained is
        // refused here, saying why, not at the analysis.
        let scenes = document_scenes(state, oss_key).await;
        let count = match scenes {
            Ok(n) => n,
            Err(e) => {
                discard(state, &[oss_key]).await;
                return Err(e);
            }
        };
        tracing::info!(task_id, scenes = count, "document confirmed");
        let upload = Upload {
            key: oss_key,
            filename: original_filename,
            kind,
            size: meta.size as i64,
            thumb: "",
        };
        return record(
            state,
            limits,
            user_id,
            task_id,
            &upload,
            &MediaInfo::default(),
        )
        .await;
    }
    // A track has no picture to make a thumbnail of.
    let thumb = if kind == Kind::Audio {
        String::new()
    } else {
        thumb_key(oss_key)
    };
    let info = probe(state, oss_key, &thumb, kind).await?;
    if kind != Kind::Clip {
        if let Err(why) = recipes::check_probed(kind, &info) {
            discard(state, &[oss_key, &thumb]).await;
            return Err(TasksError::BadMedia(why));
        }
        let upload = Upload {
            key: oss_key,
            filename: original_filename,
            kind,
            size: meta.size as i64,
            thumb: &thumb,
        };
        return record(state, limits, user_id, task_id, &upload, &info).await;
    }
    let reject = |message: String| limit("duration_seconds", message);
    if info.video_codec.is_empty() {
        discard(state, &[oss_key]).await;
        return Err(TasksError::NoVideoStream);
    }
    if !(MIN_SECONDS..=limits.seconds()).contains(&info.duration_seconds) {
        discard(state, &[oss_key, &thumb]).await;
        let max = limits.quota.max_clip_seconds;
        let longest = if max.is_multiple_of(60) {
            format!("{} min", max / 60)
        } else {
            format!("{max} s")
        };
        return Err(reject(format!(
            "the clip is {:.1} s; clips must be {MIN_SECONDS:.0} s to {longest} on the {} tier (deleted)",
            info.duration_seconds, limits.tier
        )));
    }

    let upload = Upload {
        key: oss_key,
        filename: original_filename,
        kind,
        size: meta.size as i64,
        thumb: &thumb,
    };
    record(state, limits, user_id, task_id, &upload, &info).await
}

/// How many scenes the document at `key` makes, or why it cannot be
/// explained.
async fn document_scenes(state: &State, key: &str) -> Result<usize, TasksError> {
    let format = documents::format_of_key(key).ok_or(TasksError::UnknownUpload)?;
    let bytes = state
        .ctx
        .adapters
        .blobs
        .get(key)
        .await
        .map_err(storage_down)?;
    let planned = tokio::task::spawn_blocking(move || {
        documents::parse(format, &bytes).and_then(|b| documents::scenes(&b, ""))
    })
    .await
    .map_err(|e| TasksError::Unavailable(format!("the document could not be read now: {e}")))?;
    planned.map(|p| p.len()).map_err(TasksError::BadMedia)
}

/// A checked upload to record.
struct Upload<'a> {
    key: &'a str,
    filename: &'a str,
    kind: Kind,
    size: i64,
    thumb: &'a str,
}

/// Records a checked upload and moves the task to UPLOADING, in one
/// transaction that re-reads the status and the count it is decided on. A
/// backing track replaces the task's earlier one (its object deleted).
async fn record(
    state: &State,
    limits: &Limits,
    user_id: i64,
    task_id: i64,
    u: &Upload<'_>,
    info: &MediaInfo,
) -> Result<VideoRow, TasksError> {
    let (key, name, thumb_stored, kind) = (
        u.key.to_string(),
        u.filename.to_string(),
        (!u.thumb.is_empty()).then(|| u.thumb.to_string()),
        u.kind,
    );
    let size = u.size;
    let (max_clips, too_many) = (limits.clips(), limits.too_many());
    let (duration, width, height) = (
        info.duration_seconds,
        info.display_width,
        info.display_height,
    );
    let recorded = state
        .db
        .transaction(move |c| {
            let (task, to) = match adding(c, user_id, task_id)? {
                Ok(found) => found,
                Err(e) => return Ok(Err(e)),
            };
            let existing = store::videos_of(c, task_id)?;
            let replaced: Vec<VideoRow> = existing
                .iter()
                .filter(|v| kind.single() && v.kind == kind.as_str())
                .cloned()
                .collect();
            if !kind.single() && (existing.len() - replaced.len()) as i64 >= max_clips {
                return Ok(Err(too_many));
            }
            for old in &replaced {
                store::delete_video_row(c, task_id, old.id)?;
            }
            let row = store::insert_video(
                c,
                &NewVideo {
                    task_id,
                    original_filename: &name,
                    oss_key: &key,
                    thumbnail_oss_key: thumb_stored.as_deref(),
                    duration_seconds: duration,
                    file_size: size,
                    width,
                    height,
                    kind: kind.as_str(),
                },
            )?;
            if !store::set_status(c, task_id, task.status(), to)? {
                return Err(scout_common::adapters::db::DbError::Conflict(
                    "the task changed while the upload was recorded; confirm again".into(),
                ));
            }
            Ok(Ok((row, replaced)))
        })
        .await?;
    match recorded {
        Ok((row, replaced)) => {
            for old in replaced {
                discard(state, &[&old.oss_key]).await;
            }
            Ok(row)
        }
        Err(e) => {
            discard(state, &[u.key, u.thumb]).await;
            Err(e)
        }
    }
}

/// Inside a transaction: the user's task and the status a clip added to
/// it moves it to; the refusal when it is gone or takes no clip now.
pub(crate) fn adding(
    c: &mut scout_common::adapters::db::AnyConnection,
    user_id: i64,
    task_id: i64,
) -> Result<
    Result<(store::TaskRow, machine::Status), TasksError>,
    scout_common::adapters::db::DbError,
> {
    let Some(task) = store::task_of(c, user_id, task_id)? else {
        return Ok(Err(TasksError::not_found(format!("task {task_id}"))));
    };
    Ok(machine::next(task.status(), Event::ClipConfirmed).map(|to| (task, to)))
}

async fn probe(
    state: &State,
    key: &str,
    thumbnail_key: &str,
    kind: Kind,
) -> Result<MediaInfo, TasksError> {
    let mut req = state.ctx.auth.internal(ProbeRequest {
        media: Some(MediaRef {
            location: Some(Location::BlobKey(key.to_string())),
        }),
        thumbnail_key: thumbnail_key.to_string(),
    });
    // A 500 MB clip is fetched from storage first.
    req.set_timeout(Duration::from_secs(120));
    let mut render = state.render.clone();
    match render.probe(req).await {
        Ok(resp) => Ok(resp.into_inner().info.unwrap_or_default()),
        Err(s) if s.code() == tonic::Code::InvalidArgument => {
            discard(state, &[key, thumbnail_key]).await;
            Err(match kind {
                Kind::Clip => TasksError::UnreadableClip(s.message().to_string()),
                other => TasksError::BadMedia(format!(
                    "the upload is not a readable {}: {}",
                    other.noun(),
                    s.message()
                )),
            })
        }
        Err(s) => {
            tracing::warn!(status = %s, "render probe failed");
            Err(TasksError::Unavailable(format!(
                "the clip could not be checked now ({}); confirm again shortly",
                s.message()
            )))
        }
    }
}

/// The task's clips, in upload order.
pub async fn list(state: &State, user_id: i64, task_id: i64) -> Result<Vec<VideoRow>, TasksError> {
    tasks::load(state, user_id, task_id).await?;
    Ok(state.db.run(move |c| store::videos_of(c, task_id)).await?)
}

/// Puts the task's clips in the order of `ids` (only while clips may change:
/// once analysis starts, scripts point at them).
pub async fn reorder(
    state: &State,
    user_id: i64,
    task_id: i64,
    ids: Vec<i64>,
) -> Result<Vec<VideoRow>, TasksError> {
    let task = tasks::load(state, user_id, task_id).await?;
    if task.status() != machine::Status::Uploading {
        return Err(TasksError::NotReady(format!(
            "clips cannot be reordered while the task is {}",
            task.status().upper()
        )));
    }
    let reordered = state
        .db
        .transaction(move |c| {
            if !store::reorder_videos(c, task_id, &ids)? {
                return Ok(None);
            }
            Ok(Some(store::videos_of(c, task_id)?))
        })
        .await?;
    reordered.ok_or_else(|| {
        TasksError::invalid("video_ids", "must list every clip of the task exactly once")
    })
}

/// Deletes a clip (only while clips may change) with its object and thumbnail.
pub async fn delete(
    state: &State,
    user_id: i64,
    task_id: i64,
    video_id: i64,
) -> Result<(), TasksError> {
    let task = tasks::load(state, user_id, task_id).await?;
    if task.status() != machine::Status::Uploading {
        // Clips are fixed once analysis starts: scripts point at them.
        return Err(machine::next(task.status(), Event::LastClipDeleted)
            .err()
            .unwrap_or_else(|| TasksError::NotReady("clips cannot change now".into())));
    }
    let removed = state
        .db
        .transaction(move |c| {
            let row = store::delete_video(c, task_id, video_id)?;
            if row.is_some() && store::video_count(c, task_id)? == 0 {
                store::set_status(
                    c,
                    task_id,
                    machine::Status::Uploading,
                    machine::Status::Created,
                )?;
            }
            Ok(row)
        })
        .await?
        .ok_or_else(|| TasksError::not_found(format!("clip {video_id} of task {task_id}")))?;
    let thumb = removed.thumbnail_oss_key.clone().unwrap_or_default();
    discard(state, &[&removed.oss_key, &thumb]).await;
    Ok(())
}

/// The API category of a stored one.
pub fn category(stored: Option<&str>) -> ShotCategory {
    match stored {
        Some("food") => ShotCategory::Food,
        Some("person") => ShotCategory::Person,
        Some("environment") => ShotCategory::Environment,
        Some("other") => ShotCategory::Other,
        _ => ShotCategory::Unspecified,
    }
}

/// A presigned GET of a clip's thumbnail (1 h); empty without one or when
/// storage cannot sign it (a missing thumbnail must not fail a listing).
pub async fn thumbnail_url(state: &State, key: Option<&str>) -> String {
    let Some(k) = key else {
        return String::new();
    };
    state
        .ctx
        .adapters
        .blobs
        .presign_get(k, PresignOptions::expires_in(THUMBNAIL_URL_TTL))
        .await
        .map(|u| u.url)
        .unwrap_or_default()
}

/// The API form of a clip, with a presigned thumbnail URL.
pub async fn to_proto(state: &State, row: &VideoRow) -> Video {
    let thumbnail_url = thumbnail_url(state, row.thumbnail_oss_key.as_deref()).await;
    let status = match row.status.as_str() {
        "uploading" => VideoStatus::Uploading,
        "uploaded" => VideoStatus::Uploaded,
        "analyzing" => VideoStatus::Analyzing,
        "analyzed" => VideoStatus::Analyzed,
        "failed" => VideoStatus::Failed,
        _ => VideoStatus::Unspecified,
    };
    Video {
        id: row.id,
        task_id: row.task_id,
        original_filename: row.original_filename.clone(),
        oss_key: row.oss_key.clone(),
        thumbnail_url,
        duration_seconds: row.duration_seconds.unwrap_or_default(),
        file_size: row.file_size.unwrap_or_default(),
        width: row.width.unwrap_or_default(),
        height: row.height.unwrap_or_default(),
        status: status as i32,
        category: category(row.category.as_deref()) as i32,
        tags: serde_json::from_str(&row.tags).unwrap_or_default(),
        description: row.description.clone().unwrap_or_default(),
        quality_score: row.quality_score.unwrap_or_default(),
        quality_factors: row.clarity.map(|clarity| QualityFactors {
            clarity,
            composition: row.composition.unwrap_or_default(),
            lighting: row.lighting.unwrap_or_default(),
            stability: row.stability.unwrap_or_default(),
        }),
        is_recommended: row.is_recommended,
        sort_order: row.sort_order,
        created_at: Some(crate::tasks::timestamp(row.created_at)),
        kind: Kind::parse(&row.kind).api() as i32,
    }
}
