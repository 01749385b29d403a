//! One pass over the whole timeline: decode → filter → encode → mux.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use ffmpeg_next as ff;

use super::audio::{Mixer, open_aac, planar_frame};
use super::decode::render_clip;
use super::encode::{VideoEncoder, open_encoder};
use super::plan::{Output, Plan, PlannedSegment, Play};
use super::segment::SegmentStats;
use super::stills::render_still;
use super::subtitles::Tail;
use crate::error::RenderError;
use crate::media::audio::SAMPLE_RATE;

/// AAC frame size.
const AAC_FRAME: usize = 1024;

/// A progress tick: output frames done of all.
#[derive(Debug, Clone, Copy)]
pub struct Tick {
    /// Frames encoded.
    pub frames: u64,
    /// Frames in all.
    pub total: u64,
}

/// What a run produced.
#[derive(Debug, Clone)]
pub struct RunResult {
    /// Output frames.
    pub frames: u64,
    /// Seconds of output.
    pub duration: f64,
    /// Source frames decoded, all segments.
    pub decoded: u64,
    /// Frames that hold a short shot's last frame.
    pub held: u64,
    /// The frame chosen as cover (before subtitles), as a JPEG.
    pub cover_jpeg: Vec<u8>,
    /// The H.264 encoder that made the output (after any fallback).
    pub encoder: &'static str,
}

struct Pipeline {
    octx: ff::format::context::Output,
    venc: VideoEncoder,
    venc_tb: ff::Rational,
    aenc: ff::encoder::Audio,
    v_stream: usize,
    a_stream: usize,
    v_tb: ff::Rational,
    a_tb: ff::Rational,
    mixer: Mixer,
    audio_pts: i64,
    fps: u32,
}

impl Pipeline {
    fn write_video_packets(&mut self) -> Result<(), RenderError> {
        while let Some(mut packet) = self.venc.receive_packet() {
            packet.set_stream(self.v_stream);
            packet.rescale_ts(self.venc_tb, self.v_tb);
            packet
                .write_interleaved(&mut self.octx)
                .map_err(RenderError::ffmpeg("write video"))?;
        }
        Ok(())
    }

    fn write_audio_packets(&mut self) -> Result<(), RenderError> {
        let mut packet = ff::Packet::empty();
        while self.aenc.receive_packet(&mut packet).is_ok() {
            packet.set_stream(self.a_stream);
            packet.rescale_ts(ff::Rational(1, SAMPLE_RATE as i32), self.a_tb);
            packet
                .write_interleaved(&mut self.octx)
                .map_err(RenderError::ffmpeg("write audio"))?;
        }
        Ok(())
    }

    fn encode_video(&mut self, frame: &ff::frame::Video) -> Result<(), RenderError> {
        self.venc.send_frame(frame)?;
        self.write_video_packets()?;
        // Keep audio in step with video so the muxer interleaves tightly.
        let until = ((frame.pts().unwrap_or(0) + 1) as f64 / f64::from(self.fps)
            * f64::from(SAMPLE_RATE)) as u64;
        self.encode_audio_until(until)
    }

    fn encode_audio_until(&mut self, until: u64) -> Result<(), RenderError> {
        let until = until.min(self.mixer.total());
        while self.mixer.position() + AAC_FRAME as u64 <= until
            || (until == self.mixer.total() && self.mixer.position() < until)
        {
            let block = self.mixer.next_block(AAC_FRAME)?;
            if block.is_empty() {
                break;
            }
            let frame = planar_frame(&block, self.audio_pts);
            self.audio_pts += (block.len() / 2) as i64;
            self.aenc
                .send_frame(&frame)
                .map_err(RenderError::ffmpeg("encode audio"))?;
            self.write_audio_packets()?;
        }
        Ok(())
    }
}

/// Renders `plan` to `out_mp4` (and the voice-only track to `voice_wav`),
/// burning `ass` when given. Calls `progress` every few frames; stops with
/// `Cancelled` once `cancel` is set. A GPU encoder that fails mid-way
/// (NVENC: out of memory, an Xid) costs the pass: it is run again with
/// libx264, logged once and counted, and the output spec is the same.
pub fn run(
    plan: &Plan,
    ass: Option<&Path>,
    out_mp4: &Path,
    voice_wav: Option<&Path>,
    progress: &mut dyn FnMut(Tick),
    cancel: &AtomicBool,
) -> Result<RunResult, RenderError> {
    // Progress never goes back: a redo reports again once it passes the
    // point the failed pass had reached.
    let mut reached = 0u64;
    let mut forward = |t: Tick| {
        if t.frames > reached {
            reached = t.frames;
            progress(t);
        }
    };
    match run_pass(plan, ass, out_mp4, voice_wav, &mut forward, cancel, true) {
        Err(RenderError::GpuEncode(why)) => {
            crate::media::hw::fell_back("encode", &why);
            run_pass(plan, ass, out_mp4, voice_wav, &mut forward, cancel, false)
        }
        other => other,
    }
}

#[allow(clippy::too_many_arguments)]
fn run_pass(
    plan: &Plan,
    ass: Option<&Path>,
    out_mp4: &Path,
    voice_wav: Option<&Path>,
    progress: &mut dyn FnMut(Tick),
    cancel: &AtomicBool,
    gpu_encode: bool,
) -> Result<RunResult, RenderError> {
    crate::runtime::init_ffmpeg()?;
    let out = &plan.output;
    let mut octx = ff::format::output_as(&out_mp4, "mp4")
        .map_err(RenderError::ffmpeg("create the output file"))?;
    let global_header = octx
        .format()
        .flags()
        .contains(ff::format::flag::Flags::GLOBAL_HEADER);
    let venc = open_encoder(out, global_header, gpu_encode)?;
    let aenc = open_aac(out.audio_bitrate, global_header)?;
    let v_stream = {
        let mut st = octx
            .add_stream(venc.codec())
            .map_err(RenderError::ffmpeg("add the video stream"))?;
        venc.describe(&mut st, out);
        st.set_time_base(ff::Rational(1, out.fps as i32));
        st.set_avg_frame_rate(ff::Rational(out.fps as i32, 1));
        st.set_rate(ff::Rational(out.fps as i32, 1));
        st.index()
    };
    let a_stream = {
        let mut st = octx
            .add_stream(ff::encoder::find(ff::codec::Id::AAC))
            .map_err(RenderError::ffmpeg("add the audio stream"))?;
        st.set_parameters(&aenc);
        st.set_time_base(ff::Rational(1, SAMPLE_RATE as i32));
        st.index()
    };
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
    let v_tb = octx
        .stream(v_stream)
        .map(|s| s.time_base())
        .unwrap_or(ff::Rational(1, out.fps as i32));
    let a_tb = octx
        .stream(a_stream)
        .map(|s| s.time_base())
        .unwrap_or(ff::Rational(1, SAMPLE_RATE as i32));
    let mixer = Mixer::new(plan, voice_wav)?;
    let encoder = venc.name();
    let mut p = Pipeline {
        octx,
        venc_tb: venc.time_base(out),
        venc,
        aenc,
        v_stream,
        a_stream,
        v_tb,
        a_tb,
        mixer,
        audio_pts: 0,
        fps: out.fps,
    };
    let mut tail = Tail::new(out, ass)?;

    // The cover: the middle of the first segment, before subtitles.
    let cover_index = plan.segments.first().map(|s| s.frames / 2).unwrap_or(0);
    let mut cover: Option<ff::frame::Video> = None;
    let mut index: u64 = 0;
    let mut decoded = 0u64;
    let mut held = 0u64;
    let total = plan.total_frames;
    for seg in &plan.segments {
        let stats = {
            let mut emit = |mut frame: ff::frame::Video| -> Result<(), RenderError> {
                if cancel.load(Ordering::Relaxed) {
                    return Err(RenderError::Cancelled);
                }
                frame.set_pts(Some(index as i64));
                if index == cover_index {
                    cover = Some(frame.clone());
                }
                index += 1;
                tail.push(frame, &mut |f| p.encode_video(&f))?;
                if index.is_multiple_of(15) || index == total {
                    progress(Tick {
                        frames: index,
                        total,
                    });
                }
                Ok(())
            };
            render_segment(seg, out, &mut emit)?
        };
        decoded += stats.decoded;
        held += stats.held;
    }
    tail.finish(&mut |f| p.encode_video(&f))?;
    p.venc.send_eof()?;
    p.write_video_packets()?;
    let total_samples = p.mixer.total();
    p.encode_audio_until(total_samples)?;
    p.aenc
        .send_eof()
        .map_err(RenderError::ffmpeg("finish audio"))?;
    p.write_audio_packets()?;
    p.mixer.finish()?;
    p.octx
        .write_trailer()
        .map_err(RenderError::ffmpeg("finish the output file"))?;

    let cover = cover.ok_or_else(|| RenderError::Io("no frame was rendered".into()))?;
    let cover_jpeg = {
        let mut writer = crate::media::jpeg::JpegWriter::for_frame(
            &cover,
            0,
            crate::media::turbo::QUALITY_THUMBNAIL,
        )?;
        writer.encode(&cover)?
    };
    Ok(RunResult {
        frames: index,
        duration: index as f64 / f64::from(out.fps),
        decoded,
        held,
        cover_jpeg,
        encoder,
    })
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
