//! Analysis and scripts through the edge, with this test playing the vision
//! worker (until the vision issue's worker exists): StartAnalysis puts one
//! analyze job on the bus, the "worker" reads it and reports clip results
//! and the script through the internal RPC (idempotently), the user edits
//! the script, regenerates it (at most five times), and a failed job
//! leaves the task FAILED with the step and message, retried from there.

mod support;

use std::time::Duration;

use prost::Message as _;
use scout_common::adapters::bus::Subscription;
use scout_common::auth::InternalChannel;
use scout_common::testing::{self, TestDatabase};
use scout_common::{ApiError, ErrorCode};
use scout_proto::scout::common::v1::QualityFactors;
use scout_proto::scout::jobs::v1::AnalyzeJob;
use scout_proto::scout::tasks::v1::tasks_internal_service_client::TasksInternalServiceClient;
use scout_proto::scout::tasks::v1::tasks_service_client::TasksServiceClient;
use scout_proto::scout::tasks::v1::{
    ClipAnalysis, ConfirmVideoRequest, CreateTaskRequest, GetProgressRequest, GetScriptRequest,
    GetTaskContextRequest, GetTaskRequest, Paragraph, ParagraphEdit, RegenerateScriptRequest,
    ReportClipAnalysisRequest, ReportJobFailureRequest, ReportScriptRequest, RetryTaskRequest,
    StartAnalysisRequest, Task, TaskStatus, TaskStep, UpdateScriptRequest, WatchProgressRequest,
};
use support::*;

type Tasks = TasksServiceClient<AuthedChannel>;
type Worker = TasksInternalServiceClient<InternalChannel>;

async fn task(tasks: &mut Tasks, id: i64) -> Task {
    tasks
        .get_task(GetTaskRequest { task_id: id })
        .await
        .expect("task")
        .into_inner()
        .task
        .expect("task")
}

async fn next_job(sub: &mut Box<dyn Subscription>) -> AnalyzeJob {
    take_analyze_job(sub, Duration::from_secs(30)).await
}

fn paragraphs(clips: &[i64]) -> Vec<Paragraph> {
    ["开场", "环境", "重点", "优惠", "结尾互动"]
        .iter()
        .enumerate()
        .map(|(i, section)| Paragraph {
            id: format!("para_{}", i + 1),
            section: (*section).into(),
            shot_id: clips[i % clips.len()],
            text: format!("家人们，第{}段，今天探店海底捞！", i + 1),
            ..Default::default()
        })
        .collect()
}

async fn report_script(worker: &mut Worker, job: &AnalyzeJob, clips: &[i64]) -> bool {
    worker
        .report_script(ReportScriptRequest {
            pictures: Vec::new(),
            library_clips: Vec::new(),
            job_id: job.job_id.clone(),
            task_id: job.task_id,
            paragraphs: paragraphs(clips),
            provider: "template".into(),
            provider_note: "writer=template".into(),
            usage: None,
        })
        .await
        .expect("report script")
        .into_inner()
        .applied
}

async fn analysis_flow(production: bool) {
    let dir = tempfile::tempdir().expect("tempdir");
    let files = tempfile::tempdir().expect("clips");
    let mut config = embedded_config(dir.path());
    config.edge.rate_limits.regenerate.limit = 100;
    let mut _db: Option<TestDatabase> = None;
    if production {
        let db = testing::postgres_database();
        config.tasks.database_url = db.url.clone();
        _db = Some(db);
        config.cache = testing::redis_config();
        config.bus = testing::kafka_config();
        config.blobs = testing::s3_config();
    }
    let mesh = mesh_without_vision(config).await;
    let base = mesh.edge_url();
    let ctx = mesh.context().clone();
    let a = login(&base, dir.path()).await;
    let mut tasks: Tasks = TasksServiceClient::new(authed_channel(&base, &a.access));
    let mut worker: Worker = tasks_worker(&mesh);
    let topic = format!("{}analyze", ctx.jobs.analyze.prefix);
    let mut sub = ctx
        .adapters
        .bus
        .subscribe(
            &format!("test-vision-{}", scout_common::testing::unique()),
            std::slice::from_ref(&topic),
        )
        .await
        .expect("subscribe");

    let t = tasks
        .create_task(CreateTaskRequest {
            shop_name: "海底捞火锅(望京店)".into(),
            shop_type: 1,
            promotion_text: "人均89".into(),
            video_style: 1,
            ..CreateTaskRequest::default()
        })
        .await
        .expect("create")
        .into_inner()
        .task
        .expect("task");
    // No clips: the state machine refuses, naming where the task is.
    let err = tasks
        .start_analysis(StartAnalysisRequest { task_id: t.id })
        .await
        .expect_err("no clips");
    let e = ApiError::from_status(&err);
    assert_eq!(e.code, ErrorCode::FailedPrecondition, "{e}");
    assert_eq!(e.metadata["current_state"], "CREATED");
    assert_eq!(e.metadata["allowed_next"], "UPLOADING, FAILED");

    let mut clips = Vec::new();
    for (name, secs) in [("a.mp4", 2.0), ("b.mp4", 1.5)] {
        let file = clip(files.path(), name, secs);
        let key = curl_upload(&mut tasks, t.id, &file, "video/mp4").await;
        let v = tasks
            .confirm_video(ConfirmVideoRequest {
                task_id: t.id,
                oss_key: key,
                original_filename: name.into(),
            })
            .await
            .expect("confirm")
            .into_inner()
            .video
            .expect("video");
        clips.push(v.id);
    }
    let err = tasks
        .get_script(GetScriptRequest { task_id: t.id })
        .await
        .expect_err("no script yet");
    assert_eq!(err.code(), tonic::Code::NotFound);
    assert!(err.message().contains("UPLOADING"), "{}", err.message());

    let started = tasks
        .start_analysis(StartAnalysisRequest { task_id: t.id })
        .await
        .expect("start")
        .into_inner();
    assert_eq!(started.status, TaskStatus::Analyzing as i32);
    assert!(started.estimated_duration_seconds > 0);
    let err = tasks
        .start_analysis(StartAnalysisRequest { task_id: t.id })
        .await
        .expect_err("already analysing");
    let e = ApiError::from_status(&err);
    assert_eq!(e.metadata["current_state"], "ANALYZING");

    // Progress while analysing, in the seed's shape.
    let p = tasks
        .get_progress(GetProgressRequest { task_id: t.id })
        .await
        .expect("progress")
        .into_inner()
        .progress
        .expect("progress");
    assert_eq!(p.status, TaskStatus::Analyzing as i32);
    assert_eq!(p.phase, "frame_analysis");
    let d = p.details.clone().expect("details");
    assert_eq!((d.videos_total, d.videos_analyzed), (2, 0));
    assert_eq!(
        d.steps.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
        ["帧提取", "镜头内容识别", "质量评估", "脚本生成"]
    );
    assert!(p.estimated_remaining_seconds > 0);

    // The worker's side: one job on the bus with the task's clips.
    let job = next_job(&mut sub).await;
    assert_eq!((job.task_id, job.user_id), (t.id, a.user_id));
    assert_eq!(job.video_ids, clips);
    assert_eq!(job.shop.as_ref().expect("shop").promotion_text, "人均89");
    let ctx_resp = worker
        .get_task_context(GetTaskContextRequest {
            task_id: t.id,
            with_library: false,
        })
        .await
        .expect("context")
        .into_inner();
    assert_eq!(ctx_resp.videos.len(), 2);
    assert_eq!(ctx_resp.user_id, a.user_id);
    for (i, id) in clips.iter().enumerate() {
        let report = ReportClipAnalysisRequest {
            job_id: job.job_id.clone(),
            task_id: t.id,
            video_id: *id,
            analysis: Some(ClipAnalysis {
                category: if i == 0 { 1 } else { 3 },
                tags: vec!["火锅".into(), "毛肚".into()],
                description: "一锅红油".into(),
                quality_score: 80 + i as i32,
                quality_factors: Some(QualityFactors {
                    clarity: 90,
                    composition: 70,
                    lighting: 85,
                    stability: 75,
                }),
                is_recommended: true,
                frame_keys: vec![format!("frames/{}/{id}/frame_1.jpg", t.id)],
                provider: "local".into(),
                focus: vec![scout_proto::scout::common::v1::FocusPoint {
                    time_seconds: 0.0,
                    x: 0.7,
                    y: 0.4,
                    face: i == 0,
                }],
            }),
        };
        // Focus points outside the frame are refused, naming the field.
        let mut off_frame = report.clone();
        if let Some(a) = off_frame.analysis.as_mut() {
            a.focus[0].x = 1.5;
        }
        let err = worker
            .report_clip_analysis(off_frame)
            .await
            .expect_err("focus outside the frame");
        assert_eq!(err.code(), tonic::Code::InvalidArgument);
        assert!(
            err.message().contains("analysis.focus"),
            "{}",
            err.message()
        );
        let first = worker
            .report_clip_analysis(report.clone())
            .await
            .expect("report clip")
            .into_inner();
        assert!(first.applied);
        // Redelivered: acknowledged, nothing changes.
        let again = worker
            .report_clip_analysis(report)
            .await
            .expect("report again")
            .into_inner();
        assert!(!again.applied);
    }
    // A script that points at a clip of no task is refused, naming the paragraph.
    let err = worker
        .report_script(ReportScriptRequest {
            pictures: Vec::new(),
            library_clips: Vec::new(),
            job_id: job.job_id.clone(),
            task_id: t.id,
            paragraphs: paragraphs(&[clips[0], 999_999]),
            provider: "template".into(),
            provider_note: String::new(),
            usage: None,
        })
        .await
        .expect_err("bad shot");
    assert!(
        err.message().contains("paragraph 2 points at clip 999999"),
        "{}",
        err.message()
    );
    assert!(report_script(&mut worker, &job, &clips).await);
    assert!(
        !report_script(&mut worker, &job, &clips).await,
        "idempotent"
    );

    let now = task(&mut tasks, t.id).await;
    assert_eq!(now.status, TaskStatus::ScriptReady as i32);
    assert_eq!(now.provider_note, "writer=template");
    let rest: serde_json::Value =
        get_json(&format!("{base}/api/v1/tasks/{}/progress", t.id), &a.access).await;
    assert_eq!(rest["data"]["status"], "script_ready", "{rest}");
    assert_eq!(
        rest["data"]["details"]["steps"][3]["status"], "completed",
        "{rest}"
    );
    // Once analysed, the clips stay counted as analysed.
    assert_eq!(rest["data"]["details"]["videos_analyzed"], 2, "{rest}");
    let script = tasks
        .get_script(GetScriptRequest { task_id: t.id })
        .await
        .expect("script")
        .into_inner()
        .script
        .expect("script");
    assert_eq!((script.version, script.is_user_edited), (1, false));
    assert_eq!(script.paragraphs.len(), 5);
    assert_eq!(script.regenerate_remaining, 5);
    let shot = script.paragraphs[0].shot.clone().expect("shot resolved");
    assert_eq!((shot.id, shot.category), (clips[0], 1));
    assert!(!shot.thumbnail_url.is_empty());
    assert!(script.total_duration > 0.0);
    // REST agrees, in the seed's shape.
    let rest: serde_json::Value =
        get_json(&format!("{base}/api/v1/tasks/{}/script", t.id), &a.access).await;
    assert_eq!(
        rest["data"]["paragraphs"][0]["shot"]["category"], "food",
        "{rest}"
    );

    // Editing: validated, versioned, SCRIPT_EDITED.
    let edit = |shot: i64, text: String| ParagraphEdit {
        id: String::new(),
        section: "重点".into(),
        shot_id: shot,
        text,
    };
    for (edits, field) in [
        (vec![], "paragraphs"),
        (
            (0..13)
                .map(|_| edit(clips[0], "好吃".into()))
                .collect::<Vec<_>>(),
            "paragraphs",
        ),
        (vec![edit(clips[0], "长".repeat(301))], "paragraphs[0].text"),
        (
            vec![
                edit(clips[0], "好吃".into()),
                edit(123_456, "别人的".into()),
            ],
            "paragraphs[1].shot_id",
        ),
        (vec![edit(clips[0], "  ".into())], "paragraphs[0].text"),
    ] {
        let err = tasks
            .update_script(UpdateScriptRequest {
                task_id: t.id,
                paragraphs: edits,
            })
            .await
            .expect_err(field);
        let e = ApiError::from_status(&err);
        assert_eq!(e.code, ErrorCode::InvalidArgument, "{e}");
        assert_eq!(
            e.metadata.get("field").map(String::as_str),
            Some(field),
            "{e}"
        );
    }
    let edited = tasks
        .update_script(UpdateScriptRequest {
            task_id: t.id,
            paragraphs: vec![
                ParagraphEdit {
                    id: "para_1".into(),
                    section: "开场".into(),
                    shot_id: clips[1],
                    text: "家人们！望京这家海底捞我替你们试过了 🔥".into(),
                },
                edit(clips[0], "毛肚七上八下，人均89".into()),
            ],
        })
        .await
        .expect("edit")
        .into_inner()
        .script
        .expect("script");
    assert_eq!((edited.version, edited.is_user_edited), (2, true));
    assert_eq!(edited.paragraphs[0].id, "para_1", "kept");
    assert_eq!(edited.paragraphs[1].id, "para_6", "new ids continue");
    assert_eq!(
        edited.paragraphs[0].text,
        "家人们！望京这家海底捞我替你们试过了 🔥"
    );
    assert_eq!(
        task(&mut tasks, t.id).await.status,
        TaskStatus::ScriptEdited as i32
    );

    // Regenerate: back to ANALYZING, a new job; the old job's reports are stale.
    let regen = tasks
        .regenerate_script(RegenerateScriptRequest { task_id: t.id })
        .await
        .expect("regenerate")
        .into_inner();
    assert_eq!(regen.regenerate_remaining, 4);
    assert_eq!(
        task(&mut tasks, t.id).await.status,
        TaskStatus::Analyzing as i32
    );
    let job2 = next_job(&mut sub).await;
    assert_ne!(job2.job_id, job.job_id);
    // Someone watches (native gRPC through the edge) until the task ends.
    let mut watcher = tasks
        .watch_progress(WatchProgressRequest { task_id: t.id })
        .await
        .expect("watch")
        .into_inner();
    let first = watcher.message().await.expect("first").expect("one");
    assert_eq!(
        first.progress.expect("p").status,
        TaskStatus::Analyzing as i32
    );
    let watched = tokio::spawn(async move {
        let mut seen = Vec::new();
        while let Some(m) = watcher.message().await.expect("stream") {
            seen.push(m.progress.expect("p"));
        }
        seen
    });
    assert!(
        !report_script(&mut worker, &job, &clips).await,
        "old job is stale"
    );

    // The new job fails for good: FAILED, with the step and the reason.
    let failed = worker
        .report_job_failure(ReportJobFailureRequest {
            job_id: job2.job_id.clone(),
            task_id: t.id,
            step: TaskStep::Script as i32,
            message: "writer: the model answered garbage three times".into(),
            code: ErrorCode::ProviderFailed as i32,
            attempt: 4,
            r#final: true,
        })
        .await
        .expect("failure")
        .into_inner();
    assert!(failed.applied);
    let now = task(&mut tasks, t.id).await;
    assert_eq!(now.status, TaskStatus::Failed as i32);
    // The watch saw the failure and ended.
    let seen = tokio::time::timeout(Duration::from_secs(10), watched)
        .await
        .expect("the watch ended")
        .expect("join");
    let last = seen.last().expect("an update");
    assert_eq!(last.status, TaskStatus::Failed as i32);
    assert!(
        last.failure
            .as_ref()
            .expect("failure")
            .message
            .contains("garbage")
    );
    // grpc-web (a browser) gets the same stream: here one message, then the end.
    let resp = reqwest::Client::new()
        .post(format!("{base}/scout.tasks.v1.TasksService/WatchProgress"))
        .header("content-type", "application/grpc-web+proto")
        .bearer_auth(&a.access)
        .body(grpc_frame(
            &WatchProgressRequest { task_id: t.id }.encode_to_vec(),
        ))
        .send()
        .await
        .expect("grpc-web");
    let headers = resp.headers().clone();
    let answer = parse_grpc_web(&headers, &resp.bytes().await.expect("body"));
    assert_eq!(answer.status, Some(0), "{answer:?}");
    assert_eq!(answer.messages.len(), 1);
    let p =
        scout_proto::scout::tasks::v1::WatchProgressResponse::decode(answer.messages[0].as_slice())
            .expect("decodes")
            .progress
            .expect("p");
    assert_eq!(p.status, TaskStatus::Failed as i32);
    let failure = now.failure.expect("failure");
    assert_eq!(failure.step, TaskStep::Script as i32);
    assert_eq!(failure.attempts, 4);
    assert!(failure.message.contains("garbage"));
    // Retried from that step: ANALYZING with a new job, then SCRIPT_READY.
    let retried = tasks
        .retry_task(RetryTaskRequest { task_id: t.id })
        .await
        .expect("retry")
        .into_inner()
        .task
        .expect("task");
    assert_eq!(retried.status, TaskStatus::Analyzing as i32);
    assert!(retried.failure.is_none());
    let job3 = next_job(&mut sub).await;
    assert!(report_script(&mut worker, &job3, &clips).await);
    let script = tasks
        .get_script(GetScriptRequest { task_id: t.id })
        .await
        .expect("script")
        .into_inner()
        .script
        .expect("script");
    assert_eq!((script.version, script.is_user_edited), (3, false));

    // Five regenerations per task, then QUOTA_EXCEEDED.
    for left in (0..4).rev() {
        let r = tasks
            .regenerate_script(RegenerateScriptRequest { task_id: t.id })
            .await
            .expect("regenerate")
            .into_inner();
        assert_eq!(r.regenerate_remaining, left);
        let j = next_job(&mut sub).await;
        assert!(report_script(&mut worker, &j, &clips).await);
    }
    let err = tasks
        .regenerate_script(RegenerateScriptRequest { task_id: t.id })
        .await
        .expect_err("none left");
    let e = ApiError::from_status(&err);
    assert_eq!(e.code, ErrorCode::QuotaExceeded, "{e}");
    assert!(e.message.contains("5 per task"), "{e}");
    assert_eq!(
        task(&mut tasks, t.id).await.status,
        TaskStatus::ScriptReady as i32
    );
    mesh.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn analysis_and_scripts_embedded() {
    analysis_flow(false).await;
}

#[tokio::test]
async fn analysis_and_scripts_postgres_redis_kafka_s3() {
    analysis_flow(true).await;
}
