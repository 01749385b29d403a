//! Render's own music bed: a soft, royalty-free loop made here (no file to
//! ship or license) for narrated videos that ask for music without a
//! track of their own (topic_short). Four chords (I-V-vi-IV in C major),
//! two seconds each, as a warm pad, a bass note and a quiet plucked
//! arpeggio; the loop starts and ends on a chord boundary, so looped it
//! has no seam. Deterministic: the same samples every time.

use std::f64::consts::TAU;

use super::audio::SAMPLE_RATE;

/// The loop's length, seconds.
pub const LOOP_SECONDS: f64 = 8.0;
/// Seconds per chord.
const CHORD_SECONDS: f64 = 2.0;
/// Peak level of the mix, linear.
const PEAK: f32 = 0.35;
/// The blob key the bed is kept under (its version in the name).
pub const KEY: &str = "music/scout-bed-v1.wav";

/// MIDI notes of each chord (pad), its bass, and its arpeggio.
const CHORDS: [([u8; 3], u8, [u8; 4]); 4] = [
    ([60, 64, 67], 36, [72, 67, 64, 67]), // C
    ([59, 62, 67], 43, [71, 67, 62, 67]), // G/B
    ([60, 64, 69], 45, [72, 69, 64, 69]), // Am
    ([60, 65, 69], 41, [72, 69, 65, 69]), // F
];

fn hz(note: u8) -> f64 {
    440.0 * 2f64.powf((f64::from(note) - 69.0) / 12.0)
}

/// The bed's samples, mono at [`SAMPLE_RATE`].
pub fn samples() -> Vec<f32> {
    let rate = f64::from(SAMPLE_RATE);
    let n = (LOOP_SECONDS * rate).round() as usize;
    let chord_len = (CHORD_SECONDS * rate).round() as usize;
    let mut out = vec![0f64; n];
    for (c, (pad, bass, arp)) in CHORDS.iter().enumerate() {
        let start = c * chord_len;
        for i in 0..chord_len {
            let t = i as f64 / rate;
            // A pad swelling in and out within its chord (the ends meet
            // at zero, so chords, and loops, join without a click).
            let swell = (std::f64::consts::PI * t / CHORD_SECONDS).sin().powf(0.6);
            let mut v = 0.0;
            for (k, note) in pad.iter().enumerate() {
                let f = hz(*note);
                // Two slightly detuned voices per note.
                v += 0.16 * ((TAU * f * t).sin() + (TAU * f * 1.003 * t + k as f64).sin());
            }
            v *= swell;
            // Bass: a soft sine, swelling too.
            v += 0.22 * swell * (TAU * hz(*bass) * t).sin();
            // Arpeggio: a plucked note every half second, decaying.
            let step = 0.5;
            let which = ((t / step) as usize).min(arp.len() - 1);
            let since = t - which as f64 * step;
            let pluck = (-since * 6.0).exp() * (1.0 - (-since * 200.0).exp());
            let f = hz(arp[which]);
            v += 0.12 * pluck * ((TAU * f * since).sin() + 0.3 * (TAU * 2.0 * f * since).sin());
            if let Some(s) = out.get_mut(start + i) {
                *s += v;
            }
        }
    }
    let peak = out.iter().fold(0f64, |m, s| m.max(s.abs())).max(1e-9);
    out.iter().map(|s| (s / peak) as f32 * PEAK).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bed_is_eight_quiet_seconds_that_loop_without_a_click() {
        let s = samples();
        assert_eq!(s.len(), (LOOP_SECONDS * f64::from(SAMPLE_RATE)) as usize);
        let peak = s.iter().fold(0f32, |m, v| m.max(v.abs()));
        assert!((peak - PEAK).abs() < 1e-3, "peak {peak}");
        // Every second has sound.
        for sec in s.chunks(SAMPLE_RATE as usize) {
            let rms = (sec.iter().map(|v| v * v).sum::<f32>() / sec.len() as f32).sqrt();
            assert!(rms > 0.02, "a quiet second: rms {rms}");
        }
        // The loop's end meets its start: no jump bigger than the signal's
        // own steps.
        let max_step = s.windows(2).fold(0f32, |m, w| m.max((w[1] - w[0]).abs()));
        let seam = (s[0] - s[s.len() - 1]).abs();
        assert!(seam <= max_step, "seam {seam} > step {max_step}");
        assert_eq!(s, samples(), "deterministic");
    }
}
