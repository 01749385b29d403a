//! The template writer: a Chinese narration in one of the three seed styles
//! (种草安利型 / 真实测评型 / 探店vlog型), 5-7 paragraphs in the seed
//! sections 开场 / 环境 / 重点 / 优惠 / 结尾互动, each over a shot chosen by
//! category from the recommended ones first, the promotion text used
//! verbatim, sized to about 60 s of video at the measured rate of the voice
//! that will speak it: sentences are added (more about the place, the
//! highlights, the close) or taken away (the second highlight, the longer
//! variant of a line, trailing clauses) until the estimate is within
//! [`FIT_SECONDS`] of the target.

use scout_common::speech::{self, TARGET_SECONDS};
use scout_proto::scout::common::v1::{ShopType, ShotCategory, SpeechRate, VideoStyle};
use scout_proto::scout::vision::v1::{DraftParagraph, ShotSummary};

/// How close to the target a script is sized, seconds of video (the
/// product promises 60 ± 6 s; the rest is left for the voice's own
/// variation from its measured rate).
pub const FIT_SECONDS: f64 = 3.0;

/// What the writer needs.
pub struct Brief<'a> {
    /// Shop name.
    pub name: &'a str,
    /// Shop type.
    pub shop_type: ShopType,
    /// Promotion text, used verbatim (may be empty).
    pub promotion: &'a str,
    /// Style.
    pub style: VideoStyle,
    /// Available shots.
    pub shots: &'a [ShotSummary],
    /// How the voice speaks (render's measurement, or the defaults).
    pub rate: SpeechRate,
    /// Variation seed (regenerations differ).
    pub seed: u64,
}

impl<'a> Brief<'a> {
    /// A brief for `shop` over `shots` (unknown types and styles read as
    /// other / recommend).
    pub fn for_shop(
        shop: &'a scout_proto::scout::common::v1::ShopInfo,
        shots: &'a [ShotSummary],
        rate: SpeechRate,
        seed: u64,
    ) -> Self {
        Self {
            name: &shop.name,
            shop_type: ShopType::try_from(shop.r#type).unwrap_or(ShopType::Other),
            promotion: &shop.promotion_text,
            style: VideoStyle::try_from(shop.style).unwrap_or(VideoStyle::Recommend),
            shots,
            rate,
            seed,
        }
    }
}

fn pick<'a>(options: &[&'a str], seed: u64, salt: u64) -> &'a str {
    let i = (seed
        .wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(salt * 1_442_695_040_888_963_407)
        >> 33) as usize
        % options.len().max(1);
    options.get(i).copied().unwrap_or_default()
}

/// Alternative lines for each section: opening, setting, highlight,
/// second highlight, closing.
type Lines = (
    &'static [&'static str],
    &'static [&'static str],
    &'static [&'static str],
    &'static [&'static str],
    &'static [&'static str],
);

fn kind(t: ShopType) -> (&'static str, &'static str, &'static str) {
    match t {
        ShopType::Food => ("这家店", "味道", "招牌菜"),
        ShopType::Beauty => ("这家店", "效果", "明星项目"),
        ShopType::Entertainment => ("这个地方", "体验", "必玩项目"),
        _ => ("这家店", "体验", "亮点"),
    }
}

/// Writes the script. Every paragraph points at one of `brief.shots`
/// (which must not be empty).
pub fn write(brief: &Brief<'_>) -> Vec<DraftParagraph> {
    let (place, quality, star) = kind(brief.shop_type);
    let name = brief.name;
    let s = brief.seed;
    let (open, env, highlight, second, close): Lines = match brief.style {
        VideoStyle::Review => (
            &[
                "今天来实测一下{name}，到底值不值得专门跑一趟，我们直接看。",
                "{name}最近很火，我自费来测一测，说说真实感受。",
            ],
            &[
                "先说环境，{place}空间不算小，干净整洁，座位之间也不挤，这一点可以加分。",
                "环境方面，整体装修中规中矩，卫生做得不错，服务员也比较及时。",
            ],
            &[
                "重点说说{star}，{quality}确实在线，细节处理得比较用心，不是网红店那种只好看。",
                "{star}是我最想测的，实际体验下来{quality}稳定，没有踩雷。",
            ],
            &[
                "其他几样也都试了，整体水准平均，个别一般，但没有明显短板。",
                "缺点也说一下，高峰期要等位，建议错峰过来。",
            ],
            &[
                "总结一下，{name}值得一试，你去过吗？评论区说说你的看法。",
                "综合打分我给八分，想去的朋友可以先收藏，有问题评论区问我。",
            ],
        ),
        VideoStyle::Vlog => (
            &[
                "周末不知道去哪？跟我一起逛逛{name}吧！",
                "今天的vlog带大家来{name}，出发！",
            ],
            &[
                "一进门就被这个氛围感拿捏了，随手一拍都很出片。",
                "走进来第一感觉就是舒服，光线和布置都很有心思。",
            ],
            &[
                "来到今天的重头戏，{star}终于上场了，{quality}真的没让我失望。",
                "最期待的{star}来啦，一口下去就知道这趟没白来。",
            ],
            &[
                "慢慢逛慢慢吃，时间过得好快，这种松弛感太难得了。",
                "拍拍照聊聊天，一个下午就这样美美地过去了。",
            ],
            &[
                "今天的{name}之旅就到这里，喜欢的话记得点赞关注，下期见！",
                "好啦，{name}就分享到这里，你们还想让我去哪家？评论区告诉我！",
            ],
        ),
        _ => (
            &[
                "家人们！今天挖到一家宝藏店，{name}，一定要看到最后！",
                "姐妹们冲！{name}真的被我找到了，不来后悔系列！",
            ],
            &[
                "环境绝了，{place}装修很有格调，拍照超级出片，约会聚会都合适。",
                "一进门就爱了，环境干净又有氛围，坐下来就不想走。",
            ],
            &[
                "必点{star}，{quality}真的绝，每一口都是惊喜，回购无数次！",
                "{star}一定要点，{quality}超出预期，闭眼入不踩雷！",
            ],
            &[
                "还有好几样也特别推荐，性价比高到离谱，真的太良心了。",
                "服务也超贴心，细节满满，难怪回头客这么多。",
            ],
            &[
                "赶紧收藏起来，约上闺蜜好友冲一波！你们最想去哪家？评论区告诉我！",
                "心动不如行动，快@你想一起去的人，点赞收藏不迷路！",
            ],
        ),
    };
    let fill = |t: &str| {
        t.replace("{name}", name)
            .replace("{place}", place)
            .replace("{quality}", quality)
            .replace("{star}", star)
    };
    let opening = Section::new(
        "开场",
        &[
            ShotCategory::Environment,
            ShotCategory::Person,
            ShotCategory::Other,
        ],
        open,
        s,
        1,
        &fill,
    );
    let setting = Section::new(
        "环境",
        &[ShotCategory::Environment, ShotCategory::Other],
        env,
        s,
        2,
        &fill,
    );
    let star_line = Section::new(
        "重点",
        &[
            ShotCategory::Food,
            ShotCategory::Other,
            ShotCategory::Person,
        ],
        highlight,
        s,
        3,
        &fill,
    );
    let mut more = Section::new(
        "重点",
        &[
            ShotCategory::Food,
            ShotCategory::Other,
            ShotCategory::Environment,
        ],
        second,
        s,
        4,
        &fill,
    );
    more.optional = true;
    let mut sections = vec![opening, setting, star_line, more];
    if !brief.promotion.trim().is_empty() {
        let line = format!(
            "划重点，现在到店{}，这个价格真的很值。",
            brief.promotion.trim()
        );
        sections.push(Section {
            name: "优惠",
            wants: &[
                ShotCategory::Food,
                ShotCategory::Environment,
                ShotCategory::Other,
            ],
            lines: vec![vec![line]],
            line: 0,
            extra: Vec::new(),
            optional: false,
            fixed: true,
        });
    }
    sections.push(Section::new(
        "结尾互动",
        &[
            ShotCategory::Person,
            ShotCategory::Environment,
            ShotCategory::Food,
        ],
        close,
        s,
        5,
        &fill,
    ));
    let pool = Extras {
        setting: EXTRA_SETTING.iter().map(|t| fill(t)).collect(),
        highlight: EXTRA_HIGHLIGHT.iter().map(|t| fill(t)).collect(),
        close: EXTRA_CLOSE.iter().map(|t| fill(t)).collect(),
    };
    let sections = fit(sections, pool, &brief.rate, s);

    // Shots are handed out by importance (the highlights get the best food
    // shots), then the paragraphs keep their narrative order.
    let priority = |section: &str| match section {
        "重点" => 0,
        "优惠" => 1,
        "开场" => 2,
        "环境" => 3,
        _ => 4,
    };
    let mut order: Vec<usize> = (0..sections.len()).collect();
    order.sort_by_key(|&i| (priority(sections[i].name), i));
    let mut shot_of = vec![0i64; sections.len()];
    let mut used: Vec<i64> = Vec::new();
    for i in order {
        let shot = choose(brief.shots, sections[i].wants, &used);
        used.push(shot);
        shot_of[i] = shot;
    }
    sections
        .into_iter()
        .zip(shot_of)
        .map(|(section, shot)| {
            let text = section.text();
            DraftParagraph {
                section: section.name.into(),
                shot_id: shot,
                estimated_duration: speech::paragraph_seconds(&text, &brief.rate),
                text,
            }
        })
        .collect()
}

/// Sentences that can be added to the setting, the highlights and the
/// close, in the order they are used.
const EXTRA_SETTING: &[&str] = &[
    "灯光很柔和，随手一拍都好看。",
    "座位之间的距离刚刚好，聊天也不用扯着嗓子。",
    "整体干净整洁，细节能看出老板很用心。",
    "位置也好找，交通很方便。",
];
const EXTRA_HIGHLIGHT: &[&str] = &[
    "{star}分量很足，两三个人分着刚刚好。",
    "细节处理得很到位，{quality}比我想的还要好。",
    "价格也不算贵，这个水准真的很划算。",
    "店员会主动介绍怎么体验最好，很贴心。",
    "高峰期人比较多，建议提前预约或者错峰来。",
    "我身边的朋友来过一次，都说还想再来。",
];
const EXTRA_CLOSE: &[&str] = &[
    "我会持续分享更多宝藏店，记得关注我。",
    "想看哪家店的测评，也可以留言告诉我。",
];

/// Added sentences not yet used.
struct Extras {
    setting: Vec<String>,
    highlight: Vec<String>,
    close: Vec<String>,
}

impl Extras {
    /// The next sentence for a section, taken from the pool.
    fn take(&mut self, section: &str) -> Option<String> {
        let pool = match section {
            "环境" => &mut self.setting,
            "重点" => &mut self.highlight,
            "结尾互动" => &mut self.close,
            _ => return None,
        };
        (!pool.is_empty()).then(|| pool.remove(0))
    }

    fn has(&self, section: &str) -> bool {
        match section {
            "环境" => !self.setting.is_empty(),
            "重点" => !self.highlight.is_empty(),
            "结尾互动" => !self.close.is_empty(),
            _ => false,
        }
    }

    fn any_left(&self) -> bool {
        !(self.setting.is_empty() && self.highlight.is_empty() && self.close.is_empty())
    }
}

/// One paragraph being sized.
struct Section {
    name: &'static str,
    wants: &'static [ShotCategory],
    /// The section's alternative lines, each as its sentences.
    lines: Vec<Vec<String>>,
    /// The line in use.
    line: usize,
    /// Sentences added to it.
    extra: Vec<String>,
    /// May be left out (the second highlight).
    optional: bool,
    /// Said as it is (the promotion): never shortened.
    fixed: bool,
}

impl Section {
    fn new(
        name: &'static str,
        wants: &'static [ShotCategory],
        lines: &[&str],
        seed: u64,
        salt: u64,
        fill: &dyn Fn(&str) -> String,
    ) -> Self {
        let first = fill(pick(lines, seed, salt));
        let lines: Vec<Vec<String>> = lines.iter().map(|l| sentences(&fill(l))).collect();
        let line = lines.iter().position(|l| l.concat() == first).unwrap_or(0);
        Self {
            name,
            wants,
            lines,
            line,
            extra: Vec::new(),
            optional: false,
            fixed: false,
        }
    }

    fn line_text(&self) -> String {
        self.lines
            .get(self.line)
            .map(|l| l.concat())
            .unwrap_or_default()
    }

    fn text(&self) -> String {
        let mut t = self.line_text();
        for e in &self.extra {
            t.push_str(e);
        }
        t
    }
}

/// `text` split after each 。！？ (the mark kept with its sentence).
fn sentences(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for c in text.chars() {
        cur.push(c);
        if matches!(c, '。' | '！' | '？' | '!' | '?') {
            out.push(std::mem::take(&mut cur));
        }
    }
    if !cur.trim().is_empty() {
        out.push(cur);
    }
    out
}

/// `text` without its last clause (cut at the last ，), ended with 。; None
/// when what is left would be too short to stand.
fn without_last_clause(text: &str) -> Option<String> {
    let body = text.trim_end_matches(['。', '！', '？', '!', '?']);
    let cut = body.rfind('，')?;
    let kept = &body[..cut];
    (kept.chars().count() >= 6).then(|| format!("{kept}。"))
}

fn seconds(sections: &[Section], rate: &SpeechRate) -> f64 {
    sections
        .iter()
        .map(|s| speech::paragraph_seconds(&s.text(), rate))
        .sum()
}

/// Sizes `sections` to about [`TARGET_SECONDS`] of video at `rate`.
fn fit(mut sections: Vec<Section>, mut pool: Extras, rate: &SpeechRate, seed: u64) -> Vec<Section> {
    let (low, high) = (TARGET_SECONDS - FIT_SECONDS, TARGET_SECONDS + FIT_SECONDS);
    // Too long: the second highlight goes first, then each line's shorter
    // variant, then trailing clauses of the longest lines.
    if seconds(&sections, rate) > high
        && sections.len() > 5
        && let Some(i) = sections.iter().position(|s| s.optional)
    {
        sections.remove(i);
    }
    while seconds(&sections, rate) > high {
        let shorter = sections
            .iter()
            .enumerate()
            .filter(|(_, s)| !s.fixed)
            .filter_map(|(i, s)| {
                let now = s.line_text().chars().count();
                let (j, l) = s
                    .lines
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, l)| l.concat().chars().count())?;
                let saved = now.saturating_sub(l.concat().chars().count());
                (saved > 0).then_some((saved, i, j))
            })
            .max();
        if let Some((_, i, j)) = shorter {
            sections[i].line = j;
            continue;
        }
        // Cut a trailing clause from the longest line that has one to spare.
        let longest = sections
            .iter()
            .enumerate()
            .filter(|(_, s)| !s.fixed)
            .filter_map(|(i, s)| {
                let line = s.line_text();
                without_last_clause(&line).map(|cut| (line.chars().count(), i, cut))
            })
            .max();
        match longest {
            Some((_, i, cut)) => {
                let line = sections[i].line;
                sections[i].lines[line] = vec![cut];
            }
            None => break,
        }
    }
    // Too short: sentences from the pool, to the body paragraphs in turn
    // (the one with the fewest added first), each only when it brings the
    // length closer to the target.
    let mut turn = seed as usize;
    while seconds(&sections, rate) < low && pool.any_left() {
        let now = seconds(&sections, rate);
        let mut order: Vec<usize> = (0..sections.len())
            .filter(|&i| matches!(sections[i].name, "环境" | "重点" | "结尾互动"))
            .collect();
        order.sort_by_key(|&i| (sections[i].extra.len(), (i + turn) % sections.len().max(1)));
        turn = turn.wrapping_add(1);
        let Some(i) = order.into_iter().find(|&i| pool.has(sections[i].name)) else {
            break;
        };
        if let Some(sentence) = pool.take(sections[i].name) {
            let gain = speech::words_seconds(&sentence, rate);
            if (now + gain - TARGET_SECONDS).abs() < (TARGET_SECONDS - now).abs() {
                sections[i].extra.push(sentence);
            }
        }
    }
    sections
}

/// The best shot for a section: recommended before not, wanted categories
/// in order, unused before used, then quality.
fn choose(shots: &[ShotSummary], wants: &[ShotCategory], used: &[i64]) -> i64 {
    let rank = |s: &ShotSummary| {
        let cat = wants
            .iter()
            .position(|c| *c as i32 == s.category)
            .unwrap_or(wants.len());
        (
            used.contains(&s.id),
            cat,
            !s.is_recommended,
            -s.quality_score,
            s.id,
        )
    };
    shots
        .iter()
        .min_by_key(|s| rank(s))
        .map(|s| s.id)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shots() -> Vec<ShotSummary> {
        [
            (1, 3, true, 80),
            (2, 1, true, 90),
            (3, 1, false, 60),
            (4, 2, true, 70),
        ]
        .into_iter()
        .map(|(id, cat, rec, q)| ShotSummary {
            id,
            category: cat,
            is_recommended: rec,
            quality_score: q,
            duration_seconds: 5.0,
            ..ShotSummary::default()
        })
        .collect()
    }

    #[test]
    fn every_style_and_type_gives_5_to_7_paragraphs_over_real_shots() {
        let shots = shots();
        for style in [VideoStyle::Recommend, VideoStyle::Review, VideoStyle::Vlog] {
            for t in [
                ShopType::Food,
                ShopType::Beauty,
                ShopType::Entertainment,
                ShopType::Other,
            ] {
                for promo in ["", "人均89，招牌毛肚七上八下"] {
                    let p = write(&Brief {
                        name: "海底捞火锅(望京店)",
                        shop_type: t,
                        promotion: promo,
                        style,
                        shots: &shots,
                        rate: speech::default_rate(),
                        seed: 7,
                    });
                    assert!((5..=7).contains(&p.len()), "{style:?} {t:?}: {}", p.len());
                    assert!(p.iter().all(|x| shots.iter().any(|s| s.id == x.shot_id)));
                    assert_eq!(p[0].section, "开场");
                    assert_eq!(p.last().map(|x| x.section.as_str()), Some("结尾互动"));
                    if !promo.is_empty() {
                        assert!(
                            p.iter()
                                .any(|x| x.section == "优惠" && x.text.contains(promo))
                        );
                    }
                    assert!(p.iter().all(|x| x.text.chars().count() <= 300));
                }
            }
        }
    }

    #[test]
    fn food_highlights_go_over_the_best_food_shot() {
        let p = write(&Brief {
            name: "店",
            shop_type: ShopType::Food,
            promotion: "",
            style: VideoStyle::Recommend,
            shots: &shots(),
            rate: speech::default_rate(),
            seed: 1,
        });
        let highlight = p.iter().find(|x| x.section == "重点").expect("highlight");
        assert_eq!(highlight.shot_id, 2, "the recommended food shot");
    }

    #[test]
    fn scripts_are_sized_to_about_a_minute_at_any_measured_rate() {
        let shots = shots();
        // From espeak-ng's slow Mandarin to a brisk remote voice.
        for (cps, pause) in [(2.6, 1.3), (3.5, 1.0), (4.5, 0.8), (5.5, 0.7)] {
            let rate = SpeechRate {
                cjk_chars_per_second: cps,
                words_per_second: 2.5,
                paragraph_seconds: pause,
                provider: "test".into(),
            };
            for style in [VideoStyle::Recommend, VideoStyle::Review, VideoStyle::Vlog] {
                for t in [
                    ShopType::Food,
                    ShopType::Beauty,
                    ShopType::Entertainment,
                    ShopType::Other,
                ] {
                    for (seed, promo) in [(1, ""), (2, "人均89，招牌毛肚七上八下")] {
                        let p = write(&Brief {
                            name: "海底捞火锅(望京店)",
                            shop_type: t,
                            promotion: promo,
                            style,
                            shots: &shots,
                            rate: rate.clone(),
                            seed,
                        });
                        let total: f64 = p.iter().map(|x| x.estimated_duration).sum();
                        assert!(
                            (total - TARGET_SECONDS).abs() <= FIT_SECONDS + 0.5,
                            "{cps} cps, {style:?} {t:?} {promo:?}: {total:.1} s\n{:#?}",
                            p.iter().map(|x| &x.text).collect::<Vec<_>>()
                        );
                        assert!((5..=7).contains(&p.len()));
                        assert!(p.iter().all(|x| {
                            x.text.ends_with(['。', '！', '？']) && !x.text.contains("{")
                        }));
                    }
                }
            }
        }
    }
}
