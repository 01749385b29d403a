//! Jobs that go wrong: a compose whose speech provider is down is retried
//! with the configured delays, lands on the dead-letter topic and leaves the
//! task FAILED with the last error (and RetryTask starts it again); an
//! analysis queued on the in-process bus survives a restart of the whole
//! mesh because the tasks service re-dispatches unfinished jobs at start.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;

use scout::mesh::Mesh;
use scout_common::config::Config;
use scout_proto::scout::tasks::v1::tasks_service_client::TasksServiceClient;
use scout_proto::scout::tasks::v1::{
    ConfirmVideoRequest, CreateTaskRequest, GetTaskRequest, Paragraph, ReportScriptRequest,
    RetryTaskRequest, StartAnalysisRequest, StartComposeRequest, Task, TaskStatus, TaskStep,
};
use support::*;

type Tasks = TasksServiceClient<AuthedChannel>;

async fn task(tasks: &mut Tasks, id: i64) -> Task {
    tasks
        .get_task(GetTaskRequest { task_id: id })
        .await
        .expect("task")
        .into_inner()
        .task
        .expect("task")
}

/// A task with one clip, analysed (scripted by this test), ready to compose.
async fn scripted_task(mesh: &Mesh, tasks: &mut Tasks, files: &std::path::Path) -> i64 {
    scripted_task_saying(mesh, tasks, files, &["家人们好！"]).await
}

/// A task whose script (one paragraph per text, over one clip) is ready.
async fn scripted_task_saying(
    mesh: &Mesh,
    tasks: &mut Tasks,
    files: &std::path::Path,
    texts: &[&str],
) -> i64 {
    let ctx = mesh.context().clone();
    let mut sub = ctx
        .adapters
        .bus
        .subscribe(
            &format!("test-vision-{}", scout_common::testing::unique()),
            &[format!("{}analyze", ctx.jobs.analyze.prefix)],
        )
        .await
        .expect("subscribe");
    let t = tasks
        .create_task(CreateTaskRequest {
            shop_name: "测试店".into(),
            shop_type: 4,
            ..Default::default()
        })
        .await
        .expect("create")
        .into_inner()
        .task
        .expect("task");
    let file = clip(files, "c.mp4", 2.0);
    let key = curl_upload(tasks, t.id, &file, "video/mp4").await;
    let clip_id = tasks
        .confirm_video(ConfirmVideoRequest {
            task_id: t.id,
            oss_key: key,
            original_filename: "c.mp4".into(),
        })
        .await
        .expect("confirm")
        .into_inner()
        .video
        .expect("video")
        .id;
    tasks
        .start_analysis(StartAnalysisRequest { task_id: t.id })
        .await
        .expect("analyse");
    let job = take_analyze_job(&mut sub, Duration::from_secs(30)).await;
    tasks_worker(mesh)
        .report_script(ReportScriptRequest {
            pictures: Vec::new(),
            library_clips: Vec::new(),
            job_id: job.job_id,
            task_id: t.id,
            paragraphs: texts
                .iter()
                .enumerate()
                .map(|(i, text)| Paragraph {
                    id: format!("para_{}", i + 1),
                    section: "开场".into(),
                    shot_id: clip_id,
                    text: (*text).into(),
                    ..Default::default()
                })
                .collect(),
            provider: "template".into(),
            provider_note: String::new(),
            usage: None,
        })
        .await
        .expect("script");
    t.id
}

/// A Seed-TTS endpoint (its `/api/v1/tts` wire format) that answers 500
/// while `down`, and speech once it is back.
#[derive(Clone, Default)]
struct FlakyTts {
    down: Arc<AtomicBool>,
    /// Every text it was asked to speak.
    spoken: Arc<std::sync::Mutex<Vec<String>>>,
}

async fn tts(
    axum::extract::State(fake): axum::extract::State<FlakyTts>,
    axum::Json(body): axum::Json<serde_json::Value>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    if fake.down.load(Ordering::SeqCst) {
        return (http::StatusCode::INTERNAL_SERVER_ERROR, "upstream exploded").into_response();
    }
    let text = body["request"]["text"].as_str().unwrap_or_default();
    if let Ok(mut spoken) = fake.spoken.lock() {
        spoken.push(text.to_string());
    }
    let seconds = 0.15 * text.chars().count() as f64;
    let data = base64::engine::general_purpose::STANDARD.encode(wav_24k(seconds));
    axum::Json(serde_json::json!({
        "reqid": body["request"]["reqid"], "code": 3000, "operation": "query",
        "message": "Success", "sequence": -1, "data": data,
        "addition": {"duration": format!("{}", (seconds * 1000.0) as u64)}
    }))
    .into_response()
}

/// Serves `fake` on loopback; the embedded config for `dir` with Seed-TTS
/// pointed at it and no local fallback.
async fn speaking_with(fake: &FlakyTts, dir: &std::path::Path) -> Config {
    let vendor = axum::Router::new()
        .route("/api/v1/tts", axum::routing::post(tts))
        .with_state(fake.clone());
    speaking_through(vendor, dir).await
}

/// A mono 24 kHz WAV tone, as Seed-TTS answers.
fn wav_24k(seconds: f64) -> Vec<u8> {
    wav_tone(24_000, seconds, 330.0)
}

#[tokio::test]
async fn retries_exhausted_leave_the_task_failed_and_a_retry_succeeds_once_the_cause_is_gone() {
    retries_then_dead_letter(false).await;
}

#[tokio::test]
async fn retries_exhausted_on_postgres_redis_kafka_s3() {
    retries_then_dead_letter(true).await;
}

async fn retries_then_dead_letter(production: bool) {
    let dir = tempfile::tempdir().expect("tempdir");
    let files = tempfile::tempdir().expect("files");
    let fake = FlakyTts::default();
    fake.down.store(true, Ordering::SeqCst);
    // The speech provider is down, and there is no local fallback.
    let mut config = speaking_with(&fake, dir.path()).await;
    config.voice.max_retries = 0;
    let mut _db = None;
    if production {
        let db = scout_common::testing::postgres_database();
        config.tasks.database_url = db.url.clone();
        _db = Some(db);
        config.cache = scout_common::testing::redis_config();
        config.bus = scout_common::testing::kafka_config();
        config.blobs = scout_common::testing::s3_config();
    }
    config.bus.compose_retry_delays = vec![Duration::from_millis(300), Duration::from_millis(300)];
    let mesh = mesh_without_vision(config).await;
    let base = mesh.edge_url();
    let me = login(&base, dir.path()).await;
    let mut tasks: Tasks = TasksServiceClient::new(authed_channel(&base, &me.access));
    let id = scripted_task(&mesh, &mut tasks, files.path()).await;
    tasks
        .start_compose(StartComposeRequest {
            task_id: id,
            ..Default::default()
        })
        .await
        .expect("compose");
    let start = Instant::now();
    let failed = loop {
        let t = task(&mut tasks, id).await;
        if t.status == TaskStatus::Failed as i32 {
            break t;
        }
        assert_eq!(t.status, TaskStatus::Composing as i32);
        assert!(start.elapsed() < Duration::from_secs(60), "never failed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let f = failed.failure.expect("failure");
    assert_eq!(f.step, TaskStep::Compose as i32);
    assert_eq!(f.attempts, 3, "1 attempt + 2 retries");
    assert!(f.message.contains("speech"), "{}", f.message);
    // The dead-letter topic holds the job.
    let ctx = mesh.context();
    let mut dlq = ctx
        .adapters
        .bus
        .subscribe(
            &format!("test-dlq-{}", scout_common::testing::unique()),
            &[format!("{}compose.dlq", ctx.jobs.analyze.prefix)],
        )
        .await
        .expect("subscribe");
    let dead = tokio::time::timeout(Duration::from_secs(30), dlq.next())
        .await
        .expect("a dead letter")
        .expect("delivery");
    assert_eq!(dead.message.key.as_deref(), Some(id.to_string().as_str()));
    // The provider is back; retried from the failed step, the task completes.
    fake.down.store(false, Ordering::SeqCst);
    let again = tasks
        .retry_task(RetryTaskRequest { task_id: id })
        .await
        .expect("retry")
        .into_inner()
        .task
        .expect("task");
    assert_eq!(again.status, TaskStatus::Composing as i32);
    assert!(again.failure.is_none());
    wait_composed(&mut tasks, id, Duration::from_secs(90)).await;
    mesh.shutdown().await.expect("clean shutdown");
}

/// Waits until task `id` is composed, failing the test if it fails or
/// takes longer than `limit`. Returns the first preview URL its progress
/// offered meanwhile, if any.
async fn wait_composed(tasks: &mut Tasks, id: i64, limit: Duration) -> Option<String> {
    let start = Instant::now();
    let mut preview = None;
    loop {
        let t = task(tasks, id).await;
        if t.status == TaskStatus::Completed as i32 {
            return preview;
        }
        assert_eq!(t.status, TaskStatus::Composing as i32, "{:?}", t.failure);
        assert!(start.elapsed() < limit, "never completed");
        let p = tasks
            .get_progress(scout_proto::scout::tasks::v1::GetProgressRequest { task_id: id })
            .await
            .expect("progress")
            .into_inner()
            .progress
            .unwrap_or_default();
        if preview.is_none() && !p.preview_url.is_empty() {
            preview = Some(p.preview_url);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Re-composing after a one-paragraph edit speaks only that paragraph: the
/// others' speech is kept under the task, addressed by what went into it
/// (their encoded video too: see render's compose tests). The first
/// compose offers a preview while it renders.
#[tokio::test]
async fn a_re_compose_speaks_only_what_changed() {
    use scout_proto::scout::tasks::v1::{ParagraphEdit, UpdateScriptRequest};
    let dir = tempfile::tempdir().expect("tempdir");
    let files = tempfile::tempdir().expect("files");
    let fake = FlakyTts::default();
    let config = speaking_with(&fake, dir.path()).await;
    let mesh = mesh_without_vision(config).await;
    let base = mesh.edge_url();
    let me = login(&base, dir.path()).await;
    let mut tasks: Tasks = TasksServiceClient::new(authed_channel(&base, &me.access));
    let texts = ["家人们好！", "今天来探店。", "记得点赞关注！"];
    let id = scripted_task_saying(&mesh, &mut tasks, files.path(), &texts).await;
    let spoken_of = |fake: &FlakyTts| -> Vec<String> {
        let all = fake.spoken.lock().map(|s| s.clone()).unwrap_or_default();
        // Only the paragraphs: the rate measurement's calibration lines aside.
        all.into_iter()
            .filter(|t| t.chars().count() < 12 && !t.contains("打卡"))
            .collect()
    };
    async fn compose_and_wait(tasks: &mut Tasks, id: i64) -> Option<String> {
        tasks
            .start_compose(StartComposeRequest {
                task_id: id,
                ..Default::default()
            })
            .await
            .expect("compose");
        wait_composed(tasks, id, Duration::from_secs(120)).await
    }
    let preview = compose_and_wait(&mut tasks, id).await;
    assert_eq!(spoken_of(&fake), texts, "each paragraph spoken once");
    // The first compose offered its low-resolution preview while rendering.
    let preview = preview.expect("a preview URL in the progress while composing");
    let bytes = reqwest::get(&preview)
        .await
        .expect("preview download")
        .error_for_status()
        .expect("preview served")
        .bytes()
        .await
        .expect("preview bytes");
    assert_eq!(bytes.get(4..8), Some(&b"ftyp"[..]), "an mp4");
    let blobs = mesh.context().adapters.blobs.clone();
    let pieces = format!("output/{id}/pieces/");
    // One paragraph edited: only it is spoken again.
    let script = tasks
        .get_script(scout_proto::scout::tasks::v1::GetScriptRequest { task_id: id })
        .await
        .expect("script")
        .into_inner()
        .script
        .expect("script");
    let edits: Vec<ParagraphEdit> = script
        .paragraphs
        .iter()
        .map(|p| ParagraphEdit {
            id: p.id.clone(),
            section: p.section.clone(),
            shot_id: p.shot_id,
            text: if p.id == "para_2" {
                "今天来吃火锅。".into()
            } else {
                p.text.clone()
            },
        })
        .collect();
    tasks
        .update_script(UpdateScriptRequest {
            task_id: id,
            paragraphs: edits,
        })
        .await
        .expect("edit");
    compose_and_wait(&mut tasks, id).await;
    // The video is kept in pieces (each with its still), one per paragraph:
    // the edited one replaced, the others the first compose's.
    let kept = blobs.list(&pieces).await.expect("list");
    assert_eq!(kept.len(), 2 * texts.len(), "{kept:?}");
    assert_eq!(
        spoken_of(&fake),
        [
            "家人们好！",
            "今天来探店。",
            "记得点赞关注！",
            "今天来吃火锅。"
        ],
        "only the edited paragraph is spoken again"
    );
    mesh.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn an_unfinished_job_survives_a_restart_of_the_embedded_mesh() {
    let dir = tempfile::tempdir().expect("tempdir");
    let files = tempfile::tempdir().expect("files");
    let config: Config = embedded_config(dir.path());
    let mesh = mesh_without_vision(config.clone()).await;
    let base = mesh.edge_url();
    let me = login(&base, dir.path()).await;
    let mut tasks: Tasks = TasksServiceClient::new(authed_channel(&base, &me.access));
    let t = tasks
        .create_task(CreateTaskRequest {
            shop_name: "重启测试".into(),
            shop_type: 4,
            ..Default::default()
        })
        .await
        .expect("create")
        .into_inner()
        .task
        .expect("task");
    let file = clip(files.path(), "c.mp4", 1.5);
    let key = curl_upload(&mut tasks, t.id, &file, "video/mp4").await;
    tasks
        .confirm_video(ConfirmVideoRequest {
            task_id: t.id,
            oss_key: key,
            original_filename: "c.mp4".into(),
        })
        .await
        .expect("confirm");
    // Queued on the in-process bus, and nobody takes it before the stop.
    tasks
        .start_analysis(StartAnalysisRequest { task_id: t.id })
        .await
        .expect("analyse");
    mesh.shutdown().await.expect("stop");

    // Same data directory: the task is still ANALYZING and its job is back.
    let mesh = mesh_without_vision(config).await;
    let ctx = mesh.context().clone();
    let mut sub = ctx
        .adapters
        .bus
        .subscribe(
            &format!("test-vision-{}", scout_common::testing::unique()),
            &[format!("{}analyze", ctx.jobs.analyze.prefix)],
        )
        .await
        .expect("subscribe");
    // The job was re-dispatched.
    let job = take_analyze_job(&mut sub, Duration::from_secs(10)).await;
    assert_eq!(job.task_id, t.id);
    let base = mesh.edge_url();
    let mut tasks: Tasks = TasksServiceClient::new(authed_channel(&base, &me.access));
    assert_eq!(
        task(&mut tasks, t.id).await.status,
        TaskStatus::Analyzing as i32
    );
    let applied = tasks_worker(&mesh)
        .report_script(ReportScriptRequest {
            pictures: Vec::new(),
            library_clips: Vec::new(),
            job_id: job.job_id,
            task_id: t.id,
            paragraphs: vec![Paragraph {
                id: "para_1".into(),
                section: "开场".into(),
                shot_id: job.video_ids[0],
                text: "重启之后也不丢！".into(),
                ..Default::default()
            }],
            provider: "template".into(),
            provider_note: String::new(),
            usage: None,
        })
        .await
        .expect("script")
        .into_inner()
        .applied;
    assert!(
        applied,
        "the re-dispatched job is the one the task waits for"
    );
    assert_eq!(
        task(&mut tasks, t.id).await.status,
        TaskStatus::ScriptReady as i32
    );
    mesh.shutdown().await.expect("clean shutdown");
}
