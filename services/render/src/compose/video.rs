//! The video half of compose: each segment decoded and filtered to exact
//! output frames, one subtitle pass over the whole timeline, one x264 encode.
//!
//! Segments are rendered one after another, each with its own decoder and
//! filter graph that are dropped before the next opens, so memory stays the
//! same however long the timeline is.

use std::path::Path;

use ffmpeg_next as ff;

use super::plan::{Output, PlannedSegment, Play, fit_chain};
use crate::error::RenderError;
use crate::media::hw::{self, SendError};
use crate::media::{open, rotation, seconds};

/// A filter graph with one video source `in` and one sink `out`.
pub struct VideoGraph {
    graph: ff::filter::Graph,
}

impl VideoGraph {
    /// Builds `chain` between a source of the given shape and a sink.
    pub fn new(
        width: u32,
        height: u32,
        format: ff::format::Pixel,
        time_base: ff::Rational,
        sar: ff::Rational,
        chain: &str,
    ) -> Result<Self, RenderError> {
        let mut graph = ff::filter::Graph::new();
        let args = format!(
            "video_size={width}x{height}:pix_fmt={}:time_base={}/{}:pixel_aspect={}/{}",
            ff::ffi::AVPixelFormat::from(format) as i32,
            time_base.numerator(),
            time_base.denominator().max(1),
            sar.numerator().max(1),
            sar.denominator().max(1),
        );
        let buffer = ff::filter::find("buffer")
            .ok_or_else(|| RenderError::Init("no buffer filter".into()))?;
        let sink = ff::filter::find("buffersink")
            .ok_or_else(|| RenderError::Init("no buffersink filter".into()))?;
        graph
            .add(&buffer, "in", &args)
            .map_err(RenderError::ffmpeg("video source"))?;
        graph
            .add(&sink, "out", "")
            .map_err(RenderError::ffmpeg("video sink"))?;
        graph
            .output("in", 0)
            .and_then(|p| p.input("out", 0))
            .and_then(|p| p.parse(chain))
            .map_err(|e| RenderError::Ffmpeg {
                context: format!("video filter {chain:?}"),
                source: e,
            })?;
        graph
            .validate()
            .map_err(RenderError::ffmpeg("video filter"))?;
        Ok(Self { graph })
    }

    /// Feeds a frame (or, with `None`, the end of input).
    pub fn push(&mut self, frame: Option<&ff::frame::Video>) -> Result<(), RenderError> {
        let mut src = self
            .graph
            .get("in")
            .ok_or_else(|| RenderError::Init("filter source missing".into()))?;
        match frame {
            Some(f) => src
                .source()
                .add(f)
                .map_err(RenderError::ffmpeg("filter a frame")),
            None => src
                .source()
                .flush()
                .map_err(RenderError::ffmpeg("flush the filter")),
        }
    }

    /// The next filtered frame, if one is ready.
    pub fn pull(&mut self) -> Result<Option<ff::frame::Video>, RenderError> {
        let mut sink = self
            .graph
            .get("out")
            .ok_or_else(|| RenderError::Init("filter sink missing".into()))?;
        let mut frame = ff::frame::Video::empty();
        match sink.sink().frame(&mut frame) {
            Ok(()) => Ok(Some(frame)),
            Err(ff::Error::Eof) => Ok(None),
            Err(ff::Error::Other { errno }) if errno == ff::ffi::EAGAIN => Ok(None),
            Err(e) => Err(RenderError::ffmpeg("filter a frame")(e)),
        }
    }
}

/// What rendering a segment cost and produced.
#[derive(Debug, Clone, Copy, Default)]
pub struct SegmentStats {
    /// Frames decoded from the source.
    pub decoded: u64,
    /// Frames produced from the source.
    pub produced: u64,
    /// Frames produced by holding the last one.
    pub held: u64,
}

/// Renders one segment into exactly `seg.frames` output frames.
pub fn render_segment(
    seg: &PlannedSegment,
    out: &Output,
    emit: &mut dyn FnMut(ff::frame::Video) -> Result<(), RenderError>,
) -> Result<SegmentStats, RenderError> {
    match &seg.play {
        Play::Clip {
            from,
            to,
            speed,
            looped,
            rotation,
            ..
        } => render_clip(seg, out, *from, *to, *speed, *looped, *rotation, emit),
        Play::Still { ken_burns } => render_still(seg, out, *ken_burns, emit),
    }
}

#[allow(clippy::too_many_arguments)]
fn render_clip(
    seg: &PlannedSegment,
    out: &Output,
    from: f64,
    to: f64,
    speed: f64,
    looped: bool,
    rot: i32,
    emit: &mut dyn FnMut(ff::frame::Video) -> Result<(), RenderError>,
) -> Result<SegmentStats, RenderError> {
    let mut stats = SegmentStats::default();
    let mut last: Option<ff::frame::Video> = None;
    let mut emitted = 0u64;
    let mut allow_gpu = true;
    loop {
        let before = emitted;
        loop {
            // After a GPU failure the window is decoded again on the CPU,
            // skipping the frames already emitted from it.
            let mut skip = emitted - before;
            let result = decode_window(seg, out, from, to, speed, rot, allow_gpu, &mut |frame| {
                if skip > 0 {
                    skip -= 1;
                    return Ok(true);
                }
                if emitted < seg.frames {
                    emitted += 1;
                    last = Some(frame.clone());
                    emit(frame)?;
                }
                Ok(emitted < seg.frames)
            });
            match result {
                Err(RenderError::Gpu(why)) if allow_gpu => {
                    hw::fell_back("compose-decode", &why);
                    allow_gpu = false;
                }
                other => {
                    stats.decoded += other?;
                    break;
                }
            }
        }
        stats.produced = emitted;
        // A loop that produced nothing would never end.
        if !looped || emitted >= seg.frames || emitted == before {
            break;
        }
    }
    // A source shorter than its slot is held on its last frame, never black.
    let last = last.ok_or_else(|| {
        RenderError::media(
            &seg.source,
            "has no decodable video frame in the chosen window",
        )
    })?;
    while emitted < seg.frames {
        emitted += 1;
        stats.held += 1;
        emit(last.clone())?;
    }
    Ok(stats)
}

/// Decodes `[from, to)` of the segment's source through its filter chain,
/// calling `take` with each output frame until it answers false. With the
/// `nvidia` feature and an NVDEC plan, the source is decoded by our own
/// NVDEC session and fitted to the output on the device (see
/// [`decode_window_sdk`]); otherwise by FFmpeg (cuvid or software) and
/// fitted by FFmpeg's filters.
#[allow(clippy::too_many_arguments)]
fn decode_window(
    seg: &PlannedSegment,
    out: &Output,
    from: f64,
    to: f64,
    speed: f64,
    rot: i32,
    allow_gpu: bool,
    take: &mut dyn FnMut(ff::frame::Video) -> Result<bool, RenderError>,
) -> Result<u64, RenderError> {
    let mut decoded = 0u64;
    let mut input = open(&seg.path, &seg.source)?;
    let stream = input
        .streams()
        .best(ff::media::Type::Video)
        .ok_or_else(|| RenderError::media(&seg.source, "has no video stream"))?;
    let index = stream.index();
    let tb = stream.time_base();
    let start = if stream.start_time() == ff::ffi::AV_NOPTS_VALUE {
        0.0
    } else {
        seconds(stream.start_time(), tb)
    };
    #[cfg(feature = "nvidia")]
    if allow_gpu && let Some(codec) = hw::sdk_decode(&stream.parameters()) {
        let params = stream.parameters();
        let window = Window::new(seg, out, from, to, speed, start, tb, Vec::new(), take);
        return decode_window_sdk(seg, out, input, index, params, codec, rot, window);
    }
    let mut threading = ff::threading::Config::default();
    threading.kind = ff::threading::Type::Frame;
    threading.count = 0;
    let mut decoder = hw::open_decoder(stream.parameters(), &seg.source, threading, allow_gpu)?;
    seek(&mut input, seg, from, start)?;
    let mut before: Vec<String> = Vec::new();
    let turn = rotation::filter(rot);
    if !turn.is_empty() {
        before.push(turn.to_string());
    }
    // 10-bit and other formats become 8-bit 4:2:0 first: every later filter is cheaper.
    before.push("format=yuv420p".into());
    let mut window = Window::new(seg, out, from, to, speed, start, tb, before, take);
    let mut frame = ff::frame::Video::empty();
    while window.wanted {
        let mut packet = ff::Packet::empty();
        let eof = match packet.read(&mut input) {
            Ok(()) => {
                if packet.stream() != index {
                    continue;
                }
                match hw::send_packet(&mut decoder, &packet) {
                    Ok(()) => {}
                    Err(SendError::Gpu(why)) => return Err(RenderError::Gpu(why)),
                    Err(SendError::Packet(e)) => {
                        tracing::debug!(file = %seg.source, error = %e, "undecodable packet skipped");
                    }
                }
                false
            }
            Err(ff::Error::Eof) => {
                let _ = decoder.decoder.send_eof();
                true
            }
            Err(e) => {
                return Err(RenderError::media(
                    &seg.source,
                    format!("is damaged or truncated: {e}"),
                ));
            }
        };
        while decoder.decoder.receive_frame(&mut frame).is_ok() {
            decoded += 1;
            if !window.frame(&mut frame, decoder.decoder.aspect_ratio())? {
                break;
            }
        }
        if eof || window.reached_end {
            break;
        }
    }
    window.finish()?;
    Ok(decoded)
}

fn seek(
    input: &mut ff::format::context::Input,
    seg: &PlannedSegment,
    from: f64,
    start: f64,
) -> Result<(), RenderError> {
    if from > 0.0 {
        let abs = ((from + start) * f64::from(ff::ffi::AV_TIME_BASE)) as i64;
        input.seek(abs, ..abs).map_err(|e| {
            RenderError::media(&seg.source, format!("cannot seek to {from:.2} s: {e}"))
        })?;
    }
    Ok(())
}

/// The frames of a window of a source, whatever decoded them: those before
/// `from` dropped, the first at or after `to` ends it, the rest timed (speed,
/// output rate) and fitted by the filter chain, and handed to `take`.
struct Window<'a> {
    from: f64,
    to: f64,
    start: f64,
    tb: ff::Rational,
    half_frame: f64,
    chain: String,
    graph: Option<VideoGraph>,
    take: &'a mut dyn FnMut(ff::frame::Video) -> Result<bool, RenderError>,
    wanted: bool,
    reached_end: bool,
}

impl<'a> Window<'a> {
    /// `before`: the filters that come first (rotation, format); the fit
    /// to the output is added unless the frames arrive fitted (`before`
    /// empty: the device did it).
    #[allow(clippy::too_many_arguments)]
    fn new(
        seg: &PlannedSegment,
        out: &Output,
        from: f64,
        to: f64,
        speed: f64,
        start: f64,
        tb: ff::Rational,
        before: Vec<String>,
        take: &'a mut dyn FnMut(ff::frame::Video) -> Result<bool, RenderError>,
    ) -> Self {
        let fitted = before.is_empty();
        let mut chain = before;
        chain.push(format!("setpts=(PTS-STARTPTS)/{speed:.6}"));
        chain.push(format!("fps={}:round=near", out.fps));
        if fitted {
            chain.push("setsar=1".into());
        } else {
            chain.push(fit_chain(seg.fit, seg.source_size, (out.width, out.height)));
        }
        chain.push("format=yuv420p".into());
        Self {
            from,
            to,
            start,
            tb,
            half_frame: 0.5 / f64::from(out.fps),
            chain: chain.join(","),
            graph: None,
            take,
            wanted: true,
            reached_end: false,
        }
    }

    /// One decoded frame (pts in the stream's time base); false once no
    /// more are wanted.
    fn frame(
        &mut self,
        frame: &mut ff::frame::Video,
        sar: ff::Rational,
    ) -> Result<bool, RenderError> {
        let ts = frame.timestamp().or(frame.pts());
        let t = seconds(ts.unwrap_or(0), self.tb) - self.start;
        if t + self.half_frame < self.from {
            return Ok(true);
        }
        if t >= self.to - self.half_frame {
            self.reached_end = true;
            return Ok(false);
        }
        frame.set_pts(ts);
        if self.graph.is_none() {
            self.graph = Some(VideoGraph::new(
                frame.width(),
                frame.height(),
                frame.format(),
                self.tb,
                sar,
                &self.chain,
            )?);
        }
        if let Some(g) = self.graph.as_mut() {
            g.push(Some(frame))?;
            while let Some(f) = g.pull()? {
                if !(self.take)(f)? {
                    self.wanted = false;
                    return Ok(false);
                }
            }
        }
        Ok(true)
    }

    /// Flushes the filter chain (unless `take` already had enough).
    fn finish(&mut self) -> Result<(), RenderError> {
        if self.wanted
            && let Some(g) = self.graph.as_mut()
        {
            g.push(None)?;
            while let Some(f) = g.pull()? {
                if !(self.take)(f)? {
                    break;
                }
            }
        }
        Ok(())
    }
}

/// The window decoded by our own NVDEC session (`scout_gpu::sdk`) with the
/// fit (rotation, scale, crop or pad, 10-bit to 8-bit) done on the device
/// by the fit kernels: FFmpeg demuxes, its `*_mp4toannexb` filter makes the
/// elementary stream, and only fitted 1080x1920 I420 frames come back over
/// PCIe. Any NVDEC/CUDA failure is [`RenderError::Gpu`], and the caller
/// redoes the window on the CPU.
#[cfg(feature = "nvidia")]
#[allow(clippy::too_many_arguments)]
fn decode_window_sdk(
    seg: &PlannedSegment,
    out: &Output,
    mut input: ff::format::context::Input,
    index: usize,
    params: ff::codec::Parameters,
    codec: scout_gpu::VideoCodec,
    rot: i32,
    mut window: Window<'_>,
) -> Result<u64, RenderError> {
    use crate::media::decode::AnnexB;
    use scout_gpu::sdk::{FitRequest, NvdecDecoder};
    let gpu = |e: scout_gpu::sdk::NvdecError| RenderError::Gpu(e.to_string());
    let mut bsf = AnnexB::for_stream(&params, &seg.source)?;
    seek(&mut input, seg, window.from, window.start)?;
    let fit = match seg.fit {
        scout_proto::scout::render::v1::FitMode::Letterbox => scout_gpu::fit::FitMode::Letterbox,
        scout_proto::scout::render::v1::FitMode::CropCenter => scout_gpu::fit::FitMode::CropCenter,
        _ => scout_gpu::fit::FitMode::BlurPad,
    };
    // Timestamps are in the stream's time base: the parser's clock.
    let clock = match window.tb {
        ff::Rational(1, den) if den > 0 => den as u32,
        _ => 0,
    };
    let mut nvdec = NvdecDecoder::with_fit(
        codec,
        FitRequest {
            fit,
            rotation: rot,
            out: (out.width, out.height),
        },
        clock,
    )
    .map_err(gpu)?;
    let mut decoded = 0u64;
    let mut deliver = |frames: Vec<scout_gpu::sdk::HostFrame>,
                       window: &mut Window<'_>|
     -> Result<bool, RenderError> {
        for f in frames {
            decoded += 1;
            let mut frame = fitted_frame(&f)?;
            if !window.frame(&mut frame, ff::Rational(1, 1))? {
                return Ok(false);
            }
        }
        Ok(true)
    };
    loop {
        let mut packet = ff::Packet::empty();
        match packet.read(&mut input) {
            Ok(()) if packet.stream() != index => continue,
            Ok(()) => {
                let mut more = true;
                for (data, pts) in bsf.filter(&mut packet)? {
                    more = deliver(nvdec.decode(&data, pts).map_err(gpu)?, &mut window)?;
                    if !more {
                        break;
                    }
                }
                if !more || window.reached_end {
                    break;
                }
            }
            Err(ff::Error::Eof) => {
                deliver(nvdec.flush().map_err(gpu)?, &mut window)?;
                break;
            }
            Err(e) => {
                return Err(RenderError::media(
                    &seg.source,
                    format!("is damaged or truncated: {e}"),
                ));
            }
        }
    }
    window.finish()?;
    Ok(decoded)
}

/// A fitted device frame (I420, planes packed) as an FFmpeg frame.
#[cfg(feature = "nvidia")]
fn fitted_frame(f: &scout_gpu::sdk::HostFrame) -> Result<ff::frame::Video, RenderError> {
    let (w, h) = (f.width as usize, f.height as usize);
    let mut frame = ff::frame::Video::new(ff::format::Pixel::YUV420P, f.width, f.height);
    let (u, v) = f.chroma.split_at(f.chroma.len() / 2);
    for (p, (src, pw, ph)) in [(&f.luma[..], w, h), (u, w / 2, h / 2), (v, w / 2, h / 2)]
        .into_iter()
        .enumerate()
    {
        if src.len() < pw * ph {
            return Err(RenderError::Gpu("a fitted frame came back short".into()));
        }
        let stride = frame.stride(p);
        let dst = frame.data_mut(p);
        for r in 0..ph {
            dst[r * stride..r * stride + pw].copy_from_slice(&src[r * pw..(r + 1) * pw]);
        }
    }
    frame.set_pts(Some(f.pts));
    Ok(frame)
}

fn render_still(
    seg: &PlannedSegment,
    out: &Output,
    ken_burns: bool,
    emit: &mut dyn FnMut(ff::frame::Video) -> Result<(), RenderError>,
) -> Result<SegmentStats, RenderError> {
    let mut input = open(&seg.path, &seg.source)?;
    let stream = input
        .streams()
        .best(ff::media::Type::Video)
        .ok_or_else(|| RenderError::media(&seg.source, "is not an image"))?;
    let index = stream.index();
    let tb = stream.time_base();
    let ctx = ff::codec::context::Context::from_parameters(stream.parameters())
        .map_err(RenderError::ffmpeg("image decoder"))?;
    let mut decoder = ctx
        .decoder()
        .video()
        .map_err(|e| RenderError::media(&seg.source, format!("cannot decode the image: {e}")))?;
    let mut image = None;
    let mut frame = ff::frame::Video::empty();
    for (stream, packet) in input.packets() {
        if stream.index() != index {
            continue;
        }
        decoder.send_packet(&packet).map_err(|e| {
            RenderError::media(&seg.source, format!("cannot decode the image: {e}"))
        })?;
        if decoder.receive_frame(&mut frame).is_ok() {
            image = Some(frame.clone());
            break;
        }
    }
    if image.is_none() {
        let _ = decoder.send_eof();
        if decoder.receive_frame(&mut frame).is_ok() {
            image = Some(frame.clone());
        }
    }
    let mut image =
        image.ok_or_else(|| RenderError::media(&seg.source, "holds no decodable image"))?;
    image.set_pts(Some(0));
    let (w, h) = (out.width, out.height);
    let mut chain = format!(
        "format=yuv420p,{}",
        fit_chain(seg.fit, seg.source_size, (w, h))
    );
    if ken_burns {
        // A slow push-in over the whole slot: 1.0x to 1.12x, centred.
        let step = 0.12 / seg.frames.max(1) as f64;
        chain.push_str(&format!(
            ",zoompan=z='min(zoom+{step:.6},1.12)':d={}:x='iw/2-(iw/zoom/2)':y='ih/2-(ih/zoom/2)':s={w}x{h}:fps={}",
            seg.frames, out.fps
        ));
    }
    chain.push_str(",format=yuv420p");
    let mut graph = VideoGraph::new(
        image.width(),
        image.height(),
        image.format(),
        tb,
        decoder.aspect_ratio(),
        &chain,
    )?;
    graph.push(Some(&image))?;
    graph.push(None)?;
    let mut stats = SegmentStats {
        decoded: 1,
        ..Default::default()
    };
    let mut emitted = 0u64;
    let mut last = None;
    while emitted < seg.frames {
        match graph.pull()? {
            Some(f) => {
                emitted += 1;
                stats.produced += 1;
                last = Some(f.clone());
                emit(f)?;
            }
            None => break,
        }
    }
    let last = last.ok_or_else(|| RenderError::media(&seg.source, "produced no frame"))?;
    while emitted < seg.frames {
        emitted += 1;
        stats.held += 1;
        emit(last.clone())?;
    }
    Ok(stats)
}

/// The subtitle pass: one `subtitles` filter over the whole output, so
/// events that span segment boundaries render continuously.
pub struct Tail {
    graph: Option<VideoGraph>,
}

impl Tail {
    /// Burns `ass` into frames of the output shape; `None` passes frames through.
    pub fn new(out: &Output, ass: Option<&Path>) -> Result<Self, RenderError> {
        let Some(path) = ass else {
            return Ok(Self { graph: None });
        };
        let p = path.to_string_lossy();
        if p.chars()
            .any(|c| matches!(c, ':' | '\\' | '\'' | ',' | '[' | ']' | ';' | '='))
        {
            return Err(RenderError::Io(format!(
                "subtitle path {p} has characters the filter syntax reserves"
            )));
        }
        let chain = format!("subtitles=filename={p},format=yuv420p");
        let graph = VideoGraph::new(
            out.width,
            out.height,
            ff::format::Pixel::YUV420P,
            ff::Rational(1, out.fps as i32),
            ff::Rational(1, 1),
            &chain,
        )?;
        Ok(Self { graph: Some(graph) })
    }

    /// Passes a frame (pts in output frames) through; calls `sink` for what comes out.
    pub fn push(
        &mut self,
        frame: ff::frame::Video,
        sink: &mut dyn FnMut(ff::frame::Video) -> Result<(), RenderError>,
    ) -> Result<(), RenderError> {
        match self.graph.as_mut() {
            None => sink(frame),
            Some(g) => {
                g.push(Some(&frame))?;
                while let Some(f) = g.pull()? {
                    sink(f)?;
                }
                Ok(())
            }
        }
    }

    /// Flushes what the filter still holds.
    pub fn finish(
        &mut self,
        sink: &mut dyn FnMut(ff::frame::Video) -> Result<(), RenderError>,
    ) -> Result<(), RenderError> {
        if let Some(g) = self.graph.as_mut() {
            g.push(None)?;
            while let Some(f) = g.pull()? {
                sink(f)?;
            }
        }
        Ok(())
    }
}

/// An H.264 encoder outside FFmpeg that hands back Annex B access units in
/// presentation order (no B-frames) and gives its SPS/PPS once: our NVENC
/// session (`scout_gpu::nvenc_sdk`, the `nvidia` feature).
pub trait AnnexbEncoder: Send {
    /// Its name, as logs and `Capabilities` give it.
    fn name(&self) -> &'static str;
    /// SPS and PPS, Annex B (the mp4 `avcC`).
    fn header(&self) -> &[u8];
    /// Encodes one 8-bit 4:2:0 picture, (plane, stride) for Y, U, V.
    fn encode(&mut self, planes: [(&[u8], usize); 3], pts: i64) -> Result<AnnexbPacket, String>;
    /// Ends the stream.
    fn finish(&mut self) -> Result<(), String>;
}

/// One access unit from an [`AnnexbEncoder`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnexbPacket {
    /// Annex B bytes.
    pub data: Vec<u8>,
    /// Presentation time in output frames (= decode time: no B-frames).
    pub pts: i64,
    /// An IDR or I picture.
    pub keyframe: bool,
}

#[cfg(feature = "nvidia")]
impl AnnexbEncoder for scout_gpu::nvenc_sdk::NvencEncoder {
    fn name(&self) -> &'static str {
        "nvenc"
    }

    fn header(&self) -> &[u8] {
        scout_gpu::nvenc_sdk::NvencEncoder::header(self)
    }

    fn encode(&mut self, planes: [(&[u8], usize); 3], pts: i64) -> Result<AnnexbPacket, String> {
        scout_gpu::nvenc_sdk::NvencEncoder::encode(self, planes, pts)
            .map(|p| AnnexbPacket {
                data: p.data,
                pts: p.pts,
                keyframe: p.keyframe,
            })
            .map_err(|e| e.to_string())
    }

    fn finish(&mut self) -> Result<(), String> {
        scout_gpu::nvenc_sdk::NvencEncoder::finish(self).map_err(|e| e.to_string())
    }
}

/// The H.264 encoder of a compose: FFmpeg's (libx264, or `h264_nvenc` on
/// an encoder card without the `nvidia` feature) or one of ours (NVENC
/// through the SDK) whose Annex B units are muxed as they are.
pub enum VideoEncoder {
    /// An FFmpeg encoder and its name.
    Ffmpeg(ff::encoder::Video, &'static str),
    /// Our own encoder and the units it produced not yet taken.
    Annexb(
        Box<dyn AnnexbEncoder>,
        std::collections::VecDeque<AnnexbPacket>,
    ),
}

impl VideoEncoder {
    /// The encoder's name, as `Capabilities` and logs give it.
    pub fn name(&self) -> &'static str {
        match self {
            VideoEncoder::Ffmpeg(_, name) => name,
            VideoEncoder::Annexb(enc, _) => enc.name(),
        }
    }

    /// The FFmpeg codec the output stream is declared with.
    pub fn codec(&self) -> Option<ff::Codec> {
        match self {
            VideoEncoder::Ffmpeg(_, name) => ff::encoder::find_by_name(name),
            VideoEncoder::Annexb(..) => ff::encoder::find(ff::codec::Id::H264),
        }
    }

    /// Packet time base.
    pub fn time_base(&self, out: &Output) -> ff::Rational {
        match self {
            VideoEncoder::Ffmpeg(enc, _) if enc.time_base().denominator() > 0 => enc.time_base(),
            // Our encoders' packets carry output frame numbers.
            _ => ff::Rational(1, out.fps as i32),
        }
    }

    /// Sets the output stream's codec parameters.
    pub fn describe(&self, st: &mut ff::format::stream::StreamMut<'_>, out: &Output) {
        match self {
            VideoEncoder::Ffmpeg(enc, _) => st.set_parameters(enc),
            VideoEncoder::Annexb(enc, _) => describe_h264(st, out, enc.header()),
        }
    }

    /// Encodes a frame (pts in output frames). A failure of a GPU encoder
    /// is [`RenderError::GpuEncode`]: the caller redoes the job with libx264.
    pub fn send_frame(&mut self, frame: &ff::frame::Video) -> Result<(), RenderError> {
        match self {
            VideoEncoder::Ffmpeg(enc, name) => {
                let on_gpu = *name != "libx264";
                enc.send_frame(frame).map_err(|e| {
                    if on_gpu {
                        RenderError::GpuEncode(format!("{name}: {e}"))
                    } else {
                        RenderError::ffmpeg("encode video")(e)
                    }
                })
            }
            VideoEncoder::Annexb(enc, pending) => {
                let planes = [0, 1, 2].map(|p| (frame.data(p), frame.stride(p)));
                let name = enc.name();
                let packet = enc
                    .encode(planes, frame.pts().unwrap_or(0))
                    .map_err(|e| RenderError::GpuEncode(format!("{name}: {e}")))?;
                pending.push_back(packet);
                Ok(())
            }
        }
    }

    /// Ends the stream.
    pub fn send_eof(&mut self) -> Result<(), RenderError> {
        match self {
            VideoEncoder::Ffmpeg(enc, _) => {
                enc.send_eof().map_err(RenderError::ffmpeg("finish video"))
            }
            VideoEncoder::Annexb(enc, _) => {
                let name = enc.name();
                enc.finish()
                    .map_err(|e| RenderError::GpuEncode(format!("{name}: {e}")))
            }
        }
    }

    /// The next encoded packet, if one is ready.
    pub fn receive_packet(&mut self) -> Option<ff::Packet> {
        match self {
            VideoEncoder::Ffmpeg(enc, _) => {
                let mut packet = ff::Packet::empty();
                enc.receive_packet(&mut packet).ok().map(|()| packet)
            }
            VideoEncoder::Annexb(_, pending) => pending.pop_front().map(|p| {
                let mut packet = ff::Packet::copy(&p.data);
                packet.set_pts(Some(p.pts));
                packet.set_dts(Some(p.pts));
                packet.set_duration(1);
                if p.keyframe {
                    packet.set_flags(ff::packet::Flags::KEY);
                }
                packet
            }),
        }
    }
}

/// The codec parameters of an Annex B H.264 stream we encoded (what
/// `set_parameters` takes from an FFmpeg encoder): H.264 High, the output
/// size, 4:2:0, BT.709 limited range, the SPS/PPS as extradata (the mp4
/// muxer turns Annex B extradata and packets into `avcC` and length
/// prefixes).
fn describe_h264(st: &mut ff::format::stream::StreamMut<'_>, out: &Output, header: &[u8]) {
    // SAFETY: fills the stream's own AVCodecParameters before the header is
    // written; extradata is allocated with av_malloc and the padding FFmpeg
    // requires, and owned by the parameters from then on.
    unsafe {
        let par = (*st.as_mut_ptr()).codecpar;
        (*par).codec_type = ff::ffi::AVMediaType::AVMEDIA_TYPE_VIDEO;
        (*par).codec_id = ff::ffi::AVCodecID::AV_CODEC_ID_H264;
        (*par).width = out.width as i32;
        (*par).height = out.height as i32;
        (*par).format = ff::ffi::AVPixelFormat::AV_PIX_FMT_YUV420P as i32;
        (*par).profile = 100;
        (*par).bit_rate = i64::try_from(out.video_bitrate).unwrap_or(i64::MAX);
        (*par).sample_aspect_ratio = ff::ffi::AVRational { num: 1, den: 1 };
        (*par).color_range = ff::ffi::AVColorRange::AVCOL_RANGE_MPEG;
        (*par).color_primaries = ff::ffi::AVColorPrimaries::AVCOL_PRI_BT709;
        (*par).color_trc = ff::ffi::AVColorTransferCharacteristic::AVCOL_TRC_BT709;
        (*par).color_space = ff::ffi::AVColorSpace::AVCOL_SPC_BT709;
        ff::ffi::av_freep((&raw mut (*par).extradata).cast());
        (*par).extradata_size = 0;
        let pad = ff::ffi::AV_INPUT_BUFFER_PADDING_SIZE as usize;
        let extra = ff::ffi::av_mallocz(header.len() + pad).cast::<u8>();
        if !extra.is_null() {
            std::ptr::copy_nonoverlapping(header.as_ptr(), extra, header.len());
            (*par).extradata = extra;
            (*par).extradata_size = header.len() as i32;
        }
    }
}

/// libx264 answering the way our NVENC session does: SPS/PPS once as a
/// global header, Annex B units, no B-frames and no lookahead (each picture
/// comes back at once). What tests put in place of NVENC hardware on
/// machines without it; with `fail_after`, a "GPU" encoder that fails after
/// that many frames (`SCOUT_TEST_GPU_ENCODE_FAULT`), so the redo on the CPU
/// runs for real. Never used outside tests.
#[doc(hidden)]
pub struct X264AsNvenc {
    enc: ff::encoder::Video,
    header: Vec<u8>,
    size: (u32, u32),
    fail_after: Option<u64>,
    frames: u64,
}

impl X264AsNvenc {
    /// Opens libx264 for `out`.
    pub fn new(out: &Output, fail_after: Option<u64>) -> Result<Self, RenderError> {
        let mut enc = h264_context("libx264", out, true)?;
        // SAFETY: a plain field write before the encoder is opened.
        unsafe {
            (*enc.as_mut_ptr()).max_b_frames = 0;
        }
        let mut opts = ff::Dictionary::new();
        // veryfast keeps CABAC and 8x8 transforms: High profile, as NVENC is set.
        opts.set("preset", "veryfast");
        opts.set("tune", "zerolatency");
        opts.set("profile", "high");
        opts.set(
            "x264-params",
            "colorprim=bt709:transfer=bt709:colormatrix=bt709:range=tv",
        );
        let enc = enc
            .open_with(opts)
            .map_err(RenderError::ffmpeg("open libx264"))?;
        // SAFETY: copies the extradata the opened encoder owns.
        let header = unsafe {
            let c = enc.as_ptr();
            match usize::try_from((*c).extradata_size) {
                Ok(n) if n > 0 && !(*c).extradata.is_null() => {
                    std::slice::from_raw_parts((*c).extradata, n).to_vec()
                }
                _ => Vec::new(),
            }
        };
        Ok(Self {
            enc,
            header,
            size: (out.width, out.height),
            fail_after,
            frames: 0,
        })
    }
}

impl AnnexbEncoder for X264AsNvenc {
    fn name(&self) -> &'static str {
        "simulated-nvenc"
    }

    fn header(&self) -> &[u8] {
        &self.header
    }

    fn encode(&mut self, planes: [(&[u8], usize); 3], pts: i64) -> Result<AnnexbPacket, String> {
        if self.fail_after.is_some_and(|n| self.frames >= n) {
            return Err("injected GPU fault (test)".into());
        }
        self.frames += 1;
        let (w, h) = (self.size.0 as usize, self.size.1 as usize);
        let mut f = ff::frame::Video::new(ff::format::Pixel::YUV420P, self.size.0, self.size.1);
        for (p, (src, stride)) in planes.into_iter().enumerate() {
            let (pw, ph) = if p == 0 { (w, h) } else { (w / 2, h / 2) };
            let ds = f.stride(p);
            let dst = f.data_mut(p);
            for r in 0..ph {
                let row = src
                    .get(r * stride..r * stride + pw)
                    .ok_or("a plane is smaller than the picture")?;
                dst[r * ds..r * ds + pw].copy_from_slice(row);
            }
        }
        f.set_pts(Some(pts));
        self.enc.send_frame(&f).map_err(|e| e.to_string())?;
        let mut packet = ff::Packet::empty();
        self.enc
            .receive_packet(&mut packet)
            .map_err(|e| e.to_string())?;
        Ok(AnnexbPacket {
            data: packet.data().unwrap_or_default().to_vec(),
            pts: packet.pts().unwrap_or(pts),
            keyframe: packet.is_key(),
        })
    }

    fn finish(&mut self) -> Result<(), String> {
        self.enc.send_eof().map_err(|e| e.to_string())
    }
}

/// Opens this node's H.264 encoder for the output spec: our NVENC session
/// (`nvidia` feature) or `h264_nvenc` where the plan has a working NVENC (an
/// encoder card), else libx264; `gpu = false` forces libx264 (a job redone
/// after a GPU failure). A GPU encoder that does not open falls back to
/// libx264 (logged once).
pub fn open_encoder(
    out: &Output,
    global_header: bool,
    gpu: bool,
) -> Result<VideoEncoder, RenderError> {
    if gpu && let Some(n) = hw::fault::encoder_fails_after() {
        let enc = X264AsNvenc::new(out, Some(n))?;
        return Ok(VideoEncoder::Annexb(
            Box::new(enc),
            std::collections::VecDeque::new(),
        ));
    }
    match hw::encode_path() {
        #[cfg(feature = "nvidia")]
        scout_gpu::EncodePath::Nvenc if gpu => match open_sdk_nvenc(out) {
            Ok(enc) => return Ok(enc),
            Err(e) => hw::fell_back("encode", &e),
        },
        scout_gpu::EncodePath::FfmpegNvenc | scout_gpu::EncodePath::Nvenc if gpu => {
            match open_nvenc(out, global_header) {
                Ok(enc) => return Ok(VideoEncoder::Ffmpeg(enc, "h264_nvenc")),
                Err(e) => hw::fell_back("encode", &e.to_string()),
            }
        }
        _ => {}
    }
    Ok(VideoEncoder::Ffmpeg(
        open_x264(out, global_header)?,
        "libx264",
    ))
}

#[cfg(feature = "nvidia")]
fn open_sdk_nvenc(out: &Output) -> Result<VideoEncoder, String> {
    let spec = scout_gpu::nvenc_sdk::EncoderSpec {
        width: out.width,
        height: out.height,
        fps: out.fps,
        bitrate: u32::try_from(out.video_bitrate).unwrap_or(u32::MAX),
        maxrate: u32::try_from(out.video_maxrate).unwrap_or(u32::MAX),
        vbv: u32::try_from(out.video_maxrate * 2).unwrap_or(u32::MAX),
        gop: out.fps * 2,
    };
    let session = scout_gpu::nvenc_sdk::NvencEncoder::new(spec).map_err(|e| e.to_string())?;
    Ok(VideoEncoder::Annexb(
        Box::new(session),
        std::collections::VecDeque::new(),
    ))
}

/// An H.264 encoder context for the output spec, not yet opened: 4:2:0,
/// constant frame rate, the target bit rate capped by a VBV of twice the
/// max rate, a keyframe every two seconds (players seek well, and it costs
/// little), BT.709 tags.
fn h264_context(
    name: &str,
    out: &Output,
    global_header: bool,
) -> Result<ff::codec::encoder::video::Video, RenderError> {
    let codec = ff::encoder::find_by_name(name)
        .ok_or_else(|| RenderError::Init(format!("FFmpeg has no {name} encoder")))?;
    let mut enc = ff::codec::context::Context::new_with_codec(codec)
        .encoder()
        .video()
        .map_err(RenderError::ffmpeg(format!("{name} encoder")))?;
    enc.set_width(out.width);
    enc.set_height(out.height);
    enc.set_format(ff::format::Pixel::YUV420P);
    enc.set_time_base(ff::Rational(1, out.fps as i32));
    enc.set_frame_rate(Some(ff::Rational(out.fps as i32, 1)));
    enc.set_aspect_ratio(ff::Rational(1, 1));
    enc.set_bit_rate(out.video_bitrate as usize);
    enc.set_max_bit_rate(out.video_maxrate as usize);
    enc.set_gop(out.fps * 2);
    enc.set_colorspace(ff::color::Space::BT709);
    enc.set_color_range(ff::color::Range::MPEG);
    // SAFETY: plain field writes on the codec context before it is opened.
    unsafe {
        let c = enc.as_mut_ptr();
        (*c).rc_buffer_size = (out.video_maxrate * 2) as i32;
        (*c).color_primaries = ff::ffi::AVColorPrimaries::AVCOL_PRI_BT709;
        (*c).color_trc = ff::ffi::AVColorTransferCharacteristic::AVCOL_TRC_BT709;
    }
    if global_header {
        enc.set_flags(ff::codec::Flags::GLOBAL_HEADER);
    }
    Ok(enc)
}

/// Opens `h264_nvenc` for the output spec: High profile, VBR, B-frames.
fn open_nvenc(out: &Output, global_header: bool) -> Result<ff::encoder::Video, RenderError> {
    let mut enc = h264_context("h264_nvenc", out, global_header)?;
    // SAFETY: a plain field write on the codec context before it is opened.
    unsafe {
        (*enc.as_mut_ptr()).max_b_frames = 2;
    }
    let mut opts = ff::Dictionary::new();
    opts.set("preset", "p4");
    opts.set("profile", "high");
    opts.set("rc", "vbr");
    enc.open_with(opts)
        .map_err(RenderError::ffmpeg("open h264_nvenc"))
}

/// Opens libx264 for the output spec: High profile, ABR, the configured preset.
pub fn open_x264(out: &Output, global_header: bool) -> Result<ff::encoder::Video, RenderError> {
    let enc = h264_context("libx264", out, global_header)?;
    let mut opts = ff::Dictionary::new();
    opts.set("preset", &out.preset);
    opts.set("profile", "high");
    opts.set(
        "x264-params",
        "colorprim=bt709:transfer=bt709:colormatrix=bt709:range=tv",
    );
    enc.open_with(opts)
        .map_err(RenderError::ffmpeg("open libx264"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::decode::{planes, psnr};
    use scout_gpu::fit::{FitMode as DeviceFit, FitPlan, SourceFormat};
    use scout_proto::scout::render::v1::FitMode;

    /// A smooth 640x360 picture with detail in every plane.
    fn picture() -> ff::frame::Video {
        let (w, h) = (640usize, 360usize);
        let mut f = ff::frame::Video::new(ff::format::Pixel::YUV420P, w as u32, h as u32);
        for p in 0..3 {
            let (pw, ph) = if p == 0 { (w, h) } else { (w / 2, h / 2) };
            let stride = f.stride(p);
            let data = f.data_mut(p);
            for y in 0..ph {
                for x in 0..pw {
                    let (fx, fy) = (x as f64, y as f64);
                    let v = match p {
                        0 => 126.0 + 60.0 * (fx / 17.0).sin() * (fy / 23.0).cos() + 0.08 * fx,
                        1 => 128.0 + 40.0 * (fx / 31.0).sin(),
                        _ => 128.0 + 40.0 * (fy / 29.0).cos(),
                    };
                    data[y * stride + x] = v.round().clamp(16.0, 240.0) as u8;
                }
            }
        }
        f.set_pts(Some(0));
        f
    }

    /// The device fit (checked here through its CPU reference, which the
    /// device matches byte for byte: `scout gpu-bench`) against the CPU
    /// path's FFmpeg filters, for every fit mode and rotation: same picture,
    /// same place, same bars and background, within the difference between
    /// bilinear (device) and bicubic (FFmpeg) scaling.
    #[test]
    fn the_device_fit_agrees_with_ffmpegs_filters() {
        crate::capabilities::init_ffmpeg().expect("ffmpeg");
        let src = picture();
        let bytes = planes(&src);
        let (y, rest) = bytes.split_at(640 * 360);
        let (u, v) = rest.split_at(320 * 180);
        // Portrait outputs, and a square one so turned pictures still need
        // bars or a crop.
        let (tall, square) = ((360u32, 640u32), (480u32, 480u32));
        for (fit, device, rot, out, min_db) in [
            (FitMode::Letterbox, DeviceFit::Letterbox, 0, tall, 40.0),
            (FitMode::CropCenter, DeviceFit::CropCenter, 0, tall, 40.0),
            (FitMode::BlurPad, DeviceFit::BlurPad, 0, tall, 33.0),
            (FitMode::Letterbox, DeviceFit::Letterbox, 90, tall, 40.0),
            (FitMode::Letterbox, DeviceFit::Letterbox, 90, square, 40.0),
            (
                FitMode::CropCenter,
                DeviceFit::CropCenter,
                270,
                square,
                40.0,
            ),
            (FitMode::BlurPad, DeviceFit::BlurPad, 180, tall, 33.0),
            (FitMode::BlurPad, DeviceFit::BlurPad, 270, square, 33.0),
        ] {
            let display = rotation::display_size(640, 360, rot);
            let turn = rotation::filter(rot);
            let chain = format!(
                "{}format=yuv420p,{},format=yuv420p",
                if turn.is_empty() {
                    String::new()
                } else {
                    format!("{turn},")
                },
                fit_chain(fit, display, out)
            );
            let mut graph = VideoGraph::new(
                640,
                360,
                ff::format::Pixel::YUV420P,
                ff::Rational(1, 30),
                ff::Rational(1, 1),
                &chain,
            )
            .expect("graph");
            // The source takes the frame's buffers: give it a copy.
            graph.push(Some(&src.clone())).expect("push");
            graph.push(None).expect("flush");
            let cpu = graph.pull().expect("pull").expect("a frame");
            assert_eq!((cpu.width(), cpu.height()), out);
            let cpu = planes(&cpu);
            let plan = FitPlan::new(device, SourceFormat::I420, (640, 360), rot, out);
            let dev = plan.run_cpu(&[(y, 640), (u, 320), (v, 320)]);
            assert_eq!(dev.len(), cpu.len());
            let luma = (out.0 * out.1) as usize;
            let chroma = luma / 4;
            for (k, (s, e)) in [
                (0, luma),
                (luma, luma + chroma),
                (luma + chroma, luma + 2 * chroma),
            ]
            .into_iter()
            .enumerate()
            {
                let db = psnr(&cpu[s..e], &dev[s..e]);
                assert!(
                    db >= min_db,
                    "{fit:?} rot {rot} plane {k}: {db:.1} dB < {min_db}"
                );
            }
        }
    }

    /// What our own encoders (NVENC through the SDK) hand the muxer — an
    /// Annex B global header and Annex B units — makes a playable mp4 of
    /// the output spec: the right frames, keyframes every GOP, BT.709.
    #[test]
    fn annex_b_units_from_our_encoders_mux_into_a_playable_mp4() {
        crate::capabilities::init_ffmpeg().expect("ffmpeg");
        let out = Output {
            width: 360,
            height: 640,
            fps: 30,
            video_bitrate: 1_000_000,
            video_maxrate: 1_500_000,
            audio_bitrate: 128_000,
            sample_rate: 48_000,
            preset: "ultrafast".into(),
        };
        let path = std::env::temp_dir().join(format!("scout-annexb-{}.mp4", std::process::id()));
        // libx264 in place of the NVENC hardware this machine lacks.
        let x264 = X264AsNvenc::new(&out, None).expect("libx264");
        assert!(
            x264.header().starts_with(&[0, 0, 0, 1]),
            "an Annex B global header"
        );
        let mut enc = VideoEncoder::Annexb(Box::new(x264), std::collections::VecDeque::new());
        assert_eq!(enc.name(), "simulated-nvenc");
        let mut octx = ff::format::output_as(&path, "mp4").expect("output");
        let index = {
            let mut st = octx.add_stream(enc.codec()).expect("stream");
            enc.describe(&mut st, &out);
            st.set_time_base(ff::Rational(1, 30));
            st.index()
        };
        octx.write_header().expect("header");
        let tb = octx.stream(index).map(|s| s.time_base()).expect("tb");
        // A moving picture: the fit test's pattern, shifted each frame.
        let src = picture();
        let mut scaler = ff::software::scaling::Context::get(
            ff::format::Pixel::YUV420P,
            640,
            360,
            ff::format::Pixel::YUV420P,
            360,
            640,
            ff::software::scaling::Flags::BILINEAR,
        )
        .expect("scaler");
        let mut first: Option<Vec<u8>> = None;
        for i in 0..90i64 {
            let mut frame = ff::frame::Video::empty();
            scaler.run(&src, &mut frame).expect("scale");
            let stride = frame.stride(0);
            for (k, b) in frame.data_mut(0).iter_mut().enumerate() {
                if k % stride < 360 {
                    *b = b.saturating_add(i as u8);
                }
            }
            if i == 0 {
                first = Some(planes(&frame));
            }
            frame.set_pts(Some(i));
            enc.send_frame(&frame).expect("encode");
            while let Some(mut p) = enc.receive_packet() {
                p.set_stream(index);
                p.rescale_ts(enc.time_base(&out), tb);
                p.write_interleaved(&mut octx).expect("write");
            }
        }
        enc.send_eof().expect("eof");
        octx.write_trailer().expect("trailer");

        let info = crate::media::probe::probe(&path, "annexb.mp4").expect("probe");
        assert_eq!(info.video_codec, "h264");
        assert_eq!((info.width, info.height), (360, 640));
        assert!(
            (info.duration_seconds - 3.0).abs() < 0.05,
            "{}",
            info.duration_seconds
        );
        let mut input = ff::format::input(&path).expect("input");
        let keys: Vec<i64> = input
            .packets()
            .filter(|(_, p)| p.is_key())
            .filter_map(|(_, p)| p.pts())
            .collect();
        assert_eq!(keys.len(), 2, "a keyframe every 60 frames: {keys:?}");
        let params = input
            .streams()
            .best(ff::media::Type::Video)
            .expect("video")
            .parameters();
        // SAFETY: reads plain fields of valid codec parameters.
        let (primaries, range) = unsafe {
            (
                (*params.as_ptr()).color_primaries,
                (*params.as_ptr()).color_range,
            )
        };
        assert_eq!(primaries, ff::ffi::AVColorPrimaries::AVCOL_PRI_BT709);
        assert_eq!(range, ff::ffi::AVColorRange::AVCOL_RANGE_MPEG);
        let run = crate::media::decode::decode_all(&path, false, 45).expect("decode");
        assert_eq!(run.frames, 90);
        let first = first.expect("first frame");
        let got = &run.samples[0].1;
        let db = psnr(&first[..360 * 640], &got[..360 * 640]);
        assert!(db > 30.0, "the first frame decodes back: {db:.1} dB");
        let _ = std::fs::remove_file(&path);
    }
}
