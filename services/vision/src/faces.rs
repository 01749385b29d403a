//! Face detection with `rustface` (a Rust port of the SeetaFace engine's
//! funnel-structured cascade) and its bundled frontal-face model
//! (`model/seeta_fd_frontal_v1.0.bin`, BSD-2-Clause, see
//! `model/LICENSE.rustface`).
//!
//! The model is parsed once per process; detectors are not `Send`, so each
//! blocking-pool thread keeps its own.

use std::cell::RefCell;
use std::sync::OnceLock;

use rustface::{Detector, ImageData, Model};

static MODEL_BYTES: &[u8] = include_bytes!("../model/seeta_fd_frontal_v1.0.bin");

/// Smallest face looked for, in pixels of the analysed frame.
pub const MIN_FACE: u32 = 20;

/// One face, in frame-relative coordinates (0-1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Face {
    /// Centre, x.
    pub cx: f64,
    /// Centre, y.
    pub cy: f64,
    /// Share of the frame's area the box covers.
    pub area: f64,
    /// Detector confidence.
    pub score: f64,
}

fn model() -> Option<&'static Model> {
    static MODEL: OnceLock<Option<Model>> = OnceLock::new();
    MODEL
        .get_or_init(|| match rustface::read_model(MODEL_BYTES) {
            Ok(m) => Some(m),
            Err(e) => {
                tracing::error!(error = %e, "the bundled face model does not load; faces are not detected");
                None
            }
        })
        .as_ref()
}

thread_local! {
    static DETECTOR: RefCell<Option<Box<dyn Detector>>> = const { RefCell::new(None) };
}

/// Faces in a grey frame (`luma` is `width * height` bytes), largest first.
pub fn detect(luma: &[u8], width: usize, height: usize) -> Vec<Face> {
    if width < MIN_FACE as usize || height < MIN_FACE as usize || luma.len() != width * height {
        return Vec::new();
    }
    DETECTOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            let Some(model) = model() else {
                return Vec::new();
            };
            let mut d = rustface::create_detector_with_model(model.clone());
            d.set_min_face_size(MIN_FACE);
            d.set_score_thresh(2.0);
            d.set_pyramid_scale_factor(0.8);
            d.set_slide_window_step(4, 4);
            *slot = Some(d);
        }
        let Some(detector) = slot.as_mut() else {
            return Vec::new();
        };
        let image = ImageData::new(luma, width as u32, height as u32);
        let (w, h) = (width as f64, height as f64);
        let mut faces: Vec<Face> = detector
            .detect(&image)
            .into_iter()
            .map(|f| {
                let b = f.bbox();
                let (bw, bh) = (f64::from(b.width()), f64::from(b.height()));
                Face {
                    cx: ((f64::from(b.x()) + bw / 2.0) / w).clamp(0.0, 1.0),
                    cy: ((f64::from(b.y()) + bh / 2.0) / h).clamp(0.0, 1.0),
                    area: (bw * bh / (w * h)).clamp(0.0, 1.0),
                    score: f.score(),
                }
            })
            .collect();
        faces.sort_by(|a, b| b.area.total_cmp(&a.area));
        faces
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grey(jpeg: &[u8]) -> (Vec<u8>, usize, usize) {
        let img = image::load_from_memory_with_format(jpeg, image::ImageFormat::Jpeg)
            .expect("jpeg")
            .to_luma8();
        let (w, h) = (img.width() as usize, img.height() as usize);
        (img.into_raw(), w, h)
    }

    #[test]
    fn faces_are_found_in_a_group_photo() {
        // A crop of the 1927 Solvay conference photograph (rustface's test image).
        let (luma, w, h) = grey(include_bytes!("../testdata/faces.jpg"));
        let faces = detect(&luma, w, h);
        assert!(faces.len() >= 6, "found {} faces", faces.len());
        for f in &faces {
            assert!((0.0..=1.0).contains(&f.cx) && (0.0..=1.0).contains(&f.cy));
            assert!(f.area > 0.0 && f.area < 0.1, "{f:?}");
        }
    }

    #[test]
    fn no_faces_in_flat_or_textured_frames_without_people() {
        let flat = vec![128u8; 320 * 240];
        assert!(detect(&flat, 320, 240).is_empty());
        let stripes: Vec<u8> = (0..320 * 240)
            .map(|i| {
                if (i % 320 / 8 + i / 320 / 8) % 2 == 0 {
                    40
                } else {
                    200
                }
            })
            .collect();
        assert!(detect(&stripes, 320, 240).is_empty());
        // Too small or inconsistent input is no face, not a panic.
        assert!(detect(&[0; 10], 5, 2).is_empty());
        assert!(detect(&[0; 10], 320, 240).is_empty());
    }
}
