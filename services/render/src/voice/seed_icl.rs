//! Volcengine Seed-ICL voice cloning over its HTTP API, the same host and
//! credentials as Seed-TTS:
//!
//! - `POST /api/v1/mega_tts/audio/upload` with `Authorization: Bearer;{token}`
//!   and `Resource-Id`, body `{appid, speaker_id, audios: [{audio_bytes
//!   (base64), audio_format}], source: 2, language: 0, model_type}`; the
//!   answer's `BaseResp.StatusCode` is 0 when training started, else the
//!   vendor's code and `StatusMessage` (11xx: the audio was refused — no
//!   voice in it, too noisy, unreadable, ...).
//! - `POST /api/v1/mega_tts/status` with `{appid, speaker_id}`; `status` is
//!   0 not found, 1 training, 2 ready, 3 failed, 4 ready and activated.
//!
//! A clone asks for the speaker's status first, so a job delivered again
//! after its upload (a retry, a restart) never trains (and pays) twice; it
//! uploads only a speaker the vendor does not know or whose training
//! failed in an earlier attempt, then polls until ready, failed or the
//! configured timeout (a timeout is transient: the job is retried later and
//! asks again). HTTP 429 and 5xx are retried with backoff inside the
//! attempt; an 11xx refusal is final, with the vendor's words.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use base64::Engine as _;
use scout_common::config::VoiceConfig;
use serde::{Deserialize, Serialize};

use super::{CloneError, VoiceCloner, backoff, exchange, snippet};

/// The status the vendor gives a speaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Speaker {
    Unknown,
    Training,
    Ready,
    Failed,
}

/// The Seed-ICL client.
pub struct SeedIcl {
    http: reqwest::Client,
    endpoint: String,
    appid: String,
    token: String,
    resource_id: String,
    model_type: u32,
    poll_interval: Duration,
    timeout: Duration,
    max_retries: u32,
}

#[derive(Serialize)]
struct UploadRequest<'a> {
    appid: &'a str,
    speaker_id: &'a str,
    audios: [UploadAudio<'a>; 1],
    source: u32,
    language: u32,
    model_type: u32,
}

#[derive(Serialize)]
struct UploadAudio<'a> {
    audio_bytes: String,
    audio_format: &'a str,
}

#[derive(Serialize)]
struct StatusRequest<'a> {
    appid: &'a str,
    speaker_id: &'a str,
}

#[derive(Deserialize, Debug, Default)]
#[serde(rename_all = "PascalCase")]
struct BaseResp {
    #[serde(default)]
    status_code: i64,
    #[serde(default)]
    status_message: String,
}

#[derive(Deserialize, Debug)]
struct Answer {
    #[serde(rename = "BaseResp", default)]
    base: BaseResp,
    #[serde(default)]
    status: Option<i64>,
}

/// The vendor's code for a speaker it does not know.
const SPEAKER_NOT_FOUND: i64 = 1107;

impl SeedIcl {
    /// A client from the voice config.
    pub fn new(config: &VoiceConfig) -> Self {
        let http = reqwest::Client::builder()
            .timeout(config.timeout.max(Duration::from_secs(60)))
            .connect_timeout(Duration::from_secs(5))
            .build()
            .unwrap_or_default();
        Self {
            http,
            endpoint: config.seed_tts_endpoint.trim_end_matches('/').to_string(),
            appid: config.seed_tts_appid.clone(),
            token: config.seed_tts_token.clone(),
            resource_id: config.seed_icl_resource_id.clone(),
            model_type: config.seed_icl_model_type,
            poll_interval: config.clone_poll_interval,
            timeout: config.clone_timeout,
            max_retries: config.max_retries,
        }
    }

    /// One POST; the parsed answer, or why there is none.
    async fn post<T: Serialize>(&self, path: &str, body: &T) -> Result<Answer, CloneError> {
        let started = Instant::now();
        let outcome = self.post_once(path, body).await;
        let status = match &outcome {
            Ok(_) => "ok",
            Err(CloneError::RateLimited(_)) => "rate_limited",
            Err(_) => "error",
        };
        scout_common::telemetry::record_ai_call("seed_icl", status, started.elapsed());
        outcome
    }

    async fn post_once<T: Serialize>(&self, path: &str, body: &T) -> Result<Answer, CloneError> {
        let request = self
            .http
            .post(format!("{}{path}", self.endpoint))
            .header("Authorization", format!("Bearer;{}", self.token))
            .header("Resource-Id", &self.resource_id)
            .json(body);
        let (status, text) = exchange(request, "Seed-ICL")
            .await
            .map_err(CloneError::Provider)?;
        if status.as_u16() == 429 {
            return Err(CloneError::RateLimited(format!(
                "HTTP 429: {}",
                snippet(&text)
            )));
        }
        if status.is_server_error() {
            return Err(CloneError::Provider(format!(
                "HTTP {status}: {}",
                snippet(&text)
            )));
        }
        if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
            return Err(CloneError::Provider(format!(
                "Seed-ICL refused the credentials (HTTP {status}): {}",
                snippet(&text)
            )));
        }
        serde_json::from_str(&text).map_err(|_| {
            CloneError::Provider(format!(
                "unexpected Seed-ICL answer (HTTP {status}): {}",
                snippet(&text)
            ))
        })
    }

    /// A POST retried with backoff while the vendor throttles or fails.
    async fn post_retrying<T: Serialize>(
        &self,
        path: &str,
        body: &T,
    ) -> Result<Answer, CloneError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.post(path, body).await {
                Err(e) if e.is_transient() && attempt <= self.max_retries => {
                    let wait = backoff(attempt);
                    tracing::warn!(attempt, error = %e, wait_ms = wait.as_millis() as u64, "Seed-ICL failed, retrying");
                    tokio::time::sleep(wait).await;
                }
                other => return other,
            }
        }
    }

    /// A vendor code other than success, as our error.
    fn refused(code: i64, message: &str) -> CloneError {
        let detail = format!("Seed-ICL code {code}: {message}");
        match code {
            // The audio itself: unreadable, no voice, too noisy, wrong
            // words, the account's uploads for this speaker used up.
            1101..=1199 => CloneError::Rejected(detail),
            // Throttling said in the body.
            1 | 429 => CloneError::RateLimited(detail),
            _ => CloneError::Provider(detail),
        }
    }

    async fn status(&self, speaker_id: &str) -> Result<(Speaker, String), CloneError> {
        let a = self
            .post_retrying(
                "/api/v1/mega_tts/status",
                &StatusRequest {
                    appid: &self.appid,
                    speaker_id,
                },
            )
            .await?;
        if a.base.status_code == SPEAKER_NOT_FOUND {
            return Ok((Speaker::Unknown, a.base.status_message));
        }
        if a.base.status_code != 0 {
            return Err(Self::refused(a.base.status_code, &a.base.status_message));
        }
        let t = match a.status {
            Some(0) | None => Speaker::Unknown,
            Some(1) => Speaker::Training,
            Some(2) | Some(4) => Speaker::Ready,
            Some(3) => Speaker::Failed,
            Some(other) => {
                return Err(CloneError::Provider(format!(
                    "Seed-ICL answered an unknown training status {other}"
                )));
            }
        };
        Ok((t, a.base.status_message))
    }

    async fn upload(&self, speaker_id: &str, audio: &[u8], format: &str) -> Result<(), CloneError> {
        let body = UploadRequest {
            appid: &self.appid,
            speaker_id,
            audios: [UploadAudio {
                audio_bytes: base64::engine::general_purpose::STANDARD.encode(audio),
                audio_format: format,
            }],
            source: 2,
            language: 0,
            model_type: self.model_type,
        };
        let a = self
            .post_retrying("/api/v1/mega_tts/audio/upload", &body)
            .await?;
        if a.base.status_code != 0 {
            return Err(Self::refused(a.base.status_code, &a.base.status_message));
        }
        Ok(())
    }
}

#[async_trait]
impl VoiceCloner for SeedIcl {
    fn name(&self) -> &'static str {
        "seed-icl"
    }

    async fn clone_voice(
        &self,
        speaker_id: &str,
        audio: &[u8],
        format: &str,
    ) -> Result<String, CloneError> {
        if self.appid.is_empty() || self.token.is_empty() {
            return Err(CloneError::Unsupported(
                "voice cloning needs Seed-ICL credentials (voice.seed_tts_appid and voice.seed_tts_token)"
                    .into(),
            ));
        }
        let (mut state, _) = self.status(speaker_id).await?;
        if matches!(state, Speaker::Unknown | Speaker::Failed) {
            self.upload(speaker_id, audio, format).await?;
            state = Speaker::Training;
        }
        let deadline = Instant::now() + self.timeout;
        while state != Speaker::Ready {
            if Instant::now() >= deadline {
                return Err(CloneError::Provider(format!(
                    "training did not finish within {} s; it is asked for again on the retry",
                    self.timeout.as_secs()
                )));
            }
            tokio::time::sleep(self.poll_interval).await;
            let (next, message) = self.status(speaker_id).await?;
            if next == Speaker::Failed {
                return Err(CloneError::Rejected(if message.is_empty() {
                    "Seed-ICL could not train a voice from this recording".into()
                } else {
                    format!("Seed-ICL training failed: {message}")
                }));
            }
            state = next;
        }
        Ok(speaker_id.to_string())
    }
}
