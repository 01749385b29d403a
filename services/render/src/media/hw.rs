//! Which hardware each media stage uses on this node.
//!
//! At first use the NVIDIA device is probed (`scout_gpu::probe_all`: NVDEC
//! codecs and engines, whether NVENC opens, free memory) and each stage is
//! planned on its own (`scout_gpu::plan`): on a Hopper card (H100/H200:
//! NVDEC, no NVENC) decode runs on NVDEC through FFmpeg's `h264_cuvid` /
//! `hevc_cuvid` and libx264 encodes (the hybrid); on an encoder card
//! `h264_nvenc` encodes too; everywhere else FFmpeg's software codecs run.
//! `media.gpu = "off"` keeps everything on the CPU.
//!
//! A GPU failure in the middle of a job (out of memory, an engine that
//! stops answering, an Xid) surfaces as [`RenderError::Gpu`]; the callers
//! redo that piece of work on the CPU, and the fallback is logged once per
//! process and counted in `scout_render_gpu_fallbacks_total`.
//!
//! Every NVDEC session (ours or FFmpeg's cuvid) first takes a lease on the
//! node's [`nvdec_pool`]: at most one session per engine (or
//! `media.nvdec_sessions`) runs at once, whichever job asks, and each
//! engine's use is counted for `Capabilities` and the metrics.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use ffmpeg_next as ff;
use scout_gpu::engines::EngineEvent;
use scout_gpu::{
    DecodePath, DeviceDescription, EncodePath, EngineLease, EnginePool, FfmpegGpuCodecs, StagePlan,
    VideoCodec,
};

use super::faults;
use crate::error::RenderError;

/// This node's hardware, probed once.
pub struct Hardware {
    /// The probe, as `Capabilities` reports it.
    pub probe: scout_gpu::GpuProbe,
    /// What the planner works from.
    pub description: DeviceDescription,
    /// False when `media.gpu = "off"`.
    pub enabled: bool,
}

static HARDWARE: OnceLock<Hardware> = OnceLock::new();
static DISABLED: AtomicBool = AtomicBool::new(false);
static ALWAYS: AtomicBool = AtomicBool::new(false);
/// `media.nvdec_sessions` (0: one per engine).
static NVDEC_SESSIONS: AtomicUsize = AtomicUsize::new(0);
static POOL: OnceLock<EnginePool> = OnceLock::new();

/// Applies `media.gpu` (and any injected faults) for this process. Call
/// before the first media work.
pub fn configure(mode: scout_common::config::GpuMode, faults: &scout_common::config::FaultsConfig) {
    use scout_common::config::GpuMode;
    DISABLED.store(mode == GpuMode::Off, Ordering::SeqCst);
    ALWAYS.store(mode == GpuMode::Always, Ordering::SeqCst);
    super::faults::configure(faults);
}

fn has_codec(name: &str, encoder: bool) -> bool {
    let _ = crate::runtime::init_ffmpeg();
    if encoder {
        ff::encoder::find_by_name(name).is_some()
    } else {
        ff::decoder::find_by_name(name).is_some()
    }
}

/// Applies `media.nvdec_sessions`: how many NVDEC sessions run at once on
/// this node (0: one per engine). Takes effect at once, also after the
/// pool was made (sessions running past a lower limit finish).
pub fn set_nvdec_sessions(n: usize) {
    NVDEC_SESSIONS.store(n, Ordering::SeqCst);
    if let Some(pool) = POOL.get() {
        pool.set_limit(nvdec_limit());
    }
}

fn nvdec_limit() -> usize {
    match NVDEC_SESSIONS.load(Ordering::SeqCst) {
        0 => (hardware().description.nvdec.engines as usize).max(1),
        n => n,
    }
}

/// The node's NVDEC slots, shared by every job (made on first use, sized
/// by `media.nvdec_sessions` or the engine count).
pub fn nvdec_pool() -> &'static EnginePool {
    POOL.get_or_init(|| {
        let limit = nvdec_limit();
        for engine in 0..limit {
            // Every slot shows in the metrics from the start, idle.
            metrics::gauge!("scout_render_nvdec_sessions_active", "engine" => engine.to_string())
                .set(0.0);
        }
        EnginePool::observed(
            limit,
            Box::new(|engine, event| {
                let engine = engine.to_string();
                match event {
                    EngineEvent::Taken { waited } => {
                        metrics::gauge!("scout_render_nvdec_sessions_active", "engine" => engine.clone())
                            .increment(1.0);
                        metrics::counter!("scout_render_nvdec_sessions_total", "engine" => engine)
                            .increment(1);
                        if !waited.is_zero() {
                            metrics::histogram!("scout_render_nvdec_wait_seconds")
                                .record(waited.as_secs_f64());
                        }
                    }
                    EngineEvent::Released { held, frames } => {
                        metrics::gauge!("scout_render_nvdec_sessions_active", "engine" => engine.clone())
                            .decrement(1.0);
                        metrics::counter!("scout_render_nvdec_busy_milliseconds_total", "engine" => engine.clone())
                            .increment(held.as_millis() as u64);
                        metrics::counter!("scout_render_nvdec_frames_total", "engine" => engine)
                            .increment(frames);
                    }
                }
            }),
        )
    })
}

/// A lease on an NVDEC slot for one decode session (waits while every
/// slot is busy).
pub fn nvdec_lease() -> EngineLease {
    nvdec_pool().acquire()
}

/// The FFmpeg NVIDIA wrappers this build of FFmpeg has.
pub fn ffmpeg_gpu_codecs() -> FfmpegGpuCodecs {
    FfmpegGpuCodecs {
        h264_cuvid: has_codec("h264_cuvid", false),
        hevc_cuvid: has_codec("hevc_cuvid", false),
        h264_nvenc: has_codec("h264_nvenc", true),
    }
}

/// The hardware (probed on first call; blocking, it loads the driver).
pub fn hardware() -> &'static Hardware {
    HARDWARE.get_or_init(|| {
        let enabled = !DISABLED.load(Ordering::SeqCst);
        let probe = if enabled {
            scout_gpu::probe_all()
        } else {
            scout_gpu::GpuProbe {
                detail: "media.gpu = \"off\"".into(),
                ..scout_gpu::GpuProbe::default()
            }
        };
        // With the `nvidia` feature our own SDK paths (NVDEC + device fit,
        // NVENC) are planned; without it NVDEC is reached through FFmpeg's
        // cuvid decoders and NVENC through h264_nvenc.
        let mut description = probe.description(ffmpeg_gpu_codecs(), cfg!(feature = "nvidia"));
        description.host_cpu_cores = std::thread::available_parallelism()
            .map(|n| n.get() as u32)
            .unwrap_or(1);
        description.always_gpu_decode = ALWAYS.load(Ordering::SeqCst);
        if probe.present {
            let h264 = description.plan_for(VideoCodec::H264, 8);
            tracing::info!(device = %description.name, plan = %h264, "GPU found; H.264 stages planned");
        }
        Hardware {
            probe,
            description,
            enabled,
        }
    })
}

impl Hardware {
    /// The plan for a source.
    pub fn plan(&self, codec: VideoCodec, bit_depth: u8) -> StagePlan {
        self.description.plan_for(codec, bit_depth)
    }
}

/// The codec NVDEC would decode a stream of `id` as, if any.
pub(crate) fn codec_of(id: ff::codec::Id) -> Option<VideoCodec> {
    match id {
        ff::codec::Id::H264 => Some(VideoCodec::H264),
        ff::codec::Id::HEVC => Some(VideoCodec::Hevc),
        _ => None,
    }
}

/// Bit depth of a stream: 10 for HEVC Main 10, else 8. (Frame picking
/// skips the stream probe, so the pixel format is not known before the
/// first frame; a 10-bit H.264 stream NVDEC cannot take fails to open
/// there and falls back.)
fn bit_depth(params: &ff::codec::Parameters) -> u8 {
    // SAFETY: reads a plain field of a valid AVCodecParameters.
    let profile = unsafe { (*params.as_ptr()).profile };
    if params.id() == ff::codec::Id::HEVC && profile == 2 {
        10
    } else {
        8
    }
}

/// An opened video decoder and where it runs.
pub struct VideoDecoder {
    /// The decoder.
    pub decoder: ff::decoder::Video,
    /// Where it runs.
    pub path: DecodePath,
    /// The NVDEC slot a GPU decoder holds.
    lease: Option<EngineLease>,
}

impl VideoDecoder {
    /// Decodes for a draft: no deblocking, and the frames no other frame
    /// refers to are skipped (about half of a phone clip's). Only FFmpeg's
    /// software decoders honour it.
    pub fn draft(&mut self) {
        // SAFETY: plain field writes on the decoder's own context, which
        // FFmpeg reads at each decode call.
        unsafe {
            let c = self.decoder.as_mut_ptr();
            (*c).skip_loop_filter = ff::ffi::AVDiscard::AVDISCARD_ALL;
            (*c).skip_frame = ff::ffi::AVDiscard::AVDISCARD_NONREF;
        }
    }

    /// Whether it runs on the GPU.
    pub fn on_gpu(&self) -> bool {
        self.path != DecodePath::Cpu
    }

    /// The next decoded frame, if one is ready (counted on the NVDEC slot).
    pub fn receive(&mut self, frame: &mut ff::frame::Video) -> bool {
        let got = self.decoder.receive_frame(frame).is_ok();
        if got && let Some(lease) = &mut self.lease {
            lease.add_frames(1);
        }
        got
    }
}

/// Opens the decoder for a stream: NVDEC (through FFmpeg's cuvid decoder)
/// when `allow_gpu` and the plan says so, else FFmpeg's software decoder
/// with `threading`. A GPU decoder that does not open falls back here.
pub fn open_decoder(
    params: ff::codec::Parameters,
    name: &str,
    threading: ff::threading::Config,
    allow_gpu: bool,
) -> Result<VideoDecoder, RenderError> {
    let hw = hardware();
    if allow_gpu
        && hw.enabled
        && let Some(codec) = codec_of(params.id())
    {
        let plan = hw.plan(codec, bit_depth(&params));
        if plan.decode != DecodePath::Cpu {
            let cuvid = match codec {
                VideoCodec::H264 => "h264_cuvid",
                VideoCodec::Hevc => "hevc_cuvid",
            };
            let lease = nvdec_lease();
            match open_cuvid(params.clone(), cuvid) {
                Ok(decoder) => {
                    return Ok(VideoDecoder {
                        decoder,
                        path: DecodePath::FfmpegCuvid,
                        lease: Some(lease),
                    });
                }
                Err(e) => fell_back("decode", &format!("{cuvid} did not open for {name}: {e}")),
            }
        }
    }
    if allow_gpu && faults::simulate_gpu_decoder() {
        // A simulated GPU decoder holds a slot like a real one, so the
        // sharing is tested on any machine.
        let lease = nvdec_lease();
        let decoder = open_cpu(params, name, threading)?;
        return Ok(VideoDecoder {
            decoder,
            path: DecodePath::FfmpegCuvid,
            lease: Some(lease),
        });
    }
    Ok(VideoDecoder {
        decoder: open_cpu(params, name, threading)?,
        path: DecodePath::Cpu,
        lease: None,
    })
}

fn open_cuvid(params: ff::codec::Parameters, cuvid: &str) -> Result<ff::decoder::Video, String> {
    let codec = ff::decoder::find_by_name(cuvid).ok_or("not in this FFmpeg")?;
    let ctx = ff::codec::context::Context::from_parameters(params).map_err(|e| e.to_string())?;
    ctx.decoder()
        .open_as(codec)
        .and_then(|o| o.video())
        .map_err(|e| e.to_string())
}

fn open_cpu(
    params: ff::codec::Parameters,
    name: &str,
    threading: ff::threading::Config,
) -> Result<ff::decoder::Video, RenderError> {
    let mut ctx = ff::codec::context::Context::from_parameters(params)
        .map_err(RenderError::ffmpeg("video decoder"))?;
    ctx.set_threading(threading);
    ctx.decoder()
        .video()
        .map_err(|e| RenderError::media(name, format!("cannot decode its video: {e}")))
}

/// Whether this node decodes a source of `codec` (a probe's name: "h264",
/// "hevc") and `bit_depth` on NVDEC (either path).
pub fn decodes_on_gpu(codec: &str, bit_depth: i32) -> bool {
    let codec = match codec {
        "h264" => VideoCodec::H264,
        "hevc" => VideoCodec::Hevc,
        _ => return false,
    };
    let hw = hardware();
    hw.enabled && hw.plan(codec, u8::try_from(bit_depth).unwrap_or(8)).decode != DecodePath::Cpu
}

/// Where compose encodes H.264 on this node.
pub fn encode_path() -> EncodePath {
    let hw = hardware();
    if !hw.enabled {
        return EncodePath::Libx264;
    }
    hw.plan(VideoCodec::H264, 8).encode
}

/// The codec to decode a stream with through our own NVDEC session (the
/// `nvidia` feature), when this node's plan says so for it.
#[cfg(feature = "nvidia")]
pub fn sdk_decode(params: &ff::codec::Parameters) -> Option<VideoCodec> {
    let hw = hardware();
    let codec = codec_of(params.id())?;
    (hw.enabled && hw.plan(codec, bit_depth(params)).decode == DecodePath::Nvdec).then_some(codec)
}

static FALLBACKS: AtomicU64 = AtomicU64::new(0);
static LOGGED: AtomicBool = AtomicBool::new(false);

/// Records that a stage fell back to the CPU: logged the first time in
/// this process (later ones at debug), always counted.
pub fn fell_back(stage: &str, why: &str) {
    FALLBACKS.fetch_add(1, Ordering::Relaxed);
    metrics::counter!("scout_render_gpu_fallbacks_total", "stage" => stage.to_string())
        .increment(1);
    if !LOGGED.swap(true, Ordering::Relaxed) {
        tracing::warn!(
            stage,
            error = why,
            "GPU failed; this work continues on the CPU (logged once)"
        );
    } else {
        tracing::debug!(stage, error = why, "GPU failed; CPU fallback");
    }
}

/// Fallbacks so far in this process.
pub fn fallbacks() -> u64 {
    FALLBACKS.load(Ordering::Relaxed)
}

/// Whether an error from a GPU decoder is a GPU failure (anything but
/// "feed me more" and end of stream).
pub fn is_gpu_failure(e: &ff::Error) -> bool {
    !matches!(e, ff::Error::Eof)
        && !matches!(e, ff::Error::Other { errno } if *errno == libc::EAGAIN)
}

/// Sends a packet to a decoder; on a GPU decoder a failure (or an injected
/// one) is [`RenderError::Gpu`], on the CPU it is returned as is.
pub fn send_packet(d: &mut VideoDecoder, packet: &ff::Packet) -> Result<(), SendError> {
    if d.on_gpu() && faults::packet_fails() {
        return Err(SendError::Gpu("injected GPU fault (test)".into()));
    }
    match d.decoder.send_packet(packet) {
        Ok(()) => Ok(()),
        Err(e) if d.on_gpu() && is_gpu_failure(&e) => Err(SendError::Gpu(format!("NVDEC: {e}"))),
        Err(e) => Err(SendError::Packet(e)),
    }
}

/// Why a packet was not taken.
#[derive(Debug)]
pub enum SendError {
    /// The GPU failed: redo the work on the CPU.
    Gpu(String),
    /// The packet is damaged (software decoder): skip it.
    Packet(ff::Error),
}
