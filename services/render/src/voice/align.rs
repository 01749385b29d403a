//! When each word of a line is spoken: what a provider returned (Seed-TTS's
//! per-word timestamps), or a forced alignment of the synthesis we made.
//!
//! The alignment reads the audio's energy in 10 ms frames. The voice pauses
//! at punctuation, so the text's phrases (split after ，。！？ and the like)
//! are matched to the longest silent gaps, in order; inside a phrase the
//! voiced time is shared among its words by their spoken weight (a CJK
//! character one syllable, a Latin word or a number about one and a half).
//! When the audio has fewer clear gaps than the text has phrase breaks, the
//! whole voiced span is shared that way instead.

/// One spoken word (a CJK character, a Latin word or number), with the
/// punctuation that follows it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Word {
    /// The word as written.
    pub text: String,
    /// Start, seconds from the start of the speech.
    pub start: f64,
    /// End, seconds.
    pub end: f64,
}

/// Frame length of the energy analysis, seconds.
const FRAME: f64 = 0.010;
/// Shortest silence that counts as a pause between phrases, seconds.
const MIN_GAP: f64 = 0.06;

fn is_break(c: char) -> bool {
    "，。！？、；：,.!?;:…".contains(c)
}

/// The words of `text`, with their spoken weights and whether a phrase
/// ends after them.
pub fn words(text: &str) -> Vec<(String, f64, bool)> {
    let mut out: Vec<(String, f64, bool)> = Vec::new();
    let mut latin = String::new();
    let flush = |latin: &mut String, out: &mut Vec<(String, f64, bool)>| {
        if !latin.is_empty() {
            out.push((std::mem::take(latin), 1.5, false));
        }
    };
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            latin.push(c);
            continue;
        }
        flush(&mut latin, &mut out);
        if scout_common::speech::is_cjk(c) {
            out.push((c.to_string(), 1.0, false));
        } else if let Some(last) = out.last_mut() {
            // Punctuation and spaces ride with the word before them.
            last.0.push(c);
            if is_break(c) {
                last.2 = true;
            }
        }
    }
    flush(&mut latin, &mut out);
    out
}

/// Frames (start, end indices) where the audio is voiced.
fn voiced_runs(samples: &[f32], rate: u32) -> Vec<(usize, usize)> {
    let n = ((f64::from(rate) * FRAME) as usize).max(1);
    let energy: Vec<f32> = samples
        .chunks(n)
        .map(|c| (c.iter().map(|v| v * v).sum::<f32>() / c.len() as f32).sqrt())
        .collect();
    let peak = energy.iter().copied().fold(0.0f32, f32::max);
    if peak <= 0.0 {
        return Vec::new();
    }
    let threshold = peak * 0.04;
    let mut runs = Vec::new();
    let mut start = None;
    for (i, e) in energy.iter().enumerate() {
        match (start, *e > threshold) {
            (None, true) => start = Some(i),
            (Some(s), false) => {
                runs.push((s, i));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        runs.push((s, energy.len()));
    }
    // Gaps shorter than a pause are inside a word or a phrase.
    let min_gap = (MIN_GAP / FRAME) as usize;
    let mut merged: Vec<(usize, usize)> = Vec::new();
    for r in runs {
        match merged.last_mut() {
            Some(last) if r.0 - last.1 < min_gap => last.1 = r.1,
            _ => merged.push(r),
        }
    }
    merged
}

/// Shares `[start, end)` among `words` by weight.
fn spread(words: &[(String, f64, bool)], start: f64, end: f64, out: &mut Vec<Word>) {
    let total: f64 = words.iter().map(|w| w.1).sum::<f64>().max(1e-9);
    let mut t = start;
    for w in words {
        let d = (end - start) * w.1 / total;
        out.push(Word {
            text: w.0.clone(),
            start: t,
            end: t + d,
        });
        t += d;
    }
}

/// When each word of `text` is spoken in `samples` (mono at `rate` Hz).
pub fn align(samples: &[f32], rate: u32, text: &str) -> Vec<Word> {
    let words = words(text);
    if words.is_empty() {
        return Vec::new();
    }
    let runs = voiced_runs(samples, rate);
    let secs = |frame: usize| frame as f64 * FRAME;
    let Some((first, last)) = runs.first().zip(runs.last()) else {
        let mut out = Vec::new();
        spread(
            &words,
            0.0,
            samples.len() as f64 / f64::from(rate),
            &mut out,
        );
        return out;
    };
    // The phrases, by the words that end them.
    let mut phrases: Vec<&[(String, f64, bool)]> = Vec::new();
    let mut from = 0;
    for (i, w) in words.iter().enumerate() {
        if w.2 && i + 1 < words.len() {
            phrases.push(&words[from..=i]);
            from = i + 1;
        }
    }
    phrases.push(&words[from..]);
    let mut out = Vec::with_capacity(words.len());
    // The longest gaps, as many as the phrase breaks, in time order.
    let mut gaps: Vec<(usize, usize)> = runs.windows(2).map(|w| (w[0].1, w[1].0)).collect();
    if gaps.len() + 1 < phrases.len() {
        spread(&words, secs(first.0), secs(last.1), &mut out);
        return out;
    }
    gaps.sort_by_key(|g| std::cmp::Reverse(g.1 - g.0));
    gaps.truncate(phrases.len() - 1);
    gaps.sort_unstable();
    let mut start = first.0;
    for (i, phrase) in phrases.iter().enumerate() {
        let end = gaps.get(i).map(|g| g.0).unwrap_or(last.1);
        spread(phrase, secs(start), secs(end), &mut out);
        if let Some(g) = gaps.get(i) {
            start = g.1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tone bursts of the given (start, end) seconds in silence.
    fn bursts(spans: &[(f64, f64)], total: f64) -> Vec<f32> {
        let rate = 48_000.0;
        (0..(total * rate) as usize)
            .map(|i| {
                let t = i as f64 / rate;
                if spans.iter().any(|(a, b)| t >= *a && t < *b) {
                    ((t * 220.0 * std::f64::consts::TAU).sin() * 0.5) as f32
                } else {
                    0.0
                }
            })
            .collect()
    }

    #[test]
    fn words_are_characters_and_latin_runs_with_their_punctuation() {
        let w = words("人均89元，very好！");
        let texts: Vec<&str> = w.iter().map(|w| w.0.as_str()).collect();
        assert_eq!(texts, ["人", "均", "89", "元，", "very", "好！"]);
        assert!(w[3].2 && w[5].2 && !w[0].2);
    }

    #[test]
    fn phrases_start_where_their_speech_starts() {
        // Three phrases, spoken 0.3-1.1, 1.4-2.0 and 2.5-3.4 s.
        let audio = bursts(&[(0.3, 1.1), (1.4, 2.0), (2.5, 3.4)], 4.0);
        let w = align(&audio, 48_000, "家人们好，今天探店。人均八十九！");
        assert_eq!(w.len(), 13);
        let starts: Vec<f64> = [0, 4, 8].iter().map(|&i| w[i].start).collect();
        for (got, want) in starts.iter().zip([0.3, 1.4, 2.5]) {
            assert!((got - want).abs() < 0.02, "{starts:?}");
        }
        assert!((w[12].end - 3.4).abs() < 0.02);
        assert!(w.windows(2).all(|p| p[0].end <= p[1].start + 1e-9));
    }

    #[test]
    fn without_clear_pauses_time_is_shared_by_weight() {
        let audio = bursts(&[(0.5, 2.5)], 3.0);
        let w = align(&audio, 48_000, "一二，三四");
        assert!((w[0].start - 0.5).abs() < 0.02 && (w[3].end - 2.5).abs() < 0.02);
        assert!((w[2].start - 1.5).abs() < 0.02);
    }
}
