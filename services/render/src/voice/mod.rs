//! Speech: text in, 48 kHz mono audio with its exact duration out.
//!
//! Providers: espeak-ng on this machine (the offline default) and
//! Volcengine Seed-TTS (standard voices and Seed-ICL cloned voices). A
//! failing remote provider can fall back to espeak-ng; the answer says
//! which provider spoke.
//!
//! Cloning: a [`VoiceCloner`] trains a speaker from a user's recording
//! (Seed-ICL, beside Seed-TTS); [`detect`] says whether a recording is
//! someone talking.

pub mod align;
pub mod detect;
mod espeak;
pub mod rate;
mod seed_icl;
mod seed_tts;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use scout_common::config::{VoiceConfig, VoiceProviderKind};
use scout_proto::scout::render::v1::VoiceSpec;

pub use crate::error::{CloneError, VoiceError};
pub use espeak::Espeak;
pub use rate::SpeechRates;
pub use seed_icl::SeedIcl;
pub use seed_tts::SeedTts;

/// Longest text one synthesis accepts, in characters.
pub const MAX_TEXT_CHARS: usize = 1000;

/// One voice of the standard catalogue (what a task's `voice_type` names).
#[derive(Debug, Clone, Copy)]
pub struct StandardVoice {
    /// Its id, e.g. `xiaomei`.
    pub id: &'static str,
    /// Its name in Chinese.
    pub name: &'static str,
    /// Its name in English.
    pub name_en: &'static str,
    /// `female` or `male`.
    pub gender: &'static str,
    /// BCP 47 language.
    pub language: &'static str,
}

const fn standard(
    id: &'static str,
    name: &'static str,
    name_en: &'static str,
    gender: &'static str,
) -> StandardVoice {
    StandardVoice {
        id,
        name,
        name_en,
        gender,
        language: "zh-CN",
    }
}

/// The standard voices, the default (seed 000's `xiaomei`) first. Every
/// provider speaks each of them (espeak-ng through its own variants).
pub const STANDARD_VOICES: [StandardVoice; 4] = [
    standard(
        "xiaomei",
        "小美（甜美女声）",
        "Xiaomei (sweet female)",
        "female",
    ),
    standard(
        "xiaoshuai",
        "小帅（阳光男声）",
        "Xiaoshuai (bright male)",
        "male",
    ),
    standard(
        "xiaoyun",
        "小云（知性女声）",
        "Xiaoyun (calm female)",
        "female",
    ),
    standard(
        "xiaogang",
        "小刚（浑厚男声）",
        "Xiaogang (deep male)",
        "male",
    ),
];

/// The line a voice preview speaks.
pub const PREVIEW_LINE: &str = "家人们好，欢迎来到探店宝！今天带你们去一家超火的宝藏小店。";

/// The standard voice called `id`.
pub fn standard_voice(id: &str) -> Option<&'static StandardVoice> {
    STANDARD_VOICES.iter().find(|v| v.id == id)
}

/// Speech ready to place on a timeline.
#[derive(Debug, Clone)]
pub struct Speech {
    /// Mono samples at 48 kHz.
    pub samples: Vec<f32>,
    /// Exact duration in seconds (samples / 48000).
    pub duration: f64,
    /// Which provider spoke, e.g. "espeak-ng" or "seed-tts".
    pub provider: String,
    /// When each word is spoken, when the provider said (else empty).
    pub words: Vec<align::Word>,
}

impl Speech {
    /// Speech from 48 kHz mono samples.
    pub fn new(samples: Vec<f32>, provider: impl Into<String>) -> Self {
        let duration = samples.len() as f64 / f64::from(crate::media::audio::SAMPLE_RATE);
        Self {
            samples,
            duration,
            provider: provider.into(),
            words: Vec::new(),
        }
    }

    /// When each word of `text` (what was spoken) is spoken: the
    /// provider's timings when it gave them for this text, else aligned to
    /// the audio.
    pub fn word_times(&self, text: &str) -> Vec<align::Word> {
        let spoken: String = align::words(text).into_iter().map(|w| w.0).collect();
        let given: String = self.words.iter().map(|w| w.text.as_str()).collect();
        let strip = |s: &str| -> String { s.chars().filter(|c| c.is_alphanumeric()).collect() };
        if !self.words.is_empty() && strip(&spoken) == strip(&given) {
            return self.words.clone();
        }
        align::align(&self.samples, crate::media::audio::SAMPLE_RATE, text)
    }
}

/// A speech provider.
#[async_trait]
pub trait VoiceProvider: Send + Sync {
    /// Short name, reported with the result.
    fn name(&self) -> &'static str;
    /// Speaks `text` with `voice`.
    async fn synthesize(&self, text: &str, voice: &VoiceSpec) -> Result<Speech, VoiceError>;
}

/// Trains a voice from a recording of someone talking.
#[async_trait]
pub trait VoiceCloner: Send + Sync {
    /// Short name, for logs.
    fn name(&self) -> &'static str;
    /// Trains `speaker_id` on `audio` (in `format`: `wav`, `mp3`, ...) and
    /// waits until it can speak; answers the id Seed-TTS speaks it by.
    /// Idempotent: a speaker already trained is not trained again.
    async fn clone_voice(
        &self,
        speaker_id: &str,
        audio: &[u8],
        format: &str,
    ) -> Result<String, CloneError>;
}

/// The configured clone provider: Seed-ICL beside Seed-TTS; none with the
/// offline espeak-ng voice, which cannot clone.
pub fn cloner_from_config(config: &VoiceConfig) -> Option<Arc<dyn VoiceCloner>> {
    match config.provider {
        VoiceProviderKind::Espeak => None,
        VoiceProviderKind::SeedTts => Some(Arc::new(SeedIcl::new(config))),
    }
}

/// Checks text before any provider sees it.
pub fn validate_text(text: &str) -> Result<&str, VoiceError> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(VoiceError::InvalidText("text is empty".into()));
    }
    let chars = trimmed.chars().count();
    if chars > MAX_TEXT_CHARS {
        return Err(VoiceError::InvalidText(format!(
            "text has {chars} characters, at most {MAX_TEXT_CHARS}"
        )));
    }
    Ok(trimmed)
}

/// The configured provider, wrapped with the local fallback when enabled.
pub fn from_config(config: &VoiceConfig, work_dir: &std::path::Path) -> Arc<dyn VoiceProvider> {
    let local = Arc::new(Espeak::new(&config.espeak_binary, work_dir));
    match config.provider {
        VoiceProviderKind::Espeak => local,
        VoiceProviderKind::SeedTts => {
            let remote: Arc<dyn VoiceProvider> = Arc::new(SeedTts::new(config, work_dir));
            if config.fallback_to_local {
                Arc::new(WithFallback {
                    primary: remote,
                    fallback: local,
                })
            } else {
                remote
            }
        }
    }
}

/// A remote provider that falls back to a local one on transient failures.
pub struct WithFallback {
    primary: Arc<dyn VoiceProvider>,
    fallback: Arc<dyn VoiceProvider>,
}

#[async_trait]
impl VoiceProvider for WithFallback {
    fn name(&self) -> &'static str {
        self.primary.name()
    }

    async fn synthesize(&self, text: &str, voice: &VoiceSpec) -> Result<Speech, VoiceError> {
        match self.primary.synthesize(text, voice).await {
            Err(e) if e.is_transient() && !voice.cloned => {
                tracing::warn!(provider = self.primary.name(), error = %e, "speech provider failed, speaking with the local voice");
                let mut local_voice = voice.clone();
                local_voice.voice = String::new();
                let mut speech = self.fallback.synthesize(text, &local_voice).await?;
                speech.provider = format!(
                    "{} (fallback: {} failed: {e})",
                    speech.provider,
                    self.primary.name()
                );
                Ok(speech)
            }
            other => other,
        }
    }
}

/// Sends `request` to a remote `vendor` and reads the answer's status and
/// text; why not, in words naming the vendor.
pub(crate) async fn exchange(
    request: reqwest::RequestBuilder,
    vendor: &str,
) -> Result<(reqwest::StatusCode, String), String> {
    let resp = request.send().await.map_err(|e| {
        if e.is_timeout() {
            format!("{vendor} did not answer in time")
        } else {
            format!("{vendor} unreachable: {e}")
        }
    })?;
    let status = resp.status();
    let text = resp
        .text()
        .await
        .map_err(|e| format!("{vendor} answer interrupted: {e}"))?;
    Ok((status, text))
}

/// The start of an answer, for an error message.
pub(crate) fn snippet(s: &str) -> String {
    s.chars().take(200).collect()
}

/// Backoff before retry `attempt` (1-based): 200 ms, 400 ms, 800 ms, … capped at 5 s.
pub(crate) fn backoff(attempt: u32) -> Duration {
    Duration::from_millis((200u64 << attempt.saturating_sub(1).min(5)).min(5000))
}
