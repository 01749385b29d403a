//! Quotas per membership tier, on PostgreSQL + Redis + Kafka + S3: a free
//! user's fourth video of the day is refused with the quota named and when
//! it resets (gRPC RESOURCE_EXHAUSTED with RetryInfo, REST 429 with code
//! 40304 and Retry-After), across a restart of the whole mesh, without
//! losing the task; a pro user makes a fourth.

mod support;

use std::time::Duration;

use diesel::prelude::*;
use scout::mesh::Mesh;
use scout_common::adapters::bus::Subscription;
use scout_common::{ApiError, ErrorCode};
use scout_proto::scout::tasks::v1::tasks_service_client::TasksServiceClient;
use scout_proto::scout::tasks::v1::{
    Paragraph, ReportScriptRequest, StartAnalysisRequest, StartComposeRequest, TaskStatus,
};
use support::*;

/// The analyze topic, subscribed as the vision worker would be.
async fn analyze_jobs(mesh: &Mesh) -> Box<dyn Subscription> {
    let ctx = mesh.context();
    let topic = format!("{}analyze", ctx.jobs.analyze.prefix);
    ctx.adapters
        .bus
        .subscribe(
            &format!("test-vision-{}", scout_common::testing::unique()),
            std::slice::from_ref(&topic),
        )
        .await
        .expect("subscribe")
}

/// A task of the caller's with one clip and a script: ready to compose.
async fn ready_task(
    mesh: &Mesh,
    tasks: &mut UserTasks,
    jobs: &mut Box<dyn Subscription>,
    files: &std::path::Path,
    n: usize,
) -> i64 {
    let (id, clips) = task_with_clips(tasks, files, &format!("小馆{n}号"), &[1.0]).await;
    tasks
        .start_analysis(StartAnalysisRequest { task_id: id })
        .await
        .expect("analyse");
    // A new subscriber reads the topic from its start: skip the jobs of
    // tasks analysed before.
    let job = loop {
        let job = take_analyze_job(jobs, Duration::from_secs(60)).await;
        if job.task_id == id {
            break job;
        }
    };
    tasks_worker(mesh)
        .report_script(ReportScriptRequest {
            job_id: job.job_id,
            task_id: id,
            paragraphs: vec![Paragraph {
                id: "para_1".into(),
                section: "开场".into(),
                shot_id: clips[0],
                text: "家人们，这家小馆值得一来！".into(),
                ..Default::default()
            }],
            provider: "template".into(),
            provider_note: String::new(),
        })
        .await
        .expect("script");
    wait_status(tasks, id, TaskStatus::ScriptReady, Duration::from_secs(30)).await;
    id
}

async fn compose(tasks: &mut UserTasks, id: i64) -> Result<(), tonic::Status> {
    tasks
        .start_compose(StartComposeRequest {
            task_id: id,
            ..Default::default()
        })
        .await
        .map(|_| ())
}

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
