//! A clip segment: its window decoded (FFmpeg's software or cuvid
//! decoders, or our own NVDEC session with the fit on the device) and
//! fitted, timed and sped to exactly the segment's output frames; looped or
//! held on its last frame when the source is short, never black. A GPU
//! failure redoes the window on the CPU.

use ffmpeg_next as ff;

use scout_proto::scout::render::v1::FitMode;

use super::plan::{Output, PlannedSegment, fit_chain};
use super::segment::SegmentStats;
use crate::error::RenderError;
use crate::media::graph::VideoGraph;
use crate::media::hw::{self, SendError};
use crate::media::{open, rotation, seconds};

/// Renders a clip segment into exactly `seg.frames` output frames.
#[allow(clippy::too_many_arguments)]
pub fn render_clip(
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
    // A window past the last frame (a transition's earlier clip played on
    // to a file end its container's length overstates): the frame before
    // it, held.
    if last.is_none() && from > 0.0 {
        let back = (from - 1.0).max(0.0);
        stats.decoded += decode_window(seg, out, back, to, speed, rot, allow_gpu, &mut |frame| {
            last = Some(frame);
            Ok(true)
        })?;
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
    let start = crate::media::stream_start(&stream);
    // The device fits the three fixed fits; the face crop's moving window
    // is FFmpeg's.
    #[cfg(feature = "nvidia")]
    if allow_gpu
        && seg.fit != FitMode::CropFace
        && let Some(codec) = hw::sdk_decode(&stream.parameters())
    {
        let params = stream.parameters();
        let window = Window::new(seg, out, from, to, speed, start, tb, Vec::new(), take);
        return decode_window_sdk(seg, out, input, index, params, codec, rot, window);
    }
    let mut threading = ff::threading::Config::default();
    threading.kind = ff::threading::Type::Frame;
    threading.count = 0;
    let mut decoder = hw::open_decoder(stream.parameters(), &seg.source, threading, allow_gpu)?;
    if out.draft {
        decoder.draft();
    }
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
        while decoder.receive(&mut frame) {
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
        } else if seg.fit == FitMode::CropFace {
            let path = super::crop::path(
                &seg.focus,
                seg.source_size,
                (out.width, out.height),
                from,
                speed,
                (to - from) / speed.max(1e-6),
            );
            chain.push(path.chain());
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
    // One session per engine on this node, whatever job asks.
    let mut lease = hw::nvdec_lease();
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
            lease.add_frames(1);
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
    let (u, v) = f.chroma.split_at(f.chroma.len() / 2);
    let mut frame = crate::media::decode::frame_from_packed(
        ff::format::Pixel::YUV420P,
        (f.width, f.height),
        &[(&f.luma, w, h), (u, w / 2, h / 2), (v, w / 2, h / 2)],
        "a fitted frame",
    )?;
    frame.set_pts(Some(f.pts));
    Ok(frame)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::test_picture::picture;
    use crate::media::decode::{planes, psnr};
    use scout_gpu::fit::{FitMode as DeviceFit, FitPlan, SourceFormat};
    use scout_proto::scout::render::v1::FitMode;

    /// The device fit (checked here through its CPU reference, which the
    /// device matches byte for byte: `scout gpu-bench`) against the CPU
    /// path's FFmpeg filters, for every fit mode and rotation: same picture,
    /// same place, same bars and background, within the difference between
    /// bilinear (device) and bicubic (FFmpeg) scaling.
    #[test]
    fn the_device_fit_agrees_with_ffmpegs_filters() {
        crate::runtime::init_ffmpeg().expect("ffmpeg");
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
}
