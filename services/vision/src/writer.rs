//! The template writer: a Chinese narration in one of the three seed styles
//! (种草安利型 / 真实测评型 / 探店vlog型), 5-7 paragraphs in the seed
//! sections 开场 / 环境 / 重点 / 优惠 / 结尾互动, each over a shot chosen by
//! category from the recommended ones first, the promotion text used
//! verbatim, sized to about 60 s at the voice's speaking rate.

use scout_proto::scout::common::v1::{ShopType, ShotCategory, VideoStyle};
use scout_proto::scout::vision::v1::{DraftParagraph, ShotSummary};

/// Default Mandarin narration rate, characters per second.
pub const DEFAULT_CPS: f64 = 4.5;
/// Target length of the whole narration, seconds.
pub const TARGET_SECONDS: f64 = 60.0;

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
    /// Speaking rate, characters per second (0 for the default).
    pub chars_per_second: f64,
    /// Variation seed (regenerations differ).
    pub seed: u64,
}

impl<'a> Brief<'a> {
    /// A brief for `shop` over `shots` (unknown types and styles read as
    /// other / recommend).
    pub fn for_shop(
        shop: &'a scout_proto::scout::common::v1::ShopInfo,
        shots: &'a [ShotSummary],
        chars_per_second: f64,
        seed: u64,
    ) -> Self {
        Self {
            name: &shop.name,
            shop_type: ShopType::try_from(shop.r#type).unwrap_or(ShopType::Other),
            promotion: &shop.promotion_text,
            style: VideoStyle::try_from(shop.style).unwrap_or(VideoStyle::Recommend),
            shots,
            chars_per_second,
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
    let mut sections: Vec<(&str, String, &[ShotCategory])> = vec![
        (
            "开场",
            fill(pick(open, s, 1)),
            &[
                ShotCategory::Environment,
                ShotCategory::Person,
                ShotCategory::Other,
            ],
        ),
        (
            "环境",
            fill(pick(env, s, 2)),
            &[ShotCategory::Environment, ShotCategory::Other],
        ),
        (
            "重点",
            fill(pick(highlight, s, 3)),
            &[
                ShotCategory::Food,
                ShotCategory::Other,
                ShotCategory::Person,
            ],
        ),
        (
            "重点",
            fill(pick(second, s, 4)),
            &[
                ShotCategory::Food,
                ShotCategory::Other,
                ShotCategory::Environment,
            ],
        ),
    ];
    if !brief.promotion.trim().is_empty() {
        sections.push((
            "优惠",
            format!(
                "划重点，现在到店{}，这个价格真的很值。",
                brief.promotion.trim()
            ),
            &[
                ShotCategory::Food,
                ShotCategory::Environment,
                ShotCategory::Other,
            ],
        ));
    }
    sections.push((
        "结尾互动",
        fill(pick(close, s, 5)),
        &[
            ShotCategory::Person,
            ShotCategory::Environment,
            ShotCategory::Food,
        ],
    ));

    // Stretch toward the target length with one more highlight if short.
    let cps = if brief.chars_per_second > 0.0 {
        brief.chars_per_second
    } else {
        DEFAULT_CPS
    };
    let chars: usize = sections.iter().map(|(_, t, _)| t.chars().count()).sum();
    if (chars as f64) / cps < TARGET_SECONDS * 0.75 && sections.len() < 7 {
        let extra = fill(pick(second, s, 6));
        let at = sections.len() - 1;
        sections.insert(
            at,
            ("重点", extra, &[ShotCategory::Food, ShotCategory::Other]),
        );
    }

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
    order.sort_by_key(|&i| (priority(sections[i].0), i));
    let mut shot_of = vec![0i64; sections.len()];
    let mut used: Vec<i64> = Vec::new();
    for i in order {
        let shot = choose(brief.shots, sections[i].2, &used);
        used.push(shot);
        shot_of[i] = shot;
    }
    sections
        .into_iter()
        .zip(shot_of)
        .map(|((section, text, _), shot)| {
            let estimated = (text.chars().count() as f64 / cps * 10.0).round() / 10.0;
            DraftParagraph {
                section: section.into(),
                shot_id: shot,
                text,
                estimated_duration: estimated,
            }
        })
        .collect()
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
                        chars_per_second: 0.0,
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
            chars_per_second: 0.0,
            seed: 1,
        });
        let highlight = p.iter().find(|x| x.section == "重点").expect("highlight");
        assert_eq!(highlight.shot_id, 2, "the recommended food shot");
    }
}
