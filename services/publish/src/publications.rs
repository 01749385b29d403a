//! `Publish`, `ListPublications`, `CancelPublication`: a completed task's
//! video goes to one or more platforms, now or at a scheduled time, one
//! publication per platform with its own status.
//!
//! Everything the publisher needs is checked and copied onto the rows when
//! they are made (the output's keys, whether it is a Short, whether it was
//! machine-made, the account's name), so a bad request fails here with a
//! clear error rather than later in the background. Xiaohongshu has no open
//! posting API: its publication is READY_TO_POST at its time, with a
//! package to post by hand (`ManualPost`).

use std::time::Duration;

use scout_common::adapters::blob::PresignOptions;
use scout_common::adapters::db::now;
use scout_proto::scout::publish::v1::{
    ManualPost, Platform, Privacy, Publication, PublicationStatus, PublishRequest,
};

use crate::State;
use crate::accounts;
use crate::assist::TOPIC_CHARS;
use crate::error::PublishError;
use crate::platforms;
use crate::store::{self, NewPublication, PublicationRow};

/// How far ahead a post may be scheduled.
pub const MAX_AHEAD: Duration = Duration::from_secs(30 * 24 * 3600);
/// Longest title.
pub const TITLE_CHARS: usize = 100;
/// Most topics.
pub const MAX_TOPICS: usize = 10;
/// Longest description.
pub const DESCRIPTION_CHARS: usize = 5000;
/// How long the assist path's links work.
pub const MANUAL_LINK_TTL: Duration = Duration::from_secs(24 * 3600);
/// Xiaohongshu's creator platform, where a video is posted from a computer.
pub const XIAOHONGSHU_PUBLISH_URL: &str = "https://creator.xiaohongshu.com/publish/publish";

fn status_of(name: &str) -> PublicationStatus {
    match name {
        "uploading" => PublicationStatus::Uploading,
        "processing" => PublicationStatus::Processing,
        "published" => PublicationStatus::Published,
        "failed" => PublicationStatus::Failed,
        "ready_to_post" => PublicationStatus::ReadyToPost,
        "cancelled" => PublicationStatus::Cancelled,
        _ => PublicationStatus::Scheduled,
    }
}

fn privacy_name(p: Privacy) -> &'static str {
    match p {
        Privacy::Unlisted => "unlisted",
        Privacy::Private => "private",
        Privacy::Public | Privacy::Unspecified => "public",
    }
}

/// A privacy as stored.
pub fn privacy_of(name: &str) -> Privacy {
    match name {
        "unlisted" => Privacy::Unlisted,
        "private" => Privacy::Private,
        _ => Privacy::Public,
    }
}

/// Whether a video of this shape and length is a Short.
pub fn is_short(width: i32, height: i32, seconds: f64) -> bool {
    width > 0 && (height as i64) * 9 == (width as i64) * 16 && seconds > 0.0 && seconds < 60.0
}

/// The request's fields, checked; the first wrong one is named.
fn check(r: &PublishRequest) -> Result<(Vec<Platform>, String), PublishError> {
    if r.platforms.is_empty() {
        return Err(PublishError::invalid(
            "platforms",
            "at least one of douyin, xiaohongshu, youtube, tiktok",
        ));
    }
    let mut platforms: Vec<Platform> = Vec::with_capacity(r.platforms.len());
    for (i, p) in r.platforms.iter().enumerate() {
        let p = Platform::try_from(*p).unwrap_or(Platform::Unspecified);
        if p == Platform::Unspecified {
            return Err(PublishError::invalid(
                &format!("platforms[{i}]"),
                "douyin, xiaohongshu, youtube or tiktok",
            ));
        }
        if platforms.contains(&p) {
            return Err(PublishError::invalid(
                &format!("platforms[{i}]"),
                "each platform once",
            ));
        }
        platforms.push(p);
    }
    let title = r.title.trim().to_string();
    let n = title.chars().count();
    if n == 0 || n > TITLE_CHARS || title.contains(['<', '>']) {
        return Err(PublishError::invalid(
            "title",
            "1-100 characters without < or >",
        ));
    }
    if r.topics.len() > MAX_TOPICS {
        return Err(PublishError::invalid("topics", "at most 10 topics"));
    }
    for (i, t) in r.topics.iter().enumerate() {
        let ok = t.strip_prefix('#').is_some_and(|b| {
            let n = b.chars().count();
            n > 0 && n <= TOPIC_CHARS && b.chars().all(char::is_alphanumeric)
        });
        if !ok {
            return Err(PublishError::invalid(
                &format!("topics[{i}]"),
                "# then 1-20 letters or digits",
            ));
        }
    }
    if r.description.chars().count() > DESCRIPTION_CHARS || r.description.contains(['<', '>']) {
        return Err(PublishError::invalid(
            "description",
            "at most 5000 characters without < or >",
        ));
    }
    if Privacy::try_from(r.privacy).is_err() {
        return Err(PublishError::invalid(
            "privacy",
            "public, unlisted or private",
        ));
    }
    if r.poi_id.len() > 100 || !r.poi_id.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(PublishError::invalid(
            "poi_id",
            "Douyin's POI id (letters and digits)",
        ));
    }
    Ok((platforms, title))
}

/// `Publish`.
pub async fn publish(
    state: &State,
    user_id: i64,
    r: &PublishRequest,
) -> Result<Vec<Publication>, PublishError> {
    let (platforms, title) = check(r)?;
    let at = now();
    let scheduled_at = match &r.scheduled_at {
        None => at,
        Some(t) => {
            let t = crate::naive(t)
                .ok_or_else(|| PublishError::invalid("scheduled_at", "a time within 30 days"))?;
            let ahead = chrono::Duration::from_std(MAX_AHEAD).unwrap_or(chrono::Duration::days(30));
            if t > at + ahead {
                return Err(PublishError::invalid(
                    "scheduled_at",
                    "at most 30 days ahead",
                ));
            }
            t.max(at)
        }
    };
    let task_id = r.task_id;
    let ctx = crate::task_context(state, user_id, task_id).await?;
    let output = ctx.output.ok_or(PublishError::NotCompleted(task_id))?;
    // Every platform with an API needs its app and the user's account now,
    // not at posting time.
    let mut names = Vec::with_capacity(platforms.len());
    for p in &platforms {
        let name = platforms::name(*p);
        if *p != Platform::Xiaohongshu {
            accounts::client(state, *p)?;
            let account = state
                .db
                .run(move |c| store::account(c, user_id, name))
                .await?
                .ok_or(PublishError::NoAccount(*p))?;
            if let Some(problem) = account.problem {
                return Err(PublishError::Relink(*p, problem));
            }
            names.push(account.display_name);
        } else {
            names.push(String::new());
        }
        if state
            .db
            .run(move |c| store::active_on(c, task_id, name))
            .await?
        {
            return Err(PublishError::AlreadyPublishing(task_id, name));
        }
    }
    let short = is_short(output.width, output.height, output.duration_seconds);
    let ai = !output.ai_generated.is_empty();
    let topics = r.topics.clone();
    let description = r.description.clone();
    let poi = r.poi_id.clone();
    let privacy = privacy_name(Privacy::try_from(r.privacy).unwrap_or(Privacy::Public));
    let rows = state
        .db
        .transaction(move |c| {
            let new: Vec<NewPublication<'_>> = platforms
                .iter()
                .zip(&names)
                .map(|(p, account_name)| NewPublication {
                    task_id,
                    user_id,
                    platform: platforms::name(*p),
                    title: &title,
                    topics: &topics,
                    description: &description,
                    privacy,
                    poi_id: &poi,
                    status: if *p == Platform::Xiaohongshu && scheduled_at <= at {
                        "ready_to_post"
                    } else {
                        "scheduled"
                    },
                    scheduled_at,
                    video_key: &output.video_key,
                    cover_key: &output.cover_key,
                    ai_generated: ai,
                    is_short: short && *p == Platform::Youtube,
                    account_name,
                })
                .collect();
            store::insert_publications(c, &new)
        })
        .await?;
    tracing::info!(
        task_id,
        user_id,
        publications = rows.len(),
        "publications made"
    );
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        out.push(to_proto(state, row).await);
    }
    Ok(out)
}

/// `ListPublications`.
pub async fn list(
    state: &State,
    user_id: i64,
    task_id: i64,
) -> Result<Vec<Publication>, PublishError> {
    let rows = state
        .db
        .run(move |c| store::publications_of(c, task_id))
        .await?;
    if rows.is_empty() {
        // Says NOT_FOUND for a task that is not theirs, empty for their own.
        crate::task_context(state, user_id, task_id).await?;
    }
    if rows.iter().any(|r| r.user_id != user_id) {
        return Err(PublishError::TaskNotFound(task_id));
    }
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        out.push(to_proto(state, row).await);
    }
    Ok(out)
}

/// `CancelPublication`: only while scheduled.
pub async fn cancel(state: &State, user_id: i64, id: i64) -> Result<Publication, PublishError> {
    let row = state
        .db
        .run(move |c| store::publication(c, id))
        .await?
        .filter(|r| r.user_id == user_id)
        .ok_or(PublishError::PublicationNotFound(id))?;
    let done = state
        .db
        .run(move |c| {
            store::record(
                c,
                id,
                &["scheduled", "ready_to_post"],
                &store::Outcome {
                    status: "cancelled",
                    release: true,
                    ..Default::default()
                },
            )
        })
        .await?;
    // A publisher took it in between (or it was never scheduled).
    let row = if done {
        state
            .db
            .run(move |c| store::publication(c, id))
            .await?
            .ok_or(PublishError::PublicationNotFound(id))?
    } else {
        let now_row = state
            .db
            .run(move |c| store::publication(c, id))
            .await?
            .unwrap_or(row);
        return Err(PublishError::NotCancellable(id, now_row.status));
    };
    Ok(to_proto(state, &row).await)
}

/// The caption for posting by hand: title, then the topics.
pub fn caption(row: &PublicationRow) -> String {
    let mut s = row.title.clone();
    let topics = row.topic_list();
    if !topics.is_empty() {
        s.push('\n');
        s.push_str(&topics.join(" "));
    }
    s
}

async fn presign(state: &State, key: &str) -> String {
    match state
        .ctx
        .adapters
        .blobs
        .presign_get(key, PresignOptions::expires_in(MANUAL_LINK_TTL))
        .await
    {
        Ok(u) => u.url,
        Err(e) => {
            tracing::warn!(key, error = %e, "cannot presign an output for posting by hand");
            String::new()
        }
    }
}

/// The API shape; READY_TO_POST ones carry fresh links to their files.
pub async fn to_proto(state: &State, row: &PublicationRow) -> Publication {
    let status = status_of(&row.status);
    let manual = if status == PublicationStatus::ReadyToPost {
        Some(ManualPost {
            video_url: presign(state, &row.video_key).await,
            cover_url: presign(state, &row.cover_key).await,
            caption: caption(row),
            deep_link: XIAOHONGSHU_PUBLISH_URL.into(),
            steps: vec![
                "下载视频和封面 (Download the video and the cover)".into(),
                "复制文案 (Copy the caption)".into(),
                "打开小红书创作服务平台或 App，上传视频与封面，粘贴文案 (Open Xiaohongshu's creator platform or app, upload both, paste the caption)".into(),
                "声明内容含 AI 生成 (Declare the AI-generated content)".into(),
            ],
        })
    } else {
        None
    };
    Publication {
        id: row.id,
        task_id: row.task_id,
        platform: platforms::parse(&row.platform) as i32,
        title: row.title.clone(),
        topics: row.topic_list(),
        status: status as i32,
        external_url: row.external_url.clone().unwrap_or_default(),
        error_message: row.error_message.clone().unwrap_or_default(),
        created_at: Some(crate::timestamp(row.created_at)),
        scheduled_at: Some(crate::timestamp(row.scheduled_at)),
        attempts: row.attempts,
        post_id: row.post_id.clone().unwrap_or_default(),
        manual,
        account_name: row.account_name.clone(),
        published_at: row.published_at.map(crate::timestamp),
        privacy: privacy_of(&row.privacy) as i32,
        short: row.is_short,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> PublishRequest {
        PublishRequest {
            task_id: 1,
            title: "望京这家火锅太值了".into(),
            topics: vec!["#火锅".into(), "#望京美食".into()],
            platforms: vec![Platform::Youtube as i32],
            ..Default::default()
        }
    }

    #[test]
    fn every_field_is_checked_naming_it() {
        assert!(check(&request()).is_ok());
        type Change = Box<dyn Fn(&mut PublishRequest)>;
        let cases: Vec<(Change, &str)> = vec![
            (Box::new(|r| r.platforms.clear()), "platforms"),
            (Box::new(|r| r.platforms = vec![0]), "platforms[0]"),
            (Box::new(|r| r.platforms = vec![3, 3]), "platforms[1]"),
            (Box::new(|r| r.platforms = vec![99]), "platforms[0]"),
            (Box::new(|r| r.title = " ".into()), "title"),
            (Box::new(|r| r.title = "x".repeat(101)), "title"),
            (Box::new(|r| r.title = "a <b>".into()), "title"),
            (Box::new(|r| r.topics = vec!["火锅".into()]), "topics[0]"),
            (
                Box::new(|r| r.topics = vec!["#a".into(), "#a b".into()]),
                "topics[1]",
            ),
            (Box::new(|r| r.topics = vec!["#a".into(); 11]), "topics"),
            (
                Box::new(|r| r.description = "<script>".into()),
                "description",
            ),
            (Box::new(|r| r.privacy = 9), "privacy"),
            (Box::new(|r| r.poi_id = "a/b".into()), "poi_id"),
        ];
        for (change, field) in cases {
            let mut r = request();
            change(&mut r);
            match check(&r) {
                Err(PublishError::Invalid { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: {other:?}"),
            }
        }
    }

    #[test]
    fn shorts_are_vertical_and_under_a_minute() {
        assert!(is_short(1080, 1920, 59.9));
        assert!(!is_short(1080, 1920, 60.0));
        assert!(!is_short(1920, 1080, 30.0));
        assert!(!is_short(0, 0, 30.0));
    }
}
