//! Probing the NVIDIA device: which GPUs the CUDA driver sees, what NVDEC
//! decodes on them and whether an NVENC session opens, through the
//! driver's libraries loaded at run time.

use serde::Serialize;

use crate::cuda::{CudaContext, CudaDriver, can_load};
use crate::nvdec::{self, NvdecCaps, NvdecLib};
use crate::nvenc::{self, NvencLib, NvencProbe};
use crate::plan::{DeviceDescription, FfmpegGpuCodecs, NvdecSupport, VideoCodec};

/// One device as the CUDA driver reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeviceInfo {
    /// Ordinal.
    pub index: i32,
    /// Name, e.g. "NVIDIA H100 80GB HBM3".
    pub name: String,
    /// Compute capability "major.minor".
    pub compute_capability: String,
    /// Total memory in bytes.
    pub memory_total_bytes: u64,
    /// Free memory in bytes at probe time (0 when it could not be read).
    pub memory_free_bytes: u64,
    /// NVDEC capabilities, filled by [`probe_all`] (`None` from [`probe`]).
    pub nvdec: Option<NvdecCaps>,
    /// NVENC presence, filled by [`probe_all`] (`None` from [`probe`]).
    pub nvenc: Option<NvencProbe>,
}

/// What the probe found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct GpuProbe {
    /// At least one device answered.
    pub present: bool,
    /// Driver API version, e.g. "13.0".
    pub driver_version: String,
    /// Devices.
    pub devices: Vec<DeviceInfo>,
    /// `libnvcuvid.so.1` (NVDEC) can be loaded.
    pub nvdec_library: bool,
    /// `libnvidia-encode.so.1` (NVENC) can be loaded. The library can exist on
    /// cards without an encoder (Hopper), so this is not "has NVENC".
    pub nvenc_library: bool,
    /// Why no device was found.
    pub detail: String,
}

impl GpuProbe {
    /// The planning input for device 0, the device the render node uses (pick
    /// another with `CUDA_VISIBLE_DEVICES`). `ffmpeg` says which NVIDIA
    /// wrappers the linked FFmpeg offers; `sdk_compiled` whether this build has
    /// the `nvidia` feature. Feed it to [`crate::plan()`].
    ///
    /// NVDEC and NVENC are only known after [`probe_all`]; from a plain
    /// [`probe`] they read as absent, so the plan stays on the CPU for them.
    pub fn description(&self, ffmpeg: FfmpegGpuCodecs, sdk_compiled: bool) -> DeviceDescription {
        self.description_for(0, ffmpeg, sdk_compiled)
    }

    /// [`GpuProbe::description`] for the device with ordinal `index`.
    pub fn description_for(
        &self,
        index: i32,
        ffmpeg: FfmpegGpuCodecs,
        sdk_compiled: bool,
    ) -> DeviceDescription {
        let base = DeviceDescription {
            driver_version: self.driver_version.clone(),
            sdk_compiled,
            ffmpeg,
            ..DeviceDescription::default()
        };
        let Some(dev) = self.devices.iter().find(|d| d.index == index) else {
            let detail = if !self.present && !self.detail.is_empty() {
                self.detail.clone()
            } else {
                format!("no CUDA device with ordinal {index}")
            };
            return DeviceDescription { detail, ..base };
        };
        let mut notes = Vec::new();
        let nvdec = match &dev.nvdec {
            Some(caps) => {
                if !caps.detail.is_empty() {
                    notes.push(format!("NVDEC: {}", caps.detail));
                }
                NvdecSupport {
                    library: caps.library,
                    engines: caps.engines(),
                    h264_8bit: caps.supports(VideoCodec::H264, 8),
                    hevc_8bit: caps.supports(VideoCodec::Hevc, 8),
                    hevc_10bit: caps.supports(VideoCodec::Hevc, 10),
                }
            }
            None => {
                notes.push("NVDEC not probed (use probe_all)".to_string());
                NvdecSupport {
                    library: self.nvdec_library,
                    ..NvdecSupport::default()
                }
            }
        };
        let nvenc_present = match &dev.nvenc {
            Some(n) => {
                if !n.detail.is_empty() {
                    notes.push(format!("NVENC: {}", n.detail));
                }
                n.encoder_present
            }
            None => {
                notes.push("NVENC not probed (use probe_all)".to_string());
                false
            }
        };
        DeviceDescription {
            device_present: true,
            name: dev.name.clone(),
            compute_capability: dev.compute_capability.clone(),
            // 0 means "could not be read", which must not look like "full".
            memory_free_bytes: (dev.memory_free_bytes > 0).then_some(dev.memory_free_bytes),
            nvdec,
            nvenc_present,
            detail: notes.join("; "),
            ..base
        }
    }
}

/// Probes the NVIDIA driver. Never fails: problems end up in `detail`.
///
/// Cheap: it does not touch NVDEC or NVENC (see [`probe_all`]), so
/// [`DeviceInfo::nvdec`] and [`DeviceInfo::nvenc`] are `None`.
pub fn probe() -> GpuProbe {
    probe_with(false)
}

/// [`probe`] plus, for every device, the NVDEC capabilities (H.264 8-bit,
/// HEVC 8-bit and 10-bit, 4:2:0) and whether an NVENC session opens. Never
/// fails; takes a context per device and opens (and closes) one encode session.
pub fn probe_all() -> GpuProbe {
    probe_with(true)
}

fn probe_with(engines: bool) -> GpuProbe {
    let mut out = GpuProbe {
        nvdec_library: can_load(nvdec::LIBRARY),
        nvenc_library: can_load(nvenc::LIBRARY),
        ..GpuProbe::default()
    };
    let driver = match CudaDriver::load() {
        Ok(driver) => driver,
        Err(e) => {
            out.detail = e;
            return out;
        }
    };
    let libs = engines.then(EngineLibs::load);
    match probe_devices(&driver, libs.as_ref()) {
        Ok((version, devices)) => {
            out.driver_version = version;
            out.present = !devices.is_empty();
            if devices.is_empty() {
                out.detail = "the CUDA driver reports no devices".into();
            }
            out.devices = devices;
        }
        Err(e) => out.detail = e,
    }
    out
}

/// NVDEC and NVENC, loaded once for all devices; a failed load is the
/// ready-made per-device answer.
struct EngineLibs {
    nvdec: Result<NvdecLib, NvdecCaps>,
    nvenc: Result<NvencLib, NvencProbe>,
}

impl EngineLibs {
    fn load() -> Self {
        Self {
            nvdec: NvdecLib::load(),
            nvenc: NvencLib::load(),
        }
    }

    fn probe(&self, ctx: &CudaContext<'_>) -> (NvdecCaps, NvencProbe) {
        let nvdec = match &self.nvdec {
            Ok(lib) => lib.caps(ctx),
            Err(missing) => missing.clone(),
        };
        let nvenc = match &self.nvenc {
            Ok(lib) => lib.probe(ctx),
            Err(missing) => missing.clone(),
        };
        (nvdec, nvenc)
    }

    fn no_context(&self, why: &str) -> (NvdecCaps, NvencProbe) {
        let nvdec = match &self.nvdec {
            Ok(_) => NvdecCaps::failed(true, format!("no CUDA context: {why}")),
            Err(missing) => missing.clone(),
        };
        let nvenc = match &self.nvenc {
            Ok(_) => NvencProbe::error(true, format!("no CUDA context: {why}")),
            Err(missing) => missing.clone(),
        };
        (nvdec, nvenc)
    }
}

fn probe_devices(
    cu: &CudaDriver,
    engines: Option<&EngineLibs>,
) -> Result<(String, Vec<DeviceInfo>), String> {
    cu.init()?;
    let version = cu.driver_version()?;
    let mut devices = Vec::new();
    for index in 0..cu.device_count()? {
        let dev = cu.device(index)?;
        let name = cu.device_name(dev)?;
        let bytes = cu.device_total_mem(dev)?;
        let (major, minor) = cu.compute_capability(dev)?;
        // Free memory (and NVDEC/NVENC) need a context; a failure here only
        // loses those answers, not the device.
        let mut free = 0;
        let mut found = None;
        match cu.create_context(dev) {
            Ok(ctx) => {
                free = cu.free_memory(&ctx).unwrap_or(0);
                found = engines.map(|libs| libs.probe(&ctx));
            }
            Err(e) => {
                if let Some(libs) = engines {
                    found = Some(libs.no_context(&e));
                }
            }
        }
        let (nvdec, nvenc) = match found {
            Some((d, e)) => (Some(d), Some(e)),
            None => (None, None),
        };
        devices.push(DeviceInfo {
            index,
            name,
            compute_capability: format!("{major}.{minor}"),
            memory_total_bytes: bytes as u64,
            memory_free_bytes: free as u64,
            nvdec,
            nvenc,
        });
    }
    Ok((version, devices))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nvdec::NvdecCodecCaps;
    use crate::nvenc::NvencOutcome;
    use crate::plan::{DecodePath, EncodePath, ScalePath};

    #[test]
    fn probe_never_panics_and_explains_absence() {
        let p = probe();
        if !p.present {
            assert!(!p.detail.is_empty(), "no device and no reason given");
            assert!(p.devices.is_empty());
        } else {
            assert!(
                p.devices
                    .iter()
                    .all(|d| d.memory_total_bytes > 0 && !d.name.is_empty())
            );
            assert!(
                p.devices
                    .iter()
                    .all(|d| d.nvdec.is_none() && d.nvenc.is_none())
            );
        }
    }

    #[test]
    fn probe_all_never_panics_and_fills_the_engines() {
        let p = probe_all();
        if !p.present {
            assert!(!p.detail.is_empty(), "no device and no reason given");
            assert!(p.devices.is_empty());
            // Without a device the description says why, and the plan is all CPU.
            let desc = p.description(FfmpegGpuCodecs::all(), true);
            assert!(!desc.device_present);
            assert_eq!(desc.detail, p.detail);
            let plan = desc.plan_for(VideoCodec::H264, 8);
            assert_eq!(
                (plan.decode, plan.scale, plan.encode),
                (DecodePath::Cpu, ScalePath::Cpu, EncodePath::Libx264)
            );
        } else {
            for d in &p.devices {
                let nvdec = d.nvdec.as_ref().expect("probe_all fills nvdec");
                let nvenc = d.nvenc.as_ref().expect("probe_all fills nvenc");
                assert!(nvdec.library || !nvdec.detail.is_empty());
                assert!(nvenc.encoder_present || !nvenc.detail.is_empty());
            }
        }
        // It serialises (the gpu-probe binary prints it).
        assert!(serde_json::to_string(&p).is_ok());
    }

    fn codec_caps(codec: VideoCodec, bit_depth: u8, supported: bool) -> NvdecCodecCaps {
        NvdecCodecCaps {
            codec,
            bit_depth,
            supported,
            engines: if supported { 7 } else { 0 },
            max_width: if supported { 8192 } else { 0 },
            max_height: if supported { 8192 } else { 0 },
            ..NvdecCodecCaps::default()
        }
    }

    fn h100_probe() -> GpuProbe {
        GpuProbe {
            present: true,
            driver_version: "12.8".into(),
            devices: vec![DeviceInfo {
                index: 0,
                name: "NVIDIA H100 80GB HBM3".into(),
                compute_capability: "9.0".into(),
                memory_total_bytes: 80 << 30,
                memory_free_bytes: 79 << 30,
                nvdec: Some(NvdecCaps {
                    library: true,
                    codecs: vec![
                        codec_caps(VideoCodec::H264, 8, true),
                        codec_caps(VideoCodec::Hevc, 8, true),
                        codec_caps(VideoCodec::Hevc, 10, true),
                    ],
                    detail: String::new(),
                }),
                nvenc: Some(NvencProbe {
                    library: true,
                    max_api_version: "12.2".into(),
                    api_version: "12.0".into(),
                    encoder_present: false,
                    outcome: NvencOutcome::NoEncoder,
                    status_code: Some(2),
                    status_name: Some("NV_ENC_ERR_UNSUPPORTED_DEVICE".into()),
                    detail: "no NVENC engine".into(),
                }),
            }],
            nvdec_library: true,
            nvenc_library: true,
            detail: String::new(),
        }
    }

    #[test]
    fn a_live_h100_probe_describes_and_plans_the_hopper_hybrid() {
        let desc = h100_probe().description(FfmpegGpuCodecs::all(), true);
        assert!(desc.device_present);
        assert_eq!(desc.name, "NVIDIA H100 80GB HBM3");
        assert_eq!(desc.memory_free_bytes, Some(79 << 30));
        assert!(desc.nvdec.library && desc.nvdec.h264_8bit && desc.nvdec.hevc_10bit);
        assert_eq!(desc.nvdec.engines, 7);
        assert!(!desc.nvenc_present);
        let plan = desc.plan_for(VideoCodec::Hevc, 10);
        assert_eq!(
            (plan.decode, plan.scale, plan.encode),
            (DecodePath::Nvdec, ScalePath::Cuda, EncodePath::Libx264)
        );
    }

    #[test]
    fn a_plain_probe_leaves_the_engines_unknown_and_off() {
        let mut p = h100_probe();
        p.devices[0].nvdec = None;
        p.devices[0].nvenc = None;
        let desc = p.description(FfmpegGpuCodecs::all(), true);
        assert!(desc.device_present && desc.nvdec.library);
        assert!(!desc.nvdec.h264_8bit && !desc.nvenc_present);
        assert!(desc.detail.contains("probe_all"), "{}", desc.detail);
    }

    #[test]
    fn unreadable_free_memory_is_unknown_not_zero() {
        let mut p = h100_probe();
        p.devices[0].memory_free_bytes = 0;
        let desc = p.description(FfmpegGpuCodecs::all(), true);
        assert_eq!(desc.memory_free_bytes, None);
        assert_eq!(desc.plan_for(VideoCodec::H264, 8).decode, DecodePath::Nvdec);
    }

    #[test]
    fn a_missing_ordinal_is_no_device() {
        let desc = h100_probe().description_for(3, FfmpegGpuCodecs::all(), true);
        assert!(!desc.device_present);
        assert!(desc.detail.contains("ordinal 3"), "{}", desc.detail);
    }

    /// On a GPU machine (`gpu/run-on-device.sh` runs the ignored tests):
    /// the live probe finds the device, NVDEC takes H.264 and HEVC, and the
    /// NVENC answer is a clear yes or no, never an error.
    #[test]
    #[ignore = "needs an NVIDIA GPU and driver: run by gpu/run-on-device.sh"]
    fn a_live_device_is_probed_and_planned() {
        let p = probe_all();
        assert!(p.present, "no device: {}", p.detail);
        let d = &p.devices[0];
        assert!(d.memory_total_bytes > 0 && d.memory_free_bytes > 0, "{d:?}");
        let nvdec = d.nvdec.as_ref().expect("nvdec probed");
        for (codec, depth) in [(VideoCodec::H264, 8), (VideoCodec::Hevc, 8)] {
            let c = nvdec.get(codec, depth).expect("asked");
            assert!(c.supported && c.engines > 0 && c.max_width >= 1920, "{c:?}");
        }
        let nvenc = d.nvenc.as_ref().expect("nvenc probed");
        assert!(
            matches!(
                nvenc.outcome,
                crate::NvencOutcome::Present | crate::NvencOutcome::NoEncoder
            ),
            "{nvenc:?}"
        );
        let desc = p.description(FfmpegGpuCodecs::all(), false);
        let plan = desc.plan_for(VideoCodec::H264, 8);
        assert_eq!(plan.decode, DecodePath::FfmpegCuvid, "{plan:?}");
        if d.name.contains("H100") || d.name.contains("H200") {
            assert!(!nvenc.encoder_present, "Hopper has no NVENC");
            assert_eq!(plan.encode, EncodePath::Libx264, "{plan:?}");
        }
    }
}
