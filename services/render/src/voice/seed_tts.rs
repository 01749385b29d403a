//! Volcengine Seed-TTS over its HTTP API (`POST /api/v1/tts`, one request
//! per paragraph, audio returned base64 in the JSON answer).
//!
//! Standard voices use the configured cluster (`volcano_tts`); a cloned
//! Seed-ICL voice (`cloned: true`, voice = the speaker id) uses the clone
//! cluster (`volcano_icl`). Concurrency and busy answers are retried with
//! backoff; bad text and unknown voices are not.

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use scout_common::config::VoiceConfig;
use scout_proto::scout::render::v1::VoiceSpec;
use serde::{Deserialize, Serialize};

use super::align::Word;
use super::{Speech, VoiceError, VoiceProvider, backoff, exchange, snippet, validate_text};

/// Seed-TTS's success code.
const CODE_OK: i64 = 3000;

/// Sample rate requested from the provider (resampled to 48 kHz locally).
const PROVIDER_RATE: u32 = 24_000;

/// The Seed-TTS client.
pub struct SeedTts {
    http: reqwest::Client,
    endpoint: String,
    appid: String,
    token: String,
    cluster: String,
    clone_cluster: String,
    max_retries: u32,
    work_dir: PathBuf,
}

#[derive(Serialize)]
struct TtsRequest<'a> {
    app: App<'a>,
    user: User<'a>,
    audio: Audio<'a>,
    request: Req<'a>,
}

#[derive(Serialize)]
struct App<'a> {
    appid: &'a str,
    token: &'a str,
    cluster: &'a str,
}

#[derive(Serialize)]
struct User<'a> {
    uid: &'a str,
}

#[derive(Serialize)]
struct Audio<'a> {
    voice_type: &'a str,
    encoding: &'a str,
    speed_ratio: f64,
    rate: u32,
}

#[derive(Serialize)]
struct Req<'a> {
    reqid: String,
    text: &'a str,
    text_type: &'a str,
    operation: &'a str,
    /// 1: answer each word's timing in `addition.frontend`.
    with_frontend: u8,
    frontend_type: &'a str,
}

#[derive(Deserialize, Debug)]
struct TtsResponse {
    #[serde(default)]
    code: i64,
    #[serde(default)]
    message: String,
    #[serde(default)]
    data: Option<String>,
    #[serde(default)]
    addition: Option<Addition>,
}

#[derive(Deserialize, Debug, Default)]
struct Addition {
    /// JSON text: `{"words": [{"word", "start_time", "end_time"}, …]}`.
    #[serde(default)]
    frontend: Option<String>,
}

#[derive(Deserialize, Debug)]
struct Frontend {
    #[serde(default)]
    words: Vec<FrontendWord>,
}

#[derive(Deserialize, Debug)]
struct FrontendWord {
    word: String,
    start_time: f64,
    end_time: f64,
}

/// The words' timings from `addition.frontend`, in seconds (the provider
/// answers seconds; an answer in milliseconds, larger than the audio is
/// long, is read as such). None when absent or unreadable.
fn word_times(frontend: Option<&str>, duration: f64) -> Option<Vec<Word>> {
    let parsed: Frontend = serde_json::from_str(frontend?).ok()?;
    if parsed.words.is_empty() {
        return None;
    }
    let last = parsed.words.iter().map(|w| w.end_time).fold(0.0, f64::max);
    let scale = if last > duration * 1.5 + 1.0 {
        0.001
    } else {
        1.0
    };
    Some(
        parsed
            .words
            .into_iter()
            .map(|w| Word {
                text: w.word,
                start: w.start_time * scale,
                end: w.end_time * scale,
            })
            .collect(),
    )
}

impl SeedTts {
    /// A client from config; scratch files go under `work_dir`.
    pub fn new(config: &VoiceConfig, work_dir: &Path) -> Self {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(Duration::from_secs(5).min(config.timeout))
            .build()
            .unwrap_or_default();
        Self {
            http,
            endpoint: config.seed_tts_endpoint.trim_end_matches('/').to_string(),
            appid: config.seed_tts_appid.clone(),
            token: config.seed_tts_token.clone(),
            cluster: config.seed_tts_cluster.clone(),
            clone_cluster: config.seed_tts_clone_cluster.clone(),
            max_retries: config.max_retries,
            work_dir: work_dir.to_path_buf(),
        }
    }

    /// Maps a Seed-TTS error code to our error.
    fn classify(code: i64, message: &str) -> VoiceError {
        let detail = format!("Seed-TTS code {code}: {message}");
        match code {
            3001 | 3010 | 3011 => VoiceError::InvalidText(detail),
            3050 => VoiceError::UnknownVoice(detail),
            3003 => VoiceError::RateLimited(detail),
            _ => VoiceError::Provider(detail),
        }
    }

    /// One request: the audio and the `addition.frontend` word timings (if any).
    async fn attempt(
        &self,
        text: &str,
        voice: &VoiceSpec,
    ) -> Result<(Vec<u8>, Option<String>), VoiceError> {
        let cluster = if voice.cloned {
            &self.clone_cluster
        } else {
            &self.cluster
        };
        let speed = if voice.speed > 0.0 {
            voice.speed.clamp(0.5, 2.0)
        } else {
            1.0
        };
        let body = TtsRequest {
            app: App {
                appid: &self.appid,
                token: "access_token",
                cluster,
            },
            user: User { uid: "scout" },
            audio: Audio {
                voice_type: &voice.voice,
                encoding: "wav",
                speed_ratio: speed,
                rate: PROVIDER_RATE,
            },
            request: Req {
                reqid: uuid::Uuid::new_v4().to_string(),
                text,
                text_type: "plain",
                operation: "query",
                with_frontend: 1,
                frontend_type: "unitTson",
            },
        };
        let request = self
            .http
            .post(format!("{}/api/v1/tts", self.endpoint))
            // Seed-TTS's documented form: "Bearer;" then the token, no space.
            .header("Authorization", format!("Bearer;{}", self.token))
            .json(&body);
        let (status, text_body) = exchange(request, "Seed-TTS")
            .await
            .map_err(VoiceError::Provider)?;
        let parsed: Option<TtsResponse> = serde_json::from_str(&text_body).ok();
        match parsed {
            Some(r) if r.code == CODE_OK => {
                let data = r.data.ok_or_else(|| {
                    VoiceError::Audio("Seed-TTS answered success without audio".into())
                })?;
                let audio = base64::engine::general_purpose::STANDARD
                    .decode(data.as_bytes())
                    .map_err(|e| VoiceError::Audio(format!("Seed-TTS audio is not base64: {e}")))?;
                Ok((audio, r.addition.and_then(|a| a.frontend)))
            }
            Some(r) if r.code != 0 => Err(Self::classify(r.code, &r.message)),
            _ if status.as_u16() == 429 => Err(VoiceError::RateLimited(format!(
                "HTTP 429: {}",
                snippet(&text_body)
            ))),
            _ if status.is_server_error() => Err(VoiceError::Provider(format!(
                "HTTP {status}: {}",
                snippet(&text_body)
            ))),
            _ if status == reqwest::StatusCode::UNAUTHORIZED
                || status == reqwest::StatusCode::FORBIDDEN =>
            {
                Err(VoiceError::Provider(format!(
                    "Seed-TTS refused the credentials (HTTP {status})"
                )))
            }
            _ => Err(VoiceError::Provider(format!(
                "unexpected Seed-TTS answer (HTTP {status}): {}",
                snippet(&text_body)
            ))),
        }
    }
}

#[async_trait]
impl VoiceProvider for SeedTts {
    fn name(&self) -> &'static str {
        "seed-tts"
    }

    async fn synthesize(&self, text: &str, voice: &VoiceSpec) -> Result<Speech, VoiceError> {
        let text = validate_text(text)?;
        if voice.voice.is_empty() {
            return Err(VoiceError::UnknownVoice(
                "Seed-TTS needs a voice_type".into(),
            ));
        }
        let mut attempt = 0;
        let (audio, frontend) = loop {
            attempt += 1;
            let started = std::time::Instant::now();
            let outcome = self.attempt(text, voice).await;
            let status = match &outcome {
                Ok(_) => "ok",
                Err(VoiceError::RateLimited(_)) => "rate_limited",
                Err(_) => "error",
            };
            scout_common::telemetry::record_ai_call("seed_tts", status, started.elapsed());
            match outcome {
                Ok(bytes) => break bytes,
                Err(e) if e.is_transient() && attempt <= self.max_retries => {
                    let wait = backoff(attempt);
                    tracing::warn!(attempt, error = %e, wait_ms = wait.as_millis() as u64, "Seed-TTS failed, retrying");
                    tokio::time::sleep(wait).await;
                }
                Err(e) => return Err(e),
            }
        };
        let scratch = crate::store::Scratch::new(&self.work_dir)
            .map_err(|e| VoiceError::Audio(format!("work dir: {e}")))?;
        let path = scratch.path().join("seed-tts.wav");
        tokio::fs::write(&path, &audio)
            .await
            .map_err(|e| VoiceError::Audio(e.to_string()))?;
        let p = path.clone();
        let samples = tokio::task::spawn_blocking(move || {
            crate::media::audio::decode_mono(&p, "Seed-TTS audio")
        })
        .await;
        drop(scratch);
        let samples = samples
            .map_err(|e| VoiceError::Audio(e.to_string()))?
            .map_err(|e| VoiceError::Audio(e.to_string()))?;
        if samples.is_empty() {
            return Err(VoiceError::Audio("Seed-TTS returned empty audio".into()));
        }
        let mut speech = Speech::new(samples, "seed-tts");
        if let Some(words) = word_times(frontend.as_deref(), speech.duration) {
            speech.words = words;
        }
        Ok(speech)
    }
}
