//! The render node's view of NVIDIA hardware.
//!
//! Everything here loads the driver's libraries at run time (`libcuda.so.1`,
//! `libnvcuvid.so.1`, `libnvidia-encode.so.1`) through `libloading`, so the
//! crate builds and runs on machines with no CUDA toolkit and no driver: there
//! [`probe`] simply reports no device and says why.
//!
//! [`probe`] finds the devices; [`probe_all`] also asks NVDEC what it decodes
//! ([`nvdec`]) and whether an NVENC session opens ([`nvenc`]).
//! [`GpuProbe::description`] turns that into a [`DeviceDescription`], and
//! [`plan()`] into a [`StagePlan`]: where decode, scale and encode run.

mod cuda;
/// The fit kernels on the device (the `nvidia` feature).
#[cfg(feature = "nvidia")]
pub mod device_fit;
pub mod engines;
pub mod fit;
pub mod nvdec;
pub mod nvenc;
/// Our own NVENC H.264 encoder (the `nvidia` feature).
#[cfg(feature = "nvidia")]
pub mod nvenc_sdk;
pub mod plan;
mod probe;
/// Our own NVDEC decoder (the `nvidia` feature).
#[cfg(feature = "nvidia")]
pub mod sdk;

pub use engines::{EngineLease, EnginePool, EngineUse};
pub use nvdec::{NvdecCaps, NvdecCodecCaps};
pub use nvenc::{NvencOutcome, NvencProbe};
pub use plan::{
    DecodePath, DeviceDescription, EncodePath, FfmpegGpuCodecs, MIN_FREE_MEMORY_BYTES,
    NvdecSupport, ScalePath, StagePlan, VideoCodec, plan,
};
pub use probe::{DeviceInfo, GpuProbe, probe, probe_all};
