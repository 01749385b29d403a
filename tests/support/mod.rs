//! Shared helpers for the integration tests: configs, the mesh, the real
//! `scout` binary, and the interop clients' locations.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use scout_common::config::{Config, LogFormat};

pub mod youtube;

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// An embedded config under `dir` with the edge on a free port.
pub fn embedded_config(dir: &Path) -> Config {
    let mut c = Config {
        data_dir: dir.to_path_buf(),
        ..Config::default()
    };
    c.identity.database_url = format!("sqlite://{}/identity.sqlite", dir.display());
    c.tasks.database_url = format!("sqlite://{}/tasks.sqlite", dir.display());
    c.publish.database_url = format!("sqlite://{}/publish.sqlite", dir.display());
    c.blobs.dir = dir.join("blobs");
    c.blobs.signing_key = "test-signing-key".into();
    c.edge.addr = "127.0.0.1:0".parse().expect("addr");
    c.edge.request_timeout = Duration::from_secs(5);
    c.edge.drain_timeout = Duration::from_secs(10);
    c.edge.cors_allowed_origins = vec!["http://app.example".into()];
    c.telemetry.log_format = LogFormat::Pretty;
    c.telemetry.log_level = "warn".into();
    c
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// The `scout` binary built for these tests.
pub fn scout_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_scout"))
}

/// A `scout` child process; killed on drop if still running.
pub struct ScoutProcess {
    pub child: Child,
    pub stderr_path: PathBuf,
}

impl ScoutProcess {
    /// Starts `scout ARGS` with `config` as its config file and stderr to a file.
    pub fn spawn(dir: &Path, config: &Config, args: &[&str]) -> Self {
        let config_path = dir.join("scout.toml");
        std::fs::write(
            &config_path,
            toml::to_string(config).expect("config serializes"),
        )
        .expect("write config");
        let stderr_path = dir.join("stderr.log");
        let stderr = std::fs::File::create(&stderr_path).expect("stderr file");
        let child = Command::new(scout_bin())
            .arg("--config")
            .arg(&config_path)
            .args(args)
            .env_remove("SCOUT_CONFIG")
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("scout starts");
        Self { child, stderr_path }
    }

    /// Node `n` of one service (`scout serve SERVICE`), run from its own
    /// folder `{service}-{n}` under `dir`.
    pub fn node(dir: &Path, config: &Config, service: &str, n: usize) -> Self {
        let d = dir.join(format!("{service}-{n}"));
        std::fs::create_dir_all(&d).expect("node dir");
        Self::spawn(&d, config, &["serve", service])
    }

    /// Waits until its gRPC server at `url` answers health checks.
    pub async fn wait_serving(&self, url: &str) {
        scout_common::grpc::wait_serving(url, Duration::from_secs(60))
            .await
            .unwrap_or_else(|e| panic!("{e}: {}", self.stderr()));
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("SIGTERM delivered");
    }

    /// Sends SIGINT (what Ctrl-C sends).
    pub fn interrupt(&self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).expect("SIGINT delivered");
    }

    /// Waits for exit without blocking the async runtime (so the test's own
    /// clients keep answering the server's HTTP/2 GOAWAY and PINGs).
    pub async fn exit(&mut self, limit: Duration) -> std::process::ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                start.elapsed() < limit,
                "scout did not exit within {limit:?}; stderr:\n{}",
                self.stderr()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// What it wrote to stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }
}

impl Drop for ScoutProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Waits until `GET {base}/readyz` answers 200.
pub async fn wait_ready(base: &str, limit: Duration) {
    let http = reqwest::Client::new();
    let start = Instant::now();
    loop {
        if let Ok(r) = http.get(format!("{base}/readyz")).send().await
            && r.status().is_success()
        {
            return;
        }
        assert!(start.elapsed() < limit, "{base} not ready within {limit:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The Python with grpcio-reflection installed by scripts/install.sh.
pub fn python() -> PathBuf {
    std::env::var_os("TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".venv/bin/python"))
}

/// Where the Node interop client and its node_modules live.
pub fn node_tools() -> PathBuf {
    root().join("tools/node")
}

/// Writes Scout's descriptor set to a file (for the JS client).
pub fn descriptor_file(dir: &Path) -> PathBuf {
    let path = dir.join("scout.binpb");
    std::fs::write(&path, scout_proto::FILE_DESCRIPTOR_SET).expect("write descriptor set");
    path
}

/// Address helper.
pub fn addr_of(url: &str) -> SocketAddr {
    url.trim_start_matches("http://")
        .parse()
        .expect("edge address")
}

/// A gRPC frame around one message.
pub fn grpc_frame(message: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8];
    out.extend_from_slice(&(message.len() as u32).to_be_bytes());
    out.extend_from_slice(message);
    out
}

/// A parsed grpc-web answer: messages, and the status from headers or the trailer frame.
#[derive(Debug, Default)]
pub struct GrpcWebAnswer {
    pub messages: Vec<Vec<u8>>,
    pub status: Option<i32>,
    pub message: String,
}

/// Parses a grpc-web (binary) response.
pub fn parse_grpc_web(headers: &http::HeaderMap, body: &[u8]) -> GrpcWebAnswer {
    let mut out = GrpcWebAnswer::default();
    if let Some(s) = headers
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.parse().ok())
    {
        out.status = Some(s);
        out.message = headers
            .get("grpc-message")
            .and_then(|v| v.to_str().ok())
            .map(percent_decode)
            .unwrap_or_default();
    }
    let mut rest = body;
    while rest.len() >= 5 {
        let flag = rest[0];
        let len = u32::from_be_bytes([rest[1], rest[2], rest[3], rest[4]]) as usize;
        let frame = &rest[5..(5 + len).min(rest.len())];
        if flag & 0x80 != 0 {
            for line in String::from_utf8_lossy(frame).split("\r\n") {
                if let Some((k, v)) = line.split_once(':') {
                    match k.trim().to_ascii_lowercase().as_str() {
                        "grpc-status" => out.status = v.trim().parse().ok(),
                        "grpc-message" => out.message = percent_decode(v.trim()),
                        _ => {}
                    }
                }
            }
        } else {
            out.messages.push(frame.to_vec());
        }
        rest = &rest[(5 + len).min(rest.len())..];
    }
    out
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 3 <= bytes.len()
            && let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A session of a test user.
#[derive(Debug, Clone)]
pub struct Tokens {
    /// The phone logged in with.
    pub phone: String,
    /// JWT access token.
    pub access: String,
    /// Refresh token.
    pub refresh: String,
    /// User id.
    pub user_id: i64,
}

/// A random mainland mobile number, so tests never share a phone.
pub fn random_phone() -> String {
    let n = uuid::Uuid::new_v4().as_u128() % 100_000_000;
    format!("139{n:08}")
}

/// The latest code the log SMS provider wrote for `phone` to the outbox
/// under `data_dir` (what a user would read off their phone).
pub async fn read_code(data_dir: &Path, phone: &str) -> String {
    let outbox = data_dir.join("sms-outbox.log");
    let start = Instant::now();
    loop {
        let text = std::fs::read_to_string(&outbox).unwrap_or_default();
        if let Some(code) = text
            .lines()
            .rev()
            .filter_map(|l| l.split_once(' '))
            .find(|(p, _)| *p == phone)
            .map(|(_, c)| c.to_string())
        {
            return code;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "no code for {phone} in {}",
            outbox.display()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Sends a code and logs in over REST, as a client would.
pub async fn login_as(base: &str, data_dir: &Path, phone: &str) -> Tokens {
    let http = reqwest::Client::new();
    let sent = http
        .post(format!("{base}/api/v1/auth/send-code"))
        .json(&serde_json::json!({ "phone": phone }))
        .send()
        .await
        .expect("send-code");
    assert!(
        sent.status().is_success(),
        "send-code: {}",
        sent.text().await.unwrap_or_default()
    );
    let code = read_code(data_dir, phone).await;
    let resp: serde_json::Value = http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&serde_json::json!({ "phone": phone, "code": code }))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("login json");
    assert_eq!(resp["code"], 0, "login: {resp}");
    let data = &resp["data"];
    Tokens {
        phone: phone.to_string(),
        access: data["access_token"].as_str().expect("access").to_string(),
        refresh: data["refresh_token"].as_str().expect("refresh").to_string(),
        user_id: data["user"]["id"].as_i64().expect("user id"),
    }
}

/// New tokens from a refresh token, over REST, as a client would (the
/// phone and user id are not in the answer: left empty and 0).
pub async fn refresh(base: &str, refresh_token: &str) -> Tokens {
    let resp: serde_json::Value = reqwest::Client::new()
        .post(format!("{base}/api/v1/auth/refresh"))
        .json(&serde_json::json!({ "refresh_token": refresh_token }))
        .send()
        .await
        .expect("refresh")
        .json()
        .await
        .expect("json");
    assert_eq!(resp["code"], 0, "{resp}");
    Tokens {
        phone: String::new(),
        access: resp["data"]["access_token"]
            .as_str()
            .expect("access")
            .into(),
        refresh: resp["data"]["refresh_token"]
            .as_str()
            .expect("refresh")
            .into(),
        user_id: 0,
    }
}

/// Logs a new random user in.
pub async fn login(base: &str, data_dir: &Path) -> Tokens {
    login_as(base, data_dir, &random_phone()).await
}

/// Adds `authorization: Bearer` to every call.
#[derive(Clone)]
pub struct Bearer(pub String);

impl tonic::service::Interceptor for Bearer {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        let v = format!("Bearer {}", self.0)
            .parse()
            .map_err(|_| tonic::Status::internal("bad token"))?;
        req.metadata_mut().insert("authorization", v);
        Ok(req)
    }
}

/// A channel whose calls carry a user's access token.
pub type AuthedChannel =
    tonic::service::interceptor::InterceptedService<tonic::transport::Channel, Bearer>;

/// A channel to `url` as the holder of `access`.
pub fn authed_channel(url: &str, access: &str) -> AuthedChannel {
    tonic::service::interceptor::InterceptedService::new(
        scout_common::grpc::channel(url).expect("channel"),
        Bearer(access.to_string()),
    )
}

/// A phone-like portrait clip made with the ffmpeg CLI (test tooling only).
pub fn clip(dir: &Path, name: &str, seconds: f64) -> PathBuf {
    let out = dir.join(name);
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("testsrc2=size=360x640:rate=30:duration={seconds}"))
        .args(["-f", "lavfi", "-i"])
        .arg(format!("sine=frequency=440:duration={seconds}"))
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
        ])
        .args(["-c:a", "aac", "-shortest"])
        .arg(&out)
        .status()
        .expect("ffmpeg runs (scripts/install.sh installs it)");
    assert!(status.success(), "ffmpeg failed for {name}");
    out
}

/// Asks for an upload URL and PUTs the file with `curl -T`, as a user would.
pub async fn curl_upload(
    tasks: &mut scout_proto::scout::tasks::v1::tasks_service_client::TasksServiceClient<
        AuthedChannel,
    >,
    task_id: i64,
    file: &Path,
    content_type: &str,
) -> String {
    let size = std::fs::metadata(file).expect("file").len() as i64;
    let up = tasks
        .create_video_upload_url(scout_proto::scout::tasks::v1::CreateVideoUploadUrlRequest {
            task_id,
            filename: file.file_name().expect("name").to_string_lossy().into(),
            file_size: size,
            content_type: content_type.into(),
        })
        .await
        .expect("upload url")
        .into_inner();
    assert_eq!(up.expires_in, 900);
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "-f", "-T"]).arg(file).arg(&up.upload_url);
    for (k, v) in &up.required_headers {
        cmd.arg("-H").arg(format!("{k}: {v}"));
    }
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .expect("join")
        .expect("curl runs");
    assert!(
        out.status.success(),
        "curl -T failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    up.oss_key
}

/// The mesh without its vision worker, for tests that consume the analyze
/// job themselves and report as the worker would.
pub async fn mesh_without_vision(config: Config) -> scout::mesh::Mesh {
    scout::mesh::Mesh::start_with(
        config,
        scout::mesh::MeshOptions {
            external: vec![scout_common::ServiceName::Vision],
            fixed_ports: false,
        },
    )
    .await
    .expect("mesh starts")
}

/// Takes the next analyze job off a subscription within `limit`, commits it
/// and decodes it (tests that play the vision worker).
pub async fn take_analyze_job(
    sub: &mut Box<dyn scout_common::adapters::bus::Subscription>,
    limit: Duration,
) -> scout_proto::scout::jobs::v1::AnalyzeJob {
    use prost::Message as _;
    let d = tokio::time::timeout(limit, sub.next())
        .await
        .unwrap_or_else(|_| panic!("no analyze job within {limit:?}"))
        .expect("delivery");
    sub.commit(&d).await.expect("commit");
    scout_proto::scout::jobs::v1::AnalyzeJob::decode(d.message.payload.clone())
        .expect("job decodes")
}

/// The tasks service's internal API with the mesh's service credential, as
/// a worker calls it.
pub fn tasks_worker(
    mesh: &scout::mesh::Mesh,
) -> scout_proto::scout::tasks::v1::tasks_internal_service_client::TasksInternalServiceClient<
    scout_common::auth::InternalChannel,
> {
    scout_proto::scout::tasks::v1::tasks_internal_service_client::TasksInternalServiceClient::new(
        mesh.context().auth.internal_channel(
            scout_common::grpc::channel(&mesh.service_url(scout_common::ServiceName::Tasks))
                .expect("channel"),
        ),
    )
}

/// A mono 16-bit PCM WAV of a sine tone.
pub fn wav_tone(rate: u32, seconds: f64, hz: f64) -> Vec<u8> {
    let n = (seconds * f64::from(rate)) as u32;
    let samples: Vec<f64> = (0..n)
        .map(|i| {
            (f64::from(i) / f64::from(rate) * hz * std::f64::consts::TAU).sin() * 7000.0 / 32000.0
        })
        .collect();
    wav_pcm(rate, &samples)
}

/// A 16-bit mono WAV at `rate` of `samples` (-1 to 1).
pub fn wav_pcm(rate: u32, samples: &[f64]) -> Vec<u8> {
    let n = samples.len() as u32;
    let mut out = Vec::with_capacity(44 + 2 * samples.len());
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + n * 2).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&rate.to_le_bytes());
    out.extend_from_slice(&(rate * 2).to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&(n * 2).to_le_bytes());
    for s in samples {
        out.extend_from_slice(&((s.clamp(-1.0, 1.0) * 32000.0) as i16).to_le_bytes());
    }
    out
}

/// ffprobe's view of a file: its streams and format (test tooling).
pub fn ffprobe(path: &Path) -> serde_json::Value {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-print_format",
            "json",
            "-show_streams",
            "-show_format",
        ])
        .arg(path)
        .output()
        .expect("ffprobe runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json")
}

/// The RGB frame of `video` (1080x1920) at `t` seconds (ffmpeg, test tooling).
pub fn rgb_at(video: &Path, t: f64) -> Vec<u8> {
    let raw = Command::new("ffmpeg")
        .args(["-v", "error", "-ss", &format!("{t:.3}"), "-i"])
        .arg(video)
        .args(["-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        .output()
        .expect("ffmpeg runs");
    assert!(raw.status.success());
    assert_eq!(raw.stdout.len(), 1080 * 1920 * 3);
    raw.stdout
}

/// The audio of `video` as mono 48 kHz samples (ffmpeg, test tooling).
pub fn audio_samples(video: &Path) -> Vec<f32> {
    let raw = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(video)
        .args(["-vn", "-ac", "1", "-ar", "48000", "-f", "f32le", "-"])
        .output()
        .expect("ffmpeg runs");
    assert!(raw.status.success());
    raw.stdout
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// Uploads `bytes` to a task as `name` of `content_type` (a presigned PUT)
/// and confirms it: the recorded upload, or the API's refusal.
pub async fn upload_bytes(
    tasks: &mut UserTasks,
    task_id: i64,
    name: &str,
    content_type: &str,
    bytes: Vec<u8>,
) -> Result<scout_proto::scout::tasks::v1::Video, tonic::Status> {
    use scout_proto::scout::tasks::v1::{ConfirmVideoRequest, CreateVideoUploadUrlRequest};
    let up = tasks
        .create_video_upload_url(CreateVideoUploadUrlRequest {
            task_id,
            filename: name.into(),
            file_size: bytes.len() as i64,
            content_type: content_type.into(),
        })
        .await?
        .into_inner();
    put_presigned(&up.upload_url, &up.required_headers, bytes).await;
    Ok(tasks
        .confirm_video(ConfirmVideoRequest {
            task_id,
            oss_key: up.oss_key,
            original_filename: name.into(),
        })
        .await?
        .into_inner()
        .video
        .expect("video"))
}

/// Points `config` at fresh PostgreSQL databases for identity and tasks,
/// Redis, Kafka and S3; the databases live as long as the returned guards.
pub fn on_production_adapters(config: &mut Config) -> Vec<scout_common::testing::TestDatabase> {
    use scout_common::testing;
    let (a, b) = (testing::postgres_database(), testing::postgres_database());
    config.identity.database_url = a.url.clone();
    config.tasks.database_url = b.url.clone();
    config.cache = testing::redis_config();
    config.bus = testing::kafka_config();
    config.blobs = testing::s3_config();
    vec![a, b]
}

/// A WAV of someone talking (espeak-ng reading a shop review, about 13 s):
/// a voice sample that passes the speech check.
pub fn speech_wav(dir: &Path) -> Vec<u8> {
    let path = dir.join(format!("speech-{}.wav", scout_common::testing::unique()));
    let status = std::process::Command::new("espeak-ng")
        .args(["-v", "cmn", "-w"])
        .arg(&path)
        .arg("大家好，今天带你们来吃这家开了二十年的老字号面馆，汤头很浓，面条也很劲道。")
        .status()
        .expect("espeak-ng runs");
    assert!(status.success(), "espeak-ng failed");
    std::fs::read(&path).expect("espeak-ng's wav")
}

/// Serves `vendor` (a local server speaking Volcengine's speech API) on
/// loopback; the embedded config for `dir` speaking through it with
/// Seed-TTS (appid `app`, token `token`), no local fallback, and the edge's
/// rate limits lifted (these tests poll more often than a user may).
pub async fn speaking_through(vendor: axum::Router, dir: &Path) -> Config {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, vendor).await });
    let mut config = embedded_config(dir);
    config.voice.provider = scout_common::config::VoiceProviderKind::SeedTts;
    config.voice.seed_tts_endpoint = endpoint;
    config.voice.seed_tts_appid = "app".into();
    config.voice.seed_tts_token = "token".into();
    config.voice.fallback_to_local = false;
    config.edge.rate_limits.default.limit = 100_000;
    config
}

/// PUTs `bytes` to a presigned URL with the headers it requires, with a
/// plain HTTP client, and checks the store took them.
pub async fn put_presigned(
    url: &str,
    headers: &std::collections::HashMap<String, String>,
    bytes: Vec<u8>,
) {
    let mut put = reqwest::Client::new().put(url).body(bytes);
    for (k, v) in headers {
        put = put.header(k, v);
    }
    let resp = put.send().await.expect("put");
    assert!(
        resp.status().is_success(),
        "PUT answered {}: {}",
        resp.status(),
        resp.text().await.unwrap_or_default()
    );
}

/// The identity API as a logged-in user.
pub type UserIdentity =
    scout_proto::scout::identity::v1::identity_service_client::IdentityServiceClient<AuthedChannel>;

/// Gets a voice sample upload URL (valid 900 s), PUTs `bytes`; the key.
pub async fn upload_voice_sample(
    ids: &mut UserIdentity,
    bytes: Vec<u8>,
    content_type: &str,
) -> String {
    let up = ids
        .create_voice_sample_upload_url(
            scout_proto::scout::identity::v1::CreateVoiceSampleUploadUrlRequest {
                filename: "sample.wav".into(),
                file_size: bytes.len() as i64,
                content_type: content_type.into(),
            },
        )
        .await
        .expect("upload url")
        .into_inner();
    assert_eq!(up.expires_in, 900);
    put_presigned(&up.upload_url, &up.required_headers, bytes).await;
    up.oss_key
}

/// The tasks API as a logged-in user.
pub type UserTasks =
    scout_proto::scout::tasks::v1::tasks_service_client::TasksServiceClient<AuthedChannel>;

/// `GET url` with a bearer token, the body as JSON.
pub async fn get_json(url: &str, token: &str) -> serde_json::Value {
    reqwest::Client::new()
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("json")
}

/// A new task for `shop` (hot pot, the seed's promotion, style 1).
pub async fn create_task(tasks: &mut UserTasks, shop: &str) -> scout_proto::scout::tasks::v1::Task {
    use scout_proto::scout::tasks::v1::CreateTaskRequest;
    tasks
        .create_task(CreateTaskRequest {
            shop_name: shop.into(),
            shop_type: 1,
            promotion_text: "人均89，招牌毛肚七上八下".into(),
            video_style: 1,
            ..CreateTaskRequest::default()
        })
        .await
        .expect("create")
        .into_inner()
        .task
        .expect("task")
}

/// Creates a task, uploads generated clips of these lengths and confirms
/// them; returns the task id and the clip ids.
pub async fn task_with_clips(
    tasks: &mut UserTasks,
    files: &Path,
    shop: &str,
    seconds: &[f64],
) -> (i64, Vec<i64>) {
    use scout_proto::scout::tasks::v1::ConfirmVideoRequest;
    let task = create_task(tasks, shop).await;
    let mut ids = Vec::new();
    for (i, s) in seconds.iter().enumerate() {
        let name = format!("clip{i}.mp4");
        let file = clip(files, &name, *s);
        let key = curl_upload(tasks, task.id, &file, "video/mp4").await;
        ids.push(
            tasks
                .confirm_video(ConfirmVideoRequest {
                    task_id: task.id,
                    oss_key: key,
                    original_filename: name,
                })
                .await
                .expect("confirm")
                .into_inner()
                .video
                .expect("video")
                .id,
        );
    }
    (task.id, ids)
}

/// Polls the task until it is in `want` (panicking on FAILED unless that is
/// what is wanted) and returns it.
pub async fn wait_status(
    tasks: &mut UserTasks,
    id: i64,
    want: scout_proto::scout::tasks::v1::TaskStatus,
    limit: Duration,
) -> scout_proto::scout::tasks::v1::Task {
    use scout_proto::scout::tasks::v1::{GetTaskRequest, TaskStatus};
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
            return t;
        }
        assert!(
            want == TaskStatus::Failed || t.status != TaskStatus::Failed as i32,
            "failed: {:?}",
            t.failure
        );
        assert!(
            start.elapsed() < limit,
            "not {want:?} after {limit:?}: {} {:?}",
            t.status,
            t.failure
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A deployment-shaped config under `dir`: identity and tasks on fresh
/// PostgreSQL databases (kept while the returned guards live), Redis, Kafka,
/// S3, every service on its own fixed port (so a service can run as a
/// separate `scout serve` process), JSON logs at info (tests read them).
pub fn distributed_config(dir: &Path) -> (Config, [scout_common::testing::TestDatabase; 2]) {
    use scout_common::testing;
    let mut config = embedded_config(dir);
    let dbs = [testing::postgres_database(), testing::postgres_database()];
    config.identity.database_url = dbs[0].url.clone();
    config.tasks.database_url = dbs[1].url.clone();
    config.cache = testing::redis_config();
    config.bus = testing::kafka_config();
    config.blobs = testing::s3_config();
    config.edge.request_timeout = Duration::from_secs(60);
    // These tests poll progress more often than a user may (100/60 s).
    config.edge.rate_limits.default.limit = 100_000;
    for svc in [
        &mut config.identity,
        &mut config.tasks,
        &mut config.vision,
        &mut config.render,
        &mut config.publish,
    ] {
        svc.addr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
        svc.endpoint = format!("http://{}", svc.addr);
    }
    config.telemetry.log_format = LogFormat::Json;
    config.telemetry.log_level = "info".into();
    (config, dbs)
}

/// The analyze topic, subscribed as the vision worker would be.
pub async fn analyze_jobs(
    mesh: &scout::mesh::Mesh,
) -> Box<dyn scout_common::adapters::bus::Subscription> {
    let ctx = mesh.context();
    let topic = format!("{}analyze", ctx.jobs.analyze.prefix);
    ctx.adapters
        .bus
        .subscribe(
            &format!("test-vision-{}", scout_common::testing::unique()),
            std::slice::from_ref(&topic),
        )
        .await
        .expect("subscribe")
}

/// A task of the caller's with one clip and a script: ready to compose.
pub async fn ready_task(
    mesh: &scout::mesh::Mesh,
    tasks: &mut UserTasks,
    jobs: &mut Box<dyn scout_common::adapters::bus::Subscription>,
    files: &std::path::Path,
    n: usize,
) -> i64 {
    let (id, clips) = task_with_clips(tasks, files, &format!("小馆{n}号"), &[1.0]).await;
    tasks
        .start_analysis(scout_proto::scout::tasks::v1::StartAnalysisRequest { task_id: id })
        .await
        .expect("analyse");
    // A new subscriber reads the topic from its start: skip the jobs of
    // tasks analysed before.
    let job = loop {
        let job = take_analyze_job(jobs, Duration::from_secs(60)).await;
        if job.task_id == id {
            break job;
        }
    };
    tasks_worker(mesh)
        .report_script(scout_proto::scout::tasks::v1::ReportScriptRequest {
            pictures: Vec::new(),
            library_clips: Vec::new(),
            job_id: job.job_id,
            task_id: id,
            paragraphs: vec![scout_proto::scout::tasks::v1::Paragraph {
                id: "para_1".into(),
                section: "开场".into(),
                shot_id: clips[0],
                text: "家人们，这家小馆值得一来！".into(),
                ..Default::default()
            }],
            provider: "template".into(),
            provider_note: String::new(),
            usage: None,
        })
        .await
        .expect("script");
    wait_status(
        tasks,
        id,
        scout_proto::scout::tasks::v1::TaskStatus::ScriptReady,
        Duration::from_secs(30),
    )
    .await;
    id
}

pub async fn compose(tasks: &mut UserTasks, id: i64) -> Result<(), tonic::Status> {
    tasks
        .start_compose(scout_proto::scout::tasks::v1::StartComposeRequest {
            task_id: id,
            ..Default::default()
        })
        .await
        .map(|_| ())
}

/// A REST call with a bearer token and an optional JSON body: the HTTP
/// status and the envelope.
pub async fn rest_call(
    method: reqwest::Method,
    url: &str,
    token: &str,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let mut req = reqwest::Client::new()
        .request(method, url)
        .bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    (status, resp.json().await.expect("envelope"))
}

/// A task of the caller's (two clips), analysed and composed on the
/// mesh's own vision and render.
pub async fn completed_task(tasks: &mut UserTasks, files: &Path, shop: &str) -> i64 {
    use scout_proto::scout::tasks::v1::{StartAnalysisRequest, TaskStatus};
    let (id, _) = task_with_clips(tasks, files, shop, &[2.0, 2.0]).await;
    tasks
        .start_analysis(StartAnalysisRequest { task_id: id })
        .await
        .expect("analyse");
    wait_status(tasks, id, TaskStatus::ScriptReady, Duration::from_secs(120)).await;
    compose(tasks, id).await.expect("compose");
    wait_status(tasks, id, TaskStatus::Completed, Duration::from_secs(180)).await;
    id
}

/// The bytes of a completed task's final.mp4.
pub async fn final_video(tasks: &mut UserTasks, task_id: i64) -> Vec<u8> {
    let url = tasks
        .get_download_url(scout_proto::scout::tasks::v1::GetDownloadUrlRequest { task_id })
        .await
        .expect("download")
        .into_inner()
        .url;
    reqwest::get(&url)
        .await
        .expect("get")
        .bytes()
        .await
        .expect("bytes")
        .to_vec()
}

/// Saves the task's final video as `path`.
pub async fn save_final(tasks: &mut UserTasks, task_id: i64, path: &Path) {
    std::fs::write(path, final_video(tasks, task_id).await).expect("write the final video");
}

/// Composes the task, waits up to `limit` for it to complete and saves
/// its final video as `path`.
pub async fn composed_to(tasks: &mut UserTasks, task_id: i64, path: &Path, limit: Duration) {
    compose(tasks, task_id).await.expect("compose");
    wait_status(
        tasks,
        task_id,
        scout_proto::scout::tasks::v1::TaskStatus::Completed,
        limit,
    )
    .await;
    save_final(tasks, task_id, path).await;
}

/// Links the caller's account on `platform` as the web app does: the
/// state from StartAccountLink, the code the platform sends back.
pub async fn link_account(
    publish: &mut scout_proto::scout::publish::v1::publish_service_client::PublishServiceClient<
        AuthedChannel,
    >,
    platform: scout_proto::scout::publish::v1::Platform,
    code: &str,
) -> scout_proto::scout::publish::v1::Account {
    use scout_proto::scout::publish::v1::{CompleteAccountLinkRequest, StartAccountLinkRequest};
    let start = publish
        .start_account_link(StartAccountLinkRequest {
            platform: platform as i32,
        })
        .await
        .expect("start link")
        .into_inner();
    publish
        .complete_account_link(CompleteAccountLinkRequest {
            code: code.into(),
            state: start.state,
            error: String::new(),
        })
        .await
        .expect("complete link")
        .into_inner()
        .account
        .expect("account")
}

/// Waits until a task's publication is in `want`; panics naming where it
/// stands.
pub async fn wait_publication(
    publish: &mut scout_proto::scout::publish::v1::publish_service_client::PublishServiceClient<
        AuthedChannel,
    >,
    task_id: i64,
    id: i64,
    want: scout_proto::scout::publish::v1::PublicationStatus,
) -> scout_proto::scout::publish::v1::Publication {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let p = publish
            .list_publications(scout_proto::scout::publish::v1::ListPublicationsRequest { task_id })
            .await
            .expect("list")
            .into_inner()
            .items
            .into_iter()
            .find(|p| p.id == id)
            .expect("publication listed");
        if p.status == want as i32 {
            return p;
        }
        assert!(
            Instant::now() < deadline,
            "publication never {want:?}: {p:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A task's uploads (clips, images, tracks, documents) as ListVideos answers.
pub async fn uploads_of(
    tasks: &mut UserTasks,
    task_id: i64,
) -> Vec<scout_proto::scout::tasks::v1::Video> {
    tasks
        .list_videos(scout_proto::scout::tasks::v1::ListVideosRequest { task_id })
        .await
        .expect("list videos")
        .into_inner()
        .items
}

/// The steps of a task's progress now: each name and its state.
pub async fn progress_steps(tasks: &mut UserTasks, task_id: i64) -> Vec<(String, i32)> {
    tasks
        .get_progress(scout_proto::scout::tasks::v1::GetProgressRequest { task_id })
        .await
        .expect("progress")
        .into_inner()
        .progress
        .expect("progress")
        .details
        .expect("details")
        .steps
        .into_iter()
        .map(|s| (s.name, s.status))
        .collect()
}

/// Every frame of `video` as a 54x96 RGB thumbnail (ffmpeg, test tooling).
pub fn thumbnails(video: &Path) -> Vec<Vec<u8>> {
    let raw = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(video)
        .args([
            "-vf",
            "scale=54:96",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-",
        ])
        .output()
        .expect("ffmpeg runs");
    assert!(raw.status.success());
    raw.stdout
        .chunks_exact(54 * 96 * 3)
        .map(<[u8]>::to_vec)
        .collect()
}

/// The colour at the top middle of every frame of `video` (x 540, y 400
/// of the 1080x1920 frame): clear of captions, marks and safe-area bars.
pub fn top_colours(video: &Path) -> Vec<[u8; 3]> {
    let at = (20 * 54 + 27) * 3;
    thumbnails(video)
        .iter()
        .map(|f| [f[at], f[at + 1], f[at + 2]])
        .collect()
}

/// The task's current script.
pub async fn script_of(
    tasks: &mut UserTasks,
    task_id: i64,
) -> scout_proto::scout::tasks::v1::Script {
    tasks
        .get_script(scout_proto::scout::tasks::v1::GetScriptRequest { task_id })
        .await
        .expect("script")
        .into_inner()
        .script
        .expect("script")
}

/// Starts the task's analysis (or writing, or reading) and waits up to
/// `limit` for its script: the script.
pub async fn written(
    tasks: &mut UserTasks,
    task_id: i64,
    limit: Duration,
) -> scout_proto::scout::tasks::v1::Script {
    use scout_proto::scout::tasks::v1::{StartAnalysisRequest, TaskStatus};
    tasks
        .start_analysis(StartAnalysisRequest { task_id })
        .await
        .expect("start the script");
    wait_status(tasks, task_id, TaskStatus::ScriptReady, limit).await;
    script_of(tasks, task_id).await
}
