//! Quotas per membership tier, on PostgreSQL + Redis + Kafka + S3: a free
//! user's fourth video of the day is refused with the quota named and when
//! it resets (gRPC RESOURCE_EXHAUSTED with RetryInfo, REST 429 with code
//! 40304 and Retry-After), across a restart of the whole mesh, without
//! losing the task; a pro user makes a fourth.

mod support;

use std::time::Duration;

use diesel::prelude::*;
use scout_common::{ApiError, ErrorCode};
use scout_proto::scout::tasks::v1::TaskStatus;
use scout_proto::scout::tasks::v1::tasks_service_client::TasksServiceClient;
use support::*;

#[tokio::test]
async fn a_free_users_fourth_video_of_the_day_waits_for_tomorrow() {
    let dir = tempfile::tempdir().expect("tempdir");
    let files = tempfile::tempdir().expect("files");
    let (config, dbs) = distributed_config(dir.path());
    assert_eq!(config.quotas.free.videos_per_day, 3, "seed 002's default");

    // Two videos, then the whole mesh restarts.
    let mesh = mesh_without_vision(config.clone()).await;
    let base = mesh.edge_url();
    let mut jobs = analyze_jobs(&mesh).await;
    let free = login(&base, dir.path()).await;
    let mut tasks = TasksServiceClient::new(authed_channel(&base, &free.access));
    let mut ready = Vec::new();
    for n in 0..4 {
        ready.push(ready_task(&mesh, &mut tasks, &mut jobs, files.path(), n).await);
    }
    compose(&mut tasks, ready[0]).await.expect("first video");
    compose(&mut tasks, ready[1]).await.expect("second video");
    drop(jobs);
    mesh.shutdown().await.expect("shutdown");

    let mesh = mesh_without_vision(config.clone()).await;
    let base = mesh.edge_url();
    let free = refresh(&base, &free.refresh).await;
    let mut tasks = TasksServiceClient::new(authed_channel(&base, &free.access));
    compose(&mut tasks, ready[2])
        .await
        .expect("third video: the restart kept the count, not more");
    let refused = compose(&mut tasks, ready[3])
        .await
        .expect_err("the fourth video of the day");
    assert_eq!(
        refused.code(),
        tonic::Code::ResourceExhausted,
        "{refused:?}"
    );
    assert!(
        refused.message().contains("videos_per_day") && refused.message().contains("free"),
        "names the quota and the tier: {}",
        refused.message()
    );
    let api = ApiError::from_status(&refused);
    assert_eq!(api.code, ErrorCode::QuotaExceeded);
    let after = api.retry_after.expect("RetryInfo says when it resets");
    assert!(after > Duration::ZERO && after <= Duration::from_secs(86_400));
    assert_eq!(
        api.metadata.get("quota").map(String::as_str),
        Some("videos_per_day")
    );

    // The same over REST: 429, the quota code, Retry-After.
    let resp = reqwest::Client::new()
        .post(format!("{base}/api/v1/tasks/{}/compose", ready[3]))
        .bearer_auth(&free.access)
        .json(&serde_json::json!({}))
        .send()
        .await
        .expect("REST compose");
    assert_eq!(resp.status(), 429);
    assert!(resp.headers().get("retry-after").is_some());
    let body: serde_json::Value = resp.json().await.expect("envelope");
    assert_eq!(body["code"], ErrorCode::QuotaExceeded as i32, "{body}");
    assert_eq!(body["details"]["quota"], "videos_per_day", "{body}");

    // Nothing lost: the refused task still waits, script and all.
    let t = wait_status(
        &mut tasks,
        ready[3],
        TaskStatus::ScriptReady,
        Duration::from_secs(5),
    )
    .await;
    assert!(t.failure.is_none());

    // A pro user makes a fourth video.
    let mut jobs = analyze_jobs(&mesh).await;
    let pro = login(&base, dir.path()).await;
    let mut identity_db = PgConnection::establish(&dbs[0].url).expect("identity database");
    diesel::sql_query("UPDATE users SET membership_type = 'pro' WHERE id = $1")
        .bind::<diesel::sql_types::BigInt, _>(pro.user_id)
        .execute(&mut identity_db)
        .expect("made pro");
    let pro = refresh(&base, &pro.refresh).await;
    let mut tasks = TasksServiceClient::new(authed_channel(&base, &pro.access));
    for n in 0..4 {
        let id = ready_task(&mesh, &mut tasks, &mut jobs, files.path(), 10 + n).await;
        compose(&mut tasks, id)
            .await
            .unwrap_or_else(|e| panic!("pro video {}: {e:?}", n + 1));
    }
    drop(jobs);
    mesh.shutdown().await.expect("shutdown");
}

async fn total(tasks: &mut UserTasks) -> i64 {
    tasks
        .list_tasks(scout_proto::scout::tasks::v1::ListTasksRequest::default())
        .await
        .expect("list")
        .into_inner()
        .pagination
        .expect("pagination")
        .total
}

/// Seed 002's batch creation: up to 10 tasks in one call, all or none
/// against the day's videos; each batch task's first compose is already
/// paid. The per-task quotas of a tier (clips per task here) name
/// themselves when hit.
#[tokio::test]
async fn batches_take_the_quota_all_or_none_and_per_task_limits_name_the_tier() {
    use scout_proto::scout::tasks::v1::{
        BatchCreateTasksRequest, CreateTaskRequest, CreateVideoUploadUrlRequest,
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let files = tempfile::tempdir().expect("files");
    let mut config = embedded_config(dir.path());
    config.quotas.free.clips_per_task = 1;
    let mesh = mesh_without_vision(config).await;
    let base = mesh.edge_url();
    let free = login(&base, dir.path()).await;
    let mut tasks = TasksServiceClient::new(authed_channel(&base, &free.access));
    let item = |name: &str| CreateTaskRequest {
        shop_name: name.into(),
        shop_type: 1,
        promotion_text: String::new(),
        video_style: 1,
        ..CreateTaskRequest::default()
    };
    let batch = |items: Vec<CreateTaskRequest>| BatchCreateTasksRequest { tasks: items };

    // One bad item: nothing is made, and the field names the item.
    let bad = tasks
        .batch_create_tasks(batch(vec![item("甲"), item("")]))
        .await
        .expect_err("an empty shop name");
    let api = ApiError::from_status(&bad);
    assert_eq!(api.code, ErrorCode::InvalidArgument);
    assert!(
        bad.message().contains("tasks[1].shop_name"),
        "{}",
        bad.message()
    );
    // More than the three videos a free user makes today: nothing is made.
    let over = tasks
        .batch_create_tasks(batch((0..4).map(|i| item(&format!("店{i}"))).collect()))
        .await
        .expect_err("four videos for a free user");
    assert_eq!(over.code(), tonic::Code::ResourceExhausted, "{over:?}");
    assert!(
        over.message().contains("videos_per_day"),
        "{}",
        over.message()
    );
    assert_eq!(total(&mut tasks).await, 0, "all or none");
    let eleven = tasks
        .batch_create_tasks(batch((0..11).map(|i| item(&format!("店{i}"))).collect()))
        .await
        .expect_err("eleven");
    assert_eq!(
        ApiError::from_status(&eleven).code,
        ErrorCode::InvalidArgument
    );

    // Two fit; then only one is left, so a second pair is refused.
    let made = tasks
        .batch_create_tasks(batch(vec![item("一号店"), item("二号店")]))
        .await
        .expect("two")
        .into_inner()
        .items;
    assert_eq!(made.len(), 2);
    assert_eq!(made[1].shop.as_ref().expect("shop").name, "二号店");
    tasks
        .batch_create_tasks(batch(vec![item("三号店"), item("四号店")]))
        .await
        .expect_err("one video left");
    assert_eq!(total(&mut tasks).await, 2);

    // The same over REST, as seed 002 sends it.
    let resp = reqwest::Client::new()
        .post(format!("{base}/api/v1/tasks/batch"))
        .bearer_auth(&free.access)
        .json(&serde_json::json!({"tasks": [{"shop_name": "五号店", "shop_type": "food"}]}))
        .send()
        .await
        .expect("POST");
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(body["data"]["items"][0]["shop"]["name"], "五号店", "{body}");

    // A batch task's compose is already paid: the day is used up, yet it composes.
    let mut jobs = analyze_jobs(&mesh).await;
    let id = made[0].id;
    let (_, clips) = {
        use scout_proto::scout::tasks::v1::ConfirmVideoRequest;
        let file = clip(files.path(), "one.mp4", 1.0);
        let key = curl_upload(&mut tasks, id, &file, "video/mp4").await;
        let v = tasks
            .confirm_video(ConfirmVideoRequest {
                task_id: id,
                oss_key: key,
                original_filename: "one.mp4".into(),
            })
            .await
            .expect("confirm")
            .into_inner()
            .video
            .expect("video");
        (id, vec![v.id])
    };
    // clips_per_task = 1 on this free tier: a second clip is refused, naming it.
    let second = tasks
        .create_video_upload_url(CreateVideoUploadUrlRequest {
            task_id: id,
            filename: "two.mp4".into(),
            file_size: 1000,
            content_type: "video/mp4".into(),
        })
        .await
        .expect_err("a second clip");
    let api = ApiError::from_status(&second);
    assert_eq!(api.code, ErrorCode::QuotaExceeded);
    assert_eq!(
        api.metadata.get("quota").map(String::as_str),
        Some("clips_per_task")
    );
    assert_eq!(api.metadata.get("tier").map(String::as_str), Some("free"));
    assert!(
        second.message().contains("at most 1 clips"),
        "{}",
        second.message()
    );
    tasks
        .start_analysis(scout_proto::scout::tasks::v1::StartAnalysisRequest { task_id: id })
        .await
        .expect("analyse");
    let job = take_analyze_job(&mut jobs, Duration::from_secs(60)).await;
    tasks_worker(&mesh)
        .report_script(scout_proto::scout::tasks::v1::ReportScriptRequest {
            pictures: Vec::new(),
            library_clips: Vec::new(),
            job_id: job.job_id,
            task_id: id,
            paragraphs: vec![scout_proto::scout::tasks::v1::Paragraph {
                id: "para_1".into(),
                section: "开场".into(),
                shot_id: clips[0],
                text: "家人们，这家店值得一来！".into(),
                ..Default::default()
            }],
            provider: "template".into(),
            provider_note: String::new(),
            usage: None,
        })
        .await
        .expect("script");
    wait_status(
        &mut tasks,
        id,
        TaskStatus::ScriptReady,
        Duration::from_secs(30),
    )
    .await;
    compose(&mut tasks, id)
        .await
        .expect("a batch task's video was paid when the batch was made");
    drop(jobs);
    mesh.shutdown().await.expect("shutdown");
}
