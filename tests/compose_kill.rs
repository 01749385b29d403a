//! Kill the render worker in the middle of a compose: the job was never
//! committed, so the broker hands it to the next render node, the task
//! completes, and exactly one `final.mp4` exists. Render runs as its own
//! process (`scout serve render`) and is SIGKILLed; the rest of the mesh,
//! PostgreSQL, Redis, Kafka and S3 carry on.

mod support;

use std::time::{Duration, Instant};

use scout::mesh::{Mesh, MeshOptions};
use scout_proto::scout::tasks::v1::tasks_service_client::TasksServiceClient;
use scout_proto::scout::tasks::v1::{
    ConfirmVideoRequest, CreateTaskRequest, GetOutputRequest, GetProgressRequest, GetTaskRequest,
    Paragraph, ReportScriptRequest, StartAnalysisRequest, StartComposeRequest, TaskStatus,
};
use support::*;

#[tokio::test]
async fn a_render_node_killed_mid_compose_loses_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let files = tempfile::tempdir().expect("files");
    let (config, _dbs) = distributed_config(dir.path());
    let mesh = Mesh::start_with(
        config.clone(),
        MeshOptions {
            external: vec![
                scout_common::ServiceName::Render,
                scout_common::ServiceName::Vision,
            ],
            fixed_ports: true,
        },
    )
    .await
    .expect("mesh without render");
    let render_url = config.render.endpoint_url();
    let start_render = |n: usize| ScoutProcess::node(dir.path(), &config, "render", n);
    let mut first = start_render(1);
    first.wait_serving(&render_url).await;

    let base = mesh.edge_url();
    let ctx = mesh.context().clone();
    let me = login(&base, dir.path()).await;
    let mut tasks = TasksServiceClient::new(authed_channel(&base, &me.access));
    let analyze_topic = format!("{}analyze", ctx.jobs.analyze.prefix);
    let mut sub = ctx
        .adapters
        .bus
        .subscribe(
            &format!("test-vision-{}", scout_common::testing::unique()),
            std::slice::from_ref(&analyze_topic),
        )
        .await
        .expect("subscribe");
    let task = tasks
        .create_task(CreateTaskRequest {
            shop_name: "探鱼(三里屯店)".into(),
            shop_type: 1,
            ..Default::default()
        })
        .await
        .expect("create")
        .into_inner()
        .task
        .expect("task");
    let file = clip(files.path(), "fish.mp4", 3.0);
    let key = curl_upload(&mut tasks, task.id, &file, "video/mp4").await;
    let clip_id = tasks
        .confirm_video(ConfirmVideoRequest {
            task_id: task.id,
            oss_key: key,
            original_filename: "fish.mp4".into(),
        })
        .await
        .expect("confirm")
        .into_inner()
        .video
        .expect("video")
        .id;
    tasks
        .start_analysis(StartAnalysisRequest { task_id: task.id })
        .await
        .expect("analyse");
    let job = take_analyze_job(&mut sub, Duration::from_secs(30)).await;
    // A long narration, so the render takes long enough to be killed in it.
    let text = "家人们，今天带你们来三里屯这家超火的探鱼，烤鱼外焦里嫩，配菜丰富，环境也特别适合朋友聚会，强烈推荐大家来试试！";
    let paragraphs = (1..=4)
        .map(|i| Paragraph {
            id: format!("para_{i}"),
            section: "重点".into(),
            shot_id: clip_id,
            text: text.into(),
            ..Default::default()
        })
        .collect();
    tasks_worker(&mesh)
        .report_script(ReportScriptRequest {
            pictures: Vec::new(),
            library_clips: Vec::new(),
            job_id: job.job_id,
            task_id: task.id,
            paragraphs,
            provider: "template".into(),
            provider_note: String::new(),
            usage: None,
        })
        .await
        .expect("script");
    tasks
        .start_compose(StartComposeRequest {
            task_id: task.id,
            ..Default::default()
        })
        .await
        .expect("compose");

    // Wait until the first node is rendering video, then kill it outright.
    let start = Instant::now();
    loop {
        let p = tasks
            .get_progress(GetProgressRequest { task_id: task.id })
            .await
            .expect("progress")
            .into_inner()
            .progress
            .expect("progress");
        let step = p.details.map(|d| d.current_step).unwrap_or_default();
        if step == "视频合成" {
            break;
        }
        assert_ne!(
            p.status,
            TaskStatus::Completed as i32,
            "finished before it could be killed"
        );
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "never started rendering: {step:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    first.child.kill().expect("SIGKILL");
    let _ = first.child.wait();

    // Another node joins; the broker redelivers the uncommitted job to it.
    let second = start_render(2);
    let start = Instant::now();
    loop {
        let t = tasks
            .get_task(GetTaskRequest { task_id: task.id })
            .await
            .expect("task")
            .into_inner()
            .task
            .expect("task");
        if t.status == TaskStatus::Completed as i32 {
            break;
        }
        assert_ne!(
            t.status,
            TaskStatus::Failed as i32,
            "failed: {:?}",
            t.failure
        );
        assert!(
            start.elapsed() < Duration::from_secs(240),
            "not completed after the kill; second node:\n{}",
            second.stderr()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // The second node logs its "done" right after tasks took the result.
    let start = Instant::now();
    while !second.stderr().contains("compose job done") {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the second node did not finish it:\n{}",
            second.stderr()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let outputs = ctx
        .adapters
        .blobs
        .list(&format!("output/{}/", task.id))
        .await
        .expect("list");
    assert_eq!(
        outputs.iter().filter(|k| k.ends_with("final.mp4")).count(),
        1,
        "{outputs:?}"
    );
    let output = tasks
        .get_output(GetOutputRequest { task_id: task.id })
        .await
        .expect("output")
        .into_inner();
    let video = output.video.expect("video");
    assert_eq!((video.width, video.height), (1080, 1920));
    assert!(video.duration_seconds > 10.0, "{}", video.duration_seconds);
    mesh.shutdown().await.expect("clean shutdown");
}
