//! Encoding the output in pieces: each segment decoded, filtered (fit,
//! captions, mark) and encoded on its own into a piece that opens on a
//! keyframe (`encode_piece`), then the pieces joined with the mixed audio
//! into the output file without re-encoding (`join`). See `pieces` for why.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use ffmpeg_next as ff;

use super::audio::{Mixer, open_aac, planar_frame};
use super::decode::render_clip;
use super::encode::{VideoEncoder, open_encoder};
use super::pieces::LEAD;
use super::plan::{Output, Plan, PlannedSegment, Play};
use super::segment::SegmentStats;
use super::stills::render_still;
use super::subtitles::{Overlays, Tail};
use super::transition;
use crate::error::RenderError;
use crate::media::audio::SAMPLE_RATE;

/// AAC frame size.
const AAC_FRAME: usize = 1024;

/// What encoding a piece produced.
#[derive(Debug, Clone)]
pub struct EncodedPiece {
    /// Frames in the piece.
    pub frames: u64,
    /// Source frames decoded.
    pub decoded: u64,
    /// Frames that hold a short shot's last frame.
    pub held: u64,
    /// The piece's middle frame before captions, as a JPEG.
    pub still_jpeg: Vec<u8>,
    /// The H.264 encoder that made it.
    pub encoder: &'static str,
}

/// The name and headers (SPS/PPS) of the encoder this node opens for `out`
/// (`gpu = false`: libx264): what a piece's key names, so pieces joined
/// into one file share their headers.
pub fn encoder_identity(out: &Output, gpu: bool) -> Result<(&'static str, String), RenderError> {
    crate::runtime::init_ffmpeg()?;
    let mut enc = open_encoder(out, true, gpu)?;
    let name = enc.name();
    let header = enc.header();
    let _ = enc.send_eof();
    Ok((name, format!("{name}:{}", hex::encode(header))))
}

struct PieceWriter {
    octx: ff::format::context::Output,
    venc: VideoEncoder,
    venc_tb: ff::Rational,
    v_tb: ff::Rational,
}

impl PieceWriter {
    fn drain(&mut self) -> Result<(), RenderError> {
        while let Some(mut packet) = self.venc.receive_packet()? {
            packet.set_stream(0);
            packet.rescale_ts(self.venc_tb, self.v_tb);
            packet
                .write_interleaved(&mut self.octx)
                .map_err(RenderError::ffmpeg("write a piece"))?;
        }
        Ok(())
    }
}

/// Encodes segment `seg` alone into `path` (mp4, video only), burning
/// `ass` (piece times: frame `i` at [`LEAD`] + i/fps). Calls `progress`
/// with the frames done every few frames; stops with `Cancelled` once
/// `cancel` is set. A GPU encoder failing is [`RenderError::GpuEncode`].
pub fn encode_piece(
    seg: &PlannedSegment,
    out: &Output,
    over: Overlays<'_>,
    path: &Path,
    gpu: bool,
    progress: &mut dyn FnMut(u64),
    cancel: &AtomicBool,
) -> Result<EncodedPiece, RenderError> {
    crate::runtime::init_ffmpeg()?;
    let mut octx =
        ff::format::output_as(&path, "mp4").map_err(RenderError::ffmpeg("create a piece"))?;
    let global_header = octx
        .format()
        .flags()
        .contains(ff::format::flag::Flags::GLOBAL_HEADER);
    let venc = open_encoder(out, global_header, gpu)?;
    {
        let mut st = octx
            .add_stream(venc.codec())
            .map_err(RenderError::ffmpeg("add the video stream"))?;
        venc.describe(&mut st, out);
        st.set_time_base(ff::Rational(1, out.fps as i32));
        st.set_avg_frame_rate(ff::Rational(out.fps as i32, 1));
        st.set_rate(ff::Rational(out.fps as i32, 1));
    }
    octx.write_header()
        .map_err(RenderError::ffmpeg("write a piece's header"))?;
    let v_tb = octx
        .stream(0)
        .map(|s| s.time_base())
        .unwrap_or(ff::Rational(1, out.fps as i32));
    let encoder = venc.name();
    let mut w = PieceWriter {
        octx,
        venc_tb: venc.time_base(out),
        venc,
        v_tb,
    };
    let lead = (LEAD * f64::from(out.fps)).round() as i64;
    let mut tail = Tail::new(out, over)?;
    let middle = seg.frames / 2;
    let mut still: Option<ff::frame::Video> = None;
    let mut index: u64 = 0;
    let mut sink = |mut f: ff::frame::Video| -> Result<(), RenderError> {
        let pts = f.pts().map(|p| p - lead);
        f.set_pts(pts);
        w.venc.send_frame(&f)?;
        w.drain()
    };
    // The segment before, played on under this one's first frames.
    let under = match &seg.transition {
        Some(t) => {
            let mut frames = Vec::with_capacity(t.frames as usize);
            render_segment(&t.under, out, &mut |f| {
                frames.push(f);
                Ok(())
            })?;
            frames
        }
        None => Vec::new(),
    };
    let stats = {
        let mut emit = |mut frame: ff::frame::Video| -> Result<(), RenderError> {
            if cancel.load(Ordering::Relaxed) {
                return Err(RenderError::Cancelled);
            }
            if let Some(t) = &seg.transition
                && let Some(below) = under.get(index as usize)
            {
                transition::blend(
                    t.kind,
                    below,
                    &mut frame,
                    transition::progress(index, t.frames),
                )?;
            }
            frame.set_pts(Some(lead + index as i64));
            if index == middle {
                still = Some(frame.clone());
            }
            index += 1;
            tail.push(frame, &mut sink)?;
            if index.is_multiple_of(15) {
                progress(index);
            }
            Ok(())
        };
        render_segment(seg, out, &mut emit)?
    };
    tail.finish(&mut sink)?;
    progress(index);
    w.venc.send_eof()?;
    w.drain()?;
    w.octx
        .write_trailer()
        .map_err(RenderError::ffmpeg("finish a piece"))?;
    let still = still.ok_or_else(|| RenderError::Io("no frame was rendered".into()))?;
    let still_jpeg = crate::media::jpeg::JpegWriter::for_frame(
        &still,
        0,
        crate::media::turbo::QUALITY_THUMBNAIL,
    )?
    .encode(&still)?;
    Ok(EncodedPiece {
        frames: index,
        decoded: stats.decoded,
        held: stats.held,
        still_jpeg,
        encoder,
    })
}

/// One piece's packets as they go into the joined file.
struct PieceReader {
    ictx: ff::format::context::Input,
    stream: usize,
    tb: ff::Rational,
}

impl PieceReader {
    fn open(path: &Path) -> Result<(Self, ff::codec::Parameters), RenderError> {
        let name = path.to_string_lossy().into_owned();
        let ictx =
            ff::format::input(&path).map_err(|e| RenderError::media(&name, e.to_string()))?;
        let st = ictx
            .streams()
            .best(ff::media::Type::Video)
            .ok_or_else(|| RenderError::media(&name, "has no video stream"))?;
        let (stream, tb, params) = (st.index(), st.time_base(), st.parameters());
        Ok((Self { ictx, stream, tb }, params))
    }
}

/// The video frames a piece holds, reading every packet (a damaged or
/// truncated piece fails or comes up short).
pub fn piece_frames(path: &Path) -> Result<u64, RenderError> {
    crate::runtime::init_ffmpeg()?;
    let (mut reader, _) = PieceReader::open(path)?;
    let mut frames = 0u64;
    loop {
        let mut packet = ff::Packet::empty();
        match packet.read(&mut reader.ictx) {
            Ok(()) if packet.stream() == reader.stream => {
                if packet.is_corrupt() || packet.size() == 0 {
                    return Err(RenderError::media(
                        path.to_string_lossy().into_owned(),
                        "has a damaged packet",
                    ));
                }
                frames += 1;
            }
            Ok(()) => {}
            Err(ff::Error::Eof) => return Ok(frames),
            Err(e) => {
                return Err(RenderError::media(
                    path.to_string_lossy().into_owned(),
                    e.to_string(),
                ));
            }
        }
    }
}

/// The extradata (`avcC`) of a stream's parameters.
fn extradata(params: &ff::codec::Parameters) -> Vec<u8> {
    // SAFETY: reads the extradata the parameters own, by its recorded size.
    unsafe {
        let p = params.as_ptr();
        match usize::try_from((*p).extradata_size) {
            Ok(n) if n > 0 && !(*p).extradata.is_null() => {
                std::slice::from_raw_parts((*p).extradata, n).to_vec()
            }
            _ => Vec::new(),
        }
    }
}

/// What joining produced.
#[derive(Debug, Clone, Copy)]
pub struct Joined {
    /// Output frames.
    pub frames: u64,
    /// Seconds of output.
    pub duration: f64,
}

/// Mixes the audio of `plan` and encodes it to AAC into `out_m4a` (mp4,
/// audio only), the voice-only track to `voice_wav` when given. Runs beside
/// the encoding of the pieces; [`join`] copies it in.
pub fn encode_audio(
    plan: &Plan,
    voice_wav: Option<&Path>,
    out_m4a: &Path,
    stop: &AtomicBool,
) -> Result<(), RenderError> {
    crate::runtime::init_ffmpeg()?;
    let mut octx = ff::format::output_as(&out_m4a, "mp4")
        .map_err(RenderError::ffmpeg("create the audio file"))?;
    let global_header = octx
        .format()
        .flags()
        .contains(ff::format::flag::Flags::GLOBAL_HEADER);
    let aenc = open_aac(plan.output.audio_bitrate, global_header, plan.output.draft)?;
    {
        let mut st = octx
            .add_stream(ff::encoder::find(ff::codec::Id::AAC))
            .map_err(RenderError::ffmpeg("add the audio stream"))?;
        st.set_parameters(&aenc);
        st.set_time_base(ff::Rational(1, SAMPLE_RATE as i32));
    }
    octx.write_header()
        .map_err(RenderError::ffmpeg("write the audio header"))?;
    let a_tb = octx
        .stream(0)
        .map(|s| s.time_base())
        .unwrap_or(ff::Rational(1, SAMPLE_RATE as i32));
    let mut audio = AudioOut {
        mixer: Mixer::new(plan, voice_wav)?,
        aenc,
        a_tb,
        pts: 0,
    };
    // A second at a time, so a compose that stops stops this too.
    let total = audio.mixer.total();
    let mut at = 0;
    while at < total {
        if stop.load(Ordering::Relaxed) {
            return Err(RenderError::Cancelled);
        }
        at = (at + u64::from(SAMPLE_RATE)).min(total);
        audio.encode_until(&mut octx, at)?;
    }
    audio
        .aenc
        .send_eof()
        .map_err(RenderError::ffmpeg("finish audio"))?;
    audio.drain(&mut octx)?;
    audio.mixer.finish()?;
    octx.write_trailer()
        .map_err(RenderError::ffmpeg("finish the audio file"))
}

/// The encoded audio's packets, read as the joined file needs them.
struct AudioIn {
    ictx: ff::format::context::Input,
    stream: usize,
    tb: ff::Rational,
}

impl AudioIn {
    fn next(&mut self) -> Result<Option<ff::Packet>, RenderError> {
        loop {
            let mut packet = ff::Packet::empty();
            match packet.read(&mut self.ictx) {
                Ok(()) if packet.stream() == self.stream => return Ok(Some(packet)),
                Ok(()) => {}
                Err(ff::Error::Eof) => return Ok(None),
                Err(e) => return Err(RenderError::ffmpeg("read the audio")(e)),
            }
        }
    }
}

/// Joins `pieces` (one per segment of `plan`, in order) with the audio
/// [`encode_audio`] made into `out_mp4`, re-encoding neither. Pieces whose
/// headers differ cannot share one file and are refused.
pub fn join(
    plan: &Plan,
    pieces: &[PathBuf],
    audio: &Path,
    out_mp4: &Path,
) -> Result<Joined, RenderError> {
    crate::runtime::init_ffmpeg()?;
    let out = &plan.output;
    let first = pieces
        .first()
        .ok_or_else(|| RenderError::InvalidArgument("no pieces to join".into()))?;
    let (_, params) = PieceReader::open(first)?;
    let header = extradata(&params);
    let mut audio_in = {
        let name = audio.to_string_lossy().into_owned();
        let ictx =
            ff::format::input(&audio).map_err(|e| RenderError::media(&name, e.to_string()))?;
        let st = ictx
            .streams()
            .best(ff::media::Type::Audio)
            .ok_or_else(|| RenderError::media(&name, "has no audio stream"))?;
        let (stream, tb) = (st.index(), st.time_base());
        AudioIn { ictx, stream, tb }
    };
    let audio_params = audio_in
        .ictx
        .stream(audio_in.stream)
        .map(|s| s.parameters())
        .ok_or_else(|| RenderError::Io("the audio stream went away".into()))?;
    let mut octx = ff::format::output_as(&out_mp4, "mp4")
        .map_err(RenderError::ffmpeg("create the output file"))?;
    let v_stream = add_copied(&mut octx, ff::codec::Id::H264, params)?;
    {
        let mut st = octx
            .stream_mut(v_stream)
            .ok_or_else(|| RenderError::Io("the video stream went away".into()))?;
        st.set_time_base(ff::Rational(1, out.fps as i32));
        st.set_avg_frame_rate(ff::Rational(out.fps as i32, 1));
        st.set_rate(ff::Rational(out.fps as i32, 1));
    }
    let a_stream = add_copied(&mut octx, ff::codec::Id::AAC, audio_params)?;
    if let Some(mut st) = octx.stream_mut(a_stream) {
        st.set_time_base(ff::Rational(1, SAMPLE_RATE as i32));
    }
    let mut opts = ff::Dictionary::new();
    // The index goes first so players start before the whole file arrives;
    // keys beyond the standard ones (the AIGC label) go in as mdta tags.
    if plan.metadata.is_empty() {
        opts.set("movflags", "+faststart");
    } else {
        opts.set("movflags", "+faststart+use_metadata_tags");
        let mut tags = ff::Dictionary::new();
        for (k, v) in &plan.metadata {
            tags.set(k, v);
        }
        octx.set_metadata(tags);
    }
    octx.write_header_with(opts)
        .map_err(RenderError::ffmpeg("write the output header"))?;
    let tb_of = |octx: &ff::format::context::Output, i: usize, d: ff::Rational| {
        octx.stream(i).map(|s| s.time_base()).unwrap_or(d)
    };
    let v_tb = tb_of(&octx, v_stream, ff::Rational(1, out.fps as i32));
    let a_tb = tb_of(&octx, a_stream, ff::Rational(1, SAMPLE_RATE as i32));
    let seconds = |ts: i64, tb: ff::Rational| {
        ts as f64 * f64::from(tb.numerator()) / f64::from(tb.denominator())
    };
    // Audio goes in as far as the video has, so the muxer interleaves tightly.
    let mut pending = audio_in.next()?;
    let mut audio_upto = |octx: &mut ff::format::context::Output,
                          until: f64,
                          pending: &mut Option<ff::Packet>|
     -> Result<(), RenderError> {
        while let Some(mut p) = pending.take() {
            if seconds(p.pts().unwrap_or(0), audio_in.tb) > until {
                *pending = Some(p);
                break;
            }
            p.rescale_ts(audio_in.tb, a_tb);
            p.set_stream(a_stream);
            p.set_position(-1);
            p.write_interleaved(octx)
                .map_err(RenderError::ffmpeg("write audio"))?;
            *pending = audio_in.next()?;
        }
        Ok(())
    };
    let frame_tb = ff::Rational(1, out.fps as i32);
    // Every piece's decode times trail its presentation times by the
    // encoder's reorder delay, except a piece too short for the encoder to
    // have reordered (one or two frames): its decode times are moved back
    // to the longest delay, so they keep rising across the joins.
    let delays = pieces
        .iter()
        .map(|p| first_delay(p, v_tb))
        .collect::<Result<Vec<_>, _>>()?;
    let longest = delays.iter().copied().max().unwrap_or(0);
    let mut last_dts = i64::MIN;
    let mut frames = 0u64;
    for ((seg, path), delay) in plan.segments.iter().zip(pieces).zip(&delays) {
        let (mut reader, params) = PieceReader::open(path)?;
        if extradata(&params) != header {
            return Err(RenderError::Io(format!(
                "piece {} was encoded with other H.264 headers than the first",
                seg.id
            )));
        }
        let shift = offset_in(seg.first_frame, frame_tb, v_tb);
        let mut count = 0u64;
        for (st, mut packet) in reader.ictx.packets() {
            if st.index() != reader.stream {
                continue;
            }
            packet.rescale_ts(reader.tb, v_tb);
            packet.set_pts(packet.pts().map(|p| p + shift));
            packet.set_dts(packet.dts().map(|d| d + shift - (longest - delay)));
            let dts = packet.dts().unwrap_or(i64::MIN);
            if dts <= last_dts {
                return Err(RenderError::Io(format!(
                    "piece {} would go back in time at its start",
                    seg.id
                )));
            }
            last_dts = dts;
            packet.set_stream(v_stream);
            packet.set_position(-1);
            count += 1;
            let at = seconds(packet.pts().unwrap_or(0), v_tb);
            packet
                .write_interleaved(&mut octx)
                .map_err(RenderError::ffmpeg("write video"))?;
            audio_upto(&mut octx, at, &mut pending)?;
        }
        if count != seg.frames {
            return Err(RenderError::Io(format!(
                "piece {} holds {count} frames, not {}",
                seg.id, seg.frames
            )));
        }
        frames += count;
    }
    audio_upto(&mut octx, f64::INFINITY, &mut pending)?;
    octx.write_trailer()
        .map_err(RenderError::ffmpeg("finish the output file"))?;
    Ok(Joined {
        frames,
        duration: frames as f64 / f64::from(out.fps),
    })
}

/// Adds a stream of `codec` with `params` copied from another file.
fn add_copied(
    octx: &mut ff::format::context::Output,
    codec: ff::codec::Id,
    params: ff::codec::Parameters,
) -> Result<usize, RenderError> {
    let mut st = octx
        .add_stream(ff::encoder::find(codec))
        .map_err(RenderError::ffmpeg("add a stream"))?;
    st.set_parameters(params);
    // SAFETY: clears the codec tag the other container chose, so the muxer
    // picks its own (as it does for an encoder's parameters).
    unsafe {
        (*(*st.as_mut_ptr()).codecpar).codec_tag = 0;
    }
    Ok(st.index())
}

/// How far the first packet's decode time trails its presentation time,
/// in time base `tb`.
fn first_delay(path: &Path, tb: ff::Rational) -> Result<i64, RenderError> {
    let (mut reader, _) = PieceReader::open(path)?;
    loop {
        let mut packet = ff::Packet::empty();
        match packet.read(&mut reader.ictx) {
            Ok(()) if packet.stream() == reader.stream => {
                packet.rescale_ts(reader.tb, tb);
                return Ok(match (packet.pts(), packet.dts()) {
                    (Some(p), Some(d)) => (p - d).max(0),
                    _ => 0,
                });
            }
            Ok(()) => {}
            Err(ff::Error::Eof) => return Ok(0),
            Err(e) => {
                return Err(RenderError::media(
                    path.to_string_lossy().into_owned(),
                    e.to_string(),
                ));
            }
        }
    }
}

/// `frames` output frames (time base `frame_tb`) in time base `tb`.
fn offset_in(frames: u64, frame_tb: ff::Rational, tb: ff::Rational) -> i64 {
    // SAFETY: av_rescale_q is a pure function of its arguments.
    unsafe { ff::ffi::av_rescale_q(frames as i64, frame_tb.into(), tb.into()) }
}

/// The audio being mixed and encoded into its own file.
struct AudioOut {
    mixer: Mixer,
    aenc: ff::encoder::Audio,
    a_tb: ff::Rational,
    pts: i64,
}

impl AudioOut {
    fn drain(&mut self, octx: &mut ff::format::context::Output) -> Result<(), RenderError> {
        let mut packet = ff::Packet::empty();
        while self.aenc.receive_packet(&mut packet).is_ok() {
            packet.set_stream(0);
            packet.rescale_ts(ff::Rational(1, SAMPLE_RATE as i32), self.a_tb);
            packet
                .write_interleaved(octx)
                .map_err(RenderError::ffmpeg("write audio"))?;
        }
        Ok(())
    }

    fn encode_until(
        &mut self,
        octx: &mut ff::format::context::Output,
        until: u64,
    ) -> Result<(), RenderError> {
        let until = until.min(self.mixer.total());
        while self.mixer.position() + AAC_FRAME as u64 <= until
            || (until == self.mixer.total() && self.mixer.position() < until)
        {
            let block = self.mixer.next_block(AAC_FRAME)?;
            if block.is_empty() {
                break;
            }
            let frame = planar_frame(&block, self.pts);
            self.pts += (block.len() / 2) as i64;
            self.aenc
                .send_frame(&frame)
                .map_err(RenderError::ffmpeg("encode audio"))?;
            self.drain(octx)?;
        }
        Ok(())
    }
}

/// Renders one segment into exactly `seg.frames` output frames.
fn render_segment(
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
