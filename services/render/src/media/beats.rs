//! Beat tracking for cutting pictures to music: an onset envelope (the
//! rise of a pre-emphasised signal's log energy, 10 ms hops), the tempo from
//! its autocorrelation (weighted towards 120 BPM, as listeners hear it),
//! beats by dynamic programming over the envelope (Ellis 2007: each beat on
//! a strong onset, one period after the one before), each refined to its
//! onset at 1 ms.

/// Envelope hop, seconds.
const HOP: f64 = 0.010;
/// Energy window, seconds.
const WINDOW: f64 = 0.020;
/// Tempo range searched, beats per minute.
const BPM_RANGE: (f64, f64) = (60.0, 200.0);
/// Where the tempo prior centres, BPM, and its width in octaves.
const BPM_PRIOR: (f64, f64) = (120.0, 1.0);
/// How strongly a beat keeps to the period (DP tightness).
const TIGHTNESS: f64 = 100.0;

/// A track's beats.
#[derive(Debug, Clone, PartialEq)]
pub struct Beats {
    /// Beat times, seconds from the start, ascending.
    pub times: Vec<f64>,
    /// Tempo, beats per minute (0 when none was found).
    pub bpm: f64,
}

/// The onset envelope of mono `samples` at `rate`: one value per hop.
fn envelope(samples: &[f32], rate: u32) -> Vec<f64> {
    let hop = (HOP * f64::from(rate)).round().max(1.0) as usize;
    let win = (WINDOW * f64::from(rate)).round().max(1.0) as usize;
    let mut prev = 0.0f32;
    // Pre-emphasis: onsets are in the highs.
    let emphasised: Vec<f32> = samples
        .iter()
        .map(|&x| {
            let y = x - 0.97 * prev;
            prev = x;
            y
        })
        .collect();
    let frames = emphasised.len() / hop;
    let mut energy = Vec::with_capacity(frames);
    for f in 0..frames {
        let from = f * hop;
        let to = (from + win).min(emphasised.len());
        let e: f64 = emphasised[from..to]
            .iter()
            .map(|&v| f64::from(v) * f64::from(v))
            .sum::<f64>()
            / (to - from).max(1) as f64;
        energy.push((e + 1e-10).log10());
    }
    let mut onset = vec![0.0; energy.len()];
    for i in 1..energy.len() {
        onset[i] = (energy[i] - energy[i - 1]).max(0.0);
    }
    // Normalised, so the DP's two terms are comparable for any loudness.
    let sd = std_dev(&onset);
    if sd > 0.0 {
        for v in &mut onset {
            *v /= sd;
        }
    }
    onset
}

fn std_dev(v: &[f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    (v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / v.len() as f64).sqrt()
}

/// The beat period in hops: the lag whose autocorrelation, weighted by the
/// tempo prior, is highest.
fn period(onset: &[f64]) -> Option<usize> {
    let min_lag = (60.0 / BPM_RANGE.1 / HOP).floor() as usize;
    let max_lag = (60.0 / BPM_RANGE.0 / HOP).ceil() as usize;
    if onset.len() < 2 * max_lag {
        return None;
    }
    let mean = onset.iter().sum::<f64>() / onset.len() as f64;
    let centred: Vec<f64> = onset.iter().map(|v| v - mean).collect();
    let mut best = None;
    let mut best_score = 0.0;
    for lag in min_lag..=max_lag {
        let ac: f64 = centred[lag..]
            .iter()
            .zip(&centred)
            .map(|(a, b)| a * b)
            .sum::<f64>()
            / (centred.len() - lag) as f64;
        let bpm = 60.0 / (lag as f64 * HOP);
        let octaves = (bpm / BPM_PRIOR.0).log2() / BPM_PRIOR.1;
        let score = ac * (-0.5 * octaves * octaves).exp();
        if score > best_score {
            best_score = score;
            best = Some(lag);
        }
    }
    best
}

/// Beats by dynamic programming: each hop's best score is its onset plus
/// the best earlier beat's score less a penalty for straying from `period`.
fn track(onset: &[f64], period: usize) -> Vec<usize> {
    let n = onset.len();
    let p = period as f64;
    let mut score = vec![0.0f64; n];
    let mut from = vec![usize::MAX; n];
    for t in 0..n {
        let lo = t.saturating_sub(2 * period);
        let hi = t.saturating_sub(period / 2);
        let mut best = 0.0;
        let mut arg = usize::MAX;
        for (tau, earlier) in score.iter().enumerate().take(hi).skip(lo) {
            let gap = (t - tau) as f64 / p;
            let s = earlier - TIGHTNESS * gap.ln() * gap.ln();
            if arg == usize::MAX || s > best {
                best = s;
                arg = tau;
            }
        }
        score[t] = onset[t] + if arg == usize::MAX { 0.0 } else { best };
        from[t] = arg;
    }
    // The last beat: the best score within the final period.
    let tail = n.saturating_sub(period);
    let Some(mut t) = (tail..n).max_by(|a, b| score[*a].total_cmp(&score[*b])) else {
        return Vec::new();
    };
    let mut beats = vec![t];
    while from[t] != usize::MAX {
        t = from[t];
        beats.push(t);
    }
    beats.reverse();
    // A leading "beat" on silence is the DP's start, not a beat.
    let floor = 0.1;
    beats.retain(|&b| {
        onset[b] > floor
            || onset[b.saturating_sub(1)..(b + 2).min(n)]
                .iter()
                .any(|v| *v > floor)
    });
    beats
}

/// The onset nearest `time`, at 1 ms: where the 1 ms energy rises most
/// within ±20 ms.
fn refine(samples: &[f32], rate: u32, time: f64) -> f64 {
    let ms = (f64::from(rate) / 1000.0).round().max(1.0) as usize;
    let centre = (time * f64::from(rate)) as usize;
    let from = centre.saturating_sub(20 * ms);
    let to = (centre + 20 * ms).min(samples.len());
    if to <= from + 2 * ms {
        return time;
    }
    let energy: Vec<f64> = samples[from..to]
        .chunks(ms)
        .map(|c| c.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>())
        .collect();
    let mut best = 0.0;
    let mut at = None;
    for i in 1..energy.len() {
        let rise = energy[i] - energy[i - 1];
        if rise > best {
            best = rise;
            at = Some(i);
        }
    }
    match at {
        Some(i) => (from + i * ms) as f64 / f64::from(rate),
        None => time,
    }
}

/// The beats of mono `samples` at `rate` Hz.
pub fn detect(samples: &[f32], rate: u32) -> Beats {
    let onset = envelope(samples, rate);
    let Some(p) = period(&onset) else {
        return Beats {
            times: Vec::new(),
            bpm: 0.0,
        };
    };
    let times = track(&onset, p)
        .into_iter()
        // Hop i's rise is window i taking in the onset: it lies 10-20 ms
        // after the hop's start.
        .map(|b| refine(samples, rate, b as f64 * HOP + 0.015))
        .collect::<Vec<f64>>();
    let mut times: Vec<f64> = times;
    times.dedup_by(|a, b| (*a - *b).abs() < 0.05);
    Beats {
        times,
        bpm: 60.0 / (p as f64 * HOP),
    }
}

/// A click track: a 1 ms burst of 2 kHz every `60/bpm` s from `first`,
/// over a quiet hum, for tests and benchmarks.
pub fn click_track(bpm: f64, first: f64, seconds: f64, rate: u32) -> Vec<f32> {
    let n = (seconds * f64::from(rate)) as usize;
    let r = f64::from(rate);
    let mut out: Vec<f32> = (0..n)
        .map(|i| (0.02 * (2.0 * std::f64::consts::PI * 110.0 * i as f64 / r).sin()) as f32)
        .collect();
    let period = 60.0 / bpm;
    let mut t = first;
    while t < seconds {
        let start = (t * r) as usize;
        for k in 0..(0.004 * r) as usize {
            if let Some(s) = out.get_mut(start + k) {
                let decay = (-(k as f64) / (0.001 * r)).exp();
                *s += (0.8 * decay * (2.0 * std::f64::consts::PI * 2000.0 * k as f64 / r).sin())
                    as f32;
            }
        }
        t += period;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clicks(bpm: f64, first: f64, seconds: f64) -> Vec<f64> {
        let mut out = Vec::new();
        let mut t = first;
        while t < seconds {
            out.push(t);
            t += 60.0 / bpm;
        }
        out
    }

    #[test]
    fn a_click_track_s_beats_are_its_clicks() {
        for (bpm, first) in [(120.0, 0.25), (96.0, 0.6), (150.0, 0.1)] {
            let track = click_track(bpm, first, 12.0, 48_000);
            let b = detect(&track, 48_000);
            assert!((b.bpm - bpm).abs() / bpm < 0.03, "{bpm}: {}", b.bpm);
            let expected = clicks(bpm, first, 12.0);
            // Every detected beat is a click (within 5 ms), and nearly every
            // click was found.
            for t in &b.times {
                let nearest = expected
                    .iter()
                    .map(|c| (c - t).abs())
                    .fold(f64::MAX, f64::min);
                assert!(nearest < 0.005, "{bpm}: beat {t} is {nearest} s off");
            }
            assert!(
                b.times.len() + 2 >= expected.len(),
                "{bpm}: {} of {}",
                b.times.len(),
                expected.len()
            );
        }
    }

    #[test]
    fn silence_and_a_too_short_file_have_no_beats() {
        assert!(detect(&vec![0.0; 48_000 * 5], 48_000).times.is_empty());
        assert!(detect(&[0.1; 100], 48_000).times.is_empty());
    }
}
