//! The render node's view of NVIDIA hardware.
//!
//! Everything here loads the driver's libraries at run time (`libcuda.so.1`,
//! `libnvcuvid.so.1`, `libnvidia-encode.so.1`) through `libloading`, so the
//! crate builds and runs on machines with no CUDA toolkit and no driver: there
//! [`probe`] simply reports no device and says why.

mod cuda;

pub use cuda::{DeviceInfo, GpuProbe, probe};
