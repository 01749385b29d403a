//! Frame extraction that decodes only what it needs.
//!
//! For each mark (every N seconds) it seeks to the keyframe at or before
//! the mark and decodes forward only until a frame lies within the
//! tolerance of the mark. With phone clips (a keyframe every second or
//! two) that is usually the keyframe itself: one decoded frame per mark
//! instead of every frame of the clip.

use std::path::Path;

use ffmpeg_next as ff;

use super::jpeg::JpegWriter;
use super::{open, rotation, seconds};
use crate::error::RenderError;

/// How frames are picked and written.
#[derive(Debug, Clone, Copy)]
pub struct ExtractOptions {
    /// Seconds between marks (seed 000: 2).
    pub every: f64,
    /// How far from its mark a frame may be, in seconds.
    pub tolerance: f64,
    /// Longest side of the JPEGs; 0 keeps the display size.
    pub max_dimension: u32,
    /// JPEG quality on FFmpeg's `-q:v` scale.
    pub quality: i32,
}

impl Default for ExtractOptions {
    fn default() -> Self {
        Self {
            every: 2.0,
            tolerance: 0.5,
            max_dimension: 0,
            quality: super::jpeg::DEFAULT_QUALITY,
        }
    }
}

/// One extracted frame.
#[derive(Debug, Clone)]
pub struct ExtractedFrame {
    /// 1-based index.
    pub index: u32,
    /// Presentation time in seconds from the start of the clip.
    pub time: f64,
    /// The JPEG.
    pub jpeg: Vec<u8>,
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
}

/// What an extraction cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExtractStats {
    /// Frames the decoder produced.
    pub decoded: u64,
    /// Frames in the clip (from the container, 0 when unknown).
    pub total: u64,
}

/// A clip opened for picking frames.
pub struct FramePicker {
    input: ff::format::context::Input,
    decoder: ff::decoder::Video,
    stream_index: usize,
    time_base: ff::Rational,
    start: f64,
    duration: f64,
    rotation: i32,
    total: u64,
    decoded: u64,
    name: String,
}

impl FramePicker {
    /// Opens `path` (called `name` in errors) and its video decoder.
    pub fn open(path: &Path, name: &str) -> Result<Self, RenderError> {
        let input = open(path, name)?;
        let stream = input
            .streams()
            .best(ff::media::Type::Video)
            .ok_or_else(|| RenderError::media(name, "has no video stream"))?;
        let stream_index = stream.index();
        let time_base = stream.time_base();
        let start = if stream.start_time() == ff::ffi::AV_NOPTS_VALUE {
            0.0
        } else {
            seconds(stream.start_time(), time_base)
        };
        let rotation = rotation::display_rotation(&stream);
        let total = stream.frames().max(0) as u64;
        let mut ctx = ff::codec::context::Context::from_parameters(stream.parameters())
            .map_err(RenderError::ffmpeg("video decoder"))?;
        // One frame per mark: frame threading would only add latency.
        let mut threading = ff::threading::Config::default();
        threading.kind = ff::threading::Type::Slice;
        threading.count = 0;
        ctx.set_threading(threading);
        let decoder = ctx
            .decoder()
            .video()
            .map_err(|e| RenderError::media(name, format!("cannot decode its video: {e}")))?;
        let duration = if input.duration() > 0 {
            input.duration() as f64 / f64::from(ff::ffi::AV_TIME_BASE)
        } else {
            seconds(stream.duration().max(0), time_base)
        };
        Ok(Self {
            input,
            decoder,
            stream_index,
            time_base,
            start,
            duration,
            rotation,
            total,
            decoded: 0,
            name: name.to_string(),
        })
    }

    /// The clip's duration in seconds.
    pub fn duration(&self) -> f64 {
        self.duration
    }

    /// Decode cost so far.
    pub fn stats(&self) -> ExtractStats {
        ExtractStats {
            decoded: self.decoded,
            total: self.total,
        }
    }

    /// A JPEG writer for this clip's frames.
    pub fn writer(&self, max_dimension: u32, quality: i32) -> Result<JpegWriter, RenderError> {
        JpegWriter::new(
            &self.decoder,
            self.time_base,
            self.rotation,
            max_dimension,
            quality,
        )
    }

    fn frame_time(&self, frame: &ff::frame::Video) -> f64 {
        let ts = frame.timestamp().or(frame.pts()).unwrap_or(0);
        seconds(ts, self.time_base) - self.start
    }

    /// The first frame at or after `target - tolerance`: the keyframe
    /// before `target` when it is close enough, otherwise the frames
    /// after it are decoded until one is. `None` past the end.
    pub fn frame_near(
        &mut self,
        target: f64,
        tolerance: f64,
    ) -> Result<Option<(f64, ff::frame::Video)>, RenderError> {
        let abs = ((target + self.start) * f64::from(ff::ffi::AV_TIME_BASE)) as i64;
        self.input.seek(abs, ..abs).map_err(|e| {
            RenderError::media(&self.name, format!("cannot seek to {target:.2} s: {e}"))
        })?;
        self.decoder.flush();
        let earliest = target - tolerance;
        let mut frame = ff::frame::Video::empty();
        let mut last: Option<(f64, ff::frame::Video)> = None;
        let mut eof = false;
        loop {
            // Drain what the decoder has before feeding it more.
            while self.decoder.receive_frame(&mut frame).is_ok() {
                self.decoded += 1;
                let t = self.frame_time(&frame);
                if t >= earliest {
                    return Ok(Some((t, frame)));
                }
                last = Some((t, frame.clone()));
            }
            if eof {
                // Past the last frame: the last one still counts if it is close enough.
                return Ok(last.filter(|(t, _)| (target - t).abs() <= tolerance));
            }
            let mut packet = ff::Packet::empty();
            match packet.read(&mut self.input) {
                Ok(()) if packet.stream() == self.stream_index => {
                    if let Err(e) = self.decoder.send_packet(&packet) {
                        // A damaged packet: skip it, the next keyframe recovers.
                        tracing::debug!(file = %self.name, error = %e, "undecodable packet skipped");
                    }
                }
                Ok(()) => {}
                Err(ff::Error::Eof) => {
                    let _ = self.decoder.send_eof();
                    eof = true;
                }
                Err(e) => {
                    return Err(RenderError::media(
                        &self.name,
                        format!("is damaged near {target:.1} s: {e}"),
                    ));
                }
            }
        }
    }
}

/// Extracts one frame every `opts.every` seconds, calling `sink` for each.
pub fn extract_frames(
    path: &Path,
    name: &str,
    opts: ExtractOptions,
    mut sink: impl FnMut(ExtractedFrame) -> Result<(), RenderError>,
) -> Result<ExtractStats, RenderError> {
    if !(opts.every.is_finite() && opts.every >= 0.1) {
        return Err(RenderError::InvalidArgument(format!(
            "every_seconds must be at least 0.1, got {}",
            opts.every
        )));
    }
    let mut picker = FramePicker::open(path, name)?;
    let mut writer = picker.writer(opts.max_dimension, opts.quality)?;
    let (width, height) = writer.size();
    let duration = picker.duration();
    let mut index = 0u32;
    let mut mark = 0.0f64;
    let mut last_time = f64::NEG_INFINITY;
    while mark < duration.max(0.001) {
        if let Some((time, frame)) = picker.frame_near(mark, opts.tolerance)? {
            // Two marks can land on the same frame in a very short or sparse clip.
            if time > last_time {
                last_time = time;
                index += 1;
                sink(ExtractedFrame {
                    index,
                    time,
                    jpeg: writer.encode(&frame)?,
                    width,
                    height,
                })?;
            }
        }
        mark += opts.every;
    }
    if index == 0 {
        return Err(RenderError::media(name, "has no decodable video frame"));
    }
    Ok(picker.stats())
}

/// A thumbnail: the frame near a third of the way in (past the shaky
/// start), longest side `max_dimension`.
pub fn thumbnail(
    path: &Path,
    name: &str,
    max_dimension: u32,
) -> Result<ExtractedFrame, RenderError> {
    let mut picker = FramePicker::open(path, name)?;
    let mut writer = picker.writer(max_dimension, 3)?;
    let (width, height) = writer.size();
    let at = (picker.duration() / 3.0).min(3.0);
    let (time, frame) = match picker.frame_near(at, at.max(0.5))? {
        Some(found) => found,
        None => picker
            .frame_near(0.0, 1.0)?
            .ok_or_else(|| RenderError::media(name, "has no decodable video frame"))?,
    };
    Ok(ExtractedFrame {
        index: 0,
        time,
        jpeg: writer.encode(&frame)?,
        width,
        height,
    })
}
