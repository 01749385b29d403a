//! The local shot analyzer: real measurements on decoded frames, no model.
//!
//! - **clarity** from sharpness: the variance of the Laplacian of the luma,
//!   on a log scale (a blurred frame has little second-derivative energy);
//! - **lighting** from exposure (mean luma against mid-grey) and contrast
//!   (its standard deviation);
//! - **stability** from motion: the mean absolute difference between
//!   neighbouring frames, each reduced to 32x32 grey;
//! - **composition** from where the visual (gradient) energy sits — its
//!   centroid against the rule-of-thirds points and the centre — and, when
//!   the face detector finds faces, where the largest face sits against the
//!   same points (half the score each).
//!
//! Each factor is 0-100 and monotone in what it measures. Faces come from a
//! real detector ([`crate::faces`], SeetaFace's frontal cascade): a clip with
//! faces in at least half its frames is a person shot. Otherwise category
//! and tags come from colour (warm saturated food tones, neutral scenes) and
//! the same signals. Limits, honestly: there is no object recognition — a red
//! wall reads as food-coloured; the face model finds frontal faces only
//! (profiles and backs of heads are missed), from about 20 px in the
//! 360 px analysis frames.

use scout_proto::scout::common::v1::{QualityFactors, ShotCategory};

use crate::faces::{self, Face};

/// A decoded RGB frame.
#[derive(Debug, Clone)]
pub struct Frame {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// Packed RGB, 3 bytes a pixel.
    pub rgb: Vec<u8>,
}

impl Frame {
    /// Decodes a JPEG.
    pub fn from_jpeg(bytes: &[u8]) -> Result<Frame, String> {
        let img = image::load_from_memory_with_format(bytes, image::ImageFormat::Jpeg)
            .map_err(|e| format!("not a readable JPEG: {e}"))?
            .to_rgb8();
        Ok(Frame {
            width: img.width() as usize,
            height: img.height() as usize,
            rgb: img.into_raw(),
        })
    }

    fn luma(&self) -> Vec<f32> {
        self.rgb
            .chunks_exact(3)
            .map(|p| 0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2]))
            .collect()
    }
}

/// What one frame measures.
#[derive(Debug, Clone)]
pub struct Metrics {
    /// Variance of the Laplacian of the luma (0-255 scale).
    pub sharpness: f64,
    /// Mean luma, 0-1.
    pub brightness: f64,
    /// Standard deviation of the luma, 0-1.
    pub contrast: f64,
    /// Mean saturation, 0-1.
    pub saturation: f64,
    /// Share of warm, saturated pixels (reds, oranges, yellows).
    pub warm: f64,
    /// Share of skin-toned pixels.
    pub skin: f64,
    /// Centroid of the gradient energy, each coordinate 0-1.
    pub centroid: (f64, f64),
    /// 32x32 grey thumbnail, for motion between frames.
    pub thumb: Vec<f32>,
    /// Faces found, largest first.
    pub faces: Vec<Face>,
}

/// Measures one frame.
pub fn measure(f: &Frame) -> Metrics {
    let (w, h) = (f.width, f.height);
    let luma = f.luma();
    // Laplacian variance and gradient energy centroid.
    let (mut sum, mut sum2, mut n) = (0.0f64, 0.0f64, 0.0f64);
    let (mut ex, mut ey, mut et) = (0.0f64, 0.0f64, 0.0f64);
    for y in 1..h.saturating_sub(1) {
        for x in 1..w.saturating_sub(1) {
            let c = luma[y * w + x];
            let lap = luma[y * w + x - 1]
                + luma[y * w + x + 1]
                + luma[(y - 1) * w + x]
                + luma[(y + 1) * w + x]
                - 4.0 * c;
            let lap = f64::from(lap);
            sum += lap;
            sum2 += lap * lap;
            n += 1.0;
            let gx = f64::from(luma[y * w + x + 1] - luma[y * w + x - 1]);
            let gy = f64::from(luma[(y + 1) * w + x] - luma[(y - 1) * w + x]);
            let e = (gx * gx + gy * gy).sqrt();
            ex += e * x as f64;
            ey += e * y as f64;
            et += e;
        }
    }
    let sharpness = if n > 0.0 {
        sum2 / n - (sum / n).powi(2)
    } else {
        0.0
    };
    let centroid = if et > 0.0 {
        (ex / et / w as f64, ey / et / h as f64)
    } else {
        (0.5, 0.5)
    };
    let count = luma.len().max(1) as f64;
    let mean = luma.iter().map(|&v| f64::from(v)).sum::<f64>() / count;
    let var = luma
        .iter()
        .map(|&v| (f64::from(v) - mean).powi(2))
        .sum::<f64>()
        / count;
    let (mut sat_sum, mut warm, mut skin) = (0.0f64, 0usize, 0usize);
    for p in f.rgb.chunks_exact(3) {
        let (r, g, b) = (f64::from(p[0]), f64::from(p[1]), f64::from(p[2]));
        let (max, min) = (r.max(g).max(b), r.min(g).min(b));
        let sat = if max > 0.0 { (max - min) / max } else { 0.0 };
        sat_sum += sat;
        let hue = hue_degrees(r, g, b);
        if sat > 0.35 && max > 80.0 && !(70.0..=330.0).contains(&hue) {
            warm += 1;
        }
        // A classic RGB skin rule (Kovac et al.).
        if r > 95.0
            && g > 40.0
            && b > 20.0
            && max - min > 15.0
            && (r - g).abs() > 15.0
            && r > g
            && r > b
            && sat < 0.6
        {
            skin += 1;
        }
    }
    let pixels = (f.rgb.len() / 3).max(1) as f64;
    let grey: Vec<u8> = luma
        .iter()
        .map(|&v| v.round().clamp(0.0, 255.0) as u8)
        .collect();
    Metrics {
        faces: faces::detect(&grey, w, h),
        sharpness,
        brightness: mean / 255.0,
        contrast: var.sqrt() / 255.0,
        saturation: sat_sum / pixels,
        warm: warm as f64 / pixels,
        skin: skin as f64 / pixels,
        centroid,
        thumb: thumbnail(&luma, w, h),
    }
}

/// Where the frame's subject is (0-1 across, 0-1 down): the largest face's
/// centre, or, with no face, the centre of its detail (gradient energy).
/// The flag says whether it is a face.
pub fn focus(m: &Metrics) -> (f64, f64, bool) {
    match m.faces.first() {
        Some(f) => (f.cx, f.cy, true),
        None => (m.centroid.0, m.centroid.1, false),
    }
}

fn hue_degrees(r: f64, g: f64, b: f64) -> f64 {
    let (max, min) = (r.max(g).max(b), r.min(g).min(b));
    if max == min {
        return 0.0;
    }
    let d = max - min;
    let h = if max == r {
        ((g - b) / d).rem_euclid(6.0)
    } else if max == g {
        (b - r) / d + 2.0
    } else {
        (r - g) / d + 4.0
    };
    h * 60.0
}

fn thumbnail(luma: &[f32], w: usize, h: usize) -> Vec<f32> {
    const N: usize = 32;
    let mut out = vec![0.0f32; N * N];
    if w == 0 || h == 0 {
        return out;
    }
    for ty in 0..N {
        for tx in 0..N {
            let (x0, x1) = (tx * w / N, ((tx + 1) * w / N).max(tx * w / N + 1));
            let (y0, y1) = (ty * h / N, ((ty + 1) * h / N).max(ty * h / N + 1));
            let mut s = 0.0f32;
            let mut c = 0.0f32;
            for y in y0..y1.min(h) {
                for x in x0..x1.min(w) {
                    s += luma[y * w + x];
                    c += 1.0;
                }
            }
            out[ty * N + tx] = if c > 0.0 { s / c } else { 0.0 };
        }
    }
    out
}

fn clamp100(v: f64) -> i32 {
    v.round().clamp(0.0, 100.0) as i32
}

/// Clarity from sharpness: 0 for a Laplacian variance of 5 or less, 100 from 1500.
pub fn clarity(sharpness: f64) -> i32 {
    let (lo, hi) = (5f64.ln_1p(), 1500f64.ln_1p());
    clamp100((sharpness.max(0.0).ln_1p() - lo) / (hi - lo) * 100.0)
}

/// Lighting from exposure (best at mid-grey) and contrast (best from 0.22 up).
pub fn lighting(brightness: f64, contrast: f64) -> i32 {
    let exposure = (1.0 - ((brightness - 0.5).abs() / 0.5)).clamp(0.0, 1.0);
    let contrast = (contrast / 0.22).clamp(0.0, 1.0);
    clamp100(100.0 * (0.6 * exposure + 0.4 * contrast))
}

/// Stability from mean motion between neighbouring frames (0-255 luma).
pub fn stability(motion: f64) -> i32 {
    clamp100(100.0 * (-motion.max(0.0) / 25.0).exp())
}

/// Composition of a frame: [`composition`] of the energy centroid, averaged
/// with that of the largest face when there is one.
pub fn frame_composition(m: &Metrics) -> i32 {
    let energy = composition(m.centroid);
    match m.faces.first() {
        Some(face) => {
            clamp100(0.5 * f64::from(energy) + 0.5 * f64::from(composition((face.cx, face.cy))))
        }
        None => energy,
    }
}

/// Composition: how close a point of interest sits to a thirds point or
/// the centre.
pub fn composition(centroid: (f64, f64)) -> i32 {
    let anchors = [
        (1.0 / 3.0, 1.0 / 3.0),
        (2.0 / 3.0, 1.0 / 3.0),
        (1.0 / 3.0, 2.0 / 3.0),
        (2.0 / 3.0, 2.0 / 3.0),
        (0.5, 0.5),
    ];
    let d = anchors
        .iter()
        .map(|(ax, ay)| ((centroid.0 - ax).powi(2) + (centroid.1 - ay).powi(2)).sqrt())
        .fold(f64::MAX, f64::min);
    clamp100(100.0 * (1.0 - d / 0.4))
}

/// Motion between two frames' thumbnails.
pub fn motion(a: &Metrics, b: &Metrics) -> f64 {
    let n = a.thumb.len().min(b.thumb.len()).max(1);
    a.thumb
        .iter()
        .zip(&b.thumb)
        .map(|(x, y)| f64::from((x - y).abs()))
        .sum::<f64>()
        / n as f64
}

/// One clip's analysis.
#[derive(Debug, Clone)]
pub struct ClipResult {
    /// Category.
    pub category: ShotCategory,
    /// Up to 5 tags.
    pub tags: Vec<String>,
    /// One line.
    pub description: String,
    /// Overall 0-100.
    pub quality: i32,
    /// The four factors.
    pub factors: QualityFactors,
}

/// The overall score from the factors.
pub fn quality(f: &QualityFactors) -> i32 {
    clamp100(
        0.35 * f64::from(f.clarity)
            + 0.2 * f64::from(f.composition)
            + 0.25 * f64::from(f.lighting)
            + 0.2 * f64::from(f.stability),
    )
}

fn category_of(m: &Metrics) -> ShotCategory {
    if !m.faces.is_empty() {
        ShotCategory::Person
    } else if m.warm > 0.25 && m.saturation > 0.3 {
        ShotCategory::Food
    } else if m.saturation < 0.25 {
        ShotCategory::Environment
    } else {
        ShotCategory::Other
    }
}

/// Aggregates a clip's frames (in time order).
pub fn analyze_clip(frames: &[Metrics]) -> ClipResult {
    let n = frames.len().max(1) as f64;
    let mean = |f: &dyn Fn(&Metrics) -> f64| frames.iter().map(f).sum::<f64>() / n;
    let motion = if frames.len() >= 2 {
        frames.windows(2).map(|w| motion(&w[0], &w[1])).sum::<f64>() / (frames.len() - 1) as f64
    } else {
        0.0
    };
    let factors = QualityFactors {
        clarity: clarity(mean(&|m| m.sharpness)),
        composition: clamp100(
            frames
                .iter()
                .map(|m| f64::from(frame_composition(m)))
                .sum::<f64>()
                / n,
        ),
        lighting: lighting(mean(&|m| m.brightness), mean(&|m| m.contrast)),
        stability: stability(motion),
    };
    let with_faces = frames.iter().filter(|m| !m.faces.is_empty()).count();
    let most_faces = frames.iter().map(|m| m.faces.len()).max().unwrap_or(0);
    let mut votes = [0usize; 5];
    for m in frames {
        votes[category_of(m) as usize] += 1;
    }
    let category = if with_faces * 2 >= frames.len() && with_faces > 0 {
        ShotCategory::Person
    } else {
        [
            ShotCategory::Food,
            ShotCategory::Environment,
            ShotCategory::Other,
        ]
        .into_iter()
        .max_by_key(|c| votes[*c as usize])
        .unwrap_or(ShotCategory::Other)
    };
    let (brightness, warm, sat) = (
        mean(&|m| m.brightness),
        mean(&|m| m.warm),
        mean(&|m| m.saturation),
    );
    let mut tags: Vec<String> = Vec::new();
    tags.push(
        match category {
            ShotCategory::Food => "美食",
            ShotCategory::Person => "人物",
            ShotCategory::Environment => "环境",
            _ => "细节",
        }
        .into(),
    );
    tags.push(
        if warm > 0.2 {
            "暖色调"
        } else if sat < 0.2 {
            "素雅"
        } else {
            "色彩丰富"
        }
        .into(),
    );
    tags.push(
        if brightness > 0.6 {
            "明亮"
        } else if brightness < 0.3 {
            "昏暗"
        } else {
            "光线柔和"
        }
        .into(),
    );
    if factors.clarity >= 70 {
        tags.push("清晰".into());
    }
    if factors.stability >= 80 {
        tags.push("稳定".into());
    } else if factors.stability < 40 {
        tags.push("晃动".into());
    }
    tags.truncate(5);
    let subject = match (category, most_faces) {
        (ShotCategory::Person, 1) => "单人出镜".to_string(),
        (ShotCategory::Person, n) if n > 1 => format!("{n}人出镜"),
        _ => format!("{}画面", tags[0]),
    };
    let description = format!(
        "{subject}，{}，{}",
        tags[1],
        if factors.clarity >= 60 {
            "画质清晰"
        } else {
            "略显模糊"
        }
    );
    ClipResult {
        category,
        tags,
        description,
        quality: quality(&factors),
        factors,
    }
}

/// Marks the two best clips of each category (seed 000 §4.4).
pub fn recommend(results: &[(i64, ClipResult)]) -> Vec<i64> {
    let mut out = Vec::new();
    for cat in [
        ShotCategory::Food,
        ShotCategory::Person,
        ShotCategory::Environment,
        ShotCategory::Other,
    ] {
        let mut of: Vec<&(i64, ClipResult)> =
            results.iter().filter(|(_, r)| r.category == cat).collect();
        of.sort_by(|a, b| b.1.quality.cmp(&a.1.quality).then(a.0.cmp(&b.0)));
        out.extend(of.iter().take(2).map(|(id, _)| *id));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A busy, well-lit, warm test card: stripes, a gradient and texture.
    fn card(w: usize, h: usize, shift: usize) -> Frame {
        let mut rgb = Vec::with_capacity(w * h * 3);
        for y in 0..h {
            for x in 0..w {
                let xs = x + shift;
                let stripe = if (xs / 6 + y / 6).is_multiple_of(2) {
                    60
                } else {
                    0
                };
                let noise = ((xs * 7919 + y * 104_729) % 37) as i32;
                let r = (150 + stripe + noise).min(255) as u8;
                let g = (70 + stripe / 2 + (y * 60 / h) as i32).min(255) as u8;
                let b = (10 + noise / 4) as u8;
                rgb.extend_from_slice(&[r, g, b]);
            }
        }
        Frame {
            width: w,
            height: h,
            rgb,
        }
    }

    fn blur(f: &Frame, r: usize) -> Frame {
        let mut out = f.rgb.clone();
        for y in 0..f.height {
            for x in 0..f.width {
                for c in 0..3 {
                    let (mut s, mut n) = (0u32, 0u32);
                    for yy in y.saturating_sub(r)..(y + r + 1).min(f.height) {
                        for xx in x.saturating_sub(r)..(x + r + 1).min(f.width) {
                            s += u32::from(f.rgb[(yy * f.width + xx) * 3 + c]);
                            n += 1;
                        }
                    }
                    out[(y * f.width + x) * 3 + c] = (s / n) as u8;
                }
            }
        }
        Frame {
            rgb: out,
            ..f.clone()
        }
    }

    fn darken(f: &Frame, k: f32) -> Frame {
        Frame {
            rgb: f.rgb.iter().map(|&v| (f32::from(v) * k) as u8).collect(),
            ..f.clone()
        }
    }

    fn clip(frames: &[Frame]) -> ClipResult {
        analyze_clip(&frames.iter().map(measure).collect::<Vec<_>>())
    }

    #[test]
    fn blurring_lowers_clarity_only_where_it_should() {
        let sharp: Vec<Frame> = (0..3).map(|_| card(160, 240, 0)).collect();
        let soft: Vec<Frame> = sharp.iter().map(|f| blur(f, 3)).collect();
        let (a, b) = (clip(&sharp), clip(&soft));
        assert!(
            a.factors.clarity > b.factors.clarity + 20,
            "{:?} vs {:?}",
            a.factors,
            b.factors
        );
        assert!(a.quality > b.quality);
    }

    #[test]
    fn darkening_lowers_lighting() {
        let lit: Vec<Frame> = (0..3).map(|_| card(160, 240, 0)).collect();
        let dim: Vec<Frame> = lit.iter().map(|f| darken(f, 0.25)).collect();
        let (a, b) = (clip(&lit), clip(&dim));
        assert!(
            a.factors.lighting > b.factors.lighting + 20,
            "{:?} vs {:?}",
            a.factors,
            b.factors
        );
        let dimmer: Vec<Frame> = lit.iter().map(|f| darken(f, 0.1)).collect();
        assert!(b.factors.lighting >= clip(&dimmer).factors.lighting);
    }

    #[test]
    fn shaking_lowers_stability() {
        let steady: Vec<Frame> = (0..4).map(|_| card(160, 240, 0)).collect();
        let shaky: Vec<Frame> = (0..4).map(|i| card(160, 240, [0, 17, 3, 29][i])).collect();
        let (a, b) = (clip(&steady), clip(&shaky));
        assert_eq!(a.factors.stability, 100);
        assert!(
            a.factors.stability > b.factors.stability + 20,
            "{:?} vs {:?}",
            a.factors,
            b.factors
        );
    }

    #[test]
    fn factors_stay_in_range_and_scores_are_monotone() {
        for s in [0.0, 1.0, 10.0, 100.0, 1e4, 1e9] {
            assert!((0..=100).contains(&clarity(s)));
        }
        assert!(clarity(50.0) < clarity(500.0));
        assert!(stability(1.0) > stability(30.0));
        assert!(lighting(0.5, 0.25) > lighting(0.1, 0.05));
        assert!(composition((1.0 / 3.0, 1.0 / 3.0)) > composition((0.02, 0.98)));
    }

    #[test]
    fn frames_with_faces_read_as_a_person_shot() {
        let f = Frame::from_jpeg(include_bytes!("../testdata/faces.jpg")).expect("jpeg");
        let m = measure(&f);
        assert!(m.faces.len() >= 6, "{} faces", m.faces.len());
        let r = analyze_clip(&[m.clone(), m]);
        assert_eq!(r.category, ShotCategory::Person, "{r:?}");
        assert!(r.description.contains("人出镜"), "{}", r.description);
        assert_eq!(r.tags[0], "人物");
    }

    #[test]
    fn warm_textured_frames_read_as_food_and_the_best_two_are_recommended() {
        let r = clip(&[card(160, 240, 0)]);
        assert_eq!(r.category, ShotCategory::Food, "{r:?}");
        assert!(r.tags.len() <= 5 && r.tags.contains(&"暖色调".to_string()));
        let grey = Frame {
            width: 64,
            height: 64,
            rgb: vec![128; 64 * 64 * 3],
        };
        assert_eq!(clip(&[grey]).category, ShotCategory::Environment);
        let mut results = Vec::new();
        for (id, q) in [(1, 50), (2, 90), (3, 70)] {
            let mut c = r.clone();
            c.quality = q;
            results.push((id, c));
        }
        assert_eq!(recommend(&results), vec![2, 3]);
    }
}
