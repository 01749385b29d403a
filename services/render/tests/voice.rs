//! Speech: espeak-ng for real, and the Seed-TTS client against a local
//! server that speaks Seed-TTS's HTTP wire format, errors included.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use base64::Engine;
use scout_common::config::{VoiceConfig, VoiceProviderKind};
use scout_proto::scout::render::v1::VoiceSpec;
use scout_render::voice::{Espeak, SeedTts, VoiceError, VoiceProvider, from_config};
use serde_json::{Value, json};

fn voice(name: &str) -> VoiceSpec {
    VoiceSpec {
        voice: name.into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn espeak_speaks_mandarin_and_english_with_exact_durations() {
    let dir = tempfile::tempdir().expect("tempdir");
    let espeak = Espeak::new("espeak-ng", dir.path());
    let zh = espeak
        .synthesize("家人们！今天给你们探一家望京超火的海底捞。", &voice(""))
        .await
        .expect("mandarin");
    let en = espeak
        .synthesize(
            "Today we visit a hotpot place.",
            &VoiceSpec {
                language: "en-US".into(),
                ..Default::default()
            },
        )
        .await
        .expect("english");
    for s in [&zh, &en] {
        assert_eq!(s.provider, "espeak-ng");
        assert!(
            (s.duration - s.samples.len() as f64 / 48_000.0).abs() < 1e-12,
            "duration is not the measured sample count"
        );
        assert!(s.duration > 0.8 && s.duration < 20.0, "{}", s.duration);
        let peak = s.samples.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        assert!(peak > 0.05, "silent speech");
    }
    // Faster speech is shorter.
    let fast = espeak
        .synthesize(
            "家人们！今天给你们探一家望京超火的海底捞。",
            &VoiceSpec {
                speed: 1.6,
                ..Default::default()
            },
        )
        .await
        .expect("fast");
    assert!(
        fast.duration < zh.duration * 0.85,
        "{} vs {}",
        fast.duration,
        zh.duration
    );
    // Text that looks like an option is spoken, not parsed.
    espeak
        .synthesize("-v en --help", &voice("en"))
        .await
        .expect("dash text");
    // Refusals.
    assert!(matches!(
        espeak.synthesize("   ", &voice("")).await,
        Err(VoiceError::InvalidText(_))
    ));
    assert!(matches!(
        espeak.synthesize(&"字".repeat(1001), &voice("")).await,
        Err(VoiceError::InvalidText(_))
    ));
    assert!(matches!(
        espeak
            .synthesize(
                "你好",
                &VoiceSpec {
                    cloned: true,
                    voice: "S_x".into(),
                    ..Default::default()
                }
            )
            .await,
        Err(VoiceError::UnknownVoice(_))
    ));
    assert!(matches!(
        espeak.synthesize("你好", &voice("no such voice!")).await,
        Err(VoiceError::UnknownVoice(_))
    ));
}

/// A local server speaking Seed-TTS's `/api/v1/tts`.
#[derive(Clone, Default)]
struct FakeSeedTts {
    calls: Arc<AtomicUsize>,
    busy_once: Arc<AtomicUsize>,
}

/// 0.1 s of 24 kHz tone per character, as WAV.
fn wav_24k(seconds: f64) -> Vec<u8> {
    let n = (seconds * 24_000.0).round() as usize;
    let mut out = Vec::new();
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + 2 * n as u32).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&24_000u32.to_le_bytes());
    out.extend_from_slice(&48_000u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&(2 * n as u32).to_le_bytes());
    for i in 0..n {
        let v =
            ((i as f64 * 440.0 * 2.0 * std::f64::consts::PI / 24_000.0).sin() * 12_000.0) as i16;
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

async fn tts(
    State(fake): State<FakeSeedTts>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> axum::response::Response {
    fake.calls.fetch_add(1, Ordering::SeqCst);
    let reqid = body["request"]["reqid"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let answer = |code: i64, message: &str| {
        Json(json!({"reqid": reqid, "code": code, "operation": "query", "message": message, "sequence": -1})).into_response()
    };
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer;test-token") {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"reqid": reqid, "code": 3001, "message": "invalid token"})),
        )
            .into_response();
    }
    if body["app"]["appid"] != "test-app"
        || body["request"]["operation"] != "query"
        || body["audio"]["encoding"] != "wav"
    {
        return answer(3001, "invalid request");
    }
    let text = body["request"]["text"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let voice_type = body["audio"]["voice_type"].as_str().unwrap_or_default();
    let cluster = body["app"]["cluster"].as_str().unwrap_or_default();
    let known = (cluster == "volcano_tts" && voice_type == "zh_female_xiaomei")
        || (cluster == "volcano_icl" && voice_type == "S_clone_1");
    if !known {
        return answer(3050, "voice_type not found");
    }
    if text.contains("[3003]") {
        return answer(3003, "concurrency quota exceeded");
    }
    if text.contains("[busy-once]") && fake.busy_once.fetch_add(1, Ordering::SeqCst) == 0 {
        return answer(3005, "backend busy");
    }
    if text.contains("[500]") {
        return (StatusCode::INTERNAL_SERVER_ERROR, "upstream exploded").into_response();
    }
    if text.contains("[hang]") {
        tokio::time::sleep(Duration::from_secs(30)).await;
    }
    if text.contains("[garbage]") {
        return Json(json!({"reqid": reqid, "code": 3000, "message": "Success", "sequence": -1, "data": "%%% not base64 %%%"})).into_response();
    }
    let seconds = 0.1 * text.chars().count() as f64;
    let data = base64::engine::general_purpose::STANDARD.encode(wav_24k(seconds));
    let mut addition = json!({"duration": format!("{}", (seconds * 1000.0) as u64)});
    // Asked for the frontend, the words' times (seconds) come as JSON text:
    // here each CJK character from 0.2 s, 0.08 s apart, punctuation riding
    // with the character before it.
    if body["request"]["with_frontend"] == 1 && body["request"]["frontend_type"] == "unitTson" {
        let mut words: Vec<Value> = Vec::new();
        for c in text.chars() {
            if ('\u{4e00}'..='\u{9fff}').contains(&c) {
                let i = words.len() as f64;
                words.push(json!({"word": c.to_string(), "start_time": 0.2 + 0.08 * i, "end_time": 0.28 + 0.08 * i}));
            } else if let Some(last) = words.last_mut() {
                let w = format!("{}{c}", last["word"].as_str().unwrap_or_default());
                last["word"] = json!(w);
            }
        }
        addition["frontend"] = json!(json!({"words": words}).to_string());
    }
    Json(json!({"reqid": reqid, "code": 3000, "operation": "query", "message": "Success", "sequence": -1, "data": data, "addition": addition})).into_response()
}

async fn start_fake() -> (String, FakeSeedTts) {
    let fake = FakeSeedTts::default();
    let app = axum::Router::new()
        .route("/api/v1/tts", axum::routing::post(tts))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, fake)
}

fn config(endpoint: &str) -> VoiceConfig {
    VoiceConfig {
        provider: VoiceProviderKind::SeedTts,
        seed_tts_endpoint: endpoint.into(),
        seed_tts_appid: "test-app".into(),
        seed_tts_token: "test-token".into(),
        timeout: Duration::from_millis(1500),
        max_retries: 2,
        fallback_to_local: false,
        ..VoiceConfig::default()
    }
}

#[tokio::test]
async fn seed_tts_standard_and_cloned_voices() {
    let (url, fake) = start_fake().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let client = SeedTts::new(&config(&url), dir.path());
    let s = client
        .synthesize("今天探店海底捞", &voice("zh_female_xiaomei"))
        .await
        .expect("standard voice");
    assert_eq!(s.provider, "seed-tts");
    assert!(
        (s.duration - 0.7).abs() < 0.002,
        "24 kHz resampled to 48 kHz keeps the duration: {}",
        s.duration
    );
    assert!((s.samples.len() as f64 - 0.7 * 48_000.0).abs() <= 96.0);
    let c = client
        .synthesize(
            "这是我的声音",
            &VoiceSpec {
                voice: "S_clone_1".into(),
                cloned: true,
                ..Default::default()
            },
        )
        .await
        .expect("cloned voice via volcano_icl");
    assert!((c.duration - 0.6).abs() < 0.002);
    assert_eq!(fake.calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn seed_tts_errors_are_classified_and_retried_only_when_worth_it() {
    let (url, fake) = start_fake().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let client = SeedTts::new(&config(&url), dir.path());
    let calls = || fake.calls.load(Ordering::SeqCst);

    // Concurrency limit forever: retried twice, then RateLimited.
    let before = calls();
    let e = client
        .synthesize("[3003] 你好", &voice("zh_female_xiaomei"))
        .await
        .expect_err("rate limited");
    assert!(
        matches!(e, VoiceError::RateLimited(ref m) if m.contains("3003")),
        "{e:?}"
    );
    assert_eq!(calls() - before, 3, "one try and two retries");

    // Busy once: one retry succeeds.
    let before = calls();
    client
        .synthesize("[busy-once] 你好", &voice("zh_female_xiaomei"))
        .await
        .expect("retried");
    assert_eq!(calls() - before, 2);

    // Unknown voice: not retried.
    let before = calls();
    assert!(matches!(
        client.synthesize("你好", &voice("zh_nobody")).await,
        Err(VoiceError::UnknownVoice(_))
    ));
    assert_eq!(calls() - before, 1);

    // Server error: retried, then a provider failure.
    assert!(
        matches!(client.synthesize("[500] 你好", &voice("zh_female_xiaomei")).await, Err(VoiceError::Provider(m)) if m.contains("500"))
    );
    // Garbage audio.
    assert!(matches!(
        client
            .synthesize("[garbage] 你好", &voice("zh_female_xiaomei"))
            .await,
        Err(VoiceError::Audio(_))
    ));
    // A hung request ends at the timeout.
    let start = std::time::Instant::now();
    let mut cfg = config(&url);
    cfg.max_retries = 0;
    let once = SeedTts::new(&cfg, dir.path());
    assert!(
        matches!(once.synthesize("[hang] 你好", &voice("zh_female_xiaomei")).await, Err(VoiceError::Provider(m)) if m.contains("in time"))
    );
    assert!(start.elapsed() < Duration::from_secs(5));
    // Wrong credentials.
    let mut bad = config(&url);
    bad.seed_tts_token = "wrong".into();
    let e = SeedTts::new(&bad, dir.path())
        .synthesize("你好", &voice("zh_female_xiaomei"))
        .await
        .expect_err("refused");
    assert!(
        e.to_string().contains("credentials") || e.to_string().contains("3001"),
        "{e}"
    );
}

#[tokio::test]
async fn a_failing_remote_falls_back_to_espeak_and_says_so() {
    let (url, _fake) = start_fake().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = config(&url);
    cfg.fallback_to_local = true;
    cfg.max_retries = 0;
    let provider = from_config(&cfg, dir.path());
    let s = provider
        .synthesize("[3003] 你好，欢迎来到海底捞", &voice("zh_female_xiaomei"))
        .await
        .expect("fell back");
    assert!(
        s.provider
            .starts_with("espeak-ng (fallback: seed-tts failed"),
        "{}",
        s.provider
    );
    assert!(s.duration > 0.5);
    // A cloned voice has no local stand-in: the error stands.
    assert!(
        provider
            .synthesize(
                "[3003] 你好",
                &VoiceSpec {
                    voice: "S_clone_1".into(),
                    cloned: true,
                    ..Default::default()
                }
            )
            .await
            .is_err()
    );
}

/// Seed-TTS's own word timestamps (`with_frontend`) are the captions'
/// timing: the captions start at the provider's words, not at an alignment.
#[tokio::test]
async fn seed_tts_word_timestamps_drive_the_captions() {
    use scout_render::compose::narration::{self, Paragraph};
    let (url, _fake) = start_fake().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let client = SeedTts::new(&config(&url), dir.path());
    let text = "家人们好今天来探店，这家海底捞真的绝了，人均八十九！";
    let s = client
        .synthesize(text, &voice("zh_female_xiaomei"))
        .await
        .expect("speech");
    assert_eq!(s.words.len(), 23, "{:?}", s.words);
    let words = s.word_times(text);
    assert_eq!(words, s.words, "the provider's timings are used as given");
    let key = scout_proto::scout::render::v1::MediaRef::default();
    let timeline = narration::timeline(
        &[Paragraph {
            id: "para_1".into(),
            clip: key.clone(),
            voice: key,
            voice_seconds: s.duration,
            text: text.into(),
            words,
            fit: Default::default(),
            focus: Vec::new(),
            scene: None,
            still: false,
        }],
        Some(scout_proto::scout::common::v1::SubtitleStyle::Karaoke),
        None,
        None,
    );
    let events = &timeline.subtitles.expect("subtitles").events;
    let starts: Vec<f64> = events.iter().map(|e| e.start_seconds).collect();
    // Three phrases of 9, 9 and 5 characters: a caption each.
    assert_eq!(events.len(), 3, "{events:#?}");
    for (got, word) in starts.iter().zip([0.0, 9.0, 18.0]) {
        assert!((got - (0.2 + word * 0.08)).abs() < 1e-9, "{starts:?}");
    }
    assert_eq!(events[1].words.len(), 9);
    assert!((events[1].words[0].start_seconds - starts[1]).abs() < 1e-9);
}
