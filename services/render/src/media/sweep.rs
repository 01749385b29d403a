//! Frame extraction in one pass through a clip.
//!
//! The seeking picker ([`super::frames::FramePicker`]) seeks to the keyframe
//! before each mark and decodes forward from it. Where a clip's keyframes
//! are far apart (a camera's or an encoder's default GOP of several
//! seconds), that decodes the same frames again for every mark in the GOP;
//! and on our own NVDEC path every seek would mean a new decode session.
//! The sweep walks the marks in order with one decoder instead: it decodes
//! on from where it is while the next mark's keyframe lies behind it, and
//! starts afresh at that keyframe (a seek and a new decoder or session)
//! only when it lies ahead. So no frame is decoded twice, and frames
//! between marks a keyframe away are never decoded at all.
//!
//! It picks the frames the seeking picker picks: for each mark, the
//! demuxer's seek is asked where it would land (the keyframe `k`), and the
//! mark takes the first frame at or after `max(mark − tolerance, k)`.
//! (Decoding on from an earlier keyframe gives the same pictures as
//! decoding from `k`.) So the two give byte-identical JPEGs; the tests
//! check it on real clips.
//!
//! It runs where it decodes fewer frames than seeking would (a GOP holds
//! several marks; estimated from the keyframe times and the frame rate),
//! and always on our own NVDEC path (the `nvidia` feature): one session per
//! run of marks instead of one per mark, and only the frames taken are
//! copied back from the device.

use std::path::Path;

use ffmpeg_next as ff;

use super::hw::{self, SendError, VideoDecoder};
use super::{open_light, seconds};
use crate::error::RenderError;

/// What one mark takes: the first frame at or after `from`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Want {
    /// The mark's index.
    pub mark: usize,
    /// The mark's time (seconds from the clip's start).
    pub at: f64,
    /// Where the demuxer lands when seeking to the mark (seconds from the
    /// clip's start): the keyframe decoding starts from.
    pub keyframe: f64,
    /// The earliest frame time the mark takes.
    pub from: f64,
}

/// How a clip's marks would be picked, and what seeking would cost.
#[derive(Debug, Clone)]
pub(crate) struct SweepPlan {
    /// One per mark, in mark order.
    pub wants: Vec<Want>,
    /// Frames the seeking picker would decode (estimated from the frame rate).
    pub seek_cost: u64,
    /// Frames one pass would decode (likewise).
    pub sweep_cost: u64,
}

impl SweepPlan {
    /// Whether one pass decodes fewer frames than seeking per mark (it
    /// does where a GOP holds several marks).
    pub fn sweeping_is_cheaper(&self) -> bool {
        self.sweep_cost < self.seek_cost
    }
}

/// A clip's demuxer, its video stream and where its times start.
pub(crate) struct Demux {
    input: ff::format::context::Input,
    index: usize,
    pub tb: ff::Rational,
    start: f64,
    name: String,
}

impl Demux {
    /// Opens `path` (called `name` in errors).
    pub fn open(path: &Path, name: &str) -> Result<Self, RenderError> {
        let input = open_light(path, name)?;
        let stream = input
            .streams()
            .best(ff::media::Type::Video)
            .ok_or_else(|| RenderError::media(name, "has no video stream"))?;
        let index = stream.index();
        let tb = stream.time_base();
        let start = super::stream_start(&stream);
        Ok(Self {
            input,
            index,
            tb,
            start,
            name: name.to_string(),
        })
    }

    /// The video stream's codec parameters.
    pub fn parameters(&self) -> Result<ff::codec::Parameters, RenderError> {
        self.input
            .stream(self.index)
            .map(|s| s.parameters())
            .ok_or_else(|| RenderError::media(&self.name, "has no video stream"))
    }

    fn stream_facts(&self) -> (u64, f64) {
        self.input
            .stream(self.index)
            .map(|s| {
                let rate = s.avg_frame_rate();
                let fps = if rate.numerator() > 0 && rate.denominator() > 0 {
                    f64::from(rate)
                } else {
                    30.0
                };
                (s.frames().max(0) as u64, fps)
            })
            .unwrap_or((0, 30.0))
    }

    /// The clip's duration in seconds (the container's, else the stream's).
    pub fn duration(&self) -> f64 {
        self.input
            .stream(self.index)
            .map(|s| super::clip_duration(&self.input, &s))
            .unwrap_or(0.0)
    }

    /// The rotation (degrees clockwise) that turns the frames upright.
    pub fn rotation(&self) -> i32 {
        self.input
            .stream(self.index)
            .map(|s| super::rotation::display_rotation(&s))
            .unwrap_or(0)
    }

    /// Frames in the clip by the container (0 when unknown).
    pub fn total_frames(&self) -> u64 {
        self.stream_facts().0
    }

    /// Seconds from the clip's start of a timestamp.
    pub fn time(&self, ts: i64) -> f64 {
        seconds(ts, self.tb) - self.start
    }

    /// A timestamp for seconds from the clip's start.
    #[cfg(feature = "nvidia")]
    pub fn timestamp(&self, t: f64) -> i64 {
        super::timestamp(t + self.start, self.tb)
    }

    /// Seeks as the seeking picker does: to the keyframe at or before `at`.
    pub fn seek(&mut self, at: f64) -> Result<(), RenderError> {
        let abs = ((at + self.start) * f64::from(ff::ffi::AV_TIME_BASE)) as i64;
        self.input
            .seek(abs, ..abs)
            .map_err(|e| RenderError::media(&self.name, format!("cannot seek to {at:.2} s: {e}")))
    }

    /// The next packet of the video stream; `None` at the end.
    pub fn read(&mut self) -> Result<Option<ff::Packet>, RenderError> {
        loop {
            let mut packet = ff::Packet::empty();
            match packet.read(&mut self.input) {
                Ok(()) if packet.stream() == self.index => return Ok(Some(packet)),
                Ok(()) => {}
                Err(ff::Error::Eof) => return Ok(None),
                Err(e) => {
                    return Err(RenderError::media(&self.name, format!("is damaged: {e}")));
                }
            }
        }
    }

    /// Where each mark's seek lands, and what seeking would cost; leaves the
    /// demuxer at the first mark's keyframe.
    pub fn plan(&mut self, marks: &[f64], tolerance: f64) -> Result<SweepPlan, RenderError> {
        let (_, fps) = self.stream_facts();
        let frames_between = |a: f64, b: f64| ((b - a).max(0.0) * fps).ceil() as u64;
        let mut wants = Vec::with_capacity(marks.len());
        let (mut seek_cost, mut sweep_cost) = (0u64, 0u64);
        // Where the sweep would be (the last frame it decoded).
        let mut at_frame = f64::NEG_INFINITY;
        for (mark, &at) in marks.iter().enumerate() {
            self.seek(at)?;
            let keyframe = match self.read()? {
                Some(p) => self.time(p.pts().or(p.dts()).unwrap_or(0)),
                // Nothing after the seek: the mark takes nothing.
                None => f64::INFINITY,
            };
            let from = (at - tolerance).max(keyframe);
            if keyframe.is_finite() {
                let from_keyframe = frames_between(keyframe, from) + 1;
                seek_cost += from_keyframe;
                sweep_cost += if keyframe > at_frame {
                    from_keyframe
                } else {
                    frames_between(at_frame, from)
                };
                at_frame = at_frame.max(from);
            }
            wants.push(Want {
                mark,
                at,
                keyframe,
                from,
            });
        }
        Ok(SweepPlan {
            wants,
            seek_cost,
            sweep_cost,
        })
    }
}

/// Frames of a clip in display order, with their times (seconds from the
/// clip's start), from wherever decoding was last started.
pub(crate) trait Frames {
    /// Starts decoding afresh at the keyframe the demuxer lands on for `at`.
    fn restart_at(&mut self, at: f64) -> Result<(), RenderError>;
    /// Frames before `t` will not be taken: a decoder that can skip handing
    /// them over (NVDEC: no copy back) may.
    fn copy_from(&mut self, _t: f64) {}
    /// The next frame; `None` at the end of the clip.
    fn next_frame(&mut self) -> Result<Option<(f64, ff::frame::Video)>, RenderError>;
    /// Frames decoded so far.
    fn decoded(&self) -> u64;
    /// The time base the frames' timestamps are in.
    fn time_base(&self) -> ff::Rational;
}

/// FFmpeg's decoders (software, or NVDEC through cuvid).
pub(crate) struct FfmpegFrames {
    demux: Demux,
    decoder: VideoDecoder,
    eof: bool,
    decoded: u64,
}

impl FfmpegFrames {
    /// The decoder for `demux`'s stream: on NVDEC when `allow_gpu` and the
    /// plan says so, else FFmpeg's software decoder with frame threads.
    pub fn open(demux: Demux, allow_gpu: bool) -> Result<Self, RenderError> {
        let mut threading = ff::threading::Config::default();
        threading.kind = ff::threading::Type::Frame;
        threading.count = 0;
        let decoder = hw::open_decoder(demux.parameters()?, &demux.name, threading, allow_gpu)?;
        Ok(Self {
            demux,
            decoder,
            eof: false,
            decoded: 0,
        })
    }
}

impl Frames for FfmpegFrames {
    fn restart_at(&mut self, at: f64) -> Result<(), RenderError> {
        self.demux.seek(at)?;
        self.decoder.decoder.flush();
        self.eof = false;
        Ok(())
    }

    fn next_frame(&mut self) -> Result<Option<(f64, ff::frame::Video)>, RenderError> {
        loop {
            let mut frame = ff::frame::Video::empty();
            if self.decoder.receive(&mut frame) {
                self.decoded += 1;
                let t = self
                    .demux
                    .time(frame.timestamp().or(frame.pts()).unwrap_or(0));
                return Ok(Some((t, frame)));
            }
            if self.eof {
                return Ok(None);
            }
            match self.demux.read()? {
                Some(packet) => match hw::send_packet(&mut self.decoder, &packet) {
                    Ok(()) => {}
                    Err(SendError::Gpu(why)) => return Err(RenderError::Gpu(why)),
                    Err(SendError::Packet(e)) => {
                        // A damaged packet is skipped: the next keyframe recovers.
                        tracing::debug!(file = %self.demux.name, error = %e, "undecodable packet skipped");
                    }
                },
                None => {
                    let _ = self.decoder.decoder.send_eof();
                    self.eof = true;
                }
            }
        }
    }

    fn decoded(&self) -> u64 {
        self.decoded
    }

    fn time_base(&self) -> ff::Rational {
        self.demux.tb
    }
}

/// Our own NVDEC session (the `nvidia` feature): FFmpeg demuxes, its
/// `*_mp4toannexb` filter makes the elementary stream, NVDEC decodes, and
/// only the frames taken are copied back (full size, NV12 or P010 as
/// FFmpeg's cuvid decoder gives them).
#[cfg(feature = "nvidia")]
pub(crate) struct SdkFrames {
    demux: Demux,
    codec: scout_gpu::VideoCodec,
    bsf: super::decode::AnnexB,
    nvdec: scout_gpu::sdk::NvdecDecoder,
    lease: scout_gpu::EngineLease,
    ready: std::collections::VecDeque<scout_gpu::sdk::HostFrame>,
    sar: ff::Rational,
    eof: bool,
    /// Frames shown by sessions already closed.
    earlier: u64,
}

#[cfg(feature = "nvidia")]
impl SdkFrames {
    /// A session for `demux`'s stream, when this node decodes it through
    /// our own NVDEC path; `Ok(None)` when it does not.
    pub fn open(demux: Demux) -> Result<Option<Self>, RenderError> {
        let params = demux.parameters()?;
        let Some(codec) = hw::sdk_decode(&params) else {
            return Ok(None);
        };
        let bsf = super::decode::AnnexB::for_stream(&params, &demux.name)?;
        // SAFETY: reads a plain field of valid codec parameters.
        let sar = unsafe { (*params.as_ptr()).sample_aspect_ratio };
        let sar = ff::Rational(sar.num, sar.den);
        let lease = hw::nvdec_lease();
        let nvdec = Self::session(codec)?;
        Ok(Some(Self {
            demux,
            codec,
            bsf,
            nvdec,
            lease,
            ready: Default::default(),
            sar,
            eof: false,
            earlier: 0,
        }))
    }

    fn session(codec: scout_gpu::VideoCodec) -> Result<scout_gpu::sdk::NvdecDecoder, RenderError> {
        scout_gpu::sdk::NvdecDecoder::new(codec, None).map_err(|e| RenderError::Gpu(e.to_string()))
    }

    fn frame(&self, f: &scout_gpu::sdk::HostFrame) -> Result<ff::frame::Video, RenderError> {
        let format = if f.bytes_per_sample == 2 {
            ff::format::Pixel::P010LE
        } else {
            ff::format::Pixel::NV12
        };
        let row = (f.width * f.bytes_per_sample) as usize;
        let rows = f.height as usize;
        let mut frame = super::decode::frame_from_packed(
            format,
            (f.width, f.height),
            &[(&f.luma, row, rows), (&f.chroma, row, rows / 2)],
            "a decoded frame",
        )?;
        // SAFETY: plain field writes on a frame this function owns.
        unsafe {
            (*frame.as_mut_ptr()).sample_aspect_ratio = ff::ffi::AVRational {
                num: self.sar.0,
                den: self.sar.1,
            };
            (*frame.as_mut_ptr()).best_effort_timestamp = f.pts;
        }
        frame.set_pts(Some(f.pts));
        Ok(frame)
    }
}

#[cfg(feature = "nvidia")]
impl Frames for SdkFrames {
    fn restart_at(&mut self, at: f64) -> Result<(), RenderError> {
        self.demux.seek(at)?;
        self.earlier += self.nvdec.shown();
        // A fresh session and filter: nothing of the old position stays.
        self.nvdec = Self::session(self.codec)?;
        self.bsf = super::decode::AnnexB::for_stream(&self.demux.parameters()?, &self.demux.name)?;
        self.ready.clear();
        self.eof = false;
        Ok(())
    }

    fn copy_from(&mut self, t: f64) {
        self.nvdec.copy_from(self.demux.timestamp(t));
    }

    fn next_frame(&mut self) -> Result<Option<(f64, ff::frame::Video)>, RenderError> {
        let gpu = |e: scout_gpu::sdk::NvdecError| RenderError::Gpu(e.to_string());
        loop {
            if let Some(f) = self.ready.pop_front() {
                return Ok(Some((self.demux.time(f.pts), self.frame(&f)?)));
            }
            if self.eof {
                return Ok(None);
            }
            match self.demux.read()? {
                Some(mut packet) => {
                    for (data, pts) in self.bsf.filter(&mut packet)? {
                        self.ready
                            .extend(self.nvdec.decode(&data, pts).map_err(gpu)?);
                    }
                }
                None => {
                    self.ready.extend(self.nvdec.flush().map_err(gpu)?);
                    self.eof = true;
                }
            }
        }
    }

    fn decoded(&self) -> u64 {
        self.earlier + self.nvdec.shown()
    }

    fn time_base(&self) -> ff::Rational {
        self.demux.tb
    }
}

#[cfg(feature = "nvidia")]
impl Drop for SdkFrames {
    fn drop(&mut self) {
        let shown = self.decoded();
        self.lease.add_frames(shown);
    }
}

/// Called with each mark and the frame it takes (its time and picture);
/// answers whether to go on.
pub(crate) type Take<'a> =
    dyn FnMut(usize, Option<(f64, &ff::frame::Video)>) -> Result<bool, RenderError> + 'a;

/// Walks `wants` (in mark order) through `frames`, calling `take` with each
/// mark and the frame it takes (`None`: nothing at or after its `from`).
/// Decoding restarts at a mark's keyframe only when that lies ahead of the
/// last frame decoded.
pub(crate) fn sweep(
    frames: &mut dyn Frames,
    wants: &[Want],
    take: &mut Take<'_>,
) -> Result<(), RenderError> {
    // Time of the last frame decoded; nothing yet.
    let mut at = f64::NEG_INFINITY;
    let mut started = false;
    let mut held: Option<(f64, ff::frame::Video)> = None;
    let mut next = 0;
    while next < wants.len() {
        let want = wants[next];
        if !want.keyframe.is_finite() {
            if !take(want.mark, None)? {
                return Ok(());
            }
            next += 1;
            continue;
        }
        // The last frame decoded may already be this mark's.
        if let Some((t, f)) = &held
            && *t >= want.from
        {
            if !take(want.mark, Some((*t, f)))? {
                return Ok(());
            }
            next += 1;
            continue;
        }
        if !started || want.keyframe > at {
            frames.restart_at(want.at)?;
            started = true;
        }
        frames.copy_from(want.from);
        loop {
            match frames.next_frame()? {
                Some((t, f)) => {
                    at = t;
                    if t >= want.from {
                        held = Some((t, f));
                        break;
                    }
                }
                None => {
                    // Past the end: this mark and every later one take nothing.
                    for w in &wants[next..] {
                        if !take(w.mark, None)? {
                            return Ok(());
                        }
                    }
                    return Ok(());
                }
            }
        }
    }
    Ok(())
}
