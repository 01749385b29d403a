//! The length of the video: a script the writer sizes with the rate render
//! measured for the voice lands within 60 ± 6 s of video once that voice
//! actually speaks it, for every style and shop type, and the estimate the
//! user is shown is within 10% of it. With espeak-ng on this machine, and
//! with Seed-TTS against a local server speaking its `/api/v1/tts` wire
//! format whose voice, like a real one, pauses at punctuation and takes
//! longer over words than over characters.
//!
//! Video length is the timeline's: each paragraph's speech plus compose's
//! pause (`compose::narration`); that the encoded file is as long as its
//! timeline is `scout make`'s test (tests/make.rs), which checks the same
//! promise end to end.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use base64::Engine as _;
use scout_common::config::{VoiceConfig, VoiceProviderKind};
use scout_common::speech;
use scout_proto::scout::common::v1::{ShopType, ShotCategory, VideoStyle};
use scout_proto::scout::render::v1::VoiceSpec;
use scout_proto::scout::vision::v1::ShotSummary;
use scout_render::compose::narration::{PARAGRAPH_GAP, in_video};
use scout_render::voice::{Espeak, SeedTts, VoiceProvider, rate};
use scout_vision::writer::{Brief, write};
use serde_json::{Value, json};

fn shots() -> Vec<ShotSummary> {
    [
        (1, ShotCategory::Environment, true),
        (2, ShotCategory::Food, true),
        (3, ShotCategory::Food, false),
        (4, ShotCategory::Person, false),
        (5, ShotCategory::Other, false),
    ]
    .into_iter()
    .map(|(id, c, rec)| ShotSummary {
        id,
        category: c as i32,
        is_recommended: rec,
        quality_score: 70,
        duration_seconds: 6.0,
        ..ShotSummary::default()
    })
    .collect()
}

/// Writes a script for every style and shop type with the rate measured
/// for `voice`, has `provider` speak it, and checks the length.
async fn every_style_and_type_lands_near_a_minute(
    provider: Arc<dyn VoiceProvider>,
    voice: VoiceSpec,
) {
    let measured = in_video(
        rate::measure(provider.as_ref(), &voice)
            .await
            .expect("the voice is measured"),
    );
    assert_eq!(measured.provider, provider.name());
    let shots = shots();
    let mut seed = 0;
    for style in [VideoStyle::Recommend, VideoStyle::Review, VideoStyle::Vlog] {
        for shop_type in [
            ShopType::Food,
            ShopType::Beauty,
            ShopType::Entertainment,
            ShopType::Other,
        ] {
            seed += 1;
            let promotion = if seed % 2 == 0 {
                "人均89，招牌毛肚七上八下"
            } else {
                ""
            };
            let paragraphs = write(&Brief {
                name: "海底捞火锅(望京店)",
                shop_type,
                promotion,
                style,
                shots: &shots,
                rate: measured.clone(),
                seed,
            });
            let mut video = 0.0;
            for p in &paragraphs {
                let spoken = provider
                    .synthesize(&p.text, &voice)
                    .await
                    .expect("the paragraph is spoken");
                video += spoken.duration + PARAGRAPH_GAP;
            }
            let estimate: f64 = paragraphs.iter().map(|p| p.estimated_duration).sum();
            let what = format!(
                "{} {style:?} {shop_type:?}: video {video:.1} s, estimate {estimate:.1} s, rate {measured:?}",
                provider.name()
            );
            println!("{what}");
            assert!(
                (video - speech::TARGET_SECONDS).abs() <= speech::TOLERANCE_SECONDS,
                "{what}"
            );
            assert!(
                (estimate - video).abs() <= 0.10 * video,
                "the estimate is within 10%: {what}"
            );
            // What tasks shows for the same text is the same estimate.
            let shown =
                speech::script_seconds(paragraphs.iter().map(|p| p.text.as_str()), &measured);
            assert!(
                (shown - estimate).abs() < 0.05 * paragraphs.len() as f64,
                "{what}"
            );
        }
    }
}

/// The default voice at normal speed.
fn xiaomei() -> VoiceSpec {
    VoiceSpec {
        voice: "xiaomei".into(),
        speed: 1.0,
        language: "zh-CN".into(),
        ..VoiceSpec::default()
    }
}

#[tokio::test]
async fn espeak_scripts_last_about_a_minute() {
    let dir = tempfile::tempdir().expect("tempdir");
    let espeak: Arc<dyn VoiceProvider> = Arc::new(Espeak::new("espeak-ng", dir.path()));
    every_style_and_type_lands_near_a_minute(espeak, xiaomei()).await;
}

#[tokio::test]
async fn seed_tts_scripts_last_about_a_minute() {
    let url = start_voice().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = VoiceConfig {
        provider: VoiceProviderKind::SeedTts,
        seed_tts_endpoint: url,
        seed_tts_appid: "test-app".into(),
        seed_tts_token: "test-token".into(),
        timeout: Duration::from_secs(5),
        fallback_to_local: false,
        ..VoiceConfig::default()
    };
    let seed_tts: Arc<dyn VoiceProvider> = Arc::new(SeedTts::new(&config, dir.path()));
    every_style_and_type_lands_near_a_minute(seed_tts, xiaomei()).await;
}

/// How long the local voice takes over `text` at `speed`: 0.21 s a CJK
/// character, 0.38 s a word, 0.18 s at a comma, 0.32 s at a full stop,
/// and 0.3 s of lead-in and tail.
fn spoken_seconds(text: &str, speed: f64) -> f64 {
    let (cjk, words) = speech::count(text);
    let commas = text
        .chars()
        .filter(|c| matches!(c, '，' | '、' | ','))
        .count();
    let stops = text
        .chars()
        .filter(|c| matches!(c, '。' | '！' | '？' | '.' | '!' | '?'))
        .count();
    (0.3 + 0.21 * cjk as f64 + 0.38 * words as f64 + 0.18 * commas as f64 + 0.32 * stops as f64)
        / speed
}

/// 24 kHz mono 16-bit silence-free tone of `seconds`, as WAV.
fn wav(seconds: f64) -> Vec<u8> {
    let n = (seconds * 24_000.0).round() as u32;
    let mut out = Vec::with_capacity(44 + 2 * n as usize);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + 2 * n).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    for v in [1u16, 1] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    for v in [24_000u32, 48_000] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    for v in [2u16, 16] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(b"data");
    out.extend_from_slice(&(2 * n).to_le_bytes());
    for i in 0..n {
        let v = ((f64::from(i) * 220.0 * std::f64::consts::TAU / 24_000.0).sin() * 8_000.0) as i16;
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

/// Seed-TTS's `/api/v1/tts`: checks the token and the request's shape,
/// answers the audio base64 in `data` and its duration in `addition`.
async fn tts(headers: HeaderMap, Json(body): Json<Value>) -> axum::response::Response {
    let reqid = body["request"]["reqid"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer;test-token") {
        return (
            axum::http::StatusCode::UNAUTHORIZED,
            Json(json!({"reqid": reqid, "code": 3001, "message": "invalid token"})),
        )
            .into_response();
    }
    let text = body["request"]["text"].as_str().unwrap_or_default();
    if body["app"]["appid"] != "test-app" || body["audio"]["encoding"] != "wav" || text.is_empty() {
        return Json(json!({"reqid": reqid, "code": 3001, "message": "invalid request"}))
            .into_response();
    }
    let speed = body["audio"]["speed_ratio"].as_f64().unwrap_or(1.0);
    let seconds = spoken_seconds(text, speed);
    let data = base64::engine::general_purpose::STANDARD.encode(wav(seconds));
    Json(
        json!({"reqid": reqid, "code": 3000, "operation": "query", "message": "Success",
        "sequence": -1, "data": data,
        "addition": {"duration": format!("{}", (seconds * 1000.0) as u64)}}),
    )
    .into_response()
}

async fn start_voice() -> String {
    let app = axum::Router::new().route("/api/v1/tts", axum::routing::post(tts));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}
