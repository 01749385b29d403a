//! Fitting a decoded frame to the output: rotation, scaling, cropping,
//! letterbox or blurred-background padding, from a decoded surface (NV12,
//! P016, or planar I420) to an I420 frame of the output size.
//!
//! [`FitPlan`] is the geometry, worked out once per source: for each output
//! plane a rectangle filled from the source through an affine map in 16.16
//! fixed point, and what lies outside it (black, or a blurred copy of the
//! source at a quarter of the size). The device runs it with the kernels
//! in `gpu/kernels/fit.cu` (see `sdk::DeviceFit`, `nvidia` feature); this
//! module's [`FitPlan::run_cpu`] is the reference: the same integer
//! arithmetic, the same bytes, so the device's output is checked exactly
//! and the reference is checked against FFmpeg's filters (the CPU path's
//! `scale`/`pad`/`crop`/`boxblur`) on any machine.

use serde::{Deserialize, Serialize};

/// The kernels' PTX, compiled from `gpu/kernels/fit.cu` by
/// `gpu/kernels/build-ptx.sh`; the driver compiles it for the card at load.
pub const FIT_PTX: &str = include_str!("../kernels/fit.ptx");

/// How a source of another shape fills the output (the render issue's fit modes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FitMode {
    /// The whole source, black bars around it.
    Letterbox,
    /// The source scaled to cover, the middle kept.
    CropCenter,
    /// The whole source over a blurred, zoomed copy of itself.
    BlurPad,
}

/// How a source plane is laid out in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceLayout {
    /// Bytes per sample: 1, or 2 for 16-bit words holding 10 bits high (P016).
    pub bytes: u32,
    /// Samples per pixel: 1 planar, 2 interleaved (NV12's UV).
    pub step: u32,
    /// Which sample of the pixel (0 = U, 1 = V when interleaved).
    pub offset: u32,
}

/// An affine map from destination pixel (x, y) to source position, 16.16.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Affine {
    /// u at (0, 0).
    pub u0: i64,
    /// du per x.
    pub dux: i64,
    /// du per y.
    pub duy: i64,
    /// v at (0, 0).
    pub v0: i64,
    /// dv per x.
    pub dvx: i64,
    /// dv per y.
    pub dvy: i64,
}

impl Affine {
    fn at(&self, x: i64, y: i64) -> (i64, i64) {
        (
            self.u0 + x * self.dux + y * self.duy,
            self.v0 + x * self.dvx + y * self.dvy,
        )
    }
}

/// A rectangle in a plane: x, y, width, height.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rect {
    /// Left.
    pub x: u32,
    /// Top.
    pub y: u32,
    /// Width.
    pub w: u32,
    /// Height.
    pub h: u32,
}

/// What fills a plane outside its source rectangle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outside {
    /// A constant (black: 16 luma, 128 chroma).
    Fill(u8),
    /// The background plane of the same index, upscaled bilinearly by the
    /// map (u = u0 + x*dux, v = v0 + y*dvy).
    Background(Affine),
}

/// One plane's work: `dst(x, y)` for the whole plane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlaneJob {
    /// Which source plane: 0 luma, 1 chroma (U, or NV12's UV), 2 V when planar.
    pub src_plane: usize,
    /// How it is sampled.
    pub layout: SourceLayout,
    /// Source plane size.
    pub src_size: (u32, u32),
    /// Destination plane size.
    pub dst_size: (u32, u32),
    /// Where the source shows.
    pub rect: Rect,
    /// Destination pixel → source position.
    pub map: Affine,
    /// What shows elsewhere.
    pub outside: Outside,
}

/// The blurred background's work (blur-pad only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Background {
    /// Sampling the source at a quarter of the output size, cover-cropped.
    pub planes: [PlaneJob; 3],
    /// Box-blur radius per plane (each applied [`Background::passes`] times
    /// along rows then columns).
    pub radius: [u32; 3],
    /// How many times each blur runs (FFmpeg's `luma_power`).
    pub passes: u32,
}

/// The whole fit of one source to the output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FitPlan {
    /// The output size (even).
    pub out: (u32, u32),
    /// The background, for blur-pad when the shapes differ.
    pub background: Option<Background>,
    /// The output planes Y, U, V.
    pub planes: [PlaneJob; 3],
}

/// A source frame in memory (host or device addresses alike): its planes,
/// each with its row pitch in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceFormat {
    /// NV12 (8-bit) or P016 (`bytes` = 2): luma, then interleaved UV.
    Nv12 {
        /// 1 or 2.
        bytes: u32,
    },
    /// Planar 8-bit Y, U, V.
    I420,
}

const ONE: f64 = 65536.0;

fn fixed(v: f64) -> i64 {
    (v * ONE).round() as i64
}

/// Rounds to an even number, at least 2.
fn even(v: f64) -> u32 {
    (((v / 2.0).round() as u32) * 2).max(2)
}

impl FitPlan {
    /// The plan for a source stored `stored` (width, height) and shown
    /// rotated clockwise by `rotation` degrees (0, 90, 180, 270), fitted
    /// to `out` (even sizes) with `fit`. Shapes within 1% of the output's
    /// are scaled to fill (no bars, no crop), as the CPU path does.
    pub fn new(
        fit: FitMode,
        format: SourceFormat,
        stored: (u32, u32),
        rotation: i32,
        out: (u32, u32),
    ) -> Self {
        let stored = (stored.0.max(1), stored.1.max(1));
        let out = (out.0.max(2) & !1, out.1.max(2) & !1);
        let display = if rotation == 90 || rotation == 270 {
            (stored.1, stored.0)
        } else {
            stored
        };
        let (dw, dh) = (f64::from(display.0), f64::from(display.1));
        let (ow, oh) = (f64::from(out.0), f64::from(out.1));
        let same = ((dw / dh) / (ow / oh) - 1.0).abs() < 0.01;
        let whole = (0.0, 0.0, dw, dh);
        // The source rectangle on the output and the window of the
        // (rotated) source it shows, in luma pixels.
        let (rect, window) = if same {
            (
                Rect {
                    x: 0,
                    y: 0,
                    w: out.0,
                    h: out.1,
                },
                whole,
            )
        } else {
            match fit {
                FitMode::CropCenter => (
                    Rect {
                        x: 0,
                        y: 0,
                        w: out.0,
                        h: out.1,
                    },
                    cover(display, out),
                ),
                FitMode::Letterbox | FitMode::BlurPad => (contain(display, out), whole),
            }
        };
        let layouts = layouts(format);
        let chroma_src = (stored.0.div_ceil(2), stored.1.div_ceil(2));
        let src_size = |p: usize| if p == 0 { stored } else { chroma_src };
        let plane_job = |p: usize,
                         dst: (u32, u32),
                         rect: Rect,
                         window: (f64, f64, f64, f64),
                         outside: Outside| {
            let (src_plane, layout) = layouts[p];
            let s = if p == 0 { 1.0 } else { 2.0 };
            let size = src_size(p);
            PlaneJob {
                src_plane,
                layout,
                src_size: size,
                dst_size: dst,
                rect,
                map: map(rect, scale_window(window, s), size, rotation),
                outside,
            }
        };
        let halve = |r: Rect| Rect {
            x: r.x / 2,
            y: r.y / 2,
            w: r.w / 2,
            h: r.h / 2,
        };
        let chroma_out = (out.0 / 2, out.1 / 2);
        let background = (!same && fit == FitMode::BlurPad).then(|| {
            // As the CPU chain: a quarter-size cover crop, box blur (luma
            // radius 10, chroma 5, twice), scaled up under the picture.
            let bg = ((out.0 / 4).max(2) & !1, (out.1 / 4).max(2) & !1);
            let win = cover(display, bg);
            let full = Rect {
                x: 0,
                y: 0,
                w: bg.0,
                h: bg.1,
            };
            let cbg = (bg.0 / 2, bg.1 / 2);
            Background {
                planes: [
                    plane_job(0, bg, full, win, Outside::Fill(16)),
                    plane_job(1, cbg, halve(full), win, Outside::Fill(128)),
                    plane_job(2, cbg, halve(full), win, Outside::Fill(128)),
                ],
                radius: [10, 5, 5],
                passes: 2,
            }
        });
        let outside = |p: usize| match &background {
            None => Outside::Fill(if p == 0 { 16 } else { 128 }),
            Some(b) => {
                let (bw, bh) = b.planes[p].dst_size;
                let dst = if p == 0 { out } else { chroma_out };
                Outside::Background(upscale((bw, bh), dst))
            }
        };
        let planes = [
            plane_job(0, out, rect, window, outside(0)),
            plane_job(1, chroma_out, halve(rect), window, outside(1)),
            plane_job(2, chroma_out, halve(rect), window, outside(2)),
        ];
        FitPlan {
            out,
            background,
            planes,
        }
    }

    /// Bytes of the I420 output.
    pub fn output_len(&self) -> usize {
        let (w, h) = (self.out.0 as usize, self.out.1 as usize);
        w * h + 2 * (w / 2) * (h / 2)
    }

    /// The reference: runs the plan on the CPU over `planes` (the source
    /// planes as laid out by `format`: NV12 gives two, I420 three, each with
    /// its pitch in bytes) and returns the I420 output, planes packed.
    pub fn run_cpu(&self, planes: &[(&[u8], usize)]) -> Vec<u8> {
        let mut bg_planes: Vec<Vec<u8>> = Vec::new();
        if let Some(b) = &self.background {
            for (p, job) in b.planes.iter().enumerate() {
                let (w, h) = job.dst_size;
                let mut plane = vec![0u8; (w * h) as usize];
                fit_plane_cpu(job, planes[job.src_plane], &mut plane, w as usize, None);
                let mut tmp = vec![0u8; plane.len()];
                for _ in 0..b.passes {
                    box_blur_cpu(&plane, &mut tmp, w as usize, h as usize, b.radius[p], true);
                    box_blur_cpu(&tmp, &mut plane, w as usize, h as usize, b.radius[p], false);
                }
                bg_planes.push(plane);
            }
        }
        let mut out = vec![0u8; self.output_len()];
        let mut at = 0;
        for (p, job) in self.planes.iter().enumerate() {
            let (w, h) = job.dst_size;
            let len = (w * h) as usize;
            let bg = bg_planes.get(p).map(|b| {
                (
                    b.as_slice(),
                    self.background
                        .as_ref()
                        .map_or((0, 0), |bb| bb.planes[p].dst_size),
                )
            });
            fit_plane_cpu(
                job,
                planes[job.src_plane],
                &mut out[at..at + len],
                w as usize,
                bg,
            );
            at += len;
        }
        out
    }
}

fn layouts(format: SourceFormat) -> [(usize, SourceLayout); 3] {
    match format {
        SourceFormat::Nv12 { bytes } => [
            (
                0,
                SourceLayout {
                    bytes,
                    step: 1,
                    offset: 0,
                },
            ),
            (
                1,
                SourceLayout {
                    bytes,
                    step: 2,
                    offset: 0,
                },
            ),
            (
                1,
                SourceLayout {
                    bytes,
                    step: 2,
                    offset: 1,
                },
            ),
        ],
        SourceFormat::I420 => {
            let l = SourceLayout {
                bytes: 1,
                step: 1,
                offset: 0,
            };
            [(0, l), (1, l), (2, l)]
        }
    }
}

/// The output rectangle of the whole source scaled to fit inside `out`, centred.
fn contain(display: (u32, u32), out: (u32, u32)) -> Rect {
    let (dw, dh) = (f64::from(display.0), f64::from(display.1));
    let (ow, oh) = (f64::from(out.0), f64::from(out.1));
    let (w, h) = if dw * oh > dh * ow {
        (out.0, even(dh * ow / dw).min(out.1))
    } else {
        (even(dw * oh / dh).min(out.0), out.1)
    };
    Rect {
        x: ((out.0 - w) / 2) & !1,
        y: ((out.1 - h) / 2) & !1,
        w,
        h,
    }
}

/// The centred window of the source with the output's shape.
fn cover(display: (u32, u32), out: (u32, u32)) -> (f64, f64, f64, f64) {
    let (dw, dh) = (f64::from(display.0), f64::from(display.1));
    let (ow, oh) = (f64::from(out.0), f64::from(out.1));
    if dw * oh > dh * ow {
        let w = dh * ow / oh;
        ((dw - w) / 2.0, 0.0, w, dh)
    } else {
        let h = dw * oh / ow;
        (0.0, (dh - h) / 2.0, dw, h)
    }
}

fn scale_window(w: (f64, f64, f64, f64), s: f64) -> (f64, f64, f64, f64) {
    (w.0 / s, w.1 / s, w.2 / s, w.3 / s)
}

/// Destination pixel → stored-plane position: the rectangle's pixel
/// centres spread over the window (in display orientation), then turned
/// back into the stored orientation.
fn map(rect: Rect, window: (f64, f64, f64, f64), stored: (u32, u32), rotation: i32) -> Affine {
    let (sx, sy, sw, sh) = window;
    let kx = sw / f64::from(rect.w.max(1));
    let ky = sh / f64::from(rect.h.max(1));
    // Display position: ud = a + kx * x, vd = b + ky * y.
    let a = sx + (0.5 - f64::from(rect.x)) * kx - 0.5;
    let b = sy + (0.5 - f64::from(rect.y)) * ky - 0.5;
    let wm = f64::from(stored.0) - 1.0;
    let hm = f64::from(stored.1) - 1.0;
    // (u0, dux, duy, v0, dvx, dvy) in stored coordinates.
    let (u0, dux, duy, v0, dvx, dvy) = match rotation {
        // Shown turned clockwise: stored (x, y) = (vd, H-1-ud).
        90 => (b, 0.0, ky, hm - a, -kx, 0.0),
        180 => (wm - a, -kx, 0.0, hm - b, 0.0, -ky),
        // Counter-clockwise: stored (x, y) = (W-1-vd, ud).
        270 => (wm - b, 0.0, -ky, a, kx, 0.0),
        _ => (a, kx, 0.0, b, 0.0, ky),
    };
    Affine {
        u0: fixed(u0),
        dux: fixed(dux),
        duy: fixed(duy),
        v0: fixed(v0),
        dvx: fixed(dvx),
        dvy: fixed(dvy),
    }
}

/// Bilinear upscaling of a `from` plane over a `to` plane (pixel centres aligned).
fn upscale(from: (u32, u32), to: (u32, u32)) -> Affine {
    let kx = f64::from(from.0) / f64::from(to.0.max(1));
    let ky = f64::from(from.1) / f64::from(to.1.max(1));
    Affine {
        u0: fixed(0.5 * kx - 0.5),
        dux: fixed(kx),
        duy: 0,
        v0: fixed(0.5 * ky - 0.5),
        dvx: 0,
        dvy: fixed(ky),
    }
}

fn sample(src: &[u8], pitch: usize, l: SourceLayout, x: usize, y: usize) -> i32 {
    let i = y * pitch;
    let e = x * l.step as usize + l.offset as usize;
    if l.bytes == 1 {
        src.get(i + e).copied().map_or(0, i32::from)
    } else {
        let at = i + 2 * e;
        match src.get(at..at + 2) {
            Some(b) => i32::from(u16::from_le_bytes([b[0], b[1]]) >> 6),
            None => 0,
        }
    }
}

/// The kernel's `bilinear`, byte for byte.
fn bilinear(src: &[u8], pitch: usize, size: (u32, u32), l: SourceLayout, u: i64, v: i64) -> u8 {
    let (w, h) = (i64::from(size.0), i64::from(size.1));
    let u = u.clamp(0, (w - 1) << 16);
    let v = v.clamp(0, (h - 1) << 16);
    let x0 = (u >> 16) as usize;
    let y0 = (v >> 16) as usize;
    let fx = ((u >> 8) & 255) as i32;
    let fy = ((v >> 8) & 255) as i32;
    let x1 = if (x0 as i64) + 1 < w { x0 + 1 } else { x0 };
    let y1 = if (y0 as i64) + 1 < h { y0 + 1 } else { y0 };
    let p00 = sample(src, pitch, l, x0, y0);
    let p01 = sample(src, pitch, l, x1, y0);
    let p10 = sample(src, pitch, l, x0, y1);
    let p11 = sample(src, pitch, l, x1, y1);
    let top = p00 * (256 - fx) + p01 * fx;
    let bot = p10 * (256 - fx) + p11 * fx;
    let val = top * (256 - fy) + bot * fy;
    let shift = if l.bytes == 1 { 16 } else { 18 };
    ((val + (1 << (shift - 1))) >> shift).clamp(0, 255) as u8
}

/// The kernel `scout_fit_plane` on the CPU.
fn fit_plane_cpu(
    job: &PlaneJob,
    (src, pitch): (&[u8], usize),
    dst: &mut [u8],
    dst_pitch: usize,
    bg: Option<(&[u8], (u32, u32))>,
) {
    let r = job.rect;
    let plain = SourceLayout {
        bytes: 1,
        step: 1,
        offset: 0,
    };
    for y in 0..job.dst_size.1 {
        for x in 0..job.dst_size.0 {
            let inside = x >= r.x && x < r.x + r.w && y >= r.y && y < r.y + r.h;
            let v = if inside {
                let (u, v) = job.map.at(i64::from(x), i64::from(y));
                bilinear(src, pitch, job.src_size, job.layout, u, v)
            } else {
                match (job.outside, bg) {
                    (Outside::Background(m), Some((plane, size))) => {
                        let (u, v) = m.at(i64::from(x), i64::from(y));
                        bilinear(plane, size.0 as usize, size, plain, u, v)
                    }
                    (Outside::Fill(f), _) => f,
                    (Outside::Background(_), None) => 0,
                }
            };
            if let Some(d) = dst.get_mut(y as usize * dst_pitch + x as usize) {
                *d = v;
            }
        }
    }
}

/// The kernel `scout_box_blur` on the CPU.
fn box_blur_cpu(src: &[u8], dst: &mut [u8], w: usize, h: usize, r: u32, horizontal: bool) {
    let r = r as i64;
    let n = 2 * r + 1;
    for y in 0..h {
        for x in 0..w {
            let mut sum = 0i64;
            for i in -r..=r {
                let (sx, sy) = if horizontal {
                    ((x as i64 + i).clamp(0, w as i64 - 1) as usize, y)
                } else {
                    (x, (y as i64 + i).clamp(0, h as i64 - 1) as usize)
                };
                sum += i64::from(src[sy * w + sx]);
            }
            dst[y * w + x] = ((sum + n / 2) / n) as u8;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stored frame with a gradient in luma, the x position in U and
    /// the y position in V, as I420 planes.
    fn gradient(w: u32, h: u32) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
        let y: Vec<u8> = (0..h)
            .flat_map(|r| (0..w).map(move |c| ((c + r) % 220 + 16) as u8))
            .collect();
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        let u: Vec<u8> = (0..ch)
            .flat_map(|_| (0..cw).map(move |c| (16 + c * 200 / cw) as u8))
            .collect();
        let v: Vec<u8> = (0..ch)
            .flat_map(|r| (0..cw).map(move |_| (16 + r * 200 / ch) as u8))
            .collect();
        (y, u, v)
    }

    #[test]
    fn the_ptx_is_built_from_the_kernel_source() {
        let source = include_str!("../kernels/fit.cu");
        let digest = sha256_hex(source.as_bytes());
        assert!(
            FIT_PTX.contains(&format!("sha256 {digest}")),
            "gpu/kernels/fit.ptx is stale: run gpu/kernels/build-ptx.sh"
        );
        for entry in ["scout_fit_plane", "scout_box_blur"] {
            assert!(FIT_PTX.contains(&format!(".entry {entry}(")), "{entry}");
        }
    }

    #[test]
    fn same_shape_scales_to_fill_and_keeps_the_picture() {
        let (y, u, v) = gradient(540, 960);
        let plan = FitPlan::new(
            FitMode::Letterbox,
            SourceFormat::I420,
            (540, 960),
            0,
            (1080, 1920),
        );
        assert!(plan.background.is_none());
        assert_eq!(
            plan.planes[0].rect,
            Rect {
                x: 0,
                y: 0,
                w: 1080,
                h: 1920
            }
        );
        let out = plan.run_cpu(&[(&y, 540), (&u, 270), (&v, 270)]);
        assert_eq!(out.len(), 1080 * 1920 * 3 / 2);
        // Output pixel (2x, 2y) sits a quarter pixel from source (x, y).
        for (sx, sy) in [(10u32, 10u32), (200, 500), (500, 900)] {
            let o = out[(2 * sy * 1080 + 2 * sx) as usize];
            let s = y[(sy * 540 + sx) as usize];
            assert!(o.abs_diff(s) <= 2, "({sx},{sy}): {o} vs {s}");
        }
    }

    #[test]
    fn letterbox_pads_black_and_centres() {
        let (y, u, v) = gradient(1920, 1080);
        let plan = FitPlan::new(
            FitMode::Letterbox,
            SourceFormat::I420,
            (1920, 1080),
            0,
            (1080, 1920),
        );
        let r = plan.planes[0].rect;
        assert_eq!((r.x, r.w), (0, 1080));
        assert_eq!(r.h, 608);
        assert_eq!(r.y, (1920 - 608) / 2);
        let out = plan.run_cpu(&[(&y, 1920), (&u, 960), (&v, 960)]);
        assert_eq!(out[0], 16, "black bar luma");
        assert_eq!(out[1080 * 1920], 128, "black bar chroma");
        // The middle row shows the source's middle.
        let mid = out[(960 * 1080 + 540) as usize];
        let src = y[(540 * 1920 + 960) as usize];
        assert!(mid.abs_diff(src) <= 3, "{mid} vs {src}");
    }

    #[test]
    fn crop_centre_fills_with_the_middle() {
        let (y, u, v) = gradient(1920, 1080);
        let plan = FitPlan::new(
            FitMode::CropCenter,
            SourceFormat::I420,
            (1920, 1080),
            0,
            (1080, 1920),
        );
        let out = plan.run_cpu(&[(&y, 1920), (&u, 960), (&v, 960)]);
        // U holds the x position: the crop keeps the middle ~32% of columns.
        let cw = 540usize;
        let left = out[1080 * 1920 + 480 * cw];
        let right = out[1080 * 1920 + 480 * cw + cw - 1];
        assert!(
            (16 + 200 * 33 / 100..=16 + 200 * 35 / 100).contains(&u32::from(left)),
            "{left}"
        );
        assert!(
            (16 + 200 * 65 / 100..=16 + 200 * 67 / 100).contains(&u32::from(right)),
            "{right}"
        );
    }

    #[test]
    fn rotation_turns_the_picture_clockwise() {
        // A stored landscape frame shown turned clockwise is portrait:
        // the stored left column ends up at the top, reading right to left.
        let (w, h) = (64u32, 36u32);
        let (y, u, v) = gradient(w, h);
        let plan = FitPlan::new(FitMode::Letterbox, SourceFormat::I420, (w, h), 90, (36, 64));
        let out = plan.run_cpu(&[(&y, w as usize), (&u, 32), (&v, 32)]);
        // Same shape after turning: a 1:1 copy turned.
        for (dx, dy) in [(0u32, 0u32), (35, 0), (10, 50), (35, 63)] {
            let (sx, sy) = (dy, h - 1 - dx);
            assert_eq!(
                out[(dy * 36 + dx) as usize],
                y[(sy * w + sx) as usize],
                "({dx},{dy})"
            );
        }
        let plan = FitPlan::new(
            FitMode::Letterbox,
            SourceFormat::I420,
            (w, h),
            270,
            (36, 64),
        );
        let out = plan.run_cpu(&[(&y, w as usize), (&u, 32), (&v, 32)]);
        for (dx, dy) in [(0u32, 0u32), (35, 0), (10, 50), (35, 63)] {
            let (sx, sy) = (w - 1 - dy, dx);
            assert_eq!(
                out[(dy * 36 + dx) as usize],
                y[(sy * w + sx) as usize],
                "({dx},{dy})"
            );
        }
        let plan = FitPlan::new(FitMode::Letterbox, SourceFormat::I420, (w, h), 180, (w, h));
        let out = plan.run_cpu(&[(&y, w as usize), (&u, 32), (&v, 32)]);
        for (dx, dy) in [(0u32, 0u32), (63, 0), (10, 20)] {
            let (sx, sy) = (w - 1 - dx, h - 1 - dy);
            assert_eq!(
                out[(dy * w + dx) as usize],
                y[(sy * w + sx) as usize],
                "({dx},{dy})"
            );
        }
    }

    #[test]
    fn nv12_and_p016_read_like_planar() {
        let (w, h) = (96u32, 54u32);
        let (y, u, v) = gradient(w, h);
        let uv: Vec<u8> = u.iter().zip(&v).flat_map(|(a, b)| [*a, *b]).collect();
        let to16 = |p: &[u8]| -> Vec<u8> {
            p.iter()
                .flat_map(|s| (u16::from(*s) << 8).to_le_bytes())
                .collect()
        };
        let out = (54, 96);
        for fit in [FitMode::Letterbox, FitMode::CropCenter, FitMode::BlurPad] {
            let planar = FitPlan::new(fit, SourceFormat::I420, (w, h), 0, out).run_cpu(&[
                (&y, 96),
                (&u, 48),
                (&v, 48),
            ]);
            let nv12 = FitPlan::new(fit, SourceFormat::Nv12 { bytes: 1 }, (w, h), 0, out)
                .run_cpu(&[(&y, 96), (&uv, 96)]);
            assert_eq!(planar, nv12, "{fit:?}");
            let p016 = FitPlan::new(fit, SourceFormat::Nv12 { bytes: 2 }, (w, h), 0, out)
                .run_cpu(&[(&to16(&y), 192), (&to16(&uv), 192)]);
            let worst = planar.iter().zip(&p016).map(|(a, b)| a.abs_diff(*b)).max();
            assert!(worst <= Some(1), "{fit:?}: {worst:?}");
        }
    }

    #[test]
    fn blur_pad_puts_a_blurred_copy_behind() {
        let (w, h) = (1920u32, 1080u32);
        let (y, u, v) = gradient(w, h);
        let plan = FitPlan::new(
            FitMode::BlurPad,
            SourceFormat::I420,
            (w, h),
            0,
            (1080, 1920),
        );
        let b = plan.background.as_ref().expect("blur pad has a background");
        assert_eq!(b.planes[0].dst_size, (270, 480));
        assert_eq!(b.planes[1].dst_size, (135, 240));
        let out = plan.run_cpu(&[(&y, 1920), (&u, 960), (&v, 960)]);
        // Above the picture: not black, and smooth (blurred).
        let row: Vec<u8> = out[100 * 1080..101 * 1080].to_vec();
        assert!(row.iter().any(|p| *p > 40), "the background is not black");
        let jumps = row
            .windows(2)
            .map(|p| p[0].abs_diff(p[1]))
            .max()
            .unwrap_or(0);
        assert!(
            jumps <= 4,
            "blurred rows change slowly, got jumps of {jumps}"
        );
    }

    fn sha256_hex(data: &[u8]) -> String {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(data))
    }
}
