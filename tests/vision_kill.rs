//! Kill the vision worker in the middle of an analysis: the job was never
//! committed, so the broker hands it to the next vision node, which analyses
//! again; its reports for clips already reported change nothing, and the
//! task reaches SCRIPT_READY once, with one script (version 1). Vision runs
//! as its own process (`scout serve vision`) and is SIGKILLed; the rest of
//! the mesh, PostgreSQL, Redis, Kafka and S3 carry on.

mod support;

use std::time::{Duration, Instant};

use scout::mesh::{Mesh, MeshOptions};
use scout_proto::scout::tasks::v1::{
    GetProgressRequest, GetScriptRequest, ListVideosRequest, StartAnalysisRequest, TaskStatus,
    VideoStatus,
};
use support::*;

#[tokio::test]
async fn a_vision_node_killed_mid_analysis_loses_nothing_and_writes_one_script() {
    let dir = tempfile::tempdir().expect("tempdir");
    let files = tempfile::tempdir().expect("files");
    let (config, _dbs) = distributed_config(dir.path());
    let mesh = Mesh::start_with(
        config.clone(),
        MeshOptions {
            external: vec![scout_common::ServiceName::Vision],
            fixed_ports: true,
        },
    )
    .await
    .expect("mesh without vision");
    let vision_url = config.vision.endpoint_url();
    let start_vision = |n: usize| ScoutProcess::node(dir.path(), &config, "vision", n);
    let mut first = start_vision(1);
    first.wait_serving(&vision_url).await;

    let base = mesh.edge_url();
    let me = login(&base, dir.path()).await;
    let mut tasks: UserTasks =
        scout_proto::scout::tasks::v1::tasks_service_client::TasksServiceClient::new(
            authed_channel(&base, &me.access),
        );
    // Enough clips that the analysis is still going after the first one.
    let (task, clips) = task_with_clips(
        &mut tasks,
        files.path(),
        "探鱼(三里屯店)",
        &[8.0, 8.0, 8.0, 8.0, 8.0, 8.0],
    )
    .await;
    tasks
        .start_analysis(StartAnalysisRequest { task_id: task })
        .await
        .expect("analyse");

    // Wait until the first node has analysed a clip, then kill it outright.
    let start = Instant::now();
    loop {
        let p = tasks
            .get_progress(GetProgressRequest { task_id: task })
            .await
            .expect("progress")
            .into_inner()
            .progress
            .expect("progress");
        let done = p.details.map(|d| d.videos_analyzed).unwrap_or_default();
        assert_eq!(
            p.status,
            TaskStatus::Analyzing as i32,
            "left ANALYZING before it could be killed"
        );
        if done >= 1 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "never analysed a clip:\n{}",
            first.stderr()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    first.child.kill().expect("SIGKILL");
    let _ = first.child.wait();

    // Another node joins; the broker redelivers the uncommitted job to it.
    let second = start_vision(2);
    let t = wait_status(
        &mut tasks,
        task,
        TaskStatus::ScriptReady,
        Duration::from_secs(240),
    )
    .await;
    assert!(t.failure.is_none(), "{:?}", t.failure);
    let start = Instant::now();
    while !second.stderr().contains("analyze job done") {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the second node did not finish it:\n{}",
            second.stderr()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        !first.stderr().contains("analyze job done"),
        "the first node finished before it was killed"
    );

    // One script, over this task's clips; every clip analysed once.
    let script = tasks
        .get_script(GetScriptRequest { task_id: task })
        .await
        .expect("script")
        .into_inner()
        .script
        .expect("script");
    assert_eq!(script.version, 1, "more than one script was written");
    assert!((5..=7).contains(&script.paragraphs.len()));
    assert!(script.paragraphs.iter().all(|p| clips.contains(&p.shot_id)));
    let videos = tasks
        .list_videos(ListVideosRequest { task_id: task })
        .await
        .expect("videos")
        .into_inner()
        .items;
    assert_eq!(videos.len(), clips.len());
    assert!(
        videos
            .iter()
            .all(|v| v.status == VideoStatus::Analyzed as i32)
    );
    // Still SCRIPT_READY a moment later: no second script arrived.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let script_again = tasks
        .get_script(GetScriptRequest { task_id: task })
        .await
        .expect("script")
        .into_inner()
        .script
        .expect("script");
    assert_eq!(script_again.version, 1);
    drop(second);
    mesh.shutdown().await.expect("clean shutdown");
}
