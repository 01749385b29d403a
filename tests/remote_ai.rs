//! The remote providers against a local server speaking OpenAI's
//! chat-completions wire format (as DashScope's and Ark's compatible modes
//! do): the multimodal model analyses frames, the text model writes the
//! script and the publish topics and titles, and the flow completes. Then
//! what goes wrong with models: an answer that is not JSON (one repair turn,
//! then FAILED with a clear message, and RetryTask recovers), 429 forever,
//! a hung answer, and falling back to the local providers when configured
//! to, saying which ran.

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use scout::mesh::Mesh;
use scout_common::config::{AnalyzerKind, Config, WriterKind};
use scout_proto::scout::publish::v1::GetPublishAssistRequest;
use scout_proto::scout::publish::v1::publish_service_client::PublishServiceClient;
use scout_proto::scout::tasks::v1::{
    GetScriptRequest, ListVideosRequest, RetryTaskRequest, StartAnalysisRequest,
    StartComposeRequest, TaskStatus, TaskStep,
};
use serde_json::{Value, json};
use support::*;

const KEY: &str = "sk-test-0123456789";
const VISION: &str = "qwen-vl-test";
const TEXT: &str = "doubao-test";

#[derive(Clone, Copy, PartialEq, Debug)]
enum Mode {
    Good,
    /// Prose instead of JSON until the repair turn asks again.
    GarbageOnce,
    /// Prose forever.
    Garbage,
    /// 429 forever.
    RateLimited,
    /// Never answers.
    Hang,
    /// 503 on the first call, then good answers.
    UnavailableOnce,
}

#[derive(Clone, Default)]
struct FakeModels {
    modes: Arc<Mutex<HashMap<String, Mode>>>,
    seen: Arc<Mutex<Vec<Value>>>,
}

impl FakeModels {
    fn set(&self, model: &str, mode: Mode) {
        self.modes.lock().expect("lock").insert(model.into(), mode);
    }
    fn seen(&self) -> Vec<Value> {
        self.seen.lock().expect("lock").clone()
    }
    fn seen_for(&self, model: &str) -> Vec<Value> {
        self.seen()
            .into_iter()
            .filter(|b| b["model"] == model)
            .collect()
    }
}

fn last_user_text(body: &Value) -> String {
    body["messages"]
        .as_array()
        .and_then(|m| m.iter().rev().find(|m| m["role"] == "user"))
        .map(text_of)
        .unwrap_or_default()
}

/// The request's prompt: its first user message (a repair turn comes after).
fn first_user_text(body: &Value) -> String {
    body["messages"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["role"] == "user"))
        .map(text_of)
        .unwrap_or_default()
}

fn text_of(msg: &Value) -> String {
    match &msg["content"] {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter(|p| p["type"] == "text")
            .filter_map(|p| p["text"].as_str())
            .collect(),
        _ => String::new(),
    }
}

fn images(body: &Value) -> Vec<Vec<u8>> {
    body["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["content"].as_array())
        .flatten()
        .filter(|p| p["type"] == "image_url")
        .filter_map(|p| p["image_url"]["url"].as_str())
        .filter_map(|u| u.strip_prefix("data:image/jpeg;base64,"))
        .filter_map(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .collect()
}

/// What a well-behaved model would say to each of our prompts.
fn good_answer(body: &Value) -> Option<String> {
    let prompt = first_user_text(body);
    let jpegs = images(body);
    if !jpegs.is_empty() {
        // A frame: only answer real JPEGs, in a Markdown fence as models do.
        if !jpegs.iter().all(|j| j.starts_with(&[0xFF, 0xD8])) {
            return None;
        }
        return Some(format!(
            "```json\n{}\n```",
            json!({
                "category": "food",
                "tags": ["火锅", "红油锅底"],
                "description": "一锅翻滚的红油火锅",
                "quality_score": 86,
                "quality_factors": {"clarity": 88, "composition": 80, "lighting": 84, "stability": 90}
            })
        ));
    }
    if prompt.contains("口播脚本") {
        // Use the shot ids the prompt lists, and the promotion verbatim.
        let ids: Vec<i64> = prompt
            .split("shot_id=")
            .skip(1)
            .filter_map(|s| {
                s.chars()
                    .take_while(char::is_ascii_digit)
                    .collect::<String>()
                    .parse()
                    .ok()
            })
            .collect();
        let promo = prompt
            .split("特色/优惠：")
            .nth(1)
            .and_then(|s| s.lines().next())
            .unwrap_or_default();
        let sections = [
            (
                "开场",
                "家人们！今天带你们来望京这家超火的火锅店".to_string(),
            ),
            (
                "环境",
                "店里环境干净明亮，座位宽敞，适合朋友聚餐".to_string(),
            ),
            (
                "重点",
                "招牌毛肚七上八下，口感脆嫩，锅底香而不燥".to_string(),
            ),
            ("优惠", format!("现在{promo}，性价比真的很高")),
            ("结尾互动", "你最想和谁一起来？评论区告诉我吧！".to_string()),
        ];
        // Asked to resize ("请改写为总共约N字", possibly before a repair
        // turn), it writes about N characters, as a compliant model would.
        let asked = body["messages"]
            .as_array()
            .and_then(|m| {
                m.iter()
                    .rev()
                    .filter(|m| m["role"] == "user")
                    .map(text_of)
                    .find(|t| t.contains("请改写为总共约"))
            })
            .unwrap_or_default();
        let resize_to: Option<usize> = asked
            .split("请改写为总共约")
            .nth(1)
            .and_then(|s| s.split('字').next())
            .and_then(|n| n.trim().parse().ok());
        let lengthen = |text: &str| -> String {
            let Some(n) = resize_to else {
                return text.to_string();
            };
            let mut out = text.to_string();
            let fillers = ["真的值得专门来一趟", "味道在线价格也实在", "强烈推荐给大家"];
            let mut i = 0;
            while out.chars().count() < n / sections.len() {
                out.push('，');
                out.push_str(fillers[i % fillers.len()]);
                i += 1;
            }
            out
        };
        let paragraphs: Vec<Value> = sections
            .iter()
            .enumerate()
            .map(|(i, (section, text))| {
                json!({"section": section, "shot_id": ids.get(i % ids.len().max(1)), "text": lengthen(text), "estimated_duration": 8})
            })
            .collect();
        return Some(json!({"paragraphs": paragraphs, "total_duration": 40}).to_string());
    }
    if prompt.contains("发布辅助") {
        return Some(
            json!({
                "topics": ["#望京美食", "#火锅推荐", "#毛肚", "#探店", "#吃货日常", "#北京美食", "#周末去哪儿", "#美食探店", "#种草"],
                "titles": [
                    "望京这家火锅店太绝了，招牌毛肚七上八下刚刚好",
                    "人均89吃到撑！望京宝藏火锅店真实探店分享",
                    "朋友聚餐首选，这家火锅店的环境和味道都在线",
                    "吃了十几家火锅，这家的毛肚是我心中的第一名"
                ]
            })
            .to_string(),
        );
    }
    None
}

async fn completions(
    axum::extract::State(fake): axum::extract::State<FakeModels>,
    headers: http::HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let error = |status: u16, message: &str, kind: &str| {
        (
            http::StatusCode::from_u16(status).expect("status"),
            axum::Json(json!({"error": {"message": message, "type": kind, "code": kind}})),
        )
            .into_response()
    };
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(&format!("Bearer {KEY}"))
    {
        return error(401, "Incorrect API key provided", "invalid_api_key");
    }
    if body["messages"].as_array().is_none_or(|m| m.is_empty()) {
        return error(400, "messages is required", "invalid_request_error");
    }
    fake.seen.lock().expect("lock").push(body.clone());
    let model = body["model"].as_str().unwrap_or_default().to_string();
    let mode = fake
        .modes
        .lock()
        .expect("lock")
        .get(&model)
        .copied()
        .unwrap_or(Mode::Good);
    let repairing = last_user_text(&body).contains("上面的回答不符合要求");
    if mode == Mode::UnavailableOnce {
        fake.set(&model, Mode::Good);
        return error(503, "The engine is currently overloaded", "server_error");
    }
    let content = match mode {
        Mode::RateLimited => {
            let mut r = error(
                429,
                "Rate limit reached for requests",
                "rate_limit_exceeded",
            );
            r.headers_mut()
                .insert("retry-after", http::HeaderValue::from_static("0"));
            return r;
        }
        Mode::Hang => {
            tokio::time::sleep(Duration::from_secs(300)).await;
            return error(504, "too late", "timeout");
        }
        Mode::Garbage => "好的，我看了一下，这个画面主要是美食，整体质量不错。".to_string(),
        Mode::GarbageOnce if !repairing => {
            "当然可以！以下是我的建议：先介绍环境，再介绍菜品。".to_string()
        }
        Mode::Good | Mode::GarbageOnce | Mode::UnavailableOnce => match good_answer(&body) {
            Some(c) => c,
            None => return error(400, "unexpected prompt", "invalid_request_error"),
        },
    };
    axum::Json(json!({
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 50, "total_tokens": 150}
    }))
    .into_response()
}

async fn fake_models() -> (FakeModels, String) {
    let fake = FakeModels::default();
    let app = axum::Router::new()
        .route(
            "/compatible-mode/v1/chat/completions",
            axum::routing::post(completions),
        )
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!(
        "http://{}/compatible-mode/v1",
        listener.local_addr().expect("addr")
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    (fake, url)
}

/// A mesh, a logged-in user, and a task of theirs whose analysis started.
struct Run {
    mesh: Mesh,
    base: String,
    me: Tokens,
    tasks: UserTasks,
    task: i64,
    clips: Vec<i64>,
}

/// Starts the mesh on `config`, logs in, creates a task with generated
/// clips of these lengths and starts its analysis.
async fn analysing(
    config: Config,
    dir: &std::path::Path,
    files: &std::path::Path,
    shop: &str,
    seconds: &[f64],
) -> Run {
    let mesh = Mesh::start(config).await.expect("mesh");
    let base = mesh.edge_url();
    let me = login(&base, dir).await;
    let mut tasks: UserTasks =
        scout_proto::scout::tasks::v1::tasks_service_client::TasksServiceClient::new(
            authed_channel(&base, &me.access),
        );
    let (task, clips) = task_with_clips(&mut tasks, files, shop, seconds).await;
    tasks
        .start_analysis(StartAnalysisRequest { task_id: task })
        .await
        .expect("analyse");
    Run {
        mesh,
        base,
        me,
        tasks,
        task,
        clips,
    }
}

fn remote_config(dir: &std::path::Path, url: &str) -> Config {
    let mut config = embedded_config(dir);
    config.edge.rate_limits.default.limit = 10_000;
    config.edge.request_timeout = Duration::from_secs(60);
    config.ai.analyzer = AnalyzerKind::Remote;
    config.ai.writer = WriterKind::Remote;
    config.ai.fallback_to_local = false;
    for (m, name) in [
        (&mut config.ai.vision_model, VISION),
        (&mut config.ai.text_model, TEXT),
    ] {
        m.endpoint = url.into();
        m.api_key = KEY.into();
        m.model = name.into();
    }
    config.ai.timeout = Duration::from_secs(1);
    config.ai.max_retries = 1;
    config.bus.analyze_retry_delays = vec![Duration::from_millis(200)];
    config
}

#[tokio::test]
async fn remote_models_analyse_write_and_suggest_and_the_video_is_made() {
    let (fake, url) = fake_models().await;
    fake.set(TEXT, Mode::GarbageOnce);
    // A 5xx is retried after a backoff, not passed on.
    fake.set(VISION, Mode::UnavailableOnce);
    let dir = tempfile::tempdir().expect("tempdir");
    let files = tempfile::tempdir().expect("files");
    let mut config = remote_config(dir.path(), &url);
    config.ai.timeout = Duration::from_secs(20);
    let Run {
        mesh,
        base,
        me,
        mut tasks,
        task,
        clips,
    } = analysing(
        config,
        dir.path(),
        files.path(),
        "海底捞火锅(望京店)",
        &[3.0, 2.0],
    )
    .await;
    let t = wait_status(
        &mut tasks,
        task,
        TaskStatus::ScriptReady,
        Duration::from_secs(120),
    )
    .await;
    assert_eq!(
        t.provider_note,
        format!("vision=remote:{VISION} writer=remote:{TEXT}")
    );

    // The model saw real frames, and its view of them is the clips'.
    let frames = fake.seen_for(VISION);
    // Two clips of 3 s and 2 s: 2 + 1 frames, plus the one retried after the 503.
    assert!(frames.len() >= 4, "{} frame calls", frames.len());
    assert!(frames.iter().all(|b| images(b).len() == 1));
    let videos = tasks
        .list_videos(ListVideosRequest { task_id: task })
        .await
        .expect("videos")
        .into_inner()
        .items;
    for v in &videos {
        assert_eq!(v.category, 1, "{v:?}");
        assert_eq!(v.description, "一锅翻滚的红油火锅");
        assert!(v.tags.contains(&"红油锅底".to_string()), "{v:?}");
        let f = v.quality_factors.expect("factors");
        assert_eq!((f.clarity, f.composition, f.lighting), (88, 80, 84));
        assert!((0..=100).contains(&f.stability));
    }

    // The script: repaired once, over this task's clips, promotion verbatim.
    let text_calls = fake.seen_for(TEXT);
    assert!(
        text_calls
            .iter()
            .any(|b| last_user_text(b).contains("上面的回答不符合要求")),
        "no repair turn"
    );
    let script = tasks
        .get_script(GetScriptRequest { task_id: task })
        .await
        .expect("script")
        .into_inner()
        .script
        .expect("script");
    assert_eq!(script.provider, format!("remote:{TEXT}"));
    assert_eq!(script.paragraphs.len(), 5);
    // The first script was short for this voice: sent back once with the
    // characters to aim for, the model's longer one is kept, and it lands
    // within 60 ± 6 s at the voice's rate.
    assert!(
        text_calls
            .iter()
            .any(|b| text_of(&b["messages"][3]).contains("请改写为总共约")),
        "no resize turn"
    );
    let total: f64 = script.paragraphs.iter().map(|p| p.estimated_duration).sum();
    assert!((54.0..=66.0).contains(&total), "script of {total:.1} s");
    assert!(script.paragraphs.iter().all(|p| clips.contains(&p.shot_id)));
    assert!(
        script
            .paragraphs
            .iter()
            .any(|p| p.text.contains("人均89，招牌毛肚七上八下"))
    );

    // Topics and titles from the text model.
    let mut publish = PublishServiceClient::new(authed_channel(&base, &me.access));
    let assist = publish
        .get_publish_assist(GetPublishAssistRequest { task_id: task })
        .await
        .expect("assist")
        .into_inner()
        .assist
        .expect("assist");
    assert_eq!(assist.provider, format!("remote:{TEXT}"));
    assert_eq!(assist.topics.len(), 9);
    assert_eq!(assist.titles.len(), 4);

    // And the same flow completes.
    tasks
        .start_compose(StartComposeRequest {
            task_id: task,
            ..Default::default()
        })
        .await
        .expect("compose");
    wait_status(
        &mut tasks,
        task,
        TaskStatus::Completed,
        Duration::from_secs(240),
    )
    .await;

    // Seed 000 §10.2's metric catalogue, with its labels; REST paths by
    // their route template, never raw.
    let resp = reqwest::Client::new()
        .get(format!("{base}/api/v1/tasks/{task}"))
        .bearer_auth(&me.access)
        .send()
        .await
        .expect("GET task");
    assert_eq!(resp.status(), 200);
    let metrics = reqwest::get(format!("{base}/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    for needle in [
        "http_request_total{service=\"edge\",method=\"GET\",path=\"/api/v1/tasks/{task_id}\",status=\"200\"}",
        "http_request_duration_seconds_bucket{service=\"edge\",method=\"GET\",path=\"/api/v1/tasks/{task_id}\"",
        "http_request_total{service=\"tasks\",method=\"POST\",path=\"/scout.tasks.v1.TasksService/StartCompose\",status=\"0\"}",
        "task_created_total{shop_type=\"food\",video_style=\"recommend\"}",
        "task_completed_total{status=\"completed\"}",
        "task_duration_seconds_bucket{phase=\"analyze\"",
        "task_duration_seconds_bucket{phase=\"compose\"",
        "task_duration_seconds_bucket{phase=\"total\"",
        "ai_api_calls_total{service=\"vision_model\",status=\"ok\"}",
        "ai_api_calls_total{service=\"text_model\",status=\"ok\"}",
        "ai_api_latency_seconds_bucket{service=\"text_model\"",
        "queue_depth{queue_name=\"compose\"}",
        "queue_depth{queue_name=\"analyze\"}",
    ] {
        assert!(
            metrics.contains(needle),
            "{needle} missing from:\n{metrics}"
        );
    }
    assert!(
        !metrics.contains(&format!("path=\"/api/v1/tasks/{task}\"")),
        "a raw path became a label"
    );
    mesh.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn a_model_that_never_answers_json_fails_the_task_clearly_and_retry_recovers() {
    let (fake, url) = fake_models().await;
    fake.set(TEXT, Mode::Garbage);
    let dir = tempfile::tempdir().expect("tempdir");
    let files = tempfile::tempdir().expect("files");
    let mut config = remote_config(dir.path(), &url);
    config.ai.analyzer = AnalyzerKind::Local;
    let Run {
        mesh,
        mut tasks,
        task,
        ..
    } = analysing(config, dir.path(), files.path(), "探鱼(三里屯店)", &[2.0]).await;
    let t = wait_status(
        &mut tasks,
        task,
        TaskStatus::Failed,
        Duration::from_secs(60),
    )
    .await;
    let failure = t.failure.expect("failure");
    assert_eq!(failure.step, TaskStep::Analyze as i32);
    assert!(
        failure
            .message
            .contains(&format!("{TEXT} did not answer the JSON asked for")),
        "{failure:?}"
    );
    // Exactly one call and one repair turn: no blind retries of a bad answer.
    assert_eq!(fake.seen_for(TEXT).len(), 2);

    // The model behaves again: RetryTask picks the analysis up again.
    fake.set(TEXT, Mode::Good);
    tasks
        .retry_task(RetryTaskRequest { task_id: task })
        .await
        .expect("retry");
    let t = wait_status(
        &mut tasks,
        task,
        TaskStatus::ScriptReady,
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(
        t.provider_note,
        format!("vision=local writer=remote:{TEXT}")
    );
    mesh.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn rate_limits_and_hung_answers_fall_back_to_local_providers_and_say_so() {
    let (fake, url) = fake_models().await;
    fake.set(VISION, Mode::RateLimited);
    fake.set(TEXT, Mode::Hang);
    let dir = tempfile::tempdir().expect("tempdir");
    let files = tempfile::tempdir().expect("files");
    let mut config = remote_config(dir.path(), &url);
    config.ai.fallback_to_local = true;
    let Run {
        mesh,
        base,
        me,
        mut tasks,
        task,
        clips,
    } = analysing(
        config,
        dir.path(),
        files.path(),
        "海底捞火锅(望京店)",
        &[2.0],
    )
    .await;
    let t = wait_status(
        &mut tasks,
        task,
        TaskStatus::ScriptReady,
        Duration::from_secs(90),
    )
    .await;
    assert_eq!(
        t.provider_note,
        format!(
            "vision=remote:{VISION} (local for 1 of 1 clips: HTTP 429) writer=template (remote:{TEXT} failed: unavailable)"
        )
    );
    // Each call was tried twice (max_retries = 1), never more.
    let frame_calls = fake.seen_for(VISION).len();
    assert!(
        frame_calls >= 2 && frame_calls % 2 == 0,
        "{frame_calls} frame calls"
    );
    assert_eq!(fake.seen_for(TEXT).len(), 2);
    let script = tasks
        .get_script(GetScriptRequest { task_id: task })
        .await
        .expect("script")
        .into_inner()
        .script
        .expect("script");
    assert_eq!(script.provider, "template");
    assert!(script.paragraphs.iter().all(|p| clips.contains(&p.shot_id)));

    // Publish suggestions fall back the same way, and say so.
    let mut publish = PublishServiceClient::new(authed_channel(&base, &me.access));
    let assist = publish
        .get_publish_assist(GetPublishAssistRequest { task_id: task })
        .await
        .expect("assist")
        .into_inner()
        .assist
        .expect("assist");
    assert_eq!(
        assist.provider,
        format!("template (remote:{TEXT} failed: unavailable)")
    );
    assert!((8..=10).contains(&assist.topics.len()));
    mesh.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn a_rate_limit_that_never_lifts_fails_the_task_after_the_job_retries() {
    let (fake, url) = fake_models().await;
    fake.set(VISION, Mode::RateLimited);
    let dir = tempfile::tempdir().expect("tempdir");
    let files = tempfile::tempdir().expect("files");
    let config = remote_config(dir.path(), &url);
    let Run {
        mesh,
        mut tasks,
        task,
        ..
    } = analysing(config, dir.path(), files.path(), "探鱼(三里屯店)", &[2.0]).await;
    let t = wait_status(
        &mut tasks,
        task,
        TaskStatus::Failed,
        Duration::from_secs(60),
    )
    .await;
    let failure = t.failure.expect("failure");
    assert!(
        failure
            .message
            .contains(&format!("{VISION} is rate limiting us: HTTP 429")),
        "{failure:?}"
    );
    // One delivery and one retry through the retry topic.
    assert_eq!(failure.attempts, 2, "{failure:?}");
    mesh.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn a_remote_provider_without_a_key_stops_start_up_naming_the_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = remote_config(dir.path(), "http://127.0.0.1:9");
    config.ai.vision_model.api_key = String::new();
    let err = match Mesh::start(config).await {
        Ok(_) => panic!("started without a key"),
        Err(e) => format!("{e:#}"),
    };
    assert!(err.contains("ai.vision_model.api_key"), "{err}");
}
