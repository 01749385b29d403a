//! Seed 000 §6 as written: a client built only from §6.2's examples.
//!
//! Every request of §6.2 is sent exactly as the seed shows it (its phone,
//! its shop, its upload body, its compose body with `voice_sample_id: null`)
//! to the REST bridge of an embedded mesh, and every key path of the seed's
//! example response is checked in the answer with the seed's JSON type. The
//! other routes §4 lists are called along the way. Extra fields in an answer
//! are allowed (the seed's examples are not exhaustive); missing or
//! differently typed ones fail, naming the path.

mod support;

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use support::*;

/// Seed 000 §6.2's example responses, verbatim.
mod seed {
    pub const SEND_CODE: &str =
        r#"{"code": 0, "message": "验证码已发送", "data": {"expires_in": 300}}"#;
    pub const LOGIN: &str = r#"{"code": 0, "message": "success", "data": {
        "user": {"id": 1, "phone": "138****8000", "nickname": "用户138000", "membership_type": "free"},
        "access_token": "eyJhbGciOiJIUzI1NiIs...", "refresh_token": "eyJhbGciOiJIUzI1NiIs...",
        "expires_in": 900}}"#;
    pub const CREATE_TASK: &str = r#"{"code": 0, "message": "success", "data": {
        "id": 12345, "status": "created", "created_at": "2026-01-17T10:00:00Z"}}"#;
    pub const UPLOAD_URL: &str = r#"{"code": 0, "message": "success", "data": {
        "upload_url": "https://oss-cn-beijing.aliyuncs.com/...",
        "oss_key": "videos/1/12345/abc123.mp4", "expires_in": 900}}"#;
    pub const PROGRESS: &str = r#"{"code": 0, "message": "success", "data": {
        "status": "analyzing", "phase": "frame_analysis", "progress": 65,
        "details": {"videos_total": 20, "videos_analyzed": 13, "current_step": "镜头内容识别",
          "steps": [{"name": "帧提取", "status": "completed"}]},
        "estimated_remaining_seconds": 60}}"#;
    pub const SCRIPT: &str = r#"{"code": 0, "message": "success", "data": {
        "id": 1, "task_id": 12345, "version": 1, "is_user_edited": false,
        "paragraphs": [{"id": "para_1", "section": "开场",
          "shot": {"id": 101, "thumbnail_url": "https://cdn.../thumb.jpg", "category": "person"},
          "text": "家人们！今天给你们探一家望京超火的海底捞...", "estimated_duration": 8}],
        "total_duration": 62, "regenerate_remaining": 4}}"#;
    pub const COMPOSE: &str = r#"{"code": 0, "message": "success", "data": {
        "status": "composing", "estimated_duration_seconds": 360}}"#;
    pub const OUTPUT: &str = r#"{"code": 0, "message": "success", "data": {
        "status": "completed",
        "video": {"url": "https://cdn.../output/12345/final.mp4", "duration_seconds": 62,
          "file_size": 47841280, "width": 1080, "height": 1920, "format": "mp4"},
        "shots_used": [{"id": 101, "thumbnail_url": "https://cdn.../thumb.jpg",
          "category": "person", "duration_seconds": 8}]}}"#;
    /// §6.1's paginated shape.
    pub const PAGE: &str = r#"{"code": 0, "message": "success", "data": {
        "items": [], "pagination": {"page": 1, "page_size": 10, "total": 100, "total_pages": 10}}}"#;
}

/// JSON's own types: the seed's `8` and our `8.0` are both numbers.
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Every key path of `example` in `actual`, with the same JSON type; the
/// first element of an example array describes every element of the
/// actual one (which must not be empty). Returns what differs.
fn differences(example: &Value, actual: &Value, path: &str, out: &mut Vec<String>) {
    if kind(example) != kind(actual) {
        out.push(format!(
            "{path}: the seed has {} ({example}), the answer {} ({actual})",
            kind(example),
            kind(actual)
        ));
        return;
    }
    match (example, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (key, ev) in e {
                match a.get(key) {
                    Some(av) => differences(ev, av, &format!("{path}.{key}"), out),
                    None => out.push(format!("{path}.{key}: missing")),
                }
            }
        }
        (Value::Array(e), Value::Array(a)) => {
            if let Some(first) = e.first() {
                if a.is_empty() {
                    out.push(format!("{path}: empty, the seed shows items"));
                }
                for (i, av) in a.iter().enumerate() {
                    differences(first, av, &format!("{path}[{i}]"), out);
                }
            }
        }
        _ => {}
    }
}

#[track_caller]
fn conforms(what: &str, example: &str, actual: &Value) {
    let example: Value = serde_json::from_str(example).expect("the seed's example parses");
    let mut out = Vec::new();
    differences(&example, actual, "", &mut out);
    assert!(
        out.is_empty(),
        "{what} differs from seed 000 §6.2:\n  {}\nanswer: {actual:#}",
        out.join("\n  ")
    );
}

struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Client {
    /// One call: the envelope, after checking the response carries an
    /// `X-Request-ID` (the caller's own when it sent one).
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let sent_id = format!("seed-test-{}", uuid::Uuid::new_v4());
        let mut req = self
            .http
            .request(method.clone(), format!("{}/api/v1{path}", self.base))
            .header("x-request-id", &sent_id);
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let echoed = resp
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        assert_eq!(
            echoed.as_deref(),
            Some(sent_id.as_str()),
            "{method} {path}: the request id comes back"
        );
        let text = resp.text().await.expect("body");
        let value: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{method} {path}: not JSON ({e}): {text}"));
        (status, value)
    }

    /// A call that must succeed.
    async fn ok(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let (status, value) = self.call(method.clone(), path, body).await;
        assert!(
            status == 200 && value["code"] == 0,
            "{method} {path}: {status} {value}"
        );
        value
    }

    /// Polls `path` until `data.status` is one of `want`.
    async fn wait_status(&self, path: &str, want: &[&str], limit: Duration) -> Value {
        let start = Instant::now();
        loop {
            let v = self.ok(Method::GET, path, None).await;
            let status = v["data"]["status"].as_str().unwrap_or_default().to_string();
            if want.contains(&status.as_str()) {
                return v;
            }
            assert_ne!(status, "failed", "{path}: {v}");
            assert!(
                start.elapsed() < limit,
                "{path} never reached {want:?}: {v}"
            );
            // Seed 000 §4.1 allows 100 calls a minute per user: poll gently.
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

#[tokio::test]
async fn seed_000_section_6_as_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mesh = scout::mesh::Mesh::start(embedded_config(dir.path()))
        .await
        .expect("mesh starts");
    let mut api = Client {
        http: reqwest::Client::new(),
        base: mesh.edge_url(),
        token: None,
    };

    // A request without an id gets one.
    let resp = api
        .http
        .post(format!("{}/api/v1/auth/send-code", api.base))
        .json(&json!({"phone": "bad"}))
        .send()
        .await
        .expect("send-code");
    assert!(
        resp.headers()
            .get("x-request-id")
            .is_some_and(|v| !v.is_empty()),
        "a generated request id"
    );

    // POST /auth/send-code, POST /auth/login.
    let sent = api
        .ok(
            Method::POST,
            "/auth/send-code",
            Some(json!({"phone": "13800138000"})),
        )
        .await;
    conforms("send-code", seed::SEND_CODE, &sent);
    let code = read_code(dir.path(), "13800138000").await;
    let login = api
        .ok(
            Method::POST,
            "/auth/login",
            Some(json!({"phone": "13800138000", "code": code})),
        )
        .await;
    conforms("login", seed::LOGIN, &login);
    assert_eq!(login["data"]["user"]["phone"], "138****8000", "masked");
    assert_eq!(login["data"]["expires_in"], 900);
    api.token = login["data"]["access_token"].as_str().map(str::to_string);

    // §4.2: refresh, profile.
    let refreshed = api
        .ok(
            Method::POST,
            "/auth/refresh",
            Some(json!({"refresh_token": login["data"]["refresh_token"]})),
        )
        .await;
    api.token = refreshed["data"]["access_token"]
        .as_str()
        .map(str::to_string);
    let me = api.ok(Method::GET, "/users/me", None).await;
    assert_eq!(me["data"]["membership_type"], "free", "{me}");
    assert_eq!(me["data"]["id"], login["data"]["user"]["id"], "{me}");
    let samples = api.ok(Method::GET, "/voice/samples", None).await;
    assert!(samples["data"]["items"].is_array(), "{samples}");

    // POST /tasks.
    let created = api
        .ok(
            Method::POST,
            "/tasks",
            Some(json!({
                "shop_name": "海底捞火锅(望京店)",
                "shop_type": "food",
                "promotion_text": "人均89，招牌毛肚七上八下",
                "video_style": "recommend"
            })),
        )
        .await;
    conforms("create task", seed::CREATE_TASK, &created);
    assert_eq!(created["data"]["status"], "created");
    let id = created["data"]["id"].as_i64().expect("a numeric id");

    // §4.3: list (paginated, §6.1), one task.
    let list = api
        .ok(Method::GET, "/tasks?page=1&page_size=10", None)
        .await;
    conforms("task list", seed::PAGE, &list);
    assert_eq!(list["data"]["items"][0]["id"], id, "{list}");
    let task = api.ok(Method::GET, &format!("/tasks/{id}"), None).await;
    assert_eq!(task["data"]["id"], id, "{task}");

    // POST /tasks/{id}/videos/upload-url, the seed's body as written.
    let upload = api
        .ok(
            Method::POST,
            &format!("/tasks/{id}/videos/upload-url"),
            Some(json!({
                "filename": "video1.mp4",
                "file_size": 52428800,
                "content_type": "video/mp4"
            })),
        )
        .await;
    conforms("upload-url", seed::UPLOAD_URL, &upload);

    // Two real clips through the same route, uploaded as clients do, confirmed.
    for (name, seconds) in [("a-dish.mp4", 4.0), ("b-room.mp4", 3.5)] {
        let file = clip(dir.path(), name, seconds);
        let size = std::fs::metadata(&file).expect("clip").len();
        let up = api
            .ok(
                Method::POST,
                &format!("/tasks/{id}/videos/upload-url"),
                Some(json!({"filename": name, "file_size": size, "content_type": "video/mp4"})),
            )
            .await;
        let url = up["data"]["upload_url"].as_str().expect("url").to_string();
        let put = api
            .http
            .put(&url)
            .body(std::fs::read(&file).expect("clip"))
            .send()
            .await
            .expect("PUT");
        assert!(put.status().is_success(), "PUT {url}: {}", put.status());
        let confirmed = api
            .ok(
                Method::POST,
                &format!("/tasks/{id}/videos"),
                Some(json!({"oss_key": up["data"]["oss_key"], "original_filename": name})),
            )
            .await;
        assert!(confirmed["data"]["id"].as_i64().is_some(), "{confirmed}");
    }
    let videos = api
        .ok(Method::GET, &format!("/tasks/{id}/videos"), None)
        .await;
    assert_eq!(
        videos["data"]["items"].as_array().map(Vec::len),
        Some(2),
        "{videos}"
    );

    // Analysis, then GET /tasks/{id}/progress and /script.
    api.ok(
        Method::POST,
        &format!("/tasks/{id}/analyze"),
        Some(json!({})),
    )
    .await;
    let progress = api
        .wait_status(
            &format!("/tasks/{id}/progress"),
            &["script_ready"],
            Duration::from_secs(180),
        )
        .await;
    conforms("progress", seed::PROGRESS, &progress);
    assert_eq!(progress["data"]["details"]["videos_total"], 2);
    let script = api
        .ok(Method::GET, &format!("/tasks/{id}/script"), None)
        .await;
    conforms("script", seed::SCRIPT, &script);
    assert_eq!(script["data"]["task_id"], id);

    // §4.3 PUT script: the first paragraph edited.
    let paragraphs: Vec<Value> = script["data"]["paragraphs"]
        .as_array()
        .expect("paragraphs")
        .iter()
        .enumerate()
        .map(|(i, p)| {
            json!({
                "id": p["id"],
                "section": p["section"],
                "shot_id": p["shot"]["id"],
                "text": if i == 0 { json!("家人们，这家店真的值得来！") } else { p["text"].clone() },
            })
        })
        .collect();
    let edited = api
        .ok(
            Method::PUT,
            &format!("/tasks/{id}/script"),
            Some(json!({ "paragraphs": paragraphs })),
        )
        .await;
    conforms("edited script", seed::SCRIPT, &edited);
    assert_eq!(edited["data"]["is_user_edited"], true, "{edited}");

    // POST /tasks/{id}/compose, the seed's body with its null.
    let compose = api
        .ok(
            Method::POST,
            &format!("/tasks/{id}/compose"),
            Some(json!({
                "voice_type": "xiaomei",
                "voice_sample_id": null,
                "subtitle_enabled": true,
                "subtitle_style": "simple_white"
            })),
        )
        .await;
    conforms("compose", seed::COMPOSE, &compose);
    assert_eq!(compose["data"]["status"], "composing");
    let task = api.ok(Method::GET, &format!("/tasks/{id}"), None).await;
    assert_eq!(task["data"]["voice"]["voice_type"], "xiaomei", "{task}");
    assert_eq!(task["data"]["subtitle"]["style"], "simple_white", "{task}");

    // GET /tasks/{id}/output.
    api.wait_status(
        &format!("/tasks/{id}/progress"),
        &["completed"],
        Duration::from_secs(300),
    )
    .await;
    let output = api
        .ok(Method::GET, &format!("/tasks/{id}/output"), None)
        .await;
    conforms("output", seed::OUTPUT, &output);
    assert_eq!(output["data"]["video"]["width"], 1080);
    assert_eq!(output["data"]["video"]["height"], 1920);
    assert_eq!(output["data"]["video"]["format"], "mp4");

    // §4.6 publish assist, then §4.3 delete and §4.2 logout.
    let assist = api
        .ok(Method::GET, &format!("/tasks/{id}/publish-assist"), None)
        .await;
    assert!(
        assist["data"]["topics"]
            .as_array()
            .is_some_and(|t| !t.is_empty()),
        "{assist}"
    );
    api.ok(Method::DELETE, &format!("/tasks/{id}"), None).await;
    let (status, gone) = api.call(Method::GET, &format!("/tasks/{id}"), None).await;
    assert_eq!(status, 404, "{gone}");
    assert!(
        (40300..40400).contains(&gone["code"].as_i64().unwrap_or(0)),
        "a resource error: {gone}"
    );
    api.ok(
        Method::POST,
        "/auth/logout",
        Some(json!({"refresh_token": refreshed["data"]["refresh_token"]})),
    )
    .await;
    let (status, after) = api.call(Method::GET, "/users/me", None).await;
    assert_eq!(status, 401, "the access token is revoked: {after}");
}
