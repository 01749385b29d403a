//! What this node can do: FFmpeg's version and codecs, the NVIDIA device.

use std::ffi::CStr;

use ffmpeg_next::ffi;
use scout_proto::scout::render::v1::{
    CapabilitiesResponse, CodecInfo, GpuDevice, NvdecCodec, NvdecEngineUse, NvidiaInfo, StagePlan,
};

/// Names of hardware codec wrappers FFmpeg does not flag as hardware.
const HARDWARE_MARKERS: [&str; 8] = [
    "nvenc", "cuvid", "qsv", "vaapi", "v4l2m2m", "omx", "vulkan", "amf",
];

fn cstr(p: *const std::ffi::c_char) -> String {
    if p.is_null() {
        return String::new();
    }
    // SAFETY: FFmpeg returns NUL-terminated static strings.
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

fn version_string(v: u32) -> String {
    format!("{}.{}.{}", v >> 16, (v >> 8) & 0xff, v & 0xff)
}

/// Every codec FFmpeg offers for `id`, encoders or decoders.
fn codecs(id: ffi::AVCodecID, encoders: bool) -> Vec<CodecInfo> {
    let mut out = Vec::new();
    let mut opaque: *mut std::ffi::c_void = std::ptr::null_mut();
    loop {
        // SAFETY: av_codec_iterate walks FFmpeg's static codec table.
        let codec = unsafe { ffi::av_codec_iterate(&mut opaque) };
        if codec.is_null() {
            break;
        }
        // SAFETY: `codec` is non-null and points into the static table.
        let (cid, is_enc, is_dec, name, long_name, caps) = unsafe {
            (
                (*codec).id,
                ffi::av_codec_is_encoder(codec) != 0,
                ffi::av_codec_is_decoder(codec) != 0,
                cstr((*codec).name),
                cstr((*codec).long_name),
                (*codec).capabilities as u32,
            )
        };
        if cid != id || (encoders && !is_enc) || (!encoders && !is_dec) {
            continue;
        }
        let hardware = caps & ffi::AV_CODEC_CAP_HARDWARE != 0
            || HARDWARE_MARKERS.iter().any(|m| name.contains(m));
        out.push(CodecInfo {
            name,
            long_name,
            hardware,
        });
    }
    out
}

fn hwaccels() -> Vec<String> {
    let mut out = Vec::new();
    let mut t = ffi::AVHWDeviceType::AV_HWDEVICE_TYPE_NONE;
    loop {
        // SAFETY: iterates FFmpeg's static list of device types.
        t = unsafe { ffi::av_hwdevice_iterate_types(t) };
        if t == ffi::AVHWDeviceType::AV_HWDEVICE_TYPE_NONE {
            break;
        }
        // SAFETY: returns a static string for a valid type.
        out.push(cstr(unsafe { ffi::av_hwdevice_get_type_name(t) }));
    }
    out
}

/// Probes FFmpeg and the NVIDIA device. Blocking (loads libraries): call it
/// off the async runtime.
pub fn capabilities() -> CapabilitiesResponse {
    let _ = crate::runtime::init_ffmpeg();
    // SAFETY: returns a static string.
    let ffmpeg_version = cstr(unsafe { ffi::av_version_info() });
    // SAFETY: plain getter.
    let libavcodec_version = version_string(unsafe { ffi::avcodec_version() });
    let h264_encoders = codecs(ffi::AVCodecID::AV_CODEC_ID_H264, true);
    let hw = crate::media::hw::hardware();
    let gpu = hw.probe.clone();
    let pool = crate::media::hw::nvdec_pool();
    let (waits, waited) = pool.waits();
    let compose_encoder = match crate::media::hw::encode_path() {
        scout_gpu::EncodePath::Libx264 if h264_encoders.iter().any(|c| c.name == "libx264") => {
            "libx264"
        }
        scout_gpu::EncodePath::Libx264 => "",
        scout_gpu::EncodePath::Nvenc => "nvenc",
        scout_gpu::EncodePath::FfmpegNvenc => "h264_nvenc",
    }
    .to_string();
    let plans: Vec<StagePlan> = [
        (scout_gpu::VideoCodec::H264, 8u8, "h264 8-bit"),
        (scout_gpu::VideoCodec::Hevc, 8, "hevc 8-bit"),
        (scout_gpu::VideoCodec::Hevc, 10, "hevc 10-bit"),
    ]
    .into_iter()
    .map(|(codec, depth, source)| {
        let p = if hw.enabled {
            hw.plan(codec, depth)
        } else {
            scout_gpu::plan(&scout_gpu::DeviceDescription::default(), codec, depth)
        };
        StagePlan {
            source: source.into(),
            decode: p.decode.to_string(),
            decode_reason: p.decode_reason,
            scale: p.scale.to_string(),
            scale_reason: p.scale_reason,
            encode: p.encode.to_string(),
            encode_reason: p.encode_reason,
        }
    })
    .collect();
    let compose_decoder = plans
        .first()
        .map(|p| p.decode.clone())
        .unwrap_or_else(|| "cpu".into());
    CapabilitiesResponse {
        ffmpeg_version,
        libavcodec_version,
        h264_encoders,
        h264_decoders: codecs(ffi::AVCodecID::AV_CODEC_ID_H264, false),
        hevc_decoders: codecs(ffi::AVCodecID::AV_CODEC_ID_HEVC, false),
        hwaccels: hwaccels(),
        nvidia: Some(NvidiaInfo {
            present: gpu.present,
            driver_version: gpu.driver_version,
            devices: gpu
                .devices
                .into_iter()
                .map(|d| GpuDevice {
                    index: d.index,
                    name: d.name,
                    compute_capability: d.compute_capability,
                    memory_total_bytes: d.memory_total_bytes,
                    memory_free_bytes: d.memory_free_bytes,
                    nvdec_codecs: d
                        .nvdec
                        .map(|n| {
                            n.codecs
                                .into_iter()
                                .map(|c| NvdecCodec {
                                    codec: match c.codec {
                                        scout_gpu::VideoCodec::H264 => "h264".into(),
                                        scout_gpu::VideoCodec::Hevc => "hevc".into(),
                                    },
                                    bit_depth: i32::from(c.bit_depth),
                                    supported: c.supported,
                                    engines: c.engines as i32,
                                    max_width: c.max_width as i32,
                                    max_height: c.max_height as i32,
                                })
                                .collect()
                        })
                        .unwrap_or_default(),
                    nvenc_present: d.nvenc.as_ref().is_some_and(|n| n.encoder_present),
                    nvenc_detail: d.nvenc.map(|n| n.detail).unwrap_or_default(),
                })
                .collect(),
            nvdec_library: gpu.nvdec_library,
            nvenc_library: gpu.nvenc_library,
            detail: gpu.detail,
        }),
        compose_encoder,
        compose_decoder,
        stage_plans: plans,
        gpu_fallbacks: crate::media::hw::fallbacks(),
        nvdec_session_limit: i32::try_from(pool.limit()).unwrap_or(i32::MAX),
        nvdec_engines: pool
            .usage()
            .into_iter()
            .map(|u| NvdecEngineUse {
                engine: u.engine as i32,
                busy: u.busy,
                sessions: u.sessions,
                frames: u.frames,
                busy_seconds: u.busy_seconds,
            })
            .collect(),
        nvdec_waits: waits,
        nvdec_wait_seconds: waited.as_secs_f64(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_ffmpeg_and_the_h264_codecs_it_really_has() {
        let caps = capabilities();
        assert!(!caps.ffmpeg_version.is_empty());
        assert!(caps.libavcodec_version.split('.').count() == 3);
        // The Debian FFmpeg the setup script installs has libx264 and the native decoders.
        assert!(
            caps.h264_encoders
                .iter()
                .any(|c| c.name == "libx264" && !c.hardware),
            "{:?}",
            caps.h264_encoders
        );
        assert!(
            caps.h264_decoders
                .iter()
                .any(|c| c.name == "h264" && !c.hardware)
        );
        assert!(caps.hevc_decoders.iter().any(|c| c.name == "hevc"));
        // Hardware wrappers are flagged as such.
        for c in caps
            .h264_encoders
            .iter()
            .filter(|c| c.name.contains("nvenc"))
        {
            assert!(c.hardware, "{} not flagged as hardware", c.name);
        }
        let nv = caps.nvidia.expect("nvidia section");
        assert_eq!(nv.present, !nv.devices.is_empty());
        // Every source kind has a plan with a reason for each stage.
        let sources: Vec<&str> = caps.stage_plans.iter().map(|p| p.source.as_str()).collect();
        assert_eq!(sources, ["h264 8-bit", "hevc 8-bit", "hevc 10-bit"]);
        for p in &caps.stage_plans {
            assert!(
                !p.decode_reason.is_empty()
                    && !p.scale_reason.is_empty()
                    && !p.encode_reason.is_empty(),
                "{p:?}"
            );
            assert!(
                ["cpu", "ffmpeg_cuvid", "nvdec"].contains(&p.decode.as_str()),
                "{p:?}"
            );
        }
        assert_eq!(caps.compose_decoder, caps.stage_plans[0].decode);
        if !nv.present {
            // No device: everything on the CPU, and the plan says why.
            assert_eq!(caps.compose_encoder, "libx264");
            assert_eq!(caps.compose_decoder, "cpu");
            assert!(
                caps.stage_plans
                    .iter()
                    .all(|p| p.encode == "libx264" && p.decode_reason.contains("no NVIDIA device")),
                "{:?}",
                caps.stage_plans
            );
        }
        assert_eq!(caps.gpu_fallbacks, 0);
        // One slot per NVDEC engine (one, never used, without a device).
        let engines = nv
            .devices
            .first()
            .and_then(|d| d.nvdec_codecs.iter().map(|c| c.engines).max())
            .unwrap_or(0)
            .max(1);
        assert_eq!(caps.nvdec_session_limit, engines);
        assert_eq!(caps.nvdec_engines.len(), engines as usize);
        assert!(
            caps.nvdec_engines
                .iter()
                .enumerate()
                .all(|(i, e)| e.engine == i as i32)
        );
    }
}
