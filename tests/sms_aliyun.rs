//! The Aliyun SMS provider against a local server speaking Dysmsapi's
//! `SendSms` wire format (RPC style, signature version 1.0): it checks every
//! common parameter and the HMAC-SHA1 signature as Aliyun documents them,
//! and answers success, flow control, a signature mismatch or nothing.

mod support;

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::response::IntoResponse;
use scout::mesh::Mesh;
use scout_common::config::{RateLimit, SmsProviderKind};
use scout_common::{ApiError, ErrorCode};
use scout_proto::scout::identity::v1::identity_service_client::IdentityServiceClient;
use scout_proto::scout::identity::v1::{LoginRequest, SendCodeRequest};
use support::*;

const KEY_ID: &str = "LTAI5tTestKeyId";
const SECRET: &str = "test-access-key-secret";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Ok,
    FlowControl,
    WrongSecret,
    Hang,
}

#[derive(Default)]
struct Fake {
    mode: Option<Mode>,
    nonces: HashSet<String>,
    /// phone → last code delivered.
    delivered: BTreeMap<String, String>,
    /// Problems found in requests (must stay empty).
    problems: Vec<String>,
}

type Shared = Arc<Mutex<Fake>>;

fn lock(s: &Shared) -> std::sync::MutexGuard<'_, Fake> {
    s.lock().unwrap_or_else(|p| p.into_inner())
}

async fn dysmsapi(State(fake): State<Shared>, body: String) -> axum::response::Response {
    let params: BTreeMap<String, String> = url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    let mode = lock(&fake).mode.unwrap_or(Mode::Ok);
    let reply = |status: u16, v: serde_json::Value| {
        (
            http::StatusCode::from_u16(status).expect("status"),
            [("content-type", "application/json;charset=utf-8")],
            v.to_string(),
        )
            .into_response()
    };
    if mode == Mode::Hang {
        tokio::time::sleep(Duration::from_secs(30)).await;
    }
    let mut problems = Vec::new();
    for (k, want) in [
        ("Action", "SendSms"),
        ("Version", "2017-05-25"),
        ("Format", "JSON"),
        ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureVersion", "1.0"),
        ("AccessKeyId", KEY_ID),
        ("SignName", "探店宝"),
        ("TemplateCode", "SMS_123456789"),
        ("RegionId", "cn-hangzhou"),
    ] {
        if params.get(k).map(String::as_str) != Some(want) {
            problems.push(format!("{k} = {:?}, want {want}", params.get(k)));
        }
    }
    let ts = params.get("Timestamp").cloned().unwrap_or_default();
    if chrono::NaiveDateTime::parse_from_str(&ts, "%Y-%m-%dT%H:%M:%SZ").is_err() {
        problems.push(format!("Timestamp {ts:?} is not ISO 8601 UTC"));
    }
    let nonce = params.get("SignatureNonce").cloned().unwrap_or_default();
    if nonce.is_empty() || !lock(&fake).nonces.insert(nonce.clone()) {
        problems.push(format!("SignatureNonce {nonce:?} missing or reused"));
    }
    let code = params
        .get("TemplateParam")
        .and_then(|t| serde_json::from_str::<serde_json::Value>(t).ok())
        .and_then(|v| v["code"].as_str().map(str::to_string));
    if code.is_none() {
        problems.push("TemplateParam lacks a code".into());
    }
    // The signature, recomputed over everything but itself.
    let mut unsigned = params.clone();
    let presented = unsigned.remove("Signature").unwrap_or_default();
    let secret = if mode == Mode::WrongSecret {
        "another-secret"
    } else {
        SECRET
    };
    let expected = scout_identity::sms::signature("POST", &unsigned, secret);
    if presented != expected {
        return reply(
            400,
            serde_json::json!({
                "RequestId": "A1B2C3",
                "HostId": "dysmsapi.aliyuncs.com",
                "Code": "SignatureDoesNotMatch",
                "Message": "Specified signature is not matched with our calculation.",
            }),
        );
    }
    if !problems.is_empty() {
        lock(&fake).problems.extend(problems.clone());
        return reply(
            400,
            serde_json::json!({"RequestId": "A1B2C3", "Code": "MissingParameter", "Message": problems.join("; ")}),
        );
    }
    if mode == Mode::FlowControl {
        return reply(
            200,
            serde_json::json!({"RequestId": "A1B2C3", "Code": "isv.BUSINESS_LIMIT_CONTROL", "Message": "触发分钟级流控Permits:1"}),
        );
    }
    let phone = params.get("PhoneNumbers").cloned().unwrap_or_default();
    lock(&fake)
        .delivered
        .insert(phone, code.unwrap_or_default());
    reply(
        200,
        serde_json::json!({"RequestId": "A1B2C3", "BizId": "900619746936498440^0", "Code": "OK", "Message": "OK"}),
    )
}

#[tokio::test]
async fn aliyun_sms_delivers_codes_and_its_errors_are_clear() {
    let fake: Shared = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
    let app = axum::Router::new()
        .route("/", axum::routing::post(dysmsapi))
        .with_state(fake.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = embedded_config(dir.path());
    config.sms.provider = SmsProviderKind::Aliyun;
    config.sms.aliyun_endpoint = endpoint;
    config.sms.aliyun_access_key_id = KEY_ID.into();
    config.sms.aliyun_access_key_secret = SECRET.into();
    config.sms.aliyun_sign_name = "探店宝".into();
    config.sms.aliyun_template_code = "SMS_123456789".into();
    config.sms.timeout = Duration::from_secs(1);
    config.edge.rate_limits.send_code = RateLimit {
        limit: 100,
        window: Duration::from_secs(60),
    };
    let mesh = Mesh::start(config.clone()).await.expect("mesh");
    let mut ids =
        IdentityServiceClient::new(scout_common::grpc::channel(&mesh.edge_url()).expect("channel"));

    // Delivered, and the delivered code logs in.
    let phone = random_phone();
    ids.send_code(SendCodeRequest {
        phone: phone.clone(),
    })
    .await
    .expect("sent through aliyun");
    let code = lock(&fake)
        .delivered
        .get(&phone)
        .cloned()
        .expect("delivered");
    assert_eq!(code.len(), 6);
    let login = ids
        .login(LoginRequest {
            phone: phone.clone(),
            code,
        })
        .await
        .expect("login with the delivered code")
        .into_inner();
    assert!(!login.access_token.is_empty());
    assert!(
        !dir.path().join("sms-outbox.log").exists(),
        "the log provider was used"
    );

    // Aliyun's flow control: RESOURCE_EXHAUSTED saying so, with a retry hint.
    lock(&fake).mode = Some(Mode::FlowControl);
    let phone = random_phone();
    let err = ids
        .send_code(SendCodeRequest {
            phone: phone.clone(),
        })
        .await
        .expect_err("flow control");
    let e = ApiError::from_status(&err);
    assert_eq!(e.code, ErrorCode::RateLimited, "{e}");
    assert!(e.message.contains("SMS provider"), "{e}");
    assert!(e.retry_after.is_some());

    // A signature the provider rejects: UNAVAILABLE naming the provider's code,
    // and the failed send does not eat the phone's 60 s cooldown.
    lock(&fake).mode = Some(Mode::WrongSecret);
    let err = ids
        .send_code(SendCodeRequest {
            phone: phone.clone(),
        })
        .await
        .expect_err("bad signature");
    let e = ApiError::from_status(&err);
    assert_eq!(e.code, ErrorCode::ProviderFailed, "{e}");
    assert!(e.message.contains("SignatureDoesNotMatch"), "{e}");
    lock(&fake).mode = Some(Mode::Ok);
    ids.send_code(SendCodeRequest {
        phone: phone.clone(),
    })
    .await
    .expect("retry right away after a failed send");

    // A provider that never answers: bounded by sms.timeout.
    lock(&fake).mode = Some(Mode::Hang);
    let start = Instant::now();
    let err = ids
        .send_code(SendCodeRequest {
            phone: random_phone(),
        })
        .await
        .expect_err("hung provider");
    assert!(
        start.elapsed() < Duration::from_secs(4),
        "{:?}",
        start.elapsed()
    );
    let e = ApiError::from_status(&err);
    assert_eq!(e.code, ErrorCode::ProviderFailed, "{e}");
    assert!(e.message.contains("timed out"), "{e}");

    assert!(
        lock(&fake).problems.is_empty(),
        "{:?}",
        lock(&fake).problems
    );
    mesh.shutdown().await.expect("clean shutdown");

    // Chosen without credentials: start-up fails naming the key.
    let mut bad = config;
    bad.sms.aliyun_access_key_secret = String::new();
    let err = match Mesh::start(bad).await {
        Ok(_) => panic!("started without a secret"),
        Err(e) => format!("{e:#}"),
    };
    assert!(err.contains("sms.aliyun_access_key_secret"), "{err}");
}
