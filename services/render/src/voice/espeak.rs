//! espeak-ng on this machine: offline, Mandarin and English voices.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use async_trait::async_trait;
use scout_proto::scout::render::v1::VoiceSpec;
use tokio::io::AsyncWriteExt;

use super::{Speech, VoiceError, VoiceProvider, validate_text};

/// espeak-ng's default speaking rate in words per minute.
const DEFAULT_WPM: f64 = 175.0;

/// espeak-ng voices for the product's standard voice names, and the
/// language defaults. Anything else is passed through when espeak-ng knows it.
const VOICES: &[(&str, &str)] = &[
    ("", "cmn"),
    ("zh", "cmn"),
    ("zh-cn", "cmn"),
    ("cmn", "cmn"),
    ("en", "en-us"),
    ("en-us", "en-us"),
    ("en-gb", "en-gb"),
    ("xiaomei", "cmn+f3"),
    ("xiaoshuai", "cmn+m3"),
    ("xiaoyun", "cmn+f2"),
    ("xiaogang", "cmn+m1"),
];

/// The espeak-ng provider.
pub struct Espeak {
    binary: String,
    work_dir: PathBuf,
}

impl Espeak {
    /// A provider running `binary`, writing scratch files under `work_dir`.
    pub fn new(binary: &str, work_dir: &Path) -> Self {
        Self {
            binary: binary.to_string(),
            work_dir: work_dir.to_path_buf(),
        }
    }

    /// The espeak-ng voice for a spec: its voice name, else its language.
    fn voice_for(spec: &VoiceSpec) -> Result<String, VoiceError> {
        let requested = if spec.voice.is_empty() {
            spec.language.to_ascii_lowercase()
        } else {
            spec.voice.to_ascii_lowercase()
        };
        if let Some((_, v)) = VOICES.iter().find(|(k, _)| *k == requested) {
            return Ok((*v).to_string());
        }
        // An espeak-ng voice id (letters, digits, '-', '+').
        if requested
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '+')
            && requested.len() <= 32
        {
            return Ok(requested);
        }
        Err(VoiceError::UnknownVoice(format!(
            "{:?} is not an espeak-ng voice",
            spec.voice
        )))
    }
}

#[async_trait]
impl VoiceProvider for Espeak {
    fn name(&self) -> &'static str {
        "espeak-ng"
    }

    async fn synthesize(&self, text: &str, voice: &VoiceSpec) -> Result<Speech, VoiceError> {
        let text = validate_text(text)?;
        if voice.cloned {
            return Err(VoiceError::UnknownVoice(
                "espeak-ng cannot speak a cloned voice; configure Seed-TTS".into(),
            ));
        }
        let espeak_voice = Self::voice_for(voice)?;
        let speed = if voice.speed > 0.0 {
            voice.speed.clamp(0.5, 2.0)
        } else {
            1.0
        };
        let wpm = (DEFAULT_WPM * speed).round() as u32;
        let scratch = crate::store::Scratch::new(&self.work_dir)
            .map_err(|e| VoiceError::Provider(format!("work dir: {e}")))?;
        let wav = scratch.path().join("espeak.wav");
        // The text goes through stdin, never argv: it cannot be read as an option.
        let mut child = tokio::process::Command::new(&self.binary)
            .arg("-v")
            .arg(&espeak_voice)
            .arg("-s")
            .arg(wpm.to_string())
            .arg("-w")
            .arg(&wav)
            .arg("--stdin")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                VoiceError::Provider(format!(
                    "cannot run {}: {e} (install espeak-ng)",
                    self.binary
                ))
            })?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(text.as_bytes())
                .await
                .map_err(|e| VoiceError::Provider(format!("espeak-ng stdin: {e}")))?;
        }
        let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
            .await
            .map_err(|_| VoiceError::Provider("espeak-ng took longer than 60 s".into()))?
            .map_err(|e| VoiceError::Provider(format!("espeak-ng: {e}")))?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            return Err(if stderr.contains("voice") {
                VoiceError::UnknownVoice(format!("{espeak_voice}: {}", stderr.trim()))
            } else {
                VoiceError::Provider(format!("espeak-ng failed: {}", stderr.trim()))
            });
        }
        let path = wav.clone();
        let samples = tokio::task::spawn_blocking(move || {
            crate::media::audio::decode_mono(&path, "espeak-ng output")
        })
        .await
        .map_err(|e| VoiceError::Audio(e.to_string()))?
        .map_err(|e| VoiceError::Audio(e.to_string()));
        drop(scratch);
        let samples = samples?;
        if samples.is_empty() {
            return Err(VoiceError::InvalidText(
                "espeak-ng produced no audio for this text".into(),
            ));
        }
        Ok(Speech::new(samples, "espeak-ng"))
    }
}
