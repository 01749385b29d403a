//! The real `scout` binary as a process: signals, exit codes, config errors,
//! JSON logs with request ids, and one service run on its own.

mod support;

use std::time::Duration;

use bytes::Bytes;
use prost::Message;
use scout_common::adapters::blob::{BlobStore, LocalBlobStore, PresignOptions};
use scout_common::config::LogFormat;
use scout_proto::scout::render::v1::{CapabilitiesRequest, CapabilitiesResponse};
use support::*;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

fn trickle() -> (mpsc::Sender<Result<Bytes, std::io::Error>>, reqwest::Body) {
    let (tx, rx) = mpsc::channel(16);
    (tx, reqwest::Body::wrap_stream(ReceiverStream::new(rx)))
}

/// `scout up` as a child process with JSON logs at info, once it is ready.
async fn scout_up(dir: &std::path::Path) -> (scout_common::config::Config, ScoutProcess, String) {
    let mut config = embedded_config(dir);
    config.edge.addr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
    config.telemetry.log_format = LogFormat::Json;
    config.telemetry.log_level = "info".into();
    let proc = ScoutProcess::spawn(dir, &config, &["up"]);
    let base = format!("http://{}", config.edge.addr);
    wait_ready(&base, Duration::from_secs(60)).await;
    (config, proc, base)
}

#[tokio::test]
async fn sigterm_during_slow_calls_lets_them_finish_then_exits_zero() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (config, mut proc, base) = scout_up(dir.path()).await;
    let http = reqwest::Client::builder()
        .http1_only()
        .build()
        .expect("client");
    let tokens = login(&base, dir.path()).await;

    // A grpc-web call whose request trickles in.
    let frame = grpc_frame(&CapabilitiesRequest {}.encode_to_vec());
    let (grpc_tx, grpc_body) = trickle();
    let call = tokio::spawn(
        http.post(format!("{base}/scout.render.v1.RenderService/Capabilities"))
            .header("content-type", "application/grpc-web+proto")
            .bearer_auth(&tokens.access)
            .body(grpc_body)
            .send(),
    );
    grpc_tx
        .send(Ok(Bytes::copy_from_slice(&frame[..2])))
        .await
        .expect("send");

    // A phone upload to a signed URL, also trickling.
    let store = LocalBlobStore::new(&config.blobs, &base).expect("store");
    let url = store
        .presign_put(
            "videos/1/1/slow.mp4",
            PresignOptions::expires_in(Duration::from_secs(900)),
        )
        .await
        .expect("presign");
    let (up_tx, up_body) = trickle();
    let upload = tokio::spawn(http.put(&url.url).body(up_body).send());
    up_tx
        .send(Ok(Bytes::from(vec![1u8; 64 * 1024])))
        .await
        .expect("send");
    tokio::time::sleep(Duration::from_millis(400)).await;

    // Deploy time: SIGTERM while both calls are in flight.
    proc.terminate();
    tokio::time::sleep(Duration::from_millis(500)).await;
    for _ in 0..9 {
        up_tx
            .send(Ok(Bytes::from(vec![1u8; 64 * 1024])))
            .await
            .expect("send");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(up_tx);
    grpc_tx
        .send(Ok(Bytes::copy_from_slice(&frame[2..])))
        .await
        .expect("send");
    drop(grpc_tx);

    let resp = call
        .await
        .expect("join")
        .expect("the in-flight call completed");
    let headers = resp.headers().clone();
    let answer = parse_grpc_web(&headers, &resp.bytes().await.expect("body"));
    assert_eq!(answer.status, Some(0), "{answer:?}");
    let caps = CapabilitiesResponse::decode(answer.messages[0].as_slice()).expect("decodes");
    assert!(!caps.ffmpeg_version.is_empty());

    let resp = upload
        .await
        .expect("join")
        .expect("the in-flight upload completed");
    assert!(
        resp.status().is_success(),
        "upload answered {}",
        resp.status()
    );
    let stored = std::fs::metadata(config.blobs.dir.join("videos/1/1/slow.mp4")).expect("stored");
    assert_eq!(stored.len(), 10 * 64 * 1024);

    let status = proc.exit(Duration::from_secs(40)).await;
    assert_eq!(status.code(), Some(0), "stderr:\n{}", proc.stderr());
    let logs = proc.stderr();
    assert!(logs.contains("draining in-flight calls"), "{logs}");
    // After the drain, new connections are refused.
    assert!(reqwest::get(format!("{base}/healthz")).await.is_err());
}

#[tokio::test]
async fn logs_are_json_and_carry_the_request_id_across_services() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_config, mut proc, base) = scout_up(dir.path()).await;
    let tokens = login(&base, dir.path()).await;

    let resp = reqwest::Client::new()
        .get(format!("{base}/api/v1/render/capabilities"))
        .bearer_auth(&tokens.access)
        .header("x-request-id", "rid-e2e-42")
        .send()
        .await
        .expect("rest");
    assert_eq!(
        resp.headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok()),
        Some("rid-e2e-42")
    );
    // A request without an id gets one.
    let resp2 = reqwest::get(format!("{base}/healthz"))
        .await
        .expect("healthz");
    assert!(
        resp2
            .headers()
            .get("x-request-id")
            .is_some_and(|v| v.len() >= 32)
    );

    // Ctrl-C in a terminal is SIGINT: the same clean stop.
    proc.interrupt();
    assert_eq!(proc.exit(Duration::from_secs(30)).await.code(), Some(0));
    let mut services_with_id = std::collections::BTreeSet::new();
    for line in proc.stderr().lines() {
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
        assert!(
            v["timestamp"].is_string() && v["level"].is_string(),
            "{line}"
        );
        if v["context"]["request_id"] == "rid-e2e-42" {
            services_with_id.insert(v["service"].as_str().unwrap_or_default().to_string());
        }
    }
    assert!(
        services_with_id.contains("edge") && services_with_id.contains("render"),
        "request id seen in {services_with_id:?}"
    );
}

fn run_scout(
    dir: &std::path::Path,
    config_text: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> (Option<i32>, String) {
    let path = dir.join("bad.toml");
    std::fs::write(&path, config_text).expect("write");
    let mut cmd = std::process::Command::new(scout_bin());
    cmd.arg("--config")
        .arg(&path)
        .args(args)
        .env_remove("SCOUT_CONFIG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("scout runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn config_errors_exit_non_zero_naming_the_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    // (config file, arguments, environment, what the one error line must say)
    type Case<'a> = (&'a str, &'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
    let cases: [Case<'_>; 6] = [
        (
            "[edge]\nadr = \"127.0.0.1:1\"\n",
            &["config"],
            &[],
            "unknown key `edge.adr` (did you mean `addr`?)",
        ),
        ("[edge]\nadr = \"127.0.0.1:1\"\n", &["up"], &[], "edge.adr"),
        (
            "[tasks]\naddr = \"nowhere\"\n",
            &["serve", "tasks"],
            &[],
            "tasks.addr",
        ),
        (
            "[bus]\nbackend = \"rabbitmq\"\n",
            &["up"],
            &[],
            "bus.backend",
        ),
        (
            "",
            &["up"],
            &[("SCOUT_EDGE_ADR", "127.0.0.1:1")],
            "unknown environment variable SCOUT_EDGE_ADR (did you mean `SCOUT_EDGE_ADDR`?)",
        ),
        ("[edge]\naddr = 8080\n", &["config"], &[], "edge.addr"),
    ];
    for (text, args, env, needle) in cases {
        let (code, stderr) = run_scout(dir.path(), text, args, env);
        assert_eq!(code, Some(2), "{args:?} with {text:?}: {stderr}");
        assert!(
            stderr.contains(needle),
            "{args:?} with {text:?}: expected {needle:?} in {stderr}"
        );
        assert_eq!(stderr.lines().count(), 1, "not one clear line: {stderr}");
    }
    // A missing file names the file.
    let out = std::process::Command::new(scout_bin())
        .args(["--config", "/nonexistent/scout.toml", "config"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/scout.toml"));
}

#[tokio::test]
async fn an_edge_port_in_use_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let mut config = embedded_config(dir.path());
    config.edge.addr = taken.local_addr().expect("addr");
    let mut proc = ScoutProcess::spawn(dir.path(), &config, &["up"]);
    let status = proc.exit(Duration::from_secs(30)).await;
    assert_eq!(status.code(), Some(1));
    assert!(
        proc.stderr()
            .contains(&format!("cannot listen on {}", config.edge.addr)),
        "{}",
        proc.stderr()
    );
}

#[tokio::test]
async fn services_run_as_their_own_processes_as_a_deployment_would() {
    use scout_proto::scout::identity::v1::identity_service_client::IdentityServiceClient;
    use scout_proto::scout::identity::v1::{LoginRequest, SendCodeRequest};
    use scout_proto::scout::render::v1::render_service_client::RenderServiceClient;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = embedded_config(dir.path());
    config.render.addr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
    config.identity.addr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
    config.telemetry.log_format = LogFormat::Json;
    // Two processes, as two deployments: identity and render. They share
    // nothing but the config (and, on one machine, the data directory where
    // the generated service credential lives).
    let identity_dir = dir.path().join("identity-proc");
    let render_dir = dir.path().join("render-proc");
    std::fs::create_dir_all(&identity_dir).expect("dir");
    std::fs::create_dir_all(&render_dir).expect("dir");
    let mut identity = ScoutProcess::spawn(&identity_dir, &config, &["serve", "identity"]);
    let mut proc = ScoutProcess::spawn(&render_dir, &config, &["serve", "render"]);
    let url = format!("http://{}", config.render.addr);
    let identity_url = format!("http://{}", config.identity.addr);
    for (u, p) in [(&url, &proc), (&identity_url, &identity)] {
        scout_common::grpc::wait_serving(u, Duration::from_secs(60))
            .await
            .unwrap_or_else(|e| panic!("{e}: {}", p.stderr()));
    }
    let mut client = RenderServiceClient::new(scout_common::grpc::channel(&url).expect("channel"));
    // Straight to the service, past the edge, without a token: refused.
    let status = client
        .capabilities(CapabilitiesRequest {})
        .await
        .expect_err("no token");
    assert_eq!(status.code(), tonic::Code::Unauthenticated, "{status:?}");
    // A user logs in at identity; render verifies the token with the key it
    // fetches from identity's JWKS.
    let phone = random_phone();
    let mut ids =
        IdentityServiceClient::new(scout_common::grpc::channel(&identity_url).expect("channel"));
    ids.send_code(SendCodeRequest {
        phone: phone.clone(),
    })
    .await
    .expect("send code");
    let code = read_code(dir.path(), &phone).await;
    let login = ids
        .login(LoginRequest { phone, code })
        .await
        .expect("login")
        .into_inner();
    let mut client = RenderServiceClient::new(authed_channel(&url, &login.access_token));
    let caps = client
        .capabilities(CapabilitiesRequest {})
        .await
        .expect("capabilities")
        .into_inner();
    assert_eq!(caps.compose_encoder, "libx264");
    identity.terminate();
    assert_eq!(identity.exit(Duration::from_secs(30)).await.code(), Some(0));
    proc.terminate();
    assert_eq!(
        proc.exit(Duration::from_secs(30)).await.code(),
        Some(0),
        "{}",
        proc.stderr()
    );
}
