//! How long narration takes in the video, from a voice's measured rate.
//!
//! The render node measures each voice ([`SpeechRate`]: characters and
//! words a second, and the seconds a paragraph takes besides its words);
//! the writer sizes scripts with it, tasks estimates edits with it, and the
//! web app repeats [`paragraph_seconds`] in TypeScript. One formula, so the
//! length announced is the length rendered.

use scout_proto::scout::common::v1::SpeechRate;

/// What a script aims at, seconds of video (seed 000: about 60 s).
pub const TARGET_SECONDS: f64 = 60.0;
/// How far from the target a generated script may land.
pub const TOLERANCE_SECONDS: f64 = 6.0;
/// Longer than this and the video no longer fits the short-video format.
pub const LIMIT_SECONDS: f64 = TARGET_SECONDS + TOLERANCE_SECONDS;

/// The rate used when no render node has answered: Mandarin narration at
/// 4.5 characters a second, other words at 2.5, a second per paragraph.
pub fn default_rate() -> SpeechRate {
    SpeechRate {
        cjk_chars_per_second: 4.5,
        words_per_second: 2.5,
        paragraph_seconds: 1.0,
        provider: String::new(),
    }
}

/// `rate` when it is usable (every figure positive and finite), else the default.
pub fn usable(rate: Option<&SpeechRate>) -> SpeechRate {
    match rate {
        Some(r)
            if [r.cjk_chars_per_second, r.words_per_second]
                .iter()
                .all(|v| v.is_finite() && *v > 0.0)
                && r.paragraph_seconds.is_finite()
                && r.paragraph_seconds >= 0.0 =>
        {
            r.clone()
        }
        _ => default_rate(),
    }
}

/// Whether `c` is spoken as one CJK syllable.
pub fn is_cjk(c: char) -> bool {
    ('\u{3400}'..='\u{9fff}').contains(&c) || ('\u{f900}'..='\u{faff}').contains(&c)
}

/// CJK characters and other words (runs of ASCII letters and digits) in `text`.
pub fn count(text: &str) -> (usize, usize) {
    let cjk = text.chars().filter(|c| is_cjk(*c)).count();
    let words = text
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .count();
    (cjk, words)
}

/// Seconds of speech for the words of `text` alone.
pub fn words_seconds(text: &str, rate: &SpeechRate) -> f64 {
    let rate = usable(Some(rate));
    let (cjk, words) = count(text);
    cjk as f64 / rate.cjk_chars_per_second + words as f64 / rate.words_per_second
}

/// Seconds of video one paragraph of `text` makes, to a tenth of a second.
pub fn paragraph_seconds(text: &str, rate: &SpeechRate) -> f64 {
    let rate = usable(Some(rate));
    ((rate.paragraph_seconds + words_seconds(text, &rate)) * 10.0).round() / 10.0
}

/// Seconds of video `paragraphs` make.
pub fn script_seconds<'a>(paragraphs: impl IntoIterator<Item = &'a str>, rate: &SpeechRate) -> f64 {
    paragraphs
        .into_iter()
        .map(|t| paragraph_seconds(t, rate))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimates_follow_the_rate() {
        let rate = SpeechRate {
            cjk_chars_per_second: 3.0,
            words_per_second: 2.0,
            paragraph_seconds: 1.0,
            provider: "espeak-ng".into(),
        };
        assert_eq!(count("人均89元，very good"), (3, 3));
        // 6 CJK characters (2 s), 2 words (1 s), the pause (1 s).
        assert_eq!(paragraph_seconds("家人们好呀啊！hello world", &rate), 4.0);
        assert_eq!(script_seconds(["你好吗", "我很好"], &rate), 4.0);
        // A broken rate falls back to the defaults instead of dividing by zero.
        let broken = SpeechRate::default();
        assert_eq!(paragraph_seconds("一二三四五六七八九", &broken), 3.0);
    }
}
