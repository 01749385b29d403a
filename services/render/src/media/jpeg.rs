//! JPEG encoding of video frames: a small filter chain turns the frame
//! upright, scales it and brings it to full-range 4:2:0, then libjpeg-turbo
//! encodes the planes.

use ffmpeg_next as ff;

use super::graph::VideoGraph;
use crate::error::RenderError;

/// JPEG quality (libjpeg scale, 1-100) for analysis frames.
pub const DEFAULT_QUALITY: i32 = super::turbo::QUALITY_FRAMES;

/// Turns decoded frames of one stream into JPEGs: rotate → scale → encode.
pub struct JpegWriter {
    graph: VideoGraph,
    encoder: super::turbo::TurboJpeg,
    out_size: (u32, u32),
}

/// The output size for a display size and an optional longest-side cap.
pub fn fit_within(width: u32, height: u32, max_dimension: u32) -> (u32, u32) {
    if max_dimension == 0 || (width <= max_dimension && height <= max_dimension) {
        return (even(width), even(height));
    }
    let scale = f64::from(max_dimension) / f64::from(width.max(height));
    (
        even((f64::from(width) * scale).round() as u32),
        even((f64::from(height) * scale).round() as u32),
    )
}

fn even(v: u32) -> u32 {
    (v.max(2) / 2) * 2
}

impl JpegWriter {
    /// A writer for decoded frames shaped like `frame`, turned by `rotation`.
    pub fn for_decoded(
        frame: &ff::frame::Video,
        time_base: ff::Rational,
        rotation: i32,
        max_dimension: u32,
        quality: i32,
    ) -> Result<Self, RenderError> {
        // SAFETY: reads the frame's sample aspect ratio field.
        let sar = unsafe { (*frame.as_ptr()).sample_aspect_ratio };
        let sar = if sar.num > 0 && sar.den > 0 {
            ff::Rational(sar.num, sar.den)
        } else {
            ff::Rational(1, 1)
        };
        Self::for_shape(
            frame.width(),
            frame.height(),
            frame.format(),
            time_base,
            sar,
            rotation,
            max_dimension,
            quality,
        )
    }

    /// A writer for frames shaped like `frame` (already upright).
    pub fn for_frame(
        frame: &ff::frame::Video,
        max_dimension: u32,
        quality: i32,
    ) -> Result<Self, RenderError> {
        Self::for_shape(
            frame.width(),
            frame.height(),
            frame.format(),
            ff::Rational(1, 30),
            ff::Rational(1, 1),
            0,
            max_dimension,
            quality,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn for_shape(
        width: u32,
        height: u32,
        format: ff::format::Pixel,
        time_base: ff::Rational,
        aspect: ff::Rational,
        rotation: i32,
        max_dimension: u32,
        quality: i32,
    ) -> Result<Self, RenderError> {
        let (dw, dh) = super::rotation::display_size(width, height, rotation);
        let out_size = fit_within(dw, dh, max_dimension);
        let rotate = super::rotation::filter(rotation);
        let chain = [
            rotate.to_string(),
            format!("scale={}:{}:flags=bicubic", out_size.0, out_size.1),
            "format=yuvj420p".to_string(),
        ]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(",");
        let graph = VideoGraph::new(width, height, format, time_base, aspect, &chain)?;
        Ok(Self {
            graph,
            encoder: super::turbo::TurboJpeg::new(quality)?,
            out_size,
        })
    }

    /// Width and height of the JPEGs.
    pub fn size(&self) -> (u32, u32) {
        self.out_size
    }

    /// Encodes one decoded frame.
    pub fn encode(&mut self, frame: &ff::frame::Video) -> Result<Vec<u8>, RenderError> {
        self.graph.push(Some(frame))?;
        let filtered = self
            .graph
            .pull()?
            .ok_or_else(|| RenderError::Io("the frame filter gave no frame".into()))?;
        self.encoder.encode(&filtered)
    }
}

/// A JPEG of one colour (`rgb`), `width` x `height` (even): a card's
/// background where a file is needed (the editable draft).
pub fn solid(rgb: [u8; 3], width: u32, height: u32) -> Result<Vec<u8>, RenderError> {
    let mut frame = ff::frame::Video::new(ff::format::Pixel::YUVJ420P, width, height);
    let [r, g, b] = rgb.map(f64::from);
    // JPEG's full-range BT.601.
    let y = 0.299 * r + 0.587 * g + 0.114 * b;
    let u = 128.0 - 0.168_736 * r - 0.331_264 * g + 0.5 * b;
    let v = 128.0 + 0.5 * r - 0.418_688 * g - 0.081_312 * b;
    for (plane, value) in [(0, y), (1, u), (2, v)] {
        frame
            .data_mut(plane)
            .fill(value.round().clamp(0.0, 255.0) as u8);
    }
    super::turbo::TurboJpeg::new(95)?.encode(&frame)
}

#[cfg(test)]
mod solid_tests {
    #[test]
    fn a_solid_jpeg_decodes_to_its_colour() {
        let _ = ffmpeg_next::init();
        let bytes = super::solid([200, 30, 60], 72, 128).expect("jpeg");
        assert!(bytes.starts_with(&[0xFF, 0xD8]), "a JPEG");
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("card.jpg");
        std::fs::write(&path, &bytes).expect("write");
        let info = crate::media::probe::probe(&path, "card").expect("probe");
        assert_eq!((info.width, info.height), (72, 128));
    }
}
