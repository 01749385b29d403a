//! A user's brand kit: the logo, caption colours, intro and outro cards and
//! a transition between shots, kept per user and put on every video they
//! compose (a snapshot goes into each compose job). Every field is checked
//! here, naming it; what depends on the video's length (a card at most half
//! of it) is checked by render when composing.

use std::time::Duration;

use scout_common::adapters::blob::PresignOptions;
use scout_proto::scout::render::v1::media_ref::Location;
use scout_proto::scout::render::v1::{
    Branding, Card, Corner, MediaRef, ProbeRequest, Transition, TransitionKind,
};
use scout_proto::scout::tasks::v1::BrandKit;

use crate::State;
use crate::error::TasksError;
use crate::store;

/// The kit's protobuf type, as stored (JSON).
const KIT_TYPE: &str = "scout.tasks.v1.BrandKit";
/// Largest logo.
pub const MAX_LOGO_BYTES: i64 = 5 * 1024 * 1024;
/// How long a logo upload URL is valid.
pub const UPLOAD_URL_TTL: Duration = Duration::from_secs(15 * 60);
/// Accepted logo types and the extension stored with each.
const IMAGE_TYPES: [(&str, &str); 4] = [
    ("image/png", "png"),
    ("image/jpeg", "jpg"),
    ("image/jpg", "jpg"),
    ("image/webp", "webp"),
];
/// What the probe calls the accepted pictures.
const IMAGE_CODECS: [&str; 3] = ["png", "mjpeg", "webp"];

fn internal(e: impl std::fmt::Display) -> TasksError {
    TasksError::Api(scout_common::ApiError::new(
        scout_common::ErrorCode::Internal,
        e.to_string(),
    ))
}

fn logo_prefix(user_id: i64) -> String {
    format!("brand/{user_id}/")
}

/// The caller's kit; empty when never set.
pub async fn get(state: &State, user_id: i64) -> Result<BrandKit, TasksError> {
    let stored = state.db.run(move |c| store::brand_kit(c, user_id)).await?;
    match stored {
        None => Ok(BrandKit::default()),
        Some((json, at)) => {
            let value: serde_json::Value = serde_json::from_str(&json)
                .map_err(|e| internal(format!("stored brand kit: {e}")))?;
            let mut kit: BrandKit = scout_common::proto_json::from_json(KIT_TYPE, value)
                .map_err(|e| internal(format!("stored brand kit: {e}")))?;
            kit.updated_at = Some(scout_common::proto_json::timestamp(at));
            Ok(kit)
        }
    }
}

fn colour(field: &str, c: &str) -> Result<(), TasksError> {
    let ok = c.is_empty()
        || (c.len() == 7 && c.starts_with('#') && c[1..].bytes().all(|b| b.is_ascii_hexdigit()));
    if ok {
        Ok(())
    } else {
        Err(TasksError::invalid(field, "a colour as #RRGGBB"))
    }
}

fn card(field: &str, c: &Card) -> Result<(), TasksError> {
    let title = c.title.trim().chars().count();
    if !(1..=40).contains(&title) {
        return Err(TasksError::invalid(
            format!("{field}.title"),
            "1-40 characters",
        ));
    }
    if c.line.chars().count() > 60 {
        return Err(TasksError::invalid(
            format!("{field}.line"),
            "at most 60 characters",
        ));
    }
    if c.title.chars().chain(c.line.chars()).any(char::is_control) {
        return Err(TasksError::invalid(field, "no control characters"));
    }
    if !(0.0..=5.0).contains(&c.seconds) {
        return Err(TasksError::invalid(
            format!("{field}.seconds"),
            "0 (for 2) to 5 seconds",
        ));
    }
    colour(&format!("{field}.background_colour"), &c.background_colour)
}

/// Checks a kit's fields, naming the first that is wrong.
/// The caption fonts a kit may name: the families every render node ships
/// (`fonts-noto-cjk`, installed by the project's scripts and image).
pub const CAPTION_FONTS: [&str; 3] = [
    "Noto Sans CJK SC",
    "Noto Serif CJK SC",
    "Noto Sans Mono CJK SC",
];

fn check(kit: &BrandKit, user_id: i64) -> Result<(), TasksError> {
    if !kit.logo_key.is_empty() {
        let file = kit
            .logo_key
            .strip_prefix(&logo_prefix(user_id))
            .unwrap_or_default();
        if !file.starts_with("logo-")
            || file.contains("..")
            || !file
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        {
            return Err(TasksError::invalid(
                "logo_key",
                "a key from CreateBrandLogoUploadUrl",
            ));
        }
    }
    if Corner::try_from(kit.logo_corner).is_err() {
        return Err(TasksError::invalid("logo_corner", "not a corner"));
    }
    if kit.logo_scale != 0.0 && !(0.05..=0.5).contains(&kit.logo_scale) {
        return Err(TasksError::invalid(
            "logo_scale",
            "0.05-0.5 of the frame's width",
        ));
    }
    if !(0.0..=1.0).contains(&kit.logo_opacity) {
        return Err(TasksError::invalid("logo_opacity", "above 0, at most 1"));
    }
    colour("caption_colour", &kit.caption_colour)?;
    colour("caption_outline_colour", &kit.caption_outline_colour)?;
    if !kit.caption_font.is_empty() && !CAPTION_FONTS.contains(&kit.caption_font.as_str()) {
        return Err(TasksError::invalid(
            "caption_font",
            format!(
                "one of {} (the fonts render ships)",
                CAPTION_FONTS.join(", ")
            ),
        ));
    }
    if let Some(c) = &kit.intro {
        card("intro", c)?;
    }
    if let Some(c) = &kit.outro {
        card("outro", c)?;
    }
    if let Some(t) = &kit.transition {
        if TransitionKind::try_from(t.kind).is_err() {
            return Err(TasksError::invalid("transition.kind", "not a transition"));
        }
        if !(0.0..=2.0).contains(&t.duration_seconds) {
            return Err(TasksError::invalid(
                "transition.duration_seconds",
                "0 (for 0.5) to 2 seconds",
            ));
        }
    }
    Ok(())
}

/// Is the uploaded logo a picture? Render's probe says.
async fn check_logo(state: &State, key: &str) -> Result<(), TasksError> {
    let meta = state
        .ctx
        .adapters
        .blobs
        .head(key)
        .await
        .map_err(|e| TasksError::Storage(format!("object storage is unavailable ({e})")))?;
    let Some(meta) = meta else {
        return Err(TasksError::invalid(
            "logo_key",
            "nothing was uploaded there",
        ));
    };
    if meta.size as i64 > MAX_LOGO_BYTES {
        return Err(TasksError::invalid(
            "logo_key",
            "the logo is larger than 5 MB",
        ));
    }
    let mut req = state.ctx.auth.internal(ProbeRequest {
        media: Some(MediaRef {
            location: Some(Location::BlobKey(key.to_string())),
        }),
        thumbnail_key: String::new(),
    });
    req.set_timeout(Duration::from_secs(30));
    let mut render = state.render.clone();
    let info = match render.probe(req).await {
        Ok(r) => r.into_inner().info.unwrap_or_default(),
        Err(s) if s.code() == tonic::Code::InvalidArgument => {
            return Err(TasksError::invalid(
                "logo_key",
                format!("not a readable picture: {}", s.message()),
            ));
        }
        Err(s) => {
            return Err(TasksError::Unavailable(format!(
                "the logo could not be checked now ({}); try again shortly",
                s.message()
            )));
        }
    };
    if info.width <= 0 || info.height <= 0 {
        return Err(TasksError::invalid(
            "logo_key",
            "not a readable picture (it has no size)",
        ));
    }
    if !IMAGE_CODECS.contains(&info.video_codec.as_str()) {
        return Err(TasksError::invalid(
            "logo_key",
            format!(
                "a PNG, JPEG or WebP picture (this is {})",
                if info.video_codec.is_empty() {
                    "not a picture".to_string()
                } else {
                    info.video_codec
                }
            ),
        ));
    }
    Ok(())
}

/// Replaces the caller's kit; returns it as stored.
pub async fn update(
    state: &State,
    user_id: i64,
    mut kit: BrandKit,
) -> Result<BrandKit, TasksError> {
    kit.updated_at = None;
    check(&kit, user_id)?;
    if !kit.logo_key.is_empty() {
        check_logo(state, &kit.logo_key).await?;
    }
    let json = scout_common::proto_json::bytes_to_json(
        &scout_common::proto_json::message_descriptor(KIT_TYPE).map_err(internal)?,
        &prost::Message::encode_to_vec(&kit),
    )
    .map_err(internal)?
    .to_string();
    state
        .db
        .run(move |c| store::set_brand_kit(c, user_id, &json))
        .await?;
    get(state, user_id).await
}

/// A presigned PUT for a logo.
pub struct LogoUpload {
    /// Where to PUT.
    pub url: String,
    /// The key to set as the kit's logo.
    pub key: String,
    /// Headers the PUT must carry.
    pub headers: Vec<(String, String)>,
}

/// Checks the declared logo and signs a PUT under `brand/{user}/`.
pub async fn logo_upload_url(
    state: &State,
    user_id: i64,
    content_type: &str,
    file_size: i64,
) -> Result<LogoUpload, TasksError> {
    let base = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let Some((_, ext)) = IMAGE_TYPES.iter().find(|(t, _)| *t == base) else {
        return Err(TasksError::invalid(
            "content_type",
            "image/png, image/jpeg or image/webp",
        ));
    };
    if !(1..=MAX_LOGO_BYTES).contains(&file_size) {
        return Err(TasksError::invalid(
            "file_size",
            "the logo's size in bytes, at most 5 MB",
        ));
    }
    let key = format!(
        "{}logo-{}.{ext}",
        logo_prefix(user_id),
        uuid::Uuid::new_v4().simple()
    );
    let signed = state
        .ctx
        .adapters
        .blobs
        .presign_put(&key, PresignOptions::expires_in(UPLOAD_URL_TTL))
        .await
        .map_err(|e| TasksError::Storage(format!("object storage is unavailable ({e})")))?;
    Ok(LogoUpload {
        url: signed.url,
        key,
        headers: signed.headers,
    })
}

/// What a compose job of the user's carries: the kit as render's branding
/// and the transition; `(None, None)` without a kit.
pub async fn for_compose(
    state: &State,
    user_id: i64,
) -> Result<(Option<Branding>, Option<Transition>), TasksError> {
    let kit = get(state, user_id).await?;
    let branding = Branding {
        logo: (!kit.logo_key.is_empty()).then(|| MediaRef {
            location: Some(Location::BlobKey(kit.logo_key.clone())),
        }),
        logo_corner: kit.logo_corner,
        logo_scale: kit.logo_scale,
        logo_opacity: kit.logo_opacity,
        caption_colour: kit.caption_colour.clone(),
        caption_outline_colour: kit.caption_outline_colour.clone(),
        caption_font: kit.caption_font.clone(),
        intro: kit.intro.clone(),
        outro: kit.outro.clone(),
    };
    let branded = branding != Branding::default();
    Ok((branded.then_some(branding), kit.transition))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_is_checked_naming_it() {
        let ok = BrandKit {
            logo_key: "brand/7/logo-abc.png".into(),
            caption_colour: "#FF2200".into(),
            intro: Some(Card {
                title: "老王面馆".into(),
                seconds: 1.5,
                ..Default::default()
            }),
            transition: Some(Transition {
                kind: TransitionKind::Crossfade as i32,
                duration_seconds: 0.5,
            }),
            ..Default::default()
        };
        assert!(check(&ok, 7).is_ok());
        let field = |k: BrandKit| match check(&k, 7) {
            Err(TasksError::Invalid { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            field(BrandKit {
                logo_key: "brand/8/logo-abc.png".into(),
                ..ok.clone()
            }),
            "logo_key"
        );
        assert_eq!(
            field(BrandKit {
                caption_colour: "red".into(),
                ..ok.clone()
            }),
            "caption_colour"
        );
        assert_eq!(
            field(BrandKit {
                logo_scale: 0.9,
                ..ok.clone()
            }),
            "logo_scale"
        );
        assert_eq!(
            field(BrandKit {
                intro: Some(Card {
                    title: "店".repeat(41),
                    ..Default::default()
                }),
                ..ok.clone()
            }),
            "intro.title"
        );
        assert_eq!(
            field(BrandKit {
                transition: Some(Transition {
                    kind: 2,
                    duration_seconds: 3.0,
                }),
                ..ok.clone()
            }),
            "transition.duration_seconds"
        );
    }
}
