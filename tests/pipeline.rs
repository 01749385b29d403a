//! The automatic pipeline with every worker in place: the vision worker
//! takes the analyze job, extracts frames through render, measures them,
//! reports each clip (category, tags, the four factors, the two best per
//! category recommended) and writes the script; the render worker composes
//! it. No step is played by the test.

mod support;

use std::time::{Duration, Instant};

use scout::mesh::Mesh;
use scout_proto::scout::tasks::v1::tasks_service_client::TasksServiceClient;
use scout_proto::scout::tasks::v1::{
    ConfirmVideoRequest, GetOutputRequest, GetScriptRequest, GetTaskRequest, ListVideosRequest,
    StartAnalysisRequest, StartComposeRequest, TaskStatus, VideoStatus,
};
use support::*;

type Tasks = TasksServiceClient<AuthedChannel>;

async fn wait_for(tasks: &mut Tasks, id: i64, want: TaskStatus, limit: Duration) {
    let start = Instant::now();
    loop {
        let t = tasks
            .get_task(GetTaskRequest { task_id: id })
            .await
            .expect("task")
            .into_inner()
            .task
            .expect("task");
        if t.status == want as i32 {
            return;
        }
        assert_ne!(
            t.status,
            TaskStatus::Failed as i32,
            "failed: {:?}",
            t.failure
        );
        assert!(
            start.elapsed() < limit,
            "not {want:?} after {limit:?}: {}",
            t.status
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn clips_in_finished_video_out_with_every_worker() {
    let dir = tempfile::tempdir().expect("tempdir");
    let files = tempfile::tempdir().expect("files");
    let mut config = embedded_config(dir.path());
    config.edge.rate_limits.default.limit = 10_000;
    let mesh = Mesh::start(config).await.expect("mesh");
    let base = mesh.edge_url();
    let me = login(&base, dir.path()).await;
    let mut tasks: Tasks = TasksServiceClient::new(authed_channel(&base, &me.access));
    let task = create_task(&mut tasks, "海底捞火锅(望京店)").await;
    let mut clips = Vec::new();
    for (name, secs) in [("a.mp4", 4.0), ("b.mp4", 3.0), ("c.mp4", 2.5)] {
        let file = clip(files.path(), name, secs);
        let key = curl_upload(&mut tasks, task.id, &file, "video/mp4").await;
        clips.push(
            tasks
                .confirm_video(ConfirmVideoRequest {
                    task_id: task.id,
                    oss_key: key,
                    original_filename: name.into(),
                })
                .await
                .expect("confirm")
                .into_inner()
                .video
                .expect("video")
                .id,
        );
    }
    tasks
        .start_analysis(StartAnalysisRequest { task_id: task.id })
        .await
        .expect("analyse");
    wait_for(
        &mut tasks,
        task.id,
        TaskStatus::ScriptReady,
        Duration::from_secs(120),
    )
    .await;

    // Every clip analysed with real measurements.
    let videos = tasks
        .list_videos(ListVideosRequest { task_id: task.id })
        .await
        .expect("videos")
        .into_inner()
        .items;
    for v in &videos {
        assert_eq!(v.status, VideoStatus::Analyzed as i32, "{v:?}");
        let f = v.quality_factors.expect("factors");
        for x in [
            f.clarity,
            f.composition,
            f.lighting,
            f.stability,
            v.quality_score,
        ] {
            assert!((0..=100).contains(&x), "{v:?}");
        }
        assert!(
            v.category != 0 && !v.tags.is_empty() && v.tags.len() <= 5,
            "{v:?}"
        );
    }
    assert!(videos.iter().any(|v| v.is_recommended));
    let t = tasks
        .get_task(GetTaskRequest { task_id: task.id })
        .await
        .expect("task")
        .into_inner()
        .task
        .expect("task");
    assert_eq!(t.provider_note, "vision=local writer=template");

    // A 5-7 paragraph script over the task's own clips, promotion verbatim.
    let script = tasks
        .get_script(GetScriptRequest { task_id: task.id })
        .await
        .expect("script")
        .into_inner()
        .script
        .expect("script");
    assert!(
        (5..=7).contains(&script.paragraphs.len()),
        "{}",
        script.paragraphs.len()
    );
    assert!(script.paragraphs.iter().all(|p| clips.contains(&p.shot_id)));
    assert!(
        script
            .paragraphs
            .iter()
            .any(|p| p.section == "优惠" && p.text.contains("人均89，招牌毛肚七上八下"))
    );
    assert_eq!(script.provider, "template");

    // Composed by render's worker into the finished video.
    tasks
        .start_compose(StartComposeRequest {
            task_id: task.id,
            ..Default::default()
        })
        .await
        .expect("compose");
    wait_for(
        &mut tasks,
        task.id,
        TaskStatus::Completed,
        Duration::from_secs(300),
    )
    .await;
    let output = tasks
        .get_output(GetOutputRequest { task_id: task.id })
        .await
        .expect("output")
        .into_inner();
    let video = output.video.expect("video");
    assert_eq!((video.width, video.height), (1080, 1920));
    assert_eq!(output.shots_used.len(), script.paragraphs.len());
    let narrated: f64 = output.shots_used.iter().map(|s| s.duration_seconds).sum();
    assert!(
        (video.duration_seconds - narrated).abs() < 0.2,
        "{} vs {narrated}",
        video.duration_seconds
    );
    mesh.shutdown().await.expect("clean shutdown");
}
