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
/// calling `take` with each output frame until it answers false.
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
    let mut threading = ff::threading::Config::default();
    threading.kind = ff::threading::Type::Frame;
    threading.count = 0;
    let mut decoder = hw::open_decoder(stream.parameters(), &seg.source, threading, allow_gpu)?;
    let abs = ((from + start) * f64::from(ff::ffi::AV_TIME_BASE)) as i64;
    if from > 0.0 {
        input.seek(abs, ..abs).map_err(|e| {
            RenderError::media(&seg.source, format!("cannot seek to {from:.2} s: {e}"))
        })?;
    }
    let fps = out.fps;
    let mut chain: Vec<String> = Vec::new();
    let turn = rotation::filter(rot);
    if !turn.is_empty() {
        chain.push(turn.to_string());
    }
    // 10-bit and other formats become 8-bit 4:2:0 first: every later filter is cheaper.
    chain.push("format=yuv420p".into());
    chain.push(format!("setpts=(PTS-STARTPTS)/{speed:.6}"));
    chain.push(format!("fps={fps}:round=near"));
    let chain = format!(
        "{},{}",
        chain.join(","),
        fit_chain(seg.fit, seg.source_size, (out.width, out.height))
    );
    let chain = format!("{chain},format=yuv420p");
    let mut graph: Option<VideoGraph> = None;
    let half_frame = 0.5 / f64::from(fps);
    let mut frame = ff::frame::Video::empty();
    let mut reached_end = false;
    let mut wanted = true;
    while wanted {
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
            let t = seconds(frame.timestamp().or(frame.pts()).unwrap_or(0), tb) - start;
            if t + half_frame < from {
                continue;
            }
            if t >= to - half_frame {
                reached_end = true;
                break;
            }
            let ts = frame.timestamp().or(frame.pts());
            frame.set_pts(ts);
            if graph.is_none() {
                graph = Some(VideoGraph::new(
                    frame.width(),
                    frame.height(),
                    frame.format(),
                    tb,
                    decoder.decoder.aspect_ratio(),
                    &chain,
                )?);
            }
            if let Some(g) = graph.as_mut() {
                g.push(Some(&frame))?;
                while let Some(f) = g.pull()? {
                    if !take(f)? {
                        wanted = false;
                        break;
                    }
                }
            }
            if !wanted {
                break;
            }
        }
        if eof || reached_end {
            break;
        }
    }
    if wanted && let Some(g) = graph.as_mut() {
        g.push(None)?;
        while let Some(f) = g.pull()? {
            if !take(f)? {
                break;
            }
        }
    }
    Ok(decoded)
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

/// Opens this node's H.264 encoder for the output spec: `h264_nvenc` where
/// the plan has a working NVENC (an encoder card), else libx264. An NVENC
/// that does not open falls back to libx264 (logged once). Returns the
/// encoder and its name.
pub fn open_encoder(
    out: &Output,
    global_header: bool,
) -> Result<(ff::encoder::Video, &'static str), RenderError> {
    if hw::encode_path() == scout_gpu::EncodePath::FfmpegNvenc {
        match open_nvenc(out, global_header) {
            Ok(enc) => return Ok((enc, "h264_nvenc")),
            Err(e) => hw::fell_back("encode", &e.to_string()),
        }
    }
    Ok((open_x264(out, global_header)?, "libx264"))
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
