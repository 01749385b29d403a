//! The whole flow through the edge, as a client drives it: create a task,
//! upload two generated clips with a plain HTTP PUT, confirm, analyse (this
//! test plays the vision worker until that worker exists: it consumes the
//! analyze job and reports through the internal RPC), edit the script,
//! choose voice and subtitles, compose with the real render worker, watch
//! the progress to COMPLETED, then download the video and check it with
//! ffprobe: 1080x1920 H.264 whose length matches the narration.
//! Runs on the embedded adapters and on PostgreSQL, Redis, Kafka and S3.

mod support;

use std::time::Duration;

use scout_common::testing::{self, TestDatabase};
use scout_common::{ApiError, ErrorCode};
use scout_proto::scout::tasks::v1::tasks_service_client::TasksServiceClient;
use scout_proto::scout::tasks::v1::{
    ConfirmVideoRequest, CreateTaskRequest, GetAssetsPackRequest, GetDownloadUrlRequest,
    GetEditableDraftRequest, GetOutputRequest, GetProgressRequest, GetScriptRequest,
    GetTaskRequest, Paragraph, ParagraphEdit, ReportScriptRequest, SetVoiceRequest,
    StartAnalysisRequest, StartComposeRequest, TaskStatus, UpdateScriptRequest, VoiceSettings,
    WatchProgressRequest,
};
use support::*;

async fn whole_flow(production: bool) {
    let dir = tempfile::tempdir().expect("tempdir");
    let files = tempfile::tempdir().expect("files");
    let mut config = embedded_config(dir.path());
    config.edge.request_timeout = Duration::from_secs(120);
    let mut _dbs: Vec<TestDatabase> = Vec::new();
    if production {
        let (a, b) = (testing::postgres_database(), testing::postgres_database());
        config.identity.database_url = a.url.clone();
        config.tasks.database_url = b.url.clone();
        _dbs = vec![a, b];
        config.cache = testing::redis_config();
        config.bus = testing::kafka_config();
        config.blobs = testing::s3_config();
    }
    let mesh = mesh_without_vision(config).await;
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

    let task = create_task(&mut tasks, "海底捞火锅(望京店)").await;

    // Two clips, uploaded with a plain PUT (curl -T) and confirmed.
    let mut clips = Vec::new();
    for (name, secs) in [("shop.mp4", 4.0), ("dish.mp4", 3.0)] {
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

    // Composing before a script exists: refused, the task unchanged.
    let err = tasks
        .start_compose(StartComposeRequest {
            task_id: task.id,
            ..Default::default()
        })
        .await
        .expect_err("no script yet");
    let e = ApiError::from_status(&err);
    assert_eq!(e.code, ErrorCode::FailedPrecondition, "{e}");
    assert_eq!(e.metadata["current_state"], "UPLOADING");
    assert_eq!(status_of(&mut tasks, task.id).await, TaskStatus::Uploading);
    // A clip of another task, for the script edit below.
    let other_task = tasks
        .create_task(CreateTaskRequest {
            shop_name: "另一家店".into(),
            shop_type: 2,
            ..Default::default()
        })
        .await
        .expect("create")
        .into_inner()
        .task
        .expect("task");
    let other_file = clip(files.path(), "other.mp4", 1.5);
    let other_key = curl_upload(&mut tasks, other_task.id, &other_file, "video/mp4").await;
    let foreign_clip = tasks
        .confirm_video(ConfirmVideoRequest {
            task_id: other_task.id,
            oss_key: other_key,
            original_filename: "other.mp4".into(),
        })
        .await
        .expect("confirm")
        .into_inner()
        .video
        .expect("video")
        .id;

    // Analysis: the job is on the bus; this test answers as the worker.
    tasks
        .start_analysis(StartAnalysisRequest { task_id: task.id })
        .await
        .expect("analyse");
    let job = take_analyze_job(&mut sub, Duration::from_secs(30)).await;
    let mut worker = tasks_worker(&mesh);
    worker
        .report_script(ReportScriptRequest {
            pictures: Vec::new(),
            library_clips: Vec::new(),
            job_id: job.job_id,
            task_id: task.id,
            paragraphs: vec![
                Paragraph {
                    id: "para_1".into(),
                    section: "开场".into(),
                    shot_id: clips[0],
                    text: "家人们，今天探店望京海底捞！".into(),
                    ..Default::default()
                },
                Paragraph {
                    id: "para_2".into(),
                    section: "重点".into(),
                    shot_id: clips[1],
                    text: "招牌毛肚七上八下，人均八十九。".into(),
                    ..Default::default()
                },
            ],
            provider: "template".into(),
            provider_note: String::new(),
            usage: None,
        })
        .await
        .expect("script");

    // A script edit pointing at another task's clip: refused, nothing changes.
    let err = tasks
        .update_script(UpdateScriptRequest {
            task_id: task.id,
            paragraphs: vec![ParagraphEdit {
                id: "para_1".into(),
                section: "开场".into(),
                shot_id: foreign_clip,
                text: "借用别的任务的镜头".into(),
            }],
        })
        .await
        .expect_err("foreign clip");
    let e = ApiError::from_status(&err);
    assert_eq!(
        e.metadata.get("field").map(String::as_str),
        Some("paragraphs[0].shot_id"),
        "{e}"
    );
    assert_eq!(
        status_of(&mut tasks, task.id).await,
        TaskStatus::ScriptReady
    );

    // The user edits the script and chooses voice and subtitles.
    tasks
        .update_script(UpdateScriptRequest {
            task_id: task.id,
            paragraphs: vec![
                ParagraphEdit {
                    id: "para_1".into(),
                    section: "开场".into(),
                    shot_id: clips[0],
                    text: "家人们，今天带你们探店望京这家海底捞！".into(),
                },
                ParagraphEdit {
                    id: "para_2".into(),
                    section: "结尾互动".into(),
                    shot_id: clips[1],
                    text: "毛肚七上八下，快约上朋友来吃吧！".into(),
                },
            ],
        })
        .await
        .expect("edit");
    tasks
        .set_voice(SetVoiceRequest {
            task_id: task.id,
            voice: Some(VoiceSettings {
                voice_type: "zh".into(),
                voice_sample_id: 0,
                speed: 1.0,
            }),
        })
        .await
        .expect("voice");

    // Compose with the real render worker; watch until it ends.
    let started = tasks
        .start_compose(StartComposeRequest {
            task_id: task.id,
            subtitle_enabled: Some(true),
            subtitle_style: 4,
            ..Default::default()
        })
        .await
        .expect("compose")
        .into_inner();
    assert_eq!(started.status, TaskStatus::Composing as i32);
    let err = tasks
        .start_compose(StartComposeRequest {
            task_id: task.id,
            ..Default::default()
        })
        .await
        .expect_err("already composing");
    let e = ApiError::from_status(&err);
    assert_eq!(e.code, ErrorCode::FailedPrecondition, "{e}");
    let mut watch = tasks
        .watch_progress(WatchProgressRequest { task_id: task.id })
        .await
        .expect("watch")
        .into_inner();
    let mut last = None;
    let mut percents = Vec::new();
    while let Some(m) = tokio::time::timeout(Duration::from_secs(180), watch.message())
        .await
        .expect("progress within 3 minutes")
        .expect("stream")
    {
        let p = m.progress.expect("progress");
        percents.push(p.progress);
        last = Some(p);
    }
    let last = last.expect("progress seen");
    assert_eq!(last.status, TaskStatus::Completed as i32, "ended {last:?}");
    assert_eq!(last.progress, 100);
    assert!(
        percents.windows(2).all(|w| w[0] <= w[1]),
        "progress went back: {percents:?}"
    );

    let t = tasks
        .get_task(GetTaskRequest { task_id: task.id })
        .await
        .expect("task")
        .into_inner()
        .task
        .expect("task");
    assert_eq!(t.status, TaskStatus::Completed as i32);
    let output = tasks
        .get_output(GetOutputRequest { task_id: task.id })
        .await
        .expect("output")
        .into_inner();
    let video = output.video.expect("video");
    assert_eq!(
        (video.width, video.height, video.format.as_str()),
        (1080, 1920, "mp4")
    );
    assert_eq!(
        output.shots_used.iter().map(|s| s.id).collect::<Vec<_>>(),
        clips
    );
    let narrated: f64 = output.shots_used.iter().map(|s| s.duration_seconds).sum();
    assert!(
        (video.duration_seconds - narrated).abs() < 0.2,
        "{} vs {narrated}",
        video.duration_seconds
    );
    assert!(!output.cover_url.is_empty() && !output.subtitle_url.is_empty());

    // The download URL is a presigned GET any client can use.
    let url = tasks
        .get_download_url(GetDownloadUrlRequest { task_id: task.id })
        .await
        .expect("download")
        .into_inner();
    assert_eq!(url.expires_in, 3600);
    let bytes = reqwest::get(&url.url)
        .await
        .expect("get")
        .bytes()
        .await
        .expect("bytes");
    assert_eq!(bytes.len() as i64, video.file_size);
    let local = files.path().join("final.mp4");
    std::fs::write(&local, &bytes).expect("write");
    let probe = ffprobe(&local);
    let v = probe["streams"]
        .as_array()
        .expect("streams")
        .iter()
        .find(|s| s["codec_type"] == "video")
        .expect("video stream");
    assert_eq!(v["codec_name"], "h264");
    assert_eq!(
        (v["width"].as_i64(), v["height"].as_i64()),
        (Some(1080), Some(1920))
    );
    assert!(
        probe["streams"]
            .as_array()
            .expect("streams")
            .iter()
            .any(|s| s["codec_type"] == "audio" && s["codec_name"] == "aac")
    );
    let assets = tasks
        .get_assets_pack(GetAssetsPackRequest { task_id: task.id })
        .await
        .expect("assets")
        .into_inner();
    fetch_zip(&assets.url).await;
    // The editable 剪映 draft: one folder named after the shop whose
    // timeline holds together and is as long as the video.
    let draft = tasks
        .get_editable_draft(GetEditableDraftRequest {
            task_id: task.id,
            ..Default::default()
        })
        .await
        .expect("editable draft")
        .into_inner();
    assert_eq!(draft.format, "jianying");
    let mut archive = fetch_zip(&draft.url).await;
    let entries: Vec<String> = archive
        .file_names()
        .map(|n| n.expect("an entry name").to_string())
        .collect();
    let read = |archive: &mut zip::ZipArchive<_>, name: &str| -> serde_json::Value {
        serde_json::from_reader(
            archive
                .by_name(&format!("海底捞火锅(望京店)/{name}"))
                .expect(name),
        )
        .expect("JSON")
    };
    let content = read(&mut archive, "draft_content.json");
    let meta = read(&mut archive, "draft_meta_info.json");
    let problems = scout_render::compose::draft::validate(
        &content,
        &meta,
        "海底捞火锅(望京店)",
        &|p| entries.contains(&format!("海底捞火锅(望京店)/{p}")),
    );
    assert!(problems.is_empty(), "{problems:?}");
    let length = probe["format"]["duration"]
        .as_str()
        .and_then(|d| d.parse::<f64>().ok())
        .expect("duration");
    let drafted = content["duration"].as_f64().expect("duration") / 1e6;
    assert!((drafted - length).abs() < 0.1, "{drafted} vs {length}");
    // Pointed at the user's drafts folder: the same draft with its media
    // paths absolute under it; a folder that is not absolute is refused.
    let rooted = tasks
        .get_editable_draft(GetEditableDraftRequest {
            task_id: task.id,
            drafts_root: r"D:\JianyingPro Drafts\".into(),
        })
        .await
        .expect("a draft for a folder")
        .into_inner();
    let mut archive = fetch_zip(&rooted.url).await;
    let content = read(&mut archive, "draft_content.json");
    let meta = read(&mut archive, "draft_meta_info.json");
    assert!(
        scout_render::compose::draft::validate(&content, &meta, "海底捞火锅(望京店)", &|_| false)
            .is_empty()
    );
    let folder = "D:/JianyingPro Drafts/海底捞火锅(望京店)";
    assert_eq!(meta["draft_fold_path"], folder);
    for list in ["videos", "audios"] {
        for m in content["materials"][list].as_array().expect("materials") {
            let path = m["path"].as_str().expect("path");
            assert!(path.starts_with(&format!("{folder}/materials/")), "{path}");
            let inside = path.trim_start_matches("D:/JianyingPro Drafts/");
            assert!(
                entries.contains(&inside.to_string()),
                "{inside} is in the zip"
            );
        }
    }
    let refused = tasks
        .get_editable_draft(GetEditableDraftRequest {
            task_id: task.id,
            drafts_root: "JianyingPro Drafts".into(),
        })
        .await
        .expect_err("a relative folder");
    assert_eq!(refused.code(), tonic::Code::InvalidArgument, "{refused:?}");
    // Exactly one final.mp4 for the task.
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

    // Another user reaches none of it: task, script, progress (polled and
    // streamed), output and download URLs all answer NOT_FOUND.
    let other = login(&base, dir.path()).await;
    let mut theirs = TasksServiceClient::new(authed_channel(&base, &other.access));
    let id = task.id;
    let refusals = [
        theirs
            .get_task(GetTaskRequest { task_id: id })
            .await
            .map(|_| ()),
        theirs
            .get_script(GetScriptRequest { task_id: id })
            .await
            .map(|_| ()),
        theirs
            .get_progress(GetProgressRequest { task_id: id })
            .await
            .map(|_| ()),
        theirs
            .watch_progress(WatchProgressRequest { task_id: id })
            .await
            .map(|_| ()),
        theirs
            .get_output(GetOutputRequest { task_id: id })
            .await
            .map(|_| ()),
        theirs
            .get_download_url(GetDownloadUrlRequest { task_id: id })
            .await
            .map(|_| ()),
        theirs
            .get_assets_pack(GetAssetsPackRequest { task_id: id })
            .await
            .map(|_| ()),
        theirs
            .get_editable_draft(GetEditableDraftRequest {
                task_id: id,
                ..Default::default()
            })
            .await
            .map(|_| ()),
        theirs
            .start_compose(StartComposeRequest {
                task_id: id,
                ..Default::default()
            })
            .await
            .map(|_| ()),
    ];
    for (i, r) in refusals.into_iter().enumerate() {
        let status = r.expect_err("another user's task");
        assert_eq!(status.code(), tonic::Code::NotFound, "call {i}: {status:?}");
    }
    mesh.shutdown().await.expect("clean shutdown");
}

/// The zip at a presigned URL, opened.
async fn fetch_zip(url: &str) -> zip::ZipArchive<std::io::Cursor<bytes::Bytes>> {
    let body = reqwest::get(url)
        .await
        .expect("get")
        .error_for_status()
        .expect("200")
        .bytes()
        .await
        .expect("body");
    zip::ZipArchive::new(std::io::Cursor::new(body)).expect("a zip")
}

async fn status_of(tasks: &mut TasksServiceClient<AuthedChannel>, id: i64) -> TaskStatus {
    let t = tasks
        .get_task(GetTaskRequest { task_id: id })
        .await
        .expect("task")
        .into_inner()
        .task
        .expect("task");
    TaskStatus::try_from(t.status).expect("status")
}

#[tokio::test]
async fn whole_flow_embedded() {
    whole_flow(false).await;
}

#[tokio::test]
async fn whole_flow_postgres_redis_kafka_s3() {
    whole_flow(true).await;
}
