//! Recipes: what a task makes. Every recipe runs on the same tasks, jobs,
//! render engine and outputs; a recipe decides the task's inputs, the media
//! it takes, the steps of its progress and the compose job it queues.
//!
//! - `shop_review` (seed 000, the default): clips and shop info → analysis →
//!   a script → a narrated video. A task without a `task_recipes` row is one.
//! - `music_video` and `ad_creative` (seed 004): product images (one scene
//!   each, in order) and one backing track → a montage cut to the track's
//!   beats, the ad ending on the product's name and call to action. No
//!   analysis or script: they compose straight from their uploads.
//! - `doc_explainer` (seed 001): one document (Markdown, plain text, PDF or
//!   DOCX; `documents`) → its scenes and their narration as the script
//!   (written here when the analysis starts: no analyze job) → the usual
//!   voice, captions and compose, each slide drawn by render.
//! - `topic_short` (seeds 002, 003) is named in the contract but not built
//!   yet; asking for one says so.

use scout_proto::scout::jobs::v1::Montage;
use scout_proto::scout::render::v1::media_ref::Location;
use scout_proto::scout::render::v1::{Card, MediaInfo, MediaRef};
use scout_proto::scout::tasks::v1::{MediaKind, MontageInput, Recipe as ApiRecipe, Task};

use crate::State;
use crate::error::TasksError;
use crate::store::{self, RecipeRow, VideoRow};

/// What a task makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recipe {
    ShopReview,
    DocExplainer,
    TopicShort,
    MusicVideo,
    AdCreative,
}

impl Recipe {
    /// The stored (and REST) name.
    pub fn as_str(self) -> &'static str {
        match self {
            Recipe::ShopReview => "shop_review",
            Recipe::DocExplainer => "doc_explainer",
            Recipe::TopicShort => "topic_short",
            Recipe::MusicVideo => "music_video",
            Recipe::AdCreative => "ad_creative",
        }
    }

    /// The recipe of an API value; unset is shop_review.
    pub fn from_api(value: i32) -> Result<Recipe, TasksError> {
        Ok(match ApiRecipe::try_from(value) {
            Ok(ApiRecipe::Unspecified | ApiRecipe::ShopReview) => Recipe::ShopReview,
            Ok(ApiRecipe::DocExplainer) => Recipe::DocExplainer,
            Ok(ApiRecipe::TopicShort) => Recipe::TopicShort,
            Ok(ApiRecipe::MusicVideo) => Recipe::MusicVideo,
            Ok(ApiRecipe::AdCreative) => Recipe::AdCreative,
            Err(_) => {
                return Err(TasksError::invalid(
                    "recipe",
                    "one of shop_review, doc_explainer, topic_short, music_video, ad_creative",
                ));
            }
        })
    }

    /// The API value.
    pub fn api(self) -> ApiRecipe {
        match self {
            Recipe::ShopReview => ApiRecipe::ShopReview,
            Recipe::DocExplainer => ApiRecipe::DocExplainer,
            Recipe::TopicShort => ApiRecipe::TopicShort,
            Recipe::MusicVideo => ApiRecipe::MusicVideo,
            Recipe::AdCreative => ApiRecipe::AdCreative,
        }
    }

    /// The recipe of a task's stored row (none: shop_review).
    pub fn of(row: Option<&RecipeRow>) -> Recipe {
        match row.map(|r| r.recipe.as_str()) {
            Some("doc_explainer") => Recipe::DocExplainer,
            Some("topic_short") => Recipe::TopicShort,
            Some("music_video") => Recipe::MusicVideo,
            Some("ad_creative") => Recipe::AdCreative,
            _ => Recipe::ShopReview,
        }
    }

    /// Images over a backing track, composed straight from the uploads.
    pub fn is_montage(self) -> bool {
        matches!(self, Recipe::MusicVideo | Recipe::AdCreative)
    }

    /// A document's slides, narrated.
    pub fn is_document(self) -> bool {
        self == Recipe::DocExplainer
    }
}

/// Longest product name, characters.
pub const MAX_PRODUCT_NAME: usize = 40;
/// Longest call to action, characters.
pub const MAX_CALL_TO_ACTION: usize = 40;
/// Longest tagline, characters.
pub const MAX_TAGLINE: usize = 60;
/// Shortest and longest video a montage asks for, seconds.
pub const TARGET_SECONDS: (f64, f64) = (8.0, 90.0);
/// Largest product image (seed 004).
pub const MAX_IMAGE_BYTES: i64 = 10 * 1024 * 1024;
/// Largest backing track (seed 004).
pub const MAX_AUDIO_BYTES: i64 = 50 * 1024 * 1024;
/// Longest backing track, seconds.
pub const MAX_TRACK_SECONDS: f64 = 600.0;
/// Shortest backing track, seconds.
pub const MIN_TRACK_SECONDS: f64 = 1.0;
/// Largest image side, pixels (a 100-megapixel photo is not a product shot).
pub const MAX_IMAGE_SIDE: i32 = 8192;
/// Smallest image side, pixels.
pub const MIN_IMAGE_SIDE: i32 = 64;

/// What a file of a montage is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Clip,
    Image,
    Audio,
    Document,
}

impl Kind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Clip => "clip",
            Kind::Image => "image",
            Kind::Audio => "audio",
            Kind::Document => "document",
        }
    }

    /// The kind of a stored name.
    pub fn parse(s: &str) -> Kind {
        match s {
            "image" => Kind::Image,
            "audio" => Kind::Audio,
            "document" => Kind::Document,
            _ => Kind::Clip,
        }
    }

    /// One per task: a new one replaces the old.
    pub fn single(self) -> bool {
        matches!(self, Kind::Audio | Kind::Document)
    }

    /// The API value.
    pub fn api(self) -> MediaKind {
        match self {
            Kind::Clip => MediaKind::Clip,
            Kind::Image => MediaKind::Image,
            Kind::Audio => MediaKind::Audio,
            Kind::Document => MediaKind::Document,
        }
    }

    /// Largest upload of this kind, bytes (clips: the tier decides).
    pub fn max_bytes(self) -> Option<i64> {
        match self {
            Kind::Clip => None,
            Kind::Image => Some(MAX_IMAGE_BYTES),
            Kind::Audio => Some(MAX_AUDIO_BYTES),
            Kind::Document => Some(crate::documents::MAX_BYTES),
        }
    }

    /// "image", "backing track".
    pub fn noun(self) -> &'static str {
        match self {
            Kind::Clip => "clip",
            Kind::Image => "image",
            Kind::Audio => "backing track",
            Kind::Document => "document",
        }
    }
}

/// What a montage takes: content type, extension, kind.
pub const MONTAGE_TYPES: [(&str, &str, Kind); 7] = [
    ("image/jpeg", "jpg", Kind::Image),
    ("image/png", "png", Kind::Image),
    ("image/webp", "webp", Kind::Image),
    ("audio/mpeg", "mp3", Kind::Audio),
    ("audio/mp3", "mp3", Kind::Audio),
    ("audio/wav", "wav", Kind::Audio),
    ("audio/x-wav", "wav", Kind::Audio),
];

/// The extension and kind of a montage upload's content type.
pub fn montage_type(content_type: &str) -> Option<(&'static str, Kind)> {
    let base = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    MONTAGE_TYPES
        .iter()
        .find(|(t, _, _)| *t == base)
        .map(|(_, e, k)| (*e, *k))
}

/// The kind of a montage upload's stored key (by the extension it was
/// signed with).
pub fn kind_of_key(key: &str) -> Option<Kind> {
    let ext = key.rsplit_once('.')?.1;
    MONTAGE_TYPES
        .iter()
        .find(|(_, e, _)| *e == ext)
        .map(|(_, _, k)| *k)
}

/// The accepted types, for an error.
pub fn montage_types() -> String {
    let mut names: Vec<&str> = MONTAGE_TYPES.iter().map(|(t, _, _)| *t).collect();
    names.dedup();
    names.join(", ")
}

fn check_text(field: &str, value: &str, max: usize, required: bool) -> Result<(), TasksError> {
    let n = value.trim().chars().count();
    if required && n == 0 {
        return Err(TasksError::invalid(field, "required"));
    }
    if n > max {
        return Err(TasksError::invalid(
            field,
            format!("at most {max} characters (got {n})"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(TasksError::invalid(
            field,
            "must not contain control characters",
        ));
    }
    Ok(())
}

/// Checks a create request's recipe and its inputs (fields named under
/// `prefix`). The row to store, `None` for a shop review.
pub fn check(
    prefix: &str,
    recipe: i32,
    montage: Option<&MontageInput>,
    accent: &str,
) -> Result<Option<RecipeRow>, TasksError> {
    let field = |name: &str| format!("{prefix}{name}");
    let recipe = Recipe::from_api(recipe).map_err(|_| {
        TasksError::invalid(
            field("recipe"),
            "one of shop_review, doc_explainer, topic_short, music_video, ad_creative",
        )
    })?;
    match recipe {
        Recipe::ShopReview => {
            if montage.is_some() {
                return Err(TasksError::invalid(
                    field("montage"),
                    "only for the music_video and ad_creative recipes",
                ));
            }
            return Ok(None);
        }
        Recipe::TopicShort => {
            return Err(TasksError::RecipeUnavailable(recipe.as_str()));
        }
        Recipe::DocExplainer => {
            if montage.is_some() {
                return Err(TasksError::invalid(
                    field("montage"),
                    "only for the music_video and ad_creative recipes",
                ));
            }
            let accent = accent.trim().to_ascii_lowercase();
            if !accent.is_empty() && !ACCENTS.contains(&accent.as_str()) {
                return Err(TasksError::invalid(
                    field("accent"),
                    format!("one of {}", ACCENTS.join(", ")),
                ));
            }
            return Ok(Some(RecipeRow {
                task_id: 0,
                recipe: recipe.as_str().to_string(),
                product_name: String::new(),
                call_to_action: String::new(),
                tagline: String::new(),
                target_seconds: 0.0,
                accent,
            }));
        }
        Recipe::MusicVideo | Recipe::AdCreative => {}
    }
    if !accent.trim().is_empty() {
        return Err(TasksError::invalid(
            field("accent"),
            "only for the doc_explainer recipe",
        ));
    }
    let m = montage.cloned().unwrap_or_default();
    let ad = recipe == Recipe::AdCreative;
    check_text(
        &field("montage.product_name"),
        &m.product_name,
        MAX_PRODUCT_NAME,
        ad,
    )?;
    check_text(
        &field("montage.call_to_action"),
        &m.call_to_action,
        MAX_CALL_TO_ACTION,
        false,
    )?;
    if !ad && !m.call_to_action.trim().is_empty() {
        return Err(TasksError::invalid(
            field("montage.call_to_action"),
            "only an ad creative ends on a call to action",
        ));
    }
    check_text(&field("montage.tagline"), &m.tagline, MAX_TAGLINE, false)?;
    let (lo, hi) = TARGET_SECONDS;
    if m.target_seconds != 0.0 && !(lo..=hi).contains(&m.target_seconds) {
        return Err(TasksError::invalid(
            field("montage.target_seconds"),
            format!("{lo:.0} to {hi:.0} seconds, or 0 for the default"),
        ));
    }
    Ok(Some(RecipeRow {
        task_id: 0,
        recipe: recipe.as_str().to_string(),
        product_name: m.product_name.trim().to_string(),
        call_to_action: m.call_to_action.trim().to_string(),
        tagline: m.tagline.trim().to_string(),
        target_seconds: m.target_seconds,
        accent: String::new(),
    }))
}

/// A document explainer's title until its document names it.
pub const UNTITLED_DOCUMENT: &str = "文档讲解";

/// Seed 001's accent colours.
pub const ACCENTS: [&str; 6] = ["blue", "orange", "purple", "green", "pink", "cyan"];

/// A task's recipe row (none for a shop review).
pub async fn of(state: &State, task_id: i64) -> Result<Option<RecipeRow>, TasksError> {
    Ok(state.db.run(move |c| store::recipe_of(c, task_id)).await?)
}

/// A task's recipe.
pub async fn recipe_of(state: &State, task_id: i64) -> Result<Recipe, TasksError> {
    Ok(Recipe::of(of(state, task_id).await?.as_ref()))
}

/// The task with its recipe and inputs.
pub fn with_recipe(mut task: Task, row: Option<&RecipeRow>) -> Task {
    task.recipe = Recipe::of(row).api() as i32;
    task.montage = row
        .filter(|r| Recipe::of(Some(r)).is_montage())
        .map(|r| MontageInput {
            product_name: r.product_name.clone(),
            call_to_action: r.call_to_action.clone(),
            tagline: r.tagline.clone(),
            target_seconds: r.target_seconds,
        });
    task.accent = row
        .filter(|r| Recipe::of(Some(r)).is_document())
        .map(|r| {
            if r.accent.is_empty() {
                "blue".to_string()
            } else {
                r.accent.clone()
            }
        })
        .unwrap_or_default();
    task
}

/// Whether a probed upload is a usable `kind`; the reason when not.
pub fn check_probed(kind: Kind, info: &MediaInfo) -> Result<(), String> {
    match kind {
        Kind::Clip | Kind::Document => Ok(()),
        Kind::Image => {
            // (A track with cover art holds a JPEG too, beside its audio.)
            let still =
                matches!(info.video_codec.as_str(), "mjpeg" | "png" | "webp") && !info.has_audio;
            if !still {
                return Err(if info.video_codec.is_empty() {
                    "the upload is not an image".to_string()
                } else {
                    format!(
                        "the upload is not a JPEG, PNG or WebP image (it holds {})",
                        info.video_codec
                    )
                });
            }
            let (w, h) = (info.display_width, info.display_height);
            if w.min(h) < MIN_IMAGE_SIDE || w.max(h) > MAX_IMAGE_SIDE {
                return Err(format!(
                    "the image is {w}x{h}; images must be {MIN_IMAGE_SIDE} to {MAX_IMAGE_SIDE} pixels a side"
                ));
            }
            Ok(())
        }
        Kind::Audio => {
            if !info.has_audio {
                return Err("the upload holds no audio".to_string());
            }
            let s = info.duration_seconds;
            if !(MIN_TRACK_SECONDS..=MAX_TRACK_SECONDS).contains(&s) {
                return Err(format!(
                    "the backing track is {s:.1} s; tracks must be {MIN_TRACK_SECONDS:.0} s to {} min",
                    MAX_TRACK_SECONDS / 60.0
                ));
            }
            Ok(())
        }
    }
}

fn blob(key: &str) -> MediaRef {
    MediaRef {
        location: Some(Location::BlobKey(key.to_string())),
    }
}

/// Seconds the ad creative's end card holds.
pub const END_CARD_SECONDS: f64 = 3.0;

/// The montage a music video or ad creative composes: its images in order,
/// its backing track, its words. Every scene must be ready: an image that
/// is not (failed, still uploading) stops the compose naming it.
pub fn montage(recipe: &RecipeRow, uploads: &[VideoRow]) -> Result<Montage, TasksError> {
    let kind = Recipe::of(Some(recipe));
    for u in uploads {
        if u.status != "uploaded" {
            return Err(TasksError::NotReady(format!(
                "{} {} ({}) is {}; every scene must be ready before composing",
                Kind::parse(&u.kind).noun(),
                u.id,
                u.original_filename,
                u.status
            )));
        }
    }
    let images: Vec<MediaRef> = uploads
        .iter()
        .filter(|u| Kind::parse(&u.kind) == Kind::Image)
        .map(|u| blob(&u.oss_key))
        .collect();
    if images.is_empty() {
        return Err(TasksError::NotReady(format!(
            "a {} needs at least one product image; upload jpg, png or webp images first",
            kind.as_str()
        )));
    }
    let track = uploads
        .iter()
        .rev()
        .find(|u| Kind::parse(&u.kind) == Kind::Audio)
        .ok_or_else(|| {
            TasksError::NotReady(format!(
                "a {} needs a backing track; upload an mp3 or wav first",
                kind.as_str()
            ))
        })?;
    let end_card = (kind == Recipe::AdCreative).then(|| Card {
        title: recipe.product_name.clone(),
        line: recipe.call_to_action.clone(),
        seconds: END_CARD_SECONDS,
        background_colour: String::new(),
    });
    let target = match (recipe.target_seconds, kind) {
        (t, _) if t > 0.0 => t,
        (_, Recipe::AdCreative) => 15.0,
        _ => 0.0,
    };
    Ok(Montage {
        images,
        track: Some(blob(&track.oss_key)),
        target_seconds: target,
        tagline: recipe.tagline.clone(),
        end_card,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(name: &str, cta: &str) -> MontageInput {
        MontageInput {
            product_name: name.into(),
            call_to_action: cta.into(),
            ..MontageInput::default()
        }
    }

    #[test]
    fn a_shop_review_has_no_row_and_takes_no_montage() {
        assert!(check("", 0, None, "").expect("ok").is_none());
        assert!(
            check("", ApiRecipe::ShopReview as i32, None, "")
                .expect("ok")
                .is_none()
        );
        let e = check("", 1, Some(&input("x", "")), "").expect_err("refused");
        assert!(e.to_string().starts_with("montage:"), "{e}");
    }

    #[test]
    fn every_montage_field_is_checked_by_name() {
        let ad = ApiRecipe::AdCreative as i32;
        let mv = ApiRecipe::MusicVideo as i32;
        let e = check("", ad, None, "").expect_err("refused");
        assert_eq!(e.to_string(), "montage.product_name: required");
        let e = check("", ad, Some(&input(&"好".repeat(41), "")), "").expect_err("refused");
        assert!(e.to_string().contains("at most 40"), "{e}");
        let e = check("", mv, Some(&input("", "立即购买")), "").expect_err("refused");
        assert!(e.to_string().starts_with("montage.call_to_action"), "{e}");
        let mut m = input("茶", "立即购买");
        m.target_seconds = 120.0;
        let e = check("tasks[1].", ad, Some(&m), "").expect_err("refused");
        assert!(
            e.to_string().starts_with("tasks[1].montage.target_seconds"),
            "{e}"
        );
        m.target_seconds = 20.0;
        let row = check("", ad, Some(&m), "").expect("ok").expect("a row");
        assert_eq!(row.recipe, "ad_creative");
        assert!(check("", mv, None, "").expect("ok").is_some());
        let e = check("", ApiRecipe::TopicShort as i32, None, "").expect_err("refused");
        assert!(e.to_string().contains("not available yet"), "{e}");
        let doc = ApiRecipe::DocExplainer as i32;
        let row = check("", doc, None, "Purple").expect("ok").expect("a row");
        assert_eq!(
            (row.recipe.as_str(), row.accent.as_str()),
            ("doc_explainer", "purple")
        );
        let e = check("", doc, None, "mauve").expect_err("refused");
        assert!(e.to_string().starts_with("accent: one of blue"), "{e}");
        let e = check("", ad, Some(&m), "blue").expect_err("refused");
        assert!(e.to_string().starts_with("accent:"), "{e}");
        assert!(check("", 99, None, "").is_err());
    }

    #[test]
    fn uploads_are_told_apart_by_type_and_key() {
        assert_eq!(montage_type("image/JPEG"), Some(("jpg", Kind::Image)));
        assert_eq!(montage_type("audio/wav; x=1"), Some(("wav", Kind::Audio)));
        assert_eq!(montage_type("video/mp4"), None);
        assert_eq!(kind_of_key("videos/1/2/abc.webp"), Some(Kind::Image));
        assert_eq!(kind_of_key("videos/1/2/abc.mp3"), Some(Kind::Audio));
        assert_eq!(kind_of_key("videos/1/2/abc.mp4"), None);
    }

    #[test]
    fn probed_media_is_checked_for_its_kind() {
        let image = MediaInfo {
            video_codec: "png".into(),
            display_width: 800,
            display_height: 600,
            ..MediaInfo::default()
        };
        assert!(check_probed(Kind::Image, &image).is_ok());
        let video = MediaInfo {
            video_codec: "h264".into(),
            ..image.clone()
        };
        assert!(
            check_probed(Kind::Image, &video)
                .expect_err("refused")
                .contains("h264")
        );
        let long = MediaInfo {
            has_audio: true,
            duration_seconds: 601.0,
            ..MediaInfo::default()
        };
        let e = check_probed(Kind::Audio, &long).expect_err("refused");
        assert!(e.contains("601.0 s") && e.contains("10 min"), "{e}");
        assert!(check_probed(Kind::Audio, &MediaInfo::default()).is_err());
    }
}
