//! Publish assist through the edge with the template writer: 8-10 topics and
//! 4 titles once the task has a script, the same suggestions again from the
//! cache, five regenerations (each different) then QUOTA_EXCEEDED, new
//! suggestions when the script changes, NOT_FOUND for another user's task,
//! FAILED_PRECONDITION before a script exists, REST = gRPC, and on
//! PostgreSQL + Redis the same.

mod support;

use std::time::Duration;

use scout::mesh::Mesh;
use scout_common::{ApiError, ErrorCode, testing};
use scout_proto::scout::publish::v1::publish_service_client::PublishServiceClient;
use scout_proto::scout::publish::v1::{
    GetPublishAssistRequest, PublishAssist, PublishRequest, RegeneratePublishAssistRequest,
};
use scout_proto::scout::tasks::v1::{
    GetScriptRequest, ParagraphEdit, StartAnalysisRequest, TaskStatus, UpdateScriptRequest,
};
use support::*;

type Publish = PublishServiceClient<AuthedChannel>;

async fn get(p: &mut Publish, task_id: i64) -> Result<PublishAssist, ApiError> {
    p.get_publish_assist(GetPublishAssistRequest { task_id })
        .await
        .map(|r| r.into_inner().assist.expect("assist"))
        .map_err(|s| ApiError::from_status(&s))
}

async fn regenerate(p: &mut Publish, task_id: i64) -> Result<PublishAssist, ApiError> {
    p.regenerate_publish_assist(RegeneratePublishAssistRequest { task_id })
        .await
        .map(|r| r.into_inner().assist.expect("assist"))
        .map_err(|s| ApiError::from_status(&s))
}

fn assert_shape(a: &PublishAssist) {
    assert!((8..=10).contains(&a.topics.len()), "{a:?}");
    for t in &a.topics {
        assert!(
            t.starts_with('#') && !t.contains(' ') && t.len() > 1,
            "{t:?}"
        );
    }
    assert_eq!(a.titles.len(), 4, "{a:?}");
    for t in &a.titles {
        assert!((20..=50).contains(&t.chars().count()), "{t:?}");
    }
}

async fn scenario(mut config: scout_common::config::Config, dir: &std::path::Path) {
    let files = tempfile::tempdir().expect("files");
    config.edge.rate_limits.default.limit = 10_000;
    // The edge's own limit on regenerations (5 per 5 min) would answer
    // before the service's quota does.
    config.edge.rate_limits.regenerate.limit = 100;
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

    let (task, clips) =
        task_with_clips(&mut tasks, files.path(), "海底捞火锅(望京店)", &[2.0, 2.0]).await;
    // No script yet.
    let e = get(&mut publish, task).await.expect_err("no script");
    assert_eq!(e.code, ErrorCode::FailedPrecondition, "{e}");
    assert!(e.message.contains("no script"), "{e}");

    tasks
        .start_analysis(StartAnalysisRequest { task_id: task })
        .await
        .expect("analyse");
    wait_status(
        &mut tasks,
        task,
        TaskStatus::ScriptReady,
        Duration::from_secs(120),
    )
    .await;

    let first = get(&mut publish, task).await.expect("assist");
    assert_shape(&first);
    assert_eq!(first.task_id, task);
    assert_eq!(first.provider, "template");
    assert_eq!(first.regenerate_remaining, 5);
    assert!(
        first.topics.contains(&"#海底捞火锅".to_string()),
        "{first:?}"
    );
    assert!(first.topics.contains(&"#望京美食".to_string()), "{first:?}");
    // Served again unchanged.
    assert_eq!(get(&mut publish, task).await.expect("again"), first);

    // REST, in the seed's envelope, says the same.
    let rest: serde_json::Value = get_json(
        &format!("{base}/api/v1/tasks/{task}/publish-assist"),
        &me.access,
    )
    .await;
    assert_eq!(rest["code"], 0, "{rest}");
    assert_eq!(
        rest["data"]["topics"],
        serde_json::json!(first.topics),
        "{rest}"
    );
    assert_eq!(rest["data"]["regenerate_remaining"], 5, "{rest}");

    // Another user's task does not exist for them.
    for e in [
        get(&mut theirs, task).await.expect_err("theirs"),
        regenerate(&mut theirs, task).await.expect_err("theirs"),
    ] {
        assert_eq!(e.code, ErrorCode::NotFound, "{e}");
    }

    // Five regenerations, each new, then the quota.
    let mut seen = vec![first.clone()];
    for left in (0..5).rev() {
        let a = regenerate(&mut publish, task).await.expect("regenerate");
        assert_shape(&a);
        assert_eq!(a.regenerate_remaining, left);
        let prev = seen.last().expect("last");
        assert!(
            a.topics != prev.topics || a.titles != prev.titles,
            "regeneration {} repeated the last suggestions",
            5 - left
        );
        seen.push(a);
    }
    let e = regenerate(&mut publish, task).await.expect_err("quota");
    assert_eq!(e.code, ErrorCode::QuotaExceeded, "{e}");
    let last = seen.last().expect("last").clone();
    assert_eq!(get(&mut publish, task).await.expect("after quota"), last);

    // A new script version makes new suggestions (not counted).
    let script = tasks
        .get_script(GetScriptRequest { task_id: task })
        .await
        .expect("script")
        .into_inner()
        .script
        .expect("script");
    tasks
        .update_script(UpdateScriptRequest {
            task_id: task,
            paragraphs: script
                .paragraphs
                .iter()
                .map(|p| ParagraphEdit {
                    id: p.id.clone(),
                    section: p.section.clone(),
                    shot_id: clips[0],
                    text: format!("{}这家的烤鸭也值得一试。", p.text),
                })
                .collect(),
        })
        .await
        .expect("edit");
    let after = get(&mut publish, task).await.expect("after edit");
    assert_shape(&after);
    assert_eq!(after.regenerate_remaining, 0);
    assert!(after.topics.contains(&"#烤鸭".to_string()), "{after:?}");

    // The suggestions post as they are; the task has no video yet, so
    // publishing says so (tests/publishing.rs posts finished ones).
    let s = publish
        .publish(PublishRequest {
            task_id: task,
            platforms: vec![2],
            title: after.titles[0].clone(),
            topics: after.topics.clone(),
            ..Default::default()
        })
        .await
        .expect_err("no video yet");
    assert_eq!(s.code(), tonic::Code::FailedPrecondition);
    assert!(s.message().contains("no finished video"), "{}", s.message());
    mesh.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn publish_assist_on_embedded_defaults() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = embedded_config(dir.path());
    scenario(config, dir.path()).await;
}

#[tokio::test]
async fn publish_assist_on_postgres_and_redis() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = embedded_config(dir.path());
    let (identity_db, tasks_db, publish_db) = (
        testing::postgres_database(),
        testing::postgres_database(),
        testing::postgres_database(),
    );
    config.identity.database_url = identity_db.url.clone();
    config.tasks.database_url = tasks_db.url.clone();
    config.publish.database_url = publish_db.url.clone();
    config.cache = testing::redis_config();
    scenario(config, dir.path()).await;
}
