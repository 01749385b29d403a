//! Publish assist (seed 000 §4.6): 8-10 topics and 4 titles from the shop
//! and its script.
//!
//! Topics start with `#`, hold only letters and digits (Douyin and
//! Xiaohongshu end a topic at the first space or punctuation mark) and are
//! at most 20 characters. Titles are 20-50 characters. The template writer
//! builds them from the shop name (brand and branch), its type, the style,
//! keywords found in the promotion and script, and the promotion itself;
//! the remote writer asks a chat model with the seed's prompt and holds its
//! answer to the same rules.

use scout_common::chat::{self, ChatClient, ChatError};
use scout_proto::scout::common::v1::{ShopType, VideoStyle};
use serde_json::Value;

/// Fewest and most topics.
pub const TOPICS: std::ops::RangeInclusive<usize> = 8..=10;
/// Titles per assist.
pub const TITLES: usize = 4;
/// Title length bounds, in characters.
pub const TITLE_CHARS: std::ops::RangeInclusive<usize> = 20..=50;
/// Longest topic, in characters after the `#`.
pub const TOPIC_CHARS: usize = 20;

/// What the writer works from.
#[derive(Debug, Clone)]
pub struct Input<'a> {
    /// Shop name, e.g. 海底捞火锅(望京店).
    pub name: &'a str,
    /// Shop type.
    pub shop_type: ShopType,
    /// Style of the video.
    pub style: VideoStyle,
    /// Promotion text.
    pub promotion: &'a str,
    /// The script's paragraphs, in order.
    pub script: &'a [String],
    /// Variation: 0 for the first suggestions, then one more per regeneration.
    pub seed: u64,
    /// What the video is about: a shop, a product (music video, ad
    /// creative: `name` is the product's) or a lesson (a document
    /// explainer: `name` is its title).
    pub subject: Subject,
}

/// What a video is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    Shop,
    Product,
    Lesson,
}

/// Topics and titles.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Assist {
    /// 8-10 topics.
    pub topics: Vec<String>,
    /// 4 titles.
    pub titles: Vec<String>,
}

/// Checks the counts and shapes; the message names what is wrong.
pub fn check(a: &Assist) -> Result<(), String> {
    if !TOPICS.contains(&a.topics.len()) {
        return Err(format!(
            "`topics` must hold 8-10 topics, got {}",
            a.topics.len()
        ));
    }
    for t in &a.topics {
        let body = t
            .strip_prefix('#')
            .ok_or_else(|| format!("topic {t:?} must start with #"))?;
        let n = body.chars().count();
        if n == 0 || n > TOPIC_CHARS {
            return Err(format!(
                "topic {t:?} must be 1-{TOPIC_CHARS} characters after #"
            ));
        }
        if !body.chars().all(char::is_alphanumeric) {
            return Err(format!(
                "topic {t:?} may hold only letters and digits (no spaces, # or punctuation)"
            ));
        }
    }
    let mut seen = std::collections::HashSet::new();
    if let Some(dup) = a.topics.iter().find(|t| !seen.insert(t.to_lowercase())) {
        return Err(format!("topic {dup:?} appears twice"));
    }
    if a.titles.len() != TITLES {
        return Err(format!(
            "`titles` must hold 4 titles, got {}",
            a.titles.len()
        ));
    }
    for t in &a.titles {
        let n = t.chars().count();
        if !TITLE_CHARS.contains(&n) {
            return Err(format!(
                "title {t:?} has {n} characters; titles must be 20-50"
            ));
        }
    }
    let mut seen = std::collections::HashSet::new();
    if let Some(dup) = a.titles.iter().find(|t| !seen.insert(t.as_str())) {
        return Err(format!("title {dup:?} appears twice"));
    }
    Ok(())
}

/// Only letters and digits, at most `max` of them.
fn clean(s: &str, max: usize) -> String {
    s.chars()
        .filter(|c| c.is_alphanumeric())
        .take(max)
        .collect()
}

/// Brand and branch of a shop name: 海底捞火锅(望京店) → (海底捞火锅, 望京店).
pub fn brand_and_branch(name: &str) -> (String, String) {
    let name = name.trim();
    for (open, close) in [('(', ')'), ('（', '）'), ('[', ']'), ('【', '】')] {
        if let Some(a) = name.find(open) {
            let brand = clean(&name[..a], 16);
            let rest = &name[a + open.len_utf8()..];
            let branch = rest
                .split(close)
                .next()
                .map(|b| clean(b, 12))
                .unwrap_or_default();
            if !brand.is_empty() {
                return (brand, branch);
            }
        }
    }
    (clean(name, 16), String::new())
}

/// The area of a branch: 望京店 → 望京, 三里屯太古里店 → 三里屯太古里.
fn area_of(branch: &str) -> String {
    let b = branch.trim_end_matches("分店").trim_end_matches('店');
    if b.chars().count() >= 2 {
        b.to_string()
    } else {
        String::new()
    }
}

/// Keywords a type's viewers search for, looked for in the shop's texts.
fn keywords(t: ShopType) -> &'static [&'static str] {
    match t {
        ShopType::Food => &[
            "火锅",
            "毛肚",
            "烧烤",
            "烤肉",
            "串串",
            "小龙虾",
            "海鲜",
            "日料",
            "寿司",
            "牛排",
            "披萨",
            "咖啡",
            "奶茶",
            "茶饮",
            "甜品",
            "蛋糕",
            "面包",
            "早茶",
            "自助",
            "麻辣烫",
            "米线",
            "拉面",
            "饺子",
            "烤鸭",
            "湘菜",
            "川菜",
            "粤菜",
            "西餐",
            "酒馆",
            "brunch",
        ],
        ShopType::Beauty => &[
            "美甲",
            "美睫",
            "美发",
            "染发",
            "烫发",
            "护肤",
            "皮肤管理",
            "SPA",
            "按摩",
            "美容",
            "头疗",
            "纹眉",
            "造型",
        ],
        ShopType::Entertainment => &[
            "KTV",
            "密室",
            "剧本杀",
            "电玩",
            "桌游",
            "台球",
            "保龄球",
            "livehouse",
            "酒吧",
            "轰趴",
            "攀岩",
            "射箭",
            "滑雪",
            "蹦床",
            "VR",
        ],
        _ => &[
            "手作", "展览", "书店", "宠物", "花店", "民宿", "健身", "瑜伽",
        ],
    }
}

fn type_topics(t: ShopType) -> &'static [&'static str] {
    match t {
        ShopType::Food => &[
            "#美食探店",
            "#吃货日常",
            "#美食推荐",
            "#本地美食",
            "#必吃榜",
            "#今天吃什么",
        ],
        ShopType::Beauty => &[
            "#美容探店",
            "#变美日常",
            "#美业推荐",
            "#宝藏美容店",
            "#颜值管理",
            "#精致女孩",
        ],
        ShopType::Entertainment => &[
            "#休闲娱乐",
            "#周末去哪儿",
            "#好玩推荐",
            "#解压好去处",
            "#朋友聚会",
            "#约会圣地",
        ],
        _ => &[
            "#宝藏小店",
            "#周末去哪儿",
            "#生活方式",
            "#城市漫步",
            "#小众好店",
            "#好物分享",
        ],
    }
}

fn style_topics(s: VideoStyle) -> &'static [&'static str] {
    match s {
        VideoStyle::Review => &["#真实测评", "#探店测评", "#不踩雷", "#避雷指南"],
        VideoStyle::Vlog => &["#探店vlog", "#vlog日常", "#记录生活", "#周末vlog"],
        _ => &["#种草", "#好店推荐", "#宝藏店铺", "#强烈推荐"],
    }
}

fn type_word(t: ShopType) -> &'static str {
    match t {
        ShopType::Food => "美食",
        ShopType::Beauty => "美容",
        ShopType::Entertainment => "好玩",
        _ => "好店",
    }
}

/// Rotates `items` by the seed so regenerations lead with other choices.
fn rotated<'a>(items: &[&'a str], seed: u64) -> Vec<&'a str> {
    let mut v = items.to_vec();
    if !v.is_empty() {
        let k = (seed as usize).wrapping_mul(3) % v.len();
        v.rotate_left(k);
    }
    v
}

/// The template writer.
pub fn template(input: &Input<'_>) -> Assist {
    match input.subject {
        Subject::Product => return product_template(input, &PRODUCT_TOPICS, &PRODUCT_TITLES),
        Subject::Lesson => return product_template(input, &LESSON_TOPICS, &LESSON_TITLES),
        Subject::Shop => {}
    }
    let (brand, branch) = brand_and_branch(input.name);
    let brand = if brand.is_empty() {
        "这家店".to_string()
    } else {
        brand
    };
    let area = area_of(&branch);
    let texts: String = std::iter::once(input.promotion)
        .chain(input.name.split('\n'))
        .chain(input.script.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join(" ");
    let found: Vec<&str> = keywords(input.shop_type)
        .iter()
        .copied()
        .filter(|k| texts.to_lowercase().contains(&k.to_lowercase()))
        .take(4)
        .collect();

    let mut topics: Vec<String> = Vec::new();
    let push = |t: String, topics: &mut Vec<String>| {
        let body = clean(t.trim_start_matches('#'), TOPIC_CHARS);
        let t = format!("#{body}");
        if !body.is_empty() && !topics.iter().any(|x| x.to_lowercase() == t.to_lowercase()) {
            topics.push(t);
        }
    };
    push(format!("#{brand}"), &mut topics);
    if !area.is_empty() {
        push(
            format!("#{area}{}", type_word(input.shop_type)),
            &mut topics,
        );
    }
    for k in &found {
        push(format!("#{k}"), &mut topics);
    }
    if let (Some(k), false) = (found.first(), area.is_empty()) {
        push(format!("#{area}{k}"), &mut topics);
    }
    let styles = rotated(style_topics(input.style), input.seed);
    let types = rotated(type_topics(input.shop_type), input.seed);
    for t in styles.iter().take(2) {
        push((*t).to_string(), &mut topics);
    }
    for t in &types {
        if topics.len() >= 8 {
            break;
        }
        push((*t).to_string(), &mut topics);
    }
    for t in styles
        .iter()
        .skip(2)
        .chain(types.iter())
        .chain(["#探店", "#探店日记", "#周末好去处"].iter())
    {
        if topics.len() >= 8 + (input.seed as usize % 3) {
            break;
        }
        push((*t).to_string(), &mut topics);
    }
    topics.truncate(*TOPICS.end());

    let promo = input.promotion.trim();
    let promo_short: String = promo.chars().take(18).collect();
    let place = if area.is_empty() {
        String::new()
    } else {
        format!("{area}的")
    };
    let thing = found.first().copied().unwrap_or(match input.shop_type {
        ShopType::Food => "招牌菜",
        ShopType::Beauty => "项目",
        ShopType::Entertainment => "玩法",
        _ => "体验",
    });
    let mut candidates: Vec<String> = match input.style {
        VideoStyle::Review => vec![
            format!("真实测评{place}{brand}，{thing}到底值不值得专门跑一趟？"),
            format!("自费探店{brand}，不吹不黑说说我的真实感受"),
            format!("{brand}踩雷还是宝藏？{thing}实测告诉你答案"),
            format!("花了钱才敢说：{place}{brand}这几点一定要提前知道"),
            format!("{brand}深度测评：环境、{thing}、服务逐项打分"),
        ],
        VideoStyle::Vlog => vec![
            format!("周末vlog｜跟我一起去{place}{brand}，{thing}太惊喜了"),
            format!("探店日记：在{brand}度过了超治愈的一天"),
            format!("vlog｜打卡{place}{brand}，记录一下这份快乐"),
            format!("和朋友的周末计划：{brand}从进门到离开全记录"),
            format!("一个人也要好好生活｜今天去了{brand}"),
        ],
        _ => vec![
            format!("挖到宝了！{place}{brand}的{thing}真的让人念念不忘"),
            format!("按头安利{brand}，来了一次就想带朋友再来"),
            format!(
                "{place}{brand}被我吃到了！这家{}店必须收藏",
                type_word(input.shop_type)
            ),
            format!("闭眼冲！{brand}的{thing}，去了不后悔系列"),
            format!("姐妹们快去{brand}！{thing}好到想私藏起来"),
        ],
    };
    if !promo_short.is_empty() {
        candidates.insert(
            (input.seed as usize) % 3,
            format!("{brand}｜{promo_short}，这波真的划算"),
        );
    }
    let candidates = rotated(
        &candidates.iter().map(String::as_str).collect::<Vec<_>>(),
        input.seed,
    )
    .into_iter()
    .map(fit_title)
    .collect::<Vec<_>>();
    let mut titles: Vec<String> = Vec::new();
    for t in candidates {
        if titles.len() == TITLES {
            break;
        }
        if !titles.contains(&t) {
            titles.push(t);
        }
    }
    Assist { topics, titles }
}

/// Topics a product video is found by.
const PRODUCT_TOPICS: [&str; 10] = [
    "#好物推荐",
    "#好物分享",
    "#种草",
    "#新品上市",
    "#今日好物",
    "#宝藏好物",
    "#买它",
    "#生活好物",
    "#值得买",
    "#好物种草",
];

/// Topics an explainer is found by.
const LESSON_TOPICS: [&str; 10] = [
    "#干货分享",
    "#知识分享",
    "#涨知识",
    "#学习",
    "#教程",
    "#每天学一点",
    "#技能提升",
    "#学习方法",
    "#自我提升",
    "#知识科普",
];

/// Title patterns of a product video (`{}` is the name).
const PRODUCT_TITLES: [&str; 5] = [
    "挖到宝了！{}真的让人一用就爱上",
    "今日好物分享：{}，用过就回不去了",
    "按头安利{}，这波真的值得入手",
    "{}上新了！颜值和实力都在线",
    "闭眼入不踩雷：{}实力种草",
];

/// Title patterns of an explainer (`{}` is the title).
const LESSON_TITLES: [&str; 5] = [
    "一口气看懂{}，核心要点全在这里",
    "{}入门：这几点一定要知道",
    "干货！{}从零到一讲清楚",
    "收藏起来慢慢看：{}全梳理",
    "几分钟讲透{}，新手也能听懂",
];

/// Topics and titles of a product video or an explainer: its name, its
/// lines, the subject's topics and title patterns.
fn product_template(
    input: &Input<'_>,
    subject_topics: &[&'static str],
    patterns: &[&str],
) -> Assist {
    let tag = clean(input.name, TOPIC_CHARS);
    let name: String = input.name.trim().chars().take(30).collect();
    let name = if name.is_empty() {
        "这款好物".to_string()
    } else {
        name
    };
    let mut topics = Vec::new();
    if !tag.is_empty() {
        topics.push(format!("#{tag}"));
    }
    for t in rotated(subject_topics, input.seed) {
        if topics.len() >= 8 + (input.seed as usize % 3) {
            break;
        }
        if !topics.iter().any(|x| x == t) {
            topics.push(t.to_string());
        }
    }
    let line = input
        .script
        .first()
        .map(|l| l.trim().chars().take(18).collect::<String>())
        .unwrap_or_default();
    let call = input
        .script
        .get(1)
        .map(|l| l.trim().to_string())
        .unwrap_or_default();
    let mut candidates: Vec<String> = patterns.iter().map(|p| p.replace("{}", &name)).collect();
    if input.subject == Subject::Product {
        if !line.is_empty() {
            candidates.insert(0, format!("{name}｜{line}"));
        }
        if !call.is_empty() {
            candidates.insert(1, format!("{name}来了，{call}！"));
        }
    }
    let mut titles: Vec<String> = Vec::new();
    for t in rotated(
        &candidates.iter().map(String::as_str).collect::<Vec<_>>(),
        input.seed,
    ) {
        let t = fit_title(t);
        if titles.len() < TITLES && !titles.contains(&t) {
            titles.push(t);
        }
    }
    Assist { topics, titles }
}

/// Brings a title into 20-50 characters: padded with a closing phrase,
/// or cut at the last pause that fits.
fn fit_title(t: &str) -> String {
    let mut t = t.trim().to_string();
    for pad in ["，真心推荐给大家", "，收藏起来慢慢看", "！"] {
        if t.chars().count() >= *TITLE_CHARS.start() {
            break;
        }
        t.push_str(pad);
    }
    while t.chars().count() < *TITLE_CHARS.start() {
        t.push('！');
    }
    if t.chars().count() > *TITLE_CHARS.end() {
        let cut: String = t.chars().take(*TITLE_CHARS.end()).collect();
        let at = cut
            .char_indices()
            .filter(|(_, c)| "，。！？｜：".contains(*c))
            .map(|(i, _)| i)
            .rfind(|&i| cut[..i].chars().count() >= *TITLE_CHARS.start());
        t = match at {
            Some(i) => cut[..i].to_string(),
            None => cut,
        };
    }
    t
}

/// Seed 000 §4.6's prompt, filled in.
pub fn prompt(input: &Input<'_>, previous: Option<&Assist>) -> String {
    let summary: String = input.script.join("").chars().take(300).collect();
    if input.subject != Subject::Shop {
        return format!(
            "基于以下{}短视频信息，生成发布辅助内容：\n\n主题：{}\n文案：{}\n\n\
             请生成：\n1. 8-10个相关话题标签（以#开头，符合抖音/小红书规范，只含文字和数字，不含空格和标点，每个不超过20字）\n\
             2. 4个吸引眼球的视频标题（20-50字）\n\n输出JSON：\n{{\n  \"topics\": [\"#话题1\", ...],\n  \"titles\": [\"标题1\", ...]\n}}{}",
            if input.subject == Subject::Product {
                "产品"
            } else {
                "知识讲解"
            },
            input.name,
            summary,
            previous
                .map(|prev| format!(
                    "\n\n请换一批与上次不同的话题和标题。上次的是：{}；{}",
                    prev.topics.join(" "),
                    prev.titles.join(" / ")
                ))
                .unwrap_or_default()
        );
    }
    let mut p = format!(
        "基于以下探店视频信息，生成发布辅助内容：\n\n店铺：{}\n类型：{}\n脚本摘要：{}\n\n\
         请生成：\n1. 8-10个相关话题标签（以#开头，符合抖音/小红书规范，只含文字和数字，不含空格和标点，每个不超过20字）\n\
         2. 4个吸引眼球的视频标题（20-50字）\n\n输出JSON：\n{{\n  \"topics\": [\"#话题1\", \"#话题2\", ...],\n  \"titles\": [\"标题1\", \"标题2\", ...]\n}}",
        input.name,
        match input.shop_type {
            ShopType::Food => "餐饮美食",
            ShopType::Beauty => "美容美发",
            ShopType::Entertainment => "休闲娱乐",
            _ => "其他",
        },
        summary
    );
    if let Some(prev) = previous {
        p.push_str(&format!(
            "\n\n请换一批与上次不同的话题和标题。上次的是：{}；{}",
            prev.topics.join(" "),
            prev.titles.join(" / ")
        ));
    }
    p
}

/// Parses and checks a model's answer.
pub fn check_answer(v: &Value) -> Result<Assist, String> {
    let a = Assist {
        topics: chat::str_array(v, "topics", TOPIC_CHARS + 1)?,
        titles: chat::str_array(v, "titles", *TITLE_CHARS.end())?,
    };
    check(&a)?;
    Ok(a)
}

/// The remote writer.
pub async fn remote(
    client: &ChatClient,
    input: &Input<'_>,
    previous: Option<&Assist>,
) -> Result<Assist, ChatError> {
    client
        .json(
            vec![
                chat::system("你是抖音和小红书的探店内容运营，只输出JSON。"),
                chat::user(&prompt(input, previous)),
            ],
            check_answer,
        )
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    const TYPES: [ShopType; 4] = [
        ShopType::Food,
        ShopType::Beauty,
        ShopType::Entertainment,
        ShopType::Other,
    ];
    const STYLES: [VideoStyle; 3] = [VideoStyle::Recommend, VideoStyle::Review, VideoStyle::Vlog];

    fn names(t: ShopType) -> [&'static str; 4] {
        match t {
            ShopType::Food => [
                "海底捞火锅(望京店)",
                "Manner Coffee",
                "巷子里的小面",
                "超长名字的一家非常非常有名的老字号川菜馆子（朝阳区三里屯太古里南区地下一层店）",
            ],
            ShopType::Beauty => ["小美美甲(国贸店)", "Tony造型", "肌肤之钥皮肤管理", "美"],
            ShopType::Entertainment => ["乐堡KTV(五道口店)", "迷城密室", "星际电玩城", "X"],
            _ => ["猫的天空之城书店(南锣鼓巷店)", "花间", "一家店", "🙂🙂"],
        }
    }

    #[test]
    fn every_style_and_shop_type_meets_the_counts_and_lengths() {
        let script = vec![
            "家人们！今天带你们来吃火锅，毛肚七上八下刚刚好".to_string(),
            "环境很干净，服务也很贴心".to_string(),
        ];
        for t in TYPES {
            for s in STYLES {
                for name in names(t) {
                    for promo in [
                        "人均89，招牌毛肚七上八下",
                        "",
                        "全场八折，工作日下午茶买一送一，会员再享九五折优惠叠加",
                    ] {
                        for seed in 0..6 {
                            let a = template(&Input {
                                subject: Subject::Shop,
                                name,
                                shop_type: t,
                                style: s,
                                promotion: promo,
                                script: &script,
                                seed,
                            });
                            check(&a).unwrap_or_else(|e| {
                                panic!("{t:?} {s:?} {name} {promo:?} seed {seed}: {e}\n{a:#?}")
                            });
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn suggestions_use_the_shop_and_change_on_regeneration() {
        let script = vec!["毛肚七上八下".to_string()];
        let input = |seed| Input {
            subject: Subject::Shop,
            name: "海底捞火锅(望京店)",
            shop_type: ShopType::Food,
            style: VideoStyle::Recommend,
            promotion: "人均89，招牌毛肚七上八下",
            script: &script,
            seed,
        };
        let a = template(&input(0));
        assert!(a.topics.contains(&"#海底捞火锅".to_string()), "{a:?}");
        assert!(a.topics.contains(&"#望京美食".to_string()), "{a:?}");
        assert!(a.topics.contains(&"#毛肚".to_string()), "{a:?}");
        assert!(a.titles.iter().any(|t| t.contains("海底捞火锅")));
        let b = template(&input(1));
        assert_ne!(a, b);
    }

    #[test]
    fn a_product_video_gets_product_topics_and_titles() {
        let lines = ["一口回甘".to_string(), "立即购买".to_string()];
        for seed in 0..4 {
            let a = template(&Input {
                name: "冷萃乌龙",
                shop_type: ShopType::Other,
                style: VideoStyle::Recommend,
                promotion: "",
                script: &lines,
                seed,
                subject: Subject::Product,
            });
            check(&a).expect("valid");
            assert_eq!(a.topics[0], "#冷萃乌龙");
            assert!(a.topics.iter().all(|t| !t.contains("店")), "{:?}", a.topics);
            assert!(
                a.titles.iter().all(|t| t.contains("冷萃乌龙")),
                "{:?}",
                a.titles
            );
        }
    }

    #[test]
    fn bad_model_answers_are_named() {
        let ok = serde_json::json!({
            "topics": ["#海底捞", "#望京美食", "#火锅", "#毛肚", "#美食探店", "#吃货日常", "#种草", "#好店推荐"],
            "titles": ["挖到宝了！望京海底捞的毛肚真的让人念念不忘", "按头安利海底捞，来了一次就想带朋友再来吃", "海底捞｜人均89，招牌毛肚七上八下，这波真的划算", "闭眼冲！海底捞的毛肚，去了绝对不后悔系列哦"]
        });
        check_answer(&ok).expect("ok");
        let mut spaces = ok.clone();
        spaces["topics"][0] = "#海底 捞".into();
        assert!(
            check_answer(&spaces)
                .expect_err("space")
                .contains("letters and digits")
        );
        let mut hashless = ok.clone();
        hashless["topics"][1] = "望京美食".into();
        assert!(
            check_answer(&hashless)
                .expect_err("hash")
                .contains("start with #")
        );
        let mut short = ok.clone();
        short["titles"][0] = "太好吃了".into();
        assert!(check_answer(&short).expect_err("short").contains("20-50"));
        let mut few = ok.clone();
        few["topics"] = serde_json::json!(["#a", "#b"]);
        assert!(check_answer(&few).expect_err("few").contains("8-10"));
    }

    #[test]
    fn titles_are_fitted_to_the_bounds() {
        assert!(fit_title("短").chars().count() >= 20);
        let long = "一".repeat(80);
        assert_eq!(fit_title(&long).chars().count(), 50);
        let pausing = format!("{}，{}", "二".repeat(30), "三".repeat(40));
        assert_eq!(fit_title(&pausing), "二".repeat(30));
    }

    #[test]
    fn brand_and_branch_split() {
        assert_eq!(
            brand_and_branch("海底捞火锅(望京店)"),
            ("海底捞火锅".into(), "望京店".into())
        );
        assert_eq!(
            brand_and_branch("小美美甲（国贸店）"),
            ("小美美甲".into(), "国贸店".into())
        );
        assert_eq!(
            brand_and_branch("Manner Coffee"),
            ("MannerCoffee".into(), String::new())
        );
        assert_eq!(area_of("望京店"), "望京");
        assert_eq!(area_of("店"), "");
    }
}
