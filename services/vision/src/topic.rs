//! The topic short's script (seeds 002, 003): a topic, an optional niche
//! and a length of 15-90 s → hook, value, content points and a call to
//! action at seed 002's time marks (at 60 s: hook 0-3 s, value 3-10 s,
//! content 10-50 s, call to action 50-60 s; other lengths in proportion),
//! each scene with what it shows (a picture prompt) and the words its
//! footage should match (the library's analysed tags). Written by the
//! configured text model, or by the templates here, each scene sized to
//! its slot at the voice's measured rate.

use scout_common::chat::{self, ChatClient, ChatError};
use scout_common::speech;
use scout_proto::scout::common::v1::SpeechRate;
use serde_json::{Value, json};

/// Shortest and longest topic short, seconds (seed 002).
pub const SECONDS: (f64, f64) = (15.0, 90.0);
/// The length when none is asked for.
pub const DEFAULT_SECONDS: f64 = 60.0;
/// The pause render leaves after each paragraph (its narrated timeline).
const GAP_SECONDS: f64 = 0.5;

/// A part of seed 002's structure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Hook,
    Value,
    Content,
    Cta,
}

impl Part {
    /// The section label the script editor shows.
    pub fn label(self) -> &'static str {
        match self {
            Part::Hook => "钩子",
            Part::Value => "价值",
            Part::Content => "内容",
            Part::Cta => "行动号召",
        }
    }

    fn parse(s: &str) -> Option<Part> {
        match s.trim().to_ascii_lowercase().as_str() {
            "hook" | "钩子" => Some(Part::Hook),
            "value" | "价值" => Some(Part::Value),
            "content" | "内容" => Some(Part::Content),
            "cta" | "行动号召" => Some(Part::Cta),
            _ => None,
        }
    }
}

/// One slot of the structure: its part and where it sits in the video.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Slot {
    /// Which part.
    pub part: Part,
    /// Start, seconds.
    pub start: f64,
    /// End, seconds.
    pub end: f64,
}

/// Content points a short of `seconds` makes (one per 15 s of content
/// time, two to four).
fn content_points(seconds: f64) -> usize {
    ((seconds * 40.0 / 60.0 / 13.0).round() as usize).clamp(2, 4)
}

/// The shortest slot: a spoken line needs its lead-in, a few words and
/// the pause after it.
pub const MIN_SLOT: f64 = 2.5;

/// Seed 002's time marks for a short of `seconds`: the hook, the value,
/// the content points (the content time shared evenly) and the call to
/// action, in order, back to back. A part the proportions leave shorter
/// than [`MIN_SLOT`] (the hook and value of a short under 50 s) gets that
/// much, taken from the content points.
pub fn slots(seconds: f64) -> Vec<Slot> {
    let t = seconds.clamp(SECONDS.0, SECONDS.1);
    let hook = (t * 3.0 / 60.0).max(MIN_SLOT);
    let value = (t * 7.0 / 60.0).max(MIN_SLOT);
    let cta = (t * 10.0 / 60.0).max(MIN_SLOT);
    let points = content_points(t);
    let point = (t - hook - value - cta) / points as f64;
    let mut lengths = vec![(Part::Hook, hook), (Part::Value, value)];
    lengths.extend(std::iter::repeat_n((Part::Content, point), points));
    lengths.push((Part::Cta, cta));
    let mut at = 0.0;
    lengths
        .into_iter()
        .map(|(part, length)| {
            let slot = Slot {
                part,
                start: at,
                end: at + length,
            };
            at += length;
            slot
        })
        .collect()
}

/// What the writer needs.
#[derive(Debug, Clone)]
pub struct TopicBrief<'a> {
    /// What the short is about.
    pub topic: &'a str,
    /// Its audience or niche (may be empty).
    pub niche: &'a str,
    /// Length, seconds (15-90).
    pub seconds: f64,
    /// How the voice speaks.
    pub rate: SpeechRate,
    /// Variation seed (regenerations differ).
    pub seed: u64,
}

/// One written scene.
#[derive(Debug, Clone, PartialEq)]
pub struct TopicScene {
    /// Which part of the structure.
    pub part: Part,
    /// The narration.
    pub text: String,
    /// What the picture shows (a prompt for the image provider).
    pub visual: String,
    /// Words the footage should match.
    pub keywords: Vec<String>,
}

/// Characters of CJK speech that fill a slot of `seconds` at `rate` (its
/// lead-in and the pause after it left out); at least 4.
pub fn chars_for(seconds: f64, rate: &SpeechRate) -> usize {
    let rate = speech::usable(Some(rate));
    ((seconds - rate.paragraph_seconds - GAP_SECONDS) * rate.cjk_chars_per_second)
        .floor()
        .max(4.0) as usize
}

fn pick<'a>(options: &[&'a str], seed: u64, salt: u64) -> &'a str {
    let i = (seed
        .wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(salt.wrapping_mul(1_442_695_040_888_963_407))
        >> 33) as usize
        % options.len().max(1);
    options.get(i).copied().unwrap_or_default()
}

/// Seconds `text` takes in the video at `rate` (speech, lead-in, pause).
pub fn seconds_of(text: &str, rate: &SpeechRate) -> f64 {
    speech::paragraph_seconds(text, rate) + GAP_SECONDS
}

/// Where `text`'s clauses end (after each comma or stop), as character
/// counts.
fn clause_ends(text: &str) -> Vec<usize> {
    text.chars()
        .enumerate()
        .filter(|(_, c)| matches!(c, '，' | '。' | '？' | '！' | '、' | ',' | '?' | '!' | '；'))
        .map(|(i, _)| i + 1)
        .collect()
}

/// `sentences` joined, then cut at the last clause that fits `budget`
/// seconds at `rate` (a trailing comma made a full stop); the first clause
/// whole when not even it fits (a line is never cut inside a phrase).
fn fit(sentences: &[String], budget: f64, rate: &SpeechRate) -> String {
    let all: String = sentences.concat();
    if seconds_of(&all, rate) <= budget {
        return all;
    }
    let ends = clause_ends(&all);
    let head = |n: usize| all.chars().take(n).collect::<String>();
    let n = ends
        .iter()
        .copied()
        .take_while(|n| seconds_of(&head(*n), rate) <= budget)
        .last()
        .or_else(|| ends.first().copied())
        .unwrap_or_else(|| all.chars().count());
    let mut out = head(n);
    if out.ends_with(['，', '、', ',', '；']) {
        out.pop();
        out.push('。');
    }
    out
}

/// The template lines of each part: `{t}` the topic, `{n}` the niche.
/// Short clauses first, so a line cut to its slot still reads whole.
const HOOKS: [&str; 3] = [
    "{t}，你做对了吗？",
    "{t}，很多人第一步就错了。",
    "{t}，其实没那么难。",
];
const VALUES: [&str; 3] = [
    "一分钟讲清{t}，看完就能上手，少走很多弯路。",
    "三个要点搞定{t}，省时又省心，建议先收藏。",
    "{t}不再难，新手也能做好，{n}都适用。",
];
const POINTS: [[&str; 2]; 4] = [
    [
        "第一，先想清目标。",
        "方向比努力重要，先想清楚要什么结果，再选方法，{t}就会事半功倍。",
    ],
    [
        "第二，抓住细节。",
        "顺序、分量和时间，这几样控制好，效果就会稳定很多，每次记下做法，只改一处，很快就能找到最适合你的方式。",
    ],
    [
        "第三，避开误区。",
        "不必迷信昂贵的工具，方法对了，基础的东西就够用，先做出来，再慢慢调整，坚持几次就能看到进步。",
    ],
    [
        "最后，坚持下去。",
        "把{t}变成小习惯，每次一点点，长期下来，收获会超出你的想象。",
    ],
];
const CTAS: [&str; 3] = [
    "点赞收藏，关注我，下期继续分享{t}的进阶技巧！",
    "有用就点个赞，评论区聊聊你的经验，关注我不迷路！",
    "收藏起来，转发给需要的朋友，关注我看更多干货！",
];

fn fill(line: &str, brief: &TopicBrief<'_>) -> String {
    let niche = if brief.niche.trim().is_empty() {
        "新手和老手"
    } else {
        brief.niche.trim()
    };
    line.replace("{t}", brief.topic.trim())
        .replace("{n}", niche)
}

/// What a part's picture shows, for the template writer.
fn visual_for(part: Part, brief: &TopicBrief<'_>, point: usize) -> String {
    let t = brief.topic.trim();
    match part {
        Part::Hook => format!("{t}，醒目的特写画面，人物看向镜头"),
        Part::Value => format!("{t}的成品展示，明亮干净的环境"),
        Part::Content => format!("{t}的操作步骤{}，手部细节特写", point + 1),
        Part::Cta => format!("{t}，人物微笑面对镜头，温暖的光线"),
    }
}

/// Words a part's footage should match (the analyzer's tag vocabulary).
fn keywords_for(part: Part, brief: &TopicBrief<'_>) -> Vec<String> {
    let mut words: Vec<String> = match part {
        Part::Hook | Part::Cta => vec!["人物".into(), "明亮".into()],
        Part::Value => vec!["环境".into(), "明亮".into()],
        Part::Content => vec!["细节".into(), "美食".into(), "清晰".into()],
    };
    words.push(brief.topic.trim().to_string());
    if !brief.niche.trim().is_empty() {
        words.push(brief.niche.trim().to_string());
    }
    words
}

/// The template script: each slot's lines, sized to the slot.
pub fn template(brief: &TopicBrief<'_>) -> Vec<TopicScene> {
    let s = brief.seed;
    let mut point = 0;
    slots(brief.seconds)
        .into_iter()
        .map(|slot| {
            // The hook always says the topic, however short its slot.
            let budget = match slot.part {
                Part::Hook => (slot.end - slot.start).max(seconds_of(
                    &format!("{}？", brief.topic.trim()),
                    &brief.rate,
                )),
                _ => slot.end - slot.start,
            };
            let lines: Vec<String> = match slot.part {
                Part::Hook => vec![fill(pick(&HOOKS, s, 1), brief)],
                Part::Value => vec![fill(pick(&VALUES, s, 2), brief)],
                Part::Content => {
                    let p = POINTS.get(point).unwrap_or(&POINTS[3]);
                    p.iter().map(|l| fill(l, brief)).collect()
                }
                Part::Cta => vec![fill(pick(&CTAS, s, 4), brief)],
            };
            let text = fit(&lines, budget, &brief.rate);
            let scene = TopicScene {
                part: slot.part,
                text,
                visual: visual_for(slot.part, brief, point),
                keywords: keywords_for(slot.part, brief),
            };
            if slot.part == Part::Content {
                point += 1;
            }
            scene
        })
        .collect()
}

/// Seed 002's script prompt for the text model.
pub fn prompt(brief: &TopicBrief<'_>) -> String {
    let slots = slots(brief.seconds);
    let lines: Vec<String> = slots
        .iter()
        .map(|s| {
            format!(
                "- {}（{:.0}-{:.0}秒，约{}字）",
                match s.part {
                    Part::Hook => "hook",
                    Part::Value => "value",
                    Part::Content => "content",
                    Part::Cta => "cta",
                },
                s.start,
                s.end,
                chars_for(s.end - s.start, &brief.rate)
            )
        })
        .collect();
    format!(
        "你是一位爆款短视频编导。请为抖音/视频号竖屏短视频写一段口播脚本。\n\n\
         主题：{topic}\n目标人群/领域：{niche}\n时长：{seconds:.0}秒\n\n\
         结构（按顺序，每项一个场景，字数按配音语速估算，请严格控制）：\n{lines}\n\n\
         要求：\n1. hook 在开头三秒抓住注意力；value 说清看完能得到什么；content 每个场景讲一个要点；cta 引导点赞、关注或评论\n\
         2. 每个场景给出画面描述 visual（用于生成 9:16 竖屏配图，具体、可视化，不含文字）和 2-5 个画面关键词 keywords\n\
         3. 口播自然口语化，不要编造具体数据\n\n\
         输出JSON格式：\n{{\n  \"scenes\": [\n    {{\"part\": \"hook\", \"text\": \"...\", \"visual\": \"...\", \"keywords\": [\"...\"]}}\n  ]\n}}",
        topic = brief.topic.trim(),
        niche = if brief.niche.trim().is_empty() {
            "大众"
        } else {
            brief.niche.trim()
        },
        seconds = brief.seconds,
        lines = lines.join("\n"),
    )
}

/// Checks a model's answer: one scene per slot, in the structure's order,
/// each with 1-300 characters of text and a visual.
pub fn check(v: &Value, brief: &TopicBrief<'_>) -> Result<Vec<TopicScene>, String> {
    let scenes = v
        .get("scenes")
        .and_then(Value::as_array)
        .ok_or("`scenes` must be an array")?;
    let slots = slots(brief.seconds);
    if scenes.len() != slots.len() {
        return Err(format!(
            "`scenes` must hold {} scenes (the structure's slots), got {}",
            slots.len(),
            scenes.len()
        ));
    }
    scenes
        .iter()
        .zip(&slots)
        .enumerate()
        .map(|(i, (s, slot))| {
            let at = |e: String| format!("scene {}: {e}", i + 1);
            let part = chat::str_field(s, "part", 20)
                .ok()
                .and_then(|p| Part::parse(&p))
                .ok_or_else(|| at("`part` must be hook, value, content or cta".into()))?;
            if part != slot.part {
                return Err(at(format!(
                    "`part` must be {:?} here (the structure is hook, value, content…, cta)",
                    slot.part
                )
                .to_ascii_lowercase()));
            }
            let text = chat::str_field(s, "text", 300).map_err(at)?;
            let visual = chat::str_field(s, "visual", 400).map_err(at)?;
            let keywords = chat::str_array(s, "keywords", 20).unwrap_or_default();
            Ok(TopicScene {
                part,
                text,
                visual,
                keywords: keywords.into_iter().take(8).collect(),
            })
        })
        .collect()
}

/// Writes the script with the text model; an answer whose length at the
/// voice's rate misses the target by more than a tenth is sent back once
/// with the characters to aim for, and the closer answer kept.
pub async fn write(
    client: &ChatClient,
    brief: &TopicBrief<'_>,
) -> Result<Vec<TopicScene>, ChatError> {
    let mut messages = vec![
        chat::system("你是专业的短视频编导，只输出JSON。"),
        chat::user(&prompt(brief)),
    ];
    let first = client.json(messages.clone(), |v| check(v, brief)).await?;
    let length = |scenes: &[TopicScene]| -> f64 {
        scenes
            .iter()
            .map(|s| seconds_of(&s.text, &brief.rate))
            .sum()
    };
    let off = |scenes: &[TopicScene]| (length(scenes) - brief.seconds).abs();
    if off(&first) <= brief.seconds * 0.1 {
        return Ok(first);
    }
    messages.push(chat::assistant(
        &json!({"scenes": first.iter().map(|s| json!({"part": format!("{:?}", s.part).to_ascii_lowercase(), "text": s.text, "visual": s.visual, "keywords": s.keywords})).collect::<Vec<_>>()})
            .to_string(),
    ));
    messages.push(chat::user(&format!(
        "这版脚本按配音语速约{:.0}秒，目标是{:.0}秒。请保持场景数和顺序不变，调整每个场景的text长短，使总字数约{}字。只输出同样格式的JSON。",
        length(&first),
        brief.seconds,
        slots(brief.seconds)
            .iter()
            .map(|s| chars_for(s.end - s.start, &brief.rate))
            .sum::<usize>()
    )));
    match client.json(messages, |v| check(v, brief)).await {
        Ok(second) if off(&second) < off(&first) => Ok(second),
        _ => Ok(first),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brief(seconds: f64) -> TopicBrief<'static> {
        TopicBrief {
            topic: "在家做拿铁",
            niche: "咖啡爱好者",
            seconds,
            rate: speech::default_rate(),
            seed: 7,
        }
    }

    #[test]
    fn the_marks_are_seed_002s_at_sixty_seconds() {
        let s = slots(60.0);
        assert_eq!(s[0].part, Part::Hook);
        assert!((s[0].end - 3.0).abs() < 1e-9);
        assert_eq!(s[1].part, Part::Value);
        assert!((s[1].end - 10.0).abs() < 1e-9);
        let content_end = s.iter().rfind(|x| x.part == Part::Content).map(|x| x.end);
        assert!((content_end.unwrap_or_default() - 50.0).abs() < 1e-9);
        let last = s.last().copied().unwrap_or(s[0]);
        assert_eq!(last.part, Part::Cta);
        assert!((last.end - 60.0).abs() < 1e-9);
        assert_eq!(s.iter().filter(|x| x.part == Part::Content).count(), 3);
    }

    #[test]
    fn other_lengths_keep_the_proportions_and_every_slot_speakable() {
        for t in [15.0, 30.0, 45.0, 60.0, 90.0] {
            let s = slots(t);
            assert!((s[0].end - (t * 0.05).max(MIN_SLOT)).abs() < 1e-9, "{t}");
            let last = s.last().map(|x| x.end).unwrap_or_default();
            assert!((last - t).abs() < 1e-9, "{t}");
            for w in s.windows(2) {
                assert!((w[0].end - w[1].start).abs() < 1e-9);
            }
            assert!(
                s.iter().all(|x| x.end - x.start >= MIN_SLOT - 1e-9),
                "{t}: {s:?}"
            );
        }
        let s = slots(90.0);
        assert!((s[1].end - 15.0).abs() < 1e-9, "value to a sixth");
        assert!(
            (s[s.len() - 2].end - 75.0).abs() < 1e-9,
            "content to five sixths"
        );
        assert_eq!(
            slots(15.0)
                .iter()
                .filter(|x| x.part == Part::Content)
                .count(),
            2
        );
        assert_eq!(
            slots(90.0)
                .iter()
                .filter(|x| x.part == Part::Content)
                .count(),
            4
        );
    }

    #[test]
    fn the_template_fills_each_slot_without_running_over() {
        for t in [15.0, 30.0, 60.0, 90.0] {
            let b = brief(t);
            let scenes = template(&b);
            let slots = slots(t);
            assert_eq!(scenes.len(), slots.len());
            for (scene, slot) in scenes.iter().zip(&slots) {
                assert_eq!(scene.part, slot.part);
                assert!(!scene.text.is_empty());
                let took = seconds_of(&scene.text, &b.rate);
                let slot_seconds = slot.end - slot.start;
                // Never past its slot, except by a line's first clause
                // (never cut inside a phrase).
                let one_clause = clause_ends(&scene.text).len() <= 1;
                assert!(
                    took <= slot_seconds + 1e-9 || one_clause,
                    "{t} s: {:?} takes {took:.1} s of a {slot_seconds:.1} s slot",
                    scene.text
                );
                assert!(scene.visual.contains("在家做拿铁"));
                assert!(
                    scene.text.ends_with(['。', '？', '！']),
                    "ends a sentence: {:?}",
                    scene.text
                );
                assert!(!scene.keywords.is_empty());
            }
            assert!(
                scenes[0].text.starts_with("在家做拿铁"),
                "{:?}",
                scenes[0].text
            );
            let total: f64 = scenes.iter().map(|s| seconds_of(&s.text, &b.rate)).sum();
            assert!(total <= t + 2.0, "{t} s script takes {total:.1} s");
            assert!(total >= t * 0.6, "{t} s script takes only {total:.1} s");
        }
    }

    #[test]
    fn a_model_answer_in_the_wrong_shape_is_refused() {
        let b = brief(60.0);
        let good: Vec<Value> = slots(60.0)
            .iter()
            .map(|s| {
                json!({"part": format!("{:?}", s.part).to_ascii_lowercase(), "text": "好", "visual": "画面", "keywords": ["人物"]})
            })
            .collect();
        assert!(check(&json!({ "scenes": good }), &b).is_ok());
        let mut short = good.clone();
        short.pop();
        assert!(
            check(&json!({ "scenes": short }), &b)
                .err()
                .unwrap_or_default()
                .contains("must hold 6 scenes")
        );
        let mut swapped = good.clone();
        swapped.swap(0, 1);
        assert!(check(&json!({ "scenes": swapped }), &b).is_err());
        let mut blank = good;
        blank[2]["visual"] = json!("");
        assert!(
            check(&json!({ "scenes": blank }), &b)
                .err()
                .unwrap_or_default()
                .contains("scene 3")
        );
    }
}
