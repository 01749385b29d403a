//! CUDA driver API probing through a run-time loaded `libcuda.so.1`.

use std::ffi::{CStr, c_char, c_int, c_uint};

use libloading::{Library, Symbol};
use serde::Serialize;

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

type CuResult = c_int;
type CuDevice = c_int;
type CuContext = *mut std::ffi::c_void;

const CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR: c_int = 75;
const CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR: c_int = 76;

fn can_load(name: &str) -> bool {
    // SAFETY: loading a shared library runs its initialisers; these are the
    // NVIDIA driver's own libraries, loaded the way the CUDA runtime loads them.
    unsafe { Library::new(name) }.is_ok()
}

/// Probes the NVIDIA driver. Never fails: problems end up in `detail`.
pub fn probe() -> GpuProbe {
    let mut out = GpuProbe {
        nvdec_library: can_load("libnvcuvid.so.1"),
        nvenc_library: can_load("libnvidia-encode.so.1"),
        ..GpuProbe::default()
    };
    // SAFETY: see `can_load`.
    let lib = match unsafe { Library::new("libcuda.so.1") } {
        Ok(lib) => lib,
        Err(e) => {
            out.detail = format!("libcuda.so.1 not loadable: {e}");
            return out;
        }
    };
    match unsafe { probe_devices(&lib) } {
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

/// Calls the driver API.
///
/// # Safety
/// `lib` must be the CUDA driver library; the signatures below are those of
/// the CUDA driver API (cuda.h), stable since CUDA 4.
unsafe fn probe_devices(lib: &Library) -> Result<(String, Vec<DeviceInfo>), String> {
    // SAFETY: symbol types match cuda.h.
    unsafe {
        let cu_init: Symbol<unsafe extern "C" fn(c_uint) -> CuResult> = sym(lib, b"cuInit\0")?;
        let driver_version: Symbol<unsafe extern "C" fn(*mut c_int) -> CuResult> =
            sym(lib, b"cuDriverGetVersion\0")?;
        let count: Symbol<unsafe extern "C" fn(*mut c_int) -> CuResult> =
            sym(lib, b"cuDeviceGetCount\0")?;
        let get: Symbol<unsafe extern "C" fn(*mut CuDevice, c_int) -> CuResult> =
            sym(lib, b"cuDeviceGet\0")?;
        let name: Symbol<unsafe extern "C" fn(*mut c_char, c_int, CuDevice) -> CuResult> =
            sym(lib, b"cuDeviceGetName\0")?;
        let total: Symbol<unsafe extern "C" fn(*mut usize, CuDevice) -> CuResult> =
            sym(lib, b"cuDeviceTotalMem_v2\0")?;
        let attr: Symbol<unsafe extern "C" fn(*mut c_int, c_int, CuDevice) -> CuResult> =
            sym(lib, b"cuDeviceGetAttribute\0")?;
        let ctx_create: Option<
            Symbol<unsafe extern "C" fn(*mut CuContext, c_uint, CuDevice) -> CuResult>,
        > = sym(lib, b"cuCtxCreate_v2\0").ok();
        let ctx_destroy: Option<Symbol<unsafe extern "C" fn(CuContext) -> CuResult>> =
            sym(lib, b"cuCtxDestroy_v2\0").ok();
        let mem_info: Option<Symbol<unsafe extern "C" fn(*mut usize, *mut usize) -> CuResult>> =
            sym(lib, b"cuMemGetInfo_v2\0").ok();

        check(cu_init(0), "cuInit")?;
        let mut v: c_int = 0;
        check(driver_version(&mut v), "cuDriverGetVersion")?;
        let version = format!("{}.{}", v / 1000, (v % 1000) / 10);
        let mut n: c_int = 0;
        check(count(&mut n), "cuDeviceGetCount")?;
        let mut devices = Vec::new();
        for index in 0..n {
            let mut dev: CuDevice = 0;
            check(get(&mut dev, index), "cuDeviceGet")?;
            let mut buf = [0 as c_char; 256];
            check(
                name(buf.as_mut_ptr(), buf.len() as c_int, dev),
                "cuDeviceGetName",
            )?;
            let dev_name = CStr::from_ptr(buf.as_ptr()).to_string_lossy().into_owned();
            let mut bytes: usize = 0;
            check(total(&mut bytes, dev), "cuDeviceTotalMem")?;
            let (mut major, mut minor) = (0, 0);
            check(
                attr(
                    &mut major,
                    CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR,
                    dev,
                ),
                "cuDeviceGetAttribute",
            )?;
            check(
                attr(
                    &mut minor,
                    CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR,
                    dev,
                ),
                "cuDeviceGetAttribute",
            )?;
            // Free memory needs a context; a failure here only loses that number.
            let mut free: usize = 0;
            if let (Some(create), Some(destroy), Some(info)) =
                (&ctx_create, &ctx_destroy, &mem_info)
            {
                let mut ctx: CuContext = std::ptr::null_mut();
                if create(&mut ctx, 0, dev) == 0 {
                    let mut total_now: usize = 0;
                    if info(&mut free, &mut total_now) != 0 {
                        free = 0;
                    }
                    destroy(ctx);
                }
            }
            devices.push(DeviceInfo {
                index,
                name: dev_name,
                compute_capability: format!("{major}.{minor}"),
                memory_total_bytes: bytes as u64,
                memory_free_bytes: free as u64,
            });
        }
        Ok((version, devices))
    }
}

unsafe fn sym<'a, T>(lib: &'a Library, name: &[u8]) -> Result<Symbol<'a, T>, String> {
    // SAFETY: the caller names the symbol with its true type.
    unsafe { lib.get(name) }
        .map_err(|e| format!("{}: {e}", String::from_utf8_lossy(&name[..name.len() - 1])))
}

fn check(code: CuResult, what: &str) -> Result<(), String> {
    if code == 0 {
        Ok(())
    } else {
        Err(format!("{what} failed with CUDA error {code}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        }
    }
}
