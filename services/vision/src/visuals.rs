//! A topic short's pictures (seeds 002, 003): each scene's picture from
//! the configured image provider (seed 002's prompt style, 1024x1792,
//! checked before it is kept), or from the user's own media (the task's
//! clips and the library of clips in their other tasks), the one whose
//! analysed tags and description best match the scene's words, or, with
//! neither, a slide of the scene drawn by render.

use std::collections::HashMap;

use scout_proto::scout::common::v1::SpeechRate;
use scout_proto::scout::render::v1::{Scene, SceneKind};
use scout_proto::scout::tasks::v1::{LibraryClip, Paragraph, ScenePicture, TopicInput};
use scout_proto::scout::vision::v1::ShotSummary;

use crate::topic::{self, Part, TopicScene};

/// Seed 002's style words, added to every picture prompt.
pub const STYLE: &str = "cinematic, professional, 9:16 vertical, no text";

/// The prompt the image provider gets for a scene.
pub fn prompt(scene: &TopicScene, topic: &str) -> String {
    format!("{}。主题：{}。{STYLE}", scene.visual.trim(), topic.trim())
}

/// Where a scene's picture is kept, without its extension: addressed by
/// what makes it (the prompt, model and size), so a retry or a rewrite
/// that asks for the same picture finds the one already made.
pub fn picture_key(task_id: i64, prompt: &str, model: &str, size: &str) -> String {
    let hash = [prompt, model, size]
        .iter()
        .flat_map(|s| s.bytes().chain([0u8]))
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
    format!("frames/{task_id}/topic-{hash:016x}")
}

/// A picture's format and size from its first bytes (PNG or JPEG).
pub fn size_of(bytes: &[u8]) -> Option<(&'static str, u32, u32)> {
    if bytes.len() >= 24 && bytes.starts_with(b"\x89PNG\r\n\x1a\n") && &bytes[12..16] == b"IHDR" {
        let w = u32::from_be_bytes([bytes[16], bytes[17], bytes[18], bytes[19]]);
        let h = u32::from_be_bytes([bytes[20], bytes[21], bytes[22], bytes[23]]);
        return Some(("png", w, h));
    }
    if bytes.starts_with(&[0xff, 0xd8]) {
        let mut i = 2;
        while i + 9 < bytes.len() {
            if bytes[i] != 0xff {
                return None;
            }
            let marker = bytes[i + 1];
            let len = usize::from(u16::from_be_bytes([bytes[i + 2], bytes[i + 3]]));
            // SOF0-SOF15 but DHT (C4), JPG (C8) and DAC (CC).
            if (0xc0..=0xcf).contains(&marker) && ![0xc4, 0xc8, 0xcc].contains(&marker) {
                let h = u32::from(u16::from_be_bytes([bytes[i + 5], bytes[i + 6]]));
                let w = u32::from(u16::from_be_bytes([bytes[i + 7], bytes[i + 8]]));
                return Some(("jpg", w, h));
            }
            i += 2 + len;
        }
    }
    None
}

/// Checks a generated picture: a PNG or JPEG, portrait (taller than 4:3),
/// at least 512 pixels wide. Its extension and size; the reason when not.
pub fn check(bytes: &[u8], asked: &str) -> Result<(&'static str, u32, u32), String> {
    let (ext, w, h) = size_of(bytes).ok_or_else(|| {
        format!(
            "the image provider answered {} bytes that are not a PNG or JPEG picture",
            bytes.len()
        )
    })?;
    if w < 512 || f64::from(h) < f64::from(w) * 4.0 / 3.0 {
        return Err(format!(
            "the image provider answered a {w}x{h} picture; a vertical video needs a portrait one (asked {asked})"
        ));
    }
    Ok((ext, w, h))
}

/// How well `shot` matches `scene`: its tags and description against the
/// scene's words and keywords, plus a little for quality. Used shots score
/// less, so a library of several clips spreads over the scenes.
pub fn score(scene: &TopicScene, shot: &ShotSummary, uses: usize) -> f64 {
    let words = format!(
        "{} {} {}",
        scene.text,
        scene.visual,
        scene.keywords.join(" ")
    );
    let mut s = 0.0;
    for tag in &shot.tags {
        let tag = tag.trim();
        if tag.is_empty() {
            continue;
        }
        if scene.keywords.iter().any(|k| k.trim() == tag) {
            s += 3.0;
        } else if words.contains(tag) {
            s += 2.0;
        }
    }
    for k in &scene.keywords {
        let k = k.trim();
        if k.chars().count() >= 2 && shot.description.contains(k) {
            s += 1.0;
        }
    }
    s += f64::from(shot.quality_score.clamp(0, 100)) / 100.0;
    if shot.is_recommended {
        s += 0.5;
    }
    s - 2.5 * uses as f64
}

/// What a clip of the task's own is worth over an equal one of the
/// library: the user uploaded it for this short.
pub const OWN_CLIP: f64 = 1.0;

/// The clip a scene shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pick {
    /// The clip's id.
    pub id: i64,
    /// From the library (another of the user's tasks): the task copies it
    /// in when the script is stored.
    pub borrowed: bool,
}

/// Each scene's clip from the task's own `shots` and the user's `library`
/// (best score first, own clips ahead by [`OWN_CLIP`], ties to the one
/// listed first); `None` for every scene when there are neither.
pub fn rank(
    scenes: &[TopicScene],
    shots: &[ShotSummary],
    library: &[ShotSummary],
) -> Vec<Option<Pick>> {
    let candidates: Vec<(&ShotSummary, bool)> = shots
        .iter()
        .map(|s| (s, false))
        .chain(library.iter().map(|s| (s, true)))
        .collect();
    let mut uses: HashMap<i64, usize> = HashMap::new();
    scenes
        .iter()
        .map(|scene| {
            let best = candidates
                .iter()
                .map(|&(s, borrowed)| {
                    let own = if borrowed { 0.0 } else { OWN_CLIP };
                    let v = score(scene, s, uses.get(&s.id).copied().unwrap_or(0)) + own;
                    (s, borrowed, v)
                })
                .fold(None::<(&ShotSummary, bool, f64)>, |best, c| match best {
                    Some((_, _, b)) if b >= c.2 => best,
                    _ => Some(c),
                })
                .map(|(s, borrowed, _)| Pick { id: s.id, borrowed });
            if let Some(p) = best {
                *uses.entry(p.id).or_default() += 1;
            }
            best
        })
        .collect()
}

/// A picture made for a scene and stored.
#[derive(Debug, Clone)]
pub struct Picture {
    /// Object key.
    pub key: String,
    /// Size.
    pub width: u32,
    /// Size.
    pub height: u32,
}

/// A topic short's scenes as the script tasks stores: the paragraphs, the
/// pictures tasks keeps as images of the task, and the library clips it
/// copies in.
#[derive(Debug, Default)]
pub struct Shown {
    /// One per scene, in order (`para_1`…).
    pub paragraphs: Vec<Paragraph>,
    /// The generated pictures, each for its paragraph.
    pub pictures: Vec<ScenePicture>,
    /// The library clips paragraphs show.
    pub library_clips: Vec<LibraryClip>,
}

impl Shown {
    /// Each scene as a paragraph sized at the voice's `rate`, showing its
    /// generated picture (`pictures`, made by `model`), else its clip
    /// (`ranked`: the task's own, or one of the library), else its slide.
    pub fn new(
        scenes: &[TopicScene],
        input: &TopicInput,
        rate: &SpeechRate,
        pictures: &[Option<Picture>],
        ranked: &[Option<Pick>],
        model: &str,
    ) -> Self {
        let mut shown = Self::default();
        let mut point = 0;
        for (i, scene) in scenes.iter().enumerate() {
            let id = format!("para_{}", i + 1);
            let mut p = Paragraph {
                id: id.clone(),
                section: scene.part.label().to_string(),
                text: scene.text.clone(),
                estimated_duration: topic::seconds_of(&scene.text, rate),
                ..Paragraph::default()
            };
            match (
                pictures.get(i).and_then(Option::as_ref),
                ranked.get(i).copied().flatten(),
            ) {
                (Some(picture), _) => shown.pictures.push(ScenePicture {
                    paragraph_id: id,
                    key: picture.key.clone(),
                    width: picture.width as i32,
                    height: picture.height as i32,
                    provider: format!("images:{model}"),
                }),
                (None, Some(pick)) if pick.borrowed => shown.library_clips.push(LibraryClip {
                    paragraph_id: id,
                    video_id: pick.id,
                }),
                (None, Some(pick)) => p.shot_id = pick.id,
                (None, None) => p.scene = Some(slide(scene, &input.topic, &input.niche, point)),
            }
            if scene.part == Part::Content {
                point += 1;
            }
            shown.paragraphs.push(p);
        }
        shown
    }

    /// The provider note's pictures when none were generated: the task's
    /// `own` clips and the library clips shown, or slides.
    pub fn footage_note(&self, own: usize) -> String {
        let borrowed: std::collections::HashSet<i64> =
            self.library_clips.iter().map(|c| c.video_id).collect();
        match (own, borrowed.len()) {
            (0, 0) => "images=slides".to_string(),
            (own, 0) => format!("images=library ({own} clips)"),
            (own, b) => format!(
                "images=library ({} clips, {b} from your earlier tasks)",
                own + b
            ),
        }
    }
}

/// The provider note's pictures when `model` made them, `refused` of `n`
/// refused for good.
pub fn generated_note(model: &str, refused: usize, n: usize) -> String {
    if refused == 0 {
        format!("images=remote:{model}")
    } else {
        format!("images=remote:{model} ({refused} of {n} refused: clips or slides instead)")
    }
}

/// The first sentence of `text` without a leading ordinal (第一，最后，),
/// at most `max` characters: what a slide shows of its narration.
fn headline(text: &str, max: usize) -> String {
    let sentence = text
        .split(['。', '？', '！', '?', '!'])
        .find(|s| !s.trim().is_empty())
        .unwrap_or(text)
        .trim();
    let sentence = match sentence.split_once(['，', ',']) {
        Some((ordinal, rest)) if ordinal.chars().count() <= 3 && !rest.trim().is_empty() => {
            rest.trim()
        }
        _ => sentence,
    };
    sentence.chars().take(max).collect()
}

/// The slide shown for a scene when there is no picture or clip for it.
pub fn slide(scene: &TopicScene, topic: &str, niche: &str, point: usize) -> Scene {
    let (kind, title, items) = match scene.part {
        Part::Hook => (
            SceneKind::Title,
            topic.trim().to_string(),
            if niche.trim().is_empty() {
                vec![headline(&scene.text, 40)]
            } else {
                vec![niche.trim().to_string()]
            },
        ),
        Part::Value => (
            SceneKind::List,
            "看完你将收获".to_string(),
            vec![headline(&scene.text, 60)],
        ),
        Part::Content => (
            SceneKind::List,
            format!("要点 {}", point + 1),
            vec![headline(&scene.text, 60)],
        ),
        Part::Cta => (
            SceneKind::Outro,
            "点赞 · 关注 · 收藏".to_string(),
            vec![headline(&scene.text, 40)],
        ),
    };
    Scene {
        kind: kind as i32,
        title,
        items,
        ..Scene::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scene(part: Part, text: &str, keywords: &[&str]) -> TopicScene {
        TopicScene {
            part,
            text: text.into(),
            visual: String::new(),
            keywords: keywords.iter().map(|k| k.to_string()).collect(),
        }
    }

    fn shot(id: i64, tags: &[&str], quality: i32) -> ShotSummary {
        ShotSummary {
            id,
            tags: tags.iter().map(|t| t.to_string()).collect(),
            quality_score: quality,
            ..ShotSummary::default()
        }
    }

    #[test]
    fn each_scene_takes_the_clip_whose_tags_match_its_words() {
        let shots = [
            shot(1, &["人物", "明亮"], 70),
            shot(2, &["美食", "暖色调"], 60),
            shot(3, &["环境", "素雅"], 90),
        ];
        let scenes = [
            scene(Part::Hook, "你好", &["人物"]),
            scene(Part::Value, "店里环境很好", &[]),
            scene(Part::Content, "这道美食", &["美食"]),
        ];
        let own = |id| {
            Some(Pick {
                id,
                borrowed: false,
            })
        };
        assert_eq!(rank(&scenes, &shots, &[]), vec![own(1), own(3), own(2)]);
        assert_eq!(rank(&scenes, &[], &[]), vec![None, None, None]);
    }

    #[test]
    fn the_library_fills_the_scenes_the_tasks_own_clips_do_not_match() {
        let shots = [shot(1, &["人物"], 60)];
        let library = [shot(7, &["美食", "暖色调"], 80), shot(8, &["人物"], 95)];
        let scenes = [
            scene(Part::Hook, "你好", &["人物"]),
            scene(Part::Content, "这道美食", &["美食"]),
        ];
        // The own clip wins the scene it matches as well as a library one;
        // the library's food clip takes the food scene.
        assert_eq!(
            rank(&scenes, &shots, &library),
            vec![
                Some(Pick {
                    id: 1,
                    borrowed: false
                }),
                Some(Pick {
                    id: 7,
                    borrowed: true
                })
            ]
        );
        // With no clips of its own, the library alone.
        assert_eq!(
            rank(&scenes, &[], &library),
            vec![
                Some(Pick {
                    id: 8,
                    borrowed: true
                }),
                Some(Pick {
                    id: 7,
                    borrowed: true
                })
            ]
        );
    }

    #[test]
    fn a_used_clip_gives_way_to_an_unused_one_of_equal_match() {
        let shots = [shot(1, &["人物"], 80), shot(2, &["人物"], 70)];
        let scenes = [
            scene(Part::Hook, "", &["人物"]),
            scene(Part::Cta, "", &["人物"]),
        ];
        let own = |id| {
            Some(Pick {
                id,
                borrowed: false,
            })
        };
        assert_eq!(rank(&scenes, &shots, &[]), vec![own(1), own(2)]);
    }

    #[test]
    fn each_scene_shows_its_picture_else_its_clip_else_its_slide() {
        let scenes = [
            scene(Part::Hook, "在家做拿铁，你做对了吗？", &[]),
            scene(Part::Content, "第一，奶要打细。", &[]),
            scene(Part::Content, "第二，抓住细节。", &[]),
            scene(Part::Cta, "点个关注。", &[]),
        ];
        let input = TopicInput {
            topic: "在家做拿铁".into(),
            ..TopicInput::default()
        };
        let picture = Picture {
            key: "frames/9/topic-1.png".into(),
            width: 1024,
            height: 1792,
        };
        let shown = Shown::new(
            &scenes,
            &input,
            &scout_common::speech::usable(None),
            &[Some(picture), None, None, None],
            &[
                None,
                Some(Pick {
                    id: 4,
                    borrowed: false,
                }),
                Some(Pick {
                    id: 70,
                    borrowed: true,
                }),
                None,
            ],
            "dall-e-3",
        );
        let ids: Vec<&str> = shown.paragraphs.iter().map(|p| p.id.as_str()).collect();
        assert_eq!(ids, ["para_1", "para_2", "para_3", "para_4"]);
        assert_eq!(shown.pictures.len(), 1);
        assert_eq!(
            (
                shown.pictures[0].paragraph_id.as_str(),
                shown.pictures[0].provider.as_str()
            ),
            ("para_1", "images:dall-e-3")
        );
        assert_eq!(shown.paragraphs[1].shot_id, 4);
        assert_eq!(
            shown.paragraphs[2].shot_id, 0,
            "tasks points it at the copy"
        );
        assert_eq!(
            shown.library_clips,
            vec![LibraryClip {
                paragraph_id: "para_3".into(),
                video_id: 70
            }]
        );
        let outro = shown.paragraphs[3].scene.as_ref().expect("a slide");
        assert_eq!(outro.kind, SceneKind::Outro as i32);
        assert!(shown.paragraphs.iter().all(|p| p.estimated_duration > 0.0));
        assert_eq!(
            shown.footage_note(1),
            "images=library (2 clips, 1 from your earlier tasks)"
        );
        assert_eq!(Shown::default().footage_note(0), "images=slides");
        assert_eq!(Shown::default().footage_note(3), "images=library (3 clips)");
        assert_eq!(
            generated_note("dall-e-3", 1, 6),
            "images=remote:dall-e-3 (1 of 6 refused: clips or slides instead)"
        );
    }

    #[test]
    fn a_slide_shows_its_scenes_point() {
        let s = slide(
            &scene(Part::Content, "第二，抓住细节。顺序和时间要控制好。", &[]),
            "在家做拿铁",
            "",
            1,
        );
        assert_eq!(
            (s.title.as_str(), s.items.as_slice()),
            ("要点 2", &["抓住细节".to_string()][..])
        );
        let s = slide(
            &scene(Part::Hook, "在家做拿铁，你做对了吗？", &[]),
            "在家做拿铁",
            "咖啡爱好者",
            0,
        );
        assert_eq!(
            (s.title.as_str(), s.items.as_slice()),
            ("在家做拿铁", &["咖啡爱好者".to_string()][..])
        );
    }

    #[test]
    fn pictures_are_sized_from_their_headers_and_checked() {
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
        png.extend_from_slice(&1024u32.to_be_bytes());
        png.extend_from_slice(&1792u32.to_be_bytes());
        png.extend_from_slice(&[8, 2, 0, 0, 0]);
        assert_eq!(size_of(&png), Some(("png", 1024, 1792)));
        assert!(check(&png, "1024x1792").is_ok());
        let mut square = png.clone();
        square[20..24].copy_from_slice(&1024u32.to_be_bytes());
        assert!(
            check(&square, "1024x1792")
                .err()
                .unwrap_or_default()
                .contains("1024x1024")
        );
        assert!(
            check(b"<html>no</html>", "1024x1792")
                .err()
                .unwrap_or_default()
                .contains("not a PNG or JPEG")
        );
    }
}
