//! Is a recording someone talking? A voice sample is cloned only if it is:
//! silence, hiss, a held tone or a mostly empty file make a clone that
//! sounds like nothing, and the vendor charges for it.
//!
//! The measure is deliberately simple and explainable. The sound is taken
//! down to 8 kHz and cut into 30 ms frames every 10 ms. A frame is *loud*
//! when it stands 10 dB above the recording's own noise floor (its 10th
//! percentile) and above -55 dBFS; it is *voiced* when it is loud and
//! periodic at a pitch a voice has (its normalised autocorrelation peaks
//! above 0.5 at a lag of 70–400 Hz). Speech is voiced stretches broken by
//! pauses and unvoiced consonants a few times a second, so the answer is
//! the seconds of voiced frames and the number of *bursts*: voiced runs of
//! at least 50 ms. Noise is loud but not periodic; a held tone is periodic
//! but one burst at most (with nothing quieter, it is its own floor);
//! silence is neither.

use scout_proto::scout::render::v1::DetectSpeechResponse;

use crate::media::audio::SAMPLE_RATE;

/// The analysis rate.
const RATE: usize = 8_000;
/// Frame length (30 ms).
const FRAME: usize = RATE * 30 / 1000;
/// Hop between frames (10 ms).
const HOP: usize = RATE / 100;
/// Lowest and highest pitch taken for a voice, Hz.
const PITCH_HZ: (usize, usize) = (70, 400);
/// How far above the noise floor a loud frame stands, dB.
const ABOVE_FLOOR_DB: f64 = 10.0;
/// Quietest a loud frame may be, dBFS.
const QUIETEST_DBFS: f64 = -55.0;
/// Periodicity a voiced frame needs.
const VOICED_CORRELATION: f64 = 0.5;
/// Shortest voiced run counted as a burst, frames (50 ms).
const MIN_BURST_FRAMES: usize = 5;

/// 48 kHz samples averaged down to [`RATE`] (the average is the low-pass).
fn downsample(samples: &[f32]) -> Vec<f32> {
    let step = SAMPLE_RATE as usize / RATE;
    samples
        .chunks(step)
        .map(|c| c.iter().sum::<f32>() / c.len() as f32)
        .collect()
}

fn dbfs(frame: &[f32]) -> f64 {
    let energy = frame
        .iter()
        .map(|&s| f64::from(s) * f64::from(s))
        .sum::<f64>();
    let rms = (energy / frame.len().max(1) as f64).sqrt();
    20.0 * rms.max(1e-9).log10()
}

/// The frame's strongest normalised autocorrelation at a voice's pitch.
fn periodicity(frame: &[f32]) -> f64 {
    let mean = frame.iter().sum::<f32>() / frame.len() as f32;
    let x: Vec<f64> = frame.iter().map(|&s| f64::from(s - mean)).collect();
    let (shortest, longest) = (RATE / PITCH_HZ.1, RATE / PITCH_HZ.0);
    (shortest..=longest.min(x.len() / 2))
        .map(|lag| {
            let (a, b) = (&x[..x.len() - lag], &x[lag..]);
            let cross: f64 = a.iter().zip(b).map(|(p, q)| p * q).sum();
            let ea: f64 = a.iter().map(|p| p * p).sum();
            let eb: f64 = b.iter().map(|q| q * q).sum();
            if ea <= 0.0 || eb <= 0.0 {
                0.0
            } else {
                cross / (ea * eb).sqrt()
            }
        })
        .fold(0.0, f64::max)
}

/// What is heard in 48 kHz mono samples.
pub fn detect(samples: &[f32]) -> DetectSpeechResponse {
    let duration = samples.len() as f64 / f64::from(SAMPLE_RATE);
    let x = downsample(samples);
    let frames: Vec<&[f32]> = if x.len() < FRAME {
        Vec::new()
    } else {
        (0..=(x.len() - FRAME) / HOP)
            .map(|i| &x[i * HOP..i * HOP + FRAME])
            .collect()
    };
    let levels: Vec<f64> = frames.iter().map(|f| dbfs(f)).collect();
    let peak = levels.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let floor = {
        let mut sorted = levels.clone();
        sorted.sort_by(f64::total_cmp);
        sorted.get(sorted.len() / 10).copied().unwrap_or(-120.0)
    };
    let loud_from = (floor + ABOVE_FLOOR_DB).max(QUIETEST_DBFS);
    let voiced: Vec<bool> = frames
        .iter()
        .zip(&levels)
        .map(|(f, &db)| db >= loud_from && periodicity(f) >= VOICED_CORRELATION)
        .collect();
    let mut bursts = 0;
    let mut run = 0;
    for &v in voiced.iter().chain(std::iter::once(&false)) {
        if v {
            run += 1;
        } else {
            if run >= MIN_BURST_FRAMES {
                bursts += 1;
            }
            run = 0;
        }
    }
    let voiced_frames = voiced.iter().filter(|&&v| v).count();
    DetectSpeechResponse {
        duration_seconds: duration,
        speech_seconds: (voiced_frames * HOP) as f64 / RATE as f64,
        bursts,
        peak_dbfs: if peak.is_finite() { peak } else { -120.0 },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(seconds: f64, hz: f64, amplitude: f32) -> Vec<f32> {
        let n = (seconds * f64::from(SAMPLE_RATE)) as usize;
        (0..n)
            .map(|i| {
                amplitude
                    * (2.0 * std::f64::consts::PI * hz * i as f64 / f64::from(SAMPLE_RATE)).sin()
                        as f32
            })
            .collect()
    }

    /// A deterministic white noise (xorshift).
    fn noise(seconds: f64, amplitude: f32) -> Vec<f32> {
        let mut s: u32 = 0x9e37_79b9;
        (0..(seconds * f64::from(SAMPLE_RATE)) as usize)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                amplitude * (s as f32 / u32::MAX as f32 * 2.0 - 1.0)
            })
            .collect()
    }

    #[test]
    fn silence_noise_and_a_held_tone_are_not_speech() {
        let silence = detect(&vec![0.0; SAMPLE_RATE as usize * 6]);
        assert_eq!(silence.speech_seconds, 0.0);
        assert_eq!(silence.bursts, 0);
        assert!((silence.duration_seconds - 6.0).abs() < 1e-9);

        let hiss = detect(&noise(6.0, 0.3));
        assert!(hiss.speech_seconds < 0.5, "{hiss:?}");
        assert!(hiss.peak_dbfs > -30.0, "{hiss:?}");

        // A held tone is its own floor: never above it, at most one burst.
        let held = detect(&tone(6.0, 220.0, 0.5));
        assert!(held.bursts <= 1, "{held:?}");
        // A tone starting after a pause is one long burst.
        let mut late = vec![0.0; SAMPLE_RATE as usize];
        late.extend(tone(5.0, 220.0, 0.5));
        let late = detect(&late);
        assert_eq!(late.bursts, 1, "{late:?}");
        assert!(late.speech_seconds > 4.5, "{late:?}");
    }

    #[test]
    fn pitched_syllables_between_pauses_are_counted_as_bursts() {
        // Twelve 200 ms "syllables" at 150 Hz, 150 ms apart, over a hiss.
        let mut x = noise(4.2, 0.01);
        let syllable = tone(0.2, 150.0, 0.4);
        for k in 0..12 {
            let at = (k as f64 * 0.35 * f64::from(SAMPLE_RATE)) as usize;
            for (i, s) in syllable.iter().enumerate() {
                x[at + i] += s;
            }
        }
        let heard = detect(&x);
        assert_eq!(heard.bursts, 12, "{heard:?}");
        assert!((heard.speech_seconds - 2.4).abs() < 0.3, "{heard:?}");
    }

    #[test]
    fn a_file_shorter_than_a_frame_is_empty() {
        let heard = detect(&[0.1; 100]);
        assert_eq!(heard.bursts, 0);
        assert_eq!(heard.peak_dbfs, -120.0);
    }
}
