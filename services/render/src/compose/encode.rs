//! The H.264 encoders of compose: FFmpeg's (libx264, or `h264_nvenc` on an
//! encoder card without the `nvidia` feature) and ours (NVENC through the
//! Video Codec SDK), whose Annex B units are muxed as they are. Every one
//! is set to the output spec: High profile, the bit rate capped by a VBV,
//! a keyframe every 2 s, BT.709.

use ffmpeg_next as ff;

use super::plan::Output;
use crate::error::RenderError;
#[cfg(feature = "faults")]
use crate::media::faults;
use crate::media::hw;

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

    /// The stream headers (SPS/PPS) the encoder opened with; empty when
    /// it gives them in-band.
    pub fn header(&self) -> Vec<u8> {
        match self {
            VideoEncoder::Ffmpeg(enc, _) => extradata(enc),
            VideoEncoder::Annexb(enc, _) => enc.header().to_vec(),
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
            VideoEncoder::Ffmpeg(enc, name) => enc
                .send_frame(frame)
                .map_err(|e| ffmpeg_encode_error(name, e)),
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

    /// The next encoded packet, `None` when none is ready (the encoder
    /// wants more frames, or has given all after the end). Any other
    /// answer is the encoder failing, and is said, never taken for "no
    /// packet".
    pub fn receive_packet(&mut self) -> Result<Option<ff::Packet>, RenderError> {
        match self {
            VideoEncoder::Ffmpeg(enc, name) => {
                let mut packet = ff::Packet::empty();
                match enc.receive_packet(&mut packet) {
                    Ok(()) => Ok(Some(packet)),
                    Err(ff::Error::Eof) => Ok(None),
                    Err(ff::Error::Other { errno }) if errno == ff::ffi::EAGAIN => Ok(None),
                    Err(e) => Err(ffmpeg_encode_error(name, e)),
                }
            }
            VideoEncoder::Annexb(_, pending) => Ok(pending.pop_front().map(|p| {
                let mut packet = ff::Packet::copy(&p.data);
                packet.set_pts(Some(p.pts));
                packet.set_dts(Some(p.pts));
                packet.set_duration(1);
                if p.keyframe {
                    packet.set_flags(ff::packet::Flags::KEY);
                }
                packet
            })),
        }
    }
}

/// An FFmpeg encoder's failure: on a GPU encoder, [`RenderError::GpuEncode`]
/// (the caller redoes the job with libx264).
fn ffmpeg_encode_error(name: &str, e: ff::Error) -> RenderError {
    if name != "libx264" {
        RenderError::GpuEncode(format!("{name}: {e}"))
    } else {
        RenderError::ffmpeg("encode video")(e)
    }
}

/// The headers an opened FFmpeg encoder gives as extradata.
fn extradata(enc: &ff::encoder::Video) -> Vec<u8> {
    // SAFETY: copies the extradata the opened encoder owns, by its recorded
    // size.
    unsafe {
        let c = enc.as_ptr();
        match usize::try_from((*c).extradata_size) {
            Ok(n) if n > 0 && !(*c).extradata.is_null() => {
                std::slice::from_raw_parts((*c).extradata, n).to_vec()
            }
            _ => Vec::new(),
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
/// machines without it; `faulty`, a "GPU" encoder that fails once the
/// process has encoded `faults.gpu_encode_after_frames` frames, so the redo
/// on the CPU runs for real. Built only for tests and the `faults` feature.
#[cfg(any(test, feature = "faults"))]
#[doc(hidden)]
pub struct X264AsNvenc {
    enc: ff::encoder::Video,
    header: Vec<u8>,
    size: (u32, u32),
    faulty: bool,
}

#[cfg(any(test, feature = "faults"))]
impl X264AsNvenc {
    /// Opens libx264 for `out`.
    pub fn new(out: &Output, faulty: bool) -> Result<Self, RenderError> {
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
        let header = extradata(&enc);
        Ok(Self {
            enc,
            header,
            size: (out.width, out.height),
            faulty,
        })
    }
}

#[cfg(any(test, feature = "faults"))]
impl AnnexbEncoder for X264AsNvenc {
    fn name(&self) -> &'static str {
        "simulated-nvenc"
    }

    fn header(&self) -> &[u8] {
        &self.header
    }

    fn encode(&mut self, planes: [(&[u8], usize); 3], pts: i64) -> Result<AnnexbPacket, String> {
        if self.faulty && crate::media::faults::encoded_frame_fails() {
            return Err("injected GPU fault (test)".into());
        }
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
    #[cfg(feature = "faults")]
    if gpu && faults::encoder_fails_after().is_some() {
        let enc = X264AsNvenc::new(out, true)?;
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
    // Closed GOPs: no picture after a keyframe (in decode order) is shown
    // before it. FFmpeg's libx264 wrapper turns open GOPs on unless told,
    // and browsers (Chromium) then fail to decode after a seek, landing on
    // a keyframe whose leading B-frames reference the GOP before it.
    let mut flags = ff::codec::Flags::CLOSED_GOP;
    if global_header {
        flags |= ff::codec::Flags::GLOBAL_HEADER;
    }
    enc.set_flags(flags);
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
        "colorprim=bt709:transfer=bt709:colormatrix=bt709:range=tv:open-gop=0",
    );
    enc.open_with(opts)
        .map_err(RenderError::ffmpeg("open libx264"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::test_picture::picture;
    use crate::media::decode::{planes, psnr};

    /// What our own encoders (NVENC through the SDK) hand the muxer — an
    /// Annex B global header and Annex B units — makes a playable mp4 of
    /// the output spec: the right frames, keyframes every GOP, BT.709.
    #[test]
    fn annex_b_units_from_our_encoders_mux_into_a_playable_mp4() {
        crate::runtime::init_ffmpeg().expect("ffmpeg");
        let out = Output {
            width: 360,
            height: 640,
            fps: 30,
            video_bitrate: 1_000_000,
            video_maxrate: 1_500_000,
            audio_bitrate: 128_000,
            sample_rate: 48_000,
            preset: "ultrafast".into(),
            draft: false,
        };
        let path = std::env::temp_dir().join(format!("scout-annexb-{}.mp4", std::process::id()));
        // libx264 in place of the NVENC hardware this machine lacks.
        let x264 = X264AsNvenc::new(&out, false).expect("libx264");
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
            while let Some(mut p) = enc.receive_packet().expect("a packet or none") {
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
