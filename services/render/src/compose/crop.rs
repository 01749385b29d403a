//! The face-aware crop (`FIT_MODE_CROP_FACE`): the source is scaled to
//! cover the output and a window of the output's size follows the clip's
//! subject — its largest face, or its salient region where there is none,
//! as shot analysis found them every couple of seconds.
//!
//! The path is sampled every [`STEP`] seconds of the segment, smoothed with
//! a zero-phase exponential filter (no lag, no jitter), limited to
//! [`MAX_PAN`] pixels a second, and handed to FFmpeg's `crop` filter as a
//! piecewise-linear expression of the frame time.

/// Seconds between the path's samples.
pub const STEP: f64 = 0.5;
/// Fastest pan, pixels of the scaled source a second (a slow, steady move).
pub const MAX_PAN: f64 = 240.0;
/// Time constant of the smoothing, seconds.
const SMOOTHING: f64 = 0.8;

/// The crop's path: top-left corners at segment times, in the scaled source.
#[derive(Debug, Clone, PartialEq)]
pub struct CropPath {
    /// The scaled source size (covers the output).
    pub scaled: (u32, u32),
    /// The output size (the crop's size).
    pub out: (u32, u32),
    /// (segment seconds, x, y) of the crop's top-left corner.
    pub points: Vec<(f64, f64, f64)>,
}

/// Where the subject is at clip time `t`: linear between the focus points,
/// the nearest one outside them.
fn focus_at(focus: &[(f64, f64, f64)], t: f64) -> (f64, f64) {
    match focus {
        [] => (0.5, 0.5),
        [only] => (only.1, only.2),
        _ => {
            let i = focus.partition_point(|p| p.0 <= t);
            if i == 0 {
                return (focus[0].1, focus[0].2);
            }
            if i == focus.len() {
                let last = focus[focus.len() - 1];
                return (last.1, last.2);
            }
            let (a, b) = (focus[i - 1], focus[i]);
            let k = if b.0 > a.0 {
                (t - a.0) / (b.0 - a.0)
            } else {
                0.0
            };
            (a.1 + (b.1 - a.1) * k, a.2 + (b.2 - a.2) * k)
        }
    }
}

/// Forward then backward exponential smoothing (zero phase).
fn smooth(v: &mut [f64]) {
    let alpha = 1.0 - (-STEP / SMOOTHING).exp();
    for i in 1..v.len() {
        v[i] = v[i - 1] + alpha * (v[i] - v[i - 1]);
    }
    for i in (0..v.len().saturating_sub(1)).rev() {
        v[i] = v[i + 1] + alpha * (v[i] - v[i + 1]);
    }
}

/// No faster than `MAX_PAN` between samples.
fn limit_speed(v: &mut [f64]) {
    let max = MAX_PAN * STEP;
    for i in 1..v.len() {
        v[i] = v[i].clamp(v[i - 1] - max, v[i - 1] + max);
    }
}

/// The crop path of a window `[from, from + seconds × speed)` of a clip of
/// `source` size (upright) whose subject is at `focus` ((clip seconds,
/// x 0-1, y 0-1), in time order), for an `out`-sized output.
pub fn path(
    focus: &[(f64, f64, f64)],
    source: (u32, u32),
    out: (u32, u32),
    from: f64,
    speed: f64,
    seconds: f64,
) -> CropPath {
    let (sw, sh) = (f64::from(source.0.max(1)), f64::from(source.1.max(1)));
    let (ow, oh) = (f64::from(out.0), f64::from(out.1));
    let k = (ow / sw).max(oh / sh);
    let even = |v: f64| ((v.round() as u32) + 1) & !1;
    let scaled = (even(sw * k).max(out.0), even(sh * k).max(out.1));
    let (room_x, room_y) = (f64::from(scaled.0 - out.0), f64::from(scaled.1 - out.1));
    let n = (seconds / STEP).ceil().max(1.0) as usize;
    let times: Vec<f64> = (0..=n).map(|i| (i as f64 * STEP).min(seconds)).collect();
    let (mut xs, mut ys): (Vec<f64>, Vec<f64>) = times
        .iter()
        .map(|s| {
            let (fx, fy) = focus_at(focus, from + s * speed);
            (
                (fx * f64::from(scaled.0) - ow / 2.0).clamp(0.0, room_x),
                (fy * f64::from(scaled.1) - oh / 2.0).clamp(0.0, room_y),
            )
        })
        .unzip();
    for v in [&mut xs, &mut ys] {
        smooth(v);
        limit_speed(v);
    }
    CropPath {
        scaled,
        out,
        points: times
            .into_iter()
            .zip(xs.into_iter().zip(ys))
            .map(|(t, (x, y))| (t, x.round(), y.round()))
            .collect(),
    }
}

impl CropPath {
    /// The corner at segment time `t` (what the filter computes).
    pub fn at(&self, t: f64) -> (f64, f64) {
        let pts: Vec<(f64, f64, f64)> = self.points.clone();
        focus_at(&pts, t)
    }

    /// One coordinate as a piecewise-linear expression of `t`, commas
    /// escaped for a filter graph.
    fn expression(&self, pick: impl Fn(&(f64, f64, f64)) -> f64) -> String {
        let p = &self.points;
        let Some(last) = p.last() else {
            return "0".into();
        };
        let mut expr = format!("{}", pick(last));
        for w in p.windows(2).rev() {
            let (a, b) = (&w[0], &w[1]);
            let (va, vb) = (pick(a), pick(b));
            let span = (b.0 - a.0).max(1e-6);
            let piece = if va == vb {
                format!("{va}")
            } else {
                format!("{va}+({})*(t-{})/{span}", vb - va, a.0)
            };
            expr = format!("if(lt(t\\,{})\\,{piece}\\,{expr})", b.0);
        }
        expr
    }

    /// The filters: scale to cover, crop along the path.
    pub fn chain(&self) -> String {
        format!(
            "scale={}:{}:flags=bicubic,crop=w={}:h={}:x={}:y={},setsar=1",
            self.scaled.0,
            self.scaled.1,
            self.out.0,
            self.out.1,
            self.expression(|p| p.1),
            self.expression(|p| p.2)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_crop_follows_the_face_and_stays_in_the_frame() {
        // A 1920x1080 clip, the face at 80% across, still.
        let p = path(
            &[(0.0, 0.8, 0.4), (4.0, 0.8, 0.4)],
            (1920, 1080),
            (1080, 1920),
            0.0,
            1.0,
            4.0,
        );
        assert_eq!(p.scaled, (3414, 1920));
        for (_, x, y) in &p.points {
            assert_eq!(*y, 0.0);
            // The face (at 0.8 × 3414 = 2731) is inside the crop.
            assert!(*x <= 2731.0 && x + 1080.0 >= 2731.0, "{x}");
            assert!(*x >= 0.0 && x + 1080.0 <= 3414.0);
        }
    }

    #[test]
    fn a_moving_subject_is_followed_smoothly() {
        // The subject jumps from left to right and back every 2 s.
        let focus: Vec<(f64, f64, f64)> = (0..6)
            .map(|i| (f64::from(i) * 2.0, if i % 2 == 0 { 0.2 } else { 0.8 }, 0.5))
            .collect();
        let p = path(&focus, (1920, 1080), (1080, 1920), 0.0, 1.0, 10.0);
        // Frame to frame (30 fps) the crop moves at most MAX_PAN / 30 px.
        let mut t = 0.0;
        let mut prev = p.at(0.0);
        while t < 10.0 {
            t += 1.0 / 30.0;
            let now = p.at(t);
            assert!(
                (now.0 - prev.0).abs() <= MAX_PAN / 30.0 + 1.0,
                "{t}: {prev:?} → {now:?}"
            );
            prev = now;
        }
        // The expression is what the filter evaluates: escaped commas, nested ifs.
        let chain = p.chain();
        assert!(
            chain.starts_with("scale=3414:1920:flags=bicubic,crop=w=1080:h=1920:x=if(lt(t\\,0.5)"),
            "{chain}"
        );
        assert!(!chain.contains(", "));
    }

    #[test]
    fn a_slowed_window_maps_segment_time_to_clip_time() {
        // Window from 3 s at half speed: segment 2 s is clip 4 s.
        let focus = [(3.0, 0.2, 0.5), (5.0, 0.2, 0.5), (7.0, 0.8, 0.5)];
        let p = path(&focus, (1920, 1080), (1080, 1920), 3.0, 0.5, 4.0);
        let left = p.at(0.0).0;
        assert!(left < 300.0, "{left}");
    }
}
