//! A document explainer's narration by the text model (seed 001): tasks
//! reads the document into scenes, each with a template narration; when a
//! text model is configured, this asks it to say each slide as a teacher
//! would (in the document's language, spoken, at most 300 characters, one
//! narration per scene, the slides unchanged). An answer of the wrong
//! shape gets the model's one repair turn; then the templates stand in
//! when falling back is allowed.

use scout_common::chat::{self, ChatClient, ChatError};
use scout_proto::scout::jobs::v1::DocumentScene;
use scout_proto::scout::render::v1::{Scene, SceneKind};
use serde_json::Value;

/// Longest narration of one scene, characters (seed 001's paragraph).
pub const MAX_CHARS: usize = 300;
/// Most code characters of a slide shown to the model.
const CODE_CHARS: usize = 600;

/// What a slide shows, in a line or a few, for the prompt.
fn describe(scene: &Scene) -> String {
    let kind = SceneKind::try_from(scene.kind)
        .ok()
        .map(|k| {
            k.as_str_name()
                .trim_start_matches("SCENE_KIND_")
                .to_ascii_lowercase()
        })
        .unwrap_or_else(|| "slide".into());
    let mut out = format!("[{kind}] {}", scene.title.trim());
    for item in &scene.items {
        out.push_str(&format!("\n  - {}", item.trim()));
    }
    if !scene.code.trim().is_empty() {
        let code: String = scene.code.chars().take(CODE_CHARS).collect();
        out.push_str(&format!("\n  ```{}\n{}\n  ```", scene.language, code));
    }
    if !scene.author.trim().is_empty() {
        out.push_str(&format!("\n  — {}", scene.author.trim()));
    }
    if SceneKind::try_from(scene.kind) == Ok(SceneKind::Quiz) {
        out.push_str(&format!("\n  (answer: option {})", scene.answer + 1));
    }
    out
}

/// The prompt: every slide with its draft narration.
pub fn prompt(scenes: &[DocumentScene]) -> String {
    let slides: Vec<String> = scenes
        .iter()
        .enumerate()
        .map(|(i, s)| {
            format!(
                "{}. {}\n   draft: {}",
                i + 1,
                describe(&s.scene.clone().unwrap_or_default()),
                s.narration.trim()
            )
        })
        .collect();
    format!(
        "You narrate an explainer video made from a document, one slide after another. \
         For each slide below, write what the narrator says while it is on screen: spoken, \
         clear and friendly, like a good teacher; in the same language as the slide; explain \
         rather than read the slide aloud; never more than {MAX_CHARS} characters; no \
         markdown, no emoji. Keep the quiz's answer for the slide that reveals it.\n\n\
         Slides ({n}):\n{slides}\n\n\
         Answer with JSON only: {{\"narrations\": [\"...\", ...]}} with exactly {n} strings, \
         in the slides' order.",
        n = scenes.len(),
        slides = slides.join("\n"),
    )
}

/// Checks an answer: exactly one narration per scene, each 1-300
/// characters.
pub fn check(v: &Value, scenes: usize) -> Result<Vec<String>, String> {
    let list = v
        .get("narrations")
        .and_then(Value::as_array)
        .ok_or("`narrations` must be an array of strings")?;
    if list.len() != scenes {
        return Err(format!(
            "`narrations` must hold {scenes} strings, one per slide, got {}",
            list.len()
        ));
    }
    list.iter()
        .enumerate()
        .map(|(i, n)| {
            let text = n
                .as_str()
                .map(str::trim)
                .ok_or_else(|| format!("narration {} must be a string", i + 1))?;
            let chars = text.chars().count();
            if chars == 0 {
                return Err(format!("narration {} is empty", i + 1));
            }
            if chars > MAX_CHARS {
                return Err(format!(
                    "narration {} has {chars} characters; at most {MAX_CHARS}",
                    i + 1
                ));
            }
            if text.chars().any(|c| c.is_control() && c != '\n') {
                return Err(format!("narration {} holds control characters", i + 1));
            }
            Ok(text.to_string())
        })
        .collect()
}

/// Each scene's narration from the model.
pub async fn write(
    client: &ChatClient,
    scenes: &[DocumentScene],
) -> Result<Vec<String>, ChatError> {
    let messages = vec![
        chat::system("You write narration for explainer videos. Answer with JSON only."),
        chat::user(&prompt(scenes)),
    ];
    client.json(messages, |v| check(v, scenes.len())).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn scene(kind: SceneKind, title: &str, narration: &str) -> DocumentScene {
        DocumentScene {
            paragraph_id: "para_1".into(),
            scene: Some(Scene {
                kind: kind as i32,
                title: title.into(),
                items: vec!["所有权".into(), "借用".into()],
                ..Scene::default()
            }),
            narration: narration.into(),
            ..DocumentScene::default()
        }
    }

    #[test]
    fn the_prompt_shows_every_slide_with_its_draft() {
        let p = prompt(&[
            scene(SceneKind::Title, "Rust 入门", "今天讲 Rust。"),
            scene(SceneKind::List, "为什么选 Rust", "有三个理由。"),
        ]);
        assert!(p.contains("1. [title] Rust 入门"), "{p}");
        assert!(
            p.contains("2. [list] 为什么选 Rust\n  - 所有权\n  - 借用"),
            "{p}"
        );
        assert!(p.contains("draft: 有三个理由。"), "{p}");
        assert!(p.contains("exactly 2 strings"), "{p}");
    }

    #[test]
    fn an_answer_must_narrate_every_slide_within_the_limit() {
        assert_eq!(
            check(&json!({"narrations": ["一", "二"]}), 2).expect("good"),
            ["一", "二"]
        );
        assert!(
            check(&json!({"narrations": ["一"]}), 2)
                .expect_err("short")
                .contains("must hold 2")
        );
        assert!(
            check(&json!({"narrations": ["一", ""]}), 2)
                .expect_err("empty")
                .contains("narration 2 is empty")
        );
        let long = "好".repeat(MAX_CHARS + 1);
        assert!(
            check(&json!({"narrations": ["一", long]}), 2)
                .expect_err("long")
                .contains("at most 300")
        );
        assert!(check(&json!({"text": "x"}), 1).is_err());
    }
}
