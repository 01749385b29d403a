//! Cloned voices end to end: a user records a sample (with consent), render's
//! clone worker trains a speaker with Seed-ICL and identity records it on the
//! sample; a task composed with that sample speaks through Seed-TTS's clone
//! cluster with the trained speaker. The vendor is a local server speaking
//! Volcengine's wire format (`/api/v1/mega_tts/audio/upload`,
//! `/api/v1/mega_tts/status`, `/api/v1/tts`), with its refusals, its training
//! failures, its rate limit and its outages; the jobs keep seed 000's policy
//! (retries, then the dead-letter topic with the sample showing why).

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse as _;
use base64::Engine as _;
use scout::mesh::Mesh;
use scout_common::config::Config;
use scout_common::{ApiError, ErrorCode};
use scout_proto::scout::identity::v1::identity_service_client::IdentityServiceClient;
use scout_proto::scout::identity::v1::{
    CreateVoiceSampleRequest, ListVoiceSamplesRequest, VoiceSample, VoiceSampleStatus,
};
use scout_proto::scout::tasks::v1::tasks_service_client::TasksServiceClient;
use scout_proto::scout::tasks::v1::{StartComposeRequest, TaskStatus};
use support::*;

/// How the fake vendor trains.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Training {
    /// Ready after this many status queries.
    ReadyAfter(u32),
    /// Fails after one status query, with the vendor's message.
    Fails,
    /// Stays in training.
    Never,
}

#[derive(Default)]
struct Vendor {
    training: Option<Training>,
    /// Requests answered 429 before any is served.
    throttle: u32,
    /// Every request answered 500 while set.
    down: bool,
    /// speaker id → (status, queries since upload).
    speakers: HashMap<String, (i64, u32)>,
    uploads: Vec<(String, usize)>,
    status_queries: u32,
    /// (cluster, voice_type, text) of every synthesis.
    spoken: Vec<(String, String, String)>,
    refusals: Vec<String>,
}

type Fake = Arc<Mutex<Vendor>>;

fn lock(fake: &Fake) -> std::sync::MutexGuard<'_, Vendor> {
    fake.lock().unwrap_or_else(|p| p.into_inner())
}

fn base_resp(code: i64, message: &str) -> serde_json::Value {
    serde_json::json!({"StatusCode": code, "StatusMessage": message})
}

/// Shared checks of a clone request: the documented headers.
fn refused(v: &mut Vendor, headers: &HeaderMap) -> Option<axum::response::Response> {
    if v.down {
        return Some((StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response());
    }
    if v.throttle > 0 {
        v.throttle -= 1;
        return Some(
            (
                StatusCode::TOO_MANY_REQUESTS,
                axum::Json(serde_json::json!({"BaseResp": base_resp(429, "QPS limit exceeded")})),
            )
                .into_response(),
        );
    }
    let auth = headers.get("authorization").and_then(|h| h.to_str().ok());
    let resource = headers.get("resource-id").and_then(|h| h.to_str().ok());
    if auth != Some("Bearer;token") || resource != Some("volc.megatts.voiceclone") {
        v.refusals.push(format!("{auth:?} {resource:?}"));
        return Some((StatusCode::UNAUTHORIZED, "bad credentials").into_response());
    }
    None
}

async fn upload(
    axum::extract::State(fake): axum::extract::State<Fake>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<serde_json::Value>,
) -> axum::response::Response {
    let mut v = lock(&fake);
    if let Some(r) = refused(&mut v, &headers) {
        return r;
    }
    let speaker = body["speaker_id"].as_str().unwrap_or_default().to_string();
    let audio = body["audios"][0]["audio_bytes"]
        .as_str()
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .unwrap_or_default();
    let well_formed = body["appid"] == "app"
        && body["source"] == 2
        && body["audios"][0]["audio_format"] == "wav"
        && audio.starts_with(b"RIFF")
        && speaker.len() >= 8
        && speaker.chars().all(|c| c.is_ascii_alphanumeric());
    if !well_formed {
        v.refusals.push(format!("malformed upload for {speaker:?}"));
        return axum::Json(serde_json::json!({
            "BaseResp": base_resp(1001, "BadRequestError: invalid parameters"),
            "speaker_id": speaker,
        }))
        .into_response();
    }
    v.uploads.push((speaker.clone(), audio.len()));
    v.speakers.insert(speaker.clone(), (1, 0));
    axum::Json(serde_json::json!({"BaseResp": base_resp(0, ""), "speaker_id": speaker}))
        .into_response()
}

async fn status(
    axum::extract::State(fake): axum::extract::State<Fake>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<serde_json::Value>,
) -> axum::response::Response {
    let mut v = lock(&fake);
    if let Some(r) = refused(&mut v, &headers) {
        return r;
    }
    v.status_queries += 1;
    let speaker = body["speaker_id"].as_str().unwrap_or_default().to_string();
    let training = v.training.unwrap_or(Training::ReadyAfter(1));
    let (status, message) = match v.speakers.get_mut(&speaker) {
        None => (0, ""),
        Some(s) => {
            s.1 += 1;
            s.0 = match (s.0, training) {
                (1, Training::ReadyAfter(n)) if s.1 >= n => 2,
                (1, Training::Fails) => 3,
                (state, _) => state,
            };
            (
                s.0,
                if s.0 == 3 {
                    "SNRError: the recording is too noisy to train a voice"
                } else {
                    ""
                },
            )
        }
    };
    axum::Json(serde_json::json!({
        "BaseResp": base_resp(0, message), "speaker_id": speaker, "status": status,
        "create_time": 1_733_300_000_000i64, "version": "V1",
    }))
    .into_response()
}

/// Seed-TTS's `/api/v1/tts`: cloned speakers only once trained.
async fn tts(
    axum::extract::State(fake): axum::extract::State<Fake>,
    axum::Json(body): axum::Json<serde_json::Value>,
) -> axum::response::Response {
    let mut v = lock(&fake);
    let cluster = body["app"]["cluster"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let voice = body["audio"]["voice_type"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if cluster == "volcano_icl" && v.speakers.get(&voice).map(|s| s.0) != Some(2) {
        return axum::Json(serde_json::json!({
            "reqid": body["request"]["reqid"], "code": 3050, "message": "voice_type not found",
        }))
        .into_response();
    }
    let text = body["request"]["text"].as_str().unwrap_or_default();
    v.spoken.push((cluster, voice, text.to_string()));
    let seconds = 0.15 * text.chars().count() as f64;
    let data = base64::engine::general_purpose::STANDARD.encode(wav_tone(24_000, seconds, 330.0));
    axum::Json(serde_json::json!({
        "reqid": body["request"]["reqid"], "code": 3000, "operation": "query",
        "message": "Success", "sequence": -1, "data": data,
    }))
    .into_response()
}

/// The fake vendor on loopback; the embedded config speaking through it.
async fn with_vendor(fake: &Fake, dir: &std::path::Path) -> Config {
    let vendor = axum::Router::new()
        .route("/api/v1/tts", axum::routing::post(tts))
        .route("/api/v1/mega_tts/audio/upload", axum::routing::post(upload))
        .route("/api/v1/mega_tts/status", axum::routing::post(status))
        .with_state(fake.clone());
    let mut config = speaking_through(vendor, dir).await;
    config.voice.clone_poll_interval = Duration::from_millis(50);
    config.voice.max_retries = 3;
    config.bus.clone_retry_delays = vec![Duration::from_millis(200); 3];
    config
}

type Ids = UserIdentity;

/// Uploads `bytes` as a WAV sample and confirms it.
async fn sample(
    ids: &mut Ids,
    bytes: Vec<u8>,
    consent: bool,
) -> Result<VoiceSample, tonic::Status> {
    let oss_key = upload_voice_sample(ids, bytes, "audio/wav").await;
    ids.create_voice_sample(CreateVoiceSampleRequest {
        oss_key,
        name: "我的声音".into(),
        consent,
    })
    .await
    .map(|r| r.into_inner().sample.expect("sample"))
}

/// The mesh on `config` (no vision worker), a signed-in user, the edge's
/// address and the user's identity client.
async fn signed_in(config: Config, dir: &std::path::Path) -> (Mesh, Tokens, String, Ids) {
    let mesh = mesh_without_vision(config).await;
    let base = mesh.edge_url();
    let me = login(&base, dir).await;
    let ids = IdentityServiceClient::new(authed_channel(&base, &me.access));
    (mesh, me, base, ids)
}

/// Waits until sample `id` leaves processing.
async fn settled(ids: &mut Ids, id: i64, limit: Duration) -> VoiceSample {
    let start = Instant::now();
    loop {
        let s = ids
            .list_voice_samples(ListVoiceSamplesRequest {})
            .await
            .expect("list")
            .into_inner()
            .items
            .into_iter()
            .find(|s| s.id == id)
            .expect("the sample");
        if s.status != VoiceSampleStatus::Processing as i32 {
            return s;
        }
        assert!(
            start.elapsed() < limit,
            "sample {id} still processing after {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_sample_is_cloned_and_a_task_speaks_with_it() {
    cloned_and_spoken(false).await;
}

#[tokio::test]
async fn a_sample_is_cloned_on_postgres_redis_kafka_s3() {
    cloned_and_spoken(true).await;
}

async fn cloned_and_spoken(production: bool) {
    let dir = tempfile::tempdir().expect("tempdir");
    let files = tempfile::tempdir().expect("files");
    let fake = Fake::default();
    {
        let mut v = lock(&fake);
        v.training = Some(Training::ReadyAfter(3));
        // The vendor throttles the first requests: retried with backoff.
        v.throttle = 2;
    }
    let mut config = with_vendor(&fake, dir.path()).await;
    let mut _dbs = Vec::new();
    if production {
        for url in [
            &mut config.identity.database_url,
            &mut config.tasks.database_url,
        ] {
            let db = scout_common::testing::postgres_database();
            *url = db.url.clone();
            _dbs.push(db);
        }
        config.cache = scout_common::testing::redis_config();
        config.bus = scout_common::testing::kafka_config();
        config.bus.clone_retry_delays = vec![Duration::from_millis(200); 3];
        config.blobs = scout_common::testing::s3_config();
    }
    let (mesh, me, base, mut ids) = signed_in(config, dir.path()).await;

    let created = sample(&mut ids, speech_wav(files.path()), true)
        .await
        .expect("a spoken sample is taken");
    assert_eq!(created.status, VoiceSampleStatus::Processing as i32);
    assert!(created.consented_at.is_some(), "consent is stored");
    assert!(created.speech_seconds > 3.0, "{}", created.speech_seconds);
    let done = settled(&mut ids, created.id, Duration::from_secs(60)).await;
    assert_eq!(
        done.status,
        VoiceSampleStatus::Completed as i32,
        "{}",
        done.error_message
    );
    let speaker = format!("scoutu{}s{}", me.user_id, created.id);
    assert_eq!(done.clone_voice_id, speaker);
    {
        let v = lock(&fake);
        assert_eq!(v.uploads.len(), 1, "trained once: {:?}", v.uploads);
        assert_eq!(v.uploads[0].0, speaker);
        assert!(v.refusals.is_empty(), "{:?}", v.refusals);
        assert!(
            v.status_queries >= 4,
            "asked first, then polled: {}",
            v.status_queries
        );
    }

    // A task composed with the sample speaks in the cloned voice.
    let mut tasks = TasksServiceClient::new(authed_channel(&base, &me.access));
    let mut jobs = analyze_jobs(&mesh).await;
    let id = ready_task(&mesh, &mut tasks, &mut jobs, files.path(), 1).await;
    tasks
        .start_compose(StartComposeRequest {
            task_id: id,
            voice_sample_id: Some(created.id),
            ..Default::default()
        })
        .await
        .expect("compose with the cloned voice");
    wait_status(
        &mut tasks,
        id,
        TaskStatus::Completed,
        Duration::from_secs(120),
    )
    .await;
    // (The speech-rate calibration speaks its own lines in a standard
    // voice; the script's paragraph is spoken in the clone.)
    let spoken = lock(&fake).spoken.clone();
    let paragraph: Vec<_> = spoken
        .iter()
        .filter(|(_, _, text)| text.contains("这家小馆值得一来"))
        .collect();
    assert!(!paragraph.is_empty(), "{spoken:?}");
    assert!(
        paragraph
            .iter()
            .all(|(c, v, _)| c == "volcano_icl" && v == &speaker),
        "the paragraph in the cloned voice: {spoken:?}"
    );
    mesh.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn a_failed_training_fails_the_sample_with_the_vendors_reason_and_is_not_retried() {
    let dir = tempfile::tempdir().expect("tempdir");
    let files = tempfile::tempdir().expect("files");
    let fake = Fake::default();
    lock(&fake).training = Some(Training::Fails);
    let config = with_vendor(&fake, dir.path()).await;
    let (mesh, me, base, mut ids) = signed_in(config, dir.path()).await;
    let created = sample(&mut ids, speech_wav(files.path()), true)
        .await
        .expect("taken");
    let failed = settled(&mut ids, created.id, Duration::from_secs(60)).await;
    assert_eq!(failed.status, VoiceSampleStatus::Failed as i32);
    assert!(
        failed.error_message.contains("too noisy to train"),
        "{}",
        failed.error_message
    );
    assert!(failed.clone_voice_id.is_empty());
    // Retrying the same audio cannot help, and costs: trained once.
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(lock(&fake).uploads.len(), 1);

    // Composing with a failed sample is refused, naming the field.
    let mut tasks = TasksServiceClient::new(authed_channel(&base, &me.access));
    let mut jobs = analyze_jobs(&mesh).await;
    let id = ready_task(&mesh, &mut tasks, &mut jobs, files.path(), 1).await;
    let err = tasks
        .start_compose(StartComposeRequest {
            task_id: id,
            voice_sample_id: Some(created.id),
            ..Default::default()
        })
        .await
        .expect_err("not cloned");
    let e = ApiError::from_status(&err);
    assert!(e.message.contains("not cloned"), "{e}");
    mesh.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn a_vendor_outage_is_retried_on_the_schedule_then_dead_lettered_with_the_sample_saying_why()
{
    let dir = tempfile::tempdir().expect("tempdir");
    let files = tempfile::tempdir().expect("files");
    let fake = Fake::default();
    lock(&fake).down = true;
    let mut config = with_vendor(&fake, dir.path()).await;
    config.voice.max_retries = 0;
    let (mesh, me, _, mut ids) = signed_in(config, dir.path()).await;
    let ctx = mesh.context().clone();
    let mut dlq = ctx
        .adapters
        .bus
        .subscribe(
            &format!("test-clone-dlq-{}", scout_common::testing::unique()),
            &[format!("{}voice-clone.dlq", ctx.jobs.analyze.prefix)],
        )
        .await
        .expect("subscribe");
    let created = sample(&mut ids, speech_wav(files.path()), true)
        .await
        .expect("taken");
    let failed = settled(&mut ids, created.id, Duration::from_secs(60)).await;
    assert_eq!(failed.status, VoiceSampleStatus::Failed as i32);
    assert!(
        failed.error_message.contains("HTTP 500")
            && failed.error_message.contains("after 4 attempts"),
        "{}",
        failed.error_message
    );
    let dead = tokio::time::timeout(Duration::from_secs(30), dlq.next())
        .await
        .expect("a dead letter")
        .expect("delivery");
    assert_eq!(
        dead.message.key.as_deref(),
        Some(me.user_id.to_string().as_str())
    );
    assert!(lock(&fake).uploads.is_empty());
    mesh.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn a_training_that_outlasts_an_attempt_is_asked_for_again_not_trained_twice() {
    let dir = tempfile::tempdir().expect("tempdir");
    let files = tempfile::tempdir().expect("files");
    let fake = Fake::default();
    lock(&fake).training = Some(Training::Never);
    let mut config = with_vendor(&fake, dir.path()).await;
    config.voice.clone_timeout = Duration::from_millis(400);
    config.bus.clone_retry_delays = vec![Duration::from_millis(500); 3];
    let (mesh, _, _, mut ids) = signed_in(config, dir.path()).await;
    let created = sample(&mut ids, speech_wav(files.path()), true)
        .await
        .expect("taken");
    // The first attempt gives up waiting; training then finishes.
    let start = Instant::now();
    while lock(&fake).status_queries < 3 {
        assert!(start.elapsed() < Duration::from_secs(30), "never polled");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    lock(&fake).training = Some(Training::ReadyAfter(1));
    let done = settled(&mut ids, created.id, Duration::from_secs(60)).await;
    assert_eq!(
        done.status,
        VoiceSampleStatus::Completed as i32,
        "{}",
        done.error_message
    );
    assert_eq!(
        lock(&fake).uploads.len(),
        1,
        "the retry asked, it did not upload again"
    );
    mesh.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn samples_without_consent_or_speech_are_refused_and_espeak_says_it_cannot_clone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let files = tempfile::tempdir().expect("files");
    // The embedded defaults: espeak-ng speaks, nothing can clone.
    let mesh = Mesh::start(embedded_config(dir.path()))
        .await
        .expect("mesh");
    let ctx = mesh.context().clone();
    let base = mesh.edge_url();
    let me = login(&base, dir.path()).await;
    let mut ids = IdentityServiceClient::new(authed_channel(&base, &me.access));

    // Without consent: refused, and the recording kept to confirm again.
    let key = upload_voice_sample(&mut ids, speech_wav(files.path()), "audio/wav").await;
    let confirm = |consent| CreateVoiceSampleRequest {
        oss_key: key.clone(),
        name: "我的声音".into(),
        consent,
    };
    let err = ids
        .create_voice_sample(confirm(false))
        .await
        .expect_err("no consent");
    let e = ApiError::from_status(&err);
    assert_eq!(e.code, ErrorCode::InvalidArgument, "{e}");
    assert!(e.message.contains("consent"), "{e}");
    let created = ids
        .create_voice_sample(confirm(true))
        .await
        .expect("taken once consented")
        .into_inner()
        .sample
        .expect("sample");

    // A held tone and silence are not speech: refused, and not kept.
    let silence = wav_tone(16_000, 8.0, 0.0);
    for (bytes, what) in [(wav_tone(16_000, 8.0, 220.0), "tone"), (silence, "silence")] {
        let err = sample(&mut ids, bytes, true).await.expect_err(what);
        let e = ApiError::from_status(&err);
        assert_eq!(e.code, ErrorCode::InvalidMedia, "{what}: {e}");
        assert!(e.message.contains("too little speech"), "{what}: {e}");
    }
    assert_eq!(
        ctx.adapters
            .blobs
            .list(&format!("voice/{}/", me.user_id))
            .await
            .expect("list"),
        vec![key.clone()],
        "refused recordings are deleted, the consented one kept"
    );

    let failed = settled(&mut ids, created.id, Duration::from_secs(60)).await;
    assert_eq!(failed.status, VoiceSampleStatus::Failed as i32);
    assert!(
        failed.error_message.contains("cannot clone voices"),
        "{}",
        failed.error_message
    );
    mesh.shutdown().await.expect("clean shutdown");
}
