//! The edge, through clients that are not ours and through raw HTTP: one
//! port for gRPC, grpc-web and REST, reflection, deadlines, clear errors.

mod support;

use std::time::Instant;

use base64::Engine;
use prost::Message;
use scout::mesh::Mesh;
use scout_common::{ApiError, ErrorCode};
use scout_proto::scout::render::v1::render_service_client::RenderServiceClient;
use scout_proto::scout::render::v1::{CapabilitiesRequest, CapabilitiesResponse};
use scout_proto::scout::tasks::v1::GetTaskRequest;
use scout_proto::scout::tasks::v1::tasks_service_client::TasksServiceClient;
use support::*;

async fn mesh(dir: &std::path::Path) -> Mesh {
    Mesh::start(embedded_config(dir))
        .await
        .expect("mesh starts")
}

async fn render_client(mesh: &Mesh, tokens: &Tokens) -> RenderServiceClient<AuthedChannel> {
    RenderServiceClient::new(authed_channel(&mesh.edge_url(), &tokens.access))
}

#[tokio::test]
async fn python_reflection_client_lists_and_describes_through_the_edge() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mesh = mesh(dir.path()).await;
    let addr = mesh.edge_addr().to_string();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(python())
            .arg(root().join("tests/interop/reflection_client.py"))
            .arg(addr)
            .arg("scout.render.v1.RenderService/Capabilities")
            .output()
    })
    .await
    .expect("join")
    .unwrap_or_else(|e| {
        panic!(
            "cannot run {} (run scripts/install.sh --test): {e}",
            python().display()
        )
    });
    assert!(
        out.status.success(),
        "reflection client failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let services: Vec<&str> = v["services"]
        .as_array()
        .expect("services")
        .iter()
        .filter_map(|s| s.as_str())
        .collect();
    for expected in [
        "scout.identity.v1.IdentityService",
        "scout.tasks.v1.TasksService",
        "scout.publish.v1.PublishService",
        "scout.render.v1.RenderService",
        "grpc.health.v1.Health",
    ] {
        assert!(
            services.contains(&expected),
            "{expected} missing from {services:?}"
        );
    }
    for hidden in [
        "scout.tasks.v1.TasksInternalService",
        "scout.vision.v1.VisionService",
        "scout.identity.v1.IdentityInternalService",
    ] {
        assert!(
            !services.contains(&hidden),
            "internal {hidden} listed: {services:?}"
        );
    }
    // Render exposes its capabilities and the standard voices; its media
    // RPCs are internal.
    assert_eq!(
        v["service_methods"],
        serde_json::json!(["Capabilities", "ListVoices", "PreviewVoice"])
    );
    assert_eq!(
        v["method"]["output"],
        "scout.render.v1.CapabilitiesResponse"
    );
    let fields: Vec<&str> = v["method"]["output_fields"]
        .as_array()
        .expect("fields")
        .iter()
        .filter_map(|f| f["name"].as_str())
        .collect();
    assert!(
        fields.contains(&"ffmpeg_version") && fields.contains(&"h264_encoders"),
        "{fields:?}"
    );
    mesh.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn reflection_v1_and_v1alpha_both_answer_through_the_edge() {
    use tonic_reflection_v1::*;
    let dir = tempfile::tempdir().expect("tempdir");
    let mesh = mesh(dir.path()).await;
    let channel = scout_common::grpc::channel(&mesh.edge_url()).expect("channel");
    let v1 = list_v1(channel.clone()).await;
    let v1alpha = list_v1alpha(channel).await;
    assert_eq!(v1, v1alpha, "v1 and v1alpha disagree");
    assert!(
        v1.contains(&"scout.tasks.v1.TasksService".to_string()),
        "{v1:?}"
    );
    mesh.shutdown().await.expect("clean shutdown");
}

/// Minimal reflection clients over tonic-reflection's generated types.
mod tonic_reflection_v1 {
    use tonic::transport::Channel;

    /// One `ListServices` over a reflection version's generated types.
    macro_rules! list_services {
        ($name:ident, $pb:path) => {
            pub async fn $name(channel: Channel) -> Vec<String> {
                use pb::server_reflection_client::ServerReflectionClient;
                use pb::server_reflection_request::MessageRequest;
                use pb::server_reflection_response::MessageResponse;
                use $pb as pb;
                let mut client = ServerReflectionClient::new(channel);
                let req = pb::ServerReflectionRequest {
                    host: String::new(),
                    message_request: Some(MessageRequest::ListServices(String::new())),
                };
                let mut stream = client
                    .server_reflection_info(tokio_stream::iter([req]))
                    .await
                    .expect("reflection")
                    .into_inner();
                let resp = stream
                    .message()
                    .await
                    .expect("message")
                    .expect("one response");
                match resp.message_response {
                    Some(MessageResponse::ListServicesResponse(l)) => {
                        let mut names: Vec<String> =
                            l.service.into_iter().map(|s| s.name).collect();
                        names.sort();
                        names
                    }
                    other => panic!("unexpected {other:?}"),
                }
            }
        };
    }

    list_services!(list_v1, tonic_reflection::pb::v1);
    list_services!(list_v1alpha, tonic_reflection::pb::v1alpha);
}

#[tokio::test]
async fn connect_web_grpc_web_client_reaches_capabilities_over_http1() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mesh = mesh(dir.path()).await;
    let descriptors = descriptor_file(dir.path());
    let url = mesh.edge_url();
    let tokens = login(&url, dir.path()).await;
    let node = |token: Option<String>| {
        let (url, descriptors) = (url.clone(), descriptors.clone());
        tokio::task::spawn_blocking(move || {
            let mut cmd = std::process::Command::new("node");
            cmd.current_dir(node_tools())
                .arg("grpc-web-client.mjs")
                .arg(url)
                .arg(descriptors)
                .arg("scout.render.v1.RenderService")
                .arg("Capabilities")
                .env_remove("SCOUT_ACCESS_TOKEN");
            if let Some(t) = token {
                cmd.env("SCOUT_ACCESS_TOKEN", t);
            }
            let out = cmd.output().expect("node runs");
            assert!(
                out.status.success(),
                "node client failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            serde_json::from_slice::<serde_json::Value>(&out.stdout).expect("json")
        })
    };
    // Without a token: the same refusal a browser would see.
    let v = node(None).await.expect("join");
    assert_eq!(v["ok"], false, "{v}");
    assert_eq!(v["code"], "Unauthenticated", "{v}");
    let v = node(Some(tokens.access.clone())).await.expect("join");
    assert_eq!(v["ok"], true, "{v}");
    let encoders: Vec<&str> = v["response"]["h264_encoders"]
        .as_array()
        .expect("encoders")
        .iter()
        .filter_map(|e| e["name"].as_str())
        .collect();
    assert!(encoders.contains(&"libx264"), "{encoders:?}");
    assert!(
        v["response"]["ffmpeg_version"]
            .as_str()
            .is_some_and(|s| !s.is_empty())
    );
    mesh.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn grpc_web_binary_and_text_work_over_http1_and_h2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mesh = mesh(dir.path()).await;
    let http = reqwest::Client::builder()
        .http1_only()
        .build()
        .expect("client");
    let url = format!(
        "{}/scout.render.v1.RenderService/Capabilities",
        mesh.edge_url()
    );
    let body = grpc_frame(&CapabilitiesRequest {}.encode_to_vec());
    let auth = format!(
        "Bearer {}",
        login(&mesh.edge_url(), dir.path()).await.access
    );

    // Binary.
    let resp = http
        .post(&url)
        .header("content-type", "application/grpc-web+proto")
        .header("authorization", &auth)
        .header("x-grpc-web", "1")
        .body(body.clone())
        .send()
        .await
        .expect("post");
    assert_eq!(resp.version(), http::Version::HTTP_11);
    let headers = resp.headers().clone();
    let answer = parse_grpc_web(&headers, &resp.bytes().await.expect("body"));
    assert_eq!(answer.status, Some(0), "{answer:?}");
    let caps = CapabilitiesResponse::decode(answer.messages[0].as_slice()).expect("decodes");
    assert!(caps.h264_encoders.iter().any(|c| c.name == "libx264"));

    // Text (base64) — what browsers without binary XHR use.
    let b64 = base64::engine::general_purpose::STANDARD;
    let resp = http
        .post(&url)
        .header("content-type", "application/grpc-web-text")
        .header("accept", "application/grpc-web-text")
        .header("authorization", &auth)
        .body(b64.encode(&body))
        .send()
        .await
        .expect("post");
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .expect("ct")
            .starts_with("application/grpc-web-text")
    );
    let headers = resp.headers().clone();
    let text = resp.text().await.expect("body");
    // The body is base64 chunks, each padded to whole quads: decode quad by quad.
    let mut raw = Vec::new();
    for quad in text.trim().as_bytes().chunks(4) {
        raw.extend(b64.decode(quad).expect("base64 quad"));
    }
    let answer = parse_grpc_web(&headers, &raw);
    assert_eq!(answer.status, Some(0), "{answer:?}");
    assert_eq!(
        CapabilitiesResponse::decode(answer.messages[0].as_slice()).expect("decodes"),
        caps
    );

    // The same binary grpc-web call over HTTP/2 (prior knowledge, as a proxy in front would speak).
    let h2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .expect("client");
    let resp = h2
        .post(&url)
        .header("content-type", "application/grpc-web+proto")
        .header("authorization", &auth)
        .body(body.clone())
        .send()
        .await
        .expect("post over h2");
    assert_eq!(resp.version(), http::Version::HTTP_2);
    let headers = resp.headers().clone();
    let answer = parse_grpc_web(&headers, &resp.bytes().await.expect("body"));
    assert_eq!(answer.status, Some(0), "{answer:?}");
    assert_eq!(
        CapabilitiesResponse::decode(answer.messages[0].as_slice()).expect("decodes"),
        caps
    );
    mesh.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn rest_and_grpc_give_the_same_answer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mesh = mesh(dir.path()).await;
    let http = reqwest::Client::new();
    let tokens = login(&mesh.edge_url(), dir.path()).await;

    // Success: the same capabilities.
    let grpc = render_client(&mesh, &tokens)
        .await
        .capabilities(CapabilitiesRequest {})
        .await
        .expect("grpc")
        .into_inner();
    let grpc_json =
        scout_common::proto_json::to_json("scout.render.v1.CapabilitiesResponse", &grpc)
            .expect("json");
    let rest: serde_json::Value = get_json(
        &format!("{}/api/v1/render/capabilities", mesh.edge_url()),
        &tokens.access,
    )
    .await;
    assert_eq!(rest["code"], 0);
    assert_eq!(rest["message"], "success");
    assert_eq!(rest["data"], grpc_json);

    // Failure: the same code and message (another user's or a missing task).
    let mut tasks = TasksServiceClient::new(authed_channel(&mesh.edge_url(), &tokens.access));
    let status = tasks
        .get_task(GetTaskRequest { task_id: 987_654 })
        .await
        .expect_err("no such task");
    assert_eq!(status.code(), tonic::Code::NotFound);
    let err = ApiError::from_status(&status);
    assert_eq!(err.code, ErrorCode::NotFound);
    let resp = http
        .get(format!("{}/api/v1/tasks/987654", mesh.edge_url()))
        .bearer_auth(&tokens.access)
        .send()
        .await
        .expect("rest");
    assert_eq!(resp.status().as_u16(), 404);
    let body: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(body["code"], ErrorCode::NotFound as i32);
    assert_eq!(body["message"], err.message);
    assert!(err.message.contains("task 987654"), "{}", err.message);
    mesh.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn a_stopped_downstream_gives_unavailable_within_the_deadline() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut mesh = mesh(dir.path()).await;
    let deadline = mesh.config().edge.request_timeout;
    let tokens = login(&mesh.edge_url(), dir.path()).await;
    let mut client = render_client(&mesh, &tokens).await;
    client
        .capabilities(CapabilitiesRequest {})
        .await
        .expect("render is up");
    mesh.stop_service(scout_common::ServiceName::Render)
        .await
        .expect("render stops");

    let start = Instant::now();
    let status = client
        .capabilities(CapabilitiesRequest {})
        .await
        .expect_err("render is down");
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    assert!(
        status.message().contains("render service is unavailable"),
        "{}",
        status.message()
    );
    assert_eq!(
        ApiError::from_status(&status).code,
        ErrorCode::ServiceUnavailable
    );
    assert!(
        start.elapsed() < deadline,
        "took {:?}, deadline {deadline:?}",
        start.elapsed()
    );

    let start = Instant::now();
    let resp = reqwest::Client::new()
        .get(format!("{}/api/v1/render/capabilities", mesh.edge_url()))
        .bearer_auth(&tokens.access)
        .send()
        .await
        .expect("rest");
    assert_eq!(resp.status().as_u16(), 503);
    let body: serde_json::Value = resp.json().await.expect("json");
    let code = body["code"].as_i64().expect("code");
    assert!((50300..50400).contains(&code), "{body}");
    assert!(start.elapsed() < deadline);

    // Readiness reports it.
    let ready = reqwest::get(format!("{}/readyz", mesh.edge_url()))
        .await
        .expect("readyz");
    assert_eq!(ready.status().as_u16(), 503);
    let body: serde_json::Value = ready.json().await.expect("json");
    assert_ne!(body["dependencies"]["render"], "ok");
    assert_eq!(body["dependencies"]["tasks"], "ok");
    mesh.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn a_hanging_downstream_gives_deadline_exceeded_not_a_hang() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut mesh = mesh(dir.path()).await;
    let tokens = login(&mesh.edge_url(), dir.path()).await;
    let render_addr = addr_of(&mesh.service_url(scout_common::ServiceName::Render));
    mesh.stop_service(scout_common::ServiceName::Render)
        .await
        .expect("render stops");
    // Something takes render's port, accepts connections and never answers.
    let squatter = tokio::net::TcpListener::bind(render_addr)
        .await
        .expect("render's port is free again");
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((conn, _)) = squatter.accept().await {
            held.push(conn);
        }
    });
    // Native gRPC over h2 with a deadline and no client-side timer, so the
    // answer is the edge's own.
    let h2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .expect("client");
    let url = format!(
        "{}/scout.render.v1.RenderService/Capabilities",
        mesh.edge_url()
    );
    let call = |timeout: &'static str| {
        let req = h2
            .post(&url)
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .header("grpc-timeout", timeout)
            .bearer_auth(&tokens.access)
            .body(grpc_frame(&CapabilitiesRequest {}.encode_to_vec()));
        async move {
            let start = Instant::now();
            let resp = req.send().await.expect("the edge answers");
            let status: i32 = resp
                .headers()
                .get("grpc-status")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok())
                .expect("grpc-status");
            (status, start.elapsed())
        }
    };
    // The edge's channel may still hold its connection to the stopped
    // render: that first call fails fast (UNAVAILABLE) or runs into the
    // squatter. Either way it answers within its deadline.
    let (status, elapsed) = call("300m").await;
    assert!(
        [
            tonic::Code::Unavailable as i32,
            tonic::Code::DeadlineExceeded as i32
        ]
        .contains(&status),
        "{status}"
    );
    assert!(
        elapsed < std::time::Duration::from_secs(2),
        "waited {elapsed:?}"
    );
    // Now the channel connects to the squatter, which never answers.
    let (status, elapsed) = call("800m").await;
    assert_eq!(status, tonic::Code::DeadlineExceeded as i32);
    assert!(
        elapsed >= std::time::Duration::from_millis(800),
        "answered before the deadline: {elapsed:?}"
    );
    assert!(
        elapsed < mesh.config().edge.request_timeout,
        "waited {elapsed:?}"
    );
    // REST without a client deadline is bounded by the edge's own (5 s in these tests).
    let resp = reqwest::Client::new()
        .get(format!("{}/api/v1/render/capabilities", mesh.edge_url()))
        .bearer_auth(&tokens.access)
        .send()
        .await
        .expect("rest");
    assert!(
        matches!(resp.status().as_u16(), 503 | 504),
        "{}",
        resp.status()
    );
    hold.abort();
    mesh.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn bad_input_gets_a_clear_answer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mesh = mesh(dir.path()).await;
    let base = mesh.edge_url();
    let http = reqwest::Client::builder()
        .http1_only()
        .build()
        .expect("client");
    let caps_url = format!("{base}/scout.render.v1.RenderService/Capabilities");
    let tokens = login(&base, dir.path()).await;

    // A truncated grpc-web frame: the header promises 100 bytes, 3 arrive.
    let mut truncated = vec![0u8, 0, 0, 0, 100];
    truncated.extend_from_slice(b"abc");
    let resp = http
        .post(&caps_url)
        .header("content-type", "application/grpc-web+proto")
        .bearer_auth(&tokens.access)
        .body(truncated)
        .send()
        .await
        .expect("post");
    let headers = resp.headers().clone();
    let a = parse_grpc_web(&headers, &resp.bytes().await.expect("body"));
    assert_eq!(a.status, Some(tonic::Code::InvalidArgument as i32), "{a:?}");
    assert!(
        a.message
            .contains("truncated gRPC frame: header declares 100 bytes, 3 present"),
        "{a:?}"
    );

    // An oversized message (the documented limit is edge.max_message_bytes, 4 MiB).
    let big = grpc_frame(&vec![0u8; 5 * 1024 * 1024]);
    let resp = http
        .post(&caps_url)
        .header("content-type", "application/grpc-web+proto")
        .bearer_auth(&tokens.access)
        .body(big)
        .send()
        .await
        .expect("post");
    let headers = resp.headers().clone();
    let a = parse_grpc_web(&headers, &resp.bytes().await.expect("body"));
    assert_eq!(
        a.status,
        Some(tonic::Code::ResourceExhausted as i32),
        "{a:?}"
    );
    assert!(a.message.contains("4194304-byte message limit"), "{a:?}");

    // Native gRPC: an unknown method and an internal one are both UNIMPLEMENTED.
    let channel = scout_common::grpc::channel(&base).expect("channel");
    let mut grpc = tonic::client::Grpc::new(channel);
    for (path, expect) in [
        (
            "/scout.render.v1.RenderService/Nope",
            "unknown method: /scout.render.v1.RenderService/Nope",
        ),
        (
            "/scout.render.v1.RenderService/Compose",
            "unknown method: /scout.render.v1.RenderService/Compose",
        ),
        (
            "/scout.tasks.v1.TasksInternalService/ReportScript",
            "unknown or non-public service",
        ),
    ] {
        grpc.ready().await.expect("ready");
        let codec = tonic_prost::ProstCodec::<CapabilitiesRequest, CapabilitiesResponse>::default();
        let status = grpc
            .unary(
                tonic::Request::new(CapabilitiesRequest {}),
                http::uri::PathAndQuery::from_static(path),
                codec,
            )
            .await
            .expect_err("refused");
        assert_eq!(
            status.code(),
            tonic::Code::Unimplemented,
            "{path}: {status:?}"
        );
        assert!(
            status.message().contains(expect),
            "{path}: {}",
            status.message()
        );
    }

    // REST: unknown path, wrong verb, bad JSON, unknown field, bad query value.
    let check = |status: u16, code: ErrorCode, needle: &'static str| {
        move |resp: (u16, serde_json::Value)| {
            assert_eq!(resp.0, status, "{}", resp.1);
            assert_eq!(resp.1["code"], code as i32, "{}", resp.1);
            assert!(
                resp.1["message"]
                    .as_str()
                    .is_some_and(|m| m.contains(needle)),
                "{}",
                resp.1
            );
        }
    };
    let send = |req: reqwest::RequestBuilder| async move {
        let r = req.send().await.expect("send");
        (
            r.status().as_u16(),
            r.json::<serde_json::Value>().await.expect("json envelope"),
        )
    };
    check(
        404,
        ErrorCode::UnknownRoute,
        "no route for GET /api/v1/nowhere",
    )(send(http.get(format!("{base}/api/v1/nowhere"))).await);
    check(405, ErrorCode::UnknownRoute, "allowed: GET")(
        send(http.delete(format!("{base}/api/v1/render/capabilities"))).await,
    );
    check(400, ErrorCode::MalformedRequest, "not valid JSON")(
        send(
            http.post(format!("{base}/api/v1/tasks"))
                .header("content-type", "application/json")
                .body("{\"shop_name\": "),
        )
        .await,
    );
    check(400, ErrorCode::InvalidArgument, "shop_nam")(
        send(
            http.post(format!("{base}/api/v1/tasks"))
                .json(&serde_json::json!({"shop_nam": "x"})),
        )
        .await,
    );
    check(400, ErrorCode::InvalidArgument, "task_id")(
        send(http.get(format!("{base}/api/v1/tasks/not-a-number"))).await,
    );
    check(400, ErrorCode::InvalidArgument, "unknown query parameter")(
        send(http.get(format!("{base}/api/v1/tasks?colour=red"))).await,
    );
    check(413, ErrorCode::PayloadTooLarge, "byte limit")(
        send(
            http.post(format!("{base}/api/v1/tasks"))
                .body(vec![b' '; 5 * 1024 * 1024]),
        )
        .await,
    );
    // Not an API path and not gRPC: a 404 envelope, not a hang or a crash.
    check(404, ErrorCode::UnknownRoute, "no route")(
        send(http.get(format!("{base}/favicon.ico"))).await,
    );

    // Everything above left the edge healthy.
    render_client(&mesh, &tokens)
        .await
        .capabilities(CapabilitiesRequest {})
        .await
        .expect("still serving");
    mesh.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn cors_allows_only_configured_origins() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mesh = mesh(dir.path()).await;
    let http = reqwest::Client::new();
    let url = format!(
        "{}/scout.render.v1.RenderService/Capabilities",
        mesh.edge_url()
    );
    let preflight = |origin: &'static str| {
        http.request(reqwest::Method::OPTIONS, &url)
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type,x-grpc-web")
            .send()
    };
    let ok = preflight("http://app.example").await.expect("preflight");
    assert_eq!(
        ok.headers()
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some("http://app.example")
    );
    let allowed = ok
        .headers()
        .get("access-control-allow-headers")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(allowed.contains("x-grpc-web"), "{allowed}");
    let denied = preflight("http://evil.example").await.expect("preflight");
    assert!(
        denied
            .headers()
            .get("access-control-allow-origin")
            .is_none(),
        "evil origin allowed"
    );
    mesh.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn every_service_serves_health_reflection_and_metrics() {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_client::HealthClient;
    let dir = tempfile::tempdir().expect("tempdir");
    let mesh = mesh(dir.path()).await;
    for (name, own) in [
        ("identity", "scout.identity.v1.IdentityService"),
        ("tasks", "scout.tasks.v1.TasksInternalService"),
        ("vision", "scout.vision.v1.VisionService"),
        ("render", "scout.render.v1.RenderService"),
        ("publish", "scout.publish.v1.PublishService"),
    ] {
        let url = mesh.service_url(name.parse().expect("a service"));
        let channel = scout_common::grpc::channel(&url).expect("channel");
        let resp = HealthClient::new(channel.clone())
            .check(HealthCheckRequest {
                service: own.into(),
            })
            .await
            .expect("health");
        assert_eq!(resp.into_inner().status, 1, "{name} not SERVING");
        let services = tonic_reflection_v1::list_v1(channel).await;
        assert!(services.contains(&own.to_string()), "{name}: {services:?}");
        assert!(services.contains(&"grpc.health.v1.Health".to_string()));
        let ready = reqwest::get(format!("{url}/readyz")).await.expect("readyz");
        assert!(
            ready.status().is_success(),
            "{name} not ready: {}",
            ready.text().await.unwrap_or_default()
        );
        let metrics = reqwest::get(format!("{url}/metrics"))
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text");
        assert!(
            metrics.contains(&format!("http_request_total{{service=\"{name}\"")),
            "{name} metrics: {metrics}"
        );
    }
    mesh.shutdown().await.expect("clean shutdown");
}
