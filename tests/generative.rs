//! Generative video (seed 004) through the API on the real mesh: an ad
//! creative asking for moving images, each image made into a clip by an
//! image-to-video model behind a local server speaking Replicate's
//! prediction API (its 201 / polling / succeeded and failed states, its
//! throttling 429 with Retry-After, its 401), the provider fetching each
//! image from its presigned URL. The output shows the clips, not the
//! stills; a scene that fails fails the task naming why, and the retry
//! makes only the scene still missing; with no provider configured, the
//! task says so.

mod support;

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::response::IntoResponse as _;
use scout_common::config::{Config, GenerativeProvider};
use scout_proto::scout::tasks::v1::tasks_service_client::TasksServiceClient;
use scout_proto::scout::tasks::v1::{
    CreateTaskRequest, MontageInput, Recipe, RetryTaskRequest, StepState, TaskStatus,
};
use serde_json::{Value, json};
use support::*;

const TOKEN: &str = "r8_test_token";
const MODEL: &str = "minimax/video-01-live";
const LIPSYNC: &str = "sync/lipsync-2-pro";
/// What the lipsync "model" answers (a clip of this colour).
const SINGING: (&str, [u8; 3]) = ("0xd040d0", [208, 64, 208]);

/// The stills uploaded, and the colour the "model" paints each one's clip.
const SCENES: [(&str, &str, [u8; 3]); 2] = [
    ("red", "0x30c040", [48, 192, 64]),
    ("blue", "0xe0d020", [224, 208, 32]),
];

#[derive(Clone, Copy, PartialEq, Debug)]
enum Mode {
    Good,
    /// 429 "Request was throttled" on the next create, then good.
    ThrottleOnce,
    /// The prediction of this scene fails (the model flags the input).
    FailFor(usize),
}

#[derive(Clone)]
struct Fake {
    base: Arc<Mutex<String>>,
    mode: Arc<Mutex<Mode>>,
    /// The stills' bytes, to know which one a prediction was given.
    stills: Arc<Vec<Vec<u8>>>,
    clips: Arc<Vec<Vec<u8>>>,
    /// Each prediction: its scene and how often it was polled.
    predictions: Arc<Mutex<HashMap<String, (usize, u32)>>>,
    /// Scenes predicted, in order of creation (throttled tries not counted).
    created: Arc<Mutex<Vec<usize>>>,
    prompts: Arc<Mutex<Vec<String>>>,
    /// The lipsync model's clip, and the seconds of each sound it was given.
    singing: Arc<Vec<u8>>,
    sounds: Arc<Mutex<Vec<f64>>>,
}

/// Marks a lipsync prediction's scene.
const SYNCED: usize = 100;

impl Fake {
    fn set(&self, mode: Mode) {
        *self.mode.lock().expect("lock") = mode;
    }
    fn created(&self) -> Vec<usize> {
        self.created.lock().expect("lock").clone()
    }
}

/// Replicate's error body.
fn problem(status: u16, title: &str, detail: &str) -> axum::response::Response {
    (
        http::StatusCode::from_u16(status).expect("status"),
        axum::Json(json!({"title": title, "detail": detail, "status": status})),
    )
        .into_response()
}

fn authorized(headers: &http::HeaderMap) -> bool {
    headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {TOKEN}"))
}

fn body_of(fake: &Fake, id: &str, scene: usize, status: &str) -> Value {
    let base = fake.base.lock().expect("lock").clone();
    let (output, error) = match status {
        "succeeded" => (json!([format!("{base}/files/{id}.mp4")]), Value::Null),
        "failed" => (
            Value::Null,
            json!(
                "The input or output was flagged as sensitive. Please try again with different inputs. (E005)"
            ),
        ),
        _ => (Value::Null, Value::Null),
    };
    json!({
        "id": id,
        "model": MODEL,
        "version": "hidden",
        "input": {"scene": scene},
        "logs": "",
        "output": output,
        "error": error,
        "status": status,
        "created_at": "2026-12-05T08:00:00.000Z",
        "urls": {
            "get": format!("{base}/v1/predictions/{id}"),
            "cancel": format!("{base}/v1/predictions/{id}/cancel"),
        }
    })
}

async fn create(
    axum::extract::State(fake): axum::extract::State<Fake>,
    axum::extract::Path((owner, name)): axum::extract::Path<(String, String)>,
    headers: http::HeaderMap,
    body: axum::body::Bytes,
) -> axum::response::Response {
    if !authorized(&headers) {
        return problem(
            401,
            "Unauthenticated",
            "You did not pass a valid authentication token",
        );
    }
    let model = format!("{owner}/{name}");
    if model != MODEL && model != LIPSYNC {
        return problem(
            404,
            "Not found",
            "The requested resource could not be found.",
        );
    }
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return problem(400, "Bad request", "invalid JSON");
    };
    let input = &body["input"];
    if model == LIPSYNC {
        return lipsync(&fake, input).await;
    }
    if input["aspect_ratio"] != "9:16" || input["prompt"].as_str().is_none() {
        return problem(
            422,
            "Input validation failed",
            "input: prompt and aspect_ratio are required",
        );
    }
    if *fake.mode.lock().expect("lock") == Mode::ThrottleOnce {
        fake.set(Mode::Good);
        let mut r = problem(
            429,
            "Request was throttled",
            "Request was throttled. Expected available in 1 second.",
        );
        r.headers_mut()
            .insert("retry-after", http::HeaderValue::from_static("1"));
        return r;
    }
    // The model fetches the image from the URL it was given, as Replicate
    // does: it must be reachable and be one of the stills.
    let url = input["image"].as_str().unwrap_or_default();
    let Ok(resp) = reqwest::get(url).await else {
        return problem(422, "Input validation failed", "input.image: cannot fetch");
    };
    let bytes = resp.bytes().await.unwrap_or_default();
    let Some(scene) = fake
        .stills
        .iter()
        .position(|s| s.as_slice() == bytes.as_ref())
    else {
        return problem(
            422,
            "Input validation failed",
            "input.image: not an image we were given",
        );
    };
    fake.prompts
        .lock()
        .expect("lock")
        .push(input["prompt"].as_str().unwrap_or_default().to_string());
    // A model takes a moment to start.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let id = format!("pred{}", fake.predictions.lock().expect("lock").len() + 1);
    fake.predictions
        .lock()
        .expect("lock")
        .insert(id.clone(), (scene, 0));
    fake.created.lock().expect("lock").push(scene);
    (
        http::StatusCode::CREATED,
        axum::Json(body_of(&fake, &id, scene, "starting")),
    )
        .into_response()
}

/// A lipsync prediction: the clip must be one the model made, the sound a
/// WAV whose length is recorded.
async fn lipsync(fake: &Fake, input: &Value) -> axum::response::Response {
    async fn fetch(url: &str) -> Option<axum::body::Bytes> {
        match reqwest::get(url).await {
            Ok(r) if r.status().is_success() => r.bytes().await.ok(),
            _ => None,
        }
    }
    let video = fetch(input["video"].as_str().unwrap_or_default()).await;
    let audio = fetch(input["audio"].as_str().unwrap_or_default()).await;
    let (Some(video), Some(audio)) = (video, audio) else {
        return problem(
            422,
            "Input validation failed",
            "input.video and input.audio must be fetchable URLs",
        );
    };
    if !fake.clips.iter().any(|c| c.as_slice() == video.as_ref()) || !audio.starts_with(b"RIFF") {
        return problem(
            422,
            "Input validation failed",
            "input.video must be a video and input.audio a sound",
        );
    }
    fake.sounds
        .lock()
        .expect("lock")
        .push((audio.len() - 44) as f64 / 2.0 / 48_000.0);
    let id = format!("pred{}", fake.predictions.lock().expect("lock").len() + 1);
    fake.predictions
        .lock()
        .expect("lock")
        .insert(id.clone(), (SYNCED, 0));
    (
        http::StatusCode::CREATED,
        axum::Json(body_of(fake, &id, SYNCED, "starting")),
    )
        .into_response()
}

async fn get(
    axum::extract::State(fake): axum::extract::State<Fake>,
    axum::extract::Path(id): axum::extract::Path<String>,
    headers: http::HeaderMap,
) -> axum::response::Response {
    if !authorized(&headers) {
        return problem(
            401,
            "Unauthenticated",
            "You did not pass a valid authentication token",
        );
    }
    let polled = {
        let mut all = fake.predictions.lock().expect("lock");
        let Some(p) = all.get_mut(&id) else {
            return problem(
                404,
                "Not found",
                "The requested resource could not be found.",
            );
        };
        p.1 += 1;
        *p
    };
    let (scene, polls) = polled;
    let status = match (*fake.mode.lock().expect("lock"), polls) {
        (_, 1) => "processing",
        (Mode::FailFor(i), _) if i == scene => "failed",
        _ => "succeeded",
    };
    axum::Json(body_of(&fake, &id, scene, status)).into_response()
}

async fn file(
    axum::extract::State(fake): axum::extract::State<Fake>,
    axum::extract::Path(name): axum::extract::Path<String>,
) -> axum::response::Response {
    let id = name.trim_end_matches(".mp4");
    let scene = fake.predictions.lock().expect("lock").get(id).map(|p| p.0);
    let clip = match scene {
        Some(SYNCED) => Some(fake.singing.as_ref()),
        Some(s) => fake.clips.get(s),
        None => None,
    };
    match clip {
        Some(bytes) => ([("content-type", "video/mp4")], bytes.clone()).into_response(),
        None => problem(404, "Not found", "no such file"),
    }
}

/// A solid `colour` image (ffmpeg; test tooling).
fn still(dir: &Path, colour: &str) -> Vec<u8> {
    let out = dir.join(format!("{colour}.png"));
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("color=c={colour}:s=720x1280"))
        .args(["-frames:v", "1"])
        .arg(&out)
        .status()
        .expect("ffmpeg runs");
    assert!(status.success());
    std::fs::read(&out).expect("png")
}

/// A 3 s 720x1280 clip of `colour` (what the model "made").
fn moving(dir: &Path, colour: &str) -> Vec<u8> {
    let out = dir.join(format!("clip-{colour}.mp4"));
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("color=c={colour}:s=720x1280:rate=24:duration=3"))
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
        ])
        .arg(&out)
        .status()
        .expect("ffmpeg runs");
    assert!(status.success());
    std::fs::read(&out).expect("mp4")
}

async fn fake_replicate(dir: &Path) -> (Fake, String) {
    let fake = Fake {
        base: Arc::default(),
        mode: Arc::new(Mutex::new(Mode::Good)),
        stills: Arc::new(SCENES.iter().map(|(c, _, _)| still(dir, c)).collect()),
        clips: Arc::new(SCENES.iter().map(|(_, c, _)| moving(dir, c)).collect()),
        predictions: Arc::default(),
        created: Arc::default(),
        prompts: Arc::default(),
        singing: Arc::new(moving(dir, SINGING.0)),
        sounds: Arc::default(),
    };
    let app = axum::Router::new()
        .route(
            "/v1/models/{owner}/{name}/predictions",
            axum::routing::post(create),
        )
        .route("/v1/predictions/{id}", axum::routing::get(get))
        .route("/files/{name}", axum::routing::get(file))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    *fake.base.lock().expect("lock") = url.clone();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (fake, url)
}

fn config(dir: &Path, url: Option<&str>) -> Config {
    let mut config = embedded_config(dir);
    config.edge.rate_limits.default.limit = 100_000;
    config.edge.request_timeout = Duration::from_secs(60);
    config.aigc.mark = false;
    config.bus.compose_retry_delays = vec![Duration::from_millis(200)];
    if let Some(url) = url {
        config.generative.provider = GenerativeProvider::Replicate;
        config.generative.endpoint = url.into();
        config.generative.api_token = TOKEN.into();
        config.generative.animate_model = MODEL.into();
        config.generative.poll_interval = Duration::from_millis(100);
        config.generative.max_retries = 1;
    }
    config
}

/// An animated ad with the two stills and a track, composing.
async fn animated_ad(tasks: &mut UserTasks, fake_dir: &Path) -> i64 {
    ad(tasks, fake_dir, false).await
}

/// An animated ad (lip-synced when `sings`) with the two stills and a
/// track, composing.
async fn ad(tasks: &mut UserTasks, fake_dir: &Path, sings: bool) -> i64 {
    let task = tasks
        .create_task(CreateTaskRequest {
            recipe: Recipe::AdCreative as i32,
            montage: Some(MontageInput {
                product_name: "冷萃乌龙".into(),
                call_to_action: "立即购买".into(),
                target_seconds: 8.0,
                animate: true,
                lip_sync: sings,
                ..MontageInput::default()
            }),
            ..CreateTaskRequest::default()
        })
        .await
        .expect("create")
        .into_inner()
        .task
        .expect("task");
    assert!(task.montage.as_ref().is_some_and(|m| m.animate));
    for (colour, _, _) in SCENES {
        let bytes = std::fs::read(fake_dir.join(format!("{colour}.png"))).expect("still");
        upload_bytes(tasks, task.id, &format!("{colour}.png"), "image/png", bytes)
            .await
            .expect("image");
    }
    upload_bytes(
        tasks,
        task.id,
        "track.wav",
        "audio/wav",
        wav_tone(48_000, 10.0, 330.0),
    )
    .await
    .expect("track");
    compose(tasks, task.id).await.expect("compose");
    task.id
}

fn near(a: [u8; 3], b: [u8; 3]) -> bool {
    (0..3).all(|k| a[k].abs_diff(b[k]) < 40)
}

#[tokio::test]
async fn an_animated_ad_shows_each_images_clip_made_by_the_model() {
    let dir = tempfile::tempdir().expect("tempdir");
    let files = tempfile::tempdir().expect("files");
    let (fake, url) = fake_replicate(files.path()).await;
    fake.set(Mode::ThrottleOnce);
    let mut config = config(dir.path(), Some(&url));
    let _dbs = on_production_adapters(&mut config);
    let mesh = scout::mesh::Mesh::start(config).await.expect("mesh");
    let base = mesh.edge_url();
    let me = login(&base, dir.path()).await;
    let mut tasks = TasksServiceClient::new(authed_channel(&base, &me.access));
    let id = animated_ad(&mut tasks, files.path()).await;
    wait_status(
        &mut tasks,
        id,
        TaskStatus::Completed,
        Duration::from_secs(240),
    )
    .await;

    // One prediction per scene (the throttled try retried after its
    // Retry-After), each given its own image through its presigned URL.
    let mut created = fake.created();
    created.sort_unstable();
    assert_eq!(created, [0, 1]);
    assert!(
        fake.prompts
            .lock()
            .expect("lock")
            .iter()
            .all(|p| p.contains("冷萃乌龙")),
        "the prompt names the product"
    );
    // The video shows the clips the model made, not the stills.
    let video = files.path().join("ad.mp4");
    save_final(&mut tasks, id, &video).await;
    let colours = top_colours(&video);
    for (_, _, clip) in SCENES {
        let frames = colours.iter().filter(|c| near(**c, clip)).count();
        assert!(frames >= 15, "{clip:?} on {frames} frames");
    }
    let stills = colours
        .iter()
        .filter(|c| near(**c, [255, 0, 0]) || near(**c, [0, 0, 255]))
        .count();
    // Only the end card holds a still (3 s at 30 fps).
    assert!(stills <= 95, "{stills} frames of stills");
    let steps = progress_steps(&mut tasks, id).await;
    let done = StepState::Completed as i32;
    assert_eq!(
        steps,
        [
            ("节拍检测".to_string(), done),
            ("画面生成".to_string(), done),
            ("视频合成".to_string(), done),
            ("上传成片".to_string(), done)
        ]
    );
    mesh.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn a_failed_scene_fails_the_task_and_the_retry_makes_only_that_scene() {
    let dir = tempfile::tempdir().expect("tempdir");
    let files = tempfile::tempdir().expect("files");
    let (fake, url) = fake_replicate(files.path()).await;
    fake.set(Mode::FailFor(1));
    let mesh = scout::mesh::Mesh::start(config(dir.path(), Some(&url)))
        .await
        .expect("mesh");
    let base = mesh.edge_url();
    let me = login(&base, dir.path()).await;
    let mut tasks = TasksServiceClient::new(authed_channel(&base, &me.access));
    let id = animated_ad(&mut tasks, files.path()).await;
    let t = wait_status(&mut tasks, id, TaskStatus::Failed, Duration::from_secs(120)).await;
    let message = t.failure.map(|f| f.message).unwrap_or_default();
    assert!(
        message.contains("failed") && message.contains("flagged as sensitive"),
        "{message}"
    );
    let mut first = fake.created();
    first.sort_unstable();
    assert_eq!(
        first,
        [0, 1],
        "each scene once: a failed prediction is final"
    );
    // The model takes the input now: the retry asks only for scene 2.
    fake.set(Mode::Good);
    tasks
        .retry_task(RetryTaskRequest { task_id: id })
        .await
        .expect("retry");
    wait_status(
        &mut tasks,
        id,
        TaskStatus::Completed,
        Duration::from_secs(240),
    )
    .await;
    let all = fake.created();
    assert_eq!(all.len(), 3, "{all:?}");
    assert_eq!(all[2], 1);
    mesh.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn without_a_provider_or_with_a_bad_token_the_task_says_why() {
    let dir = tempfile::tempdir().expect("tempdir");
    let files = tempfile::tempdir().expect("files");
    let (fake, url) = fake_replicate(files.path()).await;
    // Off by default: an animated montage fails saying so.
    let mesh = scout::mesh::Mesh::start(config(dir.path(), None))
        .await
        .expect("mesh");
    let base = mesh.edge_url();
    let me = login(&base, dir.path()).await;
    let mut tasks = TasksServiceClient::new(authed_channel(&base, &me.access));
    let id = animated_ad(&mut tasks, files.path()).await;
    let t = wait_status(&mut tasks, id, TaskStatus::Failed, Duration::from_secs(60)).await;
    let message = t.failure.map(|f| f.message).unwrap_or_default();
    assert!(
        message.contains("no generative video provider is configured"),
        "{message}"
    );
    mesh.shutdown().await.expect("shutdown");

    // A token the provider does not know: refused, not retried.
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = config(dir.path(), Some(&url));
    config.generative.api_token = "r8_wrong".into();
    let mesh = scout::mesh::Mesh::start(config).await.expect("mesh");
    let base = mesh.edge_url();
    let me = login(&base, dir.path()).await;
    let mut tasks = TasksServiceClient::new(authed_channel(&base, &me.access));
    let id = animated_ad(&mut tasks, files.path()).await;
    let t = wait_status(&mut tasks, id, TaskStatus::Failed, Duration::from_secs(60)).await;
    let message = t.failure.map(|f| f.message).unwrap_or_default();
    assert!(
        message.contains("HTTP 401") && message.contains("valid authentication token"),
        "{message}"
    );
    assert!(fake.created().is_empty());
    mesh.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn a_lip_synced_ad_sings_each_scene_to_its_part_of_the_track() {
    let dir = tempfile::tempdir().expect("tempdir");
    let files = tempfile::tempdir().expect("files");
    let (fake, url) = fake_replicate(files.path()).await;
    let mesh = scout::mesh::Mesh::start(config(dir.path(), Some(&url)))
        .await
        .expect("mesh");
    let base = mesh.edge_url();
    let me = login(&base, dir.path()).await;
    let mut tasks = TasksServiceClient::new(authed_channel(&base, &me.access));
    // Lip sync without moving images is refused, naming the field.
    let err = tasks
        .create_task(CreateTaskRequest {
            recipe: Recipe::MusicVideo as i32,
            montage: Some(MontageInput {
                lip_sync: true,
                ..MontageInput::default()
            }),
            ..CreateTaskRequest::default()
        })
        .await
        .expect_err("refused");
    assert!(
        scout_common::ApiError::from_status(&err)
            .message
            .starts_with("montage.lip_sync: only with animate"),
        "{err:?}"
    );
    let id = ad(&mut tasks, files.path(), true).await;
    // Seed 004's scene counters while the scenes are made (each
    // prediction takes the fake model a moment).
    let mut counts = Vec::new();
    let started = std::time::Instant::now();
    loop {
        let p = tasks
            .get_progress(scout_proto::scout::tasks::v1::GetProgressRequest { task_id: id })
            .await
            .expect("progress")
            .into_inner()
            .progress
            .expect("progress");
        if let Some(s) = p.details.and_then(|d| d.scenes) {
            counts.push((s.total, s.done, s.failed));
        }
        if p.status == TaskStatus::Completed as i32 || started.elapsed() > Duration::from_secs(240)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    wait_status(
        &mut tasks,
        id,
        TaskStatus::Completed,
        Duration::from_secs(10),
    )
    .await;
    assert!(
        counts
            .iter()
            .any(|(total, done, failed)| *total == 2 && *done <= 2 && *failed == 0),
        "scene counts seen: {counts:?}"
    );
    // Each scene (8 s less the 3 s end card) sang its own slice of the
    // track: the slices add up to the scenes' time.
    let sounds = fake.sounds.lock().expect("lock").clone();
    assert!(!sounds.is_empty());
    let sung: f64 = sounds.iter().sum();
    assert!((sung - 5.0).abs() < 0.1, "{sounds:?}");
    let video = files.path().join("sings.mp4");
    save_final(&mut tasks, id, &video).await;
    let singing = top_colours(&video)
        .iter()
        .filter(|c| near(**c, SINGING.1))
        .count();
    assert!(singing >= 120, "the lip-synced clips on {singing} frames");
    let steps: Vec<String> = progress_steps(&mut tasks, id)
        .await
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(steps, ["节拍检测", "画面生成", "视频合成", "上传成片"]);
    mesh.shutdown().await.expect("shutdown");
}
