//! Publishing to the platforms end to end: a user links a YouTube account
//! (OAuth 2.0 authorization code, the tokens sealed at rest), publishes a
//! finished task to YouTube and Xiaohongshu (the assist path), and reads back
//! the figures. The platform is a local server speaking YouTube's wire
//! format: Google's token endpoint (code and refresh grants, `invalid_grant`),
//! the resumable upload protocol (`Location`, `Content-Range`, 308 with
//! `Range`, `bytes */N` to ask how much arrived), `videos.list` for the
//! processing status and the statistics, `channels.list?mine=true`, and its
//! error bodies (401 authError, 403 quotaExceeded, 5xx).

mod support;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use scout::mesh::Mesh;
use scout_common::config::Config;
use scout_common::{ApiError, ErrorCode};
use scout_proto::scout::publish::v1::publish_service_client::PublishServiceClient;
use scout_proto::scout::publish::v1::{
    CancelPublicationRequest, CompleteAccountLinkRequest, GetPublicationStatsRequest,
    ListAccountsRequest, ListPublicationsRequest, Platform, Privacy, Publication,
    PublicationStatus, PublishRequest, StartAccountLinkRequest, UnlinkAccountRequest,
};
use serde_json::json;
use support::youtube::{self, Fake, lock};
use support::*;

type Publish = PublishServiceClient<AuthedChannel>;

fn publishing_config(dir: &std::path::Path, base: &str) -> Config {
    let mut config = embedded_config(dir);
    youtube::configure(&mut config, base);
    config.platforms.redirect_url = "https://app.example/accounts/callback".into();
    config.platforms.token_keys = vec![format!(
        "k2026:{}",
        "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWY="
    )];
    config.edge.rate_limits.default.limit = 100_000;
    config
}

async fn publications(publish: &mut Publish, task_id: i64) -> Vec<Publication> {
    publish
        .list_publications(ListPublicationsRequest { task_id })
        .await
        .expect("list")
        .into_inner()
        .items
}

fn err(s: tonic::Status) -> ApiError {
    ApiError::from_status(&s)
}

fn request(task_id: i64, platforms: &[Platform]) -> PublishRequest {
    PublishRequest {
        task_id,
        title: "望京这家火锅太值了，人均八十吃到撑".into(),
        topics: vec!["#火锅".into(), "#望京美食".into()],
        platforms: platforms.iter().map(|p| *p as i32).collect(),
        description: "周末和朋友去的，汤底很香。".into(),
        privacy: Privacy::Unlisted as i32,
        ..Default::default()
    }
}

async fn scenario(
    config: Config,
    dir: &std::path::Path,
    fake: Fake,
    db_file: Option<std::path::PathBuf>,
) {
    let files = tempfile::tempdir().expect("files");
    let mesh = Mesh::start(config).await.expect("mesh");
    let base = mesh.edge_url();
    let me = login(&base, dir).await;
    let other = login(&base, dir).await;
    let mut tasks: UserTasks =
        scout_proto::scout::tasks::v1::tasks_service_client::TasksServiceClient::new(
            authed_channel(&base, &me.access),
        );
    let mut publish: Publish = PublishServiceClient::new(authed_channel(&base, &me.access));
    let mut theirs: Publish = PublishServiceClient::new(authed_channel(&base, &other.access));

    // Before the task is finished there is nothing to post.
    let (unfinished, _) = task_with_clips(&mut tasks, files.path(), "未完成小馆", &[1.0]).await;
    let e = err(publish
        .publish(request(unfinished, &[Platform::Xiaohongshu]))
        .await
        .expect_err("unfinished"));
    assert_eq!(e.code, ErrorCode::FailedPrecondition, "{e}");
    assert!(e.message.contains("no finished video"), "{e}");

    let task = completed_task(&mut tasks, files.path(), "海底捞火锅(望京店)").await;
    let video = final_video(&mut tasks, task).await;

    // Without a linked account YouTube is refused at once, naming the fix;
    // a bad request names its field; Douyin is not set up here.
    let e = err(publish
        .publish(request(task, &[Platform::Youtube]))
        .await
        .expect_err("no account"));
    assert_eq!(e.code, ErrorCode::FailedPrecondition, "{e}");
    assert!(e.message.contains("no youtube account is linked"), "{e}");
    let mut bad = request(task, &[Platform::Youtube]);
    bad.topics = vec!["no hash".into()];
    let e = err(publish.publish(bad).await.expect_err("bad topic"));
    assert_eq!(e.code, ErrorCode::InvalidArgument, "{e}");
    assert_eq!(
        e.metadata.get("field").map(String::as_str),
        Some("topics[0]"),
        "{e:?}"
    );
    let e = err(publish
        .start_account_link(StartAccountLinkRequest {
            platform: Platform::Douyin as i32,
        })
        .await
        .expect_err("douyin not set up"));
    assert!(e.message.contains("platforms.douyin.client_id"), "{e}");

    // Linking: Google's page with our client, offline access and a state.
    let start = publish
        .start_account_link(StartAccountLinkRequest {
            platform: Platform::Youtube as i32,
        })
        .await
        .expect("start")
        .into_inner();
    let page = url::Url::parse(&start.authorize_url).expect("authorize url");
    let q: HashMap<String, String> = page.query_pairs().into_owned().collect();
    assert_eq!(q["client_id"], "yt-client");
    assert_eq!(q["redirect_uri"], "https://app.example/accounts/callback");
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["access_type"], "offline");
    assert_eq!(q["state"], start.state);
    assert!(q["scope"].contains("youtube.upload"), "{q:?}");
    // Another user cannot complete my link; a declined link says so; a bad code is refused.
    let e = err(theirs
        .complete_account_link(CompleteAccountLinkRequest {
            code: "good-code".into(),
            state: start.state.clone(),
            error: String::new(),
        })
        .await
        .expect_err("not theirs"));
    assert!(e.message.contains("expired or was already used"), "{e}");
    let start = publish
        .start_account_link(StartAccountLinkRequest {
            platform: Platform::Youtube as i32,
        })
        .await
        .expect("start")
        .into_inner();
    let e = err(publish
        .complete_account_link(CompleteAccountLinkRequest {
            code: "bad-code".into(),
            state: start.state.clone(),
            error: String::new(),
        })
        .await
        .expect_err("bad code"));
    assert!(e.message.contains("invalid_grant"), "{e}");
    let account = link_account(&mut publish, Platform::Youtube, "good-code").await;
    assert_eq!(account.platform, Platform::Youtube as i32);
    assert_eq!(account.external_id, "UCshopscout");
    assert_eq!(account.display_name, "探店小王");
    // The state is single use.
    let e = err(publish
        .complete_account_link(CompleteAccountLinkRequest {
            code: "good-code".into(),
            state: start.state,
            error: String::new(),
        })
        .await
        .expect_err("used twice"));
    assert!(e.message.contains("expired or was already used"), "{e}");
    let listed = publish
        .list_accounts(ListAccountsRequest {})
        .await
        .expect("accounts")
        .into_inner()
        .items;
    assert_eq!(listed.len(), 1);
    assert!(
        theirs
            .list_accounts(ListAccountsRequest {})
            .await
            .expect("theirs")
            .into_inner()
            .items
            .is_empty()
    );
    // The tokens are not in the database in the clear.
    if let Some(db) = &db_file {
        // The database and its write-ahead log.
        let mut raw = std::fs::read(db).expect("publish database");
        let wal = db.with_extension("sqlite-wal");
        raw.extend(std::fs::read(wal).unwrap_or_default());
        assert!(
            raw.windows(6).any(|w| w == b"UCshop"),
            "the scan reads the rows it should"
        );
        for secret in [b"ya29.ACCESS-".as_slice(), b"1//REFRESH-".as_slice()] {
            assert!(
                !raw.windows(secret.len()).any(|w| w == secret),
                "a token in the clear in the database"
            );
        }
    }

    // The access token has expired on Google's side; the first upload drops
    // half-way: the token is refreshed, and the second attempt resumes.
    {
        let mut y = lock(&fake);
        y.valid.clear();
        y.drop_next_chunk = true;
    }
    let made = publish
        .publish(request(task, &[Platform::Youtube, Platform::Xiaohongshu]))
        .await
        .expect("publish")
        .into_inner()
        .publications;
    assert_eq!(made.len(), 2);
    assert_eq!(made[0].platform, Platform::Youtube as i32);
    assert_eq!(
        made[0].status,
        PublicationStatus::Scheduled as i32,
        "{:?}",
        made[0]
    );
    let output = tasks
        .get_output(scout_proto::scout::tasks::v1::GetOutputRequest { task_id: task })
        .await
        .expect("output")
        .into_inner()
        .video;
    let seconds = output.map(|o| o.duration_seconds).unwrap_or_default();
    assert_eq!(
        made[0].short,
        seconds < 60.0,
        "a 9:16 video under a minute is a Short ({seconds} s)"
    );
    assert_eq!(made[0].account_name, "探店小王");
    // Xiaohongshu: the package for posting by hand.
    assert_eq!(
        made[1].status,
        PublicationStatus::ReadyToPost as i32,
        "{:?}",
        made[1]
    );
    let manual = made[1].manual.clone().expect("manual post");
    assert!(
        manual.caption.starts_with("望京这家火锅") && manual.caption.contains("#望京美食"),
        "{manual:?}"
    );
    assert!(
        manual
            .deep_link
            .starts_with("https://creator.xiaohongshu.com/"),
        "{manual:?}"
    );
    let got = reqwest::get(&manual.video_url)
        .await
        .expect("video")
        .bytes()
        .await
        .expect("bytes");
    assert_eq!(got.len(), video.len(), "the package's video is the task's");
    assert!(
        reqwest::get(&manual.cover_url)
            .await
            .expect("cover")
            .status()
            .is_success()
    );
    // A second post of the same task to YouTube while one is on its way.
    let e = err(publish
        .publish(request(task, &[Platform::Youtube]))
        .await
        .expect_err("twice"));
    assert!(
        e.message
            .contains("already published or being published on youtube"),
        "{e}"
    );
    // Another user sees none of it.
    let e = err(theirs
        .list_publications(ListPublicationsRequest { task_id: task })
        .await
        .expect_err("theirs"));
    assert_eq!(e.code, ErrorCode::NotFound, "{e}");

    let done = wait_publication(&mut publish, task, made[0].id, PublicationStatus::Published).await;
    assert_eq!(done.attempts, 2, "{done:?}");
    assert!(done.error_message.is_empty(), "{done:?}");
    let page = if done.short {
        "https://www.youtube.com/shorts/vid"
    } else {
        "https://www.youtube.com/watch?v=vid"
    };
    assert!(done.external_url.starts_with(page), "{done:?}");
    assert!(done.published_at.is_some());
    {
        let y = lock(&fake);
        assert!(y.refreshes >= 1, "the expired token was refreshed");
        assert_eq!(
            y.sessions.len(),
            1,
            "the second attempt resumed the same session"
        );
        assert!(!y.queries.is_empty(), "it asked how much had arrived");
        let (meta, bytes, _) = &y.videos[&done.post_id];
        assert!(
            bytes == &video,
            "YouTube has the task's video, byte for byte"
        );
        assert_eq!(meta["status"]["containsSyntheticMedia"], true, "{meta}");
        assert_eq!(meta["status"]["privacyStatus"], "unlisted", "{meta}");
        assert_eq!(meta["status"]["selfDeclaredMadeForKids"], false, "{meta}");
        assert_eq!(
            meta["snippet"]["title"], "望京这家火锅太值了，人均八十吃到撑",
            "{meta}"
        );
        assert_eq!(
            meta["snippet"]["tags"],
            json!(["火锅", "望京美食"]),
            "{meta}"
        );
        let description = meta["snippet"]["description"].as_str().unwrap_or_default();
        assert!(description.contains("#望京美食"), "{description}");
        assert_eq!(description.contains("#Shorts"), done.short, "{description}");
    }

    // Figures: fetched on the schedule, a gap while the platform is down.
    let stats = |p: &mut Publish| {
        let mut p = p.clone();
        async move {
            p.get_publication_stats(GetPublicationStatsRequest {
                task_id: task,
                ..Default::default()
            })
            .await
            .expect("stats")
            .into_inner()
        }
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let first = loop {
        let s = stats(&mut publish).await;
        if s.items.first().is_some_and(|i| i.points.len() >= 2) {
            break s;
        }
        assert!(Instant::now() < deadline, "no figures fetched: {s:?}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let item = &first.items[0];
    assert_eq!(item.publication_id, done.id);
    assert_eq!(item.platform, Platform::Youtube as i32);
    let latest = item.latest.expect("latest");
    assert_eq!(latest, item.points.last().cloned().expect("point"));
    let totals = first.totals.expect("totals");
    assert_eq!(
        (totals.views, totals.likes, totals.comments),
        (latest.views, 7, 2)
    );
    assert!(
        item.points.windows(2).all(|w| w[0].views < w[1].views),
        "{item:?}"
    );
    lock(&fake).stats_down = true;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let during = stats(&mut publish).await;
    lock(&fake).stats_down = false;
    let gap = during.items[0].points.len();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let after = stats(&mut publish).await;
    assert!(
        after.items[0].points.len() > gap,
        "fetching went on after the outage"
    );
    // The user's figures over all tasks, and a range that holds none.
    let all = publish
        .get_publication_stats(GetPublicationStatsRequest::default())
        .await
        .expect("user stats")
        .into_inner();
    assert_eq!(all.items.len(), 1);
    let old = publish
        .get_publication_stats(GetPublicationStatsRequest {
            task_id: task,
            from: Some(prost_types::Timestamp {
                seconds: 1_000_000_000,
                nanos: 0,
            }),
            to: Some(prost_types::Timestamp {
                seconds: 1_000_000_100,
                nanos: 0,
            }),
        })
        .await
        .expect("old range")
        .into_inner();
    assert!(old.items.is_empty() && old.totals.expect("totals").views == 0);

    // REST, in the seed's envelope: the list and the figures.
    let rest = get_json(
        &format!("{base}/api/v1/tasks/{task}/publications"),
        &me.access,
    )
    .await;
    assert_eq!(rest["code"], 0, "{rest}");
    let items = rest["data"]["items"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        items
            .iter()
            .any(|i| i["platform"] == "youtube" && i["status"] == "published"),
        "{rest}"
    );
    assert!(
        items
            .iter()
            .any(|i| i["platform"] == "xiaohongshu" && i["status"] == "ready_to_post"),
        "{rest}"
    );
    let rest = get_json(
        &format!("{base}/api/v1/publication-stats?task_id={task}"),
        &me.access,
    )
    .await;
    assert_eq!(rest["code"], 0, "{rest}");
    assert!(
        rest["data"]["totals"]["views"].as_i64().unwrap_or(0) > 0,
        "{rest}"
    );

    // Unlinking forgets the account.
    publish
        .unlink_account(UnlinkAccountRequest {
            platform: Platform::Youtube as i32,
        })
        .await
        .expect("unlink");
    assert!(
        publish
            .list_accounts(ListAccountsRequest {})
            .await
            .expect("accounts")
            .into_inner()
            .items
            .is_empty()
    );
    mesh.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn a_video_is_published_to_youtube_resumed_refreshed_and_counted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (fake, base) = youtube::youtube().await;
    let config = publishing_config(dir.path(), &base);
    let db = dir.path().join("publish.sqlite");
    scenario(config, dir.path(), fake, Some(db)).await;
}

#[tokio::test]
async fn a_video_is_published_to_youtube_on_postgres_redis_kafka_s3() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (fake, base) = youtube::youtube().await;
    let (mut config, _dbs) = distributed_config(dir.path());
    let publish_db = scout_common::testing::postgres_database();
    config.publish.database_url = publish_db.url.clone();
    let yt = publishing_config(dir.path(), &base);
    config.platforms = yt.platforms;
    scenario(config, dir.path(), fake, None).await;
}

/// Failures: an outage outlasting the retries, a rejection in the
/// platform's words, a scheduled post that waits for its time, a
/// cancellation, and a revoked link.
#[tokio::test]
async fn refusals_outages_schedules_and_revoked_links() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (fake, base) = youtube::youtube().await;
    let config = publishing_config(dir.path(), &base);
    let files = tempfile::tempdir().expect("files");
    let mesh = Mesh::start(config).await.expect("mesh");
    let edge = mesh.edge_url();
    let me = login(&edge, dir.path()).await;
    let mut tasks: UserTasks =
        scout_proto::scout::tasks::v1::tasks_service_client::TasksServiceClient::new(
            authed_channel(&edge, &me.access),
        );
    let mut publish: Publish = PublishServiceClient::new(authed_channel(&edge, &me.access));
    let task = completed_task(&mut tasks, files.path(), "老王面馆").await;
    link_account(&mut publish, Platform::Youtube, "good-code").await;

    // YouTube down through every attempt: failed, saying why and how often.
    lock(&fake).uploads_down = true;
    let p = publish
        .publish(request(task, &[Platform::Youtube]))
        .await
        .expect("publish")
        .into_inner()
        .publications;
    let failed = wait_publication(&mut publish, task, p[0].id, PublicationStatus::Failed).await;
    lock(&fake).uploads_down = false;
    assert_eq!(failed.attempts, 3, "{failed:?}");
    assert!(
        failed.error_message.contains("Backend Error")
            && failed.error_message.contains("after 3 attempts"),
        "{failed:?}"
    );

    // Rejected after processing: the platform's reason.
    lock(&fake).verdict = Some(("rejected", "duplicate"));
    let p = publish
        .publish(request(task, &[Platform::Youtube]))
        .await
        .expect("publish")
        .into_inner()
        .publications;
    let rejected = wait_publication(&mut publish, task, p[0].id, PublicationStatus::Failed).await;
    assert_eq!(
        rejected.error_message, "YouTube rejected the video: duplicate",
        "{rejected:?}"
    );
    lock(&fake).verdict = None;

    // Scheduled a day ahead, then cancelled; cancelled twice is refused.
    let mut later = request(task, &[Platform::Youtube]);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    later.scheduled_at = Some(prost_types::Timestamp {
        seconds: now + 86_400,
        nanos: 0,
    });
    let p = publish
        .publish(later)
        .await
        .expect("schedule")
        .into_inner()
        .publications;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let still = publications(&mut publish, task)
        .await
        .into_iter()
        .find(|x| x.id == p[0].id)
        .expect("listed");
    assert_eq!(
        still.status,
        PublicationStatus::Scheduled as i32,
        "{still:?}"
    );
    assert_eq!(still.attempts, 0);
    let cancelled = publish
        .cancel_publication(CancelPublicationRequest {
            publication_id: p[0].id,
        })
        .await
        .expect("cancel")
        .into_inner()
        .publication
        .expect("publication");
    assert_eq!(cancelled.status, PublicationStatus::Cancelled as i32);
    let e = err(publish
        .cancel_publication(CancelPublicationRequest {
            publication_id: p[0].id,
        })
        .await
        .expect_err("again"));
    assert!(e.message.contains("only a scheduled publication"), "{e}");
    // Too far ahead.
    let mut far = request(task, &[Platform::Youtube]);
    far.scheduled_at = Some(prost_types::Timestamp {
        seconds: now + 40 * 86_400,
        nanos: 0,
    });
    let e = err(publish.publish(far).await.expect_err("too far"));
    assert_eq!(
        e.metadata.get("field").map(String::as_str),
        Some("scheduled_at"),
        "{e:?}"
    );

    // Scheduled a few seconds ahead: posted at its time, not before.
    let mut soon = request(task, &[Platform::Youtube]);
    soon.scheduled_at = Some(prost_types::Timestamp {
        seconds: now + 3,
        nanos: 0,
    });
    let p = publish
        .publish(soon)
        .await
        .expect("schedule")
        .into_inner()
        .publications;
    let posted = wait_publication(&mut publish, task, p[0].id, PublicationStatus::Published).await;
    let at = posted.published_at.expect("published_at").seconds;
    assert!(at >= now + 3, "posted at {at}, scheduled for {}", now + 3);

    // The user revoked our access on Google's side: the next post fails
    // asking to link again, and the account shows it.
    {
        let mut y = lock(&fake);
        y.valid.clear();
        for ok in y.refresh.values_mut() {
            *ok = false;
        }
    }
    let task2 = completed_task(&mut tasks, files.path(), "第三家").await;
    let p = publish
        .publish(request(task2, &[Platform::Youtube]))
        .await
        .expect("publish")
        .into_inner()
        .publications;
    let revoked = wait_publication(&mut publish, task2, p[0].id, PublicationStatus::Failed).await;
    assert!(
        revoked.error_message.contains("link the account again"),
        "{revoked:?}"
    );
    let accounts = publish
        .list_accounts(ListAccountsRequest {})
        .await
        .expect("accounts")
        .into_inner()
        .items;
    assert!(
        accounts[0].problem.contains("invalid_grant"),
        "{accounts:?}"
    );
    let e = err(publish
        .publish(request(task, &[Platform::Xiaohongshu, Platform::Youtube]))
        .await
        .expect_err("relink"));
    assert!(e.message.contains("link the account again"), "{e}");
    mesh.shutdown().await.expect("shutdown");
}

/// Rotating the key that seals the tokens: with a new key first and the old
/// one kept, every token is sealed again with the new one at start; then
/// the old key can go.
#[tokio::test]
async fn rotating_the_token_key_reseals_every_account() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_fake, base) = youtube::youtube().await;
    let old = "k2026:QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWY=".to_string();
    let new = "k2027:MDEyMzQ1Njc4OWFiY2RlZmdoaWprbG1ub3BxcnN0dXY=".to_string();
    let db = dir.path().join("publish.sqlite");
    let sealed_with = |kid: &str| {
        let mut raw = std::fs::read(&db).expect("database");
        raw.extend(std::fs::read(db.with_extension("sqlite-wal")).unwrap_or_default());
        let needle = format!("{kid}:");
        raw.windows(needle.len())
            .filter(|w| *w == needle.as_bytes())
            .count()
    };
    let mut config = publishing_config(dir.path(), &base);
    config.platforms.token_keys = vec![old.clone()];
    let mesh = Mesh::start(config.clone()).await.expect("mesh");
    // One login: identity's signing key is in the data directory, so the
    // token outlives the restarts.
    let me = login(&mesh.edge_url(), dir.path()).await;
    let mut publish: Publish =
        PublishServiceClient::new(authed_channel(&mesh.edge_url(), &me.access));
    link_account(&mut publish, Platform::Youtube, "good-code").await;
    mesh.shutdown().await.expect("shutdown");
    assert!(
        sealed_with("k2026") >= 2,
        "both tokens sealed with the first key"
    );

    // The new key first, the old kept: re-sealed at start.
    config.platforms.token_keys = vec![new.clone(), old.clone()];
    let mesh = Mesh::start(config.clone()).await.expect("mesh");
    mesh.shutdown().await.expect("shutdown");
    assert!(sealed_with("k2027") >= 2, "re-sealed with the new key");

    // The old key gone: the account is still there, its tokens sealed with
    // the key that remains (that they open is `vault`'s unit test).
    config.platforms.token_keys = vec![new];
    let mesh = Mesh::start(config).await.expect("mesh");
    let mut publish: Publish =
        PublishServiceClient::new(authed_channel(&mesh.edge_url(), &me.access));
    let accounts = publish
        .list_accounts(ListAccountsRequest {})
        .await
        .expect("accounts")
        .into_inner()
        .items;
    assert_eq!(accounts.len(), 1, "{accounts:?}");
    assert!(accounts[0].problem.is_empty(), "{accounts:?}");
    mesh.shutdown().await.expect("shutdown");
}
