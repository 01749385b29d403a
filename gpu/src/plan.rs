//! Where each stage of a transcode runs: decode, scale, encode.
//!
//! Pure decisions over a [`DeviceDescription`] (built from a live probe by
//! [`crate::GpuProbe::description`], or deserialised, e.g. in tests), so they
//! are testable without hardware. The rules:
//!
//! * no device or no driver: everything on the CPU;
//! * less than [`MIN_FREE_MEMORY_BYTES`] free on the device: everything on the CPU;
//! * decode: H.264 8-bit on a host with at least
//!   [`CPU_BEATS_CUVID_H264_CORES`] cores on the CPU, where the software
//!   decoder measured faster than either NVDEC path (unless
//!   `always_gpu_decode`); otherwise our own NVDEC path when the `nvidia`
//!   feature is compiled in and NVDEC supports the codec at that bit depth
//!   (4:2:0), else FFmpeg's `h264_cuvid`/`hevc_cuvid` when FFmpeg has it and
//!   NVDEC supports the codec, else the CPU;
//! * scale: on the GPU on our own NVDEC path (the frames stay in device
//!   memory), else on the CPU (FFmpeg's cuvid decoders hand frames back in
//!   host memory);
//! * encode (H.264): our own NVENC path when compiled in and the device has an
//!   encoder, else FFmpeg's `h264_nvenc` when FFmpeg has it and the device has
//!   an encoder, else libx264. So H100/H200 (NVDEC, no NVENC) get NVDEC decode
//!   plus libx264 encode: the "Hopper hybrid".

use std::fmt;

use serde::{Deserialize, Serialize};

/// Free device memory below which nothing is put on the GPU: 512 MiB.
pub const MIN_FREE_MEMORY_BYTES: u64 = 512 << 20;

/// A source codec the render node decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum VideoCodec {
    /// H.264 / AVC.
    #[default]
    H264,
    /// H.265 / HEVC.
    Hevc,
}

impl fmt::Display for VideoCodec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            VideoCodec::H264 => "H.264",
            VideoCodec::Hevc => "HEVC",
        })
    }
}

/// The NVIDIA wrappers the linked FFmpeg offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct FfmpegGpuCodecs {
    /// The `h264_cuvid` decoder.
    pub h264_cuvid: bool,
    /// The `hevc_cuvid` decoder.
    pub hevc_cuvid: bool,
    /// The `h264_nvenc` encoder.
    pub h264_nvenc: bool,
}

impl FfmpegGpuCodecs {
    /// All three (an FFmpeg built with the NVIDIA codec headers).
    pub fn all() -> Self {
        Self {
            h264_cuvid: true,
            hevc_cuvid: true,
            h264_nvenc: true,
        }
    }

    /// From the names of FFmpeg's codecs (decoders and encoders together),
    /// e.g. what `avcodec_find_decoder_by_name` and friends find.
    pub fn from_codec_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Self {
        let mut out = Self::default();
        for name in names {
            match name {
                "h264_cuvid" => out.h264_cuvid = true,
                "hevc_cuvid" => out.hevc_cuvid = true,
                "h264_nvenc" => out.h264_nvenc = true,
                _ => {}
            }
        }
        out
    }

    /// FFmpeg's cuvid decoder for `codec` exists.
    pub fn cuvid(&self, codec: VideoCodec) -> bool {
        match codec {
            VideoCodec::H264 => self.h264_cuvid,
            VideoCodec::Hevc => self.hevc_cuvid,
        }
    }
}

/// What NVDEC decodes on the device (all 4:2:0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct NvdecSupport {
    /// `libnvcuvid.so.1` is there (containers need the `video` driver capability).
    pub library: bool,
    /// NVDEC engines on the device.
    pub engines: u32,
    /// H.264 8-bit.
    pub h264_8bit: bool,
    /// HEVC 8-bit (Main).
    pub hevc_8bit: bool,
    /// HEVC 10-bit (Main10).
    pub hevc_10bit: bool,
}

impl NvdecSupport {
    /// NVDEC decodes `codec` at `bit_depth`. Only the probed combinations can
    /// be true (NVDEC has no 10-bit H.264 at all).
    pub fn supports(&self, codec: VideoCodec, bit_depth: u8) -> bool {
        self.library
            && match (codec, bit_depth) {
                (VideoCodec::H264, 8) => self.h264_8bit,
                (VideoCodec::Hevc, 8) => self.hevc_8bit,
                (VideoCodec::Hevc, 10) => self.hevc_10bit,
                _ => false,
            }
    }
}

/// Everything the plan depends on, for one device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct DeviceDescription {
    /// A device answered through the CUDA driver.
    pub device_present: bool,
    /// Why there is no device, or notes on what could not be probed.
    pub detail: String,
    /// CUDA driver API version, e.g. "12.8" (empty without a driver).
    pub driver_version: String,
    /// Device name, e.g. "NVIDIA L4".
    pub name: String,
    /// Compute capability "major.minor".
    pub compute_capability: String,
    /// Free device memory in bytes; `None` when it could not be read.
    pub memory_free_bytes: Option<u64>,
    /// NVDEC support.
    pub nvdec: NvdecSupport,
    /// An NVENC session opens on the device.
    pub nvenc_present: bool,
    /// This build has its own NVDEC/NVENC path (the `nvidia` cargo feature).
    pub sdk_compiled: bool,
    /// The NVIDIA wrappers the linked FFmpeg offers.
    pub ffmpeg: FfmpegGpuCodecs,
    /// CPU cores of the host (0: unknown).
    pub host_cpu_cores: u32,
    /// Decode on NVDEC whenever it can, even where the CPU measured faster
    /// (`media.gpu = "always"`: a host whose cores are busy with other work).
    pub always_gpu_decode: bool,
}

/// From this many host cores, FFmpeg's software H.264 8-bit decoder beats
/// NVDEC through `h264_cuvid` (which hands every frame back over PCIe):
/// measured on a 16-core H100 node, 714 vs 510 fps for 1080x1920 and a
/// 60 s compose in 7.8 s vs 11.4 s (gpu/BENCH.md). HEVC, and 10-bit most
/// of all, stays on NVDEC: 2.4 s vs 5.0 s to extract frames of a 10-bit clip.
pub const CPU_BEATS_CUVID_H264_CORES: u32 = 12;

impl DeviceDescription {
    /// The plan for a `codec` source at `bit_depth`; see [`plan`].
    pub fn plan_for(&self, codec: VideoCodec, bit_depth: u8) -> StagePlan {
        plan(self, codec, bit_depth)
    }
}

/// Where decoding runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecodePath {
    /// NVDEC through this crate's own SDK path.
    Nvdec,
    /// NVDEC through FFmpeg's `h264_cuvid` / `hevc_cuvid`.
    FfmpegCuvid,
    /// FFmpeg's software decoder.
    Cpu,
}

/// Where scaling runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScalePath {
    /// On the GPU, on frames still in device memory.
    Cuda,
    /// On the CPU.
    Cpu,
}

/// Where (H.264) encoding runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EncodePath {
    /// NVENC through this crate's own SDK path.
    Nvenc,
    /// NVENC through FFmpeg's `h264_nvenc`.
    FfmpegNvenc,
    /// libx264 on the CPU.
    Libx264,
}

impl fmt::Display for DecodePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DecodePath::Nvdec => "nvdec",
            DecodePath::FfmpegCuvid => "ffmpeg_cuvid",
            DecodePath::Cpu => "cpu",
        })
    }
}

impl fmt::Display for ScalePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ScalePath::Cuda => "cuda",
            ScalePath::Cpu => "cpu",
        })
    }
}

impl fmt::Display for EncodePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EncodePath::Nvenc => "nvenc",
            EncodePath::FfmpegNvenc => "ffmpeg_nvenc",
            EncodePath::Libx264 => "libx264",
        })
    }
}

/// The decision for each stage, with the reason for each.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StagePlan {
    /// Where decoding runs.
    pub decode: DecodePath,
    /// Why.
    pub decode_reason: String,
    /// Where scaling runs.
    pub scale: ScalePath,
    /// Why.
    pub scale_reason: String,
    /// Where encoding runs.
    pub encode: EncodePath,
    /// Why.
    pub encode_reason: String,
}

impl StagePlan {
    /// Everything on the CPU, for one reason.
    fn all_cpu(reason: &str) -> Self {
        Self {
            decode: DecodePath::Cpu,
            decode_reason: reason.to_string(),
            scale: ScalePath::Cpu,
            scale_reason: reason.to_string(),
            encode: EncodePath::Libx264,
            encode_reason: reason.to_string(),
        }
    }

    /// Nothing runs on the GPU.
    pub fn is_cpu_only(&self) -> bool {
        self.decode == DecodePath::Cpu
            && self.scale == ScalePath::Cpu
            && self.encode == EncodePath::Libx264
    }
}

impl fmt::Display for StagePlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "decode={} scale={} encode={}",
            self.decode, self.scale, self.encode
        )
    }
}

/// Decides each stage for a `codec` source at `bit_depth` (4:2:0) on `desc`.
/// The rules are in the [module documentation](self).
pub fn plan(desc: &DeviceDescription, codec: VideoCodec, bit_depth: u8) -> StagePlan {
    if !desc.device_present {
        let reason = if desc.detail.is_empty() {
            "no NVIDIA device".to_string()
        } else {
            format!("no NVIDIA device: {}", desc.detail)
        };
        return StagePlan::all_cpu(&reason);
    }
    if let Some(free) = desc.memory_free_bytes
        && free < MIN_FREE_MEMORY_BYTES
    {
        return StagePlan::all_cpu(&format!(
            "only {} MiB of device memory free on {} (the GPU path needs {} MiB)",
            free >> 20,
            desc.name,
            MIN_FREE_MEMORY_BYTES >> 20
        ));
    }
    let (decode, decode_reason) = decode_path(desc, codec, bit_depth);
    let (scale, scale_reason) = match decode {
        DecodePath::Cpu => (
            ScalePath::Cpu,
            "decoded frames are in host memory, so they are scaled on the CPU".to_string(),
        ),
        DecodePath::FfmpegCuvid => (
            ScalePath::Cpu,
            "FFmpeg's cuvid decoder hands frames back in host memory, so they are scaled \
             in the CPU filter graph"
                .to_string(),
        ),
        DecodePath::Nvdec => (
            ScalePath::Cuda,
            "decoded frames are already in device memory, so they are scaled there \
             (before any download, which then moves less)"
                .to_string(),
        ),
    };
    let (encode, encode_reason) = encode_path(desc);
    StagePlan {
        decode,
        decode_reason,
        scale,
        scale_reason,
        encode,
        encode_reason,
    }
}

fn decode_path(desc: &DeviceDescription, codec: VideoCodec, bit_depth: u8) -> (DecodePath, String) {
    let what = format!("{codec} {bit_depth}-bit 4:2:0");
    if !desc.nvdec.library {
        return (
            DecodePath::Cpu,
            format!("libnvcuvid.so.1 is missing, so no NVDEC; {what} is decoded on the CPU"),
        );
    }
    if !desc.nvdec.supports(codec, bit_depth) {
        return (
            DecodePath::Cpu,
            format!(
                "NVDEC on {} does not decode {what}; decoded on the CPU",
                desc.name
            ),
        );
    }
    let engines = desc.nvdec.engines;
    let cuvid = match codec {
        VideoCodec::H264 => "h264_cuvid",
        VideoCodec::Hevc => "hevc_cuvid",
    };
    if (desc.sdk_compiled || desc.ffmpeg.cuvid(codec))
        && codec == VideoCodec::H264
        && bit_depth == 8
        && desc.host_cpu_cores >= CPU_BEATS_CUVID_H264_CORES
        && !desc.always_gpu_decode
    {
        return (
            DecodePath::Cpu,
            format!(
                "with {} host cores FFmpeg's software decoder is faster than NVDEC for {what} \
                 (measured on 16 cores: 696 fps vs 504 through {cuvid} and 358 through our \
                 SDK path, gpu/BENCH.md); media.gpu = \"always\" decodes it on NVDEC anyway",
                desc.host_cpu_cores
            ),
        );
    }
    if desc.sdk_compiled {
        return (
            DecodePath::Nvdec,
            format!(
                "NVDEC ({engines} engine(s)) decodes {what} through our own SDK path, \
                 fitted to the output on the device"
            ),
        );
    }
    if desc.ffmpeg.cuvid(codec) {
        (
            DecodePath::FfmpegCuvid,
            format!(
                "NVDEC ({engines} engine(s)) decodes {what} through FFmpeg's {cuvid} \
                 (the `nvidia` feature is not compiled in)"
            ),
        )
    } else {
        (
            DecodePath::Cpu,
            format!(
                "NVDEC decodes {what}, but the `nvidia` feature is not compiled in and \
                 FFmpeg has no {cuvid}; decoded on the CPU"
            ),
        )
    }
}

fn encode_path(desc: &DeviceDescription) -> (EncodePath, String) {
    if !desc.nvenc_present {
        return (
            EncodePath::Libx264,
            format!(
                "{} has no usable NVENC encoder (H100/H200 have none), so libx264 encodes on the CPU",
                desc.name
            ),
        );
    }
    if desc.sdk_compiled {
        (
            EncodePath::Nvenc,
            "NVENC encodes H.264 through our own SDK path".to_string(),
        )
    } else if desc.ffmpeg.h264_nvenc {
        (
            EncodePath::FfmpegNvenc,
            "NVENC encodes H.264 through FFmpeg's h264_nvenc (the `nvidia` feature is not compiled in)"
                .to_string(),
        )
    } else {
        (
            EncodePath::Libx264,
            "the device has NVENC, but the `nvidia` feature is not compiled in and FFmpeg has \
             no h264_nvenc, so libx264 encodes on the CPU"
                .to_string(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use DecodePath as D;
    use EncodePath as E;
    use ScalePath as S;
    use VideoCodec::{H264, Hevc};

    const GIB: u64 = 1 << 30;

    /// A present device with the given NVDEC engines and caps and NVENC.
    fn card(
        name: &str,
        cc: &str,
        engines: u32,
        (h264, hevc8, hevc10): (bool, bool, bool),
        nvenc: bool,
    ) -> DeviceDescription {
        DeviceDescription {
            device_present: true,
            driver_version: "12.8".into(),
            name: name.into(),
            compute_capability: cc.into(),
            memory_free_bytes: Some(20 * GIB),
            nvdec: NvdecSupport {
                library: true,
                engines,
                h264_8bit: h264,
                hevc_8bit: hevc8,
                hevc_10bit: hevc10,
            },
            nvenc_present: nvenc,
            sdk_compiled: false,
            ffmpeg: FfmpegGpuCodecs::all(),
            detail: String::new(),
            host_cpu_cores: 4,
            always_gpu_decode: false,
        }
    }

    fn cores(mut d: DeviceDescription, n: u32) -> DeviceDescription {
        d.host_cpu_cores = n;
        d
    }

    const ALL: (bool, bool, bool) = (true, true, true);

    fn h100() -> DeviceDescription {
        card("NVIDIA H100 80GB HBM3", "9.0", 7, ALL, false)
    }
    fn h200() -> DeviceDescription {
        card("NVIDIA H200", "9.0", 7, ALL, false)
    }
    fn l4() -> DeviceDescription {
        card("NVIDIA L4", "8.9", 4, ALL, true)
    }
    fn l40s() -> DeviceDescription {
        card("NVIDIA L40S", "8.9", 3, ALL, true)
    }
    fn a10() -> DeviceDescription {
        card("NVIDIA A10", "8.6", 2, ALL, true)
    }
    fn t4() -> DeviceDescription {
        card("Tesla T4", "7.5", 2, ALL, true)
    }
    /// Maxwell: H.264 NVDEC, no HEVC 8- or 10-bit, NVENC present.
    fn m60() -> DeviceDescription {
        card("Tesla M60", "5.2", 1, (true, false, false), true)
    }
    fn sdk(mut d: DeviceDescription) -> DeviceDescription {
        d.sdk_compiled = true;
        d
    }
    fn ffmpeg(mut d: DeviceDescription, f: FfmpegGpuCodecs) -> DeviceDescription {
        d.ffmpeg = f;
        d
    }
    fn no_device(detail: &str) -> DeviceDescription {
        DeviceDescription {
            detail: detail.into(),
            ffmpeg: FfmpegGpuCodecs::all(),
            sdk_compiled: true,
            ..DeviceDescription::default()
        }
    }

    struct Row {
        case: &'static str,
        desc: DeviceDescription,
        codec: VideoCodec,
        bit_depth: u8,
        expect: (DecodePath, ScalePath, EncodePath),
    }

    fn row(
        case: &'static str,
        desc: DeviceDescription,
        (codec, bit_depth): (VideoCodec, u8),
        expect: (DecodePath, ScalePath, EncodePath),
    ) -> Row {
        Row {
            case,
            desc,
            codec,
            bit_depth,
            expect,
        }
    }

    fn table() -> Vec<Row> {
        let no_nvcuvid = {
            let mut d = l4();
            d.nvdec = NvdecSupport::default();
            d
        };
        let low_memory = {
            let mut d = sdk(l4());
            d.memory_free_bytes = Some(300 << 20);
            d
        };
        let unknown_memory = {
            let mut d = sdk(l4());
            d.memory_free_bytes = None;
            d
        };
        let no_nvidia_ffmpeg = FfmpegGpuCodecs::default();
        vec![
            // Hopper: NVDEC but no NVENC, whatever is compiled in.
            row(
                "H100, sdk, H.264",
                sdk(h100()),
                (H264, 8),
                (D::Nvdec, S::Cuda, E::Libx264),
            ),
            row(
                "H100, sdk, HEVC 10",
                sdk(h100()),
                (Hevc, 10),
                (D::Nvdec, S::Cuda, E::Libx264),
            ),
            row(
                "H100, ffmpeg, H.264",
                h100(),
                (H264, 8),
                (D::FfmpegCuvid, S::Cpu, E::Libx264),
            ),
            row(
                "H200, sdk, H.264",
                sdk(h200()),
                (H264, 8),
                (D::Nvdec, S::Cuda, E::Libx264),
            ),
            row(
                "H200, ffmpeg, HEVC 10",
                h200(),
                (Hevc, 10),
                (D::FfmpegCuvid, S::Cpu, E::Libx264),
            ),
            row(
                "H100, HEVC 8",
                h100(),
                (Hevc, 8),
                (D::FfmpegCuvid, S::Cpu, E::Libx264),
            ),
            // A big host decodes H.264 8-bit faster itself than NVDEC does
            // through h264_cuvid or our SDK path (measured, gpu/BENCH.md);
            // HEVC stays on NVDEC, and so does everything when asked to.
            row(
                "H100, ffmpeg, H.264, 16 cores",
                cores(h100(), 16),
                (H264, 8),
                (D::Cpu, S::Cpu, E::Libx264),
            ),
            row(
                "H100, ffmpeg, HEVC 10, 16 cores",
                cores(h100(), 16),
                (Hevc, 10),
                (D::FfmpegCuvid, S::Cpu, E::Libx264),
            ),
            row(
                "H100, ffmpeg, H.264, 16 cores, always",
                {
                    let mut d = cores(h100(), 16);
                    d.always_gpu_decode = true;
                    d
                },
                (H264, 8),
                (D::FfmpegCuvid, S::Cpu, E::Libx264),
            ),
            row(
                "H100, sdk, H.264, 16 cores",
                sdk(cores(h100(), 16)),
                (H264, 8),
                (D::Cpu, S::Cpu, E::Libx264),
            ),
            row(
                "H100, sdk, H.264, 16 cores, always",
                {
                    let mut d = sdk(cores(h100(), 16));
                    d.always_gpu_decode = true;
                    d
                },
                (H264, 8),
                (D::Nvdec, S::Cuda, E::Libx264),
            ),
            row(
                "H100, sdk, HEVC 10, 16 cores",
                sdk(cores(h100(), 16)),
                (Hevc, 10),
                (D::Nvdec, S::Cuda, E::Libx264),
            ),
            // NVDEC has no 10-bit H.264.
            row(
                "H100, H.264 10",
                sdk(h100()),
                (H264, 10),
                (D::Cpu, S::Cpu, E::Libx264),
            ),
            // Ada / Ampere / Turing: NVDEC and NVENC.
            row(
                "L4, sdk, H.264",
                sdk(l4()),
                (H264, 8),
                (D::Nvdec, S::Cuda, E::Nvenc),
            ),
            row(
                "L4, ffmpeg, H.264",
                l4(),
                (H264, 8),
                (D::FfmpegCuvid, S::Cpu, E::FfmpegNvenc),
            ),
            row(
                "L40S, sdk, HEVC 10",
                sdk(l40s()),
                (Hevc, 10),
                (D::Nvdec, S::Cuda, E::Nvenc),
            ),
            row(
                "L40S, ffmpeg, HEVC 8",
                l40s(),
                (Hevc, 8),
                (D::FfmpegCuvid, S::Cpu, E::FfmpegNvenc),
            ),
            row(
                "A10, sdk, H.264",
                sdk(a10()),
                (H264, 8),
                (D::Nvdec, S::Cuda, E::Nvenc),
            ),
            row(
                "A10, ffmpeg, HEVC 10",
                a10(),
                (Hevc, 10),
                (D::FfmpegCuvid, S::Cpu, E::FfmpegNvenc),
            ),
            row(
                "T4, sdk, HEVC 10",
                sdk(t4()),
                (Hevc, 10),
                (D::Nvdec, S::Cuda, E::Nvenc),
            ),
            row(
                "T4, ffmpeg, H.264",
                t4(),
                (H264, 8),
                (D::FfmpegCuvid, S::Cpu, E::FfmpegNvenc),
            ),
            // Feature off and an FFmpeg without the NVIDIA wrappers: all CPU.
            row(
                "L4, neither sdk nor ffmpeg wrappers",
                ffmpeg(l4(), no_nvidia_ffmpeg),
                (H264, 8),
                (D::Cpu, S::Cpu, E::Libx264),
            ),
            // Feature on needs no FFmpeg wrappers.
            row(
                "L4, sdk, no ffmpeg wrappers",
                ffmpeg(sdk(l4()), no_nvidia_ffmpeg),
                (H264, 8),
                (D::Nvdec, S::Cuda, E::Nvenc),
            ),
            // Only part of FFmpeg's wrappers.
            row(
                "T4, ffmpeg with hevc_cuvid only",
                ffmpeg(
                    t4(),
                    FfmpegGpuCodecs {
                        hevc_cuvid: true,
                        ..FfmpegGpuCodecs::default()
                    },
                ),
                (Hevc, 8),
                (D::FfmpegCuvid, S::Cpu, E::Libx264),
            ),
            row(
                "T4, ffmpeg with hevc_cuvid only, H.264 source",
                ffmpeg(
                    t4(),
                    FfmpegGpuCodecs {
                        hevc_cuvid: true,
                        ..FfmpegGpuCodecs::default()
                    },
                ),
                (H264, 8),
                (D::Cpu, S::Cpu, E::Libx264),
            ),
            // No device / no driver.
            row(
                "no driver",
                no_device("libcuda.so.1 not loadable: cannot open shared object file"),
                (H264, 8),
                (D::Cpu, S::Cpu, E::Libx264),
            ),
            row(
                "no device",
                no_device("the CUDA driver reports no devices"),
                (Hevc, 10),
                (D::Cpu, S::Cpu, E::Libx264),
            ),
            // The driver without libnvcuvid (container lacking the video capability).
            row(
                "L4, no libnvcuvid",
                no_nvcuvid,
                (H264, 8),
                (D::Cpu, S::Cpu, E::FfmpegNvenc),
            ),
            // Low memory: all CPU, even with everything available.
            row(
                "L4, 300 MiB free",
                low_memory,
                (H264, 8),
                (D::Cpu, S::Cpu, E::Libx264),
            ),
            // Unknown free memory does not count as low.
            row(
                "L4, free memory unknown",
                unknown_memory,
                (H264, 8),
                (D::Nvdec, S::Cuda, E::Nvenc),
            ),
            // HEVC 10-bit on a card without it; H.264 still on NVDEC there.
            row(
                "M60, sdk, HEVC 10",
                sdk(m60()),
                (Hevc, 10),
                (D::Cpu, S::Cpu, E::Nvenc),
            ),
            row(
                "M60, ffmpeg, HEVC 10",
                m60(),
                (Hevc, 10),
                (D::Cpu, S::Cpu, E::FfmpegNvenc),
            ),
            row(
                "M60, sdk, H.264",
                sdk(m60()),
                (H264, 8),
                (D::Nvdec, S::Cuda, E::Nvenc),
            ),
        ]
    }

    #[test]
    fn the_table() {
        for r in table() {
            let p = r.desc.plan_for(r.codec, r.bit_depth);
            assert_eq!(
                (p.decode, p.scale, p.encode),
                r.expect,
                "{}: {}\n  decode: {}\n  scale: {}\n  encode: {}",
                r.case,
                p,
                p.decode_reason,
                p.scale_reason,
                p.encode_reason
            );
            for reason in [&p.decode_reason, &p.scale_reason, &p.encode_reason] {
                assert!(!reason.is_empty(), "{}: empty reason", r.case);
            }
        }
    }

    #[test]
    fn reasons_say_why() {
        let p = no_device("libcuda.so.1 not loadable: x").plan_for(H264, 8);
        assert!(p.is_cpu_only());
        assert!(
            p.decode_reason.contains("libcuda.so.1"),
            "{}",
            p.decode_reason
        );

        let p = {
            let mut d = l4();
            d.memory_free_bytes = Some(300 << 20);
            d.plan_for(H264, 8)
        };
        assert!(p.is_cpu_only());
        assert!(p.encode_reason.contains("300 MiB"), "{}", p.encode_reason);

        let p = sdk(m60()).plan_for(Hevc, 10);
        assert!(
            p.decode_reason.contains("HEVC 10-bit"),
            "{}",
            p.decode_reason
        );

        let p = h100().plan_for(H264, 8);
        assert!(
            p.decode_reason.contains("h264_cuvid"),
            "{}",
            p.decode_reason
        );
        assert!(p.encode_reason.contains("NVENC"), "{}", p.encode_reason);
        assert_eq!(
            p.to_string(),
            "decode=ffmpeg_cuvid scale=cpu encode=libx264"
        );
        let p = cores(h100(), 16).plan_for(H264, 8);
        assert!(
            p.decode_reason.contains("16 host cores") && p.decode_reason.contains("always"),
            "{}",
            p.decode_reason
        );

        let mut d = l4();
        d.nvdec.library = false;
        let p = d.plan_for(Hevc, 8);
        assert!(
            p.decode_reason.contains("libnvcuvid"),
            "{}",
            p.decode_reason
        );
    }

    #[test]
    fn exactly_512_mib_free_is_enough() {
        let mut d = sdk(l4());
        d.memory_free_bytes = Some(MIN_FREE_MEMORY_BYTES);
        assert_eq!(d.plan_for(H264, 8).decode, D::Nvdec);
        d.memory_free_bytes = Some(MIN_FREE_MEMORY_BYTES - 1);
        assert!(d.plan_for(H264, 8).is_cpu_only());
    }

    #[test]
    fn descriptions_deserialise_with_defaults() {
        // What a probe on an H200 looks like, trimmed; missing fields default.
        let json = r#"{
            "device_present": true,
            "name": "NVIDIA H200",
            "compute_capability": "9.0",
            "memory_free_bytes": 150000000000,
            "nvdec": {"library": true, "engines": 7, "h264_8bit": true, "hevc_8bit": true, "hevc_10bit": true},
            "nvenc_present": false,
            "sdk_compiled": false,
            "ffmpeg": {"h264_cuvid": true, "hevc_cuvid": true, "h264_nvenc": true}
        }"#;
        let d: DeviceDescription = serde_json::from_str(json).expect("valid description");
        assert_eq!(d.nvdec.engines, 7);
        let p = d.plan_for(Hevc, 10);
        assert_eq!(
            (p.decode, p.scale, p.encode),
            (D::FfmpegCuvid, S::Cpu, E::Libx264)
        );
        // An empty object is "no device".
        let d: DeviceDescription = serde_json::from_str("{}").expect("valid description");
        assert!(d.plan_for(H264, 8).is_cpu_only());
        // And it round-trips.
        let back: DeviceDescription =
            serde_json::from_str(&serde_json::to_string(&h100()).expect("serialises"))
                .expect("deserialises");
        assert_eq!(back, h100());
    }

    #[test]
    fn plans_serialise_in_snake_case() {
        let p = sdk(h100()).plan_for(H264, 8);
        let v = serde_json::to_value(&p).expect("serialises");
        assert_eq!(v["decode"], "nvdec");
        assert_eq!(v["scale"], "cuda");
        assert_eq!(v["encode"], "libx264");
        let p = l4().plan_for(H264, 8);
        let v = serde_json::to_value(&p).expect("serialises");
        assert_eq!(v["decode"], "ffmpeg_cuvid");
        assert_eq!(v["encode"], "ffmpeg_nvenc");
    }

    #[test]
    fn ffmpeg_codecs_from_names() {
        let f = FfmpegGpuCodecs::from_codec_names(["h264", "h264_cuvid", "libx264", "h264_nvenc"]);
        assert_eq!(
            f,
            FfmpegGpuCodecs {
                h264_cuvid: true,
                hevc_cuvid: false,
                h264_nvenc: true
            }
        );
        assert!(f.cuvid(H264) && !f.cuvid(Hevc));
    }
}
