//! Subtitle previews: each of the five styles burned into a frame of the
//! task's first clip, fitted to 1080x1920 the way compose fits it, so a
//! reviewer picks a style on their own footage. Render draws each once per
//! clip and style (kept under `previews/{task}/`, removed with the task);
//! the answer is download URLs.

use std::time::Duration;

use scout_common::proto_json::short_name;
use scout_proto::scout::common::v1::SubtitleStyle;
use scout_proto::scout::render::v1::media_ref::Location;
use scout_proto::scout::render::v1::{MediaRef, RenderSubtitlePreviewRequest};
use scout_proto::scout::tasks::v1::SubtitlePreview;

use crate::State;
use crate::error::TasksError;
use crate::{compose, store, tasks};

/// The styles, in the order of the enum.
const STYLES: [SubtitleStyle; 6] = [
    SubtitleStyle::SimpleWhite,
    SubtitleStyle::VibrantYellow,
    SubtitleStyle::Xiaohongshu,
    SubtitleStyle::DouyinHot,
    SubtitleStyle::Neon,
    SubtitleStyle::Karaoke,
];

/// The caption drawn: a typical opening line, long enough to show wrapping.
const SAMPLE: &str = "家人们！这家店真的绝了，人均不到一百吃到扶墙出";

/// `GetSubtitlePreviews`.
pub async fn subtitle_previews(
    state: &State,
    user_id: i64,
    task_id: i64,
) -> Result<Vec<SubtitlePreview>, TasksError> {
    tasks::load(state, user_id, task_id).await?;
    let videos = state.db.run(move |c| store::videos_of(c, task_id)).await?;
    let clip = videos.first().ok_or_else(|| {
        TasksError::NotReady("upload a clip first: the previews are drawn on it".into())
    })?;
    let drawn = STYLES.map(|style| preview(state, task_id, clip.id, &clip.oss_key, style));
    futures::future::try_join_all(drawn).await
}

async fn preview(
    state: &State,
    task_id: i64,
    video_id: i64,
    clip_key: &str,
    style: SubtitleStyle,
) -> Result<SubtitlePreview, TasksError> {
    let name = short_name(style).unwrap_or_default();
    let key = format!("previews/{task_id}/{video_id}/subtitle_{name}.jpg");
    let exists = state
        .ctx
        .adapters
        .blobs
        .head(&key)
        .await
        .map_err(|e| TasksError::Storage(format!("object storage: {e}")))?
        .is_some();
    if !exists {
        let mut req = state.ctx.auth.internal(RenderSubtitlePreviewRequest {
            media: Some(MediaRef {
                location: Some(Location::BlobKey(clip_key.to_string())),
            }),
            style: style as i32,
            text: SAMPLE.into(),
            output_key: key.clone(),
        });
        req.set_timeout(Duration::from_secs(60));
        state
            .render
            .clone()
            .render_subtitle_preview(req)
            .await
            .map_err(|s| {
                TasksError::Unavailable(format!(
                    "the {name} preview could not be drawn now: {}",
                    s.message()
                ))
            })?;
    }
    Ok(SubtitlePreview {
        style: style as i32,
        image_url: compose::presign(state, &key).await?,
    })
}
