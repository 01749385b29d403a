//! Transitions between segments, blended in the compose's one pass.
//!
//! A transition takes the first frames of its segment's slot. The segment
//! before plays on under it (`PlannedTransition::under`, rendered first
//! into memory: at most 2 s of output frames) and each of the new
//! segment's first frames is blended with the matching one of those:
//! so no segment moves, the timeline keeps its length and the narration
//! its sync, and only the piece of the segment coming in changes.
//! Captions and the logo are burned afterwards, over the blend.

use ffmpeg_next as ff;

use super::plan::TransitionStyle;
use crate::error::RenderError;

/// Black in limited-range BT.709 YUV.
const BLACK: [u8; 3] = [16, 128, 128];

/// How far into a transition of `frames` frames frame `index` is: from
/// just above 0 to just below 1, symmetric, so the middle frame of an odd
/// count is exactly one half.
pub fn progress(index: u64, frames: u64) -> f64 {
    (index as f64 + 0.5) / frames.max(1) as f64
}

/// Blends `under` (the segment going out) into `over` (the one coming in),
/// at `p` (0: all `under`, 1: all `over`). Both are YUV 4:2:0 8-bit of the
/// same size.
pub fn blend(
    style: TransitionStyle,
    under: &ff::frame::Video,
    over: &mut ff::frame::Video,
    p: f64,
) -> Result<(), RenderError> {
    if under.format() != ff::format::Pixel::YUV420P
        || over.format() != ff::format::Pixel::YUV420P
        || (under.width(), under.height()) != (over.width(), over.height())
    {
        return Err(RenderError::Io(format!(
            "a transition needs two 4:2:0 frames of one size, got {:?} {}x{} and {:?} {}x{}",
            under.format(),
            under.width(),
            under.height(),
            over.format(),
            over.width(),
            over.height()
        )));
    }
    let p = p.clamp(0.0, 1.0);
    let width = over.width() as usize;
    // The slide's edge, on an even column so the chroma moves with it.
    let edge = (((width as f64) * (1.0 - p)).round() as usize / 2 * 2).min(width);
    for (plane, black) in BLACK.into_iter().enumerate() {
        let (w, h) = (
            over.plane_width(plane) as usize,
            over.plane_height(plane) as usize,
        );
        let (us, os) = (under.stride(plane), over.stride(plane));
        let src = under.data(plane);
        let dst = over.data_mut(plane);
        let shift = if plane == 0 { 0 } else { 1 };
        let plane_edge = edge >> shift;
        for row in 0..h {
            let u = &src[row * us..row * us + w];
            let o = &mut dst[row * os..row * os + w];
            match style {
                TransitionStyle::Crossfade => mix_rows(u, o, p),
                TransitionStyle::FadeBlack => {
                    // Out to black over the first half, in from black over the second.
                    if p < 0.5 {
                        let keep = 1.0 - 2.0 * p;
                        for (d, s) in o.iter_mut().zip(u) {
                            *d = toward(black, *s, keep);
                        }
                    } else {
                        let keep = 2.0 * p - 1.0;
                        for d in o.iter_mut() {
                            *d = toward(black, *d, keep);
                        }
                    }
                }
                TransitionStyle::Slide => {
                    // The new picture's left part enters at `edge`; left of it
                    // the old picture stays where it was.
                    let mut moved = vec![0u8; w];
                    moved[plane_edge..].copy_from_slice(&o[..w - plane_edge]);
                    moved[..plane_edge].copy_from_slice(&u[..plane_edge]);
                    o.copy_from_slice(&moved);
                }
            }
        }
    }
    Ok(())
}

/// `o = u * (1 - p) + o * p`, rounded.
fn mix_rows(u: &[u8], o: &mut [u8], p: f64) {
    let wp = (p * 256.0).round() as u32;
    for (d, s) in o.iter_mut().zip(u) {
        *d = ((u32::from(*s) * (256 - wp) + u32::from(*d) * wp + 128) >> 8) as u8;
    }
}

/// `from + (v - from) * keep`, rounded.
fn toward(from: u8, v: u8, keep: f64) -> u8 {
    (f64::from(from) + (f64::from(v) - f64::from(from)) * keep)
        .round()
        .clamp(0.0, 255.0) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flat(y: u8, u: u8, v: u8) -> ff::frame::Video {
        let mut f = ff::frame::Video::new(ff::format::Pixel::YUV420P, 8, 4);
        for (plane, value) in [(0, y), (1, u), (2, v)] {
            f.data_mut(plane).fill(value);
        }
        f
    }

    fn at(f: &ff::frame::Video, plane: usize, x: usize) -> u8 {
        f.data(plane)[x]
    }

    #[test]
    fn a_crossfade_mixes_in_proportion() {
        let a = flat(200, 100, 150);
        let mut b = flat(40, 140, 110);
        blend(TransitionStyle::Crossfade, &a, &mut b, 0.5).expect("blend");
        assert_eq!([at(&b, 0, 0), at(&b, 1, 0), at(&b, 2, 0)], [120, 120, 130]);
        let mut c = flat(40, 140, 110);
        blend(TransitionStyle::Crossfade, &a, &mut c, 0.25).expect("blend");
        assert_eq!(at(&c, 0, 3), 160);
    }

    #[test]
    fn fade_black_is_black_in_the_middle_and_whole_at_the_ends() {
        let a = flat(200, 100, 150);
        let mut mid = flat(40, 140, 110);
        blend(TransitionStyle::FadeBlack, &a, &mut mid, 0.5).expect("blend");
        assert_eq!([at(&mid, 0, 0), at(&mid, 1, 0), at(&mid, 2, 0)], BLACK);
        let mut start = flat(40, 140, 110);
        blend(TransitionStyle::FadeBlack, &a, &mut start, 0.0).expect("blend");
        assert_eq!(at(&start, 0, 0), 200, "all the old picture");
        let mut end = flat(40, 140, 110);
        blend(TransitionStyle::FadeBlack, &a, &mut end, 1.0).expect("blend");
        assert_eq!(at(&end, 0, 0), 40, "all the new picture");
        let mut quarter = flat(40, 140, 110);
        blend(TransitionStyle::FadeBlack, &a, &mut quarter, 0.25).expect("blend");
        assert_eq!(at(&quarter, 0, 0), 108, "the old picture half way to black");
    }

    #[test]
    fn a_slide_brings_the_new_picture_in_from_the_right() {
        let a = flat(200, 100, 150);
        let mut b = flat(40, 140, 110);
        // Mark the new picture's first column: it leads the slide.
        for row in 0..4 {
            let stride = b.stride(0);
            b.data_mut(0)[row * stride] = 90;
        }
        blend(TransitionStyle::Slide, &a, &mut b, 0.5).expect("blend");
        let row: Vec<u8> = (0..8).map(|x| at(&b, 0, x)).collect();
        assert_eq!(row, [200, 200, 200, 200, 90, 40, 40, 40]);
        assert_eq!(
            [at(&b, 1, 1), at(&b, 1, 2)],
            [100, 140],
            "chroma moves with it"
        );
    }

    #[test]
    fn the_middle_of_an_odd_transition_is_half_way() {
        assert_eq!(progress(7, 15), 0.5);
        assert!(progress(0, 15) > 0.0 && progress(14, 15) < 1.0);
    }

    #[test]
    fn frames_of_another_shape_are_refused() {
        let a = flat(1, 2, 3);
        let mut b = ff::frame::Video::new(ff::format::Pixel::YUV420P, 16, 4);
        assert!(blend(TransitionStyle::Crossfade, &a, &mut b, 0.5).is_err());
    }
}
