//! Frame extraction that decodes only what it needs.
//!
//! For each mark (every N seconds) it seeks to the keyframe at or before
//! the mark and decodes forward only until a frame lies within the
//! tolerance of the mark. With phone clips (a keyframe every second or
//! two) that is usually the keyframe itself: one decoded frame per mark
//! instead of every frame of the clip.

use std::path::Path;

use ffmpeg_next as ff;

use super::hw::{self, SendError, VideoDecoder};
use super::jpeg::JpegWriter;
use super::sweep::{self, Frames};
use super::{open_light, rotation, seconds};
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
    /// JPEG quality, libjpeg scale (1-100).
    pub quality: i32,
    /// How the marks' frames are reached.
    pub pass: Pass,
}

/// How extraction reaches each mark's frame. Both take the same frames.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Pass {
    /// One pass where it decodes fewer frames (keyframes far apart) or where
    /// our own NVDEC path decodes the clip; else a seek per mark.
    #[default]
    Auto,
    /// A seek to the keyframe before each mark, two workers.
    Seek,
    /// One pass through the clip ([`super::sweep`]).
    Sweep,
}

impl Default for ExtractOptions {
    fn default() -> Self {
        Self {
            every: 2.0,
            tolerance: 0.5,
            max_dimension: 0,
            quality: super::jpeg::DEFAULT_QUALITY,
            pass: Pass::Auto,
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
    decoder: VideoDecoder,
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
    /// Opens `path` (called `name` in errors) and its video decoder (on
    /// NVDEC when `allow_gpu` and this node plans it).
    pub fn open(path: &Path, name: &str, allow_gpu: bool) -> Result<Self, RenderError> {
        let input = open_light(path, name)?;
        let stream = input
            .streams()
            .best(ff::media::Type::Video)
            .ok_or_else(|| RenderError::media(name, "has no video stream"))?;
        let stream_index = stream.index();
        let time_base = stream.time_base();
        let start = super::stream_start(&stream);
        let rotation = rotation::display_rotation(&stream);
        let total = stream.frames().max(0) as u64;
        // One frame per mark: frame threads would only add latency, and phone
        // H.264 has one slice per frame, so slice threads would idle. The
        // parallelism is across marks (one picker per core) instead.
        let mut threading = ff::threading::Config::default();
        threading.kind = ff::threading::Type::Slice;
        threading.count = 1;
        let decoder = hw::open_decoder(stream.parameters(), name, threading, allow_gpu)?;
        let duration = super::clip_duration(&input, &stream);
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

    /// The rotation (degrees clockwise) that turns the decoded frames upright.
    pub fn rotation(&self) -> i32 {
        self.rotation
    }

    /// The frame that stands for the clip: a third of the way in (past the
    /// shaky start), else the first; as decoded, with its time.
    pub fn representative(&mut self, name: &str) -> Result<(f64, ff::frame::Video), RenderError> {
        let at = thumbnail_time(self.duration());
        match self.frame_near(at, at.max(0.5))? {
            Some(found) => Ok(found),
            None => self
                .frame_near(0.0, 1.0)?
                .ok_or_else(|| RenderError::media(name, "has no decodable video frame")),
        }
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

    /// A JPEG writer for frames shaped like `frame` (a decoded frame of
    /// this clip: the pixel format is only known once one is decoded).
    pub fn writer(
        &self,
        frame: &ff::frame::Video,
        max_dimension: u32,
        quality: i32,
    ) -> Result<JpegWriter, RenderError> {
        JpegWriter::for_decoded(frame, self.time_base, self.rotation, max_dimension, quality)
    }

    /// Sends a packet: false when it is damaged (skipped), a GPU failure
    /// as [`RenderError::Gpu`].
    fn send(&mut self, packet: &ff::Packet) -> Result<bool, RenderError> {
        match hw::send_packet(&mut self.decoder, packet) {
            Ok(()) => Ok(true),
            Err(SendError::Gpu(m)) => Err(RenderError::Gpu(m)),
            Err(SendError::Packet(e)) => {
                tracing::debug!(file = %self.name, error = %e, "undecodable packet skipped");
                Ok(false)
            }
        }
    }

    /// Where this picker decodes.
    pub fn decode_path(&self) -> scout_gpu::DecodePath {
        self.decoder.path
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
        self.decoder.decoder.flush();
        let earliest = target - tolerance;
        let mut frame = ff::frame::Video::empty();
        let mut last: Option<(f64, ff::frame::Video)> = None;
        let mut eof = false;
        let mut first_packet = true;
        loop {
            // Drain what the decoder has before feeding it more.
            while self.decoder.receive(&mut frame) {
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
                Ok(())
                    if packet.stream() == self.stream_index && first_packet && packet.is_key() =>
                {
                    first_packet = false;
                    // The seek landed on a keyframe close enough to the mark: decode
                    // that one packet and drain, instead of feeding the frames a
                    // B-frame stream needs before it lets the keyframe out.
                    let t = seconds(packet.pts().or(packet.dts()).unwrap_or(0), self.time_base)
                        - self.start;
                    if t >= earliest && t <= target + tolerance {
                        if self.send(&packet)?
                            && self.decoder.decoder.send_eof().is_ok()
                            && self.decoder.receive(&mut frame)
                        {
                            self.decoded += 1;
                            return Ok(Some((self.frame_time(&frame), frame)));
                        }
                        // Undecodable alone: start again the long way.
                        self.decoder.decoder.flush();
                        self.input.seek(abs, ..abs).map_err(|e| {
                            RenderError::media(
                                &self.name,
                                format!("cannot seek to {target:.2} s: {e}"),
                            )
                        })?;
                        continue;
                    }
                    self.send(&packet)?;
                }
                Ok(()) if packet.stream() == self.stream_index => {
                    first_packet = false;
                    // A damaged packet is skipped: the next keyframe recovers.
                    self.send(&packet)?;
                }
                Ok(()) => {}
                Err(ff::Error::Eof) => {
                    let _ = self.decoder.decoder.send_eof();
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

/// When the thumbnail is taken: a third of the way in, at most 3 s (past
/// the shaky start of a phone clip).
fn thumbnail_time(duration: f64) -> f64 {
    (duration / 3.0).min(3.0)
}

/// An encoded frame: its time, the JPEG and its size.
type Encoded = (f64, Vec<u8>, (u32, u32));

/// What one extraction worker hands back for one mark: the frame, or
/// `None` when no frame lies near the mark.
struct Picked {
    mark: usize,
    frame: Option<Encoded>,
}

/// One worker's share: every `step`-th mark from `first`, decoded and
/// encoded, sent on as it goes. Returns its decode cost and its best
/// thumbnail candidate (time, JPEG, size).
fn pick_marks(
    mut picker: FramePicker,
    marks: Vec<(usize, f64)>,
    opts: ExtractOptions,
    thumbnail: (f64, u32),
    tx: std::sync::mpsc::SyncSender<Picked>,
) -> Result<(ExtractStats, Option<Encoded>), RenderError> {
    let (thumb_at, thumbnail_max) = thumbnail;
    let mut writer: Option<JpegWriter> = None;
    let mut best: Option<(f64, ff::frame::Video)> = None;
    for (mark, at) in marks {
        let picked = match picker.frame_near(at, opts.tolerance)? {
            Some((time, frame)) => {
                if best
                    .as_ref()
                    .is_none_or(|(t, _)| (time - thumb_at).abs() < (t - thumb_at).abs())
                {
                    best = Some((time, frame.clone()));
                }
                if writer.is_none() {
                    writer = Some(picker.writer(&frame, opts.max_dimension, opts.quality)?);
                }
                let w = writer
                    .as_mut()
                    .ok_or_else(|| RenderError::Io("jpeg writer".into()))?;
                Some((time, w.encode(&frame)?, w.size()))
            }
            None => None,
        };
        if tx
            .send(Picked {
                mark,
                frame: picked,
            })
            .is_err()
        {
            break;
        }
    }
    let thumb = match best {
        Some((t, f)) => {
            let mut w = picker.writer(&f, thumbnail_max, super::turbo::QUALITY_THUMBNAIL)?;
            Some((t, w.encode(&f)?, w.size()))
        }
        None => None,
    };
    Ok((picker.stats(), thumb))
}

/// Whether our own NVDEC path decodes this clip here (the `nvidia`
/// feature and an NVDEC plan for its codec).
fn sdk_decodes(demux: &sweep::Demux) -> Result<bool, RenderError> {
    #[cfg(feature = "nvidia")]
    return Ok(hw::sdk_decode(&demux.parameters()?).is_some());
    #[cfg(not(feature = "nvidia"))]
    {
        let _ = demux;
        Ok(false)
    }
}

/// The decoder a sweep runs on: our own NVDEC session, or FFmpeg's (NVDEC
/// through cuvid or software, as `allow_gpu` and the plan say).
fn open_sweep(
    demux: sweep::Demux,
    on_sdk: bool,
    allow_gpu: bool,
) -> Result<Box<dyn Frames>, RenderError> {
    #[cfg(feature = "nvidia")]
    if on_sdk {
        return match sweep::SdkFrames::open(demux)? {
            Some(frames) => Ok(Box::new(frames)),
            None => Err(RenderError::Gpu(
                "the NVDEC plan changed while the clip was opened".into(),
            )),
        };
    }
    let _ = on_sdk;
    Ok(Box::new(sweep::FfmpegFrames::open(demux, allow_gpu)?))
}

/// The sweep's worker: every mark's frame (in mark order) encoded and sent
/// on; a frame two marks share is encoded once. Returns the decode cost
/// and the best thumbnail candidate.
fn sweep_marks(
    frames: &mut dyn Frames,
    plan: &sweep::SweepPlan,
    rotation: i32,
    total: u64,
    opts: ExtractOptions,
    thumbnail: (f64, u32),
    tx: std::sync::mpsc::SyncSender<Picked>,
) -> Result<(ExtractStats, Option<Encoded>), RenderError> {
    let (thumb_at, thumbnail_max) = thumbnail;
    let tb = frames.time_base();
    let mut writer: Option<JpegWriter> = None;
    let mut best: Option<(f64, ff::frame::Video)> = None;
    let mut previous: Option<Encoded> = None;
    sweep::sweep(frames, &plan.wants, &mut |mark, got| {
        let picked = match got {
            Some((time, _)) if previous.as_ref().is_some_and(|p| p.0 == time) => previous.clone(),
            Some((time, frame)) => {
                if best
                    .as_ref()
                    .is_none_or(|(t, _)| (time - thumb_at).abs() < (t - thumb_at).abs())
                {
                    best = Some((time, frame.clone()));
                }
                let w = match writer.as_mut() {
                    Some(w) => w,
                    None => writer.insert(JpegWriter::for_decoded(
                        frame,
                        tb,
                        rotation,
                        opts.max_dimension,
                        opts.quality,
                    )?),
                };
                let encoded = (time, w.encode(frame)?, w.size());
                previous = Some(encoded.clone());
                Some(encoded)
            }
            None => None,
        };
        Ok(tx
            .send(Picked {
                mark,
                frame: picked,
            })
            .is_ok())
    })?;
    let thumb = match best {
        Some((t, f)) => {
            let mut w = JpegWriter::for_decoded(
                &f,
                tb,
                rotation,
                thumbnail_max,
                super::turbo::QUALITY_THUMBNAIL,
            )?;
            Some((t, w.encode(&f)?, w.size()))
        }
        None => None,
    };
    Ok((
        ExtractStats {
            decoded: frames.decoded(),
            total,
        },
        thumb,
    ))
}

/// Extracts one frame every `opts.every` seconds, calling `sink` for each
/// in order, and returns the thumbnail (longest side `thumbnail_max`) cut
/// from the decoded frame nearest the thumbnail time.
///
/// Decoding the keyframes is the main cost, so the marks are shared out to
/// one worker per core (at most two), each with its own demuxer, decoder
/// and JPEG encoder, taking every other mark; results are handed on in mark
/// order. Frames stream through a bounded channel, so memory does not grow
/// with the clip.
pub fn extract_frames(
    path: &Path,
    name: &str,
    opts: ExtractOptions,
    thumbnail_max: u32,
    mut sink: impl FnMut(ExtractedFrame) -> Result<(), RenderError>,
) -> Result<(ExtractStats, ExtractedFrame), RenderError> {
    if !(opts.every.is_finite() && opts.every >= 0.1) {
        return Err(RenderError::InvalidArgument(format!(
            "the frame interval (every_seconds, --every) must be at least 0.1 s, got {}",
            opts.every
        )));
    }
    match extract_with(path, name, opts, thumbnail_max, true, &mut sink) {
        // The GPU failed part-way: all of it again on the CPU (the sink
        // gets the same frames under the same indices again).
        Err(RenderError::Gpu(why)) => {
            hw::fell_back("frames", &why);
            extract_with(path, name, opts, thumbnail_max, false, &mut sink)
        }
        other => other,
    }
}

/// [`extract_frames`] with the GPU allowed or not, and no fallback (for
/// measurements that compare the two).
///
/// One pass through the clip ([`super::sweep`]) where our own NVDEC path
/// decodes it, or where seeking per mark would decode more frames than the
/// clip has (keyframes far apart); otherwise the seeking pickers.
pub fn extract_with(
    path: &Path,
    name: &str,
    opts: ExtractOptions,
    thumbnail_max: u32,
    allow_gpu: bool,
    sink: &mut dyn FnMut(ExtractedFrame) -> Result<(), RenderError>,
) -> Result<(ExtractStats, ExtractedFrame), RenderError> {
    let mut demux = sweep::Demux::open(path, name)?;
    let duration = demux.duration();
    let marks: Vec<f64> = (0..)
        .map(|k| k as f64 * opts.every)
        .take_while(|m| *m < duration.max(0.001))
        .collect();
    let thumbnail = (thumbnail_time(duration), thumbnail_max);
    let plan = demux.plan(&marks, opts.tolerance)?;
    let on_sdk = allow_gpu && sdk_decodes(&demux)?;
    let sweeping = match opts.pass {
        Pass::Auto => on_sdk || plan.sweeping_is_cheaper(),
        Pass::Seek => false,
        Pass::Sweep => true,
    };
    let on_sdk = on_sdk && sweeping;
    let workers = if sweeping {
        1
    } else {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .clamp(1, 2)
            .min(marks.len().max(1))
    };
    let (tx, rx) = std::sync::mpsc::sync_channel::<Picked>(2 * workers);
    let mut handles = Vec::with_capacity(workers);
    if sweeping {
        let tx = tx.clone();
        let handle = std::thread::Builder::new()
            .name("frames-sweep".into())
            .spawn(move || {
                let total = demux.total_frames();
                let rotation = demux.rotation();
                let mut frames = open_sweep(demux, on_sdk, allow_gpu)?;
                sweep_marks(&mut *frames, &plan, rotation, total, opts, thumbnail, tx)
            })
            .map_err(|e| RenderError::Io(format!("cannot start a frame worker: {e}")))?;
        handles.push(handle);
    } else {
        drop(demux);
        let mut first = Some(FramePicker::open(path, name, allow_gpu)?);
        for w in 0..workers {
            let share: Vec<(usize, f64)> = marks
                .iter()
                .copied()
                .enumerate()
                .skip(w)
                .step_by(workers)
                .collect();
            let (tx, path, name, picker) = (
                tx.clone(),
                path.to_path_buf(),
                name.to_string(),
                first.take(),
            );
            let handle = std::thread::Builder::new()
                .name(format!("frames-{w}"))
                .spawn(move || {
                    // Later workers open their own copy here, in parallel with the first.
                    let picker = match picker {
                        Some(p) => p,
                        None => FramePicker::open(&path, &name, allow_gpu)?,
                    };
                    pick_marks(picker, share, opts, thumbnail, tx)
                })
                .map_err(|e| RenderError::Io(format!("cannot start a frame worker: {e}")))?;
            handles.push(handle);
        }
    }
    drop(tx);

    // Hand frames on in mark order; two marks can land on the same frame in
    // a very short or sparse clip: keep it once.
    let mut result: Result<(), RenderError> = Ok(());
    let mut ready = std::collections::BTreeMap::new();
    let (mut next_mark, mut index, mut last_time) = (0usize, 0u32, f64::NEG_INFINITY);
    for picked in rx {
        ready.insert(picked.mark, picked.frame);
        while let Some(frame) = ready.remove(&next_mark) {
            next_mark += 1;
            if let Some((time, jpeg, (width, height))) = frame
                && time > last_time
                && result.is_ok()
            {
                last_time = time;
                index += 1;
                result = sink(ExtractedFrame {
                    index,
                    time,
                    jpeg,
                    width,
                    height,
                });
            }
        }
    }
    let mut stats = ExtractStats::default();
    let mut thumb: Option<Encoded> = None;
    for h in handles {
        let (s, t) = h
            .join()
            .map_err(|_| RenderError::Io("a frame worker panicked".into()))??;
        stats.decoded += s.decoded;
        stats.total = stats.total.max(s.total);
        // The frame nearest the thumbnail time; of two as near, the earlier
        // (whichever worker found it).
        if let Some(candidate) = t
            && thumb.as_ref().is_none_or(|best| {
                let (c, b) = (
                    (candidate.0 - thumbnail.0).abs(),
                    (best.0 - thumbnail.0).abs(),
                );
                c < b || (c == b && candidate.0 < best.0)
            })
        {
            thumb = Some(candidate);
        }
    }
    result?;
    match thumb {
        Some((time, jpeg, (width, height))) if index > 0 => Ok((
            stats,
            ExtractedFrame {
                index: 0,
                time,
                jpeg,
                width,
                height,
            },
        )),
        _ => Err(RenderError::media(name, "has no decodable video frame")),
    }
}

/// A thumbnail: the frame near a third of the way in (past the shaky
/// start), longest side `max_dimension`.
pub fn thumbnail(
    path: &Path,
    name: &str,
    max_dimension: u32,
) -> Result<ExtractedFrame, RenderError> {
    // One frame: not worth opening a GPU decoder session for.
    let mut picker = FramePicker::open(path, name, false)?;
    let (time, frame, mut writer) = match picker.representative(name) {
        Ok((time, frame)) => {
            let writer = picker.writer(&frame, max_dimension, super::turbo::QUALITY_THUMBNAIL)?;
            (time, frame, writer)
        }
        // A single picture the clip path cannot seek in (a JPEG): decoded
        // whole, turned as its EXIF says.
        Err(e) if picker.duration() <= 0.1 => {
            let p = super::picture::decode(path, name).map_err(|_| e)?;
            let rotation = super::exif::rotation(super::exif::orientation(path));
            let writer = JpegWriter::for_decoded(
                &p.frame,
                p.time_base,
                rotation,
                max_dimension,
                super::turbo::QUALITY_THUMBNAIL,
            )?;
            (0.0, p.frame, writer)
        }
        Err(e) => return Err(e),
    };
    let (width, height) = writer.size();
    Ok(ExtractedFrame {
        index: 0,
        time,
        jpeg: writer.encode(&frame)?,
        width,
        height,
    })
}
