//! The topic short (seeds 002, 003) end to end through the API on the real
//! mesh: a topic in, a hook / value / content / call-to-action script at
//! seed 002's marks, a picture per scene from an images model behind a
//! local server speaking OpenAI's images API (1024x1792; its 429s, refusals
//! and outages included), or the user's own clips, or slides; voice,
//! captions and music under them. The output is checked from its pixels
//! and samples: each scene's picture in the script's order, music in every
//! pause. A picture that fails is retried alone; what was made is kept.

mod support;

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::response::IntoResponse as _;
use base64::Engine as _;
use scout_common::config::{Config, ImagesKind, WriterKind};
use scout_common::{ApiError, ErrorCode};
use scout_proto::scout::tasks::v1::tasks_service_client::TasksServiceClient;
use scout_proto::scout::tasks::v1::{
    CreateTaskRequest, GetOutputRequest, GetTaskRequest, MediaKind, ParagraphEdit, Recipe,
    RetryTaskRequest, Script, StartAnalysisRequest, StepState, TaskStatus, TopicInput,
    TopicVisuals, UpdateScriptRequest,
};
use serde_json::{Value, json};
use support::*;

const KEY: &str = "sk-images-test";
const IMAGES: &str = "dall-e-3";
const TEXT: &str = "gpt-4o-test";

/// What the template writer's scenes show, and the colour the fake model
/// paints each (so the output's frames say which picture is on screen).
const PALETTE: [(&str, [u8; 3]); 6] = [
    ("醒目的特写画面", [220, 40, 40]),
    ("成品展示", [40, 200, 60]),
    ("操作步骤1", [40, 80, 230]),
    ("操作步骤2", [230, 210, 40]),
    ("操作步骤3", [40, 210, 220]),
    ("人物微笑", [210, 40, 210]),
];

#[derive(Clone, Copy, PartialEq, Debug)]
enum Mode {
    Good,
    /// 429 with Retry-After on the first call, then good pictures.
    RateLimitedOnce,
    /// Square pictures (a model that ignores the size).
    Square,
    /// 503 for prompts containing this palette entry, good otherwise.
    DownFor(usize),
    /// A content-policy refusal (HTTP 400) for prompts containing this
    /// palette entry, good otherwise.
    RefuseFor(usize),
}

#[derive(Clone)]
struct Fake {
    mode: Arc<Mutex<Mode>>,
    /// Prompts answered with a picture.
    made: Arc<Mutex<Vec<String>>>,
    /// Every images request body.
    seen: Arc<Mutex<Vec<Value>>>,
    pictures: Arc<HashMap<usize, Vec<u8>>>,
    square: Arc<Vec<u8>>,
}

impl Fake {
    fn set(&self, mode: Mode) {
        *self.mode.lock().expect("lock") = mode;
    }
    fn made(&self) -> Vec<String> {
        self.made.lock().expect("lock").clone()
    }
    fn seen(&self) -> Vec<Value> {
        self.seen.lock().expect("lock").clone()
    }
}

/// A solid PNG of `rgb`, `w`x`h` (ffmpeg, test tooling).
fn png(dir: &Path, rgb: [u8; 3], w: u32, h: u32) -> Vec<u8> {
    let out = dir.join(format!(
        "{:02x}{:02x}{:02x}-{w}x{h}.png",
        rgb[0], rgb[1], rgb[2]
    ));
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!(
            "color=c=0x{:02x}{:02x}{:02x}:s={w}x{h}",
            rgb[0], rgb[1], rgb[2]
        ))
        .args(["-frames:v", "1"])
        .arg(&out)
        .status()
        .expect("ffmpeg runs");
    assert!(status.success());
    std::fs::read(&out).expect("png")
}

/// OpenAI's error envelope.
fn error(status: u16, message: &str, kind: &str, code: &str) -> axum::response::Response {
    (
        http::StatusCode::from_u16(status).expect("status"),
        axum::Json(
            json!({"error": {"message": message, "type": kind, "param": null, "code": code}}),
        ),
    )
        .into_response()
}

async fn generations(
    axum::extract::State(fake): axum::extract::State<Fake>,
    headers: http::HeaderMap,
    body: axum::body::Bytes,
) -> axum::response::Response {
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(&format!("Bearer {KEY}"))
    {
        return error(
            401,
            "Incorrect API key provided",
            "invalid_request_error",
            "invalid_api_key",
        );
    }
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return error(
            400,
            "We could not parse the JSON body",
            "invalid_request_error",
            "",
        );
    };
    fake.seen.lock().expect("lock").push(body.clone());
    let prompt = body["prompt"].as_str().unwrap_or_default().to_string();
    if body["model"] != IMAGES || prompt.is_empty() || body["n"] != 1 {
        return error(400, "bad request", "invalid_request_error", "");
    }
    if body["size"] != "1024x1792" {
        return error(
            400,
            "'size' must be one of 1024x1024, 1792x1024, 1024x1792",
            "invalid_request_error",
            "",
        );
    }
    let entry = PALETTE.iter().position(|(k, _)| prompt.contains(k));
    let mode = *fake.mode.lock().expect("lock");
    match mode {
        Mode::RateLimitedOnce => {
            fake.set(Mode::Good);
            let mut r = error(
                429,
                "Rate limit reached for images per minute. Limit: 5/1min.",
                "requests",
                "rate_limit_exceeded",
            );
            r.headers_mut()
                .insert("retry-after", http::HeaderValue::from_static("1"));
            return r;
        }
        Mode::DownFor(i) if entry == Some(i) => {
            return error(503, "The server is overloaded", "server_error", "");
        }
        Mode::RefuseFor(i) if entry == Some(i) => {
            return error(
                400,
                "Your request was rejected as a result of our safety system.",
                "invalid_request_error",
                "content_policy_violation",
            );
        }
        _ => {}
    }
    let bytes = if mode == Mode::Square {
        fake.square.to_vec()
    } else {
        fake.pictures
            .get(&entry.unwrap_or(usize::MAX))
            .or_else(|| fake.pictures.get(&usize::MAX))
            .cloned()
            .unwrap_or_default()
    };
    fake.made.lock().expect("lock").push(prompt.clone());
    axum::Json(json!({
        "created": 1_700_000_000,
        "data": [{"b64_json": base64::engine::general_purpose::STANDARD.encode(bytes), "revised_prompt": prompt}]
    }))
    .into_response()
}

/// A topic script from the "text model": six scenes at the marks.
async fn completions(body: axum::body::Bytes) -> axum::response::Response {
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return error(400, "bad json", "invalid_request_error", "");
    };
    let prompt = body["messages"].to_string();
    if !prompt.contains("hook") || !prompt.contains("在家做拿铁") {
        return error(400, "unexpected prompt", "invalid_request_error", "");
    }
    let scenes = json!({"scenes": [
        {"part": "hook", "text": "拿铁在家就能做？", "visual": "一杯拿铁的醒目的特写画面", "keywords": ["人物"]},
        {"part": "value", "text": "学会这三步，每天省下一杯咖啡钱，味道还不输咖啡店。", "visual": "咖啡成品展示，木质桌面", "keywords": ["环境"]},
        {"part": "content", "text": "第一步，用摩卡壶或者浓缩咖啡机萃取一份浓缩，咖啡粉要细一点。", "visual": "萃取咖啡的操作步骤1", "keywords": ["细节"]},
        {"part": "content", "text": "第二步，把牛奶加热到六十度左右，用打奶器打出细腻的奶泡。", "visual": "打奶泡的操作步骤2", "keywords": ["细节"]},
        {"part": "content", "text": "第三步，先倒浓缩，再慢慢倒入牛奶，最后铺上一层奶泡。", "visual": "倒牛奶的操作步骤3", "keywords": ["细节"]},
        {"part": "cta", "text": "学会了就点个赞，关注我，下期教你拉花！", "visual": "人物微笑举杯", "keywords": ["人物"]}
    ]});
    axum::Json(json!({
        "id": "chatcmpl-topic",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": TEXT,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": scenes.to_string()}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 300, "completion_tokens": 200, "total_tokens": 500}
    }))
    .into_response()
}

/// The fake OpenAI server on loopback: its state and base URL (…/v1).
async fn fake_openai(dir: &Path) -> (Fake, String) {
    let mut pictures: HashMap<usize, Vec<u8>> = PALETTE
        .iter()
        .enumerate()
        .map(|(i, (_, rgb))| (i, png(dir, *rgb, 1024, 1792)))
        .collect();
    pictures.insert(usize::MAX, png(dir, [128, 128, 128], 1024, 1792));
    let fake = Fake {
        mode: Arc::new(Mutex::new(Mode::Good)),
        made: Arc::default(),
        seen: Arc::default(),
        pictures: Arc::new(pictures),
        square: Arc::new(png(dir, [128, 128, 128], 1024, 1024)),
    };
    let app = axum::Router::new()
        .route("/v1/images/generations", axum::routing::post(generations))
        .route("/v1/chat/completions", axum::routing::post(completions))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/v1", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (fake, url)
}

fn images_config(dir: &Path, url: &str) -> Config {
    let mut config = embedded_config(dir);
    config.edge.rate_limits.default.limit = 100_000;
    config.edge.request_timeout = Duration::from_secs(60);
    config.ai.images = ImagesKind::Remote;
    config.ai.image_model.endpoint = url.into();
    config.ai.image_model.api_key = KEY.into();
    config.ai.image_model.model = IMAGES.into();
    config.ai.timeout = Duration::from_secs(10);
    config.ai.max_retries = 1;
    config.bus.analyze_retry_delays = vec![Duration::from_millis(200)];
    config
}

async fn start(config: Config, dir: &Path) -> (scout::mesh::Mesh, UserTasks) {
    let mesh = scout::mesh::Mesh::start(config).await.expect("mesh starts");
    let base = mesh.edge_url();
    let me = login(&base, dir).await;
    let tasks = TasksServiceClient::new(authed_channel(&base, &me.access));
    (mesh, tasks)
}

async fn topic_task(tasks: &mut UserTasks, seconds: f64, visuals: TopicVisuals) -> i64 {
    tasks
        .create_task(CreateTaskRequest {
            recipe: Recipe::TopicShort as i32,
            topic: Some(TopicInput {
                topic: "在家做拿铁".into(),
                niche: "咖啡爱好者".into(),
                target_seconds: seconds,
                visuals: visuals as i32,
            }),
            ..CreateTaskRequest::default()
        })
        .await
        .expect("create")
        .into_inner()
        .task
        .expect("task")
        .id
}

async fn task_of(tasks: &mut UserTasks, task_id: i64) -> scout_proto::scout::tasks::v1::Task {
    tasks
        .get_task(GetTaskRequest { task_id })
        .await
        .expect("task")
        .into_inner()
        .task
        .expect("task")
}

fn sections(s: &Script) -> Vec<&str> {
    s.paragraphs.iter().map(|p| p.section.as_str()).collect()
}

/// The palette entries seen in turn (runs of at least 5 frames).
fn pictures_in_turn(colours: &[[u8; 3]]) -> Vec<usize> {
    let nearest = |c: &[u8; 3]| {
        PALETTE
            .iter()
            .enumerate()
            .map(|(i, (_, p))| {
                let d: i32 = (0..3)
                    .map(|k| (i32::from(c[k]) - i32::from(p[k])).pow(2))
                    .sum();
                (i, d)
            })
            .min_by_key(|(_, d)| *d)
            .filter(|(_, d)| *d < 40 * 40 * 3)
            .map(|(i, _)| i)
    };
    let mut out: Vec<usize> = Vec::new();
    let mut run: Option<(usize, usize)> = None;
    for c in colours {
        let now = nearest(c);
        match (run, now) {
            (Some((i, n)), Some(j)) if i == j => run = Some((i, n + 1)),
            (_, Some(j)) => run = Some((j, 1)),
            (_, None) => run = None,
        }
        if let Some((i, 5)) = run
            && out.last() != Some(&i)
        {
            out.push(i);
        }
    }
    out
}

/// The quietest 100 ms of `samples` between `from` and `to` seconds (RMS).
fn quietest(samples: &[f32], from: f64, to: f64) -> f32 {
    let win = 4800;
    let a = (from * 48_000.0) as usize;
    let b = ((to * 48_000.0) as usize).min(samples.len());
    samples[a..b]
        .chunks(win)
        .filter(|c| c.len() == win)
        .map(|c| (c.iter().map(|v| v * v).sum::<f32>() / win as f32).sqrt())
        .fold(f32::MAX, f32::min)
}

#[tokio::test]
async fn a_topic_becomes_a_pictured_narrated_short_with_music_on_production_adapters() {
    let dir = tempfile::tempdir().expect("tempdir");
    let files = tempfile::tempdir().expect("files");
    let (fake, url) = fake_openai(files.path()).await;
    // The first call is rate limited: retried after its Retry-After.
    fake.set(Mode::RateLimitedOnce);
    let mut config = images_config(dir.path(), &url);
    config.aigc.mark = false;
    let _dbs = on_production_adapters(&mut config);
    let (mesh, mut tasks) = start(config, dir.path()).await;

    let id = topic_task(&mut tasks, 30.0, TopicVisuals::Unspecified).await;
    let t = task_of(&mut tasks, id).await;
    assert_eq!(t.recipe, Recipe::TopicShort as i32);
    assert_eq!(t.shop.as_ref().map(|s| s.name.as_str()), Some("在家做拿铁"));
    assert_eq!(
        t.topic
            .as_ref()
            .map(|x| (x.niche.as_str(), x.target_seconds)),
        Some(("咖啡爱好者", 30.0))
    );
    // No upload needed: the script is written from the topic.
    let script = written(&mut tasks, id, Duration::from_secs(120)).await;
    assert_eq!(
        sections(&script),
        ["钩子", "价值", "内容", "内容", "行动号召"],
        "seed 002's structure at 30 s"
    );
    assert!(script.paragraphs[0].text.contains("在家做拿铁"));
    // Seed 002's marks: the hook in the first tenth, the call to action
    // in the last fifth (estimated at the voice's rate).
    let ends: Vec<f64> = script
        .paragraphs
        .iter()
        .scan(0.0, |t, p| {
            *t += p.estimated_duration;
            Some(*t)
        })
        .collect();
    let total = ends.last().copied().unwrap_or_default();
    assert!((20.0..=36.0).contains(&total), "{total} s for 30 s");
    assert!(ends[0] <= 4.0, "the hook ends at {} s", ends[0]);

    // Each scene's picture: asked at 1024x1792 with seed 002's style,
    // stored as an image of the task, its paragraph pointing at it.
    let seen = fake.seen();
    assert_eq!(seen.len(), 6, "five pictures and one rate-limited try");
    for body in &seen {
        assert_eq!(body["size"], "1024x1792");
        assert_eq!(body["model"], IMAGES);
        let prompt = body["prompt"].as_str().unwrap_or_default();
        assert!(
            prompt.contains("在家做拿铁") && prompt.contains("9:16 vertical"),
            "{prompt}"
        );
    }
    let videos = uploads_of(&mut tasks, id).await;
    assert_eq!(videos.len(), 5);
    for (p, v) in script.paragraphs.iter().zip(&videos) {
        assert_eq!(v.kind, MediaKind::Image as i32);
        assert_eq!((v.width, v.height), (1024, 1792));
        assert_eq!(p.shot_id, v.id);
    }
    let t = task_of(&mut tasks, id).await;
    assert!(
        t.provider_note.contains(&format!("images=remote:{IMAGES}")),
        "{}",
        t.provider_note
    );
    let steps = progress_steps(&mut tasks, id).await;
    let done = StepState::Completed as i32;
    assert_eq!(
        steps,
        [
            ("素材识别".to_string(), done),
            ("脚本生成".to_string(), done),
            ("画面生成".to_string(), done)
        ]
    );

    compose(&mut tasks, id).await.expect("compose");
    wait_status(
        &mut tasks,
        id,
        TaskStatus::Completed,
        Duration::from_secs(300),
    )
    .await;
    let output = tasks
        .get_output(GetOutputRequest { task_id: id })
        .await
        .expect("output")
        .into_inner();
    // Its pictures are labelled machine-made, as its words and voice are.
    let generated = output
        .video
        .as_ref()
        .map(|v| v.ai_generated.clone())
        .unwrap_or_default();
    for part in ["script", "voice", "images"] {
        assert!(generated.iter().any(|g| g == part), "{generated:?}");
    }
    let video = files.path().join("topic.mp4");
    save_final(&mut tasks, id, &video).await;
    let probe = ffprobe(&video);
    let streams = probe["streams"].as_array().expect("streams");
    let v = streams
        .iter()
        .find(|s| s["codec_type"] == "video")
        .expect("video stream");
    assert_eq!(
        (v["width"].as_i64(), v["height"].as_i64()),
        (Some(1080), Some(1920))
    );
    assert_eq!(v["codec_name"], "h264");
    assert!(
        streams
            .iter()
            .any(|s| s["codec_type"] == "audio" && s["codec_name"] == "aac")
    );
    let seconds: f64 = probe["format"]["duration"]
        .as_str()
        .and_then(|d| d.parse().ok())
        .expect("duration");
    assert!((18.0..=40.0).contains(&seconds), "{seconds} s");
    // Every scene's picture, in the script's order, fills the frame.
    assert_eq!(
        pictures_in_turn(&top_colours(&video)),
        [0, 1, 2, 3, 5],
        "hook, value, two points, call to action"
    );
    // Music under everything: no pause between paragraphs is silent.
    let samples = audio_samples(&video);
    let floor = quietest(&samples, 1.5, seconds - 1.5);
    assert!(floor > 0.004, "a silent 100 ms: rms {floor}");
    // Captions follow the voice.
    let ass = reqwest::get(&output.subtitle_url)
        .await
        .expect("subtitles")
        .text()
        .await
        .expect("text");
    assert!(ass.contains("Dialogue:") && ass.contains("拿铁"), "{ass}");
    mesh.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn the_text_model_writes_the_scenes_and_a_refused_picture_falls_back_to_the_users_clip() {
    let dir = tempfile::tempdir().expect("tempdir");
    let files = tempfile::tempdir().expect("files");
    let (fake, url) = fake_openai(files.path()).await;
    // The call to action's picture is refused by the content policy.
    fake.set(Mode::RefuseFor(5));
    let mut config = images_config(dir.path(), &url);
    config.ai.writer = WriterKind::Remote;
    config.ai.text_model.endpoint = url.clone();
    config.ai.text_model.api_key = KEY.into();
    config.ai.text_model.model = TEXT.into();
    let (mesh, mut tasks) = start(config, dir.path()).await;
    let id = topic_task(&mut tasks, 60.0, TopicVisuals::Generated).await;
    // One clip of the user's own: the library a refused scene falls back to.
    let path = clip(files.path(), "mine.mp4", 3.0);
    let clip = upload_bytes(
        &mut tasks,
        id,
        "mine.mp4",
        "video/mp4",
        std::fs::read(&path).expect("clip"),
    )
    .await
    .expect("clip");
    // And music of the user's own (never taken for a scene's picture).
    let track = upload_bytes(
        &mut tasks,
        id,
        "music.wav",
        "audio/wav",
        wav_tone(48_000, 4.0, 330.0),
    )
    .await
    .expect("track");
    assert_eq!(track.kind, MediaKind::Audio as i32);
    let script = written(&mut tasks, id, Duration::from_secs(120)).await;
    assert_eq!(script.paragraphs.len(), 6);
    // A paragraph cannot be put over the backing track.
    let mut edits: Vec<ParagraphEdit> = script
        .paragraphs
        .iter()
        .map(|p| ParagraphEdit {
            id: p.id.clone(),
            section: p.section.clone(),
            shot_id: p.shot_id,
            text: p.text.clone(),
        })
        .collect();
    edits[1].shot_id = track.id;
    let err = tasks
        .update_script(UpdateScriptRequest {
            task_id: id,
            paragraphs: edits,
        })
        .await
        .expect_err("refused");
    let message = invalid(&err);
    assert!(
        message.starts_with("paragraphs[1].shot_id: paragraph 2 points at the backing track"),
        "{message}"
    );
    assert_eq!(script.paragraphs[0].text, "拿铁在家就能做？");
    assert_eq!(script.paragraphs[5].section, "行动号召");
    // Five pictures made; the refused one shows the user's clip.
    assert_eq!(fake.made().len(), 5);
    assert_eq!(script.paragraphs[5].shot_id, clip.id);
    let t = task_of(&mut tasks, id).await;
    assert!(
        t.provider_note.contains(&format!("writer=remote:{TEXT}")),
        "{}",
        t.provider_note
    );
    assert!(
        t.provider_note.contains("1 of 6 refused"),
        "{}",
        t.provider_note
    );
    mesh.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn a_failing_picture_is_retried_alone_and_nothing_made_is_lost() {
    let dir = tempfile::tempdir().expect("tempdir");
    let files = tempfile::tempdir().expect("files");
    let (fake, url) = fake_openai(files.path()).await;
    // The second content point's picture cannot be made (503 throughout).
    fake.set(Mode::DownFor(3));
    let mut config = images_config(dir.path(), &url);
    config.ai.fallback_to_local = false;
    let (mesh, mut tasks) = start(config, dir.path()).await;
    let id = topic_task(&mut tasks, 30.0, TopicVisuals::Generated).await;
    tasks
        .start_analysis(StartAnalysisRequest { task_id: id })
        .await
        .expect("write");
    let t = wait_status(&mut tasks, id, TaskStatus::Failed, Duration::from_secs(120)).await;
    let failure = t.failure.expect("failure");
    assert!(
        failure.message.contains("picture generation failed") && failure.message.contains("503"),
        "{}",
        failure.message
    );
    // Four scenes' pictures were made, once each, through every attempt.
    let made = fake.made();
    assert_eq!(made.len(), 4, "{made:?}");
    // The provider recovers: the retry asks only for the missing one.
    fake.set(Mode::Good);
    tasks
        .retry_task(RetryTaskRequest { task_id: id })
        .await
        .expect("retry");
    wait_status(
        &mut tasks,
        id,
        TaskStatus::ScriptReady,
        Duration::from_secs(120),
    )
    .await;
    let made = fake.made();
    assert_eq!(made.len(), 5, "{made:?}");
    assert_eq!(made.iter().filter(|p| p.contains(PALETTE[3].0)).count(), 1);
    let videos = uploads_of(&mut tasks, id).await;
    assert_eq!(videos.len(), 5);
    mesh.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn bad_topics_and_pictures_get_clear_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let files = tempfile::tempdir().expect("files");
    let (fake, url) = fake_openai(files.path()).await;
    fake.set(Mode::Square);
    let mut config = images_config(dir.path(), &url);
    config.ai.fallback_to_local = false;
    let (mesh, mut tasks) = start(config, dir.path()).await;
    for (input, want) in [
        (TopicInput::default(), "topic.topic: required"),
        (
            TopicInput {
                topic: "拿".into(),
                ..TopicInput::default()
            },
            "topic.topic: at least 2 characters",
        ),
        (
            TopicInput {
                topic: "在家做拿铁".into(),
                target_seconds: 120.0,
                ..TopicInput::default()
            },
            "topic.target_seconds: 15 to 90 seconds",
        ),
        (
            TopicInput {
                topic: "在家做拿铁".into(),
                niche: "好".repeat(41),
                ..TopicInput::default()
            },
            "topic.niche: at most 40 characters",
        ),
    ] {
        let err = tasks
            .create_task(CreateTaskRequest {
                recipe: Recipe::TopicShort as i32,
                topic: Some(input),
                ..CreateTaskRequest::default()
            })
            .await
            .expect_err("refused");
        let message = invalid(&err);
        assert!(message.starts_with(want), "{message}");
    }
    // A topic on a shop review is refused, naming the field.
    let err = tasks
        .create_task(CreateTaskRequest {
            shop_name: "店".into(),
            topic: Some(TopicInput {
                topic: "在家做拿铁".into(),
                ..TopicInput::default()
            }),
            ..CreateTaskRequest::default()
        })
        .await
        .expect_err("refused");
    assert!(invalid(&err).starts_with("topic: only for the topic_short recipe"));

    // A topic short takes clips and a track, never a picture or document.
    let id = topic_task(&mut tasks, 20.0, TopicVisuals::Library).await;
    let err = upload_bytes(&mut tasks, id, "a.md", "text/markdown", b"# x".to_vec())
        .await
        .expect_err("refused");
    let api = ApiError::from_status(&err);
    assert_eq!(api.code, ErrorCode::UnsupportedMediaType);
    assert!(
        api.message.contains("a topic short takes clips"),
        "{}",
        api.message
    );
    // Library pictures without a library: the task fails saying what to
    // upload; with a clip, a retry writes it.
    tasks
        .start_analysis(StartAnalysisRequest { task_id: id })
        .await
        .expect("write");
    let t = wait_status(&mut tasks, id, TaskStatus::Failed, Duration::from_secs(60)).await;
    assert!(
        t.failure
            .as_ref()
            .is_some_and(|f| f.message.contains("needs analysed clips")),
        "{:?}",
        t.failure
    );

    // A model answering square pictures: refused, saying what came back.
    let id = topic_task(&mut tasks, 20.0, TopicVisuals::Generated).await;
    tasks
        .start_analysis(StartAnalysisRequest { task_id: id })
        .await
        .expect("write");
    let t = wait_status(&mut tasks, id, TaskStatus::Failed, Duration::from_secs(60)).await;
    let message = t.failure.map(|f| f.message).unwrap_or_default();
    assert!(
        message.contains("1024x1024") && message.contains("portrait"),
        "{message}"
    );
    let videos = uploads_of(&mut tasks, id).await;
    assert!(videos.is_empty(), "nothing half-made: {videos:?}");
    mesh.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn offline_a_topic_short_shows_slides_of_its_scenes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = embedded_config(dir.path());
    config.edge.rate_limits.default.limit = 100_000;
    let (mesh, mut tasks) = start(config, dir.path()).await;
    let id = topic_task(&mut tasks, 15.0, TopicVisuals::Unspecified).await;
    let script = written(&mut tasks, id, Duration::from_secs(60)).await;
    assert_eq!(
        sections(&script),
        ["钩子", "价值", "内容", "内容", "行动号召"]
    );
    for p in &script.paragraphs {
        assert_eq!(p.shot_id, 0, "no footage");
        let scene = p.scene.as_ref().expect("a slide");
        assert!(!scene.title.is_empty());
    }
    assert_eq!(
        script.paragraphs[0]
            .scene
            .as_ref()
            .map(|s| s.title.as_str()),
        Some("在家做拿铁")
    );
    let t = task_of(&mut tasks, id).await;
    assert!(
        t.provider_note.contains("images=slides"),
        "{}",
        t.provider_note
    );
    compose(&mut tasks, id).await.expect("compose");
    wait_status(
        &mut tasks,
        id,
        TaskStatus::Completed,
        Duration::from_secs(300),
    )
    .await;
    mesh.shutdown().await.expect("shutdown");
}

/// A refusal's message, checked to be INVALID_ARGUMENT.
fn invalid(e: &tonic::Status) -> String {
    let api = ApiError::from_status(e);
    assert_eq!(api.code, ErrorCode::InvalidArgument, "{api:?}");
    api.message
}

/// The tasks service's internal API, as a worker calls it.
type Worker =
    scout_proto::scout::tasks::v1::tasks_internal_service_client::TasksInternalServiceClient<
        scout_common::auth::InternalChannel,
    >;

/// Logs in as a new user of the same mesh: their tasks client.
async fn another_user(mesh: &scout::mesh::Mesh, dir: &Path) -> UserTasks {
    let base = mesh.edge_url();
    let them = login_as(&base, dir, &random_phone()).await;
    TasksServiceClient::new(authed_channel(&base, &them.access))
}

#[tokio::test]
async fn clips_of_earlier_tasks_make_a_topic_short_and_stay_when_their_task_is_deleted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let files = tempfile::tempdir().expect("files");
    let mut config = embedded_config(dir.path());
    config.edge.rate_limits.default.limit = 100_000;
    config.aigc.mark = false;
    let _dbs = on_production_adapters(&mut config);
    let (mesh, mut tasks) = start(config, dir.path()).await;

    // The user's earlier shop review: two clips (2 s and 2.5 s), analysed.
    let (shop, clips) = task_with_clips(&mut tasks, files.path(), "小馆", &[2.0, 2.5]).await;
    written(&mut tasks, shop, Duration::from_secs(120)).await;
    // Another user's analysed clip (3.5 s): never in this user's library.
    let mut other = another_user(&mesh, dir.path()).await;
    let (theirs, _) = task_with_clips(&mut other, files.path(), "别家", &[3.5]).await;
    written(&mut other, theirs, Duration::from_secs(120)).await;

    // A topic short from the user's own footage, none uploaded to it.
    let id = topic_task(&mut tasks, 30.0, TopicVisuals::Library).await;
    let script = written(&mut tasks, id, Duration::from_secs(120)).await;
    let copies = uploads_of(&mut tasks, id).await;
    // Each library clip a scene shows was copied in once: the five scenes
    // share the two clips, each copy analysed as its source, its file
    // under this task's uploads.
    assert_eq!(copies.len(), 2, "{copies:?}");
    let mut seconds: Vec<f64> = copies.iter().map(|v| v.duration_seconds).collect();
    seconds.sort_by(f64::total_cmp);
    assert!(
        (seconds[0] - 2.0).abs() < 0.1 && (seconds[1] - 2.5).abs() < 0.1,
        "the user's own clips, never the other user's: {seconds:?}"
    );
    for v in &copies {
        assert!(!clips.contains(&v.id));
        assert_eq!(v.kind, MediaKind::Clip as i32);
        assert_eq!(
            v.status,
            scout_proto::scout::tasks::v1::VideoStatus::Analyzed as i32
        );
        assert!(v.quality_factors.is_some() && !v.tags.is_empty(), "{v:?}");
        assert!(
            v.oss_key.starts_with("videos/") && v.oss_key.contains(&format!("/{id}/lib")),
            "{}",
            v.oss_key
        );
        assert!(!v.thumbnail_url.is_empty(), "its thumbnail copied too");
    }
    for p in &script.paragraphs {
        assert!(
            copies.iter().any(|v| v.id == p.shot_id),
            "paragraph {} shows a clip of this task: {}",
            p.id,
            p.shot_id
        );
        assert!(p.scene.is_none());
    }
    let t = task_of(&mut tasks, id).await;
    assert!(
        t.provider_note
            .contains("images=library (2 clips, 2 from your earlier tasks)"),
        "{}",
        t.provider_note
    );
    // A rewrite finds the copies among the task's own clips: none copied
    // again, none let go.
    tasks
        .regenerate_script(scout_proto::scout::tasks::v1::RegenerateScriptRequest { task_id: id })
        .await
        .expect("rewrite");
    wait_status(
        &mut tasks,
        id,
        TaskStatus::ScriptReady,
        Duration::from_secs(120),
    )
    .await;
    let again = script_of(&mut tasks, id).await;
    let after: Vec<i64> = uploads_of(&mut tasks, id)
        .await
        .iter()
        .map(|v| v.id)
        .collect();
    assert_eq!(after, copies.iter().map(|v| v.id).collect::<Vec<_>>());
    assert!(again.paragraphs.iter().all(|p| after.contains(&p.shot_id)));

    // The earlier task deleted (its objects with it): the short keeps its
    // copies and composes.
    tasks
        .delete_task(scout_proto::scout::tasks::v1::DeleteTaskRequest { task_id: shop })
        .await
        .expect("delete");
    let out = files.path().join("library.mp4");
    composed_to(&mut tasks, id, &out, Duration::from_secs(300)).await;
    let probe = ffprobe(&out);
    let video = &probe["streams"][0];
    assert_eq!(
        (video["width"].as_i64(), video["height"].as_i64()),
        (Some(1080), Some(1920))
    );

    // A user with no clips anywhere: the library is theirs alone, so the
    // short fails saying what to upload (the others' clips never offered).
    let mut third = another_user(&mesh, dir.path()).await;
    let lonely = topic_task(&mut third, 20.0, TopicVisuals::Library).await;
    third
        .start_analysis(StartAnalysisRequest { task_id: lonely })
        .await
        .expect("write");
    let t = wait_status(
        &mut third,
        lonely,
        TaskStatus::Failed,
        Duration::from_secs(60),
    )
    .await;
    assert!(
        t.failure
            .as_ref()
            .is_some_and(|f| f.message.contains("needs analysed clips")),
        "{:?}",
        t.failure
    );
    mesh.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn a_worker_may_borrow_only_the_owners_analysed_clips_and_a_redelivery_copies_nothing_twice()
{
    use scout_proto::scout::common::v1::QualityFactors;
    use scout_proto::scout::tasks::v1::{
        ClipAnalysis, LibraryClip, Paragraph, ReportClipAnalysisRequest, ReportScriptRequest,
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let files = tempfile::tempdir().expect("files");
    let mut config = embedded_config(dir.path());
    config.edge.rate_limits.default.limit = 100_000;
    let mesh = mesh_without_vision(config).await;
    let ctx = mesh.context().clone();
    let topic = format!("{}analyze", ctx.jobs.analyze.prefix);
    let mut jobs = ctx
        .adapters
        .bus
        .subscribe(
            &format!("test-vision-{}", scout_common::testing::unique()),
            std::slice::from_ref(&topic),
        )
        .await
        .expect("subscribe");
    let base = mesh.edge_url();
    let me = login(&base, dir.path()).await;
    let mut tasks = TasksServiceClient::new(authed_channel(&base, &me.access));
    let mut other = another_user(&mesh, dir.path()).await;
    let mut worker = tasks_worker(&mesh);

    // Plays vision on a shop task: its one clip analysed, its script stored.
    async fn analysed(
        tasks: &mut UserTasks,
        worker: &mut Worker,
        jobs: &mut Box<dyn scout_common::adapters::bus::Subscription>,
        files: &Path,
        shop: &str,
    ) -> (i64, i64) {
        let (id, clips) = task_with_clips(tasks, files, shop, &[1.0]).await;
        tasks
            .start_analysis(StartAnalysisRequest { task_id: id })
            .await
            .expect("analyse");
        let job = loop {
            let job = take_analyze_job(jobs, Duration::from_secs(60)).await;
            if job.task_id == id {
                break job;
            }
        };
        worker
            .report_clip_analysis(ReportClipAnalysisRequest {
                job_id: job.job_id.clone(),
                task_id: id,
                video_id: clips[0],
                analysis: Some(ClipAnalysis {
                    category: 1,
                    tags: vec!["拿铁".into()],
                    description: "一杯拿铁".into(),
                    quality_score: 80,
                    quality_factors: Some(QualityFactors {
                        clarity: 80,
                        composition: 80,
                        lighting: 80,
                        stability: 80,
                    }),
                    provider: "local".into(),
                    ..ClipAnalysis::default()
                }),
            })
            .await
            .expect("clip analysis");
        worker
            .report_script(ReportScriptRequest {
                job_id: job.job_id,
                task_id: id,
                paragraphs: vec![Paragraph {
                    id: "para_1".into(),
                    section: "开场".into(),
                    shot_id: clips[0],
                    text: "家人们，这家店值得一来！".into(),
                    ..Paragraph::default()
                }],
                provider: "template".into(),
                ..ReportScriptRequest::default()
            })
            .await
            .expect("script");
        (id, clips[0])
    }
    let (_, mine) = analysed(&mut tasks, &mut worker, &mut jobs, files.path(), "我的店").await;
    let (_, theirs) = analysed(&mut other, &mut worker, &mut jobs, files.path(), "别家").await;

    let id = topic_task(&mut tasks, 15.0, TopicVisuals::Library).await;
    tasks
        .start_analysis(StartAnalysisRequest { task_id: id })
        .await
        .expect("write");
    let job = loop {
        let job = take_analyze_job(&mut jobs, Duration::from_secs(60)).await;
        if job.task_id == id {
            break job;
        }
    };
    // The context lists the owner's clip, not the other user's.
    let ctx = worker
        .get_task_context(scout_proto::scout::tasks::v1::GetTaskContextRequest {
            task_id: id,
            with_library: true,
        })
        .await
        .expect("context")
        .into_inner();
    assert_eq!(
        ctx.library.iter().map(|v| v.id).collect::<Vec<_>>(),
        vec![mine]
    );
    let report = |video_id: i64| ReportScriptRequest {
        job_id: job.job_id.clone(),
        task_id: id,
        paragraphs: vec![Paragraph {
            id: "para_1".into(),
            section: "钩子".into(),
            text: "拿铁在家就能做？".into(),
            ..Paragraph::default()
        }],
        provider: "template".into(),
        library_clips: vec![LibraryClip {
            paragraph_id: "para_1".into(),
            video_id,
        }],
        ..ReportScriptRequest::default()
    };
    // Another user's clip is refused by name; nothing is copied.
    let err = worker
        .report_script(report(theirs))
        .await
        .expect_err("not the owner's");
    let message = invalid(&err);
    assert!(
        message.starts_with(&format!(
            "library_clips[0].video_id: {theirs} is not an analysed clip of the task's owner"
        )),
        "{message}"
    );
    assert!(uploads_of(&mut tasks, id).await.is_empty());
    // A clip gone since the context was read (its task deleted): the
    // report is unavailable, so the job's retry writes the script again.
    let err = worker
        .report_script(report(987_654))
        .await
        .expect_err("gone");
    assert_eq!(err.code(), tonic::Code::Unavailable, "{err:?}");
    assert!(
        err.message().contains("deleted meanwhile"),
        "{}",
        err.message()
    );
    // The owner's: copied in, the paragraph showing the copy.
    let first = worker
        .report_script(report(mine))
        .await
        .expect("borrowed")
        .into_inner();
    assert!(first.applied);
    wait_status(
        &mut tasks,
        id,
        TaskStatus::ScriptReady,
        Duration::from_secs(30),
    )
    .await;
    let copies = uploads_of(&mut tasks, id).await;
    assert_eq!(copies.len(), 1);
    assert_ne!(copies[0].id, mine);
    assert_eq!(copies[0].tags, vec!["拿铁".to_string()]);
    assert_eq!(
        script_of(&mut tasks, id).await.paragraphs[0].shot_id,
        copies[0].id
    );
    // Redelivered: acknowledged, nothing copied twice.
    let again = worker
        .report_script(report(mine))
        .await
        .expect("redelivered")
        .into_inner();
    assert!(!again.applied);
    assert_eq!(uploads_of(&mut tasks, id).await.len(), 1);
    mesh.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn a_user_browses_their_library_and_adds_a_clip_to_a_topic_short_by_hand() {
    use reqwest::Method;
    let dir = tempfile::tempdir().expect("tempdir");
    let files = tempfile::tempdir().expect("files");
    let mut config = embedded_config(dir.path());
    config.edge.rate_limits.default.limit = 100_000;
    let mesh = scout::mesh::Mesh::start(config).await.expect("mesh starts");
    let base = mesh.edge_url();
    let me = login(&base, dir.path()).await;
    let mut tasks = TasksServiceClient::new(authed_channel(&base, &me.access));

    // `GET /api/v1/library{query}`: its items.
    let library = |query: String| {
        let (base, token) = (base.clone(), me.access.clone());
        async move {
            let (status, env) = rest_call(
                Method::GET,
                &format!("{base}/api/v1/library{query}"),
                &token,
                None,
            )
            .await;
            assert_eq!(status, 200, "{env}");
            env["data"]["items"].clone()
        }
    };
    // Nothing analysed yet: an empty library.
    assert_eq!(library(String::new()).await, json!([]));

    // A shop review's clip (2.5 s), analysed: the library lists it.
    let (shop, clips) = task_with_clips(&mut tasks, files.path(), "小馆", &[2.5]).await;
    written(&mut tasks, shop, Duration::from_secs(120)).await;
    let id = topic_task(&mut tasks, 15.0, TopicVisuals::Library).await;
    let items = library(format!("?task_id={id}")).await;
    assert_eq!(items.as_array().map(Vec::len), Some(1), "{items}");
    assert_eq!(items[0]["id"].as_i64(), Some(clips[0]));
    assert_eq!(items[0]["task_id"].as_i64(), Some(shop));
    assert_eq!(items[0]["status"], "analyzed");

    // Added by hand (POST /api/v1/tasks/{id}/library-clips): a clip of
    // the short, analysed as its source; the library then leaves it out,
    // and adding it again returns the same copy.
    let (status, env) = rest_call(
        Method::POST,
        &format!("{base}/api/v1/tasks/{id}/library-clips"),
        &me.access,
        Some(json!({"video_id": clips[0]})),
    )
    .await;
    assert_eq!(status, 200, "{env}");
    let copy = env["data"]["id"].as_i64().expect("copy id");
    assert_ne!(copy, clips[0]);
    assert_eq!(env["data"]["task_id"].as_i64(), Some(id));
    assert_eq!(env["data"]["status"], "analyzed", "{env}");
    let again = tasks
        .add_library_clip(scout_proto::scout::tasks::v1::AddLibraryClipRequest {
            task_id: id,
            video_id: clips[0],
        })
        .await
        .expect("again")
        .into_inner()
        .video
        .expect("video");
    assert_eq!(again.id, copy);
    let listed = tasks
        .list_library(scout_proto::scout::tasks::v1::ListLibraryRequest { task_id: id })
        .await
        .expect("library")
        .into_inner()
        .items;
    assert!(listed.is_empty(), "the short holds it: {listed:?}");
    let t = task_of(&mut tasks, id).await;
    assert_eq!(t.status, TaskStatus::Uploading as i32);

    // Refused by name: a clip that is not in the user's library, a task
    // that is not a topic short, another user's task.
    let err = tasks
        .add_library_clip(scout_proto::scout::tasks::v1::AddLibraryClipRequest {
            task_id: id,
            video_id: 987_654,
        })
        .await
        .expect_err("no such clip");
    assert_eq!(ApiError::from_status(&err).code, ErrorCode::NotFound);
    let err = tasks
        .add_library_clip(scout_proto::scout::tasks::v1::AddLibraryClipRequest {
            task_id: shop,
            video_id: clips[0],
        })
        .await
        .expect_err("a shop review");
    let message = invalid(&err);
    assert!(
        message.contains("only a topic short takes clips from the library"),
        "{message}"
    );
    let other = login_as(&base, dir.path(), &random_phone()).await;
    let (status, env) = rest_call(
        Method::POST,
        &format!("{base}/api/v1/tasks/{id}/library-clips"),
        &other.access,
        Some(json!({"video_id": clips[0]})),
    )
    .await;
    assert_eq!(
        status, 404,
        "another user's task does not exist for them: {env}"
    );

    // The short's scenes show the clip it now holds, as its own.
    let script = written(&mut tasks, id, Duration::from_secs(120)).await;
    assert!(script.paragraphs.iter().all(|p| p.shot_id == copy));
    let t = task_of(&mut tasks, id).await;
    assert!(
        t.provider_note.contains("images=library (1 clips)"),
        "{}",
        t.provider_note
    );
    mesh.shutdown().await.expect("shutdown");
}
