//! Identity and edge security end to end, through the edge and straight at
//! the services: login, forged tokens, refresh rotation and reuse, logout,
//! voice-sample isolation, rate limits, hostile input and a Redis outage.
//! Each scenario runs on the embedded adapters and on PostgreSQL + Redis.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use scout::mesh::Mesh;
use scout_common::auth::KeyRing;
use scout_common::auth::token::{self, Claims, now_secs};
use scout_common::config::{Config, RateLimit};
use scout_common::testing::{self, TestDatabase};
use scout_common::{ApiError, ErrorCode};
use scout_proto::scout::identity::v1::identity_service_client::IdentityServiceClient;
use scout_proto::scout::identity::v1::{GetMeRequest, LoginRequest, SendCodeRequest};
use scout_proto::scout::render::v1::CapabilitiesRequest;
use scout_proto::scout::render::v1::render_service_client::RenderServiceClient;
use support::*;

/// Which adapters a scenario runs on.
#[derive(Clone, Copy, Debug)]
enum Backend {
    Embedded,
    /// PostgreSQL for the databases, Redis for codes, limits and revocations.
    Production,
}

struct Setup {
    mesh: Mesh,
    dir: tempfile::TempDir,
    _dbs: Vec<TestDatabase>,
}

impl Setup {
    async fn start(backend: Backend, tweak: impl FnOnce(&mut Config)) -> Setup {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = embedded_config(dir.path());
        let mut dbs = Vec::new();
        if let Backend::Production = backend {
            let (a, b, c) = (
                testing::postgres_database(),
                testing::postgres_database(),
                testing::postgres_database(),
            );
            config.identity.database_url = a.url.clone();
            config.tasks.database_url = b.url.clone();
            config.publish.database_url = c.url.clone();
            config.cache = testing::redis_config();
            dbs = vec![a, b, c];
        }
        tweak(&mut config);
        let mesh = Mesh::start(config).await.expect("mesh starts");
        Setup {
            mesh,
            dir,
            _dbs: dbs,
        }
    }

    fn base(&self) -> String {
        self.mesh.edge_url()
    }

    fn data(&self) -> &Path {
        self.dir.path()
    }

    async fn login(&self) -> Tokens {
        login(&self.base(), self.data()).await
    }

    async fn stop(self) {
        self.mesh.shutdown().await.expect("clean shutdown");
    }
}

/// One REST call: status, envelope, headers.
async fn rest(
    method: reqwest::Method,
    url: String,
    token: Option<&str>,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value, reqwest::header::HeaderMap) {
    let mut req = reqwest::Client::new().request(method, url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("send");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.expect("body");
    let json = serde_json::from_str(&text).unwrap_or_else(|_| serde_json::json!({ "raw": text }));
    (status, json, headers)
}

async fn get_me(base: &str, token: &str) -> Result<i64, ApiError> {
    let mut client = IdentityServiceClient::new(authed_channel(base, token));
    client
        .get_me(GetMeRequest {})
        .await
        .map(|r| r.into_inner().user.map(|u| u.id).unwrap_or_default())
        .map_err(|s| ApiError::from_status(&s))
}

// ---------------------------------------------------------------- login

async fn login_flow(backend: Backend) {
    let s = Setup::start(backend, |_| {}).await;
    let base = s.base();
    let phone = random_phone();
    let (status, sent, _) = rest(
        reqwest::Method::POST,
        format!("{base}/api/v1/auth/send-code"),
        None,
        Some(serde_json::json!({ "phone": phone })),
    )
    .await;
    assert_eq!(status, 200, "{sent}");
    assert_eq!(sent["data"]["expires_in"], 300);
    assert_eq!(sent["data"]["resend_after"], 60);
    // A second code within 60 s is refused by identity itself.
    let mut ids = IdentityServiceClient::new(scout_common::grpc::channel(&base).expect("channel"));
    let err = ids
        .send_code(SendCodeRequest {
            phone: phone.clone(),
        })
        .await
        .expect_err("resend too soon");
    assert_eq!(err.code(), tonic::Code::ResourceExhausted);
    assert!(ApiError::from_status(&err).retry_after.is_some());

    let code = read_code(s.data(), &phone).await;
    assert_eq!(code.len(), 6);
    let first = ids
        .login(LoginRequest {
            phone: phone.clone(),
            code: code.clone(),
        })
        .await
        .expect("login")
        .into_inner();
    let user = first.user.clone().expect("user");
    assert!(first.is_new_user);
    assert_eq!(user.nickname, format!("用户{}", &phone[5..]));
    assert_eq!(user.phone, format!("{}****{}", &phone[..3], &phone[7..]));
    assert_eq!(user.membership_type, 1, "free");
    assert_eq!((first.expires_in, first.refresh_expires_in), (900, 604_800));
    assert_eq!(first.token_type, "Bearer");
    // The access token carries seed 000's claims plus jti, iss, aud.
    let payload = first.access_token.split('.').nth(1).expect("payload");
    let claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("b64")).expect("json");
    assert_eq!(claims["sub"], user.id.to_string());
    assert_eq!(claims["phone"], user.phone);
    assert_eq!(claims["membership"], "free");
    assert_eq!(
        claims["exp"].as_i64().expect("exp") - claims["iat"].as_i64().expect("iat"),
        900
    );
    assert!(claims["jti"].as_str().is_some_and(|j| !j.is_empty()));
    // The code was single use.
    let err = ids
        .login(LoginRequest {
            phone: phone.clone(),
            code,
        })
        .await
        .expect_err("used code");
    assert_eq!(ApiError::from_status(&err).code, ErrorCode::SmsCodeExpired);
    // REST GetMe agrees with gRPC.
    let (status, me, _) = rest(
        reqwest::Method::GET,
        format!("{base}/api/v1/users/me"),
        Some(&first.access_token),
        None,
    )
    .await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["data"]["phone"], user.phone);
    assert_eq!(me["data"]["membership_type"], "free");
    assert_eq!(
        get_me(&base, &first.access_token).await.expect("me"),
        user.id
    );
    // Logging in again finds the same user.
    let again = login_as_after_cooldown(&s, &phone).await;
    assert_eq!(again.user_id, user.id);
    s.stop().await;
}

/// Logs in again with a phone whose resend cooldown may still run.
async fn login_as_after_cooldown(s: &Setup, phone: &str) -> Tokens {
    // Clear the cooldowns (identity's and the edge's limit) the way they
    // would clear by themselves after 60 s.
    for key in [
        format!("sms:limit:{phone}"),
        format!("ratelimit:send_code:{phone}"),
    ] {
        s.mesh
            .context()
            .adapters
            .cache
            .delete(&key)
            .await
            .expect("cache");
    }
    login_as(&s.base(), s.data(), phone).await
}

#[tokio::test]
async fn login_embedded() {
    login_flow(Backend::Embedded).await;
}

#[tokio::test]
async fn login_postgres_redis() {
    login_flow(Backend::Production).await;
}

async fn wrong_codes_lock_the_phone(backend: Backend) {
    // Identity's own lock, without the edge's login limit (5/60 s) in front.
    let s = Setup::start(backend, |c| c.edge.rate_limits.login.limit = 100).await;
    let base = s.base();
    let phone = random_phone();
    let mut ids = IdentityServiceClient::new(scout_common::grpc::channel(&base).expect("channel"));
    ids.send_code(SendCodeRequest {
        phone: phone.clone(),
    })
    .await
    .expect("send");
    let right = read_code(s.data(), &phone).await;
    let wrong = if right == "000000" {
        "111111"
    } else {
        "000000"
    };
    for attempt in 1..=5 {
        let err = ids
            .login(LoginRequest {
                phone: phone.clone(),
                code: wrong.into(),
            })
            .await
            .expect_err("wrong code");
        let e = ApiError::from_status(&err);
        if attempt < 5 {
            assert_eq!(e.code, ErrorCode::InvalidSmsCode, "attempt {attempt}: {e}");
            assert!(
                e.message
                    .contains(&format!("{} attempt(s) left", 5 - attempt)),
                "{e}"
            );
        } else {
            assert_eq!(e.code, ErrorCode::PhoneLocked, "{e}");
            assert!(
                e.retry_after
                    .is_some_and(|r| r > Duration::from_secs(14 * 60))
            );
        }
    }
    // Locked: even the right code is refused now, and no new code is sent.
    let err = ids
        .login(LoginRequest {
            phone: phone.clone(),
            code: right,
        })
        .await
        .expect_err("locked");
    assert_eq!(ApiError::from_status(&err).code, ErrorCode::PhoneLocked);
    let (status, body, headers) = rest(
        reqwest::Method::POST,
        format!("{base}/api/v1/auth/login"),
        None,
        Some(serde_json::json!({"phone": phone, "code": "123456"})),
    )
    .await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["code"], ErrorCode::PhoneLocked as i32);
    assert!(headers.contains_key("retry-after"));
    s.stop().await;
}

#[tokio::test]
async fn wrong_codes_lock_the_phone_embedded() {
    wrong_codes_lock_the_phone(Backend::Embedded).await;
}

#[tokio::test]
async fn wrong_codes_lock_the_phone_postgres_redis() {
    wrong_codes_lock_the_phone(Backend::Production).await;
}

// ---------------------------------------------------------------- tokens

fn b64(v: &serde_json::Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).expect("json"))
}

fn claims_for(user_id: i64, config: &Config) -> Claims {
    let now = now_secs();
    Claims {
        sub: user_id.to_string(),
        phone: "139****0000".into(),
        membership: "pro".into(),
        role: String::new(),
        iat: now,
        nbf: now,
        exp: now + 600,
        jti: uuid::Uuid::new_v4().simple().to_string(),
        iss: config.auth.issuer.clone(),
        aud: config.auth.audience.clone(),
    }
}

async fn forged_tokens_are_refused(backend: Backend) {
    let s = Setup::start(backend, |_| {}).await;
    let base = s.base();
    let config = s.mesh.config().clone();
    let me = s.login().await;
    assert!(get_me(&base, &me.access).await.is_ok());
    // What an attacker can see: the JWKS.
    let (_, jwks, _) = rest(
        reqwest::Method::GET,
        format!("{base}/api/v1/auth/jwks"),
        None,
        None,
    )
    .await;
    let jwk = jwks["data"]["keys"][0].clone();
    assert_eq!(jwk["kty"], "OKP");
    assert_eq!(jwk["alg"], "EdDSA");
    let kid = jwk["kid"].as_str().expect("kid").to_string();
    let x = jwk["x"].as_str().expect("x").to_string();
    // The real key (the test owns the data directory) for tokens that are
    // correctly signed but wrong in their claims.
    let real = KeyRing::load(&config.auth, &config.data_dir).expect("real key");
    assert_eq!(real.signing_kid(), kid);
    let other = KeyRing::generate().expect("another key");
    let good = claims_for(me.user_id, &config);
    let signed = |ring: &KeyRing, c: &Claims| token::sign(ring, c).expect("sign");

    let hs256 = |secret: &[u8]| {
        let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        h.kid = Some(kid.clone());
        jsonwebtoken::encode(&h, &good, &jsonwebtoken::EncodingKey::from_secret(secret))
            .expect("hs256")
    };
    let mut tampered = signed(&real, &good);
    {
        let parts: Vec<&str> = tampered.split('.').collect();
        let mut payload: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).expect("b64")).expect("json");
        payload["sub"] = serde_json::json!((me.user_id + 1).to_string());
        tampered = format!("{}.{}.{}", parts[0], b64(&payload), parts[2]);
    }
    let mut other_with_real_kid = {
        let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
        h.kid = Some(kid.clone());
        jsonwebtoken::encode(&h, &good, other.encoding_key()).expect("sign")
    };
    other_with_real_kid.push_str("");
    let revoked = {
        let c = claims_for(me.user_id, &config);
        s.mesh
            .context()
            .adapters
            .cache
            .set(
                &token::blacklist_key(&c.jti),
                b"1",
                Some(Duration::from_secs(600)),
            )
            .await
            .expect("revoke");
        signed(&real, &c)
    };
    let cases: Vec<(&str, String, ErrorCode)> = vec![
        (
            "alg none",
            format!(
                "{}.{}.",
                b64(&serde_json::json!({"alg": "none", "typ": "JWT", "kid": kid})),
                b64(&serde_json::to_value(&good).expect("claims"))
            ),
            ErrorCode::TokenInvalid,
        ),
        (
            "HS256 keyed with the public key (JWK x)",
            hs256(x.as_bytes()),
            ErrorCode::TokenInvalid,
        ),
        (
            "HS256 keyed with the raw public key",
            hs256(&URL_SAFE_NO_PAD.decode(&x).expect("x")),
            ErrorCode::TokenInvalid,
        ),
        (
            "another key",
            signed(&other, &good),
            ErrorCode::TokenInvalid,
        ),
        (
            "another key claiming the real kid",
            other_with_real_kid,
            ErrorCode::TokenInvalid,
        ),
        (
            "expired",
            signed(
                &real,
                &Claims {
                    iat: now_secs() - 3600,
                    nbf: now_secs() - 3600,
                    exp: now_secs() - 1800,
                    ..good.clone()
                },
            ),
            ErrorCode::TokenExpired,
        ),
        (
            "not yet valid",
            signed(
                &real,
                &Claims {
                    nbf: now_secs() + 3600,
                    exp: now_secs() + 7200,
                    ..good.clone()
                },
            ),
            ErrorCode::TokenInvalid,
        ),
        ("tampered payload", tampered, ErrorCode::TokenInvalid),
        (
            "wrong issuer",
            signed(
                &real,
                &Claims {
                    iss: "someone-else".into(),
                    ..good.clone()
                },
            ),
            ErrorCode::TokenInvalid,
        ),
        (
            "wrong audience",
            signed(
                &real,
                &Claims {
                    aud: "another-api".into(),
                    ..good.clone()
                },
            ),
            ErrorCode::TokenInvalid,
        ),
        ("revoked jti", revoked, ErrorCode::TokenRevoked),
        ("garbage", "not.a.jwt".into(), ErrorCode::TokenInvalid),
    ];
    // Control: the same claims, correctly signed, are accepted everywhere.
    let control = signed(&real, &good);
    assert_eq!(get_me(&base, &control).await.expect("control"), me.user_id);

    let render_direct = s.mesh.service_url(scout_common::ServiceName::Render);
    for (name, forged, expected) in cases {
        // Through the edge, gRPC.
        let e = get_me(&base, &forged).await.expect_err(name);
        assert_eq!(e.code, expected, "{name} (edge gRPC): {e}");
        // Through the edge, REST.
        let (status, body, _) = rest(
            reqwest::Method::GET,
            format!("{base}/api/v1/users/me"),
            Some(&forged),
            None,
        )
        .await;
        assert_eq!(status, 401, "{name} (REST): {body}");
        assert_eq!(body["code"], expected as i32, "{name} (REST): {body}");
        // Straight at a service, past the edge.
        let mut render = RenderServiceClient::new(authed_channel(&render_direct, &forged));
        let status = render
            .capabilities(CapabilitiesRequest {})
            .await
            .expect_err(name);
        assert_eq!(
            status.code(),
            tonic::Code::Unauthenticated,
            "{name} (render direct): {status:?}"
        );
    }
    s.stop().await;
}

#[tokio::test]
async fn forged_tokens_are_refused_embedded() {
    forged_tokens_are_refused(Backend::Embedded).await;
}

#[tokio::test]
async fn forged_tokens_are_refused_postgres_redis() {
    forged_tokens_are_refused(Backend::Production).await;
}

#[tokio::test]
async fn services_refuse_calls_without_a_valid_credential_whatever_headers_they_carry() {
    let s = Setup::start(Backend::Embedded, |_| {}).await;
    let me = s.login().await;
    for name in ["identity", "tasks", "render", "publish"] {
        let url = s.mesh.service_url(name.parse().expect("a service"));
        let path = match name {
            "identity" => "/scout.identity.v1.IdentityService/GetMe",
            "tasks" => "/scout.tasks.v1.TasksService/ListTasks",
            "render" => "/scout.render.v1.RenderService/Capabilities",
            _ => "/scout.publish.v1.PublishService/ListPublications",
        };
        let h2 = reqwest::Client::builder()
            .http2_prior_knowledge()
            .build()
            .expect("client");
        for (header, value) in [
            ("x-user-id", "1".to_string()),
            ("x-scout-user", me.user_id.to_string()),
            ("authorization", "Bearer forged".to_string()),
            ("authorization", me.access.replace('.', "")),
            ("x-scout-service-token", "guess".to_string()),
        ] {
            let resp = h2
                .post(format!("{url}{path}"))
                .header("content-type", "application/grpc")
                .header("te", "trailers")
                .header(header, value)
                .body(grpc_frame(&[]))
                .send()
                .await
                .expect("answer");
            let status = resp
                .headers()
                .get("grpc-status")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<i32>().ok());
            assert_eq!(
                status,
                Some(tonic::Code::Unauthenticated as i32),
                "{name} accepted {header}"
            );
        }
    }
    // Internal RPCs need the service credential: a user token is not enough.
    let identity = s.mesh.service_url(scout_common::ServiceName::Identity);
    let mut internal = scout_proto::scout::identity::v1::identity_internal_service_client::IdentityInternalServiceClient::new(
        authed_channel(&identity, &me.access),
    );
    let status = internal
        .get_voice_sample(scout_proto::scout::identity::v1::GetVoiceSampleRequest {
            user_id: me.user_id,
            sample_id: 1,
        })
        .await
        .expect_err("user token on an internal RPC");
    assert_eq!(status.code(), tonic::Code::Unauthenticated);
    // The mesh's own credential passes (and finds nothing).
    let mut internal = scout_proto::scout::identity::v1::identity_internal_service_client::IdentityInternalServiceClient::new(
        s.mesh.context().auth.internal_channel(scout_common::grpc::channel(&identity).expect("channel")),
    );
    let status = internal
        .get_voice_sample(scout_proto::scout::identity::v1::GetVoiceSampleRequest {
            user_id: me.user_id,
            sample_id: 1,
        })
        .await
        .expect_err("no such sample");
    assert_eq!(status.code(), tonic::Code::NotFound);
    s.stop().await;
}

#[tokio::test]
async fn a_second_key_verifies_during_rotation() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The next key, published before it signs.
    let next_path = dir.path().join("next.pem");
    let next_seed: [u8; 32] = rand_seed();
    let next = ed25519_pem(&next_seed);
    std::fs::write(&next_path, next).expect("write key");
    let s = Setup::start(Backend::Embedded, |c| {
        c.auth.verify_key_files = vec![next_path.clone()];
    })
    .await;
    let me = s.login().await;
    let (_, jwks, _) = rest(
        reqwest::Method::GET,
        format!("{}/api/v1/auth/jwks", s.base()),
        None,
        None,
    )
    .await;
    let keys = jwks["data"]["keys"].as_array().expect("keys");
    assert_eq!(keys.len(), 2, "{jwks}");
    // A token signed with the next key already verifies everywhere.
    let config = s.mesh.config().clone();
    let next_ring = KeyRing::load(
        &scout_common::config::AuthConfig {
            signing_key_file: next_path,
            ..config.auth.clone()
        },
        &config.data_dir,
    )
    .expect("next ring");
    assert_ne!(next_ring.signing_kid(), keys[0]["kid"]);
    let token = token::sign(&next_ring, &claims_for(me.user_id, &config)).expect("sign");
    assert_eq!(
        get_me(&s.base(), &token).await.expect("next key"),
        me.user_id
    );
    let mut render = RenderServiceClient::new(authed_channel(
        &s.mesh.service_url(scout_common::ServiceName::Render),
        &token,
    ));
    render
        .capabilities(CapabilitiesRequest {})
        .await
        .expect("render verifies the next key");
    s.stop().await;
}

fn rand_seed() -> [u8; 32] {
    let a = uuid::Uuid::new_v4().into_bytes();
    let b = uuid::Uuid::new_v4().into_bytes();
    let mut out = [0u8; 32];
    out[..16].copy_from_slice(&a);
    out[16..].copy_from_slice(&b);
    out
}

/// PKCS#8 PEM of an Ed25519 seed (RFC 8410 layout).
fn ed25519_pem(seed: &[u8; 32]) -> String {
    let mut der = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    der.extend_from_slice(seed);
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    format!("-----BEGIN PRIVATE KEY-----\n{b64}\n-----END PRIVATE KEY-----\n")
}

async fn refresh_rotation_and_reuse(backend: Backend) {
    let s = Setup::start(backend, |_| {}).await;
    let base = s.base();
    let me = s.login().await;
    let refresh = |t: String| {
        let base = base.clone();
        async move {
            rest(
                reqwest::Method::POST,
                format!("{base}/api/v1/auth/refresh"),
                None,
                Some(serde_json::json!({ "refresh_token": t })),
            )
            .await
        }
    };
    let (status, first, _) = refresh(me.refresh.clone()).await;
    assert_eq!(status, 200, "{first}");
    let r2 = first["data"]["refresh_token"]
        .as_str()
        .expect("r2")
        .to_string();
    let a2 = first["data"]["access_token"]
        .as_str()
        .expect("a2")
        .to_string();
    assert_ne!(r2, me.refresh, "rotated");
    assert_eq!(get_me(&base, &a2).await.expect("new access"), me.user_id);
    // The old token again at once, its answer "lost" (a reload mid-refresh):
    // a retry within the grace period gets the next token; the one whose
    // answer was lost is dead.
    let (status, retried, _) = refresh(me.refresh.clone()).await;
    assert_eq!(status, 200, "{retried}");
    let (status, body, _) = refresh(r2.clone()).await;
    assert_eq!(status, 401, "the lost answer's token: {body}");
    let r2 = retried["data"]["refresh_token"]
        .as_str()
        .expect("r2 again")
        .to_string();
    // Once the successor is used, the old token is plain reuse.
    let (status, third, _) = refresh(r2.clone()).await;
    assert_eq!(status, 200, "{third}");
    let r2 = third["data"]["refresh_token"]
        .as_str()
        .expect("r3")
        .to_string();
    // The old refresh token again: reuse. Refused, and the family revoked.
    let (status, body, _) = refresh(me.refresh.clone()).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["code"], ErrorCode::TokenRevoked as i32, "{body}");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("already used"))
    );
    // ... so the token the first refresh handed out is dead too.
    let (status, body, _) = refresh(r2).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["code"], ErrorCode::TokenRevoked as i32, "{body}");
    // Another login (another family) is unaffected.
    let other = login_as_after_cooldown(&s, &me.phone).await;
    let (status, _, _) = refresh(other.refresh).await;
    assert_eq!(status, 200);
    // Unknown and malformed refresh tokens.
    let (status, body, _) = refresh("x".repeat(10_000)).await;
    assert_eq!(
        (status, body["code"].clone()),
        (401, serde_json::json!(ErrorCode::TokenInvalid as i32))
    );
    let (status, body, _) = refresh(String::new()).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["code"], ErrorCode::TokenMissing as i32);
    s.stop().await;
}

#[tokio::test]
async fn refresh_rotation_and_reuse_embedded() {
    refresh_rotation_and_reuse(Backend::Embedded).await;
}

#[tokio::test]
async fn refresh_rotation_and_reuse_postgres_redis() {
    refresh_rotation_and_reuse(Backend::Production).await;
}

async fn logout_revokes_access_and_refresh(backend: Backend) {
    let s = Setup::start(backend, |_| {}).await;
    let base = s.base();
    let me = s.login().await;
    let (status, body, _) = rest(
        reqwest::Method::POST,
        format!("{base}/api/v1/auth/logout"),
        Some(&me.access),
        Some(serde_json::json!({ "refresh_token": me.refresh })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let e = get_me(&base, &me.access).await.expect_err("revoked");
    assert_eq!(e.code, ErrorCode::TokenRevoked);
    // Revoked at the services too, not only at the edge.
    let mut render = RenderServiceClient::new(authed_channel(
        &s.mesh.service_url(scout_common::ServiceName::Render),
        &me.access,
    ));
    assert_eq!(
        render
            .capabilities(CapabilitiesRequest {})
            .await
            .expect_err("revoked")
            .code(),
        tonic::Code::Unauthenticated
    );
    let (status, body, _) = rest(
        reqwest::Method::POST,
        format!("{base}/api/v1/auth/refresh"),
        None,
        Some(serde_json::json!({ "refresh_token": me.refresh })),
    )
    .await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["code"], ErrorCode::TokenRevoked as i32);
    // The revocation is in the cache under seed 000's key, expiring with the token.
    let claims: serde_json::Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(me.access.split('.').nth(1).expect("payload"))
            .expect("b64"),
    )
    .expect("json");
    let jti = claims["jti"].as_str().expect("jti");
    let ttl = s
        .mesh
        .context()
        .adapters
        .cache
        .ttl(&format!("token:blacklist:{jti}"))
        .await
        .expect("cache")
        .expect("has a ttl");
    assert!(ttl <= Duration::from_secs(900 + 10), "{ttl:?}");
    s.stop().await;
}

#[tokio::test]
async fn logout_revokes_access_and_refresh_embedded() {
    logout_revokes_access_and_refresh(Backend::Embedded).await;
}

#[tokio::test]
async fn logout_revokes_access_and_refresh_postgres_redis() {
    logout_revokes_access_and_refresh(Backend::Production).await;
}

// ---------------------------------------------------------------- hostile input

async fn hostile_input_is_refused_or_kept_verbatim(backend: Backend) {
    let s = Setup::start(backend, |_| {}).await;
    let base = s.base();
    let huge = "9".repeat(10 * 1024);
    for phone in [
        "13800138000'; DROP TABLE users;--",
        "1380013800😀",
        "\u{202e}13800138000",
        "١٣٨٠٠١٣٨٠٠٠",
        huge.as_str(),
        "",
    ] {
        for (path, body) in [
            ("send-code", serde_json::json!({ "phone": phone })),
            (
                "login",
                serde_json::json!({ "phone": phone, "code": "123456" }),
            ),
        ] {
            let (status, body, _) = rest(
                reqwest::Method::POST,
                format!("{base}/api/v1/auth/{path}"),
                None,
                Some(body),
            )
            .await;
            assert_eq!(status, 400, "{path} {phone:.40}: {body}");
            assert_eq!(body["code"], ErrorCode::InvalidPhone as i32);
            assert_eq!(body["details"]["field"], "phone", "{body}");
            assert!(!body.to_string().contains(&huge), "echoed the input");
        }
    }
    let phone = random_phone();
    for code in ["12345' OR '1'='1", "12345😀", "1234567", &huge, "١٢٣٤٥٦"] {
        let (status, body, _) = rest(
            reqwest::Method::POST,
            format!("{base}/api/v1/auth/login"),
            None,
            Some(serde_json::json!({ "phone": phone, "code": code })),
        )
        .await;
        assert_eq!(status, 400, "{code:.40}: {body}");
        assert_eq!(body["code"], ErrorCode::InvalidSmsCode as i32);
        assert_eq!(body["details"]["field"], "code");
    }
    // Nicknames: stored exactly as given, never executed.
    let me = s.login().await;
    for nickname in [
        "Robert'); DROP TABLE users;--",
        "探店达人🍲🔥",
        "\u{202e}مرحبا بالعالم",
        "\"quoted\" \\ back",
    ] {
        let (status, body, _) = rest(
            reqwest::Method::PATCH,
            format!("{base}/api/v1/users/me"),
            Some(&me.access),
            Some(serde_json::json!({ "nickname": nickname })),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let (_, me_body, _) = rest(
            reqwest::Method::GET,
            format!("{base}/api/v1/users/me"),
            Some(&me.access),
            None,
        )
        .await;
        assert_eq!(me_body["data"]["nickname"], nickname);
    }
    for (nickname, needle) in [
        (huge.as_str(), "at most 30"),
        ("", "empty"),
        ("a\u{0}b", "control"),
    ] {
        let (status, body, _) = rest(
            reqwest::Method::PATCH,
            format!("{base}/api/v1/users/me"),
            Some(&me.access),
            Some(serde_json::json!({ "nickname": nickname })),
        )
        .await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["details"]["field"], "nickname", "{body}");
        assert!(
            body["message"].as_str().is_some_and(|m| m.contains(needle)),
            "{body}"
        );
    }
    // The users table is intact: the user still logs in.
    assert_eq!(get_me(&base, &me.access).await.expect("me"), me.user_id);
    s.stop().await;
}

#[tokio::test]
async fn hostile_input_embedded() {
    hostile_input_is_refused_or_kept_verbatim(Backend::Embedded).await;
}

#[tokio::test]
async fn hostile_input_postgres_redis() {
    hostile_input_is_refused_or_kept_verbatim(Backend::Production).await;
}

// ---------------------------------------------------------------- rate limits

fn tight(c: &mut Config) {
    let w = Duration::from_secs(3);
    let rl = &mut c.edge.rate_limits;
    rl.send_code = RateLimit {
        limit: 1,
        window: w,
    };
    rl.login = RateLimit {
        limit: 5,
        window: w,
    };
    rl.create_task = RateLimit {
        limit: 10,
        window: w,
    };
    rl.regenerate = RateLimit {
        limit: 5,
        window: w,
    };
    rl.default = RateLimit {
        limit: 100,
        window: w,
    };
    rl.per_ip = RateLimit {
        limit: 10_000,
        window: w,
    };
    // Identity's own rules must not trip first.
    c.sms.resend_interval = Duration::from_millis(10);
    c.sms.max_failures = 1000;
}

/// Calls `f` until the first RESOURCE_EXHAUSTED; returns how many passed.
async fn count_until_limited<F, Fut>(max: usize, mut f: F) -> (usize, Option<ApiError>)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), ApiError>>,
{
    for i in 0..max {
        match f().await {
            Err(e) if e.code == ErrorCode::RateLimited => return (i, Some(e)),
            _ => {}
        }
    }
    (max, None)
}

async fn wait_window() {
    tokio::time::sleep(Duration::from_millis(3100)).await;
}

async fn rate_limits_trip_and_reset(backend: Backend) {
    use scout_proto::scout::tasks::v1::tasks_service_client::TasksServiceClient;
    use scout_proto::scout::tasks::v1::{CreateTaskRequest, RegenerateScriptRequest};
    let s = Setup::start(backend, tight).await;
    let base = s.base();
    let me = s.login().await;
    let anon = scout_common::grpc::channel(&base).expect("channel");

    // send-code: 1 per window per phone.
    let phone = random_phone();
    let send = |p: String| {
        let mut ids = IdentityServiceClient::new(anon.clone());
        async move {
            ids.send_code(SendCodeRequest { phone: p })
                .await
                .map(|_| ())
                .map_err(|s| ApiError::from_status(&s))
        }
    };
    let (passed, err) = count_until_limited(5, || send(phone.clone())).await;
    assert_eq!(passed, 1, "send-code");
    let err = err.expect("limited");
    assert_eq!(
        err.metadata.get("limit").map(String::as_str),
        Some("send_code")
    );
    assert!(err.retry_after.is_some_and(|r| r <= Duration::from_secs(3)));
    send(random_phone())
        .await
        .expect("another phone is not limited");
    // REST says the same: 429, code 42900, Retry-After.
    let (status, body, headers) = rest(
        reqwest::Method::POST,
        format!("{base}/api/v1/auth/send-code"),
        None,
        Some(serde_json::json!({ "phone": phone })),
    )
    .await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["code"], 42900);
    assert!(headers.contains_key("retry-after"));
    wait_window().await;
    send(phone.clone()).await.expect("window reset");

    // login: 5 per window per phone (wrong codes answer, then the limit).
    let try_login = |p: String| {
        let mut ids = IdentityServiceClient::new(anon.clone());
        async move {
            ids.login(LoginRequest {
                phone: p,
                code: "000000".into(),
            })
            .await
            .map(|_| ())
            .map_err(|s| ApiError::from_status(&s))
        }
    };
    let login_phone = random_phone();
    let (passed, err) = count_until_limited(10, || try_login(login_phone.clone())).await;
    assert_eq!(passed, 5, "login");
    assert_eq!(err.expect("limited").metadata["limit"], "login");
    wait_window().await;
    let after = try_login(login_phone.clone())
        .await
        .expect_err("wrong code");
    assert_ne!(after.code, ErrorCode::RateLimited, "login window reset");

    // create task: 10 per window per user.
    let tasks = TasksServiceClient::new(authed_channel(&base, &me.access));
    let mut create = || {
        let mut t = tasks.clone();
        async move {
            t.create_task(CreateTaskRequest {
                shop_name: "限流测试".into(),
                shop_type: 1,
                ..Default::default()
            })
            .await
            .map(|_| ())
            .map_err(|s| ApiError::from_status(&s))
        }
    };
    let (passed, err) = count_until_limited(15, &mut create).await;
    assert_eq!(passed, 10, "create task");
    assert_eq!(err.expect("limited").metadata["limit"], "create_task");
    let other = login_as(&base, s.data(), &random_phone()).await;
    let mut other_tasks = TasksServiceClient::new(authed_channel(&base, &other.access));
    let e = other_tasks
        .create_task(CreateTaskRequest::default())
        .await
        .map(|_| ())
        .map_err(|s| ApiError::from_status(&s));
    assert!(
        !matches!(&e, Err(e) if e.code == ErrorCode::RateLimited),
        "another user is not limited: {e:?}"
    );
    wait_window().await;
    let e = create().await;
    assert!(
        !matches!(&e, Err(e) if e.code == ErrorCode::RateLimited),
        "{e:?}"
    );

    // regenerate: 5 per window per task.
    let regen = |task_id: i64| {
        let mut t = tasks.clone();
        async move {
            t.regenerate_script(RegenerateScriptRequest { task_id })
                .await
                .map(|_| ())
                .map_err(|s| ApiError::from_status(&s))
        }
    };
    let (passed, err) = count_until_limited(10, || regen(41)).await;
    assert_eq!(passed, 5, "regenerate");
    assert_eq!(err.expect("limited").metadata["limit"], "regenerate");
    let e = regen(42).await;
    assert!(
        !matches!(&e, Err(e) if e.code == ErrorCode::RateLimited),
        "another task: {e:?}"
    );
    wait_window().await;
    let e = regen(41).await;
    assert!(
        !matches!(&e, Err(e) if e.code == ErrorCode::RateLimited),
        "{e:?}"
    );
    s.stop().await;
}

#[tokio::test]
async fn rate_limits_trip_and_reset_embedded() {
    rate_limits_trip_and_reset(Backend::Embedded).await;
}

#[tokio::test]
async fn rate_limits_trip_and_reset_postgres_redis() {
    rate_limits_trip_and_reset(Backend::Production).await;
}

async fn default_and_per_ip_limits(backend: Backend) {
    let s = Setup::start(backend, |c| {
        tight(c);
        c.edge.rate_limits.default = RateLimit {
            limit: 4,
            window: Duration::from_secs(3),
        };
        c.edge.rate_limits.per_ip = RateLimit {
            limit: 30,
            window: Duration::from_secs(3),
        };
    })
    .await;
    let base = s.base();
    let a = s.login().await;
    let b = s.login().await;
    wait_window().await;
    // Default: per user.
    let (passed, err) =
        count_until_limited(10, || async { get_me(&base, &a.access).await.map(|_| ()) }).await;
    assert_eq!(passed, 4, "default per user");
    assert_eq!(err.expect("limited").metadata["limit"], "default");
    get_me(&base, &b.access)
        .await
        .expect("user b has a budget of its own");
    wait_window().await;
    get_me(&base, &a.access).await.expect("window reset");
    wait_window().await;

    // Per IP: spoofed X-Forwarded-For from an untrusted peer changes nothing.
    let http = reqwest::Client::new();
    let mut passed = 0;
    let mut limited = None;
    for i in 0..60 {
        let resp = http
            .get(format!("{base}/api/v1/auth/jwks"))
            .header("x-forwarded-for", format!("198.51.100.{i}"))
            .send()
            .await
            .expect("send");
        if resp.status().as_u16() == 429 {
            limited = Some(resp.json::<serde_json::Value>().await.expect("json"));
            break;
        }
        passed += 1;
    }
    assert_eq!(passed, 30, "per-IP limit with spoofed X-Forwarded-For");
    let limited = limited.expect("limited");
    assert_eq!(limited["code"], 42900);
    assert_eq!(limited["details"]["limit"], "ip");
    wait_window().await;
    s.stop().await;

    // Behind a trusted proxy, X-Forwarded-For names the client.
    let s = Setup::start(backend, |c| {
        tight(c);
        c.edge.rate_limits.per_ip = RateLimit {
            limit: 3,
            window: Duration::from_secs(3),
        };
        c.edge.trusted_proxies = vec!["127.0.0.0/8".into()];
    })
    .await;
    let base = s.base();
    for client in ["203.0.113.1", "203.0.113.2"] {
        for i in 0..4 {
            let resp = http
                .get(format!("{base}/api/v1/auth/jwks"))
                .header("x-forwarded-for", format!("10.9.9.9, {client}"))
                .send()
                .await
                .expect("send");
            let limited = resp.status().as_u16() == 429;
            assert_eq!(limited, i == 3, "{client} call {i}");
        }
    }
    s.stop().await;
}

#[tokio::test]
async fn default_and_per_ip_limits_embedded() {
    default_and_per_ip_limits(Backend::Embedded).await;
}

#[tokio::test]
async fn default_and_per_ip_limits_postgres_redis() {
    default_and_per_ip_limits(Backend::Production).await;
}

// ---------------------------------------------------------------- Redis outage

/// A private Redis for this test, so stopping it harms no one else.
struct OwnRedis {
    child: std::process::Child,
    port: u16,
}

impl OwnRedis {
    fn start(port: u16) -> OwnRedis {
        let child = std::process::Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server runs (scripts/install.sh --test installs it)");
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "redis did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        OwnRedis { child, port }
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

#[tokio::test]
async fn redis_down_login_fails_closed_fast_and_issued_tokens_keep_working() {
    let port = free_port();
    let mut redis = OwnRedis::start(port);
    let s = Setup::start(Backend::Embedded, |c| {
        c.cache = scout_common::config::CacheConfig {
            backend: scout_common::config::CacheBackend::Redis,
            url: format!("redis://127.0.0.1:{}", redis.port),
            ..Default::default()
        };
    })
    .await;
    let base = s.base();
    let me = s.login().await;
    redis.stop();

    // Login needs the code store: UNAVAILABLE, clearly, within a second.
    let mut ids = IdentityServiceClient::new(scout_common::grpc::channel(&base).expect("channel"));
    for attempt in 0..2 {
        let start = Instant::now();
        let err = ids
            .send_code(SendCodeRequest {
                phone: random_phone(),
            })
            .await
            .expect_err("no cache");
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "send-code took {:?}",
            start.elapsed()
        );
        assert_eq!(err.code(), tonic::Code::Unavailable, "{err:?}");
        assert!(err.message().contains("code store"), "{}", err.message());
        let start = Instant::now();
        let err = ids
            .login(LoginRequest {
                phone: me.phone.clone(),
                code: "123456".into(),
            })
            .await
            .expect_err("no cache");
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "login {attempt} took {:?}",
            start.elapsed()
        );
        assert_eq!(err.code(), tonic::Code::Unavailable);
    }
    let (status, body, _) = rest(
        reqwest::Method::POST,
        format!("{base}/api/v1/auth/send-code"),
        None,
        Some(serde_json::json!({ "phone": random_phone() })),
    )
    .await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["code"], ErrorCode::ServiceUnavailable as i32);

    // Issued tokens keep verifying (signature and expiry need no cache).
    let start = Instant::now();
    assert_eq!(
        get_me(&base, &me.access).await.expect("still valid"),
        me.user_id
    );
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );

    // Redis back: login works again, nothing lost.
    let _redis = OwnRedis::start(port);
    let start = Instant::now();
    loop {
        let phone = random_phone();
        let sent = ids
            .send_code(SendCodeRequest {
                phone: phone.clone(),
            })
            .await;
        if sent.is_ok() {
            let code = read_code(s.data(), &phone).await;
            ids.login(LoginRequest { phone, code })
                .await
                .expect("login again");
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "login did not recover: {sent:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    s.stop().await;
}
