//! `gpu-probe`: prints the full NVIDIA probe ([`scout_gpu::probe_all`]) as
//! pretty JSON, then the stage plans for H.264 8-bit and HEVC 10-bit sources
//! on device 0, assuming an FFmpeg with `h264_cuvid`, `hevc_cuvid` and
//! `h264_nvenc`. Always exits 0: no device is an answer, not an error.

use serde::Serialize;

use scout_gpu::{FfmpegGpuCodecs, VideoCodec, probe_all};

fn pretty<T: Serialize>(value: &T) -> String {
    serde_json::to_string_pretty(value)
        .unwrap_or_else(|e| format!("{{\"error\": \"cannot serialise: {e}\"}}"))
}

fn main() {
    let probe = probe_all();
    println!("{}", pretty(&probe));

    let sdk_compiled = cfg!(feature = "nvidia");
    let desc = probe.description(FfmpegGpuCodecs::all(), sdk_compiled);
    if desc.device_present {
        let free = desc
            .memory_free_bytes
            .map_or_else(|| "unknown".to_string(), |b| format!("{} MiB", b >> 20));
        println!(
            "device 0: {} (compute {}, {free} free, driver {})",
            desc.name, desc.compute_capability, desc.driver_version
        );
    } else {
        println!("no device: {}", desc.detail);
    }
    println!("description: {}", pretty(&desc));

    let feature = if sdk_compiled { "on" } else { "off" };
    for (codec, bit_depth) in [(VideoCodec::H264, 8), (VideoCodec::Hevc, 10)] {
        let plan = desc.plan_for(codec, bit_depth);
        println!(
            "plan for {codec} {bit_depth}-bit (FFmpeg cuvid/nvenc assumed, `nvidia` feature {feature}): {plan}"
        );
        println!("  decode: {}", plan.decode_reason);
        println!("  scale:  {}", plan.scale_reason);
        println!("  encode: {}", plan.encode_reason);
    }
}
