//! The remote providers: an OpenAI-compatible multimodal model analyses
//! frames (seed 000 §4.4's Qwen-VL prompt) and a chat model writes the
//! script (seed 000's Doubao prompt). Answers are validated strictly —
//! categories from the seed's four, scores 0-100, at most 5 tags, every
//! paragraph over a clip of this task — and a rejected answer gets one
//! repair turn (see [`scout_common::chat`]).

use std::collections::HashMap;

use scout_common::chat::{self, ChatClient, ChatError};
use scout_proto::scout::common::v1::{QualityFactors, ShopType, ShotCategory, VideoStyle};
use scout_proto::scout::vision::v1::DraftParagraph;
use serde_json::Value;

use crate::analyzer::{self, ClipResult};
use crate::writer::Brief;

/// Seed 000 §4.4's frame prompt.
pub const FRAME_PROMPT: &str = r#"分析这个探店视频的画面帧。请返回以下JSON格式：
{
  "category": "food|person|environment|other",
  "tags": ["标签1", "标签2", ...],  // 最多5个
  "description": "一句话描述画面内容",
  "quality_score": 85,  // 0-100，综合清晰度、构图、光线、稳定性
  "quality_factors": {
    "clarity": 90,
    "composition": 80,
    "lighting": 85,
    "stability": 85
  }
}
只输出JSON。"#;

/// One frame as the model saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct FrameView {
    /// Category.
    pub category: ShotCategory,
    /// Up to 5 tags.
    pub tags: Vec<String>,
    /// One sentence.
    pub description: String,
    /// Overall score.
    pub quality: i32,
    /// The four factors.
    pub factors: QualityFactors,
}

/// Checks one frame answer against the seed's shape.
pub fn check_frame(v: &Value) -> Result<FrameView, String> {
    let category = match chat::str_field(v, "category", 20)?.as_str() {
        "food" => ShotCategory::Food,
        "person" => ShotCategory::Person,
        "environment" => ShotCategory::Environment,
        "other" => ShotCategory::Other,
        other => {
            return Err(format!(
                "`category` must be one of food, person, environment, other; got {other:?}"
            ));
        }
    };
    let tags = chat::str_array(v, "tags", 12)?;
    if tags.len() > 5 {
        return Err(format!("`tags` may hold at most 5, got {}", tags.len()));
    }
    let description = chat::str_field(v, "description", 100)?;
    let quality = chat::score_field(v, "quality_score")?;
    let f = v
        .get("quality_factors")
        .filter(|f| f.is_object())
        .ok_or("`quality_factors` must be an object")?;
    let factors = QualityFactors {
        clarity: chat::score_field(f, "clarity")?,
        composition: chat::score_field(f, "composition")?,
        lighting: chat::score_field(f, "lighting")?,
        stability: chat::score_field(f, "stability")?,
    };
    Ok(FrameView {
        category,
        tags,
        description,
        quality,
        factors,
    })
}

/// Up to `n` evenly spaced items of `all` (first and last included).
pub fn spaced<T>(all: &[T], n: usize) -> Vec<&T> {
    if all.len() <= n {
        return all.iter().collect();
    }
    if n <= 1 {
        return all.get(all.len() / 2).into_iter().collect();
    }
    (0..n)
        .filter_map(|i| all.get(i * (all.len() - 1) / (n - 1)))
        .collect()
}

/// Aggregates the model's frames into one clip result. A still frame
/// cannot show shake, so stability stays the local measurement.
pub fn aggregate(frames: &[FrameView], local: &ClipResult) -> ClipResult {
    if frames.is_empty() {
        return local.clone();
    }
    let n = frames.len() as f64;
    let mean = |f: &dyn Fn(&QualityFactors) -> i32| {
        (frames.iter().map(|v| f64::from(f(&v.factors))).sum::<f64>() / n).round() as i32
    };
    let factors = QualityFactors {
        clarity: mean(&|f| f.clarity),
        composition: mean(&|f| f.composition),
        lighting: mean(&|f| f.lighting),
        stability: local.factors.stability,
    };
    let mut votes: HashMap<i32, usize> = HashMap::new();
    for f in frames {
        *votes.entry(f.category as i32).or_default() += 1;
    }
    let category = frames
        .iter()
        .map(|f| f.category)
        .max_by_key(|c| votes.get(&(*c as i32)).copied().unwrap_or(0))
        .unwrap_or(local.category);
    let mut counts: Vec<(String, usize, usize)> = Vec::new();
    for (i, t) in frames.iter().flat_map(|f| f.tags.iter()).enumerate() {
        match counts.iter_mut().find(|(s, _, _)| s == t) {
            Some(c) => c.1 += 1,
            None => counts.push((t.clone(), 1, i)),
        }
    }
    counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.2.cmp(&b.2)));
    let tags = counts.into_iter().take(5).map(|(t, _, _)| t).collect();
    let description = frames
        .iter()
        .filter(|f| f.category == category)
        .max_by_key(|f| f.quality)
        .map(|f| f.description.clone())
        .unwrap_or_else(|| local.description.clone());
    ClipResult {
        category,
        tags,
        description,
        quality: analyzer::quality(&factors),
        factors,
    }
}

/// Analyses one clip's frames (JPEG bytes, in time order) with the model.
pub async fn analyze_clip(
    client: &ChatClient,
    jpegs: &[&[u8]],
    local: &ClipResult,
) -> Result<ClipResult, ChatError> {
    let calls = jpegs
        .iter()
        .map(|j| client.json(vec![chat::user_with_jpegs(FRAME_PROMPT, &[j])], check_frame));
    let frames = futures::future::join_all(calls)
        .await
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?;
    Ok(aggregate(&frames, local))
}

fn shop_type_name(t: ShopType) -> &'static str {
    match t {
        ShopType::Food => "餐饮美食",
        ShopType::Beauty => "美容美发",
        ShopType::Entertainment => "休闲娱乐",
        _ => "其他",
    }
}

/// The style as the seed names it.
pub fn style_name(s: VideoStyle) -> &'static str {
    match s {
        VideoStyle::Review => "真实测评型",
        VideoStyle::Vlog => "探店vlog型",
        _ => "种草安利型",
    }
}

fn category_name(c: i32) -> &'static str {
    match ShotCategory::try_from(c).unwrap_or(ShotCategory::Other) {
        ShotCategory::Food => "food",
        ShotCategory::Person => "person",
        ShotCategory::Environment => "environment",
        _ => "other",
    }
}

/// Seed 000's script prompt, filled in.
pub fn script_prompt(brief: &Brief<'_>) -> String {
    let shots: Vec<String> = brief
        .shots
        .iter()
        .map(|s| {
            format!(
                "- shot_id={}：{}，{:.1}秒，质量{}分{}，标签：{}，画面：{}",
                s.id,
                category_name(s.category),
                s.duration_seconds,
                s.quality_score,
                if s.is_recommended { "（推荐）" } else { "" },
                s.tags.join("、"),
                s.description
            )
        })
        .collect();
    let style = style_name(brief.style);
    format!(
        "你是一位专业的探店视频文案撰写专家。请根据以下信息生成探店口播脚本：\n\n\
         店铺信息：\n- 名称：{name}\n- 类型：{kind}\n- 特色/优惠：{promo}\n\n\
         视频风格：{style}（种草安利型/真实测评型/探店vlog型）\n\n\
         可用镜头：\n{shots}\n\n\
         要求：\n1. 生成5-7个段落\n2. 每段标注对应使用的镜头（shot_id 只能取上面列出的数字）\n\
         3. 包含：开场hook、环境介绍、重点内容、优惠信息、结尾互动\n4. 总时长控制在60秒左右（约{chars}字）\n\
         5. 语言风格符合{style}调性\n6. 优惠信息原样使用，每段不超过120字\n\n\
         输出JSON格式：\n{{\n  \"paragraphs\": [\n    {{\n      \"section\": \"开场\",\n      \"shot_id\": 101,\n      \
         \"text\": \"...\",\n      \"estimated_duration\": 8\n    }}\n  ],\n  \"total_duration\": 60\n}}",
        name = brief.name,
        kind = shop_type_name(brief.shop_type),
        promo = if brief.promotion.is_empty() {
            "无"
        } else {
            brief.promotion
        },
        shots = shots.join("\n"),
        chars = target_chars(brief, 6),
    )
}

/// How many CJK characters make about a minute of video at the brief's rate
/// in `paragraphs` paragraphs (their lead-ins and pauses left out).
fn target_chars(brief: &Brief<'_>, paragraphs: usize) -> f64 {
    let rate = scout_common::speech::usable(Some(&brief.rate));
    ((scout_common::speech::TARGET_SECONDS - paragraphs as f64 * rate.paragraph_seconds)
        * rate.cjk_chars_per_second)
        .max(60.0)
        .round()
}

/// Checks a script answer: 3-12 paragraphs (the prompt asks 5-7), each with
/// a section, a shot of this task and 1-300 characters of text. Durations
/// are recomputed from the text at the voice's rate.
pub fn check_script(v: &Value, brief: &Brief<'_>) -> Result<Vec<DraftParagraph>, String> {
    let paras = v
        .get("paragraphs")
        .and_then(Value::as_array)
        .ok_or("`paragraphs` must be an array")?;
    if !(3..=12).contains(&paras.len()) {
        return Err(format!(
            "`paragraphs` must hold 5-7 paragraphs, got {}",
            paras.len()
        ));
    }
    let ids: Vec<i64> = brief.shots.iter().map(|s| s.id).collect();
    paras
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let at = |e: String| format!("paragraph {}: {e}", i + 1);
            let section = chat::str_field(p, "section", 20).map_err(at)?;
            let shot_id = match p.get("shot_id") {
                Some(Value::Number(n)) => n.as_i64(),
                Some(Value::String(s)) => s.trim().parse::<i64>().ok(),
                _ => None,
            }
            .ok_or_else(|| at("`shot_id` must be one of the listed shot ids".into()))?;
            if !ids.contains(&shot_id) {
                return Err(at(format!(
                    "shot_id {shot_id} is not one of this task's shots {ids:?}"
                )));
            }
            let text = chat::str_field(p, "text", 300).map_err(at)?;
            Ok(DraftParagraph {
                section,
                shot_id,
                estimated_duration: scout_common::speech::paragraph_seconds(&text, &brief.rate),
                text,
            })
        })
        .collect()
}

/// Seconds of video a draft makes at the brief's rate.
fn draft_seconds(paragraphs: &[DraftParagraph]) -> f64 {
    paragraphs.iter().map(|p| p.estimated_duration).sum()
}

/// The follow-up turn when a script's length misses the target: how long
/// it came out, how many characters to write instead, what to keep.
pub fn resize_prompt(seconds: f64, chars: usize, paragraphs: usize, brief: &Brief<'_>) -> String {
    format!(
        "这版脚本按配音语速约{seconds:.0}秒（{chars}字），目标是60秒左右。请改写为总共约{target}字：         保持段落数、每段的section和shot_id不变，优惠信息原样保留，只调整文字长短。只输出同样格式的JSON。",
        target = target_chars(brief, paragraphs),
    )
}

/// Writes the script with the model. An answer whose length at the voice's
/// rate misses 60 ± 6 s is sent back once with the character count to aim
/// for; the answer closer to the target is kept (and a script past the
/// platform limit still gets the API's length warning).
pub async fn write_script(
    client: &ChatClient,
    brief: &Brief<'_>,
) -> Result<Vec<DraftParagraph>, ChatError> {
    use scout_common::speech::{TARGET_SECONDS, TOLERANCE_SECONDS};
    if brief.shots.is_empty() {
        return Err(ChatError::Invalid {
            model: client.model().to_string(),
            detail: "the task has no analysed shots to write over".into(),
        });
    }
    let mut messages = vec![
        chat::system("你是专业的探店短视频文案作者，只输出JSON。"),
        chat::user(&script_prompt(brief)),
    ];
    let first = client
        .json(messages.clone(), |v| check_script(v, brief))
        .await?;
    let seconds = draft_seconds(&first);
    if (seconds - TARGET_SECONDS).abs() <= TOLERANCE_SECONDS {
        return Ok(first);
    }
    let answer = serde_json::json!({
        "paragraphs": first
            .iter()
            .map(|p| serde_json::json!({"section": p.section, "shot_id": p.shot_id, "text": p.text}))
            .collect::<Vec<_>>(),
    });
    let chars = first.iter().map(|p| p.text.chars().count()).sum();
    messages.push(chat::assistant(&answer.to_string()));
    messages.push(chat::user(&resize_prompt(
        seconds,
        chars,
        first.len(),
        brief,
    )));
    match client.json(messages, |v| check_script(v, brief)).await {
        Ok(second)
            if (draft_seconds(&second) - TARGET_SECONDS).abs()
                < (seconds - TARGET_SECONDS).abs() =>
        {
            tracing::info!(
                model = client.model(),
                before_s = seconds,
                after_s = draft_seconds(&second),
                "the model resized its script"
            );
            Ok(second)
        }
        Ok(_) => Ok(first),
        // The first answer is a script; a failed resize does not lose it.
        Err(e) => {
            tracing::warn!(model = client.model(), error = %e, "the script was not resized");
            Ok(first)
        }
    }
}

#[cfg(test)]
mod tests {
    use scout_proto::scout::vision::v1::ShotSummary;
    use serde_json::json;

    use super::*;

    fn shots() -> Vec<ShotSummary> {
        [(101, ShotCategory::Food), (102, ShotCategory::Environment)]
            .into_iter()
            .map(|(id, c)| ShotSummary {
                id,
                category: c as i32,
                tags: vec!["美食".into()],
                description: "一锅红油".into(),
                quality_score: 80,
                is_recommended: true,
                duration_seconds: 5.0,
            })
            .collect()
    }

    fn brief(shots: &[ShotSummary]) -> Brief<'_> {
        Brief {
            name: "海底捞火锅(望京店)",
            shop_type: ShopType::Food,
            promotion: "人均89，招牌毛肚七上八下",
            style: VideoStyle::Recommend,
            shots,
            rate: scout_common::speech::default_rate(),
            seed: 1,
        }
    }

    #[test]
    fn frame_answers_are_checked_strictly() {
        let good = json!({"category": "food", "tags": ["火锅", "红油"], "description": "一锅翻滚的红油",
            "quality_score": 85, "quality_factors": {"clarity": 90, "composition": 80, "lighting": 85, "stability": 70}});
        let f = check_frame(&good).expect("good");
        assert_eq!(f.category, ShotCategory::Food);
        assert_eq!(f.factors.clarity, 90);
        for (field, value) in [
            ("category", json!("dessert")),
            ("tags", json!(["1", "2", "3", "4", "5", "6"])),
            ("quality_score", json!(130)),
            ("description", json!("")),
            ("quality_factors", json!({"clarity": 90})),
        ] {
            let mut bad = good.clone();
            bad[field] = value;
            let e = check_frame(&bad).expect_err(field);
            assert!(
                e.contains(field) || e.contains("clarity") || e.contains("composition"),
                "{e}"
            );
        }
    }

    #[test]
    fn the_model_describes_and_the_clip_keeps_its_measured_stability() {
        let local = ClipResult {
            category: ShotCategory::Other,
            tags: vec!["细节".into()],
            description: "local".into(),
            quality: 50,
            factors: QualityFactors {
                clarity: 50,
                composition: 50,
                lighting: 50,
                stability: 33,
            },
        };
        let frame = |c, q, d: &str| FrameView {
            category: c,
            tags: vec!["火锅".into(), d.into()],
            description: d.into(),
            quality: q,
            factors: QualityFactors {
                clarity: q,
                composition: 80,
                lighting: 60,
                stability: 99,
            },
        };
        let r = aggregate(
            &[
                frame(ShotCategory::Food, 90, "红油锅底"),
                frame(ShotCategory::Food, 70, "毛肚"),
                frame(ShotCategory::Person, 95, "食客"),
            ],
            &local,
        );
        assert_eq!(r.category, ShotCategory::Food);
        assert_eq!(r.description, "红油锅底");
        assert_eq!(r.tags[0], "火锅");
        assert_eq!(r.factors.stability, 33);
        assert_eq!(r.factors.clarity, 85);
        assert!((0..=100).contains(&r.quality));
    }

    #[test]
    fn scripts_may_only_point_at_this_tasks_shots() {
        let s = shots();
        let b = brief(&s);
        let para = |id: Value| json!({"section": "开场", "shot_id": id, "text": "家人们！今天带你们来海底捞", "estimated_duration": 99});
        let good = json!({"paragraphs": [para(json!(101)), para(json!("102")), para(json!(101)), para(json!(102)), para(json!(101))]});
        let p = check_script(&good, &b).expect("good");
        assert_eq!(p.len(), 5);
        assert_eq!(p[1].shot_id, 102);
        // Duration from the text at 5 chars/s, not the model's 99.
        assert!(p[0].estimated_duration < 5.0, "{}", p[0].estimated_duration);
        let bad = json!({"paragraphs": [para(json!(101)), para(json!(999)), para(json!(101))]});
        let e = check_script(&bad, &b).expect_err("foreign shot");
        assert!(e.contains("999") && e.contains("101"), "{e}");
        assert!(check_script(&json!({"paragraphs": [para(json!(101))]}), &b).is_err());
        assert!(check_script(&json!({"paras": []}), &b).is_err());
        let prompt = script_prompt(&b);
        assert!(prompt.contains("shot_id=101") && prompt.contains("人均89，招牌毛肚七上八下"));
        assert!(prompt.contains("种草安利型"));
    }

    #[test]
    fn spacing_picks_first_and_last() {
        let v: Vec<i32> = (0..10).collect();
        assert_eq!(spaced(&v, 3), vec![&0, &4, &9]);
        assert_eq!(spaced(&v, 20).len(), 10);
        assert_eq!(spaced(&v, 1), vec![&5]);
    }
}
