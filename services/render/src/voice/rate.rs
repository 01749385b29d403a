//! How fast a voice speaks, measured on the provider that will speak the
//! video: two Mandarin calibration lines of different lengths give the
//! seconds per character and the fixed lead-in and tail of one utterance,
//! an English line the seconds per word. Kept per provider, voice and
//! speed for the life of the node (a remote provider is asked three times,
//! once).

use std::collections::HashMap;
use std::sync::Arc;

use scout_proto::scout::common::v1::SpeechRate;
use scout_proto::scout::render::v1::VoiceSpec;
use tokio::sync::Mutex;

use super::{VoiceError, VoiceProvider};

/// A short line of shop narration (11 CJK characters).
const SHORT: &str = "家人们，今天来打卡这家店。";
/// A long one, of the kind the writer writes (58 CJK characters).
const LONG: &str = "家人们！今天带你们来望京这家超火的小店，排队两小时也值得，招牌菜真的绝了！环境干净整洁，服务员也很热情，这个价格真的很值。";
/// Other words: an English line (14 words).
const WORDS: &str =
    "Today we visit a popular local restaurant with great food, fair prices and friendly staff.";

/// Measures and keeps speaking rates.
pub struct SpeechRates {
    provider: Arc<dyn VoiceProvider>,
    kept: Mutex<HashMap<(String, bool, i64, String), SpeechRate>>,
}

impl SpeechRates {
    /// Rates of `provider`'s voices.
    pub fn new(provider: Arc<dyn VoiceProvider>) -> Self {
        Self {
            provider,
            kept: Mutex::new(HashMap::new()),
        }
    }

    /// The rate of `voice` (its utterances' lead-in and tail as
    /// `paragraph_seconds`), measured on first use. A measurement made by a
    /// fallback provider (the remote one failing) is answered, not kept.
    pub async fn rate(&self, voice: &VoiceSpec) -> Result<SpeechRate, VoiceError> {
        let key = (
            voice.voice.to_ascii_lowercase(),
            voice.cloned,
            (voice.speed * 100.0).round() as i64,
            voice.language.to_ascii_lowercase(),
        );
        // One measurement at a time: callers asking for the same voice at
        // once wait for the first one's answer instead of repeating it.
        let mut kept = self.kept.lock().await;
        if let Some(rate) = kept.get(&key) {
            return Ok(rate.clone());
        }
        let rate = measure(self.provider.as_ref(), voice).await?;
        if rate.provider == self.provider.name() {
            kept.insert(key, rate.clone());
        }
        Ok(rate)
    }
}

/// Speaks the calibration lines with `voice` and fits the rate.
pub async fn measure(
    provider: &dyn VoiceProvider,
    voice: &VoiceSpec,
) -> Result<SpeechRate, VoiceError> {
    let short = provider.synthesize(SHORT, voice).await?;
    let long = provider.synthesize(LONG, voice).await?;
    let words = provider.synthesize(WORDS, voice).await?;
    let (short_chars, _) = scout_common::speech::count(SHORT);
    let (long_chars, _) = scout_common::speech::count(LONG);
    let (_, word_count) = scout_common::speech::count(WORDS);
    // duration = pause + chars / rate, through the two Mandarin points.
    let per_char = ((long.duration - short.duration) / (long_chars - short_chars) as f64).max(0.02);
    let pause = (short.duration - short_chars as f64 * per_char).max(0.0);
    let per_word = ((words.duration - pause) / word_count as f64).max(0.02);
    let provider_name = if [&short, &long, &words]
        .iter()
        .all(|s| s.provider == provider.name())
    {
        provider.name().to_string()
    } else {
        // Some line was spoken by the fallback: say so.
        long.provider.clone()
    };
    let rate = SpeechRate {
        cjk_chars_per_second: round3(1.0 / per_char),
        words_per_second: round3(1.0 / per_word),
        // The voice's own lead-in and tail; compose adds its pause
        // (`compose::narration::in_video`).
        paragraph_seconds: round3(pause),
        provider: provider_name,
    };
    tracing::info!(
        voice = %voice.voice,
        speed = voice.speed,
        provider = %rate.provider,
        cjk_chars_per_second = rate.cjk_chars_per_second,
        words_per_second = rate.words_per_second,
        paragraph_seconds = rate.paragraph_seconds,
        "speaking rate measured"
    );
    Ok(rate)
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}
